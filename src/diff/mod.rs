//! `meshsim diff`: one scenario's workload and faults run seed by seed against its own App
//! Mesh configuration (the baseline) and against another mesh (the candidate: a changed App
//! Mesh, or a target's configuration read into the engine's model by [`crate::migrate`]),
//! reporting only the differences that exceed the noise floor, the way Diffy does for code:
//! the baseline run again with other seeds says how much a figure moves by chance alone.
//!
//! Every run is an ordinary rehearsal ([`crate::rehearse`]); a [`Watcher`] reads the
//! outbound access-log lines into per-class figures (a class is a caller and the virtual
//! service it calls), reduced to integers ([`SeedRun`]). Aggregation sorts by seed, never
//! by completion, so the files are the same bytes whatever the parallelism.
//!
//! Layering: above `rehearse` and `report`, beside `sweep`, below the CLI (threads, signals,
//! files).

pub mod render;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::model::Mesh;
use crate::engine::SimTime;
use crate::engine::flags::ResponseFlag;
use crate::proxy::{AccessLogEntry, Direction};
use crate::rehearse::{Watcher, rehearse_watched};
use crate::report::Report;
use crate::rollout::Rollout;
use crate::scenario::Scenario;
use crate::sim::{Change, RunOptions, SimError, WorldView};

/// diff.json's format version.
pub const SCHEMA_VERSION: u32 = 1;

/// The users' own class: what the load generator saw, end to end.
pub const USERS: &str = "users";

/// The noise-floor rule as diff.json and diff.md state it.
pub const RULE: &str = "per class and metric, over the N seeds s: d = mean of (candidate(s) - baseline(s)); \
noise floor F = t(N) * sqrt(mean of (baseline(s + N) - baseline(s))^2) / sqrt(N), t(N) the two-sided 0.1 % \
critical value of Student's t with N degrees of freedom; a difference counts when |d| > F";

/// The level of [`judge`]'s test, two-sided, per metric: with some tens of metrics per diff
/// (six per class and one per route and node served), about one false difference in twenty
/// diffs of a mesh against an equivalent one at most.
pub const ALPHA: f64 = 0.001;

/// Student's t, two-sided [`ALPHA`] critical values (the 0.9995 quantile) for 1..=30
/// degrees of freedom, then 40, 60, 120 and infinity (standard tables; checked by numerical
/// integration of the density).
const T_9995: [(u64, f64); 34] = [
    (1, 636.619),
    (2, 31.599),
    (3, 12.924),
    (4, 8.610),
    (5, 6.869),
    (6, 5.959),
    (7, 5.408),
    (8, 5.041),
    (9, 4.781),
    (10, 4.587),
    (11, 4.437),
    (12, 4.318),
    (13, 4.221),
    (14, 4.140),
    (15, 4.073),
    (16, 4.015),
    (17, 3.965),
    (18, 3.922),
    (19, 3.883),
    (20, 3.850),
    (21, 3.819),
    (22, 3.792),
    (23, 3.768),
    (24, 3.745),
    (25, 3.725),
    (26, 3.707),
    (27, 3.690),
    (28, 3.674),
    (29, 3.659),
    (30, 3.646),
    (40, 3.551),
    (60, 3.460),
    (120, 3.373),
    (u64::MAX, 3.291),
];

/// The critical value for `df` degrees of freedom: the table's entry for the largest
/// tabulated df not above it (a larger value than the exact one between entries, so the
/// test never gets laxer than its level).
pub fn t_critical(df: u64) -> f64 {
    T_9995
        .iter()
        .rev()
        .find(|(d, _)| *d <= df)
        .map_or(T_9995[0].1, |(_, t)| *t)
}

/// Which configuration a run used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The scenario's own mesh, seeds FIRST..FIRST+N-1.
    Baseline,
    /// The scenario's own mesh, seeds FIRST+N..FIRST+2N-1: the noise.
    Noise,
    /// The `--against` mesh, the baseline's seeds.
    Candidate,
}

