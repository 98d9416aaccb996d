//! Retries: which attempt outcomes are retried, and how long to wait first.
//!
//! App Mesh's retry events map onto Envoy's `retry_on` conditions (checked against Envoy's
//! `RetryStateImpl::wouldRetry`):
//! - `server-error` is Envoy `5xx`: any 5xx response, and any reset without a response
//!   (disconnect, connect failure, refused stream, per-try timeout).
//! - `gateway-error`: 502, 503, 504, and any reset, likewise.
//! - `client-error`: 409. `stream-error`: HTTP/2 REFUSED_STREAM.
//! - `connection-error` (tcp): a connect failure.
//! - gRPC events: the `grpc-status` of the response.
//!
//! Never retried, whatever the policy: a response carrying `x-envoy-overloaded` (a circuit
//! breaker shed it), a reset caused by local overflow, and the route's overall timeout.
//!
//! Without a `retryPolicy`, App Mesh installs a hidden default (its "Envoy defaults" page):
//! 2 retries on HTTP 503, gRPC `unavailable`, reset, connect-failure and refused-stream, with
//! no per-try timeout.

use std::time::Duration;

use crate::config::model::{GrpcRetryEvent, HttpRetryEvent, RetryPolicy, TcpRetryEvent};

/// Envoy's default retry back-off base interval.
pub const BACKOFF_BASE: Duration = Duration::from_millis(25);
/// Envoy's default back-off cap: ten times the base.
pub const BACKOFF_MAX: Duration = Duration::from_millis(250);

/// How one attempt ended, as the client Envoy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Response headers arrived.
    Response {
        /// HTTP status.
        status: u16,
        /// `grpc-status` in the response headers (trailers-only responses), if any.
        grpc_status: Option<u8>,
        /// `x-envoy-overloaded` was set (a circuit breaker shed the request).
        overloaded: bool,
    },
    /// No response: the stream or connection ended first.
    Reset(ResetReason),
}

impl AttemptOutcome {
    /// A plain HTTP response.
    pub fn status(status: u16) -> AttemptOutcome {
        AttemptOutcome::Response {
            status,
            grpc_status: None,
            overloaded: false,
        }
    }

    /// Whether the attempt succeeded from the caller's point of view (not 5xx, no reset).
    pub fn is_success(&self) -> bool {
        matches!(self, AttemptOutcome::Response { status, .. } if *status < 500)
    }
}

/// Why an attempt ended without a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResetReason {
    /// TCP connect failed or timed out (`UF`, connect-failure).
    ConnectFailure,
    /// HTTP/2 REFUSED_STREAM.
    RefusedStream,
    /// The upstream closed or reset the connection before a response (`UC`).
    Disconnect,
    /// The per-try timeout fired (`UT` for the attempt).
    PerTryTimeout,
    /// A local circuit breaker overflowed (`UO`); never retried.
    Overflow,
}

/// Why an outcome is retriable: the event that matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryEvent {
    /// `server-error`.
    ServerError,
    /// `gateway-error`.
    GatewayError,
    /// `client-error` (409).
    ClientError,
    /// `stream-error` (refused stream).
    StreamError,
    /// `connection-error`.
    ConnectionError,
    /// A gRPC event.
    Grpc(GrpcRetryEvent),
    /// App Mesh's default policy: HTTP 503.
    Default503,
    /// App Mesh's default policy: reset, connect-failure or refused-stream.
    DefaultReset,
    /// App Mesh's default policy: gRPC unavailable.
    DefaultGrpcUnavailable,
    /// Extension: an extra retriable status code from the scenario.
    ExtraStatus(u16),
}

/// A retry policy resolved into the checks Envoy runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryRules {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Bounds each attempt, the first included; `None` leaves only the route timeout.
    pub per_try_timeout: Option<Duration>,
    /// Whether this is App Mesh's hidden default (for explanations).
    pub is_app_mesh_default: bool,
    http: Vec<HttpRetryEvent>,
    tcp: Vec<TcpRetryEvent>,
    grpc: Vec<GrpcRetryEvent>,
    /// Extension (scenario-set): extra retriable status codes.
    pub extra_statuses: Vec<u16>,
}

impl RetryRules {
    /// The configured policy, or App Mesh's hidden default when there is none.
    pub fn resolve(policy: Option<&RetryPolicy>) -> RetryRules {
        match policy {
            Some(p) => RetryRules {
                max_retries: p.max_retries,
                per_try_timeout: (!p.per_retry_timeout.is_zero()).then_some(p.per_retry_timeout),
                is_app_mesh_default: false,
                http: p.http_retry_events.clone(),
                tcp: p.tcp_retry_events.clone(),
                grpc: p.grpc_retry_events.clone(),
                extra_statuses: Vec::new(),
            },
            None => RetryRules::app_mesh_default(),
        }
    }

