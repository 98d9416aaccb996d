//! The integration tests, built as one test binary (`suite`). Each file in `tests/` is a
//! module of it, named after the file: `tests/cli_run.rs` is `cli_run`, and its tests are
//! `cli_run::…`.
//!
//! Why one binary: every integration-test file cargo finds on its own becomes a binary that
//! links the whole crate and its dependencies. Forty of them were most of a cold CI build on
//! two cores (docs/PERFORMANCE.md, "CI build time"); one binary links once. `Cargo.toml` sets
//! `autotests = false` and names this file as the only `[[test]]`.
//!
//! Adding a test file: put it in `tests/` (say `tests/shrink.rs`) and add one line,
//! `mod shrink;`, below, in name order. Nothing else: no `[[test]]` entry. In the new file,
//! the shared helpers are `use crate::support;` (the corpus, the tmux driver) and
//! `use crate::init_support;` (running `meshsim init`), never `mod support;`. A file-level
//! `#![allow(…)]` or `//!` comment works as before. Its snapshots (insta) are named
//! `tests/snapshots/suite__<module>__<name>.snap`.
//!
//! Running part of it (a filter matches anywhere in `module::test_name`):
//! - one file: `cargo test --locked --test suite -- cli_run::`
//! - one test: `cargo test --locked --test suite -- cli_run::a_bad_scenario_exits_2_and_names_the_line`
//! - the release-binary suites, ignored in the debug run (golden reports, Erlang C fidelity):
//!   `MESHSIM_BIN=target/release/meshsim cargo test --locked --test suite -- --ignored golden:: fidelity::`
//!
//! All the files' tests run in one process, in parallel. A test must not change what the
//! process shares (environment variables, the current directory, signal dispositions, a panic
//! hook), and its scratch folders must not collide with another file's: they are named after
//! the file (`meshsim-cli-run-<pid>-…`, `$CARGO_TARGET_TMPDIR/traces/…`).

mod init_support;
mod support;

mod bad_inputs;
mod check;
mod check_example;
mod cli;
mod cli_expect;
mod cli_manual;
mod cli_pipes;
mod cli_progress;
mod cli_run;
mod cli_typos;
mod control_plane;
mod corpus;
mod diff;
mod dns;
mod engine;
mod engine_properties;
mod errors;
mod extensions;
mod faults;
mod fidelity;
mod golden;
mod init;
mod init_corpus;
mod newcomer;
mod no_panic;
mod protocols;
mod report_files;
mod report_html;
mod retries;
mod rollout;
mod rollout_sidecars;
mod run;
mod scenario;
mod shrink;
mod sweep;
mod syntaxes;
mod traces;
mod translate;
mod tui;
mod tui_tmux;
mod workload_properties;
