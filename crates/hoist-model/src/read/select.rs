//! Choosing parts of an artifact: layers by the path they unpack to
//! (`pull --include/--exclude`), and an index's manifest by platform
//! (`pull`, `unpack` and `run` of an index).

use std::fmt;
use std::str::FromStr;

use hoist_oci::{Descriptor, LayerFilter};

use crate::ModelError;
use crate::formats::cog;
use crate::formats::layer_path::{annotated_path, role_name};
use crate::util::glob::Glob;
use crate::util::shell::shell_quote;

/// Which layers a partial pull fetches: those whose path matches an include
/// pattern (every layer when there is none) and no exclude pattern. Patterns
/// are [`Glob`]s: without a `/` they match the file name at any depth. A
/// layer with no path annotation is matched by its role's file name
/// (`model.gguf`, `mmproj.gguf`, `LICENSE`, `template.jinja`, `model.dduf`);
/// image layers have none and match no include pattern.
#[derive(Debug, Clone, Default)]
pub struct LayerSelection {
    include: Vec<String>,
    exclude: Vec<String>,
}

impl LayerSelection {
    pub fn new(include: Vec<String>, exclude: Vec<String>) -> LayerSelection {
        LayerSelection { include, exclude }
    }

    /// Whether every layer is selected.
    pub fn is_everything(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    pub fn selects(&self, layer: &Descriptor) -> bool {
        let Some(path) = annotated_path(layer).or_else(|| role_name(&layer.media_type)) else {
            return self.include.is_empty();
        };
        let matches = |pattern: &String| Glob::new(pattern).matches(path);
        (self.include.is_empty() || self.include.iter().any(matches)) && !self.exclude.iter().any(matches)
    }

    /// The selection as a copy filter.
    pub fn filter(&self) -> LayerFilter {
        let selection = self.clone();
        LayerFilter::new(move |layer| selection.selects(layer))
    }
}

/// The selection as flags, e.g. `--include '*.gguf' --exclude 'mmproj*'`:
/// what the store records on a partial model.
impl fmt::Display for LayerSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = self.include.iter().map(|p| ("--include", p)).chain(self.exclude.iter().map(|p| ("--exclude", p)));
        for (i, (flag, pattern)) in flags.enumerate() {
            let separator = if i == 0 { "" } else { " " };
            write!(f, "{separator}{flag} {}", shell_quote(pattern))?;
        }
        Ok(())
    }
}

/// A wanted platform: `OS/ARCH[/VARIANT]`, e.g. `linux/amd64`, `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSpec {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl PlatformSpec {
    /// The platform of this machine, in OCI's names.
    pub fn host() -> PlatformSpec {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        PlatformSpec { os: std::env::consts::OS.to_string(), architecture: architecture.to_string(), variant: None }
    }

    /// Whether an index entry is for this platform (any variant when none is wanted).
    pub fn matches(&self, entry: &Descriptor) -> bool {
        entry.platform.as_ref().is_some_and(|p| {
            p.os == self.os
                && p.architecture == self.architecture
                && (self.variant.is_none() || p.variant == self.variant)
        })
    }
}

impl FromStr for PlatformSpec {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<PlatformSpec, ModelError> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [os, architecture, rest @ ..] if !os.is_empty() && !architecture.is_empty() && rest.len() <= 1 => {
                Ok(PlatformSpec {
                    os: os.to_string(),
                    architecture: architecture.to_string(),
                    variant: rest.first().filter(|v| !v.is_empty()).map(|v| v.to_string()),
                })
            }
            _ => Err(ModelError::InvalidArtifact {
                what: format!("platform {text:?}"),
                reason: "expected OS/ARCH[/VARIANT], e.g. linux/amd64".into(),
            }),
        }
    }
}

