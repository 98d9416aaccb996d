//! `meshsim shrink`: the smallest scenario found that, run with the same seed, still fails
//! the same expectation the same way (the search is `meshsim::sweep::shrink`'s; the threads,
//! Ctrl-C, the progress bar and the file are here).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use meshsim::report::output::{prepare_file, write_atomically};
use meshsim::scenario;
use meshsim::sweep::shrink::{self, NoTarget, Target, Tried};

use super::progress::RunsProgress;
use super::run::{Interrupt, RUN_FAILED, exit_for, signal_name};
use super::{BAD_INPUT, DiagnosticStyle, EXPECTATIONS_FAILED, OK, diagnostics};

/// Flags of `meshsim shrink`.
#[derive(clap::Args, Debug)]
pub(super) struct ShrinkArgs {
    /// The scenario file.
    #[arg(value_name = "SCENARIO")]
    scenario: PathBuf,
    /// The seed whose run fails.
    #[arg(long, value_parser = super::seed)]
    seed: u64,
    /// The expectation to keep failing, by name [default: the first that fails].
    #[arg(long, value_name = "NAME")]
    expect: Option<String>,
    /// Where to write the smaller scenario [default:
    /// reports/<scenario>/shrink/<file stem>-seed-<S>.yaml].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Candidates run at a time, on threads [default: one per core]; the result is the same
    /// whatever the value.
    #[arg(long, short, value_name = "J", value_parser = clap::value_parser!(u64).range(1..=1024))]
    jobs: Option<u64>,
    /// At most this many runs in the search (the original's run not counted).
    #[arg(long, value_name = "N", default_value_t = shrink::DEFAULT_MAX_RUNS as u64,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_runs: u64,
    /// No progress bar on stderr (there is none unless stderr is a terminal).
    #[arg(long, short)]
    quiet: bool,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = DiagnosticStyle::Human)]
    diagnostics: DiagnosticStyle,
}

