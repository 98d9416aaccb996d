//! `meshsim check`: every property kind on a mesh where it holds and one where it fails (with
//! the minimal counterexample asserted), route coverage of a 50-route mesh, policy errors,
//! lints, determinism, and the command's exit codes.

use std::process::Command;

use proptest::prelude::*;

use meshsim::check::{
    self, CheckOptions, CheckReport, DEFAULT_CASES, Failure, MeshUnderTest, Policy, Verdict,
};
use meshsim::config::diagnostic::Severity;
use meshsim::config::{LoadOptions, LoadedConfig, load_paths};

const DIR: &str = "tests/fixtures/check";

fn load(files: &[&str]) -> LoadedConfig {
    let paths: Vec<String> = files.iter().map(|f| format!("{DIR}/{f}")).collect();
    let loaded = load_paths(&paths, &LoadOptions::default());
    assert!(
        loaded.is_valid(),
        "fixture {files:?} loads: {:?}",
        loaded.diagnostics
    );
    loaded
}

/// Checks one inline policy against the shop mesh with `routes`.
fn run(routes: &[&str], policy: &str) -> CheckReport {
    let mut files = vec!["shop.yaml"];
    files.extend_from_slice(routes);
    let loaded = load(&files);
    let policy = Policy::from_text("policy.yaml", policy, &loaded.meshes).expect("policy loads");
    let mesh = MeshUnderTest::new(&loaded.meshes[&policy.mesh]);
    check::check(&mesh, &policy, &CheckOptions::default(), &loaded.sources).expect("checks")
}

fn failure(report: &CheckReport) -> &Failure {
    assert_eq!(report.results.len(), 1);
    match &report.results[0].verdict {
        Verdict::Fails(f) => f.as_ref(),
        Verdict::Holds => panic!("expected `{}` to fail", report.results[0].name),
    }
}

fn holds(report: &CheckReport) -> bool {
    report.holds() && !report.results.is_empty()
}

const ALWAYS: &str = r#"
properties:
  - service: cart.shop.local
    when:
      prefix: /cart
      headers: { x-canary: { exact: "true" } }
    always: { node: cart-v2 }
"#;

#[test]
fn always_reaches_node() {
    assert!(holds(&run(&["routes-ok.yaml"], ALWAYS)));
    let report = run(&["routes-canary-split.yaml"], ALWAYS);
    let f = failure(&report);
    assert_eq!(
        f.message,
        "the request can reach cart-v1, cart-v2, not only cart-v2"
    );
    let c = f.counterexample.as_ref().expect("a counterexample");
    assert_eq!(
        c.curl,
        "curl -H 'x-canary: true' http://cart.shop.local:8080/cart"
    );
    assert_eq!(
        c.explanation,
        [
            "matched route `cart-canary` of cart-router",
            "targets: cart-v1 weight 50, cart-v2 weight 50",
            "attempts allowed: 2",
        ]
    );
}

const NEVER: &str = r#"
properties:
  - service: cart.shop.local
    when: { prefix: /admin }
    never: { node: "*" }
"#;

#[test]
fn never_reaches_any_node() {
    assert!(holds(&run(&["routes-ok.yaml"], NEVER)));
    let report = run(&["routes-catch-all.yaml"], NEVER);
    let f = failure(&report);
    let c = f.counterexample.as_ref().expect("a counterexample");
    assert_eq!(c.curl, "curl http://cart.shop.local:8080/admin");
    assert_eq!(
        c.explanation,
        [
            "skipped route `cart-canary`: path does not start with `/cart`",
            "skipped route `cart`: path does not start with `/cart`",
            "matched route `fallback` of cart-router",
            "targets: cart-v1 weight 1",
            "attempts allowed: 3",
        ]
    );
}

