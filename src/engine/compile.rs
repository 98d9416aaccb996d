//! The engine for one mesh: virtual services resolved to route tables, gateways compiled.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::balancer::BalancerConfig;
use super::defaults::EnvoyDefaults;
use super::endpoints::Endpoints;
use super::gateway::{CompiledGatewayRoute, GatewayDecision, GatewayTable};
use super::listener::NodeListener;
use super::matchers::normalize_path;
use super::request::RequestHead;
use super::retry::RetryRules;
use super::routing::{CompiledRoute, RouteExplanation, RouteTable};
use super::time::SimTime;
use crate::config::model::{Mesh, PortMapping, Protocol, Provider};

/// How a virtual service's traffic is routed.
#[derive(Clone, Debug)]
enum ServiceRoute {
    /// Through a virtual router.
    Router(String),
    /// Straight to a virtual node: App Mesh generates one route for it, with the default
    /// retry policy and timeouts (no user policy is possible).
    Node(Box<CompiledRoute>),
    /// No provider: every request fails.
    Unprovided,
}

/// A router's listeners and routes.
#[derive(Clone, Debug)]
struct Router {
    listeners: Vec<PortMapping>,
    table: RouteTable,
}

/// Why no route was found. Envoy answers 404 with response flag `NR`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoRoute {
    /// The virtual service is not in the mesh (with DROP_ALL egress, Envoy has no listener).
    #[error("virtual service `{0}` is not in the mesh")]
    UnknownService(String),
    /// The virtual service has no provider.
    #[error("virtual service `{0}` has no provider")]
    NoProvider(String),
    /// The router has no listener on the port the client called.
    #[error("virtual router `{router}` has no listener on port {port}")]
    NoListener {
        /// Router.
        router: String,
        /// Port called.
        port: u16,
    },
    /// No route of the router matches.
    #[error("no route of virtual router `{0}` matches")]
    NoMatch(String),
    /// The virtual gateway is unknown, or none of its routes match.
    #[error("no gateway route of `{0}` matches")]
    NoGatewayMatch(String),
}

impl NoRoute {
    /// The status the client sees.
    pub fn status(&self) -> u16 {
        404
    }
}

/// A routing decision: which route of which router.
#[derive(Clone, Copy, Debug)]
pub struct Routed<'e> {
    /// The router, or `None` for a virtual-node provider.
    pub router: Option<&'e str>,
    /// The route.
    pub route: &'e CompiledRoute,
}

/// The compiled mesh. Cheap to query; updated in place by rollouts.
///
/// Deciding one request of the Ordering app's UI to the Order service:
///
/// ```
/// use meshsim::config::{LoadOptions, load_paths};
/// use meshsim::engine::exchange::{Exchange, Next};
/// use meshsim::engine::retry::{AttemptOutcome, RetryRules};
/// use meshsim::engine::{Engine, RequestHead, SimTime, seed};
///
/// let loaded = load_paths(&["scenarios/ordering/mesh.cfn.yaml"], &LoadOptions::default());
/// assert!(loaded.is_valid());
/// let engine = Engine::new(&loaded.meshes["ordering"]);
///
/// // Which route, and which version of Order?
/// let req = RequestHead::get("order.ordering.local", 8080, "/orders/42");
/// let routed = engine.route("order.ordering.local", &req)?;
/// assert_eq!(routed.route.name, "order");
/// let mut rng = seed::stream(42, "ui-v1/outbound/order");
/// let target = routed.route.choose_target(&mut rng);
/// assert!(target.virtual_node == "order-v1" || target.virtual_node == "order-v2");
///
/// // The first attempt fails with a 503: the route's policy (server-error) retries it.
/// let rules = RetryRules::resolve(routed.route.retry_policy.as_ref());
/// let mut exchange = Exchange::new(SimTime::ZERO, rules, routed.route.per_request_timeout);
/// let plan = exchange.start_attempt(SimTime::ZERO).expect("before the deadline");
/// assert_eq!(plan.deadline, Some(SimTime::from_millis(500))); // perRetryTimeout
/// match exchange.on_outcome(SimTime::from_millis(20), AttemptOutcome::status(503), &mut rng) {
///     Next::Retry { number, .. } => assert_eq!(number, 2),
///     Next::Finish(f) => panic!("expected a retry, got {f:?}"),
/// }
///
/// // A canary header picks the header route, and the explanation says why.
/// let canary = req.clone().with_header("x-canary", "true");
/// assert_eq!(engine.route("order.ordering.local", &canary)?.route.name, "order-canary-header");
/// let why = engine.explain("order.ordering.local", &req)?;
/// assert_eq!(why.skipped[0].0, "order-canary-header");
/// # Ok::<(), meshsim::engine::NoRoute>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Engine {
    nodes: BTreeMap<String, Vec<NodeListener>>,
    services: BTreeMap<String, ServiceRoute>,
    routers: BTreeMap<String, Router>,
    gateways: BTreeMap<String, GatewayTable>,
    defaults: EnvoyDefaults,
}

