//! Canary: weighted steps, written two ways.
//!
//! **Argo style** (`steps`): `set_weight`, `pause` (a duration, or `{}` until a person
//! promotes), `analysis` (an inline run of `count` measurements that blocks), `set_mirror`.
//! After the last step the candidate is promoted (100 %). Checks run in the background
//! unless the steps have an analysis of their own; a run that crosses Argo's failure or
//! consecutive-error limit aborts (all traffic back to stable), one that crosses the
//! inconclusive limit pauses for a person, which in a simulation means an inconclusive
//! verdict.
//!
//! **Flagger style** (`step_weight` or `step_weights`, `max_weight`, `interval`, `threshold`):
//! Flagger's scheduler ticks every `interval`. The first tick routes `step_weight` to the
//! candidate without analysis; each later tick first rolls back if the failed-check count has
//! reached `threshold`, else runs the checks: all passing advances the weight (or, once at
//! `max_weight`, promotes), any failing adds one failed check and holds the weight. Failed
//! checks are never reset by a later pass. So a healthy canary is promoted after
//! `interval × ⌈max_weight / step_weight⌉`, and a rollback comes one tick after the
//! `threshold`-th failure. The weight is raised while below `max_weight` and may overshoot it
//! (step 30, max 50: 30, then 60), as Flagger's `runCanary` does.
//! (pkg/controller/scheduler.go, `advanceCanary`, `runCanary`, `nextStepWeight`.)

use super::build::{Errors, Problem, join};
use super::plan::{Step, defaults};
use super::spec::{CanarySpec, StepSpec};
use crate::model::duration::HumanDuration;

/// The steps of a canary (without the final promotion).
pub(super) fn steps(spec: &CanarySpec, path: &str, e: &mut Errors) -> Vec<(Step, String)> {
    let flagger = spec.step_weight.is_some() || spec.step_weights.is_some();
    match (&spec.steps, flagger) {
        (Some(steps), false) => {
            for (key, given) in [
                ("max_weight", spec.max_weight.is_some()),
                ("interval", spec.interval.is_some()),
                ("threshold", spec.threshold.is_some()),
            ] {
                if given {
                    e.push(
                        join(path, key),
                        Problem::Conflict {
                            field: key_name(key),
                            other: "steps",
                            why: "it belongs to a Flagger-style canary (`step_weight`); \
                                  Argo-style `steps` set their own weights and pauses",
                        },
                    );
                }
            }
            argo_steps(steps, &join(path, "steps"), e)
        }
        (Some(_), true) => {
            let key = if spec.step_weight.is_some() {
                "step_weight"
            } else {
                "step_weights"
            };
            e.push(
                join(path, key),
                Problem::Conflict {
                    field: key_name(key),
                    other: "steps",
                    why: "a canary is written with Argo-style `steps` or Flagger-style \
                          `step_weight`, not both",
                },
            );
            Vec::new()
        }
        (None, true) => flagger_steps(spec, path, e),
        (None, false) => {
            e.push(
                path,
                Problem::Missing(
                    "a canary needs `steps` (Argo style) or `step_weight` / `step_weights` \
                     (Flagger style)",
                ),
            );
            Vec::new()
        }
    }
}

fn key_name(key: &str) -> &'static str {
    match key {
        "max_weight" => "max_weight",
        "interval" => "interval",
        "threshold" => "threshold",
        "step_weight" => "step_weight",
        _ => "step_weights",
    }
}

fn argo_steps(steps: &[StepSpec], path: &str, e: &mut Errors) -> Vec<(Step, String)> {
    if steps.is_empty() {
        e.push(path, Problem::Empty("a canary's step list"));
    }
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let at = format!("{path}[{i}]");
            let step = match s {
                StepSpec::SetWeight(w) => {
                    e.percent(&join(&at, "set_weight"), "a weight", *w);
                    Step::SetWeight((*w).min(100))
                }
                StepSpec::SetMirror(p) => {
                    e.percent(&join(&at, "set_mirror"), "a mirrored share", *p);
                    Step::SetMirror((*p).min(100))
                }
                StepSpec::Pause(p) => Step::Pause(p.duration.map(HumanDuration::get)),
                StepSpec::Analysis(a) => {
                    let count = a.count.unwrap_or(1);
                    e.at_least(
                        &join(&join(&at, "analysis"), "count"),
                        "an analysis step's count",
                        1,
                        i64::from(count),
                    );
                    Step::Analysis {
                        count: count.max(1),
                    }
                }
            };
            (step, at)
        })
        .collect()
}

