//! One request's life at the client Envoy: attempts, per-try timeouts, back-off, and the
//! route timeout that covers all of them.
//!
//! The caller drives it (quinn-proto style): ask for an attempt plan, send, report the
//! outcome, and follow the returned [`Next`]. The exchange never reads a clock.
//!
//! Timing rules (Envoy): the route `timeout.perRequest` runs from the start of the exchange
//! and includes every attempt and back-off; when it fires the client gets 504 and nothing is
//! retried. `perRetryTimeout` bounds each attempt, the first included, and never extends past
//! the route deadline.

use std::time::Duration;

use super::flags::{ResponseFlag, ResponseFlags};
use super::retry::{AttemptOutcome, ResetReason, RetryEvent, RetryRules, backoff};
use super::time::SimTime;

/// How long an attempt may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptPlan {
    /// 1 for the first attempt.
    pub number: u32,
    /// When the attempt times out, if ever.
    pub deadline: Option<SimTime>,
    /// Which timeout sets that deadline.
    pub bounded_by: Option<TimeoutKind>,
}

/// Which timeout bounds an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutKind {
    /// `perRetryTimeout`: report `Reset(PerTryTimeout)` when it fires.
    PerTry,
    /// The route's `perRequest`: call [`Exchange::on_route_timeout`] when it fires.
    Route,
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Start attempt `number` at `at`.
    Retry {
        /// When the back-off ends.
        at: SimTime,
        /// The attempt number to start (2 for the first retry).
        number: u32,
        /// The back-off drawn.
        backoff: Duration,
        /// The retry event that matched.
        event: RetryEvent,
    },
    /// The exchange is over.
    Finish(Final),
}

/// How an exchange ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Final {
    /// When the client gets the answer.
    pub at: SimTime,
    /// HTTP status the client sees (503 for resets, 504 for timeouts, as Envoy answers).
    pub status: u16,
    /// The last attempt's outcome, if an attempt ran.
    pub last_outcome: Option<AttemptOutcome>,
    /// Attempts made.
    pub attempts: u32,
    /// Why it ended.
    pub reason: FinishReason,
}

impl Final {
    /// The response flags the caller's own router sets on its access-log line (Envoy's
    /// `Filter::onUpstreamReset`, `maybeRetryReset`, `onUpstreamHeaders` and the timeout
    /// handlers in source/common/router/router.cc):
    /// - the route timeout: `UT`;
    /// - a last attempt that ended without a response: its reset's flag (`UF` connect
    ///   failure, `UC` disconnect, `UT` per-try timeout, `UR` refused stream, `UO` the
    ///   caller's own overflow);
    /// - retries used up on a retriable outcome: `URX` **beside** that flag (`UF,URX`);
    /// - a retry refused by the retry breaker (`RetryStatus::NoOverflow`): `UO` beside it;
    /// - an upstream's answer passed on as it is: nothing of the upstream's flags (a 503 `UO`
    ///   from the upstream's pool is `-` here, or `URX`).
    pub fn flags(&self) -> ResponseFlags {
        if self.reason == FinishReason::RouteTimeout {
            return ResponseFlags::of(ResponseFlag::UpstreamTimeout);
        }
        let mut flags = ResponseFlags::NONE;
        if let Some(AttemptOutcome::Reset(reason)) = self.last_outcome {
            flags.insert(reset_flag(reason));
        }
        match self.reason {
            FinishReason::RetriesExhausted => flags.insert(ResponseFlag::RetriesExhausted),
            FinishReason::RetryShed => flags.insert(ResponseFlag::Overflow),
            _ => {}
        }
        flags
    }
}

/// The flag Envoy's router sets for an attempt that ended without a response
/// (`Filter::streamResetReasonToResponseFlag`, and `UT` for a per-try timeout).
pub fn reset_flag(reason: ResetReason) -> ResponseFlag {
    match reason {
        ResetReason::ConnectFailure => ResponseFlag::ConnectFailure,
        ResetReason::RefusedStream => ResponseFlag::UpstreamRemoteReset,
        ResetReason::Disconnect => ResponseFlag::UpstreamReset,
        ResetReason::PerTryTimeout => ResponseFlag::UpstreamTimeout,
        ResetReason::Overflow => ResponseFlag::Overflow,
    }
}

