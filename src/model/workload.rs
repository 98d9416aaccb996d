//! The open-loop workload: arrivals by a rate schedule, each a request drawn from a weighted
//! mix.
//!
//! (Runtime types to follow; the config shape below is the contract scenario files use.)

use std::collections::BTreeMap;
use std::time::Duration;

use super::duration::HumanDuration;

/// The workload as a scenario writes it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct WorkloadConfig {
    /// Where users' requests enter: a virtual gateway name, or a virtual service name (then
    /// the load generator calls it through a sidecar of its own).
    pub target: String,
    /// Arrivals per simulated second over time.
    pub rate: RateConfig,
    /// The requests users send, picked by weight.
    pub mix: Vec<MixEntry>,
    /// How long a user waits for an answer before giving up (default 30s).
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

/// A rate schedule: `{ constant: 100 }`, `{ ramp: { from: 10, to: 200, over: 5m } }` or
/// `{ steps: [ { at: 0s, rps: 100 }, { at: 2m, rps: 300 } ] }`.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum RateConfig {
    /// The same rate throughout.
    Constant(f64),
    /// A linear change from `from` to `to` over `over` (starting at 0), then `to`.
    Ramp {
        /// Rate at time 0.
        from: f64,
        /// Rate from `over` on.
        to: f64,
        /// How long the ramp lasts.
        over: HumanDuration,
    },
    /// Piecewise-constant: each step's rate holds from its `at` until the next step's.
    Steps(Vec<RateStep>),
}

/// One step of a [`RateConfig::Steps`] schedule.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RateStep {
    /// When this rate starts.
    pub at: HumanDuration,
    /// Arrivals per second from then on.
    pub rps: f64,
}

/// One kind of request in the mix.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct MixEntry {
    /// Relative weight (≥ 0; the weights need not add up to anything).
    pub weight: f64,
    /// HTTP method, upper case (default `GET`).
    #[serde(default = "default_method")]
    pub method: String,
    /// Path, starting with `/`.
    pub path: String,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_method() -> String {
    "GET".to_string()
}

/// A workload field is wrong.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum WorkloadError {
    /// `mix: []`.
    #[error("a workload needs at least one request in its mix")]
    EmptyMix,
}
