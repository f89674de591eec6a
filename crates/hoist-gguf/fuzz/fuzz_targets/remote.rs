//! The remote driver (HeaderFetchPlan, with short reads) and the stream driver
//! (HeaderAccumulator) over arbitrary chunkings must agree with parse_header on the
//! whole buffer.
//!
//! Input: byte 0 = n (0..=7) chunk sizes, then n little-endian u16 chunk sizes, then the file.
#![no_main]

use hoist_gguf::{GgmlType, GgufError, GgufHeader, HeaderAccumulator, HeaderFetchPlan, parse_header};
use libfuzzer_sys::fuzz_target;

fn sizes_known(h: &GgufHeader) -> bool {
    h.tensors.iter().all(|t| !matches!(t.ggml_type, GgmlType::Other(_)))
}

fuzz_target!(|input: &[u8]| {
    let Some((&n, rest)) = input.split_first() else { return };
    let n = usize::from(n % 8);
    let Some((sizes, file)) = rest.split_at_checked(2 * n) else { return };
    let mut chunks: Vec<usize> = sizes.chunks_exact(2).map(|c| usize::from(u16::from_le_bytes([c[0], c[1]]))).collect();
    if chunks.iter().all(|&c| c == 0) {
        chunks = vec![usize::MAX];
    }
    let len = file.len() as u64;
    let whole = parse_header(file, Some(len));

    // The stream driver, fed in the fuzzed chunk sizes (0-size chunks too).
    let mut acc = HeaderAccumulator::new(Some(len));
    let mut pos = 0usize;
    let mut fed_error = None;
    for &c in chunks.iter().cycle() {
        if pos >= file.len() {
            break;
        }
        let end = pos.saturating_add(c).min(file.len());
        if let Err(e) = acc.feed(&file[pos..end]) {
            fed_error = Some(e);
            break;
        }
        pos = end;
        if c == 0 && chunks.iter().all(|&c| c == 0) {
            break;
        }
    }
    let streamed = match fed_error {
        Some(e) => Err(e),
        None => acc.finish(),
    };
    let expected_stream = whole
        .as_ref()
        .map_err(|_| ())
        .and_then(|h| if sizes_known(h) && h.check_file_len(len).is_err() { Err(()) } else { Ok(h) });
    match (&streamed, &expected_stream) {
        (Ok(a), Ok(b)) => assert_eq!(a, *b),
        (Err(_), Err(())) => {}
        (a, b) => panic!("stream driver {a:?} but whole buffer {b:?}"),
    }

    // The remote driver, with and without the blob size, serving short reads.
    for total in [Some(len), None] {
        let mut plan = HeaderFetchPlan::new(total);
        let mut i = 0usize;
        let result = loop {
            let Some(range) = plan.next_range() else { break Ok(()) };
            assert!(range.start < range.end, "empty range {range:?}");
            assert_eq!(range.start, plan.bytes_read());
            let start = usize::try_from(range.start).unwrap_or(usize::MAX).min(file.len());
            let want = usize::try_from(range.end - range.start).unwrap_or(usize::MAX);
            let short = chunks[i % chunks.len()].max(1);
            i += 1;
            let end = start.saturating_add(want.min(short)).min(file.len());
            match plan.feed(&file[start..end]) {
                Ok(_) => {}
                Err(e) => break Err(e),
            }
            assert!(plan.round_trips() < 1_000_000);
        };
        match (&result, &whole) {
            (Ok(()), Ok(h)) => assert_eq!(plan.header(), Some(h)),
            (Err(_), Err(_)) => {}
            (Err(GgufError::HeaderTooLarge { .. }), Ok(_)) => {}
            (a, b) => panic!("fetch plan (total {total:?}) {a:?} but whole buffer {b:?}"),
        }
        assert!(plan.bytes_read() <= len);
    }
});
