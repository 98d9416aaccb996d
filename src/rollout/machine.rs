//! The rollout state machine: walks a [`Plan`]'s steps on simulated time, measures when a
//! step, a gate or the background run asks, and decides. Sans-IO: the caller pushes
//! observations, calls [`Rollout::poll`] at [`Rollout::poll_timeout`] (or more often), and
//! carries out the actions.
//!
//! At one instant, events are handled in a fixed order: the start, the background
//! measurement, the step's timer, then scale-downs; so a background failure due at the very
//! moment a pause ends rolls back rather than advances.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Arm;
use super::analysis::{
    ArmWindow, Measured, Observation, Run, RunPhase, Status, Store, measure_check, measure_judge,
    visible_window,
};
use super::build::SpecError;
use super::plan::{Plan, Step, Targets};
use super::route::{Action, Outcome, RouteConfig, Verdict, Weights};
use super::spec::RolloutSpec;
use super::timeline::{
    ChangeRecord, CheckRecord, RolloutReport, RunKind, ScaleDownRecord, StepRecord, secs,
};
use crate::engine::SimTime;

/// The background run and when it measures next.
#[derive(Clone, Debug)]
struct Background {
    run: Run,
    next: SimTime,
}

/// Why a gate last failed, kept for the rollback it may lead to a tick later.
#[derive(Clone, Debug)]
struct GateFailure {
    item: usize,
    value: Option<f64>,
    at: SimTime,
}

/// One thing a measurement evaluates: a check, or the judge.
#[derive(Clone, Debug)]
struct Item {
    name: String,
    arm: Arm,
    threshold: String,
}

/// A rollout in progress (see the [module](super) docs for how the world drives it).
#[derive(Clone, Debug)]
pub struct Rollout {
    plan: Plan,
    items: Vec<Item>,
    store: Store,
    start: SimTime,
    started: bool,
    index: usize,
    step_timer: Option<SimTime>,
    inline: Option<Run>,
    background: Option<Background>,
    gate_failed: u32,
    gate_failure: Option<GateFailure>,
    desired: RouteConfig,
    preview: bool,
    scale_downs: Vec<(SimTime, String)>,
    verdict: Option<Verdict>,
    decided_at: Option<SimTime>,
    retention: Duration,
    report: RolloutReport,
}

