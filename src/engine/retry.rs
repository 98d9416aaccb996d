//! Retries: which attempt outcomes are retried, and how long to wait first.
//!
//! App Mesh's retry events, as its API reference (`HttpRetryPolicy`, `GrpcRetryPolicy`) defines
//! them; both `server-error` and `gateway-error` "include the Envoy `reset` policy":
//! - `server-error`: HTTP 500, 501, 502, 503, 504, 505, 506, 507, 508, 510 and 511 (not 509,
//!   not 512–599: a 520 is not retried), and any reset without a response (disconnect,
//!   connect failure, refused stream, per-try timeout).
//! - `gateway-error`: 502, 503, 504, and any reset, likewise.
//! - `client-error`: 409. `stream-error`: HTTP/2 REFUSED_STREAM.
//! - `connection-error` (tcp): a connect failure.
//! - gRPC events: the `grpc-status` of the response **headers** only, that is of a
//!   trailers-only response. Envoy's `RetryStateImpl::wouldRetryFromHeaders` reads
//!   `Grpc::Common::getGrpcStatus(response_headers)`; a status that arrives in trailers after
//!   a message is never seen by the retry decision (nor by outlier detection, which the
//!   router feeds from the same headers in `Filter::onUpstreamHeaders`).
//!
//! An upstream 503 carrying `x-envoy-overloaded` is retried like any other 503: Envoy 1.15
//! (PR #10847, envoy#10706) removed the rule that never retried it, and App Mesh's images run
//! Envoy 1.29. Since App Mesh applies `connectionPool` on the server-side Envoy, a caller sees
//! an overflow there as an ordinary upstream 503. Only a reset caused by the caller's own
//! overflow (`Http::StreamResetReason::Overflow`) is never retried
//! (`RetryStateImpl::wouldRetryFromReset`), and the route's overall timeout ends the exchange.
//!
//! Without a `retryPolicy`, App Mesh installs a hidden default (user guide
//! `envoy-defaults.md`): 2 retries on HTTP 503, gRPC `unavailable`, reset, connect-failure
//! and refused-stream, with no per-try timeout. Accounts that had a mesh before 2020-07-29
//! get no such default ([`EnvoyDefaults`](super::defaults::EnvoyDefaults)).

use std::time::Duration;

use crate::config::model::{GrpcRetryEvent, HttpRetryEvent, RetryPolicy, TcpRetryEvent};

/// Envoy's default retry back-off base interval (runtime `upstream.base_retry_backoff_ms`), in
/// milliseconds; App Mesh exposes no `retry_back_off`.
pub const BACKOFF_BASE_MS: u64 = 25;
/// Envoy's default back-off cap: ten times the base (`RetryStateImpl`'s constructor).
pub const BACKOFF_MAX_MS: u64 = 10 * BACKOFF_BASE_MS;

