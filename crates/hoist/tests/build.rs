//! `hoist build` on real files: a multi-stage build into the store, read back by
//! `hoist inspect`; the same inputs give the same digest in another store; a
//! failing build tags nothing; a build file's own `.dockerignore`.

mod common;

use common::{Sandbox, minilm_package_dir};

const FILE: &str = "# syntax=gpustack/gguf-packer:latest
ARG TYPE=Q8_0
FROM scratch AS files
COPY models/ /src/
FROM scratch
LABEL org.opencontainers.image.title=tiny
COPY --from=files /src/tiny.${TYPE}.gguf /
CAT <<EOF /system-prompt.txt
You are tiny.
EOF
CMD [\"-m\", \"tiny.${TYPE}.gguf\", \"--system-prompt-file\", \"system-prompt.txt\"]
";

fn context(sandbox: &Sandbox) {
    sandbox.write("ctx/GGUFPackerfile", FILE);
    let gguf = sandbox.tiny_gguf("tiny.gguf");
    std::fs::create_dir_all(sandbox.path("ctx/models")).unwrap();
    std::fs::copy(gguf, sandbox.path("ctx/models/tiny.Q8_0.gguf")).unwrap();
}

#[test]
fn builds_tags_and_reproduces() {
    let sandbox = Sandbox::new();
    context(&sandbox);
    let ctx = sandbox.path("ctx");
    let out = sandbox
        .hoist()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build", "-q", "-t", "tiny:built", "-t", "tiny:also"])
        .arg(&ctx)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let digest = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(digest.starts_with("sha256:"));
    let inspected = sandbox.json(&["inspect", "--json", "tiny:also"]);
    let config = &inspected["config"];
    assert_eq!(config["config"]["Cmd"][1], "tiny.Q8_0.gguf");
    assert_eq!(config["config"]["Labels"]["org.opencontainers.image.title"], "tiny");
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    assert_eq!(inspected["descriptor"]["digest"], digest.as_str());
    let names = inspected["references"].as_array().unwrap().len();
    assert_eq!(names, 2);

    // Another store, the same inputs: the same image.
    let other = sandbox.path("other-store");
    let again = sandbox
        .hoist_at(&other)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build", "-q", "-t", "x:y"])
        .arg(&ctx)
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(String::from_utf8(again.stdout).unwrap().trim(), digest);
}

#[test]
fn errors_tag_nothing() {
    let sandbox = Sandbox::new();
    context(&sandbox);
    sandbox.write("ctx/Dockerfile", "FROM scratch\nCOPY models/ /\nCONVERT a b.gguf\n");
    let out = sandbox
        .hoist()
        .args(["build", "-t", "broken:1", "-f"])
        .arg(sandbox.path("ctx/Dockerfile"))
        .arg(sandbox.path("ctx"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("Dockerfile:3:1: \"a\": no such directory"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
    let list = sandbox.json(&["list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 0);
}

#[test]
fn unused_build_args_warn() {
    let sandbox = Sandbox::new();
    context(&sandbox);
    let out = sandbox
        .hoist()
        .args(["build", "-t", "t:1", "--build-arg", "NOPE=1"])
        .arg(sandbox.path("ctx"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "warning: --build-arg NOPE was not used: no ARG NOPE in the global scope or the stages built\n"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("t:1 sha256:") && stdout.trim_end().ends_with("(2 layers, 0 steps cached)"), "{stdout}");
}

/// The step cache from the command line: a rebuild takes every layer from it,
/// `--no-cache` builds them again, and once no image uses them, removing the
/// image drops them from the cache.
#[test]
fn rebuilds_use_the_step_cache_until_pruned() {
    let sandbox = Sandbox::new();
    context(&sandbox);
    let build = |extra: &[&str]| {
        let out = sandbox.hoist().args(["build", "-t", "tiny:built"]).args(extra).arg(sandbox.path("ctx")).output();
        let out = out.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let first = build(&[]);
    assert!(first.trim_end().ends_with("(2 layers, 0 steps cached)"), "{first}");
    // The files stage's COPY, the target's COPY and CAT.
    let cached = sandbox.store().join("caches/build.json");
    let entries = |path: &std::path::Path| {
        let index: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        index["manifests"].as_array().unwrap().len()
    };
    assert_eq!(entries(&cached), 3);
    let again = build(&[]);
    assert_eq!(again.replace("3 steps cached", "0 steps cached"), first, "the same image, every step cached");
    assert_eq!(build(&["--no-cache"]), first);

    sandbox.hoist().args(["rm", "tiny:built"]).assert().success();
    assert_eq!(entries(&cached), 0, "rm prunes, and the cache entries go with their layers");
    assert_eq!(build(&[]), first);
}

/// `--format docker|modelpack`: the target stage's files packed as `hoist
/// pack` packs them, the same artifact to the digest; CMD names the model and
/// the template, the license is known by its name.
#[test]
fn artifact_formats_are_what_pack_makes() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.path("ctx")).unwrap();
    std::fs::copy(sandbox.tiny_gguf("tiny.gguf"), sandbox.path("ctx/tiny.gguf")).unwrap();
    sandbox.write("ctx/LICENSE", "MIT");
    sandbox.write("ctx/template.tmpl", "{{ messages }}");
    sandbox.write(
        "ctx/GGUFPackerfile",
        "FROM scratch AS files\nCOPY . /src/\nFROM scratch\nCOPY --from=files /src/tiny.gguf /src/LICENSE /src/template.tmpl /\n\
         CMD [\"-m\", \"tiny.gguf\", \"--chat-template-file\", \"template.tmpl\"]\n",
    );
    for (format, pack_format) in [("docker", "docker"), ("modelpack", "modelpack")] {
        let built = format!("built:{format}");
        let out = sandbox
            .hoist()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["build", "-q", "--format", format, "-t", &built, "-t", &format!("also:{format}")])
            .arg(sandbox.path("ctx"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let digest = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let packed = format!("packed:{format}");
        let out = sandbox
            .hoist()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["pack", "-q", "--format", pack_format, "-t", &packed, "--license"])
            .arg(sandbox.path("ctx/LICENSE"))
            .arg("--chat-template")
            .arg(sandbox.path("ctx/template.tmpl"))
            .arg(sandbox.path("ctx/tiny.gguf"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let by_pack = sandbox.json(&["inspect", "--json", &packed]);
        let by_build = sandbox.json(&["inspect", "--json", &built]);
        assert_eq!(by_build["descriptor"]["digest"], by_pack["descriptor"]["digest"], "{by_build:#}\n{by_pack:#}");
        assert_eq!(by_build["descriptor"]["digest"], digest.as_str());
        let also = sandbox.json(&["inspect", "--json", &format!("also:{format}")]);
        assert_eq!(also["descriptor"]["digest"], digest.as_str());
    }
}

#[test]
fn run_and_estimate_read_a_built_image() {
    let sandbox = Sandbox::new();
    context(&sandbox);
    let out = sandbox.hoist().args(["build", "-q", "-t", "tiny:built"]).arg(sandbox.path("ctx")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dry = sandbox.hoist().args(["run", "--dry-run", "tiny:built"]).output().unwrap();
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let line = String::from_utf8(dry.stdout).unwrap();
    let argv: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(argv[0], "llama-server");
    assert_eq!(argv[1], "-m");
    assert!(argv[2].ends_with("/tiny.Q8_0.gguf"), "{line}");
    assert_eq!(argv.len(), 3, "llama-server no longer takes the stored --system-prompt-file: {line}");
    assert!(String::from_utf8_lossy(&dry.stderr).contains("system-prompt.txt: llama-server no longer takes it"));
    let estimate = sandbox.hoist().args(["estimate", "tiny:built"]).output().unwrap();
    assert!(estimate.status.success(), "{}", String::from_utf8_lossy(&estimate.stderr));
    assert!(String::from_utf8(estimate.stdout).unwrap().contains("llama"));
}

#[test]
fn skopeo_copies_a_built_image() {
    common::require_tool("skopeo", "apt-get install -y skopeo");
    let sandbox = Sandbox::new();
    context(&sandbox);
    let out = sandbox.hoist().args(["build", "-q", "-t", "tiny:built"]).arg(sandbox.path("ctx")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let source = format!("oci:{}:tiny:built", sandbox.store().display());
    let config = std::process::Command::new("skopeo").args(["inspect", "--config"]).arg(&source).output().unwrap();
    assert!(config.status.success(), "skopeo: {}", String::from_utf8_lossy(&config.stderr));
    let config: serde_json::Value = serde_json::from_slice(&config.stdout).unwrap();
    assert_eq!(config["config"]["Cmd"][0], "-m");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    // Every blob is readable and checks out: skopeo verifies digests as it copies.
    let copy = sandbox.path("copy");
    let out = std::process::Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(&source)
        .arg(format!("oci:{}:tiny", copy.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&out.stderr));
    let copied = std::fs::read_dir(copy.join("blobs/sha256")).unwrap().count();
    // Manifest, config and two layers.
    assert_eq!(copied, 4);
}

/// From a Hugging Face checkpoint to a quantized model image with one build
/// file: CONVERT and QUANTIZE run the same code as `hoist convert` and `hoist
/// quantize`, so the image holds exactly the files those commands write.
#[test]
fn convert_and_quantize_in_a_build_write_what_the_commands_write() {
    let sandbox = Sandbox::new();
    let package = minilm_package_dir();
    let file = sandbox.write(
        "Dockerfile",
        "FROM scratch\nCONVERT --from=context --type=f16 model /minilm.f16.gguf\n\
         QUANTIZE --type=Q8_0 /minilm.f16.gguf /minilm.q8.gguf\nCMD [\"-m\", \"minilm.q8.gguf\"]\n",
    );
    sandbox.hoist().args(["build", "-q", "-t", "minilm:q8", "-f"]).arg(&file).arg(&package).assert().success();

    let converted = sandbox.path("f16.gguf");
    let quantized = sandbox.path("q8.gguf");
    sandbox.hoist().args(["convert", "--type", "f16"]).arg(package.join("model")).arg(&converted).assert().success();
    sandbox
        .hoist()
        .args(["quantize", "--progress", "none"])
        .arg(&converted)
        .arg(&quantized)
        .arg("Q8_0")
        .assert()
        .success();

    let unpacked = sandbox.path("unpacked");
    sandbox.hoist().args(["unpack", "minilm:q8"]).arg(&unpacked).assert().success();
    let in_image = |name: &str| {
        let found = walkdir::WalkDir::new(&unpacked).into_iter().flatten().find(|e| e.file_name() == name);
        std::fs::read(found.unwrap_or_else(|| panic!("{name} is not in the image")).path()).unwrap()
    };
    assert!(in_image("minilm.f16.gguf") == std::fs::read(&converted).unwrap(), "CONVERT wrote other bytes");
    assert!(in_image("minilm.q8.gguf") == std::fs::read(&quantized).unwrap(), "QUANTIZE wrote other bytes");
    let config = sandbox.json(&["inspect", "--json", "minilm:q8"]);
    assert_eq!(config["config"]["config"]["Model"]["Architecture"], "bert", "{config}");
}

/// BuildKit's ignore file per build file: `-f sub/Model.GGUFPackerfile` uses
/// `sub/Model.GGUFPackerfile.dockerignore` instead of the context's
/// `.dockerignore`; the default build file, without one, uses the context's.
/// What an ignore file leaves out is not looked at: changing it is a cache
/// hit; changing the ignore file changes the context, and rebuilds.
#[test]
fn a_build_files_own_dockerignore_replaces_the_contexts() {
    let sandbox = Sandbox::new();
    context(&sandbox);
    sandbox.write("ctx/README.md", "readme");
    sandbox.write("ctx/secret.txt", "secret");
    sandbox.write("ctx/.dockerignore", "secret.txt\n");
    let copy_all = "FROM scratch\nCOPY . /all/\nCMD [\"-m\", \"all/models/tiny.Q8_0.gguf\"]\n";
    sandbox.write("ctx/GGUFPackerfile", copy_all);
    let own = sandbox.write("ctx/sub/Model.GGUFPackerfile", copy_all);
    sandbox.write("ctx/sub/Model.GGUFPackerfile.dockerignore", "README.md\n*/*.dockerignore\n");
    let builds = std::cell::Cell::new(0);
    // The build's summary line, and the files it copied.
    let build = |file: Option<&std::path::Path>| {
        let mut cmd = sandbox.hoist();
        cmd.args(["build", "-t", "ignored:1"]);
        if let Some(file) = file {
            cmd.arg("-f").arg(file);
        }
        let out = cmd.arg(sandbox.path("ctx")).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        builds.set(builds.get() + 1);
        let unpacked = sandbox.path(&format!("unpacked-{}", builds.get()));
        sandbox.hoist().args(["unpack", "ignored:1"]).arg(&unpacked).assert().success();
        let all = unpacked.join("model/all");
        let files: Vec<String> = walkdir::WalkDir::new(&all)
            .sort_by_file_name()
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .map(|e| e.path().strip_prefix(&all).unwrap().to_string_lossy().into_owned())
            .collect();
        (String::from_utf8(out.stdout).unwrap(), files)
    };
    let (_, files) = build(Some(&own));
    let expect = [".dockerignore", "GGUFPackerfile", "models/tiny.Q8_0.gguf", "secret.txt", "sub/Model.GGUFPackerfile"];
    assert_eq!(files, expect);
    let (_, files) = build(None);
    let expect = [
        ".dockerignore",
        "GGUFPackerfile",
        "README.md",
        "models/tiny.Q8_0.gguf",
        "sub/Model.GGUFPackerfile",
        "sub/Model.GGUFPackerfile.dockerignore",
    ];
    assert_eq!(files, expect);

    sandbox.write("ctx/README.md", "the readme, longer now");
    let (stdout, _) = build(Some(&own));
    assert!(stdout.trim_end().ends_with("(1 layer, 1 step cached)"), "an ignored file changed: {stdout}");
    sandbox.write("ctx/sub/Model.GGUFPackerfile.dockerignore", "*/*.dockerignore\n");
    let (stdout, files) = build(Some(&own));
    assert!(stdout.trim_end().ends_with("(1 layer, 0 steps cached)"), "the ignore file changed: {stdout}");
    assert!(files.contains(&"README.md".to_string()), "{files:?}");
}

/// What the kernel counted for a child that has exited: its `rchar` and
/// `wchar` (bytes passed to read and write calls, page cache or not), read
/// from /proc before the child is reaped.
fn io_of(mut command: std::process::Command) -> (u64, u64) {
    use nix::sys::wait::{Id, WaitPidFlag, waitid};
    let child = command.stdout(std::process::Stdio::null()).spawn().unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT).unwrap();
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    let field = |name: &str| -> u64 {
        let line = io.lines().find_map(|l| l.strip_prefix(name)).unwrap();
        line.trim_start_matches(':').trim().parse().unwrap()
    };
    let counts = (field("rchar"), field("wchar"));
    let status = child.wait_with_output().unwrap().status;
    assert!(status.success(), "the build failed");
    counts
}

/// `--format docker|modelpack` reads each weight once and writes it once:
/// pack reads the context file where it lies (or a cached layer in place), and
/// the target stage's COPY writes no tar layer of it first. One pass is the
/// file plus some hundred KiB (GGUF headers for the config, tar headers of a
/// cached layer, the store's index files); a second pass would be another
/// whole file, so the bound is half a file over one pass. (Twice the file plus
/// slack would let the second pass through: it read 2.004x before.)
#[test]
fn artifact_builds_read_and_write_each_weight_once() {
    let sandbox = Sandbox::new();
    let model = sandbox.path("ctx/model.gguf");
    std::fs::create_dir_all(sandbox.path("ctx")).unwrap();
    let tiny = hoist_gguf::synth::TinyModel { target_size: 64 << 20, ..Default::default() };
    tiny.write_to_path(&model).unwrap();
    let size = std::fs::metadata(&model).unwrap().len();
    sandbox.write("ctx/GGUFPackerfile", "FROM scratch\nCOPY model.gguf /\nCMD [\"-m\", \"model.gguf\"]\n");
    // The last build finds the image build's layer in the step cache, and
    // packs the file from inside it.
    for (format, store) in [("docker", "docker"), ("modelpack", "modelpack"), ("image", "image"), ("docker", "image")] {
        let mut build = std::process::Command::new(env!("CARGO_BIN_EXE_hoist"));
        build.arg("--store").arg(sandbox.path(&format!("store-{store}")));
        build.args(["build", "-q", "--format", format, "-t", "m:1"]).arg(sandbox.path("ctx"));
        build.env_remove("HOIST_HOME").env_remove("SOURCE_DATE_EPOCH");
        let (read, written) = io_of(build);
        let bound = size + size / 2;
        assert!(read < bound, "--format {format}: read {read} bytes of a {size}-byte file");
        assert!(written < bound, "--format {format}: wrote {written} bytes of a {size}-byte file");
        assert!(read >= size && written >= size, "--format {format}: {read} read, {written} written");
    }
}
