//! The wire's response read once into the sidecar core's [`ResponseHead`]: the only place
//! the proxies look for `grpc-status`, `x-envoy-overloaded` and an upstream proxy's response
//! flag in a hyper response; every judgement of it is the core's
//! ([`crate::sidecar::classify`]).

use http::{HeaderMap, Response};

use super::body::Payload;
use super::telemetry::{FLAGS_HEADER, ResponseFlag};
use crate::engine::breaker::OVERLOADED_HEADER;
use crate::sidecar::ResponseHead;

/// The parts of `resp` the sidecar decides by.
pub fn read(resp: &Response<Payload>) -> ResponseHead {
    ResponseHead {
        status: resp.status().as_u16(),
        grpc_status: grpc_status(resp.headers()),
        trailer_grpc_status: resp.body().trailers().and_then(grpc_status),
        overloaded: resp.headers().contains_key(OVERLOADED_HEADER.0),
        flag: flag(resp.headers()),
    }
}

/// The flag an upstream proxy set on its local reply, if it made one.
pub fn flag(headers: &HeaderMap) -> Option<ResponseFlag> {
    headers
        .get(FLAGS_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(ResponseFlag::from_code)
}

/// The `grpc-status` in a header (or trailer) map.
fn grpc_status(map: &HeaderMap) -> Option<u8> {
    map.get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse().ok())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::engine::retry::{AttemptOutcome, RetryEvent, RetryRules};
    use crate::proxy::outbound::{effective_status, local_reply};
    use crate::sidecar::Answer;

    #[test]
    fn an_upstream_pool_s_overflow_503_is_read_whole_and_retried_by_the_caller() {
        // The server-side Envoy's local reply: 503, x-envoy-overloaded, UO. Envoy >= 1.15
        // retries it under App Mesh's default policy and under server-error/gateway-error.
        let shed = read(&local_reply(503, ResponseFlag::Overflow, false));
        assert_eq!(
            shed,
            ResponseHead {
                status: 503,
                grpc_status: None,
                trailer_grpc_status: None,
                overloaded: true,
                flag: Some(ResponseFlag::Overflow),
            }
        );
        assert_eq!(
            Answer::Response(shed)
                .classify()
                .retry_event(&RetryRules::app_mesh_default()),
            Some(RetryEvent::Default503)
        );
    }

    #[test]
    fn the_router_reads_grpc_status_from_the_headers_only() {
        // Trailers-only: the status is in the headers, and UNAVAILABLE is retried.
        // As `app::grpc` answers a failed call: 200 and one HEADERS frame with the status.
        let mut trailers_only = Response::new(Payload::empty());
        trailers_only
            .headers_mut()
            .insert("grpc-status", HeaderValue::from_static("14"));
        let judged = Answer::Response(read(&trailers_only)).classify();
        assert_eq!(
            judged.attempt,
            AttemptOutcome::Response {
                status: 200,
                grpc_status: Some(14)
            }
        );
        assert!(
            judged
                .retry_event(&RetryRules::app_mesh_default())
                .is_some()
        );
        assert_eq!(judged.router_status, Some(503));
        // The same status in trailers after a message: the router never sees it, so no retry
        // and a success for outlier detection, though the calling app sees UNAVAILABLE.
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("14"));
        let mut after_message = Response::new(
            Payload::new(bytes::Bytes::from_static(b"message")).with_trailers(trailers),
        );
        after_message.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        let judged = Answer::Response(read(&after_message)).classify();
        assert_eq!(judged.attempt, AttemptOutcome::status(200));
        assert_eq!(judged.retry_event(&RetryRules::app_mesh_default()), None);
        assert_eq!(judged.router_status, Some(200));
        assert_eq!(effective_status(&after_message), 503);
    }
}
