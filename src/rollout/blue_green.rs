//! Blue/green, after Argo Rollouts' `blueGreen` strategy: the candidate (green) starts beside
//! the stable (blue) with no live traffic; preview traffic may reach it and a pre-promotion
//! analysis judges it; the switch sends all traffic to it at once, when that analysis has
//! succeeded and `auto_promotion_delay` (Argo's `autoPromotionSeconds`, counted from the
//! start) has passed; a post-promotion analysis runs on live traffic and, failing, switches
//! back; then, after the `rollback_window` (meshsim's: background checks may still roll back
//! while the old version stands by, as CodeDeploy's wait before terminating the original task
//! set), the rollout is promoted and the old version scaled down `scale_down_delay` (Argo 30 s)
//! later. With `auto_promotion: false` the rollout waits for a person after the pre-promotion
//! analysis, and the run ends inconclusive.
//!
//! A pre-promotion failure leaves the users' traffic where it always was: only the preview
//! stops and the candidate is scaled down after `abort_scale_down_delay`.

use super::build::{Errors, Problem, join};
use super::plan::Step;
use super::spec::{AnalysisRunSpec, BlueGreenSpec};
use crate::model::duration::HumanDuration;

/// The steps of a blue/green rollout (without the final promotion).
pub(super) fn steps(spec: &BlueGreenSpec, path: &str, e: &mut Errors) -> Vec<(Step, String)> {
    let preview = spec.preview.unwrap_or(true);
    let auto = spec.auto_promotion.unwrap_or(true);
    if !auto && spec.auto_promotion_delay.is_some() {
        e.push(
            join(path, "auto_promotion_delay"),
            Problem::Conflict {
                field: "auto_promotion_delay",
                other: "auto_promotion: false",
                why: "without automatic promotion there is no delay to wait",
            },
        );
    }
    let mut out = Vec::new();
    let mut push = |s: Step, key: &str| out.push((s, join(path, key)));
    if preview {
        push(Step::SetPreview(true), "preview");
    }
    if let Some(a) = &spec.pre_promotion_analysis {
        let count = count(a, &join(path, "pre_promotion_analysis"), e);
        push(Step::Analysis { count }, "pre_promotion_analysis");
    }
    if !auto {
        push(Step::Pause(None), "auto_promotion");
    } else if let Some(d) = spec.auto_promotion_delay.map(HumanDuration::get)
        && !d.is_zero()
    {
        push(Step::PauseSinceStart(d), "auto_promotion_delay");
    }
    if preview {
        push(Step::SetPreview(false), "preview");
    }
    push(Step::SetWeight(100), "");
    if let Some(a) = &spec.post_promotion_analysis {
        let count = count(a, &join(path, "post_promotion_analysis"), e);
        push(Step::Analysis { count }, "post_promotion_analysis");
    }
    if let Some(w) = spec.rollback_window.map(HumanDuration::get)
        && !w.is_zero()
    {
        push(Step::Pause(Some(w)), "rollback_window");
    }
    out
}

fn count(a: &AnalysisRunSpec, path: &str, e: &mut Errors) -> u32 {
    let count = a.count.unwrap_or(1);
    e.at_least(
        &join(path, "count"),
        "an analysis's count",
        1,
        i64::from(count),
    );
    count.max(1)
}

#[cfg(test)]
mod tests;
