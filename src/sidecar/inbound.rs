//! The inbound chain of a listener, as a state machine a driver feeds and polls.
//!
//! Envoy's HTTP filters run in order before the router takes a slot of the listener's
//! connection pool, so a refused request never queues: the local rate limit filter (when the
//! scenario turns it on), then the pool's circuit breaker (admit, queue or overflow), then the
//! fault filter (delay, abort, `max_active_faults`), then the app under the listener's
//! per-request timeout and its stream idle timeout. A request is one [`InboundRequest`]; what
//! the listener keeps across requests (the pool, the rate limiter's bucket and its RNG
//! stream, the fault filter's count of faults in progress) is lent to it for each step as a
//! [`Listener`].
//!
//! The shape is quinn-proto's: the driver hands in what happened ([`Event`]) with the
//! simulated `now`, then takes what to do ([`Action`]) from [`InboundRequest::poll`] until it
//! must wait, and waits at most until [`InboundRequest::poll_timeout`]. The machine releases
//! the pool's ticket and ends the fault in progress itself, exactly once, on every path:
//! when it finishes, and through [`InboundRequest::abandon`] when the driver drops a
//! request midway (its host crashed).
//!
//! The fault filter's rolls draw from the sidecar's own stream, the one its routing draws
//! come from, so the machine asks for the filter's decision ([`Action::AskFaultFilter`]) at
//! the moment the filter runs and the driver answers with [`ListenerFaults::decide`] over
//! that stream: the draws happen in the order they always did.

use std::collections::VecDeque;
use std::time::Duration;

use super::classify::ResponseHead;
use crate::engine::SimTime;
use crate::engine::breaker::{Admission, ListenerPool, Ticket};
use crate::engine::fault::{
    Abort, AbortFault, AbortSource, DelayFault, DelaySource, FaultConfig, FaultDecision,
    FaultFilter, Percent,
};
use crate::engine::flags::{ResponseFlag, ResponseFlags};
use crate::engine::listener::{IdleExpiry, IdleTimer};
use crate::engine::ratelimit::{LocalRateLimiter, RateDecision};
use crate::engine::request::RequestHead;
use crate::engine::seed;
use crate::model::fault::effects::HttpFault;

/// What a listener keeps across its requests, lent to one request's machine for one step.
#[derive(Debug)]
pub struct Listener<'a> {
    /// The listener's connection pool (circuit breaker); `None`: no limits.
    pub pool: Option<&'a mut ListenerPool>,
    /// Envoy's local rate limit filter and the seeded stream its percentage rolls draw from
    /// (its own, so turning the filter on shifts no other decision); `None`: no filter.
    pub rate_limit: Option<(&'a mut LocalRateLimiter, &'a mut seed::Rng)>,
    /// The listener's fault filter (its count of faults in progress).
    pub faults: &'a mut ListenerFaults,
}

/// What happened to a request, as the driver tells the machine.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The request's headers arrived at the listener.
    Arrived,
    /// The pool dispatched it from its queue (a slot came free).
    Admitted,
    /// It left the pool's queue without a slot (its place was dropped): 503 `UO`.
    Dropped,
    /// The fault filter's decision, asked for by [`Action::AskFaultFilter`]; `None` when no
    /// HTTP fault is in force and the request passes untouched.
    FaultFilter(Option<FaultDecision>),
    /// The fault delay of [`Action::Wait`] ran out.
    DelayElapsed,
    /// The app (behind a virtual gateway: the gateway's router) answered.
    Answered {
        /// Its response head.
        head: ResponseHead,
        /// A gateway router's own flags for the exchange; they stand in for the answer's
        /// flag header on this listener's line, as they are this Envoy's own.
        router: Option<ResponseFlags>,
    },
    /// The app's work ended without an answer (its task died, or the request body could not
    /// be read): 503 `UC`.
    Reset,
    /// [`InboundRequest::poll_timeout`] was reached.
    Timeout,
}

/// What the driver is to do next.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Add one to a counter of the listener's node.
    Count(Counted),
    /// A sampled request's detail gets this line.
    Note(Note),
    /// Another request, queued at this listener's pool, was dispatched by this one's slot
    /// coming free: tell it [`Event::Admitted`]. If it is gone, give the slot back to the
    /// pool again.
    Wake(Ticket),
    /// Wait in the pool's queue under this ticket for [`Event::Admitted`] (or
    /// [`Event::Dropped`]), at most until [`InboundRequest::poll_timeout`].
    AwaitAdmission(Ticket),
    /// Ask the listener's fault filter ([`ListenerFaults::decide`]) about the request as it
    /// arrived at `at`, and answer with [`Event::FaultFilter`].
    AskFaultFilter {
        /// The time the filter decides at: the request's arrival (a queued request is
        /// judged as it arrived, as the filter always has been here).
        at: SimTime,
    },
    /// Hold the request (a fault delay) until `until`, then [`Event::DelayElapsed`]; or
    /// [`Event::Timeout`] at [`InboundRequest::poll_timeout`] if that comes first (at the
    /// same instant the delay wins).
    Wait {
        /// When the delay ends.
        until: SimTime,
    },
    /// Hand the request to the app, and answer with [`Event::Answered`] or
    /// [`Event::Reset`], or [`Event::Timeout`] at [`InboundRequest::poll_timeout`].
    HandToApp,
    /// The request is over: send this reply downstream and write the access-log line.
    Finish(Ending),
}

/// How a request ended at the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ending {
    /// What goes downstream.
    pub reply: Reply,
    /// The line's response flags: what the listener noted on the way (`DI`) and its own
    /// reply's flag, or the flags of the answer it passed on.
    pub flags: ResponseFlags,
}

/// The reply that goes downstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A local reply of the listener's own with this status and flag (for a gRPC listener
    /// the driver sends it as a gRPC status).
    Local {
        /// HTTP status.
        status: u16,
        /// Its flag.
        flag: ResponseFlag,
    },
    /// The fault filter's abort (flag `FI`).
    Abort(Abort),
    /// The app's answer, passed on as it came.
    Forward,
}

