//! The top-level sections of a scenario file, as written, and their defaults.
//!
//! The top level is read by hand rather than by one derived struct, so that every section is
//! deserialized on its own (a mistake in `network` does not hide one in `tasks`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::de::Text;
use super::{DiscoverySpec, MeshSource, MetricsSpec, NetworkSpec, OrderingSpec, TaskSpec};
use crate::model::duration::HumanDuration;

/// Whether a top-level key must, may or may not yet be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Presence {
    /// The scenario cannot run without it.
    Required,
    /// Has a default.
    Optional,
}

/// Every top-level key, in the order the docs list them.
pub(crate) const SECTIONS: &[(&str, Presence)] = &[
    ("name", Presence::Optional),
    ("description", Presence::Optional),
    ("seed", Presence::Optional),
    ("duration", Presence::Required),
    ("mesh", Presence::Required),
    ("tasks", Presence::Required),
    ("services", Presence::Required),
    ("network", Presence::Optional),
    ("discovery", Presence::Optional),
    ("workload", Presence::Required),
    ("metrics", Presence::Optional),
    ("ordering", Presence::Optional),
    ("faults", Presence::Optional),
    ("rollout", Presence::Optional),
    ("expect", Presence::Optional),
];

/// The seed when none is written: fixed, so two runs of a scenario agree unless asked not to.
pub(crate) const DEFAULT_SEED: u64 = 1;

/// `faults:` written as a mapping: a schedule and/or a random draw.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFaults {
    #[serde(default)]
    pub schedule: Vec<crate::model::fault::FaultSpec>,
    #[serde(default)]
    pub random: Option<crate::model::fault::random::RandomSpec>,
}

/// `mesh:` as written.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMesh {
    #[serde(default)]
    pub files: Vec<PathBuf>,
    #[serde(default)]
    pub vars: BTreeMap<String, Text>,
    #[serde(default)]
    pub params: BTreeMap<String, Text>,
    #[serde(default)]
    pub mesh: Option<String>,
    #[serde(default)]
    pub inline: Option<String>,
}

impl RawMesh {
    pub fn into_source(self) -> MeshSource {
        let text = |m: BTreeMap<String, Text>| m.into_iter().map(|(k, v)| (k, v.0)).collect();
        MeshSource {
            files: self.files,
            vars: text(self.vars),
            params: text(self.params),
            mesh: self.mesh,
            inline: self.inline,
        }
    }
}

/// One `tasks:` entry as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTask {
    pub node: String,
    #[serde(default = "one")]
    pub replicas: u32,
    #[serde(default)]
    pub version: Option<String>,
    pub service: String,
    #[serde(default)]
    pub start: Option<HumanDuration>,
    #[serde(default)]
    pub stop: Option<HumanDuration>,
}

fn one() -> u32 {
    1
}

impl From<RawTask> for TaskSpec {
    fn from(t: RawTask) -> TaskSpec {
        TaskSpec {
            node: t.node,
            replicas: t.replicas,
            version: t.version,
            service: t.service,
            start: t.start.map_or(Duration::ZERO, HumanDuration::get),
            stop: t.stop.map(HumanDuration::get),
        }
    }
}

/// `network:` as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetwork {
    #[serde(default = "default_latency")]
    pub latency: HumanDuration,
    #[serde(default)]
    pub jitter: HumanDuration,
    #[serde(default = "default_tick")]
    pub tick: HumanDuration,
}

fn default_latency() -> HumanDuration {
    HumanDuration(NetworkSpec::DEFAULT_LATENCY)
}
fn default_tick() -> HumanDuration {
    HumanDuration(NetworkSpec::DEFAULT_TICK)
}

impl From<RawNetwork> for NetworkSpec {
    fn from(n: RawNetwork) -> NetworkSpec {
        NetworkSpec {
            latency: n.latency.get(),
            jitter: n.jitter.get(),
            tick: n.tick.get(),
        }
    }
}

/// `discovery:` as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDiscovery {
    #[serde(default = "default_propagation")]
    pub propagation_delay: HumanDuration,
}

fn default_propagation() -> HumanDuration {
    HumanDuration(DiscoverySpec::DEFAULT_PROPAGATION_DELAY)
}

impl From<RawDiscovery> for DiscoverySpec {
    fn from(d: RawDiscovery) -> DiscoverySpec {
        DiscoverySpec {
            propagation_delay: d.propagation_delay.get(),
        }
    }
}

/// `metrics:` as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    #[serde(default = "default_interval")]
    pub interval: HumanDuration,
}

fn default_interval() -> HumanDuration {
    HumanDuration(MetricsSpec::DEFAULT_INTERVAL)
}

impl From<RawMetrics> for MetricsSpec {
    fn from(m: RawMetrics) -> MetricsSpec {
        MetricsSpec {
            interval: m.interval.get(),
        }
    }
}

/// `ordering:` as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOrdering {
    #[serde(default)]
    pub catalog: Option<BTreeMap<String, u64>>,
}

impl From<RawOrdering> for OrderingSpec {
    fn from(o: RawOrdering) -> OrderingSpec {
        match o.catalog {
            Some(catalog) => OrderingSpec { catalog },
            None => OrderingSpec::default_catalog(),
        }
    }
}
