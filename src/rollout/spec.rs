//! The `rollout:` section as a scenario writes it. Plain serde types with
//! `deny_unknown_fields`, so the scenario deserializer places type errors and unknown keys at
//! their line; rules across fields (weights 0..=100, one style of canary, thresholds) are
//! checked by [`RolloutSpec::build`], which returns every problem with its field
//! path relative to the section.
//!
//! ```yaml
//! rollout:
//!   router: inventory            # virtual router
//!   route: inventory             # its route whose weights the rollout rewrites
//!   stable: inventory-v1         # virtual nodes: current version, new version,
//!   candidate: inventory-v2
//!   baseline: inventory-v1-base  #   and (optional) a fresh copy of stable for the judge
//!   start: 1m
//!   propagation_delay: 5s        # control plane to sidecars (default 5s)
//!   propagation_spread: 2s       # extra per-sidecar delay, 0..spread (default 0)
//!   strategy:
//!     canary:                    # Argo-style steps ...
//!       steps:
//!         - set_weight: 10
//!         - pause: { duration: 3m }
//!         - analysis: { count: 2 }
//!         - pause: {}            # until promoted by hand: never, in a simulation
//!   # or: canary: { step_weight: 10, max_weight: 50, interval: 1m, threshold: 5 }  (Flagger)
//!   # or: blue_green: {...}, ab_test: {...}, mirror: {...}, preset: CodeDeployDefault.ECSCanary10Percent5Minutes
//!   analysis:
//!     interval: 1m
//!     checks:
//!       - success_rate: ">= 99%"
//!       - p99: "<= 500ms"
//!     pipeline: prometheus       # or { scrape_interval: 15s, lag: 30s }
//!     judge: { kind: mann_whitney }
//! ```

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

use super::Arm;
use super::preset::PresetName;
use crate::model::duration::HumanDuration;
use crate::model::threshold::RawBound;

/// `rollout:` as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutSpec {
    /// The virtual router whose route is rewritten.
    pub router: String,
    /// The route (its weighted targets must list `stable`, `candidate` and `baseline`).
    pub route: String,
    /// Virtual node of the version in service.
    pub stable: String,
    /// Virtual node of the new version.
    pub candidate: String,
    /// Virtual node running the stable version, started with the candidate, for the judge's
    /// comparison (Kayenta's baseline). Without it the judge compares against `stable`.
    #[serde(default)]
    pub baseline: Option<String>,
    /// When the rollout begins (default: at the start of the run).
    #[serde(default)]
    pub start: Option<HumanDuration>,
    /// How traffic moves.
    pub strategy: StrategySpec,
    /// Metric checks and the judge.
    #[serde(default)]
    pub analysis: Option<AnalysisSpec>,
    /// How long a route change takes to reach the sidecars (default 5 s).
    #[serde(default)]
    pub propagation_delay: Option<HumanDuration>,
    /// Each sidecar waits up to this much longer than `propagation_delay` (default 0).
    #[serde(default)]
    pub propagation_spread: Option<HumanDuration>,
    /// After promotion, how long the old version keeps its tasks (Argo's
    /// `scaleDownDelaySeconds`, default 30 s).
    #[serde(default)]
    pub scale_down_delay: Option<HumanDuration>,
    /// After a rollback, how long the candidate keeps its tasks (Argo's
    /// `abortScaleDownDelaySeconds`, default 30 s).
    #[serde(default)]
    pub abort_scale_down_delay: Option<HumanDuration>,
}

/// `strategy:`: exactly one key.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategySpec {
    /// Weighted steps, Argo-style (`steps`) or Flagger-style (`step_weight`).
    Canary(CanarySpec),
    /// Preview, switch, post-promotion analysis (Argo `blueGreen`).
    BlueGreen(BlueGreenSpec),
    /// Requests matching a header or cookie go to the candidate (Flagger A/B).
    AbTest(AbTestSpec),
    /// A share of live traffic copied to the candidate, then a canary (Flagger `mirror`).
    Mirror(MirrorSpec),
    /// A named configuration (CodeDeploy's, or a typical Flagger or Argo one).
    Preset(PresetName),
}

