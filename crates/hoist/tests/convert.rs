//! `hoist convert`: a Hugging Face directory to GGUF through the real binary; and
//! CONVERT in a build, which must write the same bytes.

mod common;

use std::path::{Path, PathBuf};

use common::Sandbox;

/// A tiny llama: F32 safetensors (1 block, hidden 8, 2 heads), config.json and the
/// SentencePiece model hoist-convert's tests use.
fn tiny_llama(sandbox: &Sandbox, dir: &str, architecture: &str) -> PathBuf {
    let (h, ff, vocab) = (8usize, 16usize, 400usize);
    let mut tensors: Vec<(String, Vec<usize>)> = vec![
        ("lm_head.weight".into(), vec![vocab, h]),
        ("model.embed_tokens.weight".into(), vec![vocab, h]),
        ("model.norm.weight".into(), vec![h]),
    ];
    let p = "model.layers.0";
    for (name, shape) in [
        ("input_layernorm", vec![h]),
        ("post_attention_layernorm", vec![h]),
        ("self_attn.q_proj", vec![h, h]),
        ("self_attn.k_proj", vec![h, h]),
        ("self_attn.v_proj", vec![h, h]),
        ("self_attn.o_proj", vec![h, h]),
        ("mlp.gate_proj", vec![ff, h]),
        ("mlp.up_proj", vec![ff, h]),
        ("mlp.down_proj", vec![h, ff]),
    ] {
        tensors.push((format!("{p}.{name}.weight"), shape));
    }
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (i, (name, shape)) in tensors.iter().enumerate() {
        let start = data.len();
        for k in 0..shape.iter().product::<usize>() {
            data.extend(((i * 31 + k) as f32 / 1000.0).to_le_bytes());
        }
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let json = serde_json::to_vec(&header).unwrap();
    let mut file = (json.len() as u64).to_le_bytes().to_vec();
    file.extend(json);
    file.extend(data);
    sandbox.write(&format!("{dir}/model.safetensors"), file);
    let config = serde_json::json!({"architectures": [architecture], "hidden_size": h, "intermediate_size": ff,
        "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": vocab});
    sandbox.write(&format!("{dir}/config.json"), config.to_string());
    let spm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hoist-convert/tests/data/spm/tokenizer.model");
    sandbox.write(&format!("{dir}/tokenizer.model"), std::fs::read(spm).unwrap());
    sandbox.path(dir)
}

#[test]
fn converts_and_reports_json() {
    let sandbox = Sandbox::new();
    let dir = tiny_llama(&sandbox, "Tiny-Llama", "LlamaForCausalLM");
    let out = sandbox.path("tiny.gguf");
    let args =
        ["convert", "--progress", "none", "--type", "bf16", "--json", dir.to_str().unwrap(), out.to_str().unwrap()];
    let summary = sandbox.json(&args);
    assert_eq!(summary["architecture"], "llama");
    assert_eq!(summary["file_type"], "BF16");
    assert_eq!(summary["tensors"], 12);
    assert_eq!(summary["parameters"], 2 * 400 * 8 + 8 + 2 * 8 + 4 * 64 + 3 * 128);
    assert_eq!(summary["bytes"], std::fs::metadata(&out).unwrap().len());
    let header = hoist_gguf::read_header_from_path(&out).unwrap();
    assert_eq!(header.get("general.architecture").and_then(|v| v.as_str()), Some("llama"));
    assert_eq!(header.get("general.file_type").and_then(|v| v.as_u64()), Some(32));
    let types: Vec<String> = header.tensors.iter().map(|t| format!("{}:{}", t.name, t.ggml_type.name())).collect();
    assert!(types.contains(&"blk.0.attn_q.weight:BF16".to_string()), "{types:?}");
    assert!(types.contains(&"blk.0.attn_norm.weight:F32".to_string()), "{types:?}");
}

#[test]
fn an_unsupported_architecture_fails_with_one_line_and_no_file() {
    let sandbox = Sandbox::new();
    let dir = tiny_llama(&sandbox, "m", "FalconForCausalLM");
    let out = sandbox.path("out/x.gguf");
    std::fs::create_dir_all(sandbox.path("out")).unwrap();
    let result = sandbox.hoist().args(["convert", "--progress", "none"]).arg(&dir).arg(&out).output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("\"FalconForCausalLM\"") && errors[0].contains("config.json"), "{stderr}");
    assert_eq!(std::fs::read_dir(sandbox.path("out")).unwrap().count(), 0, "nothing left behind");
}

