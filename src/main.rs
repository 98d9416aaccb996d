//! The `meshsim` command line. Exit codes: 0 success, 1 a scenario's expectations failed,
//! 2 bad input or usage, 3 the simulation itself failed.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}