    /// App Mesh's default policy (see the module docs).
    pub fn app_mesh_default() -> RetryRules {
        RetryRules {
            max_retries: 2,
            per_try_timeout: None,
            is_app_mesh_default: true,
            http: Vec::new(),
            tcp: Vec::new(),
            grpc: Vec::new(),
            extra_statuses: Vec::new(),
        }
    }

    /// No retries at all (the App Mesh default can be switched off per mesh in a scenario).
    pub fn none() -> RetryRules {
        RetryRules {
            max_retries: 0,
            is_app_mesh_default: false,
            ..RetryRules::app_mesh_default()
        }
    }

    /// The event that makes `outcome` retriable, if any.
    pub fn retriable(&self, outcome: &AttemptOutcome) -> Option<RetryEvent> {
        match *outcome {
            AttemptOutcome::Response {
                overloaded: true, ..
            } => None,
            AttemptOutcome::Reset(ResetReason::Overflow) => None,
            AttemptOutcome::Response {
                status,
                grpc_status,
                ..
            } => self.for_response(status, grpc_status),
            AttemptOutcome::Reset(reason) => self.for_reset(reason),
        }
    }

    fn for_response(&self, status: u16, grpc_status: Option<u8>) -> Option<RetryEvent> {
        if self.is_app_mesh_default {
            if status == 503 {
                return Some(RetryEvent::Default503);
            }
            if grpc_status == Some(14) {
                return Some(RetryEvent::DefaultGrpcUnavailable);
            }
        }
        for e in &self.http {
            let hit = match e {
                HttpRetryEvent::ServerError => (500..=599).contains(&status),
                HttpRetryEvent::GatewayError => matches!(status, 502..=504),
                HttpRetryEvent::ClientError => status == 409,
                HttpRetryEvent::StreamError => false,
            };
            if hit {
                return Some(match e {
                    HttpRetryEvent::ServerError => RetryEvent::ServerError,
                    HttpRetryEvent::GatewayError => RetryEvent::GatewayError,
                    _ => RetryEvent::ClientError,
                });
            }
        }
        if let Some(g) = grpc_status {
            for e in &self.grpc {
                let code = match e {
                    GrpcRetryEvent::Cancelled => 1,
                    GrpcRetryEvent::DeadlineExceeded => 4,
                    GrpcRetryEvent::ResourceExhausted => 8,
                    GrpcRetryEvent::Internal => 13,
                    GrpcRetryEvent::Unavailable => 14,
                };
                if g == code {
                    return Some(RetryEvent::Grpc(*e));
                }
            }
        }
        self.extra_statuses
            .contains(&status)
            .then_some(RetryEvent::ExtraStatus(status))
    }

    fn for_reset(&self, reason: ResetReason) -> Option<RetryEvent> {
        if self.is_app_mesh_default {
            return Some(RetryEvent::DefaultReset);
        }
        for e in &self.http {
            match e {
                HttpRetryEvent::ServerError => return Some(RetryEvent::ServerError),
                HttpRetryEvent::GatewayError => return Some(RetryEvent::GatewayError),
                HttpRetryEvent::StreamError if reason == ResetReason::RefusedStream => {
                    return Some(RetryEvent::StreamError);
                }
                _ => {}
            }
        }
        if reason == ResetReason::ConnectFailure
            && self.tcp.contains(&TcpRetryEvent::ConnectionError)
        {
            return Some(RetryEvent::ConnectionError);
        }
        None
    }
}

