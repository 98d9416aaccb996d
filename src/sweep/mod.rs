//! Sweeps: one scenario run with many seeds (and, with `--vary`, many values of one number),
//! to measure how often its rollout decides wrong. Each run is an ordinary rehearsal
//! ([`crate::rehearse`]); a [`Watcher`] beside the rollout's pilot feeds the same access-log
//! lines to two shadow judges (the Mann–Whitney judge of [`crate::rollout::judge`] and the
//! sequential count test of [`sequential`]), and the run is reduced to a [`SeedRun`] of
//! integers. Aggregation sorts by (value, seed), never by completion, so the figures are the
//! same whatever the parallelism or sharding; shards ([`Part`]) merge into the very same
//! [`Sweep`].
//!
//! Layering: above `rehearse` and `report` (expectations are judged by the report's own
//! code), below the CLI, which owns threads, signals and files.

pub mod render;
pub mod sequential;
pub mod shrink;
pub mod stats;
pub mod vary;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::model::Mesh;
use crate::engine::SimTime;
use crate::proxy::{AccessLogEntry, Direction};
use crate::rehearse::{Watcher, rehearse_watched};
use crate::report::Report;
use crate::rollout::judge::{self, ArmSamples, JudgeConfig, JudgeOutcome, Sample};
use crate::rollout::plan::Metric;
use crate::rollout::{Outcome, Rollout};
use crate::scenario::Check;
use crate::scenario::Scenario;
use crate::sim::{Change, RunOptions, SimError, WorldView};

use self::sequential::CountTest;
use self::stats::{Share, Spread};

/// sweep.json's format version.
pub const SCHEMA_VERSION: u32 = 1;

/// The sequential judge's false-detection bound over the whole rollout.
pub const SEQUENTIAL_ALPHA: f64 = 0.05;

/// How many of the worst runs are listed.
pub const WORST: usize = 5;

/// A rollout's decision, as a sweep counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Promoted.
    Promoted,
    /// Rolled back.
    RolledBack,
    /// Neither by the end of the run (inconclusive, still running, or no rollout).
    Undecided,
}

impl Decision {
    fn of(outcome: Option<Outcome>) -> Decision {
        match outcome {
            Some(Outcome::Promoted) => Decision::Promoted,
            Some(Outcome::RolledBack) => Decision::RolledBack,
            _ => Decision::Undecided,
        }
    }

    /// As written in sweep.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Promoted => "promoted",
            Decision::RolledBack => "rolled_back",
            Decision::Undecided => "undecided",
        }
    }
}

/// A judge's decision in one run, and when (simulated milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judged {
    /// What it decided.
    pub decision: Decision,
    /// When, if it decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
}

/// One run, reduced to integers (so a partial result read back gives the same figures).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedRun {
    /// Index of the `--vary` value (0 without `--vary`).
    pub point: usize,
    /// The seed.
    pub seed: u64,
    /// The rollout's own decision (its thresholds, and its judge if it has one).
    pub thresholds: Judged,
    /// The Mann–Whitney judge, shadowing.
    pub mann_whitney: Judged,
    /// The sequential test, shadowing.
    pub sequential: Judged,
    /// Whether each expectation held, in the scenario's order.
    pub expectations: Vec<bool>,
    /// The users' requests.
    pub users_issued: u64,
    /// Of which succeeded.
    pub users_succeeded: u64,
    /// The users' p99, microseconds.
    pub users_p99_us: u64,
}

impl SeedRun {
    fn success_rate(&self) -> f64 {
        if self.users_issued == 0 {
            100.0
        } else {
            self.users_succeeded as f64 * 100.0 / self.users_issued as f64
        }
    }

    fn failed_expectations(&self) -> usize {
        self.expectations.iter().filter(|h| !**h).count()
    }
}

