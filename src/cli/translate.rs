//! `meshsim translate`: an App Mesh mesh written as another platform's configuration, with a
//! loss report of what the target cannot carry.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use meshsim::config::LoadOptions;
use meshsim::migrate::{self, Change, Target};

use super::{BAD_INPUT, DiagnosticStyle, OK, Values, diagnostics, failure_summary, load_files};

/// Exit code: a file could not be written.
const WRITE_FAILED: u8 = 3;

/// The targets with a writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum To {
    /// Istio (sidecar mode): VirtualService and DestinationRule.
    Istio,
    /// Kubernetes Gateway API: HTTPRoute attached to the Service (GAMMA).
    GatewayApi,
    /// Amazon ECS Service Connect: serviceConnectConfiguration JSON per ECS service.
    ServiceConnect,
    /// Amazon VPC Lattice: CloudFormation (AWS::VpcLattice::*).
    Lattice,
}

impl To {
    fn target(self) -> Target {
        match self {
            To::Istio => Target::Istio,
            To::GatewayApi => Target::GatewayApi,
            To::ServiceConnect => Target::ServiceConnect,
            To::Lattice => Target::Lattice,
        }
    }
}

/// `meshsim translate` flags.
#[derive(Args, Debug)]
pub(super) struct TranslateArgs {
    /// App Mesh files: API/CLI JSON, CloudFormation (YAML or JSON), Kubernetes manifests.
    #[arg(required = true, value_name = "MESH")]
    files: Vec<PathBuf>,
    /// The platform to write configuration for.
    #[arg(long, value_enum, value_name = "TARGET")]
    to: To,
    /// Folder to write into (created if missing); files of the same names are replaced.
    /// Default: translated/<mesh>/<target>/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    values: Values,
    /// Accept real-world quirks (keys in the wrong case) with a warning.
    #[arg(long)]
    lenient: bool,
    /// The mesh to translate, when the files hold several.
    #[arg(long, value_name = "NAME")]
    mesh: Option<String>,
    /// How to print diagnostics: `human` (with source snippets) or `short` (one line each).
    #[arg(long, value_enum, default_value_t = DiagnosticStyle::Human)]
    diagnostics: DiagnosticStyle,
}

pub(super) fn translate(args: &TranslateArgs) -> ExitCode {
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
    let names: Vec<&str> = loaded.meshes.keys().map(String::as_str).collect();
    let mesh = match (&args.mesh, names.as_slice()) {
        (Some(want), _) => loaded.meshes.get(want),
        (None, [only]) => loaded.meshes.get(*only),
        (None, []) => {
            eprintln!("meshsim: the files hold no App Mesh resources; nothing to translate");
            return ExitCode::from(BAD_INPUT);
        }
        (None, several) => {
            eprintln!(
                "meshsim: the files hold several meshes ({}); pass --mesh NAME",
                several.join(", ")
            );
            return ExitCode::from(BAD_INPUT);
        }
    };
    let Some(mesh) = mesh else {
        eprintln!(
            "meshsim: --mesh names no mesh of the files (they hold: {})",
            names.join(", ")
        );
        return ExitCode::from(BAD_INPUT);
    };
    let target = args.to.target();
    let translation = match migrate::translate(mesh, target) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("meshsim: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let dir = args.out.clone().unwrap_or_else(|| {
        Path::new("translated")
            .join(&mesh.name)
            .join(target.as_str())
    });
    if dir.exists() && !dir.is_dir() {
        eprintln!("meshsim: --out {}: not a folder", dir.display());
        return ExitCode::from(BAD_INPUT);
    }
    for f in &translation.files {
        let path = dir.join(&f.name);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, &f.text));
        if let Err(e) = written {
            eprintln!("meshsim: cannot write {}: {e}", path.display());
            return ExitCode::from(WRITE_FAILED);
        }
    }
    let count = |c: Change| translation.losses.iter().filter(|l| l.change == c).count();
    println!(
        "wrote {} files for {} to {}",
        translation.files.len(),
        target.title(),
        dir.display()
    );
    println!(
        "loss report ({}): {} refused, {} lost, {} approximate, {} App Mesh defaults written out, {} not translated yet",
        dir.join("loss.md").display(),
        count(Change::Refused),
        count(Change::Lost),
        count(Change::Approximate),
        count(Change::WrittenOut),
        count(Change::NotTranslated),
    );
    for l in &translation.losses {
        if matches!(l.change, Change::Refused | Change::Lost) {
            println!("  {}", l.rehearse);
        }
    }
    ExitCode::from(OK)
}
