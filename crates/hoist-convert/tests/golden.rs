//! Every tensor (type, dims, bytes) and every metadata value (and order) of hoist's output
//! equal the reference converter's, for tiny models the tests write themselves.
//!
//! The digests in tests/goldens/ come from llama.cpp's convert_hf_to_gguf.py run on the
//! same model directories: `scripts/convert-goldens.sh` writes the cases and digests the
//! reference's output with the `golden-cases` example (the cases are in tests/cases/).

mod cases;
mod common;

use cases::{CASES, LORA_CASES, check, check_lora};

#[test]
fn tinyllama_sentencepiece_matches_the_reference() {
    check(&CASES[0]);
}

#[test]
fn llama3_bpe_matches_the_reference() {
    check(&CASES[1]);
}

#[test]
fn mistral_sharded_matches_the_reference() {
    check(&CASES[2]);
}

#[test]
fn qwen2_matches_the_reference() {
    check(&CASES[3]);
}

#[test]
fn qwen3_embedding_matches_the_reference() {
    check(&CASES[4]);
}

#[test]
fn gemma2_matches_the_reference() {
    check(&CASES[5]);
}

#[test]
fn gemma3_matches_the_reference() {
    check(&CASES[6]);
}

#[test]
fn minilm_bert_matches_the_reference() {
    check(&CASES[7]);
}

#[test]
fn phi3_longrope_matches_the_reference() {
    check(&CASES[8]);
}

#[test]
fn tinyllama_lora_matches_the_reference() {
    check_lora(&LORA_CASES[0]);
}

#[test]
fn gemma3_lora_with_a_norm_matches_the_reference() {
    check_lora(&LORA_CASES[1]);
}
