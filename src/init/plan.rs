//! What the generated scenario holds, decided from the mesh before any text is written.

use std::collections::{BTreeMap, BTreeSet};

use super::replicas::{self, Replicas};
use super::requests::{Request, aim, gateway_pattern, plain};
use super::{InitError, InitOptions};
use crate::check::{PathPattern, Pattern};
use crate::config::LoadedConfig;
use crate::config::model::{
    GatewayRouteKind, GatewayRouteSpec, HttpMethod, Mesh, PrefixRewrite, Protocol, Provider,
    Resource, RouteKind, VirtualServiceSpec,
};
use crate::config::source::Located;
use crate::engine::Engine;
use crate::engine::gateway::{CompiledGatewayRoute, GatewayTable};
use crate::model::route::{MethodMatch, PathPattern as EndpointPath, Route as EndpointRoute};

/// Replicas of a node no deployment resource names: two, so a crash or an ejection leaves
/// one task serving, which is what a rehearsal of resilience needs.
pub const DEFAULT_REPLICAS: u32 = 2;
/// Calls made to one backend per request, at most (one per route they reach).
const MAX_CALLS_PER_BACKEND: usize = 3;
/// The gRPC health-checking protocol's method, which Envoy calls for a `grpc` health check.
const GRPC_HEALTH_PATH: &str = "/grpc.health.v1.Health/Check";

/// Where the users' requests enter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// The mesh's only virtual gateway.
    Gateway(String),
    /// A virtual service nothing in the mesh calls.
    Service(String),
    /// A virtual node nothing routes to (the frontend users reach directly), behind a virtual
    /// service `init` adds inline, named here.
    Added {
        /// The added virtual service.
        service: String,
        /// The node it leads to.
        node: String,
    },
}

impl Entry {
    /// The workload's target.
    pub fn target(&self) -> &str {
        match self {
            Entry::Gateway(n) | Entry::Service(n) | Entry::Added { service: n, .. } => n,
        }
    }
}

/// One task entry.
#[derive(Clone, Debug)]
pub struct Task {
    pub node: String,
    pub replicas: Replicas,
}

/// One endpoint of a generated service.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub method: String,
    pub path: String,
    /// Where it came from, for the comment.
    pub note: String,
    /// A health-check path: answered at once, no calls.
    pub health: bool,
}

/// One call of a generated service.
#[derive(Clone, Debug)]
pub struct Call {
    pub service: String,
    pub method: HttpMethod,
    pub path: String,
    /// The route it reaches, for the comment.
    pub note: String,
    /// Whether a failed call leaves the request alone (calls no route takes without headers).
    pub tolerate: bool,
}

/// The generated service of one virtual node.
#[derive(Clone, Debug)]
pub struct Service {
    pub node: String,
    pub endpoints: Vec<Endpoint>,
    pub calls: Vec<Call>,
    /// Backends whose calls were left out, and why.
    pub skipped: Vec<String>,
}

/// One entry of the request mix.
#[derive(Clone, Debug)]
pub struct Mix {
    pub request: Request,
    /// The routes it is aimed at, for the comment.
    pub note: String,
}

/// A weighted route a rollout could move: its router, name and targets by weight.
#[derive(Clone, Debug)]
pub struct RolloutStub {
    pub router: String,
    pub route: String,
    /// Targets, heaviest first (ties by name): the first is the stable version.
    pub targets: Vec<(String, u32)>,
}

/// Which routes the mix reaches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// `router/route` of every route (gateway routes as `gateway/route`).
    pub routes: BTreeSet<String>,
    /// Those a user request or a call is aimed at, by the engine's decision.
    pub covered: BTreeSet<String>,
}

impl Coverage {
    /// The routes no generated request reaches.
    pub fn uncovered(&self) -> Vec<&str> {
        self.routes
            .difference(&self.covered)
            .map(String::as_str)
            .collect()
    }
}

