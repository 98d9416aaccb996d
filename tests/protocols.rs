//! Every listener protocol end to end through the sidecars: HTTP/1.1, HTTP/2, gRPC
//! (trailers-only errors, gRPC retry events, gRPC health checks) and TCP pass-through (per-connection
//! routing and weights, `maxConnections`, TCP health checks).
//!
//! Each test writes a small mesh (an edge gateway, `front-v1`, and `back` behind a virtual
//! router with two versions) in the protocol under test and runs it for a few simulated
//! seconds. DNS discovery is `ResponseType: ENDPOINTS`, one host per task, so limits and
//! health checks act per task (App Mesh's LOADBALANCER default would be one logical host,
//! tests/dns.rs).

use std::path::{Path, PathBuf};
use std::time::Duration;

use meshsim::metrics::Counter;
use meshsim::proxy::Direction;
use meshsim::scenario;
use meshsim::sim::{self, RunOptions, RunResult};

/// How the `back` side of the test mesh is set up.
struct Back {
    protocol: &'static str,
    weights: (u32, u32),
    /// `RetryPolicy` of the route, as CloudFormation YAML flow text.
    retry: Option<&'static str>,
    /// `ConnectionPool` of the back listeners.
    pool: Option<&'static str>,
    /// `ConnectionPool` of the edge gateway's listener.
    edge_pool: Option<&'static str>,
    /// The back route's `Timeout.Idle` in ms (with `PerRequest` off).
    route_idle_ms: Option<u32>,
    /// The back listeners' `Timeout.<protocol>.Idle` in ms.
    listener_idle_ms: Option<u32>,
    error_rate: f64,
    service_time: &'static str,
    workers: u32,
    /// The scenario's `faults:` entries (empty: none).
    faults: &'static str,
}

impl Back {
    fn new(protocol: &'static str) -> Back {
        Back {
            protocol,
            weights: (1, 1),
            retry: None,
            pool: None,
            edge_pool: None,
            route_idle_ms: None,
            listener_idle_ms: None,
            error_rate: 0.0,
            service_time: "3ms",
            workers: 16,
            faults: "",
        }
    }
}