/// The listener counters the chain adds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counted {
    /// The rate limit refused it (Envoy's `local_rate_limit.enforced`).
    RateLimited,
    /// The pool's circuit breaker refused it.
    Overflow,
    /// The fault filter delayed or aborted it.
    FaultInjected,
    /// The listener's timeout or idle timeout fired.
    Timeout,
}

/// A line of a sampled request's detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// When it happened.
    pub at: SimTime,
    /// What kind of event.
    pub kind: NoteKind,
    /// What happened, in words.
    pub text: String,
}

/// The kinds of [`Note`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteKind {
    /// The rate limit's decision.
    RateLimit,
    /// Queued at the pool, then dispatched or dropped.
    Queued,
    /// The pool refused it.
    Overflow,
    /// The fault filter delayed it.
    FaultDelay,
    /// The fault filter aborted it.
    FaultAbort,
    /// The fault filter let it pass.
    FaultSpared,
    /// The listener's per-request timeout fired.
    ListenerTimeout,
    /// The listener's idle timeout fired.
    IdleTimeout,
}

/// Where a request is in the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Not arrived yet.
    New,
    /// In the pool's queue.
    Queued(Ticket),
    /// Waiting for the fault filter's decision.
    Filtering,
    /// Held by a fault delay until `until`, perhaps aborted after it.
    Delaying {
        until: SimTime,
        abort: Option<Abort>,
    },
    /// With the app, until `deadline` (the listener's per-request timeout).
    AtApp { deadline: Option<SimTime> },
    /// Over.
    Done,
}

/// What the request holds of the listener's pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holding {
    /// Nothing (no pool, not admitted yet, or given back).
    Nothing,
    /// A place in the queue.
    Queued(Ticket),
    /// A slot.
    Slot,
}

/// One request through a listener's inbound chain.
#[derive(Debug)]
pub struct InboundRequest {
    start: SimTime,
    timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    /// The listener's stream idle timer, from the request's arrival: nothing more passes on
    /// the stream until the answer goes back, so it bounds the queueing, a fault delay and
    /// the app's work alike.
    idle: IdleTimer,
    health_check: bool,
    sampled: bool,
    stage: Stage,
    holding: Holding,
    /// A fault is in progress for it at the listener's filter (Envoy's `active_faults`).
    fault_held: bool,
    /// Flags noted on the way (`DI`).
    flags: ResponseFlags,
    /// The pool's admission, in words, while queued (sampled requests only).
    queued_as: Option<String>,
    actions: VecDeque<Action>,
}

impl InboundRequest {
    /// A request arriving at `start` at a listener with per-request `timeout` and stream
    /// idle timeout `idle`. Health checks pass the rate limit untouched: they are the mesh's
    /// own traffic, and limiting them would make the allowed rate depend on how many callers
    /// check this task and how often. A `sampled` request's machine writes [`Note`]s.
    pub fn new(
        start: SimTime,
        timeout: Option<Duration>,
        idle: Option<Duration>,
        health_check: bool,
        sampled: bool,
    ) -> InboundRequest {
        InboundRequest {
            start,
            timeout,
            idle_timeout: idle,
            idle: IdleTimer::new(start, idle),
            health_check,
            sampled,
            stage: Stage::New,
            holding: Holding::Nothing,
            fault_held: false,
            flags: ResponseFlags::NONE,
            queued_as: None,
            actions: VecDeque::new(),
        }
    }

