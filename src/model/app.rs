//! One task's app as a sans-IO core: every decision of a request's life in the app, made
//! once for both backends. The wire backend's `app::App` (tokio, hyper) and the fast
//! backend's event loop are drivers of this core: they hand it events with the time, the
//! task's fault effects and the Ordering databases, and carry out the [`Action`]s it returns.
//!
//! A request's life: match an endpoint (a health path no endpoint claims answers 200, any
//! other unmatched path 404, and neither takes a request number); apply a saturation fault's
//! worker cap; take a worker, wait in the service's FIFO queue, or be turned away by a full
//! one; do the local work until its exact end (slowed by a gray failure in force at arrival);
//! then roll the gray failure's error share, answer the model's own error, or run the
//! Ordering logic and the call plan step by step; answer, and hand the worker to the oldest
//! queued request.
//!
//! **Random stream.** The core owns `app/<task>` and draws from it in this order: the worker
//! cap's starts and the arrival (`Service::set_worker_cap`, `Service::arrive`, each drawing
//! the service time and fate of whatever it starts), the error share's roll when the local
//! work ends, and `Service::complete` when the answer leaves (or the caller leaves). A driver
//! that needs more randomness keeps it on a stream of its own: the wire driver puts each end
//! of local work on a 1 ms tick with `app/<task>/rounding`, so the decisions here stay the
//! same whatever the rounding draws.
//!
//! **When a worker is free.** From the instant the answer leaves; but when the answer leaves
//! in the same driver step as the end of the local work was reported (no call took time),
//! from the exact end of the local work ([`Action::Wake`]'s `at`), which a driver on a tick
//! may report a little late or early. Freeing it at the tick instead lengthened every
//! rounded-up service by the rest of the tick, and made the wire world's M/M/1 queue at 70 %
//! load 4-5 % slower than Erlang C. On exact time the two instants are the same.
//!
//! **What a driver does.** It calls [`AppCore::arrive`] when a request reaches the app, then
//! carries out [`AppCore::poll_action`]'s actions in order: an [`Action::Wake`] comes back
//! as [`AppCore::work_done`] at (or, on a tick, near) its `at`; an [`Action::Call`] goes out
//! through the task's sidecar (framed for gRPC by [`AppRequest::as_grpc_call`] when the
//! backend's listener is gRPC; nowhere when `hung`), with a timer at its deadline, and
//! whichever of the answer and the timer comes first is reported to [`AppCore::call_done`]
//! (the plan ignores a second report); an [`Action::Respond`] goes back to the caller, and
//! when `served` the driver tells the fault board (`Effects::on_request_served`, which drives
//! leaks). A caller that leaves before its answer is reported to [`AppCore::abandon`].

use std::collections::{BTreeMap, VecDeque};

use rand::Rng as _;

use crate::engine::{SimTime, seed};
use crate::model::calls::{CallIndex, CallOutcome, CallPlan, CallToMake, PlanNext};
use crate::model::endpoint::{Arrival, Outcome, RequestId, Started};
use crate::model::fault::HostEffects;
use crate::model::ordering::{self, Databases, OrderContext};
use crate::model::request::{AppRequest, Body, TRACE_HEADER};
use crate::model::service::{AppKind, Service, ServiceConfig};

/// What the driver does next for the app.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The request's local work ends at `at`: call [`AppCore::work_done`] then.
    Wake {
        /// The request.
        request: RequestId,
        /// The exact end of its local work.
        at: SimTime,
    },
    /// Make this call through the task's sidecar now, and arm a timer at its deadline.
    Call {
        /// The request making it.
        request: RequestId,
        /// The call, with its index and deadline.
        call: CallToMake,
        /// What goes out: method, path with `{sku}` and `{order}` filled in, and the headers
        /// (the trace header, the propagated ones, the Ordering ids, the idempotency key).
        head: AppRequest,
        /// A `hang` fault holds the call's virtual service: send nothing; only the deadline
        /// ends it (none: never).
        hung: bool,
    },
    /// Answer the request now.
    Respond {
        /// The request.
        request: RequestId,
        /// The status.
        status: u16,
        /// The body.
        body: Body,
        /// The request reached a worker: tell the fault board a request was served.
        served: bool,
    },
}

impl Action {
    /// The request it is for.
    pub fn request(&self) -> RequestId {
        match self {
            Action::Wake { request, .. }
            | Action::Call { request, .. }
            | Action::Respond { request, .. } => *request,
        }
    }
}

/// Where a request that reached the app stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrived {
    /// Answered at once without a request number: 404, or 200 for a health path no
    /// endpoint claims.
    Answer {
        /// The status.
        status: u16,
    },
    /// Numbered; its actions follow through [`AppCore::poll_action`].
    Accepted(RequestId),
}

/// A request's state inside the app.
#[derive(Debug)]
struct Request {
    head: AppRequest,
    params: BTreeMap<String, String>,
    /// The fault effects when it arrived (its slowdown and error share are read from them).
    effects: HostEffects,
    /// The exact end of its local work and the instant the driver reported it, once it has.
    local_end: Option<(SimTime, SimTime)>,
    phase: Phase,
}