impl Engine {
    /// Compiles a validated mesh with App Mesh's defaults.
    pub fn new(mesh: &Mesh) -> Engine {
        Engine::with_defaults(mesh, EnvoyDefaults::AppMesh)
    }

    /// Compiles a validated mesh whose Envoys run with `defaults` (Envoy's own, for an
    /// account that had a mesh before 2020-07-29).
    pub fn with_defaults(mesh: &Mesh, defaults: EnvoyDefaults) -> Engine {
        let mut routers = BTreeMap::new();
        for (name, r) in &mesh.virtual_routers {
            let routes = mesh.routes_of(name).map(CompiledRoute::compile).collect();
            routers.insert(
                name.clone(),
                Router {
                    listeners: r.spec.listeners.clone(),
                    table: RouteTable::new(routes),
                },
            );
        }
        let mut services = BTreeMap::new();
        for (name, vs) in &mesh.virtual_services {
            let route = match &vs.spec.provider {
                Some(Provider::VirtualRouter(r)) => ServiceRoute::Router(r.value.clone()),
                Some(Provider::VirtualNode(n)) => {
                    let protocol = mesh
                        .virtual_nodes
                        .get(&n.value)
                        .and_then(|node| node.spec.listeners.first())
                        .map_or(Protocol::Http, |l| l.port_mapping.protocol);
                    ServiceRoute::Node(Box::new(CompiledRoute::direct(&n.value, protocol)))
                }
                None => ServiceRoute::Unprovided,
            };
            services.insert(name.clone(), route);
        }
        let mut gateways = BTreeMap::new();
        for name in mesh.virtual_gateways.keys() {
            let routes = mesh
                .gateway_routes_of(name)
                .map(CompiledGatewayRoute::compile)
                .collect();
            gateways.insert(name.clone(), GatewayTable::new(routes));
        }
        let nodes = mesh
            .virtual_nodes
            .iter()
            .map(|(name, n)| {
                (
                    name.clone(),
                    n.spec
                        .listeners
                        .iter()
                        .map(|l| NodeListener::compile(l, defaults))
                        .collect(),
                )
            })
            .collect();
        Engine {
            nodes,
            services,
            routers,
            gateways,
            defaults,
        }
    }

    /// The defaults the mesh's Envoys run with.
    pub fn defaults(&self) -> EnvoyDefaults {
        self.defaults
    }

    /// The retry rules Envoy applies on `route`: its `retryPolicy`, or the mesh's default
    /// (App Mesh's hidden policy, or none under Envoy's own defaults).
    pub fn retry_rules(&self, route: &CompiledRoute) -> RetryRules {
        self.defaults.retry_rules(route.retry_policy.as_ref())
    }

