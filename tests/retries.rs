//! Retries against circuit breakers, end to end through the sidecars: what a caller's Envoy
//! does with the 503 `UO` an upstream's connection pool sheds (Envoy >= 1.15 retries it, so
//! retries multiply a surge on full pools), the access-log flags on each side, and the
//! breakers of meshes that run with Envoy's own defaults (`mesh.envoy_defaults: envoy`,
//! accounts that had a mesh before 2020-07-29): no default retry policy, 3 retries in
//! flight per cluster, 1024 requests per cluster.
//!
//! The mesh: an edge gateway, `front-v1` (one task) calling `back` (two tasks). `back` is
//! provided either by its virtual node (App Mesh's generated route, with the hidden default
//! retry policy) or by a router whose route has its own `RetryPolicy`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use meshsim::metrics::Counter;
use meshsim::proxy::{AccessLogEntry, Direction, ResponseFlag};
use meshsim::scenario;
use meshsim::sim::{self, RunOptions, RunResult};

/// One run of the test mesh.
struct Setup {
    name: &'static str,
    /// `mesh.envoy_defaults`.
    defaults: &'static str,
    /// `back`'s listener protocol.
    protocol: &'static str,
    /// The route's `RetryPolicy` (CloudFormation flow text); `None`: `back` is provided by
    /// its virtual node, under the mesh's default policy.
    retry: Option<&'static str>,
    /// `back`'s listener `ConnectionPool` (flow text), if any.
    pool: Option<&'static str>,
    rate: u32,
    seconds: u64,
    back_workers: u32,
    back_time: &'static str,
    back_error_rate: f64,
    /// Front calls back twice at once per request (else once).
    fan_out: bool,
}

impl Setup {
    fn new(name: &'static str) -> Setup {
        Setup {
            name,
            defaults: "app-mesh",
            protocol: "http",
            retry: None,
            pool: None,
            rate: 100,
            seconds: 10,
            back_workers: 64,
            back_time: "10ms",
            back_error_rate: 0.0,
            fan_out: false,
        }
    }

    fn mesh(&self) -> String {
        let p = self.protocol;
        let pool = self
            .pool
            .map(|pool| format!("ConnectionPool: {pool}"))
            .unwrap_or_default();
        let provider = match self.retry {
            None => "VirtualNode: { VirtualNodeName: back-v1 }".to_string(),
            Some(_) => "VirtualRouter: { VirtualRouterName: back-router }".to_string(),
        };
        let router = match self.retry {
            None => String::new(),
            Some(retry) => {
                let route = if p == "http2" {
                    "Http2Route"
                } else {
                    "HttpRoute"
                };
                format!(
                    r#"  BackRouter:
    Type: AWS::AppMesh::VirtualRouter
    Properties:
      MeshName: rt
      VirtualRouterName: back-router
      Spec:
        Listeners:
          - PortMapping: {{ Port: 8080, Protocol: {p} }}
  BackRoute:
    Type: AWS::AppMesh::Route
    Properties:
      MeshName: rt
      VirtualRouterName: back-router
      RouteName: back
      Spec:
        {route}:
          Match: {{ Prefix: / }}
          RetryPolicy: {retry}
          Action:
            WeightedTargets:
              - {{ VirtualNode: back-v1, Weight: 1 }}
"#
                )
            }
        };
        format!(
            r#"Resources:
  Mesh:
    Type: AWS::AppMesh::Mesh
    Properties: {{ MeshName: rt }}
  Edge:
    Type: AWS::AppMesh::VirtualGateway
    Properties:
      MeshName: rt
      VirtualGatewayName: edge
      Spec:
        Listeners:
          - PortMapping: {{ Port: 8080, Protocol: http }}
  EdgeRoute:
    Type: AWS::AppMesh::GatewayRoute
    Properties:
      MeshName: rt
      VirtualGatewayName: edge
      GatewayRouteName: front
      Spec:
        HttpRoute:
          Match: {{ Prefix: / }}
          Action:
            Target:
              VirtualService: {{ VirtualServiceName: front.rt.local }}
  Front:
    Type: AWS::AppMesh::VirtualService
    Properties:
      MeshName: rt
      VirtualServiceName: front.rt.local
      Spec:
        Provider:
          VirtualNode: {{ VirtualNodeName: front-v1 }}
  FrontV1:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: rt
      VirtualNodeName: front-v1
      Spec:
        Listeners:
          - PortMapping: {{ Port: 8080, Protocol: http }}
        ServiceDiscovery:
          DNS: {{ Hostname: front.rt.local }}
        Backends:
          - VirtualService: {{ VirtualServiceName: back.rt.local }}
  Back:
    Type: AWS::AppMesh::VirtualService
    Properties:
      MeshName: rt
      VirtualServiceName: back.rt.local
      Spec:
        Provider:
          {provider}
{router}  BackV1:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: rt
      VirtualNodeName: back-v1
      Spec:
        Listeners:
          - PortMapping: {{ Port: 8080, Protocol: {p} }}
            {pool}
        ServiceDiscovery:
          DNS: {{ Hostname: back.rt.local }}
"#
        )
    }