/// What a sweep is: everything that decides its runs, and nothing that does not (jobs,
/// shards, output places).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Scenario name.
    pub scenario: String,
    /// The scenario file as given on the command line (for replay commands).
    pub path: String,
    /// SHA-256 of the scenario and mesh files, as report.json has it.
    pub config_sha256: String,
    /// `wire`: real HTTP over turmoil (the only backend today).
    pub mode: String,
    /// First seed.
    pub first_seed: u64,
    /// Seeds per value.
    pub seeds: u64,
    /// `--duration` as given, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// `--vary`, as given, and its values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vary: Option<VaryPlan>,
    /// The scenario's expectations, by name.
    pub expectations: Vec<String>,
    /// The right decision, when the scenario says it (`expect: - rollout: ...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub right_decision: Option<Decision>,
}

/// `--vary` in a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaryPlan {
    /// As written.
    pub spec: String,
    /// The path.
    pub path: String,
    /// Each value, as text.
    pub values: Vec<String>,
}

impl Plan {
    /// Every run: (point, seed), value-major, seeds ascending.
    pub fn jobs(&self) -> Vec<(usize, u64)> {
        let points = self.vary.as_ref().map_or(1, |v| v.values.len());
        (0..points)
            .flat_map(|p| (0..self.seeds).map(move |i| (p, self.first_seed.wrapping_add(i))))
            .collect()
    }

    /// The jobs of shard `index` (1-based) of `count`: every `count`-th job, so each shard
    /// gets a like share of every value.
    pub fn shard_jobs(&self, index: u64, count: u64) -> Vec<(usize, u64)> {
        self.jobs()
            .into_iter()
            .enumerate()
            .filter(|(k, _)| *k as u64 % count == index - 1)
            .map(|(_, j)| j)
            .collect()
    }

    /// The command that replays one run.
    pub fn replay(&self, point: usize, seed: u64) -> String {
        let duration = self
            .duration
            .as_ref()
            .map(|d| format!(" --duration {d}"))
            .unwrap_or_default();
        match &self.vary {
            None => format!("meshsim run {} --seed {seed}{duration}", self.path),
            Some(v) => {
                let value = v.values.get(point).map(String::as_str).unwrap_or("?");
                format!(
                    "meshsim sweep {} --first-seed {seed} --seeds 1 --vary '{}={value}..{value}/1'{duration}",
                    self.path, v.path
                )
            }
        }
    }
}

/// The right decision a scenario's expectations name, if one does.
pub fn right_decision(scenario: &Scenario) -> Option<Decision> {
    scenario.expect.iter().find_map(|e| match &e.check {
        Check::Rollout { outcome } => match outcome.as_str() {
            "promoted" => Some(Decision::Promoted),
            "rolled_back" => Some(Decision::RolledBack),
            _ => None,
        },
        _ => None,
    })
}

/// Runs one seed of a loaded scenario. `stop` is asked once per simulated second; when it
/// says so the run is halted and `None` returned (an unfinished run is not counted).
pub fn run_one(
    scenario: &Scenario,
    mesh: &Mesh,
    point: usize,
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
    let mut shadow = Shadow::new(scenario, stop)?;
    let rehearsal = rehearse_watched(scenario, mesh, &options, &mut |_| {}, &mut shadow)?;
    if rehearsal.halted_at.is_some() {
        return Ok(None);
    }
    let report = Report::of_rehearsal(scenario, &rehearsal);
    let thresholds = Decision::of(rehearsal.outcome());
    let at_ms = |s: f64| (s * 1000.0).round() as u64;
    let decided_ms = rehearsal
        .rollout
        .as_ref()
        .and_then(|r| r.decided_at_s)
        .map(at_ms);
    let (mann_whitney, sequential) = shadow.verdicts(thresholds);
    Ok(Some(SeedRun {
        point,
        seed,
        thresholds: Judged {
            decision: thresholds,
            at_ms: decided_ms.filter(|_| thresholds != Decision::Undecided),
        },
        mann_whitney,
        sequential,
        expectations: report.expectations.iter().map(|v| v.held).collect(),
        users_issued: report.requests.issued,
        users_succeeded: report.requests.succeeded,
        users_p99_us: at_ms(report.requests.latency_ms.p99),
    }))
}

/// Counts of one arm in one interval.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    requests: u64,
    errors: u64,
    slow: u64,
}

