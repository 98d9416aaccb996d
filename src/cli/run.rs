//! `meshsim run`: load a scenario, run it, print the summary and the verdicts on its
//! expectations, write the report files (and JUnit XML on request).

#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // wall time for progress only

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meshsim::engine::SimTime;
use meshsim::model::duration::{parse_duration, written};
use meshsim::rehearse::{Watcher, rehearse_watched};
use meshsim::report::access_log::AccessLogWriter;
use meshsim::report::output::{prepare_dir, prepare_file};
use meshsim::report::{self, Report};
use meshsim::rollout::Rollout;
use meshsim::scenario;
use meshsim::sim::{self, AccessLogMode, AccessLogTap, Change, Progress, RunOptions, WorldView};
use signal_hook::consts::{SIGINT, SIGTERM};

use super::progress::RunProgress;
use super::{BAD_INPUT, DiagnosticStyle, EXPECTATIONS_FAILED, OK, diagnostics};

/// Exit code: the simulation itself failed (a host crashed unexpectedly, an I/O error).
pub(super) const RUN_FAILED: u8 = 3;

/// Flags of `meshsim run`.
#[derive(clap::Args, Debug)]
pub(super) struct RunArgs {
    /// The scenario file (see docs/SCENARIOS.md).
    #[arg(value_name = "SCENARIO")]
    pub(super) scenario: PathBuf,
    /// Seed, 0 to 2^64-1 (overrides the scenario's).
    #[arg(long, value_parser = super::seed, allow_hyphen_values = true)]
    pub(super) seed: Option<u64>,
    /// Simulated time to send requests for, like `90s` or `10m`, at most 24h (overrides the
    /// scenario's).
    #[arg(long, value_parser = duration, allow_hyphen_values = true)]
    pub(super) duration: Option<Duration>,
    /// Where to write the report files [default: reports/<scenario>/<seed>/].
    #[arg(long, value_name = "DIR")]
    pub(super) out: Option<PathBuf>,
    /// Which report files to write, comma-separated: json, summary, hgrm, html, hlog,
    /// metrics, traces (traces.json for Perfetto and requests.jsonl for `meshsim explain`,
    /// of the requests the scenario's `report.trace_sample` samples); `default` is
    /// json,summary,hgrm,html and `all` is everything.
    #[arg(long = "report", value_name = "OUTPUTS", default_value = "default", value_parser = report::Outputs::parse)]
    pub(super) outputs: report::Outputs,
    /// Write Envoy-format access logs, one file per sidecar under access-logs/: `sampled`
    /// (the sampled requests' lines) or `full` (every line, health checks included).
    #[arg(long = "access-log", value_enum, value_name = "WHICH")]
    pub(super) access_log: Option<AccessLogArg>,
    /// Trace exactly this request and no other (a trace id or x-request-id from a run with
    /// the same seed), and write its traces: what `meshsim explain` suggests for a request
    /// that was not sampled.
    #[arg(long = "trace-request", value_name = "ID")]
    pub(super) trace_request: Option<String>,
    /// Also write the verdicts on the scenario's expectations as JUnit XML (one test case
    /// per expectation), for CI systems.
    #[arg(long, value_name = "FILE")]
    pub(super) junit: Option<PathBuf>,
    /// Nothing on stderr but problems: no fault schedule, progress bar or wall-time line.
    #[arg(long, short)]
    pub(super) quiet: bool,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = DiagnosticStyle::Human)]
    pub(super) diagnostics: DiagnosticStyle,
}

/// `--access-log`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum AccessLogArg {
    /// The lines of sampled requests (`report.trace_sample`).
    Sampled,
    /// Every line.
    Full,
}

/// `--duration`: above zero (a run of nothing is no run) and at most
/// [`scenario::MAX_DURATION`].
pub(super) fn duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("a run must last longer than 0; write one like `90s` or `10m`".into());
    }
    if d > scenario::MAX_DURATION {
        return Err(format!(
            "{} is longer than meshsim runs: at most {} of simulated time (a day at 100 requests per second already takes about an hour)",
            written(d),
            written(scenario::MAX_DURATION)
        ));
    }
    Ok(d)
}

