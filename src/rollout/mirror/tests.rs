//! Mirroring on simulated time: the mirrored phase, the hand-over to the canary, rollback
//! while mirroring.

use crate::rollout::testkit::{World, rolled_back, s};
use crate::rollout::{Action, Step, Verdict};

const NODES: &str =
    r#""router": "inventory", "route": "inventory", "stable": "v1", "candidate": "v2""#;

fn mirror(strategy: &str) -> String {
    format!(
        r#"{{ {NODES}, "strategy": {{ "mirror": {strategy} }},
             "analysis": {{ "checks": [ {{ "success_rate": ">= 99%" }} ] }} }}"#
    )
}

fn mirrors(w: &World) -> Vec<(u64, u32)> {
    w.actions
        .iter()
        .filter_map(|(t, a)| match a {
            Action::SetMirror(p) => Some((t.as_nanos() / 1_000_000_000, *p)),
            _ => None,
        })
        .collect()
}

const THEN: &str = r#"{ "percent": 50, "iterations": 2, "interval": "1m",
                        "then": { "step_weight": 25, "max_weight": 50, "interval": "1m" } }"#;

#[test]
fn mirrored_intervals_then_a_canary() {
    let mut w = World::new(&mirror(THEN));
    w.run_until(s(1000));
    assert_eq!(mirrors(&w), vec![(0, 50), (120, 0)]);
    assert_eq!(w.weight_changes(), vec![(120, 25), (180, 50), (240, 100)]);
    assert_eq!((w.verdict(), w.decided_at()), (Verdict::Promoted, s(240)));
    // The mirrored phase judged copies: half of the stable's 100 rps, 3000 a minute.
    let first = &w.rollout.report().checks[0];
    assert_eq!((first.at_s, first.requests), (60.0, 3000));
}

#[test]
fn flaggers_defaults_mirror_everything_once_then_switch() {
    let mut w = World::new(&mirror("{}"));
    w.run_until(s(1000));
    assert_eq!(
        w.rollout.plan().steps,
        vec![
            Step::SetMirror(100),
            Step::Gate {
                interval: std::time::Duration::from_secs(60),
                threshold: 1
            },
            Step::SetMirror(0),
            Step::SetWeight(100),
            Step::Promote,
        ]
    );
    assert_eq!(mirrors(&w), vec![(0, 100), (60, 0)]);
    assert_eq!((w.verdict(), w.decided_at()), (Verdict::Promoted, s(60)));
}

#[test]
fn a_failure_while_mirroring_stops_the_copies_and_never_shifts_traffic() {
    let mut w = World::new(&mirror(THEN)).candidate_fails_from(s(0));
    w.run_until(s(1000));
    let v = w.verdict();
    assert_eq!(rolled_back(&v).2, s(60));
    assert_eq!(w.decided_at(), s(120), "threshold 1, one tick later");
    assert_eq!(mirrors(&w), vec![(0, 50), (120, 0)]);
    assert_eq!(w.weight_changes(), vec![]);
}

#[test]
fn the_canary_after_mirroring_is_validated_in_place() {
    let bad = mirror(r#"{ "percent": 0, "then": { "steps": [ { "set_weight": 200 } ] } }"#);
    let paths: Vec<String> = crate::rollout::testkit::spec(&bad)
        .build()
        .expect_err("invalid")
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(
        paths,
        vec![
            "strategy.mirror.percent",
            "strategy.mirror.then.steps[0].set_weight"
        ]
    );
}