    fn scenario(&self) -> String {
        let call = "{ service: back.rt.local, method: POST, path: /work, timeout: 30s }";
        let calls = if self.fan_out {
            format!("          - parallel: [{call}, {call}]")
        } else {
            format!("          - call: {call}")
        };
        format!(
            r#"name: retries-{name}
seed: 11
duration: {seconds}s
mesh:
  files: [mesh.cfn.yaml]
  envoy_defaults: {defaults}
tasks:
  - {{ node: front-v1, replicas: 1, service: front }}
  - {{ node: back-v1, replicas: 2, service: back }}
services:
  front:
    workers: 4096
    endpoints:
      - path: /
        service_time: 1ms
        calls:
{calls}
  back:
    workers: {workers}
    endpoints:
      - path: /work
        service_time: {time}
        error_rate: {errors}
        error_status: 503
network:
  latency: 1ms
workload:
  target: edge
  rate: {{ constant: {rate} }}
  mix:
    - {{ weight: 1, path: / }}
  timeout: 60s
"#,
            name = self.name,
            seconds = self.seconds,
            defaults = self.defaults,
            workers = self.back_workers,
            time = self.back_time,
            errors = self.back_error_rate,
            rate = self.rate,
        )
    }

    fn run(&self) -> RunResult {
        let dir = dir().join(self.name);
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("mesh.cfn.yaml"), self.mesh()).expect("write mesh");
        let loaded = scenario::load_text("retries.yaml", &self.scenario(), &dir);
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
            duration: Some(Duration::from_secs(self.seconds)),
            keep_access_log: true,
            ..RunOptions::default()
        };
        sim::run(scenario, mesh, &options, &mut |_| {}).expect("the run completes")
    }
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("retries")
}

/// Front's calls to back (its outbound lines).
fn front_calls(r: &RunResult) -> Vec<&AccessLogEntry> {
    r.access_log
        .iter()
        .filter(|l| l.direction == Direction::Outbound && l.node == "front-v1")
        .collect()
}

/// What back's listeners saw (its inbound lines, health checks aside).
fn back_arrivals(r: &RunResult) -> Vec<&AccessLogEntry> {
    r.access_log
        .iter()
        .filter(|l| l.direction == Direction::Inbound && l.node == "back-v1" && !l.health_check)
        .collect()
}

fn flags(lines: &[&AccessLogEntry]) -> std::collections::BTreeMap<String, usize> {
    lines.iter().fold(Default::default(), |mut m, l| {
        *m.entry(format!("{} {}", l.status, l.flags)).or_default() += 1;
        m
    })
}

/// A surge on a full pool: each back task lets 2 requests reach its app and queues 2 more;
/// front sends about 1.5 times what back can serve.
fn surge(name: &'static str, defaults: &'static str) -> Setup {
    Setup {
        defaults,
        pool: Some("{ HTTP: { MaxConnections: 2, MaxPendingRequests: 2 } }"),
        back_workers: 2,
        back_time: "20ms",
        rate: 300,
        ..Setup::new(name)
    }
}

#[test]
fn an_upstream_pool_s_overflow_503_is_retried_and_the_retries_multiply_the_surge() {
    let r = surge("surge", "app-mesh").run();
    let calls = front_calls(&r);
    let arrivals = back_arrivals(&r);
    let shed = arrivals
        .iter()
        .filter(|l| l.flags.contains(ResponseFlag::Overflow))
        .count();
    let amplification = arrivals.len() as f64 / calls.len() as f64;
    eprintln!(
        "{} calls, {} arrivals at back ({amplification:.2} per call), {shed} shed; calls {:?}; arrivals {:?}",
        calls.len(),
        arrivals.len(),
        flags(&calls),
        flags(&arrivals)
    );
    // Back's pool sheds: those lines are back's own, 503 UO.
    assert!(shed > 500, "{shed}");
    assert!(
        arrivals
            .iter()
            .filter(|l| l.flags.contains(ResponseFlag::Overflow))
            .all(|l| l.status == 503)
    );
    // The caller retries them (App Mesh's default policy retries 503 twice): more requests
    // reach the full pool than the callers made.
    assert!(amplification > 1.3, "{amplification}");
    assert!(r.recorder.counter("front-v1", Counter::Retries) as usize > shed / 2);
    // The flag belongs to the line of the Envoy whose pool shed the request: front's lines
    // for those 503s read `URX` (the retries used up), never `UO`.
    assert!(
        calls
            .iter()
            .all(|l| !l.flags.contains(ResponseFlag::Overflow)),
        "{:?}",
        flags(&calls)
    );
    let exhausted: Vec<_> = calls.iter().filter(|l| l.status == 503).collect();
    assert!(!exhausted.is_empty());
    assert!(
        exhausted
            .iter()
            .all(|l| l.flags.to_string() == "URX" && l.attempts == 3),
        "{:?}",
        flags(&calls)
    );
    // Some retries land on a free slot: users served by a retry.
    assert!(calls.iter().any(|l| l.status == 200 && l.attempts > 1));
}