/// Everything the scenario and policy say.
#[derive(Clone, Debug)]
pub struct Plan {
    pub mesh: String,
    pub entry: Entry,
    /// Other virtual services nothing calls (could be targets too).
    pub other_roots: Vec<String>,
    pub tasks: Vec<Task>,
    pub services: Vec<Service>,
    /// Request headers some route matches on, propagated by every service.
    pub propagate: Vec<String>,
    pub mix: Vec<Mix>,
    pub rollouts: Vec<RolloutStub>,
    pub coverage: Coverage,
    /// CloudFormation parameters of the files: name, value given, the template's Default.
    pub params: Vec<(String, Option<String>, Option<String>)>,
    /// The virtual gateways, for the policy's `reachableFrom`.
    pub gateways: Vec<String>,
    /// Each virtual router's virtual service and its number of routes, for the policy.
    pub routers: BTreeMap<String, (String, usize)>,
}

impl Plan {
    pub fn new(loaded: &LoadedConfig, mesh: &Mesh, opts: &InitOptions) -> Result<Plan, InitError> {
        if mesh.virtual_nodes.is_empty() {
            return Err(InitError::NoVirtualNodes(mesh.name.clone()));
        }
        let (entry, other_roots) = entry(mesh);
        let mut mesh = mesh.clone();
        if let Entry::Added { service, node } = &entry {
            mesh.virtual_services.insert(
                service.clone(),
                Resource {
                    name: service.clone(),
                    spec: VirtualServiceSpec {
                        provider: Some(Provider::VirtualNode(Located::synthetic(node.clone()))),
                    },
                    at: Located::synthetic(()),
                },
            );
        }
        let engine = Engine::new(&mesh);
        let found = replicas::find(loaded, &opts.vars, &opts.params);
        let tasks = mesh
            .virtual_nodes
            .keys()
            .map(|node| Task {
                node: node.clone(),
                replicas: found.get(node).cloned().unwrap_or(Replicas {
                    count: DEFAULT_REPLICAS,
                    source: "no Deployment or ECS service in the files names it".into(),
                }),
            })
            .collect();
        let mut coverage = Coverage::default();
        for (router, route) in mesh.routes.keys() {
            coverage.routes.insert(format!("{router}/{route}"));
        }
        for (gateway, route) in mesh.gateway_routes.keys() {
            coverage.routes.insert(format!("{gateway}/{route}"));
        }
        let cx = Cx {
            mesh: &mesh,
            engine: &engine,
        };
        let mix = cx.mix(&entry, &mut coverage);
        let services = cx.services(&entry, &mut coverage);
        // Routes that a header picks downstream: users send the header, every app passes it on.
        let mut propagate: BTreeSet<String> = BTreeSet::new();
        for r in mesh.routes.values() {
            if let Some(p) = Pattern::of_route(&r.route.spec.kind) {
                propagate.extend(p.headers.iter().map(|h| h.name.to_ascii_lowercase()));
            }
        }
        propagate.retain(|h| http::HeaderName::from_bytes(h.as_bytes()).is_ok() && h != "host");
        let mix = cx.downstream_headers(mix, &services, &mut coverage);
        let rollouts = rollouts(&mesh);
        Ok(Plan {
            mesh: mesh.name.clone(),
            entry,
            other_roots,
            tasks,
            services,
            propagate: propagate.into_iter().collect(),
            mix,
            rollouts,
            coverage,
            params: parameters(loaded, &opts.params),
            gateways: mesh.virtual_gateways.keys().cloned().collect(),
            routers: mesh
                .virtual_services
                .iter()
                .filter_map(|(n, vs)| match &vs.spec.provider {
                    Some(Provider::VirtualRouter(r)) => Some((
                        r.value.clone(),
                        (n.clone(), mesh.routes_of(&r.value).count()),
                    )),
                    _ => None,
                })
                .collect(),
        })
    }
}

