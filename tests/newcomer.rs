//! What a newcomer tripped over in their first hour (issue 18, section 3), one test each.

use crate::init_support;

use std::path::{Path, PathBuf};
use std::process::Output;

use init_support::{meshsim, scratch};
use meshsim::config::Severity;
use meshsim::scenario;

/// Asserts the exit code, showing what the command said when it differs.
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
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

/// A scenario that must load without errors (they are shown if it has any).
fn valid(path: &str) -> scenario::ScenarioLoad {
    let loaded = scenario::load(Path::new(path));
    let problems: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| d.one_line(&loaded.sources))
        .collect();
    assert!(loaded.is_valid(), "{problems:#?}");
    loaded
}

#[test]
fn kubernetes_short_names_mean_the_one_resource_they_are_short_for() {
    let loaded = valid("tests/fixtures/scenarios/k8s_short_names.yaml");
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
        .replace(
            "- { node: web, service: web }",
            "- { node: wep, service: web }",
        );
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
fn a_rollout_target_the_route_does_not_list_yet_gets_the_weight_0_advice() {
    // app-v2 is a node of the mesh, one character from the route's only target: it is the
    // candidate about to be added, not a misspelling of app-v1.
    let node = |name: &str| {
        format!(
            "    ---\n    meshName: tiny\n    virtualNodeName: {name}\n    spec:\n      \
             listeners: [{{ portMapping: {{ port: 8080, protocol: http }} }}]\n      \
             serviceDiscovery: {{ dns: {{ hostname: {name}.tiny.local }} }}\n"
        )
    };
    let text = format!(
        "duration: 30s\nmesh:\n  inline: |\n    meshName: tiny\n    virtualRouterName: app\n    \
         spec: {{ listeners: [{{ portMapping: {{ port: 8080, protocol: http }} }}] }}\n    ---\n    \
         meshName: tiny\n    virtualRouterName: app\n    routeName: all\n    spec:\n      \
         httpRoute:\n        match: {{ prefix: / }}\n        \
         action: {{ weightedTargets: [{{ virtualNode: app-v1, weight: 1 }}] }}\n    ---\n    \
         meshName: tiny\n    virtualServiceName: app.tiny.local\n    \
         spec: {{ provider: {{ virtualRouter: {{ virtualRouterName: app }} }} }}\n{}{}\
         tasks:\n  - {{ node: app-v1, service: app }}\n  - {{ node: app-v2, service: app }}\n\
         services:\n  app:\n    workers: 4\n    endpoints:\n      - path: /*\n        \
         service_time: 1ms\nworkload:\n  target: app.tiny.local\n  rate: {{ constant: 5 }}\n  \
         mix:\n    - {{ weight: 1, path: / }}\nrollout:\n  router: app\n  route: all\n  \
         stable: app-v1\n  candidate: app-v2\n  strategy:\n    \
         canary: {{ step_weight: 10, max_weight: 50, interval: 10s }}\n",
        node("app-v1"),
        node("app-v2")
    );
    let loaded = scenario::load_text(
        "rollout_unlisted.yaml",
        &text,
        Path::new("tests/fixtures/scenarios"),
    );
    let problems: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| d.one_line(&loaded.sources))
        .collect();
    let d = loaded
        .diagnostics
        .iter()
        .find(|d| d.path == "rollout.candidate")
        .unwrap_or_else(|| panic!("no error at rollout.candidate: {problems:#?}"));
    assert!(
        d.message.ends_with(
            "add it with weight 0, as App Mesh needs before a rollout can move traffic to it"
        ),
        "{}",
        d.message
    );
    assert_eq!(d.help, None);
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
    let loaded = valid("tests/fixtures/scenarios/inline_multi_document.yaml");
    let mesh = loaded.mesh.as_ref().expect("mesh");
    assert!(mesh.virtual_nodes.contains_key("app-v1"));
    assert!(mesh.virtual_services.contains_key("app.tiny.local"));
    let run = meshsim(&[
        "run",
        "tests/fixtures/scenarios/inline_multi_document.yaml",
        "--duration",
        "2s",
        "--out",
        &scratch("inline-multi-document").display().to_string(),
    ]);
    assert_exit(&run, 0);
}

/// A mesh with `n` POST routes on one router, none with a retry policy (so every route is a
/// `default-retries-non-idempotent` warning), written to a file of its own.
fn many_routes(n: usize, name: &str) -> PathBuf {
    let mut s = String::from(
        "meshName: big\nspec: {}\n---\nmeshName: big\nvirtualServiceName: cart.big.local\n\
         spec: { provider: { virtualRouter: { virtualRouterName: cart } } }\n---\n\
         meshName: big\nvirtualRouterName: cart\n\
         spec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n---\n\
         meshName: big\nvirtualNodeName: n0\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: n0.big.local } }\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "---\nmeshName: big\nvirtualRouterName: cart\nrouteName: r{i:04}\nspec:\n  priority: {}\n  httpRoute:\n    match: {{ prefix: /p{i}, method: POST }}\n    action: {{ weightedTargets: [{{ virtualNode: n0, weight: 1 }}] }}\n",
            i % 1001
        ));
    }
    let path = scratch(name).join(name);
    std::fs::write(&path, s).expect("write the mesh");
    path
}

