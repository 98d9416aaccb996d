//! `meshsim diff`: a scenario run seed by seed against its own App Mesh configuration and
//! against `--against` (App Mesh files, or Istio VirtualService/DestinationRule files read by
//! `migrate::istio_load`), on worker threads; diff.json, diff.md and diff.html written with
//! the differences beyond the noise floor.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use meshsim::config::model::Mesh;
use meshsim::config::{LoadOptions, load_paths};
use meshsim::diff::{self, Plan, SeedRun, Side};
use meshsim::report::output::prepare_dir;
use meshsim::scenario::{self, Overrides, Scenario, ScenarioLoad};

use super::progress::RunsProgress;
use super::run::{Interrupt, RUN_FAILED, duration, duration_arg, exit_for, signal_name};
use super::{BAD_INPUT, DiagnosticStyle, EXPECTATIONS_FAILED, OK, Values, diagnostics};

/// `meshsim diff` flags.
#[derive(clap::Args, Debug)]
pub(super) struct DiffArgs {
    /// The scenario file; its own mesh is the baseline.
    #[arg(value_name = "SCENARIO")]
    scenario: PathBuf,
    /// The configuration to compare: App Mesh files (API JSON, CloudFormation, Kubernetes),
    /// or Istio VirtualService and DestinationRule files (YAML or JSON).
    #[arg(long, required = true, num_args = 1.., value_name = "CONFIG")]
    against: Vec<PathBuf>,
    /// Seeds per side: baseline and candidate FIRST..FIRST+N-1, noise FIRST+N..FIRST+2N-1.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    seeds: u64,
    /// The first seed.
    #[arg(long, value_name = "S", default_value_t = 0, value_parser = super::seed)]
    first_seed: u64,
    /// Runs at a time, on threads [default: one per core].
    #[arg(long, short, value_name = "J", value_parser = clap::value_parser!(u64).range(1..=1024))]
    jobs: Option<u64>,
    /// Where to write the files [default: reports/<scenario>/diff/].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Simulated time per run, overriding the scenario's.
    #[arg(long, value_parser = duration, allow_hyphen_values = true)]
    duration: Option<Duration>,
    #[command(flatten)]
    values: Values,
    /// Accept real-world quirks in the App Mesh files given to --against (keys in the wrong
    /// case) with a warning.
    #[arg(long)]
    lenient: bool,
    /// The mesh of the --against App Mesh files, when they hold several [default: the
    /// scenario's mesh name, else the only one].
    #[arg(long, value_name = "NAME")]
    mesh: Option<String>,
    /// No progress bar on stderr (there is none unless stderr is a terminal).
    #[arg(long, short)]
    quiet: bool,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = DiagnosticStyle::Human)]
    diagnostics: DiagnosticStyle,
}

/// Which loader reads the `--against` files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    AppMesh,
    Istio,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::AppMesh => "appmesh",
            Format::Istio => "istio",
        }
    }
}

/// What `diff` reads, for the refusal of everything else.
const LOADERS: &str = "meshsim diff reads App Mesh files (API JSON, CloudFormation, Kubernetes) \
and Istio VirtualService and DestinationRule files; no loader exists yet for Istio \
PeerAuthentication, Gateway API, ECS Service Connect or VPC Lattice configuration";

/// Another target's configuration, recognised by its `apiVersion`, resource type or key:
/// what it is, and the line it is named on.
fn other_target(text: &str) -> Option<(usize, &'static str)> {
    let marks: [(&str, &str); 5] = [
        (
            "security.istio.io",
            "Istio security resource (PeerAuthentication)",
        ),
        (
            "gateway.networking.k8s.io",
            "Kubernetes Gateway API resource",
        ),
        (
            "application-networking.k8s.aws",
            "AWS Gateway API Controller (Lattice) resource",
        ),
        ("AWS::VpcLattice::", "VPC Lattice CloudFormation resource"),
        (
            "serviceConnectConfiguration",
            "ECS Service Connect configuration",
        ),
    ];
    for (i, line) in text.lines().enumerate() {
        for (mark, what) in marks {
            if line.contains(mark) {
                return Some((i + 1, what));
            }
        }
    }
    None
}

/// The line naming Istio's networking API, if any.
fn istio_line(text: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.contains("apiVersion") && l.contains("networking.istio.io"))
        .map(|i| i + 1)
}

