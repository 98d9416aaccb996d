//! The apps behind the sidecars, on hyper and tokio: the driver of
//! [`model::app::AppCore`](crate::model::app::AppCore), which makes every decision of a
//! request's life in the app (endpoint, workers and queue, service time, gray failures, the
//! Ordering logic, the call plan, the answer). What is left here is the wire world's: the
//! inbound request read once into an [`AppRequest`], each end of local work put on a tick,
//! the calls sent as `http` requests through the task's sidecar with their timeouts, the
//! answer as an `http` response, gRPC framing (`grpc`), and a caller that leaves (its
//! handler dropped) reported to the core.

pub mod grpc;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use tokio::sync::{mpsc, oneshot};

pub use crate::model::ordering::{Databases, OrderContext};

use crate::engine::{SimTime, seed, time};
use crate::model::app::{Action, AppCore, Arrived};
use crate::model::calls::{CallIndex, CallOutcome, CallToMake};
use crate::model::endpoint::RequestId;
use crate::model::fault::HostEffects;
use crate::model::request::{AppRequest, Body};
use crate::model::service::{Service, ServiceConfig};
use crate::proxy::outbound::effective_status;
use crate::proxy::{Handler, Payload, Sidecar, wire};

/// One task's app.
#[derive(Debug)]
pub struct App {
    core: RefCell<AppCore>,
    sidecar: Rc<Sidecar>,
    databases: Rc<RefCell<Databases>>,
    /// Puts each end of local work on a tick ([`time::dither`]); a stream of its own, so the
    /// decisions the core draws stay the same whatever the service times are.
    rounding: RefCell<seed::Rng>,
    /// The requests waiting for a worker: the core's [`Action::Wake`] for one is handed to
    /// its handler here, from whichever handler's step started it.
    waiting: RefCell<BTreeMap<RequestId, oneshot::Sender<SimTime>>>,
}

/// How a finished call went, as the app sees it.
struct CallResult {
    index: CallIndex,
    outcome: CallOutcome,
}

