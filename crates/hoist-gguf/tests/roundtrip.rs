//! Writer -> parser round trips, incremental parsing and the header accumulator.

mod common;

use common::{all_values, arr, sample_file, sample_writer};
use hoist_gguf::{
    Array, ByteOrder, GgmlType, GgufError, GgufWriter, HeaderAccumulator, StringArray, Value, ValueType, parse_header,
};

#[test]
fn every_value_type_round_trips_in_every_version_and_byte_order() {
    for version in 1..=3 {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let writer = sample_writer(version, order);
            let mut header_bytes = Vec::new();
            let data_offset = writer.write_header(&mut header_bytes).unwrap();
            let file = sample_file(version, order);
            let h = parse_header(&file, Some(file.len() as u64)).unwrap();
            assert_eq!(h.version, version);
            assert_eq!(h.byte_order, order);
            assert_eq!(h.metadata, all_values(), "v{version} {order:?}");
            assert_eq!(h.tensors, writer.tensors());
            assert_eq!(h.alignment, 32);
            assert_eq!(h.data_offset, data_offset);
            assert_eq!(data_offset as usize, header_bytes.len());
            assert_eq!(h.data_offset % 32, 0);
            h.check_file_len(file.len() as u64).unwrap();
            // Tensor bytes land where the header says they are.
            for (i, t) in h.tensors.iter().enumerate() {
                let start = (h.data_offset + t.offset) as usize;
                let len = t.byte_size().unwrap() as usize;
                assert!(file[start..start + len].iter().all(|&b| b == i as u8 + 1));
            }
        }
    }
}

#[test]
fn big_endian_numbers_are_really_big_endian() {
    let file = sample_file(3, ByteOrder::Big);
    assert_eq!(&file[..4], b"GGUF");
    assert_eq!(&file[4..8], &3u32.to_be_bytes());
    assert_eq!(&file[8..16], &4u64.to_be_bytes());
}

#[test]
fn custom_alignment_is_recorded_and_honoured() {
    let mut w = GgufWriter::new().with_alignment(256);
    w.add_tensor("a", &[3], GgmlType::F32).unwrap();
    w.add_tensor("b", &[3], GgmlType::F32).unwrap();
    let mut file = Vec::new();
    let len = w.write_file(&mut file, |_, _, b| b.fill(7)).unwrap();
    assert_eq!(len, file.len() as u64);
    let h = parse_header(&file, Some(len)).unwrap();
    assert_eq!(h.alignment, 256);
    assert_eq!(h.get("general.alignment"), Some(&Value::U32(256)));
    assert_eq!(h.tensors[1].offset, 256);
    assert_eq!(h.data_offset % 256, 0);
    assert_eq!(len, h.data_offset + 512);

    assert!(GgufWriter::new().with_alignment(48).write_header(&mut Vec::new()).is_err());
    assert!(GgufWriter::new().with_version(4).write_header(&mut Vec::new()).is_err());
    // An array cannot hold items of another type, so the writer never meets one.
    assert!(Array::from_values(ValueType::U8, vec![Value::I8(1)]).is_err());
}

#[test]
fn writer_rejects_bad_tensors() {
    let mut w = GgufWriter::new();
    assert_eq!(w.add_tensor("a", &[64, 2], GgmlType::Q8_0).unwrap(), 136);
    assert!(matches!(w.add_tensor("a", &[32], GgmlType::F32), Err(GgufError::InvalidTensor { .. })));
    assert!(matches!(w.add_tensor("b", &[33], GgmlType::Q8_0), Err(GgufError::InvalidTensor { .. })));
    assert!(matches!(w.add_tensor("c", &[1, 1, 1, 1, 1], GgmlType::F32), Err(GgufError::InvalidTensor { .. })));
    assert!(matches!(w.add_tensor("d", &[4], GgmlType::Other(99)), Err(GgufError::UnknownTensorType { .. })));
    assert!(matches!(w.add_tensor("e", &[u64::MAX, 2], GgmlType::F32), Err(GgufError::InvalidTensor { .. })));
    assert_eq!(w.tensors().len(), 1);
}