/// The shadow judges: they read what the rollout's pilot reads (each arm's inbound
/// access-log lines) and decide on their own, without steering. A shadow judge sees the
/// traffic the rollout's own decisions shaped, and only until that decision ends the
/// candidate's traffic; see [`Shadow::verdicts`] for how that is counted.
struct Shadow<'a> {
    stop: &'a dyn Fn() -> bool,
    candidate: String,
    control: String,
    /// A request slower than this is a "slow" event for the sequential test: the bound of
    /// the scenario's latency check, if it has one.
    slow_above: Option<Duration>,
    second: [Counts; 2],
    /// The Mann–Whitney judge's current window: latencies (µs) and counts per arm.
    window: [(Vec<f64>, Counts); 2],
    judge: JudgeConfig,
    look_every_s: u64,
    min_requests: u64,
    errors: CountTest,
    slow: CountTest,
    mw_at: Option<SimTime>,
    seq_at: Option<SimTime>,
    frozen: bool,
}

impl<'a> Shadow<'a> {
    fn new(scenario: &Scenario, stop: &'a dyn Fn() -> bool) -> Result<Shadow<'a>, SimError> {
        let plan = match &scenario.rollout {
            Some(spec) => Some(spec.build().map_err(|errors| {
                SimError::Invalid(
                    errors
                        .into_iter()
                        .map(|e| format!("{}: {}", e.path, e.problem))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?),
            None => None,
        };
        let (candidate, control) = match &plan {
            Some(p) => (
                p.targets.candidate.clone(),
                p.targets
                    .baseline
                    .clone()
                    .unwrap_or(p.targets.stable.clone()),
            ),
            None => (String::new(), String::new()),
        };
        let analysis = plan.as_ref().map(|p| &p.analysis);
        let slow_above = analysis.and_then(|a| {
            a.checks.iter().find_map(|c| match c.metric {
                Metric::Latency(_) if c.threshold.value > 0.0 => {
                    Some(Duration::from_secs_f64(c.threshold.value / 1000.0))
                }
                _ => None,
            })
        });
        // Two count tests at α/2 each: together at most α (Bonferroni).
        let half = SEQUENTIAL_ALPHA / 2.0;
        Ok(Shadow {
            stop,
            candidate,
            control,
            slow_above,
            second: Default::default(),
            window: Default::default(),
            judge: analysis.and_then(|a| a.judge.clone()).unwrap_or_default(),
            look_every_s: analysis.map_or(60, |a| a.interval.as_secs().max(1)),
            min_requests: analysis.map_or(50, |a| a.min_requests),
            errors: CountTest::new(half),
            slow: CountTest::new(half),
            mw_at: None,
            seq_at: None,
            frozen: plan.is_none(),
        })
    }

    /// The shadow judges' decisions. A judge that detected a regression before the rollout
    /// decided rolled back then. One that had not detected it when the rollout decided
    /// (promoted or rolled back) would have let the candidate go on: it is counted as
    /// promoting — for a rollout the thresholds rolled back, that reads "had not found the
    /// regression by then", so its miss rate is an upper bound. When the rollout decided
    /// nothing, neither did a judge that found nothing.
    fn verdicts(&self, thresholds: Decision) -> (Judged, Judged) {
        let of = |at: Option<SimTime>| match at {
            Some(t) => Judged {
                decision: Decision::RolledBack,
                at_ms: Some(t.as_nanos() / 1_000_000),
            },
            None if thresholds == Decision::Undecided => Judged {
                decision: Decision::Undecided,
                at_ms: None,
            },
            None => Judged {
                decision: Decision::Promoted,
                at_ms: None,
            },
        };
        (of(self.mw_at), of(self.seq_at))
    }

    fn arm(&self, node: &str) -> Option<usize> {
        if node == self.candidate {
            Some(0)
        } else if node == self.control {
            Some(1)
        } else {
            None
        }
    }
}

impl Watcher for Shadow<'_> {
    fn observe(&mut self, lines: &[AccessLogEntry]) {
        if self.frozen {
            return;
        }
        for l in lines {
            if l.direction != Direction::Inbound || l.health_check {
                continue;
            }
            let Some(arm) = self.arm(&l.node) else {
                continue;
            };
            let error = l.status == 0 || l.status >= 500;
            let slow = self.slow_above.is_some_and(|b| l.duration > b);
            for c in [&mut self.second[arm], &mut self.window[arm].1] {
                c.requests += 1;
                c.errors += u64::from(error);
                c.slow += u64::from(slow);
            }
            self.window[arm].0.push(l.duration.as_secs_f64() * 1e6);
        }
    }

    fn watch(&mut self, now: SimTime, _: &WorldView<'_>, rollout: Option<&Rollout>) -> Vec<Change> {
        if (self.stop)() {
            return vec![Change::Halt];
        }
        if self.frozen {
            return Vec::new();
        }
        let [cand, ctrl] = std::mem::take(&mut self.second);
        let total = cand.requests + ctrl.requests;
        if cand.requests > 0 && ctrl.requests > 0 {
            let share = cand.requests as f64 / total as f64;
            self.errors
                .add(cand.errors + ctrl.errors, cand.errors, share);
            self.slow.add(cand.slow + ctrl.slow, cand.slow, share);
            if self.seq_at.is_none() && (self.errors.rejects() || self.slow.rejects()) {
                self.seq_at = Some(now);
            }
        }
        let secs = now.as_nanos() / 1_000_000_000;
        if secs > 0 && secs.is_multiple_of(self.look_every_s) {
            let [(lat_c, c), (lat_s, s)] = std::mem::take(&mut self.window);
            let samples = |lat: Vec<f64>, k: Counts| ArmSamples {
                latency: Sample::from_values(lat),
                errors: Sample::binary(k.requests, k.errors),
            };
            let judged = judge::judge(
                &self.judge,
                &samples(lat_s, s),
                &samples(lat_c, c),
                self.min_requests,
            );
            let some_data = c.requests >= self.min_requests && s.requests >= self.min_requests;
            if self.mw_at.is_none() && some_data && judged.outcome == JudgeOutcome::Fail {
                self.mw_at = Some(now);
            }
        }
        if rollout
            .and_then(Rollout::decided_at)
            .is_some_and(|t| t <= now)
        {
            self.frozen = true;
        }
        Vec::new()
    }
}

/// A shard's result: the plan, which share it ran, and its runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// `meshsim-sweep-part`.
    pub kind: String,
    /// The sweep.
    pub plan: Plan,
    /// 1-based shard index.
    pub shard: u64,
    /// Shards in all.
    pub shards: u64,
    /// Whether the shard was stopped before all its runs finished.
    pub partial: bool,
    /// Its runs, by (point, seed).
    pub runs: Vec<SeedRun>,
}

/// Why partial results do not merge.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MergeError {
    /// No parts.
    #[error("no partial results (sweep-part-*.json) found")]
    Empty,
    /// Parts of different sweeps.
    #[error("{0} is a part of another sweep (its plan differs from the first part's)")]
    OtherSweep(String),
    /// Shard counts differ.
    #[error("{0}: shard counts differ")]
    Shards(String),
    /// A run twice.
    #[error("seed {seed} (value {point}) is in two parts")]
    Twice {
        /// Value index.
        point: usize,
        /// Seed.
        seed: u64,
    },
    /// Missing shards.
    #[error("shard(s) {0} of {1} missing")]
    Missing(String, u64),
}

/// Merges named parts into the plan and its runs, in (point, seed) order, and whether any
/// run is missing (a part stopped early, or shards missing: then the result is partial).
pub fn merge(parts: Vec<(String, Part)>) -> Result<(Plan, Vec<SeedRun>, bool), MergeError> {
    let Some((_, first)) = parts.first() else {
        return Err(MergeError::Empty);
    };
    let (plan, shards) = (first.plan.clone(), first.shards);
    let mut seen = BTreeMap::new();
    let mut have = std::collections::BTreeSet::new();
    let mut partial = false;
    for (name, p) in parts {
        if p.plan != plan {
            return Err(MergeError::OtherSweep(name));
        }
        if p.shards != shards {
            return Err(MergeError::Shards(name));
        }
        have.insert(p.shard);
        partial |= p.partial;
        for r in p.runs {
            let key = (r.point, r.seed);
            if seen.insert(key, r).is_some() {
                return Err(MergeError::Twice {
                    point: key.0,
                    seed: key.1,
                });
            }
        }
    }
    let missing: Vec<String> = (1..=shards)
        .filter(|s| !have.contains(s))
        .map(|s| s.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing(missing.join(", "), shards));
    }
    let runs: Vec<SeedRun> = seen.into_values().collect();
    partial |= runs.len() != plan.jobs().len();
    Ok((plan, runs, partial))
}

