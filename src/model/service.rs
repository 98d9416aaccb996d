//! A service: one pool of workers and one FIFO queue shared by all its endpoints, each endpoint
//! (a method and a path pattern) with its own behaviour.
//!
//! A real server has one thread pool for all its handlers, so a slow or popular endpoint
//! takes workers from the others: a burst of checkouts delays a cheap `GET /health` on the
//! same task. Modelling each endpoint with its own workers would hide that coupling.
//!
//! A request is routed once, by [`Service::match_endpoint`] (the first endpoint in the order
//! written whose method and [`PathPattern`] match), and then queued with that endpoint's
//! index; when a worker takes it, that endpoint's [`Behaviour`] decides it.

use std::collections::BTreeMap;

use rand::Rng;

use super::behaviour::{Behaviour, BehaviourFields, check_status};
use super::calls::StepConfig;
use super::endpoint::{RequestId, ResponseSizeConfig};
use super::error::{ConfigError, Problem};
use super::pool::{Arrival, EndpointStats, Pool, Started};
use super::route::{MethodMatch, PathPattern, PatternProblem, Route};
use super::service_time::ServiceTimeConfig;
use crate::engine::SimTime;

/// The built-in application logic that runs behind a service's endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppKind {
    /// Behaviour only: timing, errors and calls, no state.
    #[default]
    Generic,
    /// The Ordering UI: `GET /` browses items through Inventory, `POST /checkout` places an
    /// order through Order.
    OrderingUi,
    /// The Ordering Order service: `POST /orders` reserves at Inventory, then confirms.
    OrderingOrder,
    /// The Ordering Inventory service: `GET /items/{sku}`, `POST /reserve` (409 when out of
    /// stock).
    OrderingInventory,
}

impl AppKind {
    /// One of the Ordering app's services, whose shared state the end-of-run invariants
    /// judge.
    pub fn is_ordering(self) -> bool {
        self != AppKind::Generic
    }
}

/// A service as a scenario writes it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ServiceConfig {
    /// The application logic behind the endpoints (default `generic`).
    #[serde(default)]
    pub app: AppKind,
    /// Requests served at once, across all endpoints; at least 1.
    pub workers: u32,
    /// Requests that may wait for a worker; unset, unbounded.
    #[serde(default)]
    pub max_queue: Option<u32>,
    /// Status of a request turned away by a full queue (400..=599; default 503).
    #[serde(default = "default_reject_status")]
    pub reject_status: u16,
    /// Endpoints, matched in order; a request no endpoint matches gets 404. An endpoint that
    /// an earlier one shadows entirely is refused, since it could never be chosen.
    pub endpoints: Vec<PathConfig>,
    /// Request headers the app copies onto the calls it makes (default none): what an app
    /// does with OpenTelemetry baggage or a canary cookie, and what lets an A/B rollout
    /// steer a user's requests at every hop, not only the first. Names are matched without
    /// regard to case.
    #[serde(default)]
    pub propagate_headers: Vec<String>,
}

/// One endpoint of a service as a scenario writes it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct PathConfig {
    /// HTTP method, upper case (`A`–`Z`, digits, `-`, `_`), or `*` for any (default `*`).
    #[serde(default = "any_method")]
    pub method: String,
    /// Path pattern: literal segments, `{name}` for one segment, a final `*` for the rest
    /// (see [`route`](super::route) for the details: no empty segments, query ignored).
    pub path: String,
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
    /// Calls made to backends after the local work (default none).
    #[serde(default)]
    pub calls: Vec<StepConfig>,
}

fn any_method() -> String {
    "*".to_string()
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

/// A service-level field is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// `endpoints: []`.
    #[error("a service needs at least one endpoint")]
    NoEndpoints,
    /// `workers: 0`.
    #[error("a service needs at least one worker")]
    NoWorkers,
    /// A method that is neither `*` nor an upper-case token.
    #[error("method \"{0}\" must be upper case (GET, POST, …) or * for any")]
    Method(String),
    /// A malformed path pattern.
    #[error("path pattern \"{pattern}\" {problem}")]
    Pattern {
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        problem: PatternProblem,
    },
    /// A `propagate_headers` entry that cannot be an HTTP header name.
    #[error("\"{0}\" is not an HTTP header name (letters, digits and -, no spaces)")]
    HeaderName(String),
    /// An endpoint listed after one that answers every request it would, so never chosen.
    #[error(
        "never matched: endpoints[{index}] ({route}) comes first and answers every request this one would"
    )]
    Unreachable {
        /// The earlier endpoint's index.
        index: usize,
        /// The earlier endpoint's method and pattern.
        route: String,
    },
}

