//! Checks across resources: references, ports and protocols between routers, routes and
//! nodes, and App Mesh's per-mesh quotas. Checks inside one resource live in the decoder.

use std::collections::BTreeMap;

use super::diagnostic::{Diagnostic, Diagnostics, Severity, suggest};
use super::model::*;
use super::source::{Loc, Located};

/// Codes `--partial` downgrades to warnings: a fragment may refer to what it does not hold.
pub const PARTIAL_CODES: &[&str] = &["unresolved-reference", "missing-parent"];

/// Adjustable App Mesh quotas (defaults); exceeding one is a warning, since it can be raised.
const QUOTAS: &[(ResourceKind, usize, &str)] = &[
    (ResourceKind::VirtualService, 200, "L-DA7495A7"),
    (ResourceKind::VirtualNode, 200, "L-E043DFB4"),
    (ResourceKind::VirtualRouter, 200, "L-50F6C35A"),
    (ResourceKind::VirtualGateway, 3, "L-87E74146"),
];
const ROUTES_PER_ROUTER: usize = 50;
const GATEWAY_ROUTES_PER_GATEWAY: usize = 10;

/// Runs every cross-resource check on every mesh.
pub fn references(meshes: &BTreeMap<String, Mesh>, diags: &mut Diagnostics) {
    for mesh in meshes.values() {
        Check { mesh, diags }.run();
    }
}

struct Check<'a> {
    mesh: &'a Mesh,
    diags: &'a mut Diagnostics,
}

