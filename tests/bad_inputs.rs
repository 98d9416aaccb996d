//! Bad input through the binary: every kind is refused with exit 2 and a message that names
//! the file, line and field (or the flag) before any simulation runs; a value that makes a
//! part of the run pointless is a warning at its line. Also what an interrupted run leaves.
//!
//! The scenarios are the shipped baseline with one thing changed, written to a scratch folder
//! and run from there, so positions read `name.yaml:line:column`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-bad-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// `meshsim ARGS` run in `dir`.
fn meshsim_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// scenarios/baseline.yaml with each `(old, new)` replaced (each must be there), written to
/// `dir/name` with its mesh found where it is.
fn baseline(dir: &Path, name: &str, edits: &[(&str, &str)]) -> String {
    let mut text =
        std::fs::read_to_string(Path::new(ROOT).join("scenarios/baseline.yaml")).expect("baseline");
    let mesh = Path::new(ROOT).join("scenarios/ordering/mesh.cfn.yaml");
    text = text.replace(
        "files: [ordering/mesh.cfn.yaml]",
        &format!("files: [\"{}\"]", mesh.display()),
    );
    for (old, new) in edits {
        assert!(text.contains(old), "baseline.yaml has no `{old}`");
        text = text.replacen(old, new, 1);
    }
    std::fs::write(dir.join(name), &text).expect("write scenario");
    text
}

/// The 1-based line of `text` where `needle` first appears.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).expect("needle in text");
    text[..at].matches('\n').count() + 1
}

/// Exit 2, nothing simulated, and one short diagnostic line that starts `name:line:` and
/// names `field`, with `words` in it.
#[track_caller]
fn refused(o: &Output, position: &str, field: &str, words: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("real time"), "a simulation ran:\n{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with(position))
        .unwrap_or_else(|| panic!("no diagnostic at {position}:\n{err}"));
    assert!(line.contains(&format!("(at {field})")), "{line}");
    for w in words {
        assert!(line.contains(w), "no `{w}` in: {line}");
    }
}

/// Exit 2 from the command line parser, naming the flag, with `words` in the message.
#[track_caller]
fn flag_refused(o: &Output, flag: &str, words: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("'{flag} <")),
        "the message names no {flag}:\n{err}"
    );
    for w in words {
        assert!(err.contains(w), "no `{w}` in:\n{err}");
    }
}

#[test]
fn a_workload_that_sends_nothing_before_the_end_is_refused_at_its_rate() {
    let dir = scratch("no-traffic");
    for (name, rate) in [
        ("constant.yaml", "rate: { constant: 0 }"),
        ("ramp.yaml", "rate: { ramp: { from: 0, to: 0, over: 1m } }"),
        ("late.yaml", "rate: { steps: [ { at: 20m, rps: 100 } ] }"),
    ] {
        let text = baseline(&dir, name, &[("rate: { constant: 100 }", rate)]);
        let o = meshsim_in(&dir, &["run", name, "--diagnostics", "short"]);
        let at = format!("{name}:{}:3:", line_of(&text, "rate:"));
        refused(&o, &at, "workload.rate", &["error[no-traffic]", "0 to 10m"]);
    }
    // Steps that start within the scenario's 10 minutes but after a shorter --duration.
    let text = baseline(
        &dir,
        "later.yaml",
        &[(
            "rate: { constant: 100 }",
            "rate: { steps: [ { at: 2m, rps: 100 } ] }",
        )],
    );
    let o = meshsim_in(
        &dir,
        &[
            "run",
            "later.yaml",
            "--duration",
            "90s",
            "--diagnostics",
            "short",
        ],
    );
    let at = format!("later.yaml:{}:3:", line_of(&text, "rate:"));
    refused(&o, &at, "workload.rate", &["1m30s with --duration"]);
}

#[test]
fn durations_past_a_day_are_refused_in_the_file_and_on_the_command_line() {
    let dir = scratch("long");
    baseline(&dir, "long.yaml", &[("duration: 10m", "duration: 99999h")]);
    let o = meshsim_in(&dir, &["run", "long.yaml", "--diagnostics", "short"]);
    refused(
        &o,
        "long.yaml:9:11:",
        "duration",
        &["99999h", "at most 24h"],
    );
    let text = baseline(
        &dir,
        "timeout.yaml",
        &[(
            "rate: { constant: 100 }",
            "rate: { constant: 100 }\n  timeout: 99999h",
        )],
    );
    let o = meshsim_in(&dir, &["run", "timeout.yaml", "--diagnostics", "short"]);
    let at = format!("timeout.yaml:{}:12:", line_of(&text, "timeout:"));
    refused(&o, &at, "workload.timeout", &["99999h", "at most 24h"]);
    for (value, words) in [
        ("99999h", &["99999h", "at most 24h"][..]),
        ("0", &["longer than 0"][..]),
        ("0s", &["longer than 0"][..]),
        ("-5m", &["negative"][..]),
    ] {
        for command in ["run", "tui"] {
            let o = meshsim_in(
                &dir,
                &[command, "long.yaml", "--duration", value, "--out", "o"],
            );
            flag_refused(&o, "--duration", words);
        }
    }
}

