//! The build-file parser, the planner and the word expansion on arbitrary text:
//! nothing panics; parsing is deterministic; every location is inside the file;
//! every expansion setting either expands or fails cleanly.

#![no_main]

use std::collections::BTreeMap;

use hoist_build::Error;
use hoist_build::expand::Lexer;
use hoist_build::parse::parse;
use hoist_build::plan::{NoPlanReporter, PlanOptions, plan};
use libfuzzer_sys::fuzz_target;

fn check_location(line: usize, column: usize, lines: usize) {
    assert!(line >= 1 && line <= lines.max(1), "line {line} of {lines}");
    assert!(column >= 1, "column {column}");
}

fn check_error(e: &Error, lines: usize) {
    let at = match e {
        Error::Syntax { at, .. }
        | Error::Invalid { at, .. }
        | Error::Expand { at, .. }
        | Error::UndefinedStage { at, .. }
        | Error::Cycle { at, .. }
        | Error::Write { at, .. } => at,
        Error::UnknownTarget { .. } | Error::Read { .. } | Error::Store(_) => return,
    };
    check_location(at.line, at.column, lines);
    assert!(e.to_string().starts_with("fuzz:"));
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.strip_prefix('\u{feff}').unwrap_or(&text).split_inclusive('\n').count();

    let first = parse("fuzz", &text);
    let again = parse("fuzz", &text);
    match (&first, &again) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("two parses of the same text disagree"),
    }
    match &first {
        Ok(file) => {
            for inst in &file.instructions {
                check_location(inst.at.line, inst.at.column, lines);
                assert!(inst.end_line >= inst.at.line && inst.end_line <= lines);
            }
            let build_args: BTreeMap<String, String> = [("A", "x y"), ("T", "Q4_K_M"), ("P", "*/?")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let mut targets = vec![None];
            for inst in &file.instructions {
                if let hoist_build::Command::From(f) = &inst.command {
                    targets.extend(f.name.clone().map(Some));
                }
            }
            for target in targets.into_iter().take(3) {
                let options = PlanOptions { build_args: build_args.clone(), target };
                match plan(file, &options, &NoPlanReporter) {
                    Ok(p) => {
                        assert_eq!(p.order.last(), Some(&p.target));
                        for &s in &p.order {
                            assert!(p.stages[s].needs.iter().all(|n| p.order.contains(n)));
                        }
                    }
                    Err(e) => check_error(&e, lines),
                }
            }
        }
        Err(e) => check_error(e, lines),
    }

    // The word expansion, under every setting the crate uses.
    let env: Vec<(String, String)> = [("A", "x y"), ("EMPTY", ""), ("P", "a*b?c\\"), ("K", "한국어")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for escape in ['\\', '`'] {
        for flags in 0..16u8 {
            let mut lexer = Lexer::new(escape);
            lexer.raw_quotes = flags & 1 != 0;
            lexer.raw_escapes = flags & 2 != 0;
            lexer.skip_unset = flags & 4 != 0;
            lexer.skip_quotes = flags & 8 != 0;
            if let Ok(e) = lexer.expand(&text, &env) {
                // Words never hold whitespace that came from outside quotes of a
                // plain word, and never are empty.
                assert!(e.words.iter().all(|w| !w.is_empty()));
                assert!(e.matched.is_disjoint(&e.unmatched));
            }
        }
    }
});
