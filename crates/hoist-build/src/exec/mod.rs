//! Running a [`Plan`] into an OCI image in the local store.
//!
//! Each stage starts from scratch or from the stage it names; each file-making
//! step (COPY, ADD, CAT, CONVERT, QUANTIZE) adds one uncompressed tar layer of
//! exactly the files it wrote (ADD of a local tar archive, plain or gzip, unpacks
//! it: `archive`; ADD of an http(s) URL downloads it: `url`; ADD of a git
//! repository checks out its commit with the `git` program and fetches its Git
//! LFS objects through the batch API: `git`, `lfs`);
//! LABEL and CMD change the config only. The target stage's CMD must name files
//! the image has: their GGUF headers give the config's model facts and the
//! `gguf.model.*` labels no LABEL set (`facts`). The target stage's layers, its
//! config (see `hoist_model::formats::packer::ImageConfig`) and a manifest are written to the store;
//! tagging is the caller's. Layers are reproducible (see `tree`), so two builds of
//! the same inputs give the same digests.
//!
//! A stage may start from an image of the local store, and COPY `--from` one
//! (`base`): its layers are reused by digest and its config carried on.
//!
//! Every file-making step is looked up in the step cache first (`cache`): a hit
//! reuses the layer it made before and lists its files from the layer's tar
//! headers, so a rebuild with nothing changed reads no source file.
//!
//! An image the store lacks comes through the caller's [`Fetcher`] (the
//! binary pulls it), and is then used like any other.
//!
//! With [`Output::Artifact`], the target stage's files are packed as a model
//! artifact instead (`artifact`), read where they lie: that stage's COPY, ADD
//! and CAT write no layer. The context leaves out what its ignore file
//! (`FILE.dockerignore` beside the build file, else `.dockerignore`) excludes
//! (`context`, `ignore`).
//!
//! `CONVERT --class=lora --base=DIR` converts a PEFT adapter for the base
//! model DIR of the same `--from` (`model_steps`); its key counts both.

mod archive;
mod artifact;
mod base;
mod cache;
mod context;
mod copy;
mod facts;
mod git;
mod glob;
mod ignore;
mod lfs;
mod model_steps;
mod tree;
mod url;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;

use hoist_oci::{Descriptor, ImageManifest, media_types};
use hoist_store::WriteSession;

use crate::cmd::ModelFiles;
use crate::error::Error;
use crate::location::Location;
use crate::plan::{Base, Content, FileOptions, FromRef, Plan, Step, StepKind};
use cache::Key;
use copy::{CopyError, Placement};
use hoist_model::formats::packer::{History, ImageConfig, rfc3339};
use tree::{Data, Entry, Node, Tree};

/// How to run a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOptions {
    /// The build context directory.
    pub context: PathBuf,
    /// Seconds since the epoch for every time in the image (`SOURCE_DATE_EPOCH`, else 0).
    pub epoch: u64,
    pub os: String,
    pub architecture: String,
    /// Build every step, using no cached layer (`--no-cache`); what is built is
    /// still recorded.
    pub no_cache: bool,
    pub output: Output,
    /// The build file, when it is one on disk: `FILE.dockerignore` beside it,
    /// if there is one, is the context's ignore file instead of `.dockerignore`.
    pub build_file: Option<PathBuf>,
}

/// What a build makes of its target stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Output {
    /// An OCI image (tar layers, a gguf-packer image config); tagging is the caller's.
    #[default]
    Image,
    /// A model artifact of the stage's files, packed as `hoist pack` packs and
    /// tagged `reference` (`--format docker|modelpack`).
    Artifact { format: hoist_model::PackFormat, reference: hoist_oci::Reference },
}

/// What a build wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    /// The image manifest, committed to the store (not tagged); or the model
    /// artifact's, tagged by pack.
    pub manifest: Descriptor,
    /// The image config (for an artifact: what it would have been, with the
    /// model facts CMD's files gave; its diff_ids only those of the layers the
    /// build did make).
    pub config: ImageConfig,
    /// The manifest's layers.
    pub layers: Vec<Descriptor>,
    pub stats: Stats,
}