/// `strategy.canary`: `steps`, or `step_weight`/`step_weights` with `max_weight`, `interval`
/// and `threshold`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanarySpec {
    /// Argo-style explicit steps.
    #[serde(default)]
    pub steps: Option<Vec<StepSpec>>,
    /// Flagger: weight added at each passed interval.
    #[serde(default)]
    pub step_weight: Option<u32>,
    /// Flagger: explicit (non-linear) weights instead of `step_weight`.
    #[serde(default)]
    pub step_weights: Option<Vec<u32>>,
    /// Flagger: weight after which the candidate is promoted (default 100).
    #[serde(default)]
    pub max_weight: Option<u32>,
    /// Flagger: the schedule interval (default 60 s).
    #[serde(default)]
    pub interval: Option<HumanDuration>,
    /// Flagger: failed checks before rollback (default 1).
    #[serde(default)]
    pub threshold: Option<u32>,
}

/// One Argo-style step.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepSpec {
    /// Candidate weight, 0..=100.
    SetWeight(u32),
    /// Wait, for a duration or (`{}`) until promoted by hand.
    Pause(PauseSpec),
    /// An inline analysis run that blocks until it ends.
    Analysis(AnalysisRunSpec),
    /// Copy this share of live traffic (0..=100) to the candidate; 0 stops mirroring.
    SetMirror(u32),
}

/// `pause:`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseSpec {
    /// How long; absent: until promoted by hand.
    #[serde(default)]
    pub duration: Option<HumanDuration>,
}

/// An analysis run: `count` measurements, `analysis.interval` apart.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisRunSpec {
    /// Measurements (default 1, as Argo's for a metric without `interval`).
    #[serde(default)]
    pub count: Option<u32>,
}

/// `strategy.blue_green`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueGreenSpec {
    /// Ask the world for preview traffic to the candidate before the switch (default true).
    #[serde(default)]
    pub preview: Option<bool>,
    /// Analysis of the candidate before the switch.
    #[serde(default)]
    pub pre_promotion_analysis: Option<AnalysisRunSpec>,
    /// Switch without a person (Argo `autoPromotionEnabled`, default true).
    #[serde(default)]
    pub auto_promotion: Option<bool>,
    /// Earliest switch, counted from the rollout's start (Argo `autoPromotionSeconds`,
    /// default 0).
    #[serde(default)]
    pub auto_promotion_delay: Option<HumanDuration>,
    /// Analysis after the switch; a failure switches back.
    #[serde(default)]
    pub post_promotion_analysis: Option<AnalysisRunSpec>,
    /// After the post-promotion analysis, how long the rollout may still roll back (background
    /// checks keep running) before it is promoted (default 0).
    #[serde(default)]
    pub rollback_window: Option<HumanDuration>,
}

/// `strategy.ab_test`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbTestSpec {
    /// Which requests go to the candidate.
    #[serde(rename = "match")]
    pub matcher: MatchSpec,
    /// Passed intervals before promotion (Flagger `iterations`).
    pub iterations: u32,
    /// Schedule interval (default 60 s).
    #[serde(default)]
    pub interval: Option<HumanDuration>,
    /// Failed checks before rollback (default 1).
    #[serde(default)]
    pub threshold: Option<u32>,
}

/// `match:` of an A/B test: a header (exact, prefix or regex) or a cookie (name = value).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// Header name.
    #[serde(default)]
    pub header: Option<String>,
    /// Cookie name.
    #[serde(default)]
    pub cookie: Option<String>,
    /// Header value, exactly.
    #[serde(default)]
    pub exact: Option<String>,
    /// Header value prefix.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Header value regex (whole value).
    #[serde(default)]
    pub regex: Option<String>,
    /// Cookie value.
    #[serde(default)]
    pub value: Option<String>,
}

