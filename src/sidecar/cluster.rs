//! One upstream cluster of a sidecar: the hosts of one virtual node's listener as service
//! discovery shows them to this sidecar, with the engine's endpoint state (load balancing,
//! outlier detection, health checks) indexed in the same order.
//!
//! Discovery is re-read only when what the sidecar may see has changed (the registry's
//! visible generation), and the endpoint state is kept across changes: a departed host is
//! removed from its index, a new one appended, so ejections and round-robin position survive
//! an unrelated task joining.
//!
//! A node with failure accrual (a scenario extension) also gets one breaker per host here,
//! keyed by the host's registry id. The cluster's own circuit breakers (retries in flight,
//! and under Envoy's defaults its connection and request thresholds) sit here too; the
//! caller takes and gives back their slots through the hop ([`super::outbound`]).
//!
//! A DNS `LOADBALANCER` node (Envoy LOGICAL_DNS, [`ClusterType`]) has one host only, named
//! after the DNS name: each resolution moves where its new connections go to the first
//! address of the answer ([`LogicalHost`]), and its open connections stay in its pool.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use super::detail::{EventKind, HopDetail};
use super::mesh::MeshView;
use crate::config::model::{HealthCheck, Protocol, ServiceDiscovery};
use crate::engine::SimTime;
use crate::engine::balancer::BalancerConfig;
use crate::engine::breaker::{ListenerPool, Ticket, UNLIMITED};
use crate::engine::discovery::{ClusterType, LogicalHost, Registry};
use crate::engine::endpoints::Endpoints;
use crate::engine::failure_accrual::{
    BreakerState, HostBreakers, Outcome as AccrualOutcome, Permit, Transition,
};
use crate::engine::health::CheckResult;
use crate::engine::outlier::{EjectionDecision, RequestResult};
use crate::engine::retry_breaker::RetryGate;
use crate::engine::seed::Rng;
use crate::metrics::Counter;

/// The HTTP version a sidecar speaks to an upstream cluster: its listener's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HttpVersion {
    /// HTTP/1.1, one request per connection at a time.
    Http1,
    /// HTTP/2 (also gRPC), streams multiplexed on one connection.
    Http2,
}

impl HttpVersion {
    /// The version requests to a listener of `protocol` go out in.
    pub fn of(protocol: Protocol) -> HttpVersion {
        match protocol {
            Protocol::Http2 | Protocol::Grpc => HttpVersion::Http2,
            Protocol::Http | Protocol::Tcp => HttpVersion::Http1,
        }
    }
}

/// An upstream host: a task's address and listener port, or a LOGICAL_DNS cluster's one
/// host and the address its new connections go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamHost {
    /// Registry instance id; for a logical host, the DNS name.
    pub id: String,
    /// turmoil host name (where a new connection goes).
    pub address: String,
    /// Port.
    pub port: u16,
    /// The LOGICAL_DNS host: its connections are its own, wherever they were opened to.
    pub logical: bool,
}

impl UpstreamHost {
    /// The connection pool this host's requests use: the task's address, or the logical
    /// host's name, so connections opened to an earlier first address stay in use.
    pub fn pool_key(&self) -> &str {
        if self.logical {
            &self.id
        } else {
            &self.address
        }
    }
}

/// The hosts of one virtual node listener, and the endpoint state for them.
#[derive(Debug)]
pub struct Cluster {
    /// The virtual node.
    pub node: String,
    /// The listener port.
    pub port: u16,
    /// The listener protocol.
    pub protocol: Protocol,
    discovery: Option<ServiceDiscovery>,
    /// The LOGICAL_DNS host's resolution (unused for per-instance clusters).
    logical: LogicalHost,
    /// Engine state, indexed like `hosts`.
    pub endpoints: Endpoints,
    /// Hosts, in endpoint-index order.
    pub hosts: Vec<UpstreamHost>,
    /// Failure-accrual breakers per host, when the node has failure accrual.
    pub accrual: Option<HostBreakers>,
    /// The `max_retries` breaker (App Mesh's 2147483647 until set otherwise).
    pub retries: RetryGate,
    /// The cluster's connection and request thresholds, kept only when they can be reached
    /// (Envoy's defaults, 1024 each); `None` under App Mesh's 2147483647.
    pub pool: Option<ListenerPool>,
    /// Tickets of the hops waiting in `pool`'s pending queue (their drivers hold the
    /// wake-ups).
    pub waiting: BTreeSet<u64>,
    generation: Option<u64>,
}

