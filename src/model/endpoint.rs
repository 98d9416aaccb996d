//! One endpoint: a task's app, with a fixed number of workers and a FIFO queue in front of
//! them, so that arrivals above capacity wait and the wait shows as latency.
//!
//! The caller (the simulated world) owns time: it reports arrivals and completions at the
//! current [`SimTime`] and schedules what comes back. A worker is held from the moment a
//! request starts until the caller reports it complete, which is after the local work *and*
//! the backend calls (see the [module](super) docs): a thread-per-request server blocked on a
//! slow backend has no worker for new requests, which is how one slow service backs up the
//! ones that call it.
//!
//! Each request's outcome is decided when it starts, not when it arrives, so a request that
//! waited in the queue is decided in the order it is served. The decision draws one number
//! from the caller's stream and runs every further draw from a stream seeded by it (see
//! [`Behaviour::decide`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::Duration;

use rand::{Rng, SeedableRng as _};

use super::calls::{CallPlan, Calls, StepConfig};
use super::error::{ConfigError, Problem};
use super::service_time::{
    Distribution, DistributionConfig, Quantity, ServiceTime, ServiceTimeConfig,
};
use crate::engine::SimTime;
use crate::engine::fault::Percent;
use crate::engine::seed;

/// A number of bytes (a response size).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(transparent)]
pub struct Bytes(pub u64);

impl Quantity for Bytes {
    type Written = Bytes;
    fn to_units(self) -> u64 {
        self.0
    }
    fn from_units(units: u64) -> Self {
        Bytes(units)
    }
    fn render(self) -> String {
        format!("{} bytes", self.0)
    }
}

/// A response-size distribution as configured (a bare number of bytes is a constant).
pub type ResponseSizeConfig = DistributionConfig<Bytes>;
/// A validated response-size distribution.
pub type ResponseSize = Distribution<Bytes>;

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
        let mut endpoint = |e: EndpointError| {
            errors.push(ConfigError::new(e.field(), Problem::Endpoint(e)));
        };
        if self.workers == 0 {
            endpoint(EndpointError::NoWorkers);
        }
        let error_rate = Percent::new(self.error_rate * 100.0);
        if error_rate.is_err() {
            endpoint(EndpointError::ErrorRate(self.error_rate));
        }
        for (field, status, min, max) in [
            ("status", self.status, 200, 399),
            ("error_status", self.error_status, 400, 599),
            ("reject_status", self.reject_status, 400, 599),
        ] {
            if !(min..=max).contains(&status) {
                endpoint(EndpointError::Status {
                    field,
                    min,
                    max,
                    status,
                });
            }
        }
        let distribution = |field: &str, e: super::service_time::DistributionError| {
            ConfigError::new(e.field(), Problem::Distribution(e)).under(field)
        };
        let service_time = self
            .service_time
            .build()
            .map_err(|e| errors.push(distribution("service_time", e)));
        let response_size = self
            .response_size
            .build()
            .map_err(|e| errors.push(distribution("response_size", e)));
        let calls = Calls::build(&self.calls).map_err(|es| {
            errors.extend(es.into_iter().map(|e| e.under("calls")));
        });
        match (error_rate, service_time, response_size, calls) {
            (Ok(error_rate), Ok(service_time), Ok(response_size), Ok(calls))
                if errors.is_empty() =>
            {
                Ok(Endpoint::new(
                    self.workers,
                    self.max_queue,
                    self.reject_status,
                    Behaviour {
                        service_time,
                        error_rate,
                        error_status: self.error_status,
                        status: self.status,
                        response_size,
                        calls,
                    },
                ))
            }
            _ => Err(errors),
        }
    }
}

/// What an endpoint does with each request it serves.
#[derive(Clone, Debug, PartialEq)]
pub struct Behaviour {
    /// Local work.
    pub service_time: ServiceTime,
    /// Share of requests the app fails itself.
    pub error_rate: Percent,
    /// Status of a failed request.
    pub error_status: u16,
    /// Status of a served request.
    pub status: u16,
    /// Body size of a served response.
    pub response_size: ResponseSize,
    /// Calls to backends.
    pub calls: Calls,
}

impl Behaviour {
    /// A behaviour that serves every request with 200 and an empty body after `service_time`,
    /// calling nothing.
    pub fn serving(service_time: ServiceTime) -> Behaviour {
        Behaviour {
            service_time,
            error_rate: Percent::ZERO,
            error_status: 500,
            status: 200,
            response_size: ResponseSize::constant(Bytes(0)),
            calls: Calls::none(),
        }
    }