fn mesh(back: &Back) -> String {
    let route_key = match back.protocol {
        "http" => "HttpRoute",
        "http2" => "Http2Route",
        "grpc" => "GrpcRoute",
        "tcp" => "TcpRoute",
        other => panic!("no route kind for {other}"),
    };
    let matcher = match back.protocol {
        "http" | "http2" => "Match: { Prefix: / }",
        "grpc" => "Match: { ServiceName: back.Back }",
        _ => "",
    };
    let retry = back
        .retry
        .map(|r| format!("RetryPolicy: {r}"))
        .unwrap_or_default();
    let pool = back
        .pool
        .map(|p| format!("ConnectionPool: {p}"))
        .unwrap_or_default();
    let edge_pool = back
        .edge_pool
        .map(|p| format!("ConnectionPool: {p}"))
        .unwrap_or_default();
    let route_timeout = back
        .route_idle_ms
        .map(|ms| {
            format!(
                "Timeout: {{ PerRequest: {{ Unit: s, Value: 0 }}, Idle: {{ Unit: ms, Value: {ms} }} }}"
            )
        })
        .unwrap_or_default();
    let listener_timeout = back
        .listener_idle_ms
        .map(|ms| {
            format!(
                "Timeout: {{ {}: {{ Idle: {{ Unit: ms, Value: {ms} }} }} }}",
                back.protocol.to_ascii_uppercase()
            )
        })
        .unwrap_or_default();
    let health_path = match back.protocol {
        "http" | "http2" => "Path: /ping,",
        _ => "",
    };
    let node = |name: &str| {
        format!(
            r#"  {name}:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: proto
      VirtualNodeName: {name}
      Spec:
        Listeners:
          - PortMapping: {{ Port: 9090, Protocol: {p} }}
            HealthCheck: {{ Protocol: {p}, {health_path} IntervalMillis: 5000, TimeoutMillis: 2000, HealthyThreshold: 2, UnhealthyThreshold: 2 }}
            {pool}
            {listener_timeout}
        ServiceDiscovery:
          DNS: {{ Hostname: {name}.proto.local, ResponseType: ENDPOINTS }}
"#,
            p = back.protocol
        )
    };
    format!(
        r#"Resources:
  Mesh:
    Type: AWS::AppMesh::Mesh
    Properties: {{ MeshName: proto }}
  Edge:
    Type: AWS::AppMesh::VirtualGateway
    Properties:
      MeshName: proto
      VirtualGatewayName: edge
      Spec:
        Listeners:
          - PortMapping: {{ Port: 8080, Protocol: http }}
            {edge_pool}
  EdgeRoute:
    Type: AWS::AppMesh::GatewayRoute
    Properties:
      MeshName: proto
      VirtualGatewayName: edge
      GatewayRouteName: front
      Spec:
        HttpRoute:
          Match: {{ Prefix: / }}
          Action:
            Target:
              VirtualService: {{ VirtualServiceName: front.proto.local }}
  Front:
    Type: AWS::AppMesh::VirtualService
    Properties:
      MeshName: proto
      VirtualServiceName: front.proto.local
      Spec:
        Provider:
          VirtualNode: {{ VirtualNodeName: front-v1 }}
  FrontV1:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: proto
      VirtualNodeName: front-v1
      Spec:
        Listeners:
          - PortMapping: {{ Port: 8080, Protocol: http }}
        ServiceDiscovery:
          DNS: {{ Hostname: front.proto.local, ResponseType: ENDPOINTS }}
        Backends:
          - VirtualService: {{ VirtualServiceName: back.proto.local }}
  Back:
    Type: AWS::AppMesh::VirtualService
    Properties:
      MeshName: proto
      VirtualServiceName: back.proto.local
      Spec:
        Provider:
          VirtualRouter: {{ VirtualRouterName: back-router }}
  BackRouter:
    Type: AWS::AppMesh::VirtualRouter
    Properties:
      MeshName: proto
      VirtualRouterName: back-router
      Spec:
        Listeners:
          - PortMapping: {{ Port: 9090, Protocol: {p} }}
  BackRoute:
    Type: AWS::AppMesh::Route
    Properties:
      MeshName: proto
      VirtualRouterName: back-router
      RouteName: back-route
      Spec:
        {route_key}:
          {matcher}
          {retry}
          {route_timeout}
          Action:
            WeightedTargets:
              - {{ VirtualNode: back-v1, Weight: {w1} }}
              - {{ VirtualNode: back-v2, Weight: {w2} }}
{v1}{v2}"#,
        p = back.protocol,
        w1 = back.weights.0,
        w2 = back.weights.1,
        v1 = node("back-v1"),
        v2 = node("back-v2"),
    )
}

fn scenario_text(back: &Back, rate: u32) -> String {
    format!(
        r#"name: protocols-{p}
seed: 7
duration: 20s
mesh:
  files: [mesh-{p}.cfn.yaml]
tasks:
  - {{ node: front-v1, replicas: 1, service: front }}
  - {{ node: back-v1, replicas: 2, version: v1, service: back }}
  - {{ node: back-v2, replicas: 2, version: v2, service: back }}
services:
  front:
    workers: 64
    endpoints:
      - path: /
        service_time: 1ms
        calls:
          - call: {{ service: back.proto.local, method: POST, path: /back.Back/Get, timeout: 5s }}
  back:
    workers: {workers}
    endpoints:
      - path: /back.Back/Get
        service_time: {time}
        error_rate: {err}
        error_status: 500
network:
  latency: 1ms
workload:
  target: edge
  rate: {{ constant: {rate} }}
  mix:
    - {{ weight: 1, path: / }}
{faults}"#,
        p = back.protocol,
        workers = back.workers,
        time = back.service_time,
        err = back.error_rate,
        faults = if back.faults.is_empty() {
            String::new()
        } else {
            format!("faults:\n{}", back.faults)
        },
    )
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("protocols")
}

fn run(name: &str, back: &Back, rate: u32, seconds: u64) -> RunResult {
    let dir = dir().join(name);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join(format!("mesh-{}.cfn.yaml", back.protocol)),
        mesh(back),
    )
    .expect("write mesh");
    let text = scenario_text(back, rate);
    let loaded = scenario::load_text("protocols.yaml", &text, &dir);
    assert!(
        loaded.is_valid(),
        "{:?}",
        loaded
            .diagnostics
            .iter()
            .map(|d| d.message.clone())
            .collect::<Vec<_>>()
    );
    let (scenario, mesh) = loaded.runnable().expect("runnable");
    let options = RunOptions {
        duration: Some(Duration::from_secs(seconds)),
        keep_access_log: true,
        ..RunOptions::default()
    };
    sim::run(scenario, mesh, &options, &mut |_| {}).expect("the run completes")
}

