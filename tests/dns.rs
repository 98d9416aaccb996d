//! DNS service discovery's two response types, end to end in short runs of a small mesh.
//!
//! App Mesh's default, `LOADBALANCER`, is an Envoy LOGICAL_DNS cluster: one logical host for
//! the whole name, whose new connections go to the first address of the latest answer
//! (aws-app-mesh-roadmap#70: one task of the next service took all the traffic). `ENDPOINTS`
//! is STRICT_DNS, one host per task. The mesh: an edge gateway, `front-v1` (one task)
//! calling `back` through its sidecar, and `back-v1` with three tasks, discovered by DNS with
//! the response type under test and outlier detection on its listener (5 errors, 50 %).

use std::path::Path;

use meshsim::metrics::Counter;
use meshsim::proxy::{AccessLogEntry, Direction};
use meshsim::scenario;
use meshsim::sim::{self, RunOptions, RunResult};

/// The test mesh; `{response_type}` is empty (App Mesh's default) or `, ResponseType: X`.
fn mesh(response_type: &str) -> String {
    format!(
        r#"Resources:
  Mesh:
    Type: AWS::AppMesh::Mesh
    Properties: {{ MeshName: dns }}
  Edge:
    Type: AWS::AppMesh::VirtualGateway
    Properties:
      MeshName: dns
      VirtualGatewayName: edge
      Spec:
        Listeners:
          - PortMapping: {{ Port: 8080, Protocol: http }}
  EdgeRoute:
    Type: AWS::AppMesh::GatewayRoute
    Properties:
      MeshName: dns
      VirtualGatewayName: edge
      GatewayRouteName: front
      Spec:
        HttpRoute:
          Match: {{ Prefix: / }}
          Action:
            Target:
              VirtualService: {{ VirtualServiceName: front.dns.local }}
  Front:
    Type: AWS::AppMesh::VirtualService
    Properties:
      MeshName: dns
      VirtualServiceName: front.dns.local
      Spec:
        Provider:
          VirtualNode: {{ VirtualNodeName: front-v1 }}
  FrontV1:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: dns
      VirtualNodeName: front-v1
      Spec:
        Listeners:
          - PortMapping: {{ Port: 8080, Protocol: http }}
        ServiceDiscovery:
          DNS: {{ Hostname: front.dns.local, ResponseType: ENDPOINTS }}
        Backends:
          - VirtualService: {{ VirtualServiceName: back.dns.local }}
  Back:
    Type: AWS::AppMesh::VirtualService
    Properties:
      MeshName: dns
      VirtualServiceName: back.dns.local
      Spec:
        Provider:
          VirtualNode: {{ VirtualNodeName: back-v1 }}
  BackV1:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: dns
      VirtualNodeName: back-v1
      Spec:
        Listeners:
          - PortMapping: {{ Port: 8080, Protocol: http }}
            OutlierDetection:
              MaxServerErrors: 5
              Interval: {{ Unit: s, Value: 1 }}
              BaseEjectionDuration: {{ Unit: s, Value: 30 }}
              MaxEjectionPercent: 50
        ServiceDiscovery:
          DNS: {{ Hostname: back.dns.local{response_type} }}
"#
    )
}

/// A run of the test mesh at 40 requests per second with the given `faults:` section.
fn run(name: &str, response_type: &str, seconds: u64, faults: &str) -> RunResult {
    let text = format!(
        r#"name: dns-{name}
seed: 3
duration: {seconds}s
mesh:
  files: [mesh.cfn.yaml]
tasks:
  - {{ node: front-v1, replicas: 1, service: front }}
  - {{ node: back-v1, replicas: 3, service: back }}
services:
  front:
    workers: 256
    endpoints:
      - path: /
        service_time: 1ms
        calls:
          - call: {{ service: back.dns.local, path: /work, timeout: 3s }}
  back:
    workers: 64
    endpoints:
      - path: /work
        service_time: 5ms
discovery:
  propagation_delay: 1s
workload:
  target: edge
  rate: {{ constant: 40 }}
  mix:
    - {{ weight: 1, path: / }}
{faults}"#
    );
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("dns")
        .join(name);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("mesh.cfn.yaml"), mesh(response_type)).expect("write mesh");
    let loaded = scenario::load_text("dns.yaml", &text, &dir);
    let messages: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect();
    assert!(loaded.is_valid(), "{name}: {messages:?}");
    // Outlier detection on the logical host is flagged; on per-task hosts it is not.
    assert_eq!(
        messages
            .iter()
            .any(|m| m.starts_with("outlier-logical-dns")),
        !response_type.contains("ENDPOINTS"),
        "{name}: {messages:?}"
    );
    let (scenario, mesh) = loaded.runnable().expect("runnable");
    let options = RunOptions {
        keep_access_log: true,
        ..RunOptions::default()
    };
    let r = sim::run(scenario, mesh, &options, &mut |_| {}).expect("the run completes");
    assert_eq!(r.ledger.issued, r.ledger.succeeded + r.ledger.failed());
    r
}

