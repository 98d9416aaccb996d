//! `meshsim sweep`: a scenario run with many seeds on worker threads, its figures written as
//! sweep.json, sweep.md and sweep.html; `--shard I/N` writes one share as a partial result,
//! and `meshsim sweep merge` combines the shares into the unsharded sweep's very files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use meshsim::report::output::prepare_dir;
use meshsim::scenario::{self, Overrides, ScenarioLoad};
use meshsim::sweep::vary::Vary;
use meshsim::sweep::{self, Part, Plan, SeedRun, VaryPlan};

use super::progress::RunsProgress;
use super::run::{Interrupt, RUN_FAILED, duration, duration_arg, exit_for, signal_name};
use super::{BAD_INPUT, DiagnosticStyle, OK, diagnostics};

/// `meshsim sweep`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(super) struct SweepArgs {
    #[command(subcommand)]
    merge: Option<SweepCommand>,
    #[command(flatten)]
    run: SweepRunArgs,
}

#[derive(clap::Subcommand, Debug)]
enum SweepCommand {
    /// Combine the partial results of `--shard` runs into sweep.json, sweep.md and sweep.html
    /// (byte for byte what the unsharded sweep writes).
    Merge(MergeArgs),
}

#[derive(clap::Args, Debug)]
struct MergeArgs {
    /// Folders holding sweep-part-*.json files (or the files themselves).
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Where to write the merged files [default: the first DIR].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct SweepRunArgs {
    /// The scenario file.
    #[arg(value_name = "SCENARIO", required = true)]
    scenario: Option<PathBuf>,
    /// Runs per value: seeds FIRST..FIRST+N-1.
    #[arg(long, value_name = "N", required = true, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    seeds: Option<u64>,
    /// The first seed.
    #[arg(long, value_name = "S", default_value_t = 0, value_parser = super::seed)]
    first_seed: u64,
    /// Runs at a time, on threads [default: one per core].
    #[arg(long, short, value_name = "J", value_parser = clap::value_parser!(u64).range(1..=1024))]
    jobs: Option<u64>,
    /// Where to write the files [default: reports/<scenario>/sweep/].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Simulated time per run, overriding the scenario's.
    #[arg(long, value_parser = duration, allow_hyphen_values = true)]
    duration: Option<Duration>,
    /// Run only the I-th of N shares of the runs (1-based) and write sweep-part-I-of-N.json.
    #[arg(long, value_name = "I/N", value_parser = shard)]
    shard: Option<(u64, u64)>,
    /// Set one number of the scenario to each value in turn: PATH=FROM..TO/STEP, PATH being
    /// keys joined by `.` with list items as `[0]` or `[name]` (docs/SWEEPS.md).
    #[arg(long, value_name = "PATH=A..B/STEP", value_parser = vary)]
    vary: Option<Vary>,
    /// No progress bar on stderr (there is none unless stderr is a terminal).
    #[arg(long, short)]
    quiet: bool,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = DiagnosticStyle::Human)]
    diagnostics: DiagnosticStyle,
}

fn shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("--shard takes I/N with 1 <= I <= N, like 2/8; `{s}` is not one");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if i == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

fn vary(s: &str) -> Result<Vary, String> {
    Vary::parse(s).map_err(|e| e.to_string())
}

pub(super) fn sweep(args: &SweepArgs) -> ExitCode {
    match &args.merge {
        Some(SweepCommand::Merge(m)) => merge(m),
        None => run(&args.run),
    }
}

/// The scenario as each value of `--vary` makes it (one text without).
struct Texts {
    name: String,
    base: PathBuf,
    texts: Vec<String>,
}