/// One inbound line at a `back` task: version, status, and (received, sent) for tcp.
type BackLine = (String, u16, Option<(u64, u64)>);

/// Inbound lines at `back`'s tasks (traffic only), as (version, status, bytes).
fn back_inbound(result: &RunResult) -> Vec<BackLine> {
    back_lines(result)
        .into_iter()
        .map(|l| {
            (
                l.version.clone(),
                l.status,
                l.tcp.map(|t| (t.received, t.sent)),
            )
        })
        .collect()
}

fn counter(result: &RunResult, node: &str, c: Counter) -> u64 {
    result.recorder.counter(node, c)
}

#[test]
fn every_protocol_carries_the_traffic_through_the_sidecars() {
    for protocol in ["http", "http2", "grpc", "tcp"] {
        let result = run(&format!("each-{protocol}"), &Back::new(protocol), 20, 10);
        let users = &result.ledger;
        assert!(users.issued > 150, "{protocol}: {}", users.issued);
        assert_eq!(users.succeeded, users.issued, "{protocol}: all succeed");
        let lines = back_inbound(&result);
        assert_eq!(lines.len() as u64, users.issued, "{protocol}: one hop each");
        for version in ["v1", "v2"] {
            assert!(
                lines.iter().any(|(v, _, _)| v == version),
                "{protocol}: {version} gets traffic"
            );
        }
        if protocol == "tcp" {
            // The proxy saw connections and bytes, not statuses.
            for (_, status, bytes) in &lines {
                assert_eq!(*status, 0);
                let (received, sent) = bytes.expect("a tcp line");
                assert!(received > 50 && sent > 30, "{received} {sent}");
            }
        } else {
            assert!(lines.iter().all(|(_, s, b)| *s == 200 && b.is_none()));
        }
        // Active health checks in the listener's protocol pass.
        let checks: Vec<_> = result
            .access_log
            .iter()
            .filter(|l| l.health_check && l.direction == Direction::Inbound)
            .collect();
        if protocol == "tcp" {
            // A TCP check is a connection that carries nothing.
            assert!(!checks.is_empty(), "tcp: health checks connect");
            assert!(
                checks
                    .iter()
                    .all(|l| l.tcp.is_some_and(|t| t.received == 0))
            );
        } else {
            assert!(!checks.is_empty(), "{protocol}: health checks arrive");
            assert!(checks.iter().all(|l| l.status == 200), "{protocol}");
        }
        if protocol == "grpc" {
            assert!(
                checks
                    .iter()
                    .all(|l| l.path == "/grpc.health.v1.Health/Check"),
                "gRPC health checks use the health protocol"
            );
        }
    }
}

#[test]
fn grpc_errors_are_trailers_only_and_grpc_retry_events_retry_them() {
    // The back app fails before sending any message, so it answers trailers-only: the
    // `grpc-status` in the response headers, the only place the caller's Envoy reads it for
    // its retries (a status in trailers after a message would not be retried).
    let failing = |retry| Back {
        error_rate: 0.3,
        retry,
        ..Back::new("grpc")
    };
    let plain = run("grpc-no-retry", &failing(None), 40, 15);
    let retried = run(
        "grpc-retry",
        &failing(Some(
            "{ MaxRetries: 3, PerRetryTimeout: { Unit: ms, Value: 1000 }, GrpcRetryEvents: [internal] }",
        )),
        40,
        15,
    );
    // The back app answered its 500s as gRPC INTERNAL (13): the transport status front's
    // sidecar logged is always 200, yet users see the failures as the 500s they stand for.
    let transport: Vec<u16> = plain
        .access_log
        .iter()
        .filter(|l| l.direction == Direction::Outbound && l.node == "front-v1")
        .map(|l| l.status)
        .collect();
    assert!(!transport.is_empty() && transport.iter().all(|s| *s == 200));
    let fail_share = |r: &RunResult| r.ledger.failed() as f64 / r.ledger.issued as f64;
    assert!(
        (0.2..0.4).contains(&fail_share(&plain)),
        "without retries about 30 % fail: {}",
        fail_share(&plain)
    );
    assert!(
        fail_share(&retried) < 0.03,
        "internal is retried: {}",
        fail_share(&retried)
    );
    assert!(counter(&retried, "front-v1", Counter::Retries) > 100);
    assert_eq!(counter(&plain, "front-v1", Counter::Retries), 0);
    // The user saw the failure as the 500 it stands for.
    assert!(
        plain
            .ledger
            .failed_by_reason
            .keys()
            .all(|k| k.contains("500")),
        "{:?}",
        plain.ledger.failed_by_reason
    );
}

