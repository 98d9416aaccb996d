//! Scenario files: the documented example loads cleanly; one fixture per error kind
//! (`tests/fixtures/scenarios/`), each asserting the exact `file:line:column`, field path and
//! message; and no input panics the loader.
//!
//! Positions were worked out by reading the fixture text: lines and columns are 1-based and
//! count characters. The fixtures are `shop.yaml` (over the small `shop.cfn.yaml` mesh) with
//! one mistake each.

use std::path::Path;
use std::time::Duration;

use meshsim::config::Severity::{self, Error, Warning};
use meshsim::scenario::{
    Check, Comparison, DiscoverySpec, Metric, MetricsSpec, NetworkSpec, OrderingSpec, Percentile,
    ScenarioLoad, Subject, Threshold, load, load_text,
};
use proptest::prelude::*;

const DIR: &str = "tests/fixtures/scenarios";

/// (severity, code, `file:line:col` without the directory, field path, message).
type Diag = (Severity, &'static str, String, String, String);

fn load_fixture(name: &str) -> ScenarioLoad {
    load(&Path::new(DIR).join(name))
}

fn tuples(loaded: &ScenarioLoad) -> Vec<Diag> {
    loaded
        .diagnostics
        .iter()
        .map(|d| {
            let pos = d.position(&loaded.sources);
            let pos = pos
                .strip_prefix(&format!("{DIR}/"))
                .unwrap_or(&pos)
                .to_string();
            (d.severity, d.code, pos, d.path.clone(), d.message.clone())
        })
        .collect()
}

fn diags(name: &str) -> Vec<Diag> {
    let loaded = load_fixture(name);
    assert_renderable(&loaded);
    tuples(&loaded)
}

fn helps(name: &str) -> Vec<Option<String>> {
    let loaded = load_fixture(name);
    loaded.diagnostics.iter().map(|d| d.help.clone()).collect()
}

fn err(code: &'static str, pos: &str, path: &str, msg: &str) -> Diag {
    (Error, code, pos.into(), path.into(), msg.into())
}

/// Every diagnostic points at a file of the load, inside its text, on character boundaries:
/// what the CLI's miette rendering needs.
fn assert_renderable(loaded: &ScenarioLoad) {
    for d in loaded.diagnostics.iter() {
        let file = d.file.expect("every scenario diagnostic names a file");
        let text = loaded.sources.get(file).text();
        assert!(
            d.span.start <= d.span.end && d.span.end <= text.len(),
            "{d:?}"
        );
        assert!(text.is_char_boundary(d.span.start) && text.is_char_boundary(d.span.end));
    }
    assert!(!loaded.sources.get(loaded.file).name().is_empty());
}

// ---- what loads ---------------------------------------------------------------------------

#[test]
fn the_documented_example_loads_without_a_single_diagnostic() {
    let loaded = load_fixture("ordering.yaml");
    assert_eq!(tuples(&loaded), Vec::<Diag>::new());
    let (scenario, mesh) = loaded.runnable().expect("runnable");
    assert_eq!(mesh.name, "ordering");
    assert_eq!(scenario.name, "ordering-canary");
    assert_eq!(scenario.seed, 7);
    assert_eq!(scenario.duration, Duration::from_secs(300));
    let canary = &scenario.tasks[2];
    assert_eq!(canary.node, "order-v2");
    assert_eq!(canary.version.as_deref(), Some("v2"));
    assert_eq!(
        (canary.start, canary.stop),
        (Duration::from_secs(60), Some(Duration::from_secs(240)))
    );
    assert_eq!(scenario.mesh.params["CanaryWeight"], "10");
    assert_eq!(scenario.network.jitter, Duration::from_millis(1));
    assert_eq!(scenario.ordering.catalog["sku-2"], 500);
    assert_eq!(scenario.services.len(), 4);
}

#[test]
fn the_docs_show_the_example_fixture_verbatim() {
    let docs = std::fs::read_to_string("docs/SCENARIOS.md").expect("docs/SCENARIOS.md");
    let fixture = std::fs::read_to_string(Path::new(DIR).join("ordering.yaml")).expect("fixture");
    // The first line points yaml-language-server at the schema, relative to each file.
    let body = fixture.split_once('\n').map_or("", |(_, rest)| rest);
    assert!(
        docs.contains(body),
        "the example in docs/SCENARIOS.md differs from {DIR}/ordering.yaml"
    );
}

#[test]
fn defaults_fill_every_optional_field() {
    let loaded = load_fixture("shop.yaml");
    assert_eq!(tuples(&loaded), Vec::<Diag>::new());
    let (s, _) = loaded.runnable().expect("runnable");
    assert_eq!(s.name, "shop");
    assert_eq!(s.description, None);
    assert_eq!(s.seed, 1);
    assert_eq!(s.network, NetworkSpec::default());
    assert_eq!(s.network.latency, Duration::from_millis(1));
    assert_eq!(s.network.tick, Duration::from_millis(1));
    assert_eq!(s.discovery, DiscoverySpec::default());
    assert_eq!(s.discovery.propagation_delay, Duration::from_secs(5));
    assert_eq!(s.metrics, MetricsSpec::default());
    assert_eq!(s.metrics.interval, Duration::from_secs(10));
    assert_eq!(s.ordering, OrderingSpec::default_catalog());
    assert_eq!(s.ordering.catalog.len(), 10);
    assert_eq!(s.ordering.catalog["sku-10"], 1_000_000);
    let front = &s.tasks[0];
    assert_eq!(
        (front.replicas, front.start, front.stop),
        (1, Duration::ZERO, None)
    );
    assert_eq!(front.version, None);
}

#[test]
fn json_is_accepted_and_means_the_same() {
    let json = load_fixture("shop.json");
    let yaml = load_fixture("shop.yaml");
    assert_eq!(tuples(&json), Vec::<Diag>::new());
    assert_eq!(json.scenario, yaml.scenario);
    assert!(json.scenario.is_some());
}

// ---- one fixture per error ----------------------------------------------------------------

#[test]
fn malformed_yaml() {
    assert_eq!(
        diags("syntax_error.yaml"),
        [err(
            "syntax",
            "syntax_error.yaml:12:3",
            "",
            "syntax error: invalid indentation in flow construct"
        )]
    );
    assert!(load_fixture("syntax_error.yaml").scenario.is_none());
}

#[test]
fn unknown_field_with_a_suggestion() {
    assert_eq!(
        diags("unknown_field.yaml"),
        [err(
            "unknown-field",
            "unknown_field.yaml:9:5",
            "tasks[1].replcias",
            "unknown field `replcias`"
        )]
    );
    assert_eq!(
        helps("unknown_field.yaml"),
        [Some("did you mean `replicas`?".to_string())]
    );
}

#[test]
fn wrong_type() {
    assert_eq!(
        diags("wrong_type.yaml"),
        [err(
            "type",
            "wrong_type.yaml:13:14",
            "services.front.workers",
            "expected an integer from 0 to 4294967295, found the string \"eight\""
        )]
    );
}

#[test]
fn duration_without_a_unit() {
    assert_eq!(
        diags("bad_duration.yaml"),
        [err(
            "invalid-value",
            "bad_duration.yaml:16:23",
            "services.front.endpoints[0].service_time",
            "duration \"20\" has no unit; write one of ns, us, ms, s, m, h (like \"20ms\")"
        )]
    );
}

#[test]
fn dangling_node_reference() {
    assert_eq!(
        diags("dangling_node.yaml"),
        [err(
            "unresolved-reference",
            "dangling_node.yaml:8:11",
            "tasks[1].node",
            "mesh `shop` has no virtual node `bak-v1`"
        )]
    );
    assert_eq!(
        helps("dangling_node.yaml"),
        [Some("did you mean `back-v1`?".to_string())]
    );
}

#[test]
fn unknown_service_key() {
    assert_eq!(
        diags("unknown_service.yaml"),
        [err(
            "unresolved-reference",
            "unknown_service.yaml:10:14",
            "tasks[1].service",
            "there is no service `backend` under `services`"
        )]
    );
    assert_eq!(
        helps("unknown_service.yaml"),
        [Some("did you mean `back`?".to_string())]
    );
}

#[test]
fn negative_mix_weight_from_the_workload_model() {
    assert_eq!(
        diags("negative_weight.yaml"),
        [err(
            "invalid-value",
            "negative_weight.yaml:28:17",
            "workload.mix[0].weight",
            "a mix weight must be a finite number ≥ 0, got -5"
        )]
    );
}

#[test]
fn bad_fault_definitions_are_placed_at_their_fields() {
    assert_eq!(
        diags("faults_section.yaml"),
        [
            err(
                "invalid-value",
                "faults_section.yaml:31:20",
                "faults[0].target",
                "`node back-v2` matches no task of this scenario (tasks: front-v1-1, back-v1-1, back-v1-2)"
            ),
            err(
                "invalid-value",
                "faults_section.yaml:32:118",
                "faults[1].duration",
                "duration \"-5s\" is negative"
            ),
            err(
                "invalid-value",
                "faults_section.yaml:33:103",
                "faults[2].jitter",
                "`jitter` does not apply to a `partition` fault (it takes oneway)"
            ),
            err(
                "invalid-value",
                "faults_section.yaml:35:24",
                "faults[4].link",
                "contradicts fault `partition-4`: both act on the link back-v1-1 ↔ front-v1-1 at the same time and a link cannot be under two `partition` faults at once"
            ),
            err(
                "invalid-value",
                "faults_section.yaml:36:57",
                "faults[5].rate",
                "rate is KB/s and must be above 0, got 0 (use `stall` to stop the bytes)"
            ),
            err(
                "invalid-value",
                "faults_section.yaml:37:82",
                "faults[6].size_variation",
                "size_variation (64) must be below average_size (64), so every slice has a byte"
            ),
            err(
                "invalid-value",
                "faults_section.yaml:37:96",
                "faults[6].toxicity",
                "toxicity is a probability from 0 to 1 (Toxiproxy's), got 1.5"
            ),
            err(
                "invalid-value",
                "faults_section.yaml:38:60",
                "faults[7].stream",
                "`stream` does not apply to a `reset-peer` fault (it takes timeout, toxicity)"
            ),
        ]
    );
}

#[test]
fn bad_sidecar_extensions_are_placed_at_their_fields() {
    assert_eq!(
        diags("sidecars_section.yaml"),
        [
            err(
                "invalid-value",
                "sidecars_section.yaml:32:50",
                "sidecars.back-v1.rate_limit.fill_interval",
                "token bucket fill_interval must be at least 50ms, got 10ms"
            ),
            err(
                "invalid-value",
                "sidecars_section.yaml:33:80",
                "sidecars.back-v1.failure_accrual.max_penalty",
                "penalties must satisfy 0 < min_penalty <= max_penalty, got 10s and 5s"
            ),
            err(
                "invalid-value",
                "sidecars_section.yaml:35:31",
                "sidecars.front-v1.rate_limit.max_tokens",
                "token bucket max_tokens must be greater than 0"
            ),
            err(
                "invalid-value",
                "sidecars_section.yaml:36:38",
                "sidecars.front-v1.failure_accrual.jitter_ratio",
                "jitter_ratio must be from 0 to 1, got -0.5"
            ),
            err(
                "invalid-value",
                "sidecars_section.yaml:38:46",
                "sidecars.back-v2.failure_accrual.consecutive_failures",
                "expected an integer from 0 to 4294967295, found the integer `-2`"
            ),
            err(
                "unresolved-reference",
                "sidecars_section.yaml:39:3",
                "sidecars.bak-v1",
                "mesh `shop` has no virtual node `bak-v1`"
            ),
            err(
                "unresolved-reference",
                "sidecars_section.yaml:41:3",
                "sidecars.edge",
                "mesh `shop` has no virtual node `edge`"
            ),
        ]
    );
    assert_eq!(
        helps("sidecars_section.yaml")[5..],
        [
            Some("did you mean `back-v1`?".to_string()),
            Some("`edge` is a virtual gateway; sidecar extensions apply to virtual nodes".into()),
        ]
    );
}

#[test]
fn sidecar_extensions_load_with_envoy_and_linkerd_defaults() {
    use meshsim::engine::failure_accrual::FailureAccrualConfig;
    use meshsim::engine::fault::Percent;
    use meshsim::engine::ratelimit::TokenBucket;
    let text = std::fs::read_to_string(Path::new(DIR).join("shop.yaml")).expect("fixture")
        + "sidecars:\n  back-v1:\n    rate_limit: { max_tokens: 5, fill_interval: 100ms }\n    failure_accrual: {}\n";
    let loaded = load_text("sidecars.yaml", &text, Path::new(DIR));
    assert_eq!(tuples(&loaded), Vec::<Diag>::new());
    let (scenario, _) = loaded.runnable().expect("runnable");
    let back = scenario.sidecars["back-v1"];
    let limit = back.rate_limit.expect("a rate limit");
    assert_eq!(
        limit.token_bucket,
        TokenBucket::new(5, Duration::from_millis(100))
    );
    assert_eq!(limit.status, 429);
    assert_eq!(
        (limit.filter_enabled, limit.filter_enforced),
        (Percent::HUNDRED, Percent::HUNDRED)
    );
    assert_eq!(back.failure_accrual, Some(FailureAccrualConfig::default()));
    assert!(!scenario.sidecars.contains_key("front-v1"));
}

#[test]
fn rollout_mistakes_are_placed_at_their_fields() {
    assert_eq!(
        diags("rollout_section.yaml"),
        [
            err(
                "dangling-reference",
                "rollout_section.yaml:49:14",
                "rollout.candidate",
                "route `order` does not list `order-v3` among its weighted targets (order-v1, order-v2), and the mesh has no virtual node `order-v3`"
            ),
            err(
                "invalid-value",
                "rollout_section.yaml:53:23",
                "rollout.strategy.canary.steps[0].set_weight",
                "a weight is a percentage from 0 to 100, got 150"
            ),
            err(
                "unsupported",
                "rollout_section.yaml:57:30",
                "rollout.analysis.checks[0].retry_amplification",
                "a rehearsal measures each arm at its own sidecars, which do not see the callers' retries, so this check could never fail"
            ),
        ]
    );
    // `expect` is a section of this version: an empty one is no error.
    let loaded = load_text("now.yaml", "expect: []\n", Path::new(DIR));
    assert!(loaded.diagnostics.iter().all(|d| d.path != "expect"));
}

#[test]
fn expectations_load_one_per_threshold_in_file_order() {
    let loaded = load_fixture("expectations.yaml");
    assert_eq!(tuples(&loaded), Vec::<Diag>::new());
    let (scenario, _) = loaded.runnable().expect("runnable");
    let names: Vec<&str> = scenario.expect.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "users success_rate >= 99%",
            "users p99 <= 1s",
            "back <is> \"fast\" & steady",
            "front does not retry",
            "edge success_rate >= 100%",
            "invariant no-request-lost holds",
            "back-v1 success_rate >= 99%",
        ]
    );
    assert_eq!(
        scenario.expect[1].check,
        Check::Slo {
            subject: Subject::Users,
            metric: Metric::Latency(Percentile::P99),
            threshold: Threshold {
                comparison: Comparison::AtMost,
                value: 1000.0,
                text: "<= 1s".into(),
            },
        }
    );
    // Without `expect:`, nothing is expected.
    let plain = load_fixture("shop.yaml");
    assert_eq!(plain.scenario.map(|s| s.expect), Some(Vec::new()));
}

