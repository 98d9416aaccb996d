//! Metrics: latency histograms (HdrHistogram) and counters, in totals and per interval.
//!
//! Histograms are keyed by (virtual node, version, route, outcome) in ordered maps, so every
//! report iterates them in the same order. Latencies are recorded in microseconds of
//! simulated time, from 1 µs to one hour at three significant digits (0.1 % error), the
//! resolution wrk2 and HdrHistogram's own tools use; a value past the hour is clamped and
//! counted, never dropped.

mod hgrm;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::engine::SimTime;

pub use hgrm::percentile_distribution;

/// Highest trackable latency: one hour, in microseconds.
const MAX_MICROS: u64 = 3_600_000_000;
/// Significant digits kept.
const SIGFIG: u8 = 3;
/// Significant digits kept in per-interval windows.
const COARSE_SIGFIG: u8 = 2;

/// How a request ended, for grouping latencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutcomeClass {
    /// 2xx or 3xx.
    Success,
    /// 4xx (includes 404 `NR`, 429, 408).
    ClientError,
    /// 5xx (includes 503 `UO`/`UH`, 504 `UT`).
    ServerError,
    /// No response at all (connection reset or refused).
    Reset,
}

impl OutcomeClass {
    /// The class's place in a `[u64; 4]` of counts per class (the exports' tallies: success,
    /// 4xx, 5xx, reset).
    pub fn index(self) -> usize {
        match self {
            OutcomeClass::Success => 0,
            OutcomeClass::ClientError => 1,
            OutcomeClass::ServerError => 2,
            OutcomeClass::Reset => 3,
        }
    }

    /// The class of an HTTP status.
    pub fn of_status(status: u16) -> OutcomeClass {
        match status {
            0..=399 => OutcomeClass::Success,
            400..=499 => OutcomeClass::ClientError,
            _ => OutcomeClass::ServerError,
        }
    }

    /// A short name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeClass::Success => "success",
            OutcomeClass::ClientError => "client_error",
            OutcomeClass::ServerError => "server_error",
            OutcomeClass::Reset => "reset",
        }
    }
}

/// What a histogram is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// Virtual node (or `client` for the load generator's view).
    pub node: String,
    /// Version label of the task.
    pub version: String,
    /// Route name (empty when no route applies).
    pub route: String,
    /// How the requests ended.
    pub outcome: OutcomeClass,
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.node,
            self.version,
            self.route,
            self.outcome.as_str()
        )
    }
}

/// Envoy-style counters of resilience events (`upstream_rq_retry`, `upstream_rq_timeout`, …),
/// per virtual node: the one counter enum. The sidecar core counts them into its proxy's
/// telemetry and the world drains that into the [`Recorder`]; kept here, below `sidecar`,
/// so both layers name the same type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Counter {
    /// Attempts sent (first tries and retries).
    #[default]
    Attempts,
    /// Retries (attempts after the first).
    Retries,
    /// Route or per-try timeouts.
    Timeouts,
    /// Outlier ejections.
    Ejections,
    /// Circuit-breaker overflows (503 `UO`).
    Overflows,
    /// No route (404 `NR`).
    NoRoute,
    /// Resets without a response.
    Resets,
    /// Rate-limited (429).
    RateLimited,
    /// Injected faults.
    Faults,
    /// Failure-accrual breakers opened on upstream hosts.
    BreakerTrips,
    /// Active health checks that failed. Counted by the proxies but not recorded: the run
    /// loop drops it before the recorder, so no report lists it.
    HealthCheckFailures,
}

impl Counter {
    /// A short name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Counter::Attempts => "attempts",
            Counter::Retries => "retries",
            Counter::Timeouts => "timeouts",
            Counter::Ejections => "ejections",
            Counter::Overflows => "overflows",
            Counter::NoRoute => "no_route",
            Counter::Resets => "resets",
            Counter::RateLimited => "rate_limited",
            Counter::Faults => "faults",
            Counter::BreakerTrips => "breaker_trips",
            Counter::HealthCheckFailures => "health_check_failures",
        }
    }
}

