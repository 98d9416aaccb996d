//! The sidecar's outbound side: a request the local app sends to a virtual service, taken
//! through the engine (route, weighted target, host pick, attempts, per-try and route
//! timeouts, retries, outlier detection) and over the wire to the chosen task.
//!
//! The app hands the request over in-process (see [`super`] for why), so the only network
//! hops are between tasks, as in a pod.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use http::{HeaderValue, Request, Response, StatusCode};
use tokio::sync::oneshot;

use super::attempts::{Authority, EnvoyFields};
use super::body::Payload;
use super::cluster::{Cluster, ClusterKey};
use super::head;
use super::mesh::MeshView;
use super::notes::{GatewayRouted, envoy_fields};
use super::pool::{SendError, UpstreamPool};
use super::telemetry::{
    AccessLogEntry, Counter, Direction, FLAGS_HEADER, ResponseFlag, ResponseFlags, TRACE_HEADER,
    Telemetry, TraceContext,
};
use super::wire;
use crate::config::model::{HttpMethod, Protocol};
use crate::engine::discovery::Registry;
use crate::engine::listener::{IdleExpiry, IdleTimer};
use crate::engine::retry::ResetReason;
use crate::engine::{RequestHead, SimTime, seed};
pub use crate::sidecar::notes::idle_timeout_text;
use crate::sidecar::outbound::{Action, Env, Hop, Plan, Reply};
pub use crate::sidecar::{grpc_to_http, http_to_grpc};

/// The flags an outbound exchange set on its own line, carried in-process on the response it
/// returns, so that a virtual gateway's downstream line (one Envoy, logged here as an
/// inbound and an outbound line) shows its router's flags and not an upstream's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouterFlags(pub ResponseFlags);

/// Who a proxy is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Virtual node (or virtual gateway, or `loadgen`).
    pub node: String,
    /// Task (turmoil host).
    pub task: String,
    /// Version label.
    pub version: String,
}

/// What the world gives every proxy.
#[derive(Clone, Debug)]
pub struct Shared {
    /// The mesh.
    pub mesh: Rc<MeshView>,
    /// Service discovery.
    pub registry: Rc<RefCell<Registry>>,
    /// Where access logs and counters go.
    pub telemetry: Rc<RefCell<Telemetry>>,
    /// Faults in force at each task (gray failures, HTTP faults), set by the world.
    pub effects: Rc<RefCell<crate::model::fault::Effects>>,
    /// Route changes the control plane has sent each proxy (rollouts), set by the world.
    pub control: Rc<RefCell<super::control::RouteOverrides>>,
}

/// One Envoy-like proxy's outbound state.
#[derive(Debug)]
pub struct Sidecar {
    /// Who it is.
    pub identity: Identity,
    pub(super) shared: Shared,
    pub(super) clusters: RefCell<BTreeMap<ClusterKey, Cluster>>,
    /// Hops waiting in a cluster's pending queue (Envoy's defaults), by cluster and ticket:
    /// the core names the one to wake when a connection frees.
    waiters: RefCell<BTreeMap<(ClusterKey, u64), oneshot::Sender<()>>>,
    pool: UpstreamPool,
    rng: RefCell<seed::Rng>,
    span_prefix: u32,
    spans: Cell<u64>,
    /// Seeds the draws of each connection the inbound listener accepts (toxics), apart
    /// from `rng` so that accepting a connection never shifts the routing draws.
    connection_seed: u64,
    connections: Cell<u64>,
}

impl Sidecar {
    /// A sidecar; `seed` feeds its own RNG stream (weighted picks, host picks, back-off),
    /// `index` makes its span ids unique in the world.
    pub fn new(identity: Identity, shared: Shared, seed: u64, index: u32) -> Sidecar {
        let rng = seed::stream(seed, &format!("sidecar/{}", identity.task));
        let connection_seed = seed::derive(seed, &format!("connections/{}", identity.task));
        Sidecar {
            identity,
            shared,
            clusters: RefCell::new(BTreeMap::new()),
            waiters: RefCell::new(BTreeMap::new()),
            pool: UpstreamPool::new(),
            rng: RefCell::new(rng),
            span_prefix: index,
            spans: Cell::new(0),
            connection_seed,
            connections: Cell::new(0),
        }
    }

