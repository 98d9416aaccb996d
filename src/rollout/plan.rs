//! A validated rollout: every strategy expanded into one list of [`Step`]s, every default
//! filled in. The state machine ([`Rollout`](super::Rollout)) knows nothing of strategies, only
//! of steps, so canary, blue/green, A/B, mirroring and the presets share one tested engine and
//! a preset is, by construction, the same step list as the strategy it names.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::Arm;
use super::judge::JudgeConfig;
use super::preset::PresetName;
pub use crate::engine::request_match::{RequestMatch, ValueMatch};
use crate::model::threshold::Threshold;

/// Defaults, with where they come from.
pub mod defaults {
    use std::time::Duration;

    /// Flagger's `analysis.interval` default (and its metric query interval, 1m); also the
    /// interval of Argo-style runs here, where Argo has none (one measurement).
    pub const INTERVAL: Duration = Duration::from_secs(60);
    /// Flagger's `threshold` default (`GetAnalysisThreshold`).
    pub const THRESHOLD: u32 = 1;
    /// Flagger's `maxWeight` default: the total weight.
    pub const MAX_WEIGHT: u32 = 100;
    /// Flagger's `mirrorWeight` default.
    pub const MIRROR_PERCENT: u32 = 100;
    /// Flagger mirrors for one interval before shifting traffic.
    pub const MIRROR_ITERATIONS: u32 = 1;
    /// Argo `failureLimit` default.
    pub const FAILURE_LIMIT: i64 = 0;
    /// Argo `inconclusiveLimit` default.
    pub const INCONCLUSIVE_LIMIT: u32 = 0;
    /// Argo `consecutiveErrorLimit` default.
    pub const CONSECUTIVE_ERROR_LIMIT: u32 = 4;
    /// Argo `scaleDownDelaySeconds` default.
    pub const SCALE_DOWN_DELAY: Duration = Duration::from_secs(30);
    /// Argo `abortScaleDownDelaySeconds` default.
    pub const ABORT_SCALE_DOWN_DELAY: Duration = Duration::from_secs(30);
    /// meshsim's choice: the same delay as `discovery.propagation_delay`, since App Mesh pushes
    /// routes and endpoints to Envoy over the same xDS stream; AWS publishes no figure.
    pub const PROPAGATION_DELAY: Duration = Duration::from_secs(5);
    /// meshsim's choice: below ~50 requests one error moves a success rate by 2 points, so a
    /// 99 % floor cannot be judged; Flagger, Argo and Kayenta set no minimum.
    pub const MIN_REQUESTS: u64 = 50;
    /// Without a pipeline, data is seen at whole simulated seconds (the world drains
    /// telemetry about once a second).
    pub const RESOLUTION: Duration = Duration::from_secs(1);
}

/// Which strategy a plan came from (for reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyKind {
    /// Weighted steps.
    Canary,
    /// Preview, switch, post-promotion analysis.
    BlueGreen,
    /// Header or cookie routing.
    AbTest,
    /// Mirroring, then a canary.
    Mirror,
}

/// The route and virtual nodes a rollout drives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Targets {
    /// Virtual router.
    pub router: String,
    /// Route of that router.
    pub route: String,
    /// Current version.
    pub stable: String,
    /// New version.
    pub candidate: String,
    /// Copy of the current version for the judge.
    pub baseline: Option<String>,
}

impl Targets {
    /// Which arm a virtual node is, if any.
    pub fn arm_of(&self, node: &str) -> Option<Arm> {
        if node == self.candidate {
            Some(Arm::Candidate)
        } else if self.baseline.as_deref() == Some(node) {
            Some(Arm::Baseline)
        } else if node == self.stable {
            Some(Arm::Stable)
        } else {
            None
        }
    }

    /// The virtual node of an arm (`None`: no baseline).
    pub fn node(&self, arm: Arm) -> Option<&str> {
        match arm {
            Arm::Stable => Some(&self.stable),
            Arm::Candidate => Some(&self.candidate),
            Arm::Baseline => self.baseline.as_deref(),
        }
    }
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Candidate weight (the stable gets the rest, less the baseline's share).
    SetWeight(u32),
    /// Share of live traffic copied to the candidate.
    SetMirror(u32),
    /// Requests matching go to the candidate (`None`: the match route is removed).
    SetHeaderRoute(Option<RequestMatch>),
    /// Preview traffic to the candidate on or off (blue/green).
    SetPreview(bool),
    /// Wait; `None` until promoted by hand (never, in a simulation: the run ends inconclusive).
    Pause(Option<Duration>),
    /// Wait until this long after the rollout's start (blue/green `autoPromotionSeconds`).
    PauseSinceStart(Duration),
    /// An Argo analysis run of `count` measurements that blocks until it ends.
    Analysis {
        /// Measurements.
        count: u32,
    },
    /// A Flagger schedule tick: one interval later, roll back if the failed-check count has
    /// reached `threshold`, else measure; pass: next step; fail: count it, try next tick.
    Gate {
        /// Schedule interval.
        interval: Duration,
        /// Failed checks before rollback.
        threshold: u32,
    },
    /// All traffic to the candidate; the rollout is promoted.
    Promote,
}

impl Step {
    /// The step's name in reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::SetWeight(_) => "set_weight",
            Step::SetMirror(_) => "set_mirror",
            Step::SetHeaderRoute(_) => "set_header_route",
            Step::SetPreview(_) => "set_preview",
            Step::Pause(_) | Step::PauseSinceStart(_) => "pause",
            Step::Analysis { .. } => "analysis",
            Step::Gate { .. } => "gate",
            Step::Promote => "promote",
        }
    }

    /// Whether the step measures (so a plan with one needs no background run by default).
    pub fn measures(&self) -> bool {
        matches!(self, Step::Analysis { .. } | Step::Gate { .. })
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = |d: &Duration| crate::model::threshold::decimal(d.as_secs_f64(), 6);
        match self {
            Step::SetWeight(w) => write!(f, "set_weight {w}"),
            Step::SetMirror(p) => write!(f, "set_mirror {p}%"),
            Step::SetHeaderRoute(Some(m)) => write!(f, "set_header_route {m}"),
            Step::SetHeaderRoute(None) => write!(f, "set_header_route none"),
            Step::SetPreview(on) => write!(f, "set_preview {}", if *on { "on" } else { "off" }),
            Step::Pause(Some(d)) => write!(f, "pause {}s", secs(d)),
            Step::Pause(None) => write!(f, "pause until promoted"),
            Step::PauseSinceStart(d) => write!(f, "pause until {}s after start", secs(d)),
            Step::Analysis { count } => write!(f, "analysis x{count}"),
            Step::Gate {
                interval,
                threshold,
            } => write!(f, "gate every {}s, threshold {threshold}", secs(interval)),
            Step::Promote => write!(f, "promote"),
        }
    }
}

