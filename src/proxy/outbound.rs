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

use super::attempts::{
    AttemptOutcome as Tried, AttemptRecord, Authority, EnvoyFields, EventKind, HopDetail,
    RouteChoice, TargetChoice,
};
use super::body::Payload;
use super::breakers::{Refused, RetrySlot};
use super::cluster::Cluster;
use super::head;
use super::mesh::MeshView;
use super::notes::{
    GatewayRouted, envoy_fields, explain_route, note_attempt_end, note_cluster_refused, note_ended,
    note_retry_shed, route_timeout_text,
};
use super::pool::{HttpVersion, SendError, UpstreamPool};
use super::telemetry::{
    AccessLogEntry, Direction, FLAGS_HEADER, ResponseFlag, ResponseFlags, Stat, TRACE_HEADER,
    Telemetry, TraceContext,
};
use super::wire;
use crate::config::model::{HttpMethod, Protocol};
use crate::engine::balancer::BalancerConfig;
use crate::engine::breaker::ListenerPool;
use crate::engine::discovery::Registry;
use crate::engine::exchange::{Exchange, Final, FinishReason, Next, TimeoutKind, reset_flag};
use crate::engine::failure_accrual::{
    BreakerState, HostBreakers, Outcome as AccrualOutcome, Permit, Transition,
};
use crate::engine::listener::{IdleExpiry, IdleTimer};
use crate::engine::outlier::{EjectionDecision, LocalFailure, Outcome as OutlierOutcome};
use crate::engine::retry::{AttemptOutcome, ResetReason, RetryRules};
use crate::engine::retry_breaker::RetryGate;
use crate::engine::{RequestHead, SimTime, seed};
use crate::sidecar::Answer;
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
    pub control: Rc<RefCell<super::control::ControlPlane>>,
}

/// One Envoy-like proxy's outbound state.
#[derive(Debug)]
pub struct Sidecar {
    /// Who it is.
    pub identity: Identity,
    pub(super) shared: Shared,
    pub(super) clusters: RefCell<BTreeMap<(String, u16), Cluster>>,
    pool: UpstreamPool,
    rng: RefCell<seed::Rng>,
    span_prefix: u32,
    spans: Cell<u64>,
    /// Seeds the draws of each connection the inbound listener accepts (toxics), apart
    /// from `rng` so that accepting a connection never shifts the routing draws.
    connection_seed: u64,
    connections: Cell<u64>,
}

/// How the route and target were chosen, copied out of the engine so nothing borrows it
/// across an await.
#[derive(Clone)]
pub(super) struct Plan {
    pub(super) route: String,
    pub(super) node: String,
    port: Option<u16>,
    rules: RetryRules,
    timeout: Option<std::time::Duration>,
    pub(super) idle: Option<std::time::Duration>,
    /// Also send a copy to this node (a rollout's mirroring drew this request).
    mirror: Option<String>,
    /// A sampled request's route and target decisions (and the mirroring draw), for its
    /// hop's detail; `None` for every other request.
    pub(super) notes: Option<Box<HopDetail>>,
}

/// A host picked for an attempt.
pub(super) struct Picked {
    pub(super) host: super::cluster::UpstreamHost,
    pub(super) version: HttpVersion,
    /// The failure-accrual breaker's permit, to hand back with the outcome.
    pub(super) permit: Option<Permit>,
    /// Why this host (sampled requests only).
    pub(super) why: Option<String>,
}

