//! Decoders for `VirtualRouterSpec` and `RouteSpec`.

use super::common::{
    PROTOCOLS, header_match, method, path_match, port_mapping, prefix, query_parameter, timeouts,
};
use super::{Decoder, Field};
use crate::config::model::*;

/// Weighted targets per route (service quota L-AE1D9567, not adjustable).
pub(crate) const MAX_TARGETS: usize = 10;

/// `VirtualRouterSpec`.
pub(crate) fn virtual_router_spec(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<VirtualRouterSpec> {
    let mut m = d.fields(f, "virtual router spec")?;
    let mut listeners = Vec::new();
    if let Some(l) = m.opt(d, "listeners") {
        for item in d.list(&l, 0, usize::MAX).unwrap_or_default() {
            let Some(mut lm) = d.fields(&item, "router listener") else {
                continue;
            };
            let pm = lm
                .req(d, "portMapping")
                .and_then(|p| port_mapping(d, &p, PROTOCOLS));
            lm.finish(d);
            let Some(pm) = pm else { continue };
            if listeners.iter().any(|x: &PortMapping| x.port == pm.port) {
                d.error(
                    "duplicate",
                    &item,
                    format!("router listener port {} is listed twice", pm.port),
                );
                continue;
            }
            listeners.push(pm);
        }
    }
    m.finish(d);
    Some(VirtualRouterSpec { listeners })
}

/// `RouteSpec`.
pub(crate) fn route_spec(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<RouteSpec> {
    let mut m = d.fields(f, "route spec")?;
    let priority = m.opt(d, "priority").and_then(|p| d.u32(&p, 0, 1000));
    let kind = match m.one_of(
        d,
        &["httpRoute", "http2Route", "grpcRoute", "tcpRoute"],
        true,
    ) {
        Some((0, r)) => http_route(d, &r).map(RouteKind::Http),
        Some((1, r)) => http_route(d, &r).map(RouteKind::Http2),
        Some((2, r)) => grpc_route(d, &r).map(RouteKind::Grpc),
        Some((_, r)) => tcp_route(d, &r).map(RouteKind::Tcp),
        None => None,
    };
    m.finish(d);
    Some(RouteSpec {
        priority,
        kind: kind?,
    })
}

fn http_route(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<HttpRoute> {
    let mut m = d.fields(f, "HTTP route")?;
    let matcher = m.req(d, "match").and_then(|x| http_match(d, &x));
    let targets = m.req(d, "action").and_then(|a| action(d, &a));
    let retry_policy = m
        .opt(d, "retryPolicy")
        .and_then(|r| retry_policy(d, &r, false));
    let timeout = m.opt(d, "timeout").and_then(|t| timeouts(d, &t, true));
    m.finish(d);
    Some(HttpRoute {
        matcher: matcher?,
        targets: targets?,
        retry_policy,
        timeout,
    })
}

fn http_match(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<HttpRouteMatch> {
    let mut m = d.fields(f, "HTTP route match")?;
    let mut r = HttpRouteMatch {
        prefix: m.opt(d, "prefix").and_then(|p| prefix(d, &p)),
        ..HttpRouteMatch::default()
    };
    if let Some(p) = m.opt(d, "path") {
        if r.prefix.is_some() {
            d.error(
                "union",
                &p,
                "a route match takes `prefix` or `path`, not both",
            );
        } else {
            r.path = path_match(d, &p);
        }
    }
    r.method = m.opt(d, "method").and_then(|x| method(d, &x));
    r.scheme = m
        .opt(d, "scheme")
        .and_then(|s| d.choice(&s, &[("http", Scheme::Http), ("https", Scheme::Https)]));
    if let Some(h) = m.opt(d, "headers") {
        r.headers = d.each(&h, 1, 10, |d, x| header_match(d, x, 50));
    }
    if let Some(q) = m.opt(d, "queryParameters") {
        r.query_parameters = d.each(&q, 1, 10, query_parameter);
    }
    r.port = m.opt(d, "port").and_then(|p| d.located_port(&p));
    m.finish(d);
    Some(r)
}

fn grpc_route(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<GrpcRoute> {
    let mut m = d.fields(f, "gRPC route")?;
    let matcher = m.req(d, "match").and_then(|x| grpc_match(d, &x));
    let targets = m.req(d, "action").and_then(|a| action(d, &a));
    let retry_policy = m
        .opt(d, "retryPolicy")
        .and_then(|r| retry_policy(d, &r, true));
    let timeout = m.opt(d, "timeout").and_then(|t| timeouts(d, &t, true));
    m.finish(d);
    Some(GrpcRoute {
        matcher: matcher?,
        targets: targets?,
        retry_policy,
        timeout,
    })
}

fn grpc_match(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<GrpcRouteMatch> {
    let mut m = d.fields(f, "gRPC route match")?;
    let mut r = GrpcRouteMatch {
        service_name: m.opt(d, "serviceName").and_then(|s| d.string(&s, 1, 255)),
        ..GrpcRouteMatch::default()
    };
    if let Some(mf) = m.opt(d, "methodName") {
        r.method_name = d.string(&mf, 1, 50);
        if r.service_name.is_none() {
            d.error("missing-field", &mf, "`methodName` needs `serviceName`");
        }
    }
    if let Some(md) = m.opt(d, "metadata") {
        r.metadata = d.each(&md, 1, 10, |d, x| header_match(d, x, 50));
    }
    r.port = m.opt(d, "port").and_then(|p| d.located_port(&p));
    m.finish(d);
    Some(r)
}

fn tcp_route(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<TcpRoute> {
    let mut m = d.fields(f, "TCP route")?;
    let match_port = m.opt(d, "match").and_then(|x| {
        let mut mm = d.fields(&x, "TCP route match")?;
        let p = mm.opt(d, "port").and_then(|p| d.located_port(&p));
        mm.finish(d);
        p
    });
    let targets = m.req(d, "action").and_then(|a| action(d, &a));
    let timeout = m.opt(d, "timeout").and_then(|t| timeouts(d, &t, false));
    m.finish(d);
    Some(TcpRoute {
        match_port,
        targets: targets?,
        timeout,
    })
}

/// The largest total weight of a route's targets: "The total weight for all targets combined
/// must be less than or equal to 100" (App Mesh API reference, `WeightedTarget`).
pub(crate) const MAX_TOTAL_WEIGHT: u32 = 100;

/// `action.weightedTargets`: 1 to 10 targets, weights 0..=100, total above 0 and at most
/// [`MAX_TOTAL_WEIGHT`].
fn action(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<Vec<WeightedTarget>> {
    let mut m = d.fields(f, "route action")?;
    let wt = m.req(d, "weightedTargets");
    m.finish(d);
    let wt = wt?;
    let items = d.list(&wt, 1, MAX_TARGETS)?;
    let mut targets = Vec::new();
    let mut all_decoded = true;
    for item in &items {
        let Some(mut tm) = d.fields(item, "weighted target") else {
            all_decoded = false;
            continue;
        };
        let node = tm.req(d, "virtualNode").and_then(|n| d.name_ref(&n));
        let weight = tm.req(d, "weight").and_then(|w| d.u32(&w, 0, 100));
        let port = tm.opt(d, "port").and_then(|p| d.port(&p));
        tm.finish(d);
        match (node, weight) {
            (Some(virtual_node), Some(weight)) => targets.push(WeightedTarget {
                virtual_node,
                weight,
                port,
            }),
            _ => all_decoded = false,
        }
    }
    if all_decoded && !targets.is_empty() && targets.iter().all(|t| t.weight == 0) {
        d.error(
            "weights-zero",
            &wt,
            "all weighted targets have weight 0; Envoy rejects a route whose total weight is 0",
        )
        .help = Some("give at least one target a weight above 0".into());
        return None;
    }
    let total: u32 = targets.iter().map(|t| t.weight).sum();
    if all_decoded && total > MAX_TOTAL_WEIGHT {
        let weights: Vec<String> = targets.iter().map(|t| t.weight.to_string()).collect();
        d.error(
            "weights-over-100",
            &wt,
            format!(
                "the weights add up to {total} ({}); App Mesh requires the total of a route's weighted targets to be at most {MAX_TOTAL_WEIGHT}",
                weights.join(" + ")
            ),
        )
        .help = Some(
            "weights are relative: scale them down (90 + 20 splits like 45 + 10), or use percentages that add up to 100".into(),
        );
        return None;
    }
    all_decoded.then_some(targets)
}

/// `retryPolicy` (HTTP shape, or gRPC shape with `grpcRetryEvents`).
fn retry_policy(d: &mut Decoder<'_>, f: &Field<'_>, grpc: bool) -> Option<RetryPolicy> {
    let mut m = d.fields(f, "retry policy")?;
    let max_retries = m.req(d, "maxRetries").and_then(|x| d.u32(&x, 0, u32::MAX));
    let per_retry_timeout = m.req(d, "perRetryTimeout").and_then(|x| d.duration(&x));
    let http_retry_events = m
        .opt(d, "httpRetryEvents")
        .map(|x| {
            d.each(&x, 1, 25, |d, e| {
                d.choice(
                    e,
                    &[
                        ("server-error", HttpRetryEvent::ServerError),
                        ("gateway-error", HttpRetryEvent::GatewayError),
                        ("client-error", HttpRetryEvent::ClientError),
                        ("stream-error", HttpRetryEvent::StreamError),
                    ],
                )
            })
        })
        .unwrap_or_default();
    let tcp_retry_events = m
        .opt(d, "tcpRetryEvents")
        .map(|x| {
            d.each(&x, 1, 1, |d, e| {
                d.choice(e, &[("connection-error", TcpRetryEvent::ConnectionError)])
            })
        })
        .unwrap_or_default();
    let grpc_retry_events = if grpc {
        m.opt(d, "grpcRetryEvents")
            .map(|x| {
                d.each(&x, 1, 5, |d, e| {
                    use GrpcRetryEvent::*;
                    d.choice(
                        e,
                        &[
                            ("cancelled", Cancelled),
                            ("deadline-exceeded", DeadlineExceeded),
                            ("internal", Internal),
                            ("resource-exhausted", ResourceExhausted),
                            ("unavailable", Unavailable),
                        ],
                    )
                })
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let any_events = ["httpRetryEvents", "tcpRetryEvents", "grpcRetryEvents"]
        .iter()
        .any(|k| m.has(k));
    m.finish(d);
    if !any_events {
        let mut lists = vec!["httpRetryEvents", "tcpRetryEvents"];
        if grpc {
            lists.insert(0, "grpcRetryEvents");
        }
        let lists: Vec<String> = lists
            .iter()
            .map(|l| format!("`{}`", d.spelling.spell(l)))
            .collect();
        d.error_at_key(
            "missing-field",
            f,
            format!(
                "retry policy needs at least one event list: {}",
                lists.join(" or ")
            ),
        );
        return None;
    }
    Some(RetryPolicy {
        max_retries: max_retries?,
        per_retry_timeout: per_retry_timeout?,
        http_retry_events,
        tcp_retry_events,
        grpc_retry_events,
    })
}
