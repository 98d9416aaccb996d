//! The mesh under test: the engine the sidecars run, plus what the request generator needs to
//! know about each virtual service (its routes as patterns, its ports).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::CheckError;
use super::pattern::Pattern;
use super::strategy::{self, Draft, ServiceShape};
use crate::config::model::{Mesh, Provider};
use crate::engine::matchers::normalize_path;
use crate::engine::retry::RetryRules;
use crate::engine::routing::{RouteExplanation, Target};
use crate::engine::{Engine, NoRoute, RequestHead};

/// One virtual service as the generator sees it.
#[derive(Clone, Debug)]
pub(crate) struct ServiceInfo {
    /// The router providing it, if any.
    pub router: Option<String>,
    /// Route names and patterns in the engine's evaluation order (TCP routes left out).
    pub routes: Vec<(String, Pattern)>,
    pub shape: ServiceShape,
}

/// A mesh compiled for checking: the engine and, per virtual service, the routes to aim at.
#[derive(Clone, Debug)]
pub struct MeshUnderTest {
    mesh: Mesh,
    engine: Engine,
    services: BTreeMap<String, ServiceInfo>,
}

/// What the engine decides for one request, in the terms policies are written in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// The route that matched (`None`: Envoy's 404 `NR`).
    pub route: Option<String>,
    /// The router, when the service has one.
    pub router: Option<String>,
    /// Why no route, when none.
    pub no_route: Option<NoRoute>,
    /// The matched route's weighted targets (weight 0 included: it is never chosen).
    pub targets: Vec<Target>,
    /// Attempts the route allows one request (1 + maxRetries, App Mesh's hidden default of 2
    /// retries where the route has no policy); 0 when unrouted.
    pub attempts: u32,
    /// 404 when no route matched; `None` when routed (the app decides the status then).
    pub status: Option<u16>,
}

impl Evaluation {
    /// Whether `node` can receive the request (a target with weight > 0).
    pub fn can_reach(&self, node: &str) -> bool {
        self.targets
            .iter()
            .any(|t| t.weight > 0 && t.virtual_node == node)
    }

    /// The virtual nodes the request can reach.
    pub fn reachable_nodes(&self) -> impl Iterator<Item = &str> {
        self.targets
            .iter()
            .filter(|t| t.weight > 0)
            .map(|t| t.virtual_node.as_str())
    }

    /// `node`'s share of this request, in percent of the route's total weight.
    pub fn share_percent(&self, node: &str) -> f64 {
        let total: u32 = self.targets.iter().map(|t| t.weight).sum();
        if total == 0 {
            return 0.0;
        }
        let mine: u32 = self
            .targets
            .iter()
            .filter(|t| t.virtual_node == node)
            .map(|t| t.weight)
            .sum();
        f64::from(mine) * 100.0 / f64::from(total)
    }
}

