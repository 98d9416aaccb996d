//! Virtual gateways (ingress Envoys without an app) and gateway routes.

use super::common::{
    ClientPolicy, HeaderMatch, HttpMethod, ListenerTls, Logging, PathMatch, PortMapping,
    QueryParameterMatch,
};
use super::node::HealthCheck;
use crate::config::source::Located;

/// `VirtualGatewaySpec`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VirtualGatewaySpec {
    /// At least one; protocols http, http2 or grpc.
    pub listeners: Vec<GatewayListener>,
    /// Client policy towards every target.
    pub backend_defaults: Option<ClientPolicy>,
    /// Access logging.
    pub logging: Option<Logging>,
}

/// A gateway listener: like a node listener without timeouts or outlier detection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayListener {
    /// Port and protocol.
    pub port_mapping: PortMapping,
    /// Health check of the gateway itself.
    pub health_check: Option<HealthCheck>,
    /// Circuit-breaker thresholds.
    pub connection_pool: Option<super::node::ConnectionPool>,
    /// TLS termination.
    pub tls: Option<ListenerTls>,
}

/// `GatewayRouteSpec`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayRouteSpec {
    /// 0 (highest) ..= 1000.
    pub priority: Option<u32>,
    /// The route.
    pub kind: GatewayRouteKind,
}

/// Which of `httpRoute`, `http2Route`, `grpcRoute` was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayRouteKind {
    /// `httpRoute`.
    Http(HttpGatewayRoute),
    /// `http2Route`.
    Http2(HttpGatewayRoute),
    /// `grpcRoute`.
    Grpc(GrpcGatewayRoute),
}

impl GatewayRouteKind {
    /// The target virtual service.
    pub fn target(&self) -> &GatewayTarget {
        match self {
            GatewayRouteKind::Http(r) | GatewayRouteKind::Http2(r) => &r.target,
            GatewayRouteKind::Grpc(r) => &r.target,
        }
    }

    /// `match.port`, if set.
    pub fn match_port(&self) -> Option<&Located<u16>> {
        match self {
            GatewayRouteKind::Http(r) | GatewayRouteKind::Http2(r) => r.matcher.port.as_ref(),
            GatewayRouteKind::Grpc(r) => r.matcher.port.as_ref(),
        }
    }
}

/// `hostname` match on a gateway route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostnameMatch {
    /// Host equals.
    Exact(String),
    /// Host ends with.
    Suffix(String),
}

/// `action.target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayTarget {
    /// The virtual service requests go to.
    pub virtual_service_name: Located<String>,
    /// Port on the virtual service, when it has several listeners.
    pub port: Option<u16>,
}

/// HTTP gateway route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpGatewayRoute {
    /// `match`.
    pub matcher: HttpGatewayRouteMatch,
    /// `action.target`.
    pub target: GatewayTarget,
    /// `action.rewrite`.
    pub rewrite: HttpGatewayRewrite,
}

/// `HttpGatewayRouteMatch`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpGatewayRouteMatch {
    /// Path prefix.
    pub prefix: Option<String>,
    /// Exact or regex path.
    pub path: Option<PathMatch>,
    /// Method.
    pub method: Option<HttpMethod>,
    /// All must match.
    pub headers: Vec<HeaderMatch>,
    /// All must match.
    pub query_parameters: Vec<QueryParameterMatch>,
    /// Host match.
    pub hostname: Option<HostnameMatch>,
    /// Gateway listener port.
    pub port: Option<Located<u16>>,
}

/// `action.rewrite` for HTTP gateway routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpGatewayRewrite {
    /// `hostname.defaultTargetHostname` (ENABLED by default): rewrite Host to the target.
    pub default_target_hostname: bool,
    /// `prefix`.
    pub prefix: Option<PrefixRewrite>,
    /// `path.exact`: replace the whole path.
    pub path: Option<String>,
}

impl Default for HttpGatewayRewrite {
    fn default() -> Self {
        HttpGatewayRewrite {
            default_target_hostname: true,
            prefix: None,
            path: None,
        }
    }
}

/// `rewrite.prefix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrefixRewrite {
    /// `defaultPrefix: ENABLED` (replace the matched prefix with `/`) or `DISABLED` (keep).
    Default(bool),
    /// `value`: replace the matched prefix with this.
    Value(String),
}

/// gRPC gateway route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcGatewayRoute {
    /// `match`.
    pub matcher: GrpcGatewayRouteMatch,
    /// `action.target`.
    pub target: GatewayTarget,
    /// `action.rewrite.hostname.defaultTargetHostname`.
    pub default_target_hostname: bool,
}

/// `GrpcGatewayRouteMatch`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrpcGatewayRouteMatch {
    /// gRPC service.
    pub service_name: Option<String>,
    /// Host match.
    pub hostname: Option<HostnameMatch>,
    /// Metadata matchers.
    pub metadata: Vec<HeaderMatch>,
    /// Gateway listener port.
    pub port: Option<Located<u16>>,
}
