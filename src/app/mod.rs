//! The apps behind the sidecars: a service's workers, queue and per-endpoint behaviour (from
//! [`model`](crate::model)) run on simulated time, calling backends through the task's
//! sidecar, plus the Ordering app's business logic and state.
//!
//! One request's life in an app: match an endpoint (404 if none), take a worker or wait in
//! the FIFO queue (or be rejected by a full one), spend the service time, make the backend
//! calls step by step, answer. The worker is held until the answer goes out.

pub mod grpc;
mod ordering;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use tokio::sync::{mpsc, oneshot};

pub use ordering::{Databases, OrderContext};

use rand::Rng as _;

use crate::engine::{SimTime, seed, time};
use crate::model::calls::{CallOutcome, CallToMake, PlanNext};
use crate::model::endpoint::{Arrival, Outcome, RequestId, Started};
use crate::model::fault::HostEffects;
use crate::model::request::AppRequest;
use crate::model::service::{AppKind, Service, ServiceConfig};
use crate::proxy::outbound::effective_status;
use crate::proxy::telemetry::TRACE_HEADER;
use crate::proxy::{Handler, Payload, Sidecar, wire};

/// One task's app.
#[derive(Debug)]
pub struct App {
    kind: AppKind,
    service: RefCell<Service>,
    sidecar: Rc<Sidecar>,
    databases: Rc<RefCell<Databases>>,
    rng: RefCell<seed::Rng>,
    /// Puts each end of local work on a tick ([`time::dither`]); a stream of its own, so the
    /// decisions `rng` draws stay the same whatever the service times are.
    rounding: RefCell<seed::Rng>,
    next_id: Cell<u64>,
    waiting: RefCell<BTreeMap<RequestId, oneshot::Sender<Started>>>,
    health_paths: Vec<String>,
    propagate: Vec<http::HeaderName>,
}

/// How a finished call went, as the app sees it.
struct CallResult {
    index: crate::model::calls::CallIndex,
    outcome: CallOutcome,
}

