//! One reading of an upstream's answer, for every part of the sidecar that judges it.
//!
//! The same answer is judged four ways, and they differ on purpose:
//! - **the retry policy** reads `:status` and the `grpc-status` of the response **headers**
//!   only: Envoy's `RetryStateImpl::wouldRetryFromHeaders`
//!   (source/common/router/retry_state_impl.cc) calls `Grpc::Common::getGrpcStatus` on the
//!   headers, so a gRPC status that arrives in trailers after a message is never seen by it;
//!   an attempt without a response is judged by its reset (`wouldRetryFromReset`). The
//!   policy's table is [`RetryRules::retriable`](crate::engine::retry::RetryRules::retriable).
//! - **outlier detection** (and failure accrual beside it) reads the status the router
//!   reports for the host: for gRPC the headers' `grpc-status` mapped through Envoy's
//!   gRPC-to-HTTP table, else `:status` (`Filter::onUpstreamHeaders` in
//!   source/common/router/router.cc); a reset or timeout is a local-origin failure.
//! - **the calling app** (and the load generator, and an HTTP health check) reads the gRPC
//!   status wherever it is, headers or trailers, since a gRPC client reads both and the
//!   transport's 200 says nothing: [`ResponseHead::app_status`].
//! - **the access log** notes the flag an upstream proxy set on its own local reply (`UO`,
//!   `FI`, `RL`, …), which stays on that upstream's line; and for a reset, the flag this
//!   proxy sets itself ([`reset_flag`]).
//!
//! `x-envoy-overloaded` is read but changes no retry: Envoy 1.15 (PR #10847, envoy#10706)
//! stopped exempting an overloaded 503 from retries, and App Mesh runs Envoy 1.29.
//!
//! The driver turns its wire response into a [`ResponseHead`] once; nothing here knows the
//! HTTP library.

use crate::engine::exchange::reset_flag;
use crate::engine::flags::ResponseFlag;
use crate::engine::outlier::{LocalFailure, RequestResult};
use crate::engine::retry::{AttemptOutcome, ResetReason, RetryEvent, RetryRules};

/// The parts of an upstream's response the sidecar decides by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResponseHead {
    /// `:status`.
    pub status: u16,
    /// `grpc-status` in the response headers: a trailers-only gRPC response.
    pub grpc_status: Option<u8>,
    /// `grpc-status` in the trailers, after a message.
    pub trailer_grpc_status: Option<u8>,
    /// `x-envoy-overloaded` is present: an upstream pool or breaker shed the request.
    pub overloaded: bool,
    /// The flag the upstream proxy set on a local reply of its own, if it made one.
    pub flag: Option<ResponseFlag>,
}

impl ResponseHead {
    /// A plain HTTP response with `status` and nothing else of note.
    pub fn status(status: u16) -> ResponseHead {
        ResponseHead {
            status,
            ..ResponseHead::default()
        }
    }

    /// What the retry policy judges: `:status` and the headers' `grpc-status`.
    pub fn attempt_outcome(&self) -> AttemptOutcome {
        AttemptOutcome::Response {
            status: self.status,
            grpc_status: self.grpc_status,
        }
    }

    /// The status the router reports for the host (outlier detection, failure accrual, the
    /// attempt in a trace): the headers' `grpc-status` mapped, else `:status`.
    pub fn router_status(&self) -> u16 {
        self.grpc_status.map_or(self.status, grpc_to_http)
    }

    /// The status the answer stands for to the app that called: the gRPC status in the
    /// headers or else the trailers, mapped; else `:status`.
    pub fn app_status(&self) -> u16 {
        self.grpc_status
            .or(self.trailer_grpc_status)
            .map_or(self.status, grpc_to_http)
    }
}

/// How an attempt ended, as the driver saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Response headers arrived.
    Response(ResponseHead),
    /// The stream or connection ended first, or the attempt's own timer fired.
    Reset(ResetReason),
}

impl Answer {
    /// The answer read the ways the sidecar judges it (see the module docs).
    pub fn classify(&self) -> Classification {
        match *self {
            Answer::Response(head) => Classification {
                attempt: head.attempt_outcome(),
                outlier: Some(RequestResult::from_status(head.router_status())),
                router_status: Some(head.router_status()),
                upstream_flag: head.flag,
                local_flag: None,
            },
            Answer::Reset(reason) => Classification {
                attempt: AttemptOutcome::Reset(reason),
                outlier: local_failure(reason).map(RequestResult::LocalFailure),
                router_status: None,
                upstream_flag: None,
                local_flag: Some(reset_flag(reason)),
            },
        }
    }
}

