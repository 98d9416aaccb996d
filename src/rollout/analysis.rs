//! Analysis: what the world observed of each arm, kept in scrape-sized buckets; what a check
//! sees of it at a given moment through the metrics pipeline; how one measurement is judged;
//! and Argo's per-check limits over a run of measurements.
//!
//! **Visibility.** Data is collected at multiples of the pipeline's scrape interval and each
//! scrape can be queried `lag` after it is taken, so a measurement at `t` sees the scrapes
//! up to the horizon `h = ⌊(t − lag) / scrape⌋ · scrape` and covers the window `[h − w, h)`.
//! Without a pipeline the scrape interval is one simulated second and the lag zero.
//!
//! **One measurement of one check.** No request at all in the window is an **error** (Argo's
//! measurement error, Flagger's "no values found"); fewer than `min_requests` is
//! **inconclusive** (meshsim's minimum, default 50: Flagger, Argo and Kayenta have none, and
//! below it one error moves a success rate by two points); otherwise the value passes or
//! fails its threshold. Errors are responses with a 5xx status and requests that got no
//! response (a reset): what Flagger's `request-success-rate` counts as failures (non-5xx is
//! success), so a 4xx is a success here too.
//!
//! **The judge** is one more check: its value is the score; at or above `pass_score` it
//! passes, at or above `marginal_score` it is inconclusive, below it fails (the mapping of
//! Argo's Kayenta provider).
//!
//! **Argo's limits**, per check over one run: `failed > failureLimit` fails the run,
//! `inconclusive > inconclusiveLimit` makes it inconclusive, `consecutiveErrors >
//! consecutiveErrorLimit` is an error (checked in that order, the last one met wins, as in
//! Argo's `assessMetricFailureInconclusiveOrError`); the run's phase is the worst of its checks
//! (failed, then error, then inconclusive); a run with a count succeeds when the count is
//! reached with no limit crossed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::Arm;
use super::judge::{self, ArmSamples, JudgeConfig, JudgeOutcome, Judgement, Sample};
use super::plan::{Check, Limits, Metric, Pipeline};
use crate::engine::SimTime;
use crate::metrics::Latencies;

/// A batch of what the world saw of one arm: requests that ended at `at` (or in the
/// drain period that ends at `at`).
#[derive(Clone, Debug)]
pub struct Observation {
    /// Whose requests.
    pub arm: Arm,
    /// When they ended.
    pub at: SimTime,
    /// How many.
    pub requests: u64,
    /// How many were errors (5xx or no response).
    pub errors: u64,
    /// Upstream attempts they took (retries included; 0 if unknown).
    pub attempts: u64,
    /// Their latencies (microseconds, as [`crate::metrics`] records them).
    pub latency: Latencies,
}

/// Everything one arm did over a window.
#[derive(Clone, Debug, Default)]
pub struct ArmWindow {
    /// Requests.
    pub requests: u64,
    /// Errors among them.
    pub errors: u64,
    /// Attempts they took.
    pub attempts: u64,
    /// Their latencies.
    pub latency: Latencies,
}

impl ArmWindow {
    fn empty() -> ArmWindow {
        ArmWindow {
            latency: Latencies::coarse(),
            ..ArmWindow::default()
        }
    }

    fn add(&mut self, other: &ArmWindow) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.attempts += other.attempts;
        self.latency.merge(&other.latency);
    }

    /// The judge's view of it.
    pub fn samples(&self) -> ArmSamples {
        ArmSamples {
            latency: Sample::from_latencies(&self.latency),
            errors: Sample::binary(self.requests, self.errors),
        }
    }
}

/// Observed data in buckets of the pipeline's scrape interval.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    resolution: u64,
    buckets: BTreeMap<(Arm, u64), ArmWindow>,
}

impl Store {
    pub fn new(resolution: Duration) -> Store {
        Store {
            resolution: u64::try_from(resolution.as_nanos())
                .unwrap_or(u64::MAX)
                .max(1),
            buckets: BTreeMap::new(),
        }
    }

    fn bucket(&mut self, arm: Arm, at: SimTime) -> &mut ArmWindow {
        self.buckets
            .entry((arm, at.as_nanos() / self.resolution))
            .or_insert_with(ArmWindow::empty)
    }

    pub fn observe(&mut self, o: &Observation) {
        let b = self.bucket(o.arm, o.at);
        b.requests += o.requests;
        b.errors += o.errors;
        b.attempts += o.attempts;
        b.latency.merge(&o.latency);
    }

