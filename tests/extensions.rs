//! Sidecar extensions App Mesh lacked, measured end to end in short runs of a small mesh:
//! Envoy's local rate limit at a node's inbound listener, and Linkerd's failure accrual in the
//! callers' clusters.
//!
//! The mesh: an edge gateway, `front-v1` (one task) calling `back` through its sidecar, and
//! `back-v1` with three tasks. One caller sidecar, so its round robin spreads `back`'s
//! requests evenly over the three tasks and every breaker decision is that sidecar's. No
//! health checks and no outlier detection: nothing but the extension under test takes a
//! host out. DNS discovery is `ResponseType: ENDPOINTS`, one host per task (App Mesh's
//! LOADBALANCER default would be one logical host, tests/dns.rs).

use std::path::Path;

use meshsim::metrics::Counter;
use meshsim::proxy::{AccessLogEntry, Direction, ResponseFlag};
use meshsim::scenario;
use meshsim::sim::{self, RunOptions, RunResult};

const MESH: &str = r#"Resources:
  Mesh:
    Type: AWS::AppMesh::Mesh
    Properties: { MeshName: ext }
  Edge:
    Type: AWS::AppMesh::VirtualGateway
    Properties:
      MeshName: ext
      VirtualGatewayName: edge
      Spec:
        Listeners:
          - PortMapping: { Port: 8080, Protocol: http }
  EdgeRoute:
    Type: AWS::AppMesh::GatewayRoute
    Properties:
      MeshName: ext
      VirtualGatewayName: edge
      GatewayRouteName: front
      Spec:
        HttpRoute:
          Match: { Prefix: / }
          Action:
            Target:
              VirtualService: { VirtualServiceName: front.ext.local }
  Front:
    Type: AWS::AppMesh::VirtualService
    Properties:
      MeshName: ext
      VirtualServiceName: front.ext.local
      Spec:
        Provider:
          VirtualNode: { VirtualNodeName: front-v1 }
  FrontV1:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: ext
      VirtualNodeName: front-v1
      Spec:
        Listeners:
          - PortMapping: { Port: 8080, Protocol: http }
        ServiceDiscovery:
          DNS: { Hostname: front.ext.local, ResponseType: ENDPOINTS }
        Backends:
          - VirtualService: { VirtualServiceName: back.ext.local }
  Back:
    Type: AWS::AppMesh::VirtualService
    Properties:
      MeshName: ext
      VirtualServiceName: back.ext.local
      Spec:
        Provider:
          VirtualNode: { VirtualNodeName: back-v1 }
  BackV1:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: ext
      VirtualNodeName: back-v1
      Spec:
        Listeners:
          - PortMapping: { Port: 8080, Protocol: http }
        ServiceDiscovery:
          DNS: { Hostname: back.ext.local, ResponseType: ENDPOINTS }
"#;

/// A run of the test mesh: `seconds` at `rate` requests per second, with the given
/// `sidecars:` and `faults:` sections (empty: none).
fn run(name: &str, seconds: u64, rate: u32, sidecars: &str, faults: &str) -> RunResult {
    let text = format!(
        r#"name: ext-{name}
seed: 11
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
          - call: {{ service: back.ext.local, path: /work, timeout: 3s }}
  back:
    workers: 64
    endpoints:
      - path: /work
        service_time: 20ms
workload:
  target: edge
  rate: {{ constant: {rate} }}
  mix:
    - {{ weight: 1, path: / }}
{sidecars}{faults}"#
    );
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("extensions")
        .join(name);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("mesh.cfn.yaml"), MESH).expect("write mesh");
    let loaded = scenario::load_text("extensions.yaml", &text, &dir);
    let messages: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| d.message.clone())
        .collect();
    assert!(loaded.is_valid(), "{name}: {messages:?}");
    let (scenario, mesh) = loaded.runnable().expect("runnable");
    let options = RunOptions {
        keep_access_log: true,
        ..RunOptions::default()
    };
    let r = sim::run(scenario, mesh, &options, &mut |_| {}).expect("the run completes");
    assert_eq!(r.ledger.issued, r.ledger.succeeded + r.ledger.failed());
    r
}

/// Inbound lines at one task (or every task of a node).
fn served<'a>(r: &'a RunResult, node_or_task: &str) -> Vec<&'a AccessLogEntry> {
    r.access_log
        .iter()
        .filter(|l| !l.health_check && l.direction == Direction::Inbound)
        .filter(|l| l.node == node_or_task || l.task == node_or_task)
        .collect()
}

/// When a line's request arrived, in seconds since the start.
fn at(l: &AccessLogEntry) -> f64 {
    l.start.since_start().as_secs_f64()
}

fn limited(l: &AccessLogEntry) -> bool {
    l.flags.contains(ResponseFlag::RateLimited)
}

