//! A scenario's expectations, judged against the numbers of its run.
//!
//! Everything is read from the [`Report`] (so a verdict's observed value is one report.json
//! shows elsewhere too), except a route's latencies across several callers, which need the
//! recorder's histograms: percentiles of different callers cannot be combined from their
//! summaries.
//!
//! A subject without traffic fails its SLOs, with no observed value: an expectation that a
//! route answers fast is not met by a route nobody called, and a gate that passes on no data
//! would hide a scenario that stopped exercising what it claims to.

use serde::Serialize;

use super::{Percentiles, Report};
use crate::metrics::{OutcomeClass, Recorder, SeriesKey};
use crate::scenario::{Check, Expectation, Metric, NO_REQUEST_LOST, Percentile, Subject};

/// One expectation's verdict, as report.json lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// The expectation's name (one JUnit test case each).
    pub name: String,
    /// What had to hold, in a sentence.
    pub description: String,
    /// The bound (`>= 99.5%`, `<= 250ms`, `<= 1.5`), or `holds` / `violated` for an
    /// invariant.
    pub threshold: String,
    /// What the run showed: a number in `unit`, `held` / `violated` for an invariant, or null
    /// when the subject had no traffic.
    pub observed: Observed,
    /// `%`, `ms` or `attempts/request` for a number; null otherwise.
    pub unit: Option<&'static str>,
    /// Whether the expectation was met.
    pub held: bool,
    /// The counts behind the observed value, for people.
    pub detail: String,
    /// Simulated seconds of the run the verdict judged: the whole run for an SLO or an
    /// invariant, up to the decision for a rollout (JUnit's test case `time`).
    #[serde(skip)]
    pub judged_seconds: f64,
}

/// An observed value.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Observed {
    /// A measured quantity, in the verdict's unit.
    Number(f64),
    /// An invariant's state.
    Text(String),
    /// Nothing to measure (no requests).
    Nothing,
}

impl Verdict {
    /// The observed value for people: `99.81%`, `12.5ms`, `held`, `no data`.
    pub fn observed_text(&self) -> String {
        match &self.observed {
            Observed::Number(v) => match self.unit {
                Some("%") => format!("{}%", crate::scenario::decimal(*v, 3)),
                Some("ms") => format!("{}ms", crate::scenario::decimal(*v, 3)),
                _ => crate::scenario::decimal(*v, 3),
            },
            Observed::Text(t) => t.clone(),
            Observed::Nothing => "no data".to_string(),
        }
    }
}

/// Requests, successes and latencies of one subject.
struct Stats {
    requests: u64,
    succeeded: u64,
    latency_ms: Percentiles,
}

/// Judges each expectation, in order.
pub fn evaluate(expect: &[Expectation], report: &Report, recorder: &Recorder) -> Vec<Verdict> {
    expect
        .iter()
        .map(|e| {
            let mut v = judge(&e.check, report, recorder);
            v.name = e.name.clone();
            v
        })
        .collect()
}

