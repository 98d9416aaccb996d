//! The outbound hop: a request the local app sends to a virtual service, from the route to the
//! reply it gets, as a state machine in quinn-proto's shape.
//!
//! [`plan`] picks the route and its target (the mesh's weights, or what the control plane has
//! sent: a rollout's weights, A/B steering, the mirroring draw). A [`Hop`] then takes the
//! request through its cluster, each attempt and the retries, and finishes it. The driver
//! tells it what happened ([`Hop::on_admitted`], [`Hop::on_response`], [`Hop::on_reset`],
//! [`Hop::handle_timeout`]) with the simulated time, and asks it what to do next
//! ([`Hop::poll`]: an [`Action`]) and when to wake it ([`Hop::poll_timeout`]). The proxy's
//! shared state (clusters, the seeded RNG, service discovery, the mesh) is lent to each call
//! as an [`Env`], so the hop holds no reference across the driver's awaits and draws from the
//! RNG at the same points, in the same order, as the decisions it stands for.
//!
//! Each attempt goes, in order:
//! 1. the caller's own circuit breakers on the cluster (Envoy's defaults only: connections
//!    and requests, 1024 each; under App Mesh's 2147483647 they are not kept at all). An
//!    HTTP/1 cluster whose connections are all busy queues the attempt ([`Action::Queue`])
//!    until a connection frees ([`Hop::on_admitted`]) or the route's deadline; over the
//!    thresholds it is a local overflow (`UO`, never retried). Envoy's per-try timer starts
//!    only once a connection is ready, so only the route's deadline bounds the wait;
//! 2. the host pick (failure accrual's open breakers kept out, hosts already tried avoided);
//! 3. the attempt under its deadline: the per-try or route timeout, and the route's idle
//!    timer, which bounds the wait for an answer across every attempt and back-off (the whole
//!    request was handed over at the start, and nothing passes downstream until the answer
//!    does);
//! 4. the answer classified ([`super::classify`]), outlier detection and failure accrual told
//!    of it, and the exchange's decision: finish, or retry after a back-off if the cluster's
//!    retry breaker (`max_retries`) has room; Envoy gives the retry's slot back as soon as
//!    the retried attempt's outcome is known, before it decides on the next retry.
//!
//! The hop ends exactly once, with [`Action::Finish`]: which answer goes to the caller (the
//! last upstream response, or a local reply: 404 `NR`, 503 `UH`, 504 `UT`, 504 `SI`, or the
//! status the exchange chose with the flag of the last reset) and the decisions the access-log
//! line and a sampled request's trace detail are written from.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::ResponseHead;
use super::classify::{Answer, Classification};
use super::cluster::{self, Cluster, ClusterKey, HttpVersion, Picked, UpstreamHost};
use super::control::RouteOverrides;
use super::detail::{AttemptOutcome as Tried, AttemptRecord, EventKind, HopDetail, TargetChoice};
use super::mesh::MeshView;
use super::notes::{
    explain_route, idle_timeout_text, no_route, note_attempt_end, note_cluster_refused, note_ended,
    note_retry_shed, route_timeout_text,
};
use crate::engine::breaker::{Admission, Ticket};
use crate::engine::discovery::Registry;
use crate::engine::exchange::{
    AttemptPlan, Exchange, Final, FinishReason, Next, TimeoutKind, reset_flag,
};
use crate::engine::failure_accrual::Permit;
use crate::engine::flags::{ResponseFlag, ResponseFlags};
use crate::engine::listener::IdleTimer;
use crate::engine::outlier::{LocalFailure, RequestResult};
use crate::engine::retry::{AttemptOutcome, ResetReason, RetryRules};
use crate::engine::retry_breaker::RetryToken;
use crate::engine::seed::Rng;
use crate::engine::{Engine, RequestHead, SimTime};
use crate::metrics::Counter;

/// What a proxy lends its hops for one call: the mesh, service discovery, its clusters and
/// its seeded RNG stream.
#[derive(Debug)]
pub struct Env<'a> {
    /// The mesh.
    pub mesh: &'a MeshView,
    /// Service discovery.
    pub registry: &'a RefCell<Registry>,
    /// The proxy's upstream clusters.
    pub clusters: &'a mut BTreeMap<ClusterKey, Cluster>,
    /// The proxy's RNG stream (weighted picks, host picks, back-off, failure accrual).
    pub rng: &'a mut Rng,
}

/// How the route and target were chosen, before the hop starts.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The route that matched.
    pub route: String,
    /// The target virtual node.
    pub node: String,
    /// The target's port, when the route names one.
    pub port: Option<u16>,
    /// The route's retry policy.
    pub rules: RetryRules,
    /// The route's `perRequest` timeout.
    pub timeout: Option<Duration>,
    /// The route's idle timeout.
    pub idle: Option<Duration>,
    /// Also send a copy to this node (a rollout's mirroring drew this request).
    pub mirror: Option<String>,
    /// A sampled request's route and target decisions (and the mirroring draw), for its
    /// hop's detail; `None` for every other request.
    pub notes: Option<Box<HopDetail>>,
}

impl Plan {
    /// The plan of the shadow copy of a mirrored request (Envoy's request mirroring: fire and
    /// forget, one attempt, the answer dropped); `None` when the request is not mirrored.
    pub fn shadow(&self, service: &str, now: SimTime) -> Option<Plan> {
        let node = self.mirror.as_ref()?;
        let notes = self.notes.as_ref().map(|n| {
            let mut n = n.clone();
            n.target = Some(TargetChoice::Steered { node: node.clone() });
            n.events.clear();
            n.event(
                now,
                EventKind::Mirror,
                format!(
                    "shadow copy to `{node}` (authority {service}-shadow); its answer is dropped"
                ),
            );
            n
        });
        Some(Plan {
            node: node.clone(),
            rules: RetryRules::none(),
            mirror: None,
            notes,
            ..self.clone()
        })
    }
}

/// The route for `head` and a weighted target drawn from it; `None` when no route matches.
/// What the control plane has sent proxy `task` about the route (a rollout's weights, A/B
/// steering, mirroring) replaces the config's targets. For a `sampled` request the plan also
/// says why (the engine's route explanation, the draw), drawing nothing more.
#[allow(clippy::too_many_arguments)]
pub fn plan(
    engine: &Engine,
    control: &RouteOverrides,
    task: &str,
    service: &str,
    head: &RequestHead,
    sampled: bool,
    now: SimTime,
    rng: &mut Rng,
) -> Option<Plan> {
    let routed = engine.route(service, head).ok()?;
    let route = routed.route;
    let sent = match routed.router {
        Some(router) if !control.is_empty() => control.current(task, router, &route.name, now),
        _ => None,
    };
    let (node, mirror, choice, mirror_note) = match sent.as_deref() {
        None => {
            let (target, roll) = route.draw_target(rng);
            let choice = sampled.then(|| TargetChoice::Weighted {
                control_plane: false,
                targets: route
                    .targets()
                    .iter()
                    .map(|t| (t.virtual_node.clone(), t.weight))
                    .collect(),
                roll,
                chosen: target.virtual_node.clone(),
            });
            (target.virtual_node.clone(), None, choice, None)
        }
        Some(o) => {
            let (node, choice) = match &o.steer {
                Some(s) if s.matches(head) => (
                    s.node.clone(),
                    sampled.then(|| TargetChoice::Steered {
                        node: s.node.clone(),
                    }),
                ),
                _ => {
                    let (node, roll) = pick_weighted(&o.targets, rng);
                    let choice = sampled.then(|| TargetChoice::Weighted {
                        control_plane: true,
                        targets: o.targets.clone(),
                        roll,
                        chosen: node.to_string(),
                    });
                    (node.to_string(), choice)
                }
            };
            let mut note = None;
            let mirror = o.mirror.as_ref().and_then(|m| {
                let draw = rand::Rng::random::<f64>(rng);
                if sampled {
                    note = Some(if draw < m.share {
                        format!(
                            "mirrored to `{}`: drew {draw:.4} < share {}",
                            m.node, m.share
                        )
                    } else {
                        format!(
                            "not mirrored to `{}`: drew {draw:.4} >= share {}",
                            m.node, m.share
                        )
                    });
                }
                (draw < m.share).then(|| m.node.clone())
            });
            (node, mirror, choice, note)
        }
    };
    let notes = sampled.then(|| {
        let mut notes = HopDetail {
            route: Some(explain_route(engine, service, head, routed.router)),
            target: choice,
            ..HopDetail::default()
        };
        if let Some(n) = mirror_note {
            notes.event(now, EventKind::Mirror, n);
        }
        Box::new(notes)
    });
    let port = route
        .targets()
        .iter()
        .find(|t| t.virtual_node == node)
        .and_then(|t| t.port);
    Some(Plan {
        route: route.name.clone(),
        node,
        port,
        rules: engine.retry_rules(route),
        timeout: route.per_request_timeout,
        idle: route.idle_timeout,
        mirror,
        notes,
    })
}

