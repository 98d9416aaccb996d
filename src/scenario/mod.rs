//! Scenario files: what to simulate (the mesh, the tasks, their behaviour, the network, the
//! workload, the duration and the seed). The format is described in `docs/SCENARIOS.md` and
//! `schemas/scenario.schema.json`.
//!
//! Loading reuses the config layer's tree: the file is parsed into spanned nodes, each
//! top-level section is deserialized from its node with serde (through a deserializer over
//! the tree, which places every error at a line, column and field path), the mesh files are
//! loaded by the config loader, and then references and the models' own `build()` checks
//! run. Every problem, in the scenario or in a mesh file, ends up in one
//! [`ScenarioLoad::diagnostics`] over one [`SourceMap`](crate::config::SourceMap).

mod check;
pub(crate) mod de;
mod expect;
mod load;
mod locate;
mod mesh;
mod names;
mod read;
mod sections;
mod sink;
pub(crate) mod traffic;

#[cfg(test)]
mod schema_check;

pub use expect::{
    Check, Comparison, Expectation, Metric, NO_REQUEST_LOST, Percentile, Subject, Threshold, USERS,
    decimal, invariant_names,
};
pub use load::{ScenarioLoad, load, load_text, load_text_with, load_with};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::service::ServiceConfig;
use crate::model::workload::WorkloadConfig;

/// The longest run a scenario (or `--duration`) may ask for, and the longest user timeout: a
/// day of simulated time, enough for a diurnal load pattern or a rollout's whole schedule. A
/// run steps simulated time tick by tick (1 ms by default) whether anything happens or not,
/// so a day at 100 requests per second already costs on the order of an hour of wall time
/// in a release build; a longer value is almost always a unit mistake (`99999h`).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// What the command line changes in a scenario, given to the loader so that the checks that
/// depend on it (the run's end) judge the run that will happen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--duration`: when arrivals stop, instead of the scenario's `duration`.
    pub duration: Option<Duration>,
}

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
    /// What the reports record beyond the numbers (trace sampling).
    pub report: ReportSpec,
    /// The Ordering app's initial state, when the scenario runs it.
    pub ordering: OrderingSpec,
    /// Faults, as written (validated; resolved against the tasks when the run starts).
    pub faults: Vec<crate::model::fault::Fault>,
    /// A randomised schedule to draw from the run's seed, added to `faults`.
    pub random_faults: Option<crate::model::fault::random::RandomSpec>,
    /// Sidecar extensions App Mesh lacked (`sidecars:`), by virtual node; empty when absent.
    pub sidecars: BTreeMap<String, crate::engine::extensions::SidecarExtensions>,
    /// What the run must show (`expect:`): one expectation per threshold, entries in file
    /// order and an entry's thresholds in report.json's order (success rate, p50 … max,
    /// retry amplification); empty when the section is absent.
    pub expect: Vec<Expectation>,
    /// A rollout to rehearse (`rollout:`), validated; `None` when the section is absent.
    pub rollout: Option<crate::rollout::RolloutSpec>,
}

impl Scenario {
    /// Whether a task runs one of the Ordering app's services: only then does the run check
    /// (and report) the Ordering app's invariants, which say nothing about other apps.
    pub fn runs_ordering(&self) -> bool {
        runs_ordering(&self.tasks, &self.services)
    }
}

/// Whether one of `tasks` runs an Ordering app service of `services`.
pub(crate) fn runs_ordering<'a>(
    tasks: impl IntoIterator<Item = &'a TaskSpec>,
    services: &BTreeMap<String, ServiceConfig>,
) -> bool {
    tasks.into_iter().any(|t| {
        services
            .get(&t.service)
            .is_some_and(|s| s.app.is_ordering())
    })
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
    /// The defaults App Mesh writes into the mesh's Envoys: its own, or Envoy's for an
    /// account that had a mesh before 2020-07-29 (`envoy_defaults`).
    pub envoy_defaults: crate::engine::defaults::EnvoyDefaults,
    /// Accept the mesh files' real-world quirks (keys in the wrong case) with a warning, like
    /// `--lenient`.
    pub lenient: bool,
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

/// What the reports record beyond the numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportSpec {
    /// The share of user requests whose every hop is traced (0 to 1, default 0.01): their
    /// `x-amzn-trace-id` carries `Sampled=1`, and the proxies keep each attempt's detail.
    pub trace_sample: f64,
}