/// One class's figures in one run, as integers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassRun {
    /// Requests that ended.
    pub requests: u64,
    /// Of which answered 2xx or 3xx.
    pub succeeded: u64,
    /// Median latency, microseconds (nearest rank).
    pub p50_us: u64,
    /// 99th percentile, microseconds (nearest rank).
    pub p99_us: u64,
    /// Retries (attempts beyond the first); `None` for the users' class, which has no proxy.
    pub retries: Option<u64>,
    /// Requests that ended in an upstream timeout (`UT`); `None` for the users' class.
    pub timeouts: Option<u64>,
    /// Requests per `route → virtual node` that served them.
    pub served: BTreeMap<String, u64>,
}

/// One run reduced to its classes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedRun {
    /// Which configuration.
    pub side: Side,
    /// The seed.
    pub seed: u64,
    /// Per class.
    pub classes: BTreeMap<String, ClassRun>,
}

/// The figures one metric of one class had in the three runs of one seed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Triple {
    /// The baseline's seed.
    pub seed: u64,
    /// Baseline, seed `seed`.
    pub baseline: f64,
    /// Baseline, seed `seed + N`.
    pub noise: f64,
    /// Candidate, seed `seed`.
    pub candidate: f64,
}

/// What the noise-floor rule says about one metric of one class.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Judgement {
    /// Mean of candidate − baseline over the seeds.
    pub delta: f64,
    /// t(N) · √(mean (baseline(s + N) − baseline(s))²) / √N.
    pub floor: f64,
    /// `|delta| > floor`.
    pub differs: bool,
    /// The seed whose candidate − baseline is largest in the direction of `delta` (the first
    /// such seed on a tie): the one to replay.
    pub seed: u64,
}

