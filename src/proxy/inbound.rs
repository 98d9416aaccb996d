//! The sidecar's inbound side: a listener on the task's port that applies the virtual node
//! listener's limits (the connection pool's circuit breaker, the listener's per-request
//! timeout) and hands each request to the local app in-process.
//!
//! The app runs each request as its own task, so a caller that goes away (a timeout
//! upstream, a closed connection) does not stop the app's work: real apps finish what they
//! started, which is exactly how a retried non-idempotent POST gets applied twice.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use super::attempts::EventKind;
use super::body::Payload;
use super::faults::{self, ListenerFaults};
use super::head;
use super::notes::envoy_fields;
use super::outbound::{
    RouterFlags, Sidecar, idle_timeout_reply, idle_timeout_text, local_reply, request_head,
};
use super::telemetry::{
    AccessLogEntry, Direction, HEALTH_CHECK_AGENT, ResponseFlag, Stat, TRACE_HEADER, TraceContext,
};
use super::toxics::ToxicStream;
use super::wire;
use crate::config::model::Protocol;
use crate::engine::breaker::{Admission, ListenerPool, Ticket};
use crate::engine::listener::IdleTimer;
use crate::engine::ratelimit::{LocalRateLimiter, RateDecision};
use crate::engine::{SimTime, seed};

/// What handles a request behind the listener: the local app, or a gateway's routing.
pub type Handler = Rc<dyn Fn(Request<Payload>) -> Pin<Box<dyn Future<Output = Response<Payload>>>>>;

/// One inbound listener of a task.
pub struct Inbound {
    /// Port.
    pub port: u16,
    /// Protocol (HTTP/1.1, or HTTP/2 for http2 and grpc).
    pub protocol: Protocol,
    /// The listener's connection pool (circuit breaker): towards the app on a task, over the
    /// requests passing through on a virtual gateway; `None`: no limits.
    pub pool: Option<RefCell<ListenerPool>>,
    /// The listener's per-request timeout.
    pub timeout: Option<Duration>,
    /// The listener's idle timeout (Envoy's `stream_idle_timeout`).
    pub idle: Option<Duration>,
    /// The proxy (identity, spans, telemetry).
    pub sidecar: Rc<Sidecar>,
    /// Where requests go.
    pub handler: Handler,
    /// Where access-log lines go.
    pub telemetry: Rc<RefCell<super::telemetry::Telemetry>>,
    /// Envoy's local rate limit filter, when the scenario turns it on for this node: this
    /// listener's own bucket, and the seeded stream its percentage rolls draw from (its own,
    /// so turning the filter on shifts no other decision of the sidecar).
    rate_limit: Option<RefCell<(LocalRateLimiter, seed::Rng)>>,
    /// The listener's fault filter, kept across requests (`max_active_faults`).
    faults: RefCell<ListenerFaults>,
    waiters: RefCell<BTreeMap<u64, oneshot::Sender<()>>>,
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbound")
            .field("port", &self.port)
            .field("protocol", &self.protocol)
            .field("timeout", &self.timeout)
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

impl Inbound {
    /// A listener.
    pub fn new(
        port: u16,
        protocol: Protocol,
        pool: Option<ListenerPool>,
        timeout: Option<Duration>,
        sidecar: Rc<Sidecar>,
        handler: Handler,
        telemetry: Rc<RefCell<super::telemetry::Telemetry>>,
    ) -> Inbound {
        Inbound {
            port,
            protocol,
            pool: pool.map(RefCell::new),
            timeout,
            idle: None,
            sidecar,
            handler,
            telemetry,
            rate_limit: None,
            faults: RefCell::new(ListenerFaults::default()),
            waiters: RefCell::new(BTreeMap::new()),
        }
    }

    /// Enforces the listener's idle timeout.
    pub fn with_idle_timeout(mut self, idle: Option<Duration>) -> Inbound {
        self.idle = idle;
        self
    }

    /// Puts a local rate limit filter on the listener, ahead of everything else.
    pub fn with_rate_limit(mut self, limiter: LocalRateLimiter, rng: seed::Rng) -> Inbound {
        self.rate_limit = Some(RefCell::new((limiter, rng)));
        self
    }

