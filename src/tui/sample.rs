//! One simulated second of a rehearsal, as the screen shows it, and the [`Sampler`] that
//! makes it on the simulation's thread from what the world records.
//!
//! The sampler reads only what the world hands every controller (access-log lines, the
//! recorder, the fault log, the users' ledger, the rollout): it never steers, so a run with
//! it is the run `meshsim run` makes. A [`Sample`] owns plain data, so it can cross to the
//! screen's thread and be kept for scrubbing after the run.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::model::Mesh;
use crate::engine::SimTime;
use crate::metrics::{Counter, Latencies, SeriesKey};
use crate::proxy::{AccessLogEntry, Direction, ResponseFlag};
use crate::rehearse::RouteShares;
use crate::rollout::Rollout;
use crate::rollout::analysis::Status;
use crate::rollout::timeline::secs;
use crate::scenario::Scenario;
use crate::sim::WorldView;

/// What kind of thing an [`Event`] is, for its colour and its filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventKind {
    /// A fault started, ended, or did something (crash, partition, restart).
    Fault,
    /// A fault injected from the screen.
    Injected,
    /// A rollout step, weight change or verdict.
    Rollout,
    /// A failed rollout check.
    Check,
    /// Outlier detection ejected a host.
    Ejection,
    /// A connection pool overflowed (circuit breaker open) or failure accrual tripped.
    Breaker,
    /// An expectation of the scenario did not hold.
    Expectation,
}

impl EventKind {
    /// A short tag for the log.
    pub fn tag(self) -> &'static str {
        match self {
            EventKind::Fault => "fault",
            EventKind::Injected => "inject",
            EventKind::Rollout => "rollout",
            EventKind::Check => "check",
            EventKind::Ejection => "eject",
            EventKind::Breaker => "breaker",
            EventKind::Expectation => "expect",
        }
    }
}

/// One line of the event log.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Simulated seconds.
    pub t: f64,
    /// What kind.
    pub kind: EventKind,
    /// What happened.
    pub text: String,
}

/// A virtual node (a version of a service) during one simulated second.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VersionSample {
    /// Requests its sidecars' inbound listeners answered this second.
    pub requests: u64,
    /// Of them, 5xx or no answer.
    pub errors: u64,
    /// Median latency this second, ms (none without requests).
    pub p50_ms: Option<f64>,
    /// 99th percentile this second, ms.
    pub p99_ms: Option<f64>,
    /// The node's share of the rollout's route as the rollout has set it, percent (only for
    /// the route's targets; the ones besides the rollout's keep their configured share).
    pub weight: Option<u32>,
    /// Tasks down (crashed, scaled down).
    pub down: u32,
    /// The rollout scaled the node down: its tasks are down on purpose, not crashed.
    pub scaled_down: bool,
    /// Tasks it has.
    pub tasks: u32,
    /// Callers' requests to it refused by their connection pools (503 UO) this second.
    pub overflows: u64,
    /// Hosts its own sidecars ejected this second (outlier detection).
    pub ejections: u64,
}

impl VersionSample {
    /// Share of this second's requests that succeeded, percent.
    pub fn ok_percent(&self) -> Option<f64> {
        (self.requests > 0)
            .then(|| (self.requests - self.errors) as f64 * 100.0 / self.requests as f64)
    }
}

/// The rollout as it stands.
#[derive(Clone, Debug, PartialEq)]
pub struct RolloutSample {
    /// `canary`, `blue_green`, ...
    pub strategy: String,
    /// `running`, `promoted`, `rolled_back`, `inconclusive`.
    pub outcome: String,
    /// Steps begun so far.
    pub step: usize,
    /// Steps in the plan.
    pub steps: usize,
    /// The current step in words.
    pub step_text: String,
    /// Stable version (virtual node).
    pub stable: String,
    /// Candidate version.
    pub candidate: String,
    /// Weight the rollout asks for the candidate, percent.
    pub candidate_weight: u32,
    /// Checks measured that passed.
    pub passed: usize,
    /// Checks measured that failed.
    pub failed: usize,
}

/// Percentile levels of a [`Distribution`], as `log10(1/(1−p))`: the x axis of HdrHistogram's
/// `.hgrm` plot, from p0 to p99.99 in eighths of a decade (33 points, and p50).
pub const LEVELS_PER_DECADE: u32 = 8;
/// The highest level drawn, p99.99 (four decades).
pub const DECADES: u32 = 4;

/// A version's latency percentile distribution, read from an HdrHistogram the run keeps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Distribution {
    /// Requests in the histogram.
    pub count: u64,
    /// (`log10(1/(1−p))`, ms) from p0 to p99.99 in eighths of a decade, and p50; empty
    /// without requests.
    pub points: Vec<(f64, f64)>,
}