/// The noise-floor rule, Diffy's idea as a test: the baseline run with other seeds shows
/// how much a metric moves by chance, and the candidate counts as different only beyond that.
///
/// Paired by seed, d(s) = candidate(s) − baseline(s) shares the seed's arrivals and fault
/// draws as far as the mesh leaves them alone. If the candidate behaved like the baseline,
/// d(s) would spread at most like n(s) = baseline(s + N) − baseline(s), two independent runs
/// (mean 0 by symmetry), so σ̂ = √(mean n(s)²) estimates that spread with N degrees of
/// freedom, independently of the d(s), and d̄ / (σ̂ / √N) is Student's t with N degrees of
/// freedom when the per-run figures are near normal (a run's success rate or p99 is a
/// statistic of hundreds of requests). The floor F = t(N) · σ̂ / √N at two-sided
/// [`ALPHA`]. Why not "larger than the largest baseline difference": compared with a mean
/// over N seeds, the largest of N noise differences grows with N, so more seeds would find
/// less (a 200-seed diff missed a lost retry policy that 3 seeds found). The same mesh
/// against itself gives every d(s) exactly 0 (a run is deterministic), so it never
/// differs; a metric with no noise at all (F = 0) differs at any change. `None` without
/// seeds.
pub fn judge(triples: &[Triple]) -> Option<Judgement> {
    let first = triples.first()?;
    let n = triples.len() as f64;
    let delta = triples
        .iter()
        .map(|t| t.candidate - t.baseline)
        .sum::<f64>()
        / n;
    let spread = (triples
        .iter()
        .map(|t| (t.noise - t.baseline).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let floor = t_critical(triples.len() as u64) * spread / n.sqrt();
    let mut seed = first.seed;
    let mut best = f64::NEG_INFINITY;
    for t in triples {
        let d = (t.candidate - t.baseline) * delta.signum();
        if d > best {
            best = d;
            seed = t.seed;
        }
    }
    Some(Judgement {
        delta,
        floor,
        differs: delta.abs() > floor,
        seed,
    })
}

/// A metric's value in one class of one run; `None` when the class has no data for it
/// (no requests: no success rate or latency).
fn value(class: Option<&ClassRun>, metric: &str) -> Option<f64> {
    let empty = ClassRun::default();
    let c = class.unwrap_or(&empty);
    let per_request = |n: u64| {
        if c.requests == 0 {
            None
        } else {
            Some(n as f64 * 100.0 / c.requests as f64)
        }
    };
    match metric {
        "requests" => Some(c.requests as f64),
        "success_rate" => per_request(c.succeeded),
        "p50_ms" => (c.requests > 0).then_some(c.p50_us as f64 / 1000.0),
        "p99_ms" => (c.requests > 0).then_some(c.p99_us as f64 / 1000.0),
        "retries_per_100" => per_request(c.retries?),
        "timeouts_per_100" => per_request(c.timeouts?),
        _ => {
            let key = metric.strip_prefix("served % ")?;
            per_request(c.served.get(key).copied().unwrap_or(0))
        }
    }
}

/// The metrics a class has in any of `runs`, in a fixed order: counts and rates, latency,
/// then each `route → node` that served any of its requests.
fn metrics_of<'a>(class: &str, runs: impl Iterator<Item = &'a SeedRun>) -> Vec<String> {
    let mut served = std::collections::BTreeSet::new();
    let mut proxied = false;
    for r in runs {
        if let Some(c) = r.classes.get(class) {
            served.extend(c.served.keys().cloned());
            proxied |= c.retries.is_some();
        }
    }
    let mut out: Vec<String> = ["requests", "success_rate", "p50_ms", "p99_ms"]
        .into_iter()
        .map(String::from)
        .collect();
    if proxied {
        out.push("retries_per_100".into());
        out.push("timeouts_per_100".into());
    }
    out.extend(served.into_iter().map(|k| format!("served % {k}")));
    out
}

/// What a diff is: everything that decides its runs, and nothing that does not (jobs,
/// output places).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Scenario name.
    pub scenario: String,
    /// The scenario file as given on the command line.
    pub path: String,
    /// The `--against` files, as given.
    pub against: Vec<String>,
    /// Which loader read them: `appmesh` or `istio`.
    pub against_format: String,
    /// `wire`: real HTTP over turmoil (the only backend `diff` runs).
    pub mode: String,
    /// First seed.
    pub first_seed: u64,
    /// Seeds per side.
    pub seeds: u64,
    /// `--duration` as given, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

impl Plan {
    /// Every run, seed by seed: baseline s, noise s + N, candidate s, so a diff stopped
    /// early holds whole seeds.
    pub fn jobs(&self) -> Vec<(Side, u64)> {
        (0..self.seeds)
            .map(|i| self.first_seed.wrapping_add(i))
            .flat_map(|s| {
                [
                    (Side::Baseline, s),
                    (Side::Noise, s.wrapping_add(self.seeds)),
                    (Side::Candidate, s),
                ]
            })
            .collect()
    }

    fn duration_flag(&self) -> String {
        self.duration
            .as_ref()
            .map(|d| format!(" --duration {d}"))
            .unwrap_or_default()
    }

    /// The command that runs the baseline with `seed`.
    pub fn baseline_command(&self, seed: u64) -> String {
        format!(
            "meshsim run {} --seed {seed}{}",
            self.path,
            self.duration_flag()
        )
    }

    /// The command that runs the candidate with `seed` (beside the baseline with the same
    /// seed and the noise seed): `meshsim run` has no flag to swap a scenario's mesh.
    pub fn candidate_command(&self, seed: u64) -> String {
        format!(
            "meshsim diff {} --against {} --first-seed {seed} --seeds 1{}",
            self.path,
            self.against.join(" "),
            self.duration_flag()
        )
    }
}

/// One metric of one class, over all seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    /// Class: `users`, or `<caller> → <virtual service>`.
    pub class: String,
    /// Metric name.
    pub metric: String,
    /// Mean over the baseline seeds.
    pub baseline: f64,
    /// Mean over the candidate runs.
    pub candidate: f64,
    /// Mean of candidate − baseline, seed by seed.
    pub delta: f64,
    /// The noise floor.
    pub noise_floor: f64,
    /// Seeds where all three runs had the metric.
    pub seeds: u64,
    /// `|delta| > noise_floor`.
    pub differs: bool,
}

/// A difference beyond noise, with the seed that shows it best.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// Class.
    pub class: String,
    /// Metric.
    pub metric: String,
    /// Mean over the baseline seeds.
    pub baseline: f64,
    /// Mean over the candidate runs.
    pub candidate: f64,
    /// Mean of candidate − baseline.
    pub delta: f64,
    /// The noise floor it exceeds.
    pub noise_floor: f64,
    /// The seed with the largest difference in `delta`'s direction.
    pub seed: u64,
    /// The baseline's value with that seed.
    pub baseline_at_seed: f64,
    /// The candidate's value with that seed.
    pub candidate_at_seed: f64,
    /// Runs the baseline with that seed.
    pub baseline_command: String,
    /// Runs the candidate with that seed.
    pub candidate_command: String,
}