/// Inbound lines at one task of `back`.
fn served<'a>(r: &'a RunResult, task: &str) -> Vec<&'a AccessLogEntry> {
    r.access_log
        .iter()
        .filter(|l| !l.health_check && l.direction == Direction::Inbound && l.task == task)
        .collect()
}

/// When a line's request arrived, in seconds since the start.
fn at(l: &AccessLogEntry) -> f64 {
    l.start.since_start().as_secs_f64()
}

const TASKS: [&str; 3] = ["back-v1-1", "back-v1-2", "back-v1-3"];

#[test]
fn loadbalancer_sends_every_new_connection_to_the_first_address_endpoints_spreads() {
    // App Mesh's default: all of front's calls land on the task the name resolves to first;
    // `LOADBALANCER` written out is the same; ENDPOINTS round-robins over the three tasks.
    for (name, response_type) in [
        ("default", ""),
        ("loadbalancer", ", ResponseType: LOADBALANCER"),
    ] {
        let r = run(name, response_type, 10, "");
        let counts: Vec<usize> = TASKS.iter().map(|t| served(&r, t).len()).collect();
        assert!(counts[0] > 300, "{name}: {counts:?}");
        assert_eq!(&counts[1..], &[0, 0], "{name}: one logical host");
        assert_eq!(r.ledger.failed(), 0);
    }
    let r = run("endpoints", ", ResponseType: ENDPOINTS", 10, "");
    let counts: Vec<usize> = TASKS.iter().map(|t| served(&r, t).len()).collect();
    let total: usize = counts.iter().sum();
    assert!(total > 300, "{counts:?}");
    for c in &counts {
        assert!(c.abs_diff(total / 3) <= 2, "round robin: {counts:?}");
    }
}

#[test]
fn a_failing_first_task_is_never_ejected_behind_a_logical_host() {
    // back-v1-1 answers 500 to everything from 3 s. Per task (ENDPOINTS), outlier detection
    // ejects it after 5 errors and the other two take the traffic. Behind one logical host
    // (the default) there is nothing to eject within a 50 % cap, so front's calls keep going
    // to back-v1-1 and keep failing (aws-app-mesh-roadmap#273).
    let fault = "faults:\n  - { kind: errors, target: { task: back-v1-1 }, percent: 100, status: 500, start: 3s, duration: 20s }\n";
    let per_task = run("errors-endpoints", ", ResponseType: ENDPOINTS", 10, fault);
    let logical = run("errors-default", "", 10, fault);
    assert!(per_task.recorder.counter("front-v1", Counter::Ejections) >= 1);
    assert_eq!(logical.recorder.counter("front-v1", Counter::Ejections), 0);
    let late = |r: &RunResult, task: &str| served(r, task).iter().filter(|l| at(l) > 4.0).count();
    assert_eq!(late(&per_task, "back-v1-1"), 0, "ejected for 30 s");
    assert!(late(&logical, "back-v1-1") > 200);
    assert_eq!(late(&logical, "back-v1-2") + late(&logical, "back-v1-3"), 0);
    assert!(
        per_task.ledger.failed() < 20,
        "{}",
        per_task.ledger.failed()
    );
    assert!(logical.ledger.failed() > 200, "{}", logical.ledger.failed());
}

#[test]
fn the_logical_host_moves_to_the_next_first_address_when_the_first_leaves() {
    // back-v1-1 crashes at 4 s and is deregistered 1 s later; front's sidecar sees that 1 s
    // after (propagation delay). Until then every new connection, the retries' included,
    // still goes to the dead address (there is no other host to retry on): each attempt
    // waits out the 1 s connect timeout. From 6 s the name's first address is back-v1-2, so
    // the attempts made after that succeed there. back-v1-3 never serves.
    let fault = "faults:\n  - { kind: crash, target: { task: back-v1-1 }, start: 4s, deregistration_lag: 1s }\n";
    let r = run("crash", "", 10, fault);
    let one = served(&r, "back-v1-1");
    let two = served(&r, "back-v1-2");
    assert!(!one.is_empty() && one.iter().all(|l| at(l) < 4.0));
    assert!(two.len() > 100, "{}", two.len());
    assert!(
        two.iter().all(|l| at(l) > 5.9),
        "only after the change arrived"
    );
    assert!(served(&r, "back-v1-3").is_empty());
    // front's calls made in the window: retried on the one logical host, each failed
    // attempt a 1 s connect timeout, until an attempt after 6 s reaches back-v1-2.
    let window: Vec<&AccessLogEntry> = r
        .access_log
        .iter()
        .filter(|l| l.direction == Direction::Outbound && l.node == "front-v1")
        .filter(|l| (4.1..5.9).contains(&at(l)))
        .collect();
    assert!(window.len() > 50, "{}", window.len());
    for l in &window {
        let end = at(l) + l.duration.as_secs_f64();
        assert!(l.attempts >= 2, "{} attempts at {:.3}", l.attempts, at(l));
        assert!(end > 6.0, "answered at {end:.3}, before the change arrived");
        assert_eq!(l.status, 200);
    }
    assert_eq!(r.ledger.failed(), 0, "{:?}", r.ledger.failed_by_reason);
}