/// A latency percentile or another measured quantity.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Non-error share, percent.
    SuccessRate,
    /// A latency quantile (0..=1), milliseconds.
    Latency(f64),
    /// Error count.
    Errors,
    /// Attempts per request.
    RetryAmplification,
}

/// A threshold check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    /// Name in reports.
    pub name: String,
    /// Whose requests.
    pub arm: Arm,
    /// What is measured.
    pub metric: Metric,
    /// The bound.
    pub threshold: Threshold,
}

/// When measured data becomes visible: collected at multiples of `scrape_interval`, each
/// scrape visible `lag` later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Pipeline {
    /// Collection period.
    pub scrape_interval: Duration,
    /// Delay before a scrape can be queried.
    pub lag: Duration,
}

impl Pipeline {
    /// Prometheus scraping every 15 s (the interval of Prometheus's example configuration
    /// and most installs), queryable at once.
    pub const PROMETHEUS: Pipeline = Pipeline {
        scrape_interval: Duration::from_secs(15),
        lag: Duration::ZERO,
    };
    /// CloudWatch standard resolution (60 s periods); **choice**: a period is queryable one
    /// period after it closes, since CloudWatch publishes no bound on ingestion delay.
    pub const CLOUDWATCH: Pipeline = Pipeline {
        scrape_interval: Duration::from_secs(60),
        lag: Duration::from_secs(60),
    };
    /// No pipeline: data at whole simulated seconds, no lag.
    pub const DIRECT: Pipeline = Pipeline {
        scrape_interval: defaults::RESOLUTION,
        lag: Duration::ZERO,
    };
}

/// Argo's limits, per check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Failed measurements tolerated (`None`: no limit, Argo's -1).
    pub failure: Option<u32>,
    /// Inconclusive measurements tolerated.
    pub inconclusive: u32,
    /// Consecutive errors tolerated.
    pub consecutive_errors: u32,
}

/// The analysis, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    /// Between measurements of Argo-style runs.
    pub interval: Duration,
    /// Look-back of a measurement (`None`: the interval of whatever measures).
    pub window: Option<Duration>,
    /// Before a run's first measurement.
    pub initial_delay: Duration,
    /// The step at which a background run starts, if there is one.
    pub background: Option<usize>,
    /// Minimum requests per window.
    pub min_requests: u64,
    /// Argo limits.
    pub limits: Limits,
    /// Threshold checks.
    pub checks: Vec<Check>,
    /// Data visibility.
    pub pipeline: Pipeline,
    /// The judge.
    pub judge: Option<JudgeConfig>,
}

impl Analysis {
    /// No checks, no judge, nothing in the background.
    pub fn none() -> Analysis {
        Analysis {
            interval: defaults::INTERVAL,
            window: None,
            initial_delay: Duration::ZERO,
            background: None,
            min_requests: defaults::MIN_REQUESTS,
            limits: Limits {
                failure: Some(0),
                inconclusive: defaults::INCONCLUSIVE_LIMIT,
                consecutive_errors: defaults::CONSECUTIVE_ERROR_LIMIT,
            },
            checks: Vec::new(),
            pipeline: Pipeline::DIRECT,
            judge: None,
        }
    }

    /// Whether a measurement has anything to evaluate.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty() && self.judge.is_none()
    }
}

/// How route changes reach the sidecars.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Propagation {
    /// Every sidecar waits at least this long.
    pub delay: Duration,
    /// And up to this much more.
    pub spread: Duration,
}

/// A validated, expanded rollout.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Strategy written (a preset's strategy for a preset).
    pub strategy: StrategyKind,
    /// The preset, if one was named.
    pub preset: Option<PresetName>,
    /// Route and nodes.
    pub targets: Targets,
    /// Start, from the start of the run.
    pub start: Duration,
    /// What happens, in order; always ends with [`Step::Promote`].
    pub steps: Vec<Step>,
    /// Checks and judge.
    pub analysis: Analysis,
    /// Control-plane delays.
    pub propagation: Propagation,
    /// Old version's tasks kept this long after promotion.
    pub scale_down_delay: Duration,
    /// Candidate's tasks kept this long after a rollback.
    pub abort_scale_down_delay: Duration,
}
