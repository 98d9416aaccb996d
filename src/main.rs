//! The `meshsim` command line. Exit codes: 0 success, 1 a scenario's expectations failed,
//! 2 bad input or usage, 3 the simulation itself failed.

// std's `print!` family panics when a write fails, and a reader that stops early
// (`meshsim show mesh.yaml | head -1`) closes the pipe under every later write. These four
// shadow std's for the whole binary (a `macro_rules!` in scope wins over the prelude's), so
// no command can print that panic: see `cli::out` for what a failed write does instead.
macro_rules! print {
    ($($arg:tt)*) => { $crate::cli::out::stdout(format_args!($($arg)*)) };
}
macro_rules! println {
    () => { $crate::cli::out::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::out::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::cli::out::stderr(format_args!($($arg)*)) };
}
macro_rules! eprintln {
    () => { $crate::cli::out::stderr(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::out::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}