    /// The next thing to do; `None`: wait for the event the last action asked for.
    pub fn poll(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The latest time to wait until before telling the machine [`Event::Timeout`]; `None`:
    /// no timer runs.
    pub fn poll_timeout(&self) -> Option<SimTime> {
        match self.stage {
            Stage::Queued(_) | Stage::Delaying { .. } => self.idle.deadline(),
            Stage::AtApp { deadline } => self.idle.bound(deadline),
            Stage::New | Stage::Filtering | Stage::Done => None,
        }
    }

    /// The ticket of its place in the pool's queue, while it waits there.
    pub fn queued(&self) -> Option<Ticket> {
        match self.holding {
            Holding::Queued(t) => Some(t),
            Holding::Nothing | Holding::Slot => None,
        }
    }

    /// Whether it is over.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Tells the machine what happened at `now`. An event the request is not waiting for
    /// (a driver's slip) changes nothing.
    pub fn handle(&mut self, event: Event, now: SimTime, listener: &mut Listener<'_>) {
        match (self.stage, event) {
            (Stage::New, Event::Arrived) => self.arrive(listener),
            (Stage::Queued(_), Event::Admitted) => {
                self.holding = Holding::Slot;
                self.note_queued(now, "dispatched after", "");
                self.filter();
            }
            (Stage::Queued(_), Event::Dropped) => {
                self.note_queued(now, "dropped from the queue after", ": 503 UO");
                self.finish_local(now, listener, 503, ResponseFlag::Overflow);
            }
            (Stage::Queued(_), Event::Timeout) => self.idle_expired(now, listener),
            (Stage::Filtering, Event::FaultFilter(decision)) => {
                self.on_fault(now, listener, decision);
            }
            (Stage::Delaying { until, abort }, event @ (Event::DelayElapsed | Event::Timeout)) => {
                if event == Event::Timeout && now < until {
                    self.idle_expired(now, listener);
                } else if let Some(abort) = abort {
                    self.finish(
                        now,
                        listener,
                        Reply::Abort(abort),
                        ResponseFlag::FaultInjected,
                    );
                } else {
                    self.hand_to_app();
                }
            }
            (Stage::AtApp { .. }, Event::Answered { head, router }) => {
                match router {
                    Some(router) => router.iter().for_each(|f| self.flags.insert(f)),
                    None => head.flag.into_iter().for_each(|f| self.flags.insert(f)),
                }
                self.end(now, listener, Reply::Forward);
            }
            (Stage::AtApp { .. }, Event::Reset) => {
                self.finish_local(now, listener, 503, ResponseFlag::UpstreamReset);
            }
            (Stage::AtApp { deadline }, Event::Timeout) => {
                if self.idle.fires_before(deadline) {
                    self.idle_expired(now, listener);
                } else {
                    self.actions.push_back(Action::Count(Counted::Timeout));
                    if self.sampled {
                        let t = self.timeout.unwrap_or_default();
                        self.note(
                            now,
                            NoteKind::ListenerTimeout,
                            format!(
                                "listener timeout (perRequest {t:?}) fired before the app answered: 504 UT"
                            ),
                        );
                    }
                    self.finish_local(now, listener, 504, ResponseFlag::UpstreamTimeout);
                }
            }
            _ => {}
        }
    }

    /// The driver dropped the request midway (its host went down): gives back what it
    /// holds, once, and writes no line (no one is left to answer).
    pub fn abandon(&mut self, now: SimTime, listener: &mut Listener<'_>) {
        if self.stage != Stage::Done {
            self.release(now, listener);
            self.stage = Stage::Done;
        }
    }

    /// The rate limit filter, then the pool.
    fn arrive(&mut self, listener: &mut Listener<'_>) {
        let start = self.start;
        let decision = match &mut listener.rate_limit {
            Some((limiter, rng)) if !self.health_check => {
                Some(limiter.try_acquire(start, &mut **rng))
            }
            _ => None,
        };
        if let Some(decision) = decision
            && self.sampled
        {
            self.note(
                start,
                NoteKind::RateLimit,
                format!("local rate limit: {decision}"),
            );
        }
        if let Some(RateDecision::Limited { status, .. }) = decision {
            self.actions.push_back(Action::Count(Counted::RateLimited));
            self.finish_local(start, listener, status, ResponseFlag::RateLimited);
            return;
        }
        let Some(pool) = listener.pool.as_deref_mut() else {
            self.filter();
            return;
        };
        let admission = pool.admit(start);
        match admission {
            Admission::Dispatch { .. } => {
                self.holding = Holding::Slot;
                self.filter();
            }
            Admission::Queued { ticket, .. } => {
                self.holding = Holding::Queued(ticket);
                self.stage = Stage::Queued(ticket);
                if self.sampled {
                    self.queued_as = Some(admission.to_string());
                }
                self.actions.push_back(Action::AwaitAdmission(ticket));
            }
            Admission::Rejected(_) => {
                self.actions.push_back(Action::Count(Counted::Overflow));
                if self.sampled {
                    self.note(
                        start,
                        NoteKind::Overflow,
                        format!("listener connection pool (circuit breaker): {admission}"),
                    );
                }
                self.finish_local(start, listener, 503, ResponseFlag::Overflow);
            }
        }
    }

    fn note_queued(&mut self, now: SimTime, then: &str, tail: &str) {
        if let Some(admission) = self.queued_as.take() {
            let wait = now.saturating_since(self.start);
            self.note(
                self.start,
                NoteKind::Queued,
                format!("listener connection pool: {admission}; {then} {wait:?}{tail}"),
            );
        }
    }

    /// The fault filter's turn.
    fn filter(&mut self) {
        self.stage = Stage::Filtering;
        self.actions
            .push_back(Action::AskFaultFilter { at: self.start });
    }

    fn on_fault(
        &mut self,
        now: SimTime,
        listener: &mut Listener<'_>,
        decision: Option<FaultDecision>,
    ) {
        let Some(decision) = decision else {
            self.hand_to_app();
            return;
        };
        self.fault_held = decision.is_fault();
        if self.sampled {
            let (kind, what) = match (decision.delay, decision.abort) {
                (Some(delay), _) => (NoteKind::FaultDelay, format!("delay {delay:?} (DI)")),
                (None, Some(abort)) => (NoteKind::FaultAbort, format!("abort {abort} (FI)")),
                (None, None) => (NoteKind::FaultSpared, "no fault".to_string()),
            };
            let text = format!("fault filter: {what}: {}", decision.reason);
            self.note(self.start, kind, text);
            if let (Some(_), Some(abort)) = (decision.delay, decision.abort) {
                self.note(
                    decision.resume_at,
                    NoteKind::FaultAbort,
                    format!("fault filter: abort {abort} (FI) after the delay"),
                );
            }
        }
        if decision.delay.is_some() || decision.abort.is_some() {
            self.actions
                .push_back(Action::Count(Counted::FaultInjected));
        }
        match (decision.delay, decision.abort) {
            (Some(delay), abort) => {
                self.flags.insert(ResponseFlag::DelayInjected);
                let until = now + delay;
                self.stage = Stage::Delaying { until, abort };
                self.actions.push_back(Action::Wait { until });
            }
            (None, Some(abort)) => {
                self.finish(
                    now,
                    listener,
                    Reply::Abort(abort),
                    ResponseFlag::FaultInjected,
                );
            }
            (None, None) => self.hand_to_app(),
        }
    }

    fn hand_to_app(&mut self) {
        let deadline = self.timeout.map(|t| self.start + t);
        self.stage = Stage::AtApp { deadline };
        self.actions.push_back(Action::HandToApp);
    }

    /// The idle timer fired before the app answered: 504 `SI` (Envoy's
    /// `ActiveStream::onIdleTimeout` for a complete request with no response started).
    fn idle_expired(&mut self, now: SimTime, listener: &mut Listener<'_>) {
        self.actions.push_back(Action::Count(Counted::Timeout));
        if self.sampled {
            let d = self.idle_timeout.unwrap_or_default();
            self.note(
                now,
                NoteKind::IdleTimeout,
                format!("listener idle timeout ({d:?}) fired with no answer yet: 504 SI"),
            );
        }
        match IdleTimer::expiry(true, false) {
            IdleExpiry::Reply(status) => {
                self.finish_local(now, listener, status, ResponseFlag::StreamIdleTimeout);
            }
            // Not reachable (no response has started); a reset reads as Envoy's `UC`.
            IdleExpiry::Reset => self.finish_local(now, listener, 503, ResponseFlag::UpstreamReset),
        }
    }

    fn finish_local(
        &mut self,
        now: SimTime,
        listener: &mut Listener<'_>,
        status: u16,
        flag: ResponseFlag,
    ) {
        self.finish(now, listener, Reply::Local { status, flag }, flag);
    }

    /// Ends with a reply of the listener's own, flagged `flag`.
    fn finish(
        &mut self,
        now: SimTime,
        listener: &mut Listener<'_>,
        reply: Reply,
        flag: ResponseFlag,
    ) {
        self.flags.insert(flag);
        self.end(now, listener, reply);
    }

    fn end(&mut self, now: SimTime, listener: &mut Listener<'_>, reply: Reply) {
        self.release(now, listener);
        self.stage = Stage::Done;
        self.actions.push_back(Action::Finish(Ending {
            reply,
            flags: self.flags,
        }));
    }

    /// Gives back the pool's slot (or place in its queue) and ends the fault in progress;
    /// each at most once.
    fn release(&mut self, now: SimTime, listener: &mut Listener<'_>) {
        match std::mem::replace(&mut self.holding, Holding::Nothing) {
            Holding::Nothing => {}
            Holding::Queued(ticket) => {
                if let Some(pool) = listener.pool.as_deref_mut() {
                    pool.cancel(ticket);
                }
            }
            Holding::Slot => {
                if let Some(next) = listener
                    .pool
                    .as_deref_mut()
                    .and_then(|p| p.on_complete(now))
                {
                    self.actions.push_back(Action::Wake(next.ticket));
                }
            }
        }
        if std::mem::take(&mut self.fault_held) {
            listener.faults.on_fault_end();
        }
    }

    fn note(&mut self, at: SimTime, kind: NoteKind, text: String) {
        self.actions
            .push_back(Action::Note(Note { at, kind, text }));
    }
}

/// One listener's fault filter, kept for the run: it counts the requests with a fault in
/// progress, so `max_active_faults` holds across requests and across changes of the faults
/// in force.
#[derive(Debug, Default)]
pub struct ListenerFaults {
    /// The filter and the configuration it was last given; `None` until a fault is in force.
    filter: Option<(FaultConfig, FaultFilter)>,
}

impl ListenerFaults {
    /// The filter's decision for a request arriving at `now` under the faults in force
    /// (`None`: no HTTP fault is, and the request passes untouched). A decision that
    /// injected a fault must be ended with [`ListenerFaults::on_fault_end`] when the request
    /// is over ([`InboundRequest`] does).
    pub fn decide(
        &mut self,
        faults: &[HttpFault],
        now: SimTime,
        head: &RequestHead,
        rng: &mut impl rand::Rng,
    ) -> Option<FaultDecision> {
        let config = filter_config(faults)?;
        match &mut self.filter {
            Some((current, _)) if *current == config => {}
            Some((current, filter)) => {
                filter.reconfigure(&config).ok()?;
                *current = config;
            }
            None => self.filter = Some((config.clone(), FaultFilter::new(&config).ok()?)),
        }
        let (_, filter) = self.filter.as_mut()?;
        Some(filter.decide(now, head, rng))
    }