pub(super) fn run(args: &RunArgs) -> ExitCode {
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
    let trace_only = match args.trace_request.as_deref().map(request_number) {
        None => None,
        // The root carries the low 32 bits of the seed: with another seed the same number
        // is another request.
        Some(Ok((of_seed, seq))) if of_seed == seed as u32 => Some(seq),
        Some(Ok((of_seed, _))) => {
            eprintln!(
                "meshsim: that request belongs to a run with seed {of_seed} (low 32 bits), not {seed}; pass its --seed"
            );
            return ExitCode::from(BAD_INPUT);
        }
        Some(Err(e)) => {
            eprintln!("meshsim: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let outputs = if trace_only.is_some() {
        args.outputs.clone().with(report::Output::Traces)
    } else {
        args.outputs.clone()
    };
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| report::default_dir(&scenario.name, seed));
    // Where the files go is checked now, not after the whole simulation.
    if let Err(e) = prepare_dir(&dir) {
        match &args.out {
            Some(_) => eprintln!("meshsim: --out {}: {e}", dir.display()),
            None => eprintln!(
                "meshsim: the report folder {} (the default; choose one with --out): {e}",
                dir.display()
            ),
        }
        eprintln!("meshsim: nothing was run");
        return ExitCode::from(BAD_INPUT);
    }
    if let Some(path) = &args.junit
        && let Err(e) = prepare_file(path)
    {
        eprintln!("meshsim: --junit {}: {e}", path.display());
        eprintln!("meshsim: nothing was run");
        return ExitCode::from(BAD_INPUT);
    }
    let writer = match args.access_log {
        None => None,
        Some(_) => match AccessLogWriter::create(&dir) {
            Ok(w) => Some(Arc::new(Mutex::new(w))),
            Err(e) => {
                eprintln!(
                    "meshsim: cannot write access logs in {}: {e}",
                    dir.display()
                );
                return ExitCode::from(RUN_FAILED);
            }
        },
    };
    // Sampling costs the proxies a little; nobody would see it unless traces or sampled
    // access logs are written (it changes no other result either way).
    let wants_samples =
        outputs.has(report::Output::Traces) || args.access_log == Some(AccessLogArg::Sampled);
    let options = RunOptions {
        seed: args.seed,
        duration: args.duration,
        trace_sample: (!wants_samples).then_some(0.0),
        trace_only,
        access_log: writer.as_ref().map(|w| AccessLogTap {
            mode: match args.access_log {
                Some(AccessLogArg::Full) => AccessLogMode::Full,
                _ => AccessLogMode::Sampled,
            },
            sink: Arc::clone(w) as Arc<Mutex<dyn sim::LineSink + Send>>,
        }),
        ..RunOptions::default()
    };
    // Watched from before the first line on stderr, so that whoever reads it (a person, a
    // test) can stop the run from then on and get the clean stop.
    let interrupt = match Interrupt::watch() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("meshsim: cannot watch for SIGINT and SIGTERM: {e}");
            return ExitCode::from(RUN_FAILED);
        }
    };
    let schedule = sim::fault_schedule(scenario, mesh, seed);
    if !schedule.is_empty() && !args.quiet {
        eprintln!("faults (seed {seed}):");
        for f in &schedule {
            eprintln!("  {}", f.describe());
        }
    }
    let wall = Instant::now();
    let bar = RunProgress::on_stderr(args.quiet);
    let mut progress = |p: &Progress| bar.update(p);
    let mut watcher = StopOnSignal(&interrupt);
    let rehearsal = rehearse_watched(scenario, mesh, &options, &mut progress, &mut watcher);
    bar.clear();
    let rehearsal = match rehearsal {
        Ok(r) => r,
        Err(e) => {
            eprintln!("meshsim: {e}");
            return ExitCode::from(RUN_FAILED);
        }
    };
    let elapsed = wall.elapsed();
    if let Some(signal) = interrupt.caught() {
        if let Some(w) = &writer
            && let Ok(mut w) = w.lock()
        {
            w.discard();
        }
        let run = &rehearsal.run;
        eprintln!(
            "meshsim: stopped by {} at {:.1}s of {:.0}s simulated ({} user requests sent); nothing was written, and {} is as the previous run left it",
            signal_name(signal),
            run.simulated.as_secs_f64(),
            run.duration.as_secs_f64(),
            run.ledger.issued,
            dir.display()
        );
        return ExitCode::from(exit_for(signal));
    }
    let mut report = Report::of_rehearsal(scenario, &rehearsal);
    report.command = Some(rerun_command(args, seed));
    report.config_sha256 = Some(report::config_sha256(&loaded.sources));
    let result = &rehearsal.run;
    print!("{}", report.table());
    if let Some(line) = report.rollout_line() {
        print!("\n{line}\n");
    }
    let verdicts = report.verdict_lines();
    if !verdicts.is_empty() {
        print!("\n{verdicts}");
    }
    // The previous run's files are retired, and this run's listed, before the first of them
    // (the access logs) is renamed into place: the directory never holds a mix of two runs
    // that passes for one, and a run that dies while writing leaves only listed files.
    let mut files = report::files(&report, result, &outputs);
    if let Some(w) = &writer
        && let Ok(w) = w.lock()
    {
        for name in w.names() {
            files.also_written(name);
        }
    }
    if let Err(e) = files.begin(&dir) {
        eprintln!(
            "meshsim: cannot replace the earlier report in {}: {e}",
            dir.display()
        );
        return ExitCode::from(RUN_FAILED);
    }
    if let Some(w) = &writer {
        let committed = match w.lock() {
            Ok(mut w) => w.commit(),
            Err(_) => Err(std::io::Error::other(
                "the access-log writer failed mid-run",
            )),
        };
        match committed {
            Ok(logs) => println!(
                "\naccess logs: {} ({} files)",
                dir.join(report::access_log::DIR).display(),
                logs.len()
            ),
            Err(e) => {
                eprintln!(
                    "meshsim: cannot write access logs in {}: {e}",
                    dir.display()
                );
                return ExitCode::from(RUN_FAILED);
            }
        }
    }
    match files.write(&dir) {
        Ok(written) => match written.iter().find(|p| p.ends_with("report.json")) {
            Some(json) => println!("\nreport: {}", json.display()),
            None => println!("\nreport: {}", dir.display()),
        },
        Err(e) => {
            eprintln!("meshsim: cannot write the report to {}: {e}", dir.display());
            return ExitCode::from(RUN_FAILED);
        }
    }
    if let Some(path) = &args.junit {
        if let Err(e) = write_junit(path, &report) {
            eprintln!("meshsim: cannot write JUnit XML to {}: {e}", path.display());
            return ExitCode::from(RUN_FAILED);
        }
        println!("junit: {}", path.display());
    }
    let violated: Vec<_> = report.invariants.iter().filter(|i| !i.held).collect();
    for i in &violated {
        println!("invariant violated: {}: {}", i.name, i.detail);
    }
    // The one line of progress a log gets (none with --quiet).
    let sim_s = result.simulated.as_secs_f64();
    if !args.quiet {
        eprintln!(
            "simulated {sim_s:.1}s in {:.2}s wall ({:.0}x real time), {} steps",
            elapsed.as_secs_f64(),
            sim_s / elapsed.as_secs_f64().max(1e-9),
            result.steps
        );
    }
    if let Some(signal) = interrupt.caught() {
        eprintln!(
            "meshsim: {} arrived while the report was being written; the report is complete",
            signal_name(signal)
        );
        return ExitCode::from(exit_for(signal));
    }
    if report.expectations_held() {
        ExitCode::from(OK)
    } else {
        let failed = report.expectations.iter().filter(|v| !v.held).count();
        eprintln!(
            "meshsim: {failed} of {} expectations failed",
            report.expectations.len()
        );
        ExitCode::from(EXPECTATIONS_FAILED)
    }
}

