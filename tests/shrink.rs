//! `meshsim shrink` through the binary, on a scenario of its own
//! (tests/fixtures/shrink/errors.yaml: 20 s, back failing 30 % of its requests against a
//! 95 % users' success rate, and an irrelevant slowdown of front): the written scenario has
//! lost the irrelevant fault, kept the one that matters, and still fails the expectation
//! when `meshsim run` runs it; a seed that passes is exit 1, bad input exit 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const FIXTURE: &str = "tests/fixtures/shrink/errors.yaml";
const EXPECTATION: &str = "users mostly succeed";

fn meshsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-shrink-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn shrink_drops_the_irrelevant_fault_and_the_result_still_fails_the_same_expectation() {
    let dir = scratch("min");
    let min = dir.join("min.yaml");
    // The original fails: the users' success rate is far below 95 %.
    let o = meshsim(&[
        "run",
        FIXTURE,
        "--seed",
        "1",
        "-q",
        "--report",
        "json",
        "--out",
        s(&dir.join("original")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    let o = meshsim(&[
        "shrink",
        FIXTURE,
        "--seed",
        "1",
        "--out",
        s(&min),
        "--jobs",
        "2",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!("seed 1: `{EXPECTATION}` fails: observed ")),
        "{out}"
    );
    // Faults are tried first, in file order: the irrelevant one goes with the first run.
    assert!(
        out.contains("removed or reduced (") && out.contains("  - removed fault `front-is-slow`\n"),
        "{out}"
    );
    assert!(!out.contains("removed fault `back-fails`"), "{out}");
    assert!(
        out.contains(&format!("replay: meshsim run {} --seed 1\n", min.display())),
        "{out}"
    );
    assert!(!out.contains("stopped at --max-runs"), "{out}");
    // The search went on past the faults: the run and the window are shorter.
    assert!(out.contains("  - duration 20s → 10s\n"), "{out}");

    let written = std::fs::read_to_string(&min).expect("the smaller scenario");
    // Out of the YAML; named only in the header's list of what was removed.
    let yaml: Vec<&str> = written
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        !yaml.iter().any(|l| l.contains("front-is-slow")),
        "{written}"
    );
    assert!(
        written.contains("#   - removed fault `front-is-slow`\n"),
        "{written}"
    );
    assert!(
        !written.contains("Irrelevant"),
        "its comment went with it:\n{written}"
    );
    assert!(written.contains("name: back-fails"), "{written}");
    assert!(
        written.starts_with("# Written by `meshsim shrink "),
        "{written}"
    );
    // The mesh file is found from the new place.
    assert!(
        !written.contains("files: [../scenarios/shop.cfn.yaml]"),
        "the mesh path must follow the file:\n{written}"
    );

    // Replayed as printed, it fails the same expectation, and it is smaller.
    let o = meshsim(&[
        "run",
        s(&min),
        "--seed",
        "1",
        "-q",
        "--report",
        "json",
        "--out",
        s(&dir.join("replay")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("replay").join("report.json")).expect("report.json"),
    )
    .expect("json");
    let verdict = report["expectations"]
        .as_array()
        .expect("expectations")
        .iter()
        .find(|v| v["name"] == EXPECTATION)
        .expect("the expectation");
    assert_eq!(verdict["held"], false, "{verdict}");
    assert!(verdict["observed"].as_f64().is_some(), "{verdict}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_budget_stops_the_search_at_the_same_place_whatever_the_jobs() {
    let dir = scratch("budget");
    let shrink = |jobs: &str, out: &Path| {
        meshsim(&[
            "shrink",
            FIXTURE,
            "--seed",
            "1",
            "--max-runs",
            "4",
            "--jobs",
            jobs,
            "-q",
            "--out",
            s(out),
        ])
    };
    let (one, three) = (dir.join("one.yaml"), dir.join("three.yaml"));
    let o = shrink("1", &one);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("stopped at --max-runs 4"), "{}", text(&o));
    assert!(
        text(&o).contains("removed or reduced (4 runs"),
        "{}",
        text(&o)
    );
    let o = shrink("3", &three);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("removed or reduced (4 runs"),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_to_string(&one).expect("one"),
        std::fs::read_to_string(&three).expect("three")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_seed_that_does_not_fail_is_exit_1_and_bad_input_exit_2() {
    let dir = scratch("codes");
    let out = dir.join("min.yaml");
    // The invariant holds in this run: nothing to shrink.
    let o = meshsim(&[
        "shrink",
        FIXTURE,
        "--seed",
        "1",
        "--expect",
        "invariant no-request-lost holds",
        "--out",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("held with this seed"), "{}", text(&o));
    assert!(!out.exists());

    // An expectation the scenario lacks: named with the ones it has, before any run.
    let o = meshsim(&[
        "shrink",
        FIXTURE,
        "--seed",
        "1",
        "--expect",
        "users succeed",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no expectation named `users succeed`") && text(&o).contains(EXPECTATION),
        "{}",
        text(&o)
    );

    // A broken scenario: file, line and field, exit 2.
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(FIXTURE)
            .expect("fixture")
            .replace("percent: 30", "percent: lots"),
    )
    .expect("write");
    let o = meshsim(&["shrink", s(&bad), "--seed", "1", "--diagnostics", "short"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("bad.yaml:"), "{}", text(&o));
    assert!(text(&o).contains("percent"), "{}", text(&o));

    // No seed: a usage error.
    let o = meshsim(&["shrink", FIXTURE]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}
