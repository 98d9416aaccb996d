//! `expect:`: what a run must show for `meshsim run` to pass, so a CI pipeline can gate a
//! change (or, later, a rollout) on a scenario.
//!
//! An entry names one subject (the users, a virtual node or gateway, a route, or an
//! invariant) and, for the first three, one or more thresholds:
//!
//! ```yaml
//! expect:
//!   - service: users                 # the users' view (report.json `requests`)
//!     success_rate: ">= 99.5%"       # or 0.995
//!     p99: "<= 250ms"                # p50, p90, p99, p999, max
//!   - service: order-v1              # a virtual node (report.json `services` key)
//!     retry_amplification: "<= 1.5"  # attempts its sidecar sent per request
//!   - route: inventory               # a route of the mesh's virtual routers
//!     from: order-v1                 # optional: one caller's traffic only
//!     p99: "<= 100ms"
//!   - invariant: stock-conserved
//!   - invariant: reservation-once-per-order
//!     holds: false                   # expect it violated (a scenario that shows a bug)
//! ```
//!
//! Each threshold becomes one [`Expectation`]: one line of output, one JUnit test case, one
//! verdict with its observed value. The evaluation itself lives in
//! [`report::expect`](crate::report::expect), above the simulation whose numbers it reads.
//!
//! Thresholds are text with a comparison (`>=`, `<=`, `>`, `<`, or `≥`, `≤`) and a value in
//! the metric's unit; without a comparison a success rate is a floor and the others are
//! ceilings, since that is what an SLO means. Latencies need a unit for the same reason every
//! scenario duration does: a bare `250` could be seconds or milliseconds.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Visitor};

use super::sink::Sink;
use crate::config::diagnostic::Severity;
use crate::config::tree::join_key;
use crate::model::ordering::INVARIANT_NAMES;
pub use crate::model::threshold::{Comparison, Threshold, decimal};
use crate::model::threshold::{Quantity, RawBound};

/// The `service:` name for the users' own view (the load generator's ledger).
pub const USERS: &str = "users";

/// The run's own accounting invariant: every request the users sent ended, as a success or a
/// named failure.
pub const NO_REQUEST_LOST: &str = "no-request-lost";

/// Every invariant an expectation may name: the run's accounting, then the Ordering app's (as
/// report.json's `invariants` names them).
pub fn invariant_names() -> impl Iterator<Item = &'static str> + Clone {
    std::iter::once(NO_REQUEST_LOST).chain(INVARIANT_NAMES)
}

/// One check of a run: a name (what CI shows) and what must hold.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// As written in `name:`, or made from the check (`users p99 <= 250ms`); an entry with
    /// several thresholds and a name gives `<name> (<metric> <threshold>)` for each.
    pub name: String,
    /// What must hold.
    pub check: Check,
}

/// What an expectation checks.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// A measured quantity against a threshold.
    Slo {
        /// Whose requests.
        subject: Subject,
        /// Which quantity.
        metric: Metric,
        /// The bound it must respect.
        threshold: Threshold,
    },
    /// An end-of-run invariant held or, with `holds: false`, was violated.
    Invariant {
        /// One of [`invariant_names`].
        name: String,
        /// `true`: it must hold; `false`: it must be violated (the scenario demonstrates it).
        holds: bool,
    },
    /// The scenario's rollout ended this way.
    Rollout {
        /// The outcome expected.
        outcome: RolloutOutcome,
    },
}

/// Whose requests an SLO measures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The users, as the load generator saw them: every request from its intended send time.
    Users,
    /// A virtual node or the entry gateway: requests at its sidecar's inbound listener, and
    /// for retry amplification, what its sidecar sent upstream.
    Service(String),
    /// A route of the mesh's virtual routers, measured at the calling sidecars.
    Route {
        /// The route's name.
        route: String,
        /// Only this caller's traffic (default: every caller's, combined).
        from: Option<String>,
    },
}

/// A measured quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Share of requests answered 2xx or 3xx, in percent.
    SuccessRate,
    /// A latency percentile, in milliseconds.
    Latency(Percentile),
    /// Upstream attempts per request at a sidecar (1 without retries).
    RetryAmplification,
}

/// A latency percentile, as report.json lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Percentile {
    /// Median.
    P50,
    /// 90th.
    P90,
    /// 99th.
    P99,
    /// 99.9th.
    P999,
    /// Largest.
    Max,
}

