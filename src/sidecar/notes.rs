//! How the core notes a sampled request's decisions in its hop's [`HopDetail`]: the engine's
//! explanations put into words. Kept apart from the hop's own code so that what a trace
//! records can be read in one place, and the decisions in another.

use super::cluster::Ended;
use super::detail::{AttemptOutcome as Tried, EventKind, HopDetail, RouteChoice};
use crate::engine::exchange::{AttemptPlan, Final, FinishReason, Next};
use crate::engine::failure_accrual::Transition;
use crate::engine::retry::{AttemptOutcome, ResetReason, RetryEvent};
use crate::engine::retry_breaker::RetryShed;
use crate::engine::{RequestHead, SimTime};

/// The engine's route explanation for a sampled request, in words.
pub fn explain_route(
    engine: &crate::engine::Engine,
    service: &str,
    head: &RequestHead,
    router: Option<&str>,
) -> RouteChoice {
    match engine.explain(service, head) {
        Ok(why) => RouteChoice {
            router: router.map(str::to_string),
            note: router.is_none().then(|| {
                "the virtual service's provider is a virtual node: App Mesh's generated route"
                    .to_string()
            }),
            matched: why.matched,
            skipped: why
                .skipped
                .iter()
                .map(|(r, m)| (r.clone(), m.to_string()))
                .collect(),
        },
        Err(e) => RouteChoice {
            router: router.map(str::to_string),
            note: Some(e.to_string()),
            ..RouteChoice::default()
        },
    }
}

/// What a sampled request's detail says when the route timeout fired.
pub fn route_timeout_text(timeout: Option<std::time::Duration>, when: &str) -> String {
    match timeout {
        Some(t) => format!("route timeout (perRequest {t:?}) fired {when}: 504 UT"),
        None => format!("route timeout fired {when}: 504 UT"),
    }
}

/// App Mesh's name for a retry event.
fn retry_event_name(event: RetryEvent) -> String {
    match event {
        RetryEvent::ServerError => "server-error".into(),
        RetryEvent::GatewayError => "gateway-error".into(),
        RetryEvent::ClientError => "client-error".into(),
        RetryEvent::StreamError => "stream-error".into(),
        RetryEvent::ConnectionError => "connection-error".into(),
        RetryEvent::Grpc(g) => g.as_str().into(),
        RetryEvent::Default503 => "503 (App Mesh's default retry policy)".into(),
        RetryEvent::DefaultReset => {
            "reset or connect failure (App Mesh's default retry policy)".into()
        }
        RetryEvent::DefaultGrpcUnavailable => {
            "gRPC unavailable (App Mesh's default retry policy)".into()
        }
        RetryEvent::ExtraStatus(s) => format!("status {s} (an extra retriable status)"),
    }
}

/// A sampled attempt's end: its outcome, the timeout if one fired, and what the exchange
/// decided next.
pub fn note_attempt_end(
    d: &mut HopDetail,
    now: SimTime,
    outcome: AttemptOutcome,
    plan: &AttemptPlan,
    host: &str,
    next: &Next,
) {
    let tried = match outcome {
        AttemptOutcome::Reset(ResetReason::PerTryTimeout) => Some(Tried::PerTryTimeout),
        AttemptOutcome::Reset(ResetReason::ConnectFailure) => Some(Tried::ConnectFailure),
        AttemptOutcome::Reset(_) => Some(Tried::Reset),
        AttemptOutcome::Response { .. } => None,
    };
    if tried == Some(Tried::PerTryTimeout) {
        let after = d
            .current()
            .map(|a| now.saturating_since(a.start))
            .unwrap_or_default();
        d.event(
            now,
            EventKind::PerTryTimeout,
            format!(
                "perRetryTimeout fired after {after:?} on attempt {} to {host}: UT",
                plan.number
            ),
        );
    }
    let then = match next {
        Next::Retry {
            at,
            number,
            backoff,
            event,
        } => {
            let text = format!(
                "retry on {}: attempt {number} at {at} after a {backoff:?} back-off",
                retry_event_name(*event)
            );
            d.event(now, EventKind::Retry, text.clone());
            text
        }
        Next::Finish(f) => {
            let text = match f.reason {
                FinishReason::Answered => format!("finish: {} is not retriable here", f.status),
                FinishReason::LocalOverflow => {
                    "finish: this proxy's own circuit breaker overflowed (UO): never retried"
                        .to_string()
                }
                FinishReason::RetriesExhausted => {
                    format!(
                        "finish: retriable, but {} attempts used up (URX)",
                        f.attempts
                    )
                }
                FinishReason::RouteTimeout => {
                    "finish: the route timeout fires during the back-off: 504 UT".to_string()
                }
                FinishReason::RetryShed => {
                    "finish: the retry breaker (max_retries) refused the retry (UO)".to_string()
                }
            };
            if f.reason == FinishReason::RetriesExhausted {
                d.event(now, EventKind::RetriesExhausted, text.clone());
            }
            if f.reason == FinishReason::RouteTimeout {
                d.event(f.at, EventKind::RouteTimeout, text.clone());
            }
            text
        }
    };
    if let Some(a) = d.current() {
        a.end = now;
        if let Some(t) = tried {
            a.outcome = t;
        }
        a.then = Some(then);
    }
}

