//! The seam between the world and whatever steers it while it runs: a rollout acting as App
//! Mesh's control plane. The world hands it every access-log line as it drains them, asks it
//! once per simulated second what to change, and carries the changes out: route overrides
//! sent to each proxy with the moment they arrive there, and scale-downs.
//!
//! The world does not know what a rollout is (the `rollout` layer sits above `sim`); it only
//! knows these changes.

use std::rc::Rc;

use crate::engine::SimTime;
use crate::metrics::Recorder;
use crate::model::fault::Fault;
use crate::proxy::AccessLogEntry;
use crate::proxy::control::RouteOverride;

use super::chaos::ChaosEvent;
use super::ledger::UserLedger;

/// A proxy the control plane configures.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProxyRef {
    /// The task (or gateway) it runs beside.
    pub task: String,
    /// Its virtual node (or gateway).
    pub node: String,
}

/// A change to make now.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A route's traffic, arriving at each listed proxy at its time.
    Route {
        /// Virtual router.
        router: String,
        /// Route.
        route: String,
        /// What the proxies apply once it arrives.
        traffic: Rc<RouteOverride>,
        /// (proxy task, arrival).
        arrivals: Vec<(String, SimTime)>,
    },
    /// Stop every task of a virtual node, deregistering it first (a scale-down).
    ScaleDown {
        /// Virtual node.
        node: String,
    },
    /// A fault added to the run's plan while it runs (a teacher's "kill a task now"). It must
    /// start after the moment it is sent, so the chaos layer meets its start at a step boundary
    /// exactly as it would have had the fault been written in the scenario from the start:
    /// that is what makes a run with it replayable from a scenario file. A fault that cannot
    /// join the plan (no such task, a contradiction) is refused with a fault event saying why.
    Fault(Box<Fault>),
    /// End the run now, as if its time were up; the result covers what ran (a viewer that
    /// quits or restarts does not wait for the rest).
    Halt,
}

/// The world's records so far, read-only: what a controller that also shows the run (the
/// TUI) reads once per simulated second.
#[derive(Clone, Copy, Debug)]
pub struct WorldView<'a> {
    /// Latencies and counters recorded so far.
    pub recorder: &'a Recorder,
    /// What the faults did so far.
    pub chaos: &'a [ChaosEvent],
    /// The users' ledger so far.
    pub ledger: &'a UserLedger,
}

/// What steers a running world.
pub trait Controller {
    /// The proxies that exist, once, before the first tick.
    fn start(&mut self, proxies: &[ProxyRef]);
    /// Access-log lines drained since the last call (health checks among them, marked).
    fn observe(&mut self, lines: &[AccessLogEntry]);
    /// About once per simulated second: the changes to make now.
    fn tick(&mut self, now: SimTime) -> Vec<Change>;
    /// Right after each tick's changes are made: the world's records so far, for a
    /// controller that shows the run; it may answer with changes of its own. Steering needs
    /// none of it, so by default nothing is read and nothing changes.
    fn watch(&mut self, _now: SimTime, _world: &WorldView<'_>) -> Vec<Change> {
        Vec::new()
    }
}

/// Steers nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Uncontrolled;

impl Controller for Uncontrolled {
    fn start(&mut self, _: &[ProxyRef]) {}
    fn observe(&mut self, _: &[AccessLogEntry]) {}
    fn tick(&mut self, _: SimTime) -> Vec<Change> {
        Vec::new()
    }
}