#[test]
fn a_tick_the_world_cannot_honour_is_refused() {
    // Apps and sidecars sleep on tokio's millisecond timer: any other tick would put their
    // clock out of step with the network's (a 10.3 ms service measured as 1.1 ms at 100 µs).
    let dir = scratch("tick");
    let text = baseline(
        &dir,
        "tick.yaml",
        &[("latency: 1ms", "latency: 1ms\n  tick: 100us")],
    );
    let o = meshsim_in(&dir, &["run", "tick.yaml", "--diagnostics", "short"]);
    let at = format!("tick.yaml:{}:9:", line_of(&text, "tick:"));
    refused(&o, &at, "network.tick", &["must be 1ms", "100µs"]);
}

#[test]
fn a_latency_that_is_not_whole_ticks_is_refused() {
    let dir = scratch("half-tick");
    let text = baseline(&dir, "half.yaml", &[("latency: 1ms", "latency: 1500us")]);
    let o = meshsim_in(&dir, &["run", "half.yaml", "--diagnostics", "short"]);
    let at = format!("half.yaml:{}:", line_of(&text, "latency: 1500us"));
    refused(
        &o,
        &at,
        "network.latency",
        &["whole number of ticks", "1.5ms"],
    );
}

#[test]
fn a_fault_that_starts_after_the_end_is_a_warning_at_its_start() {
    let dir = scratch("late-fault");
    let fault = "faults:\n  - name: too-late\n    kind: crash\n    target: { task: inventory-v1-2 }\n    start: 2s\n";
    let text = baseline(
        &dir,
        "late.yaml",
        &[("expect:", &format!("{fault}\nexpect:"))],
    );
    let o = meshsim_in(
        &dir,
        &[
            "run",
            "late.yaml",
            "--duration",
            "1s",
            "--out",
            "out",
            "--diagnostics",
            "short",
        ],
    );
    let err = stderr(&o);
    let at = format!(
        "late.yaml:{}:12: warning[range]",
        line_of(&text, "start: 2s")
    );
    let line = err
        .lines()
        .find(|l| l.starts_with(&at))
        .unwrap_or_else(|| panic!("no warning at {at}:\n{err}"));
    assert!(line.contains("(at faults[0].start)"), "{line}");
    assert!(
        line.contains("1s with --duration") && line.contains("never happens"),
        "{line}"
    );
    // A warning: the run goes ahead.
    assert!(err.contains("real time"), "{err}");
    assert_ne!(o.status.code(), Some(2), "{err}");
}

