//! What the driver notes about a request off the wire: the fields of Envoy's access-log
//! format read off a hyper request, and the gateway route a virtual gateway put on it. The
//! hop's decisions in words are the core's ([`crate::sidecar::notes`]).

use http::Request;

use super::attempts::{Authority, EnvoyFields, protocol_name};

/// The gateway route that sent a request on, put on the request by a virtual gateway's
/// Envoy so that the outbound exchange of a sampled request can say how it got there.
#[derive(Clone, Debug)]
pub struct GatewayRouted(pub String);

/// The fields of Envoy's format a request carries, read when someone will print them.
pub(super) fn envoy_fields<B>(req: &Request<B>) -> EnvoyFields {
    EnvoyFields {
        method: req.method().clone(),
        query: req.uri().query().map(str::to_string),
        protocol: protocol_name(req.version()),
        user_agent: header(req, http::header::USER_AGENT),
        authority: header(req, http::header::HOST).map_or(Authority::None, Authority::Header),
        ..EnvoyFields::default()
    }
}

/// A request header's value, copied.
fn header<B>(req: &Request<B>, name: http::header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
