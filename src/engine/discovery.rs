//! A Cloud Map-like service registry and DNS names, with a propagation delay to the sidecars.
//!
//! Tasks register when they start and deregister when they stop; a sidecar learns of either
//! only after a delay (Cloud Map's API, then App Mesh's control plane pushing endpoints to
//! Envoy). Until then it keeps sending to a task that already left, or ignores one that
//! already arrived: stale endpoints are a real failure mode of rolling deployments (see
//! aws/aws-app-mesh-roadmap#213 and #362), and this module reproduces it.
//!
//! Semantics:
//! - Every change becomes visible exactly `propagation_delay` after it happened:
//!   [`Registry::discover`] at `now` answers from the registry as it was at
//!   `now − propagation_delay`; until the delay has passed since time 0, nothing is visible.
//! - Changes at the same instant are applied together, in call order; a change that leaves
//!   an instance as it was (or changes made and undone at one instant) is no change at all,
//!   so [`Registry::generation_at`] moves only when what a sidecar sees moves.
//! - Registering an id that is registered replaces the instance (address, port, attributes,
//!   registration), as Cloud Map's `RegisterInstance` does, and, **choice**, resets its
//!   health to healthy, as a fresh registration would be.
//! - Health is Cloud Map's custom health status (`UpdateInstanceCustomHealthStatus`). A new
//!   instance starts healthy, as `RegisterInstance` does without `AWS_INIT_HEALTH_STATUS`; to
//!   register one unhealthy (App Mesh's Kubernetes controller does so for pods not yet
//!   ready), call [`Registry::set_health`] at the same instant, and no sidecar ever sees it
//!   healthy. A Cloud Map service without health checks is one nobody marks unhealthy.
//! - Cloud Map queries return healthy instances only ([`HealthFilter::Healthy`]): for a
//!   service with health checks, `DiscoverInstances` returns healthy instances unless its
//!   `HealthStatus` parameter asks for `ALL`, `UNHEALTHY` or `HEALTHY_OR_ELSE_ALL` (the
//!   fail-open variant, added in 2021). The other filters are opt-in here as there.
//! - DNS names answer like the Route 53 multivalue records Cloud Map creates for DNS
//!   namespaces: the healthy records, or, when none is healthy, the unhealthy ones (Route 53
//!   answers with up to eight). **Choice:** every matching record is returned, not a subset
//!   of eight, since a resolver picking a random eight would hide tasks from some sidecars
//!   for reasons no scenario asks about. Names compare case-insensitively and without a
//!   trailing dot, as DNS names do.
//! - A Cloud Map registration is found by Cloud Map queries only and a DNS one by DNS
//!   queries only: this registry does not derive `service.namespace` records.
//! - **Choice:** a DNS name answers its records in one fixed order (by instance id), as a
//!   resolver handing out a cached answer does; so a DNS `LOADBALANCER` node's logical host
//!   ([`LogicalHost`]) stays on one task while that task stays registered.
//!
//! What a client makes of the answer depends on the cluster type App Mesh generates for the
//! node ([`ClusterType`]): one host per instance (Cloud Map, DNS `ENDPOINTS`), or one logical
//! host for the whole name (DNS `LOADBALANCER`, the default).
//!
//! Calls must come with non-decreasing times, as a discrete-event world makes them; a change
//! reported with an earlier time than one already applied is applied at that later time.
//! History older than `now − propagation_delay` at the latest change is dropped, so a query
//! for an instant before that answers as of the oldest history kept.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::model::{DnsResponseType, ServiceDiscovery};
use crate::engine::SimTime;

/// How an instance is registered, and so which queries find it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Registration {
    /// A Cloud Map service instance.
    CloudMap {
        /// Namespace name.
        namespace: String,
        /// Service name.
        service: String,
    },
    /// A DNS record under `hostname`.
    Dns {
        /// The name that resolves to this instance.
        hostname: String,
    },
}

/// A task as it registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// Instance id, unique in the registry (an ECS task id, a pod name).
    pub id: String,
    /// The task's host name in the simulated network.
    pub address: String,
    /// The port its sidecar listens on.
    pub port: u16,
    /// Where it is registered.
    pub registration: Registration,
    /// Custom attributes that Cloud Map queries filter on (`version: v2`).
    pub attributes: BTreeMap<String, String>,
}

