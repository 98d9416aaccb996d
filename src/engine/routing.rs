//! Route tables: a virtual router's routes compiled, ordered, and matched first-match-wins.
//!
//! Order (App Mesh evaluates by priority; where it is silent this is our rule, see
//! docs/ENGINE.md): ascending `priority` with unset after every explicit value, then the more
//! specific path (exact, regex, longer prefix, shorter prefix), then more header, query and
//! method constraints, then the route name. It equals App Mesh's order whenever priorities
//! are set or prefixes differ, and is deterministic always.

use std::cmp::Reverse;
use std::time::Duration;

use super::matchers::{HeaderMatcher, Mismatch, PathMatcher, QueryMatcher};
use super::request::RequestHead;
use super::route_index::RouteIndex;
use crate::config::model::{
    HttpMethod, Protocol, RetryPolicy, RouteKind, RouteResource, Scheme, Timeouts, WeightedTarget,
};

/// App Mesh's default per-request timeout, on routes and listeners (0 disables).
pub const DEFAULT_PER_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// App Mesh's default idle timeout (user guide).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Where routes without a `priority` sort: after every explicit priority (0..=1000).
const UNSET_PRIORITY_RANK: u32 = 1001;

/// The evaluation order of routes and gateway routes (see the module docs): priority, path
/// specificity, number of other constraints (more first), name.
pub(crate) type OrderKey = (u32, (u8, Reverse<usize>), Reverse<usize>, String);

/// Builds an [`OrderKey`].
pub(crate) fn order_key(
    priority: Option<u32>,
    path: &PathMatcher,
    constraints: usize,
    name: &str,
) -> OrderKey {
    (
        priority.unwrap_or(UNSET_PRIORITY_RANK),
        path.specificity(),
        Reverse(constraints),
        name.to_string(),
    )
}

/// A weighted target of a compiled route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Virtual node name.
    pub virtual_node: String,
    /// Relative weight (0 gets nothing).
    pub weight: u32,
    /// Node listener port, if the route names one.
    pub port: Option<u16>,
}

/// One route, compiled.
#[derive(Clone, Debug)]
pub struct CompiledRoute {
    /// Route name.
    pub name: String,
    /// `priority`, if set.
    pub priority: Option<u32>,
    /// http, http2, grpc or tcp.
    pub protocol: Protocol,
    /// The retry policy as configured; `None` means App Mesh's hidden default applies.
    pub retry_policy: Option<RetryPolicy>,
    /// Per-request timeout; `None` when disabled (configured as 0).
    pub per_request_timeout: Option<Duration>,
    /// Idle timeout; `None` when disabled.
    pub idle_timeout: Option<Duration>,
    port: Option<u16>,
    path: PathMatcher,
    method: Option<HttpMethod>,
    scheme: Option<Scheme>,
    headers: Vec<HeaderMatcher>,
    query: Vec<QueryMatcher>,
    grpc_service: Option<String>,
    grpc_method: Option<String>,
    targets: Vec<Target>,
    total_weight: u32,
}

/// A configured App Mesh timeout in force: unset takes the default, 0 disables (`None`).
pub(crate) fn effective(configured: Option<Duration>, default: Duration) -> Option<Duration> {
    match configured {
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
        None => Some(default),
    }
}

impl CompiledRoute {
    /// A route that matches everything and has no targets yet.
    fn blank(name: String, protocol: Protocol) -> CompiledRoute {
        CompiledRoute {
            name,
            priority: None,
            protocol,
            retry_policy: None,
            per_request_timeout: None,
            idle_timeout: None,
            port: None,
            path: PathMatcher::Any,
            method: None,
            scheme: None,
            headers: Vec::new(),
            query: Vec::new(),
            grpc_service: None,
            grpc_method: None,
            targets: Vec::new(),
            total_weight: 0,
        }
    }

