//! The rollout's timeline, for report.json's `rollout` key and summary.md: steps as they ran,
//! every route change, every measurement, and the verdict. Field order is the struct's, times
//! are seconds of simulated time.

use serde::Serialize;

use super::Arm;
use super::analysis::Status;
use super::judge::Judgement;
use super::plan::{RequestMatch, StrategyKind};
use super::route::{Outcome, Verdict, Weights};
use crate::engine::SimTime;

/// Seconds since the start of the run.
pub fn secs(t: SimTime) -> f64 {
    t.as_nanos() as f64 / 1e9
}

/// One step as it ran.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepRecord {
    /// Index in the plan.
    pub index: usize,
    /// `set_weight`, `pause`, `analysis`, `gate`, ...
    pub kind: &'static str,
    /// The step in words: `set_weight 10`, `pause 180s`.
    pub step: String,
    /// When it began.
    pub started_at_s: f64,
    /// When it ended (`None`: it had not).
    pub ended_at_s: Option<f64>,
    /// Desired weights when it ended (or now).
    pub weights: Weights,
}

/// A change of what the rollout asks of the route or of preview traffic.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChangeRecord {
    /// When the rollout decided it (sidecars see it a propagation delay later).
    pub at_s: f64,
    /// Weights after the change.
    pub weights: Weights,
    /// The A/B match route after it.
    pub header_route: Option<RequestMatch>,
    /// Mirrored share after it.
    pub mirror_percent: u32,
    /// Preview traffic after it.
    pub preview: bool,
}

/// Which kind of run took a measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// The background run (Argo's `analysis` of the strategy; CodeDeploy's alarms).
    Background,
    /// An analysis step (Argo's inline analysis, blue/green pre/post-promotion).
    Step,
    /// A Flagger schedule tick.
    Gate,
}

/// One check measured once.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckRecord {
    /// When.
    pub at_s: f64,
    /// Step index at the time.
    pub step: usize,
    /// Which run.
    pub run: RunKind,
    /// Check name (`judge` for the judge).
    pub check: String,
    /// Whose requests.
    pub arm: Arm,
    /// Verdict of this measurement.
    pub status: Status,
    /// Measured value (the judge: score).
    pub value: Option<f64>,
    /// Threshold text.
    pub threshold: String,
    /// Requests in the window.
    pub requests: u64,
    /// The window seen, after the pipeline's scrape interval and lag.
    pub window_from_s: f64,
    /// End of that window.
    pub window_to_s: f64,
    /// Why, when not a plain pass or fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The judge's detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judgement: Option<Judgement>,
}

/// Scale-downs requested.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScaleDownRecord {
    /// When.
    pub at_s: f64,
    /// Virtual node.
    pub node: String,
}

/// Everything a report shows of a rollout.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RolloutReport {
    /// Strategy.
    pub strategy: StrategyKind,
    /// Preset name, when one was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<&'static str>,
    /// Outcome.
    pub outcome: Outcome,
    /// When it was decided.
    pub decided_at_s: Option<f64>,
    /// Rolled back: the deciding check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Rolled back: its last value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Rolled back: its threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    /// Rolled back: when the limit was crossed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected_at_s: Option<f64>,
    /// Rolled back: seconds from the start of the fault the rollback answered (the latest
    /// fault that started before the detection) to the detection; set by the world, which
    /// knows the faults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_detect_s: Option<f64>,
    /// Rolled back: the step index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<usize>,
    /// Rolled back: the limit crossed; inconclusive: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Steps as they ran.
    pub steps: Vec<StepRecord>,
    /// Route and preview changes.
    pub changes: Vec<ChangeRecord>,
    /// Measurements.
    pub checks: Vec<CheckRecord>,
    /// Scale-downs.
    pub scale_downs: Vec<ScaleDownRecord>,
}

impl RolloutReport {
    pub(crate) fn set_verdict(&mut self, v: &Verdict, decided_at: SimTime) {
        self.outcome = v.outcome();
        self.decided_at_s = Some(secs(decided_at));
        match v {
            Verdict::Promoted => {}
            Verdict::RolledBack {
                check,
                value,
                threshold,
                detected_at,
                step,
                cause,
            } => {
                self.check = Some(check.clone());
                self.value = *value;
                self.threshold = Some(threshold.clone());
                self.detected_at_s = Some(secs(*detected_at));
                self.failed_step = Some(*step);
                self.reason = Some(cause.clone());
            }
            Verdict::Inconclusive { reason } => self.reason = Some(reason.clone()),
        }
    }
}