/// sweep.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// Format version.
    pub schema_version: u32,
    /// What was swept.
    pub plan: Plan,
    /// True when the sweep was stopped (Ctrl-C) or parts are missing: the figures are of
    /// the runs that finished.
    pub partial: bool,
    /// Runs planned.
    pub runs_planned: u64,
    /// Runs finished and counted.
    pub runs_finished: u64,
    /// One entry per value (a single one without `--vary`).
    pub points: Vec<Point>,
    /// Over all values: each judge's wrong decisions, when the scenario names the right one.
    pub judges: Vec<JudgeErrors>,
}

/// The figures at one value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The `--vary` value (null without).
    pub value: Option<String>,
    /// Runs counted.
    pub runs: u64,
    /// The rollout's decisions.
    pub decisions: Decisions,
    /// Seconds from the start of the run to the rollout's decision, over decided runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_decision_s: Option<Spread>,
    /// Per expectation, the share of runs in which it held.
    pub expectations: Vec<ExpectationShare>,
    /// The users' success rate (percent), across runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users_success_rate: Option<Spread>,
    /// The users' p99 (ms), across runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users_p99_ms: Option<Spread>,
    /// Each judge's decisions on these runs.
    pub judges: Vec<JudgeDecisions>,
    /// The worst runs: most expectations failed, then lowest success rate, then highest p99.
    pub worst: Vec<WorstRun>,
}

