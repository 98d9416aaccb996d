//! Canary state machines on simulated time: Argo-style steps with background and inline
//! analysis, Flagger-style schedules, limits, pipelines and the judge.

use proptest::prelude::*;

use crate::rollout::testkit::{HEALTHY, Health, World, rolled_back, s, spec};
use crate::rollout::{Action, Arm, Outcome, Problem, Verdict};

const NODES: &str =
    r#""router": "inventory", "route": "inventory", "stable": "v1", "candidate": "v2""#;

fn argo(steps: &str, analysis: &str) -> String {
    format!(
        r#"{{ {NODES}, "strategy": {{ "canary": {{ "steps": {steps} }} }}, "analysis": {analysis} }}"#
    )
}

const STEPS: &str = r#"[ {"set_weight": 10}, {"pause": {"duration": "3m"}},
                         {"set_weight": 50}, {"pause": {"duration": "3m"}} ]"#;
const SUCCESS: &str = r#"{ "interval": "1m", "checks": [ { "success_rate": ">= 99%" } ] }"#;

#[test]
fn steps_promote_on_schedule_and_scale_down_the_old_version() {
    let mut w = World::new(&argo(STEPS, SUCCESS));
    w.run_until(s(1000));
    assert_eq!(w.verdict(), Verdict::Promoted);
    assert_eq!(w.weight_changes(), vec![(0, 10), (180, 50), (360, 100)]);
    assert_eq!(w.decided_at(), s(360));
    assert!(
        w.actions
            .contains(&(s(390), Action::ScaleDown("v1".into())))
    );
    assert_eq!(w.verdicts(), 1);
    let r = w.rollout.report();
    assert_eq!(
        (r.outcome, r.decided_at_s),
        (Outcome::Promoted, Some(360.0))
    );
    assert_eq!(r.steps.len(), 5, "four steps and the promotion");
    // The background run measured every minute; the first one, at the start, had no data.
    let first = &r.checks[0];
    assert_eq!(
        (first.at_s, first.status),
        (0.0, crate::rollout::Status::Error)
    );
    assert!(
        r.checks[1..]
            .iter()
            .all(|c| c.status == crate::rollout::Status::Pass)
    );
}

/// Healthy run's timed steps: (index, start, end) in seconds.
fn timed_steps(json: &str) -> Vec<(usize, u64, u64)> {
    let mut w = World::new(json);
    w.run_until(s(3000));
    assert_eq!(w.verdict(), Verdict::Promoted);
    w.rollout
        .report()
        .steps
        .iter()
        .filter_map(|r| {
            let end = r.ended_at_s? as u64;
            (end > r.started_at_s as u64).then_some((r.index, r.started_at_s as u64, end))
        })
        .collect()
}

#[test]
fn a_failure_during_any_step_rolls_back_at_that_step() {
    // For every step that takes time, a candidate failing from one second into it is rolled
    // back during it, and all traffic returns to the stable version.
    let inline = argo(
        r#"[ {"set_weight": 10}, {"pause": {"duration": "2m"}}, {"analysis": {"count": 2}},
             {"set_weight": 30}, {"pause": {"duration": "3m"}} ]"#,
        r#"{ "interval": "1m", "background": true, "checks": [ { "success_rate": ">= 99%" } ] }"#,
    );
    let flagger = format!(
        r#"{{ {NODES}, "strategy": {{ "canary": {{ "step_weight": 20, "max_weight": 60,
              "interval": "1m", "threshold": 1 }} }}, "analysis": {SUCCESS} }}"#
    );
    for json in [argo(STEPS, SUCCESS), inline, flagger] {
        let steps = timed_steps(&json);
        assert!(steps.len() >= 2, "{steps:?}");
        for (index, start, end) in steps {
            let mut w = World::new(&json).candidate_fails_from(s(start + 1));
            w.run_until(s(3000));
            let v = w.verdict();
            let (_, step, detected) = rolled_back(&v);
            assert_eq!(step, index, "{json}: failing from {start}s");
            assert!(
                detected > s(start) && detected <= s(end + 60),
                "{detected} in {start}..{end}"
            );
            assert_eq!(w.rollout.desired().weights.candidate, 0);
            assert_eq!(w.verdicts(), 1);
            let at = w.decided_at() + std::time::Duration::from_secs(30);
            assert!(w.actions.contains(&(at, Action::ScaleDown("v2".into()))));
        }
    }
}

#[test]
fn an_indefinite_pause_waits_for_a_person_who_never_comes() {
    let steps = r#"[ {"set_weight": 20}, {"pause": {}}, {"set_weight": 60} ]"#;
    let mut w = World::new(&argo(steps, SUCCESS));
    w.finish_at(s(3600));
    match w.verdict() {
        Verdict::Inconclusive { reason } => assert!(reason.contains("until promoted"), "{reason}"),
        v => panic!("{v:?}"),
    }
    assert_eq!(w.weight_changes(), vec![(0, 20)]);
    assert_eq!(w.decided_at(), s(3600));
    assert!(
        !w.actions
            .iter()
            .any(|(_, a)| matches!(a, Action::ScaleDown(_)))
    );
}