/// Envoy's back-off before retry number `n` (1-based): uniform in
/// `[0, (2^n - 1) × 25 ms)`, the upper bound capped at 250 ms (full jitter).
pub fn backoff(n: u32, rng: &mut impl rand::Rng) -> Duration {
    let base = BACKOFF_BASE.as_nanos() as u64;
    let factor = (1u64 << n.clamp(1, 20)) - 1;
    let upper = base
        .saturating_mul(factor)
        .min(BACKOFF_MAX.as_nanos() as u64);
    Duration::from_nanos(rng.random_range(0..upper))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::seed;

    fn policy(http: &[HttpRetryEvent], tcp: &[TcpRetryEvent]) -> RetryRules {
        RetryRules::resolve(Some(&RetryPolicy {
            max_retries: 3,
            per_retry_timeout: Duration::from_millis(100),
            http_retry_events: http.to_vec(),
            tcp_retry_events: tcp.to_vec(),
            grpc_retry_events: Vec::new(),
        }))
    }

    #[test]
    fn server_error_is_any_5xx_and_any_reset_but_overflow() {
        // Envoy `5xx`: any 5xx response, and a reset counts as a 5xx.
        let p = policy(&[HttpRetryEvent::ServerError], &[]);
        for s in [500, 501, 503, 504, 511, 599] {
            assert_eq!(
                p.retriable(&AttemptOutcome::status(s)),
                Some(RetryEvent::ServerError)
            );
        }
        assert_eq!(p.retriable(&AttemptOutcome::status(409)), None);
        assert_eq!(p.retriable(&AttemptOutcome::status(200)), None);
        for r in [
            ResetReason::ConnectFailure,
            ResetReason::Disconnect,
            ResetReason::PerTryTimeout,
        ] {
            assert!(p.retriable(&AttemptOutcome::Reset(r)).is_some());
        }
        assert_eq!(
            p.retriable(&AttemptOutcome::Reset(ResetReason::Overflow)),
            None
        );
    }

    #[test]
    fn gateway_error_is_502_to_504_only() {
        let p = policy(&[HttpRetryEvent::GatewayError], &[]);
        assert!(p.retriable(&AttemptOutcome::status(502)).is_some());
        assert!(p.retriable(&AttemptOutcome::status(504)).is_some());
        assert_eq!(p.retriable(&AttemptOutcome::status(500)), None);
        assert!(
            p.retriable(&AttemptOutcome::Reset(ResetReason::Disconnect))
                .is_some()
        );
    }

    #[test]
    fn overloaded_responses_are_never_retried() {
        // Envoy: "We never retry if the overloaded header is set."
        let p = policy(&[HttpRetryEvent::ServerError], &[]);
        let shed = AttemptOutcome::Response {
            status: 503,
            grpc_status: None,
            overloaded: true,
        };
        assert_eq!(p.retriable(&shed), None);
        assert_eq!(RetryRules::app_mesh_default().retriable(&shed), None);
    }

    #[test]
    fn client_stream_and_connection_errors() {
        let p = policy(
            &[HttpRetryEvent::ClientError, HttpRetryEvent::StreamError],
            &[TcpRetryEvent::ConnectionError],
        );
        assert_eq!(
            p.retriable(&AttemptOutcome::status(409)),
            Some(RetryEvent::ClientError)
        );
        assert_eq!(p.retriable(&AttemptOutcome::status(503)), None);
        assert_eq!(
            p.retriable(&AttemptOutcome::Reset(ResetReason::RefusedStream)),
            Some(RetryEvent::StreamError)
        );
        assert_eq!(
            p.retriable(&AttemptOutcome::Reset(ResetReason::ConnectFailure)),
            Some(RetryEvent::ConnectionError)
        );
        assert_eq!(
            p.retriable(&AttemptOutcome::Reset(ResetReason::Disconnect)),
            None
        );
    }

    #[test]
    fn app_mesh_default_policy() {
        // envoy-defaults.md: 2 retries; HTTP 503; gRPC UNAVAILABLE; reset, connect-failure,
        // refused-stream.
        let d = RetryRules::resolve(None);
        assert_eq!(d.max_retries, 2);
        assert_eq!(d.per_try_timeout, None);
        assert!(d.retriable(&AttemptOutcome::status(503)).is_some());
        assert_eq!(d.retriable(&AttemptOutcome::status(500)), None);
        assert_eq!(d.retriable(&AttemptOutcome::status(502)), None);
        let unavailable = AttemptOutcome::Response {
            status: 200,
            grpc_status: Some(14),
            overloaded: false,
        };
        assert_eq!(
            d.retriable(&unavailable),
            Some(RetryEvent::DefaultGrpcUnavailable)
        );
        assert!(
            d.retriable(&AttemptOutcome::Reset(ResetReason::ConnectFailure))
                .is_some()
        );
    }

    #[test]
    fn grpc_events_read_grpc_status() {
        let p = RetryRules::resolve(Some(&RetryPolicy {
            max_retries: 3,
            per_retry_timeout: Duration::from_secs(2),
            http_retry_events: Vec::new(),
            tcp_retry_events: Vec::new(),
            grpc_retry_events: vec![GrpcRetryEvent::Internal],
        }));
        let internal = AttemptOutcome::Response {
            status: 200,
            grpc_status: Some(13),
            overloaded: false,
        };
        let unavailable = AttemptOutcome::Response {
            status: 200,
            grpc_status: Some(14),
            overloaded: false,
        };
        assert_eq!(
            p.retriable(&internal),
            Some(RetryEvent::Grpc(GrpcRetryEvent::Internal))
        );
        assert_eq!(p.retriable(&unavailable), None);
    }

    #[test]
    fn backoff_is_full_jitter_with_envoy_bounds() {
        // [0, 25 ms), [0, 75 ms), [0, 175 ms), then capped at 250 ms.
        let mut rng = seed::stream(1, "backoff");
        for (n, upper_ms) in [(1, 25), (2, 75), (3, 175), (4, 250), (9, 250)] {
            let samples: Vec<Duration> = (0..2000).map(|_| backoff(n, &mut rng)).collect();
            let max = samples.iter().max().copied().unwrap_or_default();
            assert!(max < Duration::from_millis(upper_ms), "n={n}: {max:?}");
            assert!(
                max > Duration::from_millis(upper_ms * 9 / 10),
                "n={n}: jitter should span the range, max {max:?}"
            );
        }
    }
}
