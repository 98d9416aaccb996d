//! What a run writes: `report.json` (for tools), `summary.md`, `report.html` and a summary
//! table (for people), one `.hgrm` percentile distribution per service (for HdrHistogram's
//! plotter), and on request JUnit XML of the scenario's expectations (for CI systems), the
//! sampled requests' traces (`traces.json`, `requests.jsonl`) and Envoy-format access logs.
//!
//! Nothing here reads a clock: two runs with one seed give byte-identical files. Wall time
//! goes to stderr only.

pub mod access_log;
pub mod cloudwatch;
pub mod expect;
pub mod explain;
pub mod hdr;
pub mod html;
pub mod junit;
pub mod output;
pub mod prometheus;
pub mod trace;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use expect::{Observed, Verdict};
pub use output::{Files, Output, Outputs};

use crate::metrics::{Latencies, LatencySummary, OutcomeClass, Recorder};
use crate::model::fault::Fault;
use crate::model::ordering::Invariant;
use crate::scenario::{Expectation, Scenario};
use crate::sim::RunResult;

/// The report's format version; bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// `report.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Format version.
    pub schema_version: u32,
    /// Scenario name.
    pub scenario: String,
    /// Seed in force.
    pub seed: u64,
    /// `wire`: real HTTP over turmoil.
    pub mode: &'static str,
    /// The command that reruns this exact run (set by the CLI, which knows the path it was
    /// given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// SHA-256 of the scenario and mesh files as loaded, so two reports of "the same"
    /// scenario can be told apart when a file changed in between.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_sha256: Option<String>,
    /// Arrivals stopped after this many simulated seconds.
    pub duration_seconds: f64,
    /// Simulated seconds until the last user request ended.
    pub simulated_seconds: f64,
    /// The users' requests.
    pub requests: Requests,
    /// Per virtual node, measured at its sidecar's inbound listener.
    pub services: BTreeMap<String, ServiceReport>,
    /// Per proxy and route, measured at the calling proxy (retries included).
    pub routes: BTreeMap<String, ServiceReport>,
    /// Envoy-style counters per proxy node.
    pub counters: BTreeMap<String, BTreeMap<String, u64>>,
    /// The Ordering app's end-of-run invariants; empty when no task runs the Ordering app.
    pub invariants: Vec<Invariant>,
    /// The scenario's expectations (`expect:`), each with its observed value and verdict;
    /// empty when it has none.
    pub expectations: Vec<Verdict>,
    /// Per-interval windows (`metrics.interval`, default 10 s): the users' view and each
    /// service's, by the window a request ended in.
    pub intervals: Vec<Interval>,
    /// The fault schedule in force (written, then drawn from the seed), so a failing seed can
    /// be read as well as replayed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Fault>,
    /// What the faults did, in order: crashes, restarts, deregistrations, partitions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fault_events: Vec<FaultEvent>,
    /// The rollout rehearsed, if the scenario has one: outcome, when it was decided, the
    /// failing check, the timeline of steps, weight changes and check results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<crate::rollout::RolloutReport>,
}

/// One thing a fault did.
#[derive(Clone, Debug, Serialize)]
pub struct FaultEvent {
    /// Simulated seconds.
    pub at_seconds: f64,
    /// What happened.
    pub what: String,
    /// The fault's name.
    pub fault: String,
}

/// One metrics window.
#[derive(Clone, Debug, Serialize)]
pub struct Interval {
    /// Window start, simulated seconds.
    pub start_seconds: f64,
    /// `users` (the load generator's view) and each virtual node's inbound view.
    pub series: BTreeMap<String, WindowStats>,
}

/// Requests that ended in one window.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct WindowStats {
    /// Requests.
    pub requests: u64,
    /// 2xx and 3xx.
    pub succeeded: u64,
    /// Median latency, ms (two significant digits).
    pub p50_ms: f64,
    /// 99th percentile, ms (two significant digits).
    pub p99_ms: f64,
}

/// The users' requests.
#[derive(Clone, Debug, Serialize)]
pub struct Requests {
    /// Sent.
    pub issued: u64,
    /// Ended with 2xx or 3xx.
    pub succeeded: u64,
    /// Ended otherwise.
    pub failed: u64,
    /// Failures by reason; the values add up to `failed`.
    pub failed_by_reason: BTreeMap<String, u64>,
    /// Latency from the intended send time, every request.
    pub latency_ms: Percentiles,
}