/// diff.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    /// Format version.
    pub schema_version: u32,
    /// The diff.
    pub plan: Plan,
    /// The noise-floor rule, in words.
    pub rule: String,
    /// Runs planned (3 × seeds).
    pub runs_planned: u64,
    /// Runs finished.
    pub runs_finished: u64,
    /// Stopped before every run finished: seeds without all three runs are left out.
    pub partial: bool,
    /// Differences beyond noise, by class then metric; empty when none.
    pub differences: Vec<Difference>,
    /// Every metric of every class, by class then metric.
    pub metrics: Vec<MetricRow>,
}

/// Rounds for the files: six decimals is below any figure's resolution (µs latencies in
/// ms, percentages of at most 10⁹ requests) and keeps float noise out of the text.
fn round(x: f64) -> f64 {
    let r = (x * 1e6).round() / 1e6;
    if r == 0.0 { 0.0 } else { r }
}

/// The diff of `runs` (any order): seeds with all three runs, classes in name order (the
/// users' first), metrics in [`metrics_of`]'s order.
pub fn aggregate(plan: &Plan, mut runs: Vec<SeedRun>, partial: bool) -> Diff {
    runs.sort_by_key(|a| (a.side, a.seed));
    let find = |side: Side, seed: u64| runs.iter().find(|r| r.side == side && r.seed == seed);
    let noise_of = |s: u64| s.wrapping_add(plan.seeds);
    let complete: Vec<(&SeedRun, &SeedRun, &SeedRun)> = runs
        .iter()
        .filter(|r| r.side == Side::Baseline)
        .filter_map(|b| {
            Some((
                b,
                find(Side::Noise, noise_of(b.seed))?,
                find(Side::Candidate, b.seed)?,
            ))
        })
        .collect();
    let mut classes: Vec<&String> = runs.iter().flat_map(|r| r.classes.keys()).collect();
    classes.sort_by_key(|c| (c.as_str() != USERS, c.as_str()));
    classes.dedup();
    let mut metrics = Vec::new();
    let mut differences = Vec::new();
    for class in classes {
        let all = complete.iter().flat_map(|(b, n, c)| [*b, *n, *c]);
        for metric in metrics_of(class, all) {
            let triples: Vec<Triple> = complete
                .iter()
                .filter_map(|(b, n, c)| {
                    Some(Triple {
                        seed: b.seed,
                        baseline: value(b.classes.get(class), &metric)?,
                        noise: value(n.classes.get(class), &metric)?,
                        candidate: value(c.classes.get(class), &metric)?,
                    })
                })
                .collect();
            let Some(j) = judge(&triples) else {
                continue;
            };
            let n = triples.len() as f64;
            let mean = |f: fn(&Triple) -> f64| triples.iter().map(f).sum::<f64>() / n;
            let row = MetricRow {
                class: class.clone(),
                metric: metric.clone(),
                baseline: round(mean(|t| t.baseline)),
                candidate: round(mean(|t| t.candidate)),
                delta: round(j.delta),
                noise_floor: round(j.floor),
                seeds: triples.len() as u64,
                differs: j.differs,
            };
            if j.differs
                && let Some(t) = triples.iter().find(|t| t.seed == j.seed)
            {
                differences.push(Difference {
                    class: class.clone(),
                    metric: metric.clone(),
                    baseline: row.baseline,
                    candidate: row.candidate,
                    delta: row.delta,
                    noise_floor: row.noise_floor,
                    seed: t.seed,
                    baseline_at_seed: round(t.baseline),
                    candidate_at_seed: round(t.candidate),
                    baseline_command: plan.baseline_command(t.seed),
                    candidate_command: plan.candidate_command(t.seed),
                });
            }
            metrics.push(row);
        }
    }
    Diff {
        schema_version: SCHEMA_VERSION,
        plan: plan.clone(),
        rule: RULE.into(),
        runs_planned: plan.seeds.saturating_mul(3),
        runs_finished: runs.len() as u64,
        partial,
        differences,
        metrics,
    }
}

