//! The checkpoint: one or more memory-mapped safetensors files and the tensors in them,
//! in the order llama.cpp's converter visits them (parts sorted by file name, tensors
//! sorted by name within a part).

use std::collections::BTreeSet;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::SafeTensors;

use crate::ConvertError;

const INDEX: &str = "model.safetensors.index.json";

/// The element type of a source tensor. Only the float types are converted; the others
/// are kept by name so that a tensor the converter skips may still have them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F16,
    Bf16,
    Other(safetensors::Dtype),
}

impl Dtype {
    fn from_safetensors(d: safetensors::Dtype) -> Dtype {
        match d {
            safetensors::Dtype::F32 => Dtype::F32,
            safetensors::Dtype::F16 => Dtype::F16,
            safetensors::Dtype::BF16 => Dtype::Bf16,
            other => Dtype::Other(other),
        }
    }

    pub fn name(self) -> String {
        match self {
            Dtype::F32 => "F32".into(),
            Dtype::F16 => "F16".into(),
            Dtype::Bf16 => "BF16".into(),
            Dtype::Other(d) => format!("{d:?}"),
        }
    }
}

/// One tensor of the checkpoint: where its bytes are, never the bytes themselves.
#[derive(Debug, Clone)]
pub struct SourceTensor {
    pub name: String,
    pub dtype: Dtype,
    /// Row-major, outermost first (as safetensors and torch have it).
    pub shape: Vec<u64>,
    file: usize,
    range: Range<usize>,
}

impl SourceTensor {
    pub fn elements(&self) -> u64 {
        self.shape.iter().product()
    }
}

struct Part {
    path: PathBuf,
    map: Mmap,
}

/// The safetensors files of a model directory, mapped read-only.
pub struct Checkpoint {
    parts: Vec<Part>,
    tensors: Vec<SourceTensor>,
}

impl Checkpoint {
    /// Opens `model.safetensors.index.json` and the parts it names, or else every
    /// `model*.safetensors` file of `dir`. Validates each header against its file length.
    pub fn open(dir: &Path) -> Result<Checkpoint, ConvertError> {
        let index_path = dir.join(INDEX);
        let (part_names, index_names) = if index_path.is_file() {
            let (parts, names) = read_index(&index_path)?;
            (parts, Some(names))
        } else {
            (list_parts(dir)?, None)
        };
        if part_names.is_empty() {
            return Err(ConvertError::NoWeights { path: dir.to_path_buf() });
        }
        let ck = Checkpoint::open_parts(dir, &part_names)?;
        if let Some(index_names) = index_names {
            let seen: BTreeSet<&str> = ck.tensors.iter().map(|t| t.name.as_str()).collect();
            let missing: Vec<&str> =
                index_names.iter().filter(|n| !seen.contains(n.as_str())).map(|s| s.as_str()).collect();
            let extra: Vec<&str> = seen.iter().filter(|n| !index_names.contains(**n)).copied().collect();
            if !missing.is_empty() || !extra.is_empty() {
                return Err(ConvertError::Safetensors {
                    path: index_path,
                    reason: format!(
                        "weight_map and parts disagree: missing tensors {missing:?}, extra tensors {extra:?}"
                    ),
                });
            }
        }
        Ok(ck)
    }

    /// Opens the named safetensors files of `dir` (file names, not paths), in that order.
    pub fn open_parts(dir: &Path, part_names: &[String]) -> Result<Checkpoint, ConvertError> {
        let mut parts = Vec::with_capacity(part_names.len());
        let mut tensors = Vec::new();
        for (file, name) in part_names.iter().enumerate() {
            let path = dir.join(name);
            let f = File::open(&path).map_err(ConvertError::io(&path))?;
            // SAFETY: the file is mapped read-only; a concurrent writer truncating it would
            // make reads fault, which is the same contract every mmap-based reader has.
            let map = unsafe { Mmap::map(&f) }.map_err(ConvertError::io(&path))?;
            // Every byte is read once, in order: read-ahead rather than a fault per page.
            #[cfg(unix)]
            let _ = map.advise(memmap2::Advice::Sequential);
            let mut found = part_tensors(&path, &map, file)?;
            found.sort_by(|a, b| a.name.cmp(&b.name));
            tensors.extend(found);
            parts.push(Part { path, map });
        }
        let mut seen = BTreeSet::new();
        for t in &tensors {
            if !seen.insert(t.name.as_str()) {
                return Err(ConvertError::Safetensors {
                    path: dir.to_path_buf(),
                    reason: format!("tensor {} is in more than one part", t.name),
                });
            }
        }
        Ok(Checkpoint { parts, tensors })
    }

