//! The apps' gRPC framing, for services behind a `grpc` listener.
//!
//! A gRPC server answers every call with HTTP 200 and puts the outcome in the `grpc-status`
//! trailer; a gRPC client always POSTs with `content-type: application/grpc`. Our service
//! models speak in HTTP statuses, so a gRPC app translates its status into the gRPC code a
//! server would naturally choose for it, and callers read it back through Envoy's
//! gRPC-to-HTTP table ([`grpc_to_http`](crate::proxy::outbound::grpc_to_http)). The two
//! tables are chosen so the statuses the models use (200, 404, 409, 429, 500, 503, 504)
//! survive the round trip.

use http::{HeaderMap, HeaderValue, Request, StatusCode};

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

/// Wraps an app's handler so it answers as a gRPC server: status 200, `content-type:
/// application/grpc`, and `grpc-status` in the trailers.
pub fn serve(handler: Handler) -> Handler {
    std::rc::Rc::new(move |req| {
        let handler = handler.clone();
        Box::pin(async move {
            let resp = handler(req).await;
            let code = code_for_status(resp.status().as_u16());
            let (mut parts, body) = resp.into_parts();
            parts.status = StatusCode::OK;
            parts.headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            let mut trailers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&code.to_string()) {
                trailers.insert("grpc-status", v);
            }
            http::Response::from_parts(parts, body.with_trailers(trailers))
        })
    })
}

/// Makes `req` a gRPC call: POST, `content-type: application/grpc`, `te: trailers`.
pub fn as_call(req: &mut Request<Payload>) {
    *req.method_mut() = http::Method::POST;
    let headers = req.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert("te", HeaderValue::from_static("trailers"));
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
}
