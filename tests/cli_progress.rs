//! `meshsim run`'s progress: a bar with percentage and ETA in a terminal (tmux), taken off the
//! screen at the end; one final line in a log; nothing with `-q`; never on standard output.
//! `meshsim sweep`'s: a bar of runs with ETA in a terminal, which Ctrl-C takes off as it stops
//! the sweep; nothing in a log.
//!
//! tmux is installed by `.ci/run`; outside CI a machine without it skips the terminal test
//! with a message, in CI (`CI` set) its absence fails the test.

use crate::support;

use std::path::PathBuf;
use std::process::{Command, Output};

use support::tmux::{self, Tmux};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-progress-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn run(out: &std::path::Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(["run", "scenarios/baseline.yaml", "--duration", "5s"])
        .arg("--out")
        .arg(out)
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run meshsim")
}

/// What a progress bar or the old progress line leaves in a stream.
fn has_progress(text: &str) -> bool {
    text.contains('\r')
        || text.contains('\x1b')
        || text.contains("ETA")
        || text.contains("simulated")
}

#[test]
fn a_log_gets_one_final_line_and_quiet_gets_nothing() {
    let dir = scratch("log");
    let o = run(&dir.join("log"), &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{err}");
    // One line, at the end (the old progress line redrew itself every 200 ms of wall time).
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("simulated 5.0s in ") && lines[0].contains("real time"),
        "{err}"
    );
    assert!(!err.contains('\r') && !err.contains("ETA"), "{err:?}");
    assert!(!has_progress(&out), "{out:?}");

    let o = run(&dir.join("quiet"), &["-q"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.is_empty(), "{err}");
    // The report is the same whether or not anyone watched.
    for file in ["report.json", "summary.md"] {
        assert_eq!(
            std::fs::read(dir.join("log").join(file)).expect("log report"),
            std::fs::read(dir.join("quiet").join(file)).expect("quiet report"),
            "{file}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_terminal_gets_a_bar_with_percentage_and_eta_and_then_the_final_line() {
    if !tmux::available("cli_progress's terminal test") {
        return;
    }
    let dir = scratch("tmux");
    let tmux = Tmux::new(format!("meshsim-progress-{}", std::process::id()));
    // Standard output to a file, standard error the terminal: the bar must go to the one and
    // nothing of it to the other. The run is long enough to be seen under way, and the pane
    // stays open after it.
    let command = format!(
        "{} run scenarios/baseline.yaml --duration 60s --out {} > {}; echo EXIT=$?; sleep 60",
        env!("CARGO_BIN_EXE_meshsim"),
        dir.join("out").display(),
        dir.join("stdout.txt").display()
    );
    let o = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "100",
        "-y",
        "10",
        "-c",
        env!("CARGO_MANIFEST_DIR"),
        "bash",
        "--norc",
        "--noprofile",
        "-c",
        &command,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let under_way = tmux.wait_for("the progress bar", 60, |s| {
        s.contains("% ETA") || s.contains("EXIT=")
    });
    let bar = under_way
        .lines()
        .find(|l| l.contains("% ETA"))
        .unwrap_or_else(|| panic!("the run ended before a bar was seen:\n{under_way}"));
    assert!(
        bar.contains("s of 60s simulated") && bar.contains("% ok"),
        "{bar}"
    );
    assert!(bar.contains('#') || bar.contains('>'), "{bar}");
    let end = tmux.wait_for("the end of the run", 240, |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");
    // The bar was taken off; the final line stands where it was.
    assert!(!end.contains("% ETA"), "{end}");
    assert!(end.contains("real time"), "{end}");
    let stdout = std::fs::read_to_string(dir.join("stdout.txt")).expect("stdout");
    assert!(stdout.contains("report:"), "{stdout}");
    assert!(
        !stdout.contains("ETA") && !stdout.contains('\r') && !stdout.contains('\x1b'),
        "{stdout:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `meshsim sweep` on the sweep tests' fixture (decides within 25 simulated seconds).
fn sweep_command(out: &std::path::Path, seeds: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_meshsim"));
    c.args([
        "sweep",
        "tests/fixtures/sweep/canary.yaml",
        "--duration",
        "25s",
        "--seeds",
        seeds,
        "--jobs",
        "1",
    ])
    .arg("--out")
    .arg(out)
    .current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[test]
fn a_sweep_in_a_log_draws_no_progress() {
    let dir = scratch("sweep-log");
    let o = sweep_command(&dir, "1").output().expect("run meshsim");
    let err = String::from_utf8_lossy(&o.stderr);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{err}");
    // The hand-written `\r` line the sweep had before went to a log too; the bar does not.
    assert!(!has_progress(&err) && !err.contains("runs"), "{err:?}");
    assert!(!has_progress(&out), "{out:?}");
    assert!(out.contains("sweep.json"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts `command` in a fresh tmux session of 100 columns and 10 lines, in the repository.
fn tmux_with(name: &str, command: &str) -> Tmux {
    let tmux = Tmux::new(format!("meshsim-{name}-{}", std::process::id()));
    let o = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "100",
        "-y",
        "10",
        "-c",
        env!("CARGO_MANIFEST_DIR"),
        "bash",
        "--norc",
        "--noprofile",
        "-c",
        command,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    tmux
}

#[test]
fn a_sweep_in_a_terminal_gets_a_bar_of_runs_with_eta_and_ctrl_c_still_stops_it_cleanly() {
    if !tmux::available("cli_progress's sweep terminal test") {
        return;
    }
    let dir = scratch("sweep-tmux");
    let sweep = |seeds: &str, out: &str| {
        format!(
            "{} sweep tests/fixtures/sweep/canary.yaml --duration 25s --seeds {seeds} --jobs 1 --out {} > {}; echo EXIT=$?; sleep 60",
            env!("CARGO_BIN_EXE_meshsim"),
            dir.join(out).display(),
            dir.join(format!("{out}.txt")).display()
        )
    };
    // Two runs to the end: the bar is there from the start (0/2), counts the runs, and is
    // taken off the screen before the shell's next line.
    let tmux = tmux_with("sweep-bar", &sweep("2", "whole"));
    let first = tmux.wait_for("the sweep's bar", 60, |s| {
        s.contains("/2 runs ETA") || s.contains("EXIT=")
    });
    let bar = first
        .lines()
        .find(|l| l.contains("/2 runs ETA"))
        .unwrap_or_else(|| panic!("the sweep ended before a bar was seen:\n{first}"));
    assert!(bar.contains("| promoted "), "{bar}");
    let counted = tmux.wait_for("a finished run on the bar", 240, |s| {
        s.contains("1/2 runs ETA") || s.contains("EXIT=")
    });
    let bar = counted
        .lines()
        .find(|l| l.contains("1/2 runs ETA"))
        .unwrap_or_else(|| panic!("the bar never showed one run done:\n{counted}"));
    assert!(bar.contains("rolled back") && bar.contains('#'), "{bar}");
    let end = tmux.wait_for("the end of the sweep", 240, |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");
    assert!(!end.contains("runs ETA"), "the bar was left behind:\n{end}");
    let stdout = std::fs::read_to_string(dir.join("whole.txt")).expect("stdout");
    assert!(stdout.contains("sweep.json"), "{stdout}");
    assert!(
        !stdout.contains("ETA") && !stdout.contains('\r') && !stdout.contains('\x1b'),
        "{stdout:?}"
    );
    drop(tmux);

    // Ctrl-C pressed in the terminal while the bar is up: the runs in flight stop, what
    // finished is written marked partial, exit 130. (The terminal echoes `^C` where the
    // cursor is, and the last frame of the bar then stays on the screen above the message,
    // as `meshsim run`'s does: not asserted here.)
    let tmux = tmux_with("sweep-ctrl-c", &sweep("50", "stopped"));
    tmux.wait_for("a finished run on the bar", 240, |s| {
        s.contains("1/50 runs ETA") || s.contains("EXIT=")
    });
    tmux.keys(&["C-c"]);
    let end = tmux.wait_for("the end of the sweep", 120, |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=130"), "{end}");
    assert!(end.contains("stopped by SIGINT"), "{end}");
    let json = std::fs::read_to_string(dir.join("stopped").join("sweep.json")).expect("sweep.json");
    assert!(json.contains("\"partial\": true"), "{json}");
    let _ = std::fs::remove_dir_all(&dir);
}