/// What a build did: how many layers it wrote (every byte of a written layer
/// was read from its sources) and how many it took from the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub layers_written: usize,
    pub bytes_written: u64,
    pub steps_cached: usize,
}

/// Files a step reads, and the layers they come from (none for the context,
/// whose files are keyed one by one).
struct Source {
    files: Tree,
    layers: Option<Vec<Descriptor>>,
}

/// A stage as built so far.
#[derive(Debug, Clone, Default)]
struct StageState {
    files: Tree,
    layers: Vec<Descriptor>,
    config: ImageConfig,
    /// The last CMD: where it is, its text, the files it names.
    cmd: Option<(Location, String, ModelFiles)>,
}

/// Brings an image that is not in the store into it, named as the build file
/// names it: the caller's `pull` (this crate does not talk to registries).
pub trait Fetcher {
    /// Fetches `reference`, the manifest for `os/architecture` where it is an
    /// index; the error says why not, in one line.
    fn fetch(&self, reference: &str, os: &str, architecture: &str) -> Result<(), String>;
}

/// Progress of a build, for the caller to draw (a library never prints).
pub trait Reporter {
    /// ADD starts downloading `url`: its whole size if the server said, and
    /// the bytes an interrupted build already fetched.
    fn download_started(&self, _url: &str, _size: Option<u64>, _resumed_from: u64) {}
    /// More bytes of the download arrived.
    fn downloaded(&self, _bytes: u64) {}
    fn download_finished(&self, _url: &str) {}
}

/// A reporter that reports nothing.
pub struct NoReporter;
impl Reporter for NoReporter {}

/// A fetcher for builds that use only the store.
pub struct NoFetcher;

impl Fetcher for NoFetcher {
    fn fetch(&self, reference: &str, _: &str, _: &str) -> Result<(), String> {
        Err(format!("{reference} is not in the store, and this build does not pull"))
    }
}

/// Builds `plan`'s target into the store through `session`; images named by
/// FROM or `--from` that the store lacks come through `fetcher`; downloads are
/// reported to `reporter`.
pub fn execute(
    plan: &Plan,
    options: &ExecOptions,
    session: &WriteSession,
    fetcher: &dyn Fetcher,
    reporter: &dyn Reporter,
) -> Result<Built, Error> {
    let mut run = Run {
        options,
        session,
        fetcher,
        reporter,
        context: None,
        states: BTreeMap::new(),
        scratch: None,
        stats: Stats::default(),
        layerless: false,
    };
    for &index in &plan.order {
        let stage = &plan.stages[index];
        run.layerless = index == plan.target && matches!(options.output, Output::Artifact { .. });
        let mut state = match &stage.base {
            Base::Scratch => StageState::default(),
            Base::Stage(b) => run.states.get(b).cloned().unwrap_or_default(),
            Base::Image(reference) => {
                let image = run.image(reference).map_err(|message| Error::Invalid {
                    at: stage.at.clone(),
                    message: format!("FROM {reference}: {message}"),
                    text: stage.text.clone(),
                })?;
                from_image(image, reference)
            }
        };
        for step in &stage.steps {
            run.step(&mut state, step)?;
        }
        run.states.insert(index, state);
    }
    let mut state = run.states.remove(&plan.target).unwrap_or_default();
    state.config.created = rfc3339(options.epoch);
    if let Some((at, text, files)) = &state.cmd {
        let found = facts::read(files, &state.files).map_err(|message| Error::Invalid {
            at: at.clone(),
            message,
            text: text.clone(),
        })?;
        let config = &mut state.config;
        if let Some((model, header)) = &found.model {
            facts::labels(model, header, &mut config.labels);
        }
        config.model = found.model.map(|(f, _)| f);
        config.drafter = found.draft.map(|(f, _)| f);
        config.projector = found.projector.map(|(f, _)| f);
        config.adapters = found.adapters.into_iter().map(|(f, _)| f).collect();
    }
    let created = state.config.created.clone();
    state.config.labels.entry("org.opencontainers.image.created".into()).or_insert(created);
    state.config.os = options.os.clone();
    state.config.architecture = options.architecture.clone();
    if let Output::Artifact { format, reference } = &options.output {
        let Some((at, text, _)) = &state.cmd else {
            return Err(Error::Invalid {
                at: plan.stages[plan.target].at.clone(),
                message: "a model artifact needs a CMD naming its model (-m)".into(),
                text: plan.stages[plan.target].text.clone(),
            });
        };
        let invalid = |message: String| Error::Invalid { at: at.clone(), message, text: text.clone() };
        let scratch = run.scratch().map_err(&invalid)?;
        let (store, epoch) = (session.store(), options.epoch);
        let packed = artifact::pack(store, &state, *format, reference, epoch, &scratch)
            .map_err(|e| invalid(format!("packing the model artifact: {e}")))?;
        return Ok(Built {
            manifest: packed.descriptor,
            config: state.config,
            layers: packed.manifest.layers,
            stats: run.stats,
        });
    }
    let config_bytes = state.config.to_json();
    let (digest, size) = session.put_bytes(&config_bytes)?;
    let config = Descriptor::new(media_types::OCI_IMAGE_CONFIG, digest, size);
    let manifest = ImageManifest::new(config, state.layers.clone());
    let (digest, size) = session.put_bytes(&manifest.to_canonical_json())?;
    Ok(Built {
        manifest: Descriptor::new(media_types::OCI_MANIFEST, digest, size),
        config: state.config,
        layers: state.layers,
        stats: run.stats,
    })
}

