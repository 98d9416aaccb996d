//! A simulation's progress on standard error, through indicatif: a bar with the percentage of
//! simulated time done and indicatif's ETA when standard error is a terminal; nothing while
//! it runs otherwise (a CI log gets only the command's final line, not a line per redraw);
//! nothing with `--quiet`.
//!
//! Only the wall clock's pace reaches the screen: the bar is drawn on standard error, never on
//! standard output or into a report, so outputs stay byte-identical for a seed.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use meshsim::sim::Progress;

/// `{wide_bar}` fills what the terminal leaves; the rest keeps to 80 columns with a 20-wide
/// bar: `[####----] 42% ETA 3s | 126s of 300s simulated, 12602 requests, 99.96% ok`.
const TEMPLATE: &str = "{wide_bar} {percent:>3}% ETA {eta:<4} | {msg}";

/// The progress bar of one run; hidden where nothing is to be drawn.
pub(super) struct RunProgress {
    bar: ProgressBar,
}

impl RunProgress {
    /// The bar on standard error if that is a terminal and `quiet` is not set, else hidden.
    pub(super) fn on_stderr(quiet: bool) -> RunProgress {
        if quiet || !std::io::stderr().is_terminal() {
            RunProgress::new(ProgressDrawTarget::hidden())
        } else {
            RunProgress::new(ProgressDrawTarget::stderr())
        }
    }

    /// A bar drawn to `target`.
    pub(super) fn new(target: ProgressDrawTarget) -> RunProgress {
        let style = ProgressStyle::with_template(TEMPLATE)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#>-");
        // Unknown until the first report; positions are simulated milliseconds.
        let bar = ProgressBar::with_draw_target(Some(1), target).with_style(style);
        RunProgress { bar }
    }

    /// Moves the bar to `p`. The world reports about once per simulated second; indicatif
    /// redraws at most 20 times a second of wall time whatever the pace.
    pub(super) fn update(&self, p: &Progress) {
        if self.bar.is_hidden() {
            return;
        }
        let total = millis(p.duration).max(1);
        let now = millis(p.now.since_start());
        self.bar.set_length(total);
        // Past the end of arrivals the world drains the requests still in flight.
        self.bar.set_position(now.min(total));
        let ok = if p.ended == 0 {
            100.0
        } else {
            p.succeeded as f64 * 100.0 / p.ended as f64
        };
        self.bar.set_message(format!(
            "{:.0}s of {:.0}s simulated, {} requests, {ok:.2}% ok",
            p.now.since_start().as_secs_f64(),
            p.duration.as_secs_f64(),
            p.issued
        ));
    }

    /// Takes the bar off the screen, before the lines that follow it.
    pub(super) fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

/// A bar of runs, for the commands that make many (`sweep`, `shrink`): runs done of the
/// runs planned, indicatif's ETA from the pace so far, and a line of what they found. Drawn on
/// standard error when it is a terminal and `quiet` is not set; hidden otherwise, so a log or
/// a pipe gets nothing of it.
/// `####>------ 3/20 runs ETA 2m   | promoted 0, rolled back 3`, in under 80 columns. The bar
/// has a fixed width, not the terminal's: a line that fills the terminal leaves the cursor in
/// its last column, where the `^C` the terminal echoes on Ctrl-C wraps to a new line, and
/// clearing the bar then clears that line and leaves the bar on the screen.
const RUNS_TEMPLATE: &str = "{bar:24} {pos}/{len} runs ETA {eta:<4} | {msg}";

/// The bar of a command's runs; hidden where nothing is to be drawn.
pub(super) struct RunsProgress {
    bar: ProgressBar,
}

impl RunsProgress {
    /// `total` runs, on standard error if that is a terminal and `quiet` is not set.
    pub(super) fn on_stderr(total: u64, quiet: bool) -> RunsProgress {
        if quiet || !std::io::stderr().is_terminal() {
            RunsProgress::new(ProgressDrawTarget::hidden(), total)
        } else {
            RunsProgress::new(ProgressDrawTarget::stderr(), total)
        }
    }

