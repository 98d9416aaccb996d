//! Istio: one `VirtualService` per App Mesh virtual service (routes in App Mesh's order, as
//! Istio tries them in list order), one `DestinationRule` per destination host (a subset per
//! virtual node sharing it; outlier detection, connection pool and round robin from the node's
//! listener).

use std::collections::BTreeMap;

use crate::config::Mesh;
use crate::config::model::{
    ConnectionPool, GrpcRetryEvent, HeaderMatch, HttpRetryEvent, Listener, PathMatch, Protocol,
    RetryPolicy, RouteKind, Scheme, ServiceDiscovery, TcpRetryEvent, ValueMatch,
};

use super::OutputFile;
use super::emit::{Value, map, yaml_documents};
use super::loss::{Change, Entry, Losses};
use super::resilience::route_losses;
use super::view::{RouteView, ServiceView, discovery_host, go_duration};

const API: &str = "networking.istio.io/v1";

/// Where a virtual node's traffic goes in Istio: its host and, when needed, a subset.
struct Destination {
    host: String,
    subset: Option<String>,
}

/// Writes `virtual-services.yaml` and `destination-rules.yaml`.
pub(crate) fn write(
    mesh: &Mesh,
    services: &[ServiceView<'_>],
    losses: &mut Losses,
) -> Vec<OutputFile> {
    // Hosts and the nodes behind each.
    let mut hosts: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, node) in &mesh.virtual_nodes {
        let host = discovery_host(&node.spec).unwrap_or_else(|| name.clone());
        hosts.entry(host).or_default().push(name);
    }
    let destination = |node: &str| -> Destination {
        let spec = mesh.virtual_nodes.get(node).map(|n| &n.spec);
        let host = spec
            .and_then(discovery_host)
            .unwrap_or_else(|| node.to_string());
        let shared = hosts.get(&host).is_some_and(|n| n.len() > 1);
        let attributes = spec.is_some_and(|s| {
            matches!(&s.service_discovery, Some(ServiceDiscovery::CloudMap { attributes, .. }) if !attributes.is_empty())
        });
        Destination {
            subset: (shared || attributes).then(|| node.to_string()),
            host,
        }
    };

    let mut virtual_services = Vec::new();
    for s in services {
        if s.routes.is_empty() {
            continue;
        }
        let mut http = Vec::new();
        let mut tcp = Vec::new();
        for r in &s.routes {
            route_losses(r, losses);
            let route = map([("route", Value::List(destinations(mesh, r, &destination)))]);
            if r.protocol == Protocol::Tcp {
                let mut t = Value::new_map();
                if let Some(port) = r.kind().and_then(RouteKind::match_port) {
                    t.push(
                        "match",
                        Value::List(vec![map([("port", port.value.into())])]),
                    );
                }
                if let Value::Map(e) = route {
                    for (k, v) in e {
                        t.push(&k, v);
                    }
                }
                tcp.push(t);
                continue;
            }
            let mut h = Value::new_map();
            h.push("name", r.name.as_str());
            if let Some(m) = http_match(r, losses) {
                h.push("match", Value::List(vec![m]));
            }
            if let Value::Map(e) = route {
                for (k, v) in e {
                    h.push(&k, v);
                }
            }
            if let Some(d) = r.per_request {
                h.push("timeout", go_duration(d));
            }
            h.push("retries", retries(r.retry));
            http.push(h);
        }
        let mut spec = map([("hosts", Value::List(vec![s.name.into()]))]);
        if !http.is_empty() {
            spec.push("http", Value::List(http));
        }
        if !tcp.is_empty() {
            spec.push("tcp", Value::List(tcp));
        }
        virtual_services.push(map([
            ("apiVersion", API.into()),
            ("kind", "VirtualService".into()),
            ("metadata", map([("name", s.short.as_str().into())])),
            ("spec", spec),
        ]));
    }

    let mut rules = Vec::new();
    for (host, nodes) in &hosts {
        let mut spec = map([("host", host.into())]);
        let lb = map([("loadBalancer", map([("simple", "ROUND_ROBIN".into())]))]);
        let subsets: Vec<Value> = nodes
            .iter()
            .filter_map(|node| {
                let d = destination(node);
                let subset = d.subset?;
                let mut v = map([("name", subset.as_str().into())]);
                v.push("labels", labels(mesh, node, losses));
                if let Some(policy) = node_policy(mesh, node) {
                    v.push("trafficPolicy", policy);
                }
                Some(v)
            })
            .collect();
        let mut policy = lb;
        if subsets.is_empty()
            && let Some(Value::Map(e)) = nodes.first().and_then(|n| node_policy(mesh, n))
        {
            for (k, v) in e {
                policy.push(&k, v);
            }
        }
        spec.push("trafficPolicy", policy);
        if !subsets.is_empty() {
            spec.push("subsets", Value::List(subsets));
        }
        rules.push(map([
            ("apiVersion", API.into()),
            ("kind", "DestinationRule".into()),
            ("metadata", map([("name", host.replace('.', "-").into())])),
            ("spec", spec),
        ]));
    }
    vec![
        OutputFile::new("virtual-services.yaml", yaml_documents(&virtual_services)),
        OutputFile::new("destination-rules.yaml", yaml_documents(&rules)),
    ]
}