#[test]
fn at_twice_the_allowed_rate_about_half_the_requests_get_a_local_429() {
    // Each back task's Envoy allows 10 requests per second (a token every 100 ms, a bucket of
    // 2); front sends 60 per second, 20 to each task: twice what is allowed.
    let seconds = 30;
    let r = run(
        "rate-limit",
        seconds,
        60,
        "sidecars:\n  back-v1:\n    rate_limit: { max_tokens: 2, tokens_per_fill: 1, fill_interval: 100ms }\n",
        "",
    );
    let back = served(&r, "back-v1");
    let refused: Vec<_> = back.iter().copied().filter(|l| limited(l)).collect();
    let n = back.len();
    let share = refused.len() as f64 / n as f64;
    eprintln!(
        "{} of {n} refused ({share:.3}); users: {:?}",
        refused.len(),
        r.ledger.failed_by_reason
    );
    // Refused with the configured reply, locally: 429 at once, never reaching the app
    // (whose work takes 20 ms).
    assert!(refused.iter().all(|l| l.status == 429));
    assert!(refused.iter().all(|l| l.duration.as_millis() < 1));
    assert!(
        back.iter()
            .filter(|l| !limited(l))
            .all(|l| l.status == 200 && l.duration.as_millis() >= 20)
    );
    // Counted as Envoy counts `local_rate_limit.enforced`.
    assert_eq!(
        r.recorder.counter("back-v1", Counter::RateLimited),
        refused.len() as u64
    );
    // The bucket's exact bound, per task (each Envoy has its own bucket): at most max_tokens
    // plus one token per whole interval. One bucket for the node would allow a third of this.
    let fills = seconds * 10 + 20; // arrivals stop at 30 s; the last requests arrive soon after
    for task in ["back-v1-1", "back-v1-2", "back-v1-3"] {
        let allowed = served(&r, task).iter().filter(|l| !limited(l)).count() as u64;
        assert!(allowed <= 2 + fills, "{task}: {allowed}");
        assert!(allowed >= fills * 9 / 10, "{task}: only {allowed} allowed");
    }
    // About half refused. The allowed count is the token supply (about 300 per task, fixed),
    // less the few tokens that arrive while the 2-token bucket is full; the offered count is
    // Poisson, so the refused share 1 - S/N has a standard deviation of about 0.5/sqrt(N).
    // Four of those, plus 2 points for the tokens lost to a full bucket.
    let tolerance = 4.0 * 0.5 / (n as f64).sqrt() + 0.02;
    assert!(
        (share - 0.5).abs() <= tolerance,
        "{share:.3} refused, expected 0.5 ± {tolerance:.3}"
    );
    // The 429 is not retried (App Mesh's default policy retries 503 only), and front's app
    // fails the call, so each refusal is one user failure.
    assert_eq!(r.ledger.failed(), refused.len() as u64);
}

#[test]
fn a_tripped_breaker_stops_sending_to_the_failing_host_and_probes_it_after_the_penalty() {
    // back-v1-2 answers every request with 500 from 10 s to 40 s. After 5 failures in a row
    // front's sidecar stops sending to it for 4 s, then sends one probe; a failed probe
    // doubles the penalty (8 s, then the 16 s cap); after the fault the next probe succeeds
    // and the host gets its share again.
    let sidecars = "sidecars:\n  back-v1:\n    failure_accrual: { consecutive_failures: 5, min_penalty: 4s, max_penalty: 16s, jitter_ratio: 0 }\n";
    let faults = "faults:\n  - { kind: errors, target: { task: back-v1-2 }, percent: 100, status: 500, start: 10s, duration: 30s }\n";
    let r = run("accrual", 70, 30, sidecars, faults);
    let control = run("accrual-control", 70, 30, "", faults);

    let bad = served(&r, "back-v1-2");
    let failed: Vec<&AccessLogEntry> = bad.iter().copied().filter(|l| l.status == 500).collect();
    let arrivals: Vec<f64> = failed.iter().map(|l| at(l)).collect();
    eprintln!("failed requests at back-v1-2 arrived at {arrivals:.2?}");
    let in_fault = |t: &f64| (10.0..40.0).contains(t);
    // The first trip: when the 5th failure in a row comes back (requests already on their way
    // then still arrive, and their late reports change nothing); then nothing for the 4 s
    // penalty, and one probe.
    assert!(failed.len() >= 5, "{arrivals:?}");
    let trip = at(failed[4]) + failed[4].duration.as_secs_f64();
    let after: Vec<f64> = arrivals
        .iter()
        .copied()
        .filter(|&t| t > trip + 0.05)
        .collect();
    let first_probe = after.first().copied().expect("a probe after the penalty");
    assert!(
        (trip + 4.0..trip + 4.5).contains(&first_probe),
        "tripped at {trip:.2}, probed at {first_probe:.2}"
    );
    // Each failed probe doubles the penalty, capped at 16 s (each probe's answer takes the
    // 20 ms of service time, and the next request arrives within a fraction of a second).
    let probes = after;
    for (pair, penalty) in probes.windows(2).zip([8.0, 16.0, 16.0]) {
        let gap = pair[1] - pair[0];
        assert!(
            (penalty..penalty + 0.5).contains(&gap),
            "probes at {pair:?}: expected {penalty} s apart"
        );
    }
    assert!(probes.len() >= 3, "{probes:?}");
    // So during the 30 s fault the bad host got a handful of requests, where without the
    // breaker it gets a third of the traffic.
    let during = bad.iter().filter(|l| in_fault(&at(l))).count();
    let during_control = served(&control, "back-v1-2")
        .iter()
        .filter(|l| in_fault(&at(l)))
        .count();
    eprintln!("to back-v1-2 during the fault: {during} with the breaker, {during_control} without");
    let in_flight = arrivals.iter().filter(|&&t| t <= trip + 0.05).count();
    assert!(during <= in_flight + probes.len(), "{during}");
    assert!(in_flight <= 8, "{in_flight} sent before the breaker opened");
    assert!(during_control > 200, "{during_control}");
    assert!(r.ledger.failed() * 20 < control.ledger.failed());
    assert_eq!(
        r.recorder.counter("front-v1", Counter::BreakerTrips),
        1 + probes.len() as u64
    );
    // After the fault, a probe succeeds and the host is back to its third.
    let late: Vec<_> = served(&r, "back-v1")
        .into_iter()
        .filter(|l| at(l) >= 60.0)
        .collect();
    let back_share =
        late.iter().filter(|l| l.task == "back-v1-2").count() as f64 / late.len() as f64;
    assert!(
        (0.28..0.39).contains(&back_share),
        "{back_share:.3} of the last 10 s"
    );
    assert!(late.iter().all(|l| l.status == 200));
}