/// The caller's own cluster breaker refused the next attempt of a sampled request, or kept it
/// queued past the route's deadline.
pub fn note_cluster_refused(
    d: &mut HopDetail,
    now: SimTime,
    f: &Final,
    timeout: Option<std::time::Duration>,
) {
    if f.reason == FinishReason::RouteTimeout {
        d.event(
            now,
            EventKind::RouteTimeout,
            route_timeout_text(timeout, "while waiting for a connection of the cluster"),
        );
    } else {
        d.event(
            now,
            EventKind::Overflow,
            "this proxy's cluster circuit breaker (Envoy's 1024 defaults) overflowed: 503 UO, \
             never retried",
        );
    }
}

/// The cluster's retry breaker refused the retry a sampled attempt asked for.
pub fn note_retry_shed(d: &mut HopDetail, now: SimTime, shed: &RetryShed) {
    let text = format!("finish: {shed}; the last answer goes downstream");
    d.event(now, EventKind::Overflow, text.clone());
    if let Some(a) = d.current() {
        a.then = Some(text);
    }
}

/// What outlier detection and failure accrual decided after a sampled attempt.
pub fn note_ended(d: &mut HopDetail, now: SimTime, host: &str, ended: &Ended) {
    if let Some(e) = &ended.ejection {
        d.event(
            now,
            EventKind::Ejection,
            format!("{host}: outlier detection: {e}"),
        );
    }
    match ended.breaker {
        Some(Transition::Tripped { reason, until }) => d.event(
            now,
            EventKind::Breaker,
            format!("{host}: failure accrual opened the breaker until {until}: {reason}"),
        ),
        Some(Transition::Closed) => d.event(
            now,
            EventKind::Breaker,
            format!("{host}: the probe succeeded; failure accrual closed the breaker"),
        ),
        None => {}
    }
}

/// What a sampled request's detail says when an idle timer fired.
pub fn idle_timeout_text(which: &str, idle: Option<std::time::Duration>) -> String {
    let d = idle.unwrap_or_default();
    format!("{which} idle timeout ({d:?}) fired with no answer yet: 504 SI")
}

/// Why no route took a sampled request: the routes tried and why each did not match, or
/// why there was no table to try.
pub fn no_route(engine: &crate::engine::Engine, service: &str, head: &RequestHead) -> RouteChoice {
    match engine.explain(service, head) {
        Ok(why) => RouteChoice {
            router: None,
            matched: None,
            skipped: why
                .skipped
                .iter()
                .map(|(r, m)| (r.clone(), m.to_string()))
                .collect(),
            note: Some("no route matched: 404 NR".into()),
        },
        Err(e) => RouteChoice {
            note: Some(format!("{e}: 404 NR")),
            ..RouteChoice::default()
        },
    }
}
