//! For `scripts/convert-goldens.sh`: `golden-cases write DIR` writes every golden
//! case's model directory under DIR; `golden-cases digest DIR` digests the
//! reference converter's outputs (`DIR/<case>.<type>.gguf`, adapters in
//! `DIR/lora/<case>.<type>.gguf`) into tests/goldens/.

#[path = "../tests/cases/mod.rs"]
mod cases;
#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [action, dir] = args.as_slice() else {
        eprintln!("usage: golden-cases write|digest DIR");
        std::process::exit(2);
    };
    let root = PathBuf::from(dir);
    for case in cases::CASES {
        match action.as_str() {
            "write" => drop(cases::write_case(&root, case)),
            "digest" => cases::write_golden(&root, case),
            other => {
                eprintln!("golden-cases: unknown action {other:?} (write or digest)");
                std::process::exit(2);
            }
        }
    }
    for case in cases::LORA_CASES {
        match action.as_str() {
            "write" => drop(cases::write_lora_case(&root, case)),
            _ => cases::write_lora_golden(&root, case),
        }
    }
}
