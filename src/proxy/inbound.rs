//! The sidecar's inbound side on the wire: a listener on the task's port whose requests go
//! through the core's inbound chain ([`InboundRequest`]: local rate limit, the listener
//! pool's circuit breaker, the fault filter, the per-request and idle timeouts), and are
//! handed to the local app in-process. This module is the `await` loop around that machine:
//! hyper and turmoil connections, the queue's wake-ups, the app's task, the local replies.
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
use super::outbound::{RouterFlags, Sidecar, local_reply, request_head};
use super::telemetry::{
    AccessLogEntry, Counter, Direction, HEALTH_CHECK_AGENT, ResponseFlag, ResponseFlags,
    TRACE_HEADER, TraceContext,
};
use super::toxics::ToxicStream;
use super::wire;
use crate::config::model::Protocol;
use crate::engine::breaker::{ListenerPool, Ticket};
use crate::engine::ratelimit::LocalRateLimiter;
use crate::engine::{SimTime, seed};
use crate::sidecar::inbound::{Action, Counted, Event, InboundRequest, Listener, NoteKind, Reply};

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
                Rc::new(move |_| counter.count(Counter::Faults)),
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

    /// One request: the core's inbound chain ([`InboundRequest`]) decides, this loop does
    /// what it asks on the wire and tells it what happened.
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
        let mut chain = Chain {
            inbound: Rc::clone(&self),
            machine: InboundRequest::new(
                start,
                self.timeout,
                self.idle,
                log.health_check,
                log.detail.is_some(),
            ),
        };
        chain.step(Event::Arrived, start);
        let mut req = Some(req);
        let mut answer = None;
        loop {
            let Some(action) = chain.machine.poll() else {
                // The machine always ends with `Finish`; a slip here is answered, not hung.
                return self.finish(
                    log,
                    ResponseFlags::of(ResponseFlag::UpstreamReset),
                    local_reply(503, ResponseFlag::UpstreamReset, grpc),
                );
            };
            let event = match action {
                Action::Count(c) => {
                    self.count(stat(c));
                    continue;
                }
                Action::Note(n) => {
                    if let Some(d) = log.detail.as_deref_mut() {
                        d.event(n.at, event_kind(n.kind), n.text);
                    }
                    continue;
                }
                Action::Wake(ticket) => {
                    self.wake(ticket);
                    continue;
                }
                Action::AwaitAdmission(ticket) => {
                    let (tx, rx) = oneshot::channel();
                    self.waiters.borrow_mut().insert(ticket.get(), tx);
                    match wire::until(chain.machine.poll_timeout(), rx).await {
                        None => {
                            self.waiters.borrow_mut().remove(&ticket.get());
                            Event::Timeout
                        }
                        Some(Ok(())) => Event::Admitted,
                        Some(Err(_)) => Event::Dropped,
                    }
                }
                Action::AskFaultFilter { at } => {
                    let head = req.as_ref().map(|r| request_head("", self.port, r));
                    let decision = head.and_then(|h| self.sidecar.http_fault(&self.faults, &h, at));
                    Event::FaultFilter(decision)
                }
                Action::Wait { until } => {
                    let delay = tokio::time::sleep(until.saturating_since(wire::now()));
                    match wire::until(chain.machine.poll_timeout(), delay).await {
                        Some(()) => Event::DelayElapsed,
                        None => Event::Timeout,
                    }
                }
                Action::HandToApp => {
                    let deadline = chain.machine.poll_timeout();
                    self.to_app(
                        req.take(),
                        deadline,
                        trace.as_ref(),
                        &span,
                        &mut log,
                        &mut answer,
                    )
                    .await
                }
                Action::Finish(ending) => {
                    let response = reply(ending.reply, grpc, answer.take());
                    return self.finish(log, ending.flags, response);
                }
            };
            chain.step(event, wire::now());
        }
    }

    /// Hands the request to the app and waits for its answer until `deadline` at most; the
    /// app's work goes on detached if the deadline comes first.
    async fn to_app(
        &self,
        req: Option<Request<Incoming>>,
        deadline: Option<SimTime>,
        trace: Option<&TraceContext>,
        span: &str,
        log: &mut AccessLogEntry,
        answer: &mut Option<Response<Payload>>,
    ) -> Event {
        let Some(req) = req else {
            return Event::Reset;
        };
        let (parts, body) = req.into_parts();
        let Ok(body) = Payload::collect(body).await else {
            return Event::Reset;
        };
        if let Some(e) = log.envoy.as_deref_mut() {
            e.bytes_received = body.data().len() as u64;
            e.upstream_host = Some(format!("127.0.0.1:{}", self.port));
        }
        let mut req = Request::from_parts(parts, body);
        if let Some(t) = trace
            && let Ok(v) = HeaderValue::from_str(&t.header_from(span))
        {
            req.headers_mut().insert(TRACE_HEADER, v);
        }
        let app = tokio::task::spawn_local((self.handler)(req));
        let handed = wire::now();
        match wire::until(deadline, app).await {
            None => Event::Timeout,
            Some(Ok(resp)) => {
                if let Some(e) = log.envoy.as_deref_mut() {
                    e.upstream_service_time = Some(wire::now().saturating_since(handed));
                }
                let event = Event::Answered {
                    head: head::read(&resp),
                    router: resp.extensions().get::<RouterFlags>().map(|r| r.0),
                };
                *answer = Some(resp);
                event
            }
            Some(Err(_)) => Event::Reset,
        }
    }

    /// Tells a request queued at the pool that its turn came; one that went away hands its
    /// slot straight on.
    fn wake(&self, ticket: Ticket) {
        let tx = self.waiters.borrow_mut().remove(&ticket.get());
        if tx.is_none_or(|tx| tx.send(()).is_err()) {
            self.release();
        }
    }

    /// Lends the listener's state to a request's machine for one step.
    fn with_listener<T>(&self, f: impl FnOnce(&mut Listener<'_>) -> T) -> T {
        let mut pool = self.pool.as_ref().map(RefCell::borrow_mut);
        let mut rate_limit = self.rate_limit.as_ref().map(RefCell::borrow_mut);
        let mut faults = self.faults.borrow_mut();
        let mut listener = Listener {
            pool: pool.as_deref_mut(),
            rate_limit: rate_limit.as_deref_mut().map(|(l, r)| (l, r)),
            faults: &mut faults,
        };
        f(&mut listener)
    }

    pub(super) fn count(&self, stat: Counter) {
        self.telemetry
            .borrow_mut()
            .count(&self.sidecar.identity.node, stat, 1);
    }

    /// Writes the request's line (its flags are the machine's: what the listener noted and
    /// its own reply's flag, or those of the answer it passed on) and sends `response`.
    fn finish(
        &self,
        mut log: AccessLogEntry,
        flags: ResponseFlags,
        response: Response<Payload>,
    ) -> Response<Payload> {
        log.duration = wire::now().saturating_since(log.start);
        log.status = response.status().as_u16();
        log.flags = flags;
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
}

/// A request's machine in the listener's hands: dropped midway (its host went down, its
/// task with it), it gives back what it holds, once.
struct Chain {
    inbound: Rc<Inbound>,
    machine: InboundRequest,
}

impl Chain {
    fn step(&mut self, event: Event, now: SimTime) {
        let machine = &mut self.machine;
        self.inbound
            .with_listener(|l| machine.handle(event, now, l));
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        if self.machine.is_done() {
            return;
        }
        if let Some(ticket) = self.machine.queued() {
            self.inbound.waiters.borrow_mut().remove(&ticket.get());
        }
        let machine = &mut self.machine;
        self.inbound
            .with_listener(|l| machine.abandon(wire::now(), l));
    }
}

/// The response for the machine's reply: a local reply of the listener's own (for a gRPC
/// listener, as the gRPC status it maps to), the fault filter's abort, or the app's answer.
fn reply(reply: Reply, grpc: bool, answer: Option<Response<Payload>>) -> Response<Payload> {
    match reply {
        Reply::Local { status, flag } => local_reply(status, flag, grpc),
        Reply::Abort(abort) => faults::abort_reply(abort, grpc),
        // Forwarded only after an answer came: a missing one would be the driver's slip.
        Reply::Forward => {
            answer.unwrap_or_else(|| local_reply(503, ResponseFlag::UpstreamReset, grpc))
        }
    }
}

/// The telemetry counter for a count of the core's.
fn stat(counted: Counted) -> Counter {
    match counted {
        Counted::RateLimited => Counter::RateLimited,
        Counted::Overflow => Counter::Overflows,
        Counted::FaultInjected => Counter::Faults,
        Counted::Timeout => Counter::Timeouts,
    }
}

/// The trace detail's kind for a note of the core's.
fn event_kind(kind: NoteKind) -> EventKind {
    match kind {
        NoteKind::RateLimit => EventKind::RateLimit,
        NoteKind::Queued => EventKind::Queued,
        NoteKind::Overflow => EventKind::Overflow,
        NoteKind::FaultDelay => EventKind::FaultDelay,
        NoteKind::FaultAbort => EventKind::FaultAbort,
        NoteKind::FaultSpared => EventKind::FaultSpared,
        NoteKind::ListenerTimeout => EventKind::ListenerTimeout,
        NoteKind::IdleTimeout => EventKind::IdleTimeout,
    }
}

/// A TCP connection's slot in the listener's pool, given back exactly once however it ends
/// (an HTTP request's is its machine's, [`InboundRequest`]).
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
    Active,
}

