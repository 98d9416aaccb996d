//! What report.html's charts show, taken from the report and the recorder as plain numbers
//! (no drawing here, so each extraction is tested on its own).
//!
//! Time series are per metrics window (`metrics.interval`) and span the arrivals, from 0 to
//! the scenario's duration: requests that ended in the drain after it are in report.json's
//! intervals, but a window cut short by the end would read as a drop in traffic. A window's
//! value is drawn at its middle.

use std::collections::{BTreeMap, BTreeSet};

use crate::metrics::{Counter, Latencies, OutcomeClass, Recorder};
use crate::model::fault::{Fault, FaultKind, TaskRef};
use crate::report::FaultEvent;
use crate::sim::world::TaskInfo;

/// The time axis of a run's charts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timeline {
    /// Window length, seconds.
    pub width_s: f64,
    /// End of the axis (the end of arrivals), seconds.
    pub end_s: f64,
}

impl Timeline {
    /// The axis of a run with windows of `width_s` and arrivals for `duration_s`.
    pub fn new(width_s: f64, duration_s: f64) -> Timeline {
        let width_s = if width_s > 0.0 { width_s } else { 1.0 };
        let end_s = if duration_s > 0.0 {
            duration_s
        } else {
            width_s
        };
        Timeline { width_s, end_s }
    }

    /// Windows that start before the end, in order.
    pub fn windows(&self) -> std::ops::Range<u64> {
        0..(self.end_s / self.width_s).ceil() as u64
    }

    fn start(&self, w: u64) -> f64 {
        w as f64 * self.width_s
    }

    /// Seconds of window `w` inside the axis (the last one may be cut short).
    pub fn covered(&self, w: u64) -> f64 {
        (self.end_s - self.start(w)).clamp(0.0, self.width_s)
    }

    /// Where window `w`'s value is drawn: the middle of its part inside the axis.
    pub fn mid(&self, w: u64) -> f64 {
        self.start(w) + self.covered(w) / 2.0
    }
}

/// A span of time a fault was in force, shaded on the charts of the nodes it acts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// The fault's name.
    pub fault: String,
    /// Start, seconds.
    pub from_s: f64,
    /// End, seconds.
    pub to_s: f64,
}

/// When each fault was in force, clipped to `[0, end_s]`: a fault's window, except for
/// crashes (`crash`, `leak`, `rolling-restart`), whose window only says when they may strike:
/// for them each task's time down, from its `crash` event to its `restart` (or the end),
/// with overlapping ones joined.
pub fn fault_spans(faults: &[Fault], events: &[FaultEvent], end_s: f64) -> Vec<Span> {
    let mut spans = Vec::new();
    for f in faults {
        let crashes = matches!(
            f.kind,
            FaultKind::Crash { .. } | FaultKind::Leak { .. } | FaultKind::RollingRestart { .. }
        );
        let mut own: Vec<(f64, f64)> = if crashes {
            down_times(events.iter().filter(|e| e.fault == f.name), end_s)
        } else {
            let from = f.window.start.as_secs_f64();
            let to = f.window.end.map_or(end_s, |e| e.as_secs_f64());
            vec![(from, to)]
        };
        own.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut joined: Vec<(f64, f64)> = Vec::new();
        for (from, to) in own {
            let (from, to) = (from.max(0.0), to.min(end_s));
            if to <= from {
                continue;
            }
            match joined.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(to),
                _ => joined.push((from, to)),
            }
        }
        spans.extend(joined.into_iter().map(|(from_s, to_s)| Span {
            fault: f.name.clone(),
            from_s,
            to_s,
        }));
    }
    spans
}

/// The virtual nodes a fault acts on: those of the tasks its target selects or that sit on
/// either side of its link; every task's node when it names neither.
pub fn fault_nodes(fault: &Fault, tasks: &[TaskInfo]) -> BTreeSet<String> {
    tasks
        .iter()
        .filter(|t| {
            let task = TaskRef {
                host: t.host.clone(),
                node: t.node.clone(),
                version: t.version.clone(),
            };
            match (&fault.link, &fault.target) {
                (Some(l), _) => l.from.matches(&task) || l.to.matches(&task),
                (None, Some(s)) => s.matches(&task),
                (None, None) => true,
            }
        })
        .map(|t| t.node.clone())
        .collect()
}