    /// The protocol of the listener behind virtual service `service`, which decides how an
    /// app frames its calls (a gRPC client POSTs `application/grpc`).
    pub fn service_protocol(&self, service: &str) -> Protocol {
        self.shared.mesh.service_port(service).1
    }

    /// A seed for the next connection accepted at this task.
    pub(super) fn next_connection_seed(&self) -> u64 {
        let n = self.connections.get();
        self.connections.set(n + 1);
        self.connection_seed.wrapping_add(n)
    }

    /// The board of faults in force, for a connection to consult as it goes.
    pub(super) fn effects_board(&self) -> Rc<RefCell<crate::model::fault::Effects>> {
        Rc::clone(&self.shared.effects)
    }

    /// The faults in force at this task now (none for a task no fault touches).
    pub fn fault_effects(&self) -> Option<crate::model::fault::HostEffects> {
        self.shared
            .effects
            .borrow()
            .at(&self.identity.task)
            .cloned()
    }

    /// The decision of a listener's fault filter for a request arriving at this task, when
    /// HTTP faults are in force (Envoy's fault filter, before the router); `None` when none
    /// are. The rolls draw from the sidecar's stream.
    pub(super) fn http_fault(
        &self,
        filter: &RefCell<super::faults::ListenerFaults>,
        head: &RequestHead,
        now: SimTime,
    ) -> Option<crate::engine::fault::FaultDecision> {
        let effects = self.fault_effects()?;
        filter
            .borrow_mut()
            .decide(&effects.http, now, head, &mut *self.rng.borrow_mut())
    }

    /// This task served a request; under a leak fault, counts it toward the crash.
    pub fn served_request(&self) {
        self.shared
            .effects
            .borrow_mut()
            .on_request_served(&self.identity.task);
    }

    /// An access-log line of this proxy, begun at `start`: who, which side, the span, and the
    /// trace it belongs to; the rest is filled in as the request goes.
    pub(super) fn log_entry(
        &self,
        direction: Direction,
        start: SimTime,
        span: String,
        trace: Option<&TraceContext>,
    ) -> AccessLogEntry {
        AccessLogEntry {
            start,
            duration: std::time::Duration::ZERO,
            node: self.identity.node.clone(),
            task: self.identity.task.clone(),
            version: self.identity.version.clone(),
            direction,
            service: None,
            route: None,
            upstream_node: None,
            path: String::new(),
            status: 0,
            flags: ResponseFlags::NONE,
            attempts: 0,
            trace_root: trace.map(|t| t.root.clone()),
            span,
            parent_span: trace.and_then(|t| t.parent.clone()),
            health_check: false,
            shadow: false,
            tcp: None,
            envoy: None,
            detail: trace.filter(|t| t.sampled).map(|_| Box::default()),
        }
    }

    /// Whether a line should carry Envoy's format fields: sampled requests always (their
    /// trace shows them), every line when full access logs are on.
    pub(super) fn wants_envoy_fields(&self, sampled: bool) -> bool {
        sampled || self.shared.telemetry.borrow().tracing.envoy_fields
    }

    /// A fresh span id (16 hex digits, unique in the world, deterministic).
    pub fn next_span(&self) -> String {
        let n = self.spans.get() + 1;
        self.spans.set(n);
        format!("{:06x}{:010x}", self.span_prefix, n)
    }

    /// Sends `req` to virtual service `service` through the mesh and returns the answer.
    ///
    /// The exchange runs as its own task: a caller that stops waiting (its own timeout) does
    /// not cut it short, so every exchange ends exactly once and is logged. Envoy would reset
    /// the upstream stream instead; the upstream app keeps working either way, as real apps
    /// do until they write their response.
    pub async fn call(self: &Rc<Self>, service: &str, req: Request<Payload>) -> Response<Payload> {
        let this = Rc::clone(self);
        let service = service.to_string();
        let (port, protocol) = self.shared.mesh.service_port(&service);
        let task = tokio::task::spawn_local(async move {
            if protocol == Protocol::Tcp {
                this.call_over_tcp(&service, port, req).await
            } else {
                this.exchange(&service, req).await
            }
        });
        match task.await {
            Ok(resp) => resp,
            Err(_) => local_reply(503, ResponseFlag::UpstreamReset, false),
        }
    }