/// Problems running `scenario` on `mesh` would have, named by the scenario's field: each
/// task's virtual node, the workload's target, the rollout's router and route, and the
/// nodes `sidecars:` configures must exist in the candidate mesh as they do in the
/// scenario's own (the scenario's checks ran against that one only).
pub fn mesh_fits(scenario: &Scenario, mesh: &Mesh) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, t) in scenario.tasks.iter().enumerate() {
        if !mesh.virtual_nodes.contains_key(&t.node) {
            out.push((
                format!("tasks[{i}].node"),
                format!(
                    "the --against mesh has no virtual node `{}` (it has: {})",
                    t.node,
                    names(mesh.virtual_nodes.keys())
                ),
            ));
        }
    }
    let target = &scenario.workload.target;
    if !mesh.virtual_gateways.contains_key(target)
        && !mesh.virtual_services.contains_key(target)
        && !mesh.virtual_nodes.contains_key(target)
    {
        out.push((
            "workload.target".into(),
            format!(
                "the --against mesh has no virtual gateway or virtual service `{target}` (services: {})",
                names(mesh.virtual_services.keys())
            ),
        ));
    }
    if let Some(r) = &scenario.rollout
        && !mesh
            .routes
            .contains_key(&(r.router.clone(), r.route.clone()))
    {
        out.push((
            "rollout.route".into(),
            format!(
                "the --against mesh has no route `{}` on virtual router `{}`",
                r.route, r.router
            ),
        ));
    }
    for node in scenario.sidecars.keys() {
        if !mesh.virtual_nodes.contains_key(node) {
            out.push((
                format!("sidecars.{node}"),
                format!("the --against mesh has no virtual node `{node}`"),
            ));
        }
    }
    out
}

fn names<'a>(it: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = it.map(String::as_str).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Runs one seed of `scenario` on `mesh`. `stop` is asked once per simulated second; when it
/// says so the run is halted and `None` returned (an unfinished run is not counted).
pub fn run_one(
    scenario: &Scenario,
    mesh: &Mesh,
    side: Side,
    seed: u64,
    duration: Option<Duration>,
    stop: &dyn Fn() -> bool,
) -> Result<Option<SeedRun>, SimError> {
    let options = RunOptions {
        seed: Some(seed),
        duration,
        trace_sample: Some(0.0),
        ..RunOptions::default()
    };
    let mut reader = Classes {
        stop,
        lines: BTreeMap::new(),
    };
    let rehearsal = rehearse_watched(scenario, mesh, &options, &mut |_| {}, &mut reader)?;
    if rehearsal.halted_at.is_some() {
        return Ok(None);
    }
    let report = Report::of_rehearsal(scenario, &rehearsal);
    let us = |ms: f64| (ms * 1000.0).round() as u64;
    let mut classes: BTreeMap<String, ClassRun> = reader
        .lines
        .into_iter()
        .map(|(k, v)| (k, v.finish()))
        .collect();
    classes.insert(
        USERS.into(),
        ClassRun {
            requests: report.requests.succeeded + report.requests.failed,
            succeeded: report.requests.succeeded,
            p50_us: us(report.requests.latency_ms.p50),
            p99_us: us(report.requests.latency_ms.p99),
            retries: None,
            timeouts: None,
            served: BTreeMap::new(),
        },
    );
    Ok(Some(SeedRun {
        side,
        seed,
        classes,
    }))
}

/// A class's lines as they come.
#[derive(Default)]
struct Lines {
    latencies_us: Vec<u64>,
    succeeded: u64,
    retries: u64,
    timeouts: u64,
    served: BTreeMap<String, u64>,
}

impl Lines {
    fn finish(mut self) -> ClassRun {
        self.latencies_us.sort_unstable();
        let rank = |q: f64| -> u64 {
            let n = self.latencies_us.len();
            if n == 0 {
                return 0;
            }
            let k = ((q * n as f64).ceil() as usize).clamp(1, n);
            self.latencies_us[k - 1]
        };
        ClassRun {
            requests: self.latencies_us.len() as u64,
            succeeded: self.succeeded,
            p50_us: rank(0.50),
            p99_us: rank(0.99),
            retries: Some(self.retries),
            timeouts: Some(self.timeouts),
            served: self.served,
        }
    }
}

