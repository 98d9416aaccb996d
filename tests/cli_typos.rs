//! Typos on the command line: a misspelt subcommand gets clap's suggestion, a misspelt path
//! the closest name in its folder; both exit 2 before any work.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn meshsim_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run meshsim")
}

fn meshsim(args: &[&str]) -> Output {
    meshsim_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-typos-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Exit 2, the suggestion on stderr, and no simulation run.
#[track_caller]
fn suggests(o: &Output, wanted: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(wanted), "no `{wanted}` in:\n{err}");
    assert!(!err.contains("real time"), "a simulation ran:\n{err}");
}

#[test]
fn a_misspelt_subcommand_is_told_the_right_one() {
    for (typed, meant) in [
        ("runn", "run"),
        ("valdate", "validate"),
        ("explian", "explain"),
        ("chek", "check"),
        ("completion", "completions"),
    ] {
        let o = meshsim(&[typed]);
        // clap names every close command: `valdate` is near `translate` too.
        let err = stderr(&o);
        let tip = err
            .lines()
            .find(|l| l.contains("similar subcommand"))
            .unwrap_or_default();
        assert!(
            tip.contains(&format!("'{meant}'")),
            "no `{meant}` in:\n{err}"
        );
        suggests(&o, "similar subcommand");
    }
}

#[test]
fn a_misspelt_scenario_is_told_the_file_in_its_folder() {
    let o = meshsim(&["run", "scenarios/canry.yaml", "--duration", "1s"]);
    suggests(&o, "did you mean `scenarios/canary.yaml`?");
    // A misspelt folder too, and in the one-line diagnostics.
    let o = meshsim(&["run", "scenario/retry-strom.yaml", "--diagnostics", "short"]);
    suggests(&o, "did you mean `scenarios/retry-storm.yaml`?");
    // `tui` without a terminal runs `run`; its scenario is looked for the same way.
    let o = meshsim(&["tui", "scenarios/basline.yaml"]);
    suggests(&o, "did you mean `scenarios/baseline.yaml`?");
    // Nothing close: no suggestion, the same exit.
    let o = meshsim(&["run", "scenarios/zzzz.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!stderr(&o).contains("did you mean"), "{}", stderr(&o));
}

#[test]
fn a_misspelt_mesh_file_is_told_the_file_in_its_folder() {
    let mesh = "scenarios/ordering/mesh.cfn.yml";
    let meant = "did you mean `scenarios/ordering/mesh.cfn.yaml`?";
    suggests(&meshsim(&["validate", mesh]), meant);
    suggests(&meshsim(&["show", mesh]), meant);
    let out = scratch("init");
    let scenario = out.join("s.yaml");
    let o = meshsim(&["init", mesh, "--out", scenario.to_str().expect("utf-8")]);
    suggests(&o, meant);
    assert!(!scenario.exists());
    let check = [
        "check",
        "tests/fixtures/check/shop.yaml",
        "tests/fixtures/check/routes-ok.yml",
        "--policy",
        "tests/fixtures/check/policy.yaml",
    ];
    suggests(
        &meshsim(&check),
        "did you mean `tests/fixtures/check/routes-ok.yaml`?",
    );
    let policy = [
        "check",
        "tests/fixtures/check/shop.yaml",
        "tests/fixtures/check/routes-ok.yaml",
        "--policy",
        "tests/fixtures/check/polcy.yaml",
    ];
    suggests(
        &meshsim(&policy),
        "did you mean `tests/fixtures/check/policy.yaml`?",
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_misspelt_mesh_file_in_a_scenario_is_told_as_the_scenario_names_it() {
    let dir = scratch("scenario");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir.join("ordering")).expect("mkdir");
    std::fs::copy(
        root.join("scenarios/ordering/mesh.cfn.yaml"),
        dir.join("ordering/mesh.cfn.yaml"),
    )
    .expect("copy the mesh");
    let text = std::fs::read_to_string(root.join("scenarios/baseline.yaml")).expect("baseline");
    assert!(text.contains("ordering/mesh.cfn.yaml"), "{text}");
    let typo = text.replace("ordering/mesh.cfn.yaml", "odering/mesh.cfn.yaml");
    std::fs::write(dir.join("s.yaml"), typo).expect("write the scenario");
    let o = meshsim_in(&dir, &["run", "s.yaml", "--duration", "1s"]);
    suggests(&o, "did you mean `ordering/mesh.cfn.yaml`?");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_misspelt_report_folder_is_told_the_folder() {
    let dir = scratch("explain");
    std::fs::create_dir_all(dir.join("storm")).expect("mkdir");
    let o = meshsim_in(&dir, &["explain", "strom", "--request", "1"]);
    suggests(&o, "did you mean `storm`?");
    let _ = std::fs::remove_dir_all(&dir);
}
