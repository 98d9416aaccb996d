//! HdrHistogram files: a `.hgrm` percentile distribution per virtual node and per service,
//! and a `.hlog` interval log per service for time-series tools (HdrLogProcessing,
//! HistogramLogAnalyzer, the crate's own reader).
//!
//! In App Mesh each version of a service is its own virtual node (`order-v1`, `order-v2`),
//! so the per-node files are the per-version ones; a service's files merge its versions,
//! and its interval log tags each version's histograms with the node's name.

use std::collections::{BTreeMap, BTreeSet};
use std::time::UNIX_EPOCH;

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::output::Files;
use crate::metrics::{Latencies, SeriesKey, percentile_distribution};
use crate::sim::RunResult;

/// Whose requests a file holds: the users' (the load generator's view) or some virtual
/// nodes' inbound listeners.
struct Subject {
    /// File stem.
    stem: String,
    /// Virtual nodes merged (empty for the users).
    nodes: Vec<String>,
}

impl Subject {
    fn holds(&self, key: &SeriesKey) -> bool {
        if self.nodes.is_empty() {
            key.node == "client"
        } else {
            key.route == "inbound" && self.nodes.contains(&key.node)
        }
    }
}

/// The virtual nodes (and gateways) whose inbound listeners served requests.
fn served_nodes(run: &RunResult) -> BTreeSet<&str> {
    run.recorder
        .totals()
        .keys()
        .filter(|k| k.route == "inbound" && k.node != "client")
        .map(|k| k.node.as_str())
        .collect()
}

/// The users, then each service (its nodes, from the tasks), then each virtual gateway
/// (a node that served requests but runs no service).
fn subjects(run: &RunResult) -> Vec<Subject> {
    let mut services: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for t in &run.tasks {
        services.entry(&t.service).or_default().insert(&t.node);
    }
    let in_services: BTreeSet<&str> = services.values().flatten().copied().collect();
    let served = served_nodes(run);
    let mut out = vec![Subject {
        stem: "users".into(),
        nodes: Vec::new(),
    }];
    for (service, nodes) in services {
        out.push(Subject {
            stem: service.to_string(),
            nodes: nodes.into_iter().map(String::from).collect(),
        });
    }
    for gateway in served.difference(&in_services) {
        out.push(Subject {
            stem: gateway.to_string(),
            nodes: vec![gateway.to_string()],
        });
    }
    out
}

/// Adds `users.hgrm`, `<node>.hgrm` per virtual node that served requests, and
/// `<service>.hgrm` per service with several nodes (`<service>.service.hgrm` when a node
/// has the service's name).
pub fn hgrm_files(run: &RunResult, files: &mut Files) {
    files.add("users.hgrm", percentile_distribution(&run.ledger.latencies));
    let served = served_nodes(run);
    for node in &served {
        let lat = run
            .recorder
            .merged(|k| k.route == "inbound" && k.node == *node);
        files.add(format!("{node}.hgrm"), percentile_distribution(&lat));
    }
    for s in subjects(run).iter().filter(|s| s.nodes.len() > 1) {
        let lat = run.recorder.merged(|k| s.holds(k));
        let name = if served.contains(s.stem.as_str()) {
            format!("{}.service.hgrm", s.stem)
        } else {
            format!("{}.hgrm", s.stem)
        };
        files.add(name, percentile_distribution(&lat));
    }
}

/// Adds `users.hlog`, `<service>.hlog` per service and `<gateway>.hlog` per virtual
/// gateway.
pub fn hlog_files(run: &RunResult, files: &mut Files) {
    for s in subjects(run) {
        files.add(format!("{}.hlog", s.stem), interval_log(run, &s));
    }
}

/// One subject's interval log: per window, an untagged histogram of every request that
/// ended in it, then (for a service with several versions) one tagged with each virtual
/// node's name. Times are simulated seconds from a StartTime of 0 (the epoch), so two runs
/// of one seed write the same bytes; values are microseconds, Interval_Max milliseconds.
fn interval_log(run: &RunResult, subject: &Subject) -> Vec<u8> {
    let width = run.recorder.interval();
    let tagged = subject.nodes.len() > 1;
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let header = format!(
        " meshsim {}: {} latencies, microseconds, {} s windows of simulated time{}",
        env!("CARGO_PKG_VERSION"),
        if subject.nodes.is_empty() {
            "the users' request".to_string()
        } else {
            format!("{}'s inbound", subject.stem)
        },
        width.as_secs_f64(),
        if tagged {
            "; tagged lines: one virtual node (version) each"
        } else {
            ""
        }
    );
    // The header as HdrHistogram's Java writer lays it out (version, StartTime, then the
    // column legend), which the crate's builder cannot write on its own: a first builder
    // writes the comment lines, the legend goes in by hand, a second one writes the rest.
    let opened = IntervalLogWriterBuilder::new()
        .add_comment("[Histogram log format version 1.3]")
        .add_comment(&header)
        .with_start_time(UNIX_EPOCH)
        .with_base_time(UNIX_EPOCH)
        .begin_log_with(&mut out, &mut serializer)
        .map(drop);
    if opened.is_err() {
        return Vec::new();
    }
    out.extend_from_slice(
        b"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n",
    );
    let Ok(mut log) = IntervalLogWriterBuilder::new()
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut out, &mut serializer)
    else {
        return Vec::new();
    };
    for (window, series) in run.recorder.windows() {
        let mut all = Latencies::coarse();
        let mut by_node: BTreeMap<&str, Latencies> = BTreeMap::new();
        for (key, lat) in series.iter().filter(|(k, _)| subject.holds(k)) {
            all.merge(lat);
            if tagged {
                by_node
                    .entry(key.node.as_str())
                    .or_insert_with(Latencies::coarse)
                    .merge(lat);
            }
        }
        if all.count() == 0 {
            continue;
        }
        let start = width.saturating_mul(u32::try_from(*window).unwrap_or(u32::MAX));
        // Writing into memory cannot fail, and the serializer takes any histogram.
        let _ = log.write_histogram(all.histogram(), start, width, None);
        for (node, lat) in &by_node {
            // A name HdrHistogram cannot carry as a tag (a space or a comma) keeps to the
            // untagged line rather than passing for it.
            if let Some(tag) = Tag::new(node) {
                let _ = log.write_histogram(lat.histogram(), start, width, Some(tag));
            }
        }
    }
    drop(log);
    out
}
