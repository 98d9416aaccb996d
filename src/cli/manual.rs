//! `meshsim completions` and `meshsim man`: made from the command line's own definition at
//! run time, so they cannot fall behind the flags.
//!
//! The man pages are printed (or written with `--out`) by the binary rather than generated
//! into the repository: `cargo install` installs the binary alone, and a page kept in the
//! repository would need a build script or a test to stay in step with every flag.

use std::path::Path;
use std::process::ExitCode;

use clap_complete::Shell;

use super::{BAD_INPUT, OK, definition};

/// Exit code when the pages cannot be written.
const WRITE_FAILED: u8 = 3;

pub(super) fn completions(shell: Shell) -> ExitCode {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut definition(), "meshsim", &mut script);
    print!("{}", String::from_utf8_lossy(&script));
    ExitCode::from(OK)
}

/// meshsim's page, then one per command (`meshsim-run`, ...).
fn pages() -> Vec<clap_mangen::Man> {
    let mut cli = definition().disable_help_subcommand(true);
    // Names each command `meshsim-COMMAND`, as man pages of subcommands are named.
    cli.build();
    // A command's own page would say `run` (its name, no version) where meshsim's says
    // `meshsim 0.1.0`: every page names the program and its version.
    let source = format!("meshsim {}", env!("CARGO_PKG_VERSION"));
    let commands: Vec<clap::Command> = cli.get_subcommands().cloned().collect();
    std::iter::once(cli)
        .chain(commands)
        .map(|c| clap_mangen::Man::new(c).source(source.clone()))
        .collect()
}

pub(super) fn man(command: Option<&str>, out: Option<&Path>) -> ExitCode {
    let mut pages = pages();
    if let Some(dir) = out {
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| pages.iter().try_for_each(|p| p.generate_to(dir).map(drop)));
        return match written {
            Ok(()) => {
                println!("man pages: {}", dir.display());
                ExitCode::from(OK)
            }
            Err(e) => {
                eprintln!("meshsim: --out {}: {e}", dir.display());
                ExitCode::from(WRITE_FAILED)
            }
        };
    }
    let wanted = command.map_or_else(|| "meshsim.1".to_string(), |c| format!("meshsim-{c}.1"));
    let Some(at) = pages.iter().position(|p| p.get_filename() == wanted) else {
        let names: Vec<String> = definition()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        eprintln!(
            "meshsim: no command `{}`; the commands are {}",
            command.unwrap_or_default(),
            names.join(", ")
        );
        return ExitCode::from(BAD_INPUT);
    };
    let page = pages.swap_remove(at);
    let mut roff = Vec::new();
    match page.render(&mut roff) {
        Ok(()) => {
            print!("{}", String::from_utf8_lossy(&roff));
            ExitCode::from(OK)
        }
        Err(e) => {
            eprintln!("meshsim: cannot render the man page: {e}");
            ExitCode::from(WRITE_FAILED)
        }
    }
}
