//! Fault injection, measured: every kind of fault in a short run of a small mesh, each test
//! measuring the effect where it should show (and its absence where it should not) against a
//! control: the same run without the fault, the hops the fault does not touch, or the time
//! outside its window.
//!
//! The mesh: an edge gateway, `front-v1` (one task) with two endpoints, `/b` calling `back`
//! directly and `/s` calling `side`, which calls `back` in turn; `back-v1` has three tasks.
//! So `back` has two callers (front and side), and a fault on the front ↔ back link leaves
//! the side ↔ back hop as a control. No health checks, no outlier detection: a crashed task
//! leaves the callers' endpoints only through service discovery. Virtual services are
//! provided by virtual nodes, so App Mesh's default retry policy is in force (2 retries on
//! 503, reset and connect failure). DNS discovery is `ResponseType: ENDPOINTS`, one host per
//! task, since the faults hit single tasks; App Mesh's LOADBALANCER default would make each
//! node one logical host (tests/dns.rs).

use std::path::Path;
use std::time::Duration;

use meshsim::metrics::Counter;
use meshsim::model::fault::FaultKind;
use meshsim::proxy::{AccessLogEntry, Direction, ResponseFlag, ResponseFlags};
use meshsim::scenario;
use meshsim::sim::{self, RunOptions, RunResult};

const MESH: &str = r#"Resources:
  Mesh:
    Type: AWS::AppMesh::Mesh
    Properties: { MeshName: fx }
  Edge:
    Type: AWS::AppMesh::VirtualGateway
    Properties:
      MeshName: fx
      VirtualGatewayName: edge
      Spec:
        Listeners:
          - PortMapping: { Port: 8080, Protocol: http }
  EdgeRoute:
    Type: AWS::AppMesh::GatewayRoute
    Properties:
      MeshName: fx
      VirtualGatewayName: edge
      GatewayRouteName: front
      Spec:
        HttpRoute:
          Match: { Prefix: / }
          Action:
            Target:
              VirtualService: { VirtualServiceName: front.fx.local }
  Front:
    Type: AWS::AppMesh::VirtualService
    Properties:
      MeshName: fx
      VirtualServiceName: front.fx.local
      Spec:
        Provider:
          VirtualNode: { VirtualNodeName: front-v1 }
  FrontV1:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: fx
      VirtualNodeName: front-v1
      Spec:
        Listeners:
          - PortMapping: { Port: 8080, Protocol: http }
        ServiceDiscovery:
          DNS: { Hostname: front.fx.local, ResponseType: ENDPOINTS }
        Backends:
          - VirtualService: { VirtualServiceName: back.fx.local }
          - VirtualService: { VirtualServiceName: side.fx.local }
  Side:
    Type: AWS::AppMesh::VirtualService
    Properties:
      MeshName: fx
      VirtualServiceName: side.fx.local
      Spec:
        Provider:
          VirtualNode: { VirtualNodeName: side-v1 }
  SideV1:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: fx
      VirtualNodeName: side-v1
      Spec:
        Listeners:
          - PortMapping: { Port: 8080, Protocol: http }
        ServiceDiscovery:
          DNS: { Hostname: side.fx.local, ResponseType: ENDPOINTS }
        Backends:
          - VirtualService: { VirtualServiceName: back.fx.local }
  Back:
    Type: AWS::AppMesh::VirtualService
    Properties:
      MeshName: fx
      VirtualServiceName: back.fx.local
      Spec:
        Provider:
          VirtualNode: { VirtualNodeName: back-v1 }
  BackV1:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: fx
      VirtualNodeName: back-v1
      Spec:
        Listeners:
          - PortMapping: { Port: 8080, Protocol: http }
        ServiceDiscovery:
          DNS: { Hostname: back.fx.local, ResponseType: ENDPOINTS }
"#;

/// One run of the test mesh.
#[derive(Clone, Debug)]
struct Setup {
    name: &'static str,
    seed: u64,
    seconds: u64,
    rate: u32,
    front_workers: u32,
    back_workers: u32,
    back_time: &'static str,
    /// Bytes in each of `back`'s answers.
    back_size: u32,
    call_timeout: &'static str,
    propagation: &'static str,
    /// The workload's `mix:` entries, one flow mapping per line.
    mix: Vec<&'static str>,
    /// The `faults:` section (empty: none).
    faults: String,
}

impl Setup {
    fn new(name: &'static str) -> Setup {
        Setup {
            name,
            seed: 7,
            seconds: 30,
            rate: 40,
            // Enough that requests stuck for seconds do not starve the others.
            front_workers: 256,
            back_workers: 16,
            back_time: "10ms",
            back_size: 0,
            call_timeout: "3s",
            propagation: "1s",
            mix: vec!["{ weight: 1, path: /b }", "{ weight: 1, path: /s }"],
            faults: String::new(),
        }
    }

    fn faults(mut self, faults: &str) -> Setup {
        self.faults = format!("faults:\n{faults}");
        self
    }

    fn scenario(&self) -> String {
        let mix: String = self.mix.iter().map(|m| format!("    - {m}\n")).collect();
        format!(
            r#"name: faults-{name}
seed: {seed}
duration: {seconds}s
mesh:
  files: [mesh.cfn.yaml]
tasks:
  - {{ node: front-v1, replicas: 1, service: front }}
  - {{ node: side-v1, replicas: 1, service: side }}
  - {{ node: back-v1, replicas: 3, service: back }}
services:
  front:
    workers: {front_workers}
    endpoints:
      - path: /b
        service_time: 1ms
        calls:
          - call: {{ service: back.fx.local, path: /work, timeout: {timeout} }}
      - path: /s
        service_time: 1ms
        calls:
          - call: {{ service: side.fx.local, path: /side, timeout: {timeout} }}
  side:
    workers: 64
    endpoints:
      - path: /side
        service_time: 1ms
        calls:
          - call: {{ service: back.fx.local, path: /work, timeout: {timeout} }}
  back:
    workers: {workers}
    endpoints:
      - path: /work
        service_time: {time}
        response_size: {size}
network:
  latency: 1ms
discovery:
  propagation_delay: {propagation}
workload:
  target: edge
  rate: {{ constant: {rate} }}
  mix:
{mix}{faults}
"#,
            name = self.name,
            seed = self.seed,
            seconds = self.seconds,
            timeout = self.call_timeout,
            front_workers = self.front_workers,
            workers = self.back_workers,
            time = self.back_time,
            size = self.back_size,
            propagation = self.propagation,
            rate = self.rate,
            faults = self.faults,
        )
    }
}

fn run(setup: &Setup) -> RunResult {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("faults")
        .join(setup.name);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("mesh.cfn.yaml"), MESH).expect("write mesh");
    let text = setup.scenario();
    let loaded = scenario::load_text("faults.yaml", &text, &dir);
    assert!(
        loaded.is_valid(),
        "{}: {:?}",
        setup.name,
        loaded
            .diagnostics
            .iter()
            .map(|d| d.message.clone())
            .collect::<Vec<_>>()
    );
    let (scenario, mesh) = loaded.runnable().expect("runnable");
    let options = RunOptions {
        keep_access_log: true,
        ..RunOptions::default()
    };
    let result = sim::run(scenario, mesh, &options, &mut |_| {}).expect("the run completes");
    accounted(setup.name, &result);
    result
}

/// Every user request ended exactly once, as a success or a named failure.
fn accounted(name: &str, r: &RunResult) {
    let l = &r.ledger;
    assert!(l.issued > 100, "{name}: only {} requests", l.issued);
    assert_eq!(
        l.issued,
        l.succeeded + l.failed(),
        "{name}: issued != succeeded + failed"
    );
    assert_eq!(
        l.failed_by_reason.values().sum::<u64>(),
        l.failed(),
        "{name}: failure reasons do not add up"
    );
    assert_eq!(
        l.latencies.count(),
        l.issued,
        "{name}: a latency per request"
    );
}