impl App {
    /// An app for one task. `health_paths` are answered 200 at once when no endpoint claims
    /// them, so a mesh health check does not need an endpoint in the scenario.
    pub fn new(
        config: &ServiceConfig,
        service: Service,
        sidecar: Rc<Sidecar>,
        databases: Rc<RefCell<Databases>>,
        seed: u64,
        health_paths: Vec<String>,
    ) -> App {
        let rng = seed::stream(seed, &format!("app/{}", sidecar.identity.task));
        let rounding = seed::stream(seed, &format!("app/{}/rounding", sidecar.identity.task));
        App {
            kind: config.app,
            service: RefCell::new(service),
            sidecar,
            databases,
            rng: RefCell::new(rng),
            rounding: RefCell::new(rounding),
            next_id: Cell::new(0),
            waiting: RefCell::new(BTreeMap::new()),
            health_paths,
            // Names were checked when the scenario loaded; one that is not a header name
            // could never have been sent to the app anyway.
            propagate: config
                .propagate_headers
                .iter()
                .filter_map(|h| {
                    http::HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes()).ok()
                })
                .collect(),
        }
    }

    /// The handler the sidecar's inbound listener calls: the wire request is read once into
    /// the app's [`AppRequest`] here, at the boundary, and the app's logic sees only that.
    pub fn handler(self: &Rc<Self>) -> Handler {
        let app = Rc::clone(self);
        Rc::new(move |req| {
            let app = Rc::clone(&app);
            let req = app_request(&req);
            Box::pin(async move { app.handle(req).await })
        })
    }

    async fn handle(self: Rc<Self>, req: AppRequest) -> Response<Payload> {
        let (method, path) = (req.method.as_str(), req.path.as_str());
        let matched = self.service.borrow().match_endpoint(method, path);
        let Some(matched) = matched else {
            if self.health_paths.iter().any(|p| p == path) {
                return respond(200, Payload::empty());
            }
            return respond(404, Payload::empty());
        };
        let id = RequestId(self.next_id.get());
        self.next_id.set(id.0 + 1);
        let effects = self.sidecar.fault_effects().unwrap_or_default();
        self.apply_worker_cap(effects.workers);
        let arrival = {
            let mut service = self.service.borrow_mut();
            service.arrive(wire::now(), id, matched.index, &mut *self.rng.borrow_mut())
        };
        let started = match arrival {
            Arrival::Started(s) => *s,
            Arrival::Queued { .. } => {
                let (tx, rx) = oneshot::channel();
                self.waiting.borrow_mut().insert(id, tx);
                let mut queued = Worker {
                    app: Rc::clone(&self),
                    id,
                    state: WorkerState::Queued,
                    local_end: None,
                };
                let Ok(s) = rx.await else {
                    return respond(503, Payload::empty());
                };
                queued.state = WorkerState::Free;
                s
            }
            Arrival::Rejected { status } => return respond(status, Payload::empty()),
            Arrival::Duplicate => return respond(500, Payload::empty()),
        };
        let mut worker = Worker {
            app: Rc::clone(&self),
            id,
            state: WorkerState::Busy,
            local_end: None,
        };
        // The work ends at an exact instant; the world can only wake on a tick, so the answer
        // goes out on a neighbouring one, chosen so the mean is exact. The pool keeps the exact
        // instant: the worker's next request starts from it, not from the tick.
        let end = slowed(&started, effects.slowdown);
        let wake = time::dither(end, &mut *self.rounding.borrow_mut());
        wire::sleep_until(wake).await;
        // A request started from the queue at an exact instant in the tick just gone (its
        // worker freed there) may already be past its end: it answers now.
        worker.local_end = Some((end, wire::now()));
        let response = self.serve(&req, &matched, started, &effects).await;
        self.sidecar.served_request();
        drop(worker);
        response
    }

    /// The request's fate once its local work is done: a gray-failure error, the model's own
    /// error, or the calls and the Ordering logic.
    async fn serve(
        &self,
        req: &AppRequest,
        matched: &crate::model::EndpointMatch,
        started: Started,
        effects: &HostEffects,
    ) -> Response<Payload> {
        if let Some((share, status)) = effects.errors
            && self.rng.borrow_mut().random_bool(share.clamp(0.0, 1.0))
        {
            return respond(status, Payload::empty());
        }
        match started.decision.outcome {
            Outcome::Fail { status } => respond(status, Payload::empty()),
            Outcome::Serve {
                status,
                response_bytes,
                failure_status,
                calls,
            } => {
                let ctx = OrderContext::of(req, &matched.params, &self.databases);
                let endpoint = ordering::Endpoint::of(self.kind, &req.method, &req.path);
                if let Some(resp) = ordering::before_calls(endpoint, &ctx, &self.databases) {
                    return resp;
                }
                let results = self.run_calls(req, &ctx, endpoint, calls).await;
                ordering::after_calls(
                    endpoint,
                    &ctx,
                    &self.databases,
                    results,
                    status,
                    response_bytes,
                    failure_status,
                )
            }
        }
    }

    /// Runs the call plan; returns the first required call that failed, and its status.
    async fn run_calls(
        &self,
        incoming: &AppRequest,
        ctx: &OrderContext,
        endpoint: ordering::Endpoint,
        mut plan: crate::model::calls::CallPlan,
    ) -> ordering::CallsResult {
        let trace = incoming.header(TRACE_HEADER).map(str::to_string);
        let carried: Vec<(http::HeaderName, String)> = self
            .propagate
            .iter()
            .filter_map(|h| {
                incoming
                    .header(h.as_str())
                    .map(|v| (h.clone(), v.to_string()))
            })
            .collect();
        let (tx, mut rx) = mpsc::unbounded_channel::<CallResult>();
        let mut next = plan.start(wire::now());
        loop {
            match next {
                PlanNext::MoreCalls(calls) => {
                    for call in calls {
                        self.spawn_call(call, trace.clone(), &carried, ctx, endpoint, tx.clone());
                    }
                    next = PlanNext::Waiting;
                }
                PlanNext::Waiting => {
                    let Some(r) = rx.recv().await else {
                        return ordering::CallsResult { failed: None };
                    };
                    next = plan.on_call_done(wire::now(), r.index, r.outcome);
                }
                PlanNext::Done { failed } => {
                    return ordering::CallsResult {
                        failed: failed.map(|f| f.outcome),
                    };
                }
            }
        }
    }

    fn spawn_call(
        &self,
        call: CallToMake,
        trace: Option<String>,
        carried: &[(http::HeaderName, String)],
        ctx: &OrderContext,
        endpoint: ordering::Endpoint,
        tx: mpsc::UnboundedSender<CallResult>,
    ) {
        let path = ctx.fill(&call.call.path);
        let mut builder = Request::builder()
            .method(call.call.method.as_str())
            .uri(path.as_str());
        if let Some(t) = trace {
            builder = builder.header(TRACE_HEADER, t);
        }
        for (name, value) in carried {
            builder = builder.header(name, value.as_str());
        }
        for (name, value) in ctx.headers() {
            builder = builder.header(name, value);
        }
        if let Some(key) = ordering::idempotency_key(endpoint, ctx, &call) {
            builder = builder.header("idempotency-key", key);
        }
        let Ok(mut req) = builder.body(Payload::empty()) else {
            let _ = tx.send(CallResult {
                index: call.index,
                outcome: CallOutcome::Status(400),
            });
            return;
        };
        let sidecar = Rc::clone(&self.sidecar);
        let service = call.call.service.to_string();
        let hung = self
            .sidecar
            .fault_effects()
            .is_some_and(|e| e.hang.contains(&service));
        if sidecar.service_protocol(&service) == crate::config::model::Protocol::Grpc {
            grpc::as_call(&mut req);
        }
        tokio::task::spawn_local(async move {
            let answer = if hung {
                // A hung dependency: the call never gets an answer; only a timeout ends it.
                wire::until(call.deadline, std::future::pending()).await
            } else {
                wire::until(call.deadline, sidecar.call(&service, req)).await
            };
            let outcome = match answer {
                None => CallOutcome::TimedOut,
                Some(resp) => CallOutcome::Status(effective_status(&resp)),
            };
            let _ = tx.send(CallResult {
                index: call.index,
                outcome,
            });
        });
    }

    /// Applies a saturation fault's worker cap (or lifts it); queued requests a rising cap
    /// starts are handed to their waiters.
    fn apply_worker_cap(&self, cap: Option<u32>) {
        let started = {
            let mut service = self.service.borrow_mut();
            service.set_worker_cap(wire::now(), cap, &mut *self.rng.borrow_mut())
        };
        for s in started {
            let request = s.request;
            let waiter = self.waiting.borrow_mut().remove(&request);
            if waiter.is_none_or(|tx| tx.send(s).is_err()) {
                // Its caller left while it waited: free the worker again.
                self.release(request, wire::now());
            }
        }
    }

    /// Frees `id`'s worker at `at` (now, or the exact end of its local work within this
    /// tick), handing it to the oldest queued request whose caller still waits.
    fn release(&self, id: RequestId, at: SimTime) {
        let next = {
            let mut service = self.service.borrow_mut();
            service.complete(at, id, &mut *self.rng.borrow_mut())
        };
        let mut next = next;
        while let Some(started) = next {
            let waiter = self.waiting.borrow_mut().remove(&started.request);
            let request = started.request;
            match waiter {
                Some(tx) => match tx.send(started) {
                    Ok(()) => return,
                    Err(s) => {
                        // Its caller left while it waited: the worker is free again at once.
                        let at = s.started_at;
                        let mut service = self.service.borrow_mut();
                        next = service.complete(at, request, &mut *self.rng.borrow_mut());
                    }
                },
                None => return,
            }
        }
    }

    fn abandon(&self, id: RequestId) {
        self.waiting.borrow_mut().remove(&id);
        self.service.borrow_mut().abandon(id);
    }
}

