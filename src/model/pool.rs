//! Workers and one FIFO queue in front of them, shared by every behaviour of a server: a
//! thread pool does not know which handler a request will run, so a burst on one endpoint
//! delays every other endpoint of the same task.
//!
//! The caller (the simulated world) owns time: it reports arrivals and completions at the
//! current [`SimTime`] and schedules what comes back. A worker is held from the moment a
//! request starts until the caller reports it complete, which is after the local work *and*
//! the backend calls (see the [module](super) docs): a thread-per-request server blocked on a
//! slow backend has no worker for new requests, which is how one slow service backs up the
//! ones that call it.
//!
//! Each request's outcome is decided when it starts, not when it arrives, so a request that
//! waited in the queue is decided in the order it is served (see
//! [`Behaviour::decide`](super::behaviour::Behaviour::decide)).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use rand::Rng;

use super::behaviour::{Behaviour, Decision, Outcome};
use super::endpoint::RequestId;
use crate::engine::SimTime;

/// A request given a worker.
#[derive(Clone, Debug, PartialEq)]
pub struct Started {
    /// The request.
    pub request: RequestId,
    /// Index of the endpoint whose behaviour decided it (always 0 for a lone
    /// [`Endpoint`](super::endpoint::Endpoint)); a request started from the queue by
    /// `complete` may belong to any endpoint of the service.
    pub endpoint: usize,
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

/// Counters of an endpoint, or of a whole service.
///
/// At any moment `arrived = started + rejected + abandoned + ` the requests still queued.
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
    /// Requests removed from the queue before they started.
    pub abandoned: u64,
    /// Longest the queue has been (for one endpoint of a service: longest it was when one of
    /// this endpoint's requests joined it, that request included).
    pub max_queue_len: u32,
}

/// A request waiting for a worker.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    request: RequestId,
    arrived_at: SimTime,
    endpoint: usize,
}

/// The workers, the queue and the behaviours they run.
#[derive(Clone, Debug)]
pub(super) struct Pool {
    workers: u32,
    /// Workers left by a saturation fault (`None`: all of them).
    cap: Option<u32>,
    max_queue: Option<u32>,
    reject_status: u16,
    behaviours: Vec<Behaviour>,
    /// Request in service → its endpoint.
    in_service: BTreeMap<RequestId, usize>,
    /// Oldest first.
    queue: VecDeque<Waiting>,
    queued: BTreeSet<RequestId>,
    /// When idle workers became free, where that is later than the caller's clock may read:
    /// the world reports a completion at its exact instant, which can fall inside the tick
    /// the caller is in (see [`crate::engine::time::dither`]). A request arriving in that
    /// tick starts when the worker really is free, not at the tick: starting it early would
    /// shorten every busy period by up to a tick.
    freed: Vec<SimTime>,
    stats: EndpointStats,
    /// Per behaviour, same indices.
    endpoint_stats: Vec<EndpointStats>,
}

impl Pool {
    /// `workers` workers (at least 1 is used), a queue of at most `max_queue` (unbounded if
    /// `None`), requests over it answered `reject_status`.
    pub fn new(
        workers: u32,
        max_queue: Option<u32>,
        reject_status: u16,
        behaviours: Vec<Behaviour>,
    ) -> Pool {
        Pool {
            workers: workers.max(1),
            cap: None,
            max_queue,
            reject_status,
            endpoint_stats: vec![EndpointStats::default(); behaviours.len()],
            behaviours,
            in_service: BTreeMap::new(),
            queue: VecDeque::new(),
            queued: BTreeSet::new(),
            freed: Vec::new(),
            stats: EndpointStats::default(),
        }
    }

    pub fn behaviour(&self, endpoint: usize) -> Option<&Behaviour> {
        self.behaviours.get(endpoint)
    }

    pub fn workers(&self) -> u32 {
        self.workers
    }

    pub fn reject_status(&self) -> u16 {
        self.reject_status
    }

    pub fn busy(&self) -> u32 {
        u32::try_from(self.in_service.len()).unwrap_or(u32::MAX)
    }

    pub fn queue_len(&self) -> u32 {
        u32::try_from(self.queue.len()).unwrap_or(u32::MAX)
    }

    pub fn is_in_service(&self, request: RequestId) -> bool {
        self.in_service.contains_key(&request)
    }

    pub fn is_queued(&self, request: RequestId) -> bool {
        self.queued.contains(&request)
    }

    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    pub fn endpoint_stats(&self, endpoint: usize) -> Option<EndpointStats> {
        self.endpoint_stats.get(endpoint).copied()
    }