fn run(args: &SweepRunArgs) -> ExitCode {
    let (Some(path), Some(seeds)) = (&args.scenario, args.seeds) else {
        eprintln!("meshsim: sweep needs SCENARIO and --seeds");
        return ExitCode::from(BAD_INPUT);
    };
    let overrides = Overrides {
        duration: args.duration,
    };
    let loaded = scenario::load_with(path, &overrides);
    diagnostics::print_all(&loaded.diagnostics, &loaded.sources, args.diagnostics);
    let Some((scenario, _)) = loaded.runnable() else {
        eprintln!("meshsim: the scenario has errors; nothing was run");
        return ExitCode::from(BAD_INPUT);
    };
    let name = path.display().to_string();
    let text = loaded.sources.get(loaded.file).text().to_string();
    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let (texts, vary_plan) = match &args.vary {
        None => (vec![text], None),
        Some(v) => match v.texts(&name, &text) {
            Ok(t) => {
                // Every value is loaded and checked before any run starts.
                for (value, t) in &t {
                    let l = scenario::load_text_with(&name, t, &base, &overrides);
                    if l.runnable().is_none() {
                        diagnostics::print_all(&l.diagnostics, &l.sources, args.diagnostics);
                        eprintln!(
                            "meshsim: with {}={value} the scenario has errors; nothing was run",
                            v.path
                        );
                        return ExitCode::from(BAD_INPUT);
                    }
                }
                let plan = VaryPlan {
                    spec: v.to_string(),
                    path: v.path.clone(),
                    values: t.iter().map(|(v, _)| v.clone()).collect(),
                };
                (t.into_iter().map(|(_, t)| t).collect(), Some(plan))
            }
            Err(e) => {
                eprintln!("meshsim: {e}");
                return ExitCode::from(BAD_INPUT);
            }
        },
    };
    let plan = Plan {
        scenario: scenario.name.clone(),
        path: name.clone(),
        config_sha256: meshsim::report::config_sha256(&loaded.sources),
        mode: "wire".into(),
        first_seed: args.first_seed,
        seeds,
        duration: args.duration.map(duration_arg),
        vary: vary_plan,
        expectations: scenario.expect.iter().map(|e| e.name.clone()).collect(),
        right_decision: sweep::right_decision(scenario),
    };
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("reports").join(&scenario.name).join("sweep"));
    if let Err(e) = prepare_dir(&dir) {
        eprintln!("meshsim: --out {}: {e}", dir.display());
        eprintln!("meshsim: nothing was run");
        return ExitCode::from(BAD_INPUT);
    }
    let jobs = match args.shard {
        Some((i, n)) => plan.shard_jobs(i, n),
        None => plan.jobs(),
    };
    let threads = args
        .jobs
        .map(|j| j as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(jobs.len().max(1));
    let interrupt = match Interrupt::watch() {
        Ok(i) => Arc::new(i),
        Err(e) => {
            eprintln!("meshsim: cannot watch for SIGINT and SIGTERM: {e}");
            return ExitCode::from(RUN_FAILED);
        }
    };
    let texts = Arc::new(Texts { name, base, texts });
    let outcome = run_all(
        &jobs,
        threads,
        &texts,
        args.duration,
        &interrupt,
        args.quiet,
    );
    let (runs, failure) = match outcome {
        Ok(r) => (r, None),
        Err((r, e)) => (r, Some(e)),
    };
    let finished: Vec<SeedRun> = runs.into_iter().flatten().collect();
    let partial = finished.len() < jobs.len();
    if let Some(e) = &failure {
        eprintln!("meshsim: {e}");
    }
    let written = match args.shard {
        Some((i, n)) => {
            let part = Part {
                kind: "meshsim-sweep-part".into(),
                plan,
                shard: i,
                shards: n,
                partial,
                runs: finished,
            };
            let file = dir.join(format!("sweep-part-{i}-of-{n}.json"));
            write_json(&file, &part).map(|()| vec![file])
        }
        None => write_sweep(&dir, &sweep::aggregate(&plan, finished, partial)),
    };
    match written {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
        }
        Err(e) => {
            eprintln!("meshsim: cannot write to {}: {e}", dir.display());
            return ExitCode::from(RUN_FAILED);
        }
    }
    if let Some(signal) = interrupt.caught() {
        eprintln!(
            "meshsim: stopped by {}; the files hold the runs that finished and are marked partial",
            signal_name(signal)
        );
        return ExitCode::from(exit_for(signal));
    }
    if failure.is_some() {
        return ExitCode::from(RUN_FAILED);
    }
    ExitCode::from(OK)
}

type Runs = Vec<Option<SeedRun>>;

