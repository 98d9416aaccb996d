//! `meshsim init`: a runnable scenario and a starting `check` policy from the mesh files.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use meshsim::config::LoadOptions;
use meshsim::init::{self, InitOptions};

use super::{
    BAD_INPUT, DiagnosticStyle, OK, Values, diagnostics, failure_summary, load_files, plural,
};

/// Exit code: the generated scenario does not load (a defect of `init`, not of the input).
const INTERNAL: u8 = 3;

/// `meshsim init` flags.
#[derive(Args, Debug)]
pub(super) struct InitArgs {
    /// App Mesh files: API/CLI JSON, CloudFormation (YAML or JSON), Kubernetes manifests, with
    /// the Deployments or ECS services that run the nodes when you have them.
    #[arg(required = true, value_name = "MESH_FILE")]
    files: Vec<PathBuf>,
    /// `--var` and `--param`, written into the scenario's `mesh.vars` and `mesh.params`.
    #[command(flatten)]
    values: Values,
    /// Accept real-world quirks (keys in the wrong case) with a warning; the scenario says so.
    #[arg(long)]
    lenient: bool,
    /// The mesh to write a scenario for, when the files hold several.
    #[arg(long, value_name = "NAME")]
    mesh: Option<String>,
    /// The scenario to write; the policy goes beside it as `<name>.policy.yaml`.
    #[arg(long, value_name = "FILE", default_value = "scenario.yaml")]
    out: PathBuf,
    /// Replace the scenario and policy if they exist.
    #[arg(long)]
    force: bool,
    /// How to print diagnostics: `human` (with source snippets) or `short` (one line each).
    #[arg(long, value_enum, default_value_t = DiagnosticStyle::Human)]
    diagnostics: DiagnosticStyle,
}

pub(super) fn init(args: &InitArgs) -> ExitCode {
    let opts = LoadOptions {
        vars: args.values.vars(),
        params: args.values.params(),
        lenient: args.lenient,
        partial: false,
        mesh: args.mesh.clone(),
    };
    let loaded = load_files(&args.files, &opts);
    diagnostics::print(&loaded, args.diagnostics);
    if !loaded.is_valid() {
        eprintln!("{}", failure_summary(&loaded));
        return ExitCode::from(BAD_INPUT);
    }
    let names: Vec<&String> = loaded.meshes.keys().collect();
    let mesh = match (&args.mesh, names.as_slice()) {
        (Some(want), _) => loaded.meshes.get(want),
        (None, [only]) => loaded.meshes.get(*only),
        (None, []) => {
            eprintln!("meshsim: the files hold no App Mesh resources; nothing to write");
            return ExitCode::from(BAD_INPUT);
        }
        (None, several) => {
            let list: Vec<&str> = several.iter().map(|s| s.as_str()).collect();
            eprintln!(
                "meshsim: the files hold several meshes ({}); pass --mesh NAME",
                list.join(", ")
            );
            return ExitCode::from(BAD_INPUT);
        }
    };
    let Some(mesh) = mesh else {
        let list: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        eprintln!(
            "meshsim: --mesh names no mesh of the files (they hold: {})",
            list.join(", ")
        );
        return ExitCode::from(BAD_INPUT);
    };

    let policy_path = policy_path(&args.out);
    for p in [&args.out, &policy_path] {
        if p.exists() && !args.force {
            eprintln!(
                "meshsim: {} exists; pass --force to replace it, or --out another file",
                p.display()
            );
            return ExitCode::from(BAD_INPUT);
        }
    }
    let dir = match args.out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        eprintln!(
            "meshsim: --out {}: the folder {} does not exist",
            args.out.display(),
            dir.display()
        );
        return ExitCode::from(BAD_INPUT);
    }
    let files = match args
        .files
        .iter()
        .map(|f| relative(&dir, f))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("meshsim: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let file_name = |p: &Path| {
        p.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    };
    let init_opts = InitOptions {
        files,
        vars: opts.vars.clone(),
        params: opts.params.clone(),
        lenient: args.lenient,
        several_meshes: loaded.meshes.len() > 1,
        policy_name: file_name(&policy_path),
        scenario_name: file_name(&args.out),
    };
    let generated = match init::generate(&loaded, mesh, &init_opts) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("meshsim: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    };

    // The scenario must load as written, before anything is written.
    let check =
        meshsim::scenario::load_text(&args.out.display().to_string(), &generated.scenario, &dir);
    if !check.is_valid() {
        diagnostics::print_all(&check.diagnostics, &check.sources, args.diagnostics);
        eprintln!(
            "meshsim: init wrote a scenario that does not load (a bug in meshsim init); nothing was written"
        );
        return ExitCode::from(INTERNAL);
    }
    for (path, text) in [
        (&args.out, &generated.scenario),
        (&policy_path, &generated.policy),
    ] {
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("meshsim: cannot write {}: {e}", path.display());
            return ExitCode::from(BAD_INPUT);
        }
    }
    let uncovered = generated.coverage.uncovered();
    let total = generated.coverage.routes.len();
    println!(
        "wrote {} ({}, routes reached: {} of {total}) and {}",
        args.out.display(),
        plural(mesh.virtual_nodes.len(), "task entry", "task entries"),
        total - uncovered.len(),
        policy_path.display()
    );
    if !uncovered.is_empty() {
        println!(
            "not reached by any generated request: {}",
            uncovered.join(", ")
        );
    }
    println!(
        "next: meshsim run {} --duration 1m   (docs/SCENARIOS.md, \"From `meshsim init` to a rehearsal\")",
        args.out.display()
    );
    ExitCode::from(OK)
}

/// `scenario.yaml` → `scenario.policy.yaml`, beside it.
fn policy_path(out: &Path) -> PathBuf {
    let stem = out.file_stem().map_or_else(
        || "scenario".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    out.with_file_name(format!("{stem}.policy.yaml"))
}

/// `file` as a path relative to `dir` (both made absolute), `/` separated.
fn relative(dir: &Path, file: &Path) -> Result<String, String> {
    let abs = |p: &Path| std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()));
    let (dir, file) = (abs(dir)?, abs(file)?);
    let d: Vec<Component> = dir.components().collect();
    let f: Vec<Component> = file.components().collect();
    let common = d.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); d.len() - common];
    parts.extend(
        f[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    Ok(parts.join("/"))
}