/// `strategy.mirror`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorSpec {
    /// Share of live traffic copied (Flagger `mirrorWeight`, default 100).
    #[serde(default)]
    pub percent: Option<u32>,
    /// Passed intervals of mirroring before traffic shifts (default 1, as Flagger).
    #[serde(default)]
    pub iterations: Option<u32>,
    /// Schedule interval of the mirrored phase (default 60 s).
    #[serde(default)]
    pub interval: Option<HumanDuration>,
    /// Failed checks before rollback (default 1).
    #[serde(default)]
    pub threshold: Option<u32>,
    /// The canary that follows; absent: all traffic at once.
    #[serde(default)]
    pub then: Option<CanarySpec>,
}

/// `analysis:`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSpec {
    /// Between measurements of analysis runs (default 60 s).
    #[serde(default)]
    pub interval: Option<HumanDuration>,
    /// How much data a measurement looks back over (default: its interval).
    #[serde(default)]
    pub window: Option<HumanDuration>,
    /// Before a run's first measurement (Argo `initialDelay`, default 0).
    #[serde(default)]
    pub initial_delay: Option<HumanDuration>,
    /// Measure in the background for the whole rollout (default: when the strategy has no
    /// analysis of its own).
    #[serde(default)]
    pub background: Option<bool>,
    /// Start the background run at this step (Argo `startingStep`, default 0).
    #[serde(default)]
    pub starting_step: Option<u32>,
    /// Fewer requests than this in a window make a measurement inconclusive (default 50).
    #[serde(default)]
    pub min_requests: Option<u64>,
    /// Failed measurements tolerated per check (Argo `failureLimit`, default 0, -1: no limit).
    #[serde(default)]
    pub failure_limit: Option<i64>,
    /// Inconclusive measurements tolerated per check (Argo, default 0).
    #[serde(default)]
    pub inconclusive_limit: Option<u32>,
    /// Consecutive measurement errors (no data) tolerated per check (Argo, default 4).
    #[serde(default)]
    pub consecutive_error_limit: Option<u32>,
    /// Threshold checks.
    #[serde(default)]
    pub checks: Vec<CheckSpec>,
    /// When data becomes visible to a check.
    #[serde(default)]
    pub pipeline: Option<PipelineSpec>,
    /// The statistical judge.
    #[serde(default)]
    pub judge: Option<JudgeSpec>,
}

/// One threshold check: exactly one metric key.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// Name in reports (default: the metric and threshold, `p99 <= 500ms`).
    #[serde(default)]
    pub name: Option<String>,
    /// Whose requests (default: the candidate's).
    #[serde(default)]
    pub arm: Option<Arm>,
    /// Share of requests answered without a 5xx or a reset, in percent.
    #[serde(default)]
    pub success_rate: Option<RawBound>,
    /// Median latency.
    #[serde(default)]
    pub p50: Option<RawBound>,
    /// 90th percentile latency.
    #[serde(default)]
    pub p90: Option<RawBound>,
    /// 95th percentile latency.
    #[serde(default)]
    pub p95: Option<RawBound>,
    /// 99th percentile latency (Flagger's `request-duration`).
    #[serde(default)]
    pub p99: Option<RawBound>,
    /// 99.9th percentile latency.
    #[serde(default)]
    pub p999: Option<RawBound>,
    /// Number of errors (5xx and resets) in the window.
    #[serde(default)]
    pub errors: Option<RawBound>,
    /// Attempts per request.
    #[serde(default)]
    pub retry_amplification: Option<RawBound>,
}

/// `pipeline:`: a name (`prometheus`, `cloudwatch`) or `{ scrape_interval, lag }`.
#[derive(Clone, Debug, PartialEq)]
pub enum PipelineSpec {
    /// A preset.
    Named(PipelineName),
    /// Explicit settings.
    Custom {
        /// Data is collected at multiples of this.
        scrape_interval: Option<HumanDuration>,
        /// A scrape is visible this long after it is taken.
        lag: Option<HumanDuration>,
    },
}