impl Rollout {
    /// A rollout of a validated plan; nothing happens before `plan.start`.
    pub fn new(plan: Plan) -> Rollout {
        let a = &plan.analysis;
        let mut items: Vec<Item> = a
            .checks
            .iter()
            .map(|c| Item {
                name: c.name.clone(),
                arm: c.arm,
                threshold: c.threshold.text.clone(),
            })
            .collect();
        if let Some(j) = &a.judge {
            items.push(Item {
                name: "judge".into(),
                arm: Arm::Candidate,
                threshold: format!(
                    "score >= {} (marginal {})",
                    crate::model::threshold::decimal(j.pass_score, 6),
                    crate::model::threshold::decimal(j.marginal_score, 6)
                ),
            });
        }
        let longest_interval = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Gate { interval, .. } => Some(*interval),
                _ => None,
            })
            .fold(a.interval, Duration::max);
        let retention = a.window.unwrap_or(longest_interval).max(longest_interval)
            + a.pipeline.lag
            + 2 * a.pipeline.scrape_interval;
        let report = RolloutReport {
            strategy: plan.strategy,
            preset: plan.preset.map(|p| p.as_str()),
            outcome: Outcome::Running,
            decided_at_s: None,
            check: None,
            value: None,
            threshold: None,
            detected_at_s: None,
            time_to_detect_s: None,
            failed_step: None,
            reason: None,
            steps: Vec::new(),
            changes: Vec::new(),
            checks: Vec::new(),
            scale_downs: Vec::new(),
        };
        Rollout {
            store: Store::new(a.pipeline.scrape_interval),
            start: SimTime::from_duration(plan.start),
            items,
            started: false,
            index: 0,
            step_timer: None,
            inline: None,
            background: None,
            gate_failed: 0,
            gate_failure: None,
            desired: RouteConfig::initial(),
            preview: false,
            scale_downs: Vec::new(),
            verdict: None,
            decided_at: None,
            retention,
            report,
            plan,
        }
    }

    /// Validates a section and starts a rollout of it.
    pub fn from_spec(spec: &RolloutSpec) -> Result<Rollout, Vec<SpecError>> {
        spec.build().map(Rollout::new)
    }

    /// The plan it runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The route and nodes it drives.
    pub fn targets(&self) -> &Targets {
        &self.plan.targets
    }

    /// Which arm a virtual node is (`None`: not part of the rollout).
    pub fn arm_of(&self, node: &str) -> Option<Arm> {
        self.plan.targets.arm_of(node)
    }

    /// The route as the rollout currently wants it.
    pub fn desired(&self) -> &RouteConfig {
        &self.desired
    }

    /// The verdict, once decided.
    pub fn verdict(&self) -> Option<&Verdict> {
        self.verdict.as_ref()
    }

    /// When the verdict was reached.
    pub fn decided_at(&self) -> Option<SimTime> {
        self.decided_at
    }

    /// The timeline so far.
    pub fn report(&self) -> &RolloutReport {
        &self.report
    }

    /// Adds a batch of observed requests. Push everything that ended before `now` before
    /// calling [`poll`](Self::poll)`(now)`: a measurement only sees what it was given.
    pub fn observe(&mut self, o: &Observation) {
        self.store.observe(o);
    }

    /// Adds one observed request of an arm that ended at `at`.
    pub fn record(&mut self, arm: Arm, at: SimTime, latency: Duration, error: bool, attempts: u32) {
        self.store.record(arm, at, latency, error, attempts);
    }

    /// When `poll` next has something to do (`None`: nothing ever again, or only a person
    /// could move it on).
    pub fn poll_timeout(&self) -> Option<SimTime> {
        let mut next: Option<SimTime> = None;
        let mut consider = |t: Option<SimTime>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if !self.started {
            consider(Some(self.start));
        } else if self.verdict.is_none() {
            consider(self.step_timer);
            consider(self.background.as_ref().map(|b| b.next));
        }
        for (t, _) in &self.scale_downs {
            consider(Some(*t));
        }
        next
    }

    /// Runs everything due up to `now`, in time order; each action comes with the instant it
    /// was decided (earlier than `now` when the caller polls late).
    pub fn poll(&mut self, now: SimTime) -> Vec<(SimTime, Action)> {
        let mut out = Vec::new();
        while let Some(t) = self.poll_timeout() {
            if t > now {
                break;
            }
            self.fire(t, &mut out);
        }
        let horizon = SimTime::from_duration(now.since_start().saturating_sub(self.retention));
        self.store.prune(horizon);
        out
    }

    /// The run is over at `now`: everything due is run, and a rollout still undecided becomes
    /// inconclusive (scale-downs not yet due are dropped).
    pub fn finish(&mut self, now: SimTime) -> Vec<(SimTime, Action)> {
        let mut out = self.poll(now);
        if self.verdict.is_none() {
            let reason = if !self.started {
                "the run ended before the rollout started".to_string()
            } else {
                let step = &self.plan.steps[self.index];
                match step {
                    Step::Pause(None) => format!(
                        "paused at step {} until promoted by hand, and the run ended",
                        self.index
                    ),
                    _ => format!(
                        "the run ended during step {} ({step}) before a decision",
                        self.index
                    ),
                }
            };
            self.decide(now, Verdict::Inconclusive { reason }, &mut out);
        }
        self.scale_downs.clear();
        out
    }

    fn fire(&mut self, t: SimTime, out: &mut Vec<(SimTime, Action)>) {
        if !self.started {
            self.started = true;
            self.enter(0, t, out);
            return;
        }
        if self.verdict.is_none() && self.background.as_ref().is_some_and(|b| b.next == t) {
            self.background_measure(t, out);
        }
        if self.verdict.is_none() && self.step_timer == Some(t) {
            self.step_timer = None;
            self.on_step_timer(t, out);
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.scale_downs)
            .into_iter()
            .partition(|(at, _)| *at <= t);
        self.scale_downs = later;
        for (at, node) in due {
            self.report.scale_downs.push(ScaleDownRecord {
                at_s: secs(at),
                node: node.clone(),
            });
            out.push((at, Action::ScaleDown(node)));
        }
    }

    /// Enters step `i` at `t` and runs every step that takes no time.
    fn enter(&mut self, mut i: usize, t: SimTime, out: &mut Vec<(SimTime, Action)>) {
        loop {
            self.index = i;
            let step = self.plan.steps[i].clone();
            self.report.steps.push(StepRecord {
                index: i,
                kind: step.kind(),
                step: step.to_string(),
                started_at_s: secs(t),
                ended_at_s: None,
                weights: self.desired.weights,
            });
            self.maybe_start_background(t);
            let with_baseline = self.plan.targets.baseline.is_some();
            match step {
                Step::SetWeight(w) => {
                    let mut next = self.desired.clone();
                    next.weights = Weights::split(w, with_baseline);
                    self.set_route(t, next, out);
                }
                Step::SetMirror(p) => {
                    let mut next = self.desired.clone();
                    next.mirror_percent = p;
                    self.set_route(t, next, out);
                }
                Step::SetHeaderRoute(m) => {
                    let mut next = self.desired.clone();
                    next.header_route = m;
                    self.set_route(t, next, out);
                }
                Step::SetPreview(on) => self.set_preview(t, on, out),
                Step::Pause(Some(d)) if !d.is_zero() => {
                    self.step_timer = Some(t + d);
                    return;
                }
                Step::Pause(Some(_)) => {}
                Step::Pause(None) => return,
                Step::PauseSinceStart(d) => {
                    let until = self.start + d;
                    if until > t {
                        self.step_timer = Some(until);
                        return;
                    }
                }
                Step::Analysis { count } => {
                    self.inline = Some(Run::new(self.items.len(), Some(count)));
                    self.step_timer = Some(t + self.plan.analysis.initial_delay);
                    return;
                }
                Step::Gate { interval, .. } => {
                    self.step_timer = Some(t + tick(interval));
                    return;
                }
                Step::Promote => {
                    let next = RouteConfig {
                        weights: Weights::split(100, with_baseline),
                        header_route: None,
                        mirror_percent: 0,
                    };
                    self.set_route(t, next, out);
                    self.set_preview(t, false, out);
                    self.decide(t, Verdict::Promoted, out);
                    return;
                }
            }
            self.end_step(t);
            i += 1;
        }
    }

    fn end_step(&mut self, t: SimTime) {
        if let Some(r) = self.report.steps.last_mut()
            && r.ended_at_s.is_none()
        {
            r.ended_at_s = Some(secs(t));
            r.weights = self.desired.weights;
        }
    }

    fn advance(&mut self, t: SimTime, out: &mut Vec<(SimTime, Action)>) {
        self.end_step(t);
        self.enter(self.index + 1, t, out);
    }

    fn maybe_start_background(&mut self, t: SimTime) {
        if self.background.is_none()
            && let Some(from) = self.plan.analysis.background
            && self.index >= from
        {
            self.background = Some(Background {
                run: Run::new(self.items.len(), None),
                next: t + self.plan.analysis.initial_delay,
            });
        }
    }

    fn on_step_timer(&mut self, t: SimTime, out: &mut Vec<(SimTime, Action)>) {
        match self.plan.steps[self.index].clone() {
            Step::Analysis { .. } => {
                let window = self.run_window();
                let results = self.measure(t, window, RunKind::Step);
                let limits = self.plan.analysis.limits;
                let Some(run) = self.inline.as_mut() else {
                    return;
                };
                let phase = run.record(&results, limits);
                match phase {
                    RunPhase::Running => {
                        self.step_timer = Some(t + tick(self.plan.analysis.interval));
                    }
                    RunPhase::Successful => {
                        self.inline = None;
                        self.advance(t, out);
                    }
                    p => {
                        self.inline = None;
                        self.run_ended(t, p, &results, out);
                    }
                }
            }
            Step::Gate {
                interval,
                threshold,
            } => {
                if self.gate_failed >= threshold {
                    let f = self.gate_failure.clone();
                    let item = f.as_ref().map_or(0, |f| f.item);
                    let (name, limit) = self
                        .items
                        .get(item)
                        .map_or(("gate".to_string(), String::new()), |i| {
                            (i.name.clone(), i.threshold.clone())
                        });
                    let verdict = Verdict::RolledBack {
                        check: name,
                        value: f.as_ref().and_then(|f| f.value),
                        threshold: limit,
                        detected_at: f.as_ref().map_or(t, |f| f.at),
                        step: self.index,
                        cause: format!(
                            "failed checks {} >= threshold {threshold}",
                            self.gate_failed
                        ),
                    };
                    self.rollback(t, verdict, out);
                    return;
                }
                let window = self.plan.analysis.window.unwrap_or(interval);
                let results = self.measure(t, window, RunKind::Gate);
                match worst(&results) {
                    None => self.advance(t, out),
                    Some(item) => {
                        self.gate_failed += 1;
                        self.gate_failure = Some(GateFailure {
                            item,
                            value: results[item].value,
                            at: t,
                        });
                        self.step_timer = Some(t + tick(interval));
                    }
                }
            }
            // Pauses.
            _ => self.advance(t, out),
        }
    }

    fn background_measure(&mut self, t: SimTime, out: &mut Vec<(SimTime, Action)>) {
        let window = self.run_window();
        let results = self.measure(t, window, RunKind::Background);
        let limits = self.plan.analysis.limits;
        let interval = self.plan.analysis.interval;
        let Some(bg) = self.background.as_mut() else {
            return;
        };
        let phase = bg.run.record(&results, limits);
        bg.next = t + tick(interval);
        if !matches!(phase, RunPhase::Running | RunPhase::Successful) {
            self.run_ended(t, phase, &results, out);
        }
    }

    fn run_window(&self) -> Duration {
        self.plan
            .analysis
            .window
            .unwrap_or(self.plan.analysis.interval)
    }

    /// A run crossed a limit: Argo aborts on Failed and Error, pauses on Inconclusive.
    fn run_ended(
        &mut self,
        t: SimTime,
        phase: RunPhase,
        results: &[Measured],
        out: &mut Vec<(SimTime, Action)>,
    ) {
        let limits = self.plan.analysis.limits;
        let (item, cause) = match phase {
            RunPhase::Failed(i) => (
                i,
                format!(
                    "failed measurements > failure_limit ({})",
                    limits.failure.unwrap_or(0)
                ),
            ),
            RunPhase::Error(i) => (
                i,
                format!(
                    "consecutive errors > consecutive_error_limit ({})",
                    limits.consecutive_errors
                ),
            ),
            RunPhase::Inconclusive(i) => (
                i,
                format!(
                    "inconclusive measurements > inconclusive_limit ({})",
                    limits.inconclusive
                ),
            ),
            RunPhase::Running | RunPhase::Successful => return,
        };
        let it = self.items[item].clone();
        if let RunPhase::Inconclusive(_) = phase {
            let reason = format!(
                "check `{}`: {cause}; Argo pauses for a person here, and none came",
                it.name
            );
            self.decide(t, Verdict::Inconclusive { reason }, out);
            return;
        }
        let verdict = Verdict::RolledBack {
            check: it.name,
            value: results.get(item).and_then(|m| m.value),
            threshold: it.threshold,
            detected_at: t,
            step: self.index,
            cause,
        };
        self.rollback(t, verdict, out);
    }

    /// Measures every item at `t` over a window of `window`, and records the results.
    fn measure(&mut self, t: SimTime, window: Duration, run: RunKind) -> Vec<Measured> {
        let a = &self.plan.analysis;
        let (from, to) = visible_window(a.pipeline, window, t);
        let control_arm = if self.plan.targets.baseline.is_some() {
            Arm::Baseline
        } else {
            Arm::Stable
        };
        let mut arms: Vec<Arm> = a.checks.iter().map(|c| c.arm).collect();
        if a.judge.is_some() {
            arms.extend([control_arm, Arm::Candidate]);
        }
        let windows: BTreeMap<Arm, ArmWindow> = arms
            .into_iter()
            .map(|arm| (arm, self.store.window(arm, from, to)))
            .collect();
        let empty = ArmWindow::default();
        let of = |arm: Arm| windows.get(&arm).unwrap_or(&empty);
        let mut results: Vec<Measured> = a
            .checks
            .iter()
            .map(|c| measure_check(c, of(c.arm), a.min_requests))
            .collect();
        if let Some(j) = &a.judge {
            results.push(measure_judge(
                j,
                of(control_arm),
                of(Arm::Candidate),
                control_arm,
                a.min_requests,
            ));
        }
        for (item, m) in self.items.iter().zip(&results) {
            self.report.checks.push(CheckRecord {
                at_s: secs(t),
                step: self.index,
                run,
                check: item.name.clone(),
                arm: item.arm,
                status: m.status,
                value: m.value,
                threshold: item.threshold.clone(),
                requests: m.requests,
                window_from_s: secs(from),
                window_to_s: secs(to),
                reason: m.reason.clone(),
                judgement: m.judgement.clone(),
            });
        }
        results
    }

    fn set_route(&mut self, t: SimTime, next: RouteConfig, out: &mut Vec<(SimTime, Action)>) {
        if next == self.desired {
            return;
        }
        if next.weights != self.desired.weights {
            out.push((t, Action::SetWeights(next.weights)));
        }
        if next.header_route != self.desired.header_route {
            out.push((t, Action::SetHeaderRoute(next.header_route.clone())));
        }
        if next.mirror_percent != self.desired.mirror_percent {
            out.push((t, Action::SetMirror(next.mirror_percent)));
        }
        self.desired = next;
        self.record_change(t);
    }

    fn set_preview(&mut self, t: SimTime, on: bool, out: &mut Vec<(SimTime, Action)>) {
        if self.preview != on {
            self.preview = on;
            out.push((t, Action::SetPreview(on)));
            self.record_change(t);
        }
    }

    fn record_change(&mut self, t: SimTime) {
        let change = ChangeRecord {
            at_s: secs(t),
            weights: self.desired.weights,
            header_route: self.desired.header_route.clone(),
            mirror_percent: self.desired.mirror_percent,
            preview: self.preview,
        };
        match self.report.changes.last_mut() {
            Some(last) if last.at_s == change.at_s => *last = change,
            _ => self.report.changes.push(change),
        }
    }

    fn rollback(&mut self, t: SimTime, verdict: Verdict, out: &mut Vec<(SimTime, Action)>) {
        self.set_route(t, RouteConfig::initial(), out);
        self.set_preview(t, false, out);
        self.decide(t, verdict, out);
        let at = t + self.plan.abort_scale_down_delay;
        let targets = &self.plan.targets;
        let nodes = std::iter::once(targets.candidate.clone()).chain(targets.baseline.clone());
        self.scale_downs.extend(nodes.map(|n| (at, n)));
    }

    fn decide(&mut self, t: SimTime, verdict: Verdict, out: &mut Vec<(SimTime, Action)>) {
        if self.verdict.is_some() {
            return;
        }
        self.end_step(t);
        self.step_timer = None;
        self.inline = None;
        self.report.set_verdict(&verdict, t);
        if verdict == Verdict::Promoted {
            let at = t + self.plan.scale_down_delay;
            let targets = &self.plan.targets;
            let nodes = std::iter::once(targets.stable.clone()).chain(targets.baseline.clone());
            self.scale_downs.extend(nodes.map(|n| (at, n)));
        }
        self.verdict = Some(verdict.clone());
        self.decided_at = Some(t);
        out.push((t, Action::Verdict(verdict)));
    }
}

/// A period to wait: never zero, so a hand-made [`Plan`] with a zero interval cannot stall
/// `poll` at one instant (`build` refuses zero intervals).
fn tick(d: Duration) -> Duration {
    d.max(Duration::from_nanos(1))
}

/// The item that failed a gate, worst first (fail, then error, then inconclusive); `None` if
/// every item passed.
fn worst(results: &[Measured]) -> Option<usize> {
    results
        .iter()
        .enumerate()
        .filter(|(_, m)| m.status != Status::Pass)
        .max_by(|(i, a), (j, b)| a.status.cmp(&b.status).then(j.cmp(i)))
        .map(|(i, _)| i)
}