/// An instance as a sidecar sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveredInstance {
    /// Instance id.
    pub id: String,
    /// Host name.
    pub address: String,
    /// Port.
    pub port: u16,
    /// Its health status; `false` only when a fail-open answer returns unhealthy instances.
    pub healthy: bool,
    /// Custom attributes.
    pub attributes: BTreeMap<String, String>,
}

/// Which instances a Cloud Map query returns, by health status (`DiscoverInstances`'
/// `HealthStatus` parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HealthFilter {
    /// Healthy instances only (Cloud Map's default).
    #[default]
    Healthy,
    /// Every instance.
    All,
    /// Healthy instances, or every instance when none is healthy (fail open).
    HealthyOrElseAll,
}

/// An instance's state at one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    instance: Instance,
    healthy: bool,
}

/// One state of an instance, from `at` until the next entry's instant.
#[derive(Clone, Debug)]
struct Entry {
    at: SimTime,
    /// Stamp from a registry-wide counter: later changes have larger stamps.
    stamp: u64,
    /// `None`: not registered.
    record: Option<Record>,
}

/// One instance's history: consecutive entries differ, instants strictly increase.
type History = Vec<Entry>;

/// The registry: what was registered when, and what sidecars see of it.
#[derive(Clone, Debug)]
pub struct Registry {
    delay: Duration,
    health: HealthFilter,
    histories: BTreeMap<String, History>,
    /// The last stamp given out.
    stamp: u64,
    /// The largest stamp among entries dropped by pruning (all of them visible to any query
    /// still to come), so that generations do not go back when history is dropped.
    pruned: u64,
    /// The latest instant a change was applied at.
    latest: SimTime,
}

impl Registry {
    /// An empty registry whose changes reach sidecars `propagation_delay` after they happen.
    pub fn new(propagation_delay: Duration) -> Registry {
        Registry {
            delay: propagation_delay,
            health: HealthFilter::default(),
            histories: BTreeMap::new(),
            stamp: 0,
            pruned: 0,
            latest: SimTime::ZERO,
        }
    }

    /// The same registry answering Cloud Map queries with `filter`.
    pub fn with_health_filter(mut self, filter: HealthFilter) -> Registry {
        self.health = filter;
        self
    }

    /// The delay between a change and the moment sidecars see it.
    pub fn propagation_delay(&self) -> Duration {
        self.delay
    }

    /// Registers `instance` at `now`, replacing any instance with its id.
    pub fn register(&mut self, now: SimTime, instance: Instance) {
        let id = instance.id.clone();
        self.change(now, &id, |_| {
            Some(Record {
                instance,
                healthy: true,
            })
        });
    }

    /// Deregisters instance `id` at `now`; `false` if it was not registered.
    pub fn deregister(&mut self, now: SimTime, id: &str) -> bool {
        self.change(now, id, |_| None)
    }

    /// Sets instance `id`'s health status at `now` (Cloud Map's
    /// `UpdateInstanceCustomHealthStatus`); `false` if it is not registered.
    pub fn set_health(&mut self, now: SimTime, id: &str, healthy: bool) -> bool {
        self.change(now, id, |current| {
            current.map(|r| Record {
                instance: r.instance.clone(),
                healthy,
            })
        })
    }

    /// Applies `f` to instance `id`'s latest state at `now`. Returns whether the instance was
    /// registered before the change (the answer `deregister` and `set_health` give).
    fn change(
        &mut self,
        now: SimTime,
        id: &str,
        f: impl FnOnce(Option<&Record>) -> Option<Record>,
    ) -> bool {
        let now = now.max(self.latest);
        self.latest = now;
        let history = self.histories.entry(id.to_string()).or_default();
        let current = history.last().and_then(|e| e.record.as_ref());
        let existed = current.is_some();
        let next = f(current);
        // A change at the instant of the last entry rewrites it; what it is compared with is
        // the state just before that instant.
        if history.last().is_some_and(|e| e.at == now) {
            history.pop();
        }
        let before = history.last().and_then(|e| e.record.as_ref());
        if before != next.as_ref() {
            self.stamp += 1;
            history.push(Entry {
                at: now,
                stamp: self.stamp,
                record: next,
            });
        }
        if history.is_empty() {
            self.histories.remove(id);
        }
        self.prune();
        existed
    }

