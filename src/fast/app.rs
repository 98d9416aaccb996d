//! One task's app on events: the wire app's decisions (`app::App` in src/app/mod.rs), made
//! by the same model code in the same order from the same random streams, with the awaiting
//! replaced by actions a driver turns into events.
//!
//! A request's life, as in the wire app: match an endpoint (a health path answers 200, any
//! other unmatched path 404, neither takes a request number); apply a saturation fault's
//! worker cap; take a worker, wait in the shared FIFO queue, or be turned away by a full one;
//! at the exact end of the local work (slowed by a gray failure), roll the gray failure's
//! error share, then answer the model's own error or run the call plan step by step; answer,
//! and hand the worker to the oldest queued request.
//!
//! **Random streams.** `app/<task>` as the wire app names it, drawn in its order: the worker
//! cap's starts and the arrival (`Service::set_worker_cap`, `Service::arrive`, both drawing
//! the service time and fate of whatever they start), the error share's roll at the end of the
//! local work, and `Service::complete` when the answer leaves. The wire app's second stream,
//! `app/<task>/rounding`, puts each end of local work on a 1 ms tick; exact time needs no
//! rounding, so fast mode never draws from it, and the decisions stay equal because it is a
//! stream of its own. Whether the two backends draw in the same order across requests depends
//! on events happening in the same order, which the tick reorders within a millisecond: they
//! can agree in distribution, not request by request.
//!
//! **What the driver does.** It calls [`FastApp::arrive`] when a request reaches the app
//! (from the inbound listener chain), then carries out [`FastApp::poll_action`]'s actions:
//! a [`Action::Wake`] becomes an event that calls [`FastApp::work_done`]; a [`Action::Call`]
//! goes out through the task's sidecar (or nowhere, when `hung`), with a timer at its
//! deadline, and whichever of the answer and the timer comes first is reported to
//! [`FastApp::call_done`] (the plan ignores the second); a [`Action::Respond`] goes back
//! through the inbound listener, and when `served` the driver tells the fault board
//! (`Effects::on_request_served`, which drives leaks). A crash drops the app; a restart
//! builds a new one, whose stream starts again as the wire world's host factory makes it do.
//!
//! **Not yet: the Ordering app.** Its logic (src/app/ordering.rs: order and SKU from headers
//! and the trace root, reservations, confirmations, the 409 pass-through) reads and writes
//! `http` requests and responses, so fast mode cannot call it; it has to move into
//! `model::ordering` over plain values first. [`FastApp::new`] refuses an Ordering service.

use std::collections::{BTreeMap, VecDeque};

use rand::Rng as _;

use crate::engine::{SimTime, seed};
use crate::model::EndpointMatch;
use crate::model::calls::{CallIndex, CallOutcome, CallPlan, CallToMake, PlanNext};
use crate::model::endpoint::{Arrival, Outcome, RequestId, Started};
use crate::model::fault::HostEffects;
use crate::model::service::{AppKind, Service};

/// What the driver does next for the app.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The request's local work ends at `at`: call [`FastApp::work_done`] then.
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
        /// The call, with its index, deadline and idempotency key.
        call: CallToMake,
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
        /// The body's size.
        body_bytes: u64,
        /// The request reached a worker: tell the fault board a request was served.
        served: bool,
    },
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
    /// Numbered; its actions follow through [`FastApp::poll_action`].
    Accepted(RequestId),
}

/// The app cannot be driven in fast mode yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// An Ordering service: its logic still reads `http` values in src/app/ordering.rs.
    #[error("the Ordering app ({0:?}) is not in fast mode yet: its logic lives in src/app")]
    Ordering(AppKind),
}

/// A request's state inside the app.
#[derive(Debug)]
struct Request {
    /// The fault effects when it arrived (the wire app reads them once, at arrival).
    effects: HostEffects,
    phase: Phase,
}

#[derive(Debug)]
enum Phase {
    /// Waiting for a worker.
    Queued,
    /// Doing its local work.
    Working(Box<Started>),
    /// Waiting for its calls.
    Calling {
        plan: CallPlan,
        status: u16,
        response_bytes: u64,
        failure_status: u16,
    },
}

/// One task's app, driven by events.
#[derive(Debug)]
pub struct FastApp {
    task: String,
    service: Service,
    rng: seed::Rng,
    next_id: u64,
    health_paths: Vec<String>,
    requests: BTreeMap<RequestId, Request>,
    actions: VecDeque<Action>,
}

