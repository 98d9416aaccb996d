//! Rollouts: canary, blue/green, A/B and mirroring rehearsals driven by simulated time, with
//! threshold analysis, a statistical judge and a verdict. Sans-IO: this module decides, the
//! world observes and acts (`crate::rehearse` is the pilot that joins them).
//!
//! Layering: imports `engine` (simulated time, seeded RNG type), `metrics` (the latency
//! histograms) and `model::duration`; never `sim`, `proxy`, `app` or `report`. No tokio, no
//! I/O, no wall clock, no hash-ordered collections; the only randomness is the propagation
//! spread, drawn from an RNG the caller passes.
//!
//! # Pieces
//! - [`RolloutSpec`] (`spec`): the scenario's `rollout:` section, serde-deserializable with
//!   the scenario deserializer; [`RolloutSpec::build`] validates it into a [`Plan`] or returns
//!   every [`SpecError`] with its field path relative to the section.
//! - [`Plan`] (`plan`): every strategy and preset expanded into one list of [`Step`]s.
//! - [`Rollout`] (`machine`): the state machine over a plan.
//! - [`Propagation`] (`propagation`): route changes reaching each sidecar after its delay.
//! - `analysis`: observed data per arm, the metrics pipeline, checks and Argo's limits.
//! - `judge`: the Mann–Whitney judge and Kayenta scoring.
//! - [`RolloutReport`] (`timeline`): the serializable timeline for report.json.
//!
//! # How the world drives a rollout
//!
//! ```
//! use std::time::Duration;
//! use meshsim::engine::{SimTime, seed};
//! use meshsim::rollout::{Action, Arm, Propagation, Rollout, RolloutSpec};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let spec: RolloutSpec = serde_json::from_str(r#"{
//!     "router": "inventory", "route": "inventory",
//!     "stable": "inventory-v1", "candidate": "inventory-v2",
//!     "strategy": { "preset": "CodeDeployDefault.ECSCanary10Percent5Minutes" },
//!     "analysis": { "checks": [ { "success_rate": ">= 99%" } ] }
//! }"#)?;
//! // 1. Validate (the scenario loader places each error with `Sink::at_path`,
//! //    `e.under("rollout").path`).
//! let plan = spec.build().map_err(|e| format!("{e:?}"))?;
//! // 2. The control plane knows the sidecars that call the route (the tasks of the
//! //    virtual nodes with the router's virtual service as a backend).
//! let p = plan.propagation;
//! let mut rng = seed::stream(1, "rollout/propagation");
//! let sidecars = vec!["ui-v1-1".to_string(), "ui-v1-2".to_string()];
//! let mut plane = Propagation::random(
//!     meshsim::rollout::RouteConfig::initial(), p.delay, p.spread, sidecars, &mut rng);
//! let mut rollout = Rollout::new(plan);
//! // 3. The run loop: push what each arm's requests did, then poll.
//! let mut now = SimTime::ZERO;
//! while rollout.verdict().is_none() && now < SimTime::from_millis(3_600_000) {
//!     // In the world: each request that ended, by `rollout.arm_of(upstream node)`; here
//!     // 100 requests a second split by the desired weights.
//!     let to_candidate = rollout.desired().weights.candidate;
//!     for i in 0..100 {
//!         let arm = if i < to_candidate { Arm::Candidate } else { Arm::Stable };
//!         rollout.record(arm, now, Duration::from_millis(20), false, 1);
//!     }
//!     for (at, action) in rollout.poll(now) {
//!         plane.apply(at, &action); // route changes go through the control plane
//!         match action {
//!             Action::ScaleDown(_node) => { /* stop the node's tasks */ }
//!             Action::SetPreview(_on) => { /* start/stop preview traffic */ }
//!             Action::Verdict(_v) => { /* into the report */ }
//!             _ => {}
//!         }
//!     }
//!     for d in plane.poll(now) {
//!         // In the world: `d.config` (weights, header route, mirror share) becomes what
//!         // sidecar `d.sidecar` has received for the route, from `d.at` on.
//!         let _ = d;
//!     }
//!     now = now + Duration::from_secs(1); // or min(rollout.poll_timeout(), plane.next_delivery())
//! }
//! let _last_actions = rollout.finish(now);
//! assert_eq!(rollout.verdict(), Some(&meshsim::rollout::Verdict::Promoted));
//! let json = serde_json::to_string(rollout.report())?; // report.json's `rollout`
//! # let _ = json;
//! # Ok(())
//! # }
//! ```
//!
//! What the world owes the rollout:
//! - **Observations** of every arm: [`Rollout::record`] per request or [`Rollout::observe`]
//!   per batch, with the time the request ended, pushed before `poll` at a later time. An
//!   error is a 5xx or a request with no response; `attempts` counts upstream tries (for
//!   retry amplification). The world's pilot feeds each arm's own inbound view
//!   (Flagger's App Mesh metrics read the canary pods' Envoy statistics), so a canary's errors
//!   count even when the callers' retries hide them.
//! - **Route changes** through the [`Propagation`], applied to each sidecar's route table
//!   when [`Propagation::poll`] delivers them. The route's weighted targets must already list
//!   the stable, candidate and baseline nodes (weight 0 is fine), as App Mesh requires.
//! - `SetHeaderRoute`: a route with the match, ahead of the weighted one, all to the
//!   candidate ([`RequestMatch::matches`] answers whether a request matches).
//!   `SetMirror(p)`: copy p % of the route's requests to the candidate, discard the answers.
//!   `SetPreview`: blue/green preview traffic to the candidate that the users do not see.
//!   `ScaleDown(node)`: stop the node's tasks.
//! - [`Rollout::finish`] at the end of the run, so an undecided rollout is inconclusive.
//!
//! Semantics, defaults and their sources: docs/ROLLOUTS.md.

mod ab_test;
pub mod analysis;
mod blue_green;
mod build;
mod canary;
pub mod judge;
mod machine;
mod mirror;
pub mod plan;
pub mod preset;
pub mod propagation;
pub mod route;
pub mod spec;
pub mod timeline;

#[cfg(test)]
mod testkit;

use serde::{Deserialize, Serialize};

pub use analysis::{Observation, Status};
pub use build::{Problem, SpecError};
pub use machine::Rollout;
pub use plan::{Plan, RequestMatch, Step};
pub use preset::PresetName;
pub use propagation::{Delivery, Propagation};
pub use route::{Action, Outcome, RouteConfig, Verdict, Weights};
pub use spec::RolloutSpec;
pub use timeline::RolloutReport;

/// Whose requests: the version in service, the new one, or the judge's baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The current version.
    Stable,
    /// The new version.
    Candidate,
    /// A fresh copy of the current version, for the judge.
    Baseline,
}

impl Arm {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Stable => "stable",
            Arm::Candidate => "candidate",
            Arm::Baseline => "baseline",
        }
    }
}
