//! What the `meshsim init` suites share: running init, the scenario and the policy it wrote,
//! and reading back which routes the run reached.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use meshsim::config::model::Provider;
use meshsim::config::{LoadOptions, load_paths};

/// Mesh files and what a user would pass with them.
#[derive(Clone, Debug, Default)]
pub struct Case {
    pub files: Vec<String>,
    pub vars: Vec<(String, String)>,
    pub params: Vec<(String, String)>,
    pub lenient: bool,
}

impl Case {
    pub fn new(files: &[&str]) -> Case {
        Case {
            files: files.iter().map(|f| f.to_string()).collect(),
            ..Case::default()
        }
    }

    pub fn param(mut self, k: &str, v: &str) -> Case {
        self.params.push((k.into(), v.into()));
        self
    }

    fn flags(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.vars {
            out.extend(["--var".to_string(), format!("{k}={v}")]);
        }
        for (k, v) in &self.params {
            out.extend(["--param".to_string(), format!("{k}={v}")]);
        }
        if self.lenient {
            out.push("--lenient".into());
        }
        out
    }
}

/// Runs the binary from the crate's root.
pub fn meshsim(args: &[&str]) -> Output {
    meshsim_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn meshsim_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run meshsim")
}

/// An empty folder of this test's own.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("meshsim-init-tests-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn said(o: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `meshsim init` into `dir/scenario.yaml`; the routes the scenario's requests and calls are
/// aimed at, as `router/route` (from the comments after them).
pub fn init(case: &Case, dir: &Path) -> Result<BTreeSet<(String, String)>, String> {
    let out = dir.join("scenario.yaml").display().to_string();
    let mut args: Vec<String> = vec!["init".into()];
    args.extend(case.files.iter().cloned());
    args.extend(case.flags());
    args.extend(["--out".into(), out, "--force".into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = meshsim(&refs);
    if o.status.code() != Some(0) {
        return Err(format!("init: {}", said(&o)));
    }
    let text = std::fs::read_to_string(dir.join("scenario.yaml")).map_err(|e| e.to_string())?;
    let mut claimed = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let Some((_, comment)) = line.split_once(" # ") else {
            continue;
        };
        for part in comment.split(", ") {
            if let Some(rest) = part.strip_prefix("route ")
                && let Some((router, route)) = rest.split_once('/')
            {
                let route = route.split_whitespace().next().unwrap_or_default();
                claimed.insert((router.to_string(), route.trim_end_matches(',').to_string()));
            }
        }
    }
    Ok(claimed)
}

/// `meshsim run` on the scenario (exit 0 or 1 expected), then `meshsim check` with the
/// command the policy file's header gives (exit 0 or 1 expected).
pub fn run_and_check(case: &Case, dir: &Path, duration: &str) -> Result<(), String> {
    let _ = case;
    let o = meshsim_in(
        dir,
        &[
            "run",
            "scenario.yaml",
            "--duration",
            duration,
            "--out",
            "out",
        ],
    );
    if !matches!(o.status.code(), Some(0 | 1)) {
        return Err(format!("run: {}", said(&o)));
    }
    let policy =
        std::fs::read_to_string(dir.join("scenario.policy.yaml")).map_err(|e| e.to_string())?;
    let command = policy
        .lines()
        .find_map(|l| l.strip_prefix("#   meshsim "))
        .ok_or("the policy's header names no command")?;
    let words = shell_words(command);
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let o = meshsim_in(dir, &refs);
    if !matches!(o.status.code(), Some(0 | 1)) {
        return Err(format!("check ({command}): {}", said(&o)));
    }
    Ok(())
}

/// Words of a command line as `init` writes it (single quotes only).
fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in s.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

/// The claimed routes that no `routes` entry of the run's report.json shows with requests
/// (report.json names a route `caller -> virtual service/route`).
pub fn reached_in_report(
    case: &Case,
    dir: &Path,
    claimed: &BTreeSet<(String, String)>,
) -> Vec<(String, String)> {
    let opts = LoadOptions {
        vars: case.vars.iter().cloned().collect(),
        params: case.params.iter().cloned().collect(),
        lenient: case.lenient,
        ..LoadOptions::default()
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files: Vec<PathBuf> = case.files.iter().map(|f| root.join(f)).collect();
    let loaded = load_paths(&files, &opts);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("out/report.json")).expect("report.json"),
    )
    .expect("report.json is JSON");
    let routes = report["routes"].as_object().cloned().unwrap_or_default();
    claimed
        .iter()
        .filter(|(router, route)| {
            let services: Vec<&String> = loaded
                .meshes
                .values()
                .flat_map(|m| m.virtual_services.iter())
                .filter(|(_, vs)| {
                    matches!(&vs.spec.provider, Some(Provider::VirtualRouter(r)) if &r.value == router)
                })
                .map(|(n, _)| n)
                .collect();
            !routes.iter().any(|(key, v)| {
                services
                    .iter()
                    .any(|s| key.ends_with(&format!(" -> {s}/{route}")))
                    && v["requests"].as_u64().unwrap_or(0) > 0
            })
        })
        .cloned()
        .collect()
}