/// The route's targets as destinations, each with its port: the target's, else the node's
/// first listener's (Istio needs it when the Service has several ports, and a reader of these
/// files learns the port from it).
fn destinations(
    mesh: &Mesh,
    r: &RouteView<'_>,
    destination: &impl Fn(&str) -> Destination,
) -> Vec<Value> {
    let single = r.targets.len() == 1;
    r.targets
        .iter()
        .map(|t| {
            let d = destination(&t.node);
            let mut dest = map([("host", d.host.into())]);
            dest.push_some("subset", d.subset);
            let port = t.port.or_else(|| {
                mesh.virtual_nodes
                    .get(&t.node)
                    .and_then(|n| n.spec.listeners.first())
                    .map(|l| l.port_mapping.port)
            });
            if let Some(port) = port {
                dest.push("port", map([("number", port.into())]));
            }
            let mut v = map([("destination", dest)]);
            if !single {
                v.push("weight", t.weight);
            }
            v
        })
        .collect()
}

/// Subset labels: the node's Cloud Map attributes, which select its tasks the same way.
fn labels(mesh: &Mesh, node: &str, losses: &mut Losses) -> Value {
    if let Some(ServiceDiscovery::CloudMap { attributes, .. }) = mesh
        .virtual_nodes
        .get(node)
        .and_then(|n| n.spec.service_discovery.as_ref())
        && !attributes.is_empty()
    {
        return Value::Map(
            attributes
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v)))
                .collect(),
        );
    }
    losses.add(
        Entry {
            subject: &format!("virtual node `{node}`"),
            field: "serviceDiscovery",
            change: Change::Approximate,
            app_mesh: "App Mesh told this node's tasks apart by its own service discovery".to_string(),
            target: format!("Istio selects a subset by pod labels: written as `virtual-node: {node}`; label the pods"),
            effect: "until the pods carry the label, the subset has no endpoints and its share of traffic fails with 503".to_string(),
        },
        &super::profile::ISTIO.split,
    );
    map([("virtual-node", node.into())])
}

/// The node's first listener's policies as a DestinationRule traffic policy.
fn node_policy(mesh: &Mesh, node: &str) -> Option<Value> {
    let l: &Listener = mesh.virtual_nodes.get(node)?.spec.listeners.first()?;
    let mut policy = Value::new_map();
    if let Some(o) = &l.outlier_detection {
        policy.push(
            "outlierDetection",
            map([
                (
                    "consecutive5xxErrors",
                    Value::Int(i64::try_from(o.max_server_errors).unwrap_or(i64::MAX)),
                ),
                ("interval", go_duration(o.interval).into()),
                (
                    "baseEjectionTime",
                    go_duration(o.base_ejection_duration).into(),
                ),
                ("maxEjectionPercent", o.max_ejection_percent.into()),
            ]),
        );
    }
    if let Some(pool) = &l.connection_pool {
        let v = match *pool {
            ConnectionPool::Tcp { max_connections } => {
                map([("tcp", map([("maxConnections", max_connections.into())]))])
            }
            ConnectionPool::Http {
                max_connections,
                max_pending_requests,
            } => map([
                ("tcp", map([("maxConnections", max_connections.into())])),
                (
                    "http",
                    map([("http1MaxPendingRequests", max_pending_requests.into())]),
                ),
            ]),
            ConnectionPool::Http2 { max_requests } | ConnectionPool::Grpc { max_requests } => {
                map([("http", map([("http2MaxRequests", max_requests.into())]))])
            }
        };
        policy.push("connectionPool", v);
    }
    match &policy {
        Value::Map(e) if e.is_empty() => None,
        _ => Some(policy),
    }
}

fn string_match(v: &ValueMatch) -> Option<Value> {
    Some(match v {
        ValueMatch::Exact(s) => map([("exact", s.into())]),
        ValueMatch::Prefix(s) => map([("prefix", s.into())]),
        ValueMatch::Suffix(s) => map([("regex", format!(".*{}", regex_syntax::escape(s)).into())]),
        ValueMatch::Regex(s) => map([("regex", s.into())]),
        ValueMatch::Range { .. } => return None,
    })
}

