//! Scenario files: what to simulate (the mesh, the tasks, their behaviour, the network, the
//! workload, the duration and the seed).
//!
//! (Loader to follow; the types below are the contract the simulated world reads.)

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::service::ServiceConfig;
use crate::model::workload::WorkloadConfig;

/// A scenario, as loaded (defaults applied, durations parsed).
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Name used in reports and the default output directory (default: the file stem).
    pub name: String,
    /// Free text for people.
    pub description: Option<String>,
    /// Master seed; `--seed` overrides it.
    pub seed: u64,
    /// Simulated time to run; `--duration` overrides it.
    pub duration: Duration,
    /// Where the App Mesh configuration comes from.
    pub mesh: MeshSource,
    /// The tasks (ECS tasks / pods) that implement virtual nodes and gateways.
    pub tasks: Vec<TaskSpec>,
    /// Behaviours, by name; tasks refer to them.
    pub services: BTreeMap<String, ServiceConfig>,
    /// The simulated network.
    pub network: NetworkSpec,
    /// Service discovery.
    pub discovery: DiscoverySpec,
    /// Users' traffic.
    pub workload: WorkloadConfig,
    /// Metric intervals.
    pub metrics: MetricsSpec,
    /// The Ordering app's initial state, when the scenario runs it.
    pub ordering: OrderingSpec,
}

/// Where the mesh comes from.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct MeshSource {
    /// Config files, relative to the scenario file's directory.
    pub files: Vec<PathBuf>,
    /// `$NAME` placeholders.
    pub vars: BTreeMap<String, String>,
    /// CloudFormation parameters.
    pub params: BTreeMap<String, String>,
    /// The mesh to use when the files hold several.
    pub mesh: Option<String>,
    /// Config text written in the scenario itself (any of the three syntaxes).
    pub inline: Option<String>,
}

/// A group of identical tasks behind one virtual node.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSpec {
    /// The virtual node they implement.
    pub node: String,
    /// How many (default 1).
    pub replicas: u32,
    /// Version label (default: the node's Cloud Map `version` attribute, else the node name).
    pub version: Option<String>,
    /// Key into [`Scenario::services`].
    pub service: String,
    /// When they start (default 0).
    pub start: Duration,
    /// When they stop, if they do.
    pub stop: Option<Duration>,
}

/// The simulated network.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSpec {
    /// One-way latency of every link (default 1ms).
    pub latency: Duration,
    /// Extra random one-way latency, up to this much (default 0).
    pub jitter: Duration,
    /// turmoil's tick: the resolution of simulated time (default 1ms).
    pub tick: Duration,
}

/// Service discovery.
#[derive(Clone, Debug, PartialEq)]
pub struct DiscoverySpec {
    /// How long a registration or deregistration takes to reach the sidecars (default 5s).
    pub propagation_delay: Duration,
}

/// Metric intervals.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsSpec {
    /// Width of the per-interval windows (default 10s).
    pub interval: Duration,
}

/// The Ordering app's initial state.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct OrderingSpec {
    /// Stock per SKU (default: `sku-1` … `sku-10` with 1 000 000 each).
    pub catalog: BTreeMap<String, u64>,
}