#[test]
fn q8_0_writes_file_type_7_and_f16_where_rows_miss_the_block() {
    let sandbox = Sandbox::new();
    let dir = tiny_llama(&sandbox, "m", "LlamaForCausalLM");
    let out = sandbox.path("x.gguf");
    let args =
        ["convert", "--progress", "none", "--type", "q8_0", "--json", dir.to_str().unwrap(), out.to_str().unwrap()];
    let summary = sandbox.json(&args);
    assert_eq!(summary["file_type"], "Q8_0");
    let header = hoist_gguf::read_header_from_path(&out).unwrap();
    assert_eq!(header.get("general.file_type").and_then(|v| v.as_u64()), Some(7));
    // Rows of 8 and 16 values do not split into Q8_0's 32-value blocks: F16, as gguf-py falls back.
    let types: Vec<String> = header.tensors.iter().map(|t| format!("{}:{}", t.name, t.ggml_type.name())).collect();
    assert!(types.contains(&"blk.0.attn_q.weight:F16".to_string()), "{types:?}");
    assert!(types.contains(&"blk.0.attn_norm.weight:F32".to_string()), "{types:?}");
}

/// A PEFT adapter of the tiny llama's q_proj, rank 2, F32.
fn tiny_adapter(sandbox: &Sandbox, dir: &str) -> PathBuf {
    let (h, r) = (8usize, 2usize);
    let p = "base_model.model.model.layers.0.self_attn.q_proj";
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, shape) in [(format!("{p}.lora_A.weight"), [r, h]), (format!("{p}.lora_B.weight"), [h, r])] {
        let start = data.len();
        for k in 0..r * h {
            data.extend((k as f32 / 16.0).to_le_bytes());
        }
        header.insert(name, serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}));
    }
    let json = serde_json::to_vec(&header).unwrap();
    let mut file = (json.len() as u64).to_le_bytes().to_vec();
    file.extend(json);
    file.extend(data);
    sandbox.write(&format!("{dir}/adapter_model.safetensors"), file);
    sandbox.write(&format!("{dir}/adapter_config.json"), r#"{"peft_type": "LORA", "r": 2, "lora_alpha": 4}"#);
    sandbox.path(dir)
}

#[test]
fn a_lora_adapter_converts_against_its_base() {
    let sandbox = Sandbox::new();
    let base = tiny_llama(&sandbox, "Tiny-Llama", "LlamaForCausalLM");
    let adapter = tiny_adapter(&sandbox, "tiny-lora");
    let out = sandbox.path("lora.gguf");
    let (a, b, o) = (adapter.to_str().unwrap(), base.to_str().unwrap(), out.to_str().unwrap());
    let summary = sandbox.json(&["convert", "--progress", "none", "--class", "lora", "--base", b, "--json", a, o]);
    assert_eq!(summary["architecture"], "llama");
    assert_eq!(summary["file_type"], "F32");
    assert_eq!(summary["tensors"], 2);
    let header = hoist_gguf::read_header_from_path(&out).unwrap();
    assert_eq!(header.get("general.type").and_then(|v| v.as_str()), Some("adapter"));
    assert_eq!(header.get("adapter.type").and_then(|v| v.as_str()), Some("lora"));
    assert_eq!(header.get("adapter.lora.alpha"), Some(&hoist_gguf::Value::F32(4.0)));
    let tensors: Vec<String> = header.tensors.iter().map(|t| format!("{}:{:?}", t.name, t.dims)).collect();
    assert_eq!(tensors, ["blk.0.attn_q.weight.lora_a:[8, 2]", "blk.0.attn_q.weight.lora_b:[2, 8]"]);
}

#[test]
fn a_lora_adapter_without_base_or_config_fails_with_one_line_and_no_file() {
    let sandbox = Sandbox::new();
    let base = tiny_llama(&sandbox, "Tiny-Llama", "LlamaForCausalLM");
    let out = sandbox.path("lora.gguf");
    // --base missing: clap refuses.
    let adapter = tiny_adapter(&sandbox, "tiny-lora");
    let result = sandbox.hoist().args(["convert", "--class", "lora"]).arg(&adapter).arg(&out).output().unwrap();
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("--base"));
    // No adapter_config.json: one error line naming it.
    std::fs::remove_file(adapter.join("adapter_config.json")).unwrap();
    let result = sandbox
        .hoist()
        .args(["convert", "--progress", "none", "--class", "lora", "--base"])
        .arg(&base)
        .arg(&adapter)
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("adapter_config.json"), "{stderr}");
    assert!(!out.exists());
}

