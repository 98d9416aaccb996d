//! The mesh as every writer walks it: each virtual service with its routes in the order App
//! Mesh's Envoys try them (the engine's route table), timeouts and retries as in force.

use std::time::Duration;

use crate::config::Mesh;
use crate::config::model::{
    PortMapping, Protocol, Provider, RetryPolicy, RouteKind, RouteResource, ServiceDiscovery,
    VirtualNodeSpec,
};
use crate::engine::Engine;
use crate::engine::routing::{DEFAULT_IDLE_TIMEOUT, DEFAULT_PER_REQUEST_TIMEOUT};

/// A weighted target.
#[derive(Clone, Debug)]
pub(crate) struct TargetView {
    pub(crate) node: String,
    pub(crate) weight: u32,
    pub(crate) port: Option<u16>,
}

/// One route as App Mesh's Envoy runs it.
#[derive(Clone, Debug)]
pub(crate) struct RouteView<'m> {
    /// The route's name (the node's, for a node provider).
    pub(crate) name: String,
    /// "route `order-router/order`" or "virtual service `x` (node provider)".
    pub(crate) subject: String,
    /// The route resource; `None` for a virtual node provider.
    pub(crate) resource: Option<&'m RouteResource>,
    pub(crate) protocol: Protocol,
    pub(crate) targets: Vec<TargetView>,
    /// `None`: App Mesh's hidden default policy.
    pub(crate) retry: Option<&'m RetryPolicy>,
    /// In force: `None` when disabled.
    pub(crate) per_request: Option<Duration>,
    /// Whether `per_request` is App Mesh's default rather than configured.
    pub(crate) per_request_default: bool,
    pub(crate) idle: Option<Duration>,
}

impl RouteView<'_> {
    /// The route's kind, for a real route.
    pub(crate) fn kind(&self) -> Option<&RouteKind> {
        self.resource.map(|r| &r.route.spec.kind)
    }
}

/// One virtual service.
#[derive(Clone, Debug)]
pub(crate) struct ServiceView<'m> {
    /// The virtual service name (`order.ordering.local`).
    pub(crate) name: &'m str,
    /// Its first DNS label (`order`), the Kubernetes Service name writers use.
    pub(crate) short: String,
    /// The router, when the provider is one.
    pub(crate) router: Option<&'m str>,
    /// Router listeners, or the node's.
    pub(crate) listeners: Vec<PortMapping>,
    /// In App Mesh's evaluation order.
    pub(crate) routes: Vec<RouteView<'m>>,
}

/// The first DNS label of a name.
pub(crate) fn short_name(name: &str) -> String {
    name.split('.').next().unwrap_or(name).to_string()
}

/// The host clients resolve for a node: DNS hostname or `service.namespace` in Cloud Map.
pub(crate) fn discovery_host(node: &VirtualNodeSpec) -> Option<String> {
    match node.service_discovery.as_ref()? {
        ServiceDiscovery::Dns { hostname, .. } => Some(hostname.clone()),
        ServiceDiscovery::CloudMap {
            namespace_name,
            service_name,
            ..
        } => Some(format!("{service_name}.{namespace_name}")),
    }
}

/// Every virtual service of the mesh, in name order.
pub(crate) fn services(mesh: &Mesh) -> Vec<ServiceView<'_>> {
    let engine = Engine::new(mesh);
    let mut out = Vec::new();
    for (name, vs) in &mesh.virtual_services {
        let mut view = ServiceView {
            name,
            short: short_name(name),
            router: None,
            listeners: Vec::new(),
            routes: Vec::new(),
        };
        match &vs.spec.provider {
            Some(Provider::VirtualRouter(r)) => {
                let router = r.value.as_str();
                view.router = mesh
                    .virtual_routers
                    .get_key_value(router)
                    .map(|(k, _)| k.as_str());
                if let Some(spec) = mesh.virtual_routers.get(router) {
                    view.listeners = spec.spec.listeners.clone();
                }
                let Some(table) = engine.route_table(router) else {
                    out.push(view);
                    continue;
                };
                for c in table.routes() {
                    let Some(resource) = mesh.routes.get(&(router.to_string(), c.name.clone()))
                    else {
                        continue;
                    };
                    let configured = match &resource.route.spec.kind {
                        RouteKind::Http(h) | RouteKind::Http2(h) => h.timeout,
                        RouteKind::Grpc(g) => g.timeout,
                        RouteKind::Tcp(t) => t.timeout,
                    };
                    view.routes.push(RouteView {
                        name: c.name.clone(),
                        subject: format!("route `{router}/{}`", c.name),
                        resource: Some(resource),
                        protocol: c.protocol,
                        targets: c
                            .targets()
                            .iter()
                            .map(|t| TargetView {
                                node: t.virtual_node.clone(),
                                weight: t.weight,
                                port: t.port,
                            })
                            .collect(),
                        retry: match &resource.route.spec.kind {
                            RouteKind::Http(h) | RouteKind::Http2(h) => h.retry_policy.as_ref(),
                            RouteKind::Grpc(g) => g.retry_policy.as_ref(),
                            RouteKind::Tcp(_) => None,
                        },
                        per_request: c.per_request_timeout,
                        per_request_default: c.protocol != Protocol::Tcp
                            && configured.and_then(|t| t.per_request).is_none(),
                        idle: c.idle_timeout,
                    });
                }
            }
            Some(Provider::VirtualNode(n)) => {
                let node = mesh.virtual_nodes.get(&n.value);
                view.listeners = node
                    .map(|n| n.spec.listeners.iter().map(|l| l.port_mapping).collect())
                    .unwrap_or_default();
                let protocol = view
                    .listeners
                    .first()
                    .map_or(Protocol::Http, |l| l.protocol);
                let tcp = protocol == Protocol::Tcp;
                view.routes.push(RouteView {
                    name: n.value.clone(),
                    subject: format!("virtual service `{name}`"),
                    resource: None,
                    protocol,
                    targets: vec![TargetView {
                        node: n.value.clone(),
                        weight: 1,
                        port: None,
                    }],
                    retry: None,
                    per_request: (!tcp).then_some(DEFAULT_PER_REQUEST_TIMEOUT),
                    per_request_default: !tcp,
                    idle: Some(DEFAULT_IDLE_TIMEOUT),
                });
            }
            None => {}
        }
        out.push(view);
    }
    out
}

/// "2 s", "500 ms", "15 s".
pub(crate) fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Gateway API / Istio duration: "15s", "500ms".
pub(crate) fn go_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// "once", "twice", "3 times".
pub(crate) fn times(n: u32) -> String {
    match n {
        1 => "once".to_string(),
        2 => "twice".to_string(),
        n => format!("{n} times"),
    }
}

/// What App Mesh retried on this route, as a clause: "App Mesh retried 503 twice".
pub(crate) fn app_mesh_retry(route: &RouteView<'_>) -> Option<String> {
    if route.protocol == Protocol::Tcp {
        return None;
    }
    match route.retry {
        None => Some("App Mesh retried 503 twice".to_string()),
        Some(p) if p.max_retries == 0 => None,
        Some(p) => {
            let mut events: Vec<&str> = p.http_retry_events.iter().map(|e| e.as_str()).collect();
            events.extend(p.tcp_retry_events.iter().map(|e| e.as_str()));
            events.extend(p.grpc_retry_events.iter().map(|e| e.as_str()));
            Some(format!(
                "App Mesh retried {} {} ({} per try)",
                events.join(", "),
                times(p.max_retries),
                human(p.per_retry_timeout)
            ))
        }
    }
}
