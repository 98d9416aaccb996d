//! `metrics.csv`: one row per metrics window (`metrics.interval`) and per dimension, the
//! way CloudWatch lists App Mesh's Envoy metrics per period: the users' view and each
//! virtual node's inbound listener, with the node's resilience counters of that window.
//!
//! Counters are moved out of the sidecars once a simulated second, so a counter can land
//! in the window after the request that caused it.

use std::collections::BTreeMap;

use crate::metrics::{Counter, Latencies};
use crate::sim::RunResult;

/// The header row's columns.
pub const HEADER: [&str; 19] = [
    "period_start_s",
    "period_s",
    "dimension",
    "requests",
    "succeeded",
    "client_errors",
    "server_errors",
    "no_response",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
    "attempts",
    "retries",
    "timeouts",
    "ejections",
    "overflows",
    "rate_limited",
    "breaker_trips",
];

/// The CSV text (RFC 4180, through the csv crate: a dimension named with a comma or a quote
/// is quoted). Numbers are written as Rust displays them (`10`, `2.5`), as before the crate.
pub fn rows(run: &RunResult) -> Vec<u8> {
    let recorder = &run.recorder;
    let width = recorder.interval().as_secs_f64();
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing into memory cannot fail.
    let _ = out.write_record(HEADER);
    let empty = BTreeMap::new();
    let windows: std::collections::BTreeSet<u64> = recorder
        .windows()
        .keys()
        .chain(recorder.window_counters().keys())
        .copied()
        .collect();
    for window in windows {
        let series = recorder.windows().get(&window).unwrap_or(&empty);
        let counters = recorder.window_counters().get(&window);
        let mut dims: BTreeMap<&str, ([u64; 4], Latencies)> = BTreeMap::new();
        for (key, lat) in series {
            let dim = match (key.node.as_str(), key.route.as_str()) {
                ("client", _) => "users",
                (node, "inbound") => node,
                _ => continue,
            };
            let e = dims
                .entry(dim)
                .or_insert_with(|| ([0; 4], Latencies::coarse()));
            e.0[key.outcome.index()] += lat.count();
            e.1.merge(lat);
        }
        // A node whose sidecar counted something but served nothing this window still
        // gets its row.
        if let Some(c) = counters {
            for (node, _) in c.keys() {
                dims.entry(node.as_str())
                    .or_insert_with(|| ([0; 4], Latencies::coarse()));
            }
        }
        for (dim, (classes, lat)) in dims {
            let s = lat.summary();
            let count = |counter: Counter| {
                counters
                    .and_then(|c| c.get(&(dim.to_string(), counter)))
                    .copied()
                    .unwrap_or(0)
            };
            let _ = out.write_record([
                (window as f64 * width).to_string(),
                width.to_string(),
                dim.to_string(),
                lat.count().to_string(),
                classes[0].to_string(),
                classes[1].to_string(),
                classes[2].to_string(),
                classes[3].to_string(),
                s.p50.to_string(),
                s.p90.to_string(),
                s.p99.to_string(),
                s.max.to_string(),
                count(Counter::Attempts).to_string(),
                count(Counter::Retries).to_string(),
                count(Counter::Timeouts).to_string(),
                count(Counter::Ejections).to_string(),
                count(Counter::Overflows).to_string(),
                count(Counter::RateLimited).to_string(),
                count(Counter::BreakerTrips).to_string(),
            ]);
        }
    }
    out.into_inner().unwrap_or_default()
}