#[test]
fn validate_counts_every_warning_it_prints() {
    let mesh = many_routes(60, "sixty-routes.yaml");
    // Four virtual gateways: one over App Mesh's quota, a finding about the whole mesh.
    let mut text = std::fs::read_to_string(&mesh).expect("read");
    for g in 0..4 {
        text.push_str(&format!(
            "---\nmeshName: big\nvirtualGatewayName: gw{g}\nspec: {{ listeners: [{{ portMapping: {{ port: 8080, protocol: http }} }}] }}\n"
        ));
    }
    std::fs::write(&mesh, text).expect("write");
    let o = meshsim(&[
        "validate",
        &mesh.display().to_string(),
        "--diagnostics",
        "short",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    let printed = err.lines().filter(|l| l.contains(": warning[")).count();
    let counted: usize = out
        .lines()
        .filter_map(|l| {
            let before = l.split(" warning").next().filter(|b| b.len() < l.len())?;
            before.rsplit(' ').next()?.parse::<usize>().ok()
        })
        .sum();
    assert!(printed > 1, "{err}");
    assert_eq!(counted, printed, "stdout:\n{out}\nstderr:\n{err}");
}

#[test]
fn check_folds_repeated_lints() {
    let mesh = many_routes(200, "two-hundred-routes.yaml");
    let policy = mesh.with_file_name("policy.yaml");
    std::fs::write(&policy, "properties:\n  - timeoutCoversRetries: true\n").expect("policy");
    let o = meshsim(&[
        "check",
        &mesh.display().to_string(),
        "--policy",
        &policy.display().to_string(),
        "--diagnostics",
        "short",
    ]);
    assert_exit(&o, 0);
    let err = String::from_utf8_lossy(&o.stderr);
    let snippets = err
        .matches("warning[default-retries-non-idempotent]")
        .count();
    assert!(snippets <= 3, "{snippets} snippets of one lint:\n{err}");
    assert!(err.contains("the same applies to 197 more"), "{err}");
}

#[test]
fn show_lists_gateway_routes_in_match_order() {
    let path = scratch("gateway-order").join("gateway-order.yaml");
    std::fs::write(
        &path,
        "meshName: m\nvirtualGatewayName: gw\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n\
         ---\nmeshName: m\nvirtualNodeName: n\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }], serviceDiscovery: { dns: { hostname: n.m.local } } }\n\
         ---\nmeshName: m\nvirtualServiceName: s.m.local\nspec: { provider: { virtualNode: { virtualNodeName: n } } }\n\
         ---\nmeshName: m\nvirtualGatewayName: gw\ngatewayRouteName: a-everything\nspec: { httpRoute: { match: { prefix: / }, action: { target: { virtualService: { virtualServiceName: s.m.local } } } } }\n\
         ---\nmeshName: m\nvirtualGatewayName: gw\ngatewayRouteName: b-api\nspec: { httpRoute: { match: { prefix: /api }, action: { target: { virtualService: { virtualServiceName: s.m.local } } } } }\n\
         ---\nmeshName: m\nvirtualGatewayName: gw\ngatewayRouteName: c-first\nspec: { priority: 0, httpRoute: { match: { prefix: /x }, action: { target: { virtualService: { virtualServiceName: s.m.local } } } } }\n",
    )
    .expect("write");
    let o = meshsim(&["show", &path.display().to_string()]);
    assert_exit(&o, 0);
    let out = String::from_utf8_lossy(&o.stdout);
    let order: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("gateway route "))
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(order, ["c-first", "b-api", "a-everything"], "{out}");
}

const STACK: &str = "tests/fixtures/params/stack.cfn.yaml";

#[test]
fn param_sets_the_pseudo_parameters() {
    let o = meshsim(&["show", STACK]);
    let defaults = String::from_utf8_lossy(&o.stdout);
    assert!(
        defaults.contains("virtual service app.stack.local -> virtual node app-us-east-1"),
        "{defaults}"
    );
    let o = meshsim(&[
        "show",
        STACK,
        "--param",
        "AWS::StackName=shop",
        "--param",
        "AWS::Region=eu-west-1",
        "--param",
        "AWS::AccountId=999",
        "--param",
        "AWS::Partition=aws-cn",
        "--param",
        "AWS::URLSuffix=amazonaws.com.cn",
        "--param",
        "AWS::StackId=my-stack-id",
        // A declared parameter and the exports the template imports are names too.
        "--param",
        "EnvironmentName=prod",
        "--param",
        "SharedCert=arn:cert",
        "--param",
        "prod:VPC=vpc-1",
        "--param",
        "ClusterName=cluster",
    ]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(0), "{err}");
    for line in [
        "mesh shop-prod ",
        "virtual service app.shop.local -> virtual node app-eu-west-1",
        "virtual node app-eu-west-1 (dns app.999.aws-cn.amazonaws.com.cn)",
    ] {
        assert!(out.contains(line), "{line} missing from:\n{out}");
    }
    // Every export was given: no placeholder notes.
    assert!(!err.contains("import-value"), "{err}");
}

#[test]
fn a_scenario_param_sets_a_pseudo_parameter() {
    let dir = scratch("pseudo-params");
    let o = meshsim(&[
        "run",
        "tests/fixtures/params/pseudo.yaml",
        "--quiet",
        "--out",
        &dir.display().to_string(),
    ]);
    assert_exit(&o, 0);
}

/// Every command that takes `--param` (directly, or in a scenario's `mesh.params`) refuses a
/// name nothing reads, with exit 2 and the name it was probably meant as.
#[test]
fn an_unknown_param_is_refused_with_a_did_you_mean() {
    let dir = scratch("unknown-params");
    let out = dir.join("scenario.yaml").display().to_string();
    let short = ["--diagnostics", "short"];
    let misspelt = ["--param", "EnvironmentNam=prod", "--param", "AWS::Regoin=x"];
    let direct: [Vec<&str>; 4] = [
        vec!["validate", STACK],
        vec!["show", STACK],
        vec![
            "check",
            STACK,
            "--policy",
            "tests/fixtures/check/policy.yaml",
        ],
        vec!["init", STACK, "--out", &out],
    ];
    for args in direct {
        let args: Vec<&str> = args
            .iter()
            .chain(&misspelt)
            .chain(&short)
            .copied()
            .collect();
        let o = meshsim(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}:\n{err}");
        for (given, meant) in [
            ("EnvironmentNam", "EnvironmentName"),
            ("AWS::Regoin", "AWS::Region"),
        ] {
            assert!(
                err.contains(&format!(
                    "meshsim: error[unknown-parameter]: --param `{given}` is not a parameter"
                )) && err.contains(&format!(
                    "(at --param {given}); help: did you mean `{meant}`?"
                )),
                "{args:?}:\n{err}"
            );
        }
    }
    assert!(
        !Path::new(&out).exists(),
        "init wrote {out} despite the error"
    );
    for command in ["run", "tui"] {
        let o = meshsim(&[
            command,
            "tests/fixtures/params/misspelt.yaml",
            "--diagnostics",
            "short",
            "--out",
            &dir.join(command).display().to_string(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{command}:\n{err}");
        assert!(
            err.contains(
                "tests/fixtures/params/misspelt.yaml:8:21: error[unknown-parameter]: `EnvironmentNam` is not a parameter"
            ) && err.contains("(at mesh.params.EnvironmentNam); help: did you mean `EnvironmentName`?"),
            "{command}:\n{err}"
        );
    }
}

/// Runs a scenario shortened to `duration` with report.json, summary.md and report.html;
/// returns stdout and the output folder.
fn run_short(scenario: &str, duration: &str, name: &str) -> (String, PathBuf) {
    let dir = scratch(name);
    let o = meshsim(&[
        "run",
        scenario,
        "--duration",
        duration,
        "--quiet",
        "--out",
        &dir.display().to_string(),
    ]);
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    (String::from_utf8_lossy(&o.stdout).into_owned(), dir)
}

fn report_schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string("docs/report.schema.json").expect("schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

#[test]
fn the_ordering_apps_invariants_are_reported_only_for_runs_of_the_ordering_app() {
    let schema = report_schema();
    for (scenario, ordering) in [
        ("tests/fixtures/scenarios/shop.yaml", false),
        ("tests/fixtures/scenarios/ordering.yaml", true),
    ] {
        let (stdout, dir) = run_short(scenario, "3s", if ordering { "ordering" } else { "shop" });
        let summary = std::fs::read_to_string(dir.join("summary.md")).expect("summary.md");
        let html = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
        let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
        let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let errors: Vec<String> = schema.iter_errors(&json).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{scenario}: {errors:#?}");
        let listed = json["invariants"].as_array().expect("invariants").len();
        assert_eq!(listed, if ordering { 5 } else { 0 }, "{scenario}: {text}");
        assert_eq!(
            summary.contains("## Invariants"),
            ordering,
            "{scenario}:\n{summary}"
        );
        assert_eq!(html.contains("<h2>Invariants</h2>"), ordering, "{scenario}");
        for name in ["reservation-once-per-order", "stock-conserved"] {
            assert_eq!(
                summary.contains(name),
                ordering,
                "{scenario}: {name}\n{summary}"
            );
            if !ordering {
                assert!(!stdout.contains(name), "{scenario}: {name}\n{stdout}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