impl Distribution {
    /// The distribution of `latencies` at the plot's levels.
    pub fn of(latencies: &Latencies) -> Distribution {
        if latencies.count() == 0 {
            return Distribution::default();
        }
        // The eighths of a decade, and p50 itself (log10 2), which falls between two.
        let mut levels: Vec<f64> = (0..=LEVELS_PER_DECADE * DECADES)
            .map(|i| f64::from(i) / f64::from(LEVELS_PER_DECADE))
            .collect();
        levels.push(std::f64::consts::LOG10_2);
        levels.sort_by(f64::total_cmp);
        let points = levels
            .into_iter()
            .map(|x| {
                // 1 − 10^−x, with p50 exact (0.5 would come out as 0.5000000000000001).
                let p = if x == std::f64::consts::LOG10_2 {
                    0.5
                } else {
                    1.0 - 10f64.powf(-x)
                };
                (x, latencies.quantile_ms(p))
            })
            .collect();
        Distribution {
            count: latencies.count(),
            points,
        }
    }

    /// The value at the level `x` = `log10(1/(1−p))` (the nearest level kept at or below).
    pub fn at(&self, x: f64) -> Option<f64> {
        self.points
            .iter()
            .rev()
            .find(|(px, _)| *px <= x + 1e-9)
            .map(|(_, v)| *v)
    }
}

/// Every version's distribution for the whole run so far and for the last analysis window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Distributions {
    /// Simulated seconds the window starts at (a whole window of the recorder's).
    pub window_from: f64,
    /// The analysis window's length, seconds.
    pub window_s: f64,
    /// By virtual node, since the start.
    pub run: BTreeMap<String, Distribution>,
    /// By virtual node, over the window.
    pub window: BTreeMap<String, Distribution>,
}

/// One simulated second of the run.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Simulated seconds when taken.
    pub t: f64,
    /// Users' requests sent so far.
    pub issued: u64,
    /// Users' requests ended so far.
    pub ended: u64,
    /// Users' requests that succeeded so far.
    pub succeeded: u64,
    /// Users' requests that ended this second.
    pub users_ended: u64,
    /// Share of them that succeeded, percent.
    pub users_ok: Option<f64>,
    /// Retries the sidecars sent this second.
    pub retries: u64,
    /// By virtual node.
    pub versions: BTreeMap<String, VersionSample>,
    /// The rollout, if the scenario has one.
    pub rollout: Option<RolloutSample>,
    /// What happened this second.
    pub events: Vec<Event>,
    /// Latency percentile distributions per version.
    pub distributions: Distributions,
}

/// Per-node figures gathered from access-log lines between two samples.
#[derive(Debug, Default)]
struct Pending {
    latencies_ms: Vec<f64>,
    errors: u64,
    overflows: u64,
}

/// Makes [`Sample`]s, once per simulated second, from what the world records.
#[derive(Debug)]
pub struct Sampler {
    /// Task host → virtual node.
    hosts: BTreeMap<String, String>,
    /// Virtual node → tasks.
    tasks: BTreeMap<String, u32>,
    pending: BTreeMap<String, Pending>,
    retries: u64,
    down: BTreeSet<String>,
    scaled_down: BTreeSet<String>,
    chaos_seen: usize,
    counters: BTreeMap<(String, Counter), u64>,
    ledger: (u64, u64, u64),
    steps_seen: usize,
    checks_seen: usize,
    outcome_seen: String,
    /// How the rollout's weights fit among its route's targets.
    shares: RouteShares,
    /// The analysis window the histogram panel's second half covers: the rollout's look-back
    /// (its `window`, else its `interval`), or Flagger's default interval without a rollout.
    window: std::time::Duration,
}

impl Sampler {
    /// A sampler for `scenario`'s tasks on `mesh`.
    pub fn new(scenario: &Scenario, mesh: &Mesh) -> Sampler {
        let mut hosts = BTreeMap::new();
        let mut tasks: BTreeMap<String, u32> = BTreeMap::new();
        for t in &scenario.tasks {
            for h in t.hosts() {
                hosts.insert(h, t.node.clone());
                *tasks.entry(t.node.clone()).or_default() += 1;
            }
        }
        let pending = tasks
            .keys()
            .map(|n| (n.clone(), Pending::default()))
            .collect();
        let plan = scenario.rollout.as_ref().and_then(|r| r.build().ok());
        let window = plan
            .as_ref()
            .map_or(crate::rollout::plan::defaults::INTERVAL, |p| {
                p.analysis.window.unwrap_or(p.analysis.interval)
            });
        Sampler {
            window,
            hosts,
            tasks,
            pending,
            retries: 0,
            down: BTreeSet::new(),
            scaled_down: BTreeSet::new(),
            chaos_seen: 0,
            counters: BTreeMap::new(),
            ledger: (0, 0, 0),
            steps_seen: 0,
            checks_seen: 0,
            outcome_seen: "running".into(),
            shares: plan
                .map(|plan| RouteShares::of(mesh, &plan.targets))
                .unwrap_or_default(),
        }
    }

