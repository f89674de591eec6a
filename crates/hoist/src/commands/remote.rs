//! What the commands that talk to registries share: the client, the two kinds
//! of remote endpoint, and running a copy with progress and a summary.

use std::future::Future;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hoist_model::{PlatformSpec, format_size, image_for_platform};
use hoist_oci::{
    CopyOptions, CopyReport, Descriptor, Destination, Digest, ImageIndex, LayerFilter, Reference, Source, copy_graph,
};
use hoist_registry::{ClientOptions, RegistryClient, Repository};
use hoist_store::{Store, StoreDestination};

use crate::cli::{ConnectArgs, TransferArgs};
use crate::progress::TransferDrawer;

/// The process's one runtime. Commands are synchronous and only the transfers
/// inside them are async; one runtime for all of them keeps the registry
/// client's pooled connections valid from one call to the next.
static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// The process's multi-threaded runtime, started on first use.
pub fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let built = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    Ok(RUNTIME.get_or_init(|| built))
}

/// Runs a future on the process's runtime.
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    Ok(runtime()?.block_on(future))
}

pub fn client(connect: &ConnectArgs, credentials: Option<(String, String)>) -> Result<RegistryClient> {
    let options = ClientOptions {
        plain_http: connect.plain_http,
        insecure: connect.insecure,
        ca_file: connect.ca_file.clone(),
        user_agent: concat!("hoist/", env!("CARGO_PKG_VERSION")).to_string(),
        credentials,
    };
    Ok(RegistryClient::new(options)?)
}

/// What a name means to a command that talks to a registry, as Docker reads
/// it: a name without a registry is Docker Hub's (`ai/smollm2` is
/// `docker.io/ai/smollm2:latest`, `ubuntu` is `docker.io/library/ubuntu`).
/// The store comes first: given the store, a bare name it holds means the
/// Docker Hub model only when it was pulled from there (the store then also
/// holds the full name, at the same digest); any other stored model of that
/// name is not guessed at.
pub fn remote_reference(store: Option<&Store>, text: &str) -> Result<Reference> {
    let reference: Reference = text.parse()?;
    let hub = reference.or_docker_hub();
    if reference.registry().is_some() {
        return Ok(hub);
    }
    if let Some(store) = store
        && let Some(local) = stored_digest(store, &reference)?
        && stored_digest(store, &hub)? != Some(local)
    {
        bail!(
            "{text} is a model in the store, not one pulled from Docker Hub: name the registry, \
             as in REGISTRY/REPOSITORY[:TAG] ({hub} for Docker Hub's)"
        );
    }
    Ok(hub)
}

/// The digest the store holds under exactly this name.
pub fn stored_digest(store: &Store, reference: &Reference) -> Result<Option<Digest>> {
    let name = reference.to_string();
    Ok(store.list()?.into_iter().find(|tagged| tagged.reference == name).map(|tagged| tagged.descriptor.digest))
}

/// One side of a `copy`: a registry repository or an image-layout directory.
pub enum Endpoint {
    Registry(Box<Repository>, Reference),
    Layout { path: PathBuf, tag: Option<String> },
}

impl Endpoint {
    pub fn parse(text: &str, client: &RegistryClient) -> Result<Endpoint> {
        if let Some(rest) = text.strip_prefix("oci:") {
            // As skopeo reads it: the directory ends at the first ':'.
            let (path, tag) = match rest.split_once(':') {
                Some((path, tag)) => (path, Some(tag.to_string())),
                None => (rest, None),
            };
            if path.is_empty() {
                bail!("{text}: oci: needs a directory, as in oci:DIR[:TAG]");
            }
            return Ok(Endpoint::Layout { path: PathBuf::from(path), tag });
        }
        let reference = remote_reference(None, text)?;
        Ok(Endpoint::Registry(Box::new(Repository::from_reference(client, &reference)?), reference))
    }