    pub fn tensors(&self) -> &[SourceTensor] {
        &self.tensors
    }

    /// The raw little-endian bytes of a tensor (bounds were checked when the header was read).
    pub fn bytes(&self, t: &SourceTensor) -> &[u8] {
        self.parts.get(t.file).and_then(|p| p.map.get(t.range.clone())).unwrap_or_default()
    }

    pub fn path_of(&self, t: &SourceTensor) -> &Path {
        self.parts.get(t.file).map(|p| p.path.as_path()).unwrap_or(Path::new(""))
    }
}

/// The tensors of one mapped file. `SafeTensors::read_metadata` bounds the header, checks
/// that the data offsets are contiguous and that they end exactly at the end of the file.
fn part_tensors(path: &Path, map: &[u8], file: usize) -> Result<Vec<SourceTensor>, ConvertError> {
    let bad = |reason: String| ConvertError::Safetensors { path: path.to_path_buf(), reason };
    let (header_len, metadata) = SafeTensors::read_metadata(map).map_err(|e| bad(describe(&e, map.len())))?;
    let data_start = 8 + header_len;
    let mut out = Vec::new();
    for (name, info) in metadata.tensors() {
        let (start, end) = info.data_offsets;
        let range = data_start.checked_add(start).zip(data_start.checked_add(end));
        let Some((start, end)) = range.filter(|(s, e)| s <= e && *e <= map.len()) else {
            return Err(bad(format!("tensor {name}: data offsets out of the file")));
        };
        out.push(SourceTensor {
            name,
            dtype: Dtype::from_safetensors(info.dtype),
            shape: info.shape.iter().map(|&d| d as u64).collect(),
            file,
            range: start..end,
        });
    }
    Ok(out)
}

fn describe(e: &safetensors::SafeTensorError, file_len: usize) -> String {
    use safetensors::SafeTensorError as E;
    match e {
        E::MetadataIncompleteBuffer | E::InvalidHeaderLength => {
            format!("truncated safetensors file ({file_len} bytes, shorter than its header says)")
        }
        E::HeaderTooSmall => format!("not a safetensors file ({file_len} bytes, no header length)"),
        other => format!("invalid safetensors header: {other}"),
    }
}

/// `model.safetensors.index.json`: the parts (sorted, unique) and every tensor name.
fn read_index(path: &Path) -> Result<(Vec<String>, BTreeSet<String>), ConvertError> {
    let bad = |reason: String| ConvertError::Safetensors { path: path.to_path_buf(), reason };
    let text = std::fs::read_to_string(path).map_err(ConvertError::io(path))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let map = json.get("weight_map").and_then(|m| m.as_object()).ok_or_else(|| bad("no weight_map object".into()))?;
    let mut parts = BTreeSet::new();
    let mut names = BTreeSet::new();
    for (tensor, part) in map {
        let part = part.as_str().ok_or_else(|| bad(format!("weight_map[{tensor:?}] is not a string")))?;
        // A part is a file beside the index: never a path that leaves the directory.
        if part.is_empty() || part.contains(['/', '\\']) || part == "." || part == ".." {
            return Err(bad(format!("weight_map[{tensor:?}] = {part:?} is not a file name")));
        }
        parts.insert(part.to_string());
        names.insert(tensor.clone());
    }
    Ok((parts.into_iter().collect(), names))
}

fn list_parts(dir: &Path) -> Result<Vec<String>, ConvertError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(ConvertError::io(dir))? {
        let entry = entry.map_err(ConvertError::io(dir))?;
        if let Some(name) = entry.file_name().to_str()
            && name.starts_with("model")
            && name.ends_with(".safetensors")
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}
