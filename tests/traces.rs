//! Traces, per-attempt detail, access logs and `meshsim explain`, end to end in short runs.
//!
//! Two worlds: the shipped Ordering app (`scenarios/baseline.yaml`, a few seconds) for the
//! shape of a checkout's trace, and a small mesh built to make every decision show: an edge
//! gateway, `front-v1` calling `back` through a virtual router whose header route
//! `canary` comes first (and never matches) and whose route `back` splits 50/50 between
//! `back-v1` (two tasks) and `back-v2` with a retry policy (server-error, 150 ms per try);
//! `back-v1` aborts 20 % of requests with 503 (`FI`) and `back-v2` delays 20 % by 400 ms
//! (`DI`), so retries, per-try timeouts and faults all happen within seconds. DNS discovery
//! is `ResponseType: ENDPOINTS`, one host per task, so outlier detection on `back-v1` can
//! eject one of its two tasks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use meshsim::proxy::{AccessLogEntry, Direction};
use meshsim::report::Report;
use meshsim::report::access_log::{AccessLogWriter, DIR as LOG_DIR, format_line};
use meshsim::report::trace::{self, HopRecord, RequestRecord, TraceHeader};
use meshsim::scenario;
use meshsim::sim::{self, AccessLogMode, AccessLogTap, RunOptions, RunResult};

const MESH: &str = r#"Resources:
  Mesh:
    Type: AWS::AppMesh::Mesh
    Properties: { MeshName: tr }
  Edge:
    Type: AWS::AppMesh::VirtualGateway
    Properties:
      MeshName: tr
      VirtualGatewayName: edge
      Spec:
        Listeners:
          - PortMapping: { Port: 8080, Protocol: http }
  EdgeRoute:
    Type: AWS::AppMesh::GatewayRoute
    Properties:
      MeshName: tr
      VirtualGatewayName: edge
      GatewayRouteName: front
      Spec:
        HttpRoute:
          Match: { Prefix: / }
          Action:
            Target:
              VirtualService: { VirtualServiceName: front.tr.local }
  Front:
    Type: AWS::AppMesh::VirtualService
    Properties:
      MeshName: tr
      VirtualServiceName: front.tr.local
      Spec:
        Provider:
          VirtualNode: { VirtualNodeName: front-v1 }
  FrontV1:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: tr
      VirtualNodeName: front-v1
      Spec:
        Listeners:
          - PortMapping: { Port: 8080, Protocol: http }
        ServiceDiscovery:
          DNS: { Hostname: front.tr.local, ResponseType: ENDPOINTS }
        Backends:
          - VirtualService: { VirtualServiceName: back.tr.local }
  Back:
    Type: AWS::AppMesh::VirtualService
    Properties:
      MeshName: tr
      VirtualServiceName: back.tr.local
      Spec:
        Provider:
          VirtualRouter: { VirtualRouterName: back-router }
  BackRouter:
    Type: AWS::AppMesh::VirtualRouter
    Properties:
      MeshName: tr
      VirtualRouterName: back-router
      Spec:
        Listeners:
          - PortMapping: { Port: 8080, Protocol: http }
  CanaryRoute:
    Type: AWS::AppMesh::Route
    Properties:
      MeshName: tr
      VirtualRouterName: back-router
      RouteName: canary
      Spec:
        Priority: 10
        HttpRoute:
          Match:
            Prefix: /
            Headers:
              - Name: x-canary
                Match: { Exact: "true" }
          Action:
            WeightedTargets:
              - { VirtualNode: back-v2, Weight: 1 }
  BackRoute:
    Type: AWS::AppMesh::Route
    Properties:
      MeshName: tr
      VirtualRouterName: back-router
      RouteName: back
      Spec:
        Priority: 100
        HttpRoute:
          Match: { Prefix: / }
          Action:
            WeightedTargets:
              - { VirtualNode: back-v1, Weight: 50 }
              - { VirtualNode: back-v2, Weight: 50 }
          RetryPolicy:
            MaxRetries: 2
            PerRetryTimeout: { Unit: ms, Value: 150 }
            HttpRetryEvents: [server-error]
            TcpRetryEvents: [connection-error]
  BackV1:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: tr
      VirtualNodeName: back-v1
      Spec:
        Listeners:
          - PortMapping: { Port: 8080, Protocol: http }
            OutlierDetection:
              MaxServerErrors: 2
              Interval: { Unit: s, Value: 1 }
              BaseEjectionDuration: { Unit: s, Value: 2 }
              MaxEjectionPercent: 50
        ServiceDiscovery:
          DNS: { Hostname: back-v1.tr.local, ResponseType: ENDPOINTS }
  BackV2:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: tr
      VirtualNodeName: back-v2
      Spec:
        Listeners:
          - PortMapping: { Port: 8080, Protocol: http }
        ServiceDiscovery:
          DNS: { Hostname: back-v2.tr.local, ResponseType: ENDPOINTS }