/// Why an exchange ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// A response that is not retriable under the policy (success or not).
    Answered,
    /// The caller's own circuit breaker overflowed (a local overflow reset, `UO`): never
    /// retried. An upstream's overflow 503 is an ordinary answer (see [`super::retry`]).
    LocalOverflow,
    /// Retriable, but `maxRetries` were used up.
    RetriesExhausted,
    /// The route timeout fired (504, `UT`).
    RouteTimeout,
    /// Retriable, but the cluster's retry breaker (`max_retries` concurrent retries) refused
    /// the retry: the last outcome goes to the client.
    RetryShed,
}

/// State of one request's exchange.
#[derive(Clone, Debug)]
pub struct Exchange {
    started: SimTime,
    deadline: Option<SimTime>,
    rules: RetryRules,
    attempts: u32,
    last: Option<AttemptOutcome>,
    done: bool,
}

impl Exchange {
    /// Starts an exchange at `now` under a route's retry rules and per-request timeout
    /// (`None`: disabled).
    pub fn new(now: SimTime, rules: RetryRules, per_request_timeout: Option<Duration>) -> Exchange {
        Exchange {
            started: now,
            deadline: per_request_timeout.map(|t| now + t),
            rules,
            attempts: 0,
            last: None,
            done: false,
        }
    }

    /// When the route timeout fires, if it can.
    pub fn deadline(&self) -> Option<SimTime> {
        self.deadline
    }

