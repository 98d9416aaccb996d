//! `meshsim show`: the resolved graph (gateway → virtual service → router → routes → virtual
//! nodes → backends) as an indented tree, Graphviz dot, or JSON.
//!
//! Everything iterates the model's ordered maps, so the output is byte-stable.

use meshsim::engine::gateway::{CompiledGatewayRoute, GatewayTable};
use std::fmt::Write as _;
use std::time::Duration;

use meshsim::config::LoadedConfig;
use meshsim::config::model::*;
use serde_json::{Value, json};

/// The indented tree.
pub(super) fn text(loaded: &LoadedConfig) -> String {
    let mut out = String::new();
    for mesh in loaded.meshes.values() {
        mesh_text(mesh, &mut out);
    }
    out
}

/// A gateway's routes in the order its Envoy matches them (priority, then the longest
/// match, as the engine orders them), not in name order.
fn gateway_routes_in_order<'m>(mesh: &'m Mesh, gateway: &str) -> Vec<&'m GatewayRouteResource> {
    let table = GatewayTable::new(
        mesh.gateway_routes_of(gateway)
            .map(CompiledGatewayRoute::compile)
            .collect(),
    );
    table
        .routes()
        .iter()
        .filter_map(|c| {
            mesh.gateway_routes
                .get(&(gateway.to_string(), c.name.clone()))
        })
        .collect()
}

fn mesh_text(mesh: &Mesh, out: &mut String) {
    let egress = match mesh.spec.egress_filter {
        EgressFilter::AllowAll => "ALLOW_ALL",
        EgressFilter::DropAll => "DROP_ALL",
    };
    let _ = writeln!(out, "mesh {} (egress {egress})", mesh.name);
    for gw in mesh.virtual_gateways.values() {
        let _ = writeln!(
            out,
            "  virtual gateway {} [{}]",
            gw.name,
            gateway_listeners(&gw.spec)
        );
        for gr in gateway_routes_in_order(mesh, &gw.name) {
            gateway_route_text(mesh, gr, out, "    ");
        }
    }
    let orphans: Vec<_> = mesh
        .gateway_routes
        .values()
        .filter(|g| !mesh.virtual_gateways.contains_key(&g.virtual_gateway.value))
        .collect();
    if !orphans.is_empty() {
        let _ = writeln!(out, "  (gateway routes without a virtual gateway)");
        for gr in orphans {
            gateway_route_text(mesh, gr, out, "    ");
        }
    }
    for vs in mesh.virtual_services.values() {
        match &vs.spec.provider {
            Some(Provider::VirtualNode(n)) => {
                let _ = writeln!(
                    out,
                    "  virtual service {} -> virtual node {}",
                    vs.name, n.value
                );
            }
            Some(Provider::VirtualRouter(r)) => {
                let _ = writeln!(
                    out,
                    "  virtual service {} -> virtual router {}",
                    vs.name, r.value
                );
                if let Some(router) = mesh.virtual_routers.get(&r.value) {
                    router_text(mesh, router, out, "    ");
                }
            }
            None => {
                let _ = writeln!(out, "  virtual service {} -> (no provider)", vs.name);
            }
        }
    }
    for router in mesh.virtual_routers.values() {
        let provided = mesh.virtual_services.values().any(|vs| {
            matches!(&vs.spec.provider, Some(Provider::VirtualRouter(r)) if r.value == router.name)
        });
        if !provided {
            let _ = writeln!(out, "  (virtual router not behind a virtual service)");
            router_text(mesh, router, out, "    ");
        }
    }
    let orphan_routes: Vec<_> = mesh
        .routes
        .values()
        .filter(|r| !mesh.virtual_routers.contains_key(&r.virtual_router.value))
        .collect();
    if !orphan_routes.is_empty() {
        let _ = writeln!(out, "  (routes without a virtual router)");
        for r in orphan_routes {
            route_text(r, out, "    ");
        }
    }
    for node in mesh.virtual_nodes.values() {
        node_text(node, out);
    }
}

