//! One mesh written in each of the three syntaxes loads to the same model.

use std::path::{Path, PathBuf};

use meshsim::config::{LoadOptions, LoadedConfig, load_paths, load_texts};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn load(paths: Vec<PathBuf>) -> LoadedConfig {
    let loaded = load_paths(&paths, &LoadOptions::default());
    let problems: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| d.one_line(&loaded.sources))
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    loaded
}

fn api_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures/ordering/api"))
        .expect("api fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

#[test]
fn cloudformation_kubernetes_and_api_json_give_the_same_mesh() {
    let cfn = load(vec![root().join("scenarios/ordering/mesh.cfn.yaml")]);
    let k8s = load(vec![root().join("tests/fixtures/ordering/k8s.yaml")]);
    let api = load(api_files());
    assert_eq!(cfn.meshes.len(), 1);
    let mesh = &cfn.meshes["ordering"];
    assert_eq!(mesh.virtual_nodes.len(), 4);
    assert_eq!(mesh.routes.len(), 2);
    assert_eq!(
        cfn.meshes, k8s.meshes,
        "CloudFormation and Kubernetes differ"
    );
    assert_eq!(cfn.meshes, api.meshes, "CloudFormation and API JSON differ");
}

#[test]
fn the_comparison_sees_a_one_field_difference() {
    let cfn = load(vec![root().join("scenarios/ordering/mesh.cfn.yaml")]);
    let text = std::fs::read_to_string(root().join("tests/fixtures/ordering/k8s.yaml"))
        .expect("k8s fixture");
    let changed = text.replace("maxPendingRequests: 50 }", "maxPendingRequests: 51 }");
    assert_ne!(text, changed);
    let k8s = load_texts(&[("k8s.yaml", &changed)], &LoadOptions::default());
    assert!(k8s.is_valid());
    assert_ne!(cfn.meshes, k8s.meshes);
}

#[test]
fn load_order_does_not_change_the_model() {
    let mut reversed = api_files();
    reversed.reverse();
    assert_eq!(load(api_files()).meshes, load(reversed).meshes);
}