fn judge(check: &Check, report: &Report, recorder: &Recorder) -> Verdict {
    let verdict = |observed, unit, held, detail| Verdict {
        name: String::new(),
        description: check.describe(),
        threshold: check.threshold_text(),
        observed,
        unit,
        held,
        detail,
        judged_seconds: report.simulated_seconds,
    };
    match check {
        Check::Rollout { outcome } => {
            let Some(r) = &report.rollout else {
                let detail = "this scenario has no `rollout:` section".to_string();
                return verdict(Observed::Nothing, None, false, detail);
            };
            let got = serde_json::to_value(r.outcome)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let when = r.decided_at_s.map_or_else(
                || "undecided".to_string(),
                |t| format!("decided at {t:.0}s"),
            );
            let why = match (&r.check, r.value, &r.threshold, &r.reason) {
                (Some(c), Some(v), Some(t), _) => format!(": {c} was {v:.3} against {t}"),
                (Some(c), None, Some(t), _) => format!(": {c} had no data against {t}"),
                (_, _, _, Some(reason)) => format!(": {reason}"),
                _ => String::new(),
            };
            let detail = format!("{got}, {when}{why}");
            let held = got == outcome.as_str();
            let mut v = verdict(Observed::Text(got), None, held, detail);
            if let Some(t) = r.decided_at_s {
                v.judged_seconds = t.min(report.simulated_seconds);
            }
            v
        }
        Check::Invariant { name, holds } => {
            let (held, detail) = invariant(name, report);
            let state = if held { "held" } else { "violated" };
            verdict(Observed::Text(state.into()), None, held == *holds, detail)
        }
        Check::Slo {
            subject,
            metric: Metric::RetryAmplification,
            threshold,
        } => {
            let node = match subject {
                Subject::Service(n) => n.as_str(),
                Subject::Route { route, from } => {
                    let (observed, held, detail) =
                        route_amplification(route, from.as_deref(), recorder, threshold);
                    let unit = Some(Metric::RetryAmplification.unit());
                    return verdict(observed, unit, held, detail);
                }
                // The loader refuses amplification for the users.
                Subject::Users => "",
            };
            let count = |c: &str| {
                report
                    .counters
                    .get(node)
                    .and_then(|m| m.get(c))
                    .copied()
                    .unwrap_or(0)
            };
            let prefix = format!("{node} -> ");
            let requests: u64 = report
                .routes
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(_, r)| r.requests)
                .sum();
            let (attempts, retries) = (count("attempts"), count("retries"));
            if requests == 0 {
                let detail = format!("{node}'s sidecar sent no requests upstream in this run");
                return verdict(Observed::Nothing, None, false, detail);
            }
            let ratio = attempts as f64 / requests as f64;
            let detail =
                format!("{attempts} attempts for {requests} requests, {retries} of them retries");
            let unit = Some(Metric::RetryAmplification.unit());
            verdict(
                Observed::Number(ratio),
                unit,
                threshold.admits(ratio),
                detail,
            )
        }
        Check::Slo {
            subject,
            metric,
            threshold,
        } => {
            let stats = stats(subject, report, recorder);
            if stats.requests == 0 {
                let detail = format!("no requests for {subject} in this run; nothing to judge");
                return verdict(Observed::Nothing, None, false, detail);
            }
            let (value, detail) = match metric {
                Metric::SuccessRate => (
                    stats.succeeded as f64 * 100.0 / stats.requests as f64,
                    format!(
                        "{} of {} requests succeeded",
                        stats.succeeded, stats.requests
                    ),
                ),
                Metric::Latency(p) => (
                    percentile(&stats.latency_ms, *p),
                    format!("over {} requests", stats.requests),
                ),
                Metric::RetryAmplification => (0.0, String::new()),
            };
            verdict(
                Observed::Number(value),
                Some(metric.unit()),
                threshold.admits(value),
                detail,
            )
        }
    }
}

fn percentile(l: &Percentiles, p: Percentile) -> f64 {
    match p {
        Percentile::P50 => l.p50,
        Percentile::P90 => l.p90,
        Percentile::P99 => l.p99,
        Percentile::P999 => l.p999,
        Percentile::Max => l.max,
    }
}

/// Retry amplification on a route: the attempts its callers' sidecars sent over the
/// requests they sent on it (one caller's with `from`).
fn route_amplification(
    route: &str,
    from: Option<&str>,
    recorder: &Recorder,
    threshold: &crate::scenario::Threshold,
) -> (Observed, bool, String) {
    let on_route = |node: &str, series: &str| {
        node != "client"
            && series.split_once('/').is_some_and(|(_, r)| r == route)
            && from.is_none_or(|f| node == f)
    };
    let requests = recorder
        .merged(|k| k.route != "inbound" && on_route(&k.node, &k.route))
        .count();
    let attempts = recorder.attempts_where(on_route);
    let callers = from.map_or_else(|| "its callers".to_string(), |f| format!("{f}'s sidecar"));
    if requests == 0 {
        let detail = format!("{callers} sent no requests on route {route} in this run");
        return (Observed::Nothing, false, detail);
    }
    let ratio = attempts as f64 / requests as f64;
    let detail = format!(
        "{attempts} attempts for {requests} requests on route {route} ({callers}), {} of them retries",
        attempts.saturating_sub(requests)
    );
    (Observed::Number(ratio), threshold.admits(ratio), detail)
}