/// SIGINT and SIGTERM, caught from the start of the simulation to the end of the command,
/// so that Ctrl-C or a CI runner's stop ends a run cleanly: the simulation halts at its next
/// simulated second, the progress bar is taken off, and nothing is written, so the output folder
/// keeps the previous run's report. A second signal ends the process at once, with 128 + the
/// signal, as the default action would.
pub(super) struct Interrupt {
    /// The number of the signal caught, 0 while none.
    caught: Arc<AtomicUsize>,
}

impl Interrupt {
    pub(super) fn watch() -> std::io::Result<Interrupt> {
        use signal_hook::flag;
        let raised = Arc::new(AtomicBool::new(false));
        let caught = Arc::new(AtomicUsize::new(0));
        for signal in [SIGINT, SIGTERM] {
            // Registered first, so it runs first: it exits only if an earlier signal has
            // already raised the flag.
            flag::register_conditional_shutdown(signal, 128 + signal, Arc::clone(&raised))?;
            flag::register(signal, Arc::clone(&raised))?;
            flag::register_usize(signal, Arc::clone(&caught), signal as usize)?;
        }
        Ok(Interrupt { caught })
    }

    pub(super) fn caught(&self) -> Option<i32> {
        match self.caught.load(Ordering::Relaxed) {
            0 => None,
            n => i32::try_from(n).ok(),
        }
    }
}

