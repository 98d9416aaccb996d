//! `meshsim tui`: the rehearsal on a live screen; without a terminal, `meshsim run`.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use signal_hook::consts::SIGHUP;

use meshsim::report;
use meshsim::scenario;
use meshsim::sim::{self, RunOptions};
use meshsim::tui::{self, App, Job, Speed};

use super::run::{self, RUN_FAILED, RunArgs};
use super::{BAD_INPUT, DiagnosticStyle, EXPECTATIONS_FAILED, OK, diagnostics};

/// Flags of `meshsim tui`.
#[derive(clap::Args, Debug)]
pub(super) struct TuiArgs {
    /// The scenario file (see docs/SCENARIOS.md).
    #[arg(value_name = "SCENARIO")]
    scenario: PathBuf,
    /// Seed, 0 to 2^64-1 (overrides the scenario's).
    #[arg(long, value_parser = super::seed, allow_hyphen_values = true)]
    seed: Option<u64>,
    /// Simulated time to send requests for, like `90s` or `10m`, at most 24h (overrides the
    /// scenario's).
    #[arg(long, value_parser = run::duration, allow_hyphen_values = true)]
    duration: Option<Duration>,
    /// Where to write the report files at the end [default: reports/<scenario>/<seed>/].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Which report files to write (as for `meshsim run`).
    #[arg(long = "report", value_name = "OUTPUTS", default_value = "default", value_parser = report::Outputs::parse)]
    outputs: report::Outputs,
    /// At the end, write the scenario with the faults injected from the screen added to its
    /// `faults:` section, so `meshsim run FILE` replays this run.
    #[arg(long, value_name = "FILE")]
    save_scenario: Option<PathBuf>,
    /// Starting pace: 1, 10, 100 (simulated seconds per second) or max.
    #[arg(long, default_value = "10", value_parser = speed)]
    speed: Speed,
    /// Start paused (space starts the clock).
    #[arg(long)]
    paused: bool,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = DiagnosticStyle::Human)]
    diagnostics: DiagnosticStyle,
}

fn speed(s: &str) -> Result<Speed, String> {
    match s {
        "1" | "1x" => Ok(Speed::X1),
        "10" | "10x" => Ok(Speed::X10),
        "100" | "100x" => Ok(Speed::X100),
        "max" => Ok(Speed::Max),
        _ => Err(format!("expected 1, 10, 100 or max, found `{s}`")),
    }
}

impl TuiArgs {
    /// The same run as `meshsim run` flags.
    fn as_run(&self) -> RunArgs {
        RunArgs {
            scenario: self.scenario.clone(),
            seed: self.seed,
            duration: self.duration,
            out: self.out.clone(),
            outputs: self.outputs.clone(),
            access_log: None,
            trace_request: None,
            junit: None,
            quiet: false,
            diagnostics: self.diagnostics,
        }
    }
}

pub(super) fn tui(args: &TuiArgs) -> ExitCode {
    if !std::io::stdout().is_terminal() {
        eprintln!(
            "meshsim tui: standard output is not a terminal; running `meshsim run` instead (a progress bar when standard error is a terminal)"
        );
        return run::run(&args.as_run());
    }
    let overrides = scenario::Overrides {
        duration: args.duration,
    };
    let loaded = scenario::load_with(&args.scenario, &overrides);
    diagnostics::print_all(&loaded.diagnostics, &loaded.sources, args.diagnostics);
    let Some((scenario, mesh)) = loaded.runnable() else {
        eprintln!("meshsim: the scenario has errors; nothing was run");
        return ExitCode::from(BAD_INPUT);
    };
    let seed = args.seed.unwrap_or(scenario.seed);
    // As `meshsim run` does: output places are checked before the screen opens.
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| report::default_dir(&scenario.name, seed));
    let places = [
        ("--out", Some(&dir), report::output::prepare_dir(&dir)),
        (
            "--save-scenario",
            args.save_scenario.as_ref(),
            args.save_scenario
                .as_deref()
                .map_or(Ok(()), report::output::prepare_file),
        ),
    ];
    for (flag, path, checked) in places {
        if let (Some(path), Err(e)) = (path, checked) {
            eprintln!("meshsim: {flag} {}: {e}", path.display());
            eprintln!("meshsim: nothing was run");
            return ExitCode::from(BAD_INPUT);
        }
    }
    let duration = args.duration.unwrap_or(scenario.duration);
    let schedule = sim::fault_schedule(scenario, mesh, seed);
    let mut app = App::new(scenario, seed, duration.as_secs_f64(), &schedule);
    app.speed = args.speed;
    app.paused = args.paused;
    let mut template = args.as_run();
    template.scenario = PathBuf::from("{scenario}");
    let job = Job {
        scenario: args.scenario.clone(),
        options: RunOptions {
            seed: args.seed,
            duration: args.duration,
            // As in `meshsim run`: sampling costs the proxies a little and changes no other
            // result, so it is off unless the traces are written.
            trace_sample: (!args.outputs.has(report::Output::Traces)).then_some(0.0),
            ..RunOptions::default()
        },
        out: args.out.clone(),
        outputs: args.outputs.clone(),
        save_scenario: args.save_scenario.clone(),
        command: run::rerun_command(&template, seed),
    };
    let outcome = match tui::run(&job, app) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("meshsim tui: {e}");
            return ExitCode::from(RUN_FAILED);
        }
    };
    // After SIGHUP the terminal is gone: print! would panic on the failed write, so every
    // line from here on ignores write errors, and a hangup prints no summary at all.
    if outcome.signal != Some(SIGHUP) {
        let _ = write!(std::io::stdout().lock(), "{}", outcome.summary);
    }
    if let Some(e) = &outcome.error {
        let _ = writeln!(std::io::stderr().lock(), "meshsim: {e}");
        return ExitCode::from(RUN_FAILED);
    }
    if let Some(signal) = outcome.signal {
        // As a shell reports a command a signal ended, so scripts and `timeout` see the
        // run as interrupted, not passed.
        return ExitCode::from(u8::try_from(128 + signal).unwrap_or(RUN_FAILED));
    }
    if outcome.held {
        ExitCode::from(OK)
    } else {
        ExitCode::from(EXPECTATIONS_FAILED)
    }
}
