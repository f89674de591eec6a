//! Inputs that fuzzing found (tests/fuzz_regressions/<target>-<what>.bin), replayed with
//! the checks of the fuzz target they came from.

mod common;

use std::path::Path;

use hoist_gguf::{EstimateOptions, GgufError, HeaderFetchPlan, estimate, parse_header};

fn header_checks(data: &[u8]) {
    let len = data.len() as u64;
    let open = parse_header(data, None);
    let closed = parse_header(data, Some(len));
    match (&open, &closed) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(GgufError::Incomplete { needed }), _) => assert!(*needed > len),
        (Ok(_), Err(_)) | (Err(_), Ok(_)) => panic!("{open:?} vs {closed:?}"),
        _ => {}
    }
    if let Ok(h) = closed {
        let _ = h.summary();
        if let Ok(r) = h.report() {
            let _ = r.to_string();
        }
        let _ = estimate(&[&h], &EstimateOptions::default());
        let mut plan = HeaderFetchPlan::new(Some(len));
        while let Some(r) = plan.next_range() {
            plan.feed(&data[r.start as usize..(r.end.min(len)) as usize]).unwrap();
        }
        assert_eq!(plan.header(), Some(&h));
    }
}

#[test]
fn replay_fuzz_findings() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("header-") {
            header_checks(&data);
            n += 1;
        }
    }
    assert!(n >= 1);
}

/// header target, first crash: the tiny model's header with two scores mutated to NaN.
#[test]
fn nan_scores_parse_to_equal_headers() {
    let data = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions/header-nan-score.bin"))
        .unwrap();
    let a = parse_header(&data, None).unwrap();
    let b = parse_header(&data, Some(data.len() as u64)).unwrap();
    assert_eq!(a, b);
}