impl Cluster {
    /// A cluster with no hosts yet.
    pub fn new(
        node: &str,
        port: u16,
        protocol: Protocol,
        discovery: Option<ServiceDiscovery>,
        endpoints: Endpoints,
    ) -> Cluster {
        Cluster {
            node: node.to_string(),
            port,
            protocol,
            discovery,
            logical: LogicalHost::new(),
            endpoints,
            hosts: Vec::new(),
            accrual: None,
            retries: RetryGate::new(UNLIMITED),
            pool: None,
            waiting: BTreeSet::new(),
            generation: None,
        }
    }

    /// Brings the host list up to what discovery shows at `now`, and runs outlier sweeps due.
    pub fn refresh(&mut self, now: SimTime, registry: &RefCell<Registry>) {
        if self.endpoints.next_event() <= now {
            self.endpoints.on_sweep(now);
        }
        let Some(query) = &self.discovery else {
            return;
        };
        let registry = registry.borrow();
        let generation = registry.generation_at(now);
        if self.generation == Some(generation) {
            return;
        }
        self.generation = Some(generation);
        let seen = registry.discover(now, query);
        if !ClusterType::of(query).per_instance() {
            if self.logical.on_resolution(&seen)
                && let Some((address, port)) = self.logical.address()
            {
                let ServiceDiscovery::Dns { hostname, .. } = query else {
                    return;
                };
                match self.hosts.first_mut() {
                    Some(h) => {
                        h.address = address.to_string();
                        h.port = port;
                    }
                    None => {
                        self.hosts.push(UpstreamHost {
                            id: hostname.clone(),
                            address: address.to_string(),
                            port,
                            logical: true,
                        });
                        self.endpoints.set_host_count(now, 1);
                    }
                }
            }
            return;
        }
        for i in (0..self.hosts.len()).rev() {
            if !seen.iter().any(|s| s.id == self.hosts[i].id) {
                self.hosts.remove(i);
                self.endpoints.remove_host(i);
            }
        }
        let before = self.hosts.len();
        for s in &seen {
            if let Some(h) = self.hosts.iter_mut().find(|h| h.id == s.id) {
                // Re-registered under the same id: same endpoint slot, new address.
                h.address.clone_from(&s.address);
                h.port = s.port;
            } else {
                self.hosts.push(UpstreamHost {
                    id: s.id.clone(),
                    address: s.address.clone(),
                    port: s.port,
                    logical: false,
                });
            }
        }
        if self.hosts.len() != before {
            self.endpoints.set_host_count(now, self.hosts.len());
        }
    }
}

/// The longest a cluster's health-check loop sleeps, so that new hosts are checked soon.
const HEALTH_ROUND_AT_MOST: std::time::Duration = std::time::Duration::from_secs(1);

/// What a cluster's health-check loop does now ([`Cluster::health_round`]).
#[derive(Clone, Debug, PartialEq)]
pub struct HealthRound {
    /// The checks to run now: each host with the check to run on it.
    pub due: Vec<(UpstreamHost, HealthCheck)>,
    /// When to run the next round.
    pub wake: SimTime,
}

/// A cluster's key in its sidecar: the virtual node and its listener port.
pub type ClusterKey = (String, u16);

/// A host picked for an attempt.
#[derive(Debug)]
pub struct Picked {
    /// The host.
    pub host: UpstreamHost,
    /// How requests to it go out.
    pub version: HttpVersion,
    /// The failure-accrual breaker's permit, to hand back with the outcome.
    pub permit: Option<Permit>,
    /// Why this host (sampled requests only).
    pub why: Option<String>,
}

/// What the end of a request to a host did to the cluster's state.
#[derive(Debug, Default)]
pub struct Ended {
    /// Outlier detection's decision, when the host reached `maxServerErrors`.
    pub ejection: Option<EjectionDecision>,
    /// The host's failure-accrual breaker opened or closed.
    pub breaker: Option<Transition>,
}