#[test]
fn never_reaches_a_named_node_and_status_and_attempts() {
    // Requests without the canary header never reach v2 only if the default route has no v2.
    let policy = r#"
properties:
  - service: cart.shop.local
    when: { prefix: /cart, headers: { x-canary: { absent: true } } }
    never: { node: cart-v2 }
"#;
    let f = failure(&run(&["routes-ok.yaml"], policy)).clone();
    assert_eq!(
        f.counterexample.expect("a counterexample").curl,
        "curl http://cart.shop.local:8080/cart"
    );
    // Everything outside /cart is a 404 (Envoy NR) in routes-ok, not in routes-catch-all.
    let status = r#"
properties:
  - service: cart.shop.local
    when: { prefix: /shop }
    always: { status: 404 }
"#;
    assert!(holds(&run(&["routes-ok.yaml"], status)));
    let f = failure(&run(&["routes-catch-all.yaml"], status)).clone();
    assert_eq!(
        f.counterexample.expect("a counterexample").curl,
        "curl http://cart.shop.local:8080/shop"
    );
    // Attempts: the default route allows 3 (maxRetries 2), the canary route 2.
    let attempts = r#"
properties:
  - service: cart.shop.local
    always: { attempts: { max: 3 } }
"#;
    assert!(holds(&run(&["routes-ok.yaml"], attempts)));
    let f = failure(&run(&["routes-many-retries.yaml"], attempts)).clone();
    assert_eq!(f.message, "the route allows 5 attempts, outside 0..=3");
    assert_eq!(
        f.counterexample.expect("a counterexample").curl,
        "curl http://cart.shop.local:8080/cart"
    );
}

const SHARE: &str = r#"
properties:
  - service: cart.shop.local
    when: { headers: { x-canary: { absent: true } } }
    share: { node: cart-v2, min: 5, max: 15 }
"#;

#[test]
fn share_of_traffic() {
    assert!(holds(&run(&["routes-ok.yaml"], SHARE)));
    let report = run(&["routes-even-split.yaml"], SHARE);
    let f = failure(&report);
    assert_eq!(
        f.message,
        "cart-v2 gets 50.0 % of this request's route (`cart`), outside 5–15 %"
    );
    assert_eq!(
        f.counterexample.as_ref().expect("a counterexample").curl,
        "curl http://cart.shop.local:8080/cart"
    );
}

const REACHABLE: &str = "properties:\n  - reachableFrom: ingress\n";

#[test]
fn every_service_reachable_from_the_gateway() {
    assert!(holds(&run(&["routes-ok.yaml"], REACHABLE)));
    let report = run(&["routes-ok.yaml", "extra-audit.yaml"], REACHABLE);
    let f = failure(&report);
    assert_eq!(
        f.detail,
        ["audit.shop.local (tests/fixtures/check/extra-audit.yaml:2:1)"]
    );
}

const AMPLIFICATION: &str = "properties:\n  - maxRetryAmplification: 9\n";

#[test]
fn retry_amplification_bound() {
    // Cart's route: 3 attempts; Inventory (virtual node provider): App Mesh's default, 3.
    assert!(holds(&run(&["routes-ok.yaml"], AMPLIFICATION)));
    let report = run(&["routes-many-retries.yaml"], AMPLIFICATION);
    let f = failure(&report);
    assert_eq!(
        f.message,
        "one request to cart.shop.local can become 15 attempts at the last hop (5 × 3 = 15), more than 9"
    );
    assert!(f.detail[0].contains("route `cart`"), "{:?}", f.detail);
    assert!(
        f.detail[1].contains("App Mesh's generated route (default retry policy)"),
        "{:?}",
        f.detail
    );
}

const TIMEOUTS: &str = "properties:\n  - timeoutCoversRetries: true\n";

#[test]
fn timeout_covers_retries() {
    assert!(holds(&run(&["routes-ok.yaml"], TIMEOUTS)));
    let report = run(&["routes-timeout-trap.yaml"], TIMEOUTS);
    let f = failure(&report);
    assert_eq!(
        f.detail[0],
        "cart-router/cart (tests/fixtures/check/routes-timeout-trap.yaml:21:1): perRetryTimeout 1s × 3 attempts = 3s > perRequest 2s"
    );
    assert_eq!(
        f.detail[1],
        "see the effect: meshsim run scenarios/timeout-trap.yaml"
    );
}

const SHADOWED: &str = "properties:\n  - noShadowedRoutes: true\n";

#[test]
fn no_shadowed_routes() {
    assert!(holds(&run(&["routes-ok.yaml"], SHADOWED)));
    let report = run(&["routes-shadowed.yaml"], SHADOWED);
    let f = failure(&report);
    assert!(
        f.message
            .starts_with("route `cart-canary` of cart.shop.local"),
        "{}",
        f.message
    );
    assert!(
        f.message.ends_with("they went to `cart-all` (256)"),
        "{}",
        f.message
    );
    let c = f.counterexample.as_ref().expect("a counterexample");
    assert_eq!(
        c.curl,
        "curl -H 'x-canary: true' http://cart.shop.local:8080/cart"
    );
    assert_eq!(c.explanation[0], "matched route `cart-all` of cart-router");
}

