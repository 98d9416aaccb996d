//! `metrics.prom`: the run's final counters and histograms in Prometheus' text exposition
//! format, under the names Envoy's `/stats/prometheus` gives them, so the queries of
//! existing App Mesh dashboards (and Flagger's) read the same way against a rehearsal.
//! Those names keep Envoy's spelling: a counter ends in `_total` only where Envoy's stat
//! does (`upstream_rq_total`), not by the OpenMetrics convention, which Envoy's exposition
//! does not follow either.
//!
//! Labels follow App Mesh's Envoy: `appmesh_virtual_node` is the proxy's node,
//! `envoy_cluster_name` an upstream cluster (`cds_egress_<virtual node>`; the real one
//! also names the mesh, protocol and port), `envoy_http_conn_manager_prefix="ingress"` the
//! inbound listener. Counters the sidecars keep per node rather than per cluster (retries,
//! timeouts, ejections, overflows) carry only the node label: summed over its clusters.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::metrics::{Counter, Latencies};
use crate::sim::RunResult;

/// Envoy's default histogram buckets, in milliseconds (`stats_config.histogram_bucket_settings`
/// unset).
const BUCKETS_MS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// The exposition text.
///
/// Like Envoy, every proxy exports its counters from the start, zeros included, so a
/// dashboard's `rate()` reads 0 rather than "no data": every sidecar and gateway gets a sample
/// of each per-node counter, every cluster one per status class 1 to 5, every inbound
/// listener one per class it tallies. A family with no subject at all (no cluster in a run
/// without requests) is left out whole rather than declared empty.
pub fn exposition(run: &RunResult) -> String {
    let mut out = String::new();
    let recorder = &run.recorder;
    let upstreams = recorder.upstreams();

    let mut body = String::new();
    for ((node, up), s) in upstreams {
        sample(
            &mut body,
            "envoy_cluster_upstream_rq_total",
            &cluster(node, up),
            s.attempts,
        );
    }
    family(
        &mut out,
        "envoy_cluster_upstream_rq_total",
        "counter",
        "Attempts the proxy sent to the upstream cluster (first tries and retries).",
        &body,
    );
    let mut body = String::new();
    for ((node, up), s) in upstreams {
        for class in 1..=5 {
            let labels = format!(
                "{},envoy_response_code_class=\"{class}\"",
                cluster(node, up)
            );
            sample(
                &mut body,
                "envoy_cluster_upstream_rq_xx",
                &labels,
                s.by_class[class],
            );
        }
    }
    family(
        &mut out,
        "envoy_cluster_upstream_rq_xx",
        "counter",
        "Requests by the class of the status they ended with (after retries); no response \
         counts in no class. Envoy creates a class's counter on its first response; here each \
         starts at 0.",
        &body,
    );
    let mut body = String::new();
    for ((node, up), s) in upstreams {
        histogram(
            &mut body,
            "envoy_cluster_upstream_rq_time",
            &cluster(node, up),
            &s.latency,
        );
    }
    family(
        &mut out,
        "envoy_cluster_upstream_rq_time",
        "histogram",
        "Request time in milliseconds, retries included.",
        &body,
    );

    let proxies = proxies(run);
    for (name, counter, help) in [
        (
            "envoy_cluster_upstream_rq_retry",
            Counter::Retries,
            "Retries, summed over the node's clusters.",
        ),
        (
            "envoy_cluster_upstream_rq_timeout",
            Counter::Timeouts,
            "Per-try and route timeouts, summed over the node's clusters.",
        ),
        (
            "envoy_cluster_outlier_detection_ejections_enforced_total",
            Counter::Ejections,
            "Outlier ejections enforced, summed over the node's clusters.",
        ),
        (
            "envoy_cluster_upstream_rq_pending_overflow",
            Counter::Overflows,
            "Requests refused by a circuit breaker (503 UO), summed over the node's clusters.",
        ),
        (
            "envoy_cluster_upstream_rq_rx_reset",
            Counter::Resets,
            "Attempts that ended in a reset or connect failure, summed over the node's clusters.",
        ),
        (
            "envoy_http_local_rate_limit_rate_limited",
            Counter::RateLimited,
            "Requests the local rate limit refused (429).",
        ),
        (
            "envoy_http_fault_total",
            Counter::Faults,
            "Requests the fault filter delayed or aborted.",
        ),
        (
            "envoy_http_no_route",
            Counter::NoRoute,
            "Requests that matched no route (404 NR).",
        ),
    ] {
        let mut counts: BTreeMap<&str, u64> = proxies.iter().map(|p| (*p, 0)).collect();
        for (node, _, n) in recorder.counters().filter(|(_, c, _)| *c == counter) {
            *counts.entry(node).or_default() += n;
        }
        let mut body = String::new();
        for (node, n) in counts {
            sample(
                &mut body,
                name,
                &format!("appmesh_virtual_node=\"{}\"", esc(node)),
                n,
            );
        }
        family(&mut out, name, "counter", help, &body);
    }

    // The inbound listener of each node: Envoy's HTTP connection manager, prefix `ingress`.
    // A task's node that served nothing still has its listener, at zero.
    let mut inbound: BTreeMap<&str, ([u64; 4], Latencies)> = run
        .tasks
        .iter()
        .map(|t| (t.node.as_str(), ([0; 4], Latencies::new())))
        .collect();
    for (key, lat) in recorder.totals() {
        if key.route != "inbound" || key.node == "client" {
            continue;
        }
        let e = inbound
            .entry(key.node.as_str())
            .or_insert_with(|| ([0; 4], Latencies::new()));
        e.0[key.outcome.index()] += lat.count();
        e.1.merge(lat);
    }
    let mut body = String::new();
    for (node, (_, lat)) in &inbound {
        sample(
            &mut body,
            "envoy_http_downstream_rq_total",
            &ingress(node),
            lat.count(),
        );
    }
    family(
        &mut out,
        "envoy_http_downstream_rq_total",
        "counter",
        "Requests the inbound listener received.",
        &body,
    );
    let mut body = String::new();
    for (node, (classes, _)) in &inbound {
        for (class, n) in [("2", classes[0]), ("4", classes[1]), ("5", classes[2])] {
            let labels = format!("{},envoy_response_code_class=\"{class}\"", ingress(node));
            sample(&mut body, "envoy_http_downstream_rq_xx", &labels, n);
        }
    }
    family(
        &mut out,
        "envoy_http_downstream_rq_xx",
        "counter",
        "Inbound requests by status class (2 includes 3xx); requests that got no response \
         count in no class.",
        &body,
    );
    let mut body = String::new();
    for (node, (_, lat)) in &inbound {
        histogram(
            &mut body,
            "envoy_http_downstream_rq_time",
            &ingress(node),
            lat,
        );
    }
    family(
        &mut out,
        "envoy_http_downstream_rq_time",
        "histogram",
        "Inbound request time in milliseconds.",
        &body,
    );

    // The users' own view, which Envoy does not have: the load generator's.
    let ledger = &run.ledger;
    let mut body = String::new();
    sample(
        &mut body,
        "meshsim_user_requests_total",
        "outcome=\"succeeded\"",
        ledger.succeeded,
    );
    for (reason, n) in &ledger.failed_by_reason {
        let labels = format!("outcome=\"failed\",reason=\"{}\"", esc(reason));
        sample(&mut body, "meshsim_user_requests_total", &labels, *n);
    }
    family(
        &mut out,
        "meshsim_user_requests_total",
        "counter",
        "User requests by how they ended.",
        &body,
    );
    let mut body = String::new();
    histogram(
        &mut body,
        "meshsim_user_request_time",
        "",
        &ledger.latencies,
    );
    family(
        &mut out,
        "meshsim_user_request_time",
        "histogram",
        "User request time in milliseconds, from the intended send time.",
        &body,
    );
    out
}

