//! The files `meshsim run --report all` writes, read back the way their users' tools read
//! them: report.json against docs/report.schema.json, `.hlog` with the hdrhistogram crate's
//! own interval-log reader, `.hgrm` against those histograms, the Prometheus exposition
//! and the CloudWatch-style CSV against report.json's numbers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde_json::Value;

fn meshsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "meshsim-report-files-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs a scenario with every output; returns the output directory.
fn run_all(scenario: &Path, name: &str, duration: &str) -> PathBuf {
    let out = scratch(name);
    let o = meshsim(&[
        "run",
        scenario.to_str().expect("utf-8 path"),
        "--duration",
        duration,
        "--report",
        "all",
        "-q",
        "--out",
        out.to_str().expect("utf-8 temp dir"),
    ]);
    // Exit 1 (an expectation failed on a shortened run) still writes every file.
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// baseline.yaml for 20 simulated seconds.
fn baseline() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| run_all(Path::new("scenarios/baseline.yaml"), "baseline", "20s"))
}

/// canary-bad-errors.yaml for 90 simulated seconds: Inventory runs two versions
/// (`inventory-v1`, and the candidate `inventory-v2` taking 10 % from 60 s on).
fn canary() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        run_all(
            Path::new("scenarios/canary-bad-errors.yaml"),
            "canary",
            "90s",
        )
    })
}

fn report(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("report.json is JSON")
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string("docs/report.schema.json").expect("schema");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

fn schema_errors(validator: &jsonschema::Validator, report: &Value) -> Vec<String> {
    validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn every_output_is_written_and_no_temporary_is_left() {
    let mut names: Vec<String> = std::fs::read_dir(baseline())
        .expect("out dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for want in [
        "report.json",
        "summary.md",
        "users.hgrm",
        "ui-v1.hgrm",
        "users.hlog",
        "inventory.hlog",
        "ingress.hlog",
        "metrics.prom",
        "metrics.csv",
    ] {
        assert!(names.iter().any(|n| n == want), "no {want} in {names:?}");
    }
    assert!(
        names.iter().all(|n| !n.ends_with(".partial")),
        "a temporary was left: {names:?}"
    );
}

#[test]
fn report_json_follows_its_schema() {
    let validator = schema();
    for dir in [baseline(), canary()] {
        let r = report(dir);
        let errors = schema_errors(&validator, &r);
        assert!(errors.is_empty(), "{}: {errors:#?}", dir.display());
    }
}

#[test]
fn reports_with_faults_and_a_rollout_follow_the_schema() {
    let r = report(canary());
    assert!(
        r.get("rollout").is_some(),
        "the canary report has no `rollout`"
    );
    assert!(schema_errors(&schema(), &r).is_empty());
    let validator = schema();
    let r = report(&run_all(
        Path::new("scenarios/partition.yaml"),
        "partition",
        "90s",
    ));
    let errors = schema_errors(&validator, &r);
    assert!(errors.is_empty(), "partition.yaml: {errors:#?}");
    assert!(r.get("faults").is_some() && r.get("fault_events").is_some());
}

#[test]
fn the_schema_refuses_what_it_does_not_document() {
    let validator = schema();
    let good = report(baseline());
    let mut missing = good.clone();
    missing["requests"]
        .as_object_mut()
        .expect("requests")
        .remove("issued");
    assert!(!schema_errors(&validator, &missing).is_empty());
    let mut extra = good.clone();
    extra
        .as_object_mut()
        .expect("object")
        .insert("undocumented".into(), Value::Bool(true));
    assert!(!schema_errors(&validator, &extra).is_empty());
    let mut wrong = good;
    wrong["services"]["ui-v1"]["latency_ms"]["p99"] = Value::String("fast".into());
    assert!(!schema_errors(&validator, &wrong).is_empty());
}

/// Every histogram of an interval log, by tag (`""` for untagged), with their start times.
fn read_hlog(path: &Path) -> BTreeMap<String, Vec<(f64, Histogram<u64>)>> {
    let bytes = std::fs::read(path).expect("hlog");
    let mut deserializer = Deserializer::new();
    let mut out: BTreeMap<String, Vec<(f64, Histogram<u64>)>> = BTreeMap::new();
    for entry in IntervalLogIterator::new(&bytes) {
        match entry.expect("the crate's reader parses every line") {
            LogEntry::Interval(h) => {
                let decoded = base64_decode(h.encoded_histogram());
                let hist: Histogram<u64> = deserializer
                    .deserialize(&mut decoded.as_slice())
                    .expect("a V2 histogram");
                let tag = h.tag().map(|t| t.as_str().to_string()).unwrap_or_default();
                out.entry(tag)
                    .or_default()
                    .push((h.start_timestamp().as_secs_f64(), hist));
            }
            LogEntry::StartTime(t) | LogEntry::BaseTime(t) => assert_eq!(t.as_secs(), 0),
        }
    }
    out
}

/// Standard base64, as the interval log writes it (kept here so the test depends only on
/// the hdrhistogram crate's own reading of the rest).
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET
            .iter()
            .position(|a| *a == c)
            .expect("base64 alphabet") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}

/// (value ms, percentile, total count) rows and the footer's total count of a `.hgrm`.
fn read_hgrm(path: &Path) -> (Vec<(f64, f64, u64)>, u64) {
    let text = std::fs::read_to_string(path).expect("hgrm");
    let rows: Vec<(f64, f64, u64)> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.contains("Value"))
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            (
                c[0].parse().expect("value"),
                c[1].parse().expect("percentile"),
                c[2].parse().expect("count"),
            )
        })
        .collect();
    let total = text
        .lines()
        .find_map(|l| l.split("Total count    =").nth(1))
        .and_then(|v| v.trim().trim_end_matches(']').trim().parse().ok())
        .expect("a Total count footer");
    (rows, total)
}

