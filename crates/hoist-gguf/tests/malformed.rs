//! Hostile and broken inputs: specific errors, never a panic or a huge allocation.

mod common;

use common::{Rng, arr, sample_file};
use hoist_gguf::{
    ByteOrder, GgmlType, GgufError, GgufWriter, HeaderAccumulator, Value, ValueType, parse_header,
    read_header_from_path,
};

fn header_of(w: &GgufWriter) -> Vec<u8> {
    let mut out = Vec::new();
    w.write_file(&mut out, |_, _, b| b.fill(0)).unwrap();
    out
}

fn parse_full(file: &[u8]) -> Result<hoist_gguf::GgufHeader, GgufError> {
    parse_header(file, Some(file.len() as u64))
}

/// One key "k" (layout: key len 24..32, "k" 32, type 33..37, payload from 37).
fn one_key(value: Value) -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_metadata("k", value);
    header_of(&w)
}

/// One F32 tensor "w" of 32 elements (layout: name len 24..32, "w" 32, n_dims 33..37,
/// dim 37..45, type 45..49, offset 49..57).
fn one_tensor() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_tensor("w", &[32], GgmlType::F32).unwrap();
    header_of(&w)
}

#[test]
fn bad_magic() {
    let mut f = sample_file(3, ByteOrder::Little);
    f[0] = b'X';
    assert!(matches!(parse_full(&f), Err(GgufError::BadMagic { found }) if &found == b"XGUF"));
    assert!(matches!(parse_header(b"GGM", None), Err(GgufError::BadMagic { .. })));
    assert!(matches!(parse_header(b"GG", None), Err(GgufError::Incomplete { needed: 4 })));
    assert!(matches!(parse_header(b"", Some(0)), Err(GgufError::Truncated { .. })));
}

#[test]
fn unsupported_version() {
    let mut f = sample_file(3, ByteOrder::Little);
    f[4..8].copy_from_slice(&4u32.to_le_bytes());
    assert!(matches!(parse_full(&f), Err(GgufError::UnsupportedVersion { version: 4 })));
    f[4..8].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(parse_full(&f), Err(GgufError::UnsupportedVersion { version: 0 })));
}