#[test]
fn the_same_seed_gives_the_same_counterexample_and_another_seed_still_finds_one() {
    let a = run(&["routes-catch-all.yaml"], SHARE);
    let b = run(&["routes-catch-all.yaml"], SHARE);
    let curl = |r: &CheckReport| failure(r).counterexample.as_ref().map(|c| c.curl.clone());
    assert_eq!(curl(&a), curl(&b));
    let loaded = load(&["shop.yaml", "routes-catch-all.yaml"]);
    let policy = Policy::from_text("p.yaml", SHARE, &loaded.meshes).expect("loads");
    let mesh = MeshUnderTest::new(&loaded.meshes["shop"]);
    let opts = CheckOptions {
        cases: 200,
        seed: 7,
    };
    let other = check::check(&mesh, &policy, &opts, &loaded.sources).expect("runs");
    assert!(!other.holds());
}

#[test]
fn default_cases_cover_every_route_of_a_fifty_route_mesh() {
    let loaded = load(&["fifty-routes.yaml"]);
    let mesh = MeshUnderTest::new(&loaded.meshes["big"]);
    let cov = check::coverage(&mesh, check::DEFAULT_SEED, DEFAULT_CASES).expect("runs");
    assert_eq!(cov.counts(), (50, 50), "uncovered: {:?}", cov.uncovered());
    // And not by luck of one seed.
    for seed in 1..4 {
        let cov = check::coverage(&mesh, seed, DEFAULT_CASES).expect("runs");
        assert!(
            cov.uncovered().is_empty(),
            "seed {seed}: {:?}",
            cov.uncovered()
        );
    }
}

#[test]
fn fifty_route_policy_holds() {
    let loaded = load(&["fifty-routes.yaml"]);
    let policy = Policy::from_path(
        std::path::Path::new("tests/fixtures/check/fifty-policy.yaml"),
        &loaded.meshes,
    )
    .expect("loads");
    assert_eq!(policy.properties.len(), 10);
    let mesh = MeshUnderTest::new(&loaded.meshes["big"]);
    let report =
        check::check(&mesh, &policy, &CheckOptions::default(), &loaded.sources).expect("runs");
    for r in &report.results {
        assert!(
            matches!(r.verdict, Verdict::Holds),
            "{}: {:?}",
            r.name,
            r.verdict
        );
    }
}

fn policy_error(text: &str) -> String {
    let loaded = load(&["shop.yaml", "routes-ok.yaml"]);
    Policy::from_text("bad.yaml", text, &loaded.meshes)
        .expect_err("the policy is refused")
        .to_string()
}

#[test]
fn bad_policies_are_reported_at_file_line_column() {
    assert_eq!(
        policy_error("properties:\n  - service: cart.shop.local\n    alwayz: { node: cart-v2 }\n"),
        policy_error("properties:\n  - service: cart.shop.local\n    alwayz: { node: cart-v2 }\n"),
    );
    let unknown_field =
        policy_error("properties:\n  - service: cart.shop.local\n    alwayz: { node: cart-v2 }\n");
    assert!(
        unknown_field.starts_with("bad.yaml:3:5: "),
        "{unknown_field}"
    );
    assert!(unknown_field.contains("alwayz"), "{unknown_field}");
    let unknown_node =
        policy_error("properties:\n  - service: cart.shop.local\n    always: { node: cart-v9 }\n");
    assert_eq!(
        unknown_node,
        "bad.yaml:3:21: no virtual node `cart-v9` (`*` is any node) (at properties[0].always.node)"
    );
    let unknown_service =
        policy_error("properties:\n  - service: nope\n    never: { node: \"*\" }\n");
    assert!(
        unknown_service.starts_with("bad.yaml:2:14: no virtual service `nope`"),
        "{unknown_service}"
    );
    let bad_regex = policy_error(
        "properties:\n  - service: cart.shop.local\n    when: { regex: '/a(' }\n    never: { node: \"*\" }\n",
    );
    assert!(
        bad_regex.starts_with("bad.yaml:3:20: not a valid regex"),
        "{bad_regex}"
    );
    let two_kinds =
        policy_error("properties:\n  - timeoutCoversRetries: true\n    noShadowedRoutes: true\n");
    assert!(
        two_kinds.starts_with("bad.yaml:2:5: a property needs exactly one of"),
        "{two_kinds}"
    );
    let status =
        policy_error("properties:\n  - service: cart.shop.local\n    always: { status: 200 }\n");
    assert!(
        status.starts_with("bad.yaml:3:23: routing decides one status only"),
        "{status}"
    );
}