    async fn exchange(self: Rc<Self>, service: &str, req: Request<Payload>) -> Response<Payload> {
        let (port, _) = self.shared.mesh.service_port(service);
        let sampled = req
            .headers()
            .get(TRACE_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(TraceContext::is_sampled);
        let plan = self.plan(service, &request_head(service, port, &req), sampled);
        self.send_planned(service, req, plan, false).await
    }

    /// Lends the core this proxy's clusters, RNG stream, discovery and mesh for one call.
    pub(super) fn core<R>(&self, f: impl FnOnce(&mut Env<'_>) -> R) -> R {
        let mut clusters = self.clusters.borrow_mut();
        let mut rng = self.rng.borrow_mut();
        let mut env = Env {
            mesh: &self.shared.mesh,
            registry: &self.shared.registry,
            clusters: &mut clusters,
            rng: &mut rng,
        };
        f(&mut env)
    }

    /// One exchange on a planned route (`None`: no route matched), driven by the core's
    /// [`Hop`]: this loop only carries its actions out on the wire and tells it what
    /// happened. A `shadow` is a mirrored copy.
    async fn send_planned(
        self: Rc<Self>,
        service: &str,
        req: Request<Payload>,
        plan: Option<Plan>,
        shadow: bool,
    ) -> Response<Payload> {
        let start = wire::now();
        let span = self.next_span();
        let trace = req
            .headers()
            .get(TRACE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(TraceContext::parse);
        let (port, protocol) = self.shared.mesh.service_port(service);
        let grpc = protocol == Protocol::Grpc;
        let mut log = AccessLogEntry {
            service: Some(service.to_string()),
            path: req.uri().path().to_string(),
            shadow,
            ..self.log_entry(Direction::Outbound, start, span.clone(), trace.as_ref())
        };
        if self.wants_envoy_fields(log.detail.is_some()) {
            log.envoy = Some(Box::new(EnvoyFields {
                authority: Authority::Service(port),
                ..envoy_fields(&req)
            }));
        }
        // The request as the engine reads it, only to explain a sampled request's NR.
        let head =
            (plan.is_none() && log.detail.is_some()).then(|| request_head(service, port, &req));
        let gateway = req.extensions().get::<GatewayRouted>().map(|g| g.0.clone());
        let mut hop = Hop::new(service, port, shadow, start, log.detail.take());
        self.core(|env| hop.start(start, env, plan, head.as_ref(), gateway.as_deref()));
        let (parts, body) = req.into_parts();
        let mut last: Option<Response<Payload>> = None;
        loop {
            let Some(action) = hop.poll() else {
                // Not reached: a hop ends with `Finish`. Never leave the caller hanging.
                return self.finish(log, local_reply(503, ResponseFlag::UpstreamReset, grpc));
            };
            match action {
                Action::Count(stat) => self.count(stat, 1),
                Action::Mirror(shadow) => {
                    let copy = Request::from_parts(parts.clone(), body.clone());
                    let this = Rc::clone(&self);
                    let name = service.to_string();
                    tokio::task::spawn_local(async move {
                        this.send_planned(&name, copy, Some(*shadow), true).await;
                    });
                }
                Action::StartHealthChecks(key) => {
                    tokio::task::spawn_local(Rc::clone(&self).health_checks(key));
                }
                Action::Wake { cluster, ticket } => {
                    if let Some(tx) = self.waiters.borrow_mut().remove(&(cluster, ticket)) {
                        let _ = tx.send(());
                    }
                }
                Action::Queue { ticket, until } => {
                    let (tx, rx) = oneshot::channel();
                    let key = hop_key(&hop, ticket);
                    if let Some(k) = &key {
                        self.waiters.borrow_mut().insert(k.clone(), tx);
                    }
                    let woken = wire::until(until, rx).await;
                    let now = wire::now();
                    if let Some(k) = &key {
                        self.waiters.borrow_mut().remove(k);
                    }
                    match woken {
                        Some(Ok(())) => self.core(|env| hop.on_admitted(now, env)),
                        _ => self.core(|env| hop.handle_timeout(now, env)),
                    }
                }
                Action::Send(attempt) => {
                    let mut upstream = Request::from_parts(parts.clone(), body.clone());
                    set_upstream_headers(
                        &mut upstream,
                        service,
                        port,
                        &attempt.authority,
                        trace.as_ref(),
                        &span,
                    );
                    let host = &attempt.host;
                    let sent = wire::until(
                        attempt.deadline,
                        self.pool.send_to(
                            host.pool_key(),
                            &host.address,
                            host.port,
                            attempt.version,
                            upstream,
                        ),
                    )
                    .await;
                    let now = wire::now();
                    match sent {
                        None => self.core(|env| hop.handle_timeout(now, env)),
                        Some(Err(SendError::Connect)) => self.core(|env| {
                            hop.on_reset(now, ResetReason::ConnectFailure, env);
                        }),
                        Some(Err(SendError::Reset)) => {
                            self.core(|env| hop.on_reset(now, ResetReason::Disconnect, env));
                        }
                        Some(Ok(resp)) => {
                            let answer = head::read(&resp);
                            last = Some(resp);
                            self.core(|env| hop.on_response(now, answer, env));
                        }
                    }
                }
                Action::Wait { until } => {
                    wire::sleep_until(until).await;
                    let now = wire::now();
                    self.core(|env| hop.handle_timeout(now, env));
                }
                Action::Finish(f) => {
                    log.route = f.route;
                    log.upstream_node = f.upstream_node;
                    log.attempts = f.attempts;
                    log.flags = f.flags;
                    log.detail = f.detail;
                    if let Some(e) = log.envoy.as_deref_mut() {
                        e.upstream_host = f.upstream_host;
                        e.upstream_service_time = f.upstream_service_time;
                    }
                    let response = match (f.reply, last.take()) {
                        (Reply::Upstream, Some(resp)) => resp,
                        (Reply::Local { status, flag }, _) => local_reply(status, flag, grpc),
                        (Reply::IdleTimeout, _) => idle_timeout_reply(grpc),
                        // Not reached: `Upstream` follows a response.
                        (Reply::Upstream, None) => {
                            local_reply(503, ResponseFlag::UpstreamReset, grpc)
                        }
                    };
                    return self.finish(log, response);
                }
            }
        }
    }

    /// The route for `head` and a weighted target drawn from it ([`crate::sidecar::outbound::plan`]);
    /// `None` when no route matches.
    pub(super) fn plan(&self, service: &str, head: &RequestHead, sampled: bool) -> Option<Plan> {
        let engine = self.shared.mesh.engine.borrow();
        crate::sidecar::outbound::plan(
            &engine,
            &self.shared.control.borrow(),
            &self.identity.task,
            service,
            head,
            sampled,
            wire::now(),
            &mut self.rng.borrow_mut(),
        )
    }

    /// Adds one to one of this proxy's counters.
    pub fn count_stat(&self, stat: Counter) {
        self.count(stat, 1);
    }

    pub(super) fn count(&self, stat: Counter, n: u64) {
        self.shared
            .telemetry
            .borrow_mut()
            .count(&self.identity.node, stat, n);
    }

    /// Writes the exchange's line. Its flags are this proxy's own, set as the exchange went
    /// (a flag an upstream put on its reply stays on the upstream's line); they ride on the
    /// response as [`RouterFlags`] for a gateway's downstream line.
    fn finish(
        &self,
        mut log: AccessLogEntry,
        mut response: Response<Payload>,
    ) -> Response<Payload> {
        log.duration = wire::now().saturating_since(log.start);
        log.status = response.status().as_u16();
        if let Some(e) = log.envoy.as_deref_mut() {
            e.bytes_sent = response.body().data().len() as u64;
        }
        response.extensions_mut().insert(RouterFlags(log.flags));
        self.log_line(log);
        response
    }

    /// Writes one access-log line.
    pub(super) fn log_line(&self, log: AccessLogEntry) {
        self.shared.telemetry.borrow_mut().access_log.push(log);
    }
}

/// The engine's view of an HTTP request sent to `service:port`.
pub fn request_head<B>(service: &str, port: u16, req: &Request<B>) -> RequestHead {
    let method = HttpMethod::parse(req.method().as_str()).unwrap_or(HttpMethod::Get);
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let mut head = RequestHead::new(method, service, port, &path);
    for (name, value) in req.headers() {
        if let Ok(v) = value.to_str() {
            head.headers
                .push((name.as_str().to_string(), v.to_string()));
        }
    }
    head
}

/// The request as it goes upstream: the virtual service's URI, the core's `host`
/// (`authority`), and the trace header naming this hop's span as the parent.
fn set_upstream_headers(
    req: &mut Request<Payload>,
    service: &str,
    port: u16,
    authority: &str,
    trace: Option<&TraceContext>,
    span: &str,
) {
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    if let Ok(uri) = format!("http://{service}:{port}{path}").parse() {
        *req.uri_mut() = uri;
    }
    let headers = req.headers_mut();
    if let Ok(v) = HeaderValue::from_str(authority) {
        headers.insert(http::header::HOST, v);
    }
    if let Some(t) = trace
        && let Ok(v) = HeaderValue::from_str(&t.header_from(span))
    {
        headers.insert(TRACE_HEADER, v);
    }
}

/// The HTTP status a response stands for to the app that called (the core's
/// [`ResponseHead::app_status`](crate::sidecar::ResponseHead::app_status): for gRPC, its
/// `grpc-status` in the headers or the trailers, mapped). Apps, health checks and the load
/// generator judge responses by it; the proxies' routers do not.
pub fn effective_status(resp: &Response<Payload>) -> u16 {
    head::read(resp).app_status()
}

/// The answer to a stream whose idle timer fired, by the engine's rule
/// ([`IdleTimer::expiry`]): the proxies hand requests over whole and forward answers whole, so
/// the request is always complete and no response has started: 504 `SI`.
pub(super) fn idle_timeout_reply(grpc: bool) -> Response<Payload> {
    match IdleTimer::expiry(true, false) {
        IdleExpiry::Reply(status) => local_reply(status, ResponseFlag::StreamIdleTimeout, grpc),
        // Not reachable here (no response has started); a reset reads as Envoy's `UC`.
        IdleExpiry::Reset => local_reply(503, ResponseFlag::UpstreamReset, grpc),
    }
}

/// A reply the proxy makes itself, carrying its response flag.
pub fn local_reply(status: u16, flag: ResponseFlag, grpc: bool) -> Response<Payload> {
    let mut resp = Response::new(Payload::empty());
    let headers = resp.headers_mut();
    headers.insert("server", HeaderValue::from_static("envoy"));
    headers.insert(FLAGS_HEADER, HeaderValue::from_static(flag.code()));
    if flag == ResponseFlag::Overflow {
        headers.insert("x-envoy-overloaded", HeaderValue::from_static("true"));
    }
    if flag == ResponseFlag::RateLimited {
        // Envoy's local rate limit filter sets it on its 429s (the header the router's
        // `envoy-ratelimited` retry condition reads).
        headers.insert("x-envoy-ratelimited", HeaderValue::from_static("true"));
    }
    if grpc {
        *resp.status_mut() = StatusCode::OK;
        if let Ok(v) = HeaderValue::from_str(&http_to_grpc(status).to_string()) {
            resp.headers_mut().insert("grpc-status", v);
        }
    } else {
        *resp.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    }
    resp
}

/// The waiter's key of a hop queued under `ticket` in its cluster.
fn hop_key(hop: &Hop, ticket: u64) -> Option<(ClusterKey, u64)> {
    hop.cluster_key().map(|k| (k.clone(), ticket))
}
