//! Named configurations: AWS CodeDeploy's predefined ECS deployment configurations, and typical
//! Flagger and Argo Rollouts settings for App Mesh. A preset expands into the strategy (and,
//! for Flagger and Argo, the analysis) it stands for, written as a scenario would write it, so
//! it goes through the same validation and the same step list as the long form.
//!
//! | preset | expands to | source |
//! |---|---|---|
//! | `CodeDeployDefault.ECSAllAtOnce` | `set_weight 100` | CodeDeploy User Guide, "Predefined deployment configurations for an Amazon ECS compute platform": shifts all traffic at once |
//! | `CodeDeployDefault.ECSCanary10Percent5Minutes` | `set_weight 10`, `pause 5m`, `set_weight 100` | same table: 10 % first, the remaining 90 % five minutes later |
//! | `CodeDeployDefault.ECSCanary10Percent15Minutes` | `set_weight 10`, `pause 15m`, `set_weight 100` | same table: the remaining 90 % 15 minutes later |
//! | `CodeDeployDefault.ECSLinear10PercentEvery1Minutes` | `set_weight 10`, `pause 1m`, `set_weight 20`, … `pause 1m`, `set_weight 100` | same table: 10 % every minute until all traffic is shifted |
//! | `CodeDeployDefault.ECSLinear10PercentEvery3Minutes` | as above, `pause 3m` | same table: 10 % every three minutes |
//! | `flagger-appmesh` | `canary: { step_weight: 5, max_weight: 50, interval: 1m, threshold: 5 }`, checks `success_rate >= 99%`, `p99 <= 500ms` | Flagger's App Mesh tutorial (docs/gitbook/tutorials/appmesh-progressive-delivery.md) |
//! | `flagger-appmesh-ab` | `ab_test: { match: { header: x-canary, exact: insider }, iterations: 10, interval: 1m, threshold: 5 }`, same checks | the tutorial's A/B section |
//! | `argo-appmesh` | `set_weight 25`, `pause 10m`, `set_weight 50`, `pause 10m`, `set_weight 75`, `pause 10m`; background check `success_rate >= 99%` every 5m, `failure_limit: 3`, from step 2 | Argo Rollouts' examples/appmesh/canary-rollout.yaml |
//!
//! Notes on exactness:
//! - CodeDeploy's linear configurations shift "10 percent every N minutes until all traffic is
//!   shifted": the first 10 % at the start and the tenth increment (100 %) after nine waits,
//!   so `ECSLinear10PercentEvery3Minutes` reaches 100 % at 27 minutes. The table spells the
//!   canary names `ECSCanary10percent5Minutes` (lower-case "percent") while the API names
//!   them with a capital P: both spellings are accepted.
//! - CodeDeploy has no metric analysis (its gates are CloudWatch alarms and Lambda hooks); a
//!   CodeDeploy preset uses the scenario's `analysis`, which then runs in the background the
//!   way alarms are watched during a deployment.
//! - The Argo example's first pause is `pause: {}` (wait for a person); a simulation has no
//!   person, so the preset waits 10m there like at the other pauses. The example's analysis
//!   block is commented out in the source; the preset turns it on as written.
//! - The Flagger tutorial queries its latency check over 30 s; here every check of a
//!   measurement uses the same window (the interval, 1m).
//! - A scenario's own `analysis` replaces a preset's entirely.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::spec::{
    AbTestSpec, AnalysisSpec, CanarySpec, CheckSpec, MatchSpec, PauseSpec, StepSpec, StrategySpec,
};
use crate::model::duration::HumanDuration;
use crate::model::threshold::RawBound;