fn merged(hists: &[(f64, Histogram<u64>)]) -> Histogram<u64> {
    let mut all = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 2).expect("bounds");
    for (_, h) in hists {
        all.add(h).expect("same bounds");
    }
    all
}

#[test]
fn hlog_and_hgrm_agree_with_each_other_and_with_report_json() {
    let dir = baseline();
    let r = report(dir);
    for (stem, requests) in [
        ("users", r["requests"]["issued"].as_u64()),
        ("ui", r["services"]["ui-v1"]["requests"].as_u64()),
        ("order", r["services"]["order-v1"]["requests"].as_u64()),
        (
            "inventory",
            r["services"]["inventory-v1"]["requests"].as_u64(),
        ),
    ] {
        let requests = requests.expect("a request count");
        let log = read_hlog(&dir.join(format!("{stem}.hlog")));
        let untagged = log.get("").expect("untagged intervals");
        assert!(untagged.len() >= 2, "{stem}: {} intervals", untagged.len());
        assert!(
            untagged.windows(2).all(|w| w[0].0 < w[1].0),
            "{stem}: intervals out of order"
        );
        let all = merged(untagged);
        assert_eq!(all.len(), requests, "{stem}: hlog total vs report.json");

        // Each of baseline's services has one version: its node's `.hgrm` is the service's.
        let node = match stem {
            "users" => "users".to_string(),
            s => format!("{s}-v1"),
        };
        let (rows, total) = read_hgrm(&dir.join(format!("{node}.hgrm")));
        assert_eq!(total, requests, "{stem}: hgrm total vs report.json");
        assert_eq!(rows.last().map(|r| r.2), Some(requests));
        // The hgrm is written from three-digit totals, the hlog's windows keep two: each
        // percentile the hgrm lists comes back from the hlog within the coarser precision.
        for (value_ms, q, _) in &rows {
            let back = all.value_at_quantile(*q) as f64 / 1000.0;
            assert!(
                (back - value_ms).abs() <= value_ms * 0.02 + 0.002,
                "{stem}: p{q}: hgrm {value_ms} ms, hlog {back} ms"
            );
        }
        let p50 = r
            .pointer(
                if stem == "users" {
                    "/requests/latency_ms/p50".to_string()
                } else {
                    format!("/services/{node}/latency_ms/p50")
                }
                .as_str(),
            )
            .and_then(Value::as_f64)
            .expect("p50");
        let hgrm_p50 = rows
            .iter()
            .find(|(_, q, _)| *q >= 0.5)
            .map(|r| r.0)
            .expect("a row past the median");
        assert!(
            (hgrm_p50 - p50).abs() <= p50 * 0.002,
            "{stem}: hgrm median {hgrm_p50} vs report.json {p50}"
        );
    }
}

#[test]
fn a_service_with_two_versions_gets_tagged_intervals_and_a_merged_hgrm() {
    let dir = canary();
    let r = report(dir);
    let log = read_hlog(&dir.join("inventory.hlog"));
    let keys: Vec<&str> = log.keys().map(String::as_str).collect();
    assert_eq!(keys, ["", "inventory-v1", "inventory-v2"]);
    let all = merged(&log[""]).len();
    let v1 = merged(&log["inventory-v1"]).len();
    let v2 = merged(&log["inventory-v2"]).len();
    assert_eq!(v1 + v2, all);
    assert_eq!(Some(v1), r["services"]["inventory-v1"]["requests"].as_u64());
    assert_eq!(Some(v2), r["services"]["inventory-v2"]["requests"].as_u64());
    // The candidate takes 10 % from the first step at 60 s: its first interval is later.
    let first = |tag: &str| log[tag].first().map(|(t, _)| *t).expect("intervals");
    assert!(
        first("inventory-v2") >= 50.0,
        "v2 from {}",
        first("inventory-v2")
    );
    assert!(first("inventory-v1") < 10.0);
    let (_, total) = read_hgrm(&dir.join("inventory.hgrm"));
    assert_eq!(total, all);
    // One-version services get no merged file: their node's is the same.
    assert!(!dir.join("order.hgrm").exists());
    assert!(dir.join("order.hlog").exists() && dir.join("ingress.hlog").exists());
}

