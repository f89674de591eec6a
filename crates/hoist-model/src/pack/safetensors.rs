//! The safetensors header: an 8-byte little-endian length, then that many bytes
//! of JSON describing every tensor. Read from the leading chunks of a stream;
//! tensor data is never looked at.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Headers larger than this are refused (real ones are a few MB at most).
const MAX_HEADER_LEN: u64 = 100 * 1024 * 1024;

/// The facts of one safetensors file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SafetensorsHeader {
    /// The `__metadata__` map.
    pub metadata: BTreeMap<String, String>,
    pub tensor_count: usize,
    /// Sum of element counts.
    pub parameters: u64,
    /// Elements per dtype (`BF16`, `F16`, `F32`, `I8` ...).
    pub elements_by_dtype: BTreeMap<String, u64>,
}

#[derive(Deserialize)]
struct TensorEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// Collects the header bytes from the stream's first chunks.
pub(crate) struct SafetensorsAccumulator {
    buf: Vec<u8>,
    file_len: u64,
    header: Option<Result<SafetensorsHeader, String>>,
}

impl SafetensorsAccumulator {
    pub fn new(file_len: u64) -> Self {
        SafetensorsAccumulator { buf: Vec::new(), file_len, header: None }
    }

    pub fn feed(&mut self, mut chunk: &[u8]) {
        while self.header.is_none() {
            let needed = match self.needed() {
                Ok(needed) => needed,
                Err(reason) => {
                    self.header = Some(Err(reason));
                    return;
                }
            };
            if self.buf.len() >= 8 && self.buf.len() as u64 >= needed {
                self.header = Some(parse(&self.buf, self.file_len));
                return;
            }
            if chunk.is_empty() {
                return;
            }
            let take = (needed - self.buf.len() as u64).min(chunk.len() as u64) as usize;
            self.buf.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
        }
    }

    pub fn finish(self) -> Result<SafetensorsHeader, String> {
        self.header.unwrap_or_else(|| Err(format!("the file ends inside its header ({} bytes)", self.file_len)))
    }

    fn needed(&self) -> Result<u64, String> {
        if self.buf.len() < 8 {
            return Ok(8);
        }
        let len = u64::from_le_bytes(self.buf[..8].try_into().unwrap_or_default());
        if len > MAX_HEADER_LEN {
            return Err(format!("header length {len} is over the {MAX_HEADER_LEN}-byte limit"));
        }
        if len + 8 > self.file_len {
            return Err(format!("header length {len} runs past the end of the {}-byte file", self.file_len));
        }
        Ok(8 + len)
    }
}

fn parse(buf: &[u8], file_len: u64) -> Result<SafetensorsHeader, String> {
    let json: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&buf[8..]).map_err(|e| format!("header JSON: {e}"))?;
    let data_len = file_len - buf.len() as u64;
    let mut header = SafetensorsHeader::default();
    for (name, value) in json {
        if name == "__metadata__" {
            let map: BTreeMap<String, String> =
                serde_json::from_value(value).map_err(|e| format!("__metadata__: {e}"))?;
            header.metadata = map;
            continue;
        }
        let entry: TensorEntry = serde_json::from_value(value).map_err(|e| format!("tensor {name:?}: {e}"))?;
        let [start, end] = entry.data_offsets;
        if start > end || end > data_len {
            return Err(format!("tensor {name:?}: data {start}..{end} lies outside the {data_len}-byte data section"));
        }
        let elements = entry
            .shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| format!("tensor {name:?}: shape overflows"))?;
        header.tensor_count += 1;
        header.parameters = header.parameters.saturating_add(elements);
        *header.elements_by_dtype.entry(entry.dtype).or_default() += elements;
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str, data_len: usize) -> Vec<u8> {
        let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(json.as_bytes());
        bytes.resize(bytes.len() + data_len, 0);
        bytes
    }

    fn read(bytes: &[u8], chunk: usize) -> Result<SafetensorsHeader, String> {
        let mut acc = SafetensorsAccumulator::new(bytes.len() as u64);
        for piece in bytes.chunks(chunk) {
            acc.feed(piece);
        }
        acc.finish()
    }

    #[test]
    fn reads_tensors_and_metadata_in_any_chunking() {
        let json = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[4],"data_offsets":[12,28]}}"#;
        let bytes = file(json, 28);
        for chunk in [1, 3, 8, 9, 64, 4096] {
            let header = read(&bytes, chunk).unwrap();
            assert_eq!(header.parameters, 10);
            assert_eq!(header.tensor_count, 2);
            assert_eq!(header.metadata["format"], "pt");
            assert_eq!(header.elements_by_dtype["BF16"], 6);
        }
    }

    #[test]
    fn lies_and_truncation_are_errors() {
        let json = r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        assert!(read(&file(json, 8), 64).unwrap_err().contains("outside"));
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(read(&huge, 64).unwrap_err().contains("limit"));
        assert!(read(&[1, 2, 3], 64).is_err());
        assert!(read(&file("not json", 0), 64).unwrap_err().contains("JSON"));
    }
}