struct Run<'a> {
    options: &'a ExecOptions,
    session: &'a WriteSession,
    fetcher: &'a dyn Fetcher,
    reporter: &'a dyn Reporter,
    /// Read on first use.
    context: Option<Tree>,
    states: BTreeMap<usize, StageState>,
    /// Where CONVERT and QUANTIZE write (in the store's ingest/, so on the same
    /// file system): kept until the build ends, since later steps and the
    /// image's GGUF facts read what they made.
    scratch: Option<tempfile::TempDir>,
    stats: Stats,
    /// The stage being built is an artifact's: pack reads its files where they
    /// lie, so a COPY, ADD or CAT writes no layer (which would read and write
    /// every byte once more). CONVERT and QUANTIZE still do, to be cached.
    layerless: bool,
}

impl Run<'_> {
    fn context(&mut self) -> Result<&Tree, Error> {
        if self.context.is_none() {
            let build_file = self.options.build_file.as_deref();
            let tree = context::load(&self.options.context, build_file)
                .map_err(|(path, source)| Error::Read { path, source })?;
            self.context = Some(tree);
        }
        Ok(self.context.get_or_insert_default())
    }

    /// An image from the store, fetched into it first if it is not there.
    fn image(&self, reference: &str) -> Result<base::BaseImage, String> {
        let store = self.session.store();
        let (os, architecture) = (&self.options.os, &self.options.architecture);
        if let Err(hoist_store::StoreError::NotFound { .. }) = store.resolve(reference) {
            self.fetcher.fetch(reference, os, architecture)?;
        }
        base::load(store, reference, os, architecture)
    }

    /// The files `--from` names, and the layers they come from (none for the context).
    fn source(&mut self, state: &StageState, from: &FromRef, step: &Step) -> Result<Source, Error> {
        Ok(match from {
            FromRef::Context => Source { files: self.context()?.clone(), layers: None },
            FromRef::Stage(s) => {
                let stage = self.states.get(s).cloned().unwrap_or_default();
                Source { files: stage.files, layers: Some(stage.layers) }
            }
            FromRef::Current => Source { files: state.files.clone(), layers: Some(state.layers.clone()) },
            FromRef::Image(r) => {
                let image = self.image(r).map_err(|m| Error::Invalid {
                    at: step.at.clone(),
                    message: format!("--from={r}: {m}"),
                    text: step.text.clone(),
                })?;
                Source { files: image.files, layers: Some(image.layers) }
            }
        })
    }

    fn scratch(&mut self) -> Result<PathBuf, String> {
        if self.scratch.is_none() {
            let ingest = self.session.store().root().join("ingest");
            std::fs::create_dir_all(&ingest).map_err(|e| format!("{}: {e}", ingest.display()))?;
            let dir = tempfile::Builder::new().prefix("build-").tempdir_in(&ingest);
            self.scratch = Some(dir.map_err(|e| format!("{}: {e}", ingest.display()))?);
        }
        Ok(self.scratch.as_ref().map(|d| d.path().to_path_buf()).unwrap_or_default())
    }

    /// A step's cache key: the step as expanded, whether its destination is a
    /// directory of the stage, and what it reads (`read`: the files it takes
    /// from the context; a stage or image by its layers). See `cache`.
    fn key(
        &self,
        step: &Step,
        dest_dir: bool,
        read: Option<(&Source, &Tree)>,
        downloaded: &[String],
    ) -> Result<String, Error> {
        let mut key = Key::new(self.options.epoch);
        for digest in downloaded {
            key.part(digest);
        }
        key.part(&format!("{:?} into a directory: {dest_dir}", step.kind));
        match read {
            Some((Source { layers: Some(layers), .. }, _)) => key.layers(layers),
            Some((Source { layers: None, .. }, files)) => {
                key.files(files).map_err(|(path, source)| Error::Read { path, source })?
            }
            None => {}
        }
        Ok(key.finish())
    }

    /// The layer the cache holds for `key`, unless `--no-cache`.
    fn cached(&self, key: &str) -> Result<Option<Descriptor>, Error> {
        if self.options.no_cache {
            return Ok(None);
        }
        let found = self.session.store().cache_lookup(cache::NAME, key)?;
        // The entry's key annotation is the cache's, not the image's.
        Ok(found.map(|d| Descriptor::new(d.media_type, d.digest, d.size)))
    }

    /// The files a cached layer holds (its headers read, never its data).
    fn cached_files(&self, layer: &Descriptor, step: &Step) -> Result<Tree, Error> {
        let path = self.session.store().blob_path(&layer.digest);
        let mut files = Tree::default();
        base::list_layer(&path, &mut files).map_err(|e| Error::Invalid {
            at: step.at.clone(),
            message: format!("reading the cached layer {}: {e}", path.display()),
            text: step.text.clone(),
        })?;
        Ok(files)
    }

    fn step(&mut self, state: &mut StageState, step: &Step) -> Result<(), Error> {
        let invalid = |message: String| Error::Invalid { at: step.at.clone(), message, text: step.text.clone() };
        let added: Option<(Tree, String)> = match &step.kind {
            StepKind::Label(pairs) => {
                state.config.labels.extend(pairs.iter().cloned());
                None
            }
            StepKind::Cmd { args, files } => {
                state.config.cmd = args.clone();
                state.cmd = Some((step.at.clone(), step.text.clone(), files.clone()));
                None
            }
            StepKind::Convert { from, src, dest, out_type, base, .. } => {
                let source = self.source(state, from, step)?;
                // A LoRA adapter's key holds its base model's files too.
                let read: Vec<&String> = std::iter::once(src).chain(base).collect();
                let key = self.key(step, false, Some((&source, &picked(&source.files, &read))), &[])?;
                if self.reuse_cached(state, step, &key)? {
                    None
                } else {
                    let context = matches!(from, FromRef::Context).then_some(self.options.context.as_path());
                    let scratch = self.scratch().map_err(&invalid)?;
                    let made = match base {
                        Some(base) => {
                            model_steps::convert_lora(&source.files, context, src, base, dest, out_type, &scratch)
                        }
                        None => model_steps::convert(&source.files, context, src, dest, out_type, &scratch),
                    };
                    Some((made.map_err(&invalid)?, key))
                }
            }
            StepKind::Quantize(quantize) => {
                let source = self.source(state, &quantize.from, step)?;
                let read: Vec<&String> = std::iter::once(&quantize.src).chain(&quantize.imatrix).collect();
                let key = self.key(step, false, Some((&source, &picked(&source.files, &read))), &[])?;
                if self.reuse_cached(state, step, &key)? {
                    None
                } else {
                    let scratch = self.scratch().map_err(&invalid)?;
                    Some((model_steps::quantize(&source.files, quantize, &scratch).map_err(&invalid)?, key))
                }
            }
            StepKind::Cat { parts, dest } => {
                let data = parts.concat().into_bytes();
                let mut t = Tree::default();
                let path = copy::clean(dest);
                if path.is_empty() || dest.ends_with('/') {
                    return Err(invalid(format!("CAT writes a file, and {dest:?} is a directory")));
                }
                t.insert(path, inline_file(data));
                let key = self.key(step, false, None, &[])?;
                self.files_step(state, step, t, key)?
            }
            StepKind::Add { sources, dest, options, keep_git_dir, .. }
                if sources.iter().any(|s| matches!(s, Content::Path(p) if is_git(p))) =>
            {
                self.add_git(state, step, sources, dest, options, *keep_git_dir)?
            }
            StepKind::Add { sources, dest, options, checksum, .. } => {
                let (urls, local): (Vec<&Content>, Vec<&Content>) =
                    sources.iter().partition(|s| matches!(s, Content::Path(p) if is_url(p)));
                let checksum = checksum.as_deref().map(url::Checksum::parse).transpose().map_err(&invalid)?;
                if checksum.is_some() && (urls.len() != 1 || !local.is_empty()) {
                    return Err(invalid("--checksum checks one URL, the only source".into()));
                }
                let dest_dir = copy::dest_is_dir(dest, &state.files);
                if sources.len() > 1 && !dest_dir {
                    return Err(invalid(copy::CopyError::NeedsDirectory.to_string()));
                }
                // A checked URL is known by its checksum: a cached layer needs no download.
                if checksum.is_some() {
                    let key = self.key(step, dest_dir, None, &[])?;
                    if self.reuse_cached(state, step, &key)? {
                        return self.history(state, step);
                    }
                }
                let from = self.context()?.clone();
                let (archives, files): (Vec<_>, Vec<_>) =
                    local.iter().map(|s| (*s, archive_of(&from, s))).partition(|(_, a)| !matches!(a, Ok(None)));
                let files: Vec<Content> = files.into_iter().map(|(s, _)| s.clone()).collect();
                let mut added = if files.is_empty() {
                    Tree::default()
                } else {
                    place(&from, state, &files, dest, options, false).map_err(|e| invalid(e.to_string()))?
                };
                let how = placement(options, false).map_err(|e| invalid(e.to_string()))?;
                for (_, found) in archives {
                    let Some((path, kind)) = found.map_err(&invalid)? else {
                        continue;
                    };
                    let unpacked = archive::extract(&path, kind)
                        .map_err(|e| invalid(format!("unpacking {}: {e}", path.display())))?;
                    for (p, mut e) in unpacked.entries {
                        how.apply(&mut e);
                        added.insert(copy::clean(&format!("{dest}/{p}")), e);
                    }
                }
                let mut digests = Vec::new();
                let mut fetched = Tree::default();
                for source in urls {
                    let Content::Path(address) = source else { continue };
                    let scratch = self.scratch().map_err(&invalid)?;
                    let ingest = self.session.store().root().join("ingest");
                    let got = url::download(address, checksum.as_ref(), &ingest, &scratch, self.reporter)
                        .map_err(|e| invalid(format!("{address}: {e}")))?;
                    let path = if dest_dir {
                        copy::clean(&format!("{dest}/{}", url_file_name(address)))
                    } else {
                        copy::clean(dest)
                    };
                    // Docker's mode for a downloaded file.
                    let mut entry = Entry {
                        node: Node::File { data: Data::Disk(got.path), size: got.size },
                        mode: 0o600,
                        uid: 0,
                        gid: 0,
                    };
                    how.apply(&mut entry);
                    fetched.insert(path, entry);
                    digests.push(got.digest);
                }
                let key = if checksum.is_some() {
                    self.key(step, dest_dir, None, &[])?
                } else {
                    // Downloads by their content, context files by stat.
                    let context = Source { files: Tree::default(), layers: None };
                    self.key(step, dest_dir, Some((&context, &added)), &digests)?
                };
                added.overlay(&fetched);
                self.files_step(state, step, added, key)?
            }
            StepKind::Copy { from, sources, dest, options, parents } => {
                let source = self.source(state, from, step)?;
                let added = place(&source.files, state, sources, dest, options, *parents)
                    .map_err(|e| invalid(e.to_string()))?;
                let key = self.key(step, copy::dest_is_dir(dest, &state.files), Some((&source, &added)), &[])?;
                self.files_step(state, step, added, key)?
            }
        };
        let placed = !matches!(step.kind, StepKind::Convert { .. } | StepKind::Quantize(_));
        if let Some((added, _)) = added.as_ref().filter(|_| self.layerless && placed) {
            state.files.overlay(added);
        } else if let Some((added, key)) = added {
            let layer = self.write_layer(&added, step)?;
            self.session.cache_insert(cache::NAME, &key, &layer)?;
            self.stats.layers_written += 1;
            self.stats.bytes_written += layer.size;
            state.config.diff_ids.push(layer.digest.to_string());
            state.layers.push(layer);
            state.files.overlay(&added);
        }
        self.history(state, step)
    }

    fn history(&self, state: &mut StageState, step: &Step) -> Result<(), Error> {
        let empty_layer = matches!(step.kind, StepKind::Label(_) | StepKind::Cmd { .. });
        // Credentials in a URL are not for whoever reads the image.
        state.config.history.push(History { created_by: git::redact(&step.text), empty_layer });
        Ok(())
    }

    /// ADD of git repositories: each ref resolved (`git ls-remote`) before
    /// anything is fetched, so the key is the commits and a rebuild of the same
    /// ones reads nothing; else each checked out into the scratch directory,
    /// its LFS objects fetched, and the files placed under `dest`.
    fn add_git(
        &mut self,
        state: &mut StageState,
        step: &Step,
        sources: &[Content],
        dest: &str,
        options: &FileOptions,
        keep_git_dir: bool,
    ) -> Result<Option<(Tree, String)>, Error> {
        let text = git::redact(&step.text);
        let invalid = |message: String| Error::Invalid { at: step.at.clone(), message, text: text.clone() };
        let mut resolved = Vec::new();
        for source in sources {
            let remote = match source {
                Content::Path(p) if is_git(p) => git::Remote::parse(p).map_err(&invalid)?,
                _ => return Err(invalid("ADD of a git repository takes no other sources".into())),
            };
            resolved.push(git::resolve(&remote).map_err(&invalid)?);
        }
        // The remote without credentials: they change who fetches, not what.
        let mut key = Key::new(self.options.epoch);
        key.part("ADD of git repositories");
        for r in &resolved {
            for part in [&r.remote.url, &r.commit, &r.remote.subdir] {
                key.part(part);
            }
        }
        key.part(&format!("{dest} {options:?} keep-git-dir: {keep_git_dir}"));
        let key = key.finish();
        if self.reuse_cached(state, step, &key)? {
            return Ok(None);
        }
        let how = placement(options, false).map_err(|e| invalid(e.to_string()))?;
        let scratch = self.scratch().map_err(&invalid)?;
        let mut added = Tree::default();
        for r in &resolved {
            let dir =
                tempfile::Builder::new().prefix("git-").tempdir_in(&scratch).map_err(|e| invalid(e.to_string()))?;
            // Kept until the scratch directory goes: the layer reads the checkout.
            let dir = dir.keep();
            let mut files = git::checkout(r, &dir, keep_git_dir).map_err(&invalid)?;
            lfs::fetch(&mut files, &dir, &r.remote, r.ref_name.as_deref(), &scratch, self.reporter)
                .map_err(&invalid)?;
            let placed =
                copy::copy(&files, &["/".to_string()], dest, true, &how).map_err(|e| invalid(e.to_string()))?;
            added.overlay(&placed);
        }
        Ok(Some((added, key)))
    }

    /// A file-making step whose files are known before any is read: its layer
    /// from the cache (returning `None`), else the files to write.
    fn files_step(
        &mut self,
        state: &mut StageState,
        step: &Step,
        added: Tree,
        key: String,
    ) -> Result<Option<(Tree, String)>, Error> {
        // Later steps (CMD's facts, COPY --from) read the cached layer, not
        // the sources: a cached build reads nothing of them.
        if self.reuse_cached(state, step, &key)? { Ok(None) } else { Ok(Some((added, key))) }
    }

    /// Adds the layer the cache holds for `key` to the stage, if there is one.
    fn reuse_cached(&mut self, state: &mut StageState, step: &Step, key: &str) -> Result<bool, Error> {
        let Some(layer) = self.cached(key)? else { return Ok(false) };
        let files = self.cached_files(&layer, step)?;
        self.reuse(state, layer, &files);
        Ok(true)
    }

    /// Adds a layer the cache had to the stage.
    fn reuse(&mut self, state: &mut StageState, layer: Descriptor, files: &Tree) {
        self.stats.steps_cached += 1;
        state.config.diff_ids.push(layer.digest.to_string());
        state.layers.push(layer);
        state.files.overlay(files);
    }

    /// Writes `files` as a tar layer into the store. One thread makes the tar
    /// (reading the files, copying them into chunks), this one hashes each chunk as
    /// the store's ingest writes it: reading overlaps hashing, so a layer costs
    /// about what its hash does.
    fn write_layer(&self, files: &Tree, step: &Step) -> Result<Descriptor, Error> {
        let mut ingest = self.session.ingest()?;
        let epoch = self.options.epoch;
        let (full_tx, full_rx) = mpsc::sync_channel::<Vec<u8>>(4);
        let (spare_tx, spare_rx) = mpsc::channel::<Vec<u8>>();
        let (consumed, produced) = std::thread::scope(|scope| {
            let producer = scope.spawn(move || -> std::io::Result<()> {
                let out = ChunkSender { full: full_tx, spare: spare_rx, buf: Vec::with_capacity(CHUNK) };
                files.write_tar(out, epoch)?.send_rest()
            });
            let mut consumed = Ok(());
            // Ends when the producer is done (or, on a store error, stops it: its
            // next send fails).
            for chunk in full_rx {
                match ingest.write_chunk(chunk) {
                    Ok(spare) => {
                        let _ = spare_tx.send(spare);
                    }
                    Err(e) => {
                        consumed = Err(e);
                        break;
                    }
                }
            }
            (consumed, producer.join())
        });
        consumed?;
        let write_error = |source: std::io::Error| Error::Write { at: step.at.clone(), source };
        produced.map_err(|_| write_error(std::io::Error::other("the layer writer failed")))?.map_err(write_error)?;
        let (digest, size) = ingest.finish(None)?.commit()?;
        Ok(Descriptor::new(media_types::OCI_LAYER_TAR, digest, size))
    }
}