/// An exposition read by prometheus-parse, as (family, labels sorted, value) for counters and
/// untyped `_sum`/`_count` lines, and (family, labels without `le`, buckets) for histograms;
/// with the families the `# TYPE` lines declare. prometheus-parse skips a line it cannot read
/// rather than fail, so every line must come back as a sample or a bucket.
#[allow(clippy::type_complexity)]
fn read_prom(
    text: &str,
) -> (
    Vec<(String, String, f64)>,
    Vec<(String, String, Vec<(f64, f64)>)>,
    BTreeMap<String, String>,
) {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("an exposition prometheus-parse reads");
    let mut types = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "{name} declared twice"
            );
            assert!(scrape.docs.contains_key(name), "{name} has no # HELP");
        }
    }
    let mut samples = Vec::new();
    let mut histograms = Vec::new();
    for s in scrape.samples {
        let labels = s.labels.to_string();
        match s.value {
            prometheus_parse::Value::Histogram(buckets) => histograms.push((
                s.metric,
                labels,
                buckets
                    .iter()
                    .map(|b| (b.less_than, b.count))
                    .collect::<Vec<_>>(),
            )),
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => {
                samples.push((s.metric, labels, v))
            }
            other => panic!("{}: unexpected {other:?}", s.metric),
        }
    }
    let lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    let read = samples.len() + histograms.iter().map(|h| h.2.len()).sum::<usize>();
    assert_eq!(read, lines, "prometheus-parse skipped lines");
    (samples, histograms, types)
}