    /// Decides one request as it starts.
    ///
    /// Draws exactly one number from `rng` and seeds a private stream with it for the
    /// request's own draws (error roll, then service time, then size). So every request
    /// consumes the caller's stream alike, and changing one parameter (a heavier service-time
    /// tail) leaves every other decision of the run as it was: the same requests still fail.
    pub fn decide(&self, request: RequestId, rng: &mut impl Rng) -> Decision {
        let mut own = seed::Rng::seed_from_u64(rng.random());
        let fails = self.error_rate.roll(&mut own);
        let service_time = self.service_time.sample(&mut own);
        let outcome = if fails {
            Outcome::Fail {
                status: self.error_status,
            }
        } else {
            Outcome::Serve {
                status: self.status,
                response_bytes: self.response_size.sample(&mut own).0,
                failure_status: self.error_status,
                calls: self.calls.plan(request),
            }
        };
        Decision {
            service_time,
            outcome,
        }
    }
}

/// A request's fate, decided when it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// Local work, done before any call.
    pub service_time: Duration,
    /// What happens when the local work is done.
    pub outcome: Outcome,
}

/// What happens when a request's local work is done.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The app fails the request itself: it answers `status` at once, calling nothing.
    Fail {
        /// The error status.
        status: u16,
    },
    /// The app runs its calls, then answers `status` with `response_bytes`, or
    /// `failure_status` if a required call failed.
    Serve {
        /// Status when every required call succeeded.
        status: u16,
        /// Body size when every required call succeeded.
        response_bytes: u64,
        /// Status when a required call failed.
        failure_status: u16,
        /// The calls, not yet started: start them at the decision's `finish_at`.
        calls: CallPlan,
    },
}

/// A request given a worker.
#[derive(Clone, Debug, PartialEq)]
pub struct Started {
    /// The request.
    pub request: RequestId,
    /// When it got the worker.
    pub started_at: SimTime,
    /// Time spent in the queue.
    pub waited: Duration,
    /// When its local work ends: `started_at + decision.service_time`.
    pub finish_at: SimTime,
    /// Its fate.
    pub decision: Decision,
}

/// What an endpoint does with an arriving request.
#[derive(Clone, Debug, PartialEq)]
pub enum Arrival {
    /// A worker was free: it is being served.
    Started(Box<Started>),
    /// Every worker is busy: it waits, with `position` requests ahead of it.
    Queued {
        /// Requests ahead in the queue.
        position: u32,
    },
    /// Every worker is busy and the queue is full: answered at once.
    Rejected {
        /// The configured reject status.
        status: u16,
    },
    /// The endpoint already holds a request with this id (a caller bug); nothing changed.
    Duplicate,
}

/// Counters of an endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Requests that arrived (duplicates not counted).
    pub arrived: u64,
    /// Requests given a worker.
    pub started: u64,
    /// Requests turned away by a full queue.
    pub rejected: u64,
    /// Requests completed.
    pub served: u64,
    /// Requests the app decided to fail itself.
    pub failed: u64,
    /// Longest the queue has been.
    pub max_queue_len: u32,
}