#[test]
fn every_prefix_is_incomplete_with_a_larger_need_or_parses() {
    for version in [1, 3] {
        let file = sample_file(version, ByteOrder::Little);
        let full = parse_header(&file, None).unwrap();
        let mut parsed_at = None;
        for n in 0..=file.len() {
            match parse_header(&file[..n], None) {
                Ok(h) => {
                    assert_eq!(h, full);
                    parsed_at.get_or_insert(n);
                }
                Err(GgufError::Incomplete { needed }) => {
                    assert!(needed > n as u64, "prefix {n}: needed {needed}");
                    assert!(needed <= full.data_offset, "prefix {n}: needed {needed} beyond the header");
                    assert!(parsed_at.is_none(), "prefix {n} incomplete after parsing at {parsed_at:?}");
                }
                Err(e) => panic!("prefix {n}: {e}"),
            }
        }
        assert!(parsed_at.unwrap() <= full.data_offset as usize);
        // With the file length known, a short prefix is still just incomplete.
        for n in [0, 3, 9, 30, 100] {
            assert!(matches!(parse_header(&file[..n], Some(file.len() as u64)), Err(GgufError::Incomplete { .. })));
        }
    }
}

#[test]
fn fetching_what_incomplete_asks_for_converges() {
    let file = sample_file(3, ByteOrder::Big);
    let mut have = 0u64;
    let mut rounds = 0;
    let header = loop {
        rounds += 1;
        match parse_header(&file[..have as usize], Some(file.len() as u64)) {
            Ok(h) => break h,
            Err(GgufError::Incomplete { needed }) => have = needed,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(header.metadata, all_values());
    assert!(rounds < 200);
}

/// A header far above the accumulator's first parse attempt (64 KiB).
fn big_header_file() -> Vec<u8> {
    let mut w = GgufWriter::new();
    let tokens = (0..20_000).map(|i| Value::String(format!("token-{i}"))).collect();
    w.add_metadata("tokenizer.ggml.tokens", arr(ValueType::String, tokens));
    w.add_tensor("w", &[32, 4], GgmlType::Q8_0).unwrap();
    let mut file = Vec::new();
    w.write_file(&mut file, |_, _, b| b.fill(3)).unwrap();
    file
}

#[test]
fn accumulator_with_small_and_odd_chunks() {
    for file in [sample_file(2, ByteOrder::Little), big_header_file()] {
        let expected = parse_header(&file, None).unwrap();
        for chunk in [1, 7, 1000, 65537] {
            for total in [None, Some(file.len() as u64)] {
                let mut acc = HeaderAccumulator::new(total);
                let mut done_at = None;
                for (i, c) in file.chunks(chunk).enumerate() {
                    if acc.feed(c).unwrap() && done_at.is_none() {
                        done_at = Some(i);
                    }
                }
                if let Some(t) = total {
                    assert!(done_at.is_some(), "known length {t}: header must be parsed by the end");
                }
                assert_eq!(acc.finish().unwrap(), expected, "chunk {chunk} total {total:?}");
            }
        }
        // Header found well before the end of a big file's stream.
        if file.len() > 100_000 {
            let mut acc = HeaderAccumulator::new(None);
            let header_end = expected.data_offset as usize;
            let mut fed = 0;
            for c in file.chunks(1) {
                fed += 1;
                if acc.feed(c).unwrap() {
                    break;
                }
            }
            assert!(fed >= header_end - 32 && fed <= header_end * 2, "parsed after {fed} bytes");
        }
    }
}

#[test]
fn accumulator_errors() {
    let file = big_header_file();
    let mut acc = HeaderAccumulator::new(None).with_max_header_bytes(100_000);
    let err = file.chunks(4096).map(|c| acc.feed(c)).find_map(Result::err);
    assert!(matches!(err, Some(GgufError::HeaderTooLarge { limit: 100_000, .. })), "{err:?}");

    let small = sample_file(3, ByteOrder::Little);
    let mut acc = HeaderAccumulator::new(None);
    acc.feed(&small[..50]).unwrap();
    assert!(matches!(acc.finish(), Err(GgufError::Truncated { actual: 50, .. })));

    let mut acc = HeaderAccumulator::new(Some(small.len() as u64));
    acc.feed(&small[..small.len() - 1]).unwrap();
    assert!(matches!(acc.finish(), Err(GgufError::Truncated { .. })));

    // Header complete but tensor data cut short.
    let mut acc = HeaderAccumulator::new(None);
    assert!(acc.feed(&small[..small.len() - 40]).unwrap());
    assert!(matches!(acc.finish(), Err(GgufError::Truncated { .. })));

    let mut acc = HeaderAccumulator::new(None);
    assert!(matches!(acc.feed(b"GGML....").map_err(|e| e.to_string()), Err(m) if m.contains("magic")));
}

#[test]
fn invalid_utf8_strings_are_kept_lossily() {
    let mut w = GgufWriter::new();
    w.add_metadata("k", Value::String("ab".into()));
    let mut file = Vec::new();
    w.write_header(&mut file).unwrap();
    // key len 24..32, "k" 32, type 33..37, string len 37..45, "ab" 45..47
    file[45] = 0xff;
    let h = parse_header(&file, None).unwrap();
    assert_eq!(h.get("k").and_then(Value::as_str), Some("\u{fffd}b"));
}

/// Every array type, large enough that a file read crosses its read window inside
/// arrays, in every version and byte order: parsed from a slice and from a file, equal to
/// what was written, and written back byte for byte.
#[test]
fn typed_arrays_round_trip_through_slice_and_file() {
    let mut tokens = StringArray::new();
    for i in 0..40_000u32 {
        match i % 3 {
            0 => tokens.push(format!("\u{2581}tok{i}")),
            1 => tokens.push([0xe4, 0xb8, (i % 256) as u8]),
            _ => tokens.push(""),
        }
    }
    let n = 100_000;
    let arrays = vec![
        Array::String(tokens),
        Array::U8((0..n).map(|i| i as u8).collect()),
        Array::I8((0..n).map(|i| i as i8).collect()),
        Array::U16((0..n).map(|i| i as u16).collect()),
        Array::I16((0..n).map(|i| (i as i16).wrapping_neg()).collect()),
        Array::U32((0..n).map(|i| i * 7).collect()),
        Array::I32((0..n).map(|i| (i as i32).wrapping_neg()).collect()),
        Array::F32((0..n).map(|i| if i == 5 { f32::NAN } else { i as f32 / 3.0 }).collect()),
        Array::Bool((0..n).map(|i| i % 3 == 0).collect()),
        Array::U64((0..n).map(|i| u64::from(i) << 40).collect()),
        Array::I64((0..n).map(|i| -(i64::from(i) << 40)).collect()),
        Array::F64((0..n).map(|i| f64::from(i) * -1.5e200).collect()),
        Array::Array(vec![
            Array::Array(vec![Array::U16(vec![1, 2]), Array::String(["x", "yz"].into_iter().collect())]),
            Array::Bool(vec![]),
            Array::F64(vec![f64::NAN]),
        ]),
    ];
    let dir = tempfile::tempdir().unwrap();
    for version in 1..=3 {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let mut w = GgufWriter::new().with_version(version).with_byte_order(order);
            for (i, a) in arrays.iter().enumerate() {
                w.add_metadata(format!("t.{i}"), Value::Array(a.clone()));
            }
            w.add_tensor("w", &[32, 4], GgmlType::Q8_0).unwrap();
            let mut file = Vec::new();
            w.write_file(&mut file, |_, _, b| b.fill(3)).unwrap();
            let path = dir.path().join(format!("arrays-v{version}-{order:?}.gguf"));
            std::fs::write(&path, &file).unwrap();

            let h = parse_header(&file, Some(file.len() as u64)).unwrap();
            let got: Vec<&Value> = h.metadata.iter().map(|(_, v)| v).collect();
            let want: Vec<Value> = arrays.iter().cloned().map(Value::Array).collect();
            assert!(got.iter().zip(&want).all(|(g, w)| *g == w), "v{version} {order:?}");
            assert_eq!(hoist_gguf::read_header_from_path(&path).unwrap(), h, "v{version} {order:?}");

            let mut again = GgufWriter::new().with_version(version).with_byte_order(order);
            for (k, v) in &h.metadata {
                again.add_metadata(k.clone(), v.clone());
            }
            again.add_tensor("w", &[32, 4], GgmlType::Q8_0).unwrap();
            let mut rewritten = Vec::new();
            again.write_file(&mut rewritten, |_, _, b| b.fill(3)).unwrap();
            assert!(rewritten == file, "v{version} {order:?}: rewritten bytes differ");
        }
    }
}