impl Percentile {
    /// Every percentile, in the order report.json lists them.
    pub const ALL: [Percentile; 5] = [
        Percentile::P50,
        Percentile::P90,
        Percentile::P99,
        Percentile::P999,
        Percentile::Max,
    ];

    /// The key in `expect:` and in report.json's `latency_ms`.
    pub fn key(self) -> &'static str {
        match self {
            Percentile::P50 => "p50",
            Percentile::P90 => "p90",
            Percentile::P99 => "p99",
            Percentile::P999 => "p999",
            Percentile::Max => "max",
        }
    }
}

impl Metric {
    /// The key in `expect:`.
    pub fn key(self) -> &'static str {
        match self {
            Metric::SuccessRate => "success_rate",
            Metric::Latency(p) => p.key(),
            Metric::RetryAmplification => "retry_amplification",
        }
    }

    /// The unit of its values in report.json.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::SuccessRate => "%",
            Metric::Latency(_) => "ms",
            Metric::RetryAmplification => "attempts/request",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Metric::SuccessRate => "success rate",
            Metric::Latency(Percentile::P50) => "median latency",
            Metric::Latency(Percentile::P90) => "p90 latency",
            Metric::Latency(Percentile::P99) => "p99 latency",
            Metric::Latency(Percentile::P999) => "p99.9 latency",
            Metric::Latency(Percentile::Max) => "largest latency",
            Metric::RetryAmplification => "attempts per request",
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Users => f.write_str(USERS),
            Subject::Service(name) => f.write_str(name),
            Subject::Route { route, from: None } => write!(f, "route {route}"),
            Subject::Route {
                route,
                from: Some(from),
            } => write!(f, "route {route} from {from}"),
        }
    }
}

impl Check {
    /// The check in a few words, as names are made of: `users p99 <= 250ms`,
    /// `invariant stock-conserved holds`.
    pub fn label(&self) -> String {
        match self {
            Check::Slo {
                subject,
                metric,
                threshold,
            } => format!("{subject} {} {}", metric.key(), threshold.text),
            Check::Invariant { name, holds } => {
                format!(
                    "invariant {name} {}",
                    if *holds { "holds" } else { "is violated" }
                )
            }
            Check::Rollout { outcome } => format!("rollout {}", outcome.as_str()),
        }
    }

    /// The threshold as shown: `>= 99.5%`, or for an invariant `holds` / `violated`.
    pub fn threshold_text(&self) -> String {
        match self {
            Check::Slo { threshold, .. } => threshold.text.clone(),
            Check::Invariant { holds: true, .. } => "holds".into(),
            Check::Invariant { holds: false, .. } => "violated".into(),
            Check::Rollout { outcome } => outcome.as_str().into(),
        }
    }

    /// A sentence for people: what must hold, and where it is measured.
    pub fn describe(&self) -> String {
        match self {
            Check::Slo {
                subject,
                metric,
                threshold,
            } => {
                let whose = match (subject, metric) {
                    (Subject::Service(n), Metric::RetryAmplification) => {
                        format!("sent upstream by {n}'s sidecar")
                    }
                    (Subject::Users, _) => "of the users' requests".to_string(),
                    (Subject::Service(n), _) => {
                        format!("of the requests {n} received (at its inbound listener)")
                    }
                    (Subject::Route { route, from: None }, _) => {
                        format!("of the requests on route {route} (every caller)")
                    }
                    (
                        Subject::Route {
                            route,
                            from: Some(from),
                        },
                        _,
                    ) => format!("of the requests {from} sent on route {route}"),
                };
                let value = threshold
                    .text
                    .trim_start_matches(threshold.comparison.symbol())
                    .trim_start();
                format!(
                    "{} {whose} is {} {value}",
                    metric.words(),
                    threshold.comparison.words()
                )
            }
            Check::Invariant { name, holds } => {
                let what = if name == NO_REQUEST_LOST {
                    "every request the users sent ended, as a success or a named failure"
                        .to_string()
                } else {
                    format!("the Ordering app's `{name}` invariant")
                };
                if *holds {
                    format!("at the end of the run, {what}: holds")
                } else {
                    format!("at the end of the run, {what}: violated (the scenario shows it)")
                }
            }
            Check::Rollout { outcome } => {
                format!("the scenario's rollout ends {}", outcome.as_str())
            }
        }
    }
}

// ---- as written ----------------------------------------------------------------------------