    /// Takes in access-log lines as the world drains them.
    pub fn observe(&mut self, lines: &[AccessLogEntry]) {
        for l in lines.iter().filter(|l| !l.health_check) {
            match l.direction {
                Direction::Inbound => {
                    let p = self.pending.entry(l.node.clone()).or_default();
                    p.latencies_ms.push(l.duration.as_secs_f64() * 1000.0);
                    if crate::sidecar::classify::is_error_status(l.status) {
                        p.errors += 1;
                    }
                    // The pool that shed a request is the node's own: its line has the `UO`.
                    if l.flags.contains(ResponseFlag::Overflow) {
                        p.overflows += 1;
                    }
                }
                Direction::Outbound => {
                    if !l.shadow {
                        self.retries += u64::from(l.attempts.saturating_sub(1));
                    }
                }
            }
        }
    }

    /// The sample at `now`; the figures gathered since the last one start over.
    pub fn sample(
        &mut self,
        now: SimTime,
        world: &WorldView<'_>,
        rollout: Option<&Rollout>,
    ) -> Sample {
        let t = now.since_start().as_secs_f64();
        let mut events = Vec::new();
        self.fault_events(world, &mut events);
        let ejections = self.counter_events(t, world, &mut events);
        let weights: BTreeMap<String, u32> = rollout
            .map(|r| {
                let shares = self.shares.percents(r.desired().weights, r.targets());
                shares.into_iter().collect()
            })
            .unwrap_or_default();
        let rollout = rollout.map(|r| self.rollout(r, &mut events));
        let mut versions = BTreeMap::new();
        for (node, p) in std::mem::take(&mut self.pending) {
            let mut lat = p.latencies_ms;
            lat.sort_by(f64::total_cmp);
            let tasks = self.tasks.get(&node).copied().unwrap_or(0);
            let scaled_down = self.scaled_down.contains(&node);
            let down = if scaled_down {
                tasks
            } else {
                self.down
                    .iter()
                    .filter(|h| self.hosts.get(*h) == Some(&node))
                    .count() as u32
            };
            versions.insert(
                node.clone(),
                VersionSample {
                    requests: lat.len() as u64,
                    errors: p.errors,
                    p50_ms: quantile(&lat, 0.5),
                    p99_ms: quantile(&lat, 0.99),
                    weight: weights.get(&node).copied(),
                    down,
                    scaled_down,
                    tasks,
                    overflows: p.overflows,
                    ejections: ejections.get(&node).copied().unwrap_or(0),
                },
            );
        }
        self.pending = self
            .tasks
            .keys()
            .map(|n| (n.clone(), Pending::default()))
            .collect();
        let ledger = world.ledger;
        let (_, ended_before, ok_before) = self.ledger;
        let ended = ledger.ended();
        let users_ended = ended.saturating_sub(ended_before);
        let users_ok = (users_ended > 0).then(|| {
            ledger.succeeded.saturating_sub(ok_before) as f64 * 100.0 / users_ended as f64
        });
        self.ledger = (ledger.issued, ended, ledger.succeeded);
        Sample {
            t,
            issued: ledger.issued,
            ended,
            succeeded: ledger.succeeded,
            users_ended,
            users_ok,
            retries: std::mem::take(&mut self.retries),
            versions,
            rollout,
            events,
            distributions: self.distributions(now, world),
        }
    }

    /// Each version's inbound latencies as the run's recorder holds them (the histograms
    /// `<node>.hgrm` is written from), since the start and over the last analysis window.
    /// The window is made of the recorder's own windows, so it starts on one of their
    /// boundaries: the one `now − window` falls in (it covers the whole analysis window,
    /// and at most one recorder interval more).
    fn distributions(&self, now: SimTime, world: &WorldView<'_>) -> Distributions {
        let recorder = world.recorder;
        let interval = recorder.interval().as_secs_f64();
        let t = now.since_start().as_secs_f64();
        let first = ((t - self.window.as_secs_f64()) / interval + 1e-9)
            .floor()
            .max(0.0) as u64;
        let mut out = Distributions {
            window_from: first as f64 * interval,
            window_s: self.window.as_secs_f64(),
            ..Distributions::default()
        };
        for node in self.tasks.keys() {
            let keep = |k: &SeriesKey| k.route == "inbound" && k.node == *node;
            out.run
                .insert(node.clone(), Distribution::of(&recorder.merged(keep)));
            let mut window = Latencies::coarse();
            for (_, series) in recorder.windows().range(first..) {
                for (k, h) in series {
                    if keep(k) {
                        window.merge(h);
                    }
                }
            }
            out.window.insert(node.clone(), Distribution::of(&window));
        }
        out
    }

