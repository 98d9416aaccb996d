//! The apps' gRPC framing, for services behind a `grpc` listener.
//!
//! A gRPC server answers every call with HTTP 200 and a `grpc-status`; a gRPC client always
//! POSTs with `content-type: application/grpc`. Where the status goes depends on whether a
//! message went out first (gRPC over HTTP/2, "Responses"): after a message it follows in
//! the trailers; a call that fails before sending any message is answered
//! **trailers-only**, one HEADERS frame carrying `grpc-status`, as gRPC servers do when a
//! handler returns an error before writing. The difference matters to the caller's Envoy,
//! which reads the status for its retries and outlier detection from the headers only
//! (see [`crate::engine::retry`]). Our service
//! models speak in HTTP statuses, so a gRPC app translates its status into the gRPC code a
//! server would naturally choose for it, and callers read it back through Envoy's
//! gRPC-to-HTTP table ([`grpc_to_http`](crate::proxy::outbound::grpc_to_http)). The two
//! tables are chosen so the statuses the models use (200, 404, 409, 429, 500, 503, 504)
//! survive the round trip.

use http::{HeaderMap, HeaderValue, StatusCode};

use crate::proxy::{Handler, Payload};

/// The gRPC code a server answers for what the model means by `status`.
pub fn code_for_status(status: u16) -> u8 {
    match status {
        200..=299 => 0, // OK
        400 => 3,       // INVALID_ARGUMENT
        401 => 16,      // UNAUTHENTICATED
        403 => 7,       // PERMISSION_DENIED
        404 => 5,       // NOT_FOUND
        409 => 10,      // ABORTED (the conflict of a failed reservation)
        429 => 8,       // RESOURCE_EXHAUSTED
        499 => 1,       // CANCELLED
        501 => 12,      // UNIMPLEMENTED
        503 => 14,      // UNAVAILABLE
        504 => 4,       // DEADLINE_EXCEEDED
        405..=499 => 9, // FAILED_PRECONDITION
        _ => 13,        // INTERNAL
    }
}

/// Wraps an app's handler so it answers as a gRPC server (see [`answer`]).
pub fn serve(handler: Handler) -> Handler {
    std::rc::Rc::new(move |req| {
        let handler = handler.clone();
        Box::pin(async move { answer(handler(req).await) })
    })
}

/// The gRPC answer for what the model answered: status 200, `content-type:
/// application/grpc`, and the `grpc-status` for the model's status. A failure without a
/// body failed before sending a message, so it is trailers-only (the status in the
/// headers, no body); a success, or a failure that sent a message first, carries its
/// status in the trailers after the message.
pub fn answer(resp: http::Response<Payload>) -> http::Response<Payload> {
    let code = code_for_status(resp.status().as_u16());
    let (mut parts, body) = resp.into_parts();
    parts.status = StatusCode::OK;
    parts.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    let Ok(status) = HeaderValue::from_str(&code.to_string()) else {
        return http::Response::from_parts(parts, body);
    };
    if code != 0 && body.data().is_empty() {
        parts.headers.insert("grpc-status", status);
        return http::Response::from_parts(parts, Payload::empty());
    }
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", status);
    http::Response::from_parts(parts, body.with_trailers(trailers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::outbound::grpc_to_http;

    #[test]
    fn the_statuses_the_models_use_survive_the_round_trip() {
        for status in [200, 400, 401, 403, 404, 409, 429, 500, 501, 503, 504] {
            assert_eq!(grpc_to_http(code_for_status(status)), status, "{status}");
        }
        // Unusual ones keep their class.
        assert_eq!(grpc_to_http(code_for_status(418)), 400);
        assert_eq!(grpc_to_http(code_for_status(502)), 500);
    }

    #[test]
    fn a_failure_before_any_message_is_trailers_only() {
        let failed = answer(crate::app::respond(503, Payload::empty()));
        assert_eq!(failed.status(), 200);
        assert_eq!(failed.headers()["grpc-status"], "14");
        assert!(failed.body().trailers().is_none() && failed.body().data().is_empty());
        // A message went out first: the status follows it in the trailers.
        for (status, code) in [(200, "0"), (409, "10")] {
            let sent = answer(crate::app::respond_text(status, "a message"));
            assert!(!sent.headers().contains_key("grpc-status"), "{status}");
            let trailers = sent.body().trailers().expect("trailers");
            assert_eq!(trailers["grpc-status"], code);
        }
        // A success without a body still ends with its status in the trailers.
        let ok = answer(crate::app::respond(200, Payload::empty()));
        assert!(!ok.headers().contains_key("grpc-status"));
        assert_eq!(ok.body().trailers().expect("trailers")["grpc-status"], "0");
    }
}
