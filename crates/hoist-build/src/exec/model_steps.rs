//! CONVERT and QUANTIZE: the same library code as `hoist convert` and `hoist
//! quantize`, run in process on files of the build (the context, a stage, or
//! the stage being built). Their inputs are used where they lie when they are
//! plain files on disk (a directory of links to them), else written out first;
//! their output goes to the build's scratch directory and from there into the
//! step's layer.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use hoist_quant::rules::RuleOptions;
use hoist_quant::{FileType, QuantizeOptions, quantize_file};

use super::copy::clean;
use super::tree::{Data, Entry, Node, Tree};
use crate::plan::QuantizeStep;

/// A file the build made: owned by root, readable by all.
fn output_entry(path: PathBuf) -> io::Result<Entry> {
    let size = std::fs::metadata(&path)?.len();
    Ok(Entry { node: Node::File { data: Data::Disk(path), size }, mode: 0o644, uid: 0, gid: 0 })
}

/// The files a QUANTIZE adds: `src` of `from` quantized into `dest`.
pub(super) fn quantize(from: &Tree, step: &QuantizeStep, scratch: &Path) -> Result<Tree, String> {
    let input = local_file(from, &step.src, scratch)?;
    let ftype = FileType::parse_given_imatrix(&step.out_type, step.imatrix.is_some()).map_err(|e| e.to_string())?;
    let mut rules = RuleOptions::new(ftype);
    rules.pure = step.pure;
    rules.leave_output_tensor = step.leave_output_tensor;
    let ggml_type = |flag, name: &str| RuleOptions::ggml_type(flag, name).map_err(|e| e.to_string());
    rules.output_tensor_type =
        step.output_tensor_type.as_deref().map(|t| ggml_type("--output-tensor-type", t)).transpose()?;
    rules.token_embedding_type =
        step.token_embedding_type.as_deref().map(|t| ggml_type("--token-embedding-type", t)).transpose()?;
    let mut options = QuantizeOptions::new(rules);
    if let Some(imatrix) = &step.imatrix {
        let path = local_file(from, imatrix, scratch)?;
        options.use_imatrix(&path, imatrix, &step.include_weights, &step.exclude_weights).map_err(|e| e.to_string())?;
    }
    let output = scratch_file(scratch, "quantized-")?;
    quantize_file(&input, &output, &options, &hoist_quant::NoReport).map_err(|e| e.to_string())?;
    single(&step.dest, output)
}

/// The files a CONVERT adds: the Hugging Face directory `src` of `from`
/// converted into the GGUF file `dest`.
pub(super) fn convert(
    from: &Tree,
    context: Option<&Path>,
    src: &str,
    dest: &str,
    out_type: &str,
    scratch: &Path,
) -> Result<Tree, String> {
    let options = convert_options(out_type)?;
    let dir = local_dir(from, context, src, scratch, &|_| true)?;
    let output = scratch_file(scratch, "converted-")?;
    hoist_convert::convert(&dir, &output, &options, &hoist_convert::NoReport).map_err(|e| e.to_string())?;
    single(dest, output)
}

/// The files a `CONVERT --class=lora` adds: the PEFT adapter directory `src`
/// of `from`, for the Hugging Face model directory `base` of the same `from`,
/// converted into the GGUF adapter `dest`.
pub(super) fn convert_lora(
    from: &Tree,
    context: Option<&Path>,
    src: &str,
    base: &str,
    dest: &str,
    out_type: &str,
    scratch: &Path,
) -> Result<Tree, String> {
    let options = convert_options(out_type)?;
    let adapter = local_dir(from, context, src, scratch, &|_| true)?;
    // Of the base model the converter reads only config.json (and the
    // directory's name): its weights are not written out or linked for it.
    let base = local_dir(from, context, base, scratch, &|rel| rel == "config.json")?;
    let output = scratch_file(scratch, "converted-")?;
    hoist_convert::convert_lora(&adapter, &base, &output, &options, &hoist_convert::NoReport)
        .map_err(|e| e.to_string())?;
    single(dest, output)
}

fn convert_options(out_type: &str) -> Result<hoist_convert::Options, String> {
    Ok(hoist_convert::Options { out_type: out_type.parse()?, threads: 0 })
}

