//! What each file of a model is, by the conventions users know from modctl and
//! Docker's tooling, with user overrides by glob.

use crate::util::glob::Glob;
use crate::util::media;

/// The ModelPack layer classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Weight,
    WeightConfig,
    Doc,
    Code,
    Dataset,
}

impl FileKind {
    /// The class's name in ModelPack media types (`weight.config` ...).
    pub fn media_type_name(self) -> &'static str {
        match self {
            FileKind::Weight => "weight",
            FileKind::WeightConfig => "weight.config",
            FileKind::Doc => "doc",
            FileKind::Code => "code",
            FileKind::Dataset => "dataset",
        }
    }

    /// The raw (untarred) ModelPack layer media type of this class.
    pub fn modelpack_media_type(self) -> String {
        format!("{}{}.v1.raw", media::modelpack::LAYER_PREFIX, self.media_type_name())
    }
}

/// A file's role: finer than [`FileKind`], because Docker's format gives
/// weights, projectors, licenses and chat templates media types of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    Gguf,
    Safetensors,
    Dduf,
    OtherWeight,
    Mmproj,
    License,
    ChatTemplate,
    Config,
    Doc,
    Code,
    Dataset,
}

impl FileRole {
    pub fn kind(self) -> FileKind {
        match self {
            FileRole::Gguf | FileRole::Safetensors | FileRole::Dduf | FileRole::OtherWeight | FileRole::Mmproj => {
                FileKind::Weight
            }
            FileRole::ChatTemplate | FileRole::Config => FileKind::WeightConfig,
            FileRole::License | FileRole::Doc => FileKind::Doc,
            FileRole::Code => FileKind::Code,
            FileRole::Dataset => FileKind::Dataset,
        }
    }

    /// The layer media type in Docker's model format.
    pub fn docker_media_type(self) -> &'static str {
        match self {
            FileRole::Gguf => media::docker::GGUF,
            FileRole::Safetensors => media::docker::SAFETENSORS,
            FileRole::Dduf => media::docker::DDUF,
            FileRole::Mmproj => media::docker::MMPROJ,
            FileRole::License => media::docker::LICENSE,
            FileRole::ChatTemplate => media::docker::CHAT_TEMPLATE,
            _ => media::docker::MODEL_FILE,
        }
    }

    /// Whether the file holds model weights.
    pub fn is_main_weight(self) -> bool {
        matches!(self, FileRole::Gguf | FileRole::Safetensors | FileRole::Dduf | FileRole::OtherWeight)
    }
}

/// Files without a known name this large are weights (modctl's rule).
const LARGE_UNKNOWN_FILE: u64 = 128 * 1024 * 1024;

const WEIGHT_EXTENSIONS: &[&str] = &[
    "bin",
    "pt",
    "pth",
    "ckpt",
    "onnx",
    "h5",
    "msgpack",
    "pb",
    "tflite",
    "mlmodel",
    "npz",
    "pkl",
    "pickle",
    "engine",
    "plan",
    "trt",
    "nemo",
    "keras",
    "ot",
    "joblib",
    "params",
    "mar",
    "llamafile",
];
const CONFIG_EXTENSIONS: &[&str] = &["json", "yaml", "yml", "toml", "ini", "cfg", "model", "tiktoken", "vocab", "spm"];
const CONFIG_TEXT_FILES: &[&str] = &["vocab.txt", "merges.txt", "added_tokens.txt", "special_tokens.txt"];
const CODE_EXTENSIONS: &[&str] = &[
    "py", "sh", "ipynb", "js", "ts", "go", "rs", "c", "cc", "cpp", "h", "hpp", "cu", "java", "rb", "pl", "lua", "r",
    "jl", "swift", "kt", "scala", "cmake",
];
const CODE_FILES: &[&str] = &["makefile", "dockerfile", "requirements.txt", "cmakelists.txt"];
const DOC_EXTENSIONS: &[&str] = &["md", "rst", "pdf", "html", "htm", "txt", "png", "jpg", "jpeg", "gif", "svg", "webp"];
const DATASET_EXTENSIONS: &[&str] = &["parquet", "csv", "tsv", "jsonl", "arrow", "tfrecord"];