impl FastApp {
    /// The app of `task`, from the master `seed` (the stream `app/<task>`, as the wire app
    /// names it).
    pub fn new(
        task: &str,
        service: Service,
        seed: u64,
        health_paths: Vec<String>,
    ) -> Result<FastApp, Unsupported> {
        if service.app().is_ordering() {
            return Err(Unsupported::Ordering(service.app()));
        }
        Ok(FastApp {
            task: task.to_string(),
            rng: seed::stream(seed, &format!("app/{task}")),
            service,
            next_id: 0,
            health_paths,
            requests: BTreeMap::new(),
            actions: VecDeque::new(),
        })
    }

    /// The task.
    pub fn task(&self) -> &str {
        &self.task
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

    /// A request `method path` reaches the app at `now`, with the task's fault `effects`
    /// at this moment (default: none).
    pub fn arrive(
        &mut self,
        now: SimTime,
        method: &str,
        path: &str,
        effects: HostEffects,
    ) -> Arrived {
        let Some(EndpointMatch { index, .. }) = self.service.match_endpoint(method, path) else {
            let status = if self.health_paths.iter().any(|p| p == path) {
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
        match self.service.arrive(now, id, index, &mut self.rng) {
            Arrival::Started(s) => {
                self.requests.insert(
                    id,
                    Request {
                        effects,
                        phase: Phase::Queued,
                    },
                );
                self.start(*s);
            }
            Arrival::Queued { .. } => {
                self.requests.insert(
                    id,
                    Request {
                        effects,
                        phase: Phase::Queued,
                    },
                );
            }
            Arrival::Rejected { status } => self.respond(id, status, 0, false),
            Arrival::Duplicate => self.respond(id, 500, 0, false),
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
        let at = slowed(&started, req.effects.slowdown);
        req.phase = Phase::Working(Box::new(started));
        self.actions.push_back(Action::Wake { request: id, at });
    }

    /// `request`'s local work ended at `now` (its [`Action::Wake`]); `effects` are the
    /// task's fault effects now (a `hang` is read when a call is made, as the wire app
    /// reads it).
    pub fn work_done(&mut self, now: SimTime, request: RequestId, effects: &HostEffects) {
        let Some(req) = self.requests.get_mut(&request) else {
            return;
        };
        let Phase::Working(started) = std::mem::replace(&mut req.phase, Phase::Queued) else {
            return;
        };
        if let Some((share, status)) = req.effects.errors
            && self.rng.random_bool(share.clamp(0.0, 1.0))
        {
            self.finish(now, request, status, 0);
            return;
        }
        match started.decision.outcome {
            Outcome::Fail { status } => self.finish(now, request, status, 0),
            Outcome::Serve {
                status,
                response_bytes,
                failure_status,
                mut calls,
            } => {
                let next = calls.start(now);
                if let Some(req) = self.requests.get_mut(&request) {
                    req.phase = Phase::Calling {
                        plan: calls,
                        status,
                        response_bytes,
                        failure_status,
                    };
                }
                self.follow(now, request, next, effects);
            }
        }
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
    ) {
        let Some(Request {
            phase: Phase::Calling { plan, .. },
            ..
        }) = self.requests.get_mut(&request)
        else {
            return;
        };
        let next = plan.on_call_done(now, index, outcome);
        self.follow(now, request, next, effects);
    }

    fn follow(&mut self, now: SimTime, request: RequestId, next: PlanNext, effects: &HostEffects) {
        match next {
            PlanNext::MoreCalls(calls) => {
                for call in calls {
                    let hung = effects.hang.contains(call.call.service.as_ref());
                    self.actions.push_back(Action::Call {
                        request,
                        call,
                        hung,
                    });
                }
            }
            PlanNext::Waiting => {}
            PlanNext::Done { failed } => {
                let Some(Request {
                    phase:
                        Phase::Calling {
                            status,
                            response_bytes,
                            failure_status,
                            ..
                        },
                    ..
                }) = self.requests.get(&request)
                else {
                    return;
                };
                // The generic app's answer (`ordering::after_calls` for a generic endpoint):
                // the endpoint's status and body, or its failure status.
                let (status, bytes) = match failed {
                    None => (*status, *response_bytes),
                    Some(_) => (*failure_status, 0),
                };
                self.finish(now, request, status, bytes);
            }
        }
    }

    /// `request` answers at `now`: the answer goes out and its worker takes the oldest queued
    /// request.
    fn finish(&mut self, now: SimTime, request: RequestId, status: u16, body_bytes: u64) {
        self.requests.remove(&request);
        self.respond(request, status, body_bytes, true);
        if let Some(next) = self.service.complete(now, request, &mut self.rng) {
            self.start(next);
        }
    }

    fn respond(&mut self, request: RequestId, status: u16, body_bytes: u64, served: bool) {
        self.actions.push_back(Action::Respond {
            request,
            status,
            body_bytes,
            served,
        });
    }
}

/// When a request's local work ends under a slowdown `factor` (1: unchanged), as the wire
/// app's `slowed`.
fn slowed(started: &Started, factor: f64) -> SimTime {
    if factor == 1.0 {
        return started.finish_at;
    }
    let work = started.finish_at.saturating_since(started.started_at);
    started.started_at + work.mul_f64(factor.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::service::ServiceConfig;
    use std::time::Duration;

    fn ms(n: u64) -> SimTime {
        SimTime::from_millis(n)
    }

    fn service(json: &str) -> Service {
        serde_json::from_str::<ServiceConfig>(json)
            .expect("deserialises")
            .build()
            .expect("valid")
    }

    fn app(json: &str) -> FastApp {
        FastApp::new("svc-v1-1", service(json), 42, vec!["/ping".into()]).expect("generic")
    }

    fn actions(a: &mut FastApp) -> Vec<Action> {
        std::iter::from_fn(|| a.poll_action()).collect()
    }

    fn none() -> HostEffects {
        HostEffects::default()
    }

    const ONE_WORKER: &str = r#"{"workers": 1, "max_queue": 1,
        "endpoints": [{"path": "/work", "service_time": "2ms", "response_size": 10}]}"#;

    #[test]
    fn one_worker_serves_in_order_and_the_next_starts_at_the_exact_end() {
        let mut a = app(ONE_WORKER);
        let t0 = SimTime::from_duration(Duration::from_nanos(1_234_567));
        assert_eq!(
            a.arrive(t0, "GET", "/work", none()),
            Arrived::Accepted(RequestId(0))
        );
        assert_eq!(
            a.arrive(t0, "GET", "/work", none()),
            Arrived::Accepted(RequestId(1))
        );
        // The queue (1) is full: the third is turned away, not served.
        assert_eq!(
            a.arrive(t0, "GET", "/work", none()),
            Arrived::Accepted(RequestId(2))
        );
        let end = t0 + Duration::from_millis(2);
        assert_eq!(
            actions(&mut a),
            vec![
                Action::Wake {
                    request: RequestId(0),
                    at: end
                },
                Action::Respond {
                    request: RequestId(2),
                    status: 503,
                    body_bytes: 0,
                    served: false
                },
            ]
        );
        a.work_done(end, RequestId(0), &none());
        assert_eq!(
            actions(&mut a),
            vec![
                Action::Respond {
                    request: RequestId(0),
                    status: 200,
                    body_bytes: 10,
                    served: true
                },
                Action::Wake {
                    request: RequestId(1),
                    at: end + Duration::from_millis(2)
                },
            ]
        );
        assert_eq!(a.in_flight(), 1);
        assert_eq!(a.service().stats().rejected, 1);
    }

    #[test]
    fn unmatched_paths_answer_at_once_without_a_request_number() {
        let mut a = app(ONE_WORKER);
        assert_eq!(
            a.arrive(ms(0), "GET", "/ping", none()),
            Arrived::Answer { status: 200 }
        );
        assert_eq!(
            a.arrive(ms(0), "GET", "/nope", none()),
            Arrived::Answer { status: 404 }
        );
        assert_eq!(
            a.arrive(ms(0), "GET", "/work", none()),
            Arrived::Accepted(RequestId(0))
        );
    }

    const CALLS: &str = r#"{"workers": 4, "endpoints": [{"path": "/", "service_time": "1ms",
        "error_status": 502, "response_size": 5, "calls": [
            {"call": {"service": "a", "path": "/a", "timeout": "50ms"}},
            {"parallel": [{"service": "b", "path": "/b"},
                          {"service": "c", "path": "/c", "on_failure": "tolerate"}]}
        ]}]}"#;

    fn calls_of(actions: &[Action]) -> Vec<(usize, String, Option<SimTime>, bool)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Call { call, hung, .. } => Some((
                    call.index.0,
                    call.call.service.to_string(),
                    call.deadline,
                    *hung,
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_call_plan_runs_step_by_step_and_answers_by_its_outcome() {
        let mut a = app(CALLS);
        let Arrived::Accepted(id) = a.arrive(ms(0), "GET", "/", none()) else {
            panic!()
        };
        assert_eq!(
            actions(&mut a),
            vec![Action::Wake {
                request: id,
                at: ms(1)
            }]
        );
        a.work_done(ms(1), id, &none());
        assert_eq!(
            calls_of(&actions(&mut a)),
            vec![(0, "a".into(), Some(ms(51)), false)]
        );
        a.call_done(ms(5), id, CallIndex(0), CallOutcome::Status(200), &none());
        assert_eq!(
            calls_of(&actions(&mut a)),
            vec![(1, "b".into(), None, false), (2, "c".into(), None, false)]
        );
        // A tolerated failure does not fail the request; the step waits for both.
        a.call_done(ms(6), id, CallIndex(2), CallOutcome::Reset, &none());
        assert!(actions(&mut a).is_empty());
        a.call_done(ms(9), id, CallIndex(1), CallOutcome::Status(200), &none());
        assert_eq!(
            actions(&mut a),
            vec![Action::Respond {
                request: id,
                status: 200,
                body_bytes: 5,
                served: true
            }]
        );
        assert_eq!(a.in_flight(), 0);
    }

    #[test]
    fn a_required_call_that_times_out_fails_the_request_and_a_late_answer_is_ignored() {
        let mut a = app(CALLS);
        let Arrived::Accepted(id) = a.arrive(ms(0), "GET", "/", none()) else {
            panic!()
        };
        a.work_done(ms(1), id, &none());
        actions(&mut a);
        a.call_done(ms(51), id, CallIndex(0), CallOutcome::TimedOut, &none());
        assert_eq!(
            actions(&mut a),
            vec![Action::Respond {
                request: id,
                status: 502,
                body_bytes: 0,
                served: true
            }]
        );
        a.call_done(ms(60), id, CallIndex(0), CallOutcome::Status(200), &none());
        assert!(actions(&mut a).is_empty());
    }

    #[test]
    fn gray_failures_slow_the_work_fail_a_share_and_hang_calls() {
        let mut a = app(CALLS);
        let slow = HostEffects {
            slowdown: 3.0,
            errors: Some((1.0, 503)),
            ..HostEffects::default()
        };
        let Arrived::Accepted(id) = a.arrive(ms(10), "GET", "/", slow) else {
            panic!()
        };
        assert_eq!(
            actions(&mut a),
            vec![Action::Wake {
                request: id,
                at: ms(13)
            }]
        );
        a.work_done(ms(13), id, &none());
        assert_eq!(
            actions(&mut a),
            vec![Action::Respond {
                request: id,
                status: 503,
                body_bytes: 0,
                served: true
            }]
        );
        // A hang is read when the call is made.
        let Arrived::Accepted(id) = a.arrive(ms(20), "GET", "/", none()) else {
            panic!()
        };
        let hang = HostEffects {
            hang: ["a".to_string()].into(),
            ..HostEffects::default()
        };
        a.work_done(ms(21), id, &hang);
        assert_eq!(
            calls_of(&actions(&mut a)),
            vec![(0, "a".into(), Some(ms(71)), true)]
        );
    }

    #[test]
    fn decisions_come_from_the_wire_apps_stream_in_its_order() {
        // Exponential service times through the app, against the same model driven directly
        // from `app/<task>` in the wire app's order (cap, arrive, …, complete).
        let json = r#"{"workers": 2, "endpoints": [{"path": "/", "service_time":
            {"distribution": "exponential", "mean": "10ms"}}]}"#;
        let mut a = app(json);
        let mut reference = service(json);
        let mut rng = seed::stream(42, "app/svc-v1-1");
        let mut wakes = Vec::new();
        let mut want = Vec::new();
        for i in 0..3u64 {
            let now = ms(i);
            a.arrive(now, "GET", "/", none());
            reference.set_worker_cap(now, None, &mut rng);
            if let Arrival::Started(s) = reference.arrive(now, RequestId(i), 0, &mut rng) {
                want.push(s.finish_at);
            }
        }
        // The first to finish frees its worker for the queued third.
        while let Some(action) = a.poll_action() {
            if let Action::Wake { at, .. } = action {
                wakes.push(at);
            }
        }
        assert_eq!(wakes, want);
        let first = want.iter().copied().enumerate().min_by_key(|(_, t)| *t);
        let (i, end) = first.expect("two started");
        a.work_done(end, RequestId(i as u64), &none());
        let next = reference
            .complete(end, RequestId(i as u64), &mut rng)
            .expect("the third starts");
        let woke: Vec<_> = std::iter::from_fn(|| a.poll_action())
            .filter_map(|x| match x {
                Action::Wake { at, .. } => Some(at),
                _ => None,
            })
            .collect();
        assert_eq!(woke, vec![next.finish_at]);
    }

    #[test]
    fn the_ordering_app_is_refused_until_its_logic_leaves_src_app() {
        let s = service(
            r#"{"app": "ordering-order", "workers": 1,
                "endpoints": [{"path": "/orders", "service_time": "1ms"}]}"#,
        );
        assert_eq!(
            FastApp::new("order-v1-1", s, 1, Vec::new()).map(|_| ()),
            Err(Unsupported::Ordering(AppKind::OrderingOrder))
        );
    }
}