    pub fn record(&mut self, arm: Arm, at: SimTime, latency: Duration, error: bool, attempts: u32) {
        let b = self.bucket(arm, at);
        b.requests += 1;
        b.errors += u64::from(error);
        b.attempts += u64::from(attempts);
        b.latency.record(latency);
    }

    /// Everything an arm did in buckets that start in `[from, to)`.
    pub fn window(&self, arm: Arm, from: SimTime, to: SimTime) -> ArmWindow {
        let first = from.as_nanos().div_ceil(self.resolution);
        let end = to.as_nanos().div_ceil(self.resolution);
        let mut out = ArmWindow::empty();
        if first < end {
            for (_, w) in self.buckets.range((arm, first)..(arm, end)) {
                out.add(w);
            }
        }
        out
    }

    /// Drops buckets that end before `before`.
    pub fn prune(&mut self, before: SimTime) {
        let keep_from = before.as_nanos() / self.resolution;
        self.buckets.retain(|(_, b), _| *b >= keep_from);
    }
}

/// The window a measurement at `at` covers (see the module docs).
pub fn visible_window(pipeline: Pipeline, window: Duration, at: SimTime) -> (SimTime, SimTime) {
    let scrape = u64::try_from(pipeline.scrape_interval.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1);
    let lag = u64::try_from(pipeline.lag.as_nanos()).unwrap_or(u64::MAX);
    let horizon = at.as_nanos().saturating_sub(lag) / scrape * scrape;
    let w = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
    (
        SimTime::from_duration(Duration::from_nanos(horizon.saturating_sub(w))),
        SimTime::from_duration(Duration::from_nanos(horizon)),
    )
}

/// A measurement's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Within the threshold.
    Pass,
    /// Too little data, or a marginal judge.
    Inconclusive,
    /// No data.
    Error,
    /// Outside the threshold.
    Fail,
}

/// One check measured once.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Verdict.
    pub status: Status,
    /// In the metric's unit (the judge: its score); `None` without data.
    pub value: Option<f64>,
    /// Requests in the window (the judge: the candidate's).
    pub requests: u64,
    /// Why, when it is not a plain pass or fail.
    pub reason: Option<String>,
    /// The judge's detail.
    pub judgement: Option<Judgement>,
}

impl Measured {
    fn without_value(status: Status, requests: u64, reason: String) -> Measured {
        Measured {
            status,
            value: None,
            requests,
            reason: Some(reason),
            judgement: None,
        }
    }
}

fn data_gate(requests: u64, min_requests: u64, whose: &str) -> Option<Measured> {
    if requests == 0 {
        return Some(Measured::without_value(
            Status::Error,
            0,
            format!("no data: the {whose} had no request in the window"),
        ));
    }
    if requests < min_requests {
        return Some(Measured::without_value(
            Status::Inconclusive,
            requests,
            format!("{requests} requests of the {whose}, fewer than the {min_requests} needed"),
        ));
    }
    None
}

/// Measures one threshold check on its arm's window.
pub fn measure_check(check: &Check, data: &ArmWindow, min_requests: u64) -> Measured {
    if let Some(m) = data_gate(data.requests, min_requests, check.arm.as_str()) {
        return m;
    }
    let requests = data.requests as f64;
    let value = match check.metric {
        Metric::SuccessRate => 100.0 * (requests - data.errors as f64) / requests,
        Metric::Latency(q) => data.latency.quantile_ms(q),
        Metric::Errors => data.errors as f64,
        Metric::RetryAmplification => {
            if data.attempts == 0 {
                return Measured::without_value(
                    Status::Error,
                    data.requests,
                    "no data: no attempt counts were observed".into(),
                );
            }
            data.attempts as f64 / requests
        }
    };
    Measured {
        status: if check.threshold.admits(value) {
            Status::Pass
        } else {
            Status::Fail
        },
        value: Some(value),
        requests: data.requests,
        reason: None,
        judgement: None,
    }
}

/// Runs the judge on the candidate against the control.
pub fn measure_judge(
    config: &JudgeConfig,
    control: &ArmWindow,
    candidate: &ArmWindow,
    control_arm: Arm,
    min_requests: u64,
) -> Measured {
    if let Some(m) = data_gate(candidate.requests, min_requests, Arm::Candidate.as_str()) {
        return m;
    }
    if let Some(mut m) = data_gate(control.requests, min_requests, control_arm.as_str()) {
        m.requests = candidate.requests;
        return m;
    }
    let j = judge::judge(
        config,
        &control.samples(),
        &candidate.samples(),
        min_requests,
    );
    let status = match j.outcome {
        JudgeOutcome::Pass => Status::Pass,
        JudgeOutcome::Marginal => Status::Inconclusive,
        JudgeOutcome::Fail => Status::Fail,
    };
    Measured {
        status,
        value: Some(j.score),
        requests: candidate.requests,
        reason: (status == Status::Inconclusive).then(|| "marginal score".to_string()),
        judgement: Some(j),
    }
}