/// Labels as prometheus-parse prints them: sorted by name.
fn labels(pairs: &[(&str, &str)]) -> String {
    let mut pairs = pairs.to_vec();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn prometheus_exposition_reads_back_and_matches_report_json() {
    let dir = baseline();
    let r = report(dir);
    let text = std::fs::read_to_string(dir.join("metrics.prom")).expect("metrics.prom");
    let (samples, histograms, types) = read_prom(&text);
    // Every sample belongs to a declared family, and every declared family has a sample.
    let family_of = |name: &str| {
        ["_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name)
            .to_string()
    };
    for (name, _, _) in &samples {
        assert!(types.contains_key(&family_of(name)), "{name} has no # TYPE");
    }
    for (family, kind) in &types {
        let has = if kind == "histogram" {
            histograms.iter().any(|h| &h.0 == family)
        } else {
            samples.iter().any(|s| &s.0 == family)
        };
        assert!(has, "{family} is declared but has no sample");
    }
    // Envoy's names, as its /stats/prometheus writes them: no `_total` added to counters.
    let envoy: Vec<&str> = types
        .keys()
        .map(String::as_str)
        .filter(|n| n.starts_with("envoy_"))
        .collect();
    assert_eq!(
        envoy,
        [
            "envoy_cluster_outlier_detection_ejections_enforced_total",
            "envoy_cluster_upstream_rq_pending_overflow",
            "envoy_cluster_upstream_rq_retry",
            "envoy_cluster_upstream_rq_rx_reset",
            "envoy_cluster_upstream_rq_time",
            "envoy_cluster_upstream_rq_timeout",
            "envoy_cluster_upstream_rq_total",
            "envoy_cluster_upstream_rq_xx",
            "envoy_http_downstream_rq_time",
            "envoy_http_downstream_rq_total",
            "envoy_http_downstream_rq_xx",
            "envoy_http_fault_total",
            "envoy_http_local_rate_limit_rate_limited",
            "envoy_http_no_route",
        ]
    );
    let value = |name: &str, labels: &str| {
        samples
            .iter()
            .find(|(n, l, _)| n == name && l == labels)
            .map(|s| s.2)
            .unwrap_or_else(|| panic!("no {name}{{{labels}}}"))
    };
    let order = labels(&[
        ("appmesh_virtual_node", "ui-v1"),
        ("envoy_cluster_name", "cds_egress_order-v1"),
    ]);
    assert_eq!(
        value("envoy_cluster_upstream_rq_total", &order),
        r["routes"]["ui-v1 -> order.ordering.local/order"]["attempts"]
            .as_f64()
            .expect("attempts")
    );
    // A counter nothing incremented is there, at zero, as Envoy exports it.
    let ui = labels(&[("appmesh_virtual_node", "ui-v1")]);
    assert_eq!(value("envoy_cluster_upstream_rq_retry", &ui), 0.0);
    let five = labels(&[
        ("appmesh_virtual_node", "ui-v1"),
        ("envoy_cluster_name", "cds_egress_order-v1"),
        ("envoy_response_code_class", "5"),
    ]);
    assert_eq!(value("envoy_cluster_upstream_rq_xx", &five), 0.0);
    let ingress = labels(&[
        ("appmesh_virtual_node", "inventory-v1"),
        ("envoy_http_conn_manager_prefix", "ingress"),
    ]);
    let served = r["services"]["inventory-v1"]["requests"]
        .as_f64()
        .expect("requests");
    assert_eq!(value("envoy_http_downstream_rq_total", &ingress), served);
    assert_eq!(
        value("envoy_http_downstream_rq_time_count", &ingress),
        served
    );
    let buckets = &histograms
        .iter()
        .find(|h| h.0 == "envoy_http_downstream_rq_time" && h.1 == ingress)
        .expect("inventory-v1's inbound histogram")
        .2;
    assert_eq!(buckets.len(), 20);
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
        "{buckets:?}"
    );
    assert_eq!(buckets.last().copied(), Some((f64::INFINITY, served)));
    let users: f64 = samples
        .iter()
        .filter(|(n, _, _)| n == "meshsim_user_requests_total")
        .map(|s| s.2)
        .sum();
    assert_eq!(users, r["requests"]["issued"].as_f64().expect("issued"));
    assert_eq!(
        value("meshsim_user_request_time_count", ""),
        r["requests"]["issued"].as_f64().expect("issued")
    );
}

#[test]
fn cloudwatch_rows_add_up_to_report_json_intervals() {
    let dir = baseline();
    let r = report(dir);
    let text = std::fs::read_to_string(dir.join("metrics.csv")).expect("metrics.csv");
    // Read as pandas or a spreadsheet would: RFC 4180 through the csv crate.
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("a header row")
        .iter()
        .map(String::from)
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (start, dim, requests, p99) = (
        col("period_start_s"),
        col("dimension"),
        col("requests"),
        col("p99_ms"),
    );
    let mut rows = 0;
    for record in reader.records() {
        let record = record.expect("a well-formed row");
        let cells: Vec<&str> = record.iter().collect();
        let line = cells.join(",");
        assert_eq!(cells.len(), header.len(), "{line}");
        let at: f64 = cells[start].parse().expect("start");
        let series = r["intervals"]
            .as_array()
            .expect("intervals")
            .iter()
            .find(|w| w["start_seconds"].as_f64() == Some(at))
            .map(|w| &w["series"][cells[dim]])
            .filter(|s| !s.is_null());
        match series {
            Some(series) => {
                assert_eq!(
                    cells[requests].parse::<u64>().ok(),
                    series["requests"].as_u64(),
                    "{line}"
                );
                assert_eq!(
                    cells[p99].parse::<f64>().ok(),
                    series["p99_ms"].as_f64(),
                    "{line}"
                );
            }
            // A row for counters alone (a sidecar counted, nobody's request ended).
            None => assert_eq!(cells[requests], "0", "{line}"),
        }
        rows += 1;
    }
    assert!(rows >= 10, "{rows} rows");
}

/// Reusing an output directory: the second run's files replace the first run's, and what the
/// first run wrote that the second does not (traces, metrics, access logs) is gone, so no
/// file of an older run passes for one of this run; a file meshsim did not write stays.
#[test]
fn a_rerun_into_the_same_directory_leaves_no_file_of_the_run_before() {
    let out = scratch("rerun");
    let dir = out.to_str().expect("utf-8 temp dir");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "scenarios/baseline.yaml", "--duration", "5s", "-q"];
        args.extend_from_slice(&["--out", dir]);
        args.extend_from_slice(extra);
        let o = meshsim(&args);
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let names = |d: &Path| {
        let mut n: Vec<String> = std::fs::read_dir(d)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    run(&["--report", "all", "--access-log", "full"]);
    let first = names(&out);
    assert!(first.iter().any(|n| n == "traces.json"), "{first:?}");
    assert!(!names(&out.join("access-logs")).is_empty());
    std::fs::write(out.join("my-notes.txt"), "mine").expect("write");

    run(&["--report", "json,summary"]);
    assert_eq!(
        names(&out),
        [
            ".meshsim-files",
            "access-logs",
            "my-notes.txt",
            "report.json",
            "summary.md"
        ]
    );
    assert!(names(&out.join("access-logs")).is_empty());
    let manifest = std::fs::read_to_string(out.join(".meshsim-files")).expect("manifest");
    assert_eq!(manifest, "report.json\nsummary.md\n");
    let _ = std::fs::remove_dir_all(&out);
}