/// Chunks handed from the tar-making thread to the hashing one.
const CHUNK: usize = 4 << 20;

/// A writer that fills owned chunks and sends each one when full, reusing the
/// buffers the store hands back.
struct ChunkSender {
    full: mpsc::SyncSender<Vec<u8>>,
    spare: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChunkSender {
    fn send(&mut self) -> std::io::Result<()> {
        let mut next = self.spare.try_recv().unwrap_or_default();
        next.clear();
        next.reserve(CHUNK);
        let full = std::mem::replace(&mut self.buf, next);
        self.full.send(full).map_err(|_| std::io::Error::other("the store stopped taking the layer"))
    }

    fn send_rest(mut self) -> std::io::Result<()> {
        if self.buf.is_empty() { Ok(()) } else { self.send() }
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A stage that starts from an image: its files, its layers (reused), its config
/// carried on, `org.opencontainers.image.base.*` naming it.
fn from_image(image: base::BaseImage, reference: &str) -> StageState {
    let cfg = &image.config;
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
    };
    let mut labels: BTreeMap<String, String> = cfg["config"]["Labels"]
        .as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    labels.insert("org.opencontainers.image.base.name".into(), reference.to_string());
    labels.insert("org.opencontainers.image.base.digest".into(), image.manifest.digest.to_string());
    // The base's creation time is not this image's.
    labels.remove("org.opencontainers.image.created");
    StageState {
        files: image.files,
        layers: image.layers,
        config: ImageConfig {
            cmd: strings(&cfg["config"]["Cmd"]),
            labels,
            diff_ids: strings(&cfg["rootfs"]["diff_ids"]),
            base: Some(image.config.clone()),
            ..ImageConfig::default()
        },
        cmd: None,
    }
}

fn inline_file(data: Vec<u8>) -> Entry {
    Entry {
        node: Node::File { size: data.len() as u64, data: Data::Bytes(Arc::new(data)) },
        mode: 0o644,
        uid: 0,
        gid: 0,
    }
}

/// The entries of `tree` at or under `paths`.
fn picked(tree: &Tree, paths: &[&String]) -> Tree {
    let mut out = Tree::default();
    for path in paths {
        let path = copy::clean(path);
        for (rel, entry) in tree.subtree(&path) {
            let full = if rel.is_empty() { path.clone() } else { format!("{path}/{rel}") };
            out.insert(full, entry.clone());
        }
    }
    out
}

/// Git remotes, which ADD clones (BuildKit's rule: a git scheme, or an
/// http(s) URL of a `.git` path, with an optional `#ref`).
fn is_git(source: &str) -> bool {
    let path = source.split('#').next().unwrap_or(source);
    ["git@", "git://", "ssh://"].iter().any(|p| source.starts_with(p)) || (is_http(source) && path.ends_with(".git"))
}

fn is_http(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// Files ADD downloads.
fn is_url(source: &str) -> bool {
    is_http(source) && !is_git(source)
}

/// The name a downloaded file gets in a destination directory: the URL path's
/// last part (Docker's rule), or `download` when it has none.
fn url_file_name(address: &str) -> String {
    let path = address.split(['?', '#']).next().unwrap_or(address);
    let after_host = path.splitn(4, '/').nth(3).unwrap_or("");
    let name = after_host.rsplit('/').next().unwrap_or("");
    if name.is_empty() || name == ".." || name == "." { "download".to_string() } else { name.to_string() }
}

fn placement(options: &FileOptions, parents: bool) -> Result<Placement, CopyError> {
    Ok(Placement {
        chmod: options.chmod.as_deref().map(copy::parse_chmod).transpose()?,
        owner: options.chown.as_deref().map(copy::parse_chown).transpose()?,
        exclude: options
            .exclude
            .iter()
            .map(|p| glob::Glob::parse(p, true).map_err(CopyError::BadPattern))
            .collect::<Result<_, _>>()?,
        parents,
    })
}

/// The context file a literal ADD source names, if it is an archive to unpack.
fn archive_of(context: &Tree, source: &Content) -> Result<Option<(PathBuf, archive::Kind)>, String> {
    let Content::Path(p) = source else { return Ok(None) };
    if p.contains(['*', '?', '[']) {
        return Ok(None);
    }
    let Some(Entry { node: Node::File { data: Data::Disk(path), .. }, .. }) = context.entries.get(&copy::clean(p))
    else {
        return Ok(None);
    };
    match archive::detect(path) {
        Ok(kind) => Ok(kind.map(|k| (path.clone(), k))),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

/// The files COPY or ADD adds: paths from `from`, heredocs as files named after them.
fn place(
    from: &Tree,
    state: &StageState,
    sources: &[Content],
    dest: &str,
    options: &FileOptions,
    parents: bool,
) -> Result<Tree, CopyError> {
    let how = placement(options, parents)?;
    let paths: Vec<String> = sources
        .iter()
        .filter_map(|s| match s {
            Content::Path(p) => Some(p.clone()),
            Content::Inline { .. } => None,
        })
        .collect();
    let dest_dir = copy::dest_is_dir(dest, &state.files);
    if sources.len() > 1 && !dest_dir {
        return Err(CopyError::NeedsDirectory);
    }
    let mut out = if paths.is_empty() { Tree::default() } else { copy::copy(from, &paths, dest, dest_dir, &how)? };
    for s in sources {
        if let Content::Inline { name, data } = s {
            let path = if dest_dir { copy::clean(&format!("{dest}/{name}")) } else { copy::clean(dest) };
            let mut entry = inline_file(data.clone().into_bytes());
            how.apply(&mut entry);
            out.insert(path, entry);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