/// Latency summary in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencySummary {
    /// Requests counted.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
}

/// A latency histogram in microseconds.
#[derive(Clone, Debug)]
pub struct Latencies {
    hist: Histogram<u64>,
    clamped: u64,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

impl Latencies {
    /// An empty histogram.
    pub fn new() -> Latencies {
        // The bounds are constants within HdrHistogram's limits, so creation cannot fail.
        let hist =
            Histogram::new_with_bounds(1, MAX_MICROS, SIGFIG).expect("valid histogram bounds");
        Latencies { hist, clamped: 0 }
    }

    /// An empty histogram at two significant digits (1 % error), for the per-interval
    /// windows: a run keeps one per series per window, and at three digits (about 190 KB
    /// each) an hour of 10 s windows over a few dozen series would take over a gigabyte.
    pub fn coarse() -> Latencies {
        let hist = Histogram::new_with_bounds(1, MAX_MICROS, COARSE_SIGFIG)
            .expect("valid histogram bounds");
        Latencies { hist, clamped: 0 }
    }

    /// Records one latency; values past the hour are clamped (and counted as such).
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        if micros > MAX_MICROS {
            self.clamped += 1;
        }
        self.hist.saturating_record(micros.min(MAX_MICROS));
    }

    /// Adds another histogram's values.
    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.hist.add(&other.hist);
        self.clamped += other.clamped;
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Values clamped at the one-hour ceiling.
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// The value at a quantile (0.0..=1.0), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }

    /// p50, p90, p99, p99.9 and max, in milliseconds.
    pub fn summary(&self) -> LatencySummary {
        if self.hist.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: self.count(),
            p50: self.quantile_ms(0.5),
            p90: self.quantile_ms(0.9),
            p99: self.quantile_ms(0.99),
            p999: self.quantile_ms(0.999),
            max: self.hist.max() as f64 / 1000.0,
        }
    }

    /// The underlying histogram (for `.hgrm` output and custom queries).
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }
}

/// What one calling proxy saw of one upstream cluster (Envoy's `cluster.<name>.upstream_rq_*`).
#[derive(Clone, Debug, Default)]
pub struct UpstreamStats {
    /// Requests (after retries, one each).
    pub requests: u64,
    /// Attempts (first tries and retries): Envoy's `upstream_rq_total`.
    pub attempts: u64,
    /// Requests by the class of the status they ended with: index 0 for no response, 1
    /// to 5 for 1xx to 5xx.
    pub by_class: [u64; 6],
    /// Latency of each request, retries included (Envoy's `upstream_rq_time` is per
    /// attempt; a request's attempts are not timed one by one here).
    pub latency: Latencies,
}

/// Everything one run records.
#[derive(Clone, Debug)]
pub struct Recorder {
    interval: Duration,
    totals: BTreeMap<SeriesKey, Latencies>,
    windows: BTreeMap<u64, BTreeMap<SeriesKey, Latencies>>,
    counters: BTreeMap<(String, Counter), u64>,
    /// The same counters by the window they were counted in, for charts and interval logs
    /// of retries, ejections and overflows over time.
    window_counters: BTreeMap<u64, BTreeMap<(String, Counter), u64>>,
    /// Per (calling node, upstream virtual node): what Envoy keeps per upstream cluster.
    upstreams: BTreeMap<(String, String), UpstreamStats>,
    /// Attempts per (calling node, route series): what per-route retry amplification is
    /// made of (the node-wide counters cannot tell routes apart).
    attempts: BTreeMap<(String, String), u64>,
}

