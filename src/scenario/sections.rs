//! The top-level sections of a scenario file, as written, and their defaults.
//!
//! The top level is read by hand rather than by one derived struct, so that every section is
//! deserialized on its own (a mistake in `network` does not hide one in `tasks`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::de::Text;
use super::{
    DiscoverySpec, MeshSource, MetricsSpec, NetworkSpec, OrderingSpec, ReportSpec, TaskSpec,
};
use crate::engine::SimTime;
use crate::engine::defaults::EnvoyDefaults;
use crate::engine::extensions::SidecarExtensions;
use crate::engine::failure_accrual::{BreakerConfigError, FailureAccrualConfig, HostBreakers};
use crate::engine::fault::Percent;
use crate::engine::ratelimit::{
    DEFAULT_STATUS, LocalRateLimitConfig, LocalRateLimiter, RateLimitError, TokenBucket,
};
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
    ("report", Presence::Optional),
    ("faults", Presence::Optional),
    ("sidecars", Presence::Optional),
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
    #[serde(default)]
    pub envoy_defaults: EnvoyDefaults,
    #[serde(default)]
    pub lenient: bool,
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
            envoy_defaults: self.envoy_defaults,
            lenient: self.lenient,
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

/// `report:` as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReport {
    #[serde(default = "default_trace_sample")]
    pub trace_sample: f64,
}

fn default_trace_sample() -> f64 {
    ReportSpec::DEFAULT_TRACE_SAMPLE
}

impl From<RawReport> for ReportSpec {
    fn from(r: RawReport) -> ReportSpec {
        ReportSpec {
            trace_sample: r.trace_sample,
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

/// One `sidecars:` entry as written: the extensions of one virtual node's sidecars.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSidecar {
    #[serde(default)]
    pub rate_limit: Option<RawRateLimit>,
    #[serde(default)]
    pub failure_accrual: Option<RawFailureAccrual>,
}

/// `rate_limit:`, Envoy's `local_ratelimit` filter with its field names; the token bucket's
/// fields are written flat (`max_tokens`, not `token_bucket.max_tokens`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimit {
    pub max_tokens: u32,
    #[serde(default = "one")]
    pub tokens_per_fill: u32,
    pub fill_interval: HumanDuration,
    #[serde(default = "default_limited_status")]
    pub status: u16,
    #[serde(default = "hundred")]
    pub filter_enabled: f64,
    #[serde(default = "hundred")]
    pub filter_enforced: f64,
}

fn default_limited_status() -> u16 {
    DEFAULT_STATUS
}
/// Envoy defaults `filter_enabled` and `filter_enforced` to 0 %, which limits nothing; a
/// scenario that writes a rate limit means it.
fn hundred() -> f64 {
    100.0
}

/// `failure_accrual:`, Linkerd's consecutive failure accrual with its annotation names
/// (`...-consecutive-max-failures` is `consecutive_failures`); defaults are Linkerd's.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFailureAccrual {
    #[serde(default = "default_failures")]
    pub consecutive_failures: u32,
    #[serde(default = "default_min_penalty")]
    pub min_penalty: HumanDuration,
    #[serde(default = "default_max_penalty")]
    pub max_penalty: HumanDuration,
    #[serde(default = "default_jitter")]
    pub jitter_ratio: f64,
}

fn default_failures() -> u32 {
    FailureAccrualConfig::default().consecutive_failures
}
fn default_min_penalty() -> HumanDuration {
    HumanDuration(FailureAccrualConfig::default().min_penalty)
}
fn default_max_penalty() -> HumanDuration {
    HumanDuration(FailureAccrualConfig::default().max_penalty)
}
fn default_jitter() -> f64 {
    FailureAccrualConfig::default().jitter_ratio
}

impl RawSidecar {
    /// The extensions, checked the way Envoy and Linkerd would check them; errors name the
    /// field (relative to the entry) and say what is wrong.
    pub fn build(&self) -> Result<SidecarExtensions, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let rate_limit = self.rate_limit.as_ref().and_then(|r| {
            let field = |f: &str| format!("rate_limit.{f}");
            let percent = |name: &str, v: f64, errors: &mut Vec<(String, String)>| {
                Percent::new(v)
                    .map_err(|e| errors.push((field(name), e.to_string())))
                    .ok()
            };
            let enabled = percent("filter_enabled", r.filter_enabled, &mut errors);
            let enforced = percent("filter_enforced", r.filter_enforced, &mut errors);
            let config = LocalRateLimitConfig {
                token_bucket: TokenBucket {
                    max_tokens: r.max_tokens,
                    tokens_per_fill: r.tokens_per_fill,
                    fill_interval: r.fill_interval.get(),
                },
                status: r.status,
                filter_enabled: enabled?,
                filter_enforced: enforced?,
                x_ratelimit_headers: false,
            };
            match LocalRateLimiter::new(config, SimTime::ZERO) {
                Ok(_) => Some(config),
                Err(e) => {
                    let name = match e {
                        RateLimitError::ZeroMaxTokens => "max_tokens",
                        RateLimitError::ZeroTokensPerFill => "tokens_per_fill",
                        RateLimitError::FillIntervalTooShort(_) => "fill_interval",
                        RateLimitError::Status(_) => "status",
                    };
                    errors.push((field(name), e.to_string()));
                    None
                }
            }
        });
        let failure_accrual = self.failure_accrual.as_ref().and_then(|f| {
            let config = FailureAccrualConfig {
                consecutive_failures: f.consecutive_failures,
                min_penalty: f.min_penalty.get(),
                max_penalty: f.max_penalty.get(),
                jitter_ratio: f.jitter_ratio,
            };
            match HostBreakers::new(config) {
                Ok(_) => Some(config),
                Err(e) => {
                    let name = match e {
                        BreakerConfigError::ZeroFailures => "consecutive_failures",
                        BreakerConfigError::Penalties { min, .. } if min.is_zero() => "min_penalty",
                        BreakerConfigError::Penalties { .. } => "max_penalty",
                        BreakerConfigError::Jitter(_) => "jitter_ratio",
                    };
                    errors.push((format!("failure_accrual.{name}"), e.to_string()));
                    None
                }
            }
        });
        if errors.is_empty() {
            Ok(SidecarExtensions {
                rate_limit,
                failure_accrual,
            })
        } else {
            Err(errors)
        }
    }
}
