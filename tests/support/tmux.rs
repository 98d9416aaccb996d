//! A terminal for the tests that need one (the TUI, `run`'s progress bar): a tmux server of
//! the test's own, driven with send-keys and read back with capture-pane.
//!
//! tmux is installed by `.ci/run`; outside CI a machine without it skips those tests with a
//! message, and in CI (`CI` set) its absence fails them.

// A terminal runs on the wall clock: the waits here are wall time.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Whether tmux can run here. `false` (after saying so on stderr) lets a test skip, except in
/// CI, where a missing tmux fails the test that asked.
#[track_caller]
pub fn available(test: &str) -> bool {
    let here = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !here {
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is missing in CI; .ci/run installs it"
        );
        eprintln!("skipping {test}: tmux is not installed on this machine");
    }
    here
}

/// A tmux server of our own (its own socket), killed when dropped. Its session is `t`.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// A server on the socket `socket` (unique per test: the process id and a name).
    pub fn new(socket: String) -> Tmux {
        Tmux { socket }
    }

    /// `tmux ARGS` on this server.
    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    /// send-keys to the session.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        let o = self.cmd(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    /// The visible screen.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    /// A tmux format (`#{alternate_on}`) evaluated for the session.
    pub fn format(&self, f: &str) -> String {
        String::from_utf8_lossy(&self.cmd(&["display-message", "-p", "-t", "t", f]).stdout)
            .trim()
            .to_string()
    }

    /// Waits until the screen satisfies `done`; fails with the screen after `secs`.
    pub fn wait_for(&self, what: &str, secs: u64, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited {secs} s for {what}; the screen:\n{screen}"
            );
            sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}