/// Each task's time down: from `crash <host>` to `restart <host>`, or to `end_s`.
fn down_times<'a>(events: impl Iterator<Item = &'a FaultEvent>, end_s: f64) -> Vec<(f64, f64)> {
    let mut down: BTreeMap<&str, f64> = BTreeMap::new();
    let mut out = Vec::new();
    for e in events {
        let mut words = e.what.split_whitespace();
        match (words.next(), words.next()) {
            (Some("crash"), Some(host)) => {
                down.entry(host).or_insert(e.at_seconds);
            }
            (Some("restart"), Some(host)) => {
                if let Some(from) = down.remove(host) {
                    out.push((from, e.at_seconds));
                }
            }
            _ => {}
        }
    }
    out.extend(down.into_values().map(|from| (from, end_s)));
    out
}

/// A named series of per-window values (windows without a value are left out).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Value per window index.
    pub values: BTreeMap<u64, f64>,
}

impl Series {
    /// The points to draw, split where windows are missing (no requests, so no latency:
    /// a gap, not a line across it).
    pub fn stretches(&self, t: &Timeline) -> Vec<Vec<(f64, f64)>> {
        let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut last: Option<u64> = None;
        for (w, v) in &self.values {
            let point = (t.mid(*w), *v);
            match (out.last_mut(), last) {
                (Some(s), Some(l)) if l + 1 == *w => s.push(point),
                _ => out.push(vec![point]),
            }
            last = Some(*w);
        }
        out
    }

    /// Largest value.
    pub fn max(&self) -> f64 {
        self.values.values().copied().fold(0.0, f64::max)
    }
}

/// One service's latency, per version, as its own sidecars measured it (the users' view for
/// `users`).
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceLatency {
    /// Service name (`users`, a gateway, or a virtual node's name less its version).
    pub service: String,
    /// Its virtual nodes (none for the users), so a fault on one of them is shaded here.
    pub nodes: Vec<String>,
    /// p50 and p99 per virtual node and version, in ms: `[p50, p99]` each.
    pub versions: Vec<[Series; 2]>,
}

/// The service a virtual node belongs to in the charts: App Mesh's `<service>-<version>`
/// naming (`inventory-v2` with version label `v2`) groups versions; any other name stands
/// alone.
pub fn service_of<'a>(node: &'a str, version: &str) -> &'a str {
    if node == "client" {
        return "users";
    }
    if !version.is_empty()
        && let Some(service) = node.strip_suffix(version)
        && let Some(service) = service.strip_suffix('-')
        && !service.is_empty()
    {
        return service;
    }
    node
}

/// p50 and p99 over time for the users and for each service's inbound listener, one pair of
/// series per virtual node and version; users first, then services by name.
pub fn latency_by_service(recorder: &Recorder, t: &Timeline) -> Vec<ServiceLatency> {
    let mut merged: BTreeMap<(String, String), BTreeMap<u64, Latencies>> = BTreeMap::new();
    for (w, series) in recorder.windows().range(t.windows()) {
        for (key, lat) in series {
            if key.node != "client" && key.route != "inbound" {
                continue;
            }
            merged
                .entry((key.node.clone(), key.version.clone()))
                .or_default()
                .entry(*w)
                .or_insert_with(Latencies::coarse)
                .merge(lat);
        }
    }
    // Per (not the users, service): its nodes and each version's pair of series.
    type Versions = (Vec<String>, Vec<[Series; 2]>);
    let mut services: BTreeMap<(bool, String), Versions> = BTreeMap::new();
    for ((node, version), windows) in merged {
        let name = if node == "client" {
            "users".to_string()
        } else if version.is_empty() || node.ends_with(&version) {
            node.clone()
        } else {
            format!("{node} {version}")
        };
        let mut pair = [Series::default(), Series::default()];
        for (i, (q, p)) in [(0.5, "p50"), (0.99, "p99")].into_iter().enumerate() {
            pair[i].label = format!("{name} {p}");
            pair[i].values = windows
                .iter()
                .filter(|(_, l)| l.count() > 0)
                .map(|(w, l)| (*w, l.quantile_ms(q)))
                .collect();
        }
        let service = service_of(&node, &version).to_string();
        let entry = services.entry((node != "client", service)).or_default();
        if node != "client" && !entry.0.contains(&node) {
            entry.0.push(node.clone());
        }
        entry.1.push(pair);
    }
    services
        .into_iter()
        .map(|((_, service), (nodes, versions))| ServiceLatency {
            service,
            nodes,
            versions,
        })
        .collect()
}

