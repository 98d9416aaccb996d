//! The external corpus of real App Mesh files (aws-app-mesh-examples' data files, see
//! `MANIFEST.md` there), which CI keeps beside the clone at `../shared/corpus` and a fresh
//! clone does not have. Only the suites about the corpus itself read it; tests of meshsim's
//! own behaviour use the copies under `tests/fixtures/`.

pub mod tmux;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// Names the corpus: when set, the corpus suites must run, and fail if it is not there.
/// `.ci/run` sets it. A relative path is taken from the repository root.
pub const CORPUS_VAR: &str = "MESHSIM_CORPUS";

/// Where the corpus is looked for when [`CORPUS_VAR`] is not set.
pub const DEFAULT_CORPUS: &str = "../shared/corpus";

/// The corpus directory, or `None` (after saying so on the terminal, once per run of the test
/// binary) when it is absent and nothing asked for it. With [`CORPUS_VAR`] set, an absent
/// corpus fails the test: in CI a missing corpus must not pass for a tested one. `test` names
/// the caller in the failure message.
#[track_caller]
pub fn corpus(test: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os(CORPUS_VAR).filter(|v| !v.is_empty()) {
        Some(named) => {
            let dir = root.join(&named);
            assert!(
                dir.join("appmesh-examples").is_dir(),
                "{test}: {CORPUS_VAR}={} names no corpus (no appmesh-examples/ folder in {})",
                Path::new(&named).display(),
                dir.display()
            );
            Some(dir)
        }
        None => {
            let dir = root.join(DEFAULT_CORPUS);
            if dir.join("appmesh-examples").is_dir() {
                return Some(dir);
            }
            let file = std::panic::Location::caller().file();
            SKIPPED.call_once(|| {
                say(&format!(
                    "{file}: the corpus tests (names with `corpus`) skipped: {DEFAULT_CORPUS} not \
                     found (set {CORPUS_VAR}=DIR to run them; CI does)"
                ));
            });
            None
        }
    }
}

static SKIPPED: Once = Once::new();

/// Writes a line where `cargo test` shows it. libtest captures `print!` and `eprint!` of a
/// passing test and never shows them; a write to the stderr handle itself is not captured.
/// Tests run in parallel and libtest writes a result in two pieces, so the line starts on a
/// line of its own.
fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\n{line}");
}