    /// Compiles one route of the model.
    pub fn compile(r: &RouteResource) -> CompiledRoute {
        let spec = &r.route.spec;
        let mut c = CompiledRoute {
            priority: spec.priority,
            port: spec.kind.match_port().map(|p| p.value),
            ..CompiledRoute::blank(r.route.name.clone(), spec.kind.protocol())
        };
        let timeout: Option<Timeouts> = match &spec.kind {
            RouteKind::Http(h) | RouteKind::Http2(h) => {
                let m = &h.matcher;
                c.path = PathMatcher::compile(m.prefix.as_deref(), m.path.as_ref());
                c.method = m.method;
                c.scheme = m.scheme;
                c.headers = m.headers.iter().map(HeaderMatcher::compile).collect();
                c.query = m
                    .query_parameters
                    .iter()
                    .map(QueryMatcher::compile)
                    .collect();
                c.retry_policy = h.retry_policy.clone();
                h.timeout
            }
            RouteKind::Grpc(g) => {
                let m = &g.matcher;
                c.grpc_service = m.service_name.clone();
                c.grpc_method = m.method_name.clone();
                c.headers = m.metadata.iter().map(HeaderMatcher::compile).collect();
                c.retry_policy = g.retry_policy.clone();
                g.timeout
            }
            RouteKind::Tcp(t) => t.timeout,
        };
        let t = timeout.unwrap_or_default();
        if c.protocol != Protocol::Tcp {
            c.per_request_timeout = effective(t.per_request, DEFAULT_PER_REQUEST_TIMEOUT);
        }
        c.idle_timeout = effective(t.idle, DEFAULT_IDLE_TIMEOUT);
        c.set_targets(spec.kind.targets());
        c
    }

    /// The route App Mesh generates for a virtual service whose provider is a virtual node:
    /// everything to that node, with the default retry policy and timeouts.
    pub fn direct(node: &str, protocol: Protocol) -> CompiledRoute {
        CompiledRoute {
            per_request_timeout: (protocol != Protocol::Tcp).then_some(DEFAULT_PER_REQUEST_TIMEOUT),
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            targets: vec![Target {
                virtual_node: node.to_string(),
                weight: 1,
                port: None,
            }],
            total_weight: 1,
            ..CompiledRoute::blank(format!("{node} (virtual node provider)"), protocol)
        }
    }

    fn set_targets(&mut self, targets: &[WeightedTarget]) {
        self.targets = targets
            .iter()
            .map(|t| Target {
                virtual_node: t.virtual_node.value.clone(),
                weight: t.weight,
                port: t.port,
            })
            .collect();
        self.total_weight = self.targets.iter().map(|t| t.weight).sum();
    }

    /// The weighted targets.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// The ordering key (see the module docs).
    fn order_key(&self) -> OrderKey {
        let constraints = self.headers.len()
            + self.query.len()
            + usize::from(self.method.is_some())
            + usize::from(self.scheme.is_some())
            + usize::from(self.grpc_method.is_some())
            + usize::from(self.grpc_service.is_some());
        order_key(self.priority, &self.path, constraints, &self.name)
    }

    /// Whether the route matches (the hot path: no allocation).
    pub fn matches(&self, req: &RequestHead) -> bool {
        self.first_failure(req).is_none()
    }

    /// Whether the route matches; the first failing condition otherwise (for explanations).
    pub fn check(&self, req: &RequestHead) -> Result<(), Mismatch> {
        let Some(failure) = self.first_failure(req) else {
            return Ok(());
        };
        Err(match failure {
            Failure::Port => Mismatch::Port {
                want: self.port.unwrap_or_default(),
                got: req.port,
            },
            Failure::Method => Mismatch::Method(self.method.map_or("?", |m| m.as_str())),
            Failure::NotGrpc => Mismatch::NotGrpc,
            Failure::GrpcService => {
                Mismatch::GrpcService(self.grpc_service.clone().unwrap_or_default())
            }
            Failure::GrpcMethod => {
                Mismatch::GrpcMethod(self.grpc_method.clone().unwrap_or_default())
            }
            Failure::Path => self.path.mismatch(),
            Failure::Scheme => Mismatch::Scheme,
            Failure::Header(i) => self.headers[i].mismatch(),
            Failure::Query(i) => match self.query[i].check(req) {
                Err(m) => m,
                Ok(()) => Mismatch::Query(String::new()),
            },
        })
    }