pub(super) fn shrink(args: &ShrinkArgs) -> ExitCode {
    let path = &args.scenario;
    let loaded = scenario::load(path);
    diagnostics::print_all(&loaded.diagnostics, &loaded.sources, args.diagnostics);
    let Some((scenario, _)) = loaded.runnable() else {
        eprintln!("meshsim: the scenario has errors; nothing was run");
        return ExitCode::from(BAD_INPUT);
    };
    if scenario.expect.is_empty() {
        eprintln!(
            "meshsim: {}: the scenario has no `expect:` section, so no run of it can fail",
            path.display()
        );
        return ExitCode::from(BAD_INPUT);
    }
    if let Some(name) = &args.expect
        && !scenario.expect.iter().any(|e| &e.name == name)
    {
        let names: Vec<&str> = scenario.expect.iter().map(|e| e.name.as_str()).collect();
        eprintln!(
            "meshsim: --expect: {}",
            NoTarget::Unknown {
                name: name.clone(),
                known: names.iter().map(|n| n.to_string()).collect()
            }
        );
        return ExitCode::from(BAD_INPUT);
    }
    let name = path.display().to_string();
    let text = loaded.sources.get(loaded.file).text().to_string();
    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let stem = path
        .file_stem()
        .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    let out = args.out.clone().unwrap_or_else(|| {
        Path::new("reports")
            .join(&scenario.name)
            .join("shrink")
            .join(format!("{stem}-seed-{}.yaml", args.seed))
    });
    if out == *path {
        eprintln!(
            "meshsim: --out {}: that is the scenario itself",
            out.display()
        );
        return ExitCode::from(BAD_INPUT);
    }
    if let Err(e) = prepare_file(&out) {
        eprintln!("meshsim: --out {}: {e}", out.display());
        eprintln!("meshsim: nothing was run");
        return ExitCode::from(BAD_INPUT);
    }
    let interrupt = match Interrupt::watch() {
        Ok(i) => Arc::new(i),
        Err(e) => {
            eprintln!("meshsim: cannot watch for SIGINT and SIGTERM: {e}");
            return ExitCode::from(RUN_FAILED);
        }
    };
    let stop = || interrupt.caught().is_some();

    // The original run: which expectation fails, and how.
    let original = match shrink::try_text(&name, &text, &base, args.seed, None, &stop) {
        Tried::Ran(r) => r,
        Tried::Halted => return interrupted(&interrupt),
        Tried::Failed(e) => {
            eprintln!("meshsim: the simulation failed: {e}");
            return ExitCode::from(RUN_FAILED);
        }
        Tried::Invalid => {
            eprintln!("meshsim: the scenario has errors; nothing was run");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let target = match shrink::Target::pick(&original, args.expect.as_deref()) {
        Ok(t) => t,
        Err(e @ NoTarget::Unknown { .. }) => {
            eprintln!("meshsim: --expect: {e}");
            return ExitCode::from(BAD_INPUT);
        }
        Err(e) => {
            println!("{}: seed {}: {e}", path.display(), args.seed);
            return ExitCode::from(EXPECTATIONS_FAILED);
        }
    };
    if let Some(v) = original.verdicts.iter().find(|v| v.name == target.name) {
        println!(
            "seed {}: `{}` fails: observed {} against {}",
            args.seed,
            v.name,
            v.observed_text(),
            v.threshold
        );
    }

    let threads = args
        .jobs
        .map(|j| j as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let bar = RunsProgress::on_stderr(args.max_runs, args.quiet);
    bar.set(0, "searching".into());
    let mut started = 0u64;
    let mut eval = |batch: &[String]| -> Vec<Tried> {
        let results = run_batch(batch, &name, &base, args.seed, &target.warnings, &stop);
        started += results
            .iter()
            .filter(|t| !matches!(t, Tried::Invalid))
            .count() as u64;
        bar.set(
            started.min(args.max_runs),
            format!("{started} runs started"),
        );
        results
    };
    let shrunk = shrink::search(
        &text,
        &target,
        args.max_runs as usize,
        threads,
        &mut |batch: &[String]| eval(batch),
    );
    bar.clear();

    let written = header(&name, args.seed, &target, &shrunk)
        + &shrink::rebase_mesh_files(&shrunk.text, &base, out.parent().unwrap_or(Path::new("")));
    if let Err(e) = write_atomically(&out, written.as_bytes()) {
        eprintln!("meshsim: cannot write {}: {e}", out.display());
        return ExitCode::from(RUN_FAILED);
    }
    let how = format!(
        "{} run{}{}{}",
        shrunk.runs,
        if shrunk.runs == 1 { "" } else { "s" },
        if shrunk.speculative > 0 {
            format!(
                ", and {} run ahead in parallel that the search did not need",
                shrunk.speculative
            )
        } else {
            String::new()
        },
        if shrunk.invalid > 0 {
            format!(
                "; {} candidate{} the loader refused",
                shrunk.invalid,
                if shrunk.invalid == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        },
    );
    if shrunk.changes.is_empty() {
        println!(
            "already minimal: no reduction kept `{}` failing the same way ({how})",
            target.name
        );
    } else {
        println!("removed or reduced ({how}):");
        for c in &shrunk.changes {
            println!("  - {c}");
        }
    }
    if shrunk.exhausted {
        println!(
            "stopped at --max-runs {}: a longer search may find a smaller scenario",
            args.max_runs
        );
    }
    println!("written: {}", out.display());
    println!("replay: meshsim run {} --seed {}", out.display(), args.seed);
    if let Some(e) = &shrunk.failed {
        eprintln!("meshsim: a run failed, the search stopped there: {e}");
        return ExitCode::from(RUN_FAILED);
    }
    if shrunk.halted {
        return interrupted(&interrupt);
    }
    ExitCode::from(OK)
}

fn interrupted(interrupt: &Interrupt) -> ExitCode {
    let signal = interrupt.caught().unwrap_or(signal_hook::consts::SIGINT);
    eprintln!(
        "meshsim: stopped by {}; the file written (if any) is the smallest found so far",
        signal_name(signal)
    );
    ExitCode::from(exit_for(signal))
}

/// Runs each text on its own thread and returns the results in the batch's order.
fn run_batch(
    batch: &[String],
    name: &str,
    base: &Path,
    seed: u64,
    warnings: &BTreeSet<String>,
    stop: &(dyn Fn() -> bool + Sync),
) -> Vec<Tried> {
    std::thread::scope(|s| {
        let handles: Vec<_> = batch
            .iter()
            .map(|text| {
                s.spawn(move || shrink::try_text(name, text, base, seed, Some(warnings), stop))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Tried::Failed("a worker thread panicked".into()))
            })
            .collect()
    })
}

/// The comment the written file starts with: where it came from and how to replay it.
fn header(name: &str, seed: u64, target: &Target, shrunk: &shrink::Shrunk) -> String {
    let mut h = format!(
        "# Written by `meshsim shrink {name} --seed {seed}`:\n\
         # the smallest scenario found whose run with seed {seed} still fails `{}` the same way.\n",
        target.name
    );
    if shrunk.changes.is_empty() {
        h.push_str("# Nothing could be removed: the original was already minimal.\n");
    } else {
        h.push_str("# Removed or reduced:\n");
        for c in &shrunk.changes {
            h.push_str(&format!("#   - {c}\n"));
        }
    }
    h.push_str("#\n");
    h
}