/// Classifies a file by its relative path and size.
pub fn classify(rel_path: &str, size: u64) -> FileRole {
    let name = rel_path.rsplit('/').next().unwrap_or(rel_path).to_ascii_lowercase();
    let extension = name.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
    let is = |list: &[&str]| list.contains(&extension);
    match extension {
        "gguf" if name.contains("mmproj") => FileRole::Mmproj,
        "gguf" => FileRole::Gguf,
        "safetensors" => FileRole::Safetensors,
        "dduf" => FileRole::Dduf,
        "jinja" => FileRole::ChatTemplate,
        _ if ["license", "licence", "copying"].iter().any(|p| name.starts_with(p)) => FileRole::License,
        _ if is(WEIGHT_EXTENSIONS) => FileRole::OtherWeight,
        _ if is(DATASET_EXTENSIONS) => FileRole::Dataset,
        _ if is(CONFIG_EXTENSIONS) || CONFIG_TEXT_FILES.contains(&name.as_str()) => FileRole::Config,
        _ if is(CODE_EXTENSIONS) || CODE_FILES.contains(&name.as_str()) => FileRole::Code,
        _ if is(DOC_EXTENSIONS) || name.starts_with("readme") || name.starts_with("notice") => FileRole::Doc,
        _ if size > LARGE_UNKNOWN_FILE => FileRole::OtherWeight,
        _ => FileRole::Doc,
    }
}

/// User overrides: the first glob that matches a path decides its class.
#[derive(Debug, Clone, Default)]
pub struct ClassOverrides {
    rules: Vec<(Glob, FileKind)>,
}

impl ClassOverrides {
    pub fn add(&mut self, pattern: &str, kind: FileKind) {
        self.rules.push((Glob::new(pattern), kind));
    }

    /// The role of a file: the convention, unless an override names another class.
    pub fn classify(&self, rel_path: &str, size: u64) -> FileRole {
        let conventional = classify(rel_path, size);
        let Some((_, kind)) = self.rules.iter().find(|(glob, _)| glob.matches(rel_path)) else {
            return conventional;
        };
        if conventional.kind() == *kind {
            return conventional;
        }
        match kind {
            FileKind::Weight => FileRole::OtherWeight,
            FileKind::WeightConfig => FileRole::Config,
            FileKind::Doc => FileRole::Doc,
            FileKind::Code => FileRole::Code,
            FileKind::Dataset => FileRole::Dataset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conventions_users_know() {
        let cases = [
            ("model-00001-of-00002.safetensors", FileRole::Safetensors),
            ("qwen2-0.5b.Q5_K_M.gguf", FileRole::Gguf),
            ("mmproj-model-f16.gguf", FileRole::Mmproj),
            ("sd3.dduf", FileRole::Dduf),
            ("config.json", FileRole::Config),
            ("tokenizer.model", FileRole::Config),
            ("nested/dir/vocab.txt", FileRole::Config),
            ("chat_template.jinja", FileRole::ChatTemplate),
            ("LICENSE", FileRole::License),
            ("LICENSE.txt", FileRole::License),
            ("README.md", FileRole::Doc),
            ("modeling_qwen.py", FileRole::Code),
            ("pytorch_model.bin", FileRole::OtherWeight),
            ("data/train.parquet", FileRole::Dataset),
            ("notes.txt", FileRole::Doc),
        ];
        for (path, role) in cases {
            assert_eq!(classify(path, 10), role, "{path}");
        }
        assert_eq!(classify("weights.unknown", 200 * 1024 * 1024), FileRole::OtherWeight);
        assert_eq!(classify("weights.unknown", 10), FileRole::Doc);
    }

    #[test]
    fn overrides_win_over_conventions() {
        let mut overrides = ClassOverrides::default();
        overrides.add("extra/*.txt", FileKind::Dataset);
        overrides.add("*.bin", FileKind::WeightConfig);
        assert_eq!(overrides.classify("extra/a.txt", 1), FileRole::Dataset);
        assert_eq!(overrides.classify("a.txt", 1), FileRole::Doc);
        assert_eq!(overrides.classify("deep/x.bin", 1), FileRole::Config);
        assert_eq!(overrides.classify("model.gguf", 1), FileRole::Gguf);
    }
}