/// An attempt's end, as each judge of it reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classification {
    /// What the retry policy and the exchange decide by.
    pub attempt: AttemptOutcome,
    /// What the host's outlier detection and failure accrual hear; `None` when the host
    /// never saw the request (the caller's own overflow).
    pub outlier: Option<RequestResult>,
    /// The status the router reports for the host; `None` without a response.
    pub router_status: Option<u16>,
    /// The flag an upstream proxy set on its own reply (it stays on that proxy's line).
    pub upstream_flag: Option<ResponseFlag>,
    /// The flag this proxy sets for an attempt that ended without a response.
    pub local_flag: Option<ResponseFlag>,
}

impl Classification {
    /// The retry event `rules` match this end with, if any.
    pub fn retry_event(&self, rules: &RetryRules) -> Option<RetryEvent> {
        rules.retriable(&self.attempt)
    }

    /// Whether the host is charged with a failure (a 5xx as the router reports it, a reset,
    /// a connect failure or a timeout).
    pub fn is_host_failure(&self) -> bool {
        self.outlier.is_some_and(RequestResult::is_error)
    }
}

/// The local-origin failure outlier detection counts for a reset; `None` for the caller's
/// own overflow, which never reached the host.
fn local_failure(reason: ResetReason) -> Option<LocalFailure> {
    match reason {
        ResetReason::ConnectFailure => Some(LocalFailure::ConnectFailure),
        ResetReason::RefusedStream | ResetReason::Disconnect => Some(LocalFailure::Reset),
        ResetReason::PerTryTimeout => Some(LocalFailure::Timeout),
        ResetReason::Overflow => None,
    }
}

/// Envoy's gRPC-to-HTTP status mapping (`Grpc::Utility::grpcToHttpStatus`).
pub fn grpc_to_http(grpc: u8) -> u16 {
    match grpc {
        0 => 200,
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500, // UNKNOWN, INTERNAL, DATA_LOSS and codes past the table
    }
}

/// Envoy's HTTP-to-gRPC status mapping for local replies (`Grpc::Utility::httpToGrpcStatus`).
pub fn http_to_grpc(status: u16) -> u8 {
    match status {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502..=504 => 14,
        _ => 2,
    }
}

/// The status line (or connection) an access-log line counts as an error by, wherever lines
/// are judged after the fact (a rollout's analysis, the TUI): a 5xx, or no HTTP answer at all
/// (status 0: a TCP connection's line, or a request that ended without one).
pub fn is_error_status(status: u16) -> bool {
    status == 0 || status >= 500
}

#[cfg(test)]
mod tests {
    //! Each classification Envoy's router makes, by its `retry_on` name
    //! (source/common/router/retry_state_impl.cc, `wouldRetryFromHeaders` and
    //! `wouldRetryFromReset`), under the App Mesh event that turns it on.

    use super::*;
    use crate::config::model::{GrpcRetryEvent, HttpRetryEvent, RetryPolicy, TcpRetryEvent};
    use std::time::Duration;

    fn rules(
        http: &[HttpRetryEvent],
        tcp: &[TcpRetryEvent],
        grpc: &[GrpcRetryEvent],
    ) -> RetryRules {
        RetryRules::resolve(Some(&RetryPolicy {
            max_retries: 2,
            per_retry_timeout: Duration::ZERO,
            http_retry_events: http.to_vec(),
            tcp_retry_events: tcp.to_vec(),
            grpc_retry_events: grpc.to_vec(),
        }))
    }

    fn status(s: u16) -> Classification {
        Answer::Response(ResponseHead::status(s)).classify()
    }

    fn grpc_headers(code: u8) -> Classification {
        Answer::Response(ResponseHead {
            status: 200,
            grpc_status: Some(code),
            ..ResponseHead::default()
        })
        .classify()
    }

    fn reset(r: ResetReason) -> Classification {
        Answer::Reset(r).classify()
    }

    const RESETS: [ResetReason; 4] = [
        ResetReason::ConnectFailure,
        ResetReason::RefusedStream,
        ResetReason::Disconnect,
        ResetReason::PerTryTimeout,
    ];

    #[test]
    fn five_xx_is_server_error_s_status_list() {
        // `5xx` in Envoy; App Mesh's `server-error` lists 500–508, 510 and 511.
        let r = rules(&[HttpRetryEvent::ServerError], &[], &[]);
        for s in [500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511] {
            assert_eq!(
                status(s).retry_event(&r),
                Some(RetryEvent::ServerError),
                "{s}"
            );
        }
        for s in [200, 404, 409, 429, 509, 520] {
            assert_eq!(status(s).retry_event(&r), None, "{s}");
        }
    }

