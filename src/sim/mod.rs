//! The simulated world: the Ordering app (or any scenario's services) behind Envoy-like
//! sidecars over turmoil, driven by an open-loop workload, stepped tick by tick.
//!
//! - [`world`]: builds the hosts (one per task, one per entry gateway, the load generator)
//!   from a scenario and a mesh.
//! - [`loadgen`]: the open-loop load generator.
//! - [`ledger`]: every user request ends exactly once, as a success or a named failure.
//! - [`run`]: the step loop, progress, and what a run leaves behind.
//! - [`tap`]: the sampled requests' traces, and access-log lines handed out as the run goes.
//! - `chaos`: the scenario's faults applied between steps (links through turmoil, crashes and
//!   restarts, the effects board apps and sidecars read).
//!
//! Determinism: turmoil is seeded from the scenario seed with a fixed epoch; every RNG is a
//! named stream of that seed ([`engine::seed`](crate::engine::seed)); time is turmoil's
//! simulated clock; every map that reaches an output is ordered.

mod chaos;
pub mod control;
pub mod ledger;
pub mod loadgen;
pub mod run;
pub mod tap;
pub mod world;

pub use chaos::ChaosEvent;
pub use control::{Change, Controller, ProxyRef, Uncontrolled, WorldView};
pub use ledger::{UserLedger, UserOutcome};
pub use run::{Progress, RunOptions, RunResult, fault_schedule, run, run_with};
pub use tap::{AccessLogMode, AccessLogTap, LineSink, Traces};

/// Why a world could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario cannot be simulated as written (the loader should have said so).
    #[error("the scenario cannot be simulated: {0}")]
    Invalid(String),
    /// turmoil stopped the simulation (a host failed, or the run exceeded its time limit).
    #[error("the simulation stopped: {0}")]
    Turmoil(String),
}