/// One endpoint's workers, queue and behaviour.
#[derive(Clone, Debug)]
pub struct Endpoint {
    workers: u32,
    max_queue: Option<u32>,
    reject_status: u16,
    behaviour: Behaviour,
    /// Request → when it started.
    in_service: BTreeMap<RequestId, SimTime>,
    /// (request, arrived at), oldest first.
    queue: VecDeque<(RequestId, SimTime)>,
    queued: BTreeSet<RequestId>,
    stats: EndpointStats,
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
            workers: workers.max(1),
            max_queue,
            reject_status,
            behaviour,
            in_service: BTreeMap::new(),
            queue: VecDeque::new(),
            queued: BTreeSet::new(),
            stats: EndpointStats::default(),
        }
    }

    /// The behaviour.
    pub fn behaviour(&self) -> &Behaviour {
        &self.behaviour
    }

    /// Workers.
    pub fn workers(&self) -> u32 {
        self.workers
    }

    /// Workers serving a request now.
    pub fn busy(&self) -> u32 {
        u32::try_from(self.in_service.len()).unwrap_or(u32::MAX)
    }

    /// Requests waiting now.
    pub fn queue_len(&self) -> u32 {
        u32::try_from(self.queue.len()).unwrap_or(u32::MAX)
    }

    /// Whether `request` holds a worker.
    pub fn is_in_service(&self, request: RequestId) -> bool {
        self.in_service.contains_key(&request)
    }

    /// Counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// A request arrives at `now`.
    pub fn arrive(&mut self, now: SimTime, request: RequestId, rng: &mut impl Rng) -> Arrival {
        if self.in_service.contains_key(&request) || self.queued.contains(&request) {
            return Arrival::Duplicate;
        }
        self.stats.arrived += 1;
        // Completions start the next queued request at once, so a free worker means an
        // empty queue: nobody is overtaken.
        if self.busy() < self.workers {
            return Arrival::Started(Box::new(self.start(now, request, now, rng)));
        }
        let position = self.queue_len();
        if self.max_queue.is_some_and(|max| position >= max) {
            self.stats.rejected += 1;
            return Arrival::Rejected {
                status: self.reject_status,
            };
        }
        self.queue.push_back((request, now));
        self.queued.insert(request);
        self.stats.max_queue_len = self.stats.max_queue_len.max(self.queue_len());
        Arrival::Queued { position }
    }

    /// `request` is done at `now` (its response went out): its worker takes the oldest
    /// queued request, which is returned. A request not in service is ignored (`None`).
    pub fn complete(
        &mut self,
        now: SimTime,
        request: RequestId,
        rng: &mut impl Rng,
    ) -> Option<Started> {
        self.in_service.remove(&request)?;
        self.stats.served += 1;
        let (next, arrived_at) = self.queue.pop_front()?;
        self.queued.remove(&next);
        Some(self.start(now, next, arrived_at, rng))
    }

    fn start(
        &mut self,
        now: SimTime,
        request: RequestId,
        arrived_at: SimTime,
        rng: &mut impl Rng,
    ) -> Started {
        let decision = self.behaviour.decide(request, rng);
        self.in_service.insert(request, now);
        self.stats.started += 1;
        if matches!(decision.outcome, Outcome::Fail { .. }) {
            self.stats.failed += 1;
        }
        Started {
            request,
            started_at: now,
            waited: now - arrived_at,
            finish_at: now + decision.service_time,
            decision,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::calls::PlanNext;
    use proptest::prelude::*;

    fn ms(n: u64) -> SimTime {
        SimTime::from_millis(n)
    }

    fn rng() -> seed::Rng {
        seed::stream(5, "model/endpoint/test")
    }

    fn constant(n: u64) -> ServiceTime {
        ServiceTime::constant(Duration::from_millis(n))
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

    fn failing(rate: f64) -> Behaviour {
        Behaviour {
            error_rate: Percent::new(rate * 100.0).expect("rate"),
            error_status: 502,
            ..Behaviour::serving(constant(10))
        }
    }

    #[test]
    fn app_failures_answer_the_error_status_without_calls() {
        // error_rate 1: every request fails with error_status; 0: none does.
        let mut r = rng();
        let d = failing(1.0).decide(RequestId(1), &mut r);
        assert_eq!(d.outcome, Outcome::Fail { status: 502 });
        assert_eq!(d.service_time, Duration::from_millis(10));
        let d = failing(0.0).decide(RequestId(1), &mut r);
        let Outcome::Serve {
            status, mut calls, ..
        } = d.outcome
        else {
            panic!("served")
        };
        assert_eq!(status, 200);
        assert_eq!(calls.start(ms(10)), PlanNext::Done { failed: None });
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

    #[test]
    fn other_parameters_do_not_shift_which_requests_fail() {
        // Each request draws one number from the caller's stream, so swapping a constant
        // service time for a lognormal (which draws more) leaves the failing requests alone.
        let fails = |b: &Behaviour| {
            let mut r = seed::stream(9, "model/endpoint/crn");
            (0..500)
                .map(|i| matches!(b.decide(RequestId(i), &mut r).outcome, Outcome::Fail { .. }))
                .collect::<Vec<_>>()
        };
        let constant_time = failing(0.2);
        let lognormal_time = Behaviour {
            service_time: DistributionConfig::LogNormal {
                median: Duration::from_millis(20),
                p99: Duration::from_millis(300),
            }
            .build()
            .expect("valid"),
            response_size: ResponseSizeConfig::Uniform {
                min: Bytes(10),
                max: Bytes(10_000),
            }
            .build()
            .expect("valid"),
            ..failing(0.2)
        };
        assert_eq!(fails(&constant_time), fails(&lognormal_time));
        assert!(fails(&constant_time).contains(&true) && fails(&constant_time).contains(&false));
    }

    fn rate() -> impl Strategy<Value = f64> {
        // 0 and 1 exactly, and rates where the normal approximation holds (N·p ≥ 100).
        prop_oneof![Just(0.0), Just(1.0), 0.005f64..0.995]
    }

    proptest! {
        // A fixed proptest seed: each case has a 0.1 % chance to fall outside the interval,
        // so with a random seed some run would eventually fail; fixed, the verdict is
        // reproducible.
        #![proptest_config(ProptestConfig {
            cases: 48,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x6d6f_6465),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn observed_error_rate_is_within_binomial_interval(p in rate(), seed in any::<u64>()) {
            // Failures over N requests lie within a 99.9 % binomial interval of error_rate:
            // |k − Np| ≤ 3.29·√(Np(1−p)) (normal approximation).
            const N: u64 = 20_000;
            let b = failing(p);
            let mut r = seed::stream(seed, "model/endpoint/rate");
            let k = (0..N)
                .filter(|i| matches!(b.decide(RequestId(*i), &mut r).outcome, Outcome::Fail { .. }))
                .count() as f64;
            let n = N as f64;
            let bound = 3.29 * (n * p * (1.0 - p)).sqrt();
            prop_assert!((k - n * p).abs() <= bound, "observed {k} of {N}, expected {} ± {bound}", n * p);
        }
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