/// Flagger's weights: `step_weight` added while below `max_weight` (capped at 100), or the
/// `step_weights` in order.
fn flagger_weights(spec: &CanarySpec, path: &str, e: &mut Errors) -> Vec<u32> {
    if let (Some(_), Some(_)) = (spec.step_weight, &spec.step_weights) {
        e.push(
            join(path, "step_weights"),
            Problem::Conflict {
                field: "step_weights",
                other: "step_weight",
                why: "Flagger takes equal steps (`step_weight`) or a list (`step_weights`)",
            },
        );
        return Vec::new();
    }
    if let Some(list) = &spec.step_weights {
        if spec.max_weight.is_some() {
            e.push(
                join(path, "max_weight"),
                Problem::Conflict {
                    field: "max_weight",
                    other: "step_weights",
                    why: "with `step_weights` the last weight is the maximum",
                },
            );
        }
        if list.is_empty() {
            e.push(join(path, "step_weights"), Problem::Empty("step_weights"));
        }
        let mut last = 0;
        for (i, w) in list.iter().enumerate() {
            let at = format!("{}[{i}]", join(path, "step_weights"));
            if *w == 0 || *w > 100 {
                e.push(
                    at,
                    Problem::Invalid(format!("a step weight is from 1 to 100, got {w}")),
                );
            } else if *w <= last {
                e.push(
                    at,
                    Problem::Invalid(format!("step weights rise: {w} does not follow {last}")),
                );
            }
            last = (*w).max(last);
        }
        return list.iter().map(|w| (*w).clamp(1, 100)).collect();
    }
    let step = spec.step_weight.unwrap_or(0);
    let max = spec.max_weight.unwrap_or(defaults::MAX_WEIGHT);
    if step == 0 || step > 100 {
        e.push(
            join(path, "step_weight"),
            Problem::Invalid(format!("a step weight is from 1 to 100, got {step}")),
        );
        return Vec::new();
    }
    if max == 0 || max > 100 {
        e.push(
            join(path, "max_weight"),
            Problem::Invalid(format!("max_weight is from 1 to 100, got {max}")),
        );
        return Vec::new();
    }
    let mut weights = Vec::new();
    let mut w = 0;
    while w < max {
        w = (w + step).min(100);
        weights.push(w);
    }
    weights
}

fn flagger_steps(spec: &CanarySpec, path: &str, e: &mut Errors) -> Vec<(Step, String)> {
    let weights = flagger_weights(spec, path, e);
    let (interval, threshold) = schedule(spec.interval, spec.threshold, path, e);
    let mut out = Vec::new();
    for w in weights {
        out.push((Step::SetWeight(w), path.to_string()));
        out.push((
            Step::Gate {
                interval,
                threshold,
            },
            path.to_string(),
        ));
    }
    out
}

/// A Flagger schedule: `interval` (default 60 s) and `threshold` (default 1).
pub(super) fn schedule(
    interval: Option<HumanDuration>,
    threshold: Option<u32>,
    path: &str,
    e: &mut Errors,
) -> (std::time::Duration, u32) {
    let interval = e.positive(
        &join(path, "interval"),
        "the interval",
        interval,
        defaults::INTERVAL,
    );
    let threshold = threshold.unwrap_or(defaults::THRESHOLD);
    e.at_least(
        &join(path, "threshold"),
        "threshold (failed checks before rollback)",
        1,
        i64::from(threshold),
    );
    (interval, threshold.max(1))
}

#[cfg(test)]
mod tests;
