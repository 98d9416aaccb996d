//! `meshsim sweep` through the binary: the same figures whatever `--jobs`, shards merged
//! byte for byte into the unsharded sweep.json, `--vary` refusing paths the scenario lacks.
//! The fixture (tests/fixtures/sweep/canary.yaml) decides within 25 simulated seconds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const FIXTURE: &str = "tests/fixtures/sweep/canary.yaml";

fn meshsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-sweep-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

fn sweep(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "sweep",
        FIXTURE,
        "--duration",
        "25s",
        "-q",
        "--out",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    meshsim(&args)
}

fn schema_errors(json: &str) -> Vec<String> {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string("docs/sweep.schema.json").unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let doc: Value = serde_json::from_str(json).unwrap();
    v.iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn the_same_seeds_give_the_same_files_whatever_the_jobs() {
    let (one, three) = (scratch("j1"), scratch("j3"));
    ok(&sweep(&one, &["--seeds", "4", "--jobs", "1"]));
    ok(&sweep(&three, &["--seeds", "4", "--jobs", "3"]));
    for f in ["sweep.json", "sweep.md", "sweep.html"] {
        assert_eq!(
            read(&one, f),
            read(&three, f),
            "{f} differs between --jobs 1 and 3"
        );
    }
    let json = read(&one, "sweep.json");
    assert_eq!(schema_errors(&json), Vec::<String>::new());
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["runs_finished"], 4);
    assert_eq!(v["partial"], false);
    // A 5 % error rate against a 99 % success-rate check: the rollout rolls back, and the
    // figures say so (not a constant: the fixture's `percent: 0` promotes, tested below).
    let rolled = v["points"][0]["decisions"]["rolled_back"]["count"]
        .as_u64()
        .unwrap();
    assert!(rolled >= 3, "{json}");
    let worst = &v["points"][0]["worst"][0]["command"];
    assert!(
        worst
            .as_str()
            .unwrap()
            .starts_with("meshsim run tests/fixtures/sweep/canary.yaml --seed "),
        "{worst}"
    );
    assert!(read(&one, "sweep.md").contains("| rolled back | "));
}

#[test]
fn shards_run_as_separate_processes_merge_into_the_unsharded_sweep_byte_for_byte() {
    let (whole, parts, merged) = (scratch("whole"), scratch("parts"), scratch("merged"));
    ok(&sweep(
        &whole,
        &["--seeds", "3", "--first-seed", "10", "--jobs", "2"],
    ));
    let shards: Vec<_> = ["1/2", "2/2"]
        .iter()
        .map(|s| {
            Command::new(env!("CARGO_BIN_EXE_meshsim"))
                .args([
                    "sweep",
                    FIXTURE,
                    "--duration",
                    "25s",
                    "-q",
                    "--seeds",
                    "3",
                    "--first-seed",
                    "10",
                    "--jobs",
                    "1",
                ])
                .args(["--shard", s, "--out", parts.to_str().unwrap()])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("starts")
        })
        .collect();
    for mut s in shards {
        assert!(s.wait().unwrap().success());
    }
    assert!(
        !parts.join("sweep.json").exists(),
        "a shard writes only its part"
    );
    // Only one part: refused, naming the missing shard.
    let only = scratch("only");
    std::fs::create_dir_all(&only).unwrap();
    std::fs::copy(
        parts.join("sweep-part-1-of-2.json"),
        only.join("sweep-part-1-of-2.json"),
    )
    .unwrap();
    let out = meshsim(&["sweep", "merge", only.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard(s) 2 of 2 missing"));
    ok(&meshsim(&[
        "sweep",
        "merge",
        parts.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]));
    for f in ["sweep.json", "sweep.md", "sweep.html"] {
        assert_eq!(
            read(&whole, f),
            read(&merged, f),
            "{f}: merged differs from unsharded"
        );
    }
}

#[test]
fn vary_draws_the_operating_characteristic_and_refuses_unknown_paths() {
    let dir = scratch("vary");
    ok(&sweep(
        &dir,
        &[
            "--seeds",
            "2",
            "--jobs",
            "2",
            "--vary",
            "faults[v2-returns-500s].percent=0..10/10",
        ],
    ));
    let v: Value = serde_json::from_str(&read(&dir, "sweep.json")).unwrap();
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(points[0]["value"], "0");
    // A healthy candidate is promoted, a 10 % failing one rolled back.
    assert_eq!(
        points[0]["decisions"]["promoted"]["count"],
        2,
        "{}",
        read(&dir, "sweep.md")
    );
    assert_eq!(points[1]["decisions"]["rolled_back"]["count"], 2);
    assert_eq!(
        schema_errors(&read(&dir, "sweep.json")),
        Vec::<String>::new()
    );
    let html = read(&dir, "sweep.html");
    assert!(
        html.contains("<svg") && html.contains("<polyline"),
        "the OC curve is drawn"
    );
    assert!(read(&dir, "sweep.md").contains("## Operating characteristic"));

    for (path, says) in [
        (
            "faults[v2-returns-500s].percnt=0..1/1",
            "did you mean `percent`",
        ),
        (
            "faults[v2-return-500s].percent=0..1/1",
            "did you mean `v2-returns-500s`",
        ),
        ("workload.rat.constant=1..2/1", "did you mean `rate`"),
        ("faults[3].percent=0..1/1", "past the end"),
        ("faults[0].kind=0..1/1", "not a number"),
    ] {
        let out = sweep(&scratch("bad"), &["--seeds", "1", "--vary", path]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path}: {err}");
        assert!(err.contains(says), "{path}: {err}");
    }
    // A value the scenario refuses is refused before any run, with the scenario's own error.
    let out = sweep(
        &scratch("bad"),
        &["--seeds", "1", "--vary", "faults[0].percent=100..200/100"],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ctrl_c_stops_the_sweep_and_writes_what_finished_marked_partial() {
    let dir = scratch("interrupted");
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args([
            "sweep",
            FIXTURE,
            "-q",
            "--seeds",
            "200",
            "--jobs",
            "1",
            "--out",
            dir.to_str().unwrap(),
        ])
        .spawn()
        .expect("starts");
    // Long enough for the scenario to load and the handler to be in place; far too short
    // for 200 runs.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "exits as interrupted");
    let json = read(&dir, "sweep.json");
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["partial"], true);
    assert!(v["runs_finished"].as_u64().unwrap() < 200);
    assert_eq!(schema_errors(&json), Vec::<String>::new());
    assert!(read(&dir, "sweep.md").contains("partial"));
}