    #[test]
    fn gateway_error_is_502_to_504() {
        let r = rules(&[HttpRetryEvent::GatewayError], &[], &[]);
        for s in [502, 503, 504] {
            assert_eq!(
                status(s).retry_event(&r),
                Some(RetryEvent::GatewayError),
                "{s}"
            );
        }
        for s in [500, 501, 505, 200] {
            assert_eq!(status(s).retry_event(&r), None, "{s}");
        }
    }

    #[test]
    fn reset_is_retried_by_5xx_and_gateway_error_but_never_the_caller_s_overflow() {
        // "we count an upstream reset as a 5xx" (wouldRetryFromReset); Overflow first.
        for (event, expected) in [
            (HttpRetryEvent::ServerError, RetryEvent::ServerError),
            (HttpRetryEvent::GatewayError, RetryEvent::GatewayError),
        ] {
            let r = rules(&[event], &[], &[]);
            for reason in RESETS {
                assert_eq!(reset(reason).retry_event(&r), Some(expected), "{reason:?}");
            }
            assert_eq!(reset(ResetReason::Overflow).retry_event(&r), None);
        }
        assert_eq!(
            reset(ResetReason::Overflow).retry_event(&RetryRules::app_mesh_default()),
            None
        );
    }

    #[test]
    fn connect_failure_is_tcp_s_connection_error_only() {
        let r = rules(&[], &[TcpRetryEvent::ConnectionError], &[]);
        assert_eq!(
            reset(ResetReason::ConnectFailure).retry_event(&r),
            Some(RetryEvent::ConnectionError)
        );
        for reason in [ResetReason::Disconnect, ResetReason::PerTryTimeout] {
            assert_eq!(reset(reason).retry_event(&r), None, "{reason:?}");
        }
        assert_eq!(status(503).retry_event(&r), None);
    }

    #[test]
    fn refused_stream_is_stream_error() {
        let r = rules(&[HttpRetryEvent::StreamError], &[], &[]);
        assert_eq!(
            reset(ResetReason::RefusedStream).retry_event(&r),
            Some(RetryEvent::StreamError)
        );
        assert_eq!(reset(ResetReason::Disconnect).retry_event(&r), None);
    }

    #[test]
    fn retriable_4xx_is_409_only() {
        let r = rules(&[HttpRetryEvent::ClientError], &[], &[]);
        assert_eq!(status(409).retry_event(&r), Some(RetryEvent::ClientError));
        for s in [400, 404, 429, 500] {
            assert_eq!(status(s).retry_event(&r), None, "{s}");
        }
    }

    #[test]
    fn retriable_status_codes_are_the_scenario_s_extra_statuses() {
        let mut r = rules(&[], &[], &[]);
        r.extra_statuses = vec![429];
        assert_eq!(
            status(429).retry_event(&r),
            Some(RetryEvent::ExtraStatus(429))
        );
        assert_eq!(status(503).retry_event(&r), None);
    }

    #[test]
    fn grpc_events_read_the_headers_grpc_status() {
        for (event, code) in [
            (GrpcRetryEvent::Cancelled, 1),
            (GrpcRetryEvent::DeadlineExceeded, 4),
            (GrpcRetryEvent::ResourceExhausted, 8),
            (GrpcRetryEvent::Internal, 13),
            (GrpcRetryEvent::Unavailable, 14),
        ] {
            let r = rules(&[], &[], &[event]);
            assert_eq!(
                grpc_headers(code).retry_event(&r),
                Some(RetryEvent::Grpc(event)),
                "{event:?}"
            );
            // Another code, or OK, is not retried by that event.
            assert_eq!(
                grpc_headers(if code == 14 { 13 } else { 14 }).retry_event(&r),
                None
            );
            assert_eq!(grpc_headers(0).retry_event(&r), None);
        }
    }

    #[test]
    fn a_grpc_status_in_trailers_is_seen_by_the_app_only() {
        let head = ResponseHead {
            status: 200,
            trailer_grpc_status: Some(14),
            ..ResponseHead::default()
        };
        let c = Answer::Response(head).classify();
        let r = rules(&[], &[], &[GrpcRetryEvent::Unavailable]);
        assert_eq!(c.retry_event(&r), None);
        assert_eq!(c.retry_event(&RetryRules::app_mesh_default()), None);
        assert_eq!(c.router_status, Some(200));
        assert!(!c.is_host_failure());
        assert_eq!(head.app_status(), 503);
        // Trailers-only: everyone sees it.
        let c = grpc_headers(14);
        assert_eq!(c.router_status, Some(503));
        assert!(c.is_host_failure());
        assert_eq!(
            c.retry_event(&RetryRules::app_mesh_default()),
            Some(RetryEvent::DefaultGrpcUnavailable)
        );
    }

