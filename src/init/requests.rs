//! Requests aimed at a route: the plainest request that meets every condition (the prefix
//! itself, an exact header value, a range's start), checked against the engine the sidecars
//! run; where that misses (a regex, a route shadowed for plain requests), requests drawn from
//! `meshsim check`'s strategy for the route, from a fixed seed, so the same mesh always gives
//! the same requests.

use std::collections::BTreeMap;

use proptest::strategy::{Strategy, ValueTree};

use crate::check::sendable::sendable;
use crate::check::strategy::{ServiceShape, aimed};
use crate::check::{Draft, PathPattern, Pattern, runner};
use crate::config::model::{
    GatewayRouteKind, GatewayRouteSpec, HostnameMatch, HttpMethod, Scheme, ValueMatch,
};
use crate::engine::RequestHead;

/// Draws tried per route when the plainest request misses.
const DRAWS: u32 = 64;

/// One request a user or an app sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: HttpMethod,
    /// Path, with `?query` when there is one.
    pub path: String,
    /// Headers, lower-case names.
    pub headers: BTreeMap<String, String>,
    /// The port called.
    pub port: u16,
}

impl Request {
    /// The request head the engine routes, sent to `authority`.
    pub fn head(&self, authority: &str) -> RequestHead {
        let (path, query) = match self.path.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (self.path.clone(), String::new()),
        };
        RequestHead {
            method: self.method,
            scheme: Scheme::Http,
            authority: authority.to_string(),
            port: self.port,
            path,
            query,
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    fn from_draft(d: Draft) -> Request {
        let mut path = d.path;
        if !d.query.is_empty() {
            let q: Vec<String> = d.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            path = format!("{path}?{}", q.join("&"));
        }
        Request {
            method: d.method,
            path,
            headers: d.headers.into_iter().collect(),
            port: d.port,
        }
    }

    /// Whether a client can send it as written (the plainest request takes the mesh's text
    /// as it is; drawn ones are sendable by construction).
    fn sendable(&self) -> bool {
        sendable(
            &self.path,
            self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }
}

/// Requests meeting `p`, plainest first, then drawn ones, until `hits` accepts one.
pub fn aim(
    p: &Pattern,
    port: u16,
    name: &str,
    mut hits: impl FnMut(&Request) -> bool,
) -> Option<Request> {
    let first = plain(p, port);
    if first.sendable() && hits(&first) {
        return Some(first);
    }
    let shape = ServiceShape { ports: vec![port] };
    let strategy = aimed(p, &shape, None);
    let mut runner = runner(0, name, DRAWS);
    (0..DRAWS).find_map(|_| {
        let r = Request::from_draft(strategy.new_tree(&mut runner).ok()?.current());
        (r.sendable() && hits(&r)).then_some(r)
    })
}

/// The plainest request meeting `p` (a regex path or header value is left for the draws).
pub fn plain(p: &Pattern, port: u16) -> Request {
    let grpc = matches!(p.path, PathPattern::Grpc { .. });
    let mut path = match &p.path {
        PathPattern::Any | PathPattern::Regex(_) => "/".to_string(),
        PathPattern::Prefix(s) | PathPattern::Exact(s) if s.starts_with('/') => s.clone(),
        PathPattern::Prefix(s) | PathPattern::Exact(s) => format!("/{s}"),
        PathPattern::Grpc { service, method } => format!(
            "/{}/{}",
            service.as_deref().unwrap_or("pkg.Service"),
            method.as_deref().unwrap_or("Call")
        ),
    };
    let mut headers = BTreeMap::new();
    for h in p.headers.iter().filter(|h| !h.invert) {
        let value = match &h.value {
            None => "1".to_string(),
            Some(ValueMatch::Exact(v) | ValueMatch::Prefix(v) | ValueMatch::Suffix(v)) => v.clone(),
            Some(ValueMatch::Range { start, .. }) => start.to_string(),
            Some(ValueMatch::Regex(_)) => continue,
        };
        headers.insert(h.name.to_ascii_lowercase(), value);
    }
    let query: Vec<String> = p
        .query
        .iter()
        .map(|q| format!("{}={}", q.name, q.exact.as_deref().unwrap_or("1")))
        .collect();
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    Request {
        method: p.method.unwrap_or(if grpc {
            HttpMethod::Post
        } else {
            HttpMethod::Get
        }),
        path,
        headers,
        port: p.port.unwrap_or(port),
    }
}

/// A gateway route's match as a pattern, and the `host` header its hostname match needs.
pub fn gateway_pattern(spec: &GatewayRouteSpec) -> (Pattern, Option<String>) {
    let (pattern, hostname) = match &spec.kind {
        GatewayRouteKind::Http(r) | GatewayRouteKind::Http2(r) => (
            Pattern::http_gateway(&r.matcher),
            r.matcher.hostname.clone(),
        ),
        GatewayRouteKind::Grpc(r) => (
            Pattern {
                port: r.matcher.port.as_ref().map(|p| p.value),
                method: None,
                path: PathPattern::Grpc {
                    service: r.matcher.service_name.clone(),
                    method: None,
                },
                headers: r.matcher.metadata.clone(),
                query: Vec::new(),
            },
            r.matcher.hostname.clone(),
        ),
    };
    let host = hostname.map(|h| match h {
        HostnameMatch::Exact(h) => h,
        HostnameMatch::Suffix(s) => format!("www{s}"),
    });
    (pattern, host)
}
