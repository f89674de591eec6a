//! parse_header on arbitrary bytes, with and without the file length; on success, every
//! consumer of a header (summary, report and its text form, estimate, size checks).
#![no_main]

use hoist_gguf::{EstimateOptions, GgmlType, GgufError, estimate, parse_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let open = parse_header(data, None);
    let closed = parse_header(data, Some(len));
    match (&open, &closed) {
        // The same bytes make the same header whether or not the length is known.
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Ok(_), Err(e)) => panic!("parses without the length but not with it: {e}"),
        (Err(e), Ok(_)) => panic!("parses with the length but not without it: {e}"),
        (Err(GgufError::Incomplete { needed }), _) => assert!(*needed > len, "Incomplete needs {needed} of {len}"),
        _ => {}
    }
    let Ok(h) = closed else { return };
    assert!(h.data_offset <= len.saturating_add(h.alignment));
    let _ = h.tensor_data_len();
    let _ = h.check_file_len(len);
    let _ = h.summary();
    if let Ok(r) = h.report() {
        let _ = r.to_string();
    }
    let _ = estimate(&[&h], &EstimateOptions::default());
    let custom = EstimateOptions {
        ctx_size: Some(1000),
        ubatch_size: 100,
        parallel: 3,
        cache_type_k: GgmlType::Q8_0,
        cache_type_v: GgmlType::Q4_0,
        flash_attention: true,
        mmap: false,
        gpu_layers: Some(3),
        tensor_split: vec![1.0, 0.0, 2.5],
        ..EstimateOptions::default()
    };
    if let Ok(e) = estimate(&[&h, &h], &custom).or_else(|_| estimate(&[&h], &custom)) {
        assert!(e.offload_layers <= e.layers + 1);
        assert_eq!(e.vram.len(), 3);
    }
});