    #[test]
    fn app_mesh_s_default_policy_retries_503_unavailable_and_resets() {
        let d = RetryRules::app_mesh_default();
        assert_eq!(status(503).retry_event(&d), Some(RetryEvent::Default503));
        for s in [500, 502, 504] {
            assert_eq!(status(s).retry_event(&d), None, "{s}");
        }
        for reason in RESETS {
            assert_eq!(
                reset(reason).retry_event(&d),
                Some(RetryEvent::DefaultReset)
            );
        }
    }

    #[test]
    fn an_overloaded_503_is_retried_like_any_503() {
        // Envoy >= 1.15 dropped the overloaded exemption; App Mesh runs 1.29.
        let shed = Answer::Response(ResponseHead {
            status: 503,
            overloaded: true,
            flag: Some(ResponseFlag::Overflow),
            ..ResponseHead::default()
        })
        .classify();
        assert_eq!(
            shed.retry_event(&RetryRules::app_mesh_default()),
            Some(RetryEvent::Default503)
        );
        assert_eq!(
            shed.retry_event(&rules(&[HttpRetryEvent::GatewayError], &[], &[])),
            Some(RetryEvent::GatewayError)
        );
        // The `UO` stays the upstream's; this proxy sets no flag for an answer.
        assert_eq!(shed.upstream_flag, Some(ResponseFlag::Overflow));
        assert_eq!(shed.local_flag, None);
    }

    #[test]
    fn outlier_detection_counts_5xx_and_local_failures_not_4xx() {
        assert!(status(500).is_host_failure());
        assert!(status(503).is_host_failure());
        assert!(!status(404).is_host_failure());
        assert!(!status(429).is_host_failure());
        assert_eq!(
            reset(ResetReason::ConnectFailure).outlier,
            Some(RequestResult::LocalFailure(LocalFailure::ConnectFailure))
        );
        assert_eq!(
            reset(ResetReason::Disconnect).outlier,
            Some(RequestResult::LocalFailure(LocalFailure::Reset))
        );
        assert_eq!(
            reset(ResetReason::PerTryTimeout).outlier,
            Some(RequestResult::LocalFailure(LocalFailure::Timeout))
        );
        // The caller's own overflow never reached a host.
        assert_eq!(reset(ResetReason::Overflow).outlier, None);
        assert!(!reset(ResetReason::Overflow).is_host_failure());
    }

    #[test]
    fn a_reset_carries_this_proxy_s_flag() {
        for (reason, flag) in [
            (ResetReason::ConnectFailure, ResponseFlag::ConnectFailure),
            (ResetReason::Disconnect, ResponseFlag::UpstreamReset),
            (
                ResetReason::RefusedStream,
                ResponseFlag::UpstreamRemoteReset,
            ),
            (ResetReason::PerTryTimeout, ResponseFlag::UpstreamTimeout),
            (ResetReason::Overflow, ResponseFlag::Overflow),
        ] {
            let c = reset(reason);
            assert_eq!(
                (c.local_flag, c.upstream_flag),
                (Some(flag), None),
                "{reason:?}"
            );
            assert_eq!(c.router_status, None);
        }
    }

    #[test]
    fn grpc_and_http_tables_round_trip_the_statuses_the_models_use() {
        for s in [200, 400, 401, 403, 404, 409, 429, 500, 501, 503, 504] {
            let g = match s {
                200 => 0,
                400 => 3,
                401 => 16,
                403 => 7,
                404 => 5,
                409 => 6,
                429 => 8,
                500 => 13,
                501 => 12,
                503 => 14,
                _ => 4,
            };
            assert_eq!(grpc_to_http(g), s, "{g}");
        }
        assert_eq!(grpc_to_http(2), 500);
        assert_eq!(grpc_to_http(1), 499);
        assert_eq!(http_to_grpc(503), 14);
        assert_eq!(http_to_grpc(404), 12);
        assert_eq!(http_to_grpc(500), 2);
    }

    #[test]
    fn an_error_line_is_a_5xx_or_no_answer() {
        assert!(is_error_status(0));
        assert!(is_error_status(500));
        assert!(is_error_status(503));
        assert!(!is_error_status(200));
        assert!(!is_error_status(404));
        assert!(!is_error_status(499));
    }
}