#[test]
fn lints_name_file_line_and_the_scenario_that_shows_the_effect() {
    let trap = load_paths(
        &["scenarios/ordering/mesh-timeout-trap.cfn.yaml"],
        &LoadOptions {
            params: [("CanaryWeight".to_string(), "0".to_string())].into(),
            ..LoadOptions::default()
        },
    );
    assert!(trap.is_valid());
    let lints = check::lint(&trap.meshes["ordering"]);
    let d = lints
        .iter()
        .find(|d| d.code == "retry-timeout-trap")
        .expect("the timeout trap is found");
    assert!(
        d.position(&trap.sources)
            .starts_with("scenarios/ordering/mesh-timeout-trap.cfn.yaml:")
    );
    assert!(
        d.help
            .as_deref()
            .unwrap_or("")
            .contains("meshsim run scenarios/timeout-trap.yaml")
    );

    let ok = load(&["shop.yaml", "routes-ok.yaml"]);
    let codes = |l: &LoadedConfig| -> Vec<&'static str> {
        check::lint(&l.meshes["shop"])
            .iter()
            .map(|d| d.code)
            .collect()
    };
    assert!(!codes(&ok).contains(&"retry-client-error"));
    assert!(!codes(&ok).contains(&"retry-timeout-trap"));
    let client = load(&["shop.yaml", "routes-client-error.yaml"]);
    let lints = check::lint(&client.meshes["shop"]);
    let d = lints
        .iter()
        .find(|d| d.code == "retry-client-error")
        .expect("client-error retries are found");
    assert_eq!(
        d.position(&client.sources),
        "tests/fixtures/check/routes-client-error.yaml:21:1"
    );
    let trap = load(&["shop.yaml", "routes-timeout-trap.yaml"]);
    assert!(codes(&trap).contains(&"retry-timeout-trap"));
    // The retried POST: the default route has a policy that retries after sending and no method.
    assert!(codes(&ok).contains(&"retry-non-idempotent"));
    // Outlier detection: the Ordering mesh's 50 % cap needs 2 tasks; task counts are unknown.
    let ordering = load_paths(
        &["scenarios/ordering/mesh.cfn.yaml"],
        &LoadOptions::default(),
    );
    let lints = check::lint(&ordering.meshes["ordering"]);
    let small = lints
        .iter()
        .find(|d| d.code == "ejection-small-cluster")
        .expect("the small-cluster note");
    assert!(
        small.message.contains("at least 2 tasks"),
        "{}",
        small.message
    );
    assert!(small.message.contains("cannot tell"), "{}", small.message);
    assert!(
        small.message.contains("no host is ever ejected"),
        "Envoy >= 1.28 never exceeds the cap: {}",
        small.message
    );
    assert!(!lints.iter().any(|d| d.code == "ejection-panic"));

    // Notes cannot tell whether the trap is sprung, so each kind is printed once and names
    // the other places; warnings are printed at three places per kind.
    let fifty = load(&["fifty-routes.yaml"]);
    let lints = check::lint(&fifty.meshes["big"]);
    let notes: Vec<_> = lints
        .iter()
        .filter(|d| d.code == "default-retries-non-idempotent" && d.severity == Severity::Note)
        .collect();
    assert_eq!(
        notes.len(),
        1,
        "one note for every any-method route without a policy"
    );
    let help = notes[0].help.as_deref().unwrap_or("");
    assert!(
        notes[0].message.contains("cart-router/r01"),
        "{}",
        notes[0].message
    );
    assert!(
        help.contains("the same applies to 25 more: route cart-router/r02,"),
        "{help}"
    );
    assert!(help.ends_with("route cart-router/r44"), "{help}");
    // r05, r13, r29 and r37 match POST explicitly: three printed, the third names the fourth.
    let warnings: Vec<_> = lints
        .iter()
        .filter(|d| d.code == "default-retries-non-idempotent" && d.severity == Severity::Warning)
        .collect();
    assert_eq!(warnings.len(), 3);
    assert_eq!(
        warnings[2]
            .help
            .as_deref()
            .map(|h| h.ends_with("the same applies to 1 more: route cart-router/r37")),
        Some(true),
        "{:?}",
        warnings[2].help
    );
}

