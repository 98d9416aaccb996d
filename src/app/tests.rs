//! Tests of the wire driver's boundary: the inbound request read once, the call heads turned
//! into `http` requests, and the names the model shares with the proxy layer.

use super::*;
use crate::proxy::telemetry::{TRACE_HEADER, TraceContext};

#[test]
fn the_wire_request_is_read_once_into_the_app_s_request() {
    let req = Request::builder()
        .method("M-SEARCH")
        .uri("/items/sku-1?verbose=1")
        .header("X-Order-Id", "ord-1")
        .header("x-order-id", "ord-2")
        .header(
            "x-note",
            http::HeaderValue::from_bytes("café".as_bytes()).expect("obs-text"),
        )
        .body(Payload::empty())
        .expect("a request");
    let head = app_request(&req);
    assert_eq!(head.method, "M-SEARCH", "custom methods pass as sent");
    assert_eq!(head.path, "/items/sku-1", "the path without the query");
    assert_eq!(
        head.headers,
        vec![
            ("x-order-id".to_string(), "ord-1".to_string()),
            ("x-order-id".to_string(), "ord-2".to_string()),
            ("x-note".to_string(), "café".to_string()),
        ]
    );
    // Passed on, a value goes out as the bytes that came in.
    let out = wire_request(&head).expect("a valid head");
    assert_eq!(out.headers()["x-note"].as_bytes(), "café".as_bytes());
    assert_eq!(out.method(), "M-SEARCH");
}

#[test]
fn a_call_head_http_cannot_carry_is_refused_and_a_grpc_head_goes_out_as_framed() {
    let bad = AppRequest::new("GET", "/items/sku 1");
    assert!(wire_request(&bad).is_none(), "a space in the path");
    let mut grpc = AppRequest::new("GET", "/pkg.Svc/Get").with_header("x-order-id", "o");
    grpc.as_grpc_call();
    let out = wire_request(&grpc).expect("a valid head");
    assert_eq!(out.method(), http::Method::POST);
    assert_eq!(out.headers()["content-type"], "application/grpc");
    assert_eq!(out.headers()["te"], "trailers");
    assert_eq!(out.uri().path(), "/pkg.Svc/Get");
}

#[test]
fn answers_carry_the_core_s_body() {
    assert!(payload(Body::Empty).data().is_empty());
    assert_eq!(payload(Body::Filler(3)).data().len(), 3);
    assert_eq!(
        payload(Body::Text("out of stock".into())).data(),
        b"out of stock"
    );
}

/// The model reads the trace header by its own name and root parser (it cannot import the
/// proxy layer); they must agree with the proxy's, or order ids would stop following traces.
#[test]
fn the_model_reads_the_trace_header_as_the_proxy_writes_it() {
    assert_eq!(crate::model::request::TRACE_HEADER, TRACE_HEADER);
    for value in [
        "Root=1-abc;Parent=00000000000000aa;Sampled=1",
        " Sampled=0 ; Root=r1 ;Root=r2",
        "Parent=p;Sampled=1",
        "Root=",
        "",
    ] {
        assert_eq!(
            crate::model::request::trace_root(value).map(str::to_string),
            TraceContext::parse(value).map(|t| t.root),
            "{value:?}"
        );
    }
}

/// The scenario's load-time traffic checks must know every header the apps set, or they
/// would call a route matching on one unreachable.
#[test]
fn the_headers_calls_carry_are_known_to_the_traffic_checks() {
    let ctx = OrderContext {
        order: "o".into(),
        sku: "s".into(),
        key: Some("k".into()),
    };
    let known = crate::scenario::traffic::SET_BY_THE_RUN;
    for (name, _) in ctx.headers() {
        assert!(known.contains(&name), "{name}");
    }
    for name in ["idempotency-key", TRACE_HEADER] {
        assert!(known.contains(&name), "{name}");
    }
}