fn gateway_route_text(mesh: &Mesh, gr: &GatewayRouteResource, out: &mut String, indent: &str) {
    let spec = &gr.route.spec;
    let (matcher, rewrite) = match &spec.kind {
        GatewayRouteKind::Http(r) | GatewayRouteKind::Http2(r) => {
            (http_gateway_match(&r.matcher), rewrite_text(&r.rewrite))
        }
        GatewayRouteKind::Grpc(r) => (
            r.matcher
                .service_name
                .as_ref()
                .map_or("any service".into(), |s| format!("service {s}")),
            String::new(),
        ),
    };
    let target = &spec.kind.target().virtual_service_name.value;
    let known = if mesh.virtual_services.contains_key(target) {
        ""
    } else {
        " (not defined)"
    };
    let _ = writeln!(
        out,
        "{indent}gateway route {}{} {matcher}{rewrite} -> virtual service {target}{known}",
        gr.route.name,
        priority(spec.priority)
    );
}

fn router_text(mesh: &Mesh, router: &Resource<VirtualRouterSpec>, out: &mut String, indent: &str) {
    let listeners: Vec<String> = router
        .spec
        .listeners
        .iter()
        .map(|l| format!("{}:{}", l.protocol, l.port))
        .collect();
    let _ = writeln!(
        out,
        "{indent}router {} [{}]",
        router.name,
        listeners.join(", ")
    );
    let mut routes: Vec<&RouteResource> = mesh.routes_of(&router.name).collect();
    // App Mesh evaluates routes by ascending priority; unset priorities come last.
    routes.sort_by_key(|r| (r.route.spec.priority.unwrap_or(1001), r.route.name.clone()));
    let inner = format!("{indent}  ");
    for r in routes {
        route_text(r, out, &inner);
    }
}