const LORA_BUILD: &str = "FROM scratch
CONVERT --from=context --type=F16 Tiny-Llama /base.gguf
CONVERT --from=context --type=F16 --class=lora --base=Tiny-Llama tiny-lora /adapter.gguf
CMD [\"-m\", \"base.gguf\", \"--lora\", \"adapter.gguf\"]
";

/// `hoist build -q -t REF ctx` on the sandbox's context; its standard output.
fn build(sandbox: &Sandbox, reference: &str, quiet: bool) -> String {
    let mut cmd = sandbox.hoist();
    cmd.args(["build", "-t", reference]).args(quiet.then_some("-q")).arg(sandbox.path("ctx"));
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// CONVERT --class=lora in a build writes the adapter `hoist convert --class
/// lora` writes, the image config lists it as CMD's adapter, and its step is
/// keyed by the base model's files as well as the adapter's.
#[test]
fn a_lora_adapter_converts_in_a_build() {
    let sandbox = Sandbox::new();
    let base = tiny_llama(&sandbox, "ctx/Tiny-Llama", "LlamaForCausalLM");
    let adapter = tiny_adapter(&sandbox, "ctx/tiny-lora");
    sandbox.write("ctx/GGUFPackerfile", LORA_BUILD);
    build(&sandbox, "tiny:lora", true);

    let by_command = sandbox.path("lora.gguf");
    sandbox
        .hoist()
        .args(["convert", "--progress", "none", "--type", "f16", "--class", "lora", "--base"])
        .arg(&base)
        .arg(&adapter)
        .arg(&by_command)
        .assert()
        .success();
    let unpacked = sandbox.path("unpacked");
    sandbox.hoist().args(["unpack", "tiny:lora"]).arg(&unpacked).assert().success();
    let in_image = walkdir::WalkDir::new(&unpacked).into_iter().flatten().find(|e| e.file_name() == "adapter.gguf");
    let in_image = std::fs::read(in_image.expect("adapter.gguf is in the image").path()).unwrap();
    assert!(in_image == std::fs::read(&by_command).unwrap(), "CONVERT --class=lora wrote other bytes");

    let config = sandbox.json(&["inspect", "--json", "tiny:lora"]);
    let adapters = &config["config"]["config"]["Adapters"];
    assert_eq!(adapters.as_array().map(Vec::len), Some(1), "{config}");
    assert_eq!(adapters[0]["Architecture"], "llama", "{config}");
    assert_eq!(adapters[0]["CmdParameterValue"], "adapter.gguf", "{config}");
    assert_eq!(adapters[0]["CmdParameterIndex"], 3, "{config}");

    let first = build(&sandbox, "tiny:lora", false);
    assert!(first.trim_end().ends_with("(2 layers, 2 steps cached)"), "{first}");
    // A file the steps do not read changes nothing; one of the base model's
    // rebuilds both steps (the base's conversion and the adapter's).
    sandbox.write("ctx/notes.txt", "unrelated");
    assert!(build(&sandbox, "tiny:lora", false).trim_end().ends_with("(2 layers, 2 steps cached)"));
    sandbox.write("ctx/Tiny-Llama/README.md", "# the base model, described");
    let rebuilt = build(&sandbox, "tiny:lora", false);
    assert!(rebuilt.trim_end().ends_with("(2 layers, 0 steps cached)"), "{rebuilt}");
}

#[test]
fn lora_build_errors_name_the_line() {
    let sandbox = Sandbox::new();
    tiny_llama(&sandbox, "ctx/Tiny-Llama", "LlamaForCausalLM");
    tiny_adapter(&sandbox, "ctx/tiny-lora");
    for (line, expect) in [
        (
            "CONVERT --from=context --class=lora tiny-lora /a.gguf",
            "GGUFPackerfile:2:1: CONVERT --class=lora needs --base",
        ),
        (
            "CONVERT --from=context --class=adapter --base=Tiny-Llama tiny-lora /a.gguf",
            "GGUFPackerfile:2:1: CONVERT --class=adapter: --class must be model or lora",
        ),
        (
            "CONVERT --from=context --class=lora --base=Nope tiny-lora /a.gguf",
            "GGUFPackerfile:2:1: \"Nope\": no such directory",
        ),
    ] {
        sandbox.write("ctx/GGUFPackerfile", format!("FROM scratch\n{line}\nCMD [\"-m\", \"a.gguf\"]\n"));
        let ctx = sandbox.path("ctx");
        sandbox.fails_with_one_error(&["build", "-t", "broken:1", ctx.to_str().unwrap()], expect);
    }
    assert_eq!(sandbox.json(&["list", "--json"]).as_array().map(Vec::len), Some(0), "nothing is tagged");
}

/// From a stage, whose files are written out to be converted, the adapter
/// and its base come out as they do from the context: named after their own
/// directories, not after a scratch directory.
#[test]
fn a_lora_adapter_from_a_stage_is_the_same_as_from_the_context() {
    let sandbox = Sandbox::new();
    tiny_llama(&sandbox, "ctx/Tiny-Llama", "LlamaForCausalLM");
    tiny_adapter(&sandbox, "ctx/tiny-lora");
    sandbox.write("ctx/GGUFPackerfile", LORA_BUILD);
    build(&sandbox, "from:context", true);
    let from_stage = "FROM scratch AS files
COPY Tiny-Llama /src/Tiny-Llama/
COPY tiny-lora /src/tiny-lora/
FROM scratch
CONVERT --from=files --type=F16 /src/Tiny-Llama /base.gguf
CONVERT --from=files --type=F16 --class=lora --base=/src/Tiny-Llama /src/tiny-lora /adapter.gguf
CMD [\"-m\", \"base.gguf\", \"--lora\", \"adapter.gguf\"]
";
    sandbox.write("ctx/GGUFPackerfile", from_stage);
    build(&sandbox, "from:stage", true);
    let layers =
        |reference: &str| sandbox.json(&["inspect", "--json", reference])["config"]["rootfs"]["diff_ids"].clone();
    assert_eq!(layers("from:stage"), layers("from:context"));
}

/// CONVERT from the context sees the context as the build does: a file
/// `.dockerignore` leaves out is not converted (here a model card, whose
/// license would be in the GGUF), and a file the context links to from
/// elsewhere (as a Hugging Face cache snapshot does) is read through its link.
#[test]
fn convert_sees_the_context_as_the_build_does() {
    let sandbox = Sandbox::new();
    let plain = tiny_llama(&sandbox, "plain/Tiny-Llama", "LlamaForCausalLM");
    let dir = tiny_llama(&sandbox, "ctx/Tiny-Llama", "LlamaForCausalLM");
    std::fs::create_dir_all(sandbox.path("ctx/blobs")).unwrap();
    std::fs::rename(dir.join("model.safetensors"), sandbox.path("ctx/blobs/weights")).unwrap();
    std::os::unix::fs::symlink("../blobs/weights", dir.join("model.safetensors")).unwrap();
    sandbox.write("ctx/Tiny-Llama/README.md", "---\nlicense: mit\n---\n# Tiny\n");
    sandbox.write("ctx/.dockerignore", "Tiny-Llama/README.md\n");
    sandbox.write(
        "ctx/GGUFPackerfile",
        "FROM scratch\nCONVERT --from=context Tiny-Llama /m.gguf\nCMD [\"-m\", \"m.gguf\"]\n",
    );
    build(&sandbox, "m:1", true);

    let convert = |dir: &Path, out: &str| {
        let out = sandbox.path(out);
        sandbox.hoist().args(["convert", "--progress", "none", "--type", "f16"]).arg(dir).arg(&out).assert().success();
        std::fs::read(out).unwrap()
    };
    let unpacked = sandbox.path("unpacked");
    sandbox.hoist().args(["unpack", "m:1"]).arg(&unpacked).assert().success();
    let in_image = std::fs::read(unpacked.join("model/m.gguf")).unwrap();
    assert!(in_image == convert(&plain, "plain.gguf"), "CONVERT saw the ignored model card");
    assert!(in_image != convert(&dir, "carded.gguf"), "the model card changes the GGUF");
}