    /// When the exchange started.
    pub fn started(&self) -> SimTime {
        self.started
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The retry rules in force.
    pub fn rules(&self) -> &RetryRules {
        &self.rules
    }

    /// Plans the next attempt, starting at `now`. Fails with the route timeout if `now` is at
    /// or past the deadline.
    pub fn start_attempt(&mut self, now: SimTime) -> Result<AttemptPlan, Final> {
        if let Some(d) = self.deadline
            && now >= d
        {
            return Err(self.on_route_timeout(d));
        }
        self.attempts += 1;
        let per_try = self.rules.per_try_timeout.map(|t| now + t);
        let (deadline, bounded_by) = match (per_try, self.deadline) {
            (Some(p), Some(r)) if p < r => (Some(p), Some(TimeoutKind::PerTry)),
            (_, Some(r)) => (Some(r), Some(TimeoutKind::Route)),
            (Some(p), None) => (Some(p), Some(TimeoutKind::PerTry)),
            (None, None) => (None, None),
        };
        Ok(AttemptPlan {
            number: self.attempts,
            deadline,
            bounded_by,
        })
    }

    /// Reports how the current attempt ended.
    pub fn on_outcome(
        &mut self,
        now: SimTime,
        outcome: AttemptOutcome,
        rng: &mut impl rand::Rng,
    ) -> Next {
        self.last = Some(outcome);
        let Some(event) = self.rules.retriable(&outcome) else {
            let reason = if outcome == AttemptOutcome::Reset(ResetReason::Overflow) {
                FinishReason::LocalOverflow
            } else {
                FinishReason::Answered
            };
            return Next::Finish(self.finish(now, reason));
        };
        if self.attempts > self.rules.max_retries {
            return Next::Finish(self.finish(now, FinishReason::RetriesExhausted));
        }
        let wait = backoff(self.attempts, rng);
        let at = now + wait;
        if let Some(d) = self.deadline
            && at >= d
        {
            // The route timeout fires during the back-off: 504 at the deadline.
            return Next::Finish(self.on_route_timeout(d));
        }
        Next::Retry {
            at,
            number: self.attempts + 1,
            backoff: wait,
            event,
        }
    }

    /// The cluster's retry breaker ([`RetryGate`](super::retry_breaker::RetryGate)) refused
    /// the retry `on_outcome` asked for: the last outcome goes to the client.
    pub fn shed_retry(&mut self, now: SimTime) -> Final {
        self.finish(now, FinishReason::RetryShed)
    }

    /// The caller's own cluster refused the next attempt before it started (its circuit
    /// breaker overflowed: a local overflow reset, `UO`, never retried).
    pub fn on_local_overflow(&mut self, now: SimTime) -> Final {
        self.last = Some(AttemptOutcome::Reset(ResetReason::Overflow));
        self.finish(now, FinishReason::LocalOverflow)
    }

    /// The route timeout fired at `now`.
    pub fn on_route_timeout(&mut self, now: SimTime) -> Final {
        self.done = true;
        Final {
            at: now,
            status: 504,
            last_outcome: self.last,
            attempts: self.attempts,
            reason: FinishReason::RouteTimeout,
        }
    }

    fn finish(&mut self, now: SimTime, reason: FinishReason) -> Final {
        self.done = true;
        let status = match self.last {
            Some(AttemptOutcome::Response { status, .. }) => status,
            Some(AttemptOutcome::Reset(ResetReason::PerTryTimeout)) => 504,
            Some(AttemptOutcome::Reset(_)) | None => 503,
        };
        Final {
            at: now,
            status,
            last_outcome: self.last,
            attempts: self.attempts,
            reason,
        }
    }

    /// Whether the exchange has finished.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{HttpRetryEvent, RetryPolicy};
    use crate::engine::seed;

    fn rules(max: u32, per_try_ms: u64) -> RetryRules {
        RetryRules::resolve(Some(&RetryPolicy {
            max_retries: max,
            per_retry_timeout: Duration::from_millis(per_try_ms),
            http_retry_events: vec![HttpRetryEvent::ServerError],
            tcp_retry_events: Vec::new(),
            grpc_retry_events: Vec::new(),
        }))
    }

    #[test]
    fn retries_until_max_then_returns_the_last_error() {
        // maxRetries counts retries after the first attempt: 3 retries = 4 attempts.
        let mut rng = seed::stream(1, "t");
        let mut ex = Exchange::new(SimTime::ZERO, rules(3, 100), Some(Duration::from_secs(15)));
        let mut now = SimTime::ZERO;
        loop {
            let plan = ex.start_attempt(now).expect("within deadline");
            match ex.on_outcome(
                now + Duration::from_millis(5),
                AttemptOutcome::status(500),
                &mut rng,
            ) {
                Next::Retry { at, number, .. } => {
                    assert_eq!(number, plan.number + 1);
                    now = at;
                }
                Next::Finish(f) => {
                    assert_eq!(f.attempts, 4);
                    assert_eq!(f.status, 500);
                    assert_eq!(f.reason, FinishReason::RetriesExhausted);
                    break;
                }
            }
        }
    }

    #[test]
    fn per_try_timeout_never_outlives_the_route_timeout() {
        let mut ex = Exchange::new(
            SimTime::ZERO,
            rules(5, 2000),
            Some(Duration::from_millis(3000)),
        );
        let first = ex.start_attempt(SimTime::ZERO).expect("plan");
        assert_eq!(first.deadline, Some(SimTime::from_millis(2000)));
        assert_eq!(first.bounded_by, Some(TimeoutKind::PerTry));
        let second = ex.start_attempt(SimTime::from_millis(2100)).expect("plan");
        // 2.1 s + 2 s would pass the 3 s route deadline: the route bounds it.
        assert_eq!(second.deadline, Some(SimTime::from_millis(3000)));
        assert_eq!(second.bounded_by, Some(TimeoutKind::Route));
        let late = ex.start_attempt(SimTime::from_millis(3000));
        assert_eq!(
            late.map_err(|f| (f.status, f.reason)),
            Err((504, FinishReason::RouteTimeout))
        );
    }

    #[test]
    fn route_timeout_during_backoff_is_a_504_at_the_deadline() {
        let mut rng = seed::stream(2, "t");
        let mut ex = Exchange::new(
            SimTime::ZERO,
            rules(5, 100),
            Some(Duration::from_millis(10)),
        );
        ex.start_attempt(SimTime::ZERO).expect("plan");
        // Fails at 9.99 ms; any back-off from [0, 25 ms) that ends past 10 ms times out.
        let mut saw_timeout = false;
        for _ in 0..50 {
            let mut e = ex.clone();
            if let Next::Finish(f) = e.on_outcome(
                SimTime::from_duration(Duration::from_micros(9990)),
                AttemptOutcome::status(503),
                &mut rng,
            ) {
                assert_eq!((f.status, f.at), (504, SimTime::from_millis(10)));
                saw_timeout = true;
            }
        }
        assert!(saw_timeout);
    }

    #[test]
    fn local_overflow_and_non_retriable_answers_finish_at_once() {
        let mut rng = seed::stream(3, "t");
        let mut ex = Exchange::new(SimTime::ZERO, rules(3, 100), None);
        ex.start_attempt(SimTime::ZERO).expect("plan");
        match ex.on_outcome(
            SimTime::ZERO,
            AttemptOutcome::Reset(ResetReason::Overflow),
            &mut rng,
        ) {
            Next::Finish(f) => assert_eq!(
                (f.status, f.reason, f.attempts),
                (503, FinishReason::LocalOverflow, 1)
            ),
            other => panic!("expected finish, got {other:?}"),
        }
        let mut ok = Exchange::new(SimTime::ZERO, rules(3, 100), None);
        ok.start_attempt(SimTime::ZERO).expect("plan");
        assert!(matches!(
            ok.on_outcome(SimTime::ZERO, AttemptOutcome::status(404), &mut rng),
            Next::Finish(Final {
                status: 404,
                reason: FinishReason::Answered,
                ..
            })
        ));
    }

    #[test]
    fn an_upstream_overflow_503_is_retried() {
        // The server-side pool's 503 (x-envoy-overloaded) reaches the caller as a 503, and
        // server-error retries it on another attempt.
        let mut rng = seed::stream(5, "t");
        let mut ex = Exchange::new(SimTime::ZERO, rules(2, 100), None);
        ex.start_attempt(SimTime::ZERO).expect("plan");
        assert!(matches!(
            ex.on_outcome(SimTime::ZERO, AttemptOutcome::status(503), &mut rng),
            Next::Retry { number: 2, .. }
        ));
    }

    #[test]
    fn exhausted_retries_add_urx_beside_the_last_failure_s_flag() {
        let mut rng = seed::stream(6, "t");
        let run = |outcome: AttemptOutcome, rng: &mut seed::Rng| {
            let mut ex = Exchange::new(SimTime::ZERO, rules(1, 100), None);
            let mut now = SimTime::ZERO;
            loop {
                ex.start_attempt(now).expect("plan");
                match ex.on_outcome(now, outcome, rng) {
                    Next::Retry { at, .. } => now = at,
                    Next::Finish(f) => return f,
                }
            }
        };
        let flags = |o, rng: &mut seed::Rng| run(o, rng).flags().to_string();
        assert_eq!(
            flags(AttemptOutcome::Reset(ResetReason::ConnectFailure), &mut rng),
            "UF,URX"
        );
        assert_eq!(
            flags(AttemptOutcome::Reset(ResetReason::Disconnect), &mut rng),
            "UC,URX"
        );
        assert_eq!(
            flags(AttemptOutcome::Reset(ResetReason::PerTryTimeout), &mut rng),
            "UT,URX"
        );
        // An upstream's 503 (its pool's UO included) passed on after the retries: URX only.
        assert_eq!(flags(AttemptOutcome::status(503), &mut rng), "URX");
        // Not retriable at all: the upstream's answer carries none of this proxy's flags.
        assert_eq!(flags(AttemptOutcome::status(404), &mut rng), "-");
        let mut ex = Exchange::new(SimTime::ZERO, rules(3, 100), None);
        ex.start_attempt(SimTime::ZERO).expect("plan");
        let shed = match ex.on_outcome(
            SimTime::ZERO,
            AttemptOutcome::Reset(ResetReason::ConnectFailure),
            &mut rng,
        ) {
            Next::Retry { .. } => ex.shed_retry(SimTime::ZERO),
            Next::Finish(f) => panic!("expected a retry, got {f:?}"),
        };
        assert_eq!(
            (shed.status, shed.flags().to_string()),
            (503, "UF,UO".into())
        );
        let timeout = Exchange::new(SimTime::ZERO, rules(3, 100), None)
            .on_route_timeout(SimTime::from_millis(15));
        assert_eq!(timeout.flags().to_string(), "UT");
    }

    #[test]
    fn a_final_per_try_timeout_answers_504_and_a_reset_503() {
        let mut rng = seed::stream(4, "t");
        let mut ex = Exchange::new(SimTime::ZERO, rules(0, 100), None);
        ex.start_attempt(SimTime::ZERO).expect("plan");
        let f = ex.on_outcome(
            SimTime::from_millis(100),
            AttemptOutcome::Reset(ResetReason::PerTryTimeout),
            &mut rng,
        );
        assert!(matches!(f, Next::Finish(Final { status: 504, .. })));
        let mut ex = Exchange::new(SimTime::ZERO, rules(0, 100), None);
        ex.start_attempt(SimTime::ZERO).expect("plan");
        let f = ex.on_outcome(
            SimTime::ZERO,
            AttemptOutcome::Reset(ResetReason::Disconnect),
            &mut rng,
        );
        assert!(matches!(f, Next::Finish(Final { status: 503, .. })));
    }
}