/// Pipeline presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PipelineName {
    /// Prometheus scraping every 15 s.
    Prometheus,
    /// CloudWatch standard resolution, 60 s.
    Cloudwatch,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    #[serde(default)]
    scrape_interval: Option<HumanDuration>,
    #[serde(default)]
    lag: Option<HumanDuration>,
}

impl<'de> Deserialize<'de> for PipelineSpec {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PipelineSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`prometheus`, `cloudwatch` or { scrape_interval, lag }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PipelineSpec, E> {
                PipelineName::deserialize(de::value::StrDeserializer::<E>::new(v))
                    .map(PipelineSpec::Named)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PipelineSpec, A::Error> {
                let raw = RawPipeline::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(PipelineSpec::Custom {
                    scrape_interval: raw.scrape_interval,
                    lag: raw.lag,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `judge:`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeSpec {
    /// The test.
    pub kind: JudgeKind,
    /// Score for a pass (default 95).
    #[serde(default)]
    pub pass_score: Option<f64>,
    /// Score for a marginal result (default 75).
    #[serde(default)]
    pub marginal_score: Option<f64>,
    /// Confidence level of the test (default 0.98, NetflixACAJudge's).
    #[serde(default)]
    pub confidence: Option<f64>,
    /// What is compared (default both).
    #[serde(default)]
    pub metrics: Option<Vec<JudgeMetricName>>,
    /// Which shift is a regression (default `either`, Kayenta's).
    #[serde(default)]
    pub direction: Option<super::judge::Direction>,
    /// Mean ratio canary/baseline at or above which a significant increase counts (default 1).
    #[serde(default)]
    pub allowed_increase: Option<f64>,
    /// Mean ratio at or below which a significant decrease counts (default 1).
    #[serde(default)]
    pub allowed_decrease: Option<f64>,
}

/// The only judge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgeKind {
    /// Kayenta-style Mann–Whitney U.
    MannWhitney,
}

/// What the judge compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgeMetricName {
    /// Each request's latency.
    Latency,
    /// Each request as 1 (error) or 0.
    ErrorRate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelines_are_named_or_written_out() {
        let a: AnalysisSpec =
            serde_json::from_str(r#"{ "pipeline": "cloudwatch" }"#).expect("name");
        assert_eq!(
            a.pipeline,
            Some(PipelineSpec::Named(PipelineName::Cloudwatch))
        );
        let a: AnalysisSpec =
            serde_json::from_str(r#"{ "pipeline": { "scrape_interval": "30s", "lag": "1m" } }"#)
                .expect("map");
        assert!(matches!(
            a.pipeline,
            Some(PipelineSpec::Custom { lag: Some(_), .. })
        ));
        for bad in [r#""influx""#, r#"{ "scrape": "30s" }"#, "15"] {
            let text = format!(r#"{{ "pipeline": {bad} }}"#);
            assert!(
                serde_json::from_str::<AnalysisSpec>(&text).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn sections_refuse_unknown_keys_and_two_strategies() {
        let base = r#""router": "r", "route": "r", "stable": "a", "candidate": "b""#;
        let ok = format!(
            r#"{{ {base}, "strategy": {{ "canary": {{ "steps": [ {{ "pause": {{}} }} ] }} }} }}"#
        );
        assert!(serde_json::from_str::<RolloutSpec>(&ok).is_ok());
        for bad in [
            format!(r#"{{ {base}, "strategy": {{ "canary": {{}}, "blue_green": {{}} }} }}"#),
            format!(r#"{{ {base}, "strategy": {{ "canary": {{ "stepWeight": 5 }} }} }}"#),
            format!(r#"{{ {base}, "strategy": {{ "preset": "linear" }} }}"#),
            format!(r#"{{ {base}, "weights": 5, "strategy": {{ "canary": {{}} }} }}"#),
        ] {
            assert!(serde_json::from_str::<RolloutSpec>(&bad).is_err(), "{bad}");
        }
    }
}
