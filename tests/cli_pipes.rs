//! A reader that leaves early (`meshsim show mesh.yaml | head -1`): the pipe closes under
//! meshsim's output, and every command must end quietly, without a panic, with the exit code
//! its own result deserves (see `src/cli/out.rs` for why not 141).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Runs meshsim with its standard output a pipe whose reading end is closed before meshsim
/// starts writing (so every write fails with EPIPE, as under `| head -0`), and with standard
/// error read in full, or closed too when `close_stderr` (as under `2>&1 | head -0`).
fn with_stdout_closed(args: &[&str], close_stderr: bool) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start meshsim");
    drop(child.stdout.take());
    if close_stderr {
        drop(child.stderr.take());
    }
    child.wait_with_output().expect("wait for meshsim")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-pipes-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Both the command as given and with standard error closed as well end with `code`, and
/// nothing on standard error speaks of a panic.
#[track_caller]
fn ends_quietly(args: &[&str], code: i32) -> Output {
    let both = with_stdout_closed(args, true);
    assert_eq!(
        both.status.code(),
        Some(code),
        "{args:?}, stderr closed too"
    );
    let o = with_stdout_closed(args, false);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{args:?}:\n{err}"
    );
    assert_eq!(o.status.code(), Some(code), "{args:?}:\n{err}");
    o
}

const ORDERING: &str = "scenarios/ordering/mesh.cfn.yaml";

#[test]
fn show_and_validate_into_a_closed_pipe_end_quietly() {
    for format in ["text", "dot", "json"] {
        ends_quietly(&["show", ORDERING, "--format", format], 0);
    }
    ends_quietly(&["validate", ORDERING], 0);
    ends_quietly(&["--help"], 0);
    ends_quietly(&["run", "--help"], 0);
}

#[test]
fn check_into_a_closed_pipe_keeps_its_verdict() {
    let shop = "tests/fixtures/check/shop.yaml";
    let policy = "tests/fixtures/check/policy.yaml";
    let ok = "tests/fixtures/check/routes-ok.yaml";
    let bad = "tests/fixtures/check/routes-canary-split.yaml";
    for (routes, code) in [(ok, 0), (bad, 1)] {
        let args = [
            "check",
            shop,
            routes,
            "--policy",
            policy,
            "--cases",
            "100",
            "--coverage",
        ];
        ends_quietly(&args, code);
    }
}

#[test]
fn run_and_explain_into_a_closed_pipe_still_write_the_report() {
    let out = scratch("run");
    let dir = out.to_str().expect("utf-8 temp dir");
    let args = [
        "run",
        "scenarios/baseline.yaml",
        "--duration",
        "5s",
        "--report",
        "default,traces",
        "--out",
        dir,
    ];
    let o = ends_quietly(&args, 0);
    let err = String::from_utf8_lossy(&o.stderr);
    // The summary went nowhere, and the run went on to write its report all the same.
    assert!(out.join("report.json").is_file(), "{err}");
    let jsonl = std::fs::read_to_string(out.join("requests.jsonl")).expect("requests.jsonl");
    let first: serde_json::Value =
        serde_json::from_str(jsonl.lines().next().expect("a sampled request")).expect("json");
    let id = first["trace_id"].as_str().expect("trace_id");
    ends_quietly(&["explain", dir, "--request", id], 0);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_full_disk_is_not_a_closed_pipe() {
    // Output lost for another reason than a reader leaving is an error someone must see.
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return;
    };
    let o = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(["show", ORDERING])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(full)
        .output()
        .expect("run meshsim");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("cannot write to standard output"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
