use std::cell::RefCell;

use super::*;
use crate::parse::parse;

#[derive(Default)]
struct Collect(RefCell<Vec<String>>);

impl PlanReporter for Collect {
    fn warning(&self, message: &str) {
        self.0.borrow_mut().push(message.to_string());
    }
}

fn plan_of(src: &str, args: &[(&str, &str)], target: Option<&str>) -> (Result<Plan, Error>, Vec<String>) {
    let file = parse("GGUFPackerfile", src).unwrap_or_else(|e| panic!("{e}"));
    let options = PlanOptions {
        build_args: args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        target: target.map(str::to_string),
    };
    let reporter = Collect::default();
    let plan = plan(&file, &options, &reporter);
    (plan, reporter.0.into_inner())
}

fn ok(src: &str, args: &[(&str, &str)]) -> Plan {
    plan_of(src, args, None).0.unwrap_or_else(|e| panic!("{e}"))
}

fn err(src: &str, args: &[(&str, &str)], target: Option<&str>) -> String {
    plan_of(src, args, target).0.unwrap_err().to_string()
}

fn labels(stage: &Stage) -> Vec<(String, String)> {
    stage
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Label(l) => Some(l.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn globals_are_seen_in_from_and_in_every_stage() {
    let src = "ARG BASE=scratch\nARG T=Q4_K_M\nARG NAME=m.${T}\nFROM ${BASE} AS one\nLABEL t=$T n=${NAME}\nFROM one\nLABEL again=$T";
    let p = ok(src, &[]);
    assert_eq!(p.globals.get("NAME").map(String::as_str), Some("m.Q4_K_M"));
    assert_eq!(p.stages[0].base, Base::Scratch);
    assert_eq!(p.stages[1].base, Base::Stage(0));
    assert_eq!(labels(&p.stages[0]), pairs(&[("t", "Q4_K_M"), ("n", "m.Q4_K_M")]));
    assert_eq!(labels(&p.stages[1]), pairs(&[("again", "Q4_K_M")]));
    assert_eq!(p.order, [0, 1]);
}

#[test]
fn build_args_override_defaults_and_unused_ones_are_reported() {
    let src = "ARG T=Q4_K_M\nFROM scratch\nARG S=stage\nARG T\nLABEL t=$T s=$S";
    let (p, warnings) = plan_of(src, &[("T", "Q8_0"), ("S", "given"), ("NOPE", "1")], None);
    let p = p.unwrap();
    assert_eq!(labels(&p.stages[0]), pairs(&[("t", "Q8_0"), ("s", "given")]));
    assert_eq!(warnings, ["--build-arg NOPE was not used: no ARG NOPE in the global scope or the stages built"]);
}

#[test]
fn stage_args_take_the_global_value_and_defaults_see_the_stage() {
    let src = "ARG G=g\nFROM scratch AS a\nARG L=${G}-l\nARG G\nLABEL l=$L g=$G\nFROM a\nLABEL inherited=$L\nFROM scratch\nLABEL other=${L:-unset}";
    let p = plan_of(src, &[], Some("a")).0.unwrap();
    assert_eq!(labels(&p.stages[0]), pairs(&[("l", "g-l"), ("g", "g")]));
    assert_eq!(p.order, [0]);
    // Stages the target does not need are not planned.
    assert!(p.stages[1].steps.is_empty() && p.stages[2].steps.is_empty());
    let p = plan_of(src, &[], Some("1")).0;
    assert!(p.is_err());
    let p = ok(&src.replace("FROM a\n", "FROM a AS b\n"), &[]);
    assert_eq!(labels(&p.stages[2]), pairs(&[("other", "unset")]));
    let p = plan_of(&src.replace("FROM a\n", "FROM a AS b\n"), &[], Some("B")).0.unwrap();
    assert_eq!(labels(&p.stages[1]), pairs(&[("inherited", "g-l")]));
    assert_eq!(p.order, [0, 1]);
}

#[test]
fn undeclared_variables_are_reported_once() {
    let (p, warnings) = plan_of("FROM scratch\nLABEL a=$X b=${X:-d}\nARG Y\nLABEL y=$Y", &[], None);
    assert_eq!(labels(&p.unwrap().stages[0]), pairs(&[("a", ""), ("b", "d"), ("y", "")]));
    assert_eq!(
        warnings,
        [
            "GGUFPackerfile:2:9: variable X is not declared by any ARG",
            "GGUFPackerfile:2:14: variable X is not declared by any ARG"
        ]
    );
}

#[test]
fn from_options_and_the_graph() {
    let src = "FROM scratch AS f16\nCOPY a.gguf /a.gguf\n\
               FROM scratch AS unused\nCOPY nope /nope\n\
               FROM scratch\nQUANTIZE --from=f16 a.gguf b.gguf\nCOPY --from=0 /a.gguf /\nCOPY --from=context c /\n\
               COPY --from=ghcr.io/x/y:1 /m /\nCONVERT m out.gguf\nCMD [\"-m\", \"b.gguf\"]";
    let p = ok(src, &[]);
    assert_eq!(p.target, 2);
    assert_eq!(p.order, [0, 2]);
    assert_eq!(p.stages[2].needs, BTreeSet::from([0]));
    let froms: Vec<FromRef> = p.stages[2]
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Copy { from, .. } | StepKind::Convert { from, .. } => Some(from.clone()),
            StepKind::Quantize(q) => Some(q.from.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        froms,
        [
            FromRef::Stage(0),
            FromRef::Stage(0),
            FromRef::Context,
            FromRef::Image("ghcr.io/x/y:1".into()),
            FromRef::Current
        ]
    );
    let StepKind::Quantize(q) = &p.stages[2].steps[0].kind else { panic!() };
    assert_eq!(q.out_type, "Q5_K_M");
    let StepKind::Convert { out_type, class, .. } = &p.stages[2].steps[4].kind else { panic!() };
    assert_eq!((out_type.as_str(), class.as_str()), ("F16", "model"));
    let StepKind::Cmd { files, .. } = &p.stages[2].steps[5].kind else { panic!() };
    assert_eq!(files.model.as_ref().unwrap().path, "b.gguf");
}

#[test]
fn a_later_stage_may_be_copied_from_and_cycles_are_errors() {
    let p = ok("FROM scratch AS a\nCOPY --from=b /x /\nFROM scratch AS b\nCOPY x /x\nFROM a", &[]);
    assert_eq!(p.order, [1, 0, 2]);
    assert_eq!(
        err("FROM scratch AS a\nCOPY --from=b /x /\nFROM scratch AS b\nCOPY --from=a /y /", &[], None),
        "GGUFPackerfile:2:1: stages depend on each other in a cycle: b -> a -> b"
    );
    assert_eq!(
        err("FROM scratch AS a\nCOPY --from=a /x /", &[], None),
        "GGUFPackerfile:2:1: stages depend on each other in a cycle: a -> a"
    );
}

#[test]
fn errors() {
    assert_eq!(
        err("FROM scratch\nCOPY --from=builder /x /", &[], None),
        "GGUFPackerfile:2:6: no stage named \"builder\" (an image needs a tag, a digest or a registry, like builder:latest): \"COPY --from=builder /x /\""
    );
    assert_eq!(
        err("FROM scratch\nCOPY --from=${S} /x /", &[], None),
        "GGUFPackerfile:2:6: --from=${S} names nothing (an undefined variable?): \"COPY --from=${S} /x /\""
    );
    assert_eq!(
        err("FROM scratch\nCOPY --from=7 /x /", &[], None),
        "GGUFPackerfile:2:1: --from=7: there is no stage 7 (the file has 1): \"COPY --from=7 /x /\""
    );
    assert_eq!(
        err("FROM scratch AS a\nFROM scratch AS b", &[], Some("c")),
        "target stage \"c\" not found; the named stages are: a, b"
    );
    assert_eq!(
        err("ARG B\nFROM ${B}", &[], None),
        "GGUFPackerfile:2:1: the base \"${B}\" expands to nothing: \"FROM ${B}\""
    );
    assert_eq!(
        err("LABEL a=b\nFROM scratch", &[], None),
        "GGUFPackerfile:1:1: LABEL comes before the first FROM: only ARG may: \"LABEL a=b\""
    );
    assert_eq!(err("ARG A", &[], None), "GGUFPackerfile:1:1: the file has no FROM: \"ARG A\"");
    assert_eq!(
        err("FROM scratch AS a\nFROM scratch AS A", &[], None),
        "GGUFPackerfile:2:1: a stage named \"a\" is already defined at GGUFPackerfile:1:1: \"FROM scratch AS A\""
    );
    assert_eq!(
        err("FROM scratch\nCMD [\"-c\", \"1\"]", &[], None),
        "GGUFPackerfile:2:1: CMD must name the model with -m or --model: \"CMD [\\\"-c\\\", \\\"1\\\"]\""
    );
    assert_eq!(
        err("FROM scratch\nLABEL a=\"b", &[], None),
        "GGUFPackerfile:2:9: unexpected end of text while looking for the matching \": \"\\\"b\""
    );
    assert_eq!(
        err("ARG V\nFROM scratch\nLABEL a=\"${V:?set V}\"", &[], None),
        "GGUFPackerfile:3:9: V: set V: \"\\\"${V:?set V}\\\"\""
    );
    assert_eq!(
        err("FROM scratch\nCONVERT --class=lora a b", &[], None),
        "GGUFPackerfile:2:1: CONVERT --class=lora needs --base (the base model): \"CONVERT --class=lora a b\""
    );
    assert_eq!(
        err("FROM scratch\nARG C=adapter\nCONVERT --class=$C --base=m a b", &[], None),
        "GGUFPackerfile:3:1: CONVERT --class=adapter: --class must be model or lora: \"CONVERT --class=$C --base=m a b\""
    );
    assert_eq!(
        err("FROM scratch\nARG B\nCONVERT --class=lora --base=$B a b", &[], None),
        "GGUFPackerfile:3:1: CONVERT --class=lora needs --base (the base model): \"CONVERT --class=lora --base=$B a b\""
    );
    assert_eq!(
        err("FROM scratch\nCONVERT --base=m a b", &[], None),
        "GGUFPackerfile:2:1: CONVERT --base is for --class=lora (an adapter's base model): \"CONVERT --base=m a b\""
    );
    // Errors in stages the target does not need do not count.
    assert!(plan_of("FROM scratch AS a\nFROM scratch\nLABEL a=\"b", &[], Some("a")).0.is_ok());
}

#[test]
fn cat_words_and_heredocs() {
    let src = "ARG WHO=world\nFROM scratch\nCAT hello  ${WHO} <<A <<'B' again /f\nsaid $WHO\nA\nnot $WHO\nB\n";
    let p = ok(src, &[]);
    let StepKind::Cat { parts, dest } = &p.stages[0].steps[0].kind else { panic!() };
    assert_eq!(dest, "/f");
    assert_eq!(parts, &["hello world", "said world\n", "not $WHO\n", "again"]);
}

#[test]
fn the_seed_example_plans() {
    let src = include_str!("../../tests/data/seed.GGUFPackerfile");
    let (p, warnings) = plan_of(src, &[("QUANTIZE_TYPE", "Q4_K_M")], None);
    let p = p.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(p.order, [0, 1]);
    assert_eq!(p.stages[1].base, Base::Scratch);
    let StepKind::Cmd { args, files } = &p.stages[1].steps.last().unwrap().kind else { panic!() };
    assert_eq!(files.model.as_ref().unwrap().path, "Qwen2-0.5B-Instruct.Q4_K_M.gguf");
    assert!(args[7].starts_with("{% for message in messages %}"));
    assert!(args[7].contains("'\\n'"));
}

#[test]
fn long_chains_are_bounded() {
    let chain = |n: usize| {
        let mut src = String::from("FROM scratch AS s0\n");
        for i in 1..=n {
            src.push_str(&format!("FROM s{} AS s{i}\n", i - 1));
        }
        src
    };
    let p = ok(&chain(MAX_CHAIN), &[]);
    assert_eq!(p.order.len(), MAX_CHAIN + 1);
    let e = err(&chain(MAX_CHAIN + 1), &[], None);
    assert_eq!(
        e,
        format!("GGUFPackerfile:1:1: stages need each other more than {MAX_CHAIN} deep: \"FROM scratch AS s0\"")
    );
}