#[test]
fn bad_expectations_are_errors_at_their_line() {
    let f = "bad_expectations.yaml";
    assert_eq!(
        diags(f),
        [
            err(
                "invalid-value",
                "bad_expectations.yaml:31:19",
                "expect[0].success_rate",
                "a success rate is between 0% and 100%, got \"140%\""
            ),
            err(
                "invalid-value",
                "bad_expectations.yaml:33:10",
                "expect[1].p99",
                "latency threshold: duration \"-3ms\" is negative"
            ),
            err(
                "unresolved-reference",
                "bad_expectations.yaml:34:14",
                "expect[2].service",
                "no task runs `bak-v1` and it is not the gateway the users enter through, so \
                 the run has no numbers for it"
            ),
            err(
                "invalid-value",
                "bad_expectations.yaml:37:10",
                "expect[3].p99",
                "`p99` is a threshold on a `service` or a `route`, not on an invariant"
            ),
            err(
                "unresolved-reference",
                "bad_expectations.yaml:38:16",
                "expect[4].invariant",
                "there is no invariant `no-double-booking`"
            ),
            err(
                "unresolved-reference",
                "bad_expectations.yaml:39:12",
                "expect[5].route",
                "mesh `shop` has no route `front` in any of its virtual routers"
            ),
            err(
                "unresolved-reference",
                "bad_expectations.yaml:41:14",
                "expect[6].rollout",
                "this scenario has no `rollout:` section, so there is no rollout outcome to expect"
            ),
            err(
                "union",
                "bad_expectations.yaml:44:16",
                "expect[7].invariant",
                "an expectation is about one thing, but `service` and `invariant` are both given"
            ),
            err(
                "unresolved-reference",
                "bad_expectations.yaml:45:16",
                "expect[8].invariant",
                "`no-negative-stock` is an invariant of the Ordering app, and no task runs one \
                 of its services, so the run does not check it"
            ),
        ]
    );
    let helps = helps(f);
    assert_eq!(helps[2].as_deref(), Some("did you mean `back-v1`?"));
    assert!(
        helps[4]
            .as_deref()
            .is_some_and(|h| h.starts_with("expected one of: no-request-lost, ")),
        "{:?}",
        helps[4]
    );
    assert!(load_fixture(f).runnable().is_none());
}

