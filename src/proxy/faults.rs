//! The sidecar's side of fault injection on the wire: the HTTP faults a scenario puts in force
//! at a task become one Envoy fault filter on each of its inbound listeners, ahead of the app,
//! as Envoy places the filter before the router. The filter's decisions (which fault, the
//! rolls, `max_active_faults` across requests) are the core's
//! ([`ListenerFaults`](crate::sidecar::inbound::ListenerFaults)); this module makes the
//! abort's local reply.

use http::{HeaderValue, Response};

use super::body::Payload;
use super::outbound::local_reply;
use super::telemetry::ResponseFlag;
use crate::engine::fault::Abort;
pub use crate::sidecar::inbound::ListenerFaults;

/// Envoy's local reply for an injected abort, flagged `FI`.
pub fn abort_reply(abort: Abort, grpc_listener: bool) -> Response<Payload> {
    match abort {
        Abort::Grpc(code) => {
            let mut resp = local_reply(200, ResponseFlag::FaultInjected, false);
            if let Ok(v) = HeaderValue::from_str(&code.to_string()) {
                resp.headers_mut().insert("grpc-status", v);
            }
            resp
        }
        Abort::Http(status) => local_reply(status, ResponseFlag::FaultInjected, grpc_listener),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::telemetry::FLAGS_HEADER;

    #[test]
    fn an_abort_is_a_local_reply_flagged_fi() {
        let reply = abort_reply(Abort::Http(503), false);
        assert_eq!(reply.status(), 503);
        assert_eq!(reply.headers()[FLAGS_HEADER], "FI");
        let grpc = abort_reply(Abort::Grpc(14), true);
        assert_eq!(grpc.status(), 200);
        assert_eq!(grpc.headers()["grpc-status"], "14");
        assert_eq!(grpc.headers()[FLAGS_HEADER], "FI");
        // An HTTP abort on a gRPC listener goes back as the gRPC status it maps to.
        let mapped = abort_reply(Abort::Http(503), true);
        assert_eq!(mapped.status(), 200);
        assert_eq!(mapped.headers()["grpc-status"], "14");
    }
}