/// A weighted draw among (node, weight) pairs whose total is above zero, with the roll.
fn pick_weighted<'a>(targets: &'a [(String, u32)], rng: &mut impl rand::Rng) -> (&'a str, u32) {
    let total: u32 = targets.iter().map(|(_, w)| w).sum();
    let drawn = rng.random_range(0..total.max(1));
    let mut roll = drawn;
    for (node, w) in targets {
        if roll < *w {
            return (node, drawn);
        }
        roll -= w;
    }
    (targets.first().map_or("", |(n, _)| n.as_str()), drawn)
}

/// What the driver does next for a hop.
#[derive(Debug)]
pub enum Action {
    /// Add one to the proxy's counter.
    Count(Counter),
    /// Send a shadow copy of the request on this plan, as a hop of its own; its answer is
    /// dropped.
    Mirror(Box<Plan>),
    /// The cluster was just made and has active health checks: start them.
    StartHealthChecks(ClusterKey),
    /// The attempt waits in the cluster's pending queue under `ticket`: wake the hop with
    /// [`Hop::on_admitted`] when a connection frees for it, or with [`Hop::handle_timeout`]
    /// at `until`.
    Queue {
        /// Its ticket in the cluster's pool.
        ticket: u64,
        /// The route's deadline.
        until: Option<SimTime>,
    },
    /// A connection of the cluster freed for the hop waiting under `ticket`: wake it.
    Wake {
        /// The cluster.
        cluster: ClusterKey,
        /// The waiting hop's ticket.
        ticket: u64,
    },
    /// Send an attempt; report how it ended with [`Hop::on_response`] or [`Hop::on_reset`],
    /// or [`Hop::handle_timeout`] at `deadline` if it has not.
    Send(Attempt),
    /// Wait (a retry's back-off), then [`Hop::handle_timeout`].
    Wait {
        /// Until when.
        until: SimTime,
    },
    /// The hop is over.
    Finish(Finished),
}

/// One attempt for the driver to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first try.
    pub number: u32,
    /// The upstream host.
    pub host: UpstreamHost,
    /// HTTP/1 or HTTP/2 (also gRPC), by the cluster's listener.
    pub version: HttpVersion,
    /// The `host` header to send: `<service>:<port>`, or `<service>-shadow` for a mirrored
    /// copy (Envoy's shadow suffix).
    pub authority: String,
    /// When to give up waiting: the attempt's own deadline or the route's idle timer,
    /// whichever is first.
    pub deadline: Option<SimTime>,
}

/// Which answer goes to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The last upstream response, forwarded.
    Upstream,
    /// A reply of this proxy's own, carrying its flag (`local_reply` in the driver).
    Local {
        /// HTTP status (a gRPC caller gets it as `grpc-status`).
        status: u16,
        /// The flag.
        flag: ResponseFlag,
    },
    /// The route's idle timer fired with no answer yet: 504 `SI`.
    IdleTimeout,
}

/// How the hop finished: its reply and the decisions its access-log line is written from.
#[derive(Debug)]
pub struct Finished {
    /// The reply.
    pub reply: Reply,
    /// The route taken (`None`: no route matched).
    pub route: Option<String>,
    /// The target virtual node.
    pub upstream_node: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// This proxy's own flags (a flag an upstream put on its reply stays on its line).
    pub flags: ResponseFlags,
    /// `address:port` of the last attempt's host (Envoy's `%UPSTREAM_HOST%`).
    pub upstream_host: Option<String>,
    /// How long the last answered attempt took (`x-envoy-upstream-service-time`); `None`
    /// when the reply is a local one.
    pub upstream_service_time: Option<Duration>,
    /// A sampled request's detail: the route and target decisions, each attempt, events.
    pub detail: Option<Box<HopDetail>>,
}

/// The caller's place in its cluster's pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    None,
    Queued(Ticket),
    Active,
}

/// Where the hop is.
#[derive(Debug)]
enum State {
    /// Not started.
    New,
    /// Waiting in the cluster's pending queue until the route's deadline.
    Queued { until: Option<SimTime> },
    /// An attempt is out.
    Sent {
        plan: AttemptPlan,
        host: UpstreamHost,
        permit: Option<Permit>,
        start: SimTime,
        deadline: Option<SimTime>,
    },
    /// Backing off before a retry; `idle`: the route's idle timer fires first, at `until`.
    Backoff { until: SimTime, idle: bool },
    /// Finished.
    Done,
}

/// How an attempt ended, as the driver reports it.
enum Ending {
    Answer(Answer),
    /// Its deadline (or the route's idle timer) passed first.
    Timeout,
}

/// One outbound request at one proxy, from its plan to its reply.
#[derive(Debug)]
pub struct Hop {
    service: String,
    port: u16,
    shadow: bool,
    start: SimTime,
    state: State,
    key: Option<ClusterKey>,
    exchange: Option<Exchange>,
    timeout: Option<Duration>,
    idle_after: Option<Duration>,
    idle: IdleTimer,
    tried: Vec<String>,
    slot: Slot,
    retry: Option<RetryToken>,
    /// An upstream response is the answer so far (cleared when a retry is granted).
    answered: bool,
    route: Option<String>,
    upstream_node: Option<String>,
    attempts: u32,
    flags: ResponseFlags,
    upstream_host: Option<String>,
    upstream_service_time: Option<Duration>,
    detail: Option<Box<HopDetail>>,
    actions: VecDeque<Action>,
}

impl Hop {
    /// A hop of a request to virtual service `service` (`port`) arriving at `now`; `shadow`
    /// for a mirrored copy. `detail` is the sampled request's record to fill in.
    pub fn new(
        service: &str,
        port: u16,
        shadow: bool,
        now: SimTime,
        detail: Option<Box<HopDetail>>,
    ) -> Hop {
        Hop {
            service: service.to_string(),
            port,
            shadow,
            start: now,
            state: State::New,
            key: None,
            exchange: None,
            timeout: None,
            idle_after: None,
            idle: IdleTimer::new(now, None),
            tried: Vec::new(),
            slot: Slot::None,
            retry: None,
            answered: false,
            route: None,
            upstream_node: None,
            attempts: 0,
            flags: ResponseFlags::NONE,
            upstream_host: None,
            upstream_service_time: None,
            detail,
            actions: VecDeque::new(),
        }
    }