/// One `expect:` entry: as written (for checks that point at its fields) and the checks it
/// makes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ExpectEntry {
    pub raw: RawExpectation,
    pub checks: Vec<Expectation>,
}

/// One `expect:` entry as written.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpectation {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub route: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub invariant: Option<String>,
    #[serde(default)]
    pub holds: Option<bool>,
    #[serde(default)]
    pub rollout: Option<RolloutOutcome>,
    #[serde(default)]
    pub success_rate: Option<RateBound>,
    #[serde(default)]
    pub p50: Option<LatencyBound>,
    #[serde(default)]
    pub p90: Option<LatencyBound>,
    #[serde(default)]
    pub p99: Option<LatencyBound>,
    #[serde(default)]
    pub p999: Option<LatencyBound>,
    #[serde(default)]
    pub max: Option<LatencyBound>,
    #[serde(default)]
    pub retry_amplification: Option<RatioBound>,
}

/// How a rollout ended, as an expectation names it (`rolled_back` as report.json writes it,
/// or `rolled-back`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutOutcome {
    /// All traffic on the candidate.
    Promoted,
    /// All traffic back on the stable version.
    #[serde(alias = "rolled-back")]
    RolledBack,
    /// No decision.
    Inconclusive,
}

impl RolloutOutcome {
    /// The name report.json uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutOutcome::Promoted => "promoted",
            RolloutOutcome::RolledBack => "rolled_back",
            RolloutOutcome::Inconclusive => "inconclusive",
        }
    }
}

/// `success_rate:` as written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RateBound(pub Threshold);
/// `p50:` … `max:` as written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LatencyBound(pub Threshold);
/// `retry_amplification:` as written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RatioBound(pub Threshold);

impl<'de> Deserialize<'de> for RateBound {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BoundVisitor(Quantity::Rate))
            .map(RateBound)
    }
}

impl<'de> Deserialize<'de> for LatencyBound {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BoundVisitor(Quantity::Latency))
            .map(LatencyBound)
    }
}

impl<'de> Deserialize<'de> for RatioBound {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BoundVisitor(Quantity::Ratio))
            .map(RatioBound)
    }
}

struct BoundVisitor(Quantity);