    /// Routes a request a client sends to `service`. The path is matched normalised (App
    /// Mesh turns on Envoy's `normalize_path` and `merge_slashes`).
    pub fn route(&self, service: &str, req: &RequestHead) -> Result<Routed<'_>, NoRoute> {
        if let Cow::Owned(path) = normalize_path(&req.path) {
            let normal = RequestHead {
                path,
                ..req.clone()
            };
            return self.route_normalised(service, &normal);
        }
        self.route_normalised(service, req)
    }

    fn route_normalised(&self, service: &str, req: &RequestHead) -> Result<Routed<'_>, NoRoute> {
        match self.services.get(service) {
            None => Err(NoRoute::UnknownService(service.to_string())),
            Some(ServiceRoute::Unprovided) => Err(NoRoute::NoProvider(service.to_string())),
            Some(ServiceRoute::Node(route)) => Ok(Routed {
                router: None,
                route,
            }),
            Some(ServiceRoute::Router(name)) => {
                let router = self
                    .routers
                    .get(name)
                    .ok_or_else(|| NoRoute::NoMatch(name.clone()))?;
                if !router.listeners.iter().any(|l| l.port == req.port) {
                    return Err(NoRoute::NoListener {
                        router: name.clone(),
                        port: req.port,
                    });
                }
                let i = router
                    .table
                    .select(req)
                    .ok_or_else(|| NoRoute::NoMatch(name.clone()))?;
                Ok(Routed {
                    router: Some(name),
                    route: &router.table.routes()[i],
                })
            }
        }
    }

    /// Why [`Engine::route`] decides what it decides, route by route (on the path normalised
    /// as `route` normalises it, so the two agree).
    pub fn explain(&self, service: &str, req: &RequestHead) -> Result<RouteExplanation, NoRoute> {
        if let Cow::Owned(path) = normalize_path(&req.path) {
            let normal = RequestHead {
                path,
                ..req.clone()
            };
            // Once: the normalised path may normalise again (`/.css` stays `/.css`).
            return self.explain_normalised(service, &normal);
        }
        self.explain_normalised(service, req)
    }

    fn explain_normalised(
        &self,
        service: &str,
        req: &RequestHead,
    ) -> Result<RouteExplanation, NoRoute> {
        match self.services.get(service) {
            Some(ServiceRoute::Router(name)) => self
                .routers
                .get(name)
                .map(|r| r.table.explain(req))
                .ok_or_else(|| NoRoute::NoMatch(name.clone())),
            Some(ServiceRoute::Node(route)) => Ok(RouteExplanation {
                skipped: Vec::new(),
                matched: Some(route.name.clone()),
            }),
            Some(ServiceRoute::Unprovided) => Err(NoRoute::NoProvider(service.to_string())),
            None => Err(NoRoute::UnknownService(service.to_string())),
        }
    }

    /// Routes a request arriving at a virtual gateway. Paths are normalised first (App Mesh
    /// turns on Envoy's `normalize_path` and `merge_slashes`).
    pub fn gateway_route(
        &self,
        gateway: &str,
        req: &RequestHead,
    ) -> Result<GatewayDecision, NoRoute> {
        let table = self
            .gateways
            .get(gateway)
            .ok_or_else(|| NoRoute::NoGatewayMatch(gateway.to_string()))?;
        let mut normal = req.clone();
        normal.path = normalize_path(&req.path).into_owned();
        table
            .route(&normal)
            .ok_or_else(|| NoRoute::NoGatewayMatch(gateway.to_string()))
    }

    /// A virtual node's listener: the one on `port`, or its only listener when `port` is
    /// `None` (a weighted target without `port`).
    pub fn listener(&self, node: &str, port: Option<u16>) -> Option<&NodeListener> {
        let listeners = self.nodes.get(node)?;
        match port {
            Some(p) => listeners.iter().find(|l| l.port == p),
            None if listeners.len() == 1 => listeners.first(),
            None => None,
        }
    }

    /// The endpoint state a client keeps for one target listener (load balancing, outlier
    /// detection, active health checks), configured from that listener.
    pub fn endpoints_for(
        &self,
        node: &str,
        port: Option<u16>,
        lb: BalancerConfig,
        host_count: usize,
        now: SimTime,
        rng: &mut impl rand::Rng,
    ) -> Option<Endpoints> {
        let l = self.listener(node, port)?;
        Some(Endpoints::new(
            lb,
            l.outlier_detection.as_ref(),
            l.health_check.as_ref(),
            host_count,
            now,
            rng,
        ))
    }

    /// The route table of a router (for explanations and tests).
    pub fn route_table(&self, router: &str) -> Option<&RouteTable> {
        self.routers.get(router).map(|r| &r.table)
    }
}