    /// Both counters a request's event moves: the pool's and its endpoint's.
    fn count(&mut self, endpoint: usize, f: impl Fn(&mut EndpointStats)) {
        f(&mut self.stats);
        if let Some(s) = self.endpoint_stats.get_mut(endpoint) {
            f(s);
        }
    }

    pub fn arrive(
        &mut self,
        now: SimTime,
        request: RequestId,
        endpoint: usize,
        rng: &mut impl Rng,
    ) -> Arrival {
        if endpoint >= self.behaviours.len() {
            // No such endpoint: answered as a request no endpoint matches, counted nowhere.
            return Arrival::Rejected { status: 404 };
        }
        if self.is_in_service(request) || self.is_queued(request) {
            return Arrival::Duplicate;
        }
        self.count(endpoint, |s| s.arrived += 1);
        // Completions start the next queued request at once, so a free worker means an
        // empty queue: nobody is overtaken.
        if self.busy() < self.usable() {
            let at = self.free_worker(now);
            let started = self.start(at, request, endpoint, now, rng);
            return Arrival::Started(Box::new(started));
        }
        let position = self.queue_len();
        if self.max_queue.is_some_and(|max| position >= max) {
            self.count(endpoint, |s| s.rejected += 1);
            return Arrival::Rejected {
                status: self.reject_status,
            };
        }
        self.queue.push_back(Waiting {
            request,
            arrived_at: now,
            endpoint,
        });
        self.queued.insert(request);
        let len = self.queue_len();
        self.count(endpoint, |s| s.max_queue_len = s.max_queue_len.max(len));
        Arrival::Queued { position }
    }

    pub fn complete(
        &mut self,
        now: SimTime,
        request: RequestId,
        rng: &mut impl Rng,
    ) -> Option<Started> {
        let endpoint = self.in_service.remove(&request)?;
        self.count(endpoint, |s| s.served += 1);
        if self.busy() >= self.usable() {
            // A saturation fault took this worker away.
            return None;
        }
        let Some(next) = self.queue.pop_front() else {
            self.freed.push(now);
            return None;
        };
        self.queued.remove(&next.request);
        // Freed at an exact instant that may lie before the caller's tick, where the next
        // request arrived: it starts when both are there.
        let at = now.max(next.arrived_at);
        Some(self.start(at, next.request, next.endpoint, next.arrived_at, rng))
    }

    /// When an arrival at `now` gets a worker, one being idle: at `now` if some idle worker
    /// was free by then, else when the first of them frees (within the caller's tick).
    fn free_worker(&mut self, now: SimTime) -> SimTime {
        self.freed.retain(|f| *f > now);
        let idle = self.usable().saturating_sub(self.busy()) as usize;
        if self.freed.len() < idle {
            return now;
        }
        let Some((i, at)) = self
            .freed
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|(_, f)| *f)
        else {
            return now;
        };
        self.freed.swap_remove(i);
        at
    }

    /// Workers usable now.
    fn usable(&self) -> u32 {
        self.cap.map_or(self.workers, |c| c.clamp(1, self.workers))
    }

    /// Limits the workers to `cap` (a saturation fault; `None` lifts it). Requests in service
    /// finish; when the cap rises, queued requests start at once, oldest first, and are
    /// returned.
    pub fn set_worker_cap(
        &mut self,
        now: SimTime,
        cap: Option<u32>,
        rng: &mut impl Rng,
    ) -> Vec<Started> {
        self.cap = cap;
        let mut started = Vec::new();
        while self.busy() < self.usable() {
            let Some(next) = self.queue.pop_front() else {
                break;
            };
            self.queued.remove(&next.request);
            started.push(self.start(now, next.request, next.endpoint, next.arrived_at, rng));
        }
        started
    }

    pub fn abandon(&mut self, request: RequestId) -> bool {
        if !self.queued.remove(&request) {
            return false;
        }
        let at = self.queue.iter().position(|w| w.request == request);
        match at.and_then(|at| self.queue.remove(at)) {
            Some(w) => {
                self.count(w.endpoint, |s| s.abandoned += 1);
                true
            }
            None => false,
        }
    }

    fn start(
        &mut self,
        now: SimTime,
        request: RequestId,
        endpoint: usize,
        arrived_at: SimTime,
        rng: &mut impl Rng,
    ) -> Started {
        // Every index here was checked by `arrive` (queued requests included), and the
        // behaviours never change.
        let decision = self.behaviours[endpoint].decide(request, rng);
        self.in_service.insert(request, endpoint);
        let failed = matches!(decision.outcome, Outcome::Fail { .. });
        self.count(endpoint, |s| {
            s.started += 1;
            s.failed += u64::from(failed);
        });
        Started {
            request,
            endpoint,
            started_at: now,
            waited: now.saturating_since(arrived_at),
            finish_at: now + decision.service_time,
            decision,
        }
    }
}
