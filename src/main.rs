//! The `meshsim` command line. Exit codes: 0 success, 1 a scenario's expectations failed,
//! 2 bad input or usage.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}