/// One service's (or route's) totals.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceReport {
    /// Requests seen.
    pub requests: u64,
    /// 2xx and 3xx.
    pub succeeded: u64,
    /// Everything else.
    pub failed: u64,
    /// Latency of every request.
    pub latency_ms: Percentiles,
    /// Routes only: attempts the calling proxy sent (first tries and retries), so
    /// `attempts / requests` is the route's retry amplification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u64>,
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th.
    pub p90: f64,
    /// 99th.
    pub p99: f64,
    /// 99.9th.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl From<LatencySummary> for Percentiles {
    fn from(s: LatencySummary) -> Percentiles {
        Percentiles {
            p50: s.p50,
            p90: s.p90,
            p99: s.p99,
            p999: s.p999,
            max: s.max,
        }
    }
}

impl Report {
    /// The report of a run.
    pub fn new(scenario: &str, run: &RunResult) -> Report {
        let ledger = &run.ledger;
        let mut services = BTreeMap::new();
        let mut routes = BTreeMap::new();
        let mut grouped: BTreeMap<(bool, String), (Latencies, u64, Option<u64>)> = BTreeMap::new();
        for (key, lat) in run.recorder.totals() {
            if key.node == "client" {
                continue;
            }
            let inbound = key.route == "inbound";
            let name = if inbound {
                key.node.clone()
            } else {
                format!("{} -> {}", key.node, key.route)
            };
            let entry = grouped.entry((inbound, name)).or_insert_with(|| {
                let attempts = (!inbound).then(|| run.recorder.attempts(&key.node, &key.route));
                (Latencies::new(), 0, attempts)
            });
            entry.0.merge(lat);
            if key.outcome == OutcomeClass::Success {
                entry.1 += lat.count();
            }
        }
        for ((inbound, name), (lat, ok, attempts)) in grouped {
            let r = ServiceReport {
                requests: lat.count(),
                succeeded: ok,
                failed: lat.count() - ok,
                latency_ms: lat.summary().into(),
                attempts,
            };
            if inbound {
                services.insert(name, r);
            } else {
                routes.insert(name, r);
            }
        }
        let mut counters: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (node, counter, n) in run.recorder.counters() {
            counters
                .entry(node.to_string())
                .or_default()
                .insert(counter.as_str().to_string(), n);
        }
        Report {
            schema_version: SCHEMA_VERSION,
            scenario: scenario.to_string(),
            seed: run.seed,
            mode: "wire",
            command: None,
            config_sha256: None,
            duration_seconds: run.duration.as_secs_f64(),
            simulated_seconds: run.simulated.as_secs_f64(),
            requests: Requests {
                issued: ledger.issued,
                succeeded: ledger.succeeded,
                failed: ledger.failed(),
                failed_by_reason: ledger.failed_by_reason.clone(),
                latency_ms: ledger.latencies.summary().into(),
            },
            services,
            routes,
            counters,
            invariants: run.invariants.clone(),
            expectations: Vec::new(),
            intervals: intervals(run),
            faults: run.faults.clone(),
            fault_events: run
                .chaos
                .iter()
                .map(|e| FaultEvent {
                    at_seconds: e.at.since_start().as_secs_f64(),
                    what: e.what.clone(),
                    fault: e.fault.clone(),
                })
                .collect(),
            rollout: None,
        }
    }

    /// The report of a run of `scenario`, with its expectations judged.
    pub fn of(scenario: &Scenario, run: &RunResult) -> Report {
        let mut report = Report::new(&scenario.name, run);
        report.judge(&scenario.expect, &run.recorder);
        report
    }

    /// The report of a rehearsal: the run, the rollout's timeline and verdict, and the
    /// expectations judged (`rollout:` ones against the verdict).
    pub fn of_rehearsal(scenario: &Scenario, rehearsal: &crate::rehearse::Rehearsal) -> Report {
        let mut report = Report::new(&scenario.name, &rehearsal.run);
        report.rollout = rehearsal.rollout.clone();
        report.judge(&scenario.expect, &rehearsal.run.recorder);
        report
    }

    /// Judges expectations against this report's numbers (and, for routes measured across
    /// callers, the recorder's histograms), replacing any verdicts already there.
    pub fn judge(&mut self, expect: &[Expectation], recorder: &Recorder) {
        self.expectations = expect::evaluate(expect, self, recorder);
    }

    /// Whether every expectation held (true when there are none).
    pub fn expectations_held(&self) -> bool {
        self.expectations.iter().all(|v| v.held)
    }