/// A preset's name as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
pub enum PresetName {
    /// All traffic at once.
    #[serde(rename = "CodeDeployDefault.ECSAllAtOnce")]
    EcsAllAtOnce,
    /// 10 %, then the rest after 5 minutes.
    #[serde(
        rename = "CodeDeployDefault.ECSCanary10Percent5Minutes",
        alias = "CodeDeployDefault.ECSCanary10percent5Minutes"
    )]
    EcsCanary10Percent5Minutes,
    /// 10 %, then the rest after 15 minutes.
    #[serde(
        rename = "CodeDeployDefault.ECSCanary10Percent15Minutes",
        alias = "CodeDeployDefault.ECSCanary10percent15Minutes"
    )]
    EcsCanary10Percent15Minutes,
    /// 10 % more every minute.
    #[serde(rename = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes")]
    EcsLinear10PercentEvery1Minutes,
    /// 10 % more every 3 minutes.
    #[serde(rename = "CodeDeployDefault.ECSLinear10PercentEvery3Minutes")]
    EcsLinear10PercentEvery3Minutes,
    /// Flagger's App Mesh tutorial canary.
    #[serde(rename = "flagger-appmesh")]
    FlaggerAppMesh,
    /// Flagger's App Mesh tutorial A/B test.
    #[serde(rename = "flagger-appmesh-ab")]
    FlaggerAppMeshAb,
    /// Argo Rollouts' App Mesh example.
    #[serde(rename = "argo-appmesh")]
    ArgoAppMesh,
}

impl PresetName {
    /// Every preset, in the table's order.
    pub const ALL: [PresetName; 8] = [
        PresetName::EcsAllAtOnce,
        PresetName::EcsCanary10Percent5Minutes,
        PresetName::EcsCanary10Percent15Minutes,
        PresetName::EcsLinear10PercentEvery1Minutes,
        PresetName::EcsLinear10PercentEvery3Minutes,
        PresetName::FlaggerAppMesh,
        PresetName::FlaggerAppMeshAb,
        PresetName::ArgoAppMesh,
    ];

    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            PresetName::EcsAllAtOnce => "CodeDeployDefault.ECSAllAtOnce",
            PresetName::EcsCanary10Percent5Minutes => {
                "CodeDeployDefault.ECSCanary10Percent5Minutes"
            }
            PresetName::EcsCanary10Percent15Minutes => {
                "CodeDeployDefault.ECSCanary10Percent15Minutes"
            }
            PresetName::EcsLinear10PercentEvery1Minutes => {
                "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
            }
            PresetName::EcsLinear10PercentEvery3Minutes => {
                "CodeDeployDefault.ECSLinear10PercentEvery3Minutes"
            }
            PresetName::FlaggerAppMesh => "flagger-appmesh",
            PresetName::FlaggerAppMeshAb => "flagger-appmesh-ab",
            PresetName::ArgoAppMesh => "argo-appmesh",
        }
    }

    /// The strategy the preset stands for, as a scenario would write it.
    pub fn strategy(self) -> StrategySpec {
        match self {
            PresetName::EcsAllAtOnce => steps(vec![StepSpec::SetWeight(100)]),
            PresetName::EcsCanary10Percent5Minutes => time_based_canary(10, 5),
            PresetName::EcsCanary10Percent15Minutes => time_based_canary(10, 15),
            PresetName::EcsLinear10PercentEvery1Minutes => time_based_linear(10, 1),
            PresetName::EcsLinear10PercentEvery3Minutes => time_based_linear(10, 3),
            PresetName::FlaggerAppMesh => StrategySpec::Canary(CanarySpec {
                step_weight: Some(5),
                max_weight: Some(50),
                interval: Some(minutes(1)),
                threshold: Some(5),
                ..CanarySpec::default()
            }),
            PresetName::FlaggerAppMeshAb => StrategySpec::AbTest(AbTestSpec {
                matcher: MatchSpec {
                    header: Some("x-canary".into()),
                    exact: Some("insider".into()),
                    ..MatchSpec::default()
                },
                iterations: 10,
                interval: Some(minutes(1)),
                threshold: Some(5),
            }),
            PresetName::ArgoAppMesh => steps(vec![
                StepSpec::SetWeight(25),
                pause(10),
                StepSpec::SetWeight(50),
                pause(10),
                StepSpec::SetWeight(75),
                pause(10),
            ]),
        }
    }

    /// The analysis that comes with the preset, used when the scenario writes none.
    pub fn analysis(self) -> Option<AnalysisSpec> {
        let check = |key: &str, bound: &str| {
            let raw = Some(RawBound::Text(bound.into()));
            match key {
                "success_rate" => CheckSpec {
                    success_rate: raw,
                    ..CheckSpec::default()
                },
                _ => CheckSpec {
                    p99: raw,
                    ..CheckSpec::default()
                },
            }
        };
        match self {
            PresetName::FlaggerAppMesh | PresetName::FlaggerAppMeshAb => Some(AnalysisSpec {
                checks: vec![check("success_rate", ">= 99%"), check("p99", "<= 500ms")],
                ..AnalysisSpec::default()
            }),
            PresetName::ArgoAppMesh => Some(AnalysisSpec {
                interval: Some(minutes(5)),
                failure_limit: Some(3),
                background: Some(true),
                starting_step: Some(2),
                checks: vec![check("success_rate", ">= 99%")],
                ..AnalysisSpec::default()
            }),
            _ => None,
        }
    }
}