/// The entry, and the other virtual services nothing calls.
fn entry(mesh: &Mesh) -> (Entry, Vec<String>) {
    let mut called: BTreeSet<&str> = BTreeSet::new();
    for n in mesh.virtual_nodes.values() {
        called.extend(
            n.spec
                .backends
                .iter()
                .map(|b| b.virtual_service_name.value.as_str()),
        );
    }
    for g in mesh.gateway_routes.values() {
        called.insert(
            g.route
                .spec
                .kind
                .target()
                .virtual_service_name
                .value
                .as_str(),
        );
    }
    let roots: Vec<&str> = mesh
        .virtual_services
        .iter()
        .filter(|(name, vs)| !called.contains(name.as_str()) && vs.spec.provider.is_some())
        .map(|(name, _)| name.as_str())
        .collect();
    if let [only] = mesh.virtual_gateways.keys().collect::<Vec<_>>().as_slice() {
        return (
            Entry::Gateway((*only).clone()),
            roots.iter().map(|s| s.to_string()).collect(),
        );
    }
    // Of several roots, the one that reaches the most nodes: the front door, not a side
    // service.
    let best = roots
        .iter()
        .max_by_key(|r| (reach(mesh, r).len(), std::cmp::Reverse(**r)))
        .copied();
    if let Some(best) = best {
        let others = roots
            .iter()
            .filter(|r| **r != best)
            .map(|s| s.to_string())
            .collect();
        return (Entry::Service(best.to_string()), others);
    }
    // Nothing is uncalled: the users reach a node directly (a Kubernetes walkthrough's
    // frontend behind a plain Service). Take the node no route or service leads to with the
    // most backends.
    let mut targeted: BTreeSet<&str> = BTreeSet::new();
    for r in mesh.routes.values() {
        targeted.extend(
            r.route
                .spec
                .kind
                .targets()
                .iter()
                .map(|t| t.virtual_node.value.as_str()),
        );
    }
    for vs in mesh.virtual_services.values() {
        if let Some(Provider::VirtualNode(n)) = &vs.spec.provider {
            targeted.insert(n.value.as_str());
        }
    }
    let node = mesh
        .virtual_nodes
        .iter()
        .filter(|(n, _)| !targeted.contains(n.as_str()))
        .max_by_key(|(n, v)| (v.spec.backends.len(), std::cmp::Reverse(n.as_str())))
        .or_else(|| mesh.virtual_nodes.iter().next())
        .map(|(n, _)| n.clone())
        .unwrap_or_default();
    let mut service = format!("{node}.users.local");
    while mesh.virtual_services.contains_key(&service) {
        service = format!("users.{service}");
    }
    (Entry::Added { service, node }, Vec::new())
}

/// The virtual nodes a virtual service leads to, directly or through their backends.
fn reach(mesh: &Mesh, service: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![service.to_string()];
    let mut services = BTreeSet::new();
    while let Some(s) = todo.pop() {
        if !services.insert(s.clone()) {
            continue;
        }
        for n in nodes_of(mesh, &s) {
            if seen.insert(n.clone())
                && let Some(node) = mesh.virtual_nodes.get(&n)
            {
                todo.extend(
                    node.spec
                        .backends
                        .iter()
                        .map(|b| b.virtual_service_name.value.clone()),
                );
            }
        }
    }
    seen
}

/// The nodes a virtual service sends to (any weight: a rollout may move traffic there).
fn nodes_of(mesh: &Mesh, service: &str) -> Vec<String> {
    match mesh
        .virtual_services
        .get(service)
        .and_then(|v| v.spec.provider.as_ref())
    {
        Some(Provider::VirtualNode(n)) => vec![n.value.clone()],
        Some(Provider::VirtualRouter(r)) => mesh
            .routes_of(&r.value)
            .flat_map(|res| res.route.spec.kind.targets().iter())
            .map(|t| t.virtual_node.value.clone())
            .collect(),
        None => Vec::new(),
    }
}

struct Cx<'a> {
    mesh: &'a Mesh,
    engine: &'a Engine,
}

/// A virtual service's routes, as the engine evaluates them, with their patterns (`None`:
/// a TCP route, which takes every connection).
type Routes = Vec<(String, Option<Pattern>)>;

