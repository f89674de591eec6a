//! Importance matrices: the GGUF format (`<tensor>.in_sum2` and `<tensor>.counts`
//! tensors, `imatrix.*` keys) and the legacy `.dat` format, normalised to per-column
//! mean squared activations the way llama-quantize does before quantizing.
//!
//! Files are untrusted: every length is checked against the bytes present, and no input
//! makes the readers panic (fuzzed: docs/FUZZING.md).

use std::collections::BTreeMap;
use std::path::Path;

use hoist_gguf::{Array, GgmlType, Value, parse_header};

use crate::QuantError;

/// A loaded importance matrix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imatrix {
    /// Tensor name -> weights (`n_per_row` values, times the expert count for 3-D tensors).
    pub entries: BTreeMap<String, Vec<f32>>,
    pub datasets: Vec<String>,
    /// Chunks the matrix was computed on (0 if the file does not say).
    pub chunk_count: i32,
    /// Whether the file was in the legacy `.dat` format.
    pub legacy: bool,
}

impl Imatrix {
    /// Reads a file in either format (GGUF when it starts with the GGUF magic).
    pub fn read(path: &Path) -> Result<Imatrix, QuantError> {
        let bytes = std::fs::read(path).map_err(|source| QuantError::Io { path: path.to_path_buf(), source })?;
        Imatrix::parse(&bytes).map_err(|reason| QuantError::BadImatrix { path: path.to_path_buf(), reason })
    }

    /// Parses the bytes of an imatrix file; the error says what is wrong and where.
    pub fn parse(bytes: &[u8]) -> Result<Imatrix, String> {
        if bytes.starts_with(b"GGUF") { parse_gguf(bytes) } else { parse_legacy(bytes) }
    }

    /// `--exclude-weights` drops entries whose name contains any of the strings;
    /// `--include-weights` then keeps only entries containing one of its strings.
    pub fn filter(&mut self, include: &[String], exclude: &[String]) {
        if !exclude.is_empty() {
            self.entries.retain(|name, _| !exclude.iter().any(|e| name.contains(e.as_str())));
        }
        if !include.is_empty() {
            self.entries.retain(|name, _| include.iter().any(|i| name.contains(i.as_str())));
        }
    }
}

fn parse_gguf(bytes: &[u8]) -> Result<Imatrix, String> {
    let header = parse_header(bytes, Some(bytes.len() as u64)).map_err(|e| e.to_string())?;
    header.check_file_len(bytes.len() as u64).map_err(|e| e.to_string())?;
    if header.tensors.is_empty() {
        return Err("no tensors".into());
    }
    let datasets = match header.get("imatrix.datasets") {
        Some(Value::Array(Array::String(s))) => Some(s.iter().map(|b| b.into_owned()).collect::<Vec<String>>()),
        _ => None,
    };
    let chunk_count = header.get("imatrix.chunk_count");
    let chunk_size = header.get("imatrix.chunk_size");
    if header.get("imatrix.datasets").is_none() || chunk_count.is_none() || chunk_size.is_none() {
        return Err("missing imatrix metadata (imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size)".into());
    }
    let chunk_count = chunk_count.and_then(Value::as_u64).unwrap_or(0) as i32;

    let mut pairs: BTreeMap<String, (Option<usize>, Option<usize>)> = BTreeMap::new();
    for (i, t) in header.tensors.iter().enumerate() {
        if let Some(name) = t.name.strip_suffix(".in_sum2") {
            pairs.entry(name.to_string()).or_default().0 = Some(i);
        } else if let Some(name) = t.name.strip_suffix(".counts") {
            pairs.entry(name.to_string()).or_default().1 = Some(i);
        }
    }
    let f32s = |i: usize| -> Result<Vec<f32>, String> {
        let t = &header.tensors[i];
        if t.ggml_type != GgmlType::F32 {
            return Err(format!("tensor '{}' is {}, expected F32", t.name, t.ggml_type.name()));
        }
        let start = header.data_offset.checked_add(t.offset).ok_or("tensor offset overflows")?;
        let len = t.byte_size().ok_or("tensor size overflows")?;
        let data = usize::try_from(start)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(s, l)| bytes.get(s..s.checked_add(l)?))
            .ok_or_else(|| format!("tensor '{}' data lies outside the file", t.name))?;
        Ok(data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    };
    let mut entries = BTreeMap::new();
    for (name, pair) in pairs {
        let (Some(s), Some(c)) = pair else {
            return Err(format!("mismatched sums and counts for '{name}'"));
        };
        let sums = f32s(s)?;
        // Counts are stored as floats; llama.cpp rounds them to integers.
        let counts: Vec<i64> = f32s(c)?.into_iter().map(|v| v.round() as i64).collect();
        if counts.is_empty() {
            return Err(format!("'{name}.counts' is empty"));
        }
        let ne0 = sums.len() / counts.len();
        let mut e = vec![0.0f32; sums.len()];
        for (j, &count) in counts.iter().enumerate() {
            let count = count as f32;
            for i in 0..ne0 {
                e[j * ne0 + i] = if count > 0.0 { sums[j * ne0 + i] / count } else { 1.0 };
            }
        }
        entries.insert(name, e);
    }
    Ok(Imatrix { entries, datasets: datasets.unwrap_or_default(), chunk_count, legacy: false })
}