/// How an Argo-style run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunPhase {
    /// More measurements to come.
    Running,
    /// Count reached, no limit crossed.
    Successful,
    /// A check crossed its failure limit (index into the run's checks).
    Failed(usize),
    /// A check crossed its consecutive-error limit.
    Error(usize),
    /// A check crossed its inconclusive limit.
    Inconclusive(usize),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    failed: u32,
    inconclusive: u32,
    consecutive_errors: u32,
}

/// One Argo analysis run: counters per check.
#[derive(Clone, Debug)]
pub(crate) struct Run {
    counters: Vec<Counters>,
    measurements: u32,
    count: Option<u32>,
}

impl Run {
    pub fn new(checks: usize, count: Option<u32>) -> Run {
        Run {
            counters: vec![Counters::default(); checks],
            measurements: 0,
            count,
        }
    }

    /// Counts one measurement of every check and assesses the run.
    pub fn record(&mut self, results: &[Measured], limits: Limits) -> RunPhase {
        self.measurements += 1;
        let mut worst: Option<(u8, RunPhase)> = None;
        for (i, (c, m)) in self.counters.iter_mut().zip(results).enumerate() {
            match m.status {
                Status::Pass => c.consecutive_errors = 0,
                Status::Fail => {
                    c.failed += 1;
                    c.consecutive_errors = 0;
                }
                Status::Inconclusive => {
                    c.inconclusive += 1;
                    c.consecutive_errors = 0;
                }
                Status::Error => c.consecutive_errors += 1,
            }
            let mut phase = None;
            if limits.failure.is_some_and(|l| c.failed > l) {
                phase = Some((3, RunPhase::Failed(i)));
            }
            if c.inconclusive > limits.inconclusive {
                phase = Some((1, RunPhase::Inconclusive(i)));
            }
            if c.consecutive_errors > limits.consecutive_errors {
                phase = Some((2, RunPhase::Error(i)));
            }
            if let Some((rank, p)) = phase
                && worst.is_none_or(|(r, _)| rank > r)
            {
                worst = Some((rank, p));
            }
        }
        match (worst, self.count) {
            (Some((_, p)), _) => p,
            (None, Some(n)) if self.measurements >= n => RunPhase::Successful,
            _ => RunPhase::Running,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::threshold::{Quantity, RawBound, Threshold};

    fn check(metric: Metric, q: Quantity, bound: &str) -> Check {
        Check {
            name: "c".into(),
            arm: Arm::Candidate,
            metric,
            threshold: Threshold::parse(&RawBound::Text(bound.into()), q).expect("bound"),
        }
    }

    fn window(requests: u64, errors: u64, attempts: u64, ms: u64) -> ArmWindow {
        let mut w = ArmWindow::empty();
        w.requests = requests;
        w.errors = errors;
        w.attempts = attempts;
        for _ in 0..requests {
            w.latency.record(Duration::from_millis(ms));
        }
        w
    }

    #[test]
    fn the_pipeline_hides_what_was_not_scraped_yet() {
        let at = SimTime::from_millis(100_000);
        // Direct: whole seconds, no lag.
        let (f, t) = visible_window(Pipeline::DIRECT, Duration::from_secs(60), at);
        assert_eq!((f, t), (SimTime::from_millis(40_000), at));
        // Prometheus: 15 s scrapes; 100 s → the 90 s scrape.
        let (f, t) = visible_window(Pipeline::PROMETHEUS, Duration::from_secs(60), at);
        assert_eq!(
            (f, t),
            (SimTime::from_millis(30_000), SimTime::from_millis(90_000))
        );
        // CloudWatch: 60 s periods, visible 60 s later: at 100 s only [−20 s, 0) → nothing.
        let (_, t) = visible_window(Pipeline::CLOUDWATCH, Duration::from_secs(60), at);
        assert_eq!(t, SimTime::ZERO);
        let (f, t) = visible_window(
            Pipeline::CLOUDWATCH,
            Duration::from_secs(60),
            SimTime::from_millis(125_000),
        );
        assert_eq!((f, t), (SimTime::ZERO, SimTime::from_millis(60_000)));
    }

    #[test]
    fn buckets_sum_into_windows_and_prune() {
        let mut s = Store::new(Duration::from_secs(15));
        let mut l = Latencies::coarse();
        l.record(Duration::from_millis(5));
        for sec in [1, 14, 15, 29, 30] {
            s.observe(&Observation {
                arm: Arm::Candidate,
                at: SimTime::from_millis(sec * 1000),
                requests: 1,
                errors: u64::from(sec == 29),
                attempts: 2,
                latency: l.clone(),
            });
        }
        let w = s.window(Arm::Candidate, SimTime::ZERO, SimTime::from_millis(30_000));
        assert_eq!(
            (w.requests, w.errors, w.attempts, w.latency.count()),
            (4, 1, 8, 4)
        );
        assert_eq!(
            s.window(Arm::Stable, SimTime::ZERO, SimTime::NEVER)
                .requests,
            0
        );
        s.prune(SimTime::from_millis(30_000));
        assert_eq!(
            s.window(Arm::Candidate, SimTime::ZERO, SimTime::NEVER)
                .requests,
            1
        );
    }

    #[test]
    fn a_measurement_needs_data_then_compares() {
        let rate = check(Metric::SuccessRate, Quantity::Rate, ">= 99%");
        assert_eq!(
            measure_check(&rate, &window(0, 0, 0, 5), 50).status,
            Status::Error
        );
        assert_eq!(
            measure_check(&rate, &window(49, 0, 49, 5), 50).status,
            Status::Inconclusive
        );
        let m = measure_check(&rate, &window(200, 3, 200, 5), 50);
        assert_eq!((m.status, m.value), (Status::Fail, Some(98.5)));
        let p99 = check(Metric::Latency(0.99), Quantity::Latency, "<= 10ms");
        let m = measure_check(&p99, &window(100, 0, 100, 5), 50);
        assert_eq!(m.status, Status::Pass);
        assert!((m.value.expect("value") - 5.0).abs() < 0.1);
        let amp = check(Metric::RetryAmplification, Quantity::Ratio, "<= 1.5");
        assert_eq!(
            measure_check(&amp, &window(100, 0, 0, 5), 50).status,
            Status::Error
        );
        let m = measure_check(&amp, &window(100, 0, 180, 5), 50);
        assert_eq!((m.status, m.value), (Status::Fail, Some(1.8)));
        let errors = check(Metric::Errors, Quantity::Count, "<= 2");
        assert_eq!(
            measure_check(&errors, &window(100, 2, 100, 5), 50).status,
            Status::Pass
        );
    }

    fn status(s: Status) -> Measured {
        Measured {
            status: s,
            value: None,
            requests: 0,
            reason: None,
            judgement: None,
        }
    }

    #[test]
    fn argo_limits_count_per_check() {
        let limits = Limits {
            failure: Some(1),
            inconclusive: 0,
            consecutive_errors: 2,
        };
        // Failures: the second one crosses failure_limit 1; passes in between do not reset.
        let mut r = Run::new(2, None);
        assert_eq!(
            r.record(&[status(Status::Fail), status(Status::Pass)], limits),
            RunPhase::Running
        );
        assert_eq!(
            r.record(&[status(Status::Pass), status(Status::Pass)], limits),
            RunPhase::Running
        );
        assert_eq!(
            r.record(&[status(Status::Fail), status(Status::Pass)], limits),
            RunPhase::Failed(0)
        );
        // Errors: consecutive only; a success resets them.
        let mut r = Run::new(1, Some(10));
        for _ in 0..2 {
            assert_eq!(
                r.record(&[status(Status::Error)], limits),
                RunPhase::Running
            );
        }
        assert_eq!(r.record(&[status(Status::Pass)], limits), RunPhase::Running);
        for _ in 0..2 {
            assert_eq!(
                r.record(&[status(Status::Error)], limits),
                RunPhase::Running
            );
        }
        assert_eq!(
            r.record(&[status(Status::Error)], limits),
            RunPhase::Error(0)
        );
        // Inconclusive: the first one crosses limit 0; failure outranks it at once.
        let mut r = Run::new(2, None);
        assert_eq!(
            r.record(
                &[status(Status::Inconclusive), status(Status::Pass)],
                limits
            ),
            RunPhase::Inconclusive(0)
        );
        let mut r = Run::new(2, None);
        let no_failures = Limits {
            failure: Some(0),
            ..limits
        };
        assert_eq!(
            r.record(
                &[status(Status::Inconclusive), status(Status::Fail)],
                no_failures
            ),
            RunPhase::Failed(1)
        );
        // A count reached with nothing crossed succeeds; no limit with failure -1.
        let mut r = Run::new(1, Some(2));
        let off = Limits {
            failure: None,
            ..limits
        };
        assert_eq!(r.record(&[status(Status::Fail)], off), RunPhase::Running);
        assert_eq!(r.record(&[status(Status::Fail)], off), RunPhase::Successful);
    }
}