impl Check<'_> {
    fn run(&mut self) {
        self.quotas();
        let mesh = self.mesh;
        for vs in mesh.virtual_services.values() {
            match &vs.spec.provider {
                Some(Provider::VirtualNode(n)) => {
                    self.exists(n, ResourceKind::VirtualNode);
                }
                Some(Provider::VirtualRouter(r)) => {
                    self.exists(r, ResourceKind::VirtualRouter);
                }
                None => {
                    self.diags
                        .error(
                            "no-provider",
                            vs.loc(),
                            format!("virtual service `{}` has no provider: every request to it would fail", vs.name),
                        )
                        .help = Some("add `spec.provider` with a virtual node or a virtual router".into());
                }
            }
        }
        for node in mesh.virtual_nodes.values() {
            for b in &node.spec.backends {
                self.exists(&b.virtual_service_name, ResourceKind::VirtualService);
            }
        }
        for r in mesh.routes.values() {
            self.route(r);
        }
        for g in mesh.gateway_routes.values() {
            self.gateway_route(g);
        }
    }

    fn names(&self, kind: ResourceKind) -> Vec<&str> {
        let m = self.mesh;
        match kind {
            ResourceKind::VirtualService => m.virtual_services.keys().map(String::as_str).collect(),
            ResourceKind::VirtualNode => m.virtual_nodes.keys().map(String::as_str).collect(),
            ResourceKind::VirtualRouter => m.virtual_routers.keys().map(String::as_str).collect(),
            ResourceKind::VirtualGateway => m.virtual_gateways.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Reports a reference that names nothing, suggesting a near name.
    fn exists(&mut self, name: &Located<String>, kind: ResourceKind) -> bool {
        if name.value.is_empty() {
            return false; // a missing parent, already reported
        }
        let names = self.names(kind);
        if names.contains(&name.value.as_str()) {
            return true;
        }
        let (one, _) = kind.words();
        let mut d = Diagnostic::new(
            Severity::Error,
            "unresolved-reference",
            &name.at,
            format!(
                "{one} `{}` is not defined in mesh `{}`",
                name.value, self.mesh.name
            ),
        );
        d.help = Some(match suggest(&name.value, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None if names.is_empty() => format!(
                "no {} are defined; pass the file that defines it, or --partial for a fragment",
                kind.words().1
            ),
            None => format!("defined: {}", names.join(", ")),
        });
        self.diags.push(d);
        false
    }

    fn route(&mut self, r: &RouteResource) {
        let mesh = self.mesh;
        let kind = &r.route.spec.kind;
        let protocol = kind.protocol();
        let at = r.route.loc();
        if self.exists(&r.virtual_router, ResourceKind::VirtualRouter)
            && let Some(router) = mesh.virtual_routers.get(&r.virtual_router.value)
        {
            let listeners = &router.spec.listeners;
            let listener = match kind.match_port() {
                Some(port) => {
                    let l = listeners.iter().find(|l| l.port == port.value);
                    if l.is_none() {
                        self.diags.error(
                            "port-mismatch",
                            &port.at,
                            format!(
                                "route `{}` matches port {}, but virtual router `{}` has no listener on that port (listeners: {})",
                                r.route.name,
                                port.value,
                                router.name,
                                ports(listeners.iter().map(|l| l.port))
                            ),
                        );
                    }
                    l
                }
                None if listeners.len() > 1 => {
                    self.diags.error(
                        "port-mismatch",
                        at,
                        format!(
                            "virtual router `{}` has several listeners ({}); route `{}` must set `match.port`",
                            router.name,
                            ports(listeners.iter().map(|l| l.port)),
                            r.route.name
                        ),
                    );
                    None
                }
                None if listeners.is_empty() => {
                    self.diags.error(
                        "port-mismatch",
                        at,
                        format!(
                            "virtual router `{}` has no listener for route `{}`",
                            router.name, r.route.name
                        ),
                    );
                    None
                }
                None => listeners.first(),
            };
            if let Some(l) = listener
                && l.protocol != protocol
            {
                self.diags.error(
                    "protocol-mismatch",
                    at,
                    format!(
                        "route `{}` is a {protocol} route, but virtual router `{}` listens with {} on port {}",
                        r.route.name, router.name, l.protocol, l.port
                    ),
                );
            }
        }
        for t in kind.targets() {
            self.target(t, protocol);
        }
    }

    /// A weighted target: the node exists and has a listener of the route's protocol.
    fn target(&mut self, t: &WeightedTarget, protocol: Protocol) {
        if !self.exists(&t.virtual_node, ResourceKind::VirtualNode) {
            return;
        }
        let Some(node) = self.mesh.virtual_nodes.get(&t.virtual_node.value) else {
            return;
        };
        let listeners = &node.spec.listeners;
        let listener = match t.port {
            Some(port) => {
                let l = listeners.iter().find(|l| l.port_mapping.port == port);
                if l.is_none() {
                    self.diags.error(
                        "port-mismatch",
                        &t.virtual_node.at,
                        format!(
                            "target port {port} is not a listener of virtual node `{}` (listeners: {})",
                            node.name,
                            ports(listeners.iter().map(|l| l.port_mapping.port))
                        ),
                    );
                }
                l
            }
            None if listeners.len() > 1 => {
                self.diags.error(
                    "port-mismatch",
                    &t.virtual_node.at,
                    format!(
                        "virtual node `{}` has several listeners ({}); the target must set `port`",
                        node.name,
                        ports(listeners.iter().map(|l| l.port_mapping.port))
                    ),
                );
                None
            }
            None if listeners.is_empty() => {
                self.diags.error(
                    "port-mismatch",
                    &t.virtual_node.at,
                    format!(
                        "virtual node `{}` has no listener to receive traffic",
                        node.name
                    ),
                );
                None
            }
            None => listeners.first(),
        };
        if let Some(l) = listener
            && l.port_mapping.protocol != protocol
        {
            // App Mesh silently drops such targets from the Envoy config; say so up front.
            self.diags.error(
                "protocol-mismatch",
                &t.virtual_node.at,
                format!(
                    "a {protocol} route targets virtual node `{}`, whose listener on port {} speaks {}",
                    node.name, l.port_mapping.port, l.port_mapping.protocol
                ),
            );
        }
    }

    fn gateway_route(&mut self, g: &GatewayRouteResource) {
        let mesh = self.mesh;
        if self.exists(&g.virtual_gateway, ResourceKind::VirtualGateway)
            && let Some(gw) = mesh.virtual_gateways.get(&g.virtual_gateway.value)
            && let Some(port) = g.route.spec.kind.match_port()
            && !gw
                .spec
                .listeners
                .iter()
                .any(|l| l.port_mapping.port == port.value)
        {
            self.diags.error(
                "port-mismatch",
                &port.at,
                format!(
                    "gateway route `{}` matches port {}, but virtual gateway `{}` has no listener on it",
                    g.route.name, port.value, gw.name
                ),
            );
        }
        self.exists(
            &g.route.spec.kind.target().virtual_service_name,
            ResourceKind::VirtualService,
        );
    }

    fn quotas(&mut self) {
        let mesh = self.mesh;
        for (kind, limit, code) in QUOTAS {
            let n = mesh.count(*kind);
            if n > *limit {
                self.diags.warning(
                    "quota",
                    &Loc::default(),
                    format!(
                        "mesh `{}` has {n} {}; App Mesh's default quota is {limit} ({code}, adjustable)",
                        mesh.name,
                        kind.words().1
                    ),
                );
            }
        }
        for router in mesh.virtual_routers.keys() {
            let n = mesh.routes_of(router).count();
            if n > ROUTES_PER_ROUTER {
                let at = mesh.virtual_routers[router].loc().clone();
                self.diags.warning(
                    "quota",
                    &at,
                    format!("virtual router `{router}` has {n} routes; App Mesh's default quota is {ROUTES_PER_ROUTER} (L-BB90B7FF, adjustable)"),
                );
            }
        }
        for gw in mesh.virtual_gateways.keys() {
            let n = mesh.gateway_routes_of(gw).count();
            if n > GATEWAY_ROUTES_PER_GATEWAY {
                let at = mesh.virtual_gateways[gw].loc().clone();
                self.diags.warning(
                    "quota",
                    &at,
                    format!("virtual gateway `{gw}` has {n} gateway routes; App Mesh's default quota is {GATEWAY_ROUTES_PER_GATEWAY} (L-F6F26D09, adjustable)"),
                );
            }
        }
    }
}

fn ports(ps: impl Iterator<Item = u16>) -> String {
    let v: Vec<String> = ps.map(|p| p.to_string()).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