/// The app's reading of a wire request: method, path and headers (each value as text; a
/// header value's bytes are kept, read as UTF-8, so an app that passes it on sends the same).
fn app_request(req: &Request<Payload>) -> AppRequest {
    AppRequest {
        method: req.method().as_str().to_string(),
        path: req.uri().path().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.as_str().to_string(), value)
            })
            .collect(),
    }
}

/// When a request's local work ends under a slowdown `factor` (1: unchanged).
fn slowed(started: &Started, factor: f64) -> SimTime {
    if factor == 1.0 {
        return started.finish_at;
    }
    let work = started.finish_at.saturating_since(started.started_at);
    started.started_at + work.mul_f64(factor.max(0.0))
}

/// A request's hold on a worker (or its place in the queue), given back however the request
/// ends.
struct Worker {
    app: Rc<App>,
    id: RequestId,
    state: WorkerState,
    /// The exact end of its local work and the tick its answer was put on, once reached.
    /// Answered on that tick (no backend call took time), the worker is free from the exact
    /// end, which may lie in the tick before or after: freeing it at the tick instead would
    /// lengthen every rounded-up service by the rest of the tick (a sixth of a tick on
    /// average), which at 70 % load made an M/M/1 queue 4-5 % slower than Erlang C.
    local_end: Option<(SimTime, SimTime)>,
}

enum WorkerState {
    Free,
    Queued,
    Busy,
}

impl Drop for Worker {
    fn drop(&mut self) {
        match self.state {
            WorkerState::Free => {}
            WorkerState::Queued => self.app.abandon(self.id),
            WorkerState::Busy => {
                let now = wire::now();
                let at = match self.local_end {
                    Some((end, woke)) if woke == now => end,
                    _ => now,
                };
                self.app.release(self.id, at);
            }
        }
    }
}

/// A response with `status` and `body`.
pub fn respond(status: u16, body: Payload) -> Response<Payload> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r
}

/// A response with a short text body.
pub fn respond_text(status: u16, text: &str) -> Response<Payload> {
    respond(
        status,
        Payload::new(Bytes::copy_from_slice(text.as_bytes())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_request_is_read_once_into_the_app_s_request() {
        let req = Request::builder()
            .method("M-SEARCH")
            .uri("/items/sku-1?verbose=1")
            .header("X-Order-Id", "ord-1")
            .header("x-order-id", "ord-2")
            .header(
                "x-note",
                http::HeaderValue::from_bytes("café".as_bytes()).expect("obs-text"),
            )
            .body(Payload::empty())
            .expect("a request");
        let head = app_request(&req);
        assert_eq!(head.method, "M-SEARCH", "custom methods pass as sent");
        assert_eq!(head.path, "/items/sku-1", "the path without the query");
        assert_eq!(
            head.headers,
            vec![
                ("x-order-id".to_string(), "ord-1".to_string()),
                ("x-order-id".to_string(), "ord-2".to_string()),
                ("x-note".to_string(), "café".to_string()),
            ]
        );
        // Passed on, a value goes out as the bytes that came in.
        let value = http::HeaderValue::try_from(head.header("x-note").unwrap_or_default());
        assert_eq!(
            value.ok().map(|v| v.as_bytes().to_vec()),
            Some("café".as_bytes().to_vec())
        );
    }
}