    /// The tag or digest this endpoint names, as its target understands it.
    pub fn reference_text(&self) -> Option<String> {
        match self {
            Endpoint::Registry(_, reference) => {
                reference.tag().map(str::to_string).or_else(|| reference.digest().map(|d| d.to_string()))
            }
            Endpoint::Layout { tag, .. } => tag.clone(),
        }
    }
}

/// The root to copy: `root` itself, or, given a platform and an index, the
/// index entry for that platform. Without a platform an index is copied whole.
pub async fn select_platform(
    source: &dyn Source,
    root: Descriptor,
    platform: Option<&PlatformSpec>,
) -> Result<Descriptor> {
    let Some(platform) = platform else { return Ok(root) };
    if !hoist_oci::media_types::is_index(&root.media_type) {
        return Ok(root);
    }
    let index = ImageIndex::from_slice(&source.fetch_all(&root).await?)?;
    Ok(image_for_platform(&index.manifests, &root.digest.to_string(), Some(platform))?.clone())
}

/// Copies `root` from `source` to `destination`, drawing progress, and prints a summary.
pub async fn transfer(
    source: &dyn Source,
    destination: &dyn Destination,
    root: &Descriptor,
    tag: Option<&str>,
    args: &TransferArgs,
    layer_filter: Option<LayerFilter>,
) -> Result<CopyReport> {
    let drawer = TransferDrawer::new(args.progress);
    let options = CopyOptions { concurrency: args.concurrency, layer_filter };
    let report = copy_graph(source, destination, root, tag, &options, &drawer).await;
    drawer.finish();
    let report = report?;
    Ok(report)
}

/// "2 blobs copied (1.06GB), 1 already there, 0 mounted", and the bytes
/// read back to hash them when there were any (a resumed pull).
pub fn summary(report: &CopyReport) -> String {
    let read_back = report.bytes_read_back.load(Ordering::Relaxed);
    let read_back = if read_back > 0 { format!(", {} read back", format_size(read_back)) } else { String::new() };
    format!(
        "{} blobs copied ({}), {} already there, {} mounted{read_back}",
        report.blobs_copied.load(Ordering::Relaxed),
        format_size(report.bytes_copied.load(Ordering::Relaxed)),
        report.blobs_skipped.load(Ordering::Relaxed),
        report.blobs_mounted.load(Ordering::Relaxed),
    )
}

/// Prints what a push, pull or copy did: a line such as "Pulled NAME DIGEST:
/// summary", or with `--json` one object with every count of the report.
pub fn print_transfer(done: &str, name: &str, root: &Descriptor, report: &CopyReport, took: Duration, json: bool) {
    if !json {
        println!("{done} {name} {}: {}", root.digest, summary(report));
        return;
    }
    let mut object = serde_json::json!({
        "action": done.to_lowercase(),
        "reference": name,
        "digest": root.digest.to_string(),
        "media_type": root.media_type,
    });
    if let (Some(object), serde_json::Value::Object(counts)) = (object.as_object_mut(), transfer_json(report, took)) {
        object.extend(counts);
    }
    println!("{object:#}");
}

/// Every count of a transfer, under the field names the README documents.
pub fn transfer_json(report: &CopyReport, took: Duration) -> serde_json::Value {
    let count = |n: &std::sync::atomic::AtomicUsize| n.load(Ordering::Relaxed);
    let bytes = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
    serde_json::json!({
        "blobs_copied": count(&report.blobs_copied),
        "bytes_copied": bytes(&report.bytes_copied),
        "blobs_skipped": count(&report.blobs_skipped),
        "blobs_mounted": count(&report.blobs_mounted),
        "manifests_pushed": count(&report.manifests_pushed),
        "manifests_skipped": count(&report.manifests_skipped),
        "layers_filtered": count(&report.layers_filtered),
        "bytes_read_back": bytes(&report.bytes_read_back),
        "seconds": took.as_secs_f64(),
    })
}

/// An image-layout directory as a copy endpoint (it is a store on disk).
pub fn layout_destination(path: &std::path::Path) -> Result<StoreDestination> {
    Ok(StoreDestination::image_layout(&Store::new(path))?)
}