/// Runs `jobs` on `threads` workers; each result lands at its job's index, so the order
/// is the jobs' whatever finishes first. On a failed run the others stop and the error is
/// returned with what finished.
fn run_all(
    jobs: &[(usize, u64)],
    threads: usize,
    texts: &Arc<Texts>,
    duration: Option<Duration>,
    interrupt: &Arc<Interrupt>,
    quiet: bool,
) -> Result<Runs, (Runs, String)> {
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let jobs: Arc<Vec<(usize, u64)>> = Arc::new(jobs.to_vec());
    let (tx, rx) = mpsc::channel::<(usize, Result<Option<SeedRun>, String>)>();
    let mut handles = Vec::new();
    for _ in 0..threads {
        let (next, failed, jobs, texts, interrupt, tx) = (
            Arc::clone(&next),
            Arc::clone(&failed),
            Arc::clone(&jobs),
            Arc::clone(texts),
            Arc::clone(interrupt),
            tx.clone(),
        );
        handles.push(std::thread::spawn(move || {
            let mut loads: Vec<Option<ScenarioLoad>> =
                (0..texts.texts.len()).map(|_| None).collect();
            let overrides = Overrides { duration };
            let stop = || interrupt.caught().is_some() || failed.load(Ordering::Relaxed);
            loop {
                if stop() {
                    break;
                }
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(point, seed)) = jobs.get(k) else {
                    break;
                };
                let load = loads[point].get_or_insert_with(|| {
                    scenario::load_text_with(
                        &texts.name,
                        &texts.texts[point],
                        &texts.base,
                        &overrides,
                    )
                });
                let result = match load.runnable() {
                    Some((s, m)) => sweep::run_one(s, m, point, seed, duration, &stop)
                        .map_err(|e| format!("seed {seed}: {e}")),
                    None => Err("the scenario no longer loads".to_string()),
                };
                if result.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                if tx.send((k, result)).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    let mut runs: Runs = vec![None; jobs.len()];
    let mut progress = Progress::new(jobs.len(), quiet);
    let mut error = None;
    for (k, result) in rx {
        match result {
            Ok(Some(r)) => {
                progress.done(&r);
                runs[k] = Some(r);
            }
            Ok(None) => {}
            Err(e) => {
                error.get_or_insert(e);
            }
        }
    }
    for h in handles {
        if h.join().is_err() {
            error.get_or_insert("a worker thread panicked".into());
        }
    }
    progress.end();
    match error {
        None => Ok(runs),
        Some(e) => Err((runs, e)),
    }
}

/// The sweep's bar (terminal only, see [`RunsProgress`]) and the decisions so far.
struct Progress {
    bar: RunsProgress,
    done: u64,
    promoted: u64,
    rolled_back: u64,
}

impl Progress {
    fn new(total: usize, quiet: bool) -> Progress {
        let bar = RunsProgress::on_stderr(total as u64, quiet);
        bar.set(0, "promoted 0, rolled back 0".into());
        Progress {
            bar,
            done: 0,
            promoted: 0,
            rolled_back: 0,
        }
    }

    fn done(&mut self, r: &SeedRun) {
        self.done += 1;
        match r.thresholds.decision {
            sweep::Decision::Promoted => self.promoted += 1,
            sweep::Decision::RolledBack => self.rolled_back += 1,
            sweep::Decision::Undecided => {}
        }
        self.bar.set(
            self.done,
            format!(
                "promoted {}, rolled back {}",
                self.promoted, self.rolled_back
            ),
        );
    }

    fn end(&self) {
        self.bar.clear();
    }
}

fn write_json<T: serde::Serialize>(file: &Path, value: &T) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    text.push('\n');
    write_atomic(file, &text)
}

/// Written beside, then renamed: a reader never sees half a file.
fn write_atomic(file: &Path, text: &str) -> std::io::Result<()> {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file)
}

fn write_sweep(dir: &Path, s: &sweep::Sweep) -> std::io::Result<Vec<PathBuf>> {
    let md = dir.join("sweep.md");
    write_atomic(&md, &sweep::render::markdown(s))?;
    let html = dir.join("sweep.html");
    write_atomic(&html, &sweep::render::html(s))?;
    let json = dir.join("sweep.json");
    write_json(&json, s)?;
    Ok(vec![json, md, html])
}

fn merge(args: &MergeArgs) -> ExitCode {
    let mut files = Vec::new();
    for d in &args.dirs {
        if d.is_file() {
            files.push(d.clone());
            continue;
        }
        match std::fs::read_dir(d) {
            Ok(entries) => {
                let mut here: Vec<PathBuf> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("sweep-part-") && n.ends_with(".json"))
                    })
                    .collect();
                here.sort();
                files.extend(here);
            }
            Err(e) => {
                eprintln!("meshsim: {}: {e}", d.display());
                return ExitCode::from(BAD_INPUT);
            }
        }
    }
    let mut parts = Vec::new();
    for f in &files {
        let read = std::fs::read_to_string(f)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                serde_json::from_str::<Part>(&t).map_err(|e| format!("not a sweep part: {e}"))
            });
        match read {
            Ok(p) => parts.push((f.display().to_string(), p)),
            Err(e) => {
                eprintln!("meshsim: {}: {e}", f.display());
                return ExitCode::from(BAD_INPUT);
            }
        }
    }
    let (plan, runs, partial) = match sweep::merge(parts) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("meshsim: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let dir = args.out.clone().unwrap_or_else(|| args.dirs[0].clone());
    let dir = if dir.is_file() {
        dir.parent().unwrap_or(Path::new(".")).to_path_buf()
    } else {
        dir
    };
    if let Err(e) = prepare_dir(&dir) {
        eprintln!("meshsim: --out {}: {e}", dir.display());
        return ExitCode::from(BAD_INPUT);
    }
    match write_sweep(&dir, &sweep::aggregate(&plan, runs, partial)) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            if partial {
                eprintln!(
                    "meshsim: some shards were stopped early; the merged result is marked partial"
                );
            }
            ExitCode::from(OK)
        }
        Err(e) => {
            eprintln!("meshsim: cannot write to {}: {e}", dir.display());
            ExitCode::from(RUN_FAILED)
        }
    }
}
