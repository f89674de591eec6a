//! The checkpoint reader on arbitrary files: a single `model.safetensors` (first byte
//! even) or a `model.safetensors.index.json` with two parts (first byte odd; then two
//! little-endian u16 lengths, of the index and of the first part, then the index, the
//! first part and, the rest, the second part). No input may panic; an
//! accepted checkpoint's tensors each hold exactly their shape's bytes, inside their file.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use hoist_convert::safetensors::{Checkpoint, Dtype};
use libfuzzer_sys::fuzz_target;

const PARTS: [&str; 2] = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("hoist-convert-fuzz-st-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let dir = scratch();
    for name in ["model.safetensors", "model.safetensors.index.json", PARTS[0], PARTS[1]] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    if mode % 2 == 0 {
        std::fs::write(dir.join("model.safetensors"), rest).unwrap();
    } else {
        let Some((lens, files)) = rest.split_first_chunk::<4>() else { return };
        let index_len = usize::from(u16::from_le_bytes([lens[0], lens[1]])).min(files.len());
        let (index, parts) = files.split_at(index_len);
        let first_len = usize::from(u16::from_le_bytes([lens[2], lens[3]])).min(parts.len());
        let (first, second) = parts.split_at(first_len);
        std::fs::write(dir.join("model.safetensors.index.json"), index).unwrap();
        std::fs::write(dir.join(PARTS[0]), first).unwrap();
        std::fs::write(dir.join(PARTS[1]), second).unwrap();
    }
    let Ok(ck) = Checkpoint::open(dir) else { return };
    for t in ck.tensors() {
        let width = match t.dtype {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::Bf16 => 2,
            Dtype::Other(_) => continue,
        };
        let expected = t.shape.iter().try_fold(width, |n: u64, &d| n.checked_mul(d));
        assert_eq!(expected, Some(ck.bytes(t).len() as u64), "tensor {}", t.name);
    }
});