impl Visitor<'_> for BoundVisitor {
    type Value = Threshold;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a threshold like {}", self.0.example())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Threshold, E> {
        Threshold::parse(&RawBound::Text(v.to_string()), self.0).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Threshold, E> {
        Threshold::parse(&RawBound::Number(v), self.0).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Threshold, E> {
        self.visit_f64(v as f64)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Threshold, E> {
        self.visit_f64(v as f64)
    }
}

/// The keys that name an entry's subject.
const SUBJECTS: [&str; 4] = ["service", "route", "invariant", "rollout"];

impl RawExpectation {
    /// The thresholds written, in the order checks are made from them (report.json's).
    fn thresholds(&self) -> Vec<(Metric, &Threshold)> {
        let mut out = Vec::new();
        if let Some(RateBound(t)) = &self.success_rate {
            out.push((Metric::SuccessRate, t));
        }
        let latencies = [&self.p50, &self.p90, &self.p99, &self.p999, &self.max];
        for (p, bound) in Percentile::ALL.into_iter().zip(latencies) {
            if let Some(LatencyBound(t)) = bound {
                out.push((Metric::Latency(p), t));
            }
        }
        if let Some(RatioBound(t)) = &self.retry_amplification {
            out.push((Metric::RetryAmplification, t));
        }
        out
    }

    fn subjects(&self) -> Vec<&'static str> {
        let given = [
            self.service.is_some(),
            self.route.is_some(),
            self.invariant.is_some(),
            self.rollout.is_some(),
        ];
        SUBJECTS
            .into_iter()
            .zip(given)
            .filter_map(|(k, g)| g.then_some(k))
            .collect()
    }

    /// The checks this entry makes, or `None` after reporting why it makes no sense (no
    /// subject or two, a threshold its subject has no such number for, a rollout).
    pub(crate) fn resolve(&self, path: &str, sink: &mut Sink<'_>) -> Option<Vec<Expectation>> {
        let mut r = Refusals {
            path,
            sink,
            any: false,
        };
        let subjects = self.subjects();
        match subjects.as_slice() {
            [] => {
                r.refuse(
                    "union",
                    "",
                    "an expectation says what it is about: write one of `service`, `route` or \
                     `invariant`",
                    None,
                );
                return None;
            }
            [_] => {}
            [first, second, ..] => {
                r.refuse(
                    "union",
                    second,
                    format!(
                        "an expectation is about one thing, but `{first}` and `{second}` are \
                         both given"
                    ),
                    Some("write them as two entries of `expect:`"),
                );
                return None;
            }
        }
        if self.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            r.refuse(
                "invalid-value",
                "name",
                "an expectation's name cannot be empty",
                None,
            );
        }
        let thresholds = self.thresholds();
        if self.service.is_none() && self.route.is_none() {
            let what = if self.invariant.is_some() {
                "an invariant"
            } else {
                "a rollout"
            };
            for (metric, _) in &thresholds {
                r.refuse(
                    "invalid-value",
                    metric.key(),
                    format!(
                        "`{}` is a threshold on a `service` or a `route`, not on {what}",
                        metric.key()
                    ),
                    None,
                );
            }
        }
        if self.holds.is_some() && self.invariant.is_none() {
            r.refuse(
                "invalid-value",
                "holds",
                "`holds` belongs to an `invariant` expectation",
                None,
            );
        }
        if self.from.is_some() && self.route.is_none() {
            r.refuse(
                "invalid-value",
                "from",
                "`from` narrows a `route` expectation to one caller; it has no meaning here",
                None,
            );
        }
        if let Some(outcome) = self.rollout {
            let check = Check::Rollout { outcome };
            let name = self.name.clone().unwrap_or_else(|| check.label());
            return (!r.any).then(|| vec![Expectation { name, check }]);
        }
        if let Some(name) = &self.invariant {
            let check = Check::Invariant {
                name: name.clone(),
                holds: self.holds.unwrap_or(true),
            };
            let name = self.name.clone().unwrap_or_else(|| check.label());
            return (!r.any).then(|| vec![Expectation { name, check }]);
        }
        let subject = match (&self.service, &self.route) {
            (Some(s), _) if s == USERS => Subject::Users,
            (Some(s), _) => Subject::Service(s.clone()),
            (None, Some(route)) => Subject::Route {
                route: route.clone(),
                from: self.from.clone(),
            },
            (None, None) => return None,
        };
        if thresholds.is_empty() {
            r.refuse(
                "missing-field",
                "",
                "give this expectation at least one threshold: success_rate, p50, p90, p99, \
                 p999, max or retry_amplification",
                None,
            );
        }
        if self.retry_amplification.is_some() && subject == Subject::Users {
            r.refuse(
                "invalid-value",
                "retry_amplification",
                "the users do not retry: retry amplification is counted at a sidecar",
                Some("name the virtual node (or gateway) whose retries count, or a route"),
            );
        }
        if r.any {
            return None;
        }
        let several = thresholds.len() > 1;
        Some(
            thresholds
                .into_iter()
                .map(|(metric, threshold)| {
                    let check = Check::Slo {
                        subject: subject.clone(),
                        metric,
                        threshold: threshold.clone(),
                    };
                    let name = match &self.name {
                        Some(n) if several => format!("{n} ({} {})", metric.key(), threshold.text),
                        Some(n) => n.clone(),
                        None => check.label(),
                    };
                    Expectation { name, check }
                })
                .collect(),
        )
    }
}

/// Errors about one entry, placed by field under its path.
struct Refusals<'a, 's, 't> {
    path: &'a str,
    sink: &'s mut Sink<'t>,
    any: bool,
}