fn stats(subject: &Subject, report: &Report, recorder: &Recorder) -> Stats {
    match subject {
        Subject::Users => Stats {
            requests: report.requests.issued,
            succeeded: report.requests.succeeded,
            latency_ms: report.requests.latency_ms,
        },
        Subject::Service(name) => match report.services.get(name) {
            Some(s) => Stats {
                requests: s.requests,
                succeeded: s.succeeded,
                latency_ms: s.latency_ms,
            },
            None => Stats {
                requests: 0,
                succeeded: 0,
                latency_ms: Percentiles::default(),
            },
        },
        Subject::Route { route, from } => {
            // The series report.json's `routes` are made of: a caller's outbound requests,
            // keyed `<virtual service>/<route>`.
            let on_route = |k: &SeriesKey| {
                k.node != "client"
                    && k.route != "inbound"
                    && k.route.split_once('/').is_some_and(|(_, r)| r == route)
                    && from.as_ref().is_none_or(|f| &k.node == f)
            };
            let all = recorder.merged(on_route);
            let ok = recorder.merged(|k| on_route(k) && k.outcome == OutcomeClass::Success);
            Stats {
                requests: all.count(),
                succeeded: ok.count(),
                latency_ms: all.summary().into(),
            }
        }
    }
}

/// Whether an invariant held, and why.
fn invariant(name: &str, report: &Report) -> (bool, String) {
    if name == NO_REQUEST_LOST {
        let r = &report.requests;
        let ended = r.succeeded + r.failed;
        let detail = if ended == r.issued {
            format!(
                "{} issued = {} succeeded + {} failed",
                r.issued, r.succeeded, r.failed
            )
        } else {
            format!(
                "{} issued but {} ended ({} succeeded, {} failed): {} unaccounted for",
                r.issued,
                ended,
                r.succeeded,
                r.failed,
                r.issued.abs_diff(ended)
            )
        };
        return (ended == r.issued, detail);
    }
    match report.invariants.iter().find(|i| i.name == name) {
        Some(i) => (i.held, i.detail.clone()),
        None => (false, format!("the run did not check `{name}`")),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::engine::SimTime;
    use crate::model::ordering::Invariant;
    use crate::report::{Requests, SCHEMA_VERSION, ServiceReport};
    use crate::scenario::{Comparison, Threshold};

    fn threshold(comparison: Comparison, value: f64) -> Threshold {
        Threshold {
            comparison,
            value,
            text: format!("{} {value}", comparison.symbol()),
        }
    }

    pub(crate) fn slo(
        subject: Subject,
        metric: Metric,
        comparison: Comparison,
        value: f64,
    ) -> Expectation {
        let check = Check::Slo {
            subject,
            metric,
            threshold: threshold(comparison, value),
        };
        Expectation {
            name: check.label(),
            check,
        }
    }

    fn service(requests: u64, succeeded: u64, p99: f64) -> ServiceReport {
        ServiceReport {
            requests,
            succeeded,
            failed: requests - succeeded,
            latency_ms: Percentiles {
                p99,
                ..Percentiles::default()
            },
            attempts: None,
        }
    }

    /// A report with 200 users' requests (199 ok), an inventory that answered 100 (p99 14 ms),
    /// and an order sidecar that sent 50 requests in 80 attempts.
    pub(crate) fn report() -> Report {
        let counters = BTreeMap::from([(
            "order-v1".to_string(),
            BTreeMap::from([("attempts".to_string(), 80), ("retries".to_string(), 30)]),
        )]);
        Report {
            schema_version: SCHEMA_VERSION,
            scenario: "t".into(),
            seed: 1,
            mode: "wire",
            command: None,
            config_sha256: None,
            duration_seconds: 10.0,
            simulated_seconds: 10.5,
            requests: Requests {
                issued: 200,
                succeeded: 199,
                failed: 1,
                failed_by_reason: BTreeMap::from([("http_500".to_string(), 1)]),
                latency_ms: Percentiles {
                    p50: 10.0,
                    p99: 40.0,
                    ..Percentiles::default()
                },
            },
            services: BTreeMap::from([("inventory-v1".to_string(), service(100, 100, 14.0))]),
            routes: BTreeMap::from([
                (
                    "order-v1 -> inventory.local/inventory".to_string(),
                    service(45, 45, 20.0),
                ),
                (
                    "order-v1 -> inventory.local/-".to_string(),
                    service(5, 0, 1.0),
                ),
            ]),
            counters,
            invariants: vec![Invariant {
                name: "reservation-once-per-order".into(),
                held: false,
                detail: "3 of 40 orders reserved more than once".into(),
            }],
            expectations: Vec::new(),
            intervals: Vec::new(),
            faults: Vec::new(),
            fault_events: Vec::new(),
            rollout: None,
        }
    }

    pub(crate) fn recorder() -> Recorder {
        let mut r = Recorder::new(Duration::from_secs(10));
        let key = |node: &str, route: &str, outcome| SeriesKey {
            node: node.into(),
            version: "v1".into(),
            route: route.into(),
            outcome,
        };
        let at = SimTime::from_duration(Duration::from_secs(1));
        for i in 0..10 {
            let ms = Duration::from_millis(10 + i);
            r.record(
                at,
                key("ui-v1", "inventory.local/inventory", OutcomeClass::Success),
                ms,
            );
            r.record(
                at,
                key(
                    "order-v1",
                    "inventory.local/inventory",
                    OutcomeClass::Success,
                ),
                ms * 10,
            );
        }
        r.record(
            at,
            key(
                "ui-v1",
                "inventory.local/inventory",
                OutcomeClass::ServerError,
            ),
            Duration::from_millis(5),
        );
        r.record(
            at,
            key("ui-v1", "inventory.local/other", OutcomeClass::Success),
            Duration::from_secs(9),
        );
        r.record(
            at,
            key("client", "inventory.local/inventory", OutcomeClass::Success),
            Duration::from_secs(9),
        );
        r.record(
            at,
            key("inventory-v1", "inbound", OutcomeClass::Success),
            Duration::from_secs(9),
        );
        // ui-v1's 11 requests on the route took 15 attempts; order-v1's 10 took 10; the
        // load generator's and the other route's attempts are not the route's callers'.
        r.count_attempts("ui-v1", "inventory.local/inventory", 15);
        r.count_attempts("order-v1", "inventory.local/inventory", 10);
        r.count_attempts("ui-v1", "inventory.local/other", 7);
        r.count_attempts("client", "inventory.local/inventory", 9);
        r
    }

    fn judge_one(e: Expectation) -> Verdict {
        evaluate(&[e], &report(), &recorder()).remove(0)
    }

    #[test]
    fn success_rates_and_latencies_come_from_the_report() {
        let v = judge_one(slo(
            Subject::Users,
            Metric::SuccessRate,
            Comparison::AtLeast,
            99.5,
        ));
        assert_eq!(v.observed, Observed::Number(99.5));
        assert!(v.held, "{v:?}");
        assert_eq!(v.detail, "199 of 200 requests succeeded");
        assert_eq!(v.unit, Some("%"));
        let v = judge_one(slo(
            Subject::Users,
            Metric::SuccessRate,
            Comparison::Above,
            99.5,
        ));
        assert!(!v.held, "99.5 is not above 99.5");
        let inventory = Subject::Service("inventory-v1".into());
        let v = judge_one(slo(
            inventory.clone(),
            Metric::Latency(Percentile::P99),
            Comparison::AtMost,
            10.0,
        ));
        assert_eq!(
            (v.observed.clone(), v.held),
            (Observed::Number(14.0), false)
        );
        assert_eq!(v.observed_text(), "14ms");
        let v = judge_one(slo(
            inventory,
            Metric::Latency(Percentile::P99),
            Comparison::AtMost,
            14.0,
        ));
        assert!(v.held);
        assert_eq!(v.name, "inventory-v1 p99 <= 14");
    }

    #[test]
    fn no_traffic_is_no_verdict_but_a_failure() {
        let v = judge_one(slo(
            Subject::Service("ui-v1".into()),
            Metric::SuccessRate,
            Comparison::AtLeast,
            0.0,
        ));
        assert_eq!(
            (v.observed.clone(), v.held, v.unit),
            (Observed::Nothing, false, None)
        );
        assert_eq!(v.observed_text(), "no data");
        let v = judge_one(slo(
            Subject::Service("inventory-v1".into()),
            Metric::RetryAmplification,
            Comparison::AtMost,
            100.0,
        ));
        assert_eq!((v.observed, v.held), (Observed::Nothing, false));
    }

    #[test]
    fn amplification_is_attempts_over_the_requests_a_sidecar_sent() {
        let v = judge_one(slo(
            Subject::Service("order-v1".into()),
            Metric::RetryAmplification,
            Comparison::AtMost,
            1.5,
        ));
        assert_eq!(v.observed, Observed::Number(1.6));
        assert!(!v.held);
        assert_eq!(v.detail, "80 attempts for 50 requests, 30 of them retries");
        let v = judge_one(slo(
            Subject::Service("order-v1".into()),
            Metric::RetryAmplification,
            Comparison::AtLeast,
            1.5,
        ));
        assert!(v.held);
    }

    #[test]
    fn route_amplification_is_the_callers_attempts_over_their_requests_on_it() {
        let route = |from: Option<&str>| Subject::Route {
            route: "inventory".into(),
            from: from.map(String::from),
        };
        let both = judge_one(slo(
            route(None),
            Metric::RetryAmplification,
            Comparison::AtMost,
            1.2,
        ));
        assert_eq!(both.observed, Observed::Number(25.0 / 21.0));
        assert!(both.held);
        assert_eq!(
            both.detail,
            "25 attempts for 21 requests on route inventory (its callers), 4 of them retries"
        );
        let ui = judge_one(slo(
            route(Some("ui-v1")),
            Metric::RetryAmplification,
            Comparison::AtMost,
            1.2,
        ));
        assert_eq!(ui.observed, Observed::Number(15.0 / 11.0));
        assert!(!ui.held, "ui-v1 alone retried more");
        let none = judge_one(slo(
            route(Some("nobody")),
            Metric::RetryAmplification,
            Comparison::AtMost,
            1.2,
        ));
        assert_eq!(none.observed, Observed::Nothing);
        assert!(!none.held);
    }

    #[test]
    fn routes_combine_callers_unless_narrowed() {
        let route = |from: Option<&str>| Subject::Route {
            route: "inventory".into(),
            from: from.map(String::from),
        };
        // ui-v1: 10 ok + 1 failed, order-v1: 10 ok; `other` and the load generator's own
        // sidecar are not this route's callers.
        let v = judge_one(slo(
            route(None),
            Metric::SuccessRate,
            Comparison::AtLeast,
            0.0,
        ));
        assert_eq!(v.detail, "20 of 21 requests succeeded");
        let v = judge_one(slo(
            route(Some("ui-v1")),
            Metric::Latency(Percentile::Max),
            Comparison::AtMost,
            20.0,
        ));
        assert_eq!(v.detail, "over 11 requests");
        assert_eq!(v.observed, Observed::Number(19.007));
        assert!(v.held);
        let v = judge_one(slo(
            route(Some("order-v1")),
            Metric::Latency(Percentile::P50),
            Comparison::AtMost,
            200.0,
        ));
        assert!(v.held, "{v:?}");
        let v = judge_one(slo(
            route(Some("nobody")),
            Metric::SuccessRate,
            Comparison::AtLeast,
            0.0,
        ));
        assert_eq!(v.observed, Observed::Nothing);
    }

    #[test]
    fn invariants_meet_their_expected_state() {
        let inv = |name: &str, holds| Expectation {
            name: name.into(),
            check: Check::Invariant {
                name: name.into(),
                holds,
            },
        };
        let v = judge_one(inv("reservation-once-per-order", true));
        assert_eq!(
            (v.observed.clone(), v.held),
            (Observed::Text("violated".into()), false)
        );
        assert_eq!(v.detail, "3 of 40 orders reserved more than once");
        assert!(judge_one(inv("reservation-once-per-order", false)).held);
        let v = judge_one(inv(NO_REQUEST_LOST, true));
        assert!(v.held);
        assert_eq!(v.detail, "200 issued = 199 succeeded + 1 failed");
        let mut lost = report();
        lost.requests.issued = 203;
        let v = evaluate(&[inv(NO_REQUEST_LOST, true)], &lost, &recorder()).remove(0);
        assert!(!v.held);
        assert!(v.detail.ends_with("3 unaccounted for"), "{}", v.detail);
        let v = judge_one(inv("stock-conserved", true));
        assert!(!v.held, "an invariant the run did not check does not hold");
    }

    #[test]
    fn verdicts_serialize_with_their_observed_values() {
        let e = [
            slo(
                Subject::Users,
                Metric::SuccessRate,
                Comparison::AtLeast,
                99.0,
            ),
            slo(
                Subject::Service("ui-v1".into()),
                Metric::SuccessRate,
                Comparison::AtLeast,
                99.0,
            ),
        ];
        let json = serde_json::to_value(evaluate(&e, &report(), &recorder())).expect("JSON");
        assert_eq!(json[0]["observed"], 99.5);
        assert_eq!(json[0]["unit"], "%");
        assert_eq!(json[0]["threshold"], ">= 99");
        assert_eq!(json[1]["observed"], serde_json::Value::Null);
        assert_eq!(json[1]["held"], false);
    }
}