/// Promoted / rolled back / undecided shares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decisions {
    /// Promoted.
    pub promoted: Share,
    /// Rolled back.
    pub rolled_back: Share,
    /// Neither.
    pub undecided: Share,
}

impl Decisions {
    fn of(d: &[Decision]) -> Decisions {
        let n = d.len() as u64;
        let count = |x| d.iter().filter(|y| **y == x).count() as u64;
        Decisions {
            promoted: Share::of(count(Decision::Promoted), n),
            rolled_back: Share::of(count(Decision::RolledBack), n),
            undecided: Share::of(count(Decision::Undecided), n),
        }
    }
}

/// One expectation's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectationShare {
    /// Its name.
    pub name: String,
    /// Runs in which it held.
    pub held: Share,
}

/// One judge's decisions at one value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgeDecisions {
    /// `thresholds`, `mann_whitney` or `sequential`.
    pub judge: String,
    /// Its decisions.
    pub decisions: Decisions,
    /// Seconds to its decision, over runs it decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_decision_s: Option<Spread>,
}

/// A judge's wrong decisions over the whole sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgeErrors {
    /// The judge.
    pub judge: String,
    /// The right decision (from the scenario's `expect:`).
    pub right: Decision,
    /// Bad candidate promoted (when the right decision is rolling back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub false_promotion: Option<Share>,
    /// Good candidate rolled back (when the right decision is promoting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub false_rollback: Option<Share>,
}

/// One of the worst runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorstRun {
    /// Its seed.
    pub seed: u64,
    /// Expectations that failed, by name.
    pub failed: Vec<String>,
    /// The rollout's decision.
    pub decision: Decision,
    /// Users' success rate, percent.
    pub users_success_rate: f64,
    /// Users' p99, ms.
    pub users_p99_ms: f64,
    /// The command that replays it.
    pub command: String,
}

/// The judges compared, in order.
pub const JUDGES: [&str; 3] = ["thresholds", "mann_whitney", "sequential"];

fn judged(r: &SeedRun, judge: &str) -> Judged {
    match judge {
        "mann_whitney" => r.mann_whitney,
        "sequential" => r.sequential,
        _ => r.thresholds,
    }
}

