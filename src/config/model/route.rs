//! Virtual routers and their routes.

use std::time::Duration;

use super::common::{HeaderMatch, HttpMethod, PathMatch, PortMapping, QueryParameterMatch, Scheme};
use super::node::Timeouts;
use crate::config::source::Located;

/// `VirtualRouterSpec`: the ports clients call the virtual service on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VirtualRouterSpec {
    /// Listener port mappings.
    pub listeners: Vec<PortMapping>,
}

/// `RouteSpec`: one route kind plus an optional priority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// 0 (highest) ..= 1000; `None` sorts after every explicit priority.
    pub priority: Option<u32>,
    /// The route itself.
    pub kind: RouteKind,
}

/// Which of `httpRoute`, `http2Route`, `grpcRoute`, `tcpRoute` was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// `httpRoute`.
    Http(HttpRoute),
    /// `http2Route` (same shape as HTTP).
    Http2(HttpRoute),
    /// `grpcRoute`.
    Grpc(GrpcRoute),
    /// `tcpRoute`.
    Tcp(TcpRoute),
}

impl RouteKind {
    /// The weighted targets of the route's action.
    pub fn targets(&self) -> &[WeightedTarget] {
        match self {
            RouteKind::Http(r) | RouteKind::Http2(r) => &r.targets,
            RouteKind::Grpc(r) => &r.targets,
            RouteKind::Tcp(r) => &r.targets,
        }
    }

    /// Mutable targets, for rollouts that change weights.
    pub fn targets_mut(&mut self) -> &mut Vec<WeightedTarget> {
        match self {
            RouteKind::Http(r) | RouteKind::Http2(r) => &mut r.targets,
            RouteKind::Grpc(r) => &mut r.targets,
            RouteKind::Tcp(r) => &mut r.targets,
        }
    }

    /// `match.port`, if set.
    pub fn match_port(&self) -> Option<&Located<u16>> {
        match self {
            RouteKind::Http(r) | RouteKind::Http2(r) => r.matcher.port.as_ref(),
            RouteKind::Grpc(r) => r.matcher.port.as_ref(),
            RouteKind::Tcp(r) => r.match_port.as_ref(),
        }
    }

    /// The protocol a router listener and target listener must speak for this route.
    pub fn protocol(&self) -> super::common::Protocol {
        use super::common::Protocol;
        match self {
            RouteKind::Http(_) => Protocol::Http,
            RouteKind::Http2(_) => Protocol::Http2,
            RouteKind::Grpc(_) => Protocol::Grpc,
            RouteKind::Tcp(_) => Protocol::Tcp,
        }
    }
}

/// `httpRoute` / `http2Route`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRoute {
    /// `match`.
    pub matcher: HttpRouteMatch,
    /// `action.weightedTargets`.
    pub targets: Vec<WeightedTarget>,
    /// `retryPolicy`; `None` leaves App Mesh's hidden default in force.
    pub retry_policy: Option<RetryPolicy>,
    /// `timeout`.
    pub timeout: Option<Timeouts>,
}

/// `HttpRouteMatch`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpRouteMatch {
    /// Path prefix (starts with `/`).
    pub prefix: Option<String>,
    /// Exact or regex path.
    pub path: Option<PathMatch>,
    /// Single method.
    pub method: Option<HttpMethod>,
    /// `http` or `https`.
    pub scheme: Option<Scheme>,
    /// All must match.
    pub headers: Vec<HeaderMatch>,
    /// All must match.
    pub query_parameters: Vec<QueryParameterMatch>,
    /// Router listener port the route applies to.
    pub port: Option<Located<u16>>,
}

/// `grpcRoute`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcRoute {
    /// `match`.
    pub matcher: GrpcRouteMatch,
    /// `action.weightedTargets`.
    pub targets: Vec<WeightedTarget>,
    /// `retryPolicy`.
    pub retry_policy: Option<RetryPolicy>,
    /// `timeout`.
    pub timeout: Option<Timeouts>,
}

/// `GrpcRouteMatch`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrpcRouteMatch {
    /// Fully qualified service (`pkg.Service`).
    pub service_name: Option<String>,
    /// Method; requires `service_name`.
    pub method_name: Option<String>,
    /// gRPC metadata matchers; all must match.
    pub metadata: Vec<HeaderMatch>,
    /// Router listener port.
    pub port: Option<Located<u16>>,
}

/// `tcpRoute`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpRoute {
    /// `match.port`.
    pub match_port: Option<Located<u16>>,
    /// `action.weightedTargets`.
    pub targets: Vec<WeightedTarget>,
    /// `timeout` (idle only).
    pub timeout: Option<Timeouts>,
}

/// A weighted target: relative integer weight towards a virtual node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightedTarget {
    /// The virtual node.
    pub virtual_node: Located<String>,
    /// 0..=100, relative to the other targets.
    pub weight: u32,
    /// The node listener port, when the node has several.
    pub port: Option<u16>,
}

/// `retryPolicy` (HTTP and gRPC shapes in one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries in addition to the first attempt.
    pub max_retries: u32,
    /// Bounds every attempt, the first included.
    pub per_retry_timeout: Duration,
    /// `httpRetryEvents`.
    pub http_retry_events: Vec<HttpRetryEvent>,
    /// `tcpRetryEvents`.
    pub tcp_retry_events: Vec<TcpRetryEvent>,
    /// `grpcRetryEvents`.
    pub grpc_retry_events: Vec<GrpcRetryEvent>,
}

/// `httpRetryEvents` members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HttpRetryEvent {
    /// 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511 and resets.
    ServerError,
    /// 502, 503, 504 and resets.
    GatewayError,
    /// 409.
    ClientError,
    /// HTTP/2 REFUSED_STREAM.
    StreamError,
}

/// `tcpRetryEvents` members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TcpRetryEvent {
    /// Connect failure before any request bytes were sent.
    ConnectionError,
}

/// `grpcRetryEvents` members (gRPC status in the trailers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum GrpcRetryEvent {
    Cancelled,
    DeadlineExceeded,
    Internal,
    ResourceExhausted,
    Unavailable,
}

impl HttpRetryEvent {
    /// The App Mesh spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpRetryEvent::ServerError => "server-error",
            HttpRetryEvent::GatewayError => "gateway-error",
            HttpRetryEvent::ClientError => "client-error",
            HttpRetryEvent::StreamError => "stream-error",
        }
    }
}

impl TcpRetryEvent {
    /// The App Mesh spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TcpRetryEvent::ConnectionError => "connection-error",
        }
    }
}

impl GrpcRetryEvent {
    /// The App Mesh spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            GrpcRetryEvent::Cancelled => "cancelled",
            GrpcRetryEvent::DeadlineExceeded => "deadline-exceeded",
            GrpcRetryEvent::Internal => "internal",
            GrpcRetryEvent::ResourceExhausted => "resource-exhausted",
            GrpcRetryEvent::Unavailable => "unavailable",
        }
    }
}