fn route_text(r: &RouteResource, out: &mut String, indent: &str) {
    let spec = &r.route.spec;
    let (matcher, retry, timeout) = match &spec.kind {
        RouteKind::Http(h) | RouteKind::Http2(h) => {
            (http_match(&h.matcher), h.retry_policy.as_ref(), h.timeout)
        }
        RouteKind::Grpc(g) => (grpc_match(&g.matcher), g.retry_policy.as_ref(), g.timeout),
        RouteKind::Tcp(t) => (
            t.match_port
                .as_ref()
                .map_or("any connection".into(), |p| format!("port {p}")),
            None,
            t.timeout,
        ),
    };
    let _ = writeln!(
        out,
        "{indent}route {}{} {} {matcher}",
        r.route.name,
        priority(spec.priority),
        spec.kind.protocol()
    );
    let inner = format!("{indent}  ");
    match retry {
        Some(p) => {
            let _ = writeln!(out, "{inner}retry {}", retry_text(p));
        }
        None if spec.kind.protocol() != Protocol::Tcp => {
            let _ = writeln!(
                out,
                "{inner}retry App Mesh default (2 retries: 503, reset, connect-failure, refused-stream; gRPC unavailable)"
            );
        }
        None => {}
    }
    if let Some(t) = timeout {
        let _ = writeln!(out, "{inner}timeout {}", timeouts_text(&t));
    }
    let total: u32 = spec.kind.targets().iter().map(|t| t.weight).sum();
    for t in spec.kind.targets() {
        let share = if total == 0 {
            0.0
        } else {
            f64::from(t.weight) * 100.0 / f64::from(total)
        };
        let port = t.port.map(|p| format!(" port {p}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{inner}-> {:>5.1}% virtual node {}{port} (weight {})",
            share, t.virtual_node.value, t.weight
        );
    }
}

fn node_text(node: &Resource<VirtualNodeSpec>, out: &mut String) {
    let spec = &node.spec;
    let discovery = match &spec.service_discovery {
        Some(ServiceDiscovery::Dns { hostname, .. }) => format!("dns {hostname}"),
        Some(ServiceDiscovery::CloudMap {
            namespace_name,
            service_name,
            attributes,
            ..
        }) => {
            let attrs: Vec<String> = attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let attrs = if attrs.is_empty() {
                String::new()
            } else {
                format!(" [{}]", attrs.join(", "))
            };
            format!("cloud map {service_name}.{namespace_name}{attrs}")
        }
        None => "no service discovery".into(),
    };
    let _ = writeln!(out, "  virtual node {} ({discovery})", node.name);
    for l in &spec.listeners {
        let mut parts = vec![format!(
            "{}:{}",
            l.port_mapping.protocol, l.port_mapping.port
        )];
        if let Some(h) = &l.health_check {
            let path = h.path.as_deref().unwrap_or("");
            parts.push(format!(
                "health {} {path} every {} (healthy {}, unhealthy {})",
                h.protocol,
                dur(h.interval),
                h.healthy_threshold,
                h.unhealthy_threshold
            ));
        }
        if let Some(o) = &l.outlier_detection {
            parts.push(format!(
                "outlier {} errors / {}, eject {} x n, max {}%",
                o.max_server_errors,
                dur(o.interval),
                dur(o.base_ejection_duration),
                o.max_ejection_percent
            ));
        }
        if let Some(p) = &l.connection_pool {
            parts.push(match p {
                ConnectionPool::Http {
                    max_connections,
                    max_pending_requests,
                } => format!("pool {max_connections} connections, {max_pending_requests} pending"),
                ConnectionPool::Tcp { max_connections } => {
                    format!("pool {max_connections} connections")
                }
                ConnectionPool::Http2 { max_requests } | ConnectionPool::Grpc { max_requests } => {
                    format!("pool {max_requests} requests")
                }
            });
        }
        if let Some(t) = &l.timeout {
            parts.push(format!("timeout {}", timeouts_text(&t.timeouts)));
        }
        if let Some(tls) = &l.tls {
            parts.push(format!("tls {}", format!("{:?}", tls.mode).to_uppercase()));
        }
        let _ = writeln!(out, "    listener {}", parts.join("; "));
    }
    for b in &spec.backends {
        let _ = writeln!(
            out,
            "    backend -> virtual service {}",
            b.virtual_service_name.value
        );
    }
}

fn priority(p: Option<u32>) -> String {
    p.map(|p| format!(" (priority {p})")).unwrap_or_default()
}

fn dur(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn timeouts_text(t: &Timeouts) -> String {
    let mut parts = Vec::new();
    if let Some(p) = t.per_request {
        parts.push(format!("per request {}", dur(p)));
    }
    if let Some(i) = t.idle {
        parts.push(format!("idle {}", dur(i)));
    }
    parts.join(", ")
}

fn retry_text(p: &RetryPolicy) -> String {
    let mut events: Vec<&str> = p.http_retry_events.iter().map(|e| e.as_str()).collect();
    events.extend(p.tcp_retry_events.iter().map(|e| e.as_str()));
    events.extend(p.grpc_retry_events.iter().map(|e| e.as_str()));
    format!(
        "{} retries, {} per try, on {}",
        p.max_retries,
        dur(p.per_retry_timeout),
        events.join(", ")
    )
}

fn value_match(v: &Option<ValueMatch>) -> String {
    match v {
        None => " present".into(),
        Some(ValueMatch::Exact(s)) => format!("={s}"),
        Some(ValueMatch::Prefix(s)) => format!(" starts {s}"),
        Some(ValueMatch::Suffix(s)) => format!(" ends {s}"),
        Some(ValueMatch::Regex(s)) => format!(" ~ /{s}/"),
        Some(ValueMatch::Range { start, end }) => format!(" in [{start}, {end})"),
    }
}

fn headers_text(headers: &[HeaderMatch], word: &str) -> Vec<String> {
    headers
        .iter()
        .map(|h| {
            let not = if h.invert { "not " } else { "" };
            format!("{word} {not}{}{}", h.name, value_match(&h.value))
        })
        .collect()
}

fn http_match(m: &HttpRouteMatch) -> String {
    let mut parts = Vec::new();
    if let Some(me) = m.method {
        parts.push(me.as_str().to_string());
    }
    match (&m.prefix, &m.path) {
        (Some(p), _) => parts.push(format!("prefix {p}")),
        (None, Some(PathMatch::Exact(p))) => parts.push(format!("path {p}")),
        (None, Some(PathMatch::Regex(p))) => parts.push(format!("path ~ /{p}/")),
        (None, None) => parts.push("any path".into()),
    }
    parts.extend(headers_text(&m.headers, "header"));
    for q in &m.query_parameters {
        parts.push(match &q.exact {
            Some(v) => format!("query {}={v}", q.name),
            None => format!("query {} present", q.name),
        });
    }
    if let Some(p) = &m.port {
        parts.push(format!("port {p}"));
    }
    parts.join(", ")
}

fn http_gateway_match(m: &HttpGatewayRouteMatch) -> String {
    let base = HttpRouteMatch {
        prefix: m.prefix.clone(),
        path: m.path.clone(),
        method: m.method,
        scheme: None,
        headers: m.headers.clone(),
        query_parameters: m.query_parameters.clone(),
        port: m.port.clone(),
    };
    let mut s = http_match(&base);
    match &m.hostname {
        Some(HostnameMatch::Exact(h)) => s.push_str(&format!(", host {h}")),
        Some(HostnameMatch::Suffix(h)) => s.push_str(&format!(", host *{h}")),
        None => {}
    }
    s
}

fn rewrite_text(r: &HttpGatewayRewrite) -> String {
    let mut parts = Vec::new();
    match &r.prefix {
        Some(PrefixRewrite::Value(v)) => parts.push(format!("rewrite prefix to {v}")),
        Some(PrefixRewrite::Default(false)) => parts.push("keep prefix".to_string()),
        Some(PrefixRewrite::Default(true)) | None => {}
    }
    if let Some(p) = &r.path {
        parts.push(format!("rewrite path to {p}"));
    }
    if !r.default_target_hostname {
        parts.push("keep host".into());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

fn grpc_match(m: &GrpcRouteMatch) -> String {
    let mut parts = vec![match (&m.service_name, &m.method_name) {
        (Some(s), Some(me)) => format!("method {s}/{me}"),
        (Some(s), None) => format!("service {s}"),
        _ => "any service".to_string(),
    }];
    parts.extend(headers_text(&m.metadata, "metadata"));
    if let Some(p) = &m.port {
        parts.push(format!("port {p}"));
    }
    parts.join(", ")
}

fn gateway_listeners(spec: &VirtualGatewaySpec) -> String {
    spec.listeners
        .iter()
        .map(|l| format!("{}:{}", l.port_mapping.protocol, l.port_mapping.port))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Graphviz: one node per resource, edges along the request path.
pub(super) fn dot(loaded: &LoadedConfig) -> String {
    let mut out =
        String::from("digraph meshsim {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    for mesh in loaded.meshes.values() {
        let m = &mesh.name;
        let id = |kind: &str, name: &str| format!("\"{m}/{kind}/{}\"", name.replace('"', "\\\""));
        let _ = writeln!(
            out,
            "  subgraph \"cluster_{m}\" {{\n    label=\"mesh {m}\";"
        );
        for gw in mesh.virtual_gateways.keys() {
            let _ = writeln!(
                out,
                "    {} [label=\"gateway\\n{gw}\", shape=invhouse];",
                id("vg", gw)
            );
        }
        for ((gw, name), gr) in &mesh.gateway_routes {
            let target = &gr.route.spec.kind.target().virtual_service_name.value;
            let _ = writeln!(
                out,
                "    {} -> {} [label=\"{name}\"];",
                id("vg", gw),
                id("vs", target)
            );
        }
        for (name, vs) in &mesh.virtual_services {
            let _ = writeln!(
                out,
                "    {} [label=\"{name}\", shape=ellipse];",
                id("vs", name)
            );
            match &vs.spec.provider {
                Some(Provider::VirtualNode(n)) => {
                    let _ = writeln!(out, "    {} -> {};", id("vs", name), id("vn", &n.value));
                }
                Some(Provider::VirtualRouter(r)) => {
                    let _ = writeln!(out, "    {} -> {};", id("vs", name), id("vr", &r.value));
                }
                None => {}
            }
        }
        for name in mesh.virtual_routers.keys() {
            let _ = writeln!(
                out,
                "    {} [label=\"router\\n{name}\", shape=diamond];",
                id("vr", name)
            );
        }
        for ((router, name), r) in &mesh.routes {
            let total: u32 = r.route.spec.kind.targets().iter().map(|t| t.weight).sum();
            for t in r.route.spec.kind.targets() {
                let share = (t.weight * 100).checked_div(total).unwrap_or(0);
                let _ = writeln!(
                    out,
                    "    {} -> {} [label=\"{name} {share}%\"];",
                    id("vr", router),
                    id("vn", &t.virtual_node.value)
                );
            }
        }
        for (name, node) in &mesh.virtual_nodes {
            let _ = writeln!(out, "    {} [label=\"{name}\", shape=box];", id("vn", name));
            for b in &node.spec.backends {
                let _ = writeln!(
                    out,
                    "    {} -> {} [style=dashed, label=\"backend\"];",
                    id("vn", name),
                    id("vs", &b.virtual_service_name.value)
                );
            }
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    out
}

/// JSON for tools: the same graph, with weights turned into shares.
pub(super) fn json(loaded: &LoadedConfig) -> String {
    let meshes: Vec<Value> = loaded.meshes.values().map(mesh_json).collect();
    let mut s = serde_json::to_string_pretty(&json!({ "meshes": meshes })).unwrap_or_default();
    s.push('\n');
    s
}

fn mesh_json(mesh: &Mesh) -> Value {
    let routes = |router: &str| -> Vec<Value> {
        mesh.routes_of(router)
            .map(|r| {
                let spec = &r.route.spec;
                let total: u32 = spec.kind.targets().iter().map(|t| t.weight).sum();
                json!({
                    "name": r.route.name,
                    "priority": spec.priority,
                    "protocol": spec.kind.protocol().as_str(),
                    "match": match &spec.kind {
                        RouteKind::Http(h) | RouteKind::Http2(h) => http_match(&h.matcher),
                        RouteKind::Grpc(g) => grpc_match(&g.matcher),
                        RouteKind::Tcp(t) => t.match_port.as_ref().map_or("any connection".into(), |p| format!("port {p}")),
                    },
                    "targets": spec.kind.targets().iter().map(|t| json!({
                        "virtualNode": t.virtual_node.value,
                        "weight": t.weight,
                        "share": if total == 0 { 0.0 } else { f64::from(t.weight) / f64::from(total) },
                        "port": t.port,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect()
    };
    json!({
        "name": mesh.name,
        "egressFilter": match mesh.spec.egress_filter { EgressFilter::AllowAll => "ALLOW_ALL", EgressFilter::DropAll => "DROP_ALL" },
        "virtualGateways": mesh.virtual_gateways.values().map(|gw| json!({
            "name": gw.name,
            "listeners": gateway_listeners(&gw.spec),
            "gatewayRoutes": gateway_routes_in_order(mesh, &gw.name).into_iter().map(|g| json!({
                "name": g.route.name,
                "priority": g.route.spec.priority,
                "target": g.route.spec.kind.target().virtual_service_name.value,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "virtualServices": mesh.virtual_services.values().map(|vs| json!({
            "name": vs.name,
            "provider": match &vs.spec.provider {
                Some(Provider::VirtualNode(n)) => json!({"virtualNode": n.value}),
                Some(Provider::VirtualRouter(r)) => json!({"virtualRouter": r.value}),
                None => Value::Null,
            },
        })).collect::<Vec<_>>(),
        "virtualRouters": mesh.virtual_routers.values().map(|r| json!({
            "name": r.name,
            "listeners": r.spec.listeners.iter().map(|l| format!("{}:{}", l.protocol, l.port)).collect::<Vec<_>>(),
            "routes": routes(&r.name),
        })).collect::<Vec<_>>(),
        "virtualNodes": mesh.virtual_nodes.values().map(|n| json!({
            "name": n.name,
            "listeners": n.spec.listeners.iter().map(|l| format!("{}:{}", l.port_mapping.protocol, l.port_mapping.port)).collect::<Vec<_>>(),
            "backends": n.spec.backends.iter().map(|b| b.virtual_service_name.value.clone()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