"#;

/// The small mesh's scenario, with `report:` set to `report`.
fn scenario_text(report: &str) -> String {
    format!(
        r#"name: traces
seed: 5
duration: 8s
mesh:
  files: [mesh.cfn.yaml]
tasks:
  - {{ node: front-v1, replicas: 1, service: front }}
  - {{ node: back-v1, replicas: 2, service: back }}
  - {{ node: back-v2, replicas: 1, service: back }}
services:
  front:
    workers: 256
    endpoints:
      - path: /
        service_time: 1ms
        calls:
          - call: {{ service: back.tr.local, path: /work, timeout: 3s }}
  back:
    workers: 64
    endpoints:
      - path: /work
        service_time: 5ms
        response_size: 100
workload:
  target: edge
  rate: {{ constant: 40 }}
  mix:
    - {{ weight: 1, path: / }}
faults:
  - {{ kind: http-abort, target: {{ node: back-v1 }}, status: 503, percent: 20, start: 1s, duration: 1m }}
  - {{ kind: http-delay, target: {{ node: back-v2 }}, delay: 400ms, percent: 20, start: 1s, duration: 1m }}
{report}"#
    )
}

/// The small mesh's scenario written to disk (for the binary), with its mesh.
fn scenario_file(name: &str, report: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("traces")
        .join(name);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("mesh.cfn.yaml"), MESH).expect("write mesh");
    let path = dir.join("traces.yaml");
    std::fs::write(&path, scenario_text(report)).expect("write scenario");
    path
}

fn run_file(path: &Path, options: &RunOptions) -> RunResult {
    let loaded = scenario::load(path);
    let messages: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| d.message.clone())
        .collect();
    let (scenario, mesh) = loaded.runnable().unwrap_or_else(|| panic!("{messages:?}"));
    sim::run(scenario, mesh, options, &mut |_| {}).expect("the run completes")
}

/// The small mesh with every request sampled (shared by the tests that only read it).
fn sampled() -> &'static (RunResult, Vec<RequestRecord>) {
    static RUN: OnceLock<(RunResult, Vec<RequestRecord>)> = OnceLock::new();
    RUN.get_or_init(|| {
        let path = scenario_file("all", "report: { trace_sample: 1 }\n");
        let options = RunOptions {
            keep_access_log: true,
            ..RunOptions::default()
        };
        let r = run_file(&path, &options);
        let records = trace::records(&r.traces);
        (r, records)
    })
}

fn outbound_to<'a>(r: &'a RequestRecord, service: &str) -> Vec<&'a HopRecord> {
    r.hops
        .iter()
        .filter(|h| h.direction == "outbound" && h.service.as_deref() == Some(service))
        .collect()
}

fn child_of<'a>(r: &'a RequestRecord, parent: &HopRecord) -> Vec<&'a HopRecord> {
    r.hops
        .iter()
        .filter(|h| h.parent.as_deref() == Some(parent.span.as_str()))
        .collect()
}

fn baseline(trace_sample: f64) -> RunResult {
    let loaded = scenario::load(Path::new("scenarios/baseline.yaml"));
    let (scenario, mesh) = loaded.runnable().expect("baseline loads");
    let options = RunOptions {
        duration: Some(std::time::Duration::from_secs(4)),
        keep_access_log: true,
        trace_sample: Some(trace_sample),
        ..RunOptions::default()
    };
    sim::run(scenario, mesh, &options, &mut |_| {}).expect("the run completes")
}