#[derive(Debug)]
enum Phase {
    /// Waiting for a worker.
    Queued,
    /// Doing its local work until `end`.
    Working { started: Box<Started>, end: SimTime },
    /// Waiting for its calls.
    Calling(Box<Calling>),
}

#[derive(Debug)]
struct Calling {
    plan: CallPlan,
    ctx: OrderContext,
    endpoint: ordering::Endpoint,
    status: u16,
    response_bytes: u64,
    failure_status: u16,
}

/// One task's app: the service model, its random stream and the requests inside it.
#[derive(Debug)]
pub struct AppCore {
    kind: AppKind,
    service: Service,
    rng: seed::Rng,
    next_id: u64,
    health_paths: Vec<String>,
    propagate: Vec<String>,
    requests: BTreeMap<RequestId, Request>,
    actions: VecDeque<Action>,
}

impl AppCore {
    /// The app of `task` as `config` writes it (`service` built from it), from the master
    /// `seed` (the stream `app/<task>`). `health_paths` are answered 200 at once when no
    /// endpoint claims them, so a mesh health check does not need an endpoint in the
    /// scenario.
    pub fn new(
        task: &str,
        config: &ServiceConfig,
        service: Service,
        seed: u64,
        health_paths: Vec<String>,
    ) -> AppCore {
        AppCore {
            kind: config.app,
            rng: seed::stream(seed, &format!("app/{task}")),
            service,
            next_id: 0,
            health_paths,
            // Names were checked when the scenario loaded; one that is not a header name
            // could never have been sent to the app anyway.
            propagate: config
                .propagate_headers
                .iter()
                .filter_map(|h| {
                    http::HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes())
                        .ok()
                        .map(|n| n.as_str().to_string())
                })
                .collect(),
            requests: BTreeMap::new(),
            actions: VecDeque::new(),
        }
    }

    /// The service model (workers, queue, counters).
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Requests inside the app now (queued, working or calling).
    pub fn in_flight(&self) -> usize {
        self.requests.len()
    }

    /// The next thing to do, in the order decided.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// `req` reaches the app at `now`, with the task's fault `effects` at this moment
    /// (default: none).
    pub fn arrive(&mut self, now: SimTime, req: &AppRequest, effects: HostEffects) -> Arrived {
        let Some(matched) = self.service.match_endpoint(&req.method, &req.path) else {
            let status = if self.health_paths.contains(&req.path) {
                200
            } else {
                404
            };
            return Arrived::Answer { status };
        };
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let started = self
            .service
            .set_worker_cap(now, effects.workers, &mut self.rng);
        for s in started {
            self.start(s);
        }
        let request = Request {
            head: req.clone(),
            params: matched.params,
            effects,
            local_end: None,
            phase: Phase::Queued,
        };
        match self.service.arrive(now, id, matched.index, &mut self.rng) {
            Arrival::Started(s) => {
                self.requests.insert(id, request);
                self.start(*s);
            }
            Arrival::Queued { .. } => {
                self.requests.insert(id, request);
            }
            Arrival::Rejected { status } => self.respond(id, status, Body::Empty, false),
            Arrival::Duplicate => self.respond(id, 500, Body::Empty, false),
        }
        Arrived::Accepted(id)
    }

    /// A worker took `started`'s request: its local work runs until its exact end, slowed by
    /// the gray failure in force when it arrived.
    fn start(&mut self, started: Started) {
        let id = started.request;
        let Some(req) = self.requests.get_mut(&id) else {
            // Not ours (it cannot be: every queued request is in `requests`); free the worker
            // rather than hold it forever.
            let now = started.started_at;
            if let Some(next) = self.service.complete(now, id, &mut self.rng) {
                self.start(next);
            }
            return;
        };
        let end = slowed(&started, req.effects.slowdown);
        req.phase = Phase::Working {
            started: Box::new(started),
            end,
        };
        self.actions.push_back(Action::Wake {
            request: id,
            at: end,
        });
    }

    /// `request`'s local work ended (its [`Action::Wake`]), reported at `now`; `effects` are
    /// the task's fault effects now (a `hang` is read when a call is made).
    pub fn work_done(
        &mut self,
        now: SimTime,
        request: RequestId,
        effects: &HostEffects,
        databases: &mut Databases,
    ) {
        let Some(req) = self.requests.get_mut(&request) else {
            return;
        };
        let Phase::Working { started, end } = std::mem::replace(&mut req.phase, Phase::Queued)
        else {
            return;
        };
        req.local_end = Some((end, now));
        if let Some((share, status)) = req.effects.errors
            && self.rng.random_bool(share.clamp(0.0, 1.0))
        {
            self.finish(now, request, status, Body::Empty);
            return;
        }
        let (status, response_bytes, failure_status, mut plan) = match started.decision.outcome {
            Outcome::Fail { status } => {
                self.finish(now, request, status, Body::Empty);
                return;
            }
            Outcome::Serve {
                status,
                response_bytes,
                failure_status,
                calls,
            } => (status, response_bytes, failure_status, calls),
        };
        let ctx = OrderContext::of(&req.head, &req.params, databases);
        let endpoint = ordering::Endpoint::of(self.kind, &req.head.method, &req.head.path);
        if let Some((status, body)) = ordering::before_calls(endpoint, &ctx, databases, now) {
            self.finish(now, request, status, body);
            return;
        }
        let next = plan.start(now);
        req.phase = Phase::Calling(Box::new(Calling {
            plan,
            ctx,
            endpoint,
            status,
            response_bytes,
            failure_status,
        }));
        self.follow(now, request, next, effects, databases);
    }

    /// Call `index` of `request` ended at `now` with `outcome` (the sidecar's answer as the
    /// app reads it, or `TimedOut` from the deadline's timer); a second report of the same
    /// call is ignored.
    pub fn call_done(
        &mut self,
        now: SimTime,
        request: RequestId,
        index: CallIndex,
        outcome: CallOutcome,
        effects: &HostEffects,
        databases: &mut Databases,
    ) {
        let Some(Request {
            phase: Phase::Calling(calling),
            ..
        }) = self.requests.get_mut(&request)
        else {
            return;
        };
        let next = calling.plan.on_call_done(now, index, outcome);
        self.follow(now, request, next, effects, databases);
    }

    /// `request`'s caller left at `now` (its connection closed, the task stopped): a queued
    /// request leaves the queue (see [`Service::abandon`] for why), one holding a worker
    /// frees it; no answer is given. A request not in the app is ignored.
    pub fn abandon(&mut self, now: SimTime, request: RequestId) {
        let Some(req) = self.requests.get(&request) else {
            return;
        };
        if matches!(req.phase, Phase::Queued) && self.service.abandon(request) {
            self.requests.remove(&request);
            return;
        }
        self.release(now, request);
    }

    fn follow(
        &mut self,
        now: SimTime,
        request: RequestId,
        next: PlanNext,
        effects: &HostEffects,
        databases: &mut Databases,
    ) {
        let Some(req) = self.requests.get(&request) else {
            return;
        };
        let Phase::Calling(calling) = &req.phase else {
            return;
        };
        match next {
            PlanNext::MoreCalls(calls) => {
                for call in calls {
                    let head = call_head(&req.head, &self.propagate, calling, &call);
                    let hung = effects.hang.contains(call.call.service.as_ref());
                    self.actions.push_back(Action::Call {
                        request,
                        call,
                        head,
                        hung,
                    });
                }
            }
            PlanNext::Waiting => {}
            PlanNext::Done { failed } => {
                let (status, body) = ordering::after_calls(
                    calling.endpoint,
                    &calling.ctx,
                    databases,
                    now,
                    failed.map(|f| f.outcome),
                    calling.status,
                    calling.response_bytes,
                    calling.failure_status,
                );
                self.finish(now, request, status, body);
            }
        }
    }

    /// `request` answers at `now`: the answer goes out and its worker takes the oldest queued
    /// request.
    fn finish(&mut self, now: SimTime, request: RequestId, status: u16, body: Body) {
        self.respond(request, status, body, true);
        self.release(now, request);
    }

    /// Frees `request`'s worker (see "When a worker is free" above) for the oldest queued
    /// request.
    fn release(&mut self, now: SimTime, request: RequestId) {
        let Some(req) = self.requests.remove(&request) else {
            return;
        };
        let at = match req.local_end {
            Some((end, reported)) if reported == now => end,
            _ => now,
        };
        if let Some(next) = self.service.complete(at, request, &mut self.rng) {
            self.start(next);
        }
    }

    fn respond(&mut self, request: RequestId, status: u16, body: Body, served: bool) {
        self.actions.push_back(Action::Respond {
            request,
            status,
            body,
            served,
        });
    }
}