    /// The first condition that fails, in a fixed order: port, method, path (or gRPC
    /// service and method), scheme, headers, query parameters.
    fn first_failure(&self, req: &RequestHead) -> Option<Failure> {
        if self.port.is_some_and(|p| p != req.port) {
            return Some(Failure::Port);
        }
        if self.method.is_some_and(|m| m != req.method) {
            return Some(Failure::Method);
        }
        if self.protocol == Protocol::Grpc {
            let Some((service, method)) = req.grpc_service_method() else {
                return Some(Failure::NotGrpc);
            };
            if self.grpc_service.as_deref().is_some_and(|s| s != service) {
                return Some(Failure::GrpcService);
            }
            if self.grpc_method.as_deref().is_some_and(|m| m != method) {
                return Some(Failure::GrpcMethod);
            }
        } else if !self.path.matches(&req.path) {
            return Some(Failure::Path);
        }
        if self.scheme.is_some_and(|s| s != req.scheme) {
            return Some(Failure::Scheme);
        }
        if let Some(i) = self.headers.iter().position(|h| !h.matches(req)) {
            return Some(Failure::Header(i));
        }
        if let Some(i) = self.query.iter().position(|q| !q.matches(req)) {
            return Some(Failure::Query(i));
        }
        None
    }

    /// The literal every matching path starts with (`None`: any path can match).
    fn literal(&self) -> Option<&str> {
        match self.protocol {
            Protocol::Http | Protocol::Http2 => self.path.literal(),
            Protocol::Grpc | Protocol::Tcp => None,
        }
    }

    /// Picks a target by relative weight. A zero-weight target is never chosen.
    pub fn choose_target(&self, rng: &mut impl rand::Rng) -> &Target {
        self.draw_target(rng).0
    }

    /// [`CompiledRoute::choose_target`] with the roll it drew (in `0..total weight`), for
    /// explanations; it draws exactly what `choose_target` draws.
    pub fn draw_target(&self, rng: &mut impl rand::Rng) -> (&Target, u32) {
        let drawn = rng.random_range(0..self.total_weight.max(1));
        let mut roll = drawn;
        for t in &self.targets {
            if roll < t.weight {
                return (t, drawn);
            }
            roll -= t.weight;
        }
        // Unreachable while total_weight > 0, which compilation and updates guarantee.
        (&self.targets[0], drawn)
    }
}

/// The condition of a route that failed, cheap to return on the hot path.
#[derive(Clone, Copy, Debug)]
enum Failure {
    Port,
    Method,
    NotGrpc,
    GrpcService,
    GrpcMethod,
    Path,
    Scheme,
    Header(usize),
    Query(usize),
}

/// Why a route table chose what it chose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteExplanation {
    /// The routes tried before the match, in order, with why each did not match.
    pub skipped: Vec<(String, Mismatch)>,
    /// The matching route's name; `None` is Envoy's `NR` (no route, 404).
    pub matched: Option<String>,
}

/// The routes of one virtual router, in evaluation order.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    routes: Vec<CompiledRoute>,
    index: RouteIndex,
}

impl RouteTable {
    /// Compiles and orders routes.
    pub fn new(mut routes: Vec<CompiledRoute>) -> RouteTable {
        routes.sort_by_cached_key(CompiledRoute::order_key);
        let literals: Vec<Option<&str>> = routes.iter().map(CompiledRoute::literal).collect();
        let index = RouteIndex::build(&literals);
        RouteTable { routes, index }
    }

    /// The routes, in evaluation order.
    pub fn routes(&self) -> &[CompiledRoute] {
        &self.routes
    }

    /// The index of the first matching route.
    pub fn select(&self, req: &RequestHead) -> Option<usize> {
        match self.index.candidates(&req.path) {
            // Only routes whose literal prefix the path starts with (or that have none) can
            // match; the index yields them in evaluation order.
            Some(candidates) => candidates
                .into_iter()
                .find(|&i| self.routes[i].matches(req)),
            None => self.routes.iter().position(|r| r.matches(req)),
        }
    }

    /// The same choice as [`RouteTable::select`], with the reasons.
    pub fn explain(&self, req: &RequestHead) -> RouteExplanation {
        let mut skipped = Vec::new();
        for r in &self.routes {
            match r.check(req) {
                Ok(()) => {
                    return RouteExplanation {
                        skipped,
                        matched: Some(r.name.clone()),
                    };
                }
                Err(why) => skipped.push((r.name.clone(), why)),
            }
        }
        RouteExplanation {
            skipped,
            matched: None,
        }
    }
}