#[test]
fn a_checkout_is_traced_ui_then_order_then_inventory_and_sampling_changes_nothing_else() {
    let all = baseline(1.0);
    let none = baseline(0.0);
    // Sampling changes no other output: the report and every access-log line (less the
    // sampled detail) are the same with every request sampled and with none.
    let loaded = scenario::load(Path::new("scenarios/baseline.yaml"));
    let (scenario, _) = loaded.runnable().expect("baseline loads");
    assert_eq!(
        Report::of(scenario, &all).to_json(),
        Report::of(scenario, &none).to_json()
    );
    let bare = |r: &RunResult| -> Vec<AccessLogEntry> {
        r.access_log
            .iter()
            .map(|l| AccessLogEntry {
                envoy: None,
                detail: None,
                ..l.clone()
            })
            .collect()
    };
    assert_eq!(bare(&all), bare(&none));
    assert!(none.traces.hops.is_empty() && none.traces.users.is_empty());
    assert_eq!(all.traces.users.len() as u64, all.ledger.issued);

    let records = trace::records(&all.traces);
    let checkout = records
        .iter()
        .find(|r| r.method == "POST" && r.path == "/checkout")
        .expect("a checkout in four seconds");
    let chain: Vec<(&str, &str, Option<&str>)> = checkout
        .hops
        .iter()
        .map(|h| (h.direction.as_str(), h.node.as_str(), h.service.as_deref()))
        .collect();
    assert_eq!(
        chain,
        [
            ("inbound", "ingress", None),
            ("outbound", "ingress", Some("ui.ordering.local")),
            ("inbound", "ui-v1", None),
            ("outbound", "ui-v1", Some("order.ordering.local")),
            ("inbound", "order-v1", None),
            ("outbound", "order-v1", Some("inventory.ordering.local")),
            ("inbound", "inventory-v1", None),
        ],
        "{checkout:#?}"
    );
    // Each hop is the child of the one before: its parent span is that hop's span, it
    // starts no earlier, and it sits one level deeper.
    for w in checkout.hops.windows(2) {
        assert_eq!(w[1].parent.as_deref(), Some(w[0].span.as_str()));
        assert_eq!(w[1].depth, w[0].depth + 1);
        assert!(w[1].start_us >= w[0].start_us);
    }
    assert_eq!(
        checkout.hops[0].parent.as_deref(),
        Some(format!("{:016x}", checkout.seq).as_str())
    );
    // The inbound hops name the attempt that reached them.
    assert!(
        checkout
            .hops
            .iter()
            .filter(|h| h.direction == "inbound" && h.depth > 1)
            .all(|h| h.via_attempt == Some(1))
    );
    // In traces.json the request is one process whose threads follow the same chain, each
    // joined to its caller by a flow arrow.
    let json = trace::traces_json(&TraceHeader::default(), std::slice::from_ref(checkout));
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let events = v["traceEvents"].as_array().expect("traceEvents");
    let threads: Vec<&str> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    assert_eq!(threads[0], "users");
    assert!(threads[1].starts_with("ingress inbound"), "{threads:?}");
    assert!(threads[4].contains("→ order.ordering.local"), "{threads:?}");
    assert!(
        threads[6].contains("→ inventory.ordering.local"),
        "{threads:?}"
    );
    let starts = events.iter().filter(|e| e["ph"] == "s").count();
    let ends = events.iter().filter(|e| e["ph"] == "f").count();
    assert_eq!((starts, ends), (checkout.hops.len(), checkout.hops.len()));
}

#[test]
fn a_retry_shows_two_attempts_with_the_first_ones_failure() {
    let (_, records) = sampled();
    let retried: Vec<&HopRecord> = records
        .iter()
        .flat_map(|r| outbound_to(r, "back.tr.local"))
        .filter(|h| h.attempts.len() >= 2)
        .collect();
    assert!(!retried.is_empty(), "no retried request");
    // An injected 503 retried: attempt 1 failed with the fault filter's flag, the exchange
    // decided to retry on server-error, and attempt 2 went out after the back-off.
    let after_abort = retried
        .iter()
        .find(|h| h.attempts[0].outcome == "503 FI")
        .expect("a retry after an injected abort");
    let (a1, a2) = (&after_abort.attempts[0], &after_abort.attempts[1]);
    assert!(a1.failed, "{a1:?}");
    let then = a1.then.as_deref().unwrap_or_default();
    assert!(
        then.starts_with("retry on server-error: attempt 2"),
        "{then}"
    );
    assert_eq!((a1.number, a2.number), (1, 2));
    assert!(a2.start_us > a1.end_us, "a back-off between attempts");
    assert_eq!(
        after_abort.attempts_made as usize,
        after_abort.attempts.len()
    );
    assert!(after_abort.events.iter().any(|e| e.kind == "retry"));
    // Every attempt of every exchange is recorded, and only the last one has no retry.
    for h in &retried {
        for a in &h.attempts[..h.attempts.len() - 1] {
            assert!(a.failed && a.then.as_deref().is_some_and(|t| t.starts_with("retry")));
        }
    }
}

