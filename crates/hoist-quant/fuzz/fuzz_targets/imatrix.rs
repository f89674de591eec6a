//! The importance-matrix readers on arbitrary bytes: the GGUF format (input starting
//! with "GGUF") and the legacy `.dat` format (anything else). No input may panic; each
//! accepted entry holds no more values than the input's bytes could carry (tensors may
//! share data, so entries together can), and filtering keeps what it should.
#![no_main]

use hoist_quant::imatrix::Imatrix;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut m) = Imatrix::parse(data) {
        // Each value of an entry came from 4 bytes of the input.
        assert!(m.entries.values().all(|e| e.len() * 4 <= data.len()));
        m.filter(&["blk".into()], &["attn".into()]);
        assert!(m.entries.keys().all(|k| k.contains("blk") && !k.contains("attn")));
    }
});