/// A little-endian cursor over the legacy format.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("truncated at offset {} reading {what}", self.at))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn i32(&mut self, what: &str) -> Result<i32, String> {
        let b = self.take(4, what)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

fn parse_legacy(bytes: &[u8]) -> Result<Imatrix, String> {
    let mut c = Cursor { bytes, at: 0 };
    let n_entries = c.i32("the entry count")?;
    if n_entries < 1 {
        return Err("no data (entry count below 1)".into());
    }
    let mut entries = BTreeMap::new();
    for i in 0..n_entries {
        let len = c.i32("a name length")?;
        let len = usize::try_from(len).map_err(|_| format!("entry {}: negative name length {len}", i + 1))?;
        let raw = c.take(len, "a name")?;
        // The name ends at its first NUL, as the C string it is read into.
        let raw = raw.split(|&b| b == 0).next().unwrap_or_default();
        let name = String::from_utf8_lossy(raw).into_owned();
        let ncall = c.i32("a call count")?;
        let nval = c.i32("a value count")?;
        let nval = usize::try_from(nval).ok().filter(|&n| n >= 1);
        let nval = nval.ok_or_else(|| format!("entry '{name}': value count below 1"))?;
        let data = c.take(nval.checked_mul(4).ok_or("value count overflows")?, "values")?;
        let sums = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        // Legacy sums are the mean times the call count.
        let e: Vec<f32> = if ncall > 0 { sums.map(|s| s / ncall as f32).collect() } else { sums.collect() };
        entries.insert(name, e);
    }
    // Optional trailer: the chunk count and the dataset name.
    let mut chunk_count = 0;
    let mut datasets = Vec::new();
    if c.at < bytes.len()
        && let Ok(n) = c.i32("the chunk count")
    {
        chunk_count = n;
        if let Ok(len) = c.i32("the dataset name length")
            && let Ok(len) = usize::try_from(len)
            && len > 0
            && let Ok(raw) = c.take(len, "the dataset name")
        {
            let raw = raw.split(|&b| b == 0).next().unwrap_or_default();
            datasets.push(String::from_utf8_lossy(raw).into_owned());
        }
    }
    Ok(Imatrix { entries, datasets, chunk_count, legacy: true })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::SynthModel;

    #[test]
    fn both_formats_give_the_same_weights() {
        let dir = tempfile::tempdir().unwrap();
        let m = SynthModel::odd();
        m.write_imatrix(&dir.path().join("a.gguf"), false).unwrap();
        m.write_imatrix(&dir.path().join("a.dat"), true).unwrap();
        let g = Imatrix::read(&dir.path().join("a.gguf")).unwrap();
        let d = Imatrix::read(&dir.path().join("a.dat")).unwrap();
        // 2 layers x 7 matrices, plus token_embd (the embeddings double as output).
        assert_eq!(g.entries.len(), 15);
        assert_eq!(g.entries.keys().collect::<Vec<_>>(), d.entries.keys().collect::<Vec<_>>());
        assert_eq!((g.chunk_count, d.chunk_count), (12, 12));
        assert_eq!(g.datasets, ["synthetic.txt"]);
        assert_eq!(d.datasets, ["synthetic.txt"]);
        for (k, v) in &g.entries {
            let w = &d.entries[k];
            assert_eq!(v.len(), w.len());
            for (a, b) in v.iter().zip(w) {
                assert!((a - b).abs() <= a.abs() * 1e-5, "{k}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn truncated_and_garbage_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        SynthModel::odd().write_imatrix(&dir.path().join("a.dat"), true).unwrap();
        let bytes = std::fs::read(dir.path().join("a.dat")).unwrap();
        assert!(Imatrix::parse(&bytes[..100]).unwrap_err().contains("truncated"));
        assert!(Imatrix::parse(&[]).is_err());
        assert!(Imatrix::parse(&(-5i32).to_le_bytes()).is_err());
        assert!(Imatrix::parse(b"GGUF\x03\x00\x00\x00").is_err());
    }

    #[test]
    fn include_and_exclude_filter_by_substring() {
        let mut m = Imatrix::default();
        for n in ["blk.0.attn_v.weight", "blk.0.ffn_down.weight", "output.weight"] {
            m.entries.insert(n.into(), vec![1.0]);
        }
        let mut ex = m.clone();
        ex.filter(&[], &["attn".into()]);
        assert_eq!(ex.entries.len(), 2);
        m.filter(&["ffn".into(), "output".into()], &[]);
        assert_eq!(m.entries.keys().collect::<Vec<_>>(), ["blk.0.ffn_down.weight", "output.weight"]);
    }
}
