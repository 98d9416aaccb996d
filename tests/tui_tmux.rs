//! `meshsim tui` as a person uses it: the real binary in a real terminal (tmux), keys sent,
//! the screen read back. The panels appear, space pauses the simulated clock, and `q` leaves
//! the terminal as it found it (main screen, cursor shown, the shell prompt back, the summary
//! printed); the report written is `meshsim run`'s.
//!
//! tmux is installed by `.ci/run`; outside CI a machine without it skips with a message, in
//! CI (`CI` set) its absence fails the test.

// A person's terminal runs on the wall clock: the waits here are wall time.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::Duration;

use support::tmux::{self, Tmux};

/// The shell prompt (capture-pane drops the space after it).
const PROMPT: &str = "READY>";

/// The simulated second in the header (`t 12s / 40s`).
fn clock(screen: &str) -> Option<u64> {
    let after = screen.split("│ t ").nth(1)?;
    after.split('s').next()?.trim().parse().ok()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-tmux-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

/// A tmux server of our own with a `width`×`height` bash at the crate's root showing
/// [`PROMPT`], and a scratch folder; `None` (after a message) when tmux is missing outside CI.
fn shell_session(name: &str, width: u16, height: u16) -> Option<(Tmux, PathBuf)> {
    if !tmux::available("the tmux test") {
        return None;
    }
    let dir = scratch(name);
    let tmux = Tmux::new(format!("meshsim-test-{}-{name}", std::process::id()));
    let shell = format!("env PS1='{PROMPT} ' TERM=xterm-256color bash --norc --noprofile");
    let o = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        &width.to_string(),
        "-y",
        &height.to_string(),
        "-c",
        env!("CARGO_MANIFEST_DIR"),
        &shell,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    tmux.wait_for("the shell prompt", 20, |s| s.contains(PROMPT));
    assert_eq!(tmux.format("#{alternate_on}"), "0");
    Some((tmux, dir))
}

#[test]
fn the_binary_in_tmux_at_80x24_shows_the_panels_pauses_and_restores_the_terminal() {
    // A projector's terminal: the smallest size the screen is laid out for.
    let Some((tmux, dir)) = shell_session("tui", 80, 24) else {
        return;
    };
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let out = dir.join("tui");
    let command = format!(
        "{} tui scenarios/canary-bad-errors.yaml --duration 20s --speed 1 --out {}",
        env!("CARGO_BIN_EXE_meshsim"),
        out.display()
    );
    tmux.keys(&["-l", &command]);
    tmux.keys(&["Enter"]);

    let screen = tmux.wait_for("the panels", 60, |s| {
        s.contains("Service graph") && clock(s).is_some_and(|t| t >= 2)
    });
    for panel in [
        "Service graph",
        "Rollout",
        "inventory-v2",
        "latency, ms",
        "users ok",
        "now 100.00%",
        "retries/s",
        "Charts │ Histogram │ Events │ Faults",
        "space pause",
        "q quit",
    ] {
        assert!(screen.contains(panel), "{panel} missing:\n{screen}");
    }
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "1",
        "the TUI draws on the alternate screen"
    );

    // Space pauses: the simulated clock stands still while wall time goes on.
    tmux.keys(&["Space"]);
    let paused = tmux.wait_for("the pause", 10, |s| s.contains("paused"));
    sleep(Duration::from_millis(2500));
    let later = tmux.screen();
    assert!(later.contains("paused"), "{later}");
    assert_eq!(
        clock(&paused),
        clock(&later),
        "the clock moved while paused:\n{later}"
    );
    let stopped_at = clock(&later).unwrap_or_default();
    assert!(stopped_at < 20, "paused before the end: {stopped_at}");

    // The service graph keeps its key columns at 80×24.
    let row = later
        .lines()
        .find(|l| l.contains("● inventory-v1"))
        .unwrap_or_else(|| panic!("no inventory-v1 row:\n{later}"));
    assert!(row.contains("ms"), "the p99 column at 80x24: {row}");
    assert!(later.contains("up · weight · ok · p99"), "{later}");

    // A window made smaller than 80×24 says what it needs; back at 80×24 the screen returns.
    tmux.cmd(&["resize-window", "-t", "t", "-x", "70", "-y", "20"]);
    tmux.wait_for("the size notice", 10, |s| {
        s.contains("terminal too small") && s.contains("need 80×24")
    });
    tmux.cmd(&["resize-window", "-t", "t", "-x", "80", "-y", "24"]);
    tmux.wait_for("the screen again", 10, |s| s.contains("Service graph"));

    // Tab shows the histogram, then the event log; space resumes; + to full speed runs the
    // rest.
    tmux.keys(&["Tab"]);
    tmux.wait_for("the histogram", 10, |s| {
        s.contains("whole run") && s.contains("p99.99") && s.contains("candidate")
    });
    tmux.keys(&["Tab"]);
    tmux.wait_for("the event log", 10, |s| s.contains("Event log"));
    tmux.keys(&["Space"]);
    tmux.keys(&["+", "+", "+"]);
    let verdict = tmux.wait_for("the verdict", 90, |s| s.contains("VERDICT"));
    assert!(
        verdict.contains(&format!("report {}/report.json", out.display())),
        "the report path at 80x24:\n{verdict}"
    );

    // q restores the terminal: main screen, cursor shown, the prompt back under the summary.
    tmux.keys(&["q"]);
    let shell = tmux.wait_for("the shell again", 30, |s| {
        s.contains("report:") && s.trim_end().ends_with(PROMPT)
    });
    assert!(
        shell.contains("users"),
        "the summary table is printed:\n{shell}"
    );
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "0",
        "left the alternate screen"
    );
    assert_eq!(tmux.format("#{cursor_flag}"), "1", "the cursor is visible");
    assert!(
        !shell.contains("Service graph"),
        "the TUI is gone:\n{shell}"
    );

    // The report is the one `meshsim run` writes with that seed.
    let run_out = dir.join("run");
    let run = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .current_dir(crate_dir)
        .args([
            "run",
            "scenarios/canary-bad-errors.yaml",
            "--duration",
            "20s",
            "-q",
            "--out",
        ])
        .arg(&run_out)
        .output()
        .expect("meshsim run");
    assert!(matches!(run.status.code(), Some(0 | 1)));
    let read = |p: &Path| std::fs::read_to_string(p.join("report.json")).expect("report.json");
    assert_eq!(
        read(&out),
        read(&run_out),
        "pausing and speeding up changed the run"
    );
}