fn meshsim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .output()
        .expect("meshsim runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_warns_about_outlier_detection_on_a_logical_dns_node() {
    // The validation warning prints with check's output too (its lints add none of their
    // own for it), and warnings do not fail the check.
    let (code, out, err) = meshsim(&[
        "check",
        "tests/fixtures/check/shop.yaml",
        "tests/fixtures/check/routes-ok.yaml",
        "tests/fixtures/check/node-outlier-dns.yaml",
        "--policy",
        "tests/fixtures/check/policy.yaml",
        "--cases",
        "100",
        "--diagnostics",
        "short",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let hits: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("warning[outlier-logical-dns]"))
        .collect();
    assert_eq!(hits.len(), 1, "{err}");
    assert!(
        hits[0].starts_with("tests/fixtures/check/node-outlier-dns.yaml:8:7:"),
        "{err}"
    );
}

#[test]
fn command_exit_codes() {
    let shop = "tests/fixtures/check/shop.yaml";
    let policy = "tests/fixtures/check/policy.yaml";
    let (code, out, _) = meshsim(&[
        "check",
        shop,
        "tests/fixtures/check/routes-ok.yaml",
        "--policy",
        policy,
        "--cases",
        "300",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("  ok  ").count(), 7, "{out}");

    let (code, out, _) = meshsim(&[
        "check",
        shop,
        "tests/fixtures/check/routes-canary-split.yaml",
        "--policy",
        policy,
        "--seed",
        "9",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("counterexample: curl -H 'x-canary: true' http://cart.shop.local:8080/cart"),
        "{out}"
    );
    assert!(out.contains("--cases 1000 --seed 9"), "{out}");

    let (code, out, _) = meshsim(&[
        "check",
        shop,
        "tests/fixtures/check/routes-ok.yaml",
        "--policy",
        policy,
        "--coverage",
        "--cases",
        "300",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("coverage: 2/2 routes matched by 300 requests per service"),
        "{out}"
    );

    let bad = std::env::temp_dir().join(format!("meshsim-check-bad-{}.yaml", std::process::id()));
    std::fs::write(&bad, "properties:\n  - reachableFrom: nowhere\n").expect("temp file");
    let bad_path = bad.display().to_string();
    let (code, _, err) = meshsim(&[
        "check",
        shop,
        "tests/fixtures/check/routes-ok.yaml",
        "--policy",
        &bad_path,
    ]);
    let _ = std::fs::remove_file(&bad);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{bad_path}:2:20: no virtual gateway `nowhere`")),
        "{err}"
    );
}

#[test]
fn counterexamples_of_regex_routes_are_requests_a_client_can_send() {
    let (code, out, err) = meshsim(&[
        "check",
        &format!("{DIR}/shop.yaml"),
        &format!("{DIR}/routes-regex.yaml"),
        "--policy",
        &format!("{DIR}/regex-policy.yaml"),
        "--no-lint",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    let curls: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("counterexample: "))
        .collect();
    // `.*\.css` shrinks to `.css`, which goes out as the path `/.css`.
    assert_eq!(
        curls,
        [
            "curl http://cart.shop.local:8080/.css",
            "curl -H 'x-tag: A' http://cart.shop.local:8080/",
        ],
        "{out}"
    );
}

/// Every request `requests` and `requests_where` generate for a mesh whose routes match a
/// path regex and a header regex is one a client can send.
#[test]
fn generated_requests_are_sendable() {
    let loaded = load(&["shop.yaml", "routes-regex.yaml"]);
    let mesh = MeshUnderTest::new(&loaded.meshes["shop"]);
    let service = "cart.shop.local";
    let mut runner = check::runner(7, "sendable", 2000);
    let requests = mesh.requests(service).expect("a routed service");
    runner
        .run(&requests, |req| {
            let target = if req.query.is_empty() {
                req.path.clone()
            } else {
                format!("{}?{}", req.path, req.query)
            };
            prop_assert!(req.path.starts_with('/'), "{req:?}");
            prop_assert!(target.parse::<http::uri::PathAndQuery>().is_ok(), "{req:?}");
            for (name, value) in &req.headers {
                prop_assert!(http::HeaderName::from_bytes(name.as_bytes()).is_ok());
                prop_assert!(http::HeaderValue::from_str(value).is_ok(), "{req:?}");
                prop_assert_eq!(value.trim(), value.as_str());
            }
            Ok(())
        })
        .expect("every request is sendable");
}
