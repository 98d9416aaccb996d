//! Rollouts rehearsed in the world: the fixture's Order v1 → v2 on fast timers, so a whole
//! canary fits in a short run. What is checked is what the rollout did to the traffic (the
//! access log), not only what it said: weights reach the UI's sidecars step by step, a
//! rollback moves every request back to v1, and the verdict is in the report.

use std::path::Path;

use meshsim::proxy::Direction;
use meshsim::rehearse::{Rehearsal, rehearse};
use meshsim::report::Report;
use meshsim::rollout::Outcome;
use meshsim::scenario;
use meshsim::sim::RunOptions;

const ROLLOUT: &str = r#"rollout:
  router: order-router
  route: order
  stable: order-v1
  candidate: order-v2
  start: 5s
  propagation_delay: 1s
  scale_down_delay: 5s
  abort_scale_down_delay: 5s
  strategy:
    canary: { step_weight: 25, interval: 5s, threshold: 1 }
  analysis:
    interval: 5s
    min_requests: 20
    checks:
      - success_rate: ">= 95%"
"#;

fn rehearsal(extra: &str) -> (scenario::Scenario, Rehearsal) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios");
    let base = std::fs::read_to_string(dir.join("ordering_two_orders.yaml")).expect("fixture");
    let text = format!("{base}{ROLLOUT}{extra}");
    let loaded = scenario::load_text("rollout.yaml", &text, &dir);
    assert!(
        loaded.is_valid(),
        "{:?}",
        loaded
            .diagnostics
            .iter()
            .map(|d| &d.message)
            .collect::<Vec<_>>()
    );
    let (scenario, mesh) = loaded.runnable().expect("runnable");
    let options = RunOptions {
        keep_access_log: true,
        ..RunOptions::default()
    };
    let r = rehearse(scenario, mesh, &options, &mut |_| {}).expect("runs");
    (scenario.clone(), r)
}

/// Share of the UI's calls to Order that went to v2, among those that started in [from, to).
fn v2_share(r: &Rehearsal, from: f64, to: f64) -> f64 {
    let calls: Vec<bool> = r
        .run
        .access_log
        .iter()
        .filter(|l| l.direction == Direction::Outbound && l.node == "ui-v1" && !l.shadow)
        .filter(|l| l.service.as_deref() == Some("order.ordering.local"))
        .filter(|l| (from..to).contains(&l.start.since_start().as_secs_f64()))
        .map(|l| l.upstream_node.as_deref() == Some("order-v2"))
        .collect();
    assert!(!calls.is_empty(), "no calls in [{from}, {to})");
    calls.iter().filter(|v| **v).count() as f64 / calls.len() as f64
}

#[test]
fn a_healthy_canary_moves_the_traffic_step_by_step_and_is_promoted() {
    let (scenario, r) = rehearsal("");
    let report = r.rollout.as_ref().expect("a rollout report");
    assert_eq!(report.outcome, Outcome::Promoted, "{report:?}");
    assert_eq!(report.time_to_detect_s, None, "nothing to detect");
    // Flagger: the first tick at 5 s sets 25 %, each later passing tick adds 25 %, the one
    // after 100 % promotes: 5 s + 4 × 5 s.
    assert_eq!(report.decided_at_s, Some(25.0));
    // What the UI's sidecars did, 1 s after each change reached them.
    for (from, to, want) in [
        (0.0, 6.0, 0.0),
        (6.5, 10.0, 0.25),
        (11.5, 15.0, 0.5),
        (16.5, 20.0, 0.75),
        (21.5, 25.0, 1.0),
    ] {
        let got = v2_share(&r, from, to);
        assert!(
            (got - want).abs() <= 0.12,
            "[{from}, {to}): {got:.3} to v2, wanted {want}"
        );
    }
    // v1 is scaled down 5 s after the promotion: it serves nothing after 31 s.
    let late_v1 = r.run.access_log.iter().any(|l| {
        l.direction == Direction::Inbound
            && l.node == "order-v1"
            && l.start.since_start().as_secs_f64() > 31.0
    });
    assert!(!late_v1, "order-v1 still served after its scale-down");
    assert_eq!(r.run.ledger.failed(), 0);
    let json = Report::of_rehearsal(&scenario, &r).to_json();
    assert!(json.contains("\"outcome\": \"promoted\""), "{json}");
}

#[test]
fn a_failing_canary_is_rolled_back_and_its_traffic_returns_to_stable() {
    let (scenario, r) = rehearsal(
        "faults:\n  - { kind: errors, target: { node: order-v2 }, percent: 30, status: 500, start: 0s }\nexpect:\n  - rollout: rolled_back\n",
    );
    let report = r.rollout.as_ref().expect("a rollout report");
    assert_eq!(report.outcome, Outcome::RolledBack, "{report:?}");
    let decided = report.decided_at_s.expect("decided");
    assert!(decided <= 15.0, "rolled back at {decided}");
    let detected = report.detected_at_s.expect("detected");
    assert_eq!(
        report.time_to_detect_s,
        Some(detected),
        "the fault was in force from 0 s"
    );
    let value = report.value.expect("the failing value");
    assert!((55.0..=85.0).contains(&value), "v2's success rate {value}");
    // Once the rollback reached the UI's sidecars, no request goes to v2.
    assert_eq!(v2_share(&r, decided + 1.5, 30.0), 0.0);
    let rep = Report::of_rehearsal(&scenario, &r);
    assert!(rep.expectations_held(), "{}", rep.verdict_lines());
    assert!(
        rep.rollout_line()
            .is_some_and(|l| l.contains("rolled_back"))
    );
}

#[test]
fn the_same_seed_rehearses_the_same_rollout_byte_for_byte() {
    let json = || {
        let (scenario, r) = rehearsal("");
        Report::of_rehearsal(&scenario, &r).to_json()
    };
    let (a, b) = (json(), json());
    assert!(a == b, "two rehearsals with one seed differ");
    assert!(a.contains("\"rollout\""));
}