impl Ended {
    /// The counters the decisions add to: an enforced ejection, a tripped breaker.
    pub fn stats(&self) -> impl Iterator<Item = Counter> {
        let ejected = self.ejection.is_some_and(|d| d.ejected());
        let tripped = matches!(self.breaker, Some(Transition::Tripped { .. }));
        [
            ejected.then_some(Counter::Ejections),
            tripped.then_some(Counter::BreakerTrips),
        ]
        .into_iter()
        .flatten()
    }
}

/// Makes sure a sidecar has a cluster for `node`'s listener (`port`, or its first): built
/// from the engine's endpoints, service discovery, the caller's breakers (Envoy's defaults)
/// and failure accrual (a scenario extension). Returns its key and whether it was just made
/// with active health checks (the driver then starts them); `None` if the node has no such
/// listener.
pub fn ensure(
    clusters: &mut BTreeMap<ClusterKey, Cluster>,
    mesh: &MeshView,
    registry: &RefCell<Registry>,
    node: &str,
    port: Option<u16>,
    now: SimTime,
    rng: &mut Rng,
) -> Option<(ClusterKey, bool)> {
    let engine = mesh.engine.borrow();
    let listener = engine.listener(node, port)?;
    let key = (node.to_string(), listener.port);
    if clusters.contains_key(&key) {
        return Some((key, false));
    }
    let endpoints = engine.endpoints_for(
        node,
        Some(listener.port),
        BalancerConfig::default(),
        0,
        now,
        rng,
    )?;
    let discovery = mesh.discovery.get(node).cloned().flatten();
    let checked = endpoints.health().is_some();
    let mut cluster = Cluster::new(node, listener.port, listener.protocol, discovery, endpoints);
    let defaults = engine.defaults();
    cluster.retries = RetryGate::new(defaults.max_retries());
    if defaults.limits_callers() {
        cluster.pool = Some(ListenerPool::new(listener.protocol, defaults.pool_limits()));
    }
    // Checked when the scenario was loaded; a configuration that still fails here runs
    // without the breaker rather than stopping the world.
    cluster.accrual = mesh
        .extensions(node)
        .failure_accrual
        .and_then(|c| HostBreakers::new(c).ok());
    cluster.refresh(now, registry);
    clusters.insert(key.clone(), cluster);
    Some((key, checked))
}

impl Cluster {
    /// A host for the next attempt, avoiding hosts already `tried` when possible; with
    /// failure accrual, only among hosts whose breaker lets a request through, and with the
    /// breaker's permit to report back through [`Cluster::end_request`]. With a sampled
    /// request's `detail`, says why (and notes the breakers that kept hosts out, or why no
    /// host could be had).
    pub fn pick(
        &mut self,
        registry: &RefCell<Registry>,
        now: SimTime,
        tried: &[String],
        mut detail: Option<&mut HopDetail>,
        rng: &mut Rng,
    ) -> Option<Picked> {
        self.refresh(now, registry);
        let exclude: Vec<usize> = tried
            .iter()
            .filter_map(|id| self.hosts.iter().position(|h| &h.id == id))
            .collect();
        let (hosts, accrual) = (&self.hosts, &self.accrual);
        let usable = |i: usize| {
            accrual
                .as_ref()
                .is_none_or(|b| hosts.get(i).is_some_and(|h| b.available(now, &h.id)))
        };
        if let (Some(d), Some(b)) = (detail.as_deref_mut(), accrual) {
            let open: Vec<String> = hosts
                .iter()
                .filter(|h| !b.available(now, &h.id))
                .map(|h| match b.get(&h.id).map(|s| s.state()) {
                    Some(BreakerState::Open { until, reason }) => {
                        format!("{} (open until {until}: {reason})", h.id)
                    }
                    Some(BreakerState::HalfOpen { since }) => {
                        format!("{} (half-open, probe in flight since {since})", h.id)
                    }
                    _ => h.id.clone(),
                })
                .collect();
            if !open.is_empty() {
                d.event(
                    now,
                    EventKind::BreakerOpen,
                    format!("failure accrual keeps out {}", open.join(", ")),
                );
            }
        }
        let pick = match self.endpoints.pick_usable(now, rng, usable, &exclude) {
            Ok(p) => p,
            Err(e) => {
                if let Some(d) = detail {
                    d.event(now, EventKind::NoHealthyUpstream, e.to_string());
                }
                return None;
            }
        };
        let host = self.hosts.get(pick.host)?.clone();
        let permit = match &mut self.accrual {
            // `usable` admitted the host, so its breaker admits the request.
            Some(b) => Some(b.acquire(now, &host.id).ok()?),
            None => None,
        };
        self.endpoints.on_request_start(pick.host);
        let why = detail.map(|_| format!("{} is {pick}", host.id));
        Some(Picked {
            host,
            version: HttpVersion::of(self.protocol),
            permit,
            why,
        })
    }

