//! A virtual gateway's Envoy: requests from outside the mesh matched against gateway routes,
//! rewritten, and sent to the target virtual service like any outbound call.

use std::rc::Rc;

use http::{HeaderValue, Request, Uri};

use super::body::Payload;
use super::inbound::Handler;
use super::mesh::MeshView;
use super::notes::GatewayRouted;
use super::outbound::{Sidecar, local_reply, request_head};
use super::telemetry::{Counter, ResponseFlag, TRACE_HEADER, TraceContext};

/// The handler behind a virtual gateway's listener on `port`.
pub fn handler(gateway: String, port: u16, sidecar: Rc<Sidecar>, mesh: Rc<MeshView>) -> Handler {
    Rc::new(move |req: Request<Payload>| {
        let gateway = gateway.clone();
        let sidecar = Rc::clone(&sidecar);
        let mesh = Rc::clone(&mesh);
        Box::pin(async move {
            let authority = req
                .headers()
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(|h| h.split(':').next().unwrap_or(h).to_string())
                .unwrap_or_default();
            let head = request_head(&authority, port, &req);
            let decision = mesh.engine.borrow().gateway_route(&gateway, &head);
            let Ok(decision) = decision else {
                sidecar.count_stat(Counter::NoRoute);
                return local_reply(404, ResponseFlag::NoRoute, false);
            };
            let mut req = req;
            let rewritten = &decision.request;
            let path = if rewritten.query.is_empty() {
                rewritten.path.clone()
            } else {
                format!("{}?{}", rewritten.path, rewritten.query)
            };
            if let Ok(uri) = path.parse::<Uri>() {
                *req.uri_mut() = uri;
            }
            if let Ok(v) = HeaderValue::from_str(&rewritten.authority) {
                req.headers_mut().insert(http::header::HOST, v);
            }
            let sampled = req
                .headers()
                .get(TRACE_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(TraceContext::is_sampled);
            if sampled {
                req.extensions_mut().insert(GatewayRouted(format!(
                    "gateway route `{}` of `{gateway}` matched host `{authority}`, path `{}`: to {} (authority `{}`, path `{path}`)",
                    decision.route, head.path, decision.service, rewritten.authority
                )));
            }
            sidecar.call(&decision.service, req).await
        })
    })
}