#[test]
fn output_places_that_cannot_take_the_report_fail_before_the_run() {
    let dir = scratch("out");
    baseline(&dir, "s.yaml", &[]);
    std::fs::write(dir.join("a-file"), "not a folder").expect("file");
    for (args, words) in [
        (
            &["--out", "a-file"][..],
            &["--out a-file", "a-file is a file, not a folder"][..],
        ),
        (
            &["--out", "a-file/report"][..],
            &["--out a-file/report", "a-file is a file"][..],
        ),
        (
            &["--out", "o", "--junit", "."][..],
            &["--junit .", "is a folder, not a file"][..],
        ),
        (
            &["--out", "o", "--junit", "a-file/j.xml"][..],
            &["--junit a-file/j.xml", "a-file is a file"][..],
        ),
    ] {
        let o = meshsim_in(&dir, &[&["run", "s.yaml"][..], args].concat());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("nothing was run") && !err.contains("real time"),
            "{err}"
        );
        for w in words {
            assert!(err.contains(w), "{args:?}: no `{w}` in {err}");
        }
    }
    // The default folder, reports/<scenario>/<seed>/, with `reports` a file.
    std::fs::write(dir.join("reports"), "in the way").expect("file");
    let o = meshsim_in(&dir, &["run", "s.yaml"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the report folder reports/baseline/42") && err.contains("--out"),
        "{err}"
    );
    // A folder nobody may create (sysfs refuses even root).
    if Path::new("/sys/kernel").is_dir() {
        let o = meshsim_in(&dir, &["run", "s.yaml", "--out", "/sys/meshsim-out"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains("--out /sys/meshsim-out: cannot create the folder"),
            "{err}"
        );
    }
}

/// A real requests.jsonl and report.json from a short run with traces.
fn traced_run(dir: &Path) -> PathBuf {
    baseline(
        dir,
        "t.yaml",
        &[(
            "name: baseline",
            "name: baseline\nreport: { trace_sample: 0.05 }",
        )],
    );
    let o = meshsim_in(
        dir,
        &[
            "run",
            "t.yaml",
            "--duration",
            "2s",
            "--report",
            "json,traces",
            "--out",
            "run",
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    dir.join("run")
}

#[test]
fn explain_names_the_broken_line_of_requests_jsonl_and_an_unreadable_report_json() {
    let dir = scratch("explain");
    let run = traced_run(&dir);
    let jsonl = std::fs::read_to_string(run.join("requests.jsonl")).expect("jsonl");
    let lines: Vec<&str> = jsonl.lines().collect();
    assert!(lines.len() >= 3, "{} sampled", lines.len());
    let id_of = |line: &str| {
        let v: serde_json::Value = serde_json::from_str(line).expect("record");
        v["trace_id"].as_str().expect("trace_id").to_string()
    };
    let (second, last) = (id_of(lines[1]), id_of(lines[lines.len() - 1]));
    // Line 2 corrupted; then a file cut short in its last line.
    let mut corrupt = lines.clone();
    corrupt[1] = "{\"trace_id\": 12";
    std::fs::write(run.join("requests.jsonl"), corrupt.join("\n") + "\n").expect("write");
    let o = meshsim_in(&dir, &["explain", "run", "--request", &second]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("run/requests.jsonl:2:"), "{err}");
    assert!(!err.contains("not sampled"), "{err}");
    let cut = &jsonl[..jsonl.len() - lines[lines.len() - 1].len() / 2 - 1];
    std::fs::write(run.join("requests.jsonl"), cut).expect("write");
    let o = meshsim_in(&dir, &["explain", "run", "--request", &last]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("run/requests.jsonl:{}:", lines.len())),
        "{err}"
    );
    assert!(!err.contains("not sampled"), "{err}");
    // report.json cut short: --rerun cannot learn the command, and says the file is why.
    std::fs::remove_file(run.join("requests.jsonl")).expect("remove");
    let report = std::fs::read_to_string(run.join("report.json")).expect("report");
    std::fs::write(run.join("report.json"), &report[..report.len() / 2]).expect("write");
    let o = meshsim_in(&dir, &["explain", "run", "--request", &second, "--rerun"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("run/report.json:") && err.contains("cannot be read"),
        "{err}"
    );
    assert!(!err.contains("rerunning"), "{err}");
}

#[test]
fn a_tab_in_the_indentation_is_reported_on_its_own_line() {
    let dir = scratch("tab");
    std::fs::write(
        dir.join("mesh.yaml"),
        "Resources:\n  Mesh:\n    Type: AWS::AppMesh::Mesh\n\t  Properties: {}\n",
    )
    .expect("write");
    let o = meshsim_in(&dir, &["validate", "mesh.yaml", "--diagnostics", "short"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("mesh.yaml:4:1: error[syntax]"), "{err}");
    assert!(err.contains("tab"), "{err}");
    let text = baseline(&dir, "s.yaml", &[("    workers: 32", "  \tworkers: 32")]);
    let o = meshsim_in(&dir, &["run", "s.yaml", "--diagnostics", "short"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let at = format!("s.yaml:{}:3: error[syntax]", line_of(&text, "\tworkers"));
    assert!(err.contains(&at), "{at}: {err}");
}

#[test]
fn a_seed_out_of_range_names_the_flag_and_the_range() {
    let dir = scratch("seed");
    baseline(&dir, "s.yaml", &[]);
    let range = "0 to 18446744073709551615 (2^64 - 1)";
    for seed in ["-1", "1.5", "18446744073709551616", "x"] {
        for args in [
            &["run", "s.yaml", "--seed", seed][..],
            &["tui", "s.yaml", "--seed", seed][..],
            &["check", "mesh.yaml", "--policy", "p.yaml", "--seed", seed][..],
        ] {
            let o = meshsim_in(&dir, args);
            flag_refused(&o, "--seed", &[range, &format!("`{seed}`")]);
        }
    }
}

#[test]
fn check_with_no_cases_or_absurdly_many_is_a_usage_error() {
    let dir = scratch("cases");
    for (cases, words) in [
        ("0", &["at least 1 case"][..]),
        ("-3", &["1 to 1000000"][..]),
        ("4000000000", &["1 to 1000000"][..]),
    ] {
        let o = meshsim_in(
            &dir,
            &["check", "mesh.yaml", "--policy", "p.yaml", "--cases", cases],
        );
        flag_refused(&o, "--cases", words);
    }
}

#[test]
fn an_empty_mesh_file_or_one_without_app_mesh_resources_is_an_error() {
    let dir = scratch("empty");
    std::fs::write(dir.join("empty.yaml"), "").expect("write");
    std::fs::write(dir.join("comments.yaml"), "# nothing yet\n\n").expect("write");
    std::fs::write(
        dir.join("deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\n",
    )
    .expect("write");
    for (file, code) in [
        ("empty.yaml", "error[empty]"),
        ("comments.yaml", "error[empty]"),
        ("deployment.yaml", "error[no-resources]"),
    ] {
        for command in ["validate", "show"] {
            let o = meshsim_in(&dir, &[command, file, "--diagnostics", "short"]);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{command} {file}: {err}");
            assert!(err.contains(&format!("{file}:1:1: {code}")), "{err}");
            assert!(
                !String::from_utf8_lossy(&o.stdout).contains(": ok"),
                "{command} {file}"
            );
        }
    }
    // Beside a file with App Mesh resources, a Deployment is fine (the controller's input).
    let mesh = Path::new(ROOT).join("scenarios/ordering/mesh.cfn.yaml");
    let o = meshsim_in(
        &dir,
        &["validate", "deployment.yaml", mesh.to_str().expect("utf-8")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Starts a long run into `out` (which holds an earlier run's report), sends `signal` once
/// the fault schedule shows, and returns the exit code and stderr.
fn interrupted(dir: &Path, out: &str, signal: &str) -> (Option<i32>, String) {
    use std::io::Read as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(["run", "s.yaml", "--out", out, "--access-log", "full"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut err = child.stderr.take().expect("stderr");
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("late-crash") {
        let n = err.read(&mut buf).expect("read stderr");
        assert!(
            n > 0,
            "the run ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    err.read_to_end(&mut seen).expect("read stderr");
    let status = child.wait().expect("wait");
    (status.code(), String::from_utf8_lossy(&seen).into_owned())
}

#[test]
fn sigint_and_sigterm_stop_a_run_and_leave_the_previous_report() {
    let dir = scratch("signals");
    // The fault's line on stderr says the run has started: a log gets no progress lines.
    let text = baseline(&dir, "s.yaml", &[]);
    let late = "\nfaults:\n  - name: late-crash\n    kind: crash\n    target: { task: inventory-v1-1 }\n    start: 9m\n";
    std::fs::write(dir.join("s.yaml"), text + late).expect("write scenario");
    let earlier = meshsim_in(
        &dir,
        &["run", "s.yaml", "--duration", "1s", "--out", "out", "-q"],
    );
    assert!(earlier.status.success(), "{}", stderr(&earlier));
    let listing = |dir: &Path| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .expect("out")
            .map(|e| {
                let p = e.expect("entry").path();
                let name = p.file_name().expect("name").to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap_or_default())
            })
            .collect();
        files.sort();
        files
    };
    let before = listing(&dir.join("out"));
    assert!(before.iter().any(|(n, _)| n == "report.json"));
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let (status, err) = interrupted(&dir, "out", signal);
        assert_eq!(status, Some(code), "SIG{signal}: {err}");
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!("meshsim: stopped by SIG{signal} at ")),
            "{err}"
        );
        assert!(last.contains("nothing was written"), "{last}");
        // The progress line was ended before the message.
        assert!(err.contains(&format!("\n{last}")), "{err:?}");
        assert_eq!(
            listing(&dir.join("out")),
            before,
            "SIG{signal} changed the folder"
        );
    }
}

#[test]
fn expectations_no_run_can_meet_are_refused_at_their_line() {
    let dir = scratch("never-holds");
    let text = baseline(
        &dir,
        "zero.yaml",
        &[("p99: \"<= 100ms\"", "p99: \"<= 0ms\"")],
    );
    let o = meshsim_in(&dir, &["run", "zero.yaml", "--diagnostics", "short"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("real time"), "a simulation ran:\n{err}");
    let at = format!("zero.yaml:{}:", line_of(&text, "p99: \"<= 0ms\""));
    let line = err
        .lines()
        .find(|l| l.starts_with(&at))
        .unwrap_or_else(|| panic!("no diagnostic at {at}:\n{err}"));
    assert!(line.contains("can never hold"), "{line}");
}