/// `kill -INT` from outside (not the Ctrl-C key, which raw mode turns into a key press): the
/// TUI quits as with `q`, leaving the terminal cooked, on the main screen, with the cursor
/// shown and the summary printed, and exits with 130 as a shell reports an interrupted command.
#[test]
fn a_signal_from_outside_restores_the_terminal() {
    let Some((tmux, dir)) = shell_session("signal", 120, 40) else {
        return;
    };
    let out = dir.join("tui");
    let command = format!(
        "{} tui scenarios/canary-bad-errors.yaml --duration 60s --speed 1 --out {}",
        env!("CARGO_BIN_EXE_meshsim"),
        out.display()
    );
    tmux.keys(&["-l", &command]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the panels", 60, |s| {
        s.contains("Service graph") && clock(s).is_some_and(|t| t >= 1)
    });
    assert_eq!(tmux.format("#{alternate_on}"), "1");

    // The process, found by its output folder, which no other process names.
    let needle = out.display().to_string();
    let pid = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .find(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .unwrap_or_else(|| panic!("no meshsim process for {needle}"));
    let pid = pid.as_str();
    let kill = Command::new("kill")
        .args(["-INT", pid])
        .status()
        .expect("kill runs");
    assert!(kill.success());

    let shell = tmux.wait_for("the shell again", 30, |s| {
        s.trim_end().ends_with(PROMPT) && s.contains("users")
    });
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "0",
        "left the alternate screen:\n{shell}"
    );
    assert_eq!(tmux.format("#{cursor_flag}"), "1", "the cursor is visible");
    assert!(
        !shell.contains("Service graph"),
        "the TUI is gone:\n{shell}"
    );
    // The exit status says a signal ended it (128 + SIGINT), and the terminal left raw mode:
    // after a command exits normally, bash keeps the mode it left, so `stty` sees it.
    tmux.keys(&[
        "-l",
        "echo status-$? tty-mode:$(stty -a | tr ' ;' '\\n\\n' | grep -xE -- '-?icanon')",
    ]);
    tmux.keys(&["Enter"]);
    let answer = tmux.wait_for("stty's answer", 10, |s| {
        s.contains("tty-mode:icanon") || s.contains("tty-mode:-icanon")
    });
    assert!(
        answer.contains("tty-mode:icanon"),
        "the terminal is still raw:\n{answer}"
    );
    assert!(
        answer.contains("status-130 "),
        "exit status 130 after SIGINT:\n{answer}"
    );
}