fn http_match(r: &RouteView<'_>, losses: &mut Losses) -> Option<Value> {
    let mut m = Value::new_map();
    let headers: &[HeaderMatch] = match r.kind()? {
        RouteKind::Http(h) | RouteKind::Http2(h) => {
            let x = &h.matcher;
            match (&x.prefix, &x.path) {
                (Some(p), _) => m.push("uri", map([("prefix", p.into())])),
                (None, Some(PathMatch::Exact(p))) => m.push("uri", map([("exact", p.into())])),
                (None, Some(PathMatch::Regex(p))) => m.push("uri", map([("regex", p.into())])),
                (None, None) => {}
            }
            if let Some(method) = x.method {
                m.push("method", map([("exact", method.as_str().into())]));
            }
            if let Some(scheme) = x.scheme {
                let s = match scheme {
                    Scheme::Http => "http",
                    Scheme::Https => "https",
                };
                m.push("scheme", map([("exact", s.into())]));
            }
            if !x.query_parameters.is_empty() {
                let q = x
                    .query_parameters
                    .iter()
                    .map(|q| {
                        let v = match &q.exact {
                            Some(e) => map([("exact", e.into())]),
                            None => map([("regex", ".*".into())]),
                        };
                        (q.name.clone(), v)
                    })
                    .collect();
                m.push("queryParams", Value::Map(q));
            }
            if let Some(port) = &x.port {
                m.push("port", port.value);
            }
            &x.headers
        }
        RouteKind::Grpc(g) => {
            let x = &g.matcher;
            match (&x.service_name, &x.method_name) {
                (Some(s), Some(method)) => {
                    m.push("uri", map([("exact", format!("/{s}/{method}").into())]))
                }
                (Some(s), None) => m.push("uri", map([("prefix", format!("/{s}/").into())])),
                _ => {}
            }
            if let Some(port) = &x.port {
                m.push("port", port.value);
            }
            &x.metadata
        }
        RouteKind::Tcp(_) => return None,
    };
    let mut with = Vec::new();
    let mut without = Vec::new();
    for h in headers {
        let value = match &h.value {
            None => Some(map([("regex", ".*".into())])),
            Some(v) => string_match(v),
        };
        let Some(value) = value else {
            losses.add(
                Entry {
                    subject: &r.subject,
                    field: &format!("match.headers[{}].match.range", h.name),
                    change: Change::Refused,
                    app_mesh: format!("App Mesh matched header `{}` by integer range", h.name),
                    target: "Istio has no range match: the condition is left out".to_string(),
                    effect: "the route now matches every value of the header".to_string(),
                },
                &super::profile::ISTIO.matching.header_kinds,
            );
            continue;
        };
        if h.invert {
            if h.value.is_some() {
                losses.add(
                    Entry {
                        subject: &r.subject,
                        field: &format!("match.headers[{}].invert", h.name),
                        change: Change::Approximate,
                        app_mesh: format!("App Mesh's inverted match on `{}` did not match requests without the header", h.name),
                        target: "Istio's withoutHeaders also matches requests without it".to_string(),
                        effect: "requests lacking the header now take this route".to_string(),
                    },
                    &super::profile::ISTIO.matching.header_kinds,
                );
            }
            without.push((h.name.clone(), value));
        } else {
            with.push((h.name.clone(), value));
        }
    }
    if !with.is_empty() {
        m.push("headers", Value::Map(with));
    }
    if !without.is_empty() {
        m.push("withoutHeaders", Value::Map(without));
    }
    match &m {
        Value::Map(e) if e.is_empty() => None,
        _ => Some(m),
    }
}

/// The route's retry policy in Istio's words; App Mesh's hidden default written out.
fn retries(policy: Option<&RetryPolicy>) -> Value {
    let Some(p) = policy else {
        return map([
            ("attempts", 2u32.into()),
            (
                "retryOn",
                "503,connect-failure,refused-stream,reset,unavailable".into(),
            ),
        ]);
    };
    if p.max_retries == 0 {
        return map([("attempts", 0u32.into())]);
    }
    let mut on: Vec<&str> = p
        .http_retry_events
        .iter()
        .map(|e| match e {
            HttpRetryEvent::ServerError => "5xx",
            HttpRetryEvent::GatewayError => "gateway-error",
            HttpRetryEvent::ClientError => "retriable-4xx",
            HttpRetryEvent::StreamError => "refused-stream",
        })
        .collect();
    on.extend(p.tcp_retry_events.iter().map(|e| match e {
        TcpRetryEvent::ConnectionError => "connect-failure",
    }));
    on.extend(p.grpc_retry_events.iter().map(|e| match e {
        GrpcRetryEvent::Cancelled => "cancelled",
        GrpcRetryEvent::DeadlineExceeded => "deadline-exceeded",
        GrpcRetryEvent::Internal => "internal",
        GrpcRetryEvent::ResourceExhausted => "resource-exhausted",
        GrpcRetryEvent::Unavailable => "unavailable",
    }));
    map([
        ("attempts", p.max_retries.into()),
        ("perTryTimeout", go_duration(p.per_retry_timeout).into()),
        ("retryOn", on.join(",").into()),
    ])
}