#[test]
fn missing_required_fields() {
    assert_eq!(
        diags("missing_field.yaml"),
        [
            err(
                "missing-field",
                "missing_field.yaml:2:1",
                "workload",
                "the scenario is missing required section `workload`"
            ),
            err(
                "missing-field",
                "missing_field.yaml:22:9",
                "services.back.endpoints[0]",
                "missing required field `path`"
            ),
        ]
    );
}

#[test]
fn an_inline_mesh_reports_at_the_scenarios_own_lines() {
    let loaded = load_fixture("inline_mesh.yaml");
    assert_renderable(&loaded);
    assert_eq!(
        tuples(&loaded),
        [err(
            "range",
            "inline_mesh.yaml:7:54",
            "spec.listeners[0].portMapping.port",
            "0 is out of range: expected at least 1 and at most 65535"
        )]
    );
    assert!(loaded.runnable().is_none());
}

#[test]
fn mesh_file_errors_pass_through_with_their_own_positions() {
    let loaded = load_fixture("broken_mesh.yaml");
    assert_renderable(&loaded);
    assert_eq!(
        tuples(&loaded),
        [err(
            "range",
            "broken.cfn.yaml:62:34",
            "Resources.BackV1.Properties.Spec.Listeners[0].PortMapping.Port",
            "70000 is out of range: expected at least 1 and at most 65535"
        )]
    );
    assert!(loaded.scenario.is_some(), "the scenario itself is fine");
    assert!(loaded.runnable().is_none());
}