    /// New entries of the fault log; crashes and restarts also mark tasks down or up.
    fn fault_events(&mut self, world: &WorldView<'_>, events: &mut Vec<Event>) {
        for e in world.chaos.iter().skip(self.chaos_seen) {
            let what = e.what.as_str();
            if let Some(rest) = what.strip_prefix("crash ") {
                let host = rest.split(' ').next().unwrap_or(rest);
                self.down.insert(host.to_string());
            } else if let Some(host) = what.strip_prefix("restart ") {
                self.down.remove(host);
            }
            let kind = if e.fault.starts_with(super::inject::LIVE_PREFIX) {
                EventKind::Injected
            } else {
                EventKind::Fault
            };
            events.push(Event {
                t: secs(e.at),
                kind,
                text: format!("{what} ({})", e.fault),
            });
        }
        self.chaos_seen = world.chaos.len();
    }

    /// Ejections, overflows and breaker trips counted since the last sample, as events;
    /// returns the ejections by the node whose sidecars made them.
    fn counter_events(
        &mut self,
        t: f64,
        world: &WorldView<'_>,
        events: &mut Vec<Event>,
    ) -> BTreeMap<String, u64> {
        let mut ejections = BTreeMap::new();
        for (node, counter, n) in world.recorder.counters() {
            let (kind, what) = match counter {
                Counter::Ejections => (EventKind::Ejection, "ejected"),
                Counter::BreakerTrips => (EventKind::Breaker, "failure accrual opened on"),
                Counter::Overflows => (EventKind::Breaker, "connection pool overflowed:"),
                _ => continue,
            };
            let key = (node.to_string(), counter);
            let before = self.counters.get(&key).copied().unwrap_or(0);
            let new = n.saturating_sub(before);
            if new == 0 {
                continue;
            }
            self.counters.insert(key, n);
            if counter == Counter::Ejections {
                ejections.insert(node.to_string(), new);
            }
            let unit = match counter {
                Counter::Overflows => plural(new, "request", "requests"),
                _ => plural(new, "host", "hosts"),
            };
            events.push(Event {
                t,
                kind,
                text: format!("{node}'s sidecars: {what} {unit}"),
            });
        }
        ejections
    }

    /// The rollout as it stands, with its new steps, failed checks and verdict as events.
    fn rollout(&mut self, rollout: &Rollout, events: &mut Vec<Event>) -> RolloutSample {
        let report = rollout.report();
        for s in report.steps.iter().skip(self.steps_seen) {
            events.push(Event {
                t: s.started_at_s,
                kind: EventKind::Rollout,
                text: format!("step {}: {}", s.index + 1, s.step),
            });
        }
        self.steps_seen = report.steps.len();
        for c in report.checks.iter().skip(self.checks_seen) {
            if c.status != Status::Fail {
                continue;
            }
            let value = c
                .value
                .map(|v| format!("{v:.3}"))
                .unwrap_or_else(|| "-".into());
            events.push(Event {
                t: c.at_s,
                kind: EventKind::Check,
                // The tag says `check`: the text starts with the check's name.
                text: format!("{} failed: {value} against {}", c.check, c.threshold),
            });
        }
        self.checks_seen = report.checks.len();
        let outcome = json_word(&report.outcome);
        if outcome != self.outcome_seen {
            // The tag says `rollout`: the text starts with the outcome.
            let mut text = outcome.replace('_', " ");
            if let Some(reason) = &report.reason {
                text.push_str(&format!(": {reason}"));
            }
            events.push(Event {
                t: report.decided_at_s.unwrap_or_default(),
                kind: EventKind::Rollout,
                text,
            });
            self.outcome_seen = outcome.clone();
        }
        for s in &report.scale_downs {
            self.scaled_down.insert(s.node.clone());
        }
        let targets = rollout.targets();
        let current = report.steps.last();
        RolloutSample {
            strategy: json_word(&report.strategy),
            outcome,
            step: report.steps.len(),
            steps: rollout.plan().steps.len(),
            step_text: current
                .map(|s| s.step.clone())
                .unwrap_or_else(|| "waiting to start".into()),
            stable: targets.stable.clone(),
            candidate: targets.candidate.clone(),
            candidate_weight: rollout.desired().weights.candidate,
            passed: report
                .checks
                .iter()
                .filter(|c| c.status == Status::Pass)
                .count(),
            failed: report
                .checks
                .iter()
                .filter(|c| c.status == Status::Fail)
                .count(),
        }
    }
}

/// A serde enum's word as report.json spells it (`rolled_back`).
fn json_word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Nearest-rank quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&[7.0], 0.99), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