    /// A request to host `id` ended: feeds the failure-accrual breaker and outlier
    /// detection, and returns what they decided.
    pub fn end_request(
        &mut self,
        id: &str,
        now: SimTime,
        start: SimTime,
        outcome: RequestResult,
        permit: Option<Permit>,
        rng: &mut Rng,
    ) -> Ended {
        // The breaker counts what outlier detection counts as an error: 5xx, timeouts,
        // resets and connect failures (Linkerd's default response classification).
        let breaker = match (permit, &mut self.accrual) {
            (Some(permit), Some(b)) => {
                let counted = if outcome.is_error() {
                    AccrualOutcome::Failure
                } else {
                    AccrualOutcome::Success
                };
                b.record(now, id, permit, counted, rng)
            }
            _ => None,
        };
        let ejection = match self.hosts.iter().position(|h| h.id == id) {
            Some(i) => self
                .endpoints
                .on_request_end(now, i, now.saturating_since(start), outcome),
            None => None,
        };
        Ended { ejection, breaker }
    }

    /// The attempt to host `id` was cut off because its downstream stream ended (the route's
    /// idle timeout): outlier detection hears nothing of it (engine
    /// `Endpoints::on_request_abandoned`); a failure-accrual permit goes back as a failure,
    /// the request having got no answer.
    pub fn abandon_request(
        &mut self,
        id: &str,
        now: SimTime,
        start: SimTime,
        permit: Option<Permit>,
        rng: &mut Rng,
    ) {
        if let (Some(permit), Some(b)) = (permit, &mut self.accrual) {
            b.record(now, id, permit, AccrualOutcome::Failure, rng);
        }
        if let Some(i) = self.hosts.iter().position(|h| h.id == id) {
            self.endpoints
                .on_request_abandoned(now, i, now.saturating_since(start));
        }
    }

    /// Gives back an attempt's place in the cluster's pool; the freed connection goes to the
    /// oldest hop still waiting, whose ticket is returned for the driver to wake.
    pub fn release_slot(&mut self, now: SimTime) -> Option<u64> {
        let pool = self.pool.as_mut()?;
        while let Some(d) = pool.on_complete(now) {
            if self.waiting.remove(&d.ticket.get()) {
                return Some(d.ticket.get());
            }
        }
        None
    }

    /// One round of the cluster's active health checks at `now`: the checks due (each host
    /// with its check), and when the driver should come back. It comes back at the next due
    /// check or outlier sweep, and within a second at most so that hosts discovery adds are
    /// checked too. The driver runs each check (with the check's own timeout) and reports it
    /// with [`Cluster::on_check_result`].
    pub fn health_round(&mut self, now: SimTime, registry: &RefCell<Registry>) -> HealthRound {
        self.refresh(now, registry);
        let due = self.endpoints.due_checks(now);
        let config = self.endpoints.health().map(|h| h.config().clone());
        let due = due
            .into_iter()
            .filter_map(|i| self.hosts.get(i).cloned())
            .filter_map(|h| config.clone().map(|c| (h, c)))
            .collect();
        let wake = self.endpoints.next_event().min(now + HEALTH_ROUND_AT_MOST);
        HealthRound { due, wake }
    }

    /// A health check of host `id` ended with `result` (a host discovery has since dropped
    /// is forgotten).
    pub fn on_check_result(&mut self, now: SimTime, id: &str, result: CheckResult) {
        if let Some(i) = self.hosts.iter().position(|h| h.id == id) {
            self.endpoints.on_check_result(now, i, result);
        }
    }

    /// Withdraws a hop's ticket from the cluster's pending queue.
    pub fn cancel_queued(&mut self, ticket: Ticket) {
        if let Some(pool) = self.pool.as_mut() {
            pool.cancel(ticket);
        }
        self.waiting.remove(&ticket.get());
    }
}
