//! The model facts of the files CMD names, read from their GGUF headers (never
//! their tensor data), for the image config and the `gguf.model.*` labels, as
//! gguf-packer records them. File types use llama.cpp's names (`Q4_K_M`), not
//! gguf-packer's shifted ones.

use std::collections::BTreeMap;

use hoist_gguf::{GgufHeader, format_parameters, parse_header, read_header_from_path};

use super::copy::clean;
use super::tree::{Data, Node, Tree};
use crate::cmd::{CmdFile, ModelFiles};
use hoist_model::formats::packer::GgufFacts;

/// Which CMD file a fact is about, for messages.
const ROLES: [&str; 4] = ["model", "draft model", "projector", "adapter"];

/// The facts of every file `files` names, in the order model, draft, projector,
/// adapters. `Err` says which file is missing or not a GGUF file.
pub(crate) fn read(files: &ModelFiles, tree: &Tree) -> Result<Facts, String> {
    let one = |role: &str, f: &CmdFile| facts_of(role, f, tree);
    Ok(Facts {
        model: files.model.as_ref().map(|f| one(ROLES[0], f)).transpose()?,
        draft: files.draft.as_ref().map(|f| one(ROLES[1], f)).transpose()?,
        projector: files.projector.as_ref().map(|f| one(ROLES[2], f)).transpose()?,
        adapters: files.adapters.iter().map(|f| one(ROLES[3], f)).collect::<Result<_, _>>()?,
    })
}

/// Facts with the header they came from.
pub(crate) struct Facts {
    pub(crate) model: Option<(GgufFacts, GgufHeader)>,
    pub(crate) draft: Option<(GgufFacts, GgufHeader)>,
    pub(crate) projector: Option<(GgufFacts, GgufHeader)>,
    pub(crate) adapters: Vec<(GgufFacts, GgufHeader)>,
}

fn facts_of(role: &str, file: &CmdFile, tree: &Tree) -> Result<(GgufFacts, GgufHeader), String> {
    let path = clean(&file.path);
    let entry = tree.entries.get(&path).ok_or_else(|| format!("the {role} {:?} is not in the image", file.path))?;
    let header = match &entry.node {
        Node::File { data: Data::Disk(p), .. } => read_header_from_path(p),
        Node::File { data: Data::Bytes(b), .. } => parse_header(b, Some(b.len() as u64)),
        Node::File { data: Data::Slice { path, offset, len }, .. } => {
            header_in_slice(path, *offset, *len).map_err(|e| format!("the {role} {:?}: {e}", file.path))?
        }
        _ => return Err(format!("the {role} {:?} is not a file", file.path)),
    }
    .map_err(|e| format!("the {role} {:?} is not a readable GGUF file: {e}", file.path))?;
    let summary = header.summary().map_err(|e| format!("the {role} {:?}: {e}", file.path))?;
    let facts = GgufFacts {
        architecture: summary.architecture.unwrap_or_default(),
        parameters: summary.parameters,
        bits_per_weight: summary.bits_per_weight,
        file_type: summary.file_type.unwrap_or_default(),
        file_type_id: header.get("general.file_type").and_then(|v| v.as_u64()),
        cmd_value: file.path.clone(),
        cmd_index: file.index,
    };
    Ok((facts, header))
}

/// The header of a GGUF file stored inside a tar archive (a layer of a base
/// image): reads the file's first bytes, more while the parser asks for more.
fn header_in_slice(
    path: &std::path::Path,
    offset: u64,
    len: u64,
) -> Result<Result<GgufHeader, hoist_gguf::GgufError>, std::io::Error> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    let mut want = len.min(1 << 20);
    loop {
        let have = buf.len() as u64;
        (&mut file).take(want - have).read_to_end(&mut buf)?;
        match parse_header(&buf, Some(len)) {
            Err(hoist_gguf::GgufError::Incomplete { needed }) if needed > want && needed <= len => {
                want = needed.max(want.saturating_mul(2)).min(len);
            }
            other => return Ok(other),
        }
    }
}

/// The labels gguf-packer derives from the model, each set only where no LABEL
/// set it, and mirrored to `org.opencontainers.image.*` likewise.
pub(crate) fn labels(facts: &GgufFacts, header: &GgufHeader, labels: &mut BTreeMap<String, String>) {
    let mut set = |keys: &[&str], value: String| {
        for k in keys {
            labels.entry(k.to_string()).or_insert_with(|| value.clone());
        }
    };
    set(&["gguf.model.usage"], "text-to-text".into());
    set(&["gguf.model.architecture"], facts.architecture.clone());
    set(&["gguf.model.parameters"], spaced(&format_parameters(facts.parameters)));
    set(&["gguf.model.bpw"], format!("{:.2} bpw", facts.bits_per_weight));
    set(&["gguf.model.filetype"], facts.file_type.clone());
    let text = |key: &str| header.get(key).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_string);
    for (gguf_key, keys) in [
        ("general.name", ["gguf.model.name", "org.opencontainers.image.title"]),
        ("general.organization", ["gguf.model.vendor", "org.opencontainers.image.vendor"]),
        ("general.author", ["gguf.model.authors", "org.opencontainers.image.authors"]),
        ("general.url", ["gguf.model.url", "org.opencontainers.image.url"]),
        ("general.description", ["gguf.model.description", "org.opencontainers.image.description"]),
        ("general.license", ["gguf.model.licenses", "org.opencontainers.image.licenses"]),
    ] {
        if let Some(v) = text(gguf_key) {
            set(&keys, v);
        }
    }
}

/// "494.03M" as gguf-packer writes it: "494.03 M".
fn spaced(parameters: &str) -> String {
    match parameters.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => format!("{} {c}", &parameters[..i]),
        _ => parameters.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_spacing() {
        assert_eq!(spaced("494.03M"), "494.03 M");
        assert_eq!(spaced("999"), "999");
        assert_eq!(spaced("1.50B"), "1.50 B");
    }
}
