//! What a route (or a policy condition) asks of a request, in the one shape the request
//! generator reads.
//!
//! Routes and policy conditions are both App Mesh route matches, so one description serves
//! both: the generator aims requests at a pattern, or just past it (near misses), and a
//! condition is compiled through the engine's own matcher so that "matches" means what the
//! sidecar means.

use crate::config::model::{
    GrpcRouteMatch, HeaderMatch, HttpGatewayRouteMatch, HttpMethod, HttpRouteMatch, PathMatch,
    QueryParameterMatch, RouteKind,
};

/// The path part of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathPattern {
    /// Any path (no `prefix`/`path` in the match).
    Any,
    /// `prefix`.
    Prefix(String),
    /// `path.exact`.
    Exact(String),
    /// `path.regex` (whole-value RE2).
    Regex(String),
    /// A gRPC route: `/service/method`, either part optional.
    Grpc {
        /// `serviceName`.
        service: Option<String>,
        /// `methodName`.
        method: Option<String>,
    },
}

impl PathPattern {
    /// A match's `prefix`, else its `path` (exact or regex), else any path.
    fn of(prefix: Option<&String>, path: Option<&PathMatch>) -> PathPattern {
        match (prefix, path) {
            (Some(p), _) => PathPattern::Prefix(p.clone()),
            (None, Some(PathMatch::Exact(e))) => PathPattern::Exact(e.clone()),
            (None, Some(PathMatch::Regex(r))) => PathPattern::Regex(r.clone()),
            (None, None) => PathPattern::Any,
        }
    }
}

/// The match conditions of one route or condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// `match.port`.
    pub port: Option<u16>,
    /// `match.method`.
    pub method: Option<HttpMethod>,
    /// Path, or gRPC service and method.
    pub path: PathPattern,
    /// Header (or gRPC metadata) matchers.
    pub headers: Vec<HeaderMatch>,
    /// Query parameter matchers.
    pub query: Vec<QueryParameterMatch>,
}

impl Pattern {
    /// The pattern of an HTTP/HTTP2 match.
    pub fn http(m: &HttpRouteMatch) -> Pattern {
        Pattern {
            port: m.port.as_ref().map(|p| p.value),
            method: m.method,
            path: PathPattern::of(m.prefix.as_ref(), m.path.as_ref()),
            headers: m.headers.clone(),
            query: m.query_parameters.clone(),
        }
    }

    /// The pattern of an HTTP/HTTP2 gateway route's match (its hostname aside).
    pub fn http_gateway(m: &HttpGatewayRouteMatch) -> Pattern {
        Pattern {
            port: m.port.as_ref().map(|p| p.value),
            method: m.method,
            path: PathPattern::of(m.prefix.as_ref(), m.path.as_ref()),
            headers: m.headers.clone(),
            query: m.query_parameters.clone(),
        }
    }

    /// The pattern of a gRPC match.
    pub fn grpc(m: &GrpcRouteMatch) -> Pattern {
        Pattern {
            port: m.port.as_ref().map(|p| p.value),
            method: None,
            path: PathPattern::Grpc {
                service: m.service_name.clone(),
                method: m.method_name.clone(),
            },
            headers: m.metadata.clone(),
            query: Vec::new(),
        }
    }

    /// The pattern of a route; `None` for TCP routes, which see no request head.
    pub fn of_route(kind: &RouteKind) -> Option<Pattern> {
        match kind {
            RouteKind::Http(h) | RouteKind::Http2(h) => Some(Pattern::http(&h.matcher)),
            RouteKind::Grpc(g) => Some(Pattern::grpc(&g.matcher)),
            RouteKind::Tcp(_) => None,
        }
    }

    /// How many conditions a near miss can break (path, method, port, each header, each
    /// query parameter), in that order.
    pub(crate) fn constraints(&self) -> usize {
        usize::from(self.path != PathPattern::Any)
            + usize::from(self.method.is_some())
            + usize::from(self.port.is_some())
            + self.headers.len()
            + self.query.len()
    }

    /// Whether the route admits a method that is not idempotent (POST or PATCH).
    pub(crate) fn admits_non_idempotent(&self) -> bool {
        match self.path {
            PathPattern::Grpc { .. } => false,
            _ => matches!(
                self.method,
                None | Some(HttpMethod::Post) | Some(HttpMethod::Patch)
            ),
        }
    }
}