impl MeshUnderTest {
    /// Compiles a validated mesh.
    pub fn new(mesh: &Mesh) -> MeshUnderTest {
        let engine = Engine::new(mesh);
        let mut services = BTreeMap::new();
        for (name, vs) in &mesh.virtual_services {
            let info = match &vs.spec.provider {
                Some(Provider::VirtualRouter(r)) => {
                    let ports: Vec<u16> = mesh
                        .virtual_routers
                        .get(&r.value)
                        .map(|vr| vr.spec.listeners.iter().map(|l| l.port).collect())
                        .unwrap_or_default();
                    let routes = engine
                        .route_table(&r.value)
                        .map(|t| {
                            t.routes()
                                .iter()
                                .filter_map(|cr| {
                                    let res =
                                        mesh.routes.get(&(r.value.clone(), cr.name.clone()))?;
                                    Some((
                                        cr.name.clone(),
                                        Pattern::of_route(&res.route.spec.kind)?,
                                    ))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    ServiceInfo {
                        router: Some(r.value.clone()),
                        routes,
                        shape: ServiceShape {
                            ports: non_empty(ports),
                        },
                    }
                }
                Some(Provider::VirtualNode(n)) => {
                    let ports = mesh
                        .virtual_nodes
                        .get(&n.value)
                        .map(|vn| {
                            vn.spec
                                .listeners
                                .iter()
                                .map(|l| l.port_mapping.port)
                                .collect()
                        })
                        .unwrap_or_default();
                    ServiceInfo {
                        router: None,
                        routes: Vec::new(),
                        shape: ServiceShape {
                            ports: non_empty(ports),
                        },
                    }
                }
                None => ServiceInfo {
                    router: None,
                    routes: Vec::new(),
                    shape: ServiceShape { ports: vec![80] },
                },
            };
            services.insert(name.clone(), info);
        }
        MeshUnderTest {
            mesh: mesh.clone(),
            engine,
            services,
        }
    }

    /// The mesh.
    pub fn mesh(&self) -> &Mesh {
        &self.mesh
    }

    /// The engine (the sidecars' routing code).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The virtual services, by name.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }

    pub(crate) fn info(&self, service: &str) -> Result<&ServiceInfo, CheckError> {
        self.services
            .get(service)
            .ok_or_else(|| CheckError::UnknownService(service.to_string()))
    }

    /// Drafts for `service` (see [`super::strategy`]).
    pub(crate) fn drafts(&self, service: &str) -> Result<BoxedStrategy<Draft>, CheckError> {
        let info = self.info(service)?;
        let patterns: Vec<Pattern> = info.routes.iter().map(|(_, p)| p.clone()).collect();
        Ok(strategy::service_drafts(&patterns, &info.shape))
    }

    /// Requests to `service` derived from its route table: aimed at each route, just past
    /// each of its conditions, and some noise. Shrinks towards `GET /` with no headers.
    pub fn requests(&self, service: &str) -> Result<BoxedStrategy<RequestHead>, CheckError> {
        let authority = service.to_string();
        Ok(self
            .drafts(service)?
            .prop_map(move |d| d.head(&authority))
            .boxed())
    }

    /// Requests to `service` that meet `condition` (where the generator can meet it: a
    /// condition no request can meet yields requests that do not).
    pub fn requests_where(
        &self,
        service: &str,
        condition: &super::Condition,
    ) -> Result<BoxedStrategy<RequestHead>, CheckError> {
        let info = self.info(service)?;
        let authority = service.to_string();
        Ok(
            strategy::conformed(self.drafts(service)?, condition.pattern(), &info.shape)
                .prop_map(move |d| d.head(&authority))
                .boxed(),
        )
    }

    /// What the engine decides for `req` sent to `service`.
    pub fn evaluate(&self, service: &str, req: &RequestHead) -> Evaluation {
        match self.engine.route(service, req) {
            Ok(routed) => Evaluation {
                route: Some(routed.route.name.clone()),
                router: routed.router.map(str::to_string),
                no_route: None,
                targets: routed.route.targets().to_vec(),
                attempts: RetryRules::resolve(routed.route.retry_policy.as_ref())
                    .max_retries
                    .saturating_add(1),
                status: None,
            },
            Err(e) => Evaluation {
                route: None,
                router: self.services.get(service).and_then(|s| s.router.clone()),
                status: Some(e.status()),
                no_route: Some(e),
                targets: Vec::new(),
                attempts: 0,
            },
        }
    }

    /// The engine's explanation, on the path as the engine matches it (normalised).
    pub fn explain(&self, service: &str, req: &RequestHead) -> Result<RouteExplanation, NoRoute> {
        let mut normal = req.clone();
        normal.path = normalize_path(&req.path).into_owned();
        self.engine.explain(service, &normal)
    }
}

fn non_empty(mut ports: Vec<u16>) -> Vec<u16> {
    if ports.is_empty() {
        ports.push(80);
    }
    ports
}