impl Drop for Slot {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.state, SlotState::Free) {
            SlotState::Free => {}
            SlotState::Active => self.inbound.release(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fault::Abort;
    use crate::proxy::telemetry::FLAGS_HEADER;

    #[test]
    fn the_machine_s_replies_go_out_as_envoy_s_local_replies() {
        let limited = Reply::Local {
            status: 429,
            flag: ResponseFlag::RateLimited,
        };
        let r = reply(limited, false, None);
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[FLAGS_HEADER], "RL");
        assert_eq!(r.headers()["x-envoy-ratelimited"], "true");
        let overflow = Reply::Local {
            status: 503,
            flag: ResponseFlag::Overflow,
        };
        let r = reply(overflow, false, None);
        assert_eq!(r.headers()["x-envoy-overloaded"], "true");
        // On a gRPC listener the status goes as the gRPC status it maps to.
        let r = reply(overflow, true, None);
        assert_eq!(
            (
                r.status().as_u16(),
                r.headers()["grpc-status"].to_str().ok()
            ),
            (200, Some("14"))
        );
        let r = reply(Reply::Abort(Abort::Http(500)), false, None);
        assert_eq!(
            (r.status().as_u16(), r.headers()[FLAGS_HEADER].to_str().ok()),
            (500, Some("FI"))
        );
        let mut app = Response::new(Payload::empty());
        *app.status_mut() = http::StatusCode::CREATED;
        assert_eq!(reply(Reply::Forward, false, Some(app)).status(), 201);
        assert_eq!(reply(Reply::Forward, false, None).status(), 503);
    }
}