    /// The rate limit filter's decision; `None` when there is no filter to ask.
    /// Health checks pass untouched: they are the mesh's own traffic, and limiting them
    /// would make the allowed rate depend on how many callers check this task and how often.
    fn rate_limit(&self, now: SimTime, health_check: bool) -> Option<RateDecision> {
        let limiter = self.rate_limit.as_ref().filter(|_| !health_check)?;
        let (limiter, rng) = &mut *limiter.borrow_mut();
        Some(limiter.try_acquire(now, rng))
    }

    /// Accepts connections until the host goes down.
    pub async fn serve(self: Rc<Self>) -> std::io::Result<()> {
        let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, self.port));
        let listener = turmoil::net::TcpListener::bind(addr).await?;
        let host: Rc<str> = Rc::from(self.sidecar.identity.task.as_str());
        loop {
            let (stream, _) = listener.accept().await?;
            let this = Rc::clone(&self);
            let counter = Rc::clone(&self);
            let stream = ToxicStream::new(
                stream,
                self.sidecar.effects_board(),
                Rc::clone(&host),
                self.sidecar.next_connection_seed(),
                Rc::new(move |_| counter.count(Stat::FaultsInjected)),
            );
            if self.protocol == Protocol::Tcp {
                tokio::task::spawn_local(this.serve_tcp(stream));
                continue;
            }
            tokio::task::spawn_local(async move {
                let io = TokioIo::new(stream);
                let inbound = Rc::clone(&this);
                // Each request is handled as its own task, so a downstream that goes away
                // (its per-try timeout fired and closed the connection) does not cut the
                // handling short: the access log still gets its line and the pool its slot
                // back when the app is done.
                let svc = service_fn(move |req| {
                    let inbound = Rc::clone(&inbound);
                    let task = tokio::task::spawn_local(inbound.handle(req));
                    async move {
                        Ok::<_, Infallible>(task.await.unwrap_or_else(|_| {
                            local_reply(503, ResponseFlag::UpstreamReset, false)
                        }))
                    }
                });
                let _ = match this.protocol {
                    Protocol::Http2 | Protocol::Grpc => {
                        wire::http2_server().serve_connection(io, svc).await
                    }
                    Protocol::Http | Protocol::Tcp => {
                        wire::http1_server().serve_connection(io, svc).await
                    }
                };
            });
        }
    }

    async fn handle(self: Rc<Self>, req: Request<Incoming>) -> Response<Payload> {
        let start = wire::now();
        let span = self.sidecar.next_span();
        let grpc = self.protocol == Protocol::Grpc;
        let trace = req
            .headers()
            .get(TRACE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(TraceContext::parse);
        let mut log = AccessLogEntry {
            path: req.uri().path().to_string(),
            attempts: 1,
            health_check: req
                .headers()
                .get(http::header::USER_AGENT)
                .is_some_and(|v| v.as_bytes() == HEALTH_CHECK_AGENT.as_bytes()),
            shadow: req
                .headers()
                .get(http::header::HOST)
                .is_some_and(|v| v.as_bytes().ends_with(b"-shadow")),
            ..self
                .sidecar
                .log_entry(Direction::Inbound, start, span.clone(), trace.as_ref())
        };
        if self.sidecar.wants_envoy_fields(log.detail.is_some()) {
            log.envoy = Some(Box::new(envoy_fields(&req)));
        }
        // Envoy runs its HTTP filters before the router takes a connection-pool slot, so a
        // refused request never queues.
        let decision = self.rate_limit(start, log.health_check);
        if let (Some(d), Some(decision)) = (log.detail.as_deref_mut(), decision) {
            d.event(
                start,
                EventKind::RateLimit,
                format!("local rate limit: {decision}"),
            );
        }
        if let Some(RateDecision::Limited { status, .. }) = decision {
            self.count(Stat::RateLimited);
            return self.finish(log, local_reply(status, ResponseFlag::RateLimited, grpc));
        }
        // The listener's stream idle timer, from the request's arrival: nothing more passes
        // on the stream until the answer goes back, so it bounds the queueing, a fault
        // delay and the app's work alike.
        let idle = IdleTimer::new(start, self.idle);
        let mut slot = Slot {
            inbound: Rc::clone(&self),
            state: SlotState::Free,
        };
        if let Some(pool) = &self.pool {
            let admission = pool.borrow_mut().admit(start);
            match admission {
                Admission::Dispatch { .. } => slot.state = SlotState::Active,
                Admission::Queued { ticket, .. } => {
                    let (tx, rx) = oneshot::channel();
                    self.waiters.borrow_mut().insert(ticket.get(), tx);
                    slot.state = SlotState::Queued(ticket);
                    let Some(waited) = wire::until(idle.deadline(), rx).await else {
                        return self.idle_expired(log);
                    };
                    if let Some(d) = log.detail.as_deref_mut() {
                        let wait = wire::now().saturating_since(start);
                        let then = if waited.is_ok() {
                            format!("dispatched after {wait:?}")
                        } else {
                            format!("dropped from the queue after {wait:?}: 503 UO")
                        };
                        d.event(
                            start,
                            EventKind::Queued,
                            format!("listener connection pool: {admission}; {then}"),
                        );
                    }
                    if waited.is_err() {
                        return self.finish(log, local_reply(503, ResponseFlag::Overflow, grpc));
                    }
                    slot.state = SlotState::Active;
                }
                Admission::Rejected(_) => {
                    self.count(Stat::Overflows);
                    if let Some(d) = log.detail.as_deref_mut() {
                        d.event(
                            start,
                            EventKind::Overflow,
                            format!("listener connection pool (circuit breaker): {admission}"),
                        );
                    }
                    return self.finish(log, local_reply(503, ResponseFlag::Overflow, grpc));
                }
            }
        }
        // Given back when the request is over, however it ends (Envoy's `active_faults`).
        let mut fault_held = FaultHeld(None);
        if let Some(decision) =
            self.sidecar
                .http_fault(&self.faults, &request_head("", self.port, &req), start)
        {
            if decision.is_fault() {
                fault_held.0 = Some(Rc::clone(&self));
            }
            if let Some(d) = log.detail.as_deref_mut() {
                let (kind, what) = match (decision.delay, decision.abort) {
                    (Some(delay), _) => (EventKind::FaultDelay, format!("delay {delay:?} (DI)")),
                    (None, Some(abort)) => (EventKind::FaultAbort, format!("abort {abort} (FI)")),
                    (None, None) => (EventKind::FaultSpared, "no fault".to_string()),
                };
                d.event(
                    start,
                    kind,
                    format!("fault filter: {what}: {}", decision.reason),
                );
                if let (Some(_), Some(abort)) = (decision.delay, decision.abort) {
                    d.event(
                        decision.resume_at,
                        EventKind::FaultAbort,
                        format!("fault filter: abort {abort} (FI) after the delay"),
                    );
                }
            }
            if let Some(delay) = decision.delay {
                self.count(Stat::FaultsInjected);
                log.flags.insert(ResponseFlag::DelayInjected);
                if wire::until(idle.deadline(), tokio::time::sleep(delay))
                    .await
                    .is_none()
                {
                    return self.idle_expired(log);
                }
            }
            if let Some(abort) = decision.abort {
                if decision.delay.is_none() {
                    self.count(Stat::FaultsInjected);
                }
                return self.finish(log, faults::abort_reply(abort, grpc));
            }
        }
        let (parts, body) = req.into_parts();
        let Ok(body) = Payload::collect(body).await else {
            return self.finish(log, local_reply(503, ResponseFlag::UpstreamReset, grpc));
        };
        if let Some(e) = log.envoy.as_deref_mut() {
            e.bytes_received = body.data().len() as u64;
            e.upstream_host = Some(format!("127.0.0.1:{}", self.port));
        }
        let mut req = Request::from_parts(parts, body);
        if let Some(t) = &trace
            && let Ok(v) = HeaderValue::from_str(&t.header_from(&span))
        {
            req.headers_mut().insert(TRACE_HEADER, v);
        }
        let app = tokio::task::spawn_local((self.handler)(req));
        let deadline = self.timeout.map(|t| start + t);
        let handed = wire::now();
        let response = match wire::until(idle.bound(deadline), app).await {
            None if idle.fires_before(deadline) => return self.idle_expired(log),
            None => {
                self.count(Stat::Timeouts);
                if let Some(d) = log.detail.as_deref_mut() {
                    let t = self.timeout.unwrap_or_default();
                    d.event(
                        wire::now(),
                        EventKind::ListenerTimeout,
                        format!("listener timeout (perRequest {t:?}) fired before the app answered: 504 UT"),
                    );
                }
                local_reply(504, ResponseFlag::UpstreamTimeout, grpc)
            }
            Some(Ok(resp)) => {
                if let Some(e) = log.envoy.as_deref_mut() {
                    e.upstream_service_time = Some(wire::now().saturating_since(handed));
                }
                resp
            }
            Some(Err(_)) => local_reply(503, ResponseFlag::UpstreamReset, grpc),
        };
        drop(slot);
        self.finish(log, response)
    }

    /// The listener's idle timer fired before the app answered: 504 `SI` (the engine's
    /// rule, [`idle_timeout_reply`]); the app's work, if it started, goes on detached.
    fn idle_expired(&self, mut log: AccessLogEntry) -> Response<Payload> {
        self.count(Stat::Timeouts);
        if let Some(d) = log.detail.as_deref_mut() {
            d.event(
                wire::now(),
                EventKind::IdleTimeout,
                idle_timeout_text("listener", self.idle),
            );
        }
        self.finish(log, idle_timeout_reply(self.protocol == Protocol::Grpc))
    }

    pub(super) fn count(&self, stat: Stat) {
        self.telemetry
            .borrow_mut()
            .count(&self.sidecar.identity.node, stat, 1);
    }

    fn finish(&self, mut log: AccessLogEntry, response: Response<Payload>) -> Response<Payload> {
        log.duration = wire::now().saturating_since(log.start);
        log.status = response.status().as_u16();
        // A reply of this listener's own (`RL`, `UO`, `FI`, `UT`, `UC`) carries its flag;
        // beside what the listener noted on the way (`DI`). Behind a virtual gateway the
        // answer comes from the gateway's router, whose flags are this Envoy's own too; an
        // app's answer, or an upstream's passed on, adds none.
        match response.extensions().get::<RouterFlags>() {
            Some(RouterFlags(router)) => {
                for f in router.iter() {
                    log.flags.insert(f);
                }
            }
            None => {
                if let Some(own) = head::flag(response.headers()) {
                    log.flags.insert(own);
                }
            }
        }
        if let Some(e) = log.envoy.as_deref_mut() {
            e.bytes_sent = response.body().data().len() as u64;
        }
        self.log_line(log);
        response
    }

    /// Writes one access-log line.
    pub(super) fn log_line(&self, log: AccessLogEntry) {
        self.telemetry.borrow_mut().access_log.push(log);
    }

    fn release(&self) {
        let Some(pool) = &self.pool else {
            return;
        };
        // A waiter that went away while queued hands its slot straight on.
        loop {
            let next = pool.borrow_mut().on_complete(wire::now());
            let Some(d) = next else { return };
            let tx = self.waiters.borrow_mut().remove(&d.ticket.get());
            if tx.is_some_and(|tx| tx.send(()).is_ok()) {
                return;
            }
        }
    }

    fn withdraw(&self, ticket: Ticket) {
        if let Some(pool) = &self.pool {
            pool.borrow_mut().cancel(ticket);
        }
        self.waiters.borrow_mut().remove(&ticket.get());
    }
}

/// A request with a fault in progress at its listener's fault filter, ended exactly once.
struct FaultHeld(Option<Rc<Inbound>>);

impl Drop for FaultHeld {
    fn drop(&mut self) {
        if let Some(inbound) = self.0.take() {
            inbound.faults.borrow_mut().on_fault_end();
        }
    }
}

/// A request's (or a TCP connection's) place in the listener's pool, given back exactly
/// once however it ends (answered, timed out, or dropped with its connection).
pub(super) struct Slot {
    inbound: Rc<Inbound>,
    state: SlotState,
}

impl Slot {
    /// A slot holding nothing yet.
    pub(super) fn free(inbound: Rc<Inbound>) -> Slot {
        Slot {
            inbound,
            state: SlotState::Free,
        }
    }

    /// The pool dispatched it.
    pub(super) fn activate(&mut self) {
        self.state = SlotState::Active;
    }
}

enum SlotState {
    Free,
    Queued(Ticket),
    Active,
}

impl Drop for Slot {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.state, SlotState::Free) {
            SlotState::Free => {}
            SlotState::Queued(t) => self.inbound.withdraw(t),
            SlotState::Active => self.inbound.release(),
        }
    }
}
