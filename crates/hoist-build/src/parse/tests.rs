use super::*;
use crate::instruction::{Command, Files, Source};

fn ok(src: &str) -> Buildfile {
    parse("GGUFPackerfile", src).unwrap_or_else(|e| panic!("{e}"))
}

fn err(src: &str) -> String {
    parse("GGUFPackerfile", src).unwrap_err().to_string()
}

fn texts(words: &[Word]) -> Vec<&str> {
    words.iter().map(|w| w.text.as_str()).collect()
}

fn at(w: &Word) -> (usize, usize) {
    (w.at.line, w.at.column)
}

fn files(cmd: &Command) -> &Files {
    match cmd {
        Command::Add(a) => &a.files,
        Command::Copy(c) => &c.files,
        Command::Cat(f) => f,
        other => panic!("no files in {other:?}"),
    }
}

fn heredocs(cmd: &Command) -> Vec<(&str, &str, bool, bool)> {
    files(cmd)
        .sources
        .iter()
        .filter_map(|s| match s {
            Source::Heredoc(h) => Some((h.name.as_str(), h.content.as_str(), h.expand, h.chomp)),
            Source::Word(_) => None,
        })
        .collect()
}

/// The seed document's quick-start file (its system prompt shortened).
const SEED: &str = r#"# syntax=gpustack/gguf-packer:latest

ARG        BASE=scratch
ARG        QUANTIZE_TYPE=Q5_K_M
ARG        CHAT_TEMPLATE="{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

FROM       scratch AS f16
ADD        https://huggingface.co/Qwen/Qwen2-0.5B-Instruct.git  Qwen2-0.5B-Instruct
CONVERT    --type=F16  Qwen2-0.5B-Instruct  Qwen2-0.5B-Instruct.F16.gguf

FROM       ${BASE}
LABEL      gguf.model.from="Hugging Face"
QUANTIZE   --from=f16 --type=${QUANTIZE_TYPE}  Qwen2-0.5B-Instruct.F16.gguf  Qwen2-0.5B-Instruct.${QUANTIZE_TYPE}.gguf
CAT        <<EOF system-prompt.txt
You are an AI assistant that follows instruction extremely well.
1. Entity Identification.
EOF
CMD        ["-m", "Qwen2-0.5B-Instruct.${QUANTIZE_TYPE}.gguf", "-c", "8192", "--system-prompt-file", "system-prompt.txt", "--chat-template", "${CHAT_TEMPLATE}"]
"#;

#[test]
fn the_seed_example() {
    let f = ok(SEED);
    assert_eq!(f.syntax.as_deref(), Some("gpustack/gguf-packer:latest"));
    let kws: Vec<_> = f.instructions.iter().map(|i| i.command.keyword()).collect();
    assert_eq!(kws, ["ARG", "ARG", "ARG", "FROM", "ADD", "CONVERT", "FROM", "LABEL", "QUANTIZE", "CAT", "CMD"]);
    let Command::Arg(defs) = &f.instructions[2].command else { panic!() };
    assert_eq!(defs.len(), 1);
    assert_eq!(defs[0].name.text, "CHAT_TEMPLATE");
    assert!(defs[0].default.as_ref().unwrap().text.starts_with("\"{% for"));
    let Command::From(from) = &f.instructions[3].command else { panic!() };
    assert_eq!((from.base.text.as_str(), from.name.as_deref()), ("scratch", Some("f16")));
    let Command::Quantize(q) = &f.instructions[8].command else { panic!() };
    assert_eq!(q.from.as_ref().unwrap().text, "f16");
    assert_eq!(q.out_type.as_ref().unwrap().text, "${QUANTIZE_TYPE}");
    assert_eq!(at(&q.src), (13, 48));
    assert_eq!(
        heredocs(&f.instructions[9].command),
        [(
            "EOF",
            "You are an AI assistant that follows instruction extremely well.\n1. Entity Identification.\n",
            true,
            false
        )]
    );
    assert_eq!(files(&f.instructions[9].command).dest.text, "system-prompt.txt");
    let Command::Cmd(args) = &f.instructions[10].command else { panic!() };
    assert_eq!(args.len(), 8);
    assert_eq!(args[7].text, "${CHAT_TEMPLATE}");
    assert_eq!(f.instructions[10].at.line, 18);
}

