use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use hoist_model::{ModelInfo, StoredModel, format_size};
use hoist_oci::{Digest, Reference};
use hoist_store::{Store, Tagged};
use serde_json::json;

use super::remote::block_on;
use crate::cli::ListArgs;
use crate::output::{Table, or_dash, time_ago};

pub fn run(store: &Store, args: ListArgs) -> Result<ExitCode> {
    let entries = without_docker_hub_twins(store.list()?);
    // Many tags often share one manifest: read each manifest once.
    let models = block_on(async {
        let mut models: BTreeMap<Digest, StoredModel> = BTreeMap::new();
        for entry in &entries {
            if !models.contains_key(&entry.descriptor.digest) {
                models.insert(entry.descriptor.digest.clone(), StoredModel::fetch(store, &entry.descriptor).await?);
            }
        }
        anyhow::Ok(models)
    })??;
    if args.quiet {
        let mut seen = std::collections::BTreeSet::new();
        for entry in &entries {
            if seen.insert(&entry.descriptor.digest) {
                println!("{}", entry.descriptor.digest.short());
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows = entries.iter().map(|entry| {
        let (name, tag) = split_reference(&entry.reference);
        (name, tag, entry, &models[&entry.descriptor.digest])
    });
    if args.json {
        let list: Vec<_> = rows
            .map(|(name, tag, entry, model)| {
                let info = &model.info;
                let (architecture, quantization) = vocabulary(info);
                json!({
                    "reference": entry.reference, "name": name, "tag": tag,
                    "id": entry.descriptor.digest.to_string(),
                    "artifact": info.kind.as_ref().map(|k| k.to_string()),
                    "format": info.format, "architecture": architecture,
                    "parameters": info.parameters, "quantization": quantization,
                    "context_size": info.context_size, "created": info.created, "size": info.size,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = Table::new(&["NAME", "TAG", "ID", "ARCH", "PARAMS", "QUANT", "CONTEXT", "CREATED", "SIZE"]);
    for (name, tag, entry, model) in rows {
        let info = &model.info;
        let (architecture, quantization) = vocabulary(info);
        out.add_row(vec![
            name,
            tag,
            entry.descriptor.digest.short().to_string(),
            or_dash(architecture),
            or_dash(info.parameters.as_ref()),
            or_dash(quantization),
            or_dash(info.context_size),
            or_dash(info.created.as_deref().map(time_ago)),
            format_size(info.size),
        ]);
    }
    out.print();
    Ok(ExitCode::SUCCESS)
}

/// The architecture and type as one vocabulary names them, whatever the
/// format recorded: llama.cpp's architecture names, which are Hugging Face's
/// `model_type` without its underscores (`bert`, `qwen2`), and ggml's type
/// names in upper case (`F32`, `BF16`, `Q4_K_M`).
fn vocabulary(info: &ModelInfo) -> (Option<String>, Option<String>) {
    let architecture = info.architecture.as_deref().map(architecture_name);
    (architecture, info.quantization.as_deref().map(str::to_ascii_uppercase))
}

/// A Transformers class name (`BertModel`, `Qwen2ForCausalLM`,
/// `GPT2LMHeadModel`, what config.json's `architectures` holds) without its
/// task, lower-cased: `bert`, `qwen2`, `gpt2`. A name already in lower case
/// (GGUF's `general.architecture`) is kept.
fn architecture_name(recorded: &str) -> String {
    const TASKS: [&str; 10] = [
        "ForCausalLM",
        "ForConditionalGeneration",
        "ForMaskedLM",
        "ForSequenceClassification",
        "ForTokenClassification",
        "ForQuestionAnswering",
        "ForPreTraining",
        "ForTextEncoding",
        "LMHeadModel",
        "Model",
    ];
    if !recorded.chars().any(|c| c.is_ascii_uppercase()) {
        return recorded.to_string();
    }
    let stem = TASKS.iter().find_map(|task| recorded.strip_suffix(task).filter(|s| !s.is_empty()));
    stem.unwrap_or(recorded).to_ascii_lowercase()
}

/// The entries without the full name of each Docker Hub model that is also
/// stored under the short name it was pulled by (`docker.io/ai/smollm2:latest`
/// beside `ai/smollm2:latest`, same digest): the list shows the name the user
/// typed. A short name that names another model keeps both lines.
fn without_docker_hub_twins(entries: Vec<Tagged>) -> Vec<Tagged> {
    let names: BTreeMap<&str, &Digest> = entries.iter().map(|e| (e.reference.as_str(), &e.descriptor.digest)).collect();
    let twin_of_short_name = |entry: &Tagged| {
        let short = entry.reference.parse::<Reference>().ok().and_then(|r| r.docker_hub_short());
        short.is_some_and(|short| names.get(short.to_string().as_str()) == Some(&&entry.descriptor.digest))
    };
    let hidden: Vec<bool> = entries.iter().map(twin_of_short_name).collect();
    entries.into_iter().zip(hidden).filter(|(_, hidden)| !hidden).map(|(entry, _)| entry).collect()
}

/// NAME and TAG columns of a stored reference.
fn split_reference(reference: &str) -> (String, String) {
    match reference.parse::<Reference>() {
        Ok(parsed) => (parsed.name(), parsed.tag().unwrap_or("<none>").to_string()),
        Err(_) => (reference.to_string(), "<none>".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::architecture_name;

    #[test]
    fn class_names_become_model_types() {
        for (class, name) in [
            ("BertModel", "bert"),
            ("Qwen2ForCausalLM", "qwen2"),
            ("GPT2LMHeadModel", "gpt2"),
            ("T5ForConditionalGeneration", "t5"),
            ("Qwen2MoeForCausalLM", "qwen2moe"),
            ("llama", "llama"),
            ("qwen2moe", "qwen2moe"),
            ("Model", "model"),
        ] {
            assert_eq!(architecture_name(class), name, "{class}");
        }
    }
}