/// Requests per second that ended in each window: the users', then each virtual node's
/// inbound (so a canary's share of the traffic shows as its own line).
pub fn request_rates(recorder: &Recorder, t: &Timeline) -> Vec<Series> {
    let counts = window_counts(recorder, t, |_| true);
    counts
        .into_iter()
        .map(|(name, per)| per_second(name, &per, t))
        .collect()
}

/// Failed requests per second (users' and each node's inbound, for nodes that had any) and
/// retries per second (each calling node that retried).
pub fn errors_and_retries(recorder: &Recorder, t: &Timeline) -> Vec<Series> {
    let mut out: Vec<Series> = window_counts(recorder, t, |o| o != OutcomeClass::Success)
        .into_iter()
        .filter(|(_, per)| per.values().any(|n| *n > 0))
        .map(|(name, per)| per_second(format!("{name} errors"), &per, t))
        .collect();
    for (node, per) in counter_windows(recorder, t, &[Counter::Retries]) {
        out.push(per_second(format!("{} retries", node.0), &per, t));
    }
    out
}

/// Ejections, circuit-breaker overflows, failure-accrual trips and rate-limited requests per
/// window, per counter and proxy, for those that happened at all.
pub fn resilience_events(recorder: &Recorder, t: &Timeline) -> Vec<Series> {
    const COUNTERS: [Counter; 4] = [
        Counter::Ejections,
        Counter::Overflows,
        Counter::BreakerTrips,
        Counter::RateLimited,
    ];
    let mut per_counter: Vec<((String, Counter), BTreeMap<u64, u64>)> =
        counter_windows(recorder, t, &COUNTERS)
            .into_iter()
            .collect();
    per_counter.sort_by_key(|((node, c), _)| (COUNTERS.iter().position(|x| x == c), node.clone()));
    per_counter
        .into_iter()
        .map(|((node, c), per)| Series {
            label: format!("{} at {node}", c.as_str().replace('_', " ")),
            values: t
                .windows()
                .map(|w| (w, per.get(&w).copied().unwrap_or(0) as f64))
                .collect(),
        })
        .collect()
}

/// Requests per window by series name (`users` or the inbound node), counting the outcomes
/// `keep` admits.
fn window_counts(
    recorder: &Recorder,
    t: &Timeline,
    keep: impl Fn(OutcomeClass) -> bool,
) -> Vec<(String, BTreeMap<u64, u64>)> {
    let mut out: BTreeMap<String, BTreeMap<u64, u64>> = BTreeMap::new();
    for (w, series) in recorder.windows().range(t.windows()) {
        for (key, lat) in series {
            let name = match (key.node.as_str(), key.route.as_str()) {
                ("client", _) => "users",
                (node, "inbound") => node,
                _ => continue,
            };
            let n = if keep(key.outcome) { lat.count() } else { 0 };
            *out.entry(name.to_string())
                .or_default()
                .entry(*w)
                .or_default() += n;
        }
    }
    // `users` first: it is what the scenario is about.
    let users = out.remove_entry("users");
    users.into_iter().chain(out).collect()
}

/// Per-window counts of `counters`, per (node, counter), for those with a non-zero total.
fn counter_windows(
    recorder: &Recorder,
    t: &Timeline,
    counters: &[Counter],
) -> BTreeMap<(String, Counter), BTreeMap<u64, u64>> {
    let mut out: BTreeMap<(String, Counter), BTreeMap<u64, u64>> = BTreeMap::new();
    for (w, per) in recorder.window_counters().range(t.windows()) {
        for ((node, c), n) in per {
            if counters.contains(c) && *n > 0 {
                *out.entry((node.clone(), *c))
                    .or_default()
                    .entry(*w)
                    .or_default() += n;
            }
        }
    }
    out
}

fn per_second(label: String, counts: &BTreeMap<u64, u64>, t: &Timeline) -> Series {
    Series {
        label,
        values: t
            .windows()
            .map(|w| {
                let n = counts.get(&w).copied().unwrap_or(0) as f64;
                (w, n / t.covered(w).max(1e-9))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