/// The head of a call `incoming` makes: the call's method and filled-in path; the trace
/// header and the `propagate`d ones as they came in; the Ordering ids; the idempotency key.
fn call_head(
    incoming: &AppRequest,
    propagate: &[String],
    calling: &Calling,
    call: &CallToMake,
) -> AppRequest {
    let mut head = AppRequest::new(
        call.call.method.as_str(),
        &calling.ctx.fill(&call.call.path),
    );
    if let Some(trace) = incoming.header(TRACE_HEADER) {
        head.headers
            .push((TRACE_HEADER.to_string(), trace.to_string()));
    }
    for name in propagate {
        if let Some(value) = incoming.header(name) {
            head.headers.push((name.clone(), value.to_string()));
        }
    }
    for (name, value) in calling.ctx.headers() {
        head.headers.push((name.to_string(), value.to_string()));
    }
    if let Some(key) = ordering::idempotency_key(calling.endpoint, &calling.ctx, call) {
        head.headers.push(("idempotency-key".to_string(), key));
    }
    head
}

/// When a request's local work ends under a slowdown `factor` (1: unchanged).
fn slowed(started: &Started, factor: f64) -> SimTime {
    if factor == 1.0 {
        return started.finish_at;
    }
    let work = started.finish_at.saturating_since(started.started_at);
    started.started_at + work.mul_f64(factor.max(0.0))
}

#[cfg(test)]
mod tests;
