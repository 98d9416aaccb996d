//! One endpoint: a task's app with a fixed number of workers and a FIFO queue in front of
//! them, all running one [`Behaviour`], so that arrivals above capacity wait and the wait
//! shows as latency.
//!
//! This is the single-behaviour case of a [`Service`](super::service::Service) (which shares
//! one pool among several method-and-path endpoints); both run the same pool (see
//! [`pool`](super::pool) for how requests queue and when they are decided).

use std::fmt;

use rand::Rng;

use super::behaviour::BehaviourFields;
pub use super::behaviour::{Behaviour, Bytes, Decision, Outcome, ResponseSize, ResponseSizeConfig};
use super::calls::StepConfig;
use super::error::{ConfigError, Problem};
use super::pool::Pool;
pub use super::pool::{Arrival, EndpointStats, Started};
use super::service_time::ServiceTimeConfig;
use crate::engine::SimTime;

/// Identifies a request to an endpoint; chosen by the caller, unique among the requests the
/// endpoint holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "req-{}", self.0)
    }
}

/// An endpoint as a scenario writes it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct EndpointConfig {
    /// Requests served at once (threads, processes); at least 1. Required, because the
    /// default would decide where the system saturates.
    pub workers: u32,
    /// Requests that may wait for a worker; unset, the queue is unbounded. `0` rejects every
    /// request that finds all workers busy.
    #[serde(default)]
    pub max_queue: Option<u32>,
    /// Status of a request turned away by a full queue (400..=599; default 503).
    #[serde(default = "default_reject_status")]
    pub reject_status: u16,
    /// Local work per request.
    pub service_time: ServiceTimeConfig,
    /// Probability (0..=1) that the app fails a request itself; default 0.
    #[serde(default)]
    pub error_rate: f64,
    /// Status of a failed request, whether the app failed it or a required call did
    /// (400..=599; default 500).
    #[serde(default = "default_error_status")]
    pub error_status: u16,
    /// Status of a served request (200..=399; default 200).
    #[serde(default = "default_status")]
    pub status: u16,
    /// Size of a served response's body (default 0).
    #[serde(default)]
    pub response_size: ResponseSizeConfig,
    /// Calls made to backends after the local work, in order (default none).
    #[serde(default)]
    pub calls: Vec<StepConfig>,
}

fn default_reject_status() -> u16 {
    503
}
fn default_error_status() -> u16 {
    500
}
fn default_status() -> u16 {
    200
}

/// An endpoint-level field is out of range.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EndpointError {
    /// `workers: 0`.
    #[error("an endpoint needs at least one worker")]
    NoWorkers,
    /// `error_rate` outside 0..=1 (or not a number).
    #[error("an error rate is a probability from 0 to 1, got {0}")]
    ErrorRate(f64),
    /// A status outside its range.
    #[error("{field} must be {min} to {max}, got {status}")]
    Status {
        /// `status`, `error_status` or `reject_status`.
        field: &'static str,
        /// Lowest allowed.
        min: u16,
        /// Highest allowed.
        max: u16,
        /// The value.
        status: u16,
    },
}

impl EndpointError {
    /// The field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            EndpointError::NoWorkers => "workers",
            EndpointError::ErrorRate(_) => "error_rate",
            EndpointError::Status { field, .. } => field,
        }
    }
}

impl EndpointConfig {
    /// Validates every field and builds the endpoint; every problem is reported, each with
    /// its path in this config (`service_time.max`, `calls[1].parallel[0].path`).
    pub fn build(&self) -> Result<Endpoint, Vec<ConfigError>> {
        let mut errors = Vec::new();
        if self.workers == 0 {
            let e = EndpointError::NoWorkers;
            errors.push(ConfigError::new(e.field(), Problem::Endpoint(e)));
        }
        let behaviour = BehaviourFields {
            service_time: &self.service_time,
            error_rate: self.error_rate,
            error_status: self.error_status,
            status: self.status,
            response_size: &self.response_size,
            calls: &self.calls,
        }
        .build(Some(self.reject_status), &mut errors);
        match behaviour {
            Some(behaviour) if errors.is_empty() => Ok(Endpoint::new(
                self.workers,
                self.max_queue,
                self.reject_status,
                behaviour,
            )),
            _ => Err(errors),
        }
    }
}

