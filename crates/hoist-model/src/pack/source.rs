//! Finding the files to pack: a GGUF (and its sibling shards), a DDUF, a
//! safetensors file, or a directory walked in a stable order.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::classify::{ClassOverrides, FileRole};
use crate::ModelError;
use crate::util::glob::Glob;
use crate::util::shards::shard_pattern;

/// One file to pack.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Where to read it.
    pub path: PathBuf,
    /// `Some(at)`: the file is the `size` bytes at `at` of `path` (a file
    /// inside a layer's tar, read where it lies); `None`: all of `path`.
    pub offset: Option<u64>,
    /// Where it goes in the artifact (`/`-separated, relative).
    pub rel_path: String,
    pub role: FileRole,
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    pub modified: SystemTime,
}

/// How the input was given; decides the Docker config version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceLayout {
    /// One GGUF file, or the shards of one split GGUF.
    Gguf,
    /// One DDUF file.
    Dduf,
    /// One safetensors file.
    Safetensors,
    /// A directory of model files.
    Directory,
}

/// Everything to pack, in artifact order.
#[derive(Debug, Clone)]
pub struct PackSource {
    pub layout: SourceLayout,
    pub files: Vec<SourceFile>,
}

/// Which files to take and how to classify them.
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    pub overrides: ClassOverrides,
    pub excludes: Vec<Glob>,
    pub include_hidden: bool,
    pub licenses: Vec<PathBuf>,
    pub chat_template: Option<PathBuf>,
    pub mmproj: Option<PathBuf>,
}

impl PackSource {
    /// Collects the files under `path` plus the extra files the options name.
    pub fn collect(path: &Path, options: &SourceOptions) -> Result<PackSource, ModelError> {
        let metadata = fs::metadata(path).map_err(ModelError::io(path))?;
        let (layout, mut files) = if metadata.is_dir() {
            (SourceLayout::Directory, walk_directory(path, options)?)
        } else {
            collect_single(path, options)?
        };
        if !files.iter().any(|f| f.role.is_main_weight()) {
            return Err(ModelError::NoModelFiles { path: path.to_path_buf() });
        }
        let extras = options
            .licenses
            .iter()
            .map(|p| (p, FileRole::License))
            .chain(options.chat_template.iter().map(|p| (p, FileRole::ChatTemplate)))
            .chain(options.mmproj.iter().map(|p| (p, FileRole::Mmproj)));
        for (extra, role) in extras {
            let rel_path = file_name(extra)?;
            files.push(source_file(extra, rel_path, role)?);
        }
        reject_duplicates(&files)?;
        Ok(PackSource { layout, files })
    }

    /// Total bytes of all files.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

fn collect_single(path: &Path, options: &SourceOptions) -> Result<(SourceLayout, Vec<SourceFile>), ModelError> {
    let name = file_name(path)?;
    let role = options.overrides.classify(&name, fs::metadata(path).map_err(ModelError::io(path))?.len());
    match role {
        FileRole::Gguf | FileRole::Mmproj => match shard_pattern(&name) {
            Some((prefix, count)) => Ok((SourceLayout::Gguf, collect_shards(path, &prefix, count)?)),
            None => Ok((SourceLayout::Gguf, vec![source_file(path, name, FileRole::Gguf)?])),
        },
        FileRole::Dduf => Ok((SourceLayout::Dduf, vec![source_file(path, name, role)?])),
        FileRole::Safetensors => Ok((SourceLayout::Safetensors, vec![source_file(path, name, role)?])),
        FileRole::OtherWeight => Ok((SourceLayout::Directory, vec![source_file(path, name, role)?])),
        _ => Err(ModelError::NotAModel { path: path.to_path_buf() }),
    }
}

fn collect_shards(first: &Path, prefix: &str, count: u32) -> Result<Vec<SourceFile>, ModelError> {
    let dir = first.parent().unwrap_or(Path::new("."));
    (1..=count)
        .map(|n| {
            let name = format!("{prefix}-{n:05}-of-{count:05}.gguf");
            let path = dir.join(&name);
            if !path.is_file() {
                return Err(ModelError::MissingShard { path: first.to_path_buf(), missing: name });
            }
            source_file(&path, name, FileRole::Gguf)
        })
        .collect()
}

fn walk_directory(root: &Path, options: &SourceOptions) -> Result<Vec<SourceFile>, ModelError> {
    let walker = walkdir::WalkDir::new(root).follow_links(true).sort_by_file_name().into_iter();
    let mut files = Vec::new();
    let entries = walker.filter_entry(|entry| {
        entry.depth() == 0 || options.include_hidden || !entry.file_name().to_string_lossy().starts_with('.')
    });
    for entry in entries {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(root).to_path_buf();
            ModelError::Io { path, source: e.into() }
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let rel_path = rel
            .components()
            .map(|c| c.as_os_str().to_str())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ModelError::BadInput {
                path: entry.path().to_path_buf(),
                reason: "file names must be valid UTF-8".into(),
            })?
            .join("/");
        if options.excludes.iter().any(|glob| glob.matches(&rel_path)) {
            continue;
        }
        let size = entry.metadata().map_err(|e| ModelError::Io { path: entry.path().into(), source: e.into() })?.len();
        let role = options.overrides.classify(&rel_path, size);
        files.push(source_file(entry.path(), rel_path, role)?);
    }
    Ok(files)
}

fn source_file(path: &Path, rel_path: String, role: FileRole) -> Result<SourceFile, ModelError> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = fs::metadata(path).map_err(ModelError::io(path))?;
    if !metadata.is_file() {
        return Err(ModelError::BadInput { path: path.to_path_buf(), reason: "not a regular file".into() });
    }
    Ok(SourceFile {
        path: path.to_path_buf(),
        offset: None,
        rel_path,
        role,
        size: metadata.len(),
        mode: metadata.permissions().mode() & 0o777,
        modified: metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    })
}

fn file_name(path: &Path) -> Result<String, ModelError> {
    path.file_name().and_then(|n| n.to_str()).map(str::to_string).ok_or_else(|| ModelError::BadInput {
        path: path.to_path_buf(),
        reason: "expected a file with a UTF-8 name".into(),
    })
}

fn reject_duplicates(files: &[SourceFile]) -> Result<(), ModelError> {
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for file in files {
        if let Some(first) = seen.insert(&file.rel_path, &file.path) {
            return Err(ModelError::DuplicatePath {
                rel_path: file.rel_path.clone(),
                first: first.to_path_buf(),
                second: file.path.clone(),
            });
        }
    }
    Ok(())
}