fn minutes(m: u64) -> HumanDuration {
    HumanDuration(Duration::from_secs(60 * m))
}

fn pause(m: u64) -> StepSpec {
    StepSpec::Pause(PauseSpec {
        duration: Some(minutes(m)),
    })
}

fn steps(steps: Vec<StepSpec>) -> StrategySpec {
    StrategySpec::Canary(CanarySpec {
        steps: Some(steps),
        ..CanarySpec::default()
    })
}

/// CodeDeploy `TimeBasedCanary { canaryPercentage, canaryInterval }`: two increments.
fn time_based_canary(percent: u32, interval_minutes: u64) -> StrategySpec {
    steps(vec![
        StepSpec::SetWeight(percent),
        pause(interval_minutes),
        StepSpec::SetWeight(100),
    ])
}

/// CodeDeploy `TimeBasedLinear { linearPercentage, linearInterval }`: equal increments with
/// equal waits between them, the last one capped at 100.
fn time_based_linear(percent: u32, interval_minutes: u64) -> StrategySpec {
    let mut out = Vec::new();
    let mut weight = 0;
    while weight < 100 {
        if weight > 0 {
            out.push(pause(interval_minutes));
        }
        weight = (weight + percent).min(100);
        out.push(StepSpec::SetWeight(weight));
    }
    steps(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::rollout::plan::{Metric, Step, StrategyKind};
    use crate::rollout::testkit::{World, s, spec};
    use crate::rollout::{Rollout, Verdict};

    fn with(preset: &str, analysis: &str) -> String {
        format!(
            r#"{{ "router": "r", "route": "r", "stable": "v1", "candidate": "v2",
                 "strategy": {{ "preset": "{preset}" }} {analysis} }}"#
        )
    }

    fn steps_of(preset: &str) -> Vec<Step> {
        Rollout::from_spec(&spec(&with(preset, "")))
            .unwrap_or_else(|e| panic!("{e:?}"))
            .plan()
            .steps
            .clone()
    }

    fn pause(m: u64) -> Step {
        Step::Pause(Some(Duration::from_secs(60 * m)))
    }

    /// CodeDeploy's linear shift as the table states it: 10 % more after each wait.
    fn linear(every: u64) -> Vec<Step> {
        let mut v = vec![Step::SetWeight(10)];
        for w in (20..=100).step_by(10) {
            v.push(pause(every));
            v.push(Step::SetWeight(w));
        }
        v.push(Step::Promote);
        v
    }

    #[test]
    fn codedeploy_presets_expand_to_their_definitions() {
        use Step::{Promote, SetWeight};
        let table = [
            (
                "CodeDeployDefault.ECSAllAtOnce",
                vec![SetWeight(100), Promote],
            ),
            (
                "CodeDeployDefault.ECSCanary10Percent5Minutes",
                vec![SetWeight(10), pause(5), SetWeight(100), Promote],
            ),
            (
                "CodeDeployDefault.ECSCanary10percent5Minutes",
                vec![SetWeight(10), pause(5), SetWeight(100), Promote],
            ),
            (
                "CodeDeployDefault.ECSCanary10Percent15Minutes",
                vec![SetWeight(10), pause(15), SetWeight(100), Promote],
            ),
            (
                "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
                linear(1),
            ),
            (
                "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
                linear(3),
            ),
        ];
        for (name, want) in table {
            assert_eq!(steps_of(name), want, "{name}");
        }
        for p in PresetName::ALL {
            assert_eq!(
                serde_json::from_str::<PresetName>(&format!("\"{}\"", p.as_str())).ok(),
                Some(p)
            );
        }
        let e = serde_json::from_str::<PresetName>(
            "\"CodeDeployDefault.ECSLinear10PercentEvery1Minute\"",
        )
        .expect_err("the Lambda spelling");
        assert!(
            e.to_string().contains("ECSLinear10PercentEvery1Minutes"),
            "{e}"
        );
    }

    #[test]
    fn codedeploy_linear_reaches_all_traffic_after_nine_waits() {
        let mut w = World::new(&with(
            "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
            "",
        ));
        w.run_until(s(3600));
        let changes = w.weight_changes();
        assert_eq!(changes.first(), Some(&(0, 10)));
        assert_eq!(changes.last(), Some(&(27 * 60, 100)));
        assert_eq!(
            (w.verdict(), w.decided_at()),
            (Verdict::Promoted, s(27 * 60))
        );
        let mut w = World::new(&with("CodeDeployDefault.ECSCanary10Percent5Minutes", ""));
        w.run_until(s(3600));
        assert_eq!(w.weight_changes(), vec![(0, 10), (300, 100)]);
    }

    #[test]
    fn a_codedeploy_preset_watches_the_scenarios_checks_like_alarms() {
        let analysis = r#", "analysis": { "checks": [ { "success_rate": ">= 99%" } ] }"#;
        let mut w = World::new(&with(
            "CodeDeployDefault.ECSCanary10Percent15Minutes",
            analysis,
        ))
        .candidate_fails_from(s(400));
        w.run_until(s(3600));
        assert_eq!(crate::rollout::testkit::rolled_back(&w.verdict()).2, s(420));
    }

    #[test]
    fn flagger_and_argo_presets_bring_their_analysis() {
        let plan = spec(&with("flagger-appmesh", "")).build().expect("valid");
        assert_eq!(plan.strategy, StrategyKind::Canary);
        let gates = plan
            .steps
            .iter()
            .filter(|s| {
                **s == Step::Gate {
                    interval: Duration::from_secs(60),
                    threshold: 5,
                }
            })
            .count();
        assert_eq!(gates, 10, "5 % steps to 50 %");
        let metrics: Vec<Metric> = plan.analysis.checks.iter().map(|c| c.metric).collect();
        assert_eq!(metrics, vec![Metric::SuccessRate, Metric::Latency(0.99)]);
        assert_eq!(plan.analysis.background, None, "gates measure");
        // The scenario's analysis replaces the preset's.
        let own = r#", "analysis": { "checks": [ { "errors": "<= 3" } ] }"#;
        let plan = spec(&with("flagger-appmesh", own)).build().expect("valid");
        assert_eq!(plan.analysis.checks.len(), 1);
        let mut w = World::new(&with("flagger-appmesh", ""));
        w.run_until(s(3600));
        assert_eq!((w.verdict(), w.decided_at()), (Verdict::Promoted, s(600)));

        let plan = spec(&with("flagger-appmesh-ab", ""))
            .build()
            .expect("valid");
        assert_eq!(plan.strategy, StrategyKind::AbTest);

        let plan = spec(&with("argo-appmesh", "")).build().expect("valid");
        assert_eq!(plan.analysis.background, Some(2));
        assert_eq!(plan.analysis.interval, Duration::from_secs(300));
        assert_eq!(plan.analysis.limits.failure, Some(3));
        let mut w = World::new(&with("argo-appmesh", ""));
        w.run_until(s(3600));
        assert_eq!(
            w.weight_changes(),
            vec![(0, 25), (600, 50), (1200, 75), (1800, 100)]
        );
        // From step 2 (set_weight 50, at 600 s) every 5 minutes, the last one at the moment
        // the last pause ends (background measurements come first at one instant).
        let at: Vec<f64> = w.rollout.report().checks.iter().map(|c| c.at_s).collect();
        assert_eq!(at, vec![600.0, 900.0, 1200.0, 1500.0, 1800.0]);
    }
}