/// One endpoint's workers, queue and behaviour.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pool: Pool,
}

impl Endpoint {
    /// An endpoint with `workers` workers (at least 1 is used), a queue of at most
    /// `max_queue` (unbounded if `None`) and requests over it answered `reject_status`.
    pub fn new(
        workers: u32,
        max_queue: Option<u32>,
        reject_status: u16,
        behaviour: Behaviour,
    ) -> Endpoint {
        Endpoint {
            pool: Pool::new(workers, max_queue, reject_status, vec![behaviour]),
        }
    }

    /// The behaviour.
    pub fn behaviour(&self) -> &Behaviour {
        // The pool was built with exactly one behaviour, at index 0.
        let behaviour = self.pool.behaviour(0);
        behaviour.unwrap_or_else(|| unreachable!("an endpoint's pool holds one behaviour"))
    }

    /// Workers.
    pub fn workers(&self) -> u32 {
        self.pool.workers()
    }

    /// Workers serving a request now.
    pub fn busy(&self) -> u32 {
        self.pool.busy()
    }

    /// Requests waiting now.
    pub fn queue_len(&self) -> u32 {
        self.pool.queue_len()
    }

    /// Whether `request` holds a worker.
    pub fn is_in_service(&self, request: RequestId) -> bool {
        self.pool.is_in_service(request)
    }

    /// Counters.
    pub fn stats(&self) -> EndpointStats {
        self.pool.stats()
    }

    /// A request arrives at `now`.
    pub fn arrive(&mut self, now: SimTime, request: RequestId, rng: &mut impl Rng) -> Arrival {
        self.pool.arrive(now, request, 0, rng)
    }

    /// `request` is done at `now` (its response went out; `now` may be an exact instant inside
    /// the caller's current tick, which the worker's next request starts from): its worker
    /// takes the oldest
    /// queued request, which is returned. A request not in service is ignored (`None`).
    pub fn complete(
        &mut self,
        now: SimTime,
        request: RequestId,
        rng: &mut impl Rng,
    ) -> Option<Started> {
        self.pool.complete(now, request, rng)
    }

