//! The file names of a split GGUF model: `name-00001-of-00003.gguf`, as
//! llama.cpp's `gguf-split` writes them.

/// `name-00001-of-00003.gguf` -> ("name", 3).
pub fn shard_pattern(name: &str) -> Option<(String, u32)> {
    let stem = name.strip_suffix(".gguf")?;
    let (rest, count) = stem.rsplit_once("-of-")?;
    let (prefix, number) = rest.rsplit_once('-')?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(number) || !digits(count) {
        return None;
    }
    let count: u32 = count.parse().ok()?;
    (count > 0).then(|| (prefix.to_string(), count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names() {
        assert_eq!(shard_pattern("big-00001-of-00003.gguf"), Some(("big".into(), 3)));
        assert_eq!(shard_pattern("a-b-00002-of-00010.gguf"), Some(("a-b".into(), 10)));
        assert_eq!(shard_pattern("big-1-of-3.gguf"), None);
        assert_eq!(shard_pattern("big.gguf"), None);
    }
}