impl ReportSpec {
    /// Lower than X-Ray's default rule (the first request each second, then 5 %): 1 % keeps
    /// a long run's traces a file a trace viewer opens quickly (about 600 requests in ten
    /// minutes at 100 rps) while a short run still samples some.
    pub const DEFAULT_TRACE_SAMPLE: f64 = 0.01;
}

impl Default for ReportSpec {
    fn default() -> Self {
        ReportSpec {
            trace_sample: Self::DEFAULT_TRACE_SAMPLE,
        }
    }
}

/// The Ordering app's initial state.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct OrderingSpec {
    /// Stock per SKU (default: `sku-1` … `sku-10` with 1 000 000 each).
    pub catalog: BTreeMap<String, u64>,
}

impl NetworkSpec {
    /// A LAN-like hop: big enough to show up in latencies, small beside any service time.
    pub const DEFAULT_LATENCY: Duration = Duration::from_millis(1);
    /// Fine enough for millisecond latencies, coarse enough to keep runs fast.
    pub const DEFAULT_TICK: Duration = Duration::from_millis(1);
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            latency: Self::DEFAULT_LATENCY,
            jitter: Duration::ZERO,
            tick: Self::DEFAULT_TICK,
        }
    }
}

impl DiscoverySpec {
    /// About what Cloud Map and DNS TTLs give in practice, so scenarios show the window in
    /// which sidecars still send to a task that has gone.
    pub const DEFAULT_PROPAGATION_DELAY: Duration = Duration::from_secs(5);
}

impl Default for DiscoverySpec {
    fn default() -> Self {
        DiscoverySpec {
            propagation_delay: Self::DEFAULT_PROPAGATION_DELAY,
        }
    }
}

impl MetricsSpec {
    /// CloudWatch's standard resolution, which canary analyses are usually written against.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
}

impl Default for MetricsSpec {
    fn default() -> Self {
        MetricsSpec {
            interval: Self::DEFAULT_INTERVAL,
        }
    }
}

impl OrderingSpec {
    /// The catalog a scenario gets when it writes none: `sku-1` … `sku-10`, stocked so deep
    /// that no run sells out unless it sets its own stock. (`OrderingSpec::default()` is the
    /// empty catalog.)
    pub fn default_catalog() -> OrderingSpec {
        OrderingSpec {
            catalog: (1..=10).map(|i| (format!("sku-{i}"), 1_000_000)).collect(),
        }
    }
}

impl TaskSpec {
    /// The version label its tasks carry: the one written, else the virtual node's Cloud Map
    /// `version` attribute, else the node's name.
    pub fn version_in(&self, mesh: &crate::config::model::Mesh) -> String {
        use crate::config::model::ServiceDiscovery;
        self.version
            .clone()
            .or_else(|| {
                let node = mesh.virtual_nodes.get(&self.node)?;
                match node.spec.service_discovery.as_ref()? {
                    ServiceDiscovery::CloudMap { attributes, .. } => attributes
                        .iter()
                        .find(|(k, _)| k == "version")
                        .map(|(_, v)| v.clone()),
                    ServiceDiscovery::Dns { .. } => None,
                }
            })
            .unwrap_or_else(|| self.node.clone())
    }

    /// Its tasks' host names: `<node>-1` … `<node>-<replicas>`.
    pub fn hosts(&self) -> impl Iterator<Item = String> + '_ {
        (1..=self.replicas).map(|n| format!("{}-{n}", self.node))
    }
}