/// The sweep's figures from its runs (any order in; sorted by (point, seed) here).
pub fn aggregate(plan: &Plan, mut runs: Vec<SeedRun>, partial: bool) -> Sweep {
    runs.sort_by_key(|r| (r.point, r.seed));
    let points_n = plan.vary.as_ref().map_or(1, |v| v.values.len());
    let points = (0..points_n)
        .map(|p| {
            let here: Vec<&SeedRun> = runs.iter().filter(|r| r.point == p).collect();
            point(plan, p, &here)
        })
        .collect();
    let judges = match plan.right_decision {
        None => Vec::new(),
        Some(right) => JUDGES
            .iter()
            .map(|j| {
                let n = runs.len() as u64;
                let count = |d| runs.iter().filter(|r| judged(r, j).decision == d).count() as u64;
                JudgeErrors {
                    judge: j.to_string(),
                    right,
                    false_promotion: (right == Decision::RolledBack)
                        .then(|| Share::of(count(Decision::Promoted), n)),
                    false_rollback: (right == Decision::Promoted)
                        .then(|| Share::of(count(Decision::RolledBack), n)),
                }
            })
            .collect(),
    };
    Sweep {
        schema_version: SCHEMA_VERSION,
        plan: plan.clone(),
        partial,
        runs_planned: plan.jobs().len() as u64,
        runs_finished: runs.len() as u64,
        points,
        judges,
    }
}

fn point(plan: &Plan, p: usize, runs: &[&SeedRun]) -> Point {
    let n = runs.len() as u64;
    let secs = |ms: u64| ms as f64 / 1000.0;
    let judges = JUDGES
        .iter()
        .map(|j| JudgeDecisions {
            judge: j.to_string(),
            decisions: Decisions::of(
                &runs
                    .iter()
                    .map(|r| judged(r, j).decision)
                    .collect::<Vec<_>>(),
            ),
            time_to_decision_s: Spread::of(
                runs.iter()
                    .filter_map(|r| judged(r, j).at_ms.map(secs))
                    .collect(),
            ),
        })
        .collect();
    let mut ranked: Vec<&&SeedRun> = runs.iter().collect();
    ranked.sort_by(|a, b| {
        b.failed_expectations()
            .cmp(&a.failed_expectations())
            .then(a.success_rate().total_cmp(&b.success_rate()))
            .then(b.users_p99_us.cmp(&a.users_p99_us))
            .then(a.seed.cmp(&b.seed))
    });
    let worst = ranked
        .into_iter()
        .take(WORST)
        .map(|r| WorstRun {
            seed: r.seed,
            failed: r
                .expectations
                .iter()
                .zip(&plan.expectations)
                .filter(|(held, _)| !**held)
                .map(|(_, name)| name.clone())
                .collect(),
            decision: r.thresholds.decision,
            users_success_rate: r.success_rate(),
            users_p99_ms: r.users_p99_us as f64 / 1000.0,
            command: plan.replay(p, r.seed),
        })
        .collect();
    Point {
        value: plan.vary.as_ref().and_then(|v| v.values.get(p).cloned()),
        runs: n,
        decisions: Decisions::of(
            &runs
                .iter()
                .map(|r| r.thresholds.decision)
                .collect::<Vec<_>>(),
        ),
        time_to_decision_s: Spread::of(
            runs.iter()
                .filter_map(|r| r.thresholds.at_ms.map(secs))
                .collect(),
        ),
        expectations: plan
            .expectations
            .iter()
            .enumerate()
            .map(|(i, name)| ExpectationShare {
                name: name.clone(),
                held: Share::of(
                    runs.iter()
                        .filter(|r| r.expectations.get(i) == Some(&true))
                        .count() as u64,
                    n,
                ),
            })
            .collect(),
        users_success_rate: Spread::of(runs.iter().map(|r| r.success_rate()).collect()),
        users_p99_ms: Spread::of(
            runs.iter()
                .map(|r| r.users_p99_us as f64 / 1000.0)
                .collect(),
        ),
        judges,
        worst,
    }
}
