//! The seam between the world and whatever steers it while it runs: a rollout acting as App
//! Mesh's control plane. The world hands it every access-log line as it drains them, asks it
//! once per simulated second what to change, and carries the changes out: route overrides
//! sent to each proxy with the moment they arrive there, and scale-downs.
//!
//! The world does not know what a rollout is (the `rollout` layer sits above `sim`); it only
//! knows these changes.

use std::rc::Rc;

use crate::engine::SimTime;
use crate::proxy::AccessLogEntry;
use crate::proxy::control::RouteOverride;

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
}

/// What steers a running world.
pub trait Controller {
    /// The proxies that exist, once, before the first tick.
    fn start(&mut self, proxies: &[ProxyRef]);
    /// Access-log lines drained since the last call (health checks among them, marked).
    fn observe(&mut self, lines: &[AccessLogEntry]);
    /// About once per simulated second: the changes to make now.
    fn tick(&mut self, now: SimTime) -> Vec<Change>;
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
