//! Virtual nodes: a workload and its Envoy sidecar.

use std::time::Duration;

use super::common::{ClientPolicy, IpPreference, ListenerTls, Logging, PortMapping, Protocol};
use crate::config::source::Located;

/// `VirtualNodeSpec`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VirtualNodeSpec {
    /// Inbound listeners (several since 2022).
    pub listeners: Vec<Listener>,
    /// How clients find this node's endpoints; required when there are listeners.
    pub service_discovery: Option<ServiceDiscovery>,
    /// Virtual services this node may call (at most 50).
    pub backends: Vec<Backend>,
    /// Client policy for every backend that does not set its own.
    pub backend_defaults: Option<ClientPolicy>,
    /// Access logging.
    pub logging: Option<Logging>,
}

/// A virtual node listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Port and protocol.
    pub port_mapping: PortMapping,
    /// Active health check run by client Envoys against this listener.
    pub health_check: Option<HealthCheck>,
    /// Passive ejection, configured here and enforced by clients.
    pub outlier_detection: Option<OutlierDetection>,
    /// Envoy circuit-breaker thresholds towards the local app.
    pub connection_pool: Option<ConnectionPool>,
    /// Server-side timeouts towards the local app.
    pub timeout: Option<ListenerTimeout>,
    /// TLS termination.
    pub tls: Option<ListenerTls>,
}

/// `healthCheck`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// `http`, `http2`, `grpc` (gRPC health protocol) or `tcp`.
    pub protocol: Protocol,
    /// Request path, for HTTP checks.
    pub path: Option<String>,
    /// Must equal the listener port when set.
    pub port: Option<u16>,
    /// 5 s to 300 s.
    pub interval: Duration,
    /// 2 s to 60 s.
    pub timeout: Duration,
    /// Consecutive successes to become healthy, 2..=10.
    pub healthy_threshold: u32,
    /// Consecutive failures to become unhealthy, 2..=10.
    pub unhealthy_threshold: u32,
}

/// `outlierDetection` (Envoy `consecutive_5xx` ejection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutlierDetection {
    /// Consecutive server errors that eject a host.
    pub max_server_errors: u64,
    /// Sweep interval.
    pub interval: Duration,
    /// Ejection time = base × times ejected.
    pub base_ejection_duration: Duration,
    /// Cap on the ejected share of hosts, 0..=100.
    pub max_ejection_percent: u32,
}

/// `connectionPool`: one member, matching the listener protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionPool {
    /// `tcp.maxConnections`.
    Tcp {
        /// Concurrent upstream connections.
        max_connections: u32,
    },
    /// `http {maxConnections, maxPendingRequests}`.
    Http {
        /// Concurrent upstream connections.
        max_connections: u32,
        /// Queued requests; App Mesh's default is 2147483647.
        max_pending_requests: u32,
    },
    /// `http2.maxRequests`.
    Http2 {
        /// Concurrent requests (streams).
        max_requests: u32,
    },
    /// `grpc.maxRequests`.
    Grpc {
        /// Concurrent requests (streams).
        max_requests: u32,
    },
}

impl ConnectionPool {
    /// The protocol this pool member is for.
    pub fn protocol(&self) -> Protocol {
        match self {
            ConnectionPool::Tcp { .. } => Protocol::Tcp,
            ConnectionPool::Http { .. } => Protocol::Http,
            ConnectionPool::Http2 { .. } => Protocol::Http2,
            ConnectionPool::Grpc { .. } => Protocol::Grpc,
        }
    }
}

/// `timeout` on a listener or route: `perRequest` (not for TCP) and `idle`.
///
/// `None` means "not set": the engine applies App Mesh's defaults (15 s per request, 300 s
/// idle). A zero duration disables the timeout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// Per-request timeout.
    pub per_request: Option<Duration>,
    /// Idle timeout.
    pub idle: Option<Duration>,
}

/// `timeout` on a listener: the member names the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerTimeout {
    /// Which member was set (`http`, `http2`, `grpc`, `tcp`).
    pub protocol: Protocol,
    /// The values.
    pub timeouts: Timeouts,
}

/// `serviceDiscovery`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceDiscovery {
    /// `dns`.
    Dns {
        /// Hostname to resolve.
        hostname: String,
        /// LOADBALANCER (default) or ENDPOINTS.
        response_type: Option<DnsResponseType>,
        /// Overrides the mesh's preference.
        ip_preference: Option<IpPreference>,
    },
    /// `awsCloudMap`.
    CloudMap {
        /// Cloud Map namespace.
        namespace_name: String,
        /// Cloud Map service.
        service_name: String,
        /// Instances must carry all of these.
        attributes: Vec<(String, String)>,
        /// Overrides the mesh's preference.
        ip_preference: Option<IpPreference>,
    },
}

/// `dns.responseType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsResponseType {
    /// One address used at a time (Envoy logical DNS).
    LoadBalancer,
    /// Every address is an endpoint (Envoy strict DNS).
    Endpoints,
}

/// A backend: a virtual service this node calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    /// The virtual service name.
    pub virtual_service_name: Located<String>,
    /// Overrides `backendDefaults.clientPolicy`.
    pub client_policy: Option<ClientPolicy>,
}