#[test]
fn continuation_comments_and_blank_lines() {
    let f = ok("FROM scratch\nLABEL a=1 \\\n# a comment\n  \t# another\n    b=2 \\  \n\n   c=3\nLABEL d=4 \\");
    let Command::Label(pairs) = &f.instructions[1].command else { panic!() };
    let keys: Vec<_> = pairs.iter().map(|p| (p.key.text.as_str(), p.value.text.as_str(), at(&p.key))).collect();
    assert_eq!(keys, [("a", "1", (2, 7)), ("b", "2", (5, 5)), ("c", "3", (7, 4))]);
    assert_eq!(f.instructions[1].end_line, 7);
    assert_eq!(f.instructions[1].text, "LABEL a=1     b=2    c=3");
    assert_eq!(f.warnings.len(), 1);
    assert_eq!(f.warnings[0].at.line, 6);
    // A continuation at the end of the file just ends the instruction.
    let Command::Label(pairs) = &f.instructions[2].command else { panic!() };
    assert_eq!(pairs[0].value.text, "4");
}

#[test]
fn an_escaped_escape_is_not_a_continuation() {
    let f = ok("FROM scratch\nCOPY a b\\\\\nCOPY c d");
    assert_eq!(f.instructions.len(), 3);
    assert_eq!(files(&f.instructions[1].command).dest.text, "b\\\\");
}

#[test]
fn escape_directive_with_backtick() {
    let src = "# escape=`\n\nFROM scratch\nCOPY a `\n  C:\\dir\\ \nCOPY x y\\\n";
    let f = ok(src);
    assert_eq!(f.escape, '`');
    let c = files(&f.instructions[1].command);
    assert_eq!(c.dest.text, "C:\\dir\\");
    assert_eq!(at(&c.dest), (5, 3));
    // `\` is an ordinary character now, so no continuation.
    assert_eq!(files(&f.instructions[2].command).dest.text, "y\\");
}

#[test]
fn directives_only_at_the_top() {
    // After a comment, `# escape=` is a comment.
    let f = ok("# hello\n# escape=`\nFROM scratch\nCOPY a b\\\n  c\n");
    assert_eq!(f.escape, '\\');
    assert_eq!(files(&f.instructions[1].command).dest.text, "c");
    assert_eq!(
        err("# escape=x\nFROM scratch"),
        "GGUFPackerfile:1:1: invalid escape character \"x\": it must be ` or \\: \"# escape=x\""
    );
    assert_eq!(
        err("# syntax=a\n# syntax=b\nFROM scratch"),
        "GGUFPackerfile:2:1: only one syntax parser directive can be used: \"# syntax=b\""
    );
}

#[test]
fn bom_crlf_and_case() {
    let f = ok("\u{feff}# syntax=docker/dockerfile:1\r\nfrom scratch as Base\r\ncopy a \\\r\n  b\r\n");
    assert_eq!(f.syntax.as_deref(), Some("docker/dockerfile:1"));
    let Command::From(from) = &f.instructions[0].command else { panic!() };
    assert_eq!(from.name.as_deref(), Some("base"));
    assert_eq!(files(&f.instructions[1].command).dest.text, "b");
}