    /// The instant whose registry state sidecars see at `now`.
    ///
    /// The state at time 0 is the world's starting state: the tasks that start with the run
    /// were up before it began, so sidecars see them from the first instant (otherwise every
    /// run would open with `propagation_delay` of 503s while the mesh "discovers" itself).
    /// Every later change reaches sidecars `propagation_delay` after it happens.
    fn horizon(&self, now: SimTime) -> Option<SimTime> {
        let delay = u64::try_from(self.delay.as_nanos()).unwrap_or(u64::MAX);
        let n = now.as_nanos().saturating_sub(delay);
        Some(SimTime::from_duration(Duration::from_nanos(n)))
    }

    /// Drops history no query can need: every entry superseded by one already visible to
    /// the latest change's sidecars, and instances whose visible state is "deregistered"
    /// with nothing after it.
    fn prune(&mut self) {
        let Some(horizon) = self.horizon(self.latest) else {
            return;
        };
        let mut pruned = self.pruned;
        self.histories.retain(|_, history| {
            let visible = history.partition_point(|e| e.at <= horizon);
            // Stamps increase along a history: the dropped ones are below the kept one.
            history.drain(..visible.saturating_sub(1));
            let gone = matches!(&history[..], [e] if e.at <= horizon && e.record.is_none());
            if gone {
                pruned = pruned.max(history[0].stamp);
            }
            !gone
        });
        self.pruned = pruned;
    }

    /// Every instance registered as of `horizon`.
    fn state_at(&self, horizon: SimTime) -> impl Iterator<Item = &Record> {
        self.histories.values().filter_map(move |history| {
            let i = history.partition_point(|e| e.at <= horizon);
            i.checked_sub(1).and_then(|i| history[i].record.as_ref())
        })
    }

    /// What a sidecar resolving `query` sees at `now`, sorted by instance id.
    pub fn discover(&self, now: SimTime, query: &ServiceDiscovery) -> Vec<DiscoveredInstance> {
        let Some(horizon) = self.horizon(now) else {
            return Vec::new();
        };
        let (matching, filter): (Vec<&Record>, HealthFilter) = match query {
            ServiceDiscovery::CloudMap {
                namespace_name,
                service_name,
                attributes,
                ..
            } => {
                let matches = |r: &&Record| {
                    r.instance.registration
                        == Registration::CloudMap {
                            namespace: namespace_name.clone(),
                            service: service_name.clone(),
                        }
                        && attributes
                            .iter()
                            .all(|(k, v)| r.instance.attributes.get(k) == Some(v))
                };
                (
                    self.state_at(horizon).filter(matches).collect(),
                    self.health,
                )
            }
            ServiceDiscovery::Dns { hostname, .. } => {
                let name = dns_name(hostname);
                let matches = |r: &&Record| {
                    matches!(&r.instance.registration,
                        Registration::Dns { hostname } if dns_name(hostname) == name)
                };
                let records = self.state_at(horizon).filter(matches).collect();
                (records, HealthFilter::HealthyOrElseAll)
            }
        };
        let any_healthy = matching.iter().any(|r| r.healthy);
        let keep = |r: &&Record| match filter {
            HealthFilter::Healthy => r.healthy,
            HealthFilter::All => true,
            HealthFilter::HealthyOrElseAll => r.healthy || !any_healthy,
        };
        // `histories` is a BTreeMap by id, so this is already in id order.
        matching
            .into_iter()
            .filter(keep)
            .map(|r| DiscoveredInstance {
                id: r.instance.id.clone(),
                address: r.instance.address.clone(),
                port: r.instance.port,
                healthy: r.healthy,
                attributes: r.instance.attributes.clone(),
            })
            .collect()
    }

    /// A number that changes exactly when the registry state visible at `now` changes, so a
    /// sidecar can skip re-resolving while it stays the same: the stamp of the latest change
    /// visible. Changes are stamped in order and their instants never decrease, so a change
    /// becoming visible always has a larger stamp than every change visible before it, and
    /// the number only grows as `now` advances.
    pub fn generation_at(&self, now: SimTime) -> u64 {
        let Some(horizon) = self.horizon(now) else {
            return 0;
        };
        self.histories
            .values()
            .filter_map(|h| {
                let i = h.partition_point(|e| e.at <= horizon);
                i.checked_sub(1).map(|i| h[i].stamp)
            })
            .fold(self.pruned, u64::max)
    }