    /// Starts the hop on its `plan` (`None`: no route matched; `head` then explains why to a
    /// sampled request). `gateway` is the gateway route that sent the request on, if a
    /// virtual gateway did.
    pub fn start(
        &mut self,
        now: SimTime,
        env: &mut Env<'_>,
        plan: Option<Plan>,
        head: Option<&RequestHead>,
        gateway: Option<&str>,
    ) {
        if !matches!(self.state, State::New) {
            return;
        }
        let Some(mut plan) = plan else {
            self.count(Counter::NoRoute);
            if let (Some(d), Some(head)) = (self.detail.as_deref_mut(), head) {
                d.route = Some(no_route(&env.mesh.engine.borrow(), &self.service, head));
            }
            return self.finish_local(404, ResponseFlag::NoRoute);
        };
        // Spawned before anything else the hop starts, as the copy leaves first.
        if !self.shadow
            && let Some(shadow) = plan.shadow(&self.service, now)
        {
            self.actions.push_back(Action::Mirror(Box::new(shadow)));
        }
        self.route = Some(plan.route.clone());
        self.upstream_node = Some(plan.node.clone());
        if let (Some(d), Some(notes)) = (self.detail.as_deref_mut(), plan.notes.take()) {
            let notes = *notes;
            d.route = notes.route;
            d.target = notes.target;
            d.events = notes.events;
        }
        if let (Some(d), Some(g)) = (self.detail.as_deref_mut(), gateway) {
            d.event(now, EventKind::GatewayRoute, g);
        }
        let Some((key, checked)) = cluster::ensure(
            env.clusters,
            env.mesh,
            env.registry,
            &plan.node,
            plan.port,
            now,
            env.rng,
        ) else {
            return self.finish_local(503, ResponseFlag::NoHealthyUpstream);
        };
        if checked {
            self.actions
                .push_back(Action::StartHealthChecks(key.clone()));
        }
        self.key = Some(key);
        self.exchange = Some(Exchange::new(now, plan.rules, plan.timeout));
        self.timeout = plan.timeout;
        self.idle_after = plan.idle;
        self.idle = IdleTimer::new(now, plan.idle);
        self.admit(now, env);
    }