/// How one attempt ended, as the client Envoy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Response headers arrived.
    Response {
        /// HTTP status.
        status: u16,
        /// `grpc-status` in the response headers (a trailers-only response), if any; a
        /// status in trailers after a message does not belong here (see the module docs).
        grpc_status: Option<u8>,
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
    /// The caller's own circuit breaker overflowed (`UO`); never retried.
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
            AttemptOutcome::Reset(ResetReason::Overflow) => None,
            AttemptOutcome::Response {
                status,
                grpc_status,
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
                HttpRetryEvent::ServerError => is_server_error(status),
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

/// The statuses App Mesh's `server-error` retries: 500–508, 510 and 511 (API reference,
/// `HttpRetryPolicy.httpRetryEvents`).
pub fn is_server_error(status: u16) -> bool {
    matches!(status, 500..=508 | 510 | 511)
}

/// The upper bound of the back-off before retry number `n` (1-based), in milliseconds:
/// Envoy's `JitteredExponentialBackOffStrategy` (source/common/common/backoff_strategy.cc)
/// starts at the base interval and doubles it while it is below `max_interval / 2`, then
/// stays at `max_interval`. With the defaults: 25, 50, 100, 200, then 250 ms for every later
/// retry.
pub fn backoff_bound_ms(n: u32) -> u64 {
    let mut bound = BACKOFF_BASE_MS;
    for _ in 1..n.max(1) {
        bound = if bound < BACKOFF_MAX_MS / 2 {
            bound * 2
        } else {
            return BACKOFF_MAX_MS;
        };
    }
    bound
}

/// Envoy's back-off before retry number `n` (1-based), fully jittered: `random() % bound`,
/// a whole number of milliseconds uniform in `[0, bound)` (see [`backoff_bound_ms`]).
pub fn backoff(n: u32, rng: &mut impl rand::Rng) -> Duration {
    Duration::from_millis(rng.random_range(0..backoff_bound_ms(n)))
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
    fn server_error_is_app_mesh_s_status_list_and_any_reset_but_overflow() {
        // API reference: server-error is 500–508, 510, 511, and includes Envoy's `reset`.
        let p = policy(&[HttpRetryEvent::ServerError], &[]);
        for s in [500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511] {
            assert_eq!(
                p.retriable(&AttemptOutcome::status(s)),
                Some(RetryEvent::ServerError),
                "{s}"
            );
        }
        for s in [509, 512, 520, 599, 409, 200] {
            assert_eq!(p.retriable(&AttemptOutcome::status(s)), None, "{s}");
        }
        for r in [
            ResetReason::ConnectFailure,
            ResetReason::Disconnect,
            ResetReason::PerTryTimeout,
            ResetReason::RefusedStream,
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
        for s in [502, 503, 504] {
            assert!(p.retriable(&AttemptOutcome::status(s)).is_some(), "{s}");
        }
        for s in [500, 501, 505, 520] {
            assert_eq!(p.retriable(&AttemptOutcome::status(s)), None, "{s}");
        }
        assert!(
            p.retriable(&AttemptOutcome::Reset(ResetReason::Disconnect))
                .is_some()
        );
    }

    #[test]
    fn an_upstream_overflow_503_is_retried_a_local_overflow_never() {
        // Envoy >= 1.15 (PR #10847): wouldRetryFromHeaders no longer looks at
        // x-envoy-overloaded, so the server-side pool's 503 is an ordinary 503 to the caller.
        // Only the caller's own overflow reset stays unretried (wouldRetryFromReset).
        let shed = AttemptOutcome::status(503);
        for rules in [
            policy(&[HttpRetryEvent::ServerError], &[]),
            policy(&[HttpRetryEvent::GatewayError], &[]),
            RetryRules::app_mesh_default(),
        ] {
            assert!(rules.retriable(&shed).is_some(), "{rules:?}");
            assert_eq!(
                rules.retriable(&AttemptOutcome::Reset(ResetReason::Overflow)),
                None
            );
        }
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
        };
        let unavailable = AttemptOutcome::Response {
            status: 200,
            grpc_status: Some(14),
        };
        assert_eq!(
            p.retriable(&internal),
            Some(RetryEvent::Grpc(GrpcRetryEvent::Internal))
        );
        assert_eq!(p.retriable(&unavailable), None);
    }

    #[test]
    fn backoff_bounds_double_from_25_ms_to_250_ms() {
        // JitteredExponentialBackOffStrategy with base 25 ms, max 250 ms: doubles while the
        // interval is below max / 2 = 125 ms, then stays at max. Not (2^n - 1) x 25 ms.
        let bounds: Vec<u64> = (1..=7).map(backoff_bound_ms).collect();
        assert_eq!(bounds, [25, 50, 100, 200, 250, 250, 250]);
        assert_eq!(backoff_bound_ms(0), 25);
        assert_eq!(backoff_bound_ms(u32::MAX), 250);
    }

    #[test]
    fn backoff_is_whole_milliseconds_uniform_below_the_bound() {
        // `random() % bound`: every whole millisecond in [0, bound) about equally often.
        let mut rng = seed::stream(1, "backoff");
        for (n, bound) in [(1, 25u64), (2, 50), (3, 100), (4, 200), (5, 250), (9, 250)] {
            let mut seen = vec![0u32; bound as usize];
            let draws = 400 * bound as u32;
            for _ in 0..draws {
                let d = backoff(n, &mut rng);
                assert_eq!(d.subsec_nanos() % 1_000_000, 0, "whole ms: {d:?}");
                let ms = d.as_millis() as usize;
                assert!(ms < bound as usize, "n={n}: {d:?}");
                seen[ms] += 1;
            }
            // 400 expected per value; 6 standard deviations is 120.
            assert!(
                seen.iter().all(|&c| (280..=520).contains(&c)),
                "n={n}: {seen:?}"
            );
        }
    }
}
