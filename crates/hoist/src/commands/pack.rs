use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use hoist_model::{
    ClassOverrides, FileKind, Glob, PackFormat, PackOptions, PackSource, SourceOptions, format_size, pack,
};
use hoist_oci::Reference;
use hoist_store::Store;

use crate::cli::{Format, PackArgs};
use crate::progress::Drawer;

pub fn run(store: &Store, args: Box<PackArgs>) -> Result<ExitCode> {
    let args = *args;
    let reference: Reference = args.tag.parse()?;
    if reference.digest().is_some() {
        bail!("invalid reference {:?}: a name to tag cannot hold a digest", args.tag);
    }
    let (created, reproducible) = creation_time(args.created.as_deref())?;
    let mut overrides = ClassOverrides::default();
    for (globs, kind) in [
        (&args.weight, FileKind::Weight),
        (&args.config, FileKind::WeightConfig),
        (&args.doc, FileKind::Doc),
        (&args.code, FileKind::Code),
        (&args.dataset, FileKind::Dataset),
    ] {
        globs.iter().for_each(|glob| overrides.add(glob, kind));
    }
    let source_options = SourceOptions {
        overrides,
        excludes: args.exclude.iter().map(|g| Glob::new(g)).collect(),
        include_hidden: args.include_hidden,
        licenses: args.license,
        chat_template: args.chat_template,
        mmproj: args.mmproj,
    };
    let source = PackSource::collect(&args.path, &source_options)?;
    let options = PackOptions {
        format: match args.format {
            Format::Docker => PackFormat::Docker,
            Format::Modelpack => PackFormat::ModelPack,
        },
        context_size: args.context_size,
        created,
        reproducible,
    };
    let progress = Drawer::new(args.progress, source.total_size());
    let outcome = pack(store, &source, &reference, &options, &progress)?;
    progress.finish();
    if args.quiet {
        println!("{}", outcome.descriptor.digest);
        return Ok(ExitCode::SUCCESS);
    }
    let facts = &outcome.facts;
    let details: Vec<String> = [
        Some(facts.format.as_str().to_string()),
        facts.architecture.clone(),
        facts.parameters_display(),
        facts.quantization.clone(),
        Some(match outcome.manifest.layers.len() {
            1 => "1 layer".to_string(),
            n => format!("{n} layers"),
        }),
        Some(format_size(source.total_size())),
    ]
    .into_iter()
    .flatten()
    .collect();
    println!("{reference} {} ({})", outcome.descriptor.digest, details.join(", "));
    if let Some(old) = outcome.replaced.filter(|old| old.digest != outcome.descriptor.digest) {
        println!("{reference} moved from {}", old.digest.short());
    }
    Ok(ExitCode::SUCCESS)
}

/// The creation time to record, and whether it was chosen (then the artifact is
/// reproducible). `--created` wins over `SOURCE_DATE_EPOCH`.
pub(super) fn creation_time(flag: Option<&str>) -> Result<(SystemTime, bool)> {
    if let Some(text) = flag {
        return Ok((parse_time(text).with_context(|| format!("invalid --created {text:?}"))?, true));
    }
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) if !text.is_empty() => {
            let seconds: u64 =
                text.trim().parse().with_context(|| format!("invalid SOURCE_DATE_EPOCH {text:?}: expected seconds"))?;
            Ok((UNIX_EPOCH + Duration::from_secs(seconds), true))
        }
        _ => {
            // Whole seconds: the config records RFC 3339 without fractions.
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            Ok((UNIX_EPOCH + Duration::from_secs(now), false))
        }
    }
}

fn parse_time(text: &str) -> Result<SystemTime> {
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(UNIX_EPOCH + Duration::from_secs(seconds));
    }
    humantime::parse_rfc3339_weak(text).context("expected RFC 3339 (2026-01-15T10:30:00Z) or epoch seconds")
}