#[test]
fn tcp_routes_split_connections_by_weight() {
    let back = Back {
        weights: (1, 3),
        ..Back::new("tcp")
    };
    let result = run("tcp-split", &back, 50, 10);
    let lines = back_inbound(&result);
    let n = lines.len() as f64;
    let v2 = lines.iter().filter(|(v, _, _)| v == "v2").count() as f64;
    assert!(n > 400.0, "{n}");
    // 3.3 standard deviations around 75 %.
    let sd = (n * 0.75 * 0.25).sqrt();
    assert!(
        (v2 - 0.75 * n).abs() < 3.3 * sd,
        "v2 got {v2} of {n} connections"
    );
}

#[test]
fn a_gateway_listener_connection_pool_sheds_what_it_cannot_hold() {
    // A virtual gateway's `connectionPool` is enforced like a node listener's: two requests
    // through the gateway at a time, one queued, the rest answered 503 UO by the gateway.
    // 150 rps into 40 ms calls needs about six at a time.
    let back = Back {
        edge_pool: Some("{ HTTP: { MaxConnections: 2, MaxPendingRequests: 1 } }"),
        service_time: "40ms",
        ..Back::new("http")
    };
    let result = run("edge-pool", &back, 150, 10);
    let overflows = counter(&result, "edge", Counter::Overflows);
    assert!(overflows > 500, "overflows {overflows}");
    assert_eq!(
        result.ledger.issued,
        result.ledger.succeeded + result.ledger.failed()
    );
    assert!(
        result.ledger.failed() >= overflows,
        "every overflow fails a user"
    );
    assert!(
        result
            .ledger
            .failed_by_reason
            .keys()
            .all(|k| k.contains("503")),
        "{:?}",
        result.ledger.failed_by_reason
    );
    // Two at a time through 40 ms calls (plus the hops): at most ~50 a second get through.
    let secs = 10.0;
    assert!(
        result.ledger.succeeded as f64 <= 2.0 * secs / 0.040 * 1.05,
        "{}",
        result.ledger.succeeded
    );
    // The back tasks never saw an overflow: the gateway shed the excess.
    let back_overflows: u64 = ["back-v1", "back-v2"]
        .iter()
        .map(|n| counter(&result, n, Counter::Overflows))
        .sum();
    assert_eq!(back_overflows, 0);
}

/// Outbound lines of `node` (traffic only).
fn outbound<'a>(result: &'a RunResult, node: &str) -> Vec<&'a meshsim::proxy::AccessLogEntry> {
    result
        .access_log
        .iter()
        .filter(|l| l.direction == Direction::Outbound && l.node == node && !l.health_check)
        .collect()
}

/// Inbound lines at `back`'s tasks (traffic only).
fn back_lines(result: &RunResult) -> Vec<&meshsim::proxy::AccessLogEntry> {
    result
        .access_log
        .iter()
        .filter(|l| l.direction == Direction::Inbound && l.node.starts_with("back-"))
        .filter(|l| !l.health_check)
        .collect()
}

