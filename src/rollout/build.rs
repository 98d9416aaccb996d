//! From the section as written to a [`Plan`]: defaults filled in, every rule checked, every
//! problem returned at once with its field path (relative to the `rollout:` section), so the
//! scenario loader can place each one in the file with `Sink::at_path`.

use std::collections::BTreeSet;
use std::time::Duration;

use super::Arm;
use super::judge::{Direction, JudgeConfig};
use super::plan::{
    Analysis, Check, Limits, Metric, Pipeline, Plan, Propagation, Step, StrategyKind, Targets,
    defaults,
};
use super::spec::{
    AnalysisSpec, CheckSpec, JudgeMetricName, JudgeSpec, PipelineName, PipelineSpec, RolloutSpec,
    StrategySpec,
};
use super::{ab_test, blue_green, canary, mirror};
use crate::model::duration::HumanDuration;
use crate::model::threshold::{Quantity, RawBound, Threshold};

/// A problem in a `rollout:` section, at a field path relative to the section
/// (`strategy.canary.steps[2].set_weight`; empty for the section itself).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}{problem}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct SpecError {
    /// Dotted field path, `[i]` for list items.
    pub path: String,
    /// What is wrong.
    pub problem: Problem,
}

impl SpecError {
    /// The same problem seen from a document that holds the section at `prefix` (`rollout`).
    pub fn under(mut self, prefix: &str) -> SpecError {
        self.path = match (self.path.is_empty(), self.path.starts_with('[')) {
            (true, _) => prefix.to_string(),
            (false, true) => format!("{prefix}{}", self.path),
            (false, false) => format!("{prefix}.{}", self.path),
        };
        self
    }
}