#[test]
fn several_meshes_need_a_choice() {
    assert_eq!(
        diags("several_meshes.yaml"),
        [err(
            "ambiguous-mesh",
            "several_meshes.yaml:3:1",
            "mesh",
            "the mesh files hold several meshes (other, shop); the scenario must say which"
        )]
    );
    let text = std::fs::read_to_string(Path::new(DIR).join("several_meshes.yaml")).expect("text");
    let chosen = text.replace("mesh:\n", "mesh:\n  mesh: shop\n");
    let loaded = load_text("chosen.yaml", &chosen, Path::new(DIR));
    assert_eq!(tuples(&loaded), Vec::<Diag>::new());
    assert_eq!(loaded.mesh.map(|m| m.name), Some("shop".to_string()));
}

#[test]
fn a_call_to_an_undeclared_backend_is_a_warning() {
    let loaded = load_fixture("undeclared_backend.yaml");
    assert_eq!(
        tuples(&loaded),
        [(
            Warning,
            "undeclared-backend",
            "undeclared_backend.yaml:25:30".to_string(),
            "services.back.endpoints[0].calls[0].call.service".to_string(),
            "virtual node `back-v1` runs this call but does not list `front.shop.local` as a \
             backend; App Mesh would not route it"
                .to_string()
        )]
    );
    assert!(loaded.runnable().is_some(), "warnings do not stop a run");
}