#[test]
fn timeouts_and_injected_faults_are_events_of_the_hops_they_hit() {
    let (_, records) = sampled();
    let events = |kind: &str, direction: &str| -> usize {
        records
            .iter()
            .flat_map(|r| &r.hops)
            .filter(|h| h.direction == direction)
            .flat_map(|h| &h.events)
            .filter(|e| e.kind == kind)
            .count()
    };
    assert!(events("per_try_timeout", "outbound") > 0);
    assert!(events("fault_delay", "inbound") > 0);
    assert!(events("fault_abort", "inbound") > 0);
    // The delayed request's caller timed out after 150 ms, and the delay shows at back-v2.
    let timed_out = records
        .iter()
        .find_map(|r| {
            let caller = outbound_to(r, "back.tr.local")
                .into_iter()
                .find(|h| h.attempts[0].outcome == "per-try timeout (UT)")?;
            Some((r, caller))
        })
        .expect("a per-try timeout");
    let (r, caller) = timed_out;
    let a = &caller.attempts[0];
    assert_eq!(a.end_us - a.start_us, 150_000);
    assert_eq!(a.timeout.as_deref(), Some("perRetryTimeout"));
    let callee = child_of(r, caller)
        .into_iter()
        .find(|h| h.via_attempt == Some(1))
        .expect("the delayed hop");
    assert!(
        callee
            .events
            .iter()
            .any(|e| e.kind == "fault_delay" && e.detail.contains("400ms (DI)")),
        "{callee:?}"
    );
    // The same events are instant events in traces.json.
    let json = trace::traces_json(&TraceHeader::default(), std::slice::from_ref(r));
    assert!(json.contains(r#""name":"per_try_timeout""#));
    assert!(json.contains(r#""name":"fault_delay""#));
}

#[test]
fn the_route_skipped_and_the_weighted_draw_are_explained() {
    let (_, records) = sampled();
    let hops: Vec<&HopRecord> = records
        .iter()
        .flat_map(|r| outbound_to(r, "back.tr.local"))
        .collect();
    let mut chosen = BTreeMap::new();
    for h in &hops {
        let route = h.route_choice.as_ref().expect("a route decision");
        assert_eq!(route.matched.as_deref(), Some("back"));
        assert_eq!(route.router.as_deref(), Some("back-router"));
        assert_eq!(route.skipped.len(), 1);
        assert_eq!(route.skipped[0].route, "canary");
        assert!(route.skipped[0].why.contains("x-canary"), "{route:?}");
        let t = h.target.as_ref().expect("a target decision");
        assert_eq!(t.total, Some(100));
        let roll = t.roll.expect("a roll");
        // The roll picks the target whose weight range holds it.
        let want = if roll < 50 { "back-v1" } else { "back-v2" };
        assert_eq!(t.chosen, want);
        assert_eq!(h.upstream_node.as_deref(), Some(want));
        *chosen.entry(want).or_insert(0) += 1;
    }
    // A fair draw: both halves get about half.
    let n = hops.len() as f64;
    let v1 = f64::from(chosen.get("back-v1").copied().unwrap_or(0));
    assert!((v1 - n / 2.0).abs() < 4.0 * (n / 4.0).sqrt(), "{chosen:?}");
    // The gateway's route is there too.
    let front = records
        .iter()
        .flat_map(|r| outbound_to(r, "front.tr.local"))
        .next()
        .expect("a gateway hop");
    assert!(
        front
            .events
            .iter()
            .any(|e| e.kind == "gateway_route" && e.detail.contains("gateway route `front`"))
    );
}

#[test]
fn outlier_detection_ejections_show_on_the_hop_that_tipped_them() {
    let (r, records) = sampled();
    let ejections: Vec<String> = records
        .iter()
        .flat_map(|r| &r.hops)
        .flat_map(|h| &h.events)
        .filter(|e| e.kind == "outlier_ejection")
        .map(|e| e.detail.clone())
        .collect();
    assert!(!ejections.is_empty(), "no ejection recorded");
    assert!(
        ejections.iter().all(|e| e.starts_with("back-v1-")),
        "{ejections:?}"
    );
    // Every request is sampled here, so the trace saw every ejection the counters saw.
    let counted = r
        .recorder
        .counter("front-v1", meshsim::metrics::Counter::Ejections);
    let ejected = ejections
        .iter()
        .filter(|e| e.contains(" ejected at "))
        .count();
    assert_eq!(ejected as u64, counted);
}

#[test]
fn the_sampled_share_is_within_its_binomial_bound_and_only_sampled_requests_are_recorded() {
    let path = scenario_file("share", "report: { trace_sample: 0.2 }\n");
    let r = run_file(
        &path,
        &RunOptions {
            keep_access_log: true,
            ..RunOptions::default()
        },
    );
    let n = r.ledger.issued as f64;
    let k = r.traces.users.len() as f64;
    let sd = (n * 0.2 * 0.8).sqrt();
    assert!((k - 0.2 * n).abs() < 4.0 * sd, "{k} of {n} sampled");
    let roots: BTreeSet<&str> = r.traces.users.iter().map(|u| u.root.as_str()).collect();
    assert!(
        r.traces
            .hops
            .iter()
            .all(|h| h.trace_root.as_deref().is_some_and(|t| roots.contains(t)))
    );
    // Every line of a sampled request carries its detail, and no other line does.
    for l in r.access_log.iter().filter(|l| !l.health_check) {
        let traced = l.trace_root.as_deref().is_some_and(|t| roots.contains(t));
        assert_eq!(l.detail.is_some(), traced, "{l:?}");
    }
}

#[test]
fn traces_json_is_trace_event_json_and_the_same_seed_gives_the_same_bytes() {
    let path = scenario_file("twice", "report: { trace_sample: 0.3 }\n");
    let write = || {
        let r = run_file(&path, &RunOptions::default());
        let records = trace::records(&r.traces);
        let header = TraceHeader {
            scenario: "traces".into(),
            seed: r.seed,
            rate: r.traces.rate,
            only: None,
        };
        (
            trace::traces_json(&header, &records),
            trace::requests_jsonl(&records),
        )
    };
    let (a, a_requests) = write();
    let (b, b_requests) = write();
    assert!(a == b, "traces.json differs between two runs of one seed");
    assert!(a_requests == b_requests);
    let v: serde_json::Value = serde_json::from_str(&a).expect("traces.json is JSON");
    assert_eq!(v["displayTimeUnit"], "ms");
    let events = v["traceEvents"].as_array().expect("traceEvents");
    assert!(events.len() > 100);
    let mut phases = BTreeSet::new();
    for e in events {
        let ph = e["ph"].as_str().expect("ph");
        phases.insert(ph.to_string());
        assert!(e["name"].is_string(), "{e}");
        assert!(
            e["ts"].is_u64() && e["pid"].is_u64() && e["tid"].is_u64(),
            "{e}"
        );
        match ph {
            "X" => assert!(e["dur"].is_u64(), "{e}"),
            "i" => assert_eq!(e["s"], "t"),
            "s" | "f" => assert!(e["id"].is_u64(), "{e}"),
            "M" => assert!(e["args"].is_object(), "{e}"),
            other => panic!("unexpected phase {other}"),
        }
    }
    assert_eq!(
        phases,
        ["M", "X", "f", "i", "s"].map(String::from).into(),
        "every kind of event shows up"
    );
    // requests.jsonl reads back to the same records.
    let parsed = trace::parse_requests(&a_requests).expect("every line is a record");
    assert_eq!(trace::requests_jsonl(&parsed), a_requests);
}

#[test]
fn access_logs_are_envoys_default_format_one_file_per_sidecar() {
    let path = scenario_file("logs", "report: { trace_sample: 0.1 }\n");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("traces/logs/out");
    let _ = std::fs::remove_dir_all(&out);
    let writer = Arc::new(Mutex::new(AccessLogWriter::create(&out).expect("log dir")));
    let options = RunOptions {
        keep_access_log: true,
        access_log: Some(AccessLogTap {
            mode: AccessLogMode::Full,
            sink: writer.clone(),
        }),
        ..RunOptions::default()
    };
    let r = run_file(&path, &options);
    let files = writer.lock().expect("the writer").commit().expect("commit");
    let names: BTreeSet<String> = files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert_eq!(
        names,
        [
            "back-v1-1.log",
            "back-v1-2.log",
            "back-v2-1.log",
            "edge.log",
            "front-v1-1.log"
        ]
        .map(String::from)
        .into()
    );
    let envoy = regex::Regex::new(
        r#"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "(\S+) (\S+) (\S+)" (\d{1,3}) (\S+) (\d+) (\d+) (\d+) (\d+|-) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)"$"#,
    )
    .expect("regex");
    let mut lines = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("log file");
        for line in text.lines() {
            let c = envoy
                .captures(line)
                .unwrap_or_else(|| panic!("not Envoy's format: {line}"));
            assert_eq!(&c[10], "-", "no client addresses in a simulation");
            lines += 1;
        }
    }
    // Full logs: every line the proxies wrote, in Envoy's words.
    assert_eq!(lines, r.access_log.len());
    // front-v1's sidecar logs its inbound requests and its calls to back, sampled or not:
    // each call names the host its last attempt went to, and a call answered by back the
    // time that attempt took.
    let front = std::fs::read_to_string(out.join(LOG_DIR).join("front-v1-1.log")).expect("log");
    let calls: Vec<regex::Captures> = front
        .lines()
        .filter_map(|l| envoy.captures(l))
        .filter(|c| &c[13] == "back.tr.local:8080")
        .collect();
    assert!(calls.len() > 100);
    for c in &calls {
        assert!(
            c[14].starts_with("back-v") && c[14].ends_with(":8080"),
            "{}",
            &c[0]
        );
        if &c[4] == "200" {
            let took: u64 = c[9].parse().expect("an upstream service time");
            let duration: u64 = c[8].parse().expect("a duration");
            assert!(took <= duration, "{}", &c[0]);
        }
    }
    let aborted = r
        .access_log
        .iter()
        .find(|l| l.direction == Direction::Inbound && l.task == "back-v1-1" && l.status == 503)
        .expect("an abort at back-v1-1");
    let line = format_line(aborted);
    let text = std::fs::read_to_string(out.join(LOG_DIR).join("back-v1-1.log")).expect("log");
    assert!(text.contains(&line));
    assert!(
        line.contains(r#""GET /work HTTP/1.1" 503 FI 0 0 "#),
        "{line}"
    );
    // The same request's id is the one its trace carries.
    let id = trace::request_id(aborted.trace_root.as_deref().expect("traced")).expect("id");
    assert!(line.contains(&format!("\"{id}\"")), "{line}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_trace_sample_outside_zero_to_one_is_an_error_at_its_line() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("traces/bad");
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("mesh.cfn.yaml"), MESH).expect("write mesh");
    let text = scenario_text("report:\n  trace_sample: 1.5\n");
    let line = text
        .lines()
        .position(|l| l.contains("trace_sample"))
        .expect("the line")
        + 1;
    let loaded = scenario::load_text("bad.yaml", &text, &dir);
    assert!(loaded.runnable().is_none());
    let d = loaded
        .diagnostics
        .iter()
        .find(|d| d.path == "report.trace_sample")
        .expect("a diagnostic at report.trace_sample");
    assert_eq!(d.position(&loaded.sources), format!("bad.yaml:{line}:17"));
    assert!(d.message.contains("0 to 1"), "{}", d.message);
    let fine = scenario::load_text("ok.yaml", &scenario_text(""), &dir);
    let (s, _) = fine.runnable().expect("no report section is fine");
    assert_eq!(s.report.trace_sample, 0.01);
}

fn meshsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn explain_prints_route_draw_and_attempts_and_exits_2_on_an_unknown_id() {
    let path = scenario_file("cli", "report: { trace_sample: 0.3 }\n");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("traces/cli/out");
    let _ = std::fs::remove_dir_all(&out);
    let o = meshsim(&[
        "run",
        path.to_str().expect("utf-8"),
        "--quiet",
        "--report",
        "default,traces",
        "--access-log",
        "full",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let records =
        trace::parse_requests(&std::fs::read_to_string(out.join("requests.jsonl")).expect("jsonl"))
            .expect("every line is a record");
    let dir = out.to_str().expect("utf-8");
    // A request retried after an injected abort, explained by its trace id.
    let retried = records
        .iter()
        .find(|r| {
            outbound_to(r, "back.tr.local")
                .iter()
                .any(|h| h.attempts.first().is_some_and(|a| a.outcome == "503 FI"))
        })
        .expect("a retried request among the sampled ones");
    let o = meshsim(&["explain", dir, "--request", &retried.trace_id]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for want in [
        retried.trace_id.as_str(),
        "route:   route `back` of `back-router` matched; skipped `canary`",
        "target:  drew ",
        "`back-v1` 50 [0, 50), `back-v2` 50 [50, 100)",
        "attempt 1 -> back-v1-",
        ": 503 FI",
        "then: retry on server-error: attempt 2",
        "attempt 2 -> ",
        "fault_abort: fault filter: abort HTTP 503 (FI)",
        "gateway: gateway route `front`",
    ] {
        assert!(text.contains(want), "no `{want}` in:\n{text}");
    }
    // The request id (as the access logs show it) names the same request.
    let by_id = meshsim(&["explain", dir, "--request", &retried.request_id]);
    assert_eq!(by_id.status.code(), Some(0));
    assert_eq!(by_id.stdout, o.stdout);
    // Unknown: not an id, an id beyond the run, a directory that is not there.
    for (id, dir, says) in [
        ("nonsense", dir, "neither a trace id"),
        ("1-00000000-00000005000000000000ffff", dir, "no request"),
        (
            retried.trace_id.as_str(),
            "/nonexistent/meshsim",
            "no report directory",
        ),
    ] {
        let o = meshsim(&["explain", dir, "--request", id]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{id}: {err}");
        assert!(err.contains(says), "{id}: {err}");
    }
    // A request that was not sampled: found in the full access log, explained by a rerun
    // that samples only it.
    let sampled: BTreeSet<&str> = records.iter().map(|r| r.request_id.as_str()).collect();
    let edge = std::fs::read_to_string(out.join(LOG_DIR).join("edge.log")).expect("edge log");
    let unsampled = edge
        .lines()
        .filter_map(|l| l.split('"').nth(7))
        .find(|id| id.len() == 36 && !sampled.contains(id))
        .expect("an unsampled request")
        .to_string();
    let o = meshsim(&["explain", dir, "--request", &unsampled]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("was not sampled") && err.contains("--rerun"),
        "{err}"
    );
    let o = meshsim(&["explain", dir, "--request", &unsampled, "--rerun"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains(&unsampled), "{text}");
    assert!(text.contains("route:   route `back`"), "{text}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn the_default_report_writes_no_traces_and_sampled_logs_hold_only_sampled_requests() {
    let path = scenario_file("default", "report: { trace_sample: 0.1 }\n");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("traces/default/out");
    let _ = std::fs::remove_dir_all(&out);
    let o = meshsim(&[
        "run",
        path.to_str().expect("utf-8"),
        "--quiet",
        "--access-log",
        "sampled",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.join("traces.json").exists() && !out.join("requests.jsonl").exists());
    let logs: Vec<PathBuf> = std::fs::read_dir(out.join(LOG_DIR))
        .expect("access-logs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert!(!logs.is_empty());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("json"))
            .expect("report.json");
    let issued = report["requests"]["issued"].as_u64().expect("issued");
    let mut ids = BTreeSet::new();
    for p in &logs {
        for line in std::fs::read_to_string(p).expect("log").lines() {
            ids.insert(line.split('"').nth(7).expect("request id").to_string());
        }
    }
    // About a tenth of the requests, each with every one of its lines.
    let share = ids.len() as f64 / issued as f64;
    assert!((0.05..0.15).contains(&share), "{} of {issued}", ids.len());
    let _ = std::fs::remove_dir_all(&out);
}