/// When a line's request arrived, in seconds since the start.
fn at(l: &AccessLogEntry) -> f64 {
    l.start.since_start().as_secs_f64()
}

/// How long it took, in milliseconds.
fn ms(l: &AccessLogEntry) -> f64 {
    l.duration.as_secs_f64() * 1000.0
}

/// Outbound lines of `node`'s sidecar to `service` (`back`, `side`).
fn calls<'a>(r: &'a RunResult, node: &str, service: &str) -> Vec<&'a AccessLogEntry> {
    let service = format!("{service}.fx.local");
    r.access_log
        .iter()
        .filter(|l| !l.health_check && l.direction == Direction::Outbound)
        .filter(|l| l.node == node && l.service.as_deref() == Some(service.as_str()))
        .collect()
}

/// Inbound lines at the tasks of a virtual node, or at one task.
fn served<'a>(r: &'a RunResult, node_or_task: &str) -> Vec<&'a AccessLogEntry> {
    r.access_log
        .iter()
        .filter(|l| !l.health_check && l.direction == Direction::Inbound)
        .filter(|l| l.node == node_or_task || l.task == node_or_task)
        .collect()
}

/// The lines that started in `[from, to)` seconds.
fn during<'a>(lines: &[&'a AccessLogEntry], from: f64, to: f64) -> Vec<&'a AccessLogEntry> {
    lines
        .iter()
        .copied()
        .filter(|l| (from..to).contains(&at(l)))
        .collect()
}

