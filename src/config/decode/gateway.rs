//! Decoders for `VirtualGatewaySpec` and `GatewayRouteSpec`.

use super::common::{
    backend_defaults, header_match, listener_tls, logging, method, path_match, port_mapping,
    prefix, query_parameter,
};
use super::node::{connection_pool, health_check};
use super::{Decoder, Field};
use crate::config::model::*;

/// Gateways speak HTTP, HTTP/2 and gRPC only.
const GATEWAY_PROTOCOLS: &[(&str, Protocol)] = &[
    ("http", Protocol::Http),
    ("http2", Protocol::Http2),
    ("grpc", Protocol::Grpc),
];

/// `VirtualGatewaySpec`.
pub(crate) fn virtual_gateway_spec(
    d: &mut Decoder<'_>,
    f: &Field<'_>,
) -> Option<VirtualGatewaySpec> {
    let mut m = d.fields(f, "virtual gateway spec")?;
    let mut spec = VirtualGatewaySpec::default();
    if let Some(l) = m.req(d, "listeners") {
        for item in d.list(&l, 1, usize::MAX).unwrap_or_default() {
            let Some(listener) = gateway_listener(d, &item) else {
                continue;
            };
            if spec
                .listeners
                .iter()
                .any(|x| x.port_mapping.port == listener.port_mapping.port)
            {
                d.error(
                    "duplicate",
                    &item,
                    format!(
                        "gateway listener port {} is listed twice",
                        listener.port_mapping.port
                    ),
                );
                continue;
            }
            spec.listeners.push(listener);
        }
    }
    spec.backend_defaults = m
        .opt(d, "backendDefaults")
        .and_then(|b| backend_defaults(d, &b));
    spec.logging = m.opt(d, "logging").and_then(|l| logging(d, &l));
    m.finish(d);
    Some(spec)
}