#[test]
fn heredocs_as_buildkit_reads_them() {
    let src = "FROM scratch
CAT <<EMPTY e
EMPTY
CAT 3<<EMPTY2 e
EMPTY2
CAT <<INDENT i
\tfoo
\tbar
INDENT
CAT <<-UNINDENT u
\tbaz
\tquux
\tUNINDENT
CAT <<-'NOEXPAND' n
\tdon't expand $NAME
NOEXPAND
COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2
COPY <<X <<Y /dest
Y
X
X
Y
COPY <<file.txt /dest
hello world
file.txt
CAT <<eo'f' q
echo foo
eof
CAT <<'e'o\\'f q
echo foo
eo'f
CAT << EOF sp
# not a comment
EOF
COPY [\"<<J\", \"/j\"]
";
    let f = ok(src);
    let docs: Vec<_> = f.instructions[1..].iter().map(|i| heredocs(&i.command)).collect();
    assert_eq!(docs[0], [("EMPTY", "", true, false)]);
    assert_eq!(docs[1], [("EMPTY2", "", true, false)]);
    assert_eq!(docs[2], [("INDENT", "\tfoo\n\tbar\n", true, false)]);
    assert_eq!(docs[3], [("UNINDENT", "baz\nquux\n", true, true)]);
    assert_eq!(docs[4], [("NOEXPAND", "don't expand $NAME\n", false, true)]);
    assert_eq!(docs[5], [("FILE1", "content 1\n", true, false), ("FILE2", "content 2\n", true, false)]);
    assert_eq!(docs[6], [("X", "Y\n", true, false), ("Y", "X\n", true, false)]);
    assert_eq!(docs[7], [("file.txt", "hello world\n", true, false)]);
    assert_eq!(docs[8], [("eof", "echo foo\n", false, false)]);
    assert_eq!(docs[9], [("eo'f", "echo foo\n", false, false)]);
    assert_eq!(docs[10], [("EOF", "# not a comment\n", true, false)]);
    assert_eq!(files(&f.instructions[11].command).dest.text, "sp");
    // In the JSON form `<<J` is a file name.
    assert!(docs[11].is_empty());
    assert_eq!(files(&f.instructions[12].command).sources.len(), 1);
    assert_eq!(f.instructions.len(), 13);
}

#[test]
fn heredoc_errors() {
    assert_eq!(
        err("FROM scratch\nCAT <<EOF f\nabc\n"),
        "GGUFPackerfile:2:1: heredoc \"EOF\" has no terminating line \"EOF\": \"CAT <<EOF f\""
    );
    assert_eq!(
        err("FROM scratch\nCAT a <<EOF\nabc\nEOF\n"),
        "GGUFPackerfile:2:7: CAT cannot take a heredoc as its destination: \"CAT a <<EOF\""
    );
}

#[test]
fn json_and_shell_forms() {
    let f = ok("FROM scratch\nCOPY [\"a b\", \"c\"]\nCOPY [a, b] c\nADD --chmod=644 x  y   z");
    assert_eq!(files(&f.instructions[1].command).dest.text, "c");
    let Source::Word(w) = &files(&f.instructions[1].command).sources[0] else { panic!() };
    assert_eq!(w.text, "a b");
    let srcs: Vec<_> = files(&f.instructions[2].command)
        .sources
        .iter()
        .map(|s| match s {
            Source::Word(w) => w.text.as_str(),
            Source::Heredoc(_) => "heredoc",
        })
        .collect();
    assert_eq!(srcs, ["[a,", "b]"]);
    let Command::Add(add) = &f.instructions[3].command else { panic!() };
    assert_eq!(add.options.chmod.as_ref().unwrap().text, "644");
    assert_eq!(at(add.options.chmod.as_ref().unwrap()), (4, 5));
    assert_eq!(add.files.sources.len(), 2);
    assert_eq!(
        err("FROM scratch\nCOPY [\"a\", 1]"),
        "GGUFPackerfile:2:6: a JSON array of arguments must hold strings only: \"COPY [\\\"a\\\", 1]\""
    );
}

#[test]
fn label_forms() {
    let f = ok("FROM scratch\nLABEL org.x=\"a b\" y='c d' z=\nLABEL old  the value  ");
    let Command::Label(p) = &f.instructions[1].command else { panic!() };
    let kv: Vec<_> = p.iter().map(|p| (p.key.text.as_str(), p.value.text.as_str())).collect();
    assert_eq!(kv, [("org.x", "\"a b\""), ("y", "'c d'"), ("z", "")]);
    let Command::Label(p) = &f.instructions[2].command else { panic!() };
    assert_eq!((p[0].key.text.as_str(), p[0].value.text.as_str()), ("old", "the value"));
    assert_eq!(at(&p[0].value), (3, 12));
    assert_eq!(
        err("FROM scratch\nLABEL a=1 b"),
        "GGUFPackerfile:2:11: expected key=value, found \"b\": \"LABEL a=1 b\""
    );
    assert_eq!(err("FROM scratch\nLABEL x"), "GGUFPackerfile:2:1: LABEL needs a key and a value: \"LABEL x\"");
}

#[test]
fn arg_forms() {
    let f = ok("ARG A B=1 C=\"x y\" D=");
    let Command::Arg(defs) = &f.instructions[0].command else { panic!() };
    let got: Vec<_> =
        defs.iter().map(|d| (d.name.text.as_str(), d.default.as_ref().map(|w| w.text.as_str()), at(&d.name))).collect();
    assert_eq!(
        got,
        [("A", None, (1, 5)), ("B", Some("1"), (1, 7)), ("C", Some("\"x y\""), (1, 11)), ("D", Some(""), (1, 19))]
    );
    assert_eq!(at(defs[1].default.as_ref().unwrap()), (1, 9));
    assert_eq!(err("ARG =1"), "GGUFPackerfile:1:5: ARG names cannot be blank: \"ARG =1\"");
    assert_eq!(err("ARG"), "GGUFPackerfile:1:1: ARG needs a name: \"ARG\"");
}

#[test]
fn from_forms() {
    let f = ok("FROM --platform=linux/amd64 ghcr.io/a/b:1 AS Model.v1");
    let Command::From(from) = &f.instructions[0].command else { panic!() };
    assert_eq!(from.name.as_deref(), Some("model.v1"));
    assert_eq!(from.platform.as_ref().unwrap().text, "linux/amd64");
    assert_eq!(from.base.text, "ghcr.io/a/b:1");
    assert_eq!(
        err("FROM a AS 1x"),
        "GGUFPackerfile:1:11: invalid stage name \"1x\": it must start with a letter and hold only letters, digits, '-', '_' and '.': \"FROM a AS 1x\""
    );
    assert_eq!(
        err("FROM a b"),
        "GGUFPackerfile:1:1: FROM takes an image or stage, and optionally AS and a name: \"FROM a b\""
    );
}

#[test]
fn cmd_rules() {
    assert_eq!(
        err("FROM scratch\nCMD -m x"),
        "GGUFPackerfile:2:5: CMD must use the JSON form, like CMD [\"-m\", \"model.gguf\"]: \"CMD -m x\""
    );
    assert_eq!(err("FROM scratch\nCMD []"), "GGUFPackerfile:2:5: CMD needs arguments: \"CMD []\"");
    assert_eq!(
        err("FROM scratch\nCMD [\"llama-server\"]"),
        "GGUFPackerfile:2:5: CMD holds llama-server's arguments: the first must be an option, not \"llama-server\": \"CMD [\\\"llama-server\\\"]\""
    );
}

#[test]
fn convert_and_quantize() {
    let f = ok(
        "FROM scratch\nCONVERT --class=lora --base=B --from=context a b\nQUANTIZE --pure --imatrix=m --include-weights=x --include-weights=y s d",
    );
    let Command::Convert(c) = &f.instructions[1].command else { panic!() };
    assert_eq!(c.class.as_ref().unwrap().text, "lora");
    assert_eq!(c.base.as_ref().unwrap().text, "B");
    assert!(c.out_type.is_none());
    let Command::Quantize(q) = &f.instructions[2].command else { panic!() };
    assert!(q.pure && !q.leave_output_tensor);
    assert_eq!(texts(&q.include_weights), ["x", "y"]);
    assert_eq!(
        err("FROM scratch\nCONVERT a b c"),
        "GGUFPackerfile:2:1: CONVERT takes one source and one destination, not 3 arguments: \"CONVERT a b c\""
    );
    assert_eq!(
        err("FROM scratch\nQUANTIZE --include-weights=a --exclude-weights=b s d"),
        "GGUFPackerfile:2:30: QUANTIZE takes --include-weights or --exclude-weights, not both: \"QUANTIZE --include-weights=a --exclude-weights=b s d\""
    );
}

#[test]
fn unknown_instructions_and_empty_files() {
    assert_eq!(
        err("FROM scratch\n  RUN echo hi"),
        "GGUFPackerfile:2:3: unknown instruction RUN (hoist builds FROM, ARG, ADD, COPY, CAT, LABEL, CMD, CONVERT and QUANTIZE): \"RUN echo hi\""
    );
    assert_eq!(err("# only\n\n"), "GGUFPackerfile:2:1: the file has no instructions: \"\"");
    assert_eq!(err(""), "GGUFPackerfile:1:1: the file has no instructions: \"\"");
    assert_eq!(
        err("FROM scratch\nCOPY --nope a b"),
        "GGUFPackerfile:2:6: unknown option --nope (COPY takes --chown, --chmod, --link, --exclude, --from, --parents): \"--nope\""
    );
    assert_eq!(
        err("FROM scratch\nCOPY a"),
        "GGUFPackerfile:2:1: COPY needs at least two arguments: sources and a destination: \"COPY a\""
    );
}
