//! What a rollout asks of the world: the desired route configuration, the actions that change
//! it, and the verdict.

use serde::Serialize;

use super::plan::{RequestMatch, Targets};
use crate::engine::SimTime;

/// Weights of the route's three targets; they always sum to 100.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Weights {
    /// Current version.
    pub stable: u32,
    /// New version.
    pub candidate: u32,
    /// The judge's baseline (0 without one).
    pub baseline: u32,
}

impl Weights {
    /// Everything on the stable version.
    pub const STABLE: Weights = Weights {
        stable: 100,
        candidate: 0,
        baseline: 0,
    };

    /// The candidate at `candidate` percent. With a baseline, it gets the candidate's share
    /// while the stable can give it (Kayenta compares a baseline and a canary of the same
    /// size), so at 30 % the split is 40/30/30 and at 70 % it is 0/70/30.
    pub fn split(candidate: u32, with_baseline: bool) -> Weights {
        let candidate = candidate.min(100);
        let baseline = if with_baseline {
            candidate.min(100 - candidate)
        } else {
            0
        };
        Weights {
            stable: 100 - candidate - baseline,
            candidate,
            baseline,
        }
    }

    /// Their sum (100).
    pub fn total(self) -> u32 {
        self.stable + self.candidate + self.baseline
    }

    /// As `(virtual node, weight)` pairs, the shape of a route's weighted targets: stable,
    /// candidate, then the baseline when there is one.
    pub fn targets(self, t: &Targets) -> Vec<(&str, u32)> {
        let mut v = vec![
            (t.stable.as_str(), self.stable),
            (t.candidate.as_str(), self.candidate),
        ];
        if let Some(b) = &t.baseline {
            v.push((b.as_str(), self.baseline));
        }
        v
    }
}

/// The route as the rollout wants it; what the control plane pushes to sidecars.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouteConfig {
    /// Weighted targets.
    pub weights: Weights,
    /// Requests matching this go to the candidate whatever the weights (A/B).
    pub header_route: Option<RequestMatch>,
    /// Share of live traffic copied to the candidate, responses discarded.
    pub mirror_percent: u32,
}

impl RouteConfig {
    /// Before the rollout: everything on the stable version.
    pub fn initial() -> RouteConfig {
        RouteConfig {
            weights: Weights::STABLE,
            header_route: None,
            mirror_percent: 0,
        }
    }
}

/// What the world should do, and when.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// New weights for the route: publish through the control plane.
    SetWeights(Weights),
    /// Send requests that match to the candidate (`None`: stop).
    SetHeaderRoute(Option<RequestMatch>),
    /// Copy this share of the route's live traffic to the candidate (0: stop).
    SetMirror(u32),
    /// Start or stop preview traffic to the candidate (blue/green: test traffic that is not
    /// the users').
    SetPreview(bool),
    /// Stop a virtual node's tasks (the old version after promotion, the candidate after a
    /// rollback), once the scale-down delay has passed.
    ScaleDown(String),
    /// The rollout ended.
    Verdict(Verdict),
}

impl Action {
    /// Whether it changes the route (and so goes through the control plane).
    pub fn is_route_change(&self) -> bool {
        matches!(
            self,
            Action::SetWeights(_) | Action::SetHeaderRoute(_) | Action::SetMirror(_)
        )
    }
}

/// How a rollout ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// All traffic went to the candidate.
    Promoted,
    /// All traffic went back to the stable version.
    RolledBack {
        /// The check that decided it.
        check: String,
        /// Its last value (`None` when it had no data).
        value: Option<f64>,
        /// Its threshold, as written.
        threshold: String,
        /// When the measurement that crossed the limit was taken.
        detected_at: SimTime,
        /// Index of the step the rollout was at.
        step: usize,
        /// The limit crossed: `failed (1) > failure_limit (0)`, `failed checks 5 >=
        /// threshold 5`, `consecutive errors (5) > consecutive_error_limit (4)`.
        cause: String,
    },
    /// No decision: an analysis was inconclusive (Argo pauses for a person), or the run
    /// ended first (a pause until promoted, or simply not enough time).
    Inconclusive {
        /// Why.
        reason: String,
    },
}

impl Verdict {
    /// The outcome's name.
    pub fn outcome(&self) -> Outcome {
        match self {
            Verdict::Promoted => Outcome::Promoted,
            Verdict::RolledBack { .. } => Outcome::RolledBack,
            Verdict::Inconclusive { .. } => Outcome::Inconclusive,
        }
    }
}

/// A rollout's outcome, as reports name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Not decided yet.
    Running,
    /// Promoted.
    Promoted,
    /// Rolled back.
    RolledBack,
    /// Inconclusive.
    Inconclusive,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_baseline_shadows_the_candidate_while_it_can() {
        assert_eq!(
            Weights::split(10, false),
            Weights {
                stable: 90,
                candidate: 10,
                baseline: 0
            }
        );
        assert_eq!(
            Weights::split(30, true),
            Weights {
                stable: 40,
                candidate: 30,
                baseline: 30
            }
        );
        assert_eq!(
            Weights::split(70, true),
            Weights {
                stable: 0,
                candidate: 70,
                baseline: 30
            }
        );
        assert_eq!(
            Weights::split(100, true),
            Weights {
                stable: 0,
                candidate: 100,
                baseline: 0
            }
        );
        for c in 0..=120 {
            for b in [false, true] {
                assert_eq!(Weights::split(c, b).total(), 100);
            }
        }
    }
}