    /// Removes `request` from the queue before it starts; `false` if it is not waiting. See
    /// [`Service::abandon`](super::service::Service::abandon) for when to use it.
    pub fn abandon(&mut self, request: RequestId) -> bool {
        self.pool.abandon(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fault::Percent;
    use crate::engine::seed;
    use crate::model::behaviour::testing::{constant, failing};
    use crate::model::service_time::DistributionConfig;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, VecDeque};
    use std::time::Duration;

    fn ms(n: u64) -> SimTime {
        SimTime::from_millis(n)
    }

    fn rng() -> seed::Rng {
        seed::stream(5, "model/endpoint/test")
    }

    fn endpoint(workers: u32, max_queue: Option<u32>, service_ms: u64) -> Endpoint {
        Endpoint::new(
            workers,
            max_queue,
            503,
            Behaviour::serving(constant(service_ms)),
        )
    }

    fn started(a: Arrival) -> Started {
        match a {
            Arrival::Started(s) => *s,
            other => panic!("expected started, got {other:?}"),
        }
    }

    #[test]
    fn saturation_queues_and_delay_grows() {
        // 1 worker, 10 ms each, 3 simultaneous arrivals: they finish at 10, 20 and 30 ms, the
        // later ones after waiting 10 and 20 ms.
        let mut e = endpoint(1, None, 10);
        let mut r = rng();
        let first = started(e.arrive(ms(0), RequestId(1), &mut r));
        assert_eq!(first.finish_at, ms(10));
        assert_eq!(
            e.arrive(ms(0), RequestId(2), &mut r),
            Arrival::Queued { position: 0 }
        );
        assert_eq!(
            e.arrive(ms(0), RequestId(3), &mut r),
            Arrival::Queued { position: 1 }
        );
        assert_eq!((e.busy(), e.queue_len()), (1, 2));
        let second = e.complete(ms(10), RequestId(1), &mut r).expect("next");
        assert_eq!(
            (second.request, second.finish_at, second.waited),
            (RequestId(2), ms(20), Duration::from_millis(10))
        );
        let third = e.complete(ms(20), RequestId(2), &mut r).expect("next");
        assert_eq!(
            (third.request, third.finish_at, third.waited),
            (RequestId(3), ms(30), Duration::from_millis(20))
        );
        assert_eq!(e.complete(ms(30), RequestId(3), &mut r), None);
        assert_eq!((e.busy(), e.queue_len()), (0, 0));
        let s = e.stats();
        assert_eq!(
            (s.arrived, s.started, s.served, s.max_queue_len),
            (3, 3, 3, 2)
        );
    }

    #[test]
    fn workers_serve_in_parallel_up_to_their_number() {
        // 2 workers: two start at once, the third waits for the first completion.
        let mut e = endpoint(2, None, 10);
        let mut r = rng();
        assert_eq!(
            started(e.arrive(ms(0), RequestId(1), &mut r)).finish_at,
            ms(10)
        );
        assert_eq!(
            started(e.arrive(ms(1), RequestId(2), &mut r)).finish_at,
            ms(11)
        );
        assert_eq!(
            e.arrive(ms(2), RequestId(3), &mut r),
            Arrival::Queued { position: 0 }
        );
        assert_eq!(e.busy(), 2);
        // Completing the second frees its worker for the third.
        let next = e.complete(ms(11), RequestId(2), &mut r).expect("next");
        assert_eq!((next.request, next.finish_at), (RequestId(3), ms(21)));
    }

    #[test]
    fn a_worker_freed_inside_the_tick_serves_the_next_arrival_from_that_instant() {
        // Freed at 10.3 ms, reported while the world's clock reads 10 ms: a request arriving
        // at 10 ms starts at 10.3 ms (its wait: 0.3 ms), and one arriving at 11 ms at once.
        let at = |us: u64| SimTime::from_duration(Duration::from_micros(us));
        let mut e = endpoint(1, None, 10);
        let mut r = rng();
        let first = started(e.arrive(at(300), RequestId(1), &mut r));
        assert_eq!(first.finish_at, at(10_300));
        assert_eq!(e.complete(at(10_300), RequestId(1), &mut r), None);
        let second = started(e.arrive(ms(10), RequestId(2), &mut r));
        assert_eq!(
            (second.started_at, second.waited, second.finish_at),
            (at(10_300), Duration::from_micros(300), at(20_300))
        );
        // Queued behind it, started by its exact completion.
        assert_eq!(
            e.arrive(ms(11), RequestId(3), &mut r),
            Arrival::Queued { position: 0 }
        );
        let third = e.complete(at(20_300), RequestId(2), &mut r).expect("next");
        assert_eq!(
            (third.started_at, third.finish_at),
            (at(20_300), at(30_300))
        );
        assert_eq!(e.complete(at(30_300), RequestId(3), &mut r), None);
        let fourth = started(e.arrive(ms(31), RequestId(4), &mut r));
        assert_eq!((fourth.started_at, fourth.waited), (ms(31), Duration::ZERO));
        // Freed at 40.3 ms but reported at 41 ms, after a request arriving at 41 ms queued:
        // it starts on arrival, not at 40.3 ms before it came.
        assert_eq!(
            e.arrive(ms(41), RequestId(5), &mut r),
            Arrival::Queued { position: 0 }
        );
        let fifth = e.complete(at(40_300), RequestId(4), &mut r).expect("next");
        assert_eq!((fifth.started_at, fifth.waited), (ms(41), Duration::ZERO));
    }

    #[test]
    fn full_queue_rejects_with_the_configured_status() {
        // max_queue 1: the third simultaneous arrival is answered at once; 0 means no queue.
        let mut e = Endpoint::new(1, Some(1), 429, Behaviour::serving(constant(10)));
        let mut r = rng();
        started(e.arrive(ms(0), RequestId(1), &mut r));
        assert_eq!(
            e.arrive(ms(0), RequestId(2), &mut r),
            Arrival::Queued { position: 0 }
        );
        assert_eq!(
            e.arrive(ms(0), RequestId(3), &mut r),
            Arrival::Rejected { status: 429 }
        );
        assert_eq!(e.stats().rejected, 1);
        // Room again once the queue moves.
        e.complete(ms(10), RequestId(1), &mut r).expect("next");
        assert_eq!(
            e.arrive(ms(10), RequestId(4), &mut r),
            Arrival::Queued { position: 0 }
        );
        let mut none = endpoint(1, Some(0), 10);
        started(none.arrive(ms(0), RequestId(1), &mut r));
        assert_eq!(
            none.arrive(ms(0), RequestId(2), &mut r),
            Arrival::Rejected { status: 503 }
        );
    }

    #[test]
    fn caller_bugs_change_nothing() {
        // A duplicate id, or completing a request not in service (queued, unknown, already
        // completed), leaves the endpoint as it was.
        let mut e = endpoint(1, None, 10);
        let mut r = rng();
        started(e.arrive(ms(0), RequestId(1), &mut r));
        assert_eq!(
            e.arrive(ms(0), RequestId(2), &mut r),
            Arrival::Queued { position: 0 }
        );
        assert_eq!(e.arrive(ms(0), RequestId(1), &mut r), Arrival::Duplicate);
        assert_eq!(e.arrive(ms(0), RequestId(2), &mut r), Arrival::Duplicate);
        assert_eq!(e.complete(ms(1), RequestId(2), &mut r), None, "queued");
        assert_eq!(e.complete(ms(1), RequestId(9), &mut r), None, "unknown");
        assert_eq!((e.busy(), e.queue_len(), e.stats().served), (1, 1, 0));
        assert!(e.complete(ms(10), RequestId(1), &mut r).is_some());
        assert_eq!(e.complete(ms(11), RequestId(1), &mut r), None, "twice");
        assert_eq!(e.stats().served, 1);
        assert_eq!(e.stats().arrived, 2);
    }

    #[test]
    fn config_builds_an_endpoint_with_its_behaviour() {
        // A complete config, as a scenario would embed it.
        let config: EndpointConfig = serde_json::from_str(
            r#"{
                "workers": 4,
                "max_queue": 100,
                "service_time": {"distribution": "lognormal", "median": "20ms", "p99": "200ms"},
                "error_rate": 0.01,
                "error_status": 503,
                "response_size": 2048,
                "calls": [
                    {"call": {"service": "inventory.local", "method": "POST", "path": "/reserve",
                              "timeout": "2s", "idempotency_key": true}},
                    {"parallel": [
                        {"service": "a.local", "path": "/"},
                        {"service": "b.local", "path": "/", "on_failure": "tolerate"}]}
                ]
            }"#,
        )
        .expect("deserialises");
        let e = config.build().expect("valid");
        assert_eq!(e.workers(), 4);
        let b = e.behaviour();
        assert_eq!(b.error_rate, Percent::new(1.0).expect("1%"));
        assert_eq!(b.error_status, 503);
        assert_eq!(b.response_size, ResponseSize::constant(Bytes(2048)));
        assert_eq!(b.calls.steps().count(), 2);
        // Defaults: reject 503, status 200, no error, empty body, no calls.
        let minimal: EndpointConfig =
            serde_json::from_str(r#"{"workers": 1, "service_time": "5ms"}"#).expect("minimal");
        assert_eq!(
            (minimal.reject_status, minimal.status, minimal.error_status),
            (503, 200, 500)
        );
        assert_eq!(minimal.max_queue, None);
        let b = minimal.build().expect("valid");
        assert_eq!(b.behaviour(), &Behaviour::serving(constant(5)));
        let unknown = serde_json::from_str::<EndpointConfig>(
            r#"{"workers": 1, "service_time": "5ms", "threads": 2}"#,
        )
        .expect_err("unknown field");
        assert!(unknown.to_string().contains("unknown field `threads`"));
    }

    #[test]
    fn every_invalid_field_is_reported_with_its_path() {
        // build() reports all problems at once, each under its field path.
        let config: EndpointConfig = serde_json::from_str(
            r#"{
                "workers": 0,
                "service_time": {"distribution": "uniform", "min": "2s", "max": "1s"},
                "error_rate": 1.5,
                "status": 500,
                "error_status": 200,
                "reject_status": 600,
                "response_size": {"distribution": "exponential", "mean": 0},
                "calls": [{"parallel": [{"service": "", "path": "x"}]}]
            }"#,
        )
        .expect("deserialises");
        let errors = config.build().expect_err("invalid");
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "workers",
                "error_rate",
                "status",
                "error_status",
                "reject_status",
                "service_time.max",
                "response_size.mean",
                "calls[0].parallel[0].service",
                "calls[0].parallel[0].path",
            ]
        );
        assert_eq!(
            errors[0].to_string(),
            "workers: an endpoint needs at least one worker"
        );
        assert_eq!(
            errors[5].to_string(),
            "service_time.max: max (1s) is below min (2s)"
        );
        assert!(matches!(
            errors[1].problem,
            Problem::Endpoint(EndpointError::ErrorRate(r)) if r == 1.5
        ));
        let nan = EndpointConfig {
            error_rate: f64::NAN,
            ..serde_json::from_str(r#"{"workers": 1, "service_time": "5ms"}"#).expect("minimal")
        };
        assert_eq!(nan.build().expect_err("NaN")[0].path, "error_rate");
    }

    /// Runs `n` requests through an endpoint one at a time; returns the decisions.
    fn run(behaviour: &Behaviour, seed: u64, n: u64) -> Vec<Started> {
        let mut e = Endpoint::new(2, None, 503, behaviour.clone());
        let mut r = seed::stream(seed, "model/endpoint/run");
        let mut out = Vec::new();
        for i in 0..n {
            // Two arrive per tick into two workers with one completing: a queue forms.
            for id in [2 * i, 2 * i + 1] {
                if let Arrival::Started(s) = e.arrive(ms(i), RequestId(id), &mut r) {
                    out.push(*s);
                }
            }
            let oldest = out
                .iter()
                .find(|s| e.is_in_service(s.request))
                .map(|s| s.request);
            if let Some(next) = oldest.and_then(|id| e.complete(ms(i), id, &mut r)) {
                out.push(next);
            }
        }
        out
    }

    #[test]
    fn same_seed_same_decisions() {
        // Decisions depend only on the stream: one seed twice agrees, two seeds differ.
        let b = Behaviour {
            service_time: DistributionConfig::Exponential {
                mean: Duration::from_millis(20),
            }
            .build()
            .expect("valid"),
            ..failing(0.3)
        };
        assert_eq!(run(&b, 1, 200), run(&b, 1, 200));
        assert_ne!(run(&b, 1, 200), run(&b, 2, 200));
    }

    #[derive(Clone, Copy, Debug)]
    enum Op {
        Arrive,
        /// Complete the k-th request in service (by start order), or an unknown id.
        Complete(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![3 => Just(Op::Arrive), 2 => (0usize..6).prop_map(Op::Complete)]
    }

    proptest! {
        #[test]
        fn workers_bound_service_and_each_request_is_handled_once(
            workers in 1u32..4,
            max_queue in prop::option::of(0u32..4),
            ops in prop::collection::vec(op(), 0..200),
            seed in any::<u64>(),
        ) {
            // Never more than `workers` in service; FIFO from the queue; every arrived
            // request is started or rejected exactly once, and completes at most once.
            let mut e = Endpoint::new(workers, max_queue, 503, failing(0.5));
            let mut r = seed::stream(seed, "model/endpoint/prop");
            let mut next_id = 0u64;
            let mut in_service: Vec<RequestId> = Vec::new();
            let mut waiting: VecDeque<RequestId> = VecDeque::new();
            let mut started: BTreeSet<RequestId> = BTreeSet::new();
            let mut rejected: BTreeSet<RequestId> = BTreeSet::new();
            let mut completed: BTreeSet<RequestId> = BTreeSet::new();
            let record = |s: &Started, started: &mut BTreeSet<RequestId>| {
                prop_assert!(started.insert(s.request), "{} started twice", s.request);
                prop_assert!(s.finish_at >= s.started_at);
                Ok(())
            };
            for (i, op) in ops.into_iter().enumerate() {
                let now = ms(i as u64);
                match op {
                    Op::Arrive => {
                        let id = RequestId(next_id);
                        next_id += 1;
                        let busy = e.busy();
                        match e.arrive(now, id, &mut r) {
                            Arrival::Started(s) => {
                                prop_assert!(busy < workers && waiting.is_empty());
                                prop_assert_eq!(s.request, id);
                                record(&s, &mut started)?;
                                in_service.push(id);
                            }
                            Arrival::Queued { position } => {
                                prop_assert_eq!(busy, workers);
                                prop_assert_eq!(position as usize, waiting.len());
                                waiting.push_back(id);
                            }
                            Arrival::Rejected { status } => {
                                prop_assert_eq!(status, 503);
                                prop_assert_eq!(Some(waiting.len() as u32), max_queue);
                                prop_assert!(rejected.insert(id));
                            }
                            Arrival::Duplicate => prop_assert!(false, "fresh id refused"),
                        }
                    }
                    Op::Complete(k) => {
                        let id = in_service.get(k).copied().unwrap_or(RequestId(u64::MAX));
                        let known = in_service.contains(&id);
                        let next = e.complete(now, id, &mut r);
                        if known {
                            in_service.retain(|x| *x != id);
                            prop_assert!(completed.insert(id), "{id} completed twice");
                            let expected = waiting.pop_front();
                            prop_assert_eq!(next.as_ref().map(|s| s.request), expected);
                            if let Some(s) = next {
                                record(&s, &mut started)?;
                                prop_assert_eq!(s.started_at, now);
                                in_service.push(s.request);
                            }
                        } else {
                            prop_assert!(next.is_none());
                        }
                    }
                }
                prop_assert!(e.busy() <= workers);
                prop_assert_eq!(e.busy() as usize, in_service.len());
                prop_assert_eq!(e.queue_len() as usize, waiting.len());
                // Nobody waits while a worker is free.
                prop_assert!(waiting.is_empty() || e.busy() == workers);
            }
            // Every arrival accounted for exactly once: started, rejected or still waiting.
            prop_assert!(started.is_disjoint(&rejected));
            prop_assert_eq!(started.len() + rejected.len() + waiting.len(), next_id as usize);
            prop_assert!(completed.is_subset(&started));
            let s = e.stats();
            prop_assert_eq!(s.arrived, next_id);
            prop_assert_eq!((s.started, s.rejected, s.served), (started.len() as u64, rejected.len() as u64, completed.len() as u64));
        }
    }
}