#[test]
fn too_many_dims() {
    let mut f = one_tensor();
    f[33..37].copy_from_slice(&5u32.to_le_bytes());
    match parse_full(&f) {
        Err(GgufError::TooManyDims { tensor, n_dims: 5, offset: 33 }) => assert_eq!(tensor, "w"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn lying_tensor_count() {
    let mut f = one_tensor();
    f[8..16].copy_from_slice(&(1u64 << 60).to_le_bytes());
    for total in [Some(f.len() as u64), None] {
        match parse_header(&f, total) {
            Err(GgufError::LengthTooLarge { what, offset: 8, length }) => {
                assert!(what.contains("tensor count"), "{what}");
                assert_eq!(length, 1 << 60);
            }
            other => panic!("{other:?}"),
        }
    }
    // Small enough not to overflow, but still more than the file can hold.
    f[8..16].copy_from_slice(&1000u64.to_le_bytes());
    assert!(matches!(parse_full(&f), Err(GgufError::LengthTooLarge { .. })));
}

#[test]
fn lying_string_length() {
    let mut f = one_key(Value::String("abc".into()));
    f[24..32].copy_from_slice(&(1u64 << 62).to_le_bytes());
    match parse_full(&f) {
        Err(GgufError::LengthTooLarge { what, offset: 24, length }) => {
            assert!(what.contains("string length"), "{what}");
            assert_eq!(length, 1 << 62);
        }
        other => panic!("{other:?}"),
    }
    // Unknown file length: the honest answer is "fetch more", and nothing is allocated.
    assert!(matches!(parse_header(&f, None), Err(GgufError::Incomplete { needed }) if needed == 32 + (1 << 62)));
    f[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(parse_header(&f, None), Err(GgufError::LengthTooLarge { .. })));
}

#[test]
fn lying_array_length() {
    // type 33..37, element type 37..41, length 41..49
    let mut f = one_key(arr(ValueType::U32, vec![Value::U32(1), Value::U32(2)]));
    f[41..49].copy_from_slice(&(1u64 << 40).to_le_bytes());
    match parse_full(&f) {
        Err(GgufError::LengthTooLarge { what, offset: 41, .. }) => {
            assert!(what.contains("array length") && what.contains("'k'"), "{what}")
        }
        other => panic!("{other:?}"),
    }
    f[41..49].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(parse_header(&f, None), Err(GgufError::LengthTooLarge { .. })));
}

#[test]
fn unknown_value_type() {
    let mut f = one_key(Value::U32(7));
    f[33..37].copy_from_slice(&13u32.to_le_bytes());
    match parse_full(&f) {
        Err(GgufError::UnknownValueType { id: 13, offset: 33, what }) => assert!(what.contains("'k'")),
        other => panic!("{other:?}"),
    }
    let mut f = one_key(arr(ValueType::U8, vec![Value::U8(1)]));
    f[37..41].copy_from_slice(&99u32.to_le_bytes());
    assert!(matches!(parse_full(&f), Err(GgufError::UnknownValueType { id: 99, offset: 37, .. })));
}

#[test]
fn misaligned_tensor_offset() {
    let mut f = one_tensor();
    f[49..57].copy_from_slice(&8u64.to_le_bytes());
    assert!(matches!(
        parse_full(&f),
        Err(GgufError::MisalignedTensor { offset: 8, alignment: 32, ref tensor }) if tensor == "w"
    ));
}

#[test]
fn unknown_tensor_type_parses_but_has_no_size() {
    let mut f = one_tensor();
    f[45..49].copy_from_slice(&40u32.to_le_bytes());
    let h = parse_full(&f).unwrap();
    assert_eq!(h.tensors[0].ggml_type, GgmlType::Other(40));
    assert!(matches!(h.tensor_data_len(), Err(GgufError::UnknownTensorType { id: 40, .. })));
    assert!(h.summary().is_err());
}

#[test]
fn row_not_whole_blocks() {
    let mut f = one_tensor();
    f[45..49].copy_from_slice(&GgmlType::Q8_0.id().to_le_bytes()); // 32 elements: fine
    assert!(parse_full(&f).is_ok());
    f[37..45].copy_from_slice(&33u64.to_le_bytes());
    assert!(matches!(parse_full(&f), Err(GgufError::InvalidTensor { .. })));
}

#[test]
fn duplicates() {
    let mut w = GgufWriter::new();
    w.add_metadata("a.b", Value::U32(1));
    w.add_metadata("a.c", Value::U32(2));
    let mut f = header_of(&w);
    // first KV 24..43 (len 8, key 3, type 4, value 4); second key bytes at 51..54
    assert_eq!(&f[51..54], b"a.c");
    f[53] = b'b';
    assert!(matches!(parse_full(&f), Err(GgufError::DuplicateKey { ref key, offset: 43 }) if key == "a.b"));

    let mut w = GgufWriter::new();
    w.add_tensor("x", &[8], GgmlType::F32).unwrap();
    w.add_tensor("y", &[8], GgmlType::F32).unwrap();
    let mut f = header_of(&w);
    // first tensor info 24..57; second name at 65
    assert_eq!(f[65], b'y');
    f[65] = b'x';
    assert!(matches!(parse_full(&f), Err(GgufError::DuplicateTensor { ref tensor, offset: 57 }) if tensor == "x"));
}

#[test]
fn bad_alignment_values() {
    let mut w = GgufWriter::new().with_alignment(64);
    w.add_tensor("w", &[16], GgmlType::F32).unwrap();
    let mut f = header_of(&w);
    let key = b"general.alignment";
    let at = f.windows(key.len()).position(|x| x == key).unwrap() + key.len() + 4;
    f[at..at + 4].copy_from_slice(&48u32.to_le_bytes());
    assert!(matches!(parse_full(&f), Err(GgufError::InvalidAlignment { .. })));
    f[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(parse_full(&f), Err(GgufError::InvalidAlignment { .. })));
    f[at - 4..at].copy_from_slice(&ValueType::I32.id().to_le_bytes());
    assert!(matches!(parse_full(&f), Err(GgufError::InvalidAlignment { .. })));
}

#[test]
fn deep_nesting_is_refused() {
    let mut v = arr(ValueType::U8, vec![]);
    for _ in 0..20 {
        v = arr(ValueType::Array, vec![v]);
    }
    let f = one_key(v);
    assert!(matches!(parse_full(&f), Err(GgufError::NestingTooDeep { .. })));
}

#[test]
fn truncated_tensor_data() {
    let f = sample_file(3, ByteOrder::Little);
    let h = parse_full(&f).unwrap();
    let len = f.len() as u64;
    assert!(h.check_file_len(len).is_ok());
    let end = h.data_offset + h.tensor_data_len().unwrap();
    match h.check_file_len(end - 1) {
        Err(GgufError::Truncated { needed, actual, .. }) => assert_eq!((needed, actual), (end, end - 1)),
        other => panic!("{other:?}"),
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.gguf");
    std::fs::write(&path, &f[..end as usize - 1]).unwrap();
    assert!(matches!(read_header_from_path(&path), Err(GgufError::Truncated { .. })));
    std::fs::write(&path, &f[..100]).unwrap();
    assert!(matches!(
        read_header_from_path(&path),
        Err(GgufError::Truncated { .. } | GgufError::LengthTooLarge { .. })
    ));
    std::fs::write(&path, &f).unwrap();
    assert_eq!(read_header_from_path(&path).unwrap(), h);
    let missing = read_header_from_path(&dir.path().join("nope.gguf")).unwrap_err();
    assert!(matches!(missing, GgufError::Io { .. }) && missing.to_string().contains("nope.gguf"));
}

#[test]
fn random_mutations_never_panic() {
    let bases = [sample_file(3, ByteOrder::Little), sample_file(1, ByteOrder::Big), sample_file(2, ByteOrder::Little)];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut outcomes = [0usize; 2];
    for round in 0..4000 {
        let base = &bases[round % bases.len()];
        let h = parse_header(base, None).unwrap();
        let mut f = base.clone();
        // Mutate mostly inside the header, where the structure is.
        for _ in 0..=rng.below(4) {
            let at = rng.below(h.data_offset) as usize;
            f[at] = match rng.below(4) {
                0 => 0xff,
                1 => 0,
                _ => rng.next() as u8,
            };
        }
        if rng.below(8) == 0 {
            f.truncate(rng.below(f.len() as u64) as usize);
        }
        let total = f.len() as u64;
        for known in [Some(total), None] {
            match parse_header(&f, known) {
                Ok(h) => {
                    outcomes[0] += 1;
                    let _ = h.summary();
                    let _ = h.check_file_len(total);
                    for (_, v) in &h.metadata {
                        let _ = v.to_display_string();
                    }
                }
                Err(GgufError::Incomplete { needed }) => {
                    outcomes[1] += 1;
                    assert!(needed > f.len() as u64 && known.is_none());
                }
                Err(e) => {
                    outcomes[1] += 1;
                    let _ = e.to_string();
                }
            }
        }
        if round % 16 == 0 {
            let mut acc = HeaderAccumulator::new(None);
            let _ = f.chunks(97).try_for_each(|c| acc.feed(c).map(drop));
            let _ = acc.finish();
        }
    }
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}