    /// The first instant after `now` at which sidecars see a change already made, so the
    /// world can schedule a wake-up; `None` when every change made so far is visible.
    pub fn next_visible_change(&self, now: SimTime) -> Option<SimTime> {
        let horizon = self.horizon(now);
        self.histories
            .values()
            .flat_map(|h| h.iter().map(|e| e.at))
            .filter(|at| horizon.is_none_or(|h| *at > h))
            .min()
            .map(|at| at + self.delay)
    }
}

/// The Envoy cluster type App Mesh generates for a virtual node's service discovery, which
/// decides what a client's upstream hosts are.
///
/// Sources: the App Mesh controller's `responseType` (aws-app-mesh-controller-for-k8s PR
/// #479: `ENDPOINTS` is strict DNS, `LOADBALANCER` and unset are logical DNS); the user guide
/// (virtual_nodes.md: with several addresses "the Envoy proxy chooses one of the addresses
/// using the Logical DNS service discovery type"); aws-app-mesh-roadmap#70 (every request
/// from one service's Envoy went to one task of the next) and #273 (outlier detection cannot
/// work with DNS discovery: one host only; use Cloud Map).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterType {
    /// Cloud Map: Envoy EDS, one host per instance the query returns.
    Eds,
    /// DNS `responseType: ENDPOINTS`: Envoy STRICT_DNS, one host per address.
    StrictDns,
    /// DNS `responseType: LOADBALANCER` or unset: Envoy LOGICAL_DNS, one logical host whose
    /// new connections go to the first address of the latest answer. Round robin, outlier
    /// detection and health checks all see that one host, so none of them acts per task.
    LogicalDns,
}

impl ClusterType {
    /// The cluster type for a node's `serviceDiscovery`.
    pub fn of(discovery: &ServiceDiscovery) -> ClusterType {
        match discovery {
            ServiceDiscovery::CloudMap { .. } => ClusterType::Eds,
            ServiceDiscovery::Dns {
                response_type: Some(DnsResponseType::Endpoints),
                ..
            } => ClusterType::StrictDns,
            ServiceDiscovery::Dns { .. } => ClusterType::LogicalDns,
        }
    }

    /// Whether each instance is a host of its own (EDS, STRICT_DNS).
    pub fn per_instance(self) -> bool {
        self != ClusterType::LogicalDns
    }
}

/// The one host of a LOGICAL_DNS cluster: where its new connections go
/// (`source/extensions/clusters/logical_dns/logical_dns_cluster.cc`).
///
/// Each resolution that returns addresses makes the first of them the address new
/// connections are opened to; connections already open are kept (the caller's pool does
/// that). An answer with no address changes nothing: Envoy keeps the last address rather than
/// drop to no host, so a client that once resolved the name always has a host to try.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogicalHost {
    address: Option<(String, u16)>,
}

impl LogicalHost {
    /// A logical host not resolved yet (no host: requests get 503 `UH`).
    pub fn new() -> LogicalHost {
        LogicalHost::default()
    }

    /// Applies one resolution's answer, in answer order; returns whether the address new
    /// connections go to changed.
    pub fn on_resolution(&mut self, answer: &[DiscoveredInstance]) -> bool {
        let Some(first) = answer.first() else {
            return false;
        };
        let next = Some((first.address.clone(), first.port));
        let changed = self.address != next;
        self.address = next;
        changed
    }

    /// Where new connections go, once the name has resolved.
    pub fn address(&self) -> Option<(&str, u16)> {
        self.address.as_ref().map(|(a, p)| (a.as_str(), *p))
    }
}

