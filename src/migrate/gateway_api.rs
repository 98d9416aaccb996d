//! Gateway API: one `HTTPRoute` per App Mesh virtual service, attached to the virtual
//! service's Kubernetes Service (GAMMA mesh attachment: `parentRefs` kind `Service`), its
//! rules in App Mesh's order, each virtual node a backend Service of the node's name (the
//! API has no subsets, so each version needs its own Service).

use crate::config::Mesh;
use crate::config::model::{
    HeaderMatch, HttpRetryEvent, PathMatch, Protocol, RetryPolicy, RouteKind, ValueMatch,
};

use super::OutputFile;
use super::emit::{Value, map, yaml_documents};
use super::loss::{Change, Entry, Losses};
use super::profile::GATEWAY_API;
use super::resilience::route_losses;
use super::view::{RouteView, ServiceView, go_duration};

const API: &str = "gateway.networking.k8s.io/v1";

/// Writes `httproutes.yaml`.
pub(crate) fn write(
    mesh: &Mesh,
    services: &[ServiceView<'_>],
    losses: &mut Losses,
) -> Vec<OutputFile> {
    let mut docs = Vec::new();
    for s in services {
        if s.routes.is_empty() {
            continue;
        }
        let mut rules = Vec::new();
        let mut order = Vec::new();
        for r in &s.routes {
            if r.protocol == Protocol::Tcp {
                losses.not_translated(
                    &r.subject,
                    "tcpRoute",
                    "App Mesh TCP route (would be a TCPRoute)",
                );
                continue;
            }
            route_losses(r, losses);
            let mut rule = Value::new_map();
            let (m, key) = rule_match(r, losses);
            if let Some(m) = m {
                rule.push("matches", Value::List(vec![m]));
            }
            order.push((key, r.subject.clone()));
            rule.push(
                "backendRefs",
                Value::List(
                    r.targets
                        .iter()
                        .map(|t| {
                            let port = t.port.or_else(|| {
                                mesh.virtual_nodes
                                    .get(&t.node)
                                    .and_then(|n| n.spec.listeners.first())
                                    .map(|l| l.port_mapping.port)
                            });
                            let mut b = map([("name", t.node.as_str().into())]);
                            b.push_some("port", port);
                            b.push("weight", t.weight);
                            b
                        })
                        .collect(),
                ),
            );
            let mut timeouts = Value::new_map();
            match r.per_request {
                Some(d) => timeouts.push("request", go_duration(d)),
                None => timeouts.push("request", "0s"),
            }
            if let Some(p) = r.retry
                && p.max_retries > 0
            {
                if r.per_request.is_none_or(|req| p.per_retry_timeout <= req) {
                    timeouts.push("backendRequest", go_duration(p.per_retry_timeout));
                } else {
                    losses.add(
                        Entry {
                            subject: &r.subject,
                            field: "retryPolicy.perRetryTimeout",
                            change: Change::Refused,
                            app_mesh: format!(
                                "App Mesh bounded each try at {} within a shorter request timeout",
                                go_duration(p.per_retry_timeout)
                            ),
                            target: "Gateway API: backendRequest must not exceed request; left out"
                                .to_string(),
                            effect: "each try may run until the request timeout".to_string(),
                        },
                        &GATEWAY_API.timeouts.per_try_configurable,
                    );
                }
            }
            rule.push("timeouts", timeouts);
            rule.push("retry", retry(r.retry));
            rules.push(rule);
        }
        precedence(s, &order, losses);
        if rules.is_empty() {
            continue;
        }
        let mut parent = map([
            ("group", "".into()),
            ("kind", "Service".into()),
            ("name", s.short.as_str().into()),
        ]);
        if let [only] = s.listeners.as_slice() {
            parent.push("port", only.port);
        }
        docs.push(map([
            ("apiVersion", API.into()),
            ("kind", "HTTPRoute".into()),
            ("metadata", map([("name", s.short.as_str().into())])),
            (
                "spec",
                map([
                    ("parentRefs", Value::List(vec![parent])),
                    ("rules", Value::List(rules)),
                ]),
            ),
        ]));
    }
    vec![OutputFile::new("httproutes.yaml", yaml_documents(&docs))]
}

/// Gateway API's precedence key of a rule: exact path, then prefix length, method, number of
/// header matches, number of query matches (GW-HTTP); larger sorts first.
type PrecedenceKey = (bool, usize, bool, usize, usize);

/// Reports the first pair of routes whose order Gateway API's precedence would swap.
fn precedence(s: &ServiceView<'_>, order: &[(PrecedenceKey, String)], losses: &mut Losses) {
    for (i, (a_key, a)) in order.iter().enumerate() {
        if let Some((_, b)) = order[i + 1..].iter().find(|(b_key, _)| b_key > a_key) {
            losses.add(
                Entry {
                    subject: &format!("virtual router `{}`", s.router.unwrap_or(s.name)),
                    field: "routes[].priority",
                    change: Change::Approximate,
                    app_mesh: format!("App Mesh tried {a} before {b} (priority)"),
                    target: format!(
                        "Gateway API ignores the list order where its precedence decides: {b} is more specific and is tried first"
                    ),
                    effect: format!("requests both match go to {b} instead of {a}"),
                },
                &GATEWAY_API.matching.precedence,
            );
            return;
        }
    }
}

fn rule_match(r: &RouteView<'_>, losses: &mut Losses) -> (Option<Value>, PrecedenceKey) {
    let mut m = Value::new_map();
    let mut key = (false, 0, false, 0, 0);
    let headers: &[HeaderMatch] = match r.kind() {
        None => return (None, key),
        Some(RouteKind::Http(h) | RouteKind::Http2(h)) => {
            let x = &h.matcher;
            match (&x.prefix, &x.path) {
                (Some(p), _) => {
                    key.1 = p.len();
                    m.push(
                        "path",
                        map([("type", "PathPrefix".into()), ("value", p.into())]),
                    );
                    if p != "/" {
                        let example = if p.ends_with('/') {
                            format!("`{}` now also matches `{}`", p, p.trim_end_matches('/'))
                        } else {
                            format!("`{p}` no longer catches `{p}x`")
                        };
                        losses.add(
                            Entry {
                                subject: &r.subject,
                                field: "match.prefix",
                                change: Change::Approximate,
                                app_mesh: format!("App Mesh matched `{p}` as a string prefix"),
                                target: "Gateway API's PathPrefix matches whole path segments"
                                    .to_string(),
                                effect: format!("{example}: those requests take another route"),
                            },
                            &GATEWAY_API.matching.prefix,
                        );
                    }
                }
                (None, Some(PathMatch::Exact(p))) => {
                    key.0 = true;
                    key.1 = p.len();
                    m.push("path", map([("type", "Exact".into()), ("value", p.into())]));
                }
                (None, Some(PathMatch::Regex(p))) => {
                    m.push(
                        "path",
                        map([("type", "RegularExpression".into()), ("value", p.into())]),
                    );
                    losses.add(
                        Entry {
                            subject: &r.subject,
                            field: "match.path.regex",
                            change: Change::Approximate,
                            app_mesh: "App Mesh matched the path with an RE2 regex".to_string(),
                            target: "Gateway API: regex dialect and precedence are implementation-specific".to_string(),
                            effect: "the same pattern may match other paths, or lose to other rules".to_string(),
                        },
                        &GATEWAY_API.matching.regex_path,
                    );
                }
                (None, None) => {}
            }
            if let Some(method) = x.method {
                key.2 = true;
                m.push("method", method.as_str());
            }
            if x.scheme.is_some() {
                losses.add(
                    Entry {
                        subject: &r.subject,
                        field: "match.scheme",
                        change: Change::Lost,
                        app_mesh: "App Mesh matched the request scheme".to_string(),
                        target: "Gateway API has no scheme match; left out".to_string(),
                        effect: "requests of either scheme take this route".to_string(),
                    },
                    &GATEWAY_API.matching.routing,
                );
            }
            let mut query = Vec::new();
            for q in &x.query_parameters {
                let (kind, value) = match &q.exact {
                    Some(v) => ("Exact", v.clone()),
                    None => {
                        losses.add(
                            Entry {
                                subject: &r.subject,
                                field: &format!("match.queryParameters[{}]", q.name),
                                change: Change::Approximate,
                                app_mesh: format!("App Mesh matched the presence of `{}`", q.name),
                                target: "Gateway API has no presence match: written as RegularExpression `.*` (implementation-specific)".to_string(),
                                effect: "an implementation without regex support rejects the route".to_string(),
                            },
                            &GATEWAY_API.matching.query_kinds,
                        );
                        ("RegularExpression", ".*".to_string())
                    }
                };
                query.push(map([
                    ("type", kind.into()),
                    ("name", q.name.as_str().into()),
                    ("value", value.into()),
                ]));
            }
            key.4 = query.len();
            if !query.is_empty() {
                m.push("queryParams", Value::List(query));
            }
            &x.headers
        }
        Some(RouteKind::Grpc(g)) => {
            let x = &g.matcher;
            match (&x.service_name, &x.method_name) {
                (Some(s), Some(method)) => {
                    key.0 = true;
                    m.push(
                        "path",
                        map([
                            ("type", "Exact".into()),
                            ("value", format!("/{s}/{method}").into()),
                        ]),
                    );
                }
                (Some(s), None) => {
                    key.1 = s.len() + 2;
                    m.push(
                        "path",
                        map([
                            ("type", "PathPrefix".into()),
                            ("value", format!("/{s}").into()),
                        ]),
                    );
                }
                _ => {}
            }
            losses.add(
                Entry {
                    subject: &r.subject,
                    field: "grpcRoute",
                    change: Change::Approximate,
                    app_mesh: "App Mesh routed gRPC by service and method".to_string(),
                    target:
                        "written as an HTTPRoute on the gRPC path (a GRPCRoute is not written yet)"
                            .to_string(),
                    effect: "none on the wire; gRPC status codes are not retry codes".to_string(),
                },
                &GATEWAY_API.matching.routing,
            );
            &x.metadata
        }
        Some(RouteKind::Tcp(_)) => return (None, key),
    };
    let mut written = Vec::new();
    for h in headers {
        let value = match (&h.value, h.invert) {
            (_, true) => None,
            (Some(ValueMatch::Exact(v)), false) => Some(("Exact", v.clone())),
            (Some(ValueMatch::Regex(v)), false) => Some(("RegularExpression", v.clone())),
            (Some(ValueMatch::Prefix(v)), false) => Some((
                "RegularExpression",
                format!("{}.*", regex_syntax::escape(v)),
            )),
            (Some(ValueMatch::Suffix(v)), false) => Some((
                "RegularExpression",
                format!(".*{}", regex_syntax::escape(v)),
            )),
            (None, false) => Some(("RegularExpression", ".*".to_string())),
            (Some(ValueMatch::Range { .. }), false) => None,
        };
        match value {
            Some((kind, v)) => {
                if kind != "Exact" {
                    losses.add(
                        Entry {
                            subject: &r.subject,
                            field: &format!("match.headers[{}]", h.name),
                            change: Change::Approximate,
                            app_mesh: format!("App Mesh matched header `{}` beyond exact values", h.name),
                            target: "Gateway API: only Exact is core; written as RegularExpression (implementation-specific)".to_string(),
                            effect: "an implementation without regex header matching rejects the route".to_string(),
                        },
                        &GATEWAY_API.matching.header_kinds,
                    );
                }
                written.push(map([
                    ("type", kind.into()),
                    ("name", h.name.as_str().into()),
                    ("value", v.into()),
                ]));
            }
            None => losses.add(
                Entry {
                    subject: &r.subject,
                    field: &format!("match.headers[{}]", h.name),
                    change: Change::Refused,
                    app_mesh: format!(
                        "App Mesh matched header `{}` {}",
                        h.name,
                        if h.invert {
                            "inverted"
                        } else {
                            "by integer range"
                        }
                    ),
                    target: "Gateway API has no inverted or range header match; left out"
                        .to_string(),
                    effect: "the rule now matches whatever the header holds".to_string(),
                },
                &GATEWAY_API.matching.header_kinds,
            ),
        }
    }
    key.3 = written.len();
    if !written.is_empty() {
        m.push("headers", Value::List(written));
    }
    match &m {
        Value::Map(e) if e.is_empty() => (None, key),
        _ => (Some(m), key),
    }
}

/// `retry`: attempts and status codes; App Mesh's hidden default written out as 2 × 503.
fn retry(policy: Option<&RetryPolicy>) -> Value {
    let Some(p) = policy else {
        return map([
            ("attempts", 2u32.into()),
            ("codes", Value::List(vec![503u32.into()])),
        ]);
    };
    let mut codes: Vec<u32> = Vec::new();
    for e in &p.http_retry_events {
        codes.extend_from_slice(match e {
            HttpRetryEvent::ServerError => &[500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511],
            HttpRetryEvent::GatewayError => &[502, 503, 504],
            HttpRetryEvent::ClientError => &[409],
            HttpRetryEvent::StreamError => &[],
        });
    }
    codes.sort_unstable();
    codes.dedup();
    let mut v = map([("attempts", p.max_retries.into())]);
    if !codes.is_empty() && p.max_retries > 0 {
        v.push(
            "codes",
            Value::List(codes.into_iter().map(Value::from).collect()),
        );
    }
    v
}