/// The `q` quantile of the lines' durations, in milliseconds.
fn quantile(lines: &[&AccessLogEntry], q: f64) -> f64 {
    assert!(!lines.is_empty(), "no lines to take a quantile of");
    let mut v: Vec<f64> = lines.iter().map(|l| ms(l)).collect();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn median(lines: &[&AccessLogEntry]) -> f64 {
    quantile(lines, 0.5)
}

/// Share of the lines that satisfy `pred`.
fn share(lines: &[&AccessLogEntry], pred: impl Fn(&AccessLogEntry) -> bool) -> f64 {
    assert!(!lines.is_empty(), "no lines to take a share of");
    lines.iter().filter(|l| pred(l)).count() as f64 / lines.len() as f64
}

/// Whether an observed share is within `z` binomial standard deviations of `p` over `n`.
fn near(observed: f64, p: f64, n: usize, z: f64) -> bool {
    let sd = (p * (1.0 - p) / n as f64).sqrt();
    (observed - p).abs() <= z * sd
}

/// The chaos log as (seconds, what).
fn chaos(r: &RunResult) -> Vec<(f64, String)> {
    r.chaos
        .iter()
        .map(|e| (e.at.since_start().as_secs_f64(), e.what.clone()))
        .collect()
}

fn failures(r: &RunResult) -> String {
    format!("{:?}", r.ledger.failed_by_reason)
}

#[test]
fn latency_on_one_link_delays_that_hop_only_and_jitter_widens_it() {
    // 100 ms each way on front ↔ back from 8 s to 16 s; the same with ±50 ms of jitter from
    // 18 s to 26 s.
    let faulted = Setup::new("latency").faults(
        r#"  - { kind: latency, link: { from: { node: front-v1 }, to: { node: back-v1 } }, latency: 100ms, start: 8s, duration: 8s }
  - { kind: latency, link: { from: { node: front-v1 }, to: { node: back-v1 } }, latency: 100ms, jitter: 50ms, start: 18s, duration: 8s }
"#,
    );
    let quiet = run(&Setup::new("latency-baseline"));
    let slow = run(&faulted);
    assert!(quiet.chaos.is_empty() && slow.chaos.is_empty());

    let hop = |r: &RunResult, node: &str, service: &str, from: f64, to: f64| {
        let lines = calls(r, node, service);
        let lines = during(&lines, from, to);
        assert!(
            lines.len() > 50,
            "{node} → {service}: {} calls",
            lines.len()
        );
        (
            median(&lines),
            quantile(&lines, 0.9) - quantile(&lines, 0.1),
        )
    };
    // The faulted hop: a request and its answer each cross the link once, so the median
    // call takes about 200 ms longer.
    let (base, base_spread) = hop(&quiet, "front-v1", "back", 8.5, 16.0);
    let (plain, plain_spread) = hop(&slow, "front-v1", "back", 8.5, 16.0);
    let (jittered, jitter_spread) = hop(&slow, "front-v1", "back", 18.5, 26.0);
    eprintln!(
        "front→back median: quiet {base:.1} ms, +100ms {plain:.1} ms, +100±50ms {jittered:.1} ms; \
         p90-p10: quiet {base_spread:.1}, plain {plain_spread:.1}, jitter {jitter_spread:.1}"
    );
    assert!(
        (190.0..=230.0).contains(&(plain - base)),
        "latency 100 ms each way added {} ms to the median call",
        plain - base
    );
    assert!(
        (170.0..=250.0).contains(&(jittered - base)),
        "with jitter the median call gained {} ms",
        jittered - base
    );
    // Without jitter the added delay is fixed: the spread stays as narrow as without the
    // fault; ±50 ms each way spreads the calls over about 100 ms between p10 and p90.
    assert!(
        plain_spread < base_spread + 15.0,
        "{plain_spread} vs {base_spread}"
    );
    assert!(
        jitter_spread > plain_spread + 50.0,
        "jitter spread p90-p10 {jitter_spread} ms, without {plain_spread} ms"
    );
    // After the window the hop is back to normal.
    let (after, _) = hop(&slow, "front-v1", "back", 27.0, 30.0);
    assert!(
        (after - base).abs() < 5.0,
        "after the fault: {after} vs {base}"
    );
    // The other hops: side → back, front → side and the back's own work are untouched.
    for (node, service) in [("side-v1", "back"), ("front-v1", "side")] {
        let (q, _) = hop(&quiet, node, service, 8.5, 26.0);
        let (s, _) = hop(&slow, node, service, 8.5, 26.0);
        eprintln!("{node} → {service}: quiet {q:.1} ms, faulted {s:.1} ms");
        assert!((s - q).abs() < 5.0, "{node} → {service}: {s} vs {q}");
    }
    let work = |r: &RunResult| median(&during(&served(r, "back-v1"), 8.5, 26.0));
    assert!((work(&slow) - work(&quiet)).abs() < 3.0);
    // The caller's own latency rises by the same: front's /b requests, not its /s ones.
    let front = |r: &RunResult, path: &str| {
        let lines: Vec<_> = during(&served(r, "front-v1"), 8.5, 16.0)
            .into_iter()
            .filter(|l| l.path == path)
            .collect();
        median(&lines)
    };
    let (b_quiet, b_slow) = (front(&quiet, "/b"), front(&slow, "/b"));
    let (s_quiet, s_slow) = (front(&quiet, "/s"), front(&slow, "/s"));
    eprintln!("front /b median {b_quiet:.1} → {b_slow:.1} ms, /s {s_quiet:.1} → {s_slow:.1}");
    assert!((190.0..=230.0).contains(&(b_slow - b_quiet)));
    assert!((s_slow - s_quiet).abs() < 5.0);
}

#[test]
fn loss_on_one_link_delays_a_share_of_that_hops_calls_by_a_retransmission() {
    let r = run(&Setup::new("loss").faults(
        r#"  - { kind: loss, link: { from: { node: front-v1 }, to: { node: back-v1 } }, percent: 10, start: 5s, duration: 20s }
"#,
    ));
    // A lost segment is resent after TCP's 200 ms minimum RTO.
    let late = |l: &AccessLogEntry| ms(l) >= 200.0;
    let front = calls(&r, "front-v1", "back");
    let in_window = during(&front, 5.5, 25.0);
    let lossy = share(&in_window, late);
    let before = share(&during(&front, 1.0, 5.0), late);
    let after = share(&during(&front, 26.0, 30.0), late);
    let side = calls(&r, "side-v1", "back");
    let side_late = share(&during(&side, 5.5, 25.0), late);
    let to_side = share(&during(&calls(&r, "front-v1", "side"), 5.5, 25.0), late);
    eprintln!(
        "late (≥ 200 ms) front→back: before {before:.3}, during {lossy:.3} of {}, after {after:.3}; \
         side→back {side_late:.3}; front→side {to_side:.3}; p50 {} p95 {}",
        in_window.len(),
        median(&in_window),
        quantile(&in_window, 0.95)
    );
    // Each call sends two or three segments over the link, each lost with 10 % odds.
    assert!(
        (0.08..=0.40).contains(&lossy),
        "share of front → back calls delayed by a resend: {lossy}"
    );
    // A late call is late by about one RTO (more when the resend is lost too).
    let late_calls: Vec<_> = in_window.iter().copied().filter(|l| late(l)).collect();
    assert!((200.0..=230.0).contains(&median(&late_calls)));
    assert_eq!(before, 0.0);
    assert_eq!(after, 0.0);
    // The other hops do not lose anything.
    assert_eq!(side_late, 0.0);
    assert_eq!(to_side, 0.0);
    // Loss is latency, not failure: every user request still succeeded.
    assert_eq!(r.ledger.failed(), 0, "{}", failures(&r));
}

#[test]
fn a_partition_fails_new_connections_at_once_and_heals_after_its_window() {
    let r = run(&Setup::new("partition").faults(
        r#"  - { kind: partition, link: { from: { node: front-v1 }, to: { node: back-v1 } }, start: 10s, duration: 8s }
"#,
    ));
    let events = chaos(&r);
    assert_eq!(
        events.len(),
        6,
        "a cut and a repair per front ↔ back task pair"
    );
    for (i, (t, what)) in events.iter().take(3).enumerate() {
        assert_eq!(*t, 10.0);
        assert_eq!(what, &format!("partition front-v1-1 ↔ back-v1-{}", i + 1));
    }
    for (i, (t, what)) in events.iter().skip(3).enumerate() {
        assert_eq!(*t, 18.0);
        assert_eq!(what, &format!("repair front-v1-1 ↔ back-v1-{}", i + 1));
    }
    let front = calls(&r, "front-v1", "back");
    // Calls that start before 17.5 s make their three attempts inside the window (the two
    // back-offs add up to 100 ms at most).
    let cut = during(&front, 10.0, 17.5);
    let ok = |l: &AccessLogEntry| l.status == 200;
    // New connections are refused at once: three hosts tried, the call's time is only the
    // retries' back-off (at most 25 + 50 ms). Their lines read `UF,URX`: the connect
    // failure's flag, and the retries used up beside it.
    let refused: Vec<_> = cut
        .iter()
        .filter(|l| l.flags.to_string() == "UF,URX")
        .collect();
    // Requests already on an open connection hang until the route's 15 s timeout.
    let hung: Vec<_> = cut
        .iter()
        .filter(|l| l.flags == ResponseFlags::of(ResponseFlag::UpstreamTimeout))
        .collect();
    let resets = r.recorder.counter("front-v1", Counter::Resets);
    eprintln!(
        "front→back during the cut: {} calls, {} succeeded, {} refused in {:.1} ms at most, {} hung ({:?} ms); resets at front {resets}",
        cut.len(),
        cut.iter().filter(|l| ok(l)).count(),
        refused.len(),
        refused.iter().map(|l| ms(l)).fold(0.0, f64::max),
        hung.len(),
        hung.iter().map(|l| ms(l)).collect::<Vec<_>>()
    );
    assert!(cut.len() > 100);
    assert!(!cut.iter().any(|l| ok(l)), "no call crosses a cut link");
    assert_eq!(refused.len() + hung.len(), cut.len());
    assert!(refused.len() as f64 > 0.9 * cut.len() as f64);
    assert!(
        refused
            .iter()
            .all(|l| ms(l) < 110.0 && l.attempts == 3 && l.status == 503)
    );
    assert!(hung.iter().all(|l| (15000.0..15010.0).contains(&ms(l))));
    // Each refused call reset three connection attempts.
    assert!(resets >= 3 * refused.len() as u64, "{resets}");
    // Before and after the window, and on the side hop throughout, everything succeeds.
    assert!(during(&front, 1.0, 10.0).iter().all(|l| ok(l)));
    let healed = during(&front, 18.0, 30.0);
    assert!(healed.len() > 100 && healed.iter().all(|l| ok(l)));
    let side = calls(&r, "side-v1", "back");
    assert!(
        side.iter().all(|l| ok(l)),
        "the side ↔ back link is not cut"
    );
    // Users lost the /b requests of the window: about 20/s for 8 s.
    let lost = r.ledger.failed();
    let cut_whole = during(&front, 10.0, 18.0);
    let lost_calls = cut_whole.iter().filter(|l| !ok(l)).count() as u64;
    eprintln!(
        "users failed {lost}: {}; failed front→back calls {lost_calls}",
        failures(&r)
    );
    assert_eq!(
        lost, lost_calls,
        "each lost call is a lost request, and only those"
    );
    assert!((110..=210).contains(&lost));
}

#[test]
fn a_one_way_partition_loses_only_one_direction() {
    // 6-12 s: front's messages to back are lost. 18-24 s: back's messages to front are lost.
    let r = run(&Setup::new("oneway").faults(ONE_WAY));
    let front = calls(&r, "front-v1", "back");
    // Back's requests that come from front: those of the users' /b requests.
    let front_in = served(&r, "front-v1");
    let b_roots: std::collections::BTreeSet<&str> = front_in
        .iter()
        .filter(|l| l.path == "/b")
        .filter_map(|l| l.trace_root.as_deref())
        .collect();
    let for_front =
        |l: &&&AccessLogEntry| l.trace_root.as_deref().is_some_and(|t| b_roots.contains(t));
    let back = served(&r, "back-v1");
    // Front → back cut: nothing from front reaches back; connections are refused at once
    // (the call's time is the retries' back-off).
    let w1 = during(&front, 6.0, 11.5);
    let w1_back = during(&back, 6.0, 12.0).iter().filter(for_front).count();
    let refused = |l: &&&AccessLogEntry| l.flags.contains(ResponseFlag::RetriesExhausted);
    // Back → front cut: front's requests reach back and are served, but no answer returns;
    // the app's call gives up after 3 s.
    let w2_users: Vec<_> = during(&front_in, 18.0, 23.5)
        .into_iter()
        .filter(|l| l.path == "/b")
        .collect();
    let w2_served = during(&back, 18.0, 24.0)
        .iter()
        .filter(for_front)
        .filter(|l| l.status == 200)
        .count();
    let ok = |lines: &[&AccessLogEntry]| lines.iter().filter(|l| l.status == 200).count();
    eprintln!(
        "front→back cut: {} calls, {} ok, {} refused, {} reached back; back→front cut: {} /b requests, {} ok, {:.1}..{:.1} ms, {} served at back",
        w1.len(),
        ok(&w1),
        w1.iter().filter(refused).count(),
        w1_back,
        w2_users.len(),
        ok(&w2_users),
        quantile(&w2_users, 0.0),
        quantile(&w2_users, 1.0),
        w2_served,
    );
    assert!(w1.len() > 50 && w2_users.len() > 50);
    assert_eq!(ok(&w1), 0);
    assert_eq!(w1_back, 0, "front's messages are lost");
    assert!(w1.iter().filter(refused).count() as f64 > 0.9 * w1.len() as f64);
    assert!(w1.iter().filter(refused).all(|l| ms(l) < 110.0));
    assert_eq!(ok(&w2_users), 0, "back's answers are lost");
    assert!(
        w2_users
            .iter()
            .all(|l| l.status == 500 && (3000.0..3020.0).contains(&ms(l)))
    );
    assert!(
        w2_served as f64 > 0.9 * w2_users.len() as f64,
        "front's requests still arrive and are served: {w2_served}"
    );
    // The side ↔ back link is fine throughout, and front ↔ back outside the windows.
    assert!(calls(&r, "side-v1", "back").iter().all(|l| l.status == 200));
    assert!(during(&front, 1.0, 6.0).iter().all(|l| l.status == 200));
    assert!(during(&front, 12.0, 18.0).iter().all(|l| l.status == 200));
    let healed = during(&front, 24.0, 30.0);
    assert!(healed.len() > 50 && healed.iter().all(|l| l.status == 200));
}

/// Two one-way partitions of the front ↔ back link, one each way, at different times.
const ONE_WAY: &str = r#"  - { kind: partition, oneway: true, link: { from: { node: front-v1 }, to: { node: back-v1 } }, start: 6s, duration: 6s }
  - { kind: partition, oneway: true, link: { from: { node: back-v1 }, to: { node: front-v1 } }, start: 18s, duration: 6s }
"#;

#[test]
fn the_chaos_log_names_each_one_way_cut_once_in_the_direction_cut() {
    let r = run(&Setup {
        seconds: 20,
        ..Setup::new("oneway-log")
    }
    .faults(ONE_WAY));
    let events = chaos(&r);
    let mut expected = Vec::new();
    for k in 1..=3 {
        expected.push((6.0, format!("partition front-v1-1 → back-v1-{k} (one-way)")));
    }
    for k in 1..=3 {
        expected.push((12.0, format!("repair front-v1-1 → back-v1-{k}")));
    }
    for k in 1..=3 {
        expected.push((
            18.0,
            format!("partition back-v1-{k} → front-v1-1 (one-way)"),
        ));
    }
    assert_eq!(events, expected);
}

#[test]
fn a_hold_stalls_calls_until_it_ends_then_delivers_them() {
    let r = run(&Setup::new("hold").faults(
        r#"  - { kind: hold, link: { from: { node: front-v1 }, to: { node: back-v1 } }, start: 10s, duration: 2s }
"#,
    ));
    let held: Vec<_> = chaos(&r)
        .into_iter()
        .filter(|(_, w)| w.starts_with("hold "))
        .collect();
    assert_eq!(held.len(), 3);
    let released = chaos(&r)
        .into_iter()
        .filter(|(t, w)| *t == 12.0 && w.starts_with("release front-v1-1 ↔ back-v1-"))
        .count();
    assert_eq!(released, 3);
    assert!(
        held.iter()
            .all(|(t, w)| *t == 10.0 && w.starts_with("hold front-v1-1 ↔ back-v1-"))
    );
    let front = calls(&r, "front-v1", "back");
    let held = during(&front, 10.0, 12.0);
    // Each call waits for the release at 12 s, then takes its usual ~12 ms.
    let misses: Vec<(f64, f64)> = held
        .iter()
        .map(|l| ((12.0 - at(l)) * 1000.0, ms(l)))
        .filter(|(remaining, took)| !(*remaining..*remaining + 60.0).contains(took))
        .collect();
    eprintln!(
        "{} calls held; calls not ending within 60 ms after the release (remaining, took): {misses:?}",
        held.len()
    );
    assert!(held.len() > 25);
    assert!(misses.is_empty());
    assert!(held.iter().all(|l| l.status == 200), "held, not lost");
    // Before and after: the usual latency. Side → back is not held.
    assert!(quantile(&during(&front, 1.0, 10.0), 1.0) < 60.0);
    assert!(quantile(&during(&front, 12.1, 30.0), 1.0) < 60.0);
    assert!(quantile(&during(&calls(&r, "side-v1", "back"), 10.0, 12.0), 1.0) < 60.0);
    assert_eq!(r.ledger.failed(), 0, "{}", failures(&r));
}

#[test]
fn a_crashed_task_is_retried_around_until_deregistered_and_a_restart_brings_it_back() {
    // back-v1-2 crashes at 8 s for good; back-v1-3 crashes at 18 s and restarts at 28 s.
    // Cloud Map drops each 3 s after its crash; the sidecars see changes 1 s later. A dead
    // task does not answer a connection attempt, so each attempt costs the 1 s connect
    // timeout App Mesh sets on its clusters (not bare Envoy's 5 s).
    let setup = Setup {
        call_timeout: "8s",
        seconds: 34,
        ..Setup::new("crash")
    };
    let r = run(&setup.faults(
        r#"  - { kind: crash, target: { task: back-v1-2 }, start: 8s, deregistration_lag: 3s }
  - { kind: crash, target: { task: back-v1-3 }, start: 18s, restart_after: 10s, deregistration_lag: 3s }
"#,
    ));
    let events = chaos(&r);
    eprintln!("{events:?}");
    let expected: Vec<(f64, String)> = [
        (8.0, "crash back-v1-2"),
        (11.0, "deregister back-v1-2"),
        (18.0, "crash back-v1-3"),
        (21.0, "deregister back-v1-3"),
        (28.0, "restart back-v1-3"),
    ]
    .iter()
    .map(|(t, w)| (*t, w.to_string()))
    .collect();
    assert_eq!(events, expected);
    // Callers keep picking a dead task until they learn it is gone (crash + lag +
    // propagation): each such attempt times out connecting and is retried on another task.
    let retried_lines: Vec<_> = ["front-v1", "side-v1"]
        .iter()
        .flat_map(|n| calls(&r, n, "back"))
        .filter(|l| l.attempts > 1)
        .collect();
    let mut retried: Vec<f64> = retried_lines.iter().map(|l| at(l)).collect();
    retried.sort_by(f64::total_cmp);
    // (Requests in flight at the crash count too: they are reset and retried.)
    let first_window = retried.iter().filter(|t| (7.9..12.0).contains(*t)).count();
    let second_window = retried.iter().filter(|t| (17.9..22.0).contains(*t)).count();
    eprintln!(
        "retried calls: {} ({first_window} in 8-12 s, {second_window} in 18-22 s); first {:?}, last {:?}; took {:.1}..{:.1} ms",
        retried.len(),
        retried.first(),
        retried.last(),
        quantile(&retried_lines, 0.0),
        quantile(&retried_lines, 1.0),
    );
    assert_eq!(
        retried.len(),
        first_window + second_window,
        "retries only while a dead task is still listed: {retried:?}"
    );
    // For 4 s at 40 calls/s, a third of the calls go to the first dead task, then half to
    // the second (the first is gone by then).
    assert!((30..=80).contains(&first_window), "{first_window}");
    assert!((50..=110).contains(&second_window), "{second_window}");
    assert!(retried.iter().any(|t| *t > 11.5), "still listed until 12 s");
    assert!(retried.iter().any(|t| *t > 21.5), "still listed until 22 s");
    // A new attempt at a dead task waits out the connect timeout; one in flight at the crash
    // is reset at once. Either way another task answers the retry.
    let in_flight = |l: &AccessLogEntry| [8.0, 18.0].iter().any(|c| (c - 0.1..*c).contains(&at(l)));
    assert!(
        retried_lines
            .iter()
            .all(|l| l.attempts == 2 && l.status == 200)
    );
    assert!(
        retried_lines
            .iter()
            .filter(|l| !in_flight(l))
            .all(|l| (1000.0..1060.0).contains(&ms(l))),
        "one 1 s connect timeout, then another task answers"
    );
    assert!(
        retried_lines
            .iter()
            .filter(|l| in_flight(l))
            .all(|l| ms(l) < 100.0)
    );
    let resets = r.recorder.counter("front-v1", Counter::Resets)
        + r.recorder.counter("side-v1", Counter::Resets);
    assert!(resets >= retried.len() as u64);
    // Retries hid the crashes from the users, at the cost of 1 s each.
    assert_eq!(r.ledger.failed(), 0, "{}", failures(&r));
    let p99 = r.ledger.latencies.quantile_ms(0.99);
    eprintln!("users' p99 {p99:.0} ms");
    assert!((1000.0..1100.0).contains(&p99), "{p99}");
    // The dead task serves nothing after its crash; the restarted one again once listed.
    let t2 = served(&r, "back-v1-2");
    assert!(t2.iter().all(|l| at(l) < 8.0));
    let t3 = served(&r, "back-v1-3");
    assert!(!during(&t3, 1.0, 18.0).is_empty());
    assert!(
        during(&t3, 18.0, 29.0).is_empty(),
        "down, then not yet listed"
    );
    let back_again = during(&t3, 29.0, 34.0).len();
    let others = during(&served(&r, "back-v1-1"), 29.0, 34.0).len();
    eprintln!("29-34 s: back-v1-3 served {back_again}, back-v1-1 {others}");
    assert!(
        back_again as f64 > 0.7 * others as f64,
        "takes its share again"
    );
}

#[test]
fn a_rolling_restart_takes_each_task_down_in_turn() {
    let setup = Setup {
        call_timeout: "8s",
        ..Setup::new("rolling")
    };
    let r = run(&setup.faults(
        r#"  - { kind: rolling-restart, target: { node: back-v1 }, start: 8s, interval: 5s, downtime: 3s }
"#,
    ));
    let events = chaos(&r);
    eprintln!("{events:?}");
    let mut expected = Vec::new();
    for (i, task) in ["back-v1-1", "back-v1-2", "back-v1-3"].iter().enumerate() {
        let down = 8.0 + 5.0 * i as f64;
        expected.push((down, format!("crash {task}")));
        expected.push((down + 3.0, format!("restart {task}")));
    }
    assert_eq!(
        events, expected,
        "no deregistration: the lag (10 s) outlasts the downtime"
    );
    for (i, task) in ["back-v1-1", "back-v1-2", "back-v1-3"].iter().enumerate() {
        let down = 8.0 + 5.0 * i as f64;
        let lines = served(&r, task);
        let while_down = during(&lines, down, down + 3.0).len();
        let after = during(&lines, down + 3.1, down + 5.0).len();
        eprintln!("{task}: {while_down} served while down, {after} in the 2 s after");
        assert_eq!(while_down, 0);
        assert!(after > 10, "{task} serves again after its restart");
    }
    // Still registered, the stopped task keeps being picked: retries only in downtimes.
    // A connection attempt to a stopped task fails after App Mesh's 1 s connect timeout, or
    // when the task comes back if that is sooner, and the retry goes to another task. (A
    // request in flight at the crash is reset at once.)
    let retried: Vec<_> = ["front-v1", "side-v1"]
        .iter()
        .flat_map(|n| calls(&r, n, "back"))
        .filter(|l| l.attempts > 1)
        .collect();
    let downtime = |l: &AccessLogEntry| {
        (0..3)
            .map(|i| 8.0 + 5.0 * i as f64)
            .find(|down| (*down..down + 3.0).contains(&at(l)))
    };
    let misses: Vec<(f64, f64)> = retried
        .iter()
        .filter(|l| {
            downtime(l).is_none_or(|down| {
                let end = at(l) + ms(l) / 1000.0;
                let at_restart = (down + 3.0..down + 3.06).contains(&end);
                !(ms(l) < 100.0 || (1000.0..1060.0).contains(&ms(l)) || at_restart)
            })
        })
        .map(|l| (at(l), ms(l)))
        .collect();
    eprintln!(
        "{} retried calls; outside a downtime, or neither one connect timeout long nor ending at a restart: {misses:?}",
        retried.len()
    );
    assert!(retried.len() > 60);
    assert!(misses.is_empty());
    assert_eq!(r.ledger.failed(), 0, "{}", failures(&r));
}

#[test]
fn a_slowdown_multiplies_the_targets_service_time() {
    let r = run(&Setup::new("slowdown").faults(
        r#"  - { kind: slowdown, target: { task: back-v1-1 }, factor: 5, start: 10s, duration: 10s }
"#,
    ));
    let slow = median(&during(&served(&r, "back-v1-1"), 10.0, 20.0));
    let before = median(&during(&served(&r, "back-v1-1"), 1.0, 10.0));
    let after = median(&during(&served(&r, "back-v1-1"), 20.5, 30.0));
    let peer = median(&during(&served(&r, "back-v1-2"), 10.0, 20.0));
    eprintln!(
        "back-v1-1 median: before {before:.1}, during {slow:.1}, after {after:.1}; back-v1-2 during {peer:.1}"
    );
    assert!(
        (4.5..=5.5).contains(&(slow / before)),
        "10 ms × 5: {slow} ms vs {before} ms"
    );
    assert!((after / before - 1.0).abs() < 0.1);
    assert!(
        (peer / before - 1.0).abs() < 0.1,
        "the other tasks keep their pace"
    );
    assert_eq!(r.ledger.failed(), 0, "{}", failures(&r));
}

#[test]
fn an_errors_fault_fails_its_share_of_the_targets_requests() {
    let r = run(&Setup::new("errors").faults(
        r#"  - { kind: errors, target: { node: back-v1 }, percent: 20, status: 500, start: 5s, duration: 20s }
"#,
    ));
    let back = served(&r, "back-v1");
    let window = during(&back, 5.0, 25.0);
    let failed = share(&window, |l| l.status == 500);
    let outside = back
        .iter()
        .filter(|l| !(5.0..25.0).contains(&at(l)))
        .filter(|l| l.status != 200)
        .count();
    eprintln!(
        "back: {failed:.3} of {} answered 500 in the window; {outside} non-200 outside; users failed {}",
        window.len(),
        r.ledger.failed()
    );
    assert!(near(failed, 0.2, window.len(), 3.5), "{failed}");
    assert_eq!(outside, 0);
    // A 500 is not retried by the default policy: each reaches a user.
    let users = r.ledger.failed() as f64;
    let expected = 0.2 * window.len() as f64;
    assert!(
        (0.7 * expected..1.3 * expected).contains(&users),
        "{users} user failures for {expected} 500s: {}",
        failures(&r)
    );
}

#[test]
fn saturation_leaves_fewer_workers_and_requests_queue() {
    // 50 ms of work, ~16 requests/s per task: 0.8 of one worker.
    let setup = Setup {
        back_time: "50ms",
        rate: 48,
        ..Setup::new("saturation")
    }
    .faults(
        r#"  - { kind: saturation, target: { task: back-v1-1 }, workers: 1, start: 5s, duration: 20s }
"#,
    );
    let r = run(&setup);
    let saturated = during(&served(&r, "back-v1-1"), 6.0, 25.0);
    let peer = during(&served(&r, "back-v1-2"), 6.0, 25.0);
    let before = during(&served(&r, "back-v1-1"), 1.0, 5.0);
    let (p50, p90) = (median(&saturated), quantile(&saturated, 0.9));
    eprintln!(
        "back-v1-1 one worker: p50 {p50:.1} p90 {p90:.1} ({} requests); back-v1-2: p50 {:.1} p90 {:.1}; before p90 {:.1}",
        saturated.len(),
        median(&peer),
        quantile(&peer, 0.9),
        quantile(&before, 0.9)
    );
    assert!(quantile(&peer, 0.9) < 60.0 && quantile(&before, 0.9) < 60.0);
    assert!(
        p90 > 2.0 * quantile(&peer, 0.9),
        "queueing behind one worker"
    );
    assert!(p50 > 60.0);
    let after = during(&served(&r, "back-v1-1"), 27.0, 30.0);
    assert!(quantile(&after, 0.9) < 60.0, "the workers come back");
}

#[test]
fn a_hung_dependency_ends_calls_only_by_their_timeout() {
    let r = run(&Setup::new("hang").faults(
        r#"  - { kind: hang, target: { node: front-v1 }, service: back.fx.local, start: 10s, duration: 8s }
"#,
    ));
    let front = served(&r, "front-v1");
    let hung: Vec<_> = during(&front, 10.0, 18.0)
        .into_iter()
        .filter(|l| l.path == "/b")
        .collect();
    let other: Vec<_> = during(&front, 10.0, 18.0)
        .into_iter()
        .filter(|l| l.path == "/s")
        .collect();
    eprintln!(
        "/b during the hang: {} requests, {:.1}..{:.1} ms, statuses {:?}; /s p100 {:.1} ms; front → back calls in the window {}",
        hung.len(),
        quantile(&hung, 0.0),
        quantile(&hung, 1.0),
        hung.iter()
            .map(|l| l.status)
            .collect::<std::collections::BTreeSet<_>>(),
        quantile(&other, 1.0),
        during(&calls(&r, "front-v1", "back"), 10.0, 18.0).len()
    );
    assert!(hung.len() > 100);
    // Every call to back waited for its 3 s timeout, and the request failed.
    assert!(hung.iter().all(|l| (3000.0..3020.0).contains(&ms(l))));
    assert!(hung.iter().all(|l| l.status >= 500));
    // The call never left the app: front's sidecar saw no call to back.
    assert!(during(&calls(&r, "front-v1", "back"), 10.0, 18.0).is_empty());
    // Other calls, and the same calls outside the window, are unaffected.
    assert!(other.iter().all(|l| l.status == 200 && ms(l) < 60.0));
    let later: Vec<_> = during(&front, 18.1, 30.0)
        .into_iter()
        .filter(|l| l.path == "/b")
        .collect();
    assert!(!later.is_empty() && later.iter().all(|l| l.status == 200 && ms(l) < 60.0));
    assert_eq!(r.ledger.failed(), hung.len() as u64, "{}", failures(&r));
}

#[test]
fn a_leak_crashes_the_task_after_n_requests_and_it_restarts() {
    let r = run(&Setup::new("leak").faults(
        r#"  - { kind: leak, target: { task: back-v1-1 }, after_requests: 50, restart_after: 3s, start: 5s, duration: 20s }
"#,
    ));
    let events = chaos(&r);
    eprintln!("{events:?}");
    let crashes: Vec<f64> = events
        .iter()
        .filter(|(_, w)| w == "crash back-v1-1 (out of memory)")
        .map(|(t, _)| *t)
        .collect();
    let restarts: Vec<f64> = events
        .iter()
        .filter(|(_, w)| w == "restart back-v1-1")
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(
        events.len(),
        crashes.len() + restarts.len(),
        "nothing else happened"
    );
    assert!(
        crashes.len() >= 2,
        "restarted with fresh memory, it leaks again"
    );
    assert!(crashes.iter().all(|t| (5.0..25.0).contains(t)));
    for (c, r) in crashes.iter().zip(&restarts) {
        assert!(
            (r - c - 3.0).abs() < 1e-9,
            "restart 3 s after the crash: {c} {r}"
        );
    }
    // It served (about) 50 requests between the start (or its restart) and each crash.
    let lines = served(&r, "back-v1-1");
    let ends = |l: &&AccessLogEntry| (l.start + l.duration).since_start().as_secs_f64();
    let mut from = 5.0;
    for (i, c) in crashes.iter().enumerate() {
        let n = lines
            .iter()
            .filter(|l| l.status == 200 && (from..=*c).contains(&ends(l)))
            .count();
        eprintln!("served {n} between {from} s and the crash at {c} s");
        assert!((48..=51).contains(&n), "crash {i} after {n} requests");
        from = c + 3.0;
    }
    // Nothing served while down.
    for (c, r) in crashes.iter().zip(&restarts) {
        assert!(during(&lines, *c + 0.01, *r).is_empty());
    }
}

#[test]
fn a_task_that_crashes_again_stays_registered_for_the_lag_after_its_last_crash() {
    // A leak that crashes back-v1-1 every 20 requests, restarting it 3 s later; Cloud Map
    // keeps a dead task 5 s. Each downtime is shorter than the lag, so the task is never
    // deregistered; in particular the deregistration due 5 s after one crash must not cut a
    // later downtime short.
    let r = run(&Setup {
        seconds: 20,
        ..Setup::new("leak-lag")
    }
    .faults(
        r#"  - { kind: leak, target: { task: back-v1-1 }, after_requests: 20, restart_after: 3s, deregistration_lag: 5s, start: 2s, duration: 15s }
"#,
    ));
    let events = chaos(&r);
    eprintln!("{events:?}");
    let crashes: Vec<f64> = events
        .iter()
        .filter(|(_, w)| w.starts_with("crash back-v1-1"))
        .map(|(t, _)| *t)
        .collect();
    assert!(crashes.len() >= 2, "{events:?}");
    for (t, what) in &events {
        if what == "deregister back-v1-1" {
            let last_crash = crashes
                .iter()
                .copied()
                .filter(|c| c <= t)
                .fold(f64::MIN, f64::max);
            assert!(
                t - last_crash >= 5.0 - 1e-9,
                "deregistered {:.3} s after its last crash (at {last_crash} s), not 5 s: {events:?}",
                t - last_crash
            );
        }
    }
}

#[test]
fn http_delay_holds_its_share_of_requests_at_the_target() {
    let r = run(&Setup::new("http-delay").faults(
        r#"  - { kind: http-delay, target: { node: back-v1 }, delay: 200ms, percent: 30, start: 5s, duration: 20s }
"#,
    ));
    let back = served(&r, "back-v1");
    let window = during(&back, 5.0, 25.0);
    let delayed: Vec<_> = window.iter().filter(|l| ms(l) >= 200.0).collect();
    let delayed_share = delayed.len() as f64 / window.len() as f64;
    let outside = back
        .iter()
        .filter(|l| !(5.0..25.0).contains(&at(l)) && ms(l) >= 200.0)
        .count();
    let injected = r.recorder.counter("back-v1", Counter::Faults);
    eprintln!(
        "{delayed_share:.3} of {} delayed; {outside} slow outside; faults counted {injected}",
        window.len()
    );
    assert!(
        near(delayed_share, 0.3, window.len(), 3.5),
        "{delayed_share}"
    );
    assert!(delayed.iter().all(|l| (200.0..260.0).contains(&ms(l))));
    assert_eq!(outside, 0);
    assert_eq!(injected, delayed.len() as u64);
    // A delay is not a failure.
    assert!(window.iter().all(|l| l.status == 200));
    assert_eq!(r.ledger.failed(), 0, "{}", failures(&r));
}

#[test]
fn max_active_faults_caps_the_delays_in_progress_at_each_listener() {
    // Every request to back is to be held 500 ms, but each back task's fault filter may have
    // only 2 delays in progress: at 40 requests a second over three tasks (about 13 a task,
    // 6 at once if all were held), most pass untouched while two are held.
    let r = run(&Setup::new("http-delay-max-active").faults(
        r#"  - { kind: http-delay, target: { node: back-v1 }, delay: 500ms, percent: 100, max_active_faults: 2, start: 5s, duration: 20s }
"#,
    ));
    let back = served(&r, "back-v1");
    let window = during(&back, 5.0, 25.0);
    let delayed: Vec<_> = window
        .iter()
        .filter(|l| l.flags.contains(ResponseFlag::DelayInjected))
        .collect();
    let share = delayed.len() as f64 / window.len() as f64;
    eprintln!("{} of {} delayed ({share:.3})", delayed.len(), window.len());
    assert!(delayed.iter().all(|l| (500.0..560.0).contains(&ms(l))));
    // At every task, never more than 2 delayed requests overlap.
    for task in ["back-v1-1", "back-v1-2", "back-v1-3"] {
        // In simulated time, exactly: a delay that ends as another begins does not overlap.
        let held: Vec<_> = delayed
            .iter()
            .filter(|l| l.task == task)
            .map(|l| (l.start, l.start + l.duration))
            .collect();
        assert!(!held.is_empty(), "{task}");
        for (start, _) in &held {
            let at_once = held.iter().filter(|(s, e)| s <= start && start < e).count();
            assert!(
                at_once <= 2,
                "{task}: {at_once} delays in progress at {start:?}"
            );
        }
    }
    // Two at a time, 500 ms each: about 4 a second per task, of some 13 arriving.
    assert!((0.15..0.5).contains(&share), "{share}");
    assert!(window.iter().all(|l| l.status == 200));
}

#[test]
fn a_delayed_request_is_logged_with_envoys_di_flag() {
    let r = run(&Setup::new("http-delay-flag").faults(
        r#"  - { kind: http-delay, target: { node: back-v1 }, delay: 200ms, percent: 30, start: 5s, duration: 20s }
"#,
    ));
    let back = served(&r, "back-v1");
    let delayed: Vec<_> = back.iter().filter(|l| ms(l) >= 200.0).collect();
    assert!(!delayed.is_empty());
    let flags: std::collections::BTreeMap<String, usize> =
        delayed.iter().fold(Default::default(), |mut m, l| {
            *m.entry(l.flags.to_string()).or_default() += 1;
            m
        });
    // Envoy logs a request its fault filter delayed with `DI`.
    assert!(
        delayed
            .iter()
            .all(|l| l.flags == ResponseFlags::of(ResponseFlag::DelayInjected)),
        "flags of delayed requests: {flags:?}"
    );
}

#[test]
fn http_abort_answers_its_share_of_requests_locally_with_fi() {
    let r = run(&Setup::new("http-abort").faults(
        r#"  - { kind: http-abort, target: { node: back-v1 }, status: 500, percent: 25, start: 5s, duration: 20s }
"#,
    ));
    let back = served(&r, "back-v1");
    let window = during(&back, 5.0, 25.0);
    let fi = |l: &AccessLogEntry| l.flags.contains(ResponseFlag::FaultInjected);
    let aborted = share(&window, |l| fi(l) && l.status == 500);
    let outside = back
        .iter()
        .filter(|l| !(5.0..25.0).contains(&at(l)))
        .filter(|l| fi(l) || l.status != 200)
        .count();
    let injected = r.recorder.counter("back-v1", Counter::Faults);
    let fi_lines = back.iter().filter(|l| fi(l)).count();
    eprintln!(
        "{aborted:.3} of {} aborted; {outside} outside; faults counted {injected}; users failed {}",
        window.len(),
        r.ledger.failed()
    );
    assert!(near(aborted, 0.25, window.len(), 3.5), "{aborted}");
    // Every non-200 in the window is an injected abort, answered before the app: fast.
    assert!(window.iter().all(|l| l.status == 200 || fi(l)));
    assert!(window.iter().filter(|l| fi(l)).all(|l| ms(l) < 1.0));
    assert_eq!(outside, 0);
    assert_eq!(injected, fi_lines as u64);
    let users = r.ledger.failed() as f64;
    assert!(
        (0.8 * fi_lines as f64..=fi_lines as f64).contains(&users),
        "{users} user failures for {fi_lines} aborts: {}",
        failures(&r)
    );
}

#[test]
fn header_controlled_http_faults_obey_the_requests_headers() {
    let setup = Setup {
        mix: vec![
            r#"{ weight: 1, path: /s, headers: { x-envoy-fault-delay-request: "300" } }"#,
            r#"{ weight: 1, path: /b, headers: { x-envoy-fault-abort-request: "429" } }"#,
            "{ weight: 2, path: /b }",
        ],
        ..Setup::new("http-headers")
    }
    .faults(
        r#"  - { kind: http-delay, target: { node: front-v1 }, headers: true, start: 0s }
  - { kind: http-abort, target: { node: front-v1 }, headers: true, start: 0s }
"#,
    );
    let r = run(&setup);
    let front = served(&r, "front-v1");
    let s: Vec<_> = front.iter().copied().filter(|l| l.path == "/s").collect();
    let b: Vec<_> = front.iter().copied().filter(|l| l.path == "/b").collect();
    let aborted: Vec<_> = b
        .iter()
        .filter(|l| l.flags.contains(ResponseFlag::FaultInjected))
        .collect();
    let abort_share = aborted.len() as f64 / b.len() as f64;
    eprintln!(
        "/s: {} requests, {:.1}..{:.1} ms; /b: {} requests, {abort_share:.3} aborted; statuses {:?}; users {}",
        s.len(),
        quantile(&s, 0.0),
        quantile(&s, 1.0),
        b.len(),
        aborted
            .iter()
            .map(|l| l.status)
            .collect::<std::collections::BTreeSet<_>>(),
        failures(&r)
    );
    // Requests asking for a 300 ms delay get it; the others do not.
    assert!(s.len() > 100);
    assert!(
        s.iter()
            .all(|l| (300.0..360.0).contains(&ms(l)) && l.status == 200)
    );
    // Requests asking for an abort with 429 get it; a third of /b asks.
    assert!(near(abort_share, 1.0 / 3.0, b.len(), 3.5), "{abort_share}");
    assert!(aborted.iter().all(|l| l.status == 429));
    let not_aborted: Vec<_> = b.iter().filter(|l| l.flags.is_empty()).collect();
    assert_eq!(aborted.len() + not_aborted.len(), b.len());
    assert!(not_aborted.iter().all(|l| l.status == 200 && ms(l) < 60.0));
    assert_eq!(
        r.recorder.counter("front-v1", Counter::Faults),
        (s.len() + aborted.len()) as u64
    );
    // The users saw the 429s as injected faults, and nothing else failed.
    assert_eq!(
        r.ledger.failed_by_reason.get("fault_injected_429").copied(),
        Some(aborted.len() as u64),
        "{}",
        failures(&r)
    );
    assert_eq!(r.ledger.failed(), aborted.len() as u64);
}

#[test]
fn a_ramp_grows_the_faults_intensity_over_time() {
    // 60 % errors reached linearly over 20 s: 15 % on average over the first 10 s, 45 % over
    // the next 10.
    let r = run(&Setup::new("ramp").faults(
        r#"  - { kind: errors, target: { node: back-v1 }, percent: 60, status: 500, start: 10s, duration: 20s, ramp: 20s }
"#,
    ));
    let back = served(&r, "back-v1");
    let first = during(&back, 10.0, 20.0);
    let second = during(&back, 20.0, 30.0);
    let err = |l: &AccessLogEntry| l.status == 500;
    let (a, b) = (share(&first, err), share(&second, err));
    let quarters: Vec<f64> = (0..4)
        .map(|i| {
            share(
                &during(&back, 10.0 + 5.0 * i as f64, 15.0 + 5.0 * i as f64),
                err,
            )
        })
        .collect();
    eprintln!(
        "errors: first half {a:.3} of {}, second half {b:.3} of {}; quarters {quarters:?}",
        first.len(),
        second.len()
    );
    assert!(near(a, 0.15, first.len(), 3.5), "{a}");
    assert!(near(b, 0.45, second.len(), 3.5), "{b}");
    assert!(quarters.windows(2).all(|w| w[0] < w[1]), "{quarters:?}");
    assert_eq!(share(&during(&back, 1.0, 10.0), err), 0.0);
}

#[test]
fn a_random_schedule_is_drawn_from_the_seed() {
    let setup = |seed| {
        Setup {
            seed,
            seconds: 18,
            rate: 20,
            ..Setup::new("random")
        }
        .faults(
            r#"  random:
    count: 4
    kinds: [latency, crash, errors, partition, slowdown]
    start: [3s, 10s]
    duration: [2s, 5s]
"#,
        )
    };
    let a = run(&setup(11));
    let again = run(&setup(11));
    let other = run(&setup(12));
    for f in &a.faults {
        eprintln!("seed 11: {} {:?} {:?}", f.name, f.kind, f.window);
    }
    for f in &other.faults {
        eprintln!("seed 12: {} {:?} {:?}", f.name, f.kind, f.window);
    }
    eprintln!("seed 11 chaos: {:?}", chaos(&a));
    assert!(!a.faults.is_empty() && a.faults.len() <= 4);
    assert_eq!(
        a.faults, again.faults,
        "the same seed draws the same schedule"
    );
    assert_eq!(
        a.chaos, again.chaos,
        "and the same schedule does the same things"
    );
    assert_eq!(a.ledger.succeeded, again.ledger.succeeded);
    assert_eq!(a.ledger.failed_by_reason, again.ledger.failed_by_reason);
    assert_ne!(
        a.faults, other.faults,
        "another seed draws another schedule"
    );
    for r in [&a, &other] {
        for f in &r.faults {
            let (start, end) = (f.window.start, f.window.end.expect("bounded"));
            assert!(start >= Duration::from_secs(3) && start <= Duration::from_secs(10));
            let d = end - start;
            assert!(d >= Duration::from_secs(2) && d <= Duration::from_secs(5));
        }
        // Every drawn crash happened, at its start, and restarted at its end.
        for f in r
            .faults
            .iter()
            .filter(|f| matches!(f.kind, FaultKind::Crash { .. }))
        {
            let crashes = r
                .chaos
                .iter()
                .filter(|e| e.fault == f.name && e.what.starts_with("crash "))
                .collect::<Vec<_>>();
            assert!(!crashes.is_empty(), "{} did nothing", f.name);
            assert!(crashes.iter().all(|e| e.at.since_start() == f.window.start));
        }
        // Every chaos event belongs to a drawn fault.
        assert!(
            r.chaos
                .iter()
                .all(|e| r.faults.iter().any(|f| f.name == e.fault))
        );
    }
}

/// The front's calls to `back` (only `/b` requests: the mix sends every request there).
fn toxic_setup(name: &'static str, faults: &str) -> Setup {
    Setup {
        back_size: 8192,
        mix: vec!["{ weight: 1, path: /b }"],
        ..Setup::new(name)
    }
    .faults(faults)
}

#[test]
fn a_bandwidth_toxic_slows_each_answer_by_its_size_over_the_rate() {
    // 8 KB answers (plus ~100 bytes of head) at 16 KB/s: about 0.51 s each.
    let r = run(&toxic_setup(
        "bandwidth",
        "  - { kind: bandwidth, target: { node: back-v1 }, rate: 16, start: 10s, duration: 10s }\n",
    ));
    let calls = calls(&r, "front-v1", "back");
    let before = median(&during(&calls, 1.0, 10.0));
    let slow = median(&during(&calls, 10.5, 19.0));
    let after = median(&during(&calls, 21.0, 30.0));
    eprintln!("front → back median: before {before:.1} ms, during {slow:.1}, after {after:.1}");
    let added = slow - before;
    assert!(
        (480.0..=560.0).contains(&added),
        "8192+ bytes at 16 000 B/s add ~512 ms; added {added:.1} ms"
    );
    assert!(
        (after - before).abs() < 5.0,
        "back to normal after the window"
    );
    // The requests themselves reach the app at full speed: only answers are capped.
    let served = median(&during(&served(&r, "back-v1"), 10.5, 19.0));
    assert!(served < 20.0, "the app's own time stays ~10 ms: {served}");
    assert_eq!(r.ledger.failed(), 0, "{}", failures(&r));
}

#[test]
fn a_slicer_toxic_adds_a_pause_per_slice() {
    // ~8290 bytes in slices of 512 ± 128: about 16 slices, each after 5 ms.
    let r = run(&toxic_setup(
        "slicer",
        "  - { kind: slicer, target: { node: back-v1 }, average_size: 512, size_variation: 128, delay: 5ms, start: 10s, duration: 10s }\n",
    ));
    let calls = calls(&r, "front-v1", "back");
    let before = median(&during(&calls, 1.0, 10.0));
    let sliced = median(&during(&calls, 10.5, 19.0));
    let added = sliced - before;
    eprintln!("front → back median: before {before:.1} ms, sliced {sliced:.1} ms");
    assert!(
        (60.0..=110.0).contains(&added),
        "about 16 slices × 5 ms; added {added:.1} ms"
    );
    assert_eq!(r.ledger.failed(), 0, "{}", failures(&r));
}

/// Share of calls that took more than one attempt.
fn retried(lines: &[&AccessLogEntry]) -> f64 {
    share(lines, |l| l.attempts > 1)
}

#[test]
fn limit_data_cuts_long_answers_and_the_callers_retry_elsewhere() {
    // Each connection to back-v1-1 closes after 4 KB: every 8 KB answer from it is cut.
    let r = run(&toxic_setup(
        "limit-data",
        "  - { kind: limit-data, target: { task: back-v1-1 }, bytes: 4096, start: 10s, duration: 10s }\n",
    ));
    let calls = calls(&r, "front-v1", "back");
    let during_window = during(&calls, 10.5, 19.5);
    let outside = [during(&calls, 1.0, 10.0), during(&calls, 21.0, 30.0)].concat();
    let hit = retried(&during_window);
    eprintln!(
        "retried: {hit:.3} during, {:.3} outside; faults counted {}",
        retried(&outside),
        r.recorder.counter("back-v1", Counter::Faults)
    );
    // One host in three answers with a cut: about a third of the calls need a retry.
    assert!(
        (0.2..=0.45).contains(&hit),
        "about 1/3 of calls retried: {hit:.3}"
    );
    assert_eq!(retried(&outside), 0.0, "no retries outside the window");
    assert!(r.recorder.counter("back-v1", Counter::Faults) > 0);
    assert_eq!(r.ledger.failed(), 0, "retries hide it: {}", failures(&r));
}

#[test]
fn reset_peer_resets_the_targets_connections_and_toxicity_picks_which() {
    let r = run(&toxic_setup(
        "reset-peer",
        "  - { kind: reset-peer, target: { task: back-v1-1 }, start: 10s, duration: 10s }\n",
    ));
    let front = calls(&r, "front-v1", "back");
    let hit = retried(&during(&front, 10.5, 19.5));
    eprintln!("retried during the reset window: {hit:.3}");
    assert!((0.2..=0.45).contains(&hit), "{hit:.3}");
    assert_eq!(retried(&during(&front, 1.0, 10.0)), 0.0);
    assert_eq!(r.ledger.failed(), 0, "{}", failures(&r));
    // toxicity 0: the toxic is in force but no connection draws it.
    let spared = run(&toxic_setup(
        "reset-peer-0",
        "  - { kind: reset-peer, target: { task: back-v1-1 }, toxicity: 0, start: 10s, duration: 10s }\n",
    ));
    let front = calls(&spared, "front-v1", "back");
    assert_eq!(retried(&front), 0.0, "toxicity 0 touches nothing");
    assert_eq!(spared.recorder.counter("back-v1", Counter::Faults), 0);
}

#[test]
fn a_stall_drops_the_answers_then_closes_the_connection_after_its_timeout() {
    let r = run(&toxic_setup(
        "stall",
        "  - { kind: stall, target: { task: back-v1-1 }, timeout: 500ms, start: 10s, duration: 10s }\n",
    ));
    let calls = calls(&r, "front-v1", "back");
    let window = during(&calls, 10.5, 19.0);
    let stalled: Vec<&AccessLogEntry> = window.iter().copied().filter(|l| l.attempts > 1).collect();
    eprintln!(
        "{} of {} calls retried; their median {:.1} ms",
        stalled.len(),
        window.len(),
        if stalled.is_empty() {
            0.0
        } else {
            median(&stalled)
        }
    );
    assert!((0.2..=0.45).contains(&retried(&window)));
    // A stalled call waits for the close (500 ms after the connection met the stall),
    // then goes to another host.
    let m = median(&stalled);
    assert!(
        (450.0..=700.0).contains(&m),
        "stalled calls take ~0.5 s: {m:.1}"
    );
    assert!(median(&during(&calls, 1.0, 10.0)) < 30.0);
    // When the stall ends its dropped bytes stay lost and its close never comes (as when a
    // Toxiproxy toxic is removed): calls caught in its last half second wait for the app's
    // own 3 s call timeout. Those are the only failures.
    let failed: Vec<f64> = served(&r, "edge")
        .iter()
        .filter(|l| l.status != 200)
        .map(|l| at(l))
        .collect();
    eprintln!("failed at {failed:?}");
    assert_eq!(failed.len() as u64, r.ledger.failed());
    assert!(
        failed.iter().all(|t| (19.45..20.0).contains(t)),
        "only calls caught at the end of the stall fail: {failed:?}"
    );
}