    /// A request that had a fault injected is over (answered, aborted or reset).
    pub fn on_fault_end(&mut self) {
        if let Some((_, filter)) = &mut self.filter {
            filter.on_fault_end();
        }
    }
}

/// The filter configuration for the faults in force: the first delay and the first abort in
/// chain order (a filter has one of each), under the smallest `max_active_faults` any of them
/// sets; `None` when there are none.
pub fn filter_config(faults: &[HttpFault]) -> Option<FaultConfig> {
    let mut config = FaultConfig::default();
    for f in faults {
        let cap = match *f {
            HttpFault::Delay {
                max_active_faults, ..
            }
            | HttpFault::Abort {
                max_active_faults, ..
            } => max_active_faults,
        };
        if let Some(cap) = cap {
            config.max_active_faults = Some(config.max_active_faults.map_or(cap, |c| c.min(cap)));
        }
        match *f {
            HttpFault::Delay {
                delay,
                share,
                headers,
                ..
            } if config.delay.is_none() => {
                let source = match (headers, delay) {
                    (false, Some(d)) => DelaySource::Fixed(d),
                    _ => DelaySource::Header,
                };
                config.delay = Some(DelayFault {
                    source,
                    percentage: Percent::new(share * 100.0).ok()?,
                });
            }
            HttpFault::Abort {
                status,
                grpc_status,
                share,
                headers,
                ..
            } if config.abort.is_none() => {
                let source = match (headers, grpc_status) {
                    (true, _) => AbortSource::Header,
                    (false, Some(g)) => AbortSource::Grpc(g),
                    (false, None) => AbortSource::Http(status),
                };
                config.abort = Some(AbortFault {
                    source,
                    percentage: Percent::new(share * 100.0).ok()?,
                });
            }
            _ => {}
        }
    }
    (config.delay.is_some() || config.abort.is_some()).then_some(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Protocol;
    use crate::engine::breaker::ConnectionPoolLimits;
    use crate::engine::fault::FaultReason;
    use crate::engine::ratelimit::{LocalRateLimitConfig, TokenBucket};

    fn ms(n: u64) -> SimTime {
        SimTime::from_millis(n)
    }

    fn pool(max_connections: u32, max_pending_requests: u32) -> ListenerPool {
        ListenerPool::new(
            Protocol::Http,
            ConnectionPoolLimits {
                max_connections,
                max_pending_requests,
                max_requests: max_connections,
            },
        )
    }

    fn delay(ms: u64, max_active_faults: Option<u32>) -> HttpFault {
        HttpFault::Delay {
            delay: Some(Duration::from_millis(ms)),
            share: 1.0,
            headers: false,
            max_active_faults,
        }
    }

    fn abort(status: u16) -> HttpFault {
        HttpFault::Abort {
            status,
            grpc_status: None,
            share: 1.0,
            headers: false,
            max_active_faults: None,
        }
    }

    fn ok(status: u16) -> Event {
        Event::Answered {
            head: ResponseHead::status(status),
            router: None,
        }
    }

    fn finish(reply: Reply, flags: &[ResponseFlag]) -> Action {
        let mut set = ResponseFlags::NONE;
        flags.iter().for_each(|f| set.insert(*f));
        Action::Finish(Ending { reply, flags: set })
    }

    fn local(status: u16, flag: ResponseFlag) -> Action {
        finish(Reply::Local { status, flag }, &[flag])
    }

    /// A listener's state, and the driver's half: it answers the fault filter's question
    /// with the faults in force and the sidecar's stream, as the wire driver does.
    struct World {
        pool: Option<ListenerPool>,
        rate_limit: Option<(LocalRateLimiter, seed::Rng)>,
        faults: ListenerFaults,
        in_force: Vec<HttpFault>,
        rng: seed::Rng,
        timeout: Option<Duration>,
        idle: Option<Duration>,
    }

    impl World {
        fn new() -> World {
            World {
                pool: None,
                rate_limit: None,
                faults: ListenerFaults::default(),
                in_force: Vec::new(),
                rng: seed::stream(7, "sidecar/test"),
                timeout: None,
                idle: None,
            }
        }

        fn request(&self, start: SimTime) -> InboundRequest {
            InboundRequest::new(start, self.timeout, self.idle, false, true)
        }

        /// Tells `m` the event and returns what it asks, answering a fault-filter question
        /// at once (the driver does that without waiting).
        fn step(&mut self, m: &mut InboundRequest, event: Event, now: SimTime) -> Vec<Action> {
            let mut out = Vec::new();
            let mut next = Some(event);
            while let Some(event) = next.take() {
                let mut listener = Listener {
                    pool: self.pool.as_mut(),
                    rate_limit: self.rate_limit.as_mut().map(|(l, r)| (l, r)),
                    faults: &mut self.faults,
                };
                m.handle(event, now, &mut listener);
                while let Some(a) = m.poll() {
                    if let Action::AskFaultFilter { at } = a {
                        let head = RequestHead::get("back.local", 8080, "/");
                        let d = self.faults.decide(&self.in_force, at, &head, &mut self.rng);
                        next = Some(Event::FaultFilter(d));
                    }
                    out.push(a);
                }
            }
            out
        }

        fn abandon(&mut self, m: &mut InboundRequest, now: SimTime) {
            let mut listener = Listener {
                pool: self.pool.as_mut(),
                rate_limit: self.rate_limit.as_mut().map(|(l, r)| (l, r)),
                faults: &mut self.faults,
            };
            m.abandon(now, &mut listener);
        }

        fn active(&self) -> u32 {
            self.pool.as_ref().map_or(0, ListenerPool::active)
        }
    }

    /// The actions that are not notes.
    fn acts(actions: &[Action]) -> Vec<Action> {
        actions
            .iter()
            .filter(|a| !matches!(a, Action::Note(_)))
            .cloned()
            .collect()
    }

    fn notes(actions: &[Action]) -> Vec<(NoteKind, String)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Note(n) => Some((n.kind, n.text.clone())),
                _ => None,
            })
            .collect()
    }

    /// The fault filter asked about a request that arrived at `start` ms.
    fn ask(start: u64) -> Action {
        Action::AskFaultFilter { at: ms(start) }
    }

    const ASK: Action = Action::AskFaultFilter { at: SimTime::ZERO };

    #[test]
    fn a_request_under_every_limit_goes_to_the_app_and_its_answer_back() {
        let mut w = World::new();
        w.pool = Some(pool(2, 0));
        let mut m = w.request(ms(0));
        let out = w.step(&mut m, Event::Arrived, ms(0));
        // No HTTP fault in force: the filter is asked and lets it pass.
        assert_eq!(acts(&out), vec![ASK, Action::HandToApp]);
        assert_eq!(w.active(), 1);
        assert_eq!(
            m.poll_timeout(),
            None,
            "no timeout: the app may take its time"
        );
        // The app's own flag header (an upstream's overflow passed on) stays on the line.
        let head = ResponseHead {
            flag: Some(ResponseFlag::Overflow),
            ..ResponseHead::status(503)
        };
        let out = w.step(&mut m, Event::Answered { head, router: None }, ms(40));
        assert_eq!(
            acts(&out),
            vec![finish(Reply::Forward, &[ResponseFlag::Overflow])]
        );
        assert!(m.is_done());
        assert_eq!(w.active(), 0);
        // Behind a gateway the router's flags stand for the exchange instead.
        let mut m = w.request(ms(50));
        w.step(&mut m, Event::Arrived, ms(50));
        let router = ResponseFlags::of(ResponseFlag::UpstreamTimeout);
        let out = w.step(
            &mut m,
            Event::Answered {
                head,
                router: Some(router),
            },
            ms(60),
        );
        assert_eq!(
            acts(&out),
            vec![finish(Reply::Forward, &[ResponseFlag::UpstreamTimeout])]
        );
    }

    #[test]
    fn the_rate_limit_refuses_with_429_rl_before_the_pool_and_spares_health_checks() {
        let mut w = World::new();
        w.pool = Some(pool(1, 0));
        let bucket = TokenBucket::new(1, Duration::from_secs(1));
        let limiter = LocalRateLimiter::new(LocalRateLimitConfig::new(bucket), ms(0))
            .expect("a valid bucket");
        w.rate_limit = Some((limiter, seed::stream(7, "ratelimit")));
        let mut first = w.request(ms(0));
        let out = w.step(&mut first, Event::Arrived, ms(0));
        assert_eq!(acts(&out), vec![ASK, Action::HandToApp]);
        // The bucket is empty: refused before the pool, which it never reaches (the pool
        // is full too, and would have said 503 UO).
        let mut second = w.request(ms(1));
        let out = w.step(&mut second, Event::Arrived, ms(1));
        assert_eq!(
            acts(&out),
            vec![
                Action::Count(Counted::RateLimited),
                local(429, ResponseFlag::RateLimited)
            ]
        );
        assert_eq!(notes(&out)[0].0, NoteKind::RateLimit);
        assert_eq!(w.pool.as_ref().map(ListenerPool::rejected), Some(0));
        assert_eq!(w.active(), 1);
        // A health check is not the filter's to judge: it reaches the pool (full: 503 UO).
        let mut check = InboundRequest::new(ms(2), None, None, true, false);
        let out = w.step(&mut check, Event::Arrived, ms(2));
        assert_eq!(
            acts(&out),
            vec![
                Action::Count(Counted::Overflow),
                local(503, ResponseFlag::Overflow)
            ]
        );
        assert!(
            notes(&out).is_empty(),
            "an unsampled request writes no notes"
        );
    }

    #[test]
    fn a_full_pool_with_no_queue_room_overflows_503_uo() {
        let mut w = World::new();
        w.pool = Some(pool(1, 0));
        let mut a = w.request(ms(0));
        w.step(&mut a, Event::Arrived, ms(0));
        let mut b = w.request(ms(1));
        let out = w.step(&mut b, Event::Arrived, ms(1));
        assert_eq!(
            acts(&out),
            vec![
                Action::Count(Counted::Overflow),
                local(503, ResponseFlag::Overflow)
            ]
        );
        let (kind, text) = &notes(&out)[0];
        assert_eq!(*kind, NoteKind::Overflow);
        assert!(text.starts_with("listener connection pool (circuit breaker): "));
        assert_eq!(w.active(), 1, "the refused request took no slot");
    }

    #[test]
    fn a_queued_request_is_admitted_when_a_slot_frees_and_then_served() {
        let mut w = World::new();
        w.pool = Some(pool(1, 1));
        w.idle = Some(Duration::from_secs(5));
        let mut a = w.request(ms(0));
        w.step(&mut a, Event::Arrived, ms(0));
        let mut b = w.request(ms(10));
        let out = w.step(&mut b, Event::Arrived, ms(10));
        let [Action::AwaitAdmission(ticket)] = acts(&out)[..] else {
            panic!("queued: {out:?}");
        };
        assert_eq!(b.queued(), Some(ticket));
        assert_eq!(
            b.poll_timeout(),
            Some(ms(5010)),
            "the idle timer bounds the wait"
        );
        // A's answer frees its slot, which the pool hands to B.
        let out = w.step(&mut a, ok(200), ms(40));
        assert_eq!(
            acts(&out),
            vec![Action::Wake(ticket), finish(Reply::Forward, &[])]
        );
        assert_eq!(w.active(), 1);
        let out = w.step(&mut b, Event::Admitted, ms(40));
        assert_eq!(acts(&out), vec![ask(10), Action::HandToApp]);
        assert_eq!(b.queued(), None);
        let (kind, text) = &notes(&out)[0];
        assert_eq!(*kind, NoteKind::Queued);
        assert!(text.ends_with("; dispatched after 30ms"), "{text}");
        let out = w.step(&mut b, ok(200), ms(70));
        assert_eq!(acts(&out), vec![finish(Reply::Forward, &[])]);
        assert_eq!(w.active(), 0);
        let stats = w.pool.as_ref().map(ListenerPool::stats).expect("a pool");
        assert_eq!((stats.dispatched_from_queue, stats.completed), (1, 2));
    }

    #[test]
    fn a_request_dropped_from_the_queue_is_answered_503_uo_and_leaves_the_queue() {
        let mut w = World::new();
        w.pool = Some(pool(1, 1));
        let mut a = w.request(ms(0));
        w.step(&mut a, Event::Arrived, ms(0));
        let mut b = w.request(ms(1));
        w.step(&mut b, Event::Arrived, ms(1));
        let out = w.step(&mut b, Event::Dropped, ms(3));
        assert_eq!(acts(&out), vec![local(503, ResponseFlag::Overflow)]);
        assert!(
            notes(&out)[0]
                .1
                .ends_with("dropped from the queue after 2ms: 503 UO")
        );
        assert_eq!(w.pool.as_ref().map(ListenerPool::pending), Some(0));
    }

    #[test]
    fn the_idle_timer_ends_a_wait_in_the_queue_with_504_si() {
        let mut w = World::new();
        w.pool = Some(pool(1, 1));
        w.idle = Some(Duration::from_millis(300));
        let mut a = w.request(ms(0));
        w.step(&mut a, Event::Arrived, ms(0));
        let mut b = w.request(ms(100));
        w.step(&mut b, Event::Arrived, ms(100));
        let out = w.step(&mut b, Event::Timeout, ms(400));
        assert_eq!(
            acts(&out),
            vec![
                Action::Count(Counted::Timeout),
                local(504, ResponseFlag::StreamIdleTimeout)
            ]
        );
        assert_eq!(notes(&out)[0].0, NoteKind::IdleTimeout);
        // Its place is given up: A's end dispatches nobody.
        assert_eq!(w.pool.as_ref().map(ListenerPool::pending), Some(0));
        let out = w.step(&mut a, ok(200), ms(500));
        assert_eq!(acts(&out), vec![finish(Reply::Forward, &[])]);
        assert_eq!(w.active(), 0);
    }

    #[test]
    fn a_fault_abort_answers_locally_flagged_fi() {
        let mut w = World::new();
        w.pool = Some(pool(4, 0));
        w.in_force = vec![abort(503)];
        let mut m = w.request(ms(0));
        let out = w.step(&mut m, Event::Arrived, ms(0));
        assert_eq!(
            acts(&out),
            vec![
                ASK,
                Action::Count(Counted::FaultInjected),
                finish(
                    Reply::Abort(Abort::Http(503)),
                    &[ResponseFlag::FaultInjected]
                )
            ]
        );
        assert_eq!(notes(&out)[0].0, NoteKind::FaultAbort);
        assert_eq!(w.active(), 0, "the slot is given back");
    }

    #[test]
    fn a_fault_delay_holds_the_request_then_hands_it_to_the_app_flagged_di() {
        let mut w = World::new();
        w.in_force = vec![delay(200, None)];
        w.idle = Some(Duration::from_secs(1));
        let mut m = w.request(ms(0));
        // Admitted later than it arrived (the driver's `now`), the delay runs from then.
        let out = w.step(&mut m, Event::Arrived, ms(5));
        assert_eq!(
            acts(&out),
            vec![
                ASK,
                Action::Count(Counted::FaultInjected),
                Action::Wait { until: ms(205) }
            ]
        );
        assert_eq!(m.poll_timeout(), Some(ms(1000)));
        assert_eq!(notes(&out)[0].0, NoteKind::FaultDelay);
        let out = w.step(&mut m, Event::DelayElapsed, ms(205));
        assert_eq!(acts(&out), vec![Action::HandToApp]);
        let out = w.step(&mut m, ok(200), ms(300));
        assert_eq!(
            acts(&out),
            vec![finish(Reply::Forward, &[ResponseFlag::DelayInjected])]
        );
        // A delay and an abort: held, then aborted, counted once, flagged both.
        w.in_force = vec![delay(100, None), abort(500)];
        let mut m = w.request(ms(1000));
        let out = w.step(&mut m, Event::Arrived, ms(1000));
        assert_eq!(
            acts(&out),
            vec![
                ask(1000),
                Action::Count(Counted::FaultInjected),
                Action::Wait { until: ms(1100) }
            ]
        );
        assert_eq!(notes(&out).len(), 2, "the delay, and the abort after it");
        // The idle timer fires at the instant the delay ends: the delay wins the tie.
        let out = w.step(&mut m, Event::Timeout, ms(1100));
        assert_eq!(
            acts(&out),
            vec![finish(
                Reply::Abort(Abort::Http(500)),
                &[ResponseFlag::DelayInjected, ResponseFlag::FaultInjected]
            )]
        );
    }

    #[test]
    fn the_idle_timer_cuts_a_fault_delay_short_with_504_si() {
        let mut w = World::new();
        w.in_force = vec![delay(500, None)];
        w.idle = Some(Duration::from_millis(300));
        let mut m = w.request(ms(0));
        w.step(&mut m, Event::Arrived, ms(0));
        let out = w.step(&mut m, Event::Timeout, ms(300));
        assert_eq!(
            acts(&out),
            vec![
                Action::Count(Counted::Timeout),
                finish(
                    Reply::Local {
                        status: 504,
                        flag: ResponseFlag::StreamIdleTimeout
                    },
                    &[ResponseFlag::DelayInjected, ResponseFlag::StreamIdleTimeout]
                )
            ]
        );
    }

    #[test]
    fn max_active_faults_reached_lets_requests_pass_until_a_fault_ends() {
        let mut w = World::new();
        w.in_force = vec![delay(100, Some(1))];
        let mut a = w.request(ms(0));
        let out = w.step(&mut a, Event::Arrived, ms(0));
        assert!(out.contains(&Action::Wait { until: ms(100) }));
        // One fault in progress, the cap is 1: B passes untouched, not counted.
        let mut b = w.request(ms(10));
        let out = w.step(&mut b, Event::Arrived, ms(10));
        assert_eq!(acts(&out), vec![ask(10), Action::HandToApp]);
        assert_eq!(notes(&out)[0].0, NoteKind::FaultSpared);
        assert!(notes(&out)[0].1.contains("max_active_faults is 1"));
        // B ending gives back no fault (it had none); A ending does.
        w.step(&mut b, ok(200), ms(20));
        let mut c = w.request(ms(30));
        let out = w.step(&mut c, Event::Arrived, ms(30));
        assert_eq!(acts(&out), vec![ask(30), Action::HandToApp]);
        w.step(&mut a, Event::DelayElapsed, ms(100));
        w.step(&mut a, ok(200), ms(110));
        let mut d = w.request(ms(120));
        let out = w.step(&mut d, Event::Arrived, ms(120));
        assert!(out.contains(&Action::Wait { until: ms(220) }), "{out:?}");
    }

    #[test]
    fn the_listener_timeout_answers_504_ut_and_wins_a_tie_with_the_idle_timer() {
        let mut w = World::new();
        w.pool = Some(pool(1, 0));
        w.timeout = Some(Duration::from_secs(1));
        w.idle = Some(Duration::from_secs(1));
        let mut m = w.request(ms(0));
        w.step(&mut m, Event::Arrived, ms(0));
        assert_eq!(m.poll_timeout(), Some(ms(1000)));
        let out = w.step(&mut m, Event::Timeout, ms(1000));
        assert_eq!(
            acts(&out),
            vec![
                Action::Count(Counted::Timeout),
                local(504, ResponseFlag::UpstreamTimeout)
            ]
        );
        let (kind, text) = &notes(&out)[0];
        assert_eq!(*kind, NoteKind::ListenerTimeout);
        assert!(text.contains("perRequest 1s"), "{text}");
        assert_eq!(w.active(), 0, "the slot is free though the app works on");
        // A late answer changes nothing.
        assert!(w.step(&mut m, ok(200), ms(1500)).is_empty());
    }

    #[test]
    fn the_idle_timer_firing_first_answers_504_si() {
        let mut w = World::new();
        w.timeout = Some(Duration::from_secs(15));
        w.idle = Some(Duration::from_millis(500));
        let mut m = w.request(ms(0));
        w.step(&mut m, Event::Arrived, ms(0));
        assert_eq!(m.poll_timeout(), Some(ms(500)));
        let out = w.step(&mut m, Event::Timeout, ms(500));
        assert_eq!(
            acts(&out),
            vec![
                Action::Count(Counted::Timeout),
                local(504, ResponseFlag::StreamIdleTimeout)
            ]
        );
        assert!(notes(&out)[0].1.contains("listener idle timeout (500ms)"));
    }

    #[test]
    fn an_app_that_dies_is_answered_503_uc() {
        let mut w = World::new();
        let mut m = w.request(ms(0));
        w.step(&mut m, Event::Arrived, ms(0));
        let out = w.step(&mut m, Event::Reset, ms(5));
        assert_eq!(acts(&out), vec![local(503, ResponseFlag::UpstreamReset)]);
    }

    /// Every way a request can end, each beside a request that keeps its slot: the pool's
    /// count shows a slot given back twice (or never), and the fault filter's a fault ended
    /// twice (or never).
    #[test]
    fn the_ticket_and_the_fault_are_given_back_exactly_once_on_every_path() {
        type Path = fn(&mut World, &mut InboundRequest);
        let answered: Path = |w, m| {
            w.step(m, ok(200), ms(50));
        };
        let reset: Path = |w, m| {
            w.step(m, Event::Reset, ms(50));
        };
        let timed_out: Path = |w, m| {
            w.step(m, Event::Timeout, ms(1000));
        };
        let abandoned: Path = |w, m| w.abandon(m, ms(50));
        for (name, path) in [
            ("answered", answered),
            ("reset", reset),
            ("timed out", timed_out),
            ("abandoned at the app", abandoned),
        ] {
            let mut w = World::new();
            w.pool = Some(pool(3, 1));
            w.timeout = Some(Duration::from_secs(1));
            // A fault in progress elsewhere, and room for one more (cap 2).
            w.in_force = vec![delay(10, Some(2))];
            let mut other = w.request(ms(0));
            w.step(&mut other, Event::Arrived, ms(0));
            let mut m = w.request(ms(0));
            w.step(&mut m, Event::Arrived, ms(0));
            w.step(&mut m, Event::DelayElapsed, ms(10));
            assert_eq!(w.active(), 2, "{name}");
            path(&mut w, &mut m);
            // And once more for good measure: nothing more is given back.
            w.abandon(&mut m, ms(60));
            w.step(&mut m, Event::Reset, ms(60));
            assert_eq!(w.active(), 1, "{name}: one slot given back");
            // The fault filter has exactly one fault in progress again: one more fits.
            let mut probe = w.request(ms(70));
            let out = w.step(&mut probe, Event::Arrived, ms(70));
            assert!(out.contains(&Action::Wait { until: ms(80) }), "{name}");
            let mut over = w.request(ms(70));
            let out = w.step(&mut over, Event::Arrived, ms(70));
            assert_eq!(acts(&out), vec![ask(70), Action::HandToApp], "{name}");
        }
        // Abandoned in the queue: its place is withdrawn, and no slot is freed.
        let mut w = World::new();
        w.pool = Some(pool(1, 1));
        let mut a = w.request(ms(0));
        w.step(&mut a, Event::Arrived, ms(0));
        let mut b = w.request(ms(1));
        w.step(&mut b, Event::Arrived, ms(1));
        w.abandon(&mut b, ms(2));
        w.abandon(&mut b, ms(3));
        assert_eq!(w.pool.as_ref().map(ListenerPool::pending), Some(0));
        assert_eq!(w.active(), 1);
        let out = w.step(&mut a, ok(200), ms(4));
        assert_eq!(
            acts(&out),
            vec![finish(Reply::Forward, &[])],
            "no one to wake"
        );
        assert_eq!(w.active(), 0);
        // Refused requests held nothing: the pool's count is untouched by their ends.
        let stats = w.pool.as_ref().map(ListenerPool::stats).expect("a pool");
        assert_eq!((stats.completed, stats.cancelled), (1, 1));
    }

    #[test]
    fn the_first_delay_and_abort_in_force_make_the_filter() {
        let faults = [
            delay(300, None),
            HttpFault::Abort {
                status: 503,
                grpc_status: None,
                share: 0.1,
                headers: false,
                max_active_faults: Some(5),
            },
            HttpFault::Abort {
                status: 500,
                grpc_status: None,
                share: 1.0,
                headers: false,
                max_active_faults: Some(2),
            },
        ];
        let c = filter_config(&faults).expect("faults");
        assert_eq!(
            c.delay.map(|d| d.source),
            Some(DelaySource::Fixed(Duration::from_millis(300)))
        );
        assert_eq!(c.abort.map(|a| a.source), Some(AbortSource::Http(503)));
        // One filter, one cap: the smallest any fault in force sets.
        assert_eq!(c.max_active_faults, Some(2));
        assert_eq!(filter_config(&[]), None);
    }

    #[test]
    fn the_listener_s_filter_counts_faults_in_progress_across_requests() {
        let head = RequestHead::get("back.local", 80, "/");
        let mut rng = seed::stream(1, "faults");
        let mut listener = ListenerFaults::default();
        let mut decide = |l: &mut ListenerFaults, faults: &[HttpFault]| {
            l.decide(faults, SimTime::ZERO, &head, &mut rng)
                .expect("a fault is in force")
        };
        // max_active_faults 2: two delays in progress, the third request passes untouched.
        assert!(decide(&mut listener, &[delay(500, Some(2))]).is_fault());
        assert!(decide(&mut listener, &[delay(500, Some(2))]).is_fault());
        let third = decide(&mut listener, &[delay(500, Some(2))]);
        assert!(!third.is_fault());
        assert!(matches!(
            third.reason,
            FaultReason::Overflow { active: 2, .. }
        ));
        // One ends: room for one more.
        listener.on_fault_end();
        assert!(decide(&mut listener, &[delay(500, Some(2))]).is_fault());
        // The faults in force change: those in progress still count against the new cap.
        assert!(!decide(&mut listener, &[delay(500, Some(1))]).is_fault());
        assert!(decide(&mut listener, &[delay(500, Some(3))]).is_fault());
        // No fault in force: no filter to ask.
        assert!(
            listener
                .decide(&[], SimTime::ZERO, &head, &mut rng)
                .is_none()
        );
    }
}