impl Refusals<'_, '_, '_> {
    fn refuse(
        &mut self,
        code: &'static str,
        field: &str,
        message: impl Into<String>,
        help: Option<&str>,
    ) {
        self.any = true;
        let at = if field.is_empty() {
            self.path.to_string()
        } else {
            join_key(self.path, field)
        };
        self.sink.at_path(Severity::Error, code, &at, message).help = help.map(String::from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::SourceFile;
    use crate::config::tree::parse_documents;
    use crate::scenario::de::from_node;

    fn threshold(text: &str, q: Quantity) -> Result<Threshold, String> {
        Threshold::parse(&RawBound::Text(text.to_string()), q)
    }

    #[test]
    fn success_rates_are_written_as_percentages_or_fractions() {
        let t = threshold(">= 99.5%", Quantity::Rate).expect("valid");
        assert_eq!((t.comparison, t.value), (Comparison::AtLeast, 99.5));
        assert_eq!(t.text, ">= 99.5%");
        let f = threshold("0.995", Quantity::Rate).expect("valid");
        assert_eq!(
            (f.comparison, f.value, f.text.as_str()),
            (Comparison::AtLeast, 99.5, ">= 99.5%")
        );
        let strict = threshold(">99 %", Quantity::Rate).expect("valid");
        assert_eq!((strict.comparison, strict.value), (Comparison::Above, 99.0));
        assert_eq!(
            threshold("≥ 100%", Quantity::Rate).map(|t| t.value),
            Ok(100.0)
        );
    }

    #[test]
    fn out_of_range_rates_are_refused_with_the_text() {
        let e = threshold("140%", Quantity::Rate).expect_err("above 100");
        assert!(
            e.contains("between 0% and 100%") && e.contains("\"140%\""),
            "{e}"
        );
        let e = threshold(">= 99.5", Quantity::Rate).expect_err("a fraction above 1");
        assert!(e.contains("write \"99.5%\""), "{e}");
        assert!(threshold("-1%", Quantity::Rate).is_err());
        assert!(threshold(">= lots", Quantity::Rate).is_err());
        assert!(threshold(">= NaN", Quantity::Rate).is_err());
        assert!(threshold(">=", Quantity::Rate).is_err());
    }

    #[test]
    fn latencies_need_a_unit_and_no_sign() {
        let t = threshold("<= 250ms", Quantity::Latency).expect("valid");
        assert_eq!(
            (t.comparison, t.value, t.text.as_str()),
            (Comparison::AtMost, 250.0, "<= 250ms")
        );
        let bare = threshold("1.5s", Quantity::Latency).expect("valid");
        assert_eq!((bare.comparison, bare.value), (Comparison::AtMost, 1500.0));
        let e = threshold("<= -3ms", Quantity::Latency).expect_err("negative");
        assert!(e.contains("negative"), "{e}");
        let e = threshold("<= 250", Quantity::Latency).expect_err("no unit");
        assert!(e.contains("no unit"), "{e}");
    }

    #[test]
    fn amplification_is_at_least_one() {
        let t = threshold("<= 1.5", Quantity::Ratio).expect("valid");
        assert_eq!(
            (t.comparison, t.value, t.text.as_str()),
            (Comparison::AtMost, 1.5, "<= 1.5")
        );
        assert_eq!(
            threshold(">= 2", Quantity::Ratio).map(|t| t.comparison),
            Ok(Comparison::AtLeast)
        );
        assert!(threshold("<= 0.5", Quantity::Ratio).is_err());
        assert!(threshold("<= 150%", Quantity::Ratio).is_err());
    }

    #[test]
    fn thresholds_compare_as_written() {
        let t = |c, v| Threshold {
            comparison: c,
            value: v,
            text: String::new(),
        };
        assert!(t(Comparison::AtLeast, 99.5).admits(99.5));
        assert!(!t(Comparison::Above, 99.5).admits(99.5));
        assert!(t(Comparison::AtMost, 10.0).admits(10.0));
        assert!(!t(Comparison::Below, 10.0).admits(10.0));
        assert!(!t(Comparison::AtMost, 10.0).admits(10.001));
    }

    fn entry(yaml: &str) -> (Option<Vec<Expectation>>, Vec<(String, String)>) {
        let file = SourceFile::new("t.yaml", yaml);
        let (docs, problems) = parse_documents(&file);
        assert!(problems.is_empty(), "{problems:?}");
        let root = &docs[0];
        let mut sink = Sink::new();
        sink.set_root(root);
        let raw: RawExpectation = match from_node(root, "", None) {
            Ok(r) => r,
            Err(e) => return (None, vec![(e.code().to_string(), e.message.clone())]),
        };
        let resolved = raw.resolve("", &mut sink);
        let diags = sink
            .finish(crate::config::source::FileId(0))
            .into_iter()
            .map(|d| (d.path, d.message))
            .collect();
        (resolved, diags)
    }

    #[test]
    fn each_threshold_is_one_expectation_named_after_it() {
        let (got, diags) = entry("service: users\nsuccess_rate: '>= 99.5%'\np99: 250ms\n");
        assert_eq!(diags, []);
        let names: Vec<String> = got.expect("resolved").into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["users success_rate >= 99.5%", "users p99 <= 250ms"]);
        let (got, _) =
            entry("name: checkout SLO\nservice: order-v1\np999: 1s\nretry_amplification: 1.2\n");
        let names: Vec<String> = got.expect("resolved").into_iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            [
                "checkout SLO (p999 <= 1s)",
                "checkout SLO (retry_amplification <= 1.2)"
            ]
        );
        let (got, _) = entry("name: one\nroute: inventory\nfrom: order-v1\nmax: 2s\n");
        let got = got.expect("resolved");
        assert_eq!(got[0].name, "one");
        assert_eq!(
            got[0].check,
            Check::Slo {
                subject: Subject::Route {
                    route: "inventory".into(),
                    from: Some("order-v1".into())
                },
                metric: Metric::Latency(Percentile::Max),
                threshold: threshold("2s", Quantity::Latency).expect("valid"),
            }
        );
    }

    #[test]
    fn invariants_hold_unless_said_otherwise() {
        let (got, diags) = entry("invariant: stock-conserved\n");
        assert_eq!(diags, []);
        let got = got.expect("resolved");
        assert_eq!(got[0].name, "invariant stock-conserved holds");
        let (got, _) = entry("invariant: reservation-once-per-order\nholds: false\n");
        let got = got.expect("resolved");
        assert_eq!(
            got[0].check,
            Check::Invariant {
                name: "reservation-once-per-order".into(),
                holds: false
            }
        );
        assert_eq!(
            got[0].name,
            "invariant reservation-once-per-order is violated"
        );
    }

    #[test]
    fn entries_that_make_no_sense_are_refused_at_the_field() {
        for (yaml, path, words) in [
            ("p99: 1s\n", "", "write one of `service`"),
            ("service: a\nroute: b\np99: 1s\n", "route", "both given"),
            ("service: a\n", "", "at least one threshold"),
            (
                "invariant: stock-conserved\np99: 1s\n",
                "p99",
                "not on an invariant",
            ),
            (
                "service: a\nholds: true\np99: 1s\n",
                "holds",
                "belongs to an `invariant`",
            ),
            (
                "service: a\nfrom: b\np99: 1s\n",
                "from",
                "narrows a `route`",
            ),
            (
                "service: users\nretry_amplification: 2\n",
                "retry_amplification",
                "do not retry",
            ),
            ("name: ''\nservice: a\np99: 1s\n", "name", "cannot be empty"),
        ] {
            let (got, diags) = entry(yaml);
            assert!(got.is_none(), "{yaml}");
            assert!(
                diags.iter().any(|(p, m)| p == path && m.contains(words)),
                "{yaml}: {diags:?}"
            );
        }
    }

    #[test]
    fn bad_values_fail_while_deserializing() {
        for (yaml, words) in [
            ("service: a\nsuccess_rate: 140%\n", "between 0% and 100%"),
            ("service: a\np99: 250\n", "needs a unit"),
            ("service: a\np99: '<= -3ms'\n", "negative"),
            ("rollout: promotd\n", "`promoted`"),
            ("service: a\np95: 1s\n", "unknown field `p95`"),
        ] {
            let (got, diags) = entry(yaml);
            assert!(got.is_none(), "{yaml}");
            assert!(
                diags.iter().any(|(_, m)| m.contains(words)),
                "{yaml}: {diags:?}"
            );
        }
    }

    #[test]
    fn invariant_names_are_the_runs_then_the_ordering_apps() {
        let names: Vec<&str> = invariant_names().collect();
        assert_eq!(names[0], NO_REQUEST_LOST);
        assert_eq!(&names[1..], INVARIANT_NAMES);
    }

    #[test]
    fn descriptions_say_where_it_is_measured() {
        let check = |subject, metric, text: &str, q| Check::Slo {
            subject,
            metric,
            threshold: threshold(text, q).expect("valid"),
        };
        assert_eq!(
            check(Subject::Users, Metric::SuccessRate, "99.5%", Quantity::Rate).describe(),
            "success rate of the users' requests is at least 99.5%"
        );
        assert_eq!(
            check(
                Subject::Service("order-v1".into()),
                Metric::RetryAmplification,
                "< 2",
                Quantity::Ratio
            )
            .describe(),
            "attempts per request sent upstream by order-v1's sidecar is below 2"
        );
        assert_eq!(decimal(99.8102466, 3), "99.81");
        assert_eq!(decimal(100.0, 3), "100");
        assert_eq!(decimal(0.25, 6), "0.25");
    }
}