#[test]
fn idle_timeouts_answer_504_si_for_http_http2_and_grpc() {
    // Envoy's stream idle timer (HCM stream_idle_timeout, or the route's idle_timeout for the
    // streams it routes) fires with no answer yet on a fully received request: 504 with flag
    // SI (Envoy 1.29 ActiveStream::onIdleTimeout, maybeRequestTimeoutCode); a gRPC caller
    // gets it as grpc-status 14. Back answers in 500 ms.
    for protocol in ["http", "http2", "grpc"] {
        // The route's idle timeout, 200 ms (perRequest off), at front's sidecar.
        let back = Back {
            route_idle_ms: Some(200),
            service_time: "500ms",
            ..Back::new(protocol)
        };
        let r = run(&format!("route-idle-{protocol}"), &back, 10, 5);
        let lines = outbound(&r, "front-v1");
        assert!(lines.len() > 30, "{protocol}: {}", lines.len());
        for l in &lines {
            assert_eq!(l.flags.to_string(), "SI", "{protocol}");
            assert_eq!(l.status, if protocol == "grpc" { 200 } else { 504 });
            let ms = l.duration.as_millis();
            assert!((200..205).contains(&ms), "{protocol}: {ms} ms");
        }
        assert_eq!(r.ledger.succeeded, 0, "{protocol}");
        // The back app was not told: it finished its 500 ms of work.
        assert!(back_lines(&r).iter().all(|l| l.status == 200));

        // The back listener's idle timeout, 300 ms, at back's sidecar in front of its app.
        let back = Back {
            listener_idle_ms: Some(300),
            service_time: "500ms",
            ..Back::new(protocol)
        };
        let r = run(&format!("listener-idle-{protocol}"), &back, 10, 5);
        let lines = back_lines(&r);
        assert!(lines.len() > 30, "{protocol}: {}", lines.len());
        for l in &lines {
            assert_eq!(l.flags.to_string(), "SI", "{protocol}");
            assert_eq!(l.status, if protocol == "grpc" { 200 } else { 504 });
            let ms = l.duration.as_millis();
            assert!((300..305).contains(&ms), "{protocol}: {ms} ms");
        }
        assert_eq!(r.ledger.succeeded, 0, "{protocol}");
    }
    // Control: without the idle timeouts the same calls succeed in about 500 ms.
    let r = run(
        "no-idle",
        &Back {
            service_time: "500ms",
            ..Back::new("http")
        },
        10,
        5,
    );
    assert_eq!(r.ledger.failed(), 0);
}

#[test]
fn tcp_max_connections_refuses_connections_past_the_limit() {
    let back = Back {
        pool: Some("{ TCP: { MaxConnections: 1 } }"),
        service_time: "40ms",
        ..Back::new("tcp")
    };
    let result = run("tcp-pool", &back, 150, 10);
    let overflows: u64 = ["back-v1", "back-v2"]
        .iter()
        .map(|n| counter(&result, n, Counter::Overflows))
        .sum();
    assert!(overflows > 100, "overflows {overflows}");
    assert!(result.ledger.failed() > 100, "refused connections fail");
    assert_eq!(
        result.ledger.issued,
        result.ledger.succeeded + result.ledger.failed()
    );
    // Four hosts with one connection each never serve more than four at a time, so the
    // successes are bounded by what four 40 ms servers can do.
    let secs = 10.0;
    assert!(result.ledger.succeeded as f64 <= 4.0 * secs / 0.040 * 1.05);
}

#[test]
fn a_slow_close_toxic_holds_each_tcp_connection_open_for_its_delay() {
    let back = Back {
        faults: "  - { kind: slow-close, target: { node: back-v1 }, delay: 300ms, start: 0s }\n",
        ..Back::new("tcp")
    };
    let result = run("tcp-slow-close", &back, 50, 6);
    let durations = |node: &str| -> Vec<f64> {
        let mut d: Vec<f64> = result
            .access_log
            .iter()
            .filter(|l| l.direction == Direction::Inbound && l.node == node && !l.health_check)
            .filter(|l| l.start.since_start() > Duration::from_secs(1))
            .map(|l| l.duration.as_secs_f64() * 1000.0)
            .collect();
        d.sort_by(f64::total_cmp);
        d
    };
    let (slow, control) = (durations("back-v1"), durations("back-v2"));
    let median = |d: &[f64]| d[d.len() / 2];
    eprintln!(
        "connection medians: back-v1 {:.1} ms, back-v2 {:.1} ms",
        median(&slow),
        median(&control)
    );
    assert!(slow.len() > 50 && control.len() > 50);
    // The service answers as fast as before; only the close of its side waits 300 ms.
    // The close waits 300 ms from when the service's side closes, which overlaps the end
    // of the exchange; the connection never ends sooner than the delay.
    assert!(slow[0] >= 300.0, "shortest {:.1} ms", slow[0]);
    assert!(
        (300.0..=330.0).contains(&median(&slow)),
        "back-v1's connections last the delay, not their few ms"
    );
    assert!(median(&control) < 30.0);
    assert_eq!(result.ledger.failed(), 0);
    let front_p50 = {
        let mut d: Vec<f64> = result
            .access_log
            .iter()
            .filter(|l| l.direction == Direction::Inbound && l.node == "front-v1")
            .map(|l| l.duration.as_secs_f64() * 1000.0)
            .collect();
        d.sort_by(f64::total_cmp);
        d[d.len() / 2]
    };
    assert!(
        front_p50 < 30.0,
        "users do not wait for the close: {front_p50:.1} ms"
    );
}
