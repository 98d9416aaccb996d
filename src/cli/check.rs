//! `meshsim check`: a policy's properties tested against the mesh, the lints, coverage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use meshsim::check::{self, CheckOptions, MeshUnderTest, Policy, Verdict};

use super::{BAD_INPUT, EXPECTATIONS_FAILED, LoadArgs, OK, diagnostics, failure_summary};

/// `meshsim check` flags.
#[derive(Args, Debug)]
pub(super) struct CheckArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// The policy file (YAML): the properties to test.
    #[arg(long, value_name = "POLICY")]
    policy: PathBuf,
    /// Generated requests per request property, 1 to 1000000.
    #[arg(long, default_value_t = check::DEFAULT_CASES, value_parser = cases, allow_hyphen_values = true)]
    cases: u32,
    /// Seed of the request generator, 0 to 2^64-1 (the same seed gives the same cases).
    #[arg(long, default_value_t = check::DEFAULT_SEED, value_parser = super::seed, allow_hyphen_values = true)]
    seed: u64,
    /// Report how many generated requests each route matched.
    #[arg(long)]
    coverage: bool,
    /// Skip the lints.
    #[arg(long)]
    no_lint: bool,
}

/// The most `--cases` takes: a million requests per property is already minutes on a large
/// mesh, and far past where another case finds a new route (see `--coverage`).
const MAX_CASES: u32 = 1_000_000;

/// `--cases`: at least one (zero would test nothing and pass), at most [`MAX_CASES`].
fn cases(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("at least 1 case is needed; 0 would test nothing and pass".into()),
        Ok(n) if n <= u64::from(MAX_CASES) => Ok(n as u32),
        _ => Err(format!(
            "cases are whole numbers from 1 to {MAX_CASES}; `{s}` is not one"
        )),
    }
}

pub(super) fn run(args: &CheckArgs) -> ExitCode {
    let loaded = args.load.load();
    diagnostics::print(&loaded, args.load.diagnostics);
    if !loaded.is_valid() {
        eprintln!("{}", failure_summary(&loaded));
        return ExitCode::from(BAD_INPUT);
    }
    let policy = match Policy::from_path(&args.policy, &loaded.meshes) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("meshsim: the policy is invalid; nothing was checked");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let Some(mesh) = loaded.meshes.get(&policy.mesh) else {
        return ExitCode::from(BAD_INPUT);
    };
    let subject = MeshUnderTest::new(mesh);
    if !args.no_lint {
        let lints = check::lint(mesh);
        diagnostics::print_all(&lints, &loaded.sources, args.load.diagnostics);
    }
    let opts = CheckOptions {
        cases: args.cases,
        seed: args.seed,
    };
    let report = match check::check(&subject, &policy, &opts, &loaded.sources) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    println!(
        "{}: {} properties over mesh {}, {} cases each, seed {}",
        args.policy.display(),
        report.results.len(),
        policy.mesh,
        opts.cases,
        opts.seed
    );
    for r in &report.results {
        match &r.verdict {
            Verdict::Holds => println!("  ok      {} ({})", r.name, r.at),
            Verdict::Fails(f) => {
                println!("  FAILED  {} ({})", r.name, r.at);
                println!("          {}", f.message);
                for d in &f.detail {
                    println!("          {d}");
                }
                if let Some(c) = &f.counterexample {
                    println!("          counterexample: {}", c.curl);
                    for line in &c.explanation {
                        println!("            {line}");
                    }
                }
            }
        }
    }
    if args.coverage {
        match check::coverage(&subject, opts.seed, opts.cases) {
            Ok(cov) => {
                let (hit, all) = cov.counts();
                println!(
                    "coverage: {hit}/{all} routes matched by {} requests per service",
                    cov.cases
                );
                for (service, routes) in &cov.services {
                    println!("  {service}");
                    for (route, n) in routes {
                        let mark = if *n == 0 { "  NOT COVERED" } else { "" };
                        println!("    {route}: {n}{mark}");
                    }
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(BAD_INPUT);
            }
        }
    }
    if report.holds() {
        ExitCode::from(OK)
    } else {
        let files: Vec<String> = args
            .load
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        println!(
            "replay: meshsim check {} --policy {} --cases {} --seed {}",
            files.join(" "),
            args.policy.display(),
            opts.cases,
            opts.seed
        );
        ExitCode::from(EXPECTATIONS_FAILED)
    }
}