#[test]
fn an_unreadable_scenario_is_a_diagnostic() {
    let loaded = load_fixture("no-such-scenario.yaml");
    let found = tuples(&loaded);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].1, found[0].2.as_str()),
        ("io", "no-such-scenario.yaml:1:1")
    );
    assert!(loaded.scenario.is_none());
}

// ---- no input panics ----------------------------------------------------------------------

fn fixtures() -> Vec<String> {
    [
        "shop.yaml",
        "ordering.yaml",
        "shop.json",
        "inline_mesh.yaml",
        "expectations.yaml",
    ]
    .iter()
    .map(|n| std::fs::read_to_string(Path::new(DIR).join(n)).expect("fixture"))
    .collect()
}

fn load_and_check(text: &str) {
    let loaded = load_text("fuzz.yaml", text, Path::new(DIR));
    assert_renderable(&loaded);
    if loaded.runnable().is_some() {
        assert!(loaded.scenario.is_some() && loaded.mesh.is_some());
    }
}

/// Fragments that steer mutations towards meaningful mistakes.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("-5".to_string()),
        Just("99999999999999999999".to_string()),
        Just("null".to_string()),
        Just("\"20\"".to_string()),
        Just("20ms".to_string()),
        Just("{distribution: lognormal}".to_string()),
        Just("[".to_string()),
        Just("}".to_string()),
        Just("\n  - ".to_string()),
        Just("!Ref X".to_string()),
        Just("&a".to_string()),
        Just("*a".to_string()),
        Just("faults: []\n".to_string()),
        Just("expect: [{service: users, p99: \"<= 1e400ms\"}]\n".to_string()),
        Just("\">= 140%\"".to_string()),
        Just("inline: |\n    x".to_string()),
        "[ -~\n]{0,6}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        load_and_check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_scenarios_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..12, token()), 1..6),
    ) {
        let all = fixtures();
        let mut text = all[pick.index(all.len())].clone();
        for (at, delete, insert) in edits {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) { i -= 1; }
            let mut j = (i + delete).min(text.len());
            while !text.is_char_boundary(j) { j -= 1; }
            text.replace_range(i..j.max(i), &insert);
        }
        load_and_check(&text);
    }

    #[test]
    fn shuffled_lines_never_panic(
        pick in any::<prop::sample::Index>(),
        swaps in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..8),
    ) {
        let all = fixtures();
        let text = &all[pick.index(all.len())];
        let mut lines: Vec<&str> = text.lines().collect();
        for (a, b) in swaps {
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
        }
        load_and_check(&lines.join("\n"));
    }
}
