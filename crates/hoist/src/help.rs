//! The long help of each command (`hoist help COMMAND`, `hoist COMMAND
//! --help`): what it does in detail and examples, added to the clap
//! definitions here so that `cli.rs` stays the list of options.

use clap::CommandFactory;

use crate::cli::Cli;

/// (subcommand, what `--help` adds after the options).
const PAGES: &[(&str, &str)] = &[
    (
        "pack",
        "A GGUF file (or the first shard of a split one) packs as a Docker config v0.1 artifact; a directory, \
DDUF or safetensors file as config v0.2; --format modelpack writes CNCF ModelPack v1. Files of a directory are \
classified by name (weights, configs, code, docs, datasets); --weight/--config/--doc/--code/--dataset GLOB \
override, --exclude GLOB leaves out. With --created or SOURCE_DATE_EPOCH the same files give the same digest.

Examples:
  hoist pack ./qwen2-0.5b.Q5_K_M.gguf -t qwen2:0.5b-q5
  hoist pack ./hf-snapshot/ -t minilm:1 --format modelpack
  hoist pack ./model.gguf -t m:1 --license LICENSE --chat-template t.jinja --context-size 8192",
    ),
    (
        "build",
        "Reads gguf-packer's language (ARG FROM ADD COPY CAT LABEL CMD CONVERT QUANTIZE) with BuildKit's parsing \
rules; only the stages the target needs are built, each COPY/ADD/CAT one tar layer. No Docker, BuildKit or Python.

Examples:
  hoist build -t qwen2:0.5b-q4 ./model-dir
  hoist build -f Dockerfile.q8 -t m:q8 --build-arg TYPE=Q8_0 --target final .",
    ),
    (
        "list",
        "One line per name: architecture as llama.cpp and Hugging Face's model_type name it (bert, qwen2), types in \
upper case (F32, Q4_K_M), for every format. A Docker Hub model pulled by its short name shows under that name.

Examples:
  hoist list
  hoist list --json | jq -r '.[].reference'
  hoist list -q",
    ),
    (
        "inspect",
        "Reads the manifest and config from the store, or with --remote from the registry (nothing else is \
downloaded). --gguf reads the GGUF headers only (remote: HTTP ranges).

Examples:
  hoist inspect qwen2:0.5b-q5
  hoist inspect --json qwen2 | jq .config
  hoist inspect --remote --gguf registry.example.com/team/qwen2:1",
    ),
    (
        "tag",
        "Examples:
  hoist tag qwen2:0.5b-q5 registry.example.com/team/qwen2:latest
  hoist tag 3f2a9c mine:1 --json",
    ),
    (
        "rm",
        "A name goes; blobs go when no name references them (unless another hoist process is writing: then \
`hoist prune` later). An ID or digest with several names needs -f.

Examples:
  hoist rm qwen2:0.5b-q5
  hoist rm -f 3f2a9c
  hoist rm --json old:1",
    ),
    (
        "prune",
        "Examples:
  hoist prune
  hoist prune --json",
    ),
    (
        "verify",
        "Re-hashes every blob; exits 1 when one is corrupt or missing. Layers of partially pulled models are counted \
as not pulled, not missing.

Examples:
  hoist verify
  hoist verify --json --progress none",
    ),
    (
        "login",
        "Checks the credentials against the registry, then saves them in Docker's config.json (0600), where docker, \
skopeo and crane find them too. The password comes only from standard input.

Examples:
  hoist login localhost:5000 -u me --password-stdin --json < password.txt
  echo \"$TOKEN\" | hoist login registry.example.com -u me --password-stdin",
    ),
    (
        "push",
        "What the registry has is skipped, what another repository of it has is mounted. Without TARGET the \
source's own name is used: it must name a registry, or be a Docker Hub model pulled by its short name.

Examples:
  hoist push qwen2:0.5b-q5 registry.example.com/team/qwen2:0.5b-q5
  hoist push qwen2:0.5b-q5 me/qwen2:0.5b-q5          # Docker Hub: docker.io/me/qwen2
  hoist push m:1 localhost:5000/m:1 --json",
    ),
    (
        "pull",
        "A name without a registry that the store does not hold is Docker Hub's, as for docker: ai/smollm2 is \
docker.io/ai/smollm2:latest, x is docker.io/library/x. The model is stored under its full name (and under the \
short name typed). --include/--exclude fetch only some layers; a later pull without them fetches the rest. An \
interrupted pull resumes.

Examples:
  hoist pull ai/smollm2
  hoist pull registry.example.com/team/qwen2:0.5b-q5
  hoist pull --include '*.gguf' registry.example.com/team/qwen2:1
  hoist pull --platform linux/amd64 registry.example.com/team/bundle:1 --json",
    ),
    (
        "copy",
        "Registry to registry (blobs mounted inside one registry, streamed between two), or to and from OCI \
image-layout directories (oci:DIR[:TAG]). Names without a registry are Docker Hub's.

Examples:
  hoist copy registry-a.example.com/x:1 registry-b.example.com/y:1
  hoist copy ai/smollm2 localhost:5000/mirror/smollm2
  hoist copy registry.example.com/team/qwen2:1 oci:./layout:v1 --json",
    ),
    (
        "estimate",
        "llama.cpp's allocation model: weights per device, KV cache, compute and output buffers. A remote model \
(a name the store lacks; without a registry, Docker Hub's) is read by its header bytes only.

Examples:
  hoist estimate qwen2:0.5b-q5 -c 8192 --flash-attn off --gpu-layers 20
  hoist estimate ./model.gguf --json
  hoist estimate registry.example.com/team/qwen2:1",
    ),
    (
        "weights",
        "Examples:
  hoist weights lock bert=./model.safetensors config=./config.json -o weights.lock
  hoist weights lock a=./a.bin --compress zstd --json
  hoist weights gen --count 3 --output-dir ./w --seed 1",
    ),
    (
        "bundle",
        "Examples:
  hoist bundle my-image:1 --weights weights.lock -t app:1
  hoist bundle r.example.com/team/app:1 --weights weights.lock -t r.example.com/app:v1 --push --json",
    ),
    (
        "unpack",
        "A runtime directory of hardlinks to the store's blobs; tar layers are extracted, paths that would leave the \
directory are refused. --json prints its fields (root is the directory).

Examples:
  hoist unpack qwen2:0.5b-q5
  hoist unpack app:1 ./rootfs --platform linux/arm64 --json",
    ),
    (
        "quantize",
        "Examples:
  hoist quantize model-f16.gguf model-q4km.gguf Q4_K_M
  hoist quantize in.gguf out.gguf IQ4_XS --imatrix imatrix.gguf --json",
    ),
    (
        "convert",
        "Examples:
  hoist convert ./Qwen2-0.5B ./qwen2-f16.gguf --type f16
  hoist convert ./bert-dir ./bert.gguf --json",
    ),
    (
        "completion",
        "The script asks hoist itself at each Tab, so it completes subcommands, flags and the model names in the \
store the command line names (--store, else $HOIST_HOME or the default).

Examples:
  hoist completion fish > ~/.config/fish/completions/hoist.fish
  source <(hoist completion bash)          # in ~/.bashrc
  source <(hoist completion zsh)           # in ~/.zshrc",
    ),
];

/// The clap command with every page added (a command another version
/// dropped is skipped).
pub fn command() -> clap::Command {
    let mut command = Cli::command();
    for (name, page) in PAGES {
        if command.find_subcommand(name).is_some() {
            command = command.mut_subcommand(name, |c| c.after_long_help(wrap(page, WIDTH)));
        }
    }
    command
}

/// The width the pages are wrapped to (the options above wrap at 100 too).
const WIDTH: usize = 100;

/// Wraps the prose lines at `width` columns, between words; indented lines
/// (examples) are kept as they are.
fn wrap(page: &str, width: usize) -> String {
    let mut out = Vec::new();
    for line in page.lines() {
        if line.starts_with(' ') || line.len() <= width {
            out.push(line.to_string());
            continue;
        }
        let mut current = String::new();
        for word in line.split(' ') {
            if !current.is_empty() && current.len() + 1 + word.len() > width {
                out.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        out.push(current);
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_wraps_between_words_and_examples_stay() {
        let page = "one two three four five six\n  hoist pull a-long-example-line";
        assert_eq!(wrap(page, 9), "one two\nthree\nfour five\nsix\n  hoist pull a-long-example-line");
    }
}
