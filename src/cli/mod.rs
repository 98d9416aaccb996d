//! Commands and their flags (clap), and dispatch.

mod check;
mod diagnostics;
mod diff;
mod explain;
mod init;
mod manual;
pub(crate) mod out;
mod progress;
mod run;
mod show;
mod shrink;
mod sweep;
mod translate;
mod tui;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use meshsim::config::{Diagnostic, LoadOptions, LoadedConfig, Loc, Severity, load_paths};

/// Exit code: success.
const OK: u8 = 0;
/// Exit code: the run completed but an expectation of the scenario failed.
const EXPECTATIONS_FAILED: u8 = 1;
/// Exit code: bad input or usage.
const BAD_INPUT: u8 = 2;

/// The command line's definition, for the completion scripts and man pages made from it.
fn definition() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[derive(Parser, Debug)]
#[command(
    name = "meshsim",
    version,
    about = "Rehearse an App Mesh rollout on a laptop: a deterministic mesh simulator",
    after_help = "Exit codes: 0 success, 1 a scenario's expectations failed (or a check property), 2 bad input or usage, 3 the simulation failed."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check App Mesh configuration files (API JSON, CloudFormation, Kubernetes).
    #[command(after_help = "Examples:
  meshsim validate scenarios/ordering/mesh.cfn.yaml
  meshsim validate walkthrough/*.json --var NAMESPACE_NAME=color.local --var DNS_HOSTNAME=color.local
  meshsim validate stack.yaml --param ProjectName=howto --lenient
  meshsim validate route.json --partial

Files given together form one mesh: references resolve across all of them.
Exit code 0 if every file is valid, 2 if any is invalid or unreadable.")]
    Validate(LoadArgs),
    /// Print the resolved mesh graph: gateway -> virtual service -> router -> routes -> nodes.
    #[command(after_help = "Examples:
  meshsim show scenarios/ordering/mesh.cfn.yaml
  meshsim show mesh.yaml --format dot | dot -Tsvg > mesh.svg
  meshsim show mesh.yaml --format json")]
    Show {
        #[command(flatten)]
        load: LoadArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Write a runnable scenario (and a starting `check` policy) from your mesh files.
    #[command(after_help = "Examples:
  meshsim init mesh.cfn.yaml --param ProjectName=shop
  meshsim init manifest.yaml --var APP_NAMESPACE=shop --out rehearsal/shop.yaml
  meshsim run scenario.yaml --duration 1m

Writes a task entry per virtual node (replicas from Kubernetes Deployments or ECS
services in the files, else 2), a generic service per node with endpoints from the
routes that reach it and calls to its backends, the workload's target and a request mix
aimed at every route, commented rollout stubs and expectations; and beside it
<name>.policy.yaml for `meshsim check`. --var and --param values are carried into the
scenario. Runs as written: `meshsim run` exits 0 or 1 on it.
Exit code 0 when both files were written, 2 for bad input or an existing file (--force).")]
    Init(init::InitArgs),
    /// Run a scenario: the mesh and its apps over a simulated network, deterministically.
    #[command(after_help = "Examples:
  meshsim run scenarios/baseline.yaml
  meshsim run scenarios/retry-storm.yaml --seed 7 --duration 2m --out /tmp/storm
  meshsim run scenarios/baseline.yaml --junit results/meshsim.xml
  meshsim run scenarios/retry-storm.yaml --report default,traces --access-log sampled

Writes report.json, summary.md and one .hgrm per service to --out
(default reports/<scenario>/<seed>/), and with --junit the verdicts on the scenario's
`expect:` section as JUnit XML. --report default,traces adds the sampled requests'
traces (traces.json, requests.jsonl; see `meshsim explain`); --access-log sampled|full
writes Envoy-format access logs per sidecar. Progress and wall time go to stderr.
Exit code 0 when every expectation held (or there are none), 1 when any failed,
2 for a bad scenario, 3 if the simulation failed.")]
    Run(run::RunArgs),
    /// Watch and steer a rehearsal live: service graph, latency, rollout, faults, events.
    #[command(after_help = "Examples:
  meshsim tui scenarios/canary-bad-errors.yaml
  meshsim tui scenarios/canary.yaml --seed 7 --speed 1 --save-scenario /tmp/canary-live.yaml

Keys: space pause, . step, +/- speed (1x, 10x, 100x, max), f inject a fault, r restart,
tab switch panel, left/right scrub, ? help, q or Ctrl-C quit and print the summary.
The world runs in simulated time; the screen only paces it. Without injected faults the
report is the one `meshsim run` writes with that seed. When standard output is not a
terminal, runs `meshsim run` instead. Exit codes as for `meshsim run`.")]
    Tui(tui::TuiArgs),
    /// Test a routing policy's properties against the mesh with generated requests; lint it.
    #[command(after_help = "Examples:
  meshsim check scenarios/ordering/mesh.cfn.yaml --policy policy.yaml
  meshsim check mesh.yaml --policy policy.yaml --cases 10000 --seed 7 --coverage

Requests are generated from the route table (prefixes, exact paths, header values, range
bounds, regexes and near misses of each) and routed by the engine the sidecars run; a
failing property is shrunk to a minimal request, printed as a curl line with the engine's
explanation. Lints print as warnings and notes and do not change the exit code.
Exit code 0 when every property holds, 1 when one fails, 2 for bad input.")]
    Check(check::CheckArgs),
    /// Explain one sampled request hop by hop: the route matched, the weight draw, each
    /// attempt, retries, timeouts, faults, ejections and breaker decisions.
    #[command(after_help = "Examples:
  meshsim run scenarios/retry-storm.yaml --report default,traces --out /tmp/storm
  meshsim explain /tmp/storm --request 1-000000ba-000000070000000000004aca
  meshsim explain /tmp/storm --request 000000ba-0000-0007-0000-000000004aca --rerun

ID is a trace id as traces.json and requests.jsonl name it, or an x-request-id as the
access logs show it. A request that was not sampled is explained by rerunning the run with
only it sampled (--rerun, from the directory the run was started in).
Exit code 0 when the request was explained, 2 for a missing directory or an unknown id.")]
    Explain(explain::ExplainArgs),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell.
    #[command(after_help = "Examples:
  meshsim completions bash > ~/.local/share/bash-completion/completions/meshsim
  meshsim completions zsh > ~/.zfunc/_meshsim    # with fpath+=(~/.zfunc) before compinit
  meshsim completions fish > ~/.config/fish/completions/meshsim.fish

The script completes commands, flags, and the values of flags with a fixed set (--format,
--access-log, --diagnostics, the shell); file arguments complete as files. Generated from
this binary, so it matches its version.")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), of meshsim or of one command; or write them all.
    #[command(after_help = "Examples:
  meshsim man | man -l -
  meshsim man run | man -l -
  meshsim man --out ~/.local/share/man/man1    # then: man meshsim-run

The pages are generated from this binary's own help, so they always match its flags.")]
    Man {
        /// The command whose page to print (meshsim's own page lists them all).
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
        /// Write meshsim.1 and one meshsim-COMMAND.1 per command into this folder instead.
        #[arg(long, value_name = "DIR", conflicts_with = "command")]
        out: Option<PathBuf>,
    },
    /// Run a scenario with many seeds and measure how often its rollout decides wrong.
    #[command(after_help = "Examples:
  meshsim sweep scenarios/canary-bad-errors.yaml --seeds 100 --jobs 2
  meshsim sweep scenarios/canary-bad-errors.yaml --seeds 20 --vary 'faults[v2-returns-500s].percent=0..5/0.5'
  meshsim sweep scenarios/canary.yaml --seeds 100 --shard 3/8 --out parts/
  meshsim sweep merge parts/

Writes sweep.json (schema in docs/sweep.schema.json), sweep.md and sweep.html to --out
(default reports/<scenario>/sweep/): the rollout's decisions with Wilson 95 % intervals,
time to decision, each expectation's share of runs held, the users' success rate and p99
across runs, three judges on the same runs (the rollout's thresholds, a shadow Mann-Whitney
judge and a shadow sequential test) and the worst runs' replay commands. Results are the
same whatever --jobs. Ctrl-C stops and writes what finished, marked partial. See
docs/SWEEPS.md. Exit code 0 when written, 2 for bad input, 3 if a run failed, 130 on
Ctrl-C.")]
    Sweep(sweep::SweepArgs),
    /// Find a smaller scenario whose run with the same seed still fails the same expectation.
    #[command(after_help = "Examples:
  meshsim shrink my-scenario.yaml --seed 7
  meshsim shrink my-canary.yaml --seed 3 --expect 'rollout rolled_back' --out /tmp/min.yaml

Runs the scenario with the seed and takes the first expectation that fails (or the one
--expect names, as the summary prints its name). Then tries smaller scenarios in a fixed
order, each an ordinary run with the same seed: each fault removed, fault windows
shortened, the run (and the rollout's times) shortened, the workload's rate lowered, fewer
replicas, fewer requests in the mix, fewer tasks. A reduction is kept when the same
expectation still fails the same way: a number still on the failing side, or the same
outcome, and no new reason among the users' failures. The file is edited as text, so
comments and layout stay. Writes the smallest scenario found (default
reports/<scenario>/shrink/<file stem>-seed-<S>.yaml), prints what was removed or reduced
and the command that replays it. The result is the same whatever --jobs. See
docs/SWEEPS.md. Exit code 0 when written (also when nothing could be removed: it says
so), 1 when the seed does not fail the expectation, 2 for bad input, 3 if a run failed,
130 on Ctrl-C (the smallest scenario found so far is written).")]
    Shrink(shrink::ShrinkArgs),
    /// Write an App Mesh mesh as Istio, Gateway API, ECS Service Connect or VPC Lattice
    /// configuration, with a report of what the target loses.
    #[command(after_help = "Examples:
  meshsim translate scenarios/ordering/mesh.cfn.yaml --to lattice
  meshsim translate mesh/*.json --to istio --out istio/
  meshsim translate stack.yaml --param ProjectName=shop --to service-connect --out sc/

Writes the target's files (istio: virtual-services.yaml, destination-rules.yaml;
gateway-api: httproutes.yaml; service-connect: service-connect/<node>.json; lattice:
lattice.cfn.yaml) and loss.md and loss.json: every App Mesh field or hidden default the
target cannot carry, what changes because of it, its source, and a line to rehearse it.
Refused and lost entries are also printed. Output is the same bytes for the same files.
See docs/MIGRATION.md. Exit code 0 when written, 2 for bad input, 3 if a file cannot be
written.")]
    Translate(translate::TranslateArgs),
    /// Run a scenario against its own App Mesh configuration and another (a changed mesh,
    /// or Istio), seed by seed, and report what differs beyond the noise floor.
    #[command(after_help = "Examples:
  meshsim diff my-scenario.yaml --against mesh-without-retries.yaml --seeds 20
  meshsim diff my-scenario.yaml --against virtual-services.yaml destination-rules.yaml --seeds 10 --jobs 2

Runs the scenario's workload and faults with seeds FIRST..FIRST+N-1 on its own mesh (the
baseline) and on --against (App Mesh files in any of the three syntaxes, or Istio
VirtualService/DestinationRule files; other targets' files are refused; the candidate must
have the scenario's virtual nodes and workload target), and the baseline again with seeds
FIRST+N..FIRST+2N-1 for the noise. Per class (the users, and each caller and virtual
service it calls): success rate, p50 and p99 latency, retries, timeouts, the share each
route and virtual node served. A metric differs when the mean of candidate minus baseline,
seed by seed, exceeds the noise floor: Student's t (N degrees of freedom, two-sided 0.1 %)
times the root mean square of baseline(s+N) minus baseline(s), over the square root of N.
Writes diff.json (schema in docs/diff.schema.json), diff.md and diff.html to --out
(default reports/<scenario>/diff/), each difference with its seed and the commands that
show it. The same bytes whatever --jobs. See docs/MIGRATION.md. Exit code 0 when nothing
differs beyond noise, 1 when something does, 2 for bad input, 3 if a run failed, 130 on
Ctrl-C (the seeds that finished are written, marked partial).")]
    Diff(diff::DiffArgs),
}

/// Flags shared by every command that loads App Mesh files.
#[derive(Args, Debug)]
struct LoadArgs {
    /// App Mesh files: API/CLI JSON, CloudFormation (YAML or JSON), Kubernetes manifests.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    values: Values,
    /// Accept real-world quirks (keys in the wrong case) with a warning.
    #[arg(long)]
    lenient: bool,
    /// Validate a fragment: references to resources not given become warnings.
    #[arg(long)]
    partial: bool,
    /// Mesh for resources that name none (spec-only bodies, routes without meshName).
    #[arg(long, value_name = "NAME")]
    mesh: Option<String>,
    /// How to print diagnostics: `human` (with source snippets) or `short` (one line each).
    #[arg(long, value_enum, default_value_t = DiagnosticStyle::Human)]
    diagnostics: DiagnosticStyle,
}

/// The values the mesh files leave open: `--var` and `--param`.
#[derive(Args, Debug)]
struct Values {
    /// Value for a `$NAME` / `${NAME}` placeholder in shell-template files.
    #[arg(long = "var", value_name = "K=V", value_parser = key_value)]
    vars: Vec<(String, String)>,
    /// Value for a CloudFormation parameter, pseudo parameter (`AWS::StackName`, `AWS::Region`,
    /// ...) or `Fn::ImportValue` export; a name the templates do not take is refused.
    #[arg(long = "param", value_name = "K=V", value_parser = key_value)]
    params: Vec<(String, String)>,
}

impl Values {
    fn vars(&self) -> BTreeMap<String, String> {
        self.vars.iter().cloned().collect()
    }

    fn params(&self) -> BTreeMap<String, String> {
        self.params.iter().cloned().collect()
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// Indented tree.
    Text,
    /// Graphviz.
    Dot,
    /// JSON, for tools.
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DiagnosticStyle {
    /// Message, source snippet and help.
    Human,
    /// `file:line:col: severity[code]: message (at path)`.
    Short,
}

/// `--seed`: any u64. Said in full, since a negative or fractional seed is the usual slip and
/// clap's own message ("invalid digit found in string") does not say what a seed may be.
fn seed(s: &str) -> Result<u64, String> {
    s.trim().parse().map_err(|_| {
        format!(
            "seeds are whole numbers from 0 to {} (2^64 - 1); `{s}` is not one",
            u64::MAX
        )
    })
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected K=V, found `{s}`")),
    }
}

impl LoadArgs {
    fn load(&self) -> LoadedConfig {
        let opts = LoadOptions {
            vars: self.values.vars(),
            params: self.values.params(),
            lenient: self.lenient,
            partial: self.partial,
            mesh: self.mesh.clone(),
        };
        load_files(&self.files, &opts)
    }
}

/// Loads the files given on the command line, refusing `--param` names nothing reads.
fn load_files(files: &[PathBuf], opts: &LoadOptions) -> LoadedConfig {
    let mut loaded = load_paths(files, opts);
    for unknown in loaded.unknown_params(opts.params.keys()) {
        let at = Loc {
            file: None,
            span: Default::default(),
            path: format!("--param {}", unknown.name),
        };
        let message = format!("--param {}", unknown.message());
        loaded.diagnostics.push(
            Diagnostic::new(Severity::Error, "unknown-parameter", &at, message)
                .with_help(unknown.help),
        );
    }
    // Command-line problems (no file) sort first.
    loaded.diagnostics.sort();
    loaded
}

/// Parses the command line and runs the command.
pub fn run() -> ExitCode {
    out::finish(command())
}

fn command() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { BAD_INPUT } else { OK });
        }
    };
    match cli.command {
        Command::Validate(args) => validate(&args),
        Command::Init(args) => init::init(&args),
        Command::Run(args) => run::run(&args),
        Command::Tui(args) => tui::tui(&args),
        Command::Check(args) => check::run(&args),
        Command::Explain(args) => explain::explain_command(&args),
        Command::Completions { shell } => manual::completions(shell),
        Command::Man { command, out } => manual::man(command.as_deref(), out.as_deref()),
        Command::Sweep(args) => sweep::sweep(&args),
        Command::Shrink(args) => shrink::shrink(&args),
        Command::Translate(args) => translate::translate(&args),
        Command::Diff(args) => diff::diff(&args),
        Command::Show { load, format } => {
            let loaded = load.load();
            diagnostics::print(&loaded, load.diagnostics);
            if !loaded.is_valid() {
                eprintln!("{}", failure_summary(&loaded));
                return ExitCode::from(BAD_INPUT);
            }
            let out = match format {
                Format::Text => show::text(&loaded),
                Format::Dot => show::dot(&loaded),
                Format::Json => show::json(&loaded),
            };
            print!("{out}");
            ExitCode::from(OK)
        }
    }
}

fn validate(args: &LoadArgs) -> ExitCode {
    let loaded = args.load();
    for report in &loaded.files {
        let file = loaded.sources.get(report.file);
        let errors = loaded
            .diagnostics_of(report.file)
            .filter(|d| d.severity == Severity::Error)
            .count();
        let warnings = loaded
            .diagnostics_of(report.file)
            .filter(|d| d.severity == Severity::Warning)
            .count();
        let status = match (errors, warnings) {
            (0, 0) => "ok".to_string(),
            (0, w) => format!("ok, {}", plural(w, "warning", "warnings")),
            (e, 0) => format!("INVALID, {}", plural(e, "error", "errors")),
            (e, w) => format!(
                "INVALID, {}, {}",
                plural(e, "error", "errors"),
                plural(w, "warning", "warnings")
            ),
        };
        let syntax = report.syntax.map(|s| format!(" ({s})")).unwrap_or_default();
        let mut parts: Vec<String> = report
            .counts
            .iter()
            .map(|(kind, n)| {
                let (one, many) = kind.words();
                plural(*n, one, many)
            })
            .collect();
        if parts.is_empty() {
            parts.push("no App Mesh resources".into());
        }
        if report.skipped > 0 {
            parts.push(format!("{} skipped (not App Mesh)", report.skipped));
        }
        println!("{}: {status}{syntax}: {}", file.name(), parts.join(", "));
    }
    // Findings about a whole mesh (quotas over all files) and about the command line belong
    // to no file; count them too, so the lines above and below add up to what is printed.
    // A command-line diagnostic's path is its flag.
    for (label, command_line) in [
        ("(the command line)", true),
        ("(the mesh as a whole)", false),
    ] {
        let (errors, warnings) = loaded
            .diagnostics
            .iter()
            .filter(|d| d.file.is_none() && d.path.starts_with("--") == command_line)
            .fold((0, 0), |(e, w), d| match d.severity {
                Severity::Error => (e + 1, w),
                Severity::Warning => (e, w + 1),
                Severity::Note => (e, w),
            });
        if errors + warnings > 0 {
            let mut counts = Vec::new();
            if errors > 0 {
                counts.push(plural(errors, "error", "errors"));
            }
            if warnings > 0 {
                counts.push(plural(warnings, "warning", "warnings"));
            }
            println!("{label}: {}", counts.join(", "));
        }
    }
    diagnostics::print(&loaded, args.diagnostics);
    if loaded.is_valid() {
        ExitCode::from(OK)
    } else {
        eprintln!("{}", failure_summary(&loaded));
        ExitCode::from(BAD_INPUT)
    }
}

fn failure_summary(loaded: &LoadedConfig) -> String {
    let n = loaded.diagnostics.count(Severity::Error);
    format!(
        "meshsim: {} in the input; nothing was run",
        plural(n, "error", "errors")
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}