    /// The rollout's verdict in one line: `rollout (canary): rolled_back at 412s: success
    /// rate was 96.9 against >= 99%`. `None` without a rollout.
    pub fn rollout_line(&self) -> Option<String> {
        let r = self.rollout.as_ref()?;
        let outcome = serde_json::to_value(r.outcome)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let strategy = serde_json::to_value(r.strategy)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let mut line = format!("rollout ({strategy}): {outcome}");
        if let Some(t) = r.decided_at_s {
            line.push_str(&format!(" at {t:.0}s"));
        }
        match (&r.check, r.value, &r.threshold) {
            (Some(c), Some(v), Some(t)) => line.push_str(&format!(": {c} was {v:.3} against {t}")),
            (Some(c), None, Some(t)) => line.push_str(&format!(": {c} had no data against {t}")),
            _ => {
                if let Some(reason) = &r.reason {
                    line.push_str(&format!(": {reason}"));
                }
            }
        }
        if let Some(d) = r.detected_at_s {
            line.push_str(&format!(" (detected at {d:.0}s)"));
        }
        Some(line)
    }

    /// The verdicts for a terminal: a count, then one line each with the observed value.
    /// Empty when there are no expectations.
    pub fn verdict_lines(&self) -> String {
        let mut out = String::new();
        if self.expectations.is_empty() {
            return out;
        }
        let held = self.expectations.iter().filter(|v| v.held).count();
        let _ = writeln!(
            out,
            "expectations: {held} of {} held",
            self.expectations.len()
        );
        for v in &self.expectations {
            let mark = if v.held { "held  " } else { "FAILED" };
            let _ = writeln!(
                out,
                "  {mark}  {}: observed {} ({})",
                v.name,
                v.observed_text(),
                v.detail
            );
        }
        out
    }

    /// `report.json`'s text.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        s.push('\n');
        s
    }

    /// The summary table: one row for the users, one per service.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<24} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "service", "requests", "success%", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
        );
        let users = ServiceReport {
            requests: self.requests.issued,
            succeeded: self.requests.succeeded,
            failed: self.requests.failed,
            latency_ms: self.requests.latency_ms,
            attempts: None,
        };
        let rows = std::iter::once(("(users)", &users))
            .chain(self.services.iter().map(|(n, s)| (n.as_str(), s)));
        for (name, s) in rows {
            let _ = writeln!(
                out,
                "{:<24} {:>9} {:>9.2} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                name,
                s.requests,
                percent(s.succeeded, s.requests),
                s.latency_ms.p50,
                s.latency_ms.p90,
                s.latency_ms.p99,
                s.latency_ms.p999,
                s.latency_ms.max
            );
        }
        out
    }

    /// `summary.md`'s text.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# {} (seed {})\n", self.scenario, self.seed);
        let _ = writeln!(
            out,
            "{} simulated seconds of arrivals, {:.3} s until the last answer.\n",
            self.duration_seconds, self.simulated_seconds
        );
        let r = &self.requests;
        let _ = writeln!(
            out,
            "Users sent {} requests: {} succeeded, {} failed ({:.2} % success).\n",
            r.issued,
            r.succeeded,
            r.failed,
            percent(r.succeeded, r.issued)
        );
        if let Some(line) = self.rollout_line() {
            let _ = writeln!(out, "**{line}**\n");
            if let Some(r) = &self.rollout {
                let _ = writeln!(
                    out,
                    "| at s | stable % | candidate % | baseline % | mirror % |\n|---:|---:|---:|---:|---:|"
                );
                for c in &r.changes {
                    let _ = writeln!(
                        out,
                        "| {:.0} | {} | {} | {} | {} |",
                        c.at_s,
                        c.weights.stable,
                        c.weights.candidate,
                        c.weights.baseline,
                        c.mirror_percent
                    );
                }
                out.push('\n');
            }
        }
        if !self.faults.is_empty() {
            let _ = writeln!(out, "Faults (in chain order):\n");
            for f in &self.faults {
                let _ = writeln!(out, "- {}", f.describe());
            }
            out.push('\n');
        }
        if !r.failed_by_reason.is_empty() {
            let _ = writeln!(out, "| failure | requests |\n|---|---:|");
            for (reason, n) in &r.failed_by_reason {
                let _ = writeln!(out, "| {reason} | {n} |");
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "| service | requests | success % | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        let users = ServiceReport {
            requests: r.issued,
            succeeded: r.succeeded,
            failed: r.failed,
            latency_ms: r.latency_ms,
            attempts: None,
        };
        let rows = std::iter::once(("(users)", &users))
            .chain(self.services.iter().map(|(n, s)| (n.as_str(), s)));
        for (name, s) in rows {
            let l = &s.latency_ms;
            let _ = writeln!(
                out,
                "| {name} | {} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                s.requests,
                percent(s.succeeded, s.requests),
                l.p50,
                l.p90,
                l.p99,
                l.p999,
                l.max
            );
        }
        if !self.invariants.is_empty() {
            let _ = writeln!(out, "\n## Invariants\n");
            for i in &self.invariants {
                let mark = if i.held { "held" } else { "**VIOLATED**" };
                let _ = writeln!(out, "- `{}`: {mark}. {}", i.name, i.detail);
            }
        }
        if !self.expectations.is_empty() {
            let held = self.expectations.iter().filter(|v| v.held).count();
            let _ = writeln!(
                out,
                "\n## Expectations\n\n{held} of {} held.\n",
                self.expectations.len()
            );
            for v in &self.expectations {
                let mark = if v.held { "held" } else { "**FAILED**" };
                let _ = writeln!(
                    out,
                    "- {mark}: {}: observed {} ({}).",
                    v.name,
                    v.observed_text(),
                    v.detail
                );
            }
        }
        out
    }
}