impl Recorder {
    /// A recorder with per-interval windows of `interval` (the issue's default is 10 s).
    pub fn new(interval: Duration) -> Recorder {
        Recorder {
            interval: interval.max(Duration::from_millis(1)),
            totals: BTreeMap::new(),
            windows: BTreeMap::new(),
            counters: BTreeMap::new(),
            window_counters: BTreeMap::new(),
            upstreams: BTreeMap::new(),
            attempts: BTreeMap::new(),
        }
    }

    /// The window length.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The window an instant falls in.
    pub fn window_of(&self, at: SimTime) -> u64 {
        at.as_nanos() / u64::try_from(self.interval.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records a latency that ended at `at`.
    pub fn record(&mut self, at: SimTime, key: SeriesKey, latency: Duration) {
        let window = self.window_of(at);
        self.windows
            .entry(window)
            .or_default()
            .entry(key.clone())
            .or_insert_with(Latencies::coarse)
            .record(latency);
        self.totals.entry(key).or_default().record(latency);
    }

    /// Adds `n` to a counter of a virtual node.
    pub fn count(&mut self, node: &str, counter: Counter, n: u64) {
        *self
            .counters
            .entry((node.to_string(), counter))
            .or_default() += n;
    }

    /// Adds `n` to a counter of a virtual node, counted at `at` (so it also lands in that
    /// instant's window).
    pub fn count_at(&mut self, at: SimTime, node: &str, counter: Counter, n: u64) {
        self.count(node, counter, n);
        let window = self.window_of(at);
        *self
            .window_counters
            .entry(window)
            .or_default()
            .entry((node.to_string(), counter))
            .or_default() += n;
    }

    /// Counters per window, in time order (only what [`Recorder::count_at`] counted).
    pub fn window_counters(&self) -> &BTreeMap<u64, BTreeMap<(String, Counter), u64>> {
        &self.window_counters
    }

    /// Records one request a calling node's proxy sent to an upstream cluster (a virtual
    /// node): the attempts it took, the status it ended with (0: no response) and how long.
    pub fn record_upstream(
        &mut self,
        node: &str,
        upstream: &str,
        attempts: u64,
        status: u16,
        latency: Duration,
    ) {
        let stats = match self
            .upstreams
            .get_mut(&(node.to_string(), upstream.to_string()))
        {
            Some(s) => s,
            None => self
                .upstreams
                .entry((node.to_string(), upstream.to_string()))
                .or_default(),
        };
        stats.requests += 1;
        stats.attempts += attempts;
        stats.by_class[usize::from(status / 100).min(5)] += 1;
        stats.latency.record(latency);
    }

    /// Per (calling node, upstream virtual node), in key order.
    pub fn upstreams(&self) -> &BTreeMap<(String, String), UpstreamStats> {
        &self.upstreams
    }

    /// Adds the attempts one request took on a route (`route` as in [`SeriesKey::route`]).
    pub fn count_attempts(&mut self, node: &str, route: &str, attempts: u64) {
        *self
            .attempts
            .entry((node.to_string(), route.to_string()))
            .or_default() += attempts;
    }

    /// Attempts sent by `node` on its route series `route`.
    pub fn attempts(&self, node: &str, route: &str) -> u64 {
        self.attempts
            .get(&(node.to_string(), route.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Attempts summed over the (node, route series) pairs `keep` admits.
    pub fn attempts_where(&self, keep: impl Fn(&str, &str) -> bool) -> u64 {
        self.attempts
            .iter()
            .filter(|((n, r), _)| keep(n, r))
            .map(|(_, a)| a)
            .sum()
    }

    /// A counter's value.
    pub fn counter(&self, node: &str, counter: Counter) -> u64 {
        self.counters
            .get(&(node.to_string(), counter))
            .copied()
            .unwrap_or(0)
    }

    /// All counters, in key order.
    pub fn counters(&self) -> impl Iterator<Item = (&str, Counter, u64)> {
        self.counters.iter().map(|((n, c), v)| (n.as_str(), *c, *v))
    }

    /// Totals, in key order.
    pub fn totals(&self) -> &BTreeMap<SeriesKey, Latencies> {
        &self.totals
    }

    /// Per-interval windows, in time order.
    pub fn windows(&self) -> &BTreeMap<u64, BTreeMap<SeriesKey, Latencies>> {
        &self.windows
    }

    /// All latencies of one node (every version, route and outcome) merged.
    pub fn node_latencies(&self, node: &str) -> Latencies {
        self.merged(|k| k.node == node)
    }

    /// Latencies of the series that `keep` selects, merged.
    pub fn merged(&self, keep: impl Fn(&SeriesKey) -> bool) -> Latencies {
        let mut out = Latencies::new();
        for (k, h) in &self.totals {
            if keep(k) {
                out.merge(h);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(node: &str, outcome: OutcomeClass) -> SeriesKey {
        SeriesKey {
            node: node.into(),
            version: "v1".into(),
            route: "r".into(),
            outcome,
        }
    }

    #[test]
    fn percentiles_are_within_hdr_precision() {
        // 1..=1000 ms, one each: p50 = 500 ms, p99 = 990 ms, max = 1000 ms (to 0.1 %).
        let mut l = Latencies::new();
        for ms in 1..=1000u64 {
            l.record(Duration::from_millis(ms));
        }
        let s = l.summary();
        assert_eq!(s.count, 1000);
        for (got, want) in [
            (s.p50, 500.0),
            (s.p90, 900.0),
            (s.p99, 990.0),
            (s.p999, 999.0),
            (s.max, 1000.0),
        ] {
            assert!(
                (got - want).abs() <= want * 0.001 + 0.001,
                "{got} vs {want}"
            );
        }
    }

    #[test]
    fn values_past_an_hour_are_clamped_not_lost() {
        let mut l = Latencies::new();
        l.record(Duration::from_secs(7200));
        assert_eq!((l.count(), l.clamped()), (1, 1));
        assert!(l.summary().max >= 3_599_000.0);
    }

    #[test]
    fn windows_split_by_interval_and_totals_sum_them() {
        let mut r = Recorder::new(Duration::from_secs(10));
        r.record(
            SimTime::from_millis(9_999),
            key("order-v1", OutcomeClass::Success),
            Duration::from_millis(5),
        );
        r.record(
            SimTime::from_millis(10_000),
            key("order-v1", OutcomeClass::Success),
            Duration::from_millis(7),
        );
        r.record(
            SimTime::from_millis(25_000),
            key("order-v1", OutcomeClass::ServerError),
            Duration::from_millis(9),
        );
        assert_eq!(
            r.windows().keys().copied().collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        let windowed: u64 = r
            .windows()
            .values()
            .flat_map(|w| w.values())
            .map(Latencies::count)
            .sum();
        assert_eq!(windowed, 3);
        assert_eq!(r.node_latencies("order-v1").count(), 3);
        assert_eq!(r.merged(|k| k.outcome == OutcomeClass::Success).count(), 2);
    }

    #[test]
    fn counters_add_up_per_node() {
        let mut r = Recorder::new(Duration::from_secs(10));
        r.count("ui-v1", Counter::Retries, 2);
        r.count("ui-v1", Counter::Retries, 3);
        r.count("order-v1", Counter::Overflows, 1);
        assert_eq!(r.counter("ui-v1", Counter::Retries), 5);
        assert_eq!(r.counter("ui-v1", Counter::Overflows), 0);
        let listed: Vec<_> = r
            .counters()
            .map(|(n, c, v)| (n.to_string(), c, v))
            .collect();
        assert_eq!(listed[0], ("order-v1".to_string(), Counter::Overflows, 1));
    }

    #[test]
    fn statuses_fall_into_classes() {
        assert_eq!(OutcomeClass::of_status(200), OutcomeClass::Success);
        assert_eq!(OutcomeClass::of_status(404), OutcomeClass::ClientError);
        assert_eq!(OutcomeClass::of_status(503), OutcomeClass::ServerError);
    }
}
