//! Gateway routes: the virtual gateway's routing to virtual services, with hostname matches
//! and App Mesh's rewrites.
//!
//! Rewrites (App Mesh user guide, gateway routes): the `Host` becomes the target virtual
//! service's name unless `defaultTargetHostname: DISABLED`; a prefix match replaces the
//! matched prefix with `/` by default, with `rewrite.prefix.value` when set, and keeps it with
//! `defaultPrefix: DISABLED`; `rewrite.path.exact` replaces the whole path.

use super::matchers::{HeaderMatcher, Mismatch, PathMatcher, QueryMatcher, normalize_path};
use super::request::RequestHead;
use super::routing::{OrderKey, order_key};
use crate::config::model::{
    GatewayRouteKind, GatewayRouteResource, HostnameMatch, HttpMethod, PrefixRewrite, Protocol,
};

/// One gateway route, compiled.
#[derive(Clone, Debug)]
pub struct CompiledGatewayRoute {
    /// Gateway route name.
    pub name: String,
    /// `priority`, if set.
    pub priority: Option<u32>,
    /// http, http2 or grpc.
    pub protocol: Protocol,
    /// The virtual service requests go to.
    pub target: String,
    /// `action.target.port`.
    pub target_port: Option<u16>,
    port: Option<u16>,
    hostname: Option<HostnameMatch>,
    path: PathMatcher,
    prefix: Option<String>,
    method: Option<HttpMethod>,
    headers: Vec<HeaderMatcher>,
    query: Vec<QueryMatcher>,
    grpc_service: Option<String>,
    keep_host: bool,
    prefix_rewrite: Option<PrefixRewrite>,
    path_rewrite: Option<String>,
}

/// Where a gateway sends a request, and the request as rewritten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayDecision {
    /// The gateway route that matched.
    pub route: String,
    /// The target virtual service.
    pub service: String,
    /// The request after rewrites.
    pub request: RequestHead,
}

impl CompiledGatewayRoute {
    /// Compiles one gateway route.
    pub fn compile(g: &GatewayRouteResource) -> CompiledGatewayRoute {
        let spec = &g.route.spec;
        let target = spec.kind.target();
        let mut c = CompiledGatewayRoute {
            name: g.route.name.clone(),
            priority: spec.priority,
            protocol: Protocol::Http,
            target: target.virtual_service_name.value.clone(),
            target_port: target.port,
            port: spec.kind.match_port().map(|p| p.value),
            hostname: None,
            path: PathMatcher::Any,
            prefix: None,
            method: None,
            headers: Vec::new(),
            query: Vec::new(),
            grpc_service: None,
            keep_host: false,
            prefix_rewrite: None,
            path_rewrite: None,
        };
        match &spec.kind {
            GatewayRouteKind::Http(r) | GatewayRouteKind::Http2(r) => {
                if matches!(spec.kind, GatewayRouteKind::Http2(_)) {
                    c.protocol = Protocol::Http2;
                }
                let m = &r.matcher;
                c.hostname = m.hostname.clone();
                c.path = PathMatcher::compile(m.prefix.as_deref(), m.path.as_ref());
                c.prefix = m.prefix.clone();
                c.method = m.method;
                c.headers = m.headers.iter().map(HeaderMatcher::compile).collect();
                c.query = m
                    .query_parameters
                    .iter()
                    .map(QueryMatcher::compile)
                    .collect();
                c.keep_host = !r.rewrite.default_target_hostname;
                c.prefix_rewrite = r.rewrite.prefix.clone();
                c.path_rewrite = r.rewrite.path.clone();
            }
            GatewayRouteKind::Grpc(r) => {
                c.protocol = Protocol::Grpc;
                c.hostname = r.matcher.hostname.clone();
                c.grpc_service = r.matcher.service_name.clone();
                c.headers = r
                    .matcher
                    .metadata
                    .iter()
                    .map(HeaderMatcher::compile)
                    .collect();
                c.keep_host = !r.default_target_hostname;
            }
        }
        c
    }

    /// Whether the gateway route matches; the first failing condition otherwise.
    pub fn check(&self, req: &RequestHead) -> Result<(), Mismatch> {
        if let Some(port) = self.port
            && port != req.port
        {
            return Err(Mismatch::Port {
                want: port,
                got: req.port,
            });
        }
        match &self.hostname {
            Some(HostnameMatch::Exact(h)) if !req.authority.eq_ignore_ascii_case(h) => {
                return Err(Mismatch::Header(format!("`host` is not `{h}`")));
            }
            Some(HostnameMatch::Suffix(s))
                if !req
                    .authority
                    .to_ascii_lowercase()
                    .ends_with(&s.to_ascii_lowercase()) =>
            {
                return Err(Mismatch::Header(format!("`host` does not end with `{s}`")));
            }
            _ => {}
        }
        if let Some(m) = self.method
            && m != req.method
        {
            return Err(Mismatch::Method(m.as_str()));
        }
        if self.protocol == Protocol::Grpc {
            if let Some(s) = &self.grpc_service {
                match req.grpc_service_method() {
                    Some((service, _)) if service == s => {}
                    Some(_) => return Err(Mismatch::GrpcService(s.clone())),
                    None => return Err(Mismatch::NotGrpc),
                }
            }
        } else {
            self.path.check(&req.path)?;
        }
        for h in &self.headers {
            h.check(req)?;
        }
        for q in &self.query {
            q.check(req)?;
        }
        Ok(())
    }

    /// The request as the target virtual service receives it.
    pub fn rewrite(&self, req: &RequestHead) -> RequestHead {
        let mut out = req.clone();
        if !self.keep_host {
            out.authority = self.target.clone();
        }
        if let Some(p) = &self.path_rewrite {
            out.path = p.clone();
        } else if let Some(prefix) = &self.prefix {
            let replacement = match &self.prefix_rewrite {
                Some(PrefixRewrite::Default(false)) => None,
                Some(PrefixRewrite::Value(v)) => Some(v.as_str()),
                Some(PrefixRewrite::Default(true)) | None => Some("/"),
            };
            if let Some(r) = replacement
                && let Some(rest) = req.path.strip_prefix(prefix.as_str())
            {
                out.path = normalize_path(&format!("{r}{rest}")).into_owned();
            }
        }
        out
    }

    fn order_key(&self) -> OrderKey {
        let constraints = self.headers.len()
            + self.query.len()
            + usize::from(self.method.is_some())
            + usize::from(self.hostname.is_some())
            + usize::from(self.grpc_service.is_some());
        order_key(self.priority, &self.path, constraints, &self.name)
    }
}

/// The gateway routes of one virtual gateway, in evaluation order (the same rule as routes:
/// priority, then longest prefix, which is App Mesh's documented gateway behaviour).
#[derive(Clone, Debug, Default)]
pub struct GatewayTable {
    routes: Vec<CompiledGatewayRoute>,
}

impl GatewayTable {
    /// Orders compiled gateway routes.
    pub fn new(mut routes: Vec<CompiledGatewayRoute>) -> GatewayTable {
        routes.sort_by_cached_key(CompiledGatewayRoute::order_key);
        GatewayTable { routes }
    }

    /// The routes, in evaluation order.
    pub fn routes(&self) -> &[CompiledGatewayRoute] {
        &self.routes
    }

    /// The first matching gateway route, and the rewritten request.
    pub fn route(&self, req: &RequestHead) -> Option<GatewayDecision> {
        let r = self.routes.iter().find(|r| r.check(req).is_ok())?;
        Some(GatewayDecision {
            route: r.name.clone(),
            service: r.target.clone(),
            request: r.rewrite(req),
        })
    }
}