#[test]
fn a_timed_pause_lasts_its_duration() {
    let steps =
        r#"[ {"set_weight": 5}, {"pause": {"duration": "90s"}}, {"pause": {"duration": "0s"}} ]"#;
    let mut w = World::new(&argo(steps, r#"{}"#));
    w.run_until(s(1000));
    assert_eq!(w.weight_changes(), vec![(0, 5), (90, 100)]);
}

fn limits(extra: &str) -> String {
    argo(
        r#"[ {"set_weight": 10}, {"pause": {"duration": "30m"}} ]"#,
        &format!(r#"{{ "interval": "1m", {extra} "checks": [ {{ "success_rate": ">= 99%" }} ] }}"#),
    )
}

#[test]
fn failure_limit_counts_failed_measurements() {
    // Failing from the start: measurements at 60, 120, 180 fail; the third exceeds 2.
    let mut w = World::new(&limits(r#""failure_limit": 2,"#)).candidate_fails_from(s(0));
    w.run_until(s(3000));
    let v = w.verdict();
    assert_eq!(rolled_back(&v).2, s(180));
    match v {
        Verdict::RolledBack { cause, value, .. } => {
            assert!(cause.contains("failure_limit (2)"), "{cause}");
            assert_eq!(value, Some(95.0));
        }
        _ => unreachable!(),
    }
    // -1 turns the limit off: the canary is promoted however it fails.
    let mut w = World::new(&limits(r#""failure_limit": -1,"#)).candidate_fails_from(s(0));
    w.run_until(s(3000));
    assert_eq!(w.verdict(), Verdict::Promoted);
}

#[test]
fn inconclusive_limit_pauses_the_rollout() {
    // 10 rps × 60 s = 600 requests, fewer than 1000: inconclusive from the 60 s measurement;
    // the third exceeds the limit of 2, and Argo pauses: the weights stay as they were.
    let mut w = World::new(&limits(r#""min_requests": 1000, "inconclusive_limit": 2,"#));
    w.run_until(s(3000));
    match w.verdict() {
        Verdict::Inconclusive { reason } => assert!(reason.contains("inconclusive_limit (2)")),
        v => panic!("{v:?}"),
    }
    assert_eq!(w.decided_at(), s(180));
    assert_eq!(w.rollout.desired().weights.candidate, 10);
}

#[test]
fn consecutive_errors_abort_when_there_is_no_data() {
    // The candidate never gets traffic (weight 0): every measurement is an error, and the
    // fifth in a row exceeds Argo's default limit of 4.
    let json = argo(
        r#"[ {"set_weight": 0}, {"pause": {"duration": "30m"}} ]"#,
        SUCCESS,
    );
    let mut w = World::new(&json);
    w.run_until(s(3000));
    let v = w.verdict();
    assert_eq!(rolled_back(&v).2, s(240));
    match v {
        Verdict::RolledBack { cause, value, .. } => {
            assert!(cause.contains("consecutive_error_limit (4)"), "{cause}");
            assert_eq!(value, None);
        }
        _ => unreachable!(),
    }
}

fn flagger(step: &str, threshold: u32) -> String {
    format!(
        r#"{{ {NODES}, "strategy": {{ "canary": {{ {step}, "interval": "1m", "threshold": {threshold} }} }},
             "analysis": {SUCCESS} }}"#
    )
}

#[test]
fn flagger_steps_every_interval_and_promotes_at_max_weight() {
    // interval × max_weight / step_weight = 5 minutes.
    let mut w = World::new(&flagger(r#""step_weight": 10, "max_weight": 50"#, 2));
    w.run_until(s(1000));
    assert_eq!(
        w.weight_changes(),
        vec![
            (0, 10),
            (60, 20),
            (120, 30),
            (180, 40),
            (240, 50),
            (300, 100)
        ]
    );
    assert_eq!((w.verdict(), w.decided_at()), (Verdict::Promoted, s(300)));
    // The first tick only routes traffic: gates measure from the second on.
    let gates: Vec<f64> = w.rollout.report().checks.iter().map(|c| c.at_s).collect();
    assert_eq!(gates, vec![60.0, 120.0, 180.0, 240.0, 300.0]);
}

#[test]
fn flagger_overshoots_max_weight_and_takes_listed_weights() {
    let mut w = World::new(&flagger(r#""step_weight": 30, "max_weight": 50"#, 1));
    w.run_until(s(1000));
    assert_eq!(w.weight_changes(), vec![(0, 30), (60, 60), (120, 100)]);
    let mut w = World::new(&flagger(r#""step_weights": [5, 20, 50]"#, 1));
    w.run_until(s(1000));
    assert_eq!(
        w.weight_changes(),
        vec![(0, 5), (60, 20), (120, 50), (180, 100)]
    );
}

#[test]
fn flagger_rolls_back_a_tick_after_the_threshold_and_never_forgets_a_failure() {
    // Failing from 90 s: the 120 s and 180 s ticks fail (weight held at 20); the 240 s tick
    // finds 2 ≥ threshold and rolls back, reporting the 180 s failure.
    let mut w = World::new(&flagger(r#""step_weight": 10, "max_weight": 50"#, 2))
        .candidate_fails_from(s(90));
    w.run_until(s(1000));
    let v = w.verdict();
    assert_eq!(rolled_back(&v).2, s(180));
    assert_eq!(w.decided_at(), s(240));
    assert_eq!(w.weight_changes(), vec![(0, 10), (60, 20), (240, 0)]);
    // Failures in two separate minutes, with passes between: still two failed checks.
    let mut w =
        World::new(&flagger(r#""step_weight": 10, "max_weight": 50"#, 2)).health(|arm, t| {
            let bad = (s(61)..s(120)).contains(&t) || (s(181)..s(240)).contains(&t);
            if arm == Arm::Candidate && bad {
                crate::rollout::testkit::FAILING
            } else {
                HEALTHY
            }
        });
    w.run_until(s(1000));
    let v = w.verdict();
    assert_eq!(rolled_back(&v).2, s(240));
    assert_eq!(w.decided_at(), s(300));
}

#[test]
fn lag_delays_detection() {
    // The same failure from 30 s: seen at 60 s directly and through Prometheus (15 s scrapes),
    // at 120 s through CloudWatch (60 s periods, visible a period later).
    for (pipeline, detected) in [
        ("null", 60),
        (r#""prometheus""#, 60),
        (r#""cloudwatch""#, 120),
    ] {
        let analysis = format!(
            r#"{{ "interval": "1m", "pipeline": {pipeline}, "checks": [ {{ "success_rate": ">= 99%" }} ] }}"#
        );
        let mut w = World::new(&argo(STEPS, &analysis)).candidate_fails_from(s(30));
        w.run_until(s(3000));
        let v = w.verdict();
        assert_eq!(rolled_back(&v).2, s(detected), "{pipeline}");
    }
    let custom = r#"{ "interval": "1m", "pipeline": { "scrape_interval": "30s", "lag": "45s" },
                      "checks": [ { "success_rate": ">= 99%" } ] }"#;
    let mut w = World::new(&argo(STEPS, custom)).candidate_fails_from(s(30));
    w.run_until(s(3000));
    // At 120 s the horizon is ⌊75/30⌋·30 = 60 s: [0, 60) holds the failure.
    assert_eq!(rolled_back(&w.verdict()).2, s(120));
}

#[test]
fn the_judge_compares_the_candidate_with_a_fresh_baseline() {
    let json = format!(
        r#"{{ {NODES}, "baseline": "v1-baseline",
             "strategy": {{ "canary": {{ "steps": {STEPS} }} }},
             "analysis": {{ "interval": "1m", "initial_delay": "1m",
                            "judge": {{ "kind": "mann_whitney", "metrics": ["latency"] }} }} }}"#
    );
    let mut w = World::new(&json);
    w.run_until(s(1000));
    assert_eq!(w.verdict(), Verdict::Promoted);
    // The baseline gets the candidate's share while it can, then is scaled down too.
    assert!(w.actions.contains(&(
        s(180),
        Action::SetWeights(crate::rollout::Weights {
            stable: 0,
            candidate: 50,
            baseline: 50
        })
    )));
    assert!(
        w.actions
            .contains(&(s(390), Action::ScaleDown("v1-baseline".into())))
    );
    let scores: Vec<Option<f64>> = w.rollout.report().checks.iter().map(|c| c.value).collect();
    assert!(scores.iter().all(|v| *v == Some(100.0)), "{scores:?}");
    // A candidate twice as slow from 100 s fails the 120 s judgement.
    let mut w = World::new(&json).health(|arm, t| Health {
        latency_ms: if arm == Arm::Candidate && t >= s(100) {
            40.0
        } else {
            20.0
        },
        ..HEALTHY
    });
    w.run_until(s(1000));
    let v = w.verdict();
    assert_eq!(rolled_back(&v), ("judge", 1, s(120)));
    let last = w.rollout.report().checks.last().expect("judged").clone();
    assert_eq!(last.value, Some(0.0));
    assert!(last.judgement.is_some());
}

#[test]
fn spec_errors_name_their_fields() {
    let paths = |json: &str| -> Vec<(String, Problem)> {
        spec(json)
            .build()
            .expect_err("invalid")
            .into_iter()
            .map(|e| (e.path, e.problem))
            .collect()
    };
    let p = paths(&argo(
        r#"[ {"set_weight": 120}, {"analysis": {"count": 0}} ]"#,
        r#"{ "checks": [ { "success_rate": ">= 99", "p99": "<= 1s" }, { "p99": "250" },
                         { "arm": "baseline", "errors": 3 } ] }"#,
    ));
    let at: Vec<&str> = p.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        at,
        vec![
            "strategy.canary.steps[0].set_weight",
            "strategy.canary.steps[1].analysis.count",
            "analysis.checks[0].p99",
            "analysis.checks[1].p99",
            "analysis.checks[2].arm",
        ]
    );
    let p = paths(&format!(
        r#"{{ {NODES}, "strategy": {{ "canary": {{ "steps": [], "step_weight": 10 }} }} }}"#
    ));
    assert_eq!(p[0].0, "strategy.canary.step_weight");
    let p = paths(&format!(
        r#"{{ {NODES}, "strategy": {{ "canary": {{ "step_weight": 0, "threshold": 0 }} }} }}"#
    ));
    let at: Vec<&str> = p.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        at,
        vec!["strategy.canary.step_weight", "strategy.canary.threshold"]
    );
    let p = paths(&argo(r#"[ {"analysis": {}} ]"#, "{}"));
    assert_eq!(p[0].0, "strategy.canary.steps[0]");
    let p = paths(
        r#"{ "router": "", "route": "r", "stable": "a", "candidate": "a",
                      "strategy": { "canary": { "steps": [ {"set_weight": 5} ] } } }"#,
    );
    let at: Vec<&str> = p.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(at, vec!["router", "candidate"]);
    // Errors read with their path, and can be placed under the section's key.
    let e = spec(&argo(r#"[ {"set_weight": 101} ]"#, "{}"))
        .build()
        .expect_err("bad")[0]
        .clone();
    assert_eq!(
        e.under("rollout").to_string(),
        "rollout.strategy.canary.steps[0].set_weight: a weight is a percentage from 0 to 100, got 101"
    );
}

fn flagger_plan(step: u32, max: u32, interval: u64) -> String {
    format!(
        r#"{{ {NODES}, "start": "{interval}s", "strategy": {{ "canary": {{ "step_weight": {step}, "max_weight": {max},
             "interval": "{interval}s" }} }}, "analysis": {SUCCESS} }}"#
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn a_healthy_flagger_canary_promotes_when_expected(
        step in 5u32..=100,
        max in 10u32..=100,
        interval in 30u64..=120,
    ) {
        // Promoted at start + interval × (number of weights), every weight change sums to 100,
        // and exactly one verdict.
        let mut w = World::new(&flagger_plan(step, max, interval));
        w.run_until(s(interval * 40));
        let ticks = u64::from(max.div_ceil(step));
        prop_assert_eq!(w.verdict(), Verdict::Promoted);
        prop_assert_eq!(w.decided_at(), s(interval + interval * ticks));
        prop_assert_eq!(w.verdicts(), 1);
        for (_, a) in &w.actions {
            if let Action::SetWeights(x) = a {
                prop_assert_eq!(x.total(), 100);
            }
        }
    }

    #[test]
    fn any_health_gives_one_verdict_and_weights_that_sum_to_100(
        fail_from in 0u64..900,
        errors in 0.0f64..0.2,
        weights in prop::collection::vec(0u32..=100, 1..5),
        flagger_style in any::<bool>(),
    ) {
        let json = if flagger_style {
            flagger(r#""step_weight": 25, "max_weight": 75"#, 2)
        } else {
            let steps: Vec<String> = weights
                .iter()
                .map(|w| format!(r#"{{"set_weight": {w}}}, {{"pause": {{"duration": "2m"}}}}"#))
                .collect();
            argo(&format!("[{}]", steps.join(",")), SUCCESS)
        };
        let mut w = World::new(&json).health(move |arm, t| {
            if arm == Arm::Candidate && t >= s(fail_from) {
                Health { errors, latency_ms: 20.0 }
            } else {
                HEALTHY
            }
        });
        w.finish_at(s(1800));
        prop_assert_eq!(w.verdicts(), 1);
        prop_assert!(w.rollout.desired().weights.total() == 100);
        for (_, a) in &w.actions {
            if let Action::SetWeights(x) = a {
                prop_assert_eq!(x.total(), 100);
            }
        }
        let v = w.verdict();
        if let Verdict::RolledBack { .. } = v {
            prop_assert_eq!(w.rollout.desired().weights.candidate, 0);
        }
    }
}