/// The candidate mesh, or the exit code after saying why not.
fn candidate(args: &DiffArgs, scenario: &Scenario, baseline: &Mesh) -> Result<(Mesh, Format), u8> {
    let mut texts = Vec::new();
    let mut format: Option<Format> = None;
    for path in &args.against {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("meshsim: {shown}: cannot read: {e}");
                return Err(BAD_INPUT);
            }
        };
        if let Some((line, what)) = other_target(&text) {
            eprintln!("meshsim: {shown}:{line}: a {what}; {LOADERS}");
            return Err(BAD_INPUT);
        }
        let this = if istio_line(&text).is_some() {
            Format::Istio
        } else {
            Format::AppMesh
        };
        match format {
            Some(f) if f != this => {
                eprintln!(
                    "meshsim: {shown}: {} files and {} files given together; --against takes one configuration",
                    this.as_str(),
                    f.as_str()
                );
                return Err(BAD_INPUT);
            }
            _ => format = Some(this),
        }
        texts.push((shown, text));
    }
    match format.unwrap_or(Format::AppMesh) {
        Format::Istio => {
            let pairs: Vec<(&str, &str)> = texts
                .iter()
                .map(|(n, t)| (n.as_str(), t.as_str()))
                .collect();
            let loaded = meshsim::migrate::istio_load::load_istio(&pairs, &baseline.name);
            diagnostics::print_all(&loaded.diagnostics, &loaded.sources, args.diagnostics);
            if !loaded.is_valid() {
                eprintln!("meshsim: the --against files have errors; nothing was run");
                return Err(BAD_INPUT);
            }
            Ok((loaded.mesh, Format::Istio))
        }
        Format::AppMesh => {
            // The scenario's own values and mesh name, unless the command line says otherwise.
            let mut opts = LoadOptions {
                vars: scenario.mesh.vars.clone(),
                params: scenario.mesh.params.clone(),
                lenient: args.lenient || scenario.mesh.lenient,
                partial: false,
                mesh: args.mesh.clone(),
            };
            opts.vars.extend(args.values.vars());
            opts.params.extend(args.values.params());
            let loaded = load_paths(&args.against, &opts);
            diagnostics::print(&loaded, args.diagnostics);
            if !loaded.is_valid() {
                eprintln!("meshsim: the --against files have errors; nothing was run");
                return Err(BAD_INPUT);
            }
            let names: Vec<&str> = loaded.meshes.keys().map(String::as_str).collect();
            let mesh = match (&args.mesh, names.as_slice()) {
                (Some(want), _) => loaded.meshes.get(want),
                (None, [only]) => loaded.meshes.get(*only),
                (None, []) => {
                    eprintln!("meshsim: the --against files hold no App Mesh resources; {LOADERS}");
                    return Err(BAD_INPUT);
                }
                (None, _) => loaded.meshes.get(&baseline.name),
            };
            match mesh {
                Some(m) => Ok((m.clone(), Format::AppMesh)),
                None => {
                    eprintln!(
                        "meshsim: the --against files hold meshes {}; pass --mesh NAME",
                        names.join(", ")
                    );
                    Err(BAD_INPUT)
                }
            }
        }
    }
}

/// The first line of the scenario that names `what`, for pointing at a field.
fn line_naming(text: &str, what: &str) -> usize {
    text.lines()
        .position(|l| l.split('#').next().unwrap_or("").contains(what))
        .map_or(1, |i| i + 1)
}

pub(super) fn diff(args: &DiffArgs) -> ExitCode {
    let overrides = Overrides {
        duration: args.duration,
    };
    let path = &args.scenario;
    let loaded = scenario::load_with(path, &overrides);
    diagnostics::print_all(&loaded.diagnostics, &loaded.sources, args.diagnostics);
    let Some((scenario, baseline)) = loaded.runnable() else {
        eprintln!("meshsim: the scenario has errors; nothing was run");
        return ExitCode::from(BAD_INPUT);
    };
    let (mesh, format) = match candidate(args, scenario, baseline) {
        Ok(c) => c,
        Err(code) => return ExitCode::from(code),
    };
    let name = path.display().to_string();
    let text = loaded.sources.get(loaded.file).text().to_string();
    let misfits = diff::mesh_fits(scenario, &mesh);
    if !misfits.is_empty() {
        for (field, problem) in &misfits {
            let what = field.rsplit_once('.').map_or(field.as_str(), |(_, w)| w);
            let named = match field.as_str() {
                f if f.starts_with("tasks[") => f
                    .strip_prefix("tasks[")
                    .and_then(|r| r.split(']').next())
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| scenario.tasks.get(i))
                    .map_or(what.to_string(), |t| t.node.clone()),
                "workload.target" => scenario.workload.target.clone(),
                "rollout.route" => scenario
                    .rollout
                    .as_ref()
                    .map_or(what.to_string(), |r| r.route.clone()),
                _ => what.to_string(),
            };
            eprintln!(
                "meshsim: {name}:{}: {field}: {problem}",
                line_naming(&text, &named)
            );
        }
        eprintln!("meshsim: the --against mesh does not fit the scenario; nothing was run");
        return ExitCode::from(BAD_INPUT);
    }
    let plan = Plan {
        scenario: scenario.name.clone(),
        path: name.clone(),
        against: args
            .against
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        against_format: format.as_str().into(),
        mode: "wire".into(),
        first_seed: args.first_seed,
        seeds: args.seeds,
        duration: args.duration.map(duration_arg),
    };
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("reports").join(&scenario.name).join("diff"));
    if let Err(e) = prepare_dir(&dir) {
        eprintln!("meshsim: --out {}: {e}", dir.display());
        eprintln!("meshsim: nothing was run");
        return ExitCode::from(BAD_INPUT);
    }
    let jobs = plan.jobs();
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
    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let shared = Arc::new(Shared {
        name,
        base,
        text,
        candidate: mesh,
        duration: args.duration,
    });
    let (runs, failure) = match run_all(&jobs, threads, &shared, &interrupt, args.quiet) {
        Ok(r) => (r, None),
        Err((r, e)) => (r, Some(e)),
    };
    let finished: Vec<SeedRun> = runs.into_iter().flatten().collect();
    let partial = finished.len() < jobs.len();
    if let Some(e) = &failure {
        eprintln!("meshsim: {e}");
    }
    let result = diff::aggregate(&plan, finished, partial);
    match write_diff(&dir, &result) {
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
            "meshsim: stopped by {}; the files hold the seeds whose runs finished and are marked partial",
            signal_name(signal)
        );
        return ExitCode::from(exit_for(signal));
    }
    if failure.is_some() {
        return ExitCode::from(RUN_FAILED);
    }
    if result.differences.is_empty() {
        println!(
            "no difference beyond the noise floor in {} seeds",
            plan.seeds
        );
        ExitCode::from(OK)
    } else {
        println!(
            "{} difference(s) beyond the noise floor:",
            result.differences.len()
        );
        for d in &result.differences {
            println!(
                "  {} {}: {:.3} -> {:.3} (noise floor {:.3}); seed {}: {}",
                d.class,
                d.metric,
                d.baseline,
                d.candidate,
                d.noise_floor,
                d.seed,
                d.candidate_command
            );
        }
        ExitCode::from(EXPECTATIONS_FAILED)
    }
}