/// A tree holding one new file at `dest`.
fn single(dest: &str, output: PathBuf) -> Result<Tree, String> {
    let path = clean(dest);
    if path.is_empty() || dest.ends_with('/') {
        return Err(format!("the destination must name a file, and {dest:?} is a directory"));
    }
    let mut tree = Tree::default();
    tree.insert(path, output_entry(output).map_err(|e| e.to_string())?);
    Ok(tree)
}

/// A new file of the scratch directory: each step's files stay its own, since
/// earlier stages' files are read again later (COPY --from, CMD's facts).
fn scratch_file(scratch: &Path, prefix: &str) -> Result<PathBuf, String> {
    let file = tempfile::Builder::new().prefix(prefix).tempfile_in(scratch).map_err(|e| e.to_string())?;
    file.into_temp_path().keep().map_err(|e| e.to_string())
}

/// The file at `path` in `tree` as a path on disk: where it lies, or written
/// out into `scratch`.
fn local_file(tree: &Tree, path: &str, scratch: &Path) -> Result<PathBuf, String> {
    let key = clean(path);
    let entry = tree.entries.get(&key).ok_or_else(|| format!("{path:?}: no such file"))?;
    let Node::File { data, .. } = &entry.node else { return Err(format!("{path:?} is not a file")) };
    if let Data::Disk(on_disk) = data {
        return Ok(on_disk.clone());
    }
    let out = scratch_file(scratch, "input-")?;
    write_out(data, &out).map_err(|e| format!("{path:?}: {e}"))?;
    Ok(out)
}

/// The directory at `path` in `tree` on disk, made in `scratch` under the
/// directory's own name (the converters name the model after it) with those of
/// its files `wanted` keeps: a file on disk (the context's) linked, not copied;
/// others written out. Only the tree's files are there, so what `.dockerignore`
/// leaves out of the context is left out of the conversion too. A symlink of
/// the `context` directory links to the original (a Hugging Face cache
/// snapshot links its files out of the snapshot); one of a stage keeps its
/// target.
fn local_dir(
    tree: &Tree,
    context: Option<&Path>,
    path: &str,
    scratch: &Path,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<PathBuf, String> {
    let key = clean(path);
    let parent = tempfile::Builder::new().prefix("input-").tempdir_in(scratch).map_err(|e| e.to_string())?.keep();
    let out = parent.join(key.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("model"));
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let mut found = false;
    for (rel, entry) in tree.subtree(&key) {
        if matches!(entry.node, Node::Dir) {
            continue;
        }
        if rel.is_empty() {
            return Err(format!("{path:?} is not a directory"));
        }
        found = true;
        if wanted(rel) {
            let original = context.map(|root| root.join(&key).join(rel));
            place(&entry.node, original.as_deref(), &out.join(rel)).map_err(|e| format!("{path:?}/{rel}: {e}"))?;
        }
    }
    if found { Ok(out) } else { Err(format!("{path:?}: no such directory")) }
}

/// Puts an entry of a tree at `target`: a file on disk as a link to it, other
/// files written out, a symlink as a link to its `original` in the context
/// when it has one, else to its own target.
fn place(node: &Node, original: Option<&Path>, target: &Path) -> io::Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match node {
        Node::File { data: Data::Disk(on_disk), .. } => std::os::unix::fs::symlink(on_disk, target),
        Node::File { data, .. } => write_out(data, target),
        Node::Symlink(link) => std::os::unix::fs::symlink(original.unwrap_or(Path::new(link)), target),
        Node::Dir => std::fs::create_dir_all(target),
    }
}

pub(super) fn write_out(data: &Data, to: &Path) -> io::Result<()> {
    let mut out = File::create(to)?;
    match data {
        Data::Disk(path) => io::copy(&mut File::open(path)?, &mut out).map(drop),
        Data::Bytes(bytes) => io::Write::write_all(&mut out, bytes),
        Data::Slice { path, offset, len } => {
            let mut file = File::open(path)?;
            file.seek(SeekFrom::Start(*offset))?;
            let copied = io::copy(&mut file.take(*len), &mut out)?;
            if copied == *len { Ok(()) } else { Err(io::Error::other(format!("{} ended early", path.display()))) }
        }
    }
}