/// Every node that ran a proxy: the tasks' virtual nodes, and the gateways and nodes that
/// counted, sent or served anything.
fn proxies(run: &RunResult) -> BTreeSet<&str> {
    let recorder = &run.recorder;
    run.tasks
        .iter()
        .map(|t| t.node.as_str())
        .chain(recorder.counters().map(|(node, _, _)| node))
        .chain(recorder.upstreams().keys().map(|(node, _)| node.as_str()))
        .chain(
            recorder
                .totals()
                .keys()
                .filter(|k| k.route == "inbound")
                .map(|k| k.node.as_str()),
        )
        .filter(|n| *n != "client")
        .collect()
}

/// A family's `# HELP` and `# TYPE` lines and its samples; nothing when it has none.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &str) {
    if samples.is_empty() {
        return;
    }
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    out.push_str(samples);
}

/// One sample line; a sample without labels has no braces.
fn sample(out: &mut String, name: &str, labels: &str, value: u64) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

fn cluster(node: &str, upstream: &str) -> String {
    format!(
        "appmesh_virtual_node=\"{}\",envoy_cluster_name=\"cds_egress_{}\"",
        esc(node),
        esc(upstream)
    )
}

fn ingress(node: &str) -> String {
    format!(
        "appmesh_virtual_node=\"{}\",envoy_http_conn_manager_prefix=\"ingress\"",
        esc(node)
    )
}

/// Cumulative buckets, `_sum` and `_count` of a histogram recorded in microseconds.
fn histogram(out: &mut String, name: &str, labels: &str, lat: &Latencies) {
    let hist = lat.histogram();
    let sep = if labels.is_empty() { "" } else { "," };
    for le in BUCKETS_MS {
        let micros = (le * 1000.0) as u64;
        let n = if hist.is_empty() {
            0
        } else {
            hist.count_between(0, micros)
        };
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
        hist.len()
    );
    let sum_ms = if hist.is_empty() {
        0.0
    } else {
        hist.mean() * hist.len() as f64 / 1000.0
    };
    let braced = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braced} {sum_ms:.3}");
    let _ = writeln!(out, "{name}_count{braced} {}", hist.len());
}

/// A label value escaped as the exposition format asks (backslash, quote, newline).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn histograms_are_cumulative_and_end_at_the_count() {
        let mut lat = Latencies::new();
        for ms in [0.3, 2.0, 7.0, 7.0, 40.0, 2000.0] {
            lat.record(Duration::from_secs_f64(ms / 1000.0));
        }
        let mut out = String::new();
        histogram(&mut out, "x", "a=\"b\"", &lat);
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.5\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"5\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"10\"} 4\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"1000\"} 5\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 6\n"), "{out}");
        assert!(out.contains("x_count{a=\"b\"} 6\n"), "{out}");
        let sum: f64 = out
            .lines()
            .find_map(|l| l.strip_prefix("x_sum{a=\"b\"} "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1.0);
        assert!((sum - 2056.3).abs() < 3.0, "{sum}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