/// What the end of a request to a host did to the cluster's state.
#[derive(Default)]
pub(super) struct Ended {
    /// Outlier detection's decision, when the host reached `maxServerErrors`.
    pub(super) ejection: Option<EjectionDecision>,
    /// The host's failure-accrual breaker opened or closed.
    pub(super) breaker: Option<Transition>,
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
        if let Some(p) = &plan
            && let Some(node) = &p.mirror
        {
            // Envoy's request mirroring: fire and forget, one attempt, the answer dropped.
            let notes = p.notes.as_ref().map(|n| {
                let mut n = n.clone();
                n.target = Some(TargetChoice::Steered { node: node.clone() });
                n.events.clear();
                n.event(
                    wire::now(),
                    EventKind::Mirror,
                    format!("shadow copy to `{node}` (authority {service}-shadow); its answer is dropped"),
                );
                n
            });
            let shadow = Plan {
                node: node.clone(),
                rules: RetryRules::none(),
                mirror: None,
                notes,
                ..p.clone()
            };
            let (parts, body) = req.into_parts();
            let copy = Request::from_parts(parts.clone(), body.clone());
            let this = Rc::clone(&self);
            let name = service.to_string();
            tokio::task::spawn_local(async move {
                this.send_planned(&name, copy, Some(shadow), true).await;
            });
            return self
                .send_planned(service, Request::from_parts(parts, body), plan, false)
                .await;
        }
        self.send_planned(service, req, plan, false).await
    }

    /// One exchange on a planned route (`None`: no route matched): attempts, retries,
    /// timeouts, the access-log line. A `shadow` is a mirrored copy.
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
        let Some(mut plan) = plan else {
            self.count(Stat::NoRoute, 1);
            if let Some(d) = log.detail.as_deref_mut() {
                d.route = Some(self.no_route(service, &request_head(service, port, &req)));
            }
            return self.reply(log, 404, ResponseFlag::NoRoute, grpc);
        };
        log.route = Some(plan.route.clone());
        log.upstream_node = Some(plan.node.clone());
        if let (Some(d), Some(notes)) = (log.detail.as_deref_mut(), plan.notes.take()) {
            let notes = *notes;
            d.route = notes.route;
            d.target = notes.target;
            d.events = notes.events;
        }
        if let Some(gateway) = req.extensions().get::<GatewayRouted>()
            && let Some(d) = log.detail.as_deref_mut()
        {
            d.event(start, EventKind::GatewayRoute, gateway.0.clone());
        }
        let Some(key) = self.ensure_cluster(&plan, start) else {
            return self.reply(log, 503, ResponseFlag::NoHealthyUpstream, grpc);
        };
        let (parts, body) = req.into_parts();
        let mut exchange = Exchange::new(start, plan.rules, plan.timeout);
        // The route's idle timer: the whole request was handed over at `start`, and nothing
        // passes downstream until the answer does, so it bounds the wait for that answer
        // across every attempt and back-off.
        let idle = IdleTimer::new(start, plan.idle);
        let mut tried: Vec<String> = Vec::new();
        let mut last: Option<Response<Payload>> = None;
        let mut retry: Option<RetrySlot> = None;
        let fin: Final = loop {
            // The caller's own cluster breaker first (only under Envoy's defaults does it
            // ever refuse or queue); see `breakers` for the order against the host pick.
            let slot = match self
                .admit_upstream(&key, wire::now(), exchange.deadline())
                .await
            {
                Ok(slot) => slot,
                Err(refused) => {
                    let now = wire::now();
                    let f = match refused {
                        Refused::Overflow => {
                            self.count(Stat::Overflows, 1);
                            exchange.on_local_overflow(now)
                        }
                        Refused::Deadline => {
                            self.count(Stat::Timeouts, 1);
                            exchange.on_route_timeout(now)
                        }
                    };
                    if let Some(d) = log.detail.as_deref_mut() {
                        note_cluster_refused(d, now, &f, plan.timeout);
                    }
                    break f;
                }
            };
            let now = wire::now();
            let attempt = match exchange.start_attempt(now) {
                Ok(a) => a,
                Err(f) => {
                    if let Some(d) = log.detail.as_deref_mut() {
                        d.event(
                            f.at,
                            EventKind::RouteTimeout,
                            route_timeout_text(plan.timeout, "before the next attempt"),
                        );
                    }
                    break f;
                }
            };
            if attempt.number > 1 {
                self.count(Stat::Retries, 1);
            }
            self.count(Stat::Attempts, 1);
            let Some(picked) = self.pick(&key, now, &tried, log.detail.as_deref_mut()) else {
                log.attempts = exchange.attempts();
                return self.reply(log, 503, ResponseFlag::NoHealthyUpstream, grpc);
            };
            let Picked {
                host,
                version,
                permit,
                why,
            } = picked;
            tried.push(host.id.clone());
            if let Some(e) = log.envoy.as_deref_mut() {
                e.upstream_host = Some(format!("{}:{}", host.address, host.port));
            }
            if let Some(d) = log.detail.as_deref_mut() {
                d.attempts.push(AttemptRecord {
                    number: attempt.number,
                    host: host.id.clone(),
                    address: format!("{}:{}", host.address, host.port),
                    pick: why.unwrap_or_default(),
                    start: now,
                    end: now,
                    deadline: attempt.deadline.map(|at| {
                        let kind = match attempt.bounded_by {
                            Some(TimeoutKind::Route) => "route perRequest",
                            _ => "perRetryTimeout",
                        };
                        (at, kind)
                    }),
                    outcome: Tried::Pending,
                    then: None,
                });
            }
            let attempt_start = now;
            let mut upstream = Request::from_parts(parts.clone(), body.clone());
            set_upstream_headers(&mut upstream, service, port, trace.as_ref(), &span);
            if shadow && let Ok(v) = HeaderValue::from_str(&format!("{service}-shadow")) {
                upstream.headers_mut().insert(http::header::HOST, v);
            }
            let sent = wire::until(
                idle.bound(attempt.deadline),
                self.pool
                    .send_to(host.pool_key(), &host.address, host.port, version, upstream),
            )
            .await;
            drop(slot);
            let now = wire::now();
            let took = now.saturating_since(attempt_start);
            if sent.is_none() && idle.fires_before(attempt.deadline) {
                self.abandon_request(&key, &host.id, now, attempt_start, permit);
                if let Some(a) = log.detail.as_deref_mut().and_then(HopDetail::current) {
                    a.end = now;
                    a.then = Some("abandoned: the route's idle timeout ended the stream".into());
                }
                return self.route_idle_expired(log, exchange.attempts(), plan.idle, grpc);
            }
            let judged = match sent {
                None if attempt.bounded_by == Some(TimeoutKind::Route) => {
                    self.count(Stat::Timeouts, 1);
                    let ended = self.end_request(
                        &key,
                        &host.id,
                        now,
                        start,
                        OutlierOutcome::LocalFailure(LocalFailure::Timeout),
                        permit,
                    );
                    if let Some(d) = log.detail.as_deref_mut() {
                        if let Some(a) = d.current() {
                            a.end = now;
                            a.outcome = Tried::RouteTimeout;
                            a.then = Some("finish: the route timeout ends the exchange, 504 UT; nothing is retried".into());
                        }
                        d.event(
                            now,
                            EventKind::RouteTimeout,
                            route_timeout_text(
                                plan.timeout,
                                &format!("during attempt {} to {}", attempt.number, host.id),
                            ),
                        );
                        note_ended(d, now, &host.id, &ended);
                    }
                    break exchange.on_route_timeout(now);
                }
                None => {
                    self.count(Stat::Timeouts, 1);
                    Answer::Reset(ResetReason::PerTryTimeout).classify()
                }
                Some(Err(SendError::Connect)) => {
                    self.count(Stat::Resets, 1);
                    Answer::Reset(ResetReason::ConnectFailure).classify()
                }
                Some(Err(SendError::Reset)) => {
                    self.count(Stat::Resets, 1);
                    Answer::Reset(ResetReason::Disconnect).classify()
                }
                Some(Ok(resp)) => {
                    let judged = Answer::Response(head::read(&resp)).classify();
                    if let (Some(a), Some(status)) = (
                        log.detail.as_deref_mut().and_then(HopDetail::current),
                        judged.router_status,
                    ) {
                        a.outcome = Tried::Response {
                            status,
                            flag: judged.upstream_flag,
                        };
                    }
                    if let Some(e) = log.envoy.as_deref_mut() {
                        e.upstream_service_time = Some(took);
                    }
                    last = Some(resp);
                    judged
                }
            };
            // Every end the driver reports here reached the host (the caller's own overflow
            // is refused before an attempt starts), so outlier detection always hears it.
            let outlier = judged
                .outlier
                .unwrap_or(OutlierOutcome::LocalFailure(LocalFailure::Reset));
            let ended = self.end_request(&key, &host.id, now, start, outlier, permit);
            let outcome = judged.attempt;
            let next = exchange.on_outcome(now, outcome, &mut *self.rng.borrow_mut());
            if let Some(d) = log.detail.as_deref_mut() {
                note_attempt_end(d, now, outcome, &attempt, &host.id, &next);
                note_ended(d, now, &host.id, &ended);
            }
            // Envoy gives the retry breaker's slot back as soon as the retried attempt's
            // outcome is known, before it decides on the next retry.
            retry = None;
            match next {
                Next::Retry { at, .. } => match self.start_retry(&key) {
                    Ok(slot) => {
                        retry = Some(slot);
                        last = None;
                        if idle.fires_before(Some(at)) {
                            wire::sleep_until(idle.deadline().unwrap_or(at)).await;
                            return self.route_idle_expired(
                                log,
                                exchange.attempts(),
                                plan.idle,
                                grpc,
                            );
                        }
                        wire::sleep_until(at).await;
                    }
                    Err(shed) => {
                        self.count(Stat::Overflows, 1);
                        if let Some(d) = log.detail.as_deref_mut() {
                            note_retry_shed(d, now, &shed);
                        }
                        break exchange.shed_retry(now);
                    }
                },
                Next::Finish(f) => break f,
            }
        };
        drop(retry);
        log.attempts = fin.attempts;
        log.flags = fin.flags();
        let response = match (fin.reason, fin.last_outcome, last) {
            (FinishReason::RouteTimeout, _, _) => {
                if let Some(e) = log.envoy.as_deref_mut() {
                    e.upstream_service_time = None;
                }
                local_reply(504, ResponseFlag::UpstreamTimeout, grpc)
            }
            (_, _, Some(resp)) => resp,
            (_, last_outcome, None) => {
                if let Some(e) = log.envoy.as_deref_mut() {
                    e.upstream_service_time = None;
                }
                let flag = match last_outcome {
                    Some(AttemptOutcome::Reset(reason)) => reset_flag(reason),
                    _ => ResponseFlag::UpstreamReset,
                };
                local_reply(fin.status, flag, grpc)
            }
        };
        self.finish(log, response)
    }

    /// Why no route took a sampled request: the routes tried and why each did not match, or
    /// why there was no table to try.
    fn no_route(&self, service: &str, head: &RequestHead) -> RouteChoice {
        match self.shared.mesh.engine.borrow().explain(service, head) {
            Ok(why) => RouteChoice {
                router: None,
                matched: None,
                skipped: why
                    .skipped
                    .iter()
                    .map(|(r, m)| (r.clone(), m.to_string()))
                    .collect(),
                note: Some("no route matched: 404 NR".into()),
            },
            Err(e) => RouteChoice {
                note: Some(format!("{e}: 404 NR")),
                ..RouteChoice::default()
            },
        }
    }

    /// The route for `head` and a weighted target drawn from it; `None` when no route matches.
    /// What the control plane has sent this proxy about the route (a rollout's weights, A/B
    /// steering, mirroring) replaces the config's targets. For a `sampled` request the plan
    /// also says why (the engine's route explanation, the draw), drawing nothing more.
    pub(super) fn plan(&self, service: &str, head: &RequestHead, sampled: bool) -> Option<Plan> {
        let engine = self.shared.mesh.engine.borrow();
        let routed = engine.route(service, head).ok()?;
        let route = routed.route;
        let sent = match routed.router {
            Some(router) if !self.shared.control.borrow().is_empty() => self
                .shared
                .control
                .borrow()
                .current(&self.identity.task, router, &route.name, wire::now()),
            _ => None,
        };
        let mut rng = self.rng.borrow_mut();
        let (node, mirror, choice, mirror_note) = match sent.as_deref() {
            None => {
                let (target, roll) = route.draw_target(&mut *rng);
                let choice = sampled.then(|| TargetChoice::Weighted {
                    control_plane: false,
                    targets: route
                        .targets()
                        .iter()
                        .map(|t| (t.virtual_node.clone(), t.weight))
                        .collect(),
                    roll,
                    chosen: target.virtual_node.clone(),
                });
                (target.virtual_node.clone(), None, choice, None)
            }
            Some(o) => {
                let (node, choice) = match &o.steer {
                    Some(s) if s.matches(head) => (
                        s.node.clone(),
                        sampled.then(|| TargetChoice::Steered {
                            node: s.node.clone(),
                        }),
                    ),
                    _ => {
                        let (node, roll) = pick_weighted(&o.targets, &mut *rng);
                        let choice = sampled.then(|| TargetChoice::Weighted {
                            control_plane: true,
                            targets: o.targets.clone(),
                            roll,
                            chosen: node.to_string(),
                        });
                        (node.to_string(), choice)
                    }
                };
                let mut note = None;
                let mirror = o.mirror.as_ref().and_then(|m| {
                    let draw = rand::Rng::random::<f64>(&mut *rng);
                    if sampled {
                        note = Some(if draw < m.share {
                            format!(
                                "mirrored to `{}`: drew {draw:.4} < share {}",
                                m.node, m.share
                            )
                        } else {
                            format!(
                                "not mirrored to `{}`: drew {draw:.4} >= share {}",
                                m.node, m.share
                            )
                        });
                    }
                    (draw < m.share).then(|| m.node.clone())
                });
                (node, mirror, choice, note)
            }
        };
        let notes = sampled.then(|| {
            let mut notes = HopDetail {
                route: Some(explain_route(&engine, service, head, routed.router)),
                target: choice,
                ..HopDetail::default()
            };
            if let Some(n) = mirror_note {
                notes.event(wire::now(), EventKind::Mirror, n);
            }
            Box::new(notes)
        });
        let port = route
            .targets()
            .iter()
            .find(|t| t.virtual_node == node)
            .and_then(|t| t.port);
        Some(Plan {
            route: route.name.clone(),
            node,
            port,
            rules: engine.retry_rules(route),
            timeout: route.per_request_timeout,
            idle: route.idle_timeout,
            mirror,
            notes,
        })
    }

    /// Makes sure the sidecar has a cluster for the plan's target; `None` if the node has no
    /// such listener.
    pub(super) fn ensure_cluster(
        self: &Rc<Self>,
        plan: &Plan,
        now: SimTime,
    ) -> Option<(String, u16)> {
        let engine = self.shared.mesh.engine.borrow();
        let listener = engine.listener(&plan.node, plan.port)?;
        let key = (plan.node.clone(), listener.port);
        let mut clusters = self.clusters.borrow_mut();
        if !clusters.contains_key(&key) {
            let endpoints = engine.endpoints_for(
                &plan.node,
                Some(listener.port),
                BalancerConfig::default(),
                0,
                now,
                &mut *self.rng.borrow_mut(),
            )?;
            let discovery = self
                .shared
                .mesh
                .discovery
                .get(&plan.node)
                .cloned()
                .flatten();
            let checked = endpoints.health().is_some();
            let mut cluster = Cluster::new(
                &plan.node,
                listener.port,
                listener.protocol,
                discovery,
                endpoints,
            );
            let defaults = engine.defaults();
            cluster.retries = RetryGate::new(defaults.max_retries());
            if defaults.limits_callers() {
                cluster.pool = Some(ListenerPool::new(listener.protocol, defaults.pool_limits()));
            }
            // Checked when the scenario was loaded; a configuration that still fails here
            // runs without the breaker rather than stopping the world.
            cluster.accrual = self
                .shared
                .mesh
                .extensions(&plan.node)
                .failure_accrual
                .and_then(|c| HostBreakers::new(c).ok());
            cluster.refresh(now, &self.shared.registry);
            clusters.insert(key.clone(), cluster);
            if checked {
                tokio::task::spawn_local(Rc::clone(self).health_checks(key.clone()));
            }
        }
        Some(key)
    }

    /// A host for the next attempt, avoiding hosts already `tried` when possible; with
    /// failure accrual, only among hosts whose breaker lets a request through, and with the
    /// breaker's permit to report back through [`Sidecar::end_request`]. With a sampled
    /// request's `detail`, says why (and notes the breakers that kept hosts out, or why no
    /// host could be had).
    pub(super) fn pick(
        &self,
        key: &(String, u16),
        now: SimTime,
        tried: &[String],
        mut detail: Option<&mut HopDetail>,
    ) -> Option<Picked> {
        let mut clusters = self.clusters.borrow_mut();
        let cluster = clusters.get_mut(key)?;
        cluster.refresh(now, &self.shared.registry);
        let exclude: Vec<usize> = tried
            .iter()
            .filter_map(|id| cluster.hosts.iter().position(|h| &h.id == id))
            .collect();
        let (hosts, accrual) = (&cluster.hosts, &cluster.accrual);
        let usable = |i: usize| {
            accrual
                .as_ref()
                .is_none_or(|b| hosts.get(i).is_some_and(|h| b.available(now, &h.id)))
        };
        if let (Some(d), Some(b)) = (detail.as_deref_mut(), accrual) {
            let open: Vec<String> = hosts
                .iter()
                .filter(|h| !b.available(now, &h.id))
                .map(|h| match b.get(&h.id).map(|s| s.state()) {
                    Some(BreakerState::Open { until, reason }) => {
                        format!("{} (open until {until}: {reason})", h.id)
                    }
                    Some(BreakerState::HalfOpen { since }) => {
                        format!("{} (half-open, probe in flight since {since})", h.id)
                    }
                    _ => h.id.clone(),
                })
                .collect();
            if !open.is_empty() {
                d.event(
                    now,
                    EventKind::BreakerOpen,
                    format!("failure accrual keeps out {}", open.join(", ")),
                );
            }
        }
        let pick =
            match cluster
                .endpoints
                .pick_usable(now, &mut *self.rng.borrow_mut(), usable, &exclude)
            {
                Ok(p) => p,
                Err(e) => {
                    if let Some(d) = detail {
                        d.event(now, EventKind::NoHealthyUpstream, e.to_string());
                    }
                    return None;
                }
            };
        let host = cluster.hosts.get(pick.host)?.clone();
        let permit = match &mut cluster.accrual {
            // `usable` admitted the host, so its breaker admits the request.
            Some(b) => Some(b.acquire(now, &host.id).ok()?),
            None => None,
        };
        cluster.endpoints.on_request_start(pick.host);
        let version = match cluster.protocol {
            Protocol::Http2 | Protocol::Grpc => HttpVersion::Http2,
            Protocol::Http | Protocol::Tcp => HttpVersion::Http1,
        };
        let why = detail.map(|_| format!("{} is {pick}", host.id));
        Some(Picked {
            host,
            version,
            permit,
            why,
        })
    }

    /// A request to host `id` ended: feeds the failure-accrual breaker and outlier
    /// detection, counts ejections and trips, and returns what they decided.
    pub(super) fn end_request(
        &self,
        key: &(String, u16),
        id: &str,
        now: SimTime,
        start: SimTime,
        outcome: OutlierOutcome,
        permit: Option<Permit>,
    ) -> Ended {
        let mut clusters = self.clusters.borrow_mut();
        let Some(cluster) = clusters.get_mut(key) else {
            return Ended::default();
        };
        // The breaker counts what outlier detection counts as an error: 5xx, timeouts,
        // resets and connect failures (Linkerd's default response classification).
        let breaker = match (permit, &mut cluster.accrual) {
            (Some(permit), Some(b)) => {
                let counted = if outcome.is_error() {
                    AccrualOutcome::Failure
                } else {
                    AccrualOutcome::Success
                };
                b.record(now, id, permit, counted, &mut *self.rng.borrow_mut())
            }
            _ => None,
        };
        let ejection = match cluster.hosts.iter().position(|h| h.id == id) {
            Some(i) => {
                cluster
                    .endpoints
                    .on_request_end(now, i, now.saturating_since(start), outcome)
            }
            None => None,
        };
        drop(clusters);
        if ejection.is_some_and(|d| d.ejected()) {
            self.count(Stat::Ejections, 1);
        }
        if matches!(breaker, Some(Transition::Tripped { .. })) {
            self.count(Stat::BreakerTrips, 1);
        }
        Ended { ejection, breaker }
    }

    /// The route's idle timer fired with no answer yet: 504 `SI` to the caller.
    fn route_idle_expired(
        &self,
        mut log: AccessLogEntry,
        attempts: u32,
        idle: Option<std::time::Duration>,
        grpc: bool,
    ) -> Response<Payload> {
        if let Some(d) = log.detail.as_deref_mut() {
            d.event(
                wire::now(),
                EventKind::IdleTimeout,
                idle_timeout_text("route", idle),
            );
        }
        log.attempts = attempts;
        log.flags.insert(ResponseFlag::StreamIdleTimeout);
        self.count(Stat::Timeouts, 1);
        self.finish(log, idle_timeout_reply(grpc))
    }

    /// The attempt to host `id` was cut off because its downstream stream ended (the route's
    /// idle timeout): outlier detection hears nothing of it (engine
    /// `Endpoints::on_request_abandoned`); a failure-accrual permit goes back as a failure,
    /// the request having got no answer.
    pub(super) fn abandon_request(
        &self,
        key: &(String, u16),
        id: &str,
        now: SimTime,
        start: SimTime,
        permit: Option<Permit>,
    ) {
        let mut clusters = self.clusters.borrow_mut();
        let Some(cluster) = clusters.get_mut(key) else {
            return;
        };
        if let (Some(permit), Some(b)) = (permit, &mut cluster.accrual) {
            b.record(
                now,
                id,
                permit,
                AccrualOutcome::Failure,
                &mut *self.rng.borrow_mut(),
            );
        }
        if let Some(i) = cluster.hosts.iter().position(|h| h.id == id) {
            cluster
                .endpoints
                .on_request_abandoned(now, i, now.saturating_since(start));
        }
    }

    /// Adds one to one of this proxy's counters.
    pub fn count_stat(&self, stat: Stat) {
        self.count(stat, 1);
    }

    pub(super) fn count(&self, stat: Stat, n: u64) {
        self.shared
            .telemetry
            .borrow_mut()
            .count(&self.identity.node, stat, n);
    }

    /// Ends an exchange with a reply of this proxy's own, flagged `flag` on its line.
    fn reply(
        &self,
        mut log: AccessLogEntry,
        status: u16,
        flag: ResponseFlag,
        grpc: bool,
    ) -> Response<Payload> {
        log.flags.insert(flag);
        self.finish(log, local_reply(status, flag, grpc))
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

/// A weighted draw among (node, weight) pairs whose total is above zero, with the roll.
fn pick_weighted<'a>(targets: &'a [(String, u32)], rng: &mut impl rand::Rng) -> (&'a str, u32) {
    let total: u32 = targets.iter().map(|(_, w)| w).sum();
    let drawn = rng.random_range(0..total.max(1));
    let mut roll = drawn;
    for (node, w) in targets {
        if roll < *w {
            return (node, drawn);
        }
        roll -= w;
    }
    (targets.first().map_or("", |(n, _)| n.as_str()), drawn)
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

fn set_upstream_headers(
    req: &mut Request<Payload>,
    service: &str,
    port: u16,
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
    if let Ok(v) = HeaderValue::from_str(&format!("{service}:{port}")) {
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

/// What a sampled request's detail says when an idle timer fired.
pub(super) fn idle_timeout_text(which: &str, idle: Option<std::time::Duration>) -> String {
    let d = idle.unwrap_or_default();
    format!("{which} idle timeout ({d:?}) fired with no answer yet: 504 SI")
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