/// What is wrong with a field.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Problem {
    /// A name or list left empty.
    #[error("{0} cannot be empty")]
    Empty(&'static str),
    /// A weight or percentage above 100.
    #[error("{what} is a percentage from 0 to 100, got {got}")]
    Percent {
        /// What the number is.
        what: &'static str,
        /// As written.
        got: u32,
    },
    /// A number below its minimum.
    #[error("{what} must be at least {min}, got {got}")]
    TooSmall {
        /// What the number is.
        what: &'static str,
        /// The minimum.
        min: i64,
        /// As written.
        got: i64,
    },
    /// A duration that must be above zero.
    #[error("{0} must be longer than 0s")]
    ZeroDuration(&'static str),
    /// Two fields that exclude each other.
    #[error("`{field}` cannot be used with `{other}`: {why}")]
    Conflict {
        /// The field at fault (where the error points).
        field: &'static str,
        /// The field it conflicts with.
        other: &'static str,
        /// Why.
        why: &'static str,
    },
    /// A field some other choice needs.
    #[error("{0}")]
    Missing(&'static str),
    /// A threshold that does not parse or is out of range.
    #[error("{0}")]
    Threshold(String),
    /// Anything else, in words.
    #[error("{0}")]
    Invalid(String),
}

/// Problems gathered while building.
#[derive(Debug, Default)]
pub(crate) struct Errors(pub Vec<SpecError>);

impl Errors {
    pub fn push(&mut self, path: impl Into<String>, problem: Problem) {
        self.0.push(SpecError {
            path: path.into(),
            problem,
        });
    }

    /// `what` as a percentage at `path`.
    pub fn percent(&mut self, path: &str, what: &'static str, got: u32) {
        if got > 100 {
            self.push(path, Problem::Percent { what, got });
        }
    }

    /// `what` at least `min`.
    pub fn at_least(&mut self, path: &str, what: &'static str, min: i64, got: i64) {
        if got < min {
            self.push(path, Problem::TooSmall { what, min, got });
        }
    }

    /// A positive duration, or the default.
    pub fn positive(
        &mut self,
        path: &str,
        what: &'static str,
        d: Option<HumanDuration>,
        default: Duration,
    ) -> Duration {
        match d.map(HumanDuration::get) {
            Some(d) if d.is_zero() => {
                self.push(path, Problem::ZeroDuration(what));
                default
            }
            Some(d) => d,
            None => default,
        }
    }
}

/// `base.key`, or `key` at the top.
pub(crate) fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

impl RolloutSpec {
    /// Checks the section and expands it into a [`Plan`]; on failure, every problem found.
    pub fn build(&self) -> Result<Plan, Vec<SpecError>> {
        let mut e = Errors::default();
        let targets = self.targets(&mut e);
        let (strategy, preset, steps) = match &self.strategy {
            StrategySpec::Preset(p) => {
                let (kind, steps) = strategy_steps(&p.strategy(), "strategy.preset", &mut e);
                (kind, Some(*p), steps)
            }
            s => {
                let (kind, steps) = strategy_steps(s, "strategy", &mut e);
                (kind, None, steps)
            }
        };
        let written = self.analysis.as_ref().map(|a| (a.clone(), "analysis"));
        let from_preset = preset.and_then(|p| p.analysis().map(|a| (a, "strategy.preset")));
        let analysis = match written.or(from_preset) {
            Some((a, path)) => build_analysis(&a, path, &steps, &targets, &mut e),
            None => Analysis::none(),
        };
        if analysis.is_empty() {
            for (step, path) in &steps {
                if matches!(step, Step::Analysis { .. }) {
                    e.push(
                        path.clone(),
                        Problem::Missing(
                            "an analysis step measures `analysis.checks` or `analysis.judge`, \
                             and neither is written",
                        ),
                    );
                }
            }
        }
        let mut steps: Vec<Step> = steps.into_iter().map(|(s, _)| s).collect();
        steps.push(Step::Promote);
        let plan = Plan {
            strategy,
            preset,
            targets,
            start: self.start.map_or(Duration::ZERO, HumanDuration::get),
            steps,
            analysis,
            propagation: Propagation {
                delay: self
                    .propagation_delay
                    .map_or(defaults::PROPAGATION_DELAY, HumanDuration::get),
                spread: self
                    .propagation_spread
                    .map_or(Duration::ZERO, HumanDuration::get),
            },
            scale_down_delay: self
                .scale_down_delay
                .map_or(defaults::SCALE_DOWN_DELAY, HumanDuration::get),
            abort_scale_down_delay: self
                .abort_scale_down_delay
                .map_or(defaults::ABORT_SCALE_DOWN_DELAY, HumanDuration::get),
        };
        if e.0.is_empty() { Ok(plan) } else { Err(e.0) }
    }

    fn targets(&self, e: &mut Errors) -> Targets {
        for (key, value) in [
            ("router", &self.router),
            ("route", &self.route),
            ("stable", &self.stable),
            ("candidate", &self.candidate),
        ] {
            if value.trim().is_empty() {
                e.push(key, Problem::Empty(key_words(key)));
            }
        }
        if self.candidate == self.stable && !self.stable.is_empty() {
            e.push(
                "candidate",
                Problem::Invalid(format!(
                    "the candidate must be another virtual node than the stable `{}`",
                    self.stable
                )),
            );
        }
        if let Some(b) = &self.baseline {
            if b.trim().is_empty() {
                e.push("baseline", Problem::Empty("the baseline's virtual node"));
            } else if *b == self.stable || *b == self.candidate {
                e.push(
                    "baseline",
                    Problem::Invalid(format!(
                        "the baseline runs the stable version in its own virtual node, fresh \
                         like the candidate; `{b}` is already the stable or the candidate"
                    )),
                );
            }
        }
        Targets {
            router: self.router.clone(),
            route: self.route.clone(),
            stable: self.stable.clone(),
            candidate: self.candidate.clone(),
            baseline: self.baseline.clone(),
        }
    }
}

fn key_words(key: &str) -> &'static str {
    match key {
        "router" => "the virtual router's name",
        "route" => "the route's name",
        "stable" => "the stable virtual node",
        _ => "the candidate virtual node",
    }
}

/// A strategy's steps (without the final promotion), each with the path it came from.
fn strategy_steps(
    s: &StrategySpec,
    path: &str,
    e: &mut Errors,
) -> (StrategyKind, Vec<(Step, String)>) {
    match s {
        StrategySpec::Canary(c) => (
            StrategyKind::Canary,
            canary::steps(c, &join(path, "canary"), e),
        ),
        StrategySpec::BlueGreen(b) => (
            StrategyKind::BlueGreen,
            blue_green::steps(b, &join(path, "blue_green"), e),
        ),
        StrategySpec::AbTest(a) => (
            StrategyKind::AbTest,
            ab_test::steps(a, &join(path, "ab_test"), e),
        ),
        StrategySpec::Mirror(m) => (
            StrategyKind::Mirror,
            mirror::steps(m, &join(path, "mirror"), e),
        ),
        // A preset never names another preset.
        StrategySpec::Preset(p) => strategy_steps(&p.strategy(), path, e),
    }
}

fn build_analysis(
    a: &AnalysisSpec,
    path: &str,
    steps: &[(Step, String)],
    targets: &Targets,
    e: &mut Errors,
) -> Analysis {
    let at = |k: &str| join(path, k);
    let interval = e.positive(
        &at("interval"),
        "the interval",
        a.interval,
        defaults::INTERVAL,
    );
    let window = a
        .window
        .map(|w| e.positive(&at("window"), "the window", Some(w), interval));
    if let Some(f) = a.failure_limit {
        e.at_least(&at("failure_limit"), "failure_limit (-1: no limit)", -1, f);
    }
    let limits = Limits {
        failure: match a.failure_limit.unwrap_or(defaults::FAILURE_LIMIT) {
            n if n < 0 => None,
            n => Some(u32::try_from(n).unwrap_or(u32::MAX)),
        },
        inconclusive: a.inconclusive_limit.unwrap_or(defaults::INCONCLUSIVE_LIMIT),
        consecutive_errors: a
            .consecutive_error_limit
            .unwrap_or(defaults::CONSECUTIVE_ERROR_LIMIT),
    };
    let mut names = BTreeSet::new();
    let mut checks = Vec::new();
    for (i, c) in a.checks.iter().enumerate() {
        let cp = format!("{}[{i}]", at("checks"));
        if let Some(check) = build_check(c, &cp, targets, e) {
            if !names.insert(check.name.clone()) {
                e.push(
                    join(&cp, "name"),
                    Problem::Invalid(format!(
                        "two checks are named `{}`; give one a `name`",
                        check.name
                    )),
                );
            }
            checks.push(check);
        }
    }
    let judge = a.judge.as_ref().map(|j| build_judge(j, &at("judge"), e));
    let pipeline = build_pipeline(a.pipeline.as_ref(), &at("pipeline"), e);
    let mut analysis = Analysis {
        interval,
        window,
        initial_delay: a.initial_delay.map_or(Duration::ZERO, HumanDuration::get),
        background: None,
        min_requests: a.min_requests.unwrap_or(defaults::MIN_REQUESTS),
        limits,
        checks,
        pipeline,
        judge,
    };
    let own = steps.iter().any(|(s, _)| s.measures());
    let starting = a.starting_step.map_or(0, |s| s as usize);
    let background = a.background.unwrap_or(!own);
    if background && analysis.is_empty() && a.background == Some(true) {
        e.push(
            at("background"),
            Problem::Missing("a background analysis needs `checks` or a `judge`"),
        );
    }
    if a.starting_step.is_some() && !background {
        e.push(
            at("starting_step"),
            Problem::Missing(
                "starting_step is where a background run starts, and there is none: the \
                 strategy measures on its own (write `background: true` to add one)",
            ),
        );
    }
    if starting > steps.len() {
        e.push(
            at("starting_step"),
            Problem::Invalid(format!(
                "the strategy has {} steps before promotion; starting_step {starting} is past them",
                steps.len()
            )),
        );
    }
    if background && !analysis.is_empty() {
        analysis.background = Some(starting);
    }
    analysis
}

fn build_check(c: &CheckSpec, path: &str, targets: &Targets, e: &mut Errors) -> Option<Check> {
    let given: Vec<(&'static str, &RawBound, Metric, Quantity)> = [
        (
            "success_rate",
            &c.success_rate,
            Metric::SuccessRate,
            Quantity::Rate,
        ),
        ("p50", &c.p50, Metric::Latency(0.5), Quantity::Latency),
        ("p90", &c.p90, Metric::Latency(0.9), Quantity::Latency),
        ("p95", &c.p95, Metric::Latency(0.95), Quantity::Latency),
        ("p99", &c.p99, Metric::Latency(0.99), Quantity::Latency),
        ("p999", &c.p999, Metric::Latency(0.999), Quantity::Latency),
        ("errors", &c.errors, Metric::Errors, Quantity::Count),
        (
            "retry_amplification",
            &c.retry_amplification,
            Metric::RetryAmplification,
            Quantity::Ratio,
        ),
    ]
    .into_iter()
    .filter_map(|(k, b, m, q)| b.as_ref().map(|b| (k, b, m, q)))
    .collect();
    let arm = c.arm.unwrap_or(Arm::Candidate);
    if arm == Arm::Baseline && targets.baseline.is_none() {
        e.push(
            join(path, "arm"),
            Problem::Missing("`arm: baseline` needs the rollout's `baseline` virtual node"),
        );
    }
    if let Some(n) = &c.name
        && n.trim().is_empty()
    {
        e.push(join(path, "name"), Problem::Empty("a check's name"));
    }
    match given.as_slice() {
        [] => {
            e.push(
                path,
                Problem::Missing(
                    "a check names one metric: success_rate, p50, p90, p95, p99, p999, errors \
                     or retry_amplification",
                ),
            );
            None
        }
        [(key, bound, metric, q)] => match Threshold::parse(bound, *q) {
            Ok(threshold) => Some(Check {
                name: c
                    .name
                    .clone()
                    .unwrap_or_else(|| default_name(key, arm, &threshold)),
                arm,
                metric: *metric,
                threshold,
            }),
            Err(why) => {
                e.push(join(path, key), Problem::Threshold(why));
                None
            }
        },
        [(first, ..), (second, ..), ..] => {
            e.push(
                join(path, second),
                Problem::Invalid(format!(
                    "a check measures one metric, but `{first}` and `{second}` are both given; \
                     write two checks"
                )),
            );
            None
        }
    }
}

fn default_name(key: &str, arm: Arm, t: &Threshold) -> String {
    match arm {
        Arm::Candidate => format!("{key} {}", t.text),
        other => format!("{} {key} {}", other.as_str(), t.text),
    }
}

fn build_pipeline(p: Option<&PipelineSpec>, path: &str, e: &mut Errors) -> Pipeline {
    match p {
        None => Pipeline::DIRECT,
        Some(PipelineSpec::Named(PipelineName::Prometheus)) => Pipeline::PROMETHEUS,
        Some(PipelineSpec::Named(PipelineName::Cloudwatch)) => Pipeline::CLOUDWATCH,
        Some(PipelineSpec::Custom {
            scrape_interval,
            lag,
        }) => Pipeline {
            scrape_interval: e.positive(
                &join(path, "scrape_interval"),
                "the scrape interval",
                *scrape_interval,
                Pipeline::DIRECT.scrape_interval,
            ),
            lag: lag.map_or(Duration::ZERO, HumanDuration::get),
        },
    }
}

fn build_judge(j: &JudgeSpec, path: &str, e: &mut Errors) -> JudgeConfig {
    let d = JudgeConfig::default();
    let at = |k: &str| join(path, k);
    let score = |e: &mut Errors, key: &str, v: Option<f64>, default: f64| match v {
        Some(s) if !(0.0..=100.0).contains(&s) || s.is_nan() => {
            e.push(
                at(key),
                Problem::Invalid(format!("a score is from 0 to 100, got {s}")),
            );
            default
        }
        Some(s) => s,
        None => default,
    };
    let pass_score = score(e, "pass_score", j.pass_score, d.pass_score);
    let marginal_score = score(e, "marginal_score", j.marginal_score, d.marginal_score);
    if marginal_score > pass_score {
        e.push(
            at("marginal_score"),
            Problem::Invalid(format!(
                "the marginal score ({marginal_score}) is above the pass score ({pass_score})"
            )),
        );
    }
    let confidence = match j.confidence {
        Some(c) if !(c > 0.0 && c < 1.0) => {
            e.push(
                at("confidence"),
                Problem::Invalid(format!(
                    "a confidence level is between 0 and 1 (like 0.95), got {c}"
                )),
            );
            d.confidence
        }
        Some(c) => c,
        None => d.confidence,
    };
    let metrics = match &j.metrics {
        Some(m) if m.is_empty() => {
            e.push(at("metrics"), Problem::Empty("the judge's metric list"));
            d.metrics.clone()
        }
        Some(m) => {
            let unique: BTreeSet<JudgeMetricName> = m.iter().copied().collect();
            if unique.len() != m.len() {
                e.push(
                    at("metrics"),
                    Problem::Invalid("a metric is listed twice".into()),
                );
            }
            unique.into_iter().collect()
        }
        None => d.metrics.clone(),
    };
    let allowed_increase = j.allowed_increase.unwrap_or(d.allowed_increase);
    if allowed_increase < 1.0 || allowed_increase.is_nan() {
        e.push(
            at("allowed_increase"),
            Problem::Invalid(format!(
                "allowed_increase is a mean ratio of at least 1 (Kayenta's), got {allowed_increase}"
            )),
        );
    }
    let allowed_decrease = j.allowed_decrease.unwrap_or(d.allowed_decrease);
    if !(0.0..=1.0).contains(&allowed_decrease) {
        e.push(
            at("allowed_decrease"),
            Problem::Invalid(format!(
                "allowed_decrease is a mean ratio from 0 to 1 (Kayenta's), got {allowed_decrease}"
            )),
        );
    }
    JudgeConfig {
        pass_score,
        marginal_score,
        confidence,
        metrics,
        direction: j.direction.unwrap_or(Direction::Either),
        allowed_increase,
        allowed_decrease,
    }
}