impl ServiceError {
    /// The field at fault, relative to the service (`method` and `path` relative to their
    /// endpoint; empty for a whole endpoint).
    pub fn field(&self) -> &'static str {
        match self {
            ServiceError::NoEndpoints => "endpoints",
            ServiceError::NoWorkers => "workers",
            ServiceError::Method(_) => "method",
            ServiceError::Pattern { .. } => "path",
            ServiceError::HeaderName(_) => "propagate_headers",
            ServiceError::Unreachable { .. } => "",
        }
    }
}

impl ServiceConfig {
    /// Validates every field and builds the service; every problem is reported, each with its
    /// path in this config (`workers`, `endpoints[0].path`, `endpoints[1].service_time.p99`).
    pub fn build(&self) -> Result<Service, Vec<ConfigError>> {
        let service = |e: ServiceError| ConfigError::new(e.field(), Problem::Service(e));
        let mut errors = Vec::new();
        if self.workers == 0 {
            errors.push(service(ServiceError::NoWorkers));
        }
        errors.extend(check_status("reject_status", self.reject_status));
        if self.endpoints.is_empty() {
            errors.push(service(ServiceError::NoEndpoints));
        }
        for (i, h) in self.propagate_headers.iter().enumerate() {
            if http::HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes()).is_err() {
                let e = ServiceError::HeaderName(h.clone());
                errors.push(ConfigError::new(
                    format!("propagate_headers[{i}]"),
                    Problem::Service(e),
                ));
            }
        }
        // Routes of the endpoints that parsed, by index, for the reachability check.
        let mut routes: Vec<(usize, Route)> = Vec::new();
        let mut endpoints = Vec::new();
        for (i, p) in self.endpoints.iter().enumerate() {
            let mut own = Vec::new();
            let method = MethodMatch::parse(&p.method).map_err(|e| own.push(service(e)));
            let path = PathPattern::parse(&p.path).map_err(|e| own.push(service(e)));
            let behaviour = BehaviourFields {
                service_time: &p.service_time,
                error_rate: p.error_rate,
                error_status: p.error_status,
                status: p.status,
                response_size: &p.response_size,
                calls: &p.calls,
            }
            .build(None, &mut own);
            if let (Ok(method), Ok(path)) = (method, path) {
                let route = Route { method, path };
                if let Some((j, earlier)) = routes.iter().find(|(_, r)| r.shadows(&route)) {
                    own.push(service(ServiceError::Unreachable {
                        index: *j,
                        route: earlier.to_string(),
                    }));
                }
                routes.push((i, route.clone()));
                if let Some(behaviour) = behaviour.filter(|_| own.is_empty()) {
                    endpoints.push((route, behaviour));
                }
            }
            let prefix = format!("endpoints[{i}]");
            errors.extend(own.into_iter().map(|e| e.under(&prefix)));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Service::new(
            self.app,
            self.workers,
            self.max_queue,
            self.reject_status,
            endpoints,
        ))
    }
}

/// The endpoint a request goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointMatch {
    /// Its index in the service's endpoints: pass it to [`Service::arrive`].
    pub index: usize,
    /// The path parameters captured (`{sku}` → `sku`; a final `*` → `*`).
    pub params: BTreeMap<String, String>,
}

/// A service's endpoints and the one pool of workers and queue they share.
#[derive(Clone, Debug)]
pub struct Service {
    app: AppKind,
    routes: Vec<Route>,
    pool: Pool,
}

impl Service {
    /// A service with `workers` workers (at least 1 is used), a queue of at most `max_queue`
    /// (unbounded if `None`), requests over it answered `reject_status`, and its endpoints in
    /// match order.
    pub fn new(
        app: AppKind,
        workers: u32,
        max_queue: Option<u32>,
        reject_status: u16,
        endpoints: Vec<(Route, Behaviour)>,
    ) -> Service {
        let (routes, behaviours) = endpoints.into_iter().unzip();
        Service {
            app,
            routes,
            pool: Pool::new(workers, max_queue, reject_status, behaviours),
        }
    }

