//! The importance-matrix readers on arbitrary bytes: the GGUF format (input starting
//! with "GGUF") and the legacy `.dat` format (anything else). No input may panic; an
//! accepted file's entries must be filterable and hold only what the input could hold.
#![no_main]

use hoist_quant::imatrix::Imatrix;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut m) = Imatrix::parse(data) {
        let values: usize = m.entries.values().map(Vec::len).sum();
        // Every value came from 4 input bytes.
        assert!(values * 4 <= data.len());
        m.filter(&["blk".into()], &["attn".into()]);
        assert!(m.entries.keys().all(|k| k.contains("blk") && !k.contains("attn")));
    }
});
