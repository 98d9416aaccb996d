//! `meshsim run` as a user runs it: exit codes, the files it writes, the summary it prints.

use std::path::PathBuf;
use std::process::{Command, Output};

fn meshsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-cli-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn run_writes_the_report_files_and_prints_the_summary() {
    let out = scratch("baseline");
    let o = meshsim(&[
        "run",
        "scenarios/baseline.yaml",
        "--duration",
        "10s",
        "--out",
        out.to_str().expect("utf-8 temp dir"),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    for header in ["service", "requests", "success%", "p99.9 ms"] {
        assert!(stdout.contains(header), "no `{header}` column:\n{stdout}");
    }
    for row in ["(users)", "ingress", "ui-v1", "order-v1", "inventory-v1"] {
        assert!(stdout.contains(row), "no `{row}` row:\n{stdout}");
    }
    assert!(stderr.contains("real time"), "no wall-time line:\n{stderr}");
    for file in [
        "report.json",
        "summary.md",
        "users.hgrm",
        "ui-v1.hgrm",
        "order-v1.hgrm",
        "inventory-v1.hgrm",
        "ingress.hgrm",
    ] {
        assert!(out.join(file).is_file(), "{file} was not written");
    }
    let report = std::fs::read_to_string(out.join("report.json")).expect("report");
    let json: serde_json::Value = serde_json::from_str(&report).expect("valid JSON");
    assert_eq!(json["mode"], "wire");
    assert_eq!(json["scenario"], "baseline");
    assert_eq!(json["seed"], 42);
    let issued = json["requests"]["issued"].as_u64().expect("issued");
    let ok = json["requests"]["succeeded"].as_u64().expect("succeeded");
    let failed = json["requests"]["failed"].as_u64().expect("failed");
    assert!(issued > 500, "{issued}");
    assert_eq!(issued, ok + failed);
    assert_eq!(json["invariants"].as_array().map(Vec::len), Some(5));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn summary_md_of_a_short_baseline_is_stable() {
    let out = scratch("snapshot");
    let o = meshsim(&[
        "run",
        "scenarios/baseline.yaml",
        "--duration",
        "5s",
        "--seed",
        "7",
        "--quiet",
        "--out",
        out.to_str().expect("utf-8 temp dir"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    insta::assert_snapshot!(summary);
    // report.json is what tools read: its text, not only its numbers, stays put.
    let report = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    insta::assert_snapshot!("report_json_of_a_short_baseline", report);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_bad_scenario_exits_2_and_names_the_line() {
    let dir = scratch("bad");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("bad.yaml");
    std::fs::write(
        &path,
        "duration: 1m\nmesh: { files: [] }\ntasks: []\nservices: {}\nworkload:\n  target: x\n  rate: { constant: 10 }\n  mix: [ { weight: -5, path: / } ]\n",
    )
    .expect("write");
    let o = meshsim(&[
        "run",
        path.to_str().expect("utf-8"),
        "--diagnostics",
        "short",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.yaml:8:"), "no line 8 in:\n{stderr}");
    assert!(stderr.contains("weight"), "{stderr}");
    assert!(stderr.contains("nothing was run"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_drawn_fault_schedule_is_printed_and_reported_and_the_same_seed_repeats_it() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/scenarios/random_faults.yaml"
    );
    let run = |name: &str, seed: &str| {
        let dir = scratch(name);
        let o = meshsim(&[
            "run",
            fixture,
            "--seed",
            seed,
            "--out",
            dir.to_str().expect("utf-8"),
        ]);
        // The schedule and progress go to stderr, the summary to stdout: a person sees both.
        let stdout = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
        assert_eq!(o.status.code(), Some(0), "{stdout}");
        let report = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
        let _ = std::fs::remove_dir_all(&dir);
        (stdout, report)
    };
    let (out, report) = run("random-a", "5");
    let (_, again) = run("random-b", "5");
    let (other_out, other) = run("random-c", "6");
    assert!(report == again, "the same seed gave different reports");
    assert_ne!(report, other, "seed 6 drew the same run as seed 5");
    // The schedule is printed before the run, and written into the report, for each seed.
    let json: serde_json::Value = serde_json::from_str(&report).expect("json");
    let faults = json["faults"]
        .as_array()
        .expect("the drawn schedule is in report.json");
    assert!(!faults.is_empty() && faults.len() <= 3, "{faults:?}");
    assert!(out.contains("faults (seed 5)"), "{out}");
    assert!(other_out.contains("faults (seed 6)"), "{other_out}");
    for f in faults {
        let name = f["name"].as_str().expect("named");
        assert!(out.contains(name), "{name} not printed in:\n{out}");
    }
}

#[test]
fn bad_fault_definitions_exit_2_with_their_lines() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/scenarios/faults_section.yaml"
    );
    let o = meshsim(&["run", fixture, "--diagnostics", "short"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    for (line, field) in [
        ("faults_section.yaml:31:", "target"),
        ("faults_section.yaml:32:", "duration"),
        ("faults_section.yaml:35:", "link"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(line) && l.contains(field)),
            "no {line} … {field} in:\n{stderr}"
        );
    }
    assert!(stderr.contains("nothing was run"), "{stderr}");
}
