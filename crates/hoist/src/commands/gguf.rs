//! Finding a model's GGUF headers, wherever the model is: a file, the store, or
//! a registry (then only the header bytes are read, and for an image with the
//! GGUF files in tar layers, the tar headers before them).

use std::path::Path;

use anyhow::{Result, bail};
use hoist_gguf::{GgufHeader, read_header_from_path};
use hoist_model::{
    FileRole, PackSource, SourceOptions, StoredModel, format_size, gguf_layers, has_tar_layers, read_layer_header,
    read_tar_headers, stored_command,
};
use hoist_oci::Source;
use hoist_registry::Repository;
use hoist_store::{Store, StoreError};

use super::remote::{block_on, client, remote_reference};
use crate::cli::ConnectArgs;

/// The GGUF files of a model, with their headers.
pub struct ModelHeaders {
    /// (file name or layer digest, header)
    pub files: Vec<(String, GgufHeader)>,
    /// For a remote model: bytes read, the model's total bytes, requests made.
    pub remote_cost: Option<(u64, u64, u32)>,
    /// The artifact's stored command (image config Entrypoint + Cmd), if any.
    pub command: Vec<String>,
}

impl ModelHeaders {
    pub fn headers(&self) -> Vec<&GgufHeader> {
        self.files.iter().map(|(_, header)| header).collect()
    }

    /// "read 412.3kB of 1.06GB (0.04%) in 2 requests"
    pub fn remote_cost_line(&self) -> Option<String> {
        self.remote_cost.map(|(read, total, requests)| {
            let share = if total == 0 { 0.0 } else { read as f64 * 100.0 / total as f64 };
            format!("read {} of {} ({share:.3}%) in {requests} requests", format_size(read), format_size(total))
        })
    }
}

/// A `.gguf` path (with its sibling shards), a model in the store, or, with
/// `remote` or a registry in the name when the store does not have it, a model
/// in a registry.
pub fn model_headers(store: &Store, query: &str, remote: bool, connect: &ConnectArgs) -> Result<ModelHeaders> {
    let path = Path::new(query);
    if !remote && path.is_file() {
        return file_headers(path);
    }
    if !remote {
        match store.resolve(query) {
            Ok(resolved) => return stored_headers(store, &resolved.descriptor),
            Err(StoreError::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    // What reads as a path is a missing file, not a Docker Hub name.
    if !remote && (query.ends_with(".gguf") || query.starts_with(['.', '/'])) {
        bail!("{query}: no such file, and no model of that name in store {}", store.root().display());
    }
    let reference = remote_reference(Some(store), query)?;
    let client = client(connect, None)?;
    let repository = Repository::from_reference(&client, &reference)?;
    let wanted = reference.tag().map(str::to_string).or_else(|| reference.digest().map(|d| d.to_string()));
    block_on(async {
        let root = repository.resolve(wanted.as_deref().unwrap_or("latest")).await?;
        artifact_headers(&repository, &root, true).await
    })?
}

fn file_headers(path: &Path) -> Result<ModelHeaders> {
    let source = PackSource::collect(path, &SourceOptions::default())?;
    let mut files = Vec::new();
    for file in source.files.iter().filter(|f| f.role == FileRole::Gguf) {
        files.push((file.rel_path.clone(), read_header_from_path(&file.path)?));
    }
    if files.is_empty() {
        bail!("{}: not a GGUF file", path.display());
    }
    Ok(ModelHeaders { files, remote_cost: None, command: Vec::new() })
}

/// A model in the store: its GGUF layers, or the GGUF files in its tar layers.
fn stored_headers(store: &Store, descriptor: &hoist_oci::Descriptor) -> Result<ModelHeaders> {
    block_on(artifact_headers(store, descriptor, false))?
}

async fn artifact_headers(source: &dyn Source, root: &hoist_oci::Descriptor, remote: bool) -> Result<ModelHeaders> {
    let model = StoredModel::fetch(source, root).await?;
    let Some(manifest) = &model.manifest else {
        bail!("{}: an index; pick one of its manifests (by digest or --platform)", root.digest);
    };
    let total = manifest.layers.iter().map(|l| l.size).sum();
    let config = serde_json::from_slice(&model.config_bytes).unwrap_or_default();
    let layers = gguf_layers(manifest);
    if layers.is_empty() {
        // An image (gguf-packer): the GGUF files are inside its tar layers,
        // whose walk and header ranges are all that is read of them.
        if has_tar_layers(manifest) {
            let found = read_tar_headers(source, manifest, &config).await?;
            let files = found.files.into_iter().map(|f| (f.path, f.header)).collect();
            let remote_cost = remote.then_some((found.bytes_read, total, found.requests));
            return Ok(ModelHeaders { files, remote_cost, command: stored_command(&config) });
        }
        bail!("{}: the model holds no GGUF file", root.digest);
    }
    let (mut files, mut read, mut requests) = (Vec::new(), 0, 0);
    for layer in layers {
        let found = read_layer_header(source, layer).await?;
        read += found.bytes_read;
        requests += found.round_trips;
        let name = model.info.layers.iter().find(|l| l.digest == layer.digest).and_then(|l| l.path.clone());
        files.push((name.unwrap_or_else(|| layer.digest.to_string()), found.header));
    }
    Ok(ModelHeaders { files, remote_cost: remote.then_some((read, total, requests)), command: stored_command(&config) })
}
