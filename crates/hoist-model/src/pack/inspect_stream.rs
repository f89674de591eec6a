//! Learning what a file is from the same bytes that are being copied into the
//! store, so that no file is read twice.

use hoist_gguf::HeaderAccumulator;

use super::classify::FileRole;
use super::facts::FileFacts;
use super::safetensors::SafetensorsAccumulator;
use super::source::SourceFile;
use crate::ModelError;

/// A `config.json` larger than this is not parsed for facts.
const MAX_HF_CONFIG: u64 = 16 * 1024 * 1024;
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// Watches a file's bytes stream by and keeps what it needs.
pub(crate) enum StreamInspector {
    Gguf(Box<HeaderAccumulator>),
    Safetensors(SafetensorsAccumulator),
    HfConfig(Vec<u8>),
    Dduf(Vec<u8>),
    Nothing,
}

impl StreamInspector {
    pub fn for_file(file: &SourceFile) -> StreamInspector {
        match file.role {
            FileRole::Gguf | FileRole::Mmproj => {
                StreamInspector::Gguf(Box::new(HeaderAccumulator::new(Some(file.size))))
            }
            FileRole::Safetensors => StreamInspector::Safetensors(SafetensorsAccumulator::new(file.size)),
            FileRole::Config if file.rel_path == "config.json" && file.size <= MAX_HF_CONFIG => {
                StreamInspector::HfConfig(Vec::new())
            }
            FileRole::Dduf => StreamInspector::Dduf(Vec::new()),
            _ => StreamInspector::Nothing,
        }
    }

    /// Looks at the next chunk. A GGUF error stops the copy early.
    pub fn feed(&mut self, file: &SourceFile, chunk: &[u8]) -> Result<(), ModelError> {
        match self {
            StreamInspector::Gguf(acc) => {
                acc.feed(chunk).map_err(|source| ModelError::Gguf { path: file.path.clone(), source })?;
            }
            StreamInspector::Safetensors(acc) => acc.feed(chunk),
            StreamInspector::HfConfig(buf) => buf.extend_from_slice(chunk),
            StreamInspector::Dduf(buf) if buf.len() < ZIP_MAGIC.len() => {
                let take = (ZIP_MAGIC.len() - buf.len()).min(chunk.len());
                buf.extend_from_slice(&chunk[..take]);
            }
            StreamInspector::Dduf(_) | StreamInspector::Nothing => {}
        }
        Ok(())
    }

    /// What the whole file taught us; errors when it is not what its name says.
    pub fn finish(self, file: &SourceFile) -> Result<FileFacts, ModelError> {
        match self {
            StreamInspector::Gguf(acc) => {
                let gguf_error = |source| ModelError::Gguf { path: file.path.clone(), source };
                let header = acc.finish().map_err(gguf_error)?;
                header.check_file_len(file.size).map_err(gguf_error)?;
                Ok(FileFacts::Gguf(Box::new(header)))
            }
            StreamInspector::Safetensors(acc) => acc
                .finish()
                .map(FileFacts::Safetensors)
                .map_err(|reason| ModelError::Safetensors { path: file.path.clone(), reason }),
            StreamInspector::HfConfig(bytes) => match serde_json::from_slice(&bytes) {
                Ok(json) => Ok(FileFacts::HfConfig(json)),
                Err(e) => Err(ModelError::BadInput { path: file.path.clone(), reason: format!("invalid JSON: {e}") }),
            },
            StreamInspector::Dduf(magic) if magic != ZIP_MAGIC => Err(ModelError::Dduf { path: file.path.clone() }),
            StreamInspector::Dduf(_) | StreamInspector::Nothing => Ok(FileFacts::Nothing),
        }
    }
}
