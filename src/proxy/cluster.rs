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
//! caller takes and gives back their slots through [`super::breakers`].
//!
//! A DNS `LOADBALANCER` node (Envoy LOGICAL_DNS, [`ClusterType`]) has one host only, named
//! after the DNS name: each resolution moves where its new connections go to the first
//! address of the answer ([`LogicalHost`]), and its open connections stay in its pool.

use std::cell::RefCell;
use std::collections::BTreeMap;

use tokio::sync::oneshot;

use crate::config::model::{Protocol, ServiceDiscovery};
use crate::engine::SimTime;
use crate::engine::breaker::{ListenerPool, UNLIMITED};
use crate::engine::discovery::{ClusterType, LogicalHost, Registry};
use crate::engine::endpoints::Endpoints;
use crate::engine::failure_accrual::HostBreakers;
use crate::engine::retry_breaker::RetryGate;

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
    /// Attempts waiting in `pool`'s pending queue, by ticket.
    pub waiters: BTreeMap<u64, oneshot::Sender<()>>,
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
            waiters: BTreeMap::new(),
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