    /// The next thing to do; `None` once the hop has finished and everything was taken.
    pub fn poll(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When the hop wants [`Hop::handle_timeout`] if nothing else happens first.
    pub fn poll_timeout(&self) -> Option<SimTime> {
        match &self.state {
            State::Queued { until } => *until,
            State::Sent { deadline, .. } => *deadline,
            State::Backoff { until, .. } => Some(*until),
            State::New | State::Done => None,
        }
    }

    /// The cluster the hop's attempts go to, once it has one.
    pub fn cluster_key(&self) -> Option<&ClusterKey> {
        self.key.as_ref()
    }

    /// Whether the hop has finished.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// A connection of the cluster freed for the queued attempt.
    pub fn on_admitted(&mut self, now: SimTime, env: &mut Env<'_>) {
        if !matches!(self.state, State::Queued { .. }) {
            return;
        }
        if let Slot::Queued(ticket) = self.slot
            && let Some(c) = self.cluster(env)
        {
            c.waiting.remove(&ticket.get());
        }
        self.slot = Slot::Active;
        self.attempt(now, env);
    }

    /// The attempt's response headers arrived.
    pub fn on_response(&mut self, now: SimTime, head: ResponseHead, env: &mut Env<'_>) {
        self.attempt_ended(now, Ending::Answer(Answer::Response(head)), env);
    }

    /// The attempt got no response: the connection could not be made, or the stream or
    /// connection was reset.
    pub fn on_reset(&mut self, now: SimTime, reason: ResetReason, env: &mut Env<'_>) {
        self.attempt_ended(now, Ending::Answer(Answer::Reset(reason)), env);
    }

    /// The time [`Hop::poll_timeout`] named has come.
    pub fn handle_timeout(&mut self, now: SimTime, env: &mut Env<'_>) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Queued { .. } => {
                // Dropped from the queue: the route's deadline came first.
                if let Slot::Queued(ticket) = self.slot
                    && let Some(c) = self.cluster(env)
                {
                    c.cancel_queued(ticket);
                }
                self.slot = Slot::None;
                self.count(Counter::Timeouts);
                let f = self.exchange_mut().on_route_timeout(now);
                if let Some(d) = self.detail.as_deref_mut() {
                    note_cluster_refused(d, now, &f, self.timeout);
                }
                self.finish_final(f, env, now);
            }
            state @ State::Sent { .. } => {
                self.state = state;
                self.attempt_ended(now, Ending::Timeout, env);
            }
            State::Backoff { idle: true, .. } => self.route_idle_expired(now, env),
            State::Backoff { idle: false, .. } => self.admit(now, env),
            state => self.state = state,
        }
    }

    fn count(&mut self, stat: Counter) {
        self.actions.push_back(Action::Count(stat));
    }

    fn cluster<'e>(&self, env: &'e mut Env<'_>) -> Option<&'e mut Cluster> {
        env.clusters.get_mut(self.key.as_ref()?)
    }

    fn exchange_mut(&mut self) -> &mut Exchange {
        self.exchange
            .get_or_insert_with(|| Exchange::new(self.start, RetryRules::none(), None))
    }

    /// The caller's own cluster breaker first (only under Envoy's defaults does it ever
    /// refuse or queue), then the attempt.
    fn admit(&mut self, now: SimTime, env: &mut Env<'_>) {
        let admission = self
            .cluster(env)
            .and_then(|c| c.pool.as_mut())
            .map(|pool| pool.admit(now));
        match admission {
            None => self.attempt(now, env),
            Some(Admission::Dispatch { .. }) => {
                self.slot = Slot::Active;
                self.attempt(now, env);
            }
            Some(Admission::Queued { ticket, .. }) => {
                if let Some(c) = self.cluster(env) {
                    c.waiting.insert(ticket.get());
                }
                self.slot = Slot::Queued(ticket);
                let until = self.exchange_mut().deadline();
                self.state = State::Queued { until };
                self.actions.push_back(Action::Queue {
                    ticket: ticket.get(),
                    until,
                });
            }
            Some(Admission::Rejected(_)) => {
                self.count(Counter::Overflows);
                let f = self.exchange_mut().on_local_overflow(now);
                if let Some(d) = self.detail.as_deref_mut() {
                    note_cluster_refused(d, now, &f, self.timeout);
                }
                self.finish_final(f, env, now);
            }
        }
    }

    /// The next attempt: its deadline, a host, and the request out.
    fn attempt(&mut self, now: SimTime, env: &mut Env<'_>) {
        let attempt = match self.exchange_mut().start_attempt(now) {
            Ok(a) => a,
            Err(f) => {
                if let Some(d) = self.detail.as_deref_mut() {
                    d.event(
                        f.at,
                        EventKind::RouteTimeout,
                        route_timeout_text(self.timeout, "before the next attempt"),
                    );
                }
                return self.finish_final(f, env, now);
            }
        };
        if attempt.number > 1 {
            self.count(Counter::Retries);
        }
        self.count(Counter::Attempts);
        let key = self.key.clone();
        let picked = match key.as_ref().and_then(|k| env.clusters.get_mut(k)) {
            Some(c) => c.pick(
                env.registry,
                now,
                &self.tried,
                self.detail.as_deref_mut(),
                env.rng,
            ),
            None => None,
        };
        let Some(Picked {
            host,
            version,
            permit,
            why,
        }) = picked
        else {
            self.attempts = self.exchange_mut().attempts();
            self.release_slot(now, env);
            self.release_retry(env);
            return self.finish_local(503, ResponseFlag::NoHealthyUpstream);
        };
        self.tried.push(host.id.clone());
        self.upstream_host = Some(format!("{}:{}", host.address, host.port));
        if let Some(d) = self.detail.as_deref_mut() {
            d.attempts.push(AttemptRecord {
                number: attempt.number,
                host: host.id.clone(),
                address: format!("{}:{}", host.address, host.port),
                pick: why.unwrap_or_default(),
                start: now,
                end: now,
                deadline: attempt.deadline.map(|at| {
                    let kind = match attempt.bounded_by {
                        Some(TimeoutKind::Route) => "route perRequest",
                        _ => "perRetryTimeout",
                    };
                    (at, kind)
                }),
                outcome: Tried::Pending,
                then: None,
            });
        }
        let authority = if self.shadow {
            format!("{}-shadow", self.service)
        } else {
            format!("{}:{}", self.service, self.port)
        };
        let deadline = self.idle.bound(attempt.deadline);
        self.actions.push_back(Action::Send(Attempt {
            number: attempt.number,
            host: host.clone(),
            version,
            authority,
            deadline,
        }));
        self.state = State::Sent {
            plan: attempt,
            host,
            permit,
            start: now,
            deadline,
        };
    }

    /// Gives back the attempt's place in the cluster's pool (or its place in the queue).
    fn release_slot(&mut self, now: SimTime, env: &mut Env<'_>) {
        let slot = std::mem::replace(&mut self.slot, Slot::None);
        let Some(key) = self.key.clone() else {
            return;
        };
        let Some(c) = env.clusters.get_mut(&key) else {
            return;
        };
        match slot {
            Slot::None => {}
            Slot::Queued(ticket) => c.cancel_queued(ticket),
            Slot::Active => {
                if let Some(ticket) = c.release_slot(now) {
                    self.actions.push_back(Action::Wake {
                        cluster: key,
                        ticket,
                    });
                }
            }
        }
    }

    /// Gives back the retry breaker's slot, if the hop holds one.
    fn release_retry(&mut self, env: &mut Env<'_>) {
        // A hop's cluster lives as long as its proxy, so the slot always has its gate.
        if let Some(c) = self.key.as_ref().and_then(|k| env.clusters.get_mut(k))
            && let Some(token) = self.retry.take()
        {
            c.retries.finish_retry(token);
        }
    }

    fn attempt_ended(&mut self, now: SimTime, ending: Ending, env: &mut Env<'_>) {
        let State::Sent {
            plan: attempt,
            host,
            permit,
            start: attempt_start,
            ..
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return;
        };
        self.release_slot(now, env);
        let start = self.start;
        let judged: Classification = match ending {
            Ending::Timeout if self.idle.fires_before(attempt.deadline) => {
                if let Some(c) = self.key.as_ref().and_then(|k| env.clusters.get_mut(k)) {
                    c.abandon_request(&host.id, now, attempt_start, permit, env.rng);
                }
                if let Some(a) = self.detail.as_deref_mut().and_then(HopDetail::current) {
                    a.end = now;
                    a.then = Some("abandoned: the route's idle timeout ended the stream".into());
                }
                return self.route_idle_expired(now, env);
            }
            Ending::Timeout if attempt.bounded_by == Some(TimeoutKind::Route) => {
                self.count(Counter::Timeouts);
                let ended = match self.key.as_ref().and_then(|k| env.clusters.get_mut(k)) {
                    Some(c) => c.end_request(
                        &host.id,
                        now,
                        start,
                        RequestResult::LocalFailure(LocalFailure::Timeout),
                        permit,
                        env.rng,
                    ),
                    None => cluster::Ended::default(),
                };
                for s in ended.stats() {
                    self.count(s);
                }
                if let Some(d) = self.detail.as_deref_mut() {
                    if let Some(a) = d.current() {
                        a.end = now;
                        a.outcome = Tried::RouteTimeout;
                        a.then = Some(
                            "finish: the route timeout ends the exchange, 504 UT; nothing is retried"
                                .into(),
                        );
                    }
                    d.event(
                        now,
                        EventKind::RouteTimeout,
                        route_timeout_text(
                            self.timeout,
                            &format!("during attempt {} to {}", attempt.number, host.id),
                        ),
                    );
                    note_ended(d, now, &host.id, &ended);
                }
                let f = self.exchange_mut().on_route_timeout(now);
                return self.finish_final(f, env, now);
            }
            Ending::Timeout => {
                self.count(Counter::Timeouts);
                Answer::Reset(ResetReason::PerTryTimeout).classify()
            }
            Ending::Answer(Answer::Reset(reason)) => {
                self.count(Counter::Resets);
                Answer::Reset(reason).classify()
            }
            Ending::Answer(answer @ Answer::Response(_)) => {
                let judged = answer.classify();
                if let (Some(a), Some(status)) = (
                    self.detail.as_deref_mut().and_then(HopDetail::current),
                    judged.router_status,
                ) {
                    a.outcome = Tried::Response {
                        status,
                        flag: judged.upstream_flag,
                    };
                }
                self.upstream_service_time = Some(now.saturating_since(attempt_start));
                self.answered = true;
                judged
            }
        };
        // Every end reported here reached the host (the caller's own overflow is refused
        // before an attempt starts), so outlier detection always hears it.
        let outlier = judged
            .outlier
            .unwrap_or(RequestResult::LocalFailure(LocalFailure::Reset));
        let ended = match self.key.as_ref().and_then(|k| env.clusters.get_mut(k)) {
            Some(c) => c.end_request(&host.id, now, start, outlier, permit, env.rng),
            None => cluster::Ended::default(),
        };
        for s in ended.stats() {
            self.count(s);
        }
        let outcome = judged.attempt;
        let next = match self.exchange.as_mut() {
            Some(x) => x.on_outcome(now, outcome, env.rng),
            None => return,
        };
        if let Some(d) = self.detail.as_deref_mut() {
            note_attempt_end(d, now, outcome, &attempt, &host.id, &next);
            note_ended(d, now, &host.id, &ended);
        }
        // Envoy gives the retry breaker's slot back as soon as the retried attempt's outcome
        // is known, before it decides on the next retry.
        self.release_retry(env);
        match next {
            Next::Retry { at, .. } => {
                let granted = match self.cluster(env) {
                    Some(c) => c.retries.try_start_retry().map(Some),
                    None => Ok(None),
                };
                match granted {
                    Ok(token) => {
                        self.retry = token;
                        self.answered = false;
                        let (until, idle) = if self.idle.fires_before(Some(at)) {
                            (self.idle.deadline().unwrap_or(at), true)
                        } else {
                            (at, false)
                        };
                        self.state = State::Backoff { until, idle };
                        self.actions.push_back(Action::Wait { until });
                    }
                    Err(shed) => {
                        self.count(Counter::Overflows);
                        if let Some(d) = self.detail.as_deref_mut() {
                            note_retry_shed(d, now, &shed);
                        }
                        let f = self.exchange_mut().shed_retry(now);
                        self.finish_final(f, env, now);
                    }
                }
            }
            Next::Finish(f) => self.finish_final(f, env, now),
        }
    }

    /// The route's idle timer fired with no answer yet: 504 `SI` to the caller.
    fn route_idle_expired(&mut self, now: SimTime, env: &mut Env<'_>) {
        if let Some(d) = self.detail.as_deref_mut() {
            d.event(
                now,
                EventKind::IdleTimeout,
                idle_timeout_text("route", self.idle_after),
            );
        }
        self.attempts = self.exchange_mut().attempts();
        self.flags.insert(ResponseFlag::StreamIdleTimeout);
        self.count(Counter::Timeouts);
        self.release_slot(now, env);
        self.release_retry(env);
        self.finish(Reply::IdleTimeout);
    }

    /// The exchange's end: the last upstream response, or a local reply for a route timeout
    /// or an attempt that got no answer.
    fn finish_final(&mut self, f: Final, env: &mut Env<'_>, now: SimTime) {
        self.release_slot(now, env);
        self.release_retry(env);
        self.attempts = f.attempts;
        self.flags = f.flags();
        let reply = match (f.reason, f.last_outcome, self.answered) {
            (FinishReason::RouteTimeout, _, _) => {
                self.upstream_service_time = None;
                Reply::Local {
                    status: 504,
                    flag: ResponseFlag::UpstreamTimeout,
                }
            }
            (_, _, true) => Reply::Upstream,
            (_, last, false) => {
                self.upstream_service_time = None;
                let flag = match last {
                    Some(AttemptOutcome::Reset(reason)) => reset_flag(reason),
                    _ => ResponseFlag::UpstreamReset,
                };
                Reply::Local {
                    status: f.status,
                    flag,
                }
            }
        };
        self.finish(reply);
    }

    /// Ends the hop with a reply of this proxy's own, flagged `flag`.
    fn finish_local(&mut self, status: u16, flag: ResponseFlag) {
        self.flags.insert(flag);
        self.finish(Reply::Local { status, flag });
    }

    fn finish(&mut self, reply: Reply) {
        self.state = State::Done;
        self.actions.push_back(Action::Finish(Finished {
            reply,
            route: self.route.take(),
            upstream_node: self.upstream_node.take(),
            attempts: self.attempts,
            flags: self.flags,
            upstream_host: self.upstream_host.take(),
            upstream_service_time: self.upstream_service_time,
            detail: self.detail.take(),
        }));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Every decision path of the hop, in-process: a small mesh, upstream answers scripted
    //! by the test, and the exact actions the hop asks for.

    use std::rc::Rc;

    use super::*;
    use crate::config::{LoadOptions, load_texts};
    use crate::engine::defaults::EnvoyDefaults;
    use crate::engine::discovery::{Instance, Registration};
    use crate::engine::failure_accrual::FailureAccrualConfig;
    use crate::engine::retry_breaker::RetryGate;
    use crate::engine::seed;
    use crate::sidecar::control::{Mirror, RouteOverride};

    const B: &str = "b.local";
    const G: &str = "g.local";

    fn mesh_texts() -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "b-vn.json",
                r#"{"meshName": "m", "virtualNodeName": "b", "spec": {
                    "listeners": [{"portMapping": {"port": 8080, "protocol": "http"},
                        "outlierDetection": {"maxServerErrors": 2,
                            "interval": {"unit": "s", "value": 10},
                            "baseEjectionDuration": {"unit": "s", "value": 30},
                            "maxEjectionPercent": 50}}],
                    "serviceDiscovery": {"awsCloudMap": {"namespaceName": "ns", "serviceName": "b"}}}}"#,
            ),
            (
                "g-vn.json",
                r#"{"meshName": "m", "virtualNodeName": "g", "spec": {
                    "listeners": [{"portMapping": {"port": 9090, "protocol": "grpc"}}],
                    "serviceDiscovery": {"awsCloudMap": {"namespaceName": "ns", "serviceName": "g"}}}}"#,
            ),
            (
                "h-vn.json",
                r#"{"meshName": "m", "virtualNodeName": "h", "spec": {
                    "listeners": [{"portMapping": {"port": 7070, "protocol": "http"},
                        "healthCheck": {"protocol": "http", "path": "/ping",
                            "healthyThreshold": 2, "unhealthyThreshold": 2,
                            "timeoutMillis": 2000, "intervalMillis": 5000}}],
                    "serviceDiscovery": {"awsCloudMap": {"namespaceName": "ns", "serviceName": "h"}}}}"#,
            ),
            (
                "h-vs.json",
                r#"{"meshName": "m", "virtualServiceName": "h.local", "spec": {
                    "provider": {"virtualNode": {"virtualNodeName": "h"}}}}"#,
            ),
            (
                "t-vn.json",
                r#"{"meshName": "m", "virtualNodeName": "t", "spec": {
                    "listeners": [{"portMapping": {"port": 5000, "protocol": "tcp"}}],
                    "serviceDiscovery": {"awsCloudMap": {"namespaceName": "ns", "serviceName": "t"}}}}"#,
            ),
            (
                "t-vs.json",
                r#"{"meshName": "m", "virtualServiceName": "t.local", "spec": {
                    "provider": {"virtualNode": {"virtualNodeName": "t"}}}}"#,
            ),
            (
                "r-vr.json",
                r#"{"meshName": "m", "virtualRouterName": "r", "spec": {
                    "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}}"#,
            ),
            (
                "gr-vr.json",
                r#"{"meshName": "m", "virtualRouterName": "gr", "spec": {
                    "listeners": [{"portMapping": {"port": 9090, "protocol": "grpc"}}]}}"#,
            ),
            (
                "rt.json",
                r#"{"meshName": "m", "virtualRouterName": "r", "routeName": "rt", "spec": {
                    "priority": 10,
                    "httpRoute": {"match": {"prefix": "/"},
                        "action": {"weightedTargets": [{"virtualNode": "b", "weight": 1}]},
                        "retryPolicy": {"maxRetries": 2,
                            "perRetryTimeout": {"unit": "ms", "value": 100},
                            "httpRetryEvents": ["server-error"],
                            "tcpRetryEvents": ["connection-error"]},
                        "timeout": {"perRequest": {"unit": "ms", "value": 1000}}}}}"#,
            ),
            (
                "slow.json",
                r#"{"meshName": "m", "virtualRouterName": "r", "routeName": "slow", "spec": {
                    "priority": 1,
                    "httpRoute": {"match": {"prefix": "/slow"},
                        "action": {"weightedTargets": [{"virtualNode": "b", "weight": 1}]},
                        "retryPolicy": {"maxRetries": 2,
                            "perRetryTimeout": {"unit": "ms", "value": 500},
                            "httpRetryEvents": ["server-error"]},
                        "timeout": {"perRequest": {"unit": "ms", "value": 150}}}}}"#,
            ),
            (
                "idle.json",
                r#"{"meshName": "m", "virtualRouterName": "r", "routeName": "idle", "spec": {
                    "priority": 2,
                    "httpRoute": {"match": {"prefix": "/idle"},
                        "action": {"weightedTargets": [{"virtualNode": "b", "weight": 1}]},
                        "retryPolicy": {"maxRetries": 2,
                            "perRetryTimeout": {"unit": "ms", "value": 500},
                            "httpRetryEvents": ["server-error"]},
                        "timeout": {"perRequest": {"unit": "ms", "value": 1000},
                            "idle": {"unit": "ms", "value": 50}}}}}"#,
            ),
            (
                "grpc.json",
                r#"{"meshName": "m", "virtualRouterName": "gr", "routeName": "grpc", "spec": {
                    "grpcRoute": {"match": {"serviceName": "pkg.Svc"},
                        "action": {"weightedTargets": [{"virtualNode": "g", "weight": 1}]},
                        "retryPolicy": {"maxRetries": 1,
                            "perRetryTimeout": {"unit": "ms", "value": 100},
                            "grpcRetryEvents": ["unavailable"]}}}}"#,
            ),
            (
                "b-vs.json",
                r#"{"meshName": "m", "virtualServiceName": "b.local", "spec": {
                    "provider": {"virtualRouter": {"virtualRouterName": "r"}}}}"#,
            ),
            (
                "g-vs.json",
                r#"{"meshName": "m", "virtualServiceName": "g.local", "spec": {
                    "provider": {"virtualRouter": {"virtualRouterName": "gr"}}}}"#,
            ),
        ]
    }

    /// A proxy's world for the core: the mesh, discovery with `hosts` tasks of `b` and one of
    /// `g`, its clusters, its RNG and the control plane's route changes.
    pub(crate) struct World {
        mesh: MeshView,
        registry: RefCell<Registry>,
        pub(crate) clusters: BTreeMap<ClusterKey, Cluster>,
        rng: Rng,
        control: RouteOverrides,
    }

    impl World {
        pub(crate) fn new(defaults: EnvoyDefaults, hosts: usize) -> World {
            let loaded = load_texts(&mesh_texts(), &LoadOptions::default());
            assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
            let mesh = MeshView::new(&loaded.meshes["m"], defaults);
            let mut registry = Registry::new(Duration::ZERO);
            let mut register = |id: String, service: &str, port| {
                registry.register(
                    SimTime::ZERO,
                    Instance {
                        id: id.clone(),
                        address: id,
                        port,
                        registration: Registration::CloudMap {
                            namespace: "ns".into(),
                            service: service.into(),
                        },
                        attributes: BTreeMap::new(),
                    },
                );
            };
            for i in 1..=hosts {
                register(format!("b-{i}"), "b", 8080);
            }
            register("g-1".into(), "g", 9090);
            register("h-1".into(), "h", 7070);
            register("t-1".into(), "t", 5000);
            World {
                mesh,
                registry: RefCell::new(registry),
                clusters: BTreeMap::new(),
                rng: seed::stream(7, "sidecar/test"),
                control: RouteOverrides::default(),
            }
        }

        pub(crate) fn env(&mut self) -> Env<'_> {
            Env {
                mesh: &self.mesh,
                registry: &self.registry,
                clusters: &mut self.clusters,
                rng: &mut self.rng,
            }
        }

        /// The plan for a request for `path` on `service` at `at` ms.
        pub(crate) fn plan(&mut self, service: &str, path: &str, at: u64) -> Option<Plan> {
            let port = self.mesh.service_port(service).0;
            let head = RequestHead::get(service, port, path);
            plan(
                &self.mesh.engine.borrow(),
                &self.control,
                "a-1",
                service,
                &head,
                false,
                ms(at),
                &mut self.rng,
            )
        }

        /// A hop of a request for `path` on `service`, planned and started at `at` ms.
        fn hop(&mut self, service: &str, path: &str, at: u64, sampled: bool) -> Hop {
            let now = ms(at);
            let port = self.mesh.service_port(service).0;
            let head = RequestHead::get(service, port, path);
            let planned = plan(
                &self.mesh.engine.borrow(),
                &self.control,
                "a-1",
                service,
                &head,
                sampled,
                now,
                &mut self.rng,
            );
            let detail = sampled.then(Box::<HopDetail>::default);
            let mut hop = Hop::new(service, port, false, now, detail);
            hop.start(now, &mut self.env(), planned, Some(&head), None);
            hop
        }
    }

    pub(crate) fn ms(n: u64) -> SimTime {
        SimTime::from_millis(n)
    }

    fn show(a: &Action) -> String {
        let at = |t: Option<SimTime>| {
            t.map_or("never".to_string(), |t| {
                format!("{}ms", t.as_nanos() / 1_000_000)
            })
        };
        match a {
            Action::Count(s) => format!("count {s:?}"),
            Action::Mirror(p) => format!("mirror to {}", p.node),
            Action::StartHealthChecks(k) => format!("health checks {}", k.0),
            Action::Queue { ticket, until } => format!("queue #{ticket} until {}", at(*until)),
            Action::Wake { ticket, .. } => format!("wake #{ticket}"),
            Action::Send(s) => format!(
                "send {} to {} {:?} as {} until {}",
                s.number,
                s.host.id,
                s.version,
                s.authority,
                at(s.deadline)
            ),
            Action::Wait { .. } => "wait".to_string(),
            Action::Finish(f) => format!(
                "finish {:?} after {} attempts, flags {}",
                f.reply, f.attempts, f.flags
            ),
        }
    }

    /// Every action the hop has for the driver now, shown.
    fn drain(hop: &mut Hop) -> Vec<String> {
        std::iter::from_fn(|| hop.poll())
            .map(|a| show(&a))
            .collect()
    }

    /// The hop's actions, with its `Finish` kept whole.
    fn finish(hop: &mut Hop) -> Finished {
        let mut last = None;
        while let Some(a) = hop.poll() {
            if let Action::Finish(f) = a {
                last = Some(f);
            }
        }
        last.expect("the hop finished")
    }

    /// The host of the attempt the hop just asked to send.
    fn sent_to(actions: &[String]) -> String {
        let send = actions
            .iter()
            .find(|a| a.starts_with("send "))
            .expect("an attempt");
        send.split(' ').nth(3).expect("a host").to_string()
    }

    /// The back-off's end, taken from the hop (the draw is the exchange's).
    fn backoff_end(hop: &Hop) -> SimTime {
        hop.poll_timeout().expect("a timer")
    }

    fn ok() -> ResponseHead {
        ResponseHead::status(200)
    }

    #[test]
    fn no_route_is_a_local_404_nr() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 2);
        let mut hop = w.hop("nowhere.local", "/", 0, true);
        assert!(hop.is_done());
        let f = finish(&mut hop);
        assert_eq!(
            f.reply,
            Reply::Local {
                status: 404,
                flag: ResponseFlag::NoRoute
            }
        );
        assert_eq!((f.attempts, f.flags.to_string()), (0, "NR".to_string()));
        let route = f.detail.and_then(|d| d.route).expect("explained");
        assert!(route.note.expect("a note").ends_with("404 NR"));
    }

    #[test]
    fn no_healthy_upstream_is_a_local_503_uh() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 0);
        let mut hop = w.hop(B, "/", 0, false);
        assert_eq!(
            drain(&mut hop),
            [
                "count Attempts",
                "finish Local { status: 503, flag: NoHealthyUpstream } after 1 attempts, flags UH"
            ]
        );
    }

    #[test]
    fn success_on_the_first_try_forwards_the_answer() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 2);
        let mut hop = w.hop(B, "/", 0, false);
        let first = drain(&mut hop);
        assert_eq!(first.len(), 2, "{first:?}");
        assert_eq!(first[0], "count Attempts");
        let host = sent_to(&first);
        assert_eq!(
            first[1],
            format!("send 1 to {host} Http1 as b.local:8080 until 100ms")
        );
        assert_eq!(hop.poll_timeout(), Some(ms(100)));
        hop.on_response(ms(20), ok(), &mut w.env());
        let f = finish(&mut hop);
        assert_eq!(f.reply, Reply::Upstream);
        assert_eq!((f.attempts, f.flags), (1, ResponseFlags::NONE));
        assert_eq!(f.route.as_deref(), Some("rt"));
        assert_eq!(f.upstream_node.as_deref(), Some("b"));
        assert_eq!(f.upstream_host, Some(format!("{host}:8080")));
        assert_eq!(f.upstream_service_time, Some(Duration::from_millis(20)));
        assert!(hop.is_done() && hop.poll().is_none());
    }

    #[test]
    fn a_5xx_is_retried_on_another_host_after_a_back_off_then_succeeds() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 2);
        let mut hop = w.hop(B, "/", 0, true);
        let first = sent_to(&drain(&mut hop));
        hop.on_response(ms(10), ResponseHead::status(503), &mut w.env());
        assert_eq!(drain(&mut hop), ["wait"]);
        let at = backoff_end(&hop);
        assert!(
            at > ms(10) && at <= ms(10 + 25),
            "App Mesh's 25 ms base: {at}"
        );
        hop.handle_timeout(at, &mut w.env());
        let second = drain(&mut hop);
        assert_eq!(second[..2], ["count Retries", "count Attempts"]);
        assert_ne!(sent_to(&second), first, "a tried host is avoided");
        hop.on_response(at + Duration::from_millis(5), ok(), &mut w.env());
        let f = finish(&mut hop);
        assert_eq!(
            (f.reply, f.attempts, f.flags),
            (Reply::Upstream, 2, ResponseFlags::NONE)
        );
        let d = f.detail.expect("sampled");
        assert_eq!(d.attempts.len(), 2);
        assert_eq!(
            d.attempts[0].outcome,
            Tried::Response {
                status: 503,
                flag: None
            }
        );
        assert!(
            d.attempts[0]
                .then
                .as_deref()
                .is_some_and(|t| t.starts_with("retry on server-error: attempt 2")),
            "{:?}",
            d.attempts[0].then
        );
    }

    #[test]
    fn retries_exhausted_forward_the_last_5xx_with_urx() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 3);
        let mut hop = w.hop(B, "/", 0, false);
        let mut now = ms(0);
        let mut log = drain(&mut hop);
        for _ in 0..2 {
            now = now + Duration::from_millis(1);
            hop.on_response(now, ResponseHead::status(500), &mut w.env());
            assert_eq!(drain(&mut hop), ["wait"]);
            now = backoff_end(&hop);
            hop.handle_timeout(now, &mut w.env());
            log.extend(drain(&mut hop));
        }
        assert_eq!(log.iter().filter(|a| a.starts_with("send")).count(), 3);
        assert_eq!(log.iter().filter(|a| *a == "count Retries").count(), 2);
        hop.on_response(
            now + Duration::from_millis(1),
            ResponseHead::status(500),
            &mut w.env(),
        );
        assert_eq!(
            drain(&mut hop),
            ["finish Upstream after 3 attempts, flags URX"]
        );
    }

    #[test]
    fn a_per_try_timeout_is_counted_and_retried() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 2);
        let mut hop = w.hop(B, "/", 0, false);
        drain(&mut hop);
        hop.handle_timeout(ms(100), &mut w.env());
        assert_eq!(drain(&mut hop), ["count Timeouts", "wait"]);
        let at = backoff_end(&hop);
        hop.handle_timeout(at, &mut w.env());
        let second = drain(&mut hop);
        assert_eq!(second[..2], ["count Retries", "count Attempts"]);
        hop.on_response(at + Duration::from_millis(1), ok(), &mut w.env());
        let f = finish(&mut hop);
        assert_eq!(
            (f.reply, f.attempts, f.flags),
            (Reply::Upstream, 2, ResponseFlags::NONE)
        );
    }

    #[test]
    fn a_route_timeout_during_an_attempt_is_504_ut_and_not_retried() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 2);
        let mut hop = w.hop(B, "/slow", 0, true);
        let first = drain(&mut hop);
        assert!(
            first[1].ends_with("until 150ms"),
            "the route's 150 ms bounds it: {first:?}"
        );
        hop.handle_timeout(ms(150), &mut w.env());
        let f = finish(&mut hop);
        assert_eq!(
            (f.reply, f.attempts, f.flags.to_string()),
            (
                Reply::Local {
                    status: 504,
                    flag: ResponseFlag::UpstreamTimeout
                },
                1,
                "UT".to_string()
            )
        );
        assert_eq!(f.upstream_service_time, None);
        let d = f.detail.expect("sampled");
        assert_eq!(d.attempts[0].outcome, Tried::RouteTimeout);
        assert!(d.events.iter().any(|e| e.kind == EventKind::RouteTimeout));
    }

    #[test]
    fn the_route_idle_timeout_abandons_the_attempt_with_504_si() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 2);
        let mut hop = w.hop(B, "/idle", 0, false);
        let first = drain(&mut hop);
        assert!(first[1].ends_with("until 50ms"), "{first:?}");
        hop.handle_timeout(ms(50), &mut w.env());
        assert_eq!(
            drain(&mut hop),
            [
                "count Timeouts",
                "finish IdleTimeout after 1 attempts, flags SI"
            ]
        );
    }

    #[test]
    fn connect_failures_are_retried_and_end_with_uf_a_reset_with_uc() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 3);
        let mut hop = w.hop(B, "/", 0, false);
        drain(&mut hop);
        let mut now = ms(1);
        for _ in 0..2 {
            hop.on_reset(now, ResetReason::ConnectFailure, &mut w.env());
            assert_eq!(drain(&mut hop), ["count Resets", "wait"]);
            now = backoff_end(&hop);
            hop.handle_timeout(now, &mut w.env());
            drain(&mut hop);
        }
        hop.on_reset(now, ResetReason::ConnectFailure, &mut w.env());
        let f = finish(&mut hop);
        assert_eq!(
            f.reply,
            Reply::Local {
                status: 503,
                flag: ResponseFlag::ConnectFailure
            }
        );
        assert_eq!((f.attempts, f.flags.to_string()), (3, "UF,URX".to_string()));
        // A reset on a route whose policy does not retry it (gRPC `unavailable` only; an
        // HTTP route's server-error would, as Envoy's `5xx` covers resets).
        let mut hop = w.hop(G, "/pkg.Svc/Get", 100, false);
        drain(&mut hop);
        hop.on_reset(ms(101), ResetReason::Disconnect, &mut w.env());
        assert_eq!(
            drain(&mut hop),
            [
                "count Resets",
                "finish Local { status: 503, flag: UpstreamReset } after 1 attempts, flags UC"
            ]
        );
    }

    #[test]
    fn the_retry_breaker_sheds_a_retry_and_the_last_answer_goes_down() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 2);
        let mut hop = w.hop(B, "/", 0, false);
        drain(&mut hop);
        let key = hop.cluster_key().expect("a cluster").clone();
        w.clusters.get_mut(&key).expect("made").retries = RetryGate::new(0);
        hop.on_response(ms(5), ResponseHead::status(503), &mut w.env());
        assert_eq!(
            drain(&mut hop),
            [
                "count Overflows",
                "finish Upstream after 1 attempts, flags UO"
            ]
        );
    }

    #[test]
    fn under_envoy_defaults_the_cluster_queues_then_overflows() {
        let mut w = World::new(EnvoyDefaults::Envoy, 1);
        let mut hops: Vec<Hop> = (0..1024).map(|_| w.hop(B, "/", 0, false)).collect();
        for h in &mut hops {
            assert_eq!(drain(h).len(), 2);
        }
        // Every connection is busy: the next attempt waits in the pending queue.
        let mut queued = w.hop(B, "/", 1, false);
        let q = drain(&mut queued);
        assert_eq!(q.len(), 1, "{q:?}");
        assert!(
            q[0].starts_with("queue #") && q[0].ends_with("until 1001ms"),
            "{q:?}"
        );
        assert_eq!(queued.poll_timeout(), Some(ms(1001)));
        // A connection frees: the oldest waiter is woken, then sent.
        hops[0].on_response(ms(2), ok(), &mut w.env());
        let freed = drain(&mut hops[0]);
        assert_eq!(
            freed[0],
            q[0].replace("queue", "wake").replace(" until 1001ms", "")
        );
        queued.on_admitted(ms(2), &mut w.env());
        let sent = drain(&mut queued);
        assert_eq!(sent[0], "count Attempts");
        assert!(sent[1].starts_with("send 1 to b-1"), "{sent:?}");
        // Fill the pending queue (1024), then one more overflows: 503 UO, never retried.
        let mut waiting: Vec<Hop> = (0..1024).map(|_| w.hop(B, "/", 3, false)).collect();
        for h in &mut waiting {
            assert!(drain(h)[0].starts_with("queue"));
        }
        let mut over = w.hop(B, "/", 3, false);
        assert_eq!(
            drain(&mut over),
            [
                "count Overflows",
                "finish Local { status: 503, flag: Overflow } after 0 attempts, flags UO"
            ]
        );
        // A waiter the route's deadline reaches first gives up with 504 UT.
        waiting[5].handle_timeout(ms(1003), &mut w.env());
        assert_eq!(
            drain(&mut waiting[5]),
            [
                "count Timeouts",
                "finish Local { status: 504, flag: UpstreamTimeout } after 0 attempts, flags UT"
            ]
        );
    }

    #[test]
    fn grpc_status_in_the_headers_is_retried_but_not_in_the_trailers() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 1);
        let unavailable_headers = ResponseHead {
            grpc_status: Some(14),
            ..ResponseHead::status(200)
        };
        let mut hop = w.hop(G, "/pkg.Svc/Get", 0, false);
        let first = drain(&mut hop);
        assert_eq!(first[1], "send 1 to g-1 Http2 as g.local:9090 until 100ms");
        hop.on_response(ms(1), unavailable_headers, &mut w.env());
        assert_eq!(drain(&mut hop), ["wait"]);
        // The same status after a message, in the trailers: the router never sees it.
        let unavailable_trailers = ResponseHead {
            trailer_grpc_status: Some(14),
            ..ResponseHead::status(200)
        };
        let mut hop = w.hop(G, "/pkg.Svc/Get", 10, false);
        drain(&mut hop);
        hop.on_response(ms(11), unavailable_trailers, &mut w.env());
        assert_eq!(
            drain(&mut hop),
            ["finish Upstream after 1 attempts, flags -"]
        );
    }

    #[test]
    fn a_mirrored_request_sends_its_shadow_copy_first_without_retries() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 2);
        w.control.send(
            "a-1",
            "r",
            "rt",
            SimTime::ZERO,
            Rc::new(RouteOverride {
                targets: vec![("b".into(), 1)],
                steer: None,
                mirror: Some(Mirror {
                    node: "b".into(),
                    share: 1.0,
                }),
            }),
        );
        let mut hop = w.hop(B, "/", 0, false);
        let Some(Action::Mirror(shadow)) = hop.poll() else {
            panic!("the copy leaves first");
        };
        assert_eq!(shadow.node, "b");
        assert!(shadow.mirror.is_none());
        let mut copy = Hop::new(B, 8080, true, ms(0), None);
        copy.start(ms(0), &mut w.env(), Some(*shadow), None, None);
        let sent = drain(&mut copy);
        assert!(sent[1].contains(" as b.local-shadow "), "{sent:?}");
        // Its 503 is not retried (a shadow gets one attempt) and goes nowhere but its log.
        copy.on_response(ms(1), ResponseHead::status(503), &mut w.env());
        assert_eq!(
            drain(&mut copy),
            ["finish Upstream after 1 attempts, flags -"]
        );
        assert!(drain(&mut hop)[1].contains(" as b.local:8080 "));
    }

    #[test]
    fn consecutive_5xx_eject_the_host_and_the_hop_notes_it() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 2);
        // maxServerErrors 2. Attempts 1 and 2 go to the two hosts; the third goes back to
        // one of them, whose second 5xx in a row ejects it.
        let mut hop = w.hop(B, "/", 0, true);
        let mut hosts = vec![sent_to(&drain(&mut hop))];
        let mut now = ms(1);
        for _ in 0..2 {
            hop.on_response(now, ResponseHead::status(500), &mut w.env());
            assert_eq!(drain(&mut hop), ["wait"], "no ejection yet");
            now = backoff_end(&hop);
            hop.handle_timeout(now, &mut w.env());
            hosts.push(sent_to(&drain(&mut hop)));
        }
        assert_ne!(hosts[0], hosts[1]);
        hop.on_response(now, ResponseHead::status(500), &mut w.env());
        let mut end = Vec::new();
        let mut f = None;
        while let Some(a) = hop.poll() {
            end.push(show(&a));
            if let Action::Finish(x) = a {
                f = Some(x);
            }
        }
        assert_eq!(
            end,
            [
                "count Ejections",
                "finish Upstream after 3 attempts, flags URX"
            ]
        );
        let d = f.and_then(|f| f.detail).expect("sampled");
        let ejected = &hosts[2];
        assert!(
            d.events.iter().any(|e| e.kind == EventKind::Ejection
                && e.detail
                    .starts_with(&format!("{ejected}: outlier detection"))),
            "{:?}",
            d.events
        );
        // The ejected host is out of the next picks.
        for i in 0..4 {
            let mut next = w.hop(B, "/", 100 + i, false);
            assert_ne!(&sent_to(&drain(&mut next)), ejected);
        }
    }

    #[test]
    fn failure_accrual_trips_the_host_and_keeps_it_out_of_the_pick() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 2);
        w.mesh.extensions.insert(
            "b".into(),
            crate::engine::extensions::SidecarExtensions {
                rate_limit: None,
                failure_accrual: Some(FailureAccrualConfig {
                    consecutive_failures: 1,
                    ..FailureAccrualConfig::default()
                }),
            },
        );
        let mut hop = w.hop(B, "/", 0, true);
        let bad = sent_to(&drain(&mut hop));
        hop.on_reset(ms(1), ResetReason::Disconnect, &mut w.env());
        let after = drain(&mut hop);
        assert!(
            after.contains(&"count BreakerTrips".to_string()),
            "{after:?}"
        );
        for i in 0..4 {
            let mut next = w.hop(B, "/", 10 + i, true);
            assert_ne!(
                sent_to(&drain(&mut next)),
                bad,
                "the open breaker keeps {bad} out"
            );
            next.on_response(ms(11 + i), ok(), &mut w.env());
            let d = finish(&mut next).detail.expect("sampled");
            assert!(
                d.events
                    .iter()
                    .any(|e| e.kind == EventKind::BreakerOpen && e.detail.contains(&bad)),
                "{:?}",
                d.events
            );
        }
    }

    #[test]
    fn health_checks_are_timers_the_cluster_asks_for() {
        use crate::engine::health::{CheckFailure, CheckResult};
        let mut w = World::new(EnvoyDefaults::AppMesh, 0);
        // The first hop makes the cluster and asks the driver to start its checks, first.
        let mut hop = w.hop("h.local", "/", 0, false);
        assert_eq!(drain(&mut hop)[..2], ["health checks h", "count Attempts"]);
        let round = |at: u64, w: &mut World| {
            let round = w
                .clusters
                .get_mut(&("h".to_string(), 7070))
                .expect("made")
                .health_round(ms(at), &w.registry);
            let due: Vec<String> = round.due.iter().map(|(h, _)| h.id.clone()).collect();
            (due, round.wake)
        };
        // Due at once; the loop comes back within a second at most, to see new hosts.
        assert_eq!(round(0, &mut w), (vec!["h-1".to_string()], ms(1000)));
        assert_eq!(round(10, &mut w), (vec![], ms(1010)));
        // The next check is due an interval (5 s) after the last one ended.
        w.clusters
            .get_mut(&("h".to_string(), 7070))
            .expect("made")
            .on_check_result(ms(5), "h-1", CheckResult::Failed(CheckFailure::NotServing));
        assert_eq!(round(4004, &mut w), (vec![], ms(5004)));
        assert_eq!(round(5004, &mut w), (vec![], ms(5005)));
        assert_eq!(round(5005, &mut w), (vec!["h-1".to_string()], ms(6005)));
    }
}