    /// The application logic behind the endpoints.
    pub fn app(&self) -> AppKind {
        self.app
    }

    /// Number of endpoints; indices run from 0 to this, exclusive.
    pub fn endpoint_count(&self) -> usize {
        self.routes.len()
    }

    /// An endpoint's method and path pattern (for labels: `GET /items/{sku}`).
    pub fn route(&self, index: usize) -> Option<&Route> {
        self.routes.get(index)
    }

    /// An endpoint's behaviour.
    pub fn behaviour(&self, index: usize) -> Option<&Behaviour> {
        self.pool.behaviour(index)
    }

    /// The first endpoint, in the order written, that answers `method` and `path` (whose
    /// query string, from `?` on, is ignored); `None` means 404.
    pub fn match_endpoint(&self, method: &str, path: &str) -> Option<EndpointMatch> {
        self.routes.iter().enumerate().find_map(|(index, r)| {
            r.matches(method, path)
                .map(|params| EndpointMatch { index, params })
        })
    }

    /// Workers.
    pub fn workers(&self) -> u32 {
        self.pool.workers()
    }

    /// Status of a request turned away by a full queue.
    pub fn reject_status(&self) -> u16 {
        self.pool.reject_status()
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

    /// Whether `request` is waiting for a worker.
    pub fn is_queued(&self, request: RequestId) -> bool {
        self.pool.is_queued(request)
    }

    /// Counters across all endpoints.
    pub fn stats(&self) -> EndpointStats {
        self.pool.stats()
    }

    /// Counters of one endpoint.
    pub fn endpoint_stats(&self, index: usize) -> Option<EndpointStats> {
        self.pool.endpoint_stats(index)
    }

    /// A request for endpoint `endpoint` (an index from [`Service::match_endpoint`]) arrives
    /// at `now`: a free worker starts it, or it waits in the queue shared by all endpoints,
    /// or a full queue rejects it.
    ///
    /// An index the service does not have (a caller bug) is answered as a request that no
    /// endpoint matches, `Rejected { status: 404 }`, and changes nothing, counters included.
    pub fn arrive(
        &mut self,
        now: SimTime,
        request: RequestId,
        endpoint: usize,
        rng: &mut impl Rng,
    ) -> Arrival {
        self.pool.arrive(now, request, endpoint, rng)
    }

    /// `request` is done at `now` (its response went out; `now` may be an exact instant inside
    /// the caller's current tick, which the worker's next request starts from): its worker
    /// takes the oldest
    /// queued request, of whichever endpoint, which is returned. A request not in service is
    /// ignored (`None`).
    pub fn complete(
        &mut self,
        now: SimTime,
        request: RequestId,
        rng: &mut impl Rng,
    ) -> Option<Started> {
        self.pool.complete(now, request, rng)
    }

    /// Limits the workers to `cap` while a saturation fault is in force (`None` lifts it);
    /// returns the queued requests a rising cap starts at once.
    pub fn set_worker_cap(
        &mut self,
        now: SimTime,
        cap: Option<u32>,
        rng: &mut impl Rng,
    ) -> Vec<Started> {
        self.pool.set_worker_cap(now, cap, rng)
    }

    /// Removes `request` from the queue before it starts, because whoever was waiting for its
    /// answer is gone; `false` if it is not waiting (in service, unknown, already removed),
    /// and then nothing changes.
    ///
    /// This is a choice, not what every server does. A thread-pool server does not notice
    /// that a queued request's client left (it finds out when it writes the response), so it
    /// still runs the request, and that wasted work is part of what makes timeouts and
    /// retries costly under load. We drop the request instead because the simulated world
    /// needs to: when a task crashes or is stopped, the requests it had not started vanish
    /// with it, and when an async app's handler is dropped with its connection (as hyper
    /// drops it) there is nobody left to run the request for. A request already in service
    /// is never abandoned: its worker is freed by [`Service::complete`].
    pub fn abandon(&mut self, request: RequestId) -> bool {
        self.pool.abandon(request)
    }
}

#[cfg(test)]
mod tests;
