//! Standard output and error without panics: what `print!` and its kin (shadowed in
//! `main.rs`) write through.
//!
//! A reader that leaves early is the usual case (`meshsim show mesh.yaml | head -1`, a pager
//! quit after one screen): Rust ignores SIGPIPE, so the write fails with `BrokenPipe`, and
//! std's `print!` would panic. Here the first failure stops all later output to that stream,
//! and the command carries on to its end: `meshsim run` still writes its report and exits with
//! its verdict (0, 1, ...), which is what a CI job piping it through `head` gates on. Dying
//! by SIGPIPE instead (exit 141, as `cat` does) would kill `run` before its report files were
//! written, since the summary is printed first, and would turn every verdict into 141 under
//! `set -o pipefail`. Any other failure (`> /dev/full`) is an output lost that someone wanted:
//! [`finish`] says so and exits 3.

use std::fmt;
use std::io::{self, Write as _};
use std::process::ExitCode;
use std::sync::OnceLock;

/// The first failed write to standard output, after which nothing more is written there.
static STDOUT_FAILED: OnceLock<io::Error> = OnceLock::new();

/// Exit code when standard output could not be written for another reason than a closed pipe.
const OUTPUT_FAILED: u8 = 3;

/// Writes to standard output, unless an earlier write failed.
pub(crate) fn stdout(args: fmt::Arguments<'_>) {
    if STDOUT_FAILED.get().is_some() {
        return;
    }
    if let Err(e) = io::stdout().lock().write_fmt(args) {
        let _ = STDOUT_FAILED.set(e);
    }
}

/// Writes to standard error. A failure is dropped: there is nowhere left to tell of it.
pub(crate) fn stderr(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// Flushes standard output and gives the exit code: the command's own, unless standard output
/// failed for another reason than a reader that left.
pub(crate) fn finish(code: ExitCode) -> ExitCode {
    if STDOUT_FAILED.get().is_none()
        && let Err(e) = io::stdout().lock().flush()
    {
        let _ = STDOUT_FAILED.set(e);
    }
    match STDOUT_FAILED.get() {
        Some(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            eprintln!("meshsim: cannot write to standard output: {e}");
            ExitCode::from(OUTPUT_FAILED)
        }
        _ => code,
    }
}