fn gateway_listener(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<GatewayListener> {
    let mut m = d.fields(f, "gateway listener")?;
    let port_mapping = m
        .req(d, "portMapping")
        .and_then(|p| port_mapping(d, &p, GATEWAY_PROTOCOLS));
    let health_check = m
        .opt(d, "healthCheck")
        .and_then(|h| health_check(d, &h, GATEWAY_PROTOCOLS));
    let pool_field = m.opt(d, "connectionPool");
    let connection_pool = pool_field
        .as_ref()
        .and_then(|c| connection_pool(d, c, false));
    let tls = m.opt(d, "tls").and_then(|t| listener_tls(d, &t));
    m.finish(d);
    let port_mapping = port_mapping?;
    if let (Some(pool), Some(pf)) = (&connection_pool, &pool_field)
        && pool.protocol() != port_mapping.protocol
    {
        d.error(
            "protocol-mismatch",
            pf,
            format!(
                "connection pool `{}` does not match the listener protocol `{}`",
                pool.protocol(),
                port_mapping.protocol
            ),
        );
    }
    Some(GatewayListener {
        port_mapping,
        health_check,
        connection_pool,
        tls,
    })
}

/// `GatewayRouteSpec`.
pub(crate) fn gateway_route_spec(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<GatewayRouteSpec> {
    let mut m = d.fields(f, "gateway route spec")?;
    let priority = m.opt(d, "priority").and_then(|p| d.u32(&p, 0, 1000));
    let kind = match m.one_of(d, &["httpRoute", "http2Route", "grpcRoute"], true) {
        Some((0, r)) => http_gateway_route(d, &r).map(GatewayRouteKind::Http),
        Some((1, r)) => http_gateway_route(d, &r).map(GatewayRouteKind::Http2),
        Some((_, r)) => grpc_gateway_route(d, &r).map(GatewayRouteKind::Grpc),
        None => None,
    };
    m.finish(d);
    Some(GatewayRouteSpec {
        priority,
        kind: kind?,
    })
}

fn hostname_match(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<HostnameMatch> {
    let mut m = d.fields(f, "hostname match")?;
    let v = match m.one_of(d, &["exact", "suffix"], true) {
        Some((0, e)) => d.string(&e, 1, 253).map(HostnameMatch::Exact),
        Some((_, s)) => d.string(&s, 1, 253).map(HostnameMatch::Suffix),
        None => None,
    };
    m.finish(d);
    v
}

/// `action.target`.
fn target(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<GatewayTarget> {
    let mut m = d.fields(f, "gateway route target")?;
    let name = m.req(d, "virtualService").and_then(|vs| {
        let mut vm = d.fields(&vs, "target virtual service")?;
        let n = vm.req(d, "virtualServiceName").and_then(|n| d.name_ref(&n));
        vm.finish(d);
        n
    });
    let port = m.opt(d, "port").and_then(|p| d.port(&p));
    m.finish(d);
    Some(GatewayTarget {
        virtual_service_name: name?,
        port,
    })
}

/// `rewrite.hostname.defaultTargetHostname`.
fn default_target_hostname(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<bool> {
    let mut m = d.fields(f, "hostname rewrite")?;
    let v = m
        .opt(d, "defaultTargetHostname")
        .and_then(|x| d.choice(&x, &[("ENABLED", true), ("DISABLED", false)]));
    m.finish(d);
    v
}

fn http_gateway_route(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<HttpGatewayRoute> {
    let mut m = d.fields(f, "HTTP gateway route")?;
    let matcher = m.req(d, "match").and_then(|x| http_gateway_match(d, &x));
    let mut target_v = None;
    let mut rewrite = HttpGatewayRewrite::default();
    if let Some(a) = m.req(d, "action")
        && let Some(mut am) = d.fields(&a, "gateway route action")
    {
        target_v = am.req(d, "target").and_then(|t| target(d, &t));
        if let Some(r) = am.opt(d, "rewrite") {
            rewrite = http_rewrite(d, &r, matcher.as_ref()).unwrap_or_default();
        }
        am.finish(d);
    }
    m.finish(d);
    Some(HttpGatewayRoute {
        matcher: matcher?,
        target: target_v?,
        rewrite,
    })
}

fn http_gateway_match(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<HttpGatewayRouteMatch> {
    let mut m = d.fields(f, "HTTP gateway route match")?;
    let mut r = HttpGatewayRouteMatch::default();
    if let Some(p) = m.opt(d, "prefix") {
        r.prefix = prefix(d, &p);
        if let Some(pre) = &r.prefix
            && (pre.starts_with("/aws-appmesh") || pre.starts_with("/aws-app-mesh"))
        {
            d.error(
                "reserved",
                &p,
                format!("prefix `{pre}` is reserved by App Mesh"),
            );
        }
    }
    if let Some(p) = m.opt(d, "path") {
        if r.prefix.is_some() {
            d.error(
                "union",
                &p,
                "a gateway route match takes `prefix` or `path`, not both",
            );
        } else {
            r.path = path_match(d, &p);
        }
    }
    r.method = m.opt(d, "method").and_then(|x| method(d, &x));
    if let Some(h) = m.opt(d, "headers") {
        r.headers = d.each(&h, 1, 10, |d, x| header_match(d, x, 50));
    }
    if let Some(q) = m.opt(d, "queryParameters") {
        r.query_parameters = d.each(&q, 1, 10, query_parameter);
    }
    r.hostname = m.opt(d, "hostname").and_then(|h| hostname_match(d, &h));
    r.port = m.opt(d, "port").and_then(|p| d.located_port(&p));
    m.finish(d);
    Some(r)
}

fn http_rewrite(
    d: &mut Decoder<'_>,
    f: &Field<'_>,
    matcher: Option<&HttpGatewayRouteMatch>,
) -> Option<HttpGatewayRewrite> {
    let mut m = d.fields(f, "gateway route rewrite")?;
    let mut r = HttpGatewayRewrite::default();
    if let Some(h) = m.opt(d, "hostname") {
        r.default_target_hostname = default_target_hostname(d, &h).unwrap_or(true);
    }
    let prefix_field = m.opt(d, "prefix");
    let path_field = m.opt(d, "path");
    if let (Some(_), Some(p)) = (&prefix_field, &path_field) {
        d.error("union", p, "a rewrite takes `prefix` or `path`, not both");
    }
    if let Some(p) = &prefix_field
        && let Some(mut pm) = d.fields(p, "prefix rewrite")
    {
        r.prefix = match pm.one_of(d, &["defaultPrefix", "value"], true) {
            Some((0, x)) => d
                .choice(&x, &[("ENABLED", true), ("DISABLED", false)])
                .map(PrefixRewrite::Default),
            Some((_, x)) => d.string(&x, 1, 255).and_then(|v| {
                if v.starts_with('/') && v.ends_with('/') {
                    Some(PrefixRewrite::Value(v))
                } else {
                    d.error(
                        "pattern",
                        &x,
                        format!("rewrite prefix `{v}` must start and end with `/`"),
                    );
                    None
                }
            }),
            None => None,
        };
        pm.finish(d);
        if matcher.is_some_and(|mt| mt.prefix.is_none()) {
            d.error("rewrite", p, "a prefix rewrite needs a `prefix` match");
        }
    }
    if let Some(p) = &path_field
        && let Some(mut pm) = d.fields(p, "path rewrite")
    {
        r.path = pm.req(d, "exact").and_then(|x| d.string(&x, 1, 255));
        pm.finish(d);
        if matcher.is_some_and(|mt| mt.path.is_none()) {
            d.error("rewrite", p, "a path rewrite needs a `path` match");
        }
    }
    m.finish(d);
    Some(r)
}

fn grpc_gateway_route(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<GrpcGatewayRoute> {
    let mut m = d.fields(f, "gRPC gateway route")?;
    let matcher = m.req(d, "match").and_then(|x| {
        let mut mm = d.fields(&x, "gRPC gateway route match")?;
        let r = GrpcGatewayRouteMatch {
            service_name: mm.opt(d, "serviceName").and_then(|s| d.string(&s, 1, 255)),
            hostname: mm.opt(d, "hostname").and_then(|h| hostname_match(d, &h)),
            metadata: mm
                .opt(d, "metadata")
                .map(|md| d.each(&md, 1, 10, |d, e| header_match(d, e, 50)))
                .unwrap_or_default(),
            port: mm.opt(d, "port").and_then(|p| d.located_port(&p)),
        };
        mm.finish(d);
        Some(r)
    });
    let mut target_v = None;
    let mut default_host = true;
    if let Some(a) = m.req(d, "action")
        && let Some(mut am) = d.fields(&a, "gateway route action")
    {
        target_v = am.req(d, "target").and_then(|t| target(d, &t));
        if let Some(r) = am.opt(d, "rewrite")
            && let Some(mut rm) = d.fields(&r, "gateway route rewrite")
        {
            if let Some(h) = rm.opt(d, "hostname") {
                default_host = default_target_hostname(d, &h).unwrap_or(true);
            }
            rm.finish(d);
        }
        am.finish(d);
    }
    m.finish(d);
    Some(GrpcGatewayRoute {
        matcher: matcher?,
        target: target_v?,
        default_target_hostname: default_host,
    })
}
