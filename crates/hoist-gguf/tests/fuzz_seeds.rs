//! Writes the fuzz seed corpora (small synthetic headers) into fuzz/corpus/<target>/.
//! To write them: `HOIST_FUZZ_SEEDS=1 cargo test -p hoist-gguf --test fuzz_seeds`.

mod common;

use std::path::Path;

use common::{ModelBuilder, qwen2_0_5b, sample_file};
use hoist_gguf::synth::TinyModel;
use hoist_gguf::{ByteOrder, GgmlType, Value, ValueType, parse_header};

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let arr_u32 = |v: &[u32]| common::arr(ValueType::U32, v.iter().map(|x| Value::U32(*x)).collect());
    let dir = tempfile::tempdir().unwrap();
    let tiny = dir.path().join("tiny.gguf");
    TinyModel::default().write_to_path(&tiny).unwrap();
    let tiny = std::fs::read(&tiny).unwrap();
    let tiny_header = parse_header(&tiny, None).unwrap();
    let shards = TinyModel::default().write_split(dir.path(), "s", 2).unwrap();
    let shard2 = std::fs::read(&shards[1]).unwrap();
    let shard2 = shard2[..parse_header(&shard2, None).unwrap().data_offset as usize].to_vec();
    let gemma = ModelBuilder::new("gemma2")
        .hp("context_length", Value::U32(8192))
        .hp("embedding_length", Value::U32(256))
        .hp("block_count", Value::U32(2))
        .hp("attention.head_count", Value::U32(4))
        .hp("attention.head_count_kv", Value::U32(2))
        .hp("attention.sliding_window", Value::U32(4096))
        .blocks(2, 256, &[128], 512, GgmlType::Q4_K);
    let mamba = ModelBuilder::new("mamba")
        .hp("context_length", Value::U32(1024))
        .hp("embedding_length", Value::U32(64))
        .hp("block_count", Value::U32(2))
        .hp("ssm.conv_kernel", Value::U32(4))
        .hp("ssm.inner_size", Value::U32(128))
        .hp("ssm.state_size", Value::U32(16))
        .tensor("blk.0.ssm_in.weight", &[64, 256], GgmlType::F16);
    let per_layer = ModelBuilder::new("openelm")
        .hp("context_length", Value::U32(2048))
        .hp("embedding_length", Value::U32(256))
        .hp("block_count", Value::U32(3))
        .hp("attention.head_count", arr_u32(&[4, 4, 8]))
        .hp("attention.head_count_kv", arr_u32(&[1, 2, 2]))
        .hp("attention.key_length", Value::U32(64))
        .hp("expert_count", Value::U32(8))
        .hp("expert_used_count", Value::U32(2))
        .tensor("blk.2.attn_q.weight", &[256, 512], GgmlType::IQ4_XS);
    let mut seeds = vec![
        ("all-values-v3", sample_file(3, ByteOrder::Little)),
        ("all-values-v1", sample_file(1, ByteOrder::Little)),
        ("all-values-be", sample_file(2, ByteOrder::Big)),
        ("tiny-header", tiny[..tiny_header.data_offset as usize].to_vec()),
        ("tiny-shard2", shard2),
        ("gemma2-swa", gemma.header_bytes()),
        ("mamba", mamba.header_bytes()),
        ("per-layer-moe", per_layer.header_bytes()),
    ];
    let qwen = qwen2_0_5b().header_bytes();
    assert!(qwen.len() < 64 << 10, "{}", qwen.len());
    seeds.push(("qwen2-0.5b-shape", qwen));
    seeds
}

/// Every seed is a valid header. With `HOIST_FUZZ_SEEDS=1` the seeds are also
/// written as the fuzz targets' seed corpora.
#[test]
fn seeds_parse() {
    let seeds = seeds();
    for (name, bytes) in &seeds {
        parse_header(bytes, None).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    if std::env::var_os("HOIST_FUZZ_SEEDS").is_some() {
        write_corpora(&seeds);
    }
}

fn write_corpora(seeds: &[(&str, Vec<u8>)]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for target in ["header", "remote"] {
        std::fs::create_dir_all(root.join(target)).unwrap();
    }
    for (name, bytes) in seeds {
        std::fs::write(root.join("header").join(format!("seed-{name}")), bytes).unwrap();
        // remote: byte 0 = 2 chunk sizes (7 and 300 bytes), then the file.
        let mut framed = vec![2u8, 7, 0, 44, 1];
        framed.extend_from_slice(bytes);
        std::fs::write(root.join("remote").join(format!("seed-{name}")), framed).unwrap();
    }
}
