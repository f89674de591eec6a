//! A second, independent check: the `gguf` Python package (llama.cpp's gguf-py) has its
//! own numpy quantizers for some types; on the same values they must give our bytes.

use std::process::Command;

use hoist_gguf::GgmlType;
use hoist_quant::quantize_rows;
use hoist_quant::synth::SynthModel;

const PY_QUANTIZE: &str = r#"
import sys, numpy as np, gguf
from gguf.quants import quantize
x = np.fromfile(sys.argv[1], dtype=np.float32).reshape(-1, int(sys.argv[2]))
for name in sys.argv[4:]:
    q = quantize(x, gguf.GGMLQuantizationType[name])
    q.tofile(f"{sys.argv[3]}/{name}.bin")
"#;

/// The types gguf-py quantizes itself.
const TYPES: [GgmlType; 9] = [
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::TQ1_0,
    GgmlType::TQ2_0,
];

#[test]
fn gguf_py_quantizers_agree() {
    let ok = Command::new("python3").args(["-c", "import gguf"]).output().is_ok_and(|o| o.status.success());
    assert!(ok, "python package `gguf` missing: pip install gguf");
    let dir = tempfile::tempdir().unwrap();
    // Rows of 256 from several tensors of the synthetic model: all the row kinds.
    let model = SynthModel::small();
    let mut values = Vec::new();
    for i in [0, 2, 3, 4, 7, 8, 9] {
        values.extend(model.values(i).into_iter().filter(|v| v.is_finite()));
    }
    values.truncate(values.len() / 256 * 256);
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.path().join("x.f32"), raw).unwrap();
    let names: Vec<String> = TYPES.iter().map(|t| t.name()).collect();
    let out = Command::new("python3")
        .arg("-c")
        .arg(PY_QUANTIZE)
        .arg(dir.path().join("x.f32"))
        .arg("256")
        .arg(dir.path())
        .args(&names)
        .output()
        .expect("run python3");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut differing = Vec::new();
    for ty in TYPES {
        let theirs = std::fs::read(dir.path().join(format!("{}.bin", ty.name()))).unwrap();
        let mut ours = vec![0u8; (values.len() / 256) * ty.row_bytes(256).unwrap() as usize];
        quantize_rows(ty, &values, 256, None, &mut ours).unwrap();
        assert_eq!(ours.len(), theirs.len(), "{}", ty.name());
        let blocks = ty.type_size().unwrap() as usize;
        let bad = ours.chunks(blocks).zip(theirs.chunks(blocks)).filter(|(a, b)| a != b).count();
        if bad > 0 {
            differing.push(format!("{}: {bad} of {} blocks", ty.name(), ours.len() / blocks));
        }
    }
    assert!(differing.is_empty(), "differs from gguf-py: {}", differing.join("; "));
}