/// A DNS name in the form names compare in: lower case, without a trailing dot.
fn dns_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELAY: Duration = Duration::from_secs(5);

    fn at(ms: u64) -> SimTime {
        SimTime::from_millis(ms)
    }

    fn cloud_map(id: &str, service: &str, attributes: &[(&str, &str)]) -> Instance {
        Instance {
            id: id.into(),
            address: format!("{id}.task"),
            port: 8080,
            registration: Registration::CloudMap {
                namespace: "apps.local".into(),
                service: service.into(),
            },
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn dns(id: &str, hostname: &str) -> Instance {
        Instance {
            registration: Registration::Dns {
                hostname: hostname.into(),
            },
            ..cloud_map(id, "", &[])
        }
    }

    fn query(service: &str, attributes: &[(&str, &str)]) -> ServiceDiscovery {
        ServiceDiscovery::CloudMap {
            namespace_name: "apps.local".into(),
            service_name: service.into(),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ip_preference: None,
        }
    }

    fn dns_query(hostname: &str) -> ServiceDiscovery {
        ServiceDiscovery::Dns {
            hostname: hostname.into(),
            response_type: None,
            ip_preference: None,
        }
    }

    fn ids(r: &Registry, now: SimTime, q: &ServiceDiscovery) -> Vec<String> {
        r.discover(now, q).into_iter().map(|d| d.id).collect()
    }

    #[test]
    fn changes_become_visible_exactly_one_delay_later() {
        let mut r = Registry::new(DELAY);
        let q = query("orders", &[]);
        r.register(at(10_000), cloud_map("t1", "orders", &[]));
        assert!(ids(&r, at(10_000), &q).is_empty(), "not at once");
        let just_before = SimTime::from_duration(Duration::from_nanos(14_999_999_999));
        assert!(
            ids(&r, just_before, &q).is_empty(),
            "not a nanosecond early"
        );
        assert_eq!(ids(&r, at(15_000), &q), ["t1"]);
        assert_eq!(r.next_visible_change(at(10_000)), Some(at(15_000)));
        assert_eq!(r.next_visible_change(at(15_000)), None);

        // The task leaves at 20 s; sidecars keep it (stale) until 25 s.
        assert!(r.deregister(at(20_000), "t1"));
        assert_eq!(r.next_visible_change(at(20_000)), Some(at(25_000)));
        assert_eq!(
            ids(&r, at(24_999), &q),
            ["t1"],
            "stale until the change arrives"
        );
        assert!(ids(&r, at(25_000), &q).is_empty());
        assert_eq!(r.next_visible_change(at(25_000)), None);
        // Unknown ids change nothing.
        assert!(!r.deregister(at(30_000), "t1"));
        assert!(!r.set_health(at(30_000), "nobody", false));
        assert_eq!(r.next_visible_change(at(30_000)), None);
    }

    #[test]
    fn the_starting_state_is_visible_at_once_and_later_changes_after_the_delay() {
        let mut r = Registry::new(DELAY);
        r.register(SimTime::ZERO, cloud_map("t1", "orders", &[]));
        r.register(at(1), cloud_map("t2", "orders", &[]));
        // Registered at time 0: up before the run began, seen from the first instant.
        assert_eq!(ids(&r, SimTime::ZERO, &query("orders", &[])), ["t1"]);
        assert_eq!(ids(&r, at(5_000), &query("orders", &[])), ["t1"]);
        // Registered at 1 ms: seen from 5 001 ms.
        assert_eq!(ids(&r, at(5_001), &query("orders", &[])), ["t1", "t2"]);
        assert!(r.generation_at(at(5_000)) < r.generation_at(at(5_001)));
        // Without a delay, a change is visible at its own instant.
        let mut now = Registry::new(Duration::ZERO);
        now.register(at(7), cloud_map("t1", "orders", &[]));
        assert_eq!(ids(&now, at(7), &query("orders", &[])), ["t1"]);
    }

    #[test]
    fn cloud_map_queries_need_namespace_service_and_every_attribute() {
        let mut r = Registry::new(Duration::ZERO);
        r.register(
            at(0),
            cloud_map("a", "orders", &[("version", "v1"), ("az", "a")]),
        );
        r.register(
            at(0),
            cloud_map("b", "orders", &[("version", "v2"), ("az", "a")]),
        );
        r.register(
            at(0),
            cloud_map("c", "orders", &[("version", "v2"), ("az", "b")]),
        );
        r.register(at(0), cloud_map("d", "orders", &[]));
        r.register(at(0), cloud_map("e", "payments", &[("version", "v2")]));
        let mut other_ns = cloud_map("f", "orders", &[("version", "v2")]);
        other_ns.registration = Registration::CloudMap {
            namespace: "other.local".into(),
            service: "orders".into(),
        };
        r.register(at(0), other_ns);
        let now = at(1);
        assert_eq!(ids(&r, now, &query("orders", &[])), ["a", "b", "c", "d"]);
        assert_eq!(
            ids(&r, now, &query("orders", &[("version", "v2")])),
            ["b", "c"]
        );
        assert_eq!(
            ids(&r, now, &query("orders", &[("version", "v2"), ("az", "a")])),
            ["b"]
        );
        assert!(ids(&r, now, &query("orders", &[("version", "v3")])).is_empty());
        assert!(ids(&r, now, &query("orders", &[("team", "x")])).is_empty());
        assert!(ids(&r, now, &query("nothing", &[])).is_empty());
        // A DNS query does not see Cloud Map instances.
        assert!(ids(&r, now, &dns_query("orders.apps.local")).is_empty());
        let seen = r.discover(now, &query("orders", &[("az", "b")]));
        assert_eq!(seen[0].address, "c.task");
        assert_eq!(seen[0].port, 8080);
        assert_eq!(
            seen[0].attributes.get("version").map(String::as_str),
            Some("v2")
        );
    }

    #[test]
    fn dns_names_match_like_dns_and_fail_open() {
        let mut r = Registry::new(Duration::ZERO);
        r.register(at(0), dns("a", "Orders.Apps.Local."));
        r.register(at(0), dns("b", "orders.apps.local"));
        r.register(at(0), dns("c", "payments.apps.local"));
        r.register(at(0), cloud_map("d", "orders", &[]));
        let q = dns_query("orders.apps.local");
        assert_eq!(ids(&r, at(0), &q), ["a", "b"]);
        assert_eq!(ids(&r, at(0), &dns_query("ORDERS.apps.local.")), ["a", "b"]);
        // Unhealthy records drop out while a healthy one remains ...
        r.set_health(at(1), "a", false);
        assert_eq!(ids(&r, at(1), &q), ["b"]);
        // ... and all come back, marked unhealthy, when none is healthy (multivalue answers).
        r.set_health(at(2), "b", false);
        let seen = r.discover(at(2), &q);
        assert_eq!(
            seen.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(seen.iter().all(|d| !d.healthy));
    }

    #[test]
    fn cloud_map_returns_healthy_instances_unless_told_otherwise() {
        let setup = |filter: HealthFilter| {
            let mut r = Registry::new(DELAY).with_health_filter(filter);
            r.register(at(0), cloud_map("a", "orders", &[]));
            r.register(at(0), cloud_map("b", "orders", &[]));
            r.set_health(at(1_000), "a", false);
            r
        };
        let q = query("orders", &[]);
        let healthy = setup(HealthFilter::Healthy);
        assert_eq!(
            ids(&healthy, at(5_999), &q),
            ["a", "b"],
            "health propagates too"
        );
        assert_eq!(ids(&healthy, at(6_000), &q), ["b"]);
        assert_eq!(ids(&setup(HealthFilter::All), at(6_000), &q), ["a", "b"]);
        let open = setup(HealthFilter::HealthyOrElseAll);
        assert_eq!(ids(&open, at(6_000), &q), ["b"]);
        let mut none_healthy = open;
        none_healthy.set_health(at(2_000), "b", false);
        assert_eq!(ids(&none_healthy, at(7_000), &q), ["a", "b"]);
        let mut strict = healthy;
        strict.set_health(at(2_000), "b", false);
        assert!(
            ids(&strict, at(7_000), &q).is_empty(),
            "no fail-open by default"
        );
        // Healthy again: visible again one delay later.
        strict.set_health(at(3_000), "a", true);
        assert!(ids(&strict, at(7_999), &q).is_empty());
        assert_eq!(ids(&strict, at(8_000), &q), ["a"]);
    }

    #[test]
    fn an_instance_registered_unhealthy_is_never_seen_healthy() {
        // register + set_health at one instant: one change, the unhealthy one.
        let mut r = Registry::new(DELAY).with_health_filter(HealthFilter::All);
        r.register(at(0), cloud_map("a", "orders", &[]));
        r.set_health(at(0), "a", false);
        let seen = r.discover(at(5_000), &query("orders", &[]));
        assert_eq!(seen.len(), 1);
        assert!(!seen[0].healthy);
        assert_eq!(r.generation_at(at(5_000)), r.generation_at(at(60_000)));
    }

    #[test]
    fn results_are_sorted_by_id_whatever_the_registration_order() {
        let mut r = Registry::new(Duration::ZERO);
        for (i, id) in ["task-c", "task-a", "task-b", "task-10"].iter().enumerate() {
            r.register(at(i as u64), cloud_map(id, "orders", &[]));
        }
        assert_eq!(
            ids(&r, at(10), &query("orders", &[])),
            ["task-10", "task-a", "task-b", "task-c"]
        );
    }

    #[test]
    fn re_registering_an_id_replaces_it_after_the_delay() {
        let mut r = Registry::new(DELAY);
        let q = query("orders", &[]);
        r.register(at(0), cloud_map("t1", "orders", &[("version", "v1")]));
        r.set_health(at(1_000), "t1", false);
        let mut moved = cloud_map("t1", "orders", &[("version", "v2")]);
        moved.address = "elsewhere".into();
        r.register(at(10_000), moved);
        let before = r.discover(at(14_999), &query("orders", &[]));
        assert!(before.is_empty(), "still the old, unhealthy record");
        let after = r.discover(at(15_000), &q);
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].address, "elsewhere");
        assert!(after[0].healthy, "a registration starts healthy");
        assert_eq!(
            ids(&r, at(15_000), &query("orders", &[("version", "v2")])),
            ["t1"]
        );
        // Re-registering the very same instance is no change.
        let g = r.generation_at(at(100_000));
        let mut same = cloud_map("t1", "orders", &[("version", "v2")]);
        same.address = "elsewhere".into();
        r.register(at(20_000), same);
        assert_eq!(r.next_visible_change(at(20_000)), None);
        assert_eq!(r.generation_at(at(100_000)), g);
    }

    #[test]
    fn the_generation_moves_exactly_when_the_visible_state_does() {
        let mut r = Registry::new(DELAY);
        let g = |r: &Registry, ms: u64| r.generation_at(at(ms));
        r.register(at(1_000), cloud_map("a", "orders", &[]));
        r.register(at(1_000), cloud_map("b", "orders", &[]));
        r.register(at(2_000), cloud_map("c", "orders", &[]));
        assert_eq!(g(&r, 0), g(&r, 5_999));
        assert!(g(&r, 6_000) > g(&r, 5_999), "a and b arrive together");
        assert_eq!(g(&r, 6_000), g(&r, 6_999));
        assert!(g(&r, 7_000) > g(&r, 6_999), "c arrives");
        // No-op changes leave it alone; so does a change undone at the same instant.
        let settled = g(&r, 50_000);
        r.set_health(at(3_000), "a", true);
        r.deregister(at(3_000), "zzz");
        r.register(at(4_000), cloud_map("d", "orders", &[]));
        r.deregister(at(4_000), "d");
        r.set_health(at(4_000), "b", false);
        r.set_health(at(4_000), "b", true);
        assert_eq!(g(&r, 50_000), settled);
        // At 7 s every earlier real change is visible; a no-op kept would be due at 8 or 9 s.
        assert_eq!(r.next_visible_change(at(7_000)), None);
        // A real change moves it, one delay later.
        r.deregister(at(10_000), "a");
        assert_eq!(g(&r, 14_999), settled);
        assert!(g(&r, 15_000) > settled);
    }

    #[test]
    fn old_history_is_dropped_without_moving_generations_back() {
        let mut r = Registry::new(DELAY);
        let q = query("orders", &[]);
        let mut last = 0;
        for i in 0..1_000u64 {
            let now = at(i * 1_000);
            let id = format!("t{}", i % 7);
            if i % 3 == 0 {
                r.deregister(now, &id);
            } else {
                r.register(now, cloud_map(&id, "orders", &[]));
            }
            let g = r.generation_at(now);
            assert!(g >= last, "generation went back at {now}");
            last = g;
        }
        let entries: usize = r.histories.values().map(Vec::len).sum();
        assert!(entries <= 7 * 7, "{entries} history entries kept");
        // What is left still answers: the state 5 s before the last change.
        let mut replay = Registry::new(Duration::ZERO);
        for i in 0..995u64 {
            let id = format!("t{}", i % 7);
            if i % 3 == 0 {
                replay.deregister(at(i * 1_000), &id);
            } else {
                replay.register(at(i * 1_000), cloud_map(&id, "orders", &[]));
            }
        }
        let expected = ids(&replay, at(994_000), &q);
        assert!(!expected.is_empty());
        assert_eq!(ids(&r, at(999_000), &q), expected);
    }

    #[test]
    fn dropping_a_departed_instance_never_revisits_an_old_generation() {
        // x registers, then a, then x leaves. A sidecar that last looked while both were
        // there holds that generation; after x's history is dropped the generation must not
        // fall back to it, or the sidecar would keep x forever.
        let mut r = Registry::new(Duration::from_secs(1));
        r.register(at(0), cloud_map("x", "orders", &[]));
        r.register(at(1_000), cloud_map("a", "orders", &[]));
        r.deregister(at(2_000), "x");
        let cached = r.generation_at(at(2_500));
        assert_eq!(ids(&r, at(2_500), &query("orders", &[])), ["a", "x"]);
        r.register(at(10_000), cloud_map("b", "other", &[]));
        assert!(!r.histories.contains_key("x"), "x's history was dropped");
        assert_ne!(r.generation_at(at(10_000)), cached);
        assert!(r.generation_at(at(10_000)) > cached);
    }

    #[test]
    fn a_late_change_is_applied_at_the_latest_instant() {
        let mut r = Registry::new(DELAY);
        r.register(at(10_000), cloud_map("a", "orders", &[]));
        r.register(at(3_000), cloud_map("b", "orders", &[]));
        assert_eq!(
            ids(&r, at(14_999), &query("orders", &[])),
            Vec::<String>::new()
        );
        assert_eq!(ids(&r, at(15_000), &query("orders", &[])), ["a", "b"]);
    }

    #[test]
    fn dns_loadbalancer_is_one_logical_host_on_the_first_address() {
        // App Mesh: LOADBALANCER (the default) is LOGICAL_DNS, ENDPOINTS is STRICT_DNS, Cloud
        // Map is EDS.
        let lb = |rt| ServiceDiscovery::Dns {
            hostname: "inv.local".into(),
            response_type: rt,
            ip_preference: None,
        };
        assert_eq!(ClusterType::of(&lb(None)), ClusterType::LogicalDns);
        assert_eq!(
            ClusterType::of(&lb(Some(DnsResponseType::LoadBalancer))),
            ClusterType::LogicalDns
        );
        assert_eq!(
            ClusterType::of(&lb(Some(DnsResponseType::Endpoints))),
            ClusterType::StrictDns
        );
        assert_eq!(ClusterType::of(&query("orders", &[])), ClusterType::Eds);
        assert!(!ClusterType::LogicalDns.per_instance());

        // Three tasks answer the name: the logical host takes the first; it stays there
        // while the first stays registered, moves when it leaves, and an empty answer keeps
        // the last address (Envoy does not drop to no host).
        let mut r = Registry::new(DELAY);
        for id in ["t-3", "t-1", "t-2"] {
            r.register(at(0), dns(id, "inv.local"));
        }
        let q = dns_query("inv.local");
        let mut host = LogicalHost::new();
        assert_eq!(host.address(), None);
        assert!(host.on_resolution(&r.discover(at(0), &q)));
        assert_eq!(host.address(), Some(("t-1.task", 8080)));
        r.register(at(1_000), dns("t-0", "other.local"));
        assert!(!host.on_resolution(&r.discover(at(7_000), &q)));
        r.deregister(at(10_000), "t-1");
        assert!(host.on_resolution(&r.discover(at(15_000), &q)));
        assert_eq!(host.address(), Some(("t-2.task", 8080)));
        r.deregister(at(20_000), "t-2");
        r.deregister(at(20_000), "t-3");
        assert!(r.discover(at(25_000), &q).is_empty());
        assert!(!host.on_resolution(&r.discover(at(25_000), &q)));
        assert_eq!(host.address(), Some(("t-2.task", 8080)));
    }
}
