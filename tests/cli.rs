//! The command line as a user sees it: output snapshots (insta), exit codes.

use std::process::{Command, Output};

fn meshsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run meshsim")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const ORDERING: &str = "scenarios/ordering/mesh.cfn.yaml";

#[test]
fn show_text_of_the_ordering_mesh() {
    let o = meshsim(&["show", ORDERING]);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn show_dot_of_the_ordering_mesh() {
    let o = meshsim(&["show", ORDERING, "--format", "dot"]);
    assert!(o.status.success());
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn show_json_of_the_ordering_mesh() {
    let o = meshsim(&["show", ORDERING, "--format", "json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    let routes = &v["meshes"][0]["virtualRouters"][0]["routes"];
    assert_eq!(routes[0]["name"], "order");
    assert_eq!(routes[0]["targets"][1]["share"], 0.1);
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn validate_reports_a_summary_per_file_and_exits_0() {
    let o = meshsim(&[
        "validate",
        ORDERING,
        "tests/fixtures/appmesh-examples/walkthroughs/howto-http-headers/app.yaml",
        "--param",
        "ProjectName=howto",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn validate_renders_diagnostics_with_the_source_and_exits_2() {
    let dir = std::env::temp_dir().join(format!("meshsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("route.json");
    std::fs::write(
        &file,
        r#"{
  "meshName": "m",
  "virtualRouterName": "r",
  "routeName": "a",
  "spec": {
    "httpRoute": {
      "match": { "prefix": "/" },
      "action": { "weightedTargets": [ { "virtualNode": "n", "weight": -5 } ] }
    }
  }
}
"#,
    )
    .expect("write fixture");
    // Run inside the directory with a relative name: the rendered text (and where miette
    // wraps it) must not depend on the temporary path.
    let run_in_dir = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_meshsim"))
            .args(args)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .expect("run meshsim")
    };
    let o = run_in_dir(&["validate", "route.json", "--partial"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("route.json:8:72"), "{err}");
    insta::assert_snapshot!(err);
    let short = run_in_dir(&[
        "validate",
        "route.json",
        "--partial",
        "--diagnostics",
        "short",
    ]);
    assert_eq!(
        stderr(&short).lines().next(),
        Some(
            "route.json:8:72: error[range]: -5 is out of range: expected at least 0 and at most 100 (at spec.httpRoute.action.weightedTargets[0].weight)"
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    assert_eq!(meshsim(&["validate"]).status.code(), Some(2));
    assert_eq!(meshsim(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        meshsim(&["validate", "x.json", "--var", "NOEQUALS"])
            .status
            .code(),
        Some(2)
    );
    let help = meshsim(&["validate", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("Examples:"));
}

#[test]
fn a_missing_file_is_bad_input_not_a_panic() {
    let o = meshsim(&["validate", "does/not/exist.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read file"), "{}", stderr(&o));
}

/// The paths a newcomer copies from `--help` and the README name files that exist in the
/// repository (the help once named a `scenarios/ordering/mesh.yaml` that never did).
#[test]
fn every_repository_file_the_help_and_the_readme_name_exists() {
    let top = stdout(&meshsim(&["--help"]));
    let commands: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() >= 6, "{top}");
    let mut texts: Vec<(String, String)> = commands
        .iter()
        .map(|c| {
            let o = meshsim(&[c, "--help"]);
            assert_eq!(o.status.code(), Some(0), "{c} --help");
            (format!("meshsim {c} --help"), stdout(&o))
        })
        .collect();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    texts.push(("README.md".into(), readme));
    let path = regex::Regex::new(
        r"\b(?:scenarios|tests|docs|schemas|scripts|benches)/[A-Za-z0-9_./-]*[A-Za-z0-9_-]",
    )
    .expect("regex");
    let mut checked = 0;
    let mut missing = Vec::new();
    for (source, text) in &texts {
        for m in path.find_iter(text) {
            checked += 1;
            if !root.join(m.as_str()).exists() {
                missing.push(format!("{source}: {}", m.as_str()));
            }
        }
    }
    assert!(checked > 20, "only {checked} paths found");
    assert!(missing.is_empty(), "no such file: {missing:#?}");
}