impl fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// The image manifest among an index's `manifests` for `platform`: Cog weights and
/// `unknown/unknown` entries (attestations, artifacts) are never a platform's
/// image. With no platform wanted, the host's, or the only image there is. The
/// error lists the platforms the index has.
pub fn image_for_platform<'a>(
    manifests: &'a [Descriptor],
    what: &str,
    platform: Option<&PlatformSpec>,
) -> Result<&'a Descriptor, ModelError> {
    let images: Vec<&Descriptor> = cog::image_entries(manifests).collect();
    let found = match platform {
        Some(wanted) => images.iter().find(|entry| wanted.matches(entry)),
        None => {
            let host = PlatformSpec::host();
            images.iter().find(|entry| host.matches(entry)).or(if images.len() == 1 { images.first() } else { None })
        }
    };
    if let Some(found) = found {
        return Ok(found);
    }
    let available: Vec<String> = images
        .iter()
        .filter_map(|entry| entry.platform.as_ref())
        .map(|p| match &p.variant {
            Some(variant) => format!("{}/{}/{variant}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        })
        .collect();
    let wanted = platform.cloned().unwrap_or_else(PlatformSpec::host);
    Err(ModelError::InvalidArtifact {
        what: what.to_string(),
        reason: if available.is_empty() {
            "the index has no image manifest".into()
        } else {
            format!(
                "no manifest for {wanted} in the index (it has {}); choose one with --platform",
                available.join(", ")
            )
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::media::{annotations, docker};
    use hoist_oci::{Digest, ImageIndex, Platform};

    fn layer(media_type: &str, path: Option<&str>) -> Descriptor {
        let mut layer = Descriptor::new(media_type, Digest::of(media_type.as_bytes()), 1);
        if let Some(path) = path {
            layer.annotations.insert(annotations::FILEPATH.into(), path.into());
        }
        layer
    }

    #[test]
    fn selection_by_path_role_and_exclusion() {
        let gguf = layer(docker::GGUF, None);
        let license = layer(docker::LICENSE, None);
        let shard = layer("application/vnd.cncf.model.weight.v1.raw", Some("q4/model-00001-of-00002.gguf"));
        let config = layer("application/vnd.cncf.model.weight.config.v1.raw", Some("config.json"));
        let rootfs = layer("application/vnd.oci.image.layer.v1.tar+gzip", None);

        let ggufs = LayerSelection::new(vec!["*.gguf".into()], vec![]);
        assert!(ggufs.selects(&gguf) && ggufs.selects(&shard));
        assert!(!ggufs.selects(&license) && !ggufs.selects(&config) && !ggufs.selects(&rootfs));

        let no_license = LayerSelection::new(vec![], vec!["LICENSE".into()]);
        assert!(no_license.selects(&gguf) && no_license.selects(&rootfs) && !no_license.selects(&license));

        let in_dir = LayerSelection::new(vec!["q4/**".into()], vec!["*-00002-*".into()]);
        assert!(in_dir.selects(&shard) && !in_dir.selects(&gguf));
        assert_eq!(in_dir.to_string(), "--include 'q4/**' --exclude '*-00002-*'");
    }

    #[test]
    fn platforms_parse_and_pick() {
        assert_eq!(
            "linux/arm64/v8".parse::<PlatformSpec>().unwrap(),
            PlatformSpec { os: "linux".into(), architecture: "arm64".into(), variant: Some("v8".into()) }
        );
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d"] {
            assert!(bad.parse::<PlatformSpec>().is_err(), "{bad}");
        }
        let entry = |os: &str, architecture: &str| {
            let mut d = Descriptor::new(
                hoist_oci::media_types::OCI_MANIFEST,
                Digest::of(format!("{os}/{architecture}").as_bytes()),
                1,
            );
            d.platform = Some(Platform {
                architecture: architecture.into(),
                os: os.into(),
                os_version: None,
                os_features: vec![],
                variant: None,
            });
            d
        };
        let index =
            ImageIndex::new(vec![entry("linux", "s390x"), entry("linux", "riscv64"), entry("unknown", "unknown")]);
        let wanted: PlatformSpec = "linux/riscv64".parse().unwrap();
        assert_eq!(image_for_platform(&index.manifests, "x", Some(&wanted)).unwrap().digest, index.manifests[1].digest);
        let error = image_for_platform(&index.manifests, "x", None).unwrap_err().to_string();
        assert!(error.contains("linux/s390x, linux/riscv64"), "{error}");
        let single = ImageIndex::new(vec![entry("linux", "s390x"), entry("unknown", "unknown")]);
        assert_eq!(image_for_platform(&single.manifests, "x", None).unwrap().digest, single.manifests[0].digest);
        let mut weights = entry("linux", "riscv64");
        weights.annotations.insert(cog::ANNOTATION_REFERENCE_TYPE.into(), cog::REFERENCE_TYPE_WEIGHTS.into());
        let bundle = ImageIndex::new(vec![weights, entry("linux", "s390x")]);
        assert!(image_for_platform(&bundle.manifests, "x", Some(&wanted)).is_err(), "Cog weights are never an image");
    }
}