#[test]
fn meshes_with_envoy_s_defaults_have_no_default_retry_policy() {
    // The same surge in a mesh of an account that had meshes before 2020-07-29: no hidden
    // policy, so each shed request fails once and is not sent again.
    let r = surge("surge-envoy-defaults", "envoy").run();
    let calls = front_calls(&r);
    let arrivals = back_arrivals(&r);
    eprintln!(
        "{} calls, {} arrivals; calls {:?}",
        calls.len(),
        arrivals.len(),
        flags(&calls)
    );
    assert_eq!(r.recorder.counter("front-v1", Counter::Retries), 0);
    assert_eq!(arrivals.len(), calls.len());
    assert!(calls.iter().all(|l| l.attempts == 1));
    let failed = calls.iter().filter(|l| l.status == 503).count();
    assert!(failed > 500, "{failed}");
    assert!(
        calls.iter().all(|l| l.flags.is_empty()),
        "{:?}",
        flags(&calls)
    );
}

/// Back fails half its requests with a 503; the route retries server errors twice.
fn failing(name: &'static str, defaults: &'static str) -> Setup {
    Setup {
        defaults,
        retry: Some(
            "{ MaxRetries: 2, PerRetryTimeout: { Unit: s, Value: 5 }, HttpRetryEvents: [server-error] }",
        ),
        back_error_rate: 0.5,
        back_time: "50ms",
        rate: 200,
        ..Setup::new(name)
    }
}

#[test]
fn envoy_s_default_max_retries_keeps_three_retries_in_flight_per_cluster() {
    // About 100 failed attempts a second, each retry in flight for its back-off and a 50 ms
    // attempt: far more than 3 at once. Under Envoy's defaults the retry breaker refuses
    // the rest: the failed answer goes back as it is, the caller's line flagged `UO`.
    let r = failing("max-retries-envoy", "envoy").run();
    let calls = front_calls(&r);
    let refused: Vec<_> = calls
        .iter()
        .filter(|l| l.flags.contains(ResponseFlag::Overflow))
        .collect();
    eprintln!("{} calls: {:?}", calls.len(), flags(&calls));
    assert!(refused.len() > 100, "{}", refused.len());
    assert!(refused.iter().all(|l| l.status == 503 && l.attempts < 3));
    assert!(r.recorder.counter("front-v1", Counter::Retries) > 50);
    assert!(r.recorder.counter("front-v1", Counter::Overflows) as usize >= refused.len());
    // App Mesh's 2147483647: every failure is retried until the policy's two retries are
    // used up.
    let r = failing("max-retries-app-mesh", "app-mesh").run();
    let calls = front_calls(&r);
    eprintln!("{} calls: {:?}", calls.len(), flags(&calls));
    assert!(
        calls
            .iter()
            .all(|l| !l.flags.contains(ResponseFlag::Overflow))
    );
    assert!(
        calls
            .iter()
            .filter(|l| l.status == 503)
            .all(|l| l.attempts == 3 && l.flags.to_string() == "URX")
    );
}

#[test]
fn envoy_s_default_max_requests_sheds_at_the_caller_past_1024_in_flight() {
    // HTTP/2 to a back whose every request takes 2 s, two calls per request at 400 requests
    // a second: about 1600 calls in flight from front's one sidecar (and 800 requests from
    // the gateway's, under its own 1024). Envoy's max_requests (1024) on front's cluster
    // sheds the excess locally: 503 `UO` on front's own line, never retried, never reaching
    // back.
    let setup = Setup {
        defaults: "envoy",
        protocol: "http2",
        back_workers: 4096,
        back_time: "2s",
        rate: 400,
        seconds: 4,
        fan_out: true,
        ..Setup::new("max-requests-envoy")
    };
    let r = setup.run();
    let calls = front_calls(&r);
    let shed: Vec<_> = calls
        .iter()
        .filter(|l| l.flags.contains(ResponseFlag::Overflow))
        .collect();
    eprintln!(
        "{} calls, {} arrivals: {:?}",
        calls.len(),
        back_arrivals(&r).len(),
        flags(&calls)
    );
    assert!(shed.len() > 300, "{}", shed.len());
    assert!(
        shed.iter()
            .all(|l| l.status == 503 && l.flags.to_string() == "UO")
    );
    assert_eq!(back_arrivals(&r).len() + shed.len(), calls.len());
    // App Mesh's defaults: nothing is shed, every call is served.
    let r = Setup {
        name: "max-requests-app-mesh",
        defaults: "app-mesh",
        ..setup
    }
    .run();
    let all = front_calls(&r);
    assert!(
        all.iter().all(|l| l.flags.is_empty() && l.status == 200),
        "{:?}",
        flags(&all)
    );
}