/// What every worker needs: the scenario's text (each worker loads its own copy, as
/// `sweep`'s do) and the candidate mesh.
struct Shared {
    name: String,
    base: PathBuf,
    text: String,
    candidate: Mesh,
    duration: Option<Duration>,
}

type Runs = Vec<Option<SeedRun>>;

/// Runs `jobs` on `threads` workers; each result lands at its job's index, so the order is
/// the jobs' whatever finishes first. On a failed run the others stop and the error is
/// returned with what finished.
fn run_all(
    jobs: &[(Side, u64)],
    threads: usize,
    shared: &Arc<Shared>,
    interrupt: &Arc<Interrupt>,
    quiet: bool,
) -> Result<Runs, (Runs, String)> {
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let jobs: Arc<Vec<(Side, u64)>> = Arc::new(jobs.to_vec());
    let (tx, rx) = mpsc::channel::<(usize, Result<Option<SeedRun>, String>)>();
    let mut handles = Vec::new();
    for _ in 0..threads {
        let (next, failed, jobs, shared, interrupt, tx) = (
            Arc::clone(&next),
            Arc::clone(&failed),
            Arc::clone(&jobs),
            Arc::clone(shared),
            Arc::clone(interrupt),
            tx.clone(),
        );
        handles.push(std::thread::spawn(move || {
            let overrides = Overrides {
                duration: shared.duration,
            };
            let mut load: Option<ScenarioLoad> = None;
            let stop = || interrupt.caught().is_some() || failed.load(Ordering::Relaxed);
            loop {
                if stop() {
                    break;
                }
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(side, seed)) = jobs.get(k) else {
                    break;
                };
                let load = load.get_or_insert_with(|| {
                    scenario::load_text_with(&shared.name, &shared.text, &shared.base, &overrides)
                });
                let result = match load.runnable() {
                    Some((s, own)) => {
                        let mesh = if side == Side::Candidate {
                            &shared.candidate
                        } else {
                            own
                        };
                        diff::run_one(s, mesh, side, seed, shared.duration, &stop).map_err(|e| {
                            let which = match side {
                                Side::Candidate => "the --against mesh",
                                _ => "the scenario's mesh",
                            };
                            format!("seed {seed} with {which}: {e}")
                        })
                    }
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
    let bar = RunsProgress::on_stderr(jobs.len() as u64, quiet);
    let mut done = 0;
    let mut error = None;
    for (k, result) in rx {
        match result {
            Ok(Some(r)) => {
                done += 1;
                bar.set(done, String::new());
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
    bar.clear();
    match error {
        None => Ok(runs),
        Some(e) => Err((runs, e)),
    }
}

/// Written beside, then renamed: a reader never sees half a file.
fn write_atomic(file: &Path, text: &str) -> std::io::Result<()> {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file)
}

fn write_diff(dir: &Path, d: &diff::Diff) -> std::io::Result<Vec<PathBuf>> {
    let md = dir.join("diff.md");
    write_atomic(&md, &diff::render::markdown(d))?;
    let html = dir.join("diff.html");
    write_atomic(&html, &diff::render::html(d))?;
    let json = dir.join("diff.json");
    let mut text = serde_json::to_string_pretty(d).map_err(std::io::Error::other)?;
    text.push('\n');
    write_atomic(&json, &text)?;
    Ok(vec![json, md, html])
}