fn intervals(run: &RunResult) -> Vec<Interval> {
    let width = run.recorder.interval().as_secs_f64();
    run.recorder
        .windows()
        .iter()
        .map(|(window, series)| {
            let mut grouped: BTreeMap<String, (Latencies, u64)> = BTreeMap::new();
            for (key, lat) in series {
                let name = match (key.node.as_str(), key.route.as_str()) {
                    ("client", _) => "users".to_string(),
                    (node, "inbound") => node.to_string(),
                    _ => continue,
                };
                let entry = grouped
                    .entry(name)
                    .or_insert_with(|| (Latencies::coarse(), 0));
                entry.0.merge(lat);
                if key.outcome == OutcomeClass::Success {
                    entry.1 += lat.count();
                }
            }
            Interval {
                start_seconds: *window as f64 * width,
                series: grouped
                    .into_iter()
                    .map(|(name, (lat, ok))| {
                        let s = lat.summary();
                        (
                            name,
                            WindowStats {
                                requests: lat.count(),
                                succeeded: ok,
                                p50_ms: s.p50,
                                p99_ms: s.p99,
                            },
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

/// SHA-256 over the loaded files' texts in load order (each preceded by its length, so no
/// two different sets of files hash alike), as lowercase hex.
pub fn config_sha256(sources: &crate::config::source::SourceMap) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for (_, f) in sources.iter() {
        hasher.update((f.text().len() as u64).to_le_bytes());
        hasher.update(f.text().as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        100.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// The directory a run writes to by default: `reports/<scenario>/<seed>/`.
pub fn default_dir(scenario: &str, seed: u64) -> PathBuf {
    Path::new("reports").join(scenario).join(seed.to_string())
}

/// Writes the chosen outputs into `dir`, each file atomically and `report.json` last, after
/// retiring the files an earlier run left there; returns the paths written.
pub fn write(
    dir: &Path,
    report: &Report,
    run: &RunResult,
    outputs: &Outputs,
) -> std::io::Result<Vec<PathBuf>> {
    files(report, run, outputs).commit(dir)
}

/// The chosen outputs' files, in memory, in the order they are written (`report.json`
/// last, so its presence means the set is complete).
pub fn files(report: &Report, run: &RunResult, outputs: &Outputs) -> Files {
    let mut files = Files::new();
    if outputs.has(Output::Summary) {
        files.add("summary.md", report.markdown());
    }
    if outputs.has(Output::Hgrm) {
        hdr::hgrm_files(run, &mut files);
    }
    if outputs.has(Output::Hlog) {
        hdr::hlog_files(run, &mut files);
    }
    if outputs.has(Output::Metrics) {
        files.add("metrics.prom", prometheus::exposition(run));
        files.add("metrics.csv", cloudwatch::rows(run));
    }
    if outputs.has(Output::Html) {
        files.add("report.html", html::page(report, run));
    }
    if outputs.has(Output::Traces) {
        let records = trace::records(&run.traces);
        let header = trace::TraceHeader {
            scenario: report.scenario.clone(),
            seed: report.seed,
            rate: run.traces.rate,
            only: run.traces.only,
        };
        files.add("traces.json", trace::traces_json(&header, &records));
        files.add("requests.jsonl", trace::requests_jsonl(&records));
    }
    if outputs.has(Output::Json) {
        files.add("report.json", report.to_json());
    }
    files
}