/// Reads each outbound line (callers' requests: no health checks, no mirrored copies) into
/// its class, `<caller> → <virtual service>`.
struct Classes<'a> {
    stop: &'a dyn Fn() -> bool,
    lines: BTreeMap<String, Lines>,
}

impl Watcher for Classes<'_> {
    fn observe(&mut self, lines: &[AccessLogEntry]) {
        for l in lines {
            if l.direction != Direction::Outbound || l.health_check || l.shadow {
                continue;
            }
            let service = l.service.as_deref().unwrap_or("-");
            let c = self
                .lines
                .entry(format!("{} → {service}", l.node))
                .or_default();
            let ok = if l.tcp.is_some() {
                l.flags.is_empty()
            } else {
                (200..400).contains(&l.status)
            };
            c.succeeded += u64::from(ok);
            c.latencies_us.push(l.duration.as_micros() as u64);
            c.retries += u64::from(l.attempts.saturating_sub(1));
            c.timeouts += u64::from(l.flags.contains(ResponseFlag::UpstreamTimeout));
            let served = format!(
                "{} → {}",
                l.route.as_deref().unwrap_or("-"),
                l.upstream_node.as_deref().unwrap_or("-")
            );
            *c.served.entry(served).or_default() += 1;
        }
    }

    fn watch(&mut self, _: SimTime, _: &WorldView<'_>, _: Option<&Rollout>) -> Vec<Change> {
        if (self.stop)() {
            vec![Change::Halt]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seed: u64, baseline: f64, noise: f64, candidate: f64) -> Triple {
        Triple {
            seed,
            baseline,
            noise,
            candidate,
        }
    }

    #[test]
    fn the_same_mesh_never_differs_even_with_noise() {
        let j = judge(&[t(0, 99.0, 97.0, 99.0), t(1, 95.0, 99.0, 95.0)]).expect("judged");
        assert_eq!(j.delta, 0.0);
        // rms of (-2, 4) is √10; t(2) = 31.599; over √2.
        assert!((j.floor - 31.599 * 10f64.sqrt() / 2f64.sqrt()).abs() < 1e-9);
        assert!(!j.differs);
        // Without any noise either: 0 is not above 0.
        let j = judge(&[t(0, 100.0, 100.0, 100.0)]).expect("judged");
        assert_eq!(j.floor, 0.0);
        assert!(!j.differs);
    }

    #[test]
    fn a_shift_counts_only_above_t_times_the_noise_spread_over_root_n() {
        // Ten seeds, noise ±1 (rms 1): F = t(10) / √10 = 4.587 / 3.162 = 1.4505.
        let noisy = |shift: f64| -> Vec<Triple> {
            (0..10)
                .map(|s| {
                    let sign = if s % 2 == 0 { 1.0 } else { -1.0 };
                    t(s, 99.0, 99.0 + sign, 99.0 + shift + 0.5 * sign)
                })
                .collect()
        };
        let floor = 4.587 / 10f64.sqrt();
        let j = judge(&noisy(-1.4)).expect("judged");
        assert!((j.floor - floor).abs() < 1e-9, "{}", j.floor);
        assert!((j.delta + 1.4).abs() < 1e-9);
        assert!(!j.differs, "1.4 is within the floor of {floor}");
        let j = judge(&noisy(-1.5)).expect("judged");
        assert!(j.differs, "1.5 is beyond the floor of {floor}");
        // The seed to replay: the largest drop in delta's direction, the first on a tie
        // (odd seeds: -1.5 - 0.5).
        assert_eq!(j.seed, 1);
    }

    #[test]
    fn more_seeds_find_a_shift_fewer_cannot_tell_from_noise() {
        // Candidate 2 lower, noise ±3: with 3 seeds F = 12.924 · 3 / √3 ≈ 22.4, with 60
        // seeds F = 3.460 · 3 / √60 ≈ 1.34.
        let triples = |n: u64| -> Vec<Triple> {
            (0..n)
                .map(|s| {
                    let sign = if s % 2 == 0 { 3.0 } else { -3.0 };
                    t(s, 50.0, 50.0 + sign, 48.0)
                })
                .collect()
        };
        assert!(!judge(&triples(3)).expect("judged").differs);
        assert!(judge(&triples(60)).expect("judged").differs);
    }

    #[test]
    fn a_metric_chance_never_moves_differs_at_any_change() {
        let j = judge(&[t(0, 100.0, 100.0, 99.5), t(1, 100.0, 100.0, 100.0)]).expect("judged");
        assert_eq!(j.floor, 0.0);
        assert!(j.differs);
        assert_eq!(j.seed, 0);
    }

    #[test]
    fn the_critical_values_are_the_tables_and_never_laxer_between_entries() {
        assert_eq!(t_critical(0), 636.619);
        assert_eq!(t_critical(1), 636.619);
        assert_eq!(t_critical(10), 4.587);
        assert_eq!(t_critical(35), 3.646);
        assert_eq!(t_critical(100), 3.460);
        assert_eq!(t_critical(1_000_000), 3.373);
        assert_eq!(t_critical(u64::MAX), 3.291);
        for w in T_9995.windows(2) {
            assert!(w[0].0 < w[1].0 && w[0].1 > w[1].1, "{w:?}");
        }
    }

    #[test]
    fn jobs_go_seed_by_seed_so_a_stopped_diff_holds_whole_seeds() {
        let mut p = plan(2);
        p.first_seed = 7;
        assert_eq!(
            p.jobs(),
            vec![
                (Side::Baseline, 7),
                (Side::Noise, 9),
                (Side::Candidate, 7),
                (Side::Baseline, 8),
                (Side::Noise, 10),
                (Side::Candidate, 8),
            ]
        );
    }

    #[test]
    fn no_seeds_no_judgement() {
        assert_eq!(judge(&[]), None);
    }

    fn run(side: Side, seed: u64, requests: u64, succeeded: u64) -> SeedRun {
        let class = ClassRun {
            requests,
            succeeded,
            p50_us: 1000,
            p99_us: 2000,
            retries: Some(0),
            timeouts: Some(0),
            served: BTreeMap::from([("r → a".to_string(), requests)]),
        };
        SeedRun {
            side,
            seed,
            classes: BTreeMap::from([("gw → svc".to_string(), class)]),
        }
    }

    fn plan(seeds: u64) -> Plan {
        Plan {
            scenario: "s".into(),
            path: "s.yaml".into(),
            against: vec!["m.yaml".into()],
            against_format: "appmesh".into(),
            mode: "wire".into(),
            first_seed: 0,
            seeds,
            duration: None,
        }
    }

    #[test]
    fn aggregation_pairs_seeds_and_ignores_the_order_runs_came_in() {
        let p = plan(2);
        let runs = vec![
            run(Side::Candidate, 1, 100, 90),
            run(Side::Noise, 2, 100, 100),
            run(Side::Baseline, 0, 100, 100),
            run(Side::Noise, 3, 100, 100),
            run(Side::Candidate, 0, 100, 92),
            run(Side::Baseline, 1, 100, 100),
        ];
        let mut reversed = runs.clone();
        reversed.reverse();
        let d = aggregate(&p, runs, false);
        assert_eq!(d, aggregate(&p, reversed, false));
        assert_eq!(d.differences.len(), 1, "{:?}", d.differences);
        let diff = &d.differences[0];
        assert_eq!(diff.metric, "success_rate");
        assert_eq!(diff.delta, -9.0);
        assert_eq!(diff.noise_floor, 0.0);
        assert_eq!(diff.seed, 1);
        assert_eq!(diff.baseline_command, "meshsim run s.yaml --seed 1");
        assert!(d.metrics.iter().any(|m| m.metric == "served % r → a"));
    }

    #[test]
    fn a_seed_missing_a_run_is_left_out() {
        let p = plan(2);
        let runs = vec![
            run(Side::Baseline, 0, 100, 100),
            run(Side::Noise, 2, 100, 100),
            run(Side::Candidate, 0, 100, 100),
            run(Side::Baseline, 1, 100, 100),
            run(Side::Candidate, 1, 100, 50),
        ];
        let d = aggregate(&p, runs, true);
        assert!(d.differences.is_empty());
        assert!(d.metrics.iter().all(|m| m.seeds == 1));
    }
}
