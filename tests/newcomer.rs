//! What a newcomer tripped over in their first hour (issue 18, section 3), one test each.

use std::path::Path;
use std::process::{Command, Output};

use meshsim::config::Severity;
use meshsim::scenario;

fn meshsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run meshsim")
}

fn errors(path: &str) -> Vec<String> {
    let loaded = scenario::load(Path::new(path));
    loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.one_line(&loaded.sources))
        .collect()
}

#[test]
fn kubernetes_short_names_mean_the_one_resource_they_are_short_for() {
    let loaded = scenario::load(Path::new("tests/fixtures/scenarios/k8s_short_names.yaml"));
    let problems: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| d.one_line(&loaded.sources))
        .collect();
    assert!(loaded.is_valid(), "{problems:#?}");
    let (s, _) = loaded.runnable().expect("runnable");
    let nodes: Vec<&str> = s.tasks.iter().map(|t| t.node.as_str()).collect();
    assert_eq!(nodes, ["web_shop", "api_shop", "api-v2_shop"]);
    assert_eq!(s.workload.target, "api.shop.svc.cluster.local");
    let rollout = s.rollout.as_ref().expect("rollout");
    assert_eq!(
        (rollout.router.as_str(), rollout.stable.as_str()),
        ("api_shop", "api_shop")
    );
}

#[test]
fn an_unknown_short_name_is_answered_with_the_full_one() {
    let text = std::fs::read_to_string("tests/fixtures/scenarios/k8s_short_names.yaml")
        .expect("fixture")
        .replace("- { node: web, service: web }", "- { node: wbe_shop, service: web }");
    let loaded = scenario::load_text(
        "tests/fixtures/scenarios/k8s_typo.yaml",
        &text,
        Path::new("tests/fixtures/scenarios"),
    );
    let d = loaded
        .diagnostics
        .iter()
        .find(|d| d.path == "tasks[0].node")
        .expect("an error at tasks[0].node");
    assert_eq!(d.help.as_deref(), Some("did you mean `web_shop`?"));
}

#[test]
fn a_misspelt_rollout_target_gets_the_right_name_not_add_it_with_weight_0() {
    let loaded = scenario::load(Path::new(
        "tests/fixtures/scenarios/rollout_stable_misspelt.yaml",
    ));
    let d = loaded
        .diagnostics
        .iter()
        .find(|d| d.path == "rollout.stable")
        .expect("an error at rollout.stable");
    assert!(!d.message.contains("weight 0"), "{}", d.message);
    assert_eq!(d.help.as_deref(), Some("did you mean `api_shop`?"));
}

#[test]
fn an_endpoint_path_star_suggests_slash_star() {
    let errors = errors("tests/fixtures/scenarios/endpoint_star.yaml");
    assert!(
        errors.iter().any(|e| e.contains(
            "path pattern \"*\" must start with /; did you mean \"/*\"? (at services.front.endpoints[0].path)"
        )),
        "{errors:#?}"
    );
}

#[test]
fn an_inline_mesh_may_hold_several_documents() {
    let loaded = scenario::load(Path::new(
        "tests/fixtures/scenarios/inline_multi_document.yaml",
    ));
    let problems: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| d.one_line(&loaded.sources))
        .collect();
    assert!(loaded.is_valid(), "{problems:#?}");
    let mesh = loaded.mesh.as_ref().expect("mesh");
    assert!(mesh.virtual_nodes.contains_key("app-v1"));
    assert!(mesh.virtual_services.contains_key("app.tiny.local"));
    let run = meshsim(&[
        "run",
        "tests/fixtures/scenarios/inline_multi_document.yaml",
        "--duration",
        "2s",
        "--out",
        &std::env::temp_dir()
            .join(format!("meshsim-newcomer-{}", std::process::id()))
            .display()
            .to_string(),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
}