impl Cx<'_> {
    /// The router, its first port and its routes in evaluation order.
    fn routes(&self, service: &str) -> Option<(String, u16, Routes)> {
        let Some(Provider::VirtualRouter(r)) = self
            .mesh
            .virtual_services
            .get(service)
            .and_then(|v| v.spec.provider.as_ref())
        else {
            return None;
        };
        let router = r.value.clone();
        let port = self
            .mesh
            .virtual_routers
            .get(&router)
            .and_then(|vr| vr.spec.listeners.first())
            .map_or(80, |l| l.port);
        let routes = self
            .engine
            .route_table(&router)
            .map(|t| {
                t.routes()
                    .iter()
                    .filter_map(|cr| {
                        let res = self.mesh.routes.get(&(router.clone(), cr.name.clone()))?;
                        Some((cr.name.clone(), Pattern::of_route(&res.route.spec.kind)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some((router, port, routes))
    }

    /// The protocol a virtual service is called with.
    fn protocol(&self, service: &str) -> Protocol {
        match self
            .mesh
            .virtual_services
            .get(service)
            .and_then(|v| v.spec.provider.as_ref())
        {
            Some(Provider::VirtualRouter(r)) => self
                .mesh
                .virtual_routers
                .get(&r.value)
                .and_then(|vr| vr.spec.listeners.first())
                .map_or(Protocol::Http, |l| l.protocol),
            Some(Provider::VirtualNode(n)) => self
                .mesh
                .virtual_nodes
                .get(&n.value)
                .and_then(|vn| vn.spec.listeners.first())
                .map_or(Protocol::Http, |l| l.port_mapping.protocol),
            None => Protocol::Http,
        }
    }

    /// The port of the first listener of the node a virtual service is provided by.
    fn node_port(&self, service: &str) -> u16 {
        match self
            .mesh
            .virtual_services
            .get(service)
            .and_then(|v| v.spec.provider.as_ref())
        {
            Some(Provider::VirtualNode(n)) => self
                .mesh
                .virtual_nodes
                .get(&n.value)
                .and_then(|vn| vn.spec.listeners.first())
                .map_or(80, |l| l.port_mapping.port),
            _ => 80,
        }
    }

    /// The route of `service` the engine picks for `req`.
    fn routed(&self, service: &str, req: &Request) -> Option<String> {
        self.engine
            .route(service, &req.head(service))
            .ok()
            .map(|routed| routed.route.name.clone())
    }

    /// The users' requests: aimed at every gateway route and, through them, every route of
    /// the services they lead to; or at every route of the entry service.
    fn mix(&self, entry: &Entry, coverage: &mut Coverage) -> Vec<Mix> {
        let mut out: Vec<Mix> = Vec::new();
        let push = |out: &mut Vec<Mix>, request: Request, note: String| {
            if !out.iter().any(|m| m.request == request) {
                out.push(Mix { request, note });
            }
        };
        match entry {
            Entry::Gateway(g) => {
                let table = GatewayTable::new(
                    self.mesh
                        .gateway_routes_of(g)
                        .map(CompiledGatewayRoute::compile)
                        .collect(),
                );
                let port = self
                    .mesh
                    .virtual_gateways
                    .get(g)
                    .and_then(|v| v.spec.listeners.first())
                    .map_or(80, |l| l.port_mapping.port);
                for cgr in table.routes() {
                    let Some(res) = self.mesh.gateway_routes.get(&(g.clone(), cgr.name.clone()))
                    else {
                        continue;
                    };
                    let (pattern, host) = gateway_pattern(&res.route.spec);
                    let with_host = |mut r: Request| {
                        if let Some(h) = &host {
                            r.headers.insert("host".into(), h.clone());
                        }
                        r.port = port;
                        r
                    };
                    let service = cgr.target.clone();
                    // The gateway calls the service on the route's target port, else the
                    // port of the service's first listener.
                    let service_port = cgr.target_port.unwrap_or_else(|| {
                        self.routes(&service).map_or_else(
                            || plain_any(self.protocol(&service), self.node_port(&service)).port,
                            |(_, p, _)| p,
                        )
                    });
                    let decide = |r: &Request| {
                        let mut d = self.engine.gateway_route(g, &r.head(g)).ok()?;
                        if d.route != cgr.name {
                            return None;
                        }
                        d.request.port = service_port;
                        Some(
                            self.engine
                                .route(&service, &d.request)
                                .ok()
                                .map(|x| x.route.name.clone()),
                        )
                    };
                    let mut hit_any = false;
                    if let Some((router, _, routes)) = self.routes(&service) {
                        for (name, p) in &routes {
                            let want = Some(name.clone());
                            let key = format!("{router}/{name}");
                            if coverage.covered.contains(&key) {
                                continue;
                            }
                            let base = with_host(plain(&pattern, port));
                            let found = p.as_ref().map_or(Some(base.clone()), |p| {
                                let merged = merge(&base, &plain(p, port), &res.route.spec);
                                if decide(&merged) == Some(want.clone()) {
                                    return Some(merged);
                                }
                                aim(p, port, &key, |r| {
                                    decide(&merge(&base, r, &res.route.spec)) == Some(want.clone())
                                })
                                .map(|r| merge(&base, &r, &res.route.spec))
                            });
                            if let Some(r) = found.filter(|r| decide(r) == Some(want.clone())) {
                                coverage.covered.insert(key.clone());
                                coverage.covered.insert(format!("{g}/{}", cgr.name));
                                push(
                                    &mut out,
                                    r,
                                    format!("gateway route {}, route {key}", cgr.name),
                                );
                                hit_any = true;
                            }
                        }
                    }
                    if !hit_any {
                        let name = format!("{g}/{}", cgr.name);
                        if let Some(r) = aim(&pattern, port, &name, |r| {
                            decide(&with_host(r.clone())).is_some()
                        }) {
                            let r = with_host(r);
                            if let Some(Some(route)) = decide(&r)
                                && let Some((router, ..)) = self.routes(&service)
                            {
                                coverage.covered.insert(format!("{router}/{route}"));
                            }
                            coverage.covered.insert(name.clone());
                            push(&mut out, r, format!("gateway route {}", cgr.name));
                        }
                    }
                }
            }
            Entry::Service(s) | Entry::Added { service: s, .. } => match self.routes(s) {
                Some((router, port, routes)) => {
                    for (name, p) in &routes {
                        let key = format!("{router}/{name}");
                        if coverage.covered.contains(&key) {
                            continue;
                        }
                        // The load generator calls the router's first port.
                        let at_port = |r: &Request| Request { port, ..r.clone() };
                        let found = match p {
                            Some(p) => aim(p, port, &key, |r| {
                                self.routed(s, &at_port(r)).as_deref() == Some(name.as_str())
                            })
                            .map(|r| at_port(&r)),
                            None => Some(plain_any(self.protocol(s), port)),
                        };
                        if let Some(r) = found {
                            coverage.covered.insert(key.clone());
                            push(&mut out, r, format!("route {key}"));
                        }
                    }
                }
                None => push(
                    &mut out,
                    plain_any(self.protocol(s), 80),
                    format!("virtual service {s}"),
                ),
            },
        }
        if out.is_empty() {
            // Nothing routes (a gateway without routes): one plain request, which the run
            // shows failing with 404.
            out.push(Mix {
                request: plain_any(Protocol::Http, 80),
                note: "no route takes any request; the run shows them failing".into(),
            });
        }
        out
    }

    /// One service per virtual node: endpoints from the routes that reach it, calls to
    /// each backend, call cycles cut.
    fn services(&self, entry: &Entry, coverage: &mut Coverage) -> Vec<Service> {
        let cut = back_edges(self.mesh, entry);
        self.mesh
            .virtual_nodes
            .iter()
            .map(|(name, node)| {
                let mut endpoints = Vec::new();
                for l in &node.spec.listeners {
                    let path = match &l.health_check {
                        Some(h) if h.protocol == Protocol::Grpc => Some(GRPC_HEALTH_PATH.to_string()),
                        Some(h) if matches!(h.protocol, Protocol::Http | Protocol::Http2) => {
                            h.path.clone()
                        }
                        _ => None,
                    };
                    if let Some(p) = path.filter(|p| EndpointPath::parse(p).is_ok()) {
                        endpoints.push(Endpoint {
                            method: "*".into(),
                            path: p,
                            note: "the listener's health check".into(),
                            health: true,
                        });
                    }
                }
                for ((router, route), res) in &self.mesh.routes {
                    let kind = &res.route.spec.kind;
                    if !kind.targets().iter().any(|t| &t.virtual_node.value == name) {
                        continue;
                    }
                    if let Some((method, path)) = Pattern::of_route(kind).and_then(|p| endpoint_of(&p)) {
                        endpoints.push(Endpoint {
                            method,
                            path,
                            note: format!("what route {router}/{route} sends here"),
                            health: false,
                        });
                    }
                }
                endpoints.push(Endpoint {
                    method: "*".into(),
                    path: "/*".into(),
                    note: "every other request".into(),
                    health: false,
                });
                let endpoints = without_shadowed(endpoints);
                let mut calls = Vec::new();
                let mut skipped = Vec::new();
                for b in &node.spec.backends {
                    let service = &b.virtual_service_name.value;
                    if cut.contains(&(name.clone(), service.clone())) {
                        skipped.push(format!(
                            "{service}: it leads back to a caller of this node (a call cycle would never end)"
                        ));
                        continue;
                    }
                    match self.calls_to(service, coverage) {
                        Ok(c) => calls.extend(c),
                        Err(why) => skipped.push(format!("{service}: {why}")),
                    }
                }
                Service {
                    node: name.clone(),
                    endpoints,
                    calls,
                    skipped,
                }
            })
            .collect()
    }

    /// Calls to `service`, one per route that a request without headers reaches, at most
    /// [`MAX_CALLS_PER_BACKEND`].
    fn calls_to(&self, service: &str, coverage: &mut Coverage) -> Result<Vec<Call>, String> {
        let vs = self
            .mesh
            .virtual_services
            .get(service)
            .ok_or_else(|| "not a virtual service of the mesh".to_string())?;
        if vs.spec.provider.is_none() {
            return Err("it has no provider, so every call would fail".into());
        }
        let protocol = self.protocol(service);
        let Some((router, port, routes)) = self.routes(service) else {
            let r = plain_any(protocol, 80);
            return Ok(vec![Call {
                service: service.to_string(),
                method: r.method,
                path: r.path,
                note: "its virtual node".into(),
                tolerate: false,
            }]);
        };
        let mut calls: Vec<Call> = Vec::new();
        let mut reached: BTreeSet<String> = BTreeSet::new();
        for (name, p) in &routes {
            let mut r = match p {
                Some(p) => plain(p, port),
                None => plain_any(protocol, port),
            };
            // Apps call a service on its first port, with no headers of their own.
            r.headers.clear();
            r.port = port;
            let Some(hit) = self.routed(service, &r) else {
                continue;
            };
            if hit != *name && p.is_some() {
                continue;
            }
            if reached.insert(hit.clone()) && calls.len() < MAX_CALLS_PER_BACKEND {
                coverage.covered.insert(format!("{router}/{hit}"));
                calls.push(Call {
                    service: service.to_string(),
                    method: r.method,
                    path: r.path,
                    note: format!("route {router}/{hit}"),
                    tolerate: false,
                });
            }
        }
        if calls.is_empty() {
            let r = plain_any(protocol, port);
            calls.push(Call {
                service: service.to_string(),
                method: r.method,
                path: r.path,
                note: "no route of it takes a request without headers; the users' headers, passed on, pick one".into(),
                tolerate: true,
            });
        }
        Ok(calls)
    }

    /// Users' requests carrying the headers that pick a downstream route: the first mix
    /// entry, plus the route's headers, which every app passes on.
    fn downstream_headers(
        &self,
        mut mix: Vec<Mix>,
        services: &[Service],
        coverage: &mut Coverage,
    ) -> Vec<Mix> {
        let Some(base) = mix.first().map(|m| m.request.clone()) else {
            return mix;
        };
        let mut calls: Vec<&Call> = services.iter().flat_map(|s| s.calls.iter()).collect();
        calls.sort_by(|a, b| (&a.service, &a.path).cmp(&(&b.service, &b.path)));
        calls.dedup_by(|a, b| a.service == b.service && a.path == b.path && a.method == b.method);
        for call in calls {
            let Some((router, port, routes)) = self.routes(&call.service) else {
                continue;
            };
            for (name, p) in &routes {
                let key = format!("{router}/{name}");
                let Some(p) = p.as_ref().filter(|p| !p.headers.is_empty()) else {
                    continue;
                };
                if coverage.covered.contains(&key) {
                    continue;
                }
                let sent = Request {
                    method: call.method,
                    path: call.path.clone(),
                    headers: BTreeMap::new(),
                    port,
                };
                let found = aim(p, port, &key, |r| {
                    let mut with = sent.clone();
                    with.headers = r.headers.clone();
                    self.routed(&call.service, &with).as_deref() == Some(name.as_str())
                });
                if let Some(r) = found {
                    let mut user = base.clone();
                    user.headers.extend(r.headers);
                    if !mix.iter().any(|m| m.request == user) {
                        coverage.covered.insert(key.clone());
                        mix.push(Mix {
                            request: user,
                            note: format!("route {key}, by headers the apps pass on"),
                        });
                    }
                }
            }
        }
        mix
    }
}

/// `base` (aimed at a gateway route) with the path, method and headers of `inner` (aimed at
/// a route behind it), the path taken back through the gateway route's rewrite (App Mesh's
/// default replaces the matched prefix with `/`).
fn merge(base: &Request, inner: &Request, spec: &GatewayRouteSpec) -> Request {
    let mut r = base.clone();
    r.method = inner.method;
    r.headers.extend(inner.headers.clone());
    let (prefix, rewrite, exact) = match &spec.kind {
        GatewayRouteKind::Http(h) | GatewayRouteKind::Http2(h) => (
            h.matcher.prefix.as_deref(),
            h.rewrite.prefix.as_ref(),
            h.rewrite.path.is_some(),
        ),
        GatewayRouteKind::Grpc(_) => (None, None, false),
    };
    r.path = match (prefix, rewrite) {
        _ if exact => base.path.clone(),
        (Some(p), Some(PrefixRewrite::Value(q))) => match inner.path.strip_prefix(q.as_str()) {
            Some(rest) => format!("{p}{rest}"),
            None => base.path.clone(),
        },
        (Some(p), Some(PrefixRewrite::Default(false))) => {
            if inner.path.starts_with(p) {
                inner.path.clone()
            } else {
                base.path.clone()
            }
        }
        (Some(p), _) => format!("{}{}", p.trim_end_matches('/'), inner.path),
        (None, _) => inner.path.clone(),
    };
    r
}

/// The plainest request a service of `protocol` answers.
fn plain_any(protocol: Protocol, port: u16) -> Request {
    let grpc = protocol == Protocol::Grpc;
    Request {
        method: if grpc {
            HttpMethod::Post
        } else {
            HttpMethod::Get
        },
        path: if grpc {
            "/pkg.Service/Call".into()
        } else {
            "/".into()
        },
        headers: BTreeMap::new(),
        port,
    }
}

/// The endpoint a route's match suggests: a prefix becomes `/prefix/*`, an exact path itself,
/// a gRPC match `/service/method` (or `/service/*`); `None` for `/`, regexes and what an
/// endpoint pattern cannot spell (the catch-all answers those).
fn endpoint_of(p: &Pattern) -> Option<(String, String)> {
    let method = p.method.map_or("*", HttpMethod::as_str).to_string();
    let path = match &p.path {
        PathPattern::Prefix(prefix) => {
            let clean = prefix.trim_end_matches('/');
            if clean.is_empty() {
                return None;
            }
            format!("{clean}/*")
        }
        PathPattern::Exact(e) => e.clone(),
        PathPattern::Grpc {
            service: Some(s),
            method: m,
        } => format!("/{s}/{}", m.as_deref().unwrap_or("*")),
        _ => return None,
    };
    EndpointPath::parse(&path).ok().map(|_| (method, path))
}

/// The endpoints with those an earlier one answers entirely left out (a scenario refuses
/// them: they could never be chosen).
fn without_shadowed(endpoints: Vec<Endpoint>) -> Vec<Endpoint> {
    let mut kept: Vec<(EndpointRoute, Endpoint)> = Vec::new();
    for e in endpoints {
        let (Ok(method), Ok(path)) = (MethodMatch::parse(&e.method), EndpointPath::parse(&e.path))
        else {
            continue;
        };
        let route = EndpointRoute { method, path };
        if kept.iter().any(|(r, _)| r.shadows(&route)) {
            continue;
        }
        kept.push((route, e));
    }
    kept.into_iter().map(|(_, e)| e).collect()
}

/// Calls (node, backend) that would close a cycle, found by a depth-first walk from the
/// entry, then from every other node in name order.
fn back_edges(mesh: &Mesh, entry: &Entry) -> BTreeSet<(String, String)> {
    fn walk(
        mesh: &Mesh,
        node: &str,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cut: &mut BTreeSet<(String, String)>,
    ) {
        if done.contains(node) {
            return;
        }
        stack.push(node.to_string());
        if let Some(n) = mesh.virtual_nodes.get(node) {
            for b in &n.spec.backends {
                let service = &b.virtual_service_name.value;
                let next = nodes_of(mesh, service);
                if next.iter().any(|m| stack.contains(m)) {
                    cut.insert((node.to_string(), service.clone()));
                    continue;
                }
                for m in next {
                    walk(mesh, &m, stack, done, cut);
                }
            }
        }
        stack.pop();
        done.insert(node.to_string());
    }
    let mut cut = BTreeSet::new();
    let mut done = BTreeSet::new();
    let mut starts = match entry {
        Entry::Added { node, .. } => vec![node.clone()],
        Entry::Service(s) => nodes_of(mesh, s),
        Entry::Gateway(g) => mesh
            .gateway_routes_of(g)
            .flat_map(|r| nodes_of(mesh, &r.route.spec.kind.target().virtual_service_name.value))
            .collect(),
    };
    starts.extend(mesh.virtual_nodes.keys().cloned());
    for s in starts {
        walk(mesh, &s, &mut Vec::new(), &mut done, &mut cut);
    }
    cut
}

/// Every route with two or more weighted targets, heaviest first.
fn rollouts(mesh: &Mesh) -> Vec<RolloutStub> {
    mesh.routes
        .iter()
        .filter_map(|((router, route), res)| {
            let mut targets: Vec<(String, u32)> = res
                .route
                .spec
                .kind
                .targets()
                .iter()
                .map(|t| (t.virtual_node.value.clone(), t.weight))
                .collect();
            targets.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            targets.dedup_by(|a, b| a.0 == b.0);
            (targets.len() >= 2 && !matches!(res.route.spec.kind, RouteKind::Tcp(_))).then(|| {
                RolloutStub {
                    router: router.clone(),
                    route: route.clone(),
                    targets,
                }
            })
        })
        .collect()
}

/// The CloudFormation parameters the files declare: name, the value given, the Default.
fn parameters(
    loaded: &LoadedConfig,
    given: &BTreeMap<String, String>,
) -> Vec<(String, Option<String>, Option<String>)> {
    let mut out: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    for (_, file) in loaded.sources.iter() {
        let (docs, _) = crate::config::tree::parse_documents(file);
        for d in docs {
            let Some(params) = d.get("Parameters").and_then(|p| p.as_map()) else {
                continue;
            };
            if d.get("Resources").is_none() {
                continue;
            }
            for (k, decl) in params {
                let default = decl
                    .get("Default")
                    .and_then(|v| v.scalar_text())
                    .map(str::to_string);
                out.insert(k.name.clone(), (given.get(&k.name).cloned(), default));
            }
        }
    }
    out.into_iter().map(|(k, (g, d))| (k, g, d)).collect()
}