impl App {
    /// An app for one task (see [`AppCore::new`]).
    pub fn new(
        config: &ServiceConfig,
        service: Service,
        sidecar: Rc<Sidecar>,
        databases: Rc<RefCell<Databases>>,
        seed: u64,
        health_paths: Vec<String>,
    ) -> App {
        let task = &sidecar.identity.task;
        let core = AppCore::new(task, config, service, seed, health_paths);
        let rounding = seed::stream(seed, &format!("app/{task}/rounding"));
        App {
            core: RefCell::new(core),
            sidecar,
            databases,
            rounding: RefCell::new(rounding),
            waiting: RefCell::new(BTreeMap::new()),
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

    fn effects(&self) -> HostEffects {
        self.sidecar.fault_effects().unwrap_or_default()
    }

    async fn handle(self: Rc<Self>, req: AppRequest) -> Response<Payload> {
        let arrived = {
            let effects = self.effects();
            self.core.borrow_mut().arrive(wire::now(), &req, effects)
        };
        let id = match arrived {
            Arrived::Answer { status } => return respond(status, Payload::empty()),
            Arrived::Accepted(id) => id,
        };
        let mut hold = Hold {
            app: Rc::clone(&self),
            id,
            answered: false,
        };
        let mut mine = self.take_actions(id);
        if mine.is_empty() {
            // Queued: another request's step hands it the end of its local work.
            let (tx, rx) = oneshot::channel();
            self.waiting.borrow_mut().insert(id, tx);
            let Ok(at) = rx.await else {
                return respond(503, Payload::empty());
            };
            mine.push_back(Action::Wake { request: id, at });
        }
        let mut calls: Option<(mpsc::UnboundedSender<_>, mpsc::UnboundedReceiver<_>)> = None;
        loop {
            let Some(action) = mine.pop_front() else {
                // Waiting for a call.
                let (_, rx) = calls.get_or_insert_with(mpsc::unbounded_channel::<CallResult>);
                let Some(r) = rx.recv().await else {
                    return respond(503, Payload::empty());
                };
                let effects = self.effects();
                self.core.borrow_mut().call_done(
                    wire::now(),
                    id,
                    r.index,
                    r.outcome,
                    &effects,
                    &mut self.databases.borrow_mut(),
                );
                mine = self.take_actions(id);
                continue;
            };
            match action {
                Action::Wake { at, .. } => {
                    // The work ends at an exact instant; the world can only wake on a tick, so
                    // the answer goes out on a neighbouring one, chosen so the mean is exact. A
                    // request started from the queue at an exact instant in the tick just gone
                    // may already be past its end: it goes on now.
                    let wake = time::dither(at, &mut *self.rounding.borrow_mut());
                    wire::sleep_until(wake).await;
                    let effects = self.effects();
                    self.core.borrow_mut().work_done(
                        wire::now(),
                        id,
                        &effects,
                        &mut self.databases.borrow_mut(),
                    );
                    mine = self.take_actions(id);
                }
                Action::Call {
                    call, head, hung, ..
                } => {
                    let (tx, _) = calls.get_or_insert_with(mpsc::unbounded_channel::<CallResult>);
                    self.spawn_call(call, head, hung, tx.clone());
                }
                Action::Respond {
                    status,
                    body,
                    served,
                    ..
                } => {
                    if served {
                        self.sidecar.served_request();
                    }
                    hold.answered = true;
                    return respond(status, payload(body));
                }
            }
        }
    }

    /// Takes the core's actions: those for `me` are returned, in order; a start of a queued
    /// request is handed to its handler.
    fn take_actions(&self, me: RequestId) -> std::collections::VecDeque<Action> {
        let mut mine = std::collections::VecDeque::new();
        loop {
            let action = self.core.borrow_mut().poll_action();
            let Some(action) = action else {
                return mine;
            };
            if action.request() == me {
                mine.push_back(action);
                continue;
            }
            // Only a start can be for another request: calls and answers come from the
            // request's own steps.
            if let Action::Wake { request, at } = action {
                let waiter = self.waiting.borrow_mut().remove(&request);
                if waiter.is_none_or(|tx| tx.send(at).is_err()) {
                    // Its caller left while it waited: free the worker again.
                    self.core.borrow_mut().abandon(wire::now(), request);
                }
            }
        }
    }

    /// Sends one call through the sidecar (or holds it, `hung`) and reports how it ended on
    /// `tx`, a timeout at its deadline included.
    fn spawn_call(
        &self,
        call: CallToMake,
        mut head: AppRequest,
        hung: bool,
        tx: mpsc::UnboundedSender<CallResult>,
    ) {
        let service = call.call.service.to_string();
        let grpc = self.sidecar.service_protocol(&service) == crate::config::model::Protocol::Grpc;
        if grpc {
            head.as_grpc_call();
        }
        let Some(req) = wire_request(&head) else {
            let _ = tx.send(CallResult {
                index: call.index,
                outcome: CallOutcome::Status(400),
            });
            return;
        };
        let sidecar = Rc::clone(&self.sidecar);
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

/// A call's head as an `http` request; `None` when `http` refuses it (a path or header value
/// it cannot carry), which the app reads as a 400.
fn wire_request(head: &AppRequest) -> Option<Request<Payload>> {
    let mut builder = Request::builder()
        .method(head.method.as_str())
        .uri(head.path.as_str());
    for (name, value) in &head.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(Payload::empty()).ok()
}

/// The bytes of an answer's body.
fn payload(body: Body) -> Payload {
    match body {
        Body::Empty => Payload::empty(),
        Body::Filler(n) => Payload::filler(n),
        Body::Text(t) => Payload::new(Bytes::from(t.into_bytes())),
    }
}

/// A request's place in the app, given back however its handler ends: a handler dropped
/// before it answered (its caller left) is reported to the core.
struct Hold {
    app: Rc<App>,
    id: RequestId,
    answered: bool,
}

impl Drop for Hold {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        self.app.waiting.borrow_mut().remove(&self.id);
        self.app.core.borrow_mut().abandon(wire::now(), self.id);
        self.app.take_actions(self.id);
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
