//! Reading only the header of a remote blob through ranged reads.

mod common;

use common::{ModelBuilder, arr, qwen2_0_5b};
use hoist_gguf::{HeaderFetchPlan, MIN_FETCH, Value, ValueType, parse_header};

/// A BPE vocabulary of `n` tokens (and `n - 549` merges when `merges`), Qwen2-like.
fn vocab_model(n: usize, merges: bool) -> Vec<u8> {
    let word = |i: usize| {
        let mut s = String::from("\u{0120}");
        let mut k = i;
        loop {
            s.push(char::from(b'a' + (k % 26) as u8));
            k /= 26;
            if k == 0 {
                break s;
            }
        }
    };
    let tokens: Vec<Value> = (0..n).map(|i| Value::String(word(i))).collect();
    let mut m = qwen2_0_5b()
        .kv("tokenizer.ggml.model", Value::String("gpt2".into()))
        .kv("tokenizer.ggml.tokens", arr(ValueType::String, tokens))
        .kv("tokenizer.ggml.token_type", arr(ValueType::I32, vec![Value::I32(1); n]));
    if merges {
        let merges: Vec<Value> = (0..n - 549).map(|i| Value::String(format!("{} {}", word(i), word(i + 1)))).collect();
        m = m.kv("tokenizer.ggml.merges", arr(ValueType::String, merges));
    }
    m.header_bytes()
}

/// Serves a "blob" of `total` bytes whose first bytes are `header` (the rest is never read).
fn fetch(header: &[u8], total: u64) -> (HeaderFetchPlan, Vec<std::ops::Range<u64>>) {
    let mut plan = HeaderFetchPlan::new(Some(total));
    let mut ranges = Vec::new();
    while let Some(r) = plan.next_range() {
        assert!(r.end <= total);
        ranges.push(r.clone());
        // Bytes past the header are tensor data: zeros here.
        let bytes: Vec<u8> = (r.start..r.end).map(|i| header.get(i as usize).copied().unwrap_or(0)).collect();
        plan.feed(&bytes).unwrap();
    }
    (plan, ranges)
}

#[test]
fn a_150k_token_vocabulary_costs_a_few_round_trips_and_little_over_the_header() {
    const MB200: u64 = 200 << 20;
    let header = vocab_model(151_936, false);
    let h = parse_header(&header, None).unwrap();
    let (plan, ranges) = fetch(&header, MB200);
    assert_eq!(plan.header(), Some(&h));
    let read = plan.bytes_read();
    eprintln!("150k tokens: header {} bytes, read {read} in {} requests {ranges:?}", header.len(), ranges.len());
    assert!(ranges.len() <= 4, "{ranges:?}");
    assert!(read >= h.data_offset && read <= 2 * h.data_offset, "{read}");
    // Ranges are contiguous from 0: nothing is read twice.
    assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
    assert_eq!(ranges[0], 0..MIN_FETCH);
    // Under 1% of a 200 MB file... (the vocabulary is 2.3 MB of the header: for a 200 MB
    // file the floor is the header itself).
    assert!(read * 100 < MB200 * 2, "{read}");
    let with_merges = vocab_model(151_936, true);
    // With 151k merges too (Qwen2's tokenizer) the header is 5.9 MB: 1.5% of a 400 MB
    // Qwen2-0.5B, under 1% from a 1 GB (1.5B-parameter) file up.
    let (plan, ranges) = fetch(&with_merges, 1 << 30);
    eprintln!(
        "with merges: header {} bytes, read {} in {} requests",
        with_merges.len(),
        plan.bytes_read(),
        ranges.len()
    );
    assert!(ranges.len() <= 6);
    assert!(plan.bytes_read() * 100 < 1 << 30, "{}", plan.bytes_read());
}

#[test]
fn a_typical_32k_vocabulary_reads_well_under_a_mib() {
    let header = vocab_model(32_000, false);
    let (plan, ranges) = fetch(&header, 4 << 30);
    eprintln!("32k tokens: header {} bytes, read {} in {} requests", header.len(), plan.bytes_read(), ranges.len());
    assert!(ranges.len() <= 3);
    assert!(plan.bytes_read() < 1 << 20);
    // A header that fits the first request: one round trip, never past the blob's end.
    let small = ModelBuilder::new("llama").header_bytes();
    let (plan, ranges) = fetch(&small, small.len() as u64 + 100);
    assert_eq!(ranges, vec![0..small.len() as u64 + 100]);
    assert_eq!(plan.round_trips(), 1);
}

#[test]
fn short_reads_unknown_length_and_errors() {
    let header = vocab_model(5_000, false);
    // The server sends at most 1000 bytes per response, and the length is unknown.
    let mut plan = HeaderFetchPlan::new(None);
    while let Some(r) = plan.next_range() {
        let end = r.end.min(r.start + 1000).min(header.len() as u64);
        plan.feed(&header[r.start as usize..end as usize]).unwrap();
    }
    assert_eq!(plan.header(), Some(&parse_header(&header, None).unwrap()));
    // A file that ends inside its header: an empty read is the end of the file.
    let mut plan = HeaderFetchPlan::new(None);
    let cut = &header[..header.len() / 2];
    let err = loop {
        let r = plan.next_range().unwrap();
        let bytes = cut.get(r.start as usize..(r.end as usize).min(cut.len())).unwrap_or_default();
        if let Err(e) = plan.feed(bytes) {
            break e;
        }
    };
    assert!(matches!(err, hoist_gguf::GgufError::Truncated { .. }), "{err}");
    // Not GGUF: the first response says so.
    let mut plan = HeaderFetchPlan::new(Some(1 << 20));
    assert!(plan.feed(&[0u8; 1024]).is_err());
    // A header above the limit is refused before it is fetched.
    let mut plan = HeaderFetchPlan::new(Some(1 << 30)).with_max_header_bytes(10_000);
    let err = loop {
        let r = plan.next_range().unwrap();
        let bytes: Vec<u8> = (r.start..r.end).map(|i| header.get(i as usize).copied().unwrap_or(0)).collect();
        if let Err(e) = plan.feed(&bytes) {
            break e;
        }
    };
    assert!(matches!(err, hoist_gguf::GgufError::HeaderTooLarge { .. }), "{err}");
}
