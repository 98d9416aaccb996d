//! Mirroring, after Flagger's canary with `mirror: true`: a share of the route's live traffic
//! (`percent`, Flagger's `mirrorWeight`, default 100) is copied to the candidate and its
//! answers thrown away, so the candidate is judged on real requests no user depends on; after
//! `iterations` passed intervals (Flagger mirrors for one) mirroring stops and, at the same
//! tick, the canary in `then` begins (all traffic at once without one). Failed checks and
//! `threshold` work as in a Flagger canary, and the count carries over into `then`. Mirroring
//! suits idempotent requests only: the candidate really handles the copies (App Mesh had no
//! mirroring; meshsim's sidecar does it).

use super::build::{Errors, join};
use super::canary::{self, schedule};
use super::plan::{Step, defaults};
use super::spec::MirrorSpec;

/// The steps of a mirrored rollout (without the final promotion).
pub(super) fn steps(spec: &MirrorSpec, path: &str, e: &mut Errors) -> Vec<(Step, String)> {
    let percent = spec.percent.unwrap_or(defaults::MIRROR_PERCENT);
    e.at_least(
        &join(path, "percent"),
        "the mirrored share",
        1,
        i64::from(percent),
    );
    e.percent(&join(path, "percent"), "the mirrored share", percent);
    let iterations = spec.iterations.unwrap_or(defaults::MIRROR_ITERATIONS);
    e.at_least(
        &join(path, "iterations"),
        "iterations",
        1,
        i64::from(iterations),
    );
    let (interval, threshold) = schedule(spec.interval, spec.threshold, path, e);
    let mut out = vec![(
        Step::SetMirror(percent.clamp(1, 100)),
        join(path, "percent"),
    )];
    for _ in 0..iterations {
        out.push((
            Step::Gate {
                interval,
                threshold,
            },
            path.to_string(),
        ));
    }
    out.push((Step::SetMirror(0), join(path, "percent")));
    match &spec.then {
        Some(c) => out.extend(canary::steps(c, &join(path, "then"), e)),
        None => out.push((Step::SetWeight(100), path.to_string())),
    }
    out
}

#[cfg(test)]
mod tests;