    /// A bar drawn to `target`.
    pub(super) fn new(target: ProgressDrawTarget, total: u64) -> RunsProgress {
        let style = ProgressStyle::with_template(RUNS_TEMPLATE)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#>-");
        let bar = ProgressBar::with_draw_target(Some(total), target).with_style(style);
        if !bar.is_hidden() {
            // A run takes seconds to minutes: redraw between them, so the bar is there from
            // the start and its ETA moves.
            bar.enable_steady_tick(std::time::Duration::from_millis(500));
        }
        RunsProgress { bar }
    }

    /// `done` runs finished; `found` says what they showed.
    pub(super) fn set(&self, done: u64, found: String) {
        if self.bar.is_hidden() {
            return;
        }
        self.bar.set_position(done);
        self.bar.set_message(found);
    }

    /// Takes the bar off the screen, before the lines that follow it.
    pub(super) fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use indicatif::TermLike;
    use meshsim::engine::SimTime;

    use super::*;

    /// A terminal that keeps what is written to it.
    #[derive(Clone, Debug, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl Screen {
        fn text(&self) -> String {
            self.0.lock().map(|s| s.clone()).unwrap_or_default()
        }
        fn put(&self, s: &str) -> io::Result<()> {
            if let Ok(mut text) = self.0.lock() {
                text.push_str(s);
            }
            Ok(())
        }
    }

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.put(s)?;
            self.put("\n")
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.put(s)
        }
        fn clear_line(&self) -> io::Result<()> {
            self.put("<clear>")
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    fn at(secs: u64) -> Progress {
        Progress {
            now: SimTime::from_duration(Duration::from_secs(secs)),
            duration: Duration::from_secs(300),
            issued: 12_602,
            ended: 10_000,
            succeeded: 9_996,
        }
    }

    #[test]
    fn a_terminal_gets_a_bar_with_percentage_and_eta_then_nothing() {
        let screen = Screen::default();
        let progress = RunProgress::new(ProgressDrawTarget::term_like(Box::new(screen.clone())));
        progress.update(&at(126));
        progress.bar.force_draw();
        let drawn = screen.text();
        assert!(drawn.contains(" 42% ETA "), "{drawn}");
        assert!(drawn.contains("#>-"), "{drawn}");
        assert!(
            drawn.contains("| 126s of 300s simulated, 12602 requests, 99.96% ok"),
            "{drawn}"
        );
        // Draining past the end of arrivals: full, not past full.
        progress.update(&at(305));
        progress.bar.force_draw();
        assert!(screen.text().contains("100% ETA"), "{}", screen.text());
        let before = screen.text().len();
        progress.clear();
        let after = screen.text();
        assert!(after[before..].contains("<clear>"), "{after}");
        assert!(!after[before..].contains('%'), "{after}");
    }

    #[test]
    fn runs_get_a_bar_with_counts_and_eta_then_nothing() {
        let screen = Screen::default();
        let progress =
            RunsProgress::new(ProgressDrawTarget::term_like(Box::new(screen.clone())), 20);
        progress.set(3, "promoted 0, rolled back 3".into());
        progress.bar.force_draw();
        let drawn = screen.text();
        assert!(drawn.contains(" 3/20 runs ETA "), "{drawn}");
        assert!(drawn.contains("| promoted 0, rolled back 3"), "{drawn}");
        let before = screen.text().len();
        progress.clear();
        let after = screen.text();
        assert!(!after[before..].contains("runs ETA"), "{after}");
        let hidden = RunsProgress::on_stderr(20, true);
        assert!(hidden.bar.is_hidden());
        hidden.set(1, String::new());
        hidden.clear();
    }

    #[test]
    fn quiet_draws_nothing() {
        let progress = RunProgress::on_stderr(true);
        assert!(progress.bar.is_hidden());
        progress.update(&at(126));
        progress.clear();
    }
}