/// Halts the run once a signal is caught.
struct StopOnSignal<'a>(&'a Interrupt);

impl Watcher for StopOnSignal<'_> {
    fn watch(&mut self, _: SimTime, _: &WorldView<'_>, _: Option<&Rollout>) -> Vec<Change> {
        match self.0.caught() {
            Some(_) => vec![Change::Halt],
            None => Vec::new(),
        }
    }
}

pub(super) fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// As a shell reports a command a signal ended (130 for SIGINT, 143 for SIGTERM), so scripts
/// and CI see the run as interrupted, not passed or failed.
pub(super) fn exit_for(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(RUN_FAILED)
}

/// `meshsim run PATH --seed N [--duration D]`: what reruns this run (report choices and
/// output places do not change the results, so they are left out).
pub(super) fn rerun_command(args: &RunArgs, seed: u64) -> String {
    let mut cmd = format!("meshsim run {} --seed {seed}", args.scenario.display());
    if let Some(d) = args.duration {
        cmd.push_str(" --duration ");
        cmd.push_str(&duration_arg(d));
    }
    cmd
}

/// A duration as `--duration` reads it back, as a person would write it: humantime's form
/// without its spaces (`4m`, `1m30s`, `1s500ms`), which is the Go grammar the flag parses.
/// From a day on humantime writes `days`, `months` and `years`, which that grammar lacks:
/// such a duration is written in seconds (`90000s`), with humantime's form of the rest.
pub(super) fn duration_arg(d: Duration) -> String {
    let compact = |d: Duration| -> String {
        humantime::format_duration(d)
            .to_string()
            .split_whitespace()
            .collect()
    };
    let text = compact(d);
    if parse_duration(&text) == Ok(d) {
        return text;
    }
    let rest = d - Duration::from_secs(d.as_secs());
    if rest.is_zero() {
        format!("{}s", d.as_secs())
    } else {
        format!("{}s{}", d.as_secs(), compact(rest))
    }
}

/// The seed (low 32 bits) and sequence number a trace id or request id carries.
pub(super) fn request_number(id: &str) -> Result<(u32, u64), String> {
    report::trace::id_key(id)
        .and_then(|k| report::trace::id_parts(&k))
        .ok_or_else(|| {
            format!(
                "`{id}` is neither a trace id (1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx) nor a request id (a UUID)"
            )
        })
}

/// Writes the JUnit file, creating its directory (CI jobs often name a fresh one).
fn write_junit(path: &std::path::Path, report: &Report) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, report::junit::junit(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rerun_duration_reads_as_written_and_parses_back() {
        for (d, text) in [
            (Duration::from_secs(240), "4m"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_millis(1500), "1s500ms"),
            (Duration::from_secs(2 * 3600), "2h"),
            (Duration::from_secs(25 * 3600), "90000s"),
            (Duration::from_millis(25 * 3_600_000 + 250), "90000s250ms"),
            (Duration::from_nanos(1_000_001), "1ms1ns"),
        ] {
            assert_eq!(duration_arg(d), text);
            assert_eq!(parse_duration(text), Ok(d), "{text}");
        }
    }
}
