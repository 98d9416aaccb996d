//! Blue/green on simulated time: preview and pre-promotion analysis, the switch, the
//! post-promotion analysis and its rollback, manual and delayed promotion, the rollback
//! window and the scale-down delay.

use crate::rollout::testkit::{World, rolled_back, s};
use crate::rollout::{Action, Step, Verdict};

const NODES: &str =
    r#""router": "inventory", "route": "inventory", "stable": "v1", "candidate": "v2""#;

fn blue_green(strategy: &str, extra: &str) -> String {
    format!(
        r#"{{ {NODES}, {extra} "strategy": {{ "blue_green": {strategy} }},
             "analysis": {{ "interval": "1m", "initial_delay": "1m",
                            "checks": [ {{ "success_rate": ">= 99%" }} ] }} }}"#
    )
}

const ANALYSED: &str =
    r#"{ "pre_promotion_analysis": { "count": 3 }, "post_promotion_analysis": { "count": 2 } }"#;

fn previews(w: &World) -> Vec<(u64, bool)> {
    w.actions
        .iter()
        .filter_map(|(t, a)| match a {
            Action::SetPreview(on) => Some((t.as_nanos() / 1_000_000_000, *on)),
            _ => None,
        })
        .collect()
}

#[test]
fn preview_analysis_switch_and_post_analysis_promote() {
    let mut w = World::new(&blue_green(ANALYSED, ""));
    w.run_until(s(1000));
    assert_eq!(
        w.rollout.plan().steps,
        vec![
            Step::SetPreview(true),
            Step::Analysis { count: 3 },
            Step::SetPreview(false),
            Step::SetWeight(100),
            Step::Analysis { count: 2 },
            Step::Promote,
        ]
    );
    // Pre-promotion measurements at 60, 120, 180 s on preview traffic; the switch at 180 s;
    // post-promotion at 240 and 300 s; the old version goes 30 s after the promotion.
    assert_eq!(previews(&w), vec![(0, true), (180, false)]);
    assert_eq!(w.weight_changes(), vec![(180, 100)]);
    assert_eq!((w.verdict(), w.decided_at()), (Verdict::Promoted, s(300)));
    assert!(
        w.actions
            .contains(&(s(330), Action::ScaleDown("v1".into())))
    );
    let at: Vec<f64> = w.rollout.report().checks.iter().map(|c| c.at_s).collect();
    assert_eq!(at, vec![60.0, 120.0, 180.0, 240.0, 300.0]);
}

#[test]
fn a_pre_promotion_failure_never_touches_live_traffic() {
    let mut w = World::new(&blue_green(ANALYSED, "")).candidate_fails_from(s(0));
    w.run_until(s(1000));
    assert_eq!(rolled_back(&w.verdict()), ("success_rate >= 99%", 1, s(60)));
    assert_eq!(
        w.weight_changes(),
        vec![],
        "the users never saw the candidate"
    );
    assert_eq!(previews(&w), vec![(0, true), (60, false)]);
    assert!(w.actions.contains(&(s(90), Action::ScaleDown("v2".into()))));
}

#[test]
fn a_post_promotion_failure_switches_back() {
    let mut w = World::new(&blue_green(ANALYSED, "")).candidate_fails_from(s(200));
    w.run_until(s(1000));
    assert_eq!(
        rolled_back(&w.verdict()),
        ("success_rate >= 99%", 4, s(240))
    );
    assert_eq!(w.weight_changes(), vec![(180, 100), (240, 0)]);
}

#[test]
fn without_auto_promotion_the_switch_waits_for_a_person() {
    let strategy = r#"{ "pre_promotion_analysis": { "count": 1 }, "auto_promotion": false }"#;
    let mut w = World::new(&blue_green(strategy, ""));
    w.finish_at(s(1800));
    assert!(matches!(w.verdict(), Verdict::Inconclusive { .. }));
    assert_eq!(w.weight_changes(), vec![]);
}

#[test]
fn auto_promotion_delay_counts_from_the_start_alongside_the_analysis() {
    // The analysis ends at 180 s: a 10-minute delay holds the switch to 600 s; a 2-minute one
    // has already passed.
    for (delay, switch) in [("10m", 600), ("2m", 180)] {
        let strategy = format!(
            r#"{{ "pre_promotion_analysis": {{ "count": 3 }}, "auto_promotion_delay": "{delay}" }}"#
        );
        let mut w = World::new(&blue_green(&strategy, ""));
        w.run_until(s(2000));
        assert_eq!(w.weight_changes(), vec![(switch, 100)], "{delay}");
        assert_eq!(w.verdict(), Verdict::Promoted);
    }
}

#[test]
fn the_rollback_window_keeps_watching_then_promotes() {
    let strategy = r#"{ "post_promotion_analysis": { "count": 1 }, "rollback_window": "5m" }"#;
    let json = format!(
        r#"{{ {NODES}, "scale_down_delay": "2m", "strategy": {{ "blue_green": {strategy} }},
             "analysis": {{ "interval": "1m", "initial_delay": "1m", "background": true,
                            "checks": [ {{ "success_rate": ">= 99%" }} ] }} }}"#
    );
    // Healthy: switch at 0, post-promotion at 60 s, window to 360 s, old version gone at 480 s.
    let mut w = World::new(&json);
    w.run_until(s(2000));
    assert_eq!((w.verdict(), w.decided_at()), (Verdict::Promoted, s(360)));
    assert!(
        w.actions
            .contains(&(s(480), Action::ScaleDown("v1".into())))
    );
    // Failing from 200 s: the background run catches it inside the window and switches back.
    let mut w = World::new(&json).candidate_fails_from(s(200));
    w.run_until(s(2000));
    let v = w.verdict();
    let (_, step, detected) = rolled_back(&v);
    assert_eq!(
        w.rollout.plan().steps[step],
        Step::Pause(Some(std::time::Duration::from_secs(300)))
    );
    assert_eq!(detected, s(240));
    assert_eq!(w.rollout.desired().weights.candidate, 0);
}

#[test]
fn auto_promotion_off_takes_no_delay() {
    let strategy = r#"{ "auto_promotion": false, "auto_promotion_delay": "1m" }"#;
    let e = crate::rollout::testkit::spec(&blue_green(strategy, ""))
        .build()
        .expect_err("conflict");
    assert_eq!(e[0].path, "strategy.blue_green.auto_promotion_delay");
}
