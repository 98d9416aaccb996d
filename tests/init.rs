//! `meshsim init` through the binary, on the meshes the project owns: the scenario it writes
//! runs with no edits (exit 0 or 1), the policy beside it checks, every route the scenario
//! says it reaches shows up in the run's report, and the same input gives the same bytes.

use crate::init_support;

use init_support::{Case, init, meshsim, reached_in_report, run_and_check, scratch};

/// The project's meshes, with what a user would pass.
fn cases() -> Vec<Case> {
    let ordering = [
        "mesh.cfn.yaml",
        "mesh-canary.cfn.yaml",
        "mesh-outlier.cfn.yaml",
        "mesh-pool.cfn.yaml",
        "mesh-retries.cfn.yaml",
        "mesh-timeout-trap.cfn.yaml",
    ];
    let mut cases: Vec<Case> = ordering
        .iter()
        .map(|f| Case::new(&[&format!("scenarios/ordering/{f}")]))
        .collect();
    let mut api: Vec<String> = std::fs::read_dir("tests/fixtures/ordering/api")
        .expect("fixtures")
        .map(|e| e.expect("entry").path().display().to_string())
        .collect();
    api.sort();
    let api: Vec<&str> = api.iter().map(String::as_str).collect();
    cases.push(Case::new(&api));
    for f in [
        "tests/fixtures/ordering/k8s.yaml",
        "tests/fixtures/scenarios/shop.cfn.yaml",
        "tests/fixtures/check/fifty-routes.yaml",
        "tests/fixtures/init/k8s-deployments.yaml",
    ] {
        cases.push(Case::new(&[f]));
    }
    cases.push(Case::new(&["tests/fixtures/init/ecs.cfn.yaml"]).param("ProjectName", "shop"));
    cases
}

#[test]
fn init_writes_a_scenario_that_runs_and_a_policy_that_checks_for_every_project_mesh() {
    let mut failures = Vec::new();
    for (i, case) in cases().iter().enumerate() {
        let dir = scratch(&format!("project-{i}"));
        if let Err(e) = init(case, &dir).and_then(|_| run_and_check(case, &dir, "5s")) {
            failures.push(format!("{}: {e}", case.files.join(" ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_route_the_scenario_claims_is_reached_in_the_run() {
    for files in [
        &["tests/fixtures/init/k8s-deployments.yaml"][..],
        &["tests/fixtures/check/fifty-routes.yaml"],
        &["scenarios/ordering/mesh-canary.cfn.yaml"],
    ] {
        let case = Case::new(files);
        let dir = scratch(&format!("reach-{}", files[0].replace('/', "-")));
        let claimed = init(&case, &dir).expect("init");
        run_and_check(&case, &dir, "20s").expect("run");
        let missing = reached_in_report(&case, &dir, &claimed);
        assert!(
            missing.is_empty(),
            "{}: not in report.json: {missing:?}",
            files[0]
        );
    }
}

#[test]
fn init_is_deterministic() {
    let case = Case::new(&["tests/fixtures/check/fifty-routes.yaml"]);
    let (a, b) = (scratch("same-a"), scratch("same-b"));
    init(&case, &a).expect("init");
    init(&case, &b).expect("init");
    for f in ["scenario.yaml", "scenario.policy.yaml"] {
        let x = std::fs::read(a.join(f)).expect("read");
        let y = std::fs::read(b.join(f)).expect("read");
        assert!(x == y, "{f} differs between two runs of init");
    }
}

#[test]
fn replicas_come_from_deployments_and_ecs_services() {
    let dir = scratch("replicas-k8s");
    init(
        &Case::new(&["tests/fixtures/init/k8s-deployments.yaml"]),
        &dir,
    )
    .expect("init");
    let text = std::fs::read_to_string(dir.join("scenario.yaml")).expect("read");
    assert!(
        text.contains("  - node: web_shop\n    replicas: 3 ")
            && text.contains("# Deployment shop/web (spec.replicas)"),
        "{text}"
    );
    // No `replicas` in the Deployment: Kubernetes' default of 1.
    assert!(
        text.contains("  - node: api_shop\n    replicas: 1 "),
        "{text}"
    );
    // No Deployment at all: the default of 2.
    assert!(
        text.contains("  - node: api-v2_shop\n    replicas: 2 "),
        "{text}"
    );

    let dir = scratch("replicas-ecs");
    let case = Case::new(&["tests/fixtures/init/ecs.cfn.yaml"]).param("ProjectName", "shop");
    init(&case, &dir).expect("init");
    let text = std::fs::read_to_string(dir.join("scenario.yaml")).expect("read");
    assert!(
        text.contains("  - node: front\n    replicas: 4 ")
            && text.contains("# ECS service FrontEcsService (DesiredCount)"),
        "{text}"
    );
    // `DesiredCount: !Ref BackCount`, the parameter's Default.
    assert!(text.contains("  - node: back\n    replicas: 3 "), "{text}");
    assert!(text.contains("    ProjectName: \"shop\""), "{text}");
    assert!(text.contains("    # BackCount: \"3\""), "{text}");
}

#[test]
fn the_scenario_carries_routes_headers_rollouts_and_expectations() {
    let dir = scratch("content");
    init(
        &Case::new(&["tests/fixtures/init/k8s-deployments.yaml"]),
        &dir,
    )
    .expect("init");
    let text = std::fs::read_to_string(dir.join("scenario.yaml")).expect("read");
    for want in [
        // An endpoint from a route's prefix and method, the health check, the catch-all.
        "      - method: GET\n        path: \"/items/*\"",
        "      - path: /ping",
        "      - path: \"/*\"",
        // A call per route of the backend a plain request reaches.
        "service: api.shop.svc.cluster.local, method: GET, path: /items }",
        // The header route is reached by a user request whose header the apps pass on.
        "headers: { x-beta: \"yes\" }",
        "propagate_headers: [x-beta]",
        // Nothing calls web: a virtual service in front of it, the workload's target.
        "virtualServiceName: web_shop.users.local",
        "  target: web_shop.users.local",
        // The weighted route's rollout stub, stable = the heaviest target.
        "#   stable: api_shop",
        "#   candidate: api-v2_shop",
        "# expect:",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn init_refuses_to_overwrite_and_refuses_a_mesh_without_nodes() {
    let dir = scratch("refuse");
    let case = Case::new(&["tests/fixtures/scenarios/shop.cfn.yaml"]);
    init(&case, &dir).expect("first init");
    let again = meshsim(&[
        "init",
        "tests/fixtures/scenarios/shop.cfn.yaml",
        "--out",
        &dir.join("scenario.yaml").display().to_string(),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("pass --force"));

    let gateway_only = dir.join("gateway.json");
    std::fs::write(
        &gateway_only,
        r#"{"meshName": "m", "virtualGatewayName": "gw", "spec": {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}}"#,
    )
    .expect("write");
    let o = meshsim(&[
        "init",
        &gateway_only.display().to_string(),
        "--out",
        &dir.join("gw.yaml").display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("has no virtual node"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
