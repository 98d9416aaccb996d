//! L4 toxics, after Toxiproxy: what a fault does to the bytes of the connections a task's
//! sidecar accepts. Toxiproxy sits in front of a service and poisons the TCP stream; our
//! sidecar's inbound listener is the same place, so a toxic on a task acts on every
//! connection its callers (or a TCP pass-through peer) open to it.
//!
//! This module holds the sans-IO part: the toxics in force, which of them a connection drew
//! (Toxiproxy's `toxicity` is rolled once per connection), and what they add up to for one
//! direction of a connection. The proxy's `toxics` stream applies the result to the bytes.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;

/// Which way the bytes go, as Toxiproxy names it: `downstream` is the service answering its
/// caller (server → client), `upstream` the caller's bytes to the service.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Deserialize,
    serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Stream {
    /// Server → client (Toxiproxy's default).
    #[default]
    Downstream,
    /// Client → server.
    Upstream,
}

impl Stream {
    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Downstream => "downstream",
            Stream::Upstream => "upstream",
        }
    }
}

/// What one toxic does.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ToxicKind {
    /// Throughput cap, in bytes per second.
    Bandwidth {
        /// Bytes per second.
        bytes_per_second: f64,
    },
    /// The connection is reset (both ways) this long after the toxic first meets it.
    ResetPeer {
        /// Zero: at once.
        #[serde(with = "super::millis")]
        timeout: Duration,
    },
    /// Closing this direction waits this long.
    SlowClose {
        /// The wait.
        #[serde(with = "super::millis")]
        delay: Duration,
    },
    /// Bytes stop (they are dropped, as Toxiproxy's `timeout` toxic drops them); the
    /// connection is closed after `timeout`, or never.
    Stall {
        /// `None`: never closed, the data just stops.
        #[serde(with = "super::opt_millis")]
        timeout: Option<Duration>,
    },
    /// Bytes go in small slices with a pause before each.
    Slicer {
        /// Mean slice, bytes.
        average_size: u32,
        /// Slices are `average_size ± size_variation`, uniformly.
        size_variation: u32,
        /// Pause before each slice.
        #[serde(with = "super::millis")]
        delay: Duration,
    },
    /// The connection is closed once this many bytes went this way.
    LimitData {
        /// Bytes.
        bytes: u64,
    },
}

impl ToxicKind {
    /// How it reads in the schedule: `bandwidth 8 KB/s`.
    pub fn describe(&self) -> String {
        let show = super::spec::show;
        match self {
            ToxicKind::Bandwidth { bytes_per_second } => {
                format!("bandwidth {} KB/s", bytes_per_second / 1000.0)
            }
            ToxicKind::ResetPeer { timeout } if timeout.is_zero() => "reset peer".into(),
            ToxicKind::ResetPeer { timeout } => format!("reset peer after {}", show(*timeout)),
            ToxicKind::SlowClose { delay } => format!("slow close {}", show(*delay)),
            ToxicKind::Stall { timeout: None } => "stall".into(),
            ToxicKind::Stall { timeout: Some(t) } => format!("stall, close after {}", show(*t)),
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => format!(
                "slicer {average_size}±{size_variation} B every {}",
                show(*delay)
            ),
            ToxicKind::LimitData { bytes } => format!("limit data {bytes} B"),
        }
    }
}

/// A toxic in force at a task.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Toxic {
    /// The fault (its index in the plan), so a connection rolls its toxicity once per fault.
    pub fault: usize,
    /// What it does.
    pub kind: ToxicKind,
    /// Which direction it acts on (a reset acts on both).
    pub stream: Stream,
    /// Probability that a connection is affected, 0..=1, rolled once per connection.
    pub toxicity: f64,
}

/// What the toxics a connection drew do to one direction of it. Several of one kind combine
/// to the harshest: the lowest rate, the smallest limit, the longest close delay.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Direction {
    /// Bytes per second.
    pub bandwidth: Option<f64>,
    /// (average, variation, delay).
    pub slicer: Option<(u32, u32, Duration)>,
    /// Some: stalled; the inner `Some` closes the connection after that long.
    pub stall: Option<Option<Duration>>,
    /// Bytes this way before the connection closes.
    pub limit: Option<u64>,
    /// Extra wait before this direction's close.
    pub slow_close: Option<Duration>,
}

impl Direction {
    /// Whether the bytes need pacing (not just counting).
    pub fn paces(&self) -> bool {
        self.bandwidth.is_some() || self.slicer.is_some()
    }

    /// Whether nothing applies.
    pub fn is_clear(&self) -> bool {
        *self == Direction::default()
    }
}

/// What the toxics a connection drew do to it right now.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Verdict {
    /// Server → client.
    pub downstream: Direction,
    /// Client → server.
    pub upstream: Direction,
    /// Reset after this long (from the moment the connection first met it).
    pub reset: Option<Duration>,
}

impl Verdict {
    /// One direction.
    pub fn direction(&self, stream: Stream) -> &Direction {
        match stream {
            Stream::Downstream => &self.downstream,
            Stream::Upstream => &self.upstream,
        }
    }

    /// Whether nothing applies.
    pub fn is_clear(&self) -> bool {
        *self == Verdict::default()
    }
}

/// One connection's draws: for each fault it has met, whether the toxicity roll hit it.
/// The roll is made when the connection first meets the fault, from the connection's own
/// RNG, so a run's draws depend only on the seed and the order connections meet faults.
#[derive(Debug, Default)]
pub struct Draws {
    hit: BTreeMap<usize, bool>,
}

impl Draws {
    /// What the toxics in force do to this connection; rolls toxicity for faults it has
    /// not met before. Returns the verdict and the faults it met for the first time and
    /// drew (to count as injected).
    pub fn verdict(&mut self, toxics: &[Toxic], rng: &mut impl Rng) -> (Verdict, Vec<usize>) {
        let mut v = Verdict::default();
        let mut fresh = Vec::new();
        for t in toxics {
            let hit = *self.hit.entry(t.fault).or_insert_with(|| {
                let hit = t.toxicity >= 1.0 || rng.random::<f64>() < t.toxicity;
                if hit {
                    fresh.push(t.fault);
                }
                hit
            });
            if !hit {
                continue;
            }
            let d = match t.stream {
                Stream::Downstream => &mut v.downstream,
                Stream::Upstream => &mut v.upstream,
            };
            match t.kind {
                ToxicKind::Bandwidth { bytes_per_second } => {
                    d.bandwidth = Some(
                        d.bandwidth
                            .map_or(bytes_per_second, |b| b.min(bytes_per_second)),
                    );
                }
                ToxicKind::ResetPeer { timeout } => {
                    v.reset = Some(v.reset.map_or(timeout, |r| r.min(timeout)));
                }
                ToxicKind::SlowClose { delay } => {
                    d.slow_close = Some(d.slow_close.map_or(delay, |s| s.max(delay)));
                }
                ToxicKind::Stall { timeout } => {
                    d.stall = Some(match (d.stall, timeout) {
                        (Some(Some(a)), Some(b)) => Some(a.min(b)),
                        (Some(Some(a)), None) => Some(a),
                        (_, t) => t,
                    });
                }
                ToxicKind::Slicer {
                    average_size,
                    size_variation,
                    delay,
                } => {
                    d.slicer
                        .get_or_insert((average_size, size_variation, delay));
                }
                ToxicKind::LimitData { bytes } => {
                    d.limit = Some(d.limit.map_or(bytes, |l| l.min(bytes)));
                }
            }
        }
        (v, fresh)
    }
}

/// How long `bytes` take at `bytes_per_second`.
pub fn transfer_time(bytes: usize, bytes_per_second: f64) -> Duration {
    Duration::from_secs_f64(bytes as f64 / bytes_per_second)
}

/// One slice's size: `average ± variation`, uniformly, at least one byte.
pub fn slice_size(average: u32, variation: u32, rng: &mut impl Rng) -> usize {
    let low = i64::from(average) - i64::from(variation);
    let high = i64::from(average) + i64::from(variation);
    rng.random_range(low..=high).max(1) as usize
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn toxic(fault: usize, kind: ToxicKind, stream: Stream, toxicity: f64) -> Toxic {
        Toxic {
            fault,
            kind,
            stream,
            toxicity,
        }
    }

    #[test]
    fn toxics_combine_to_the_harshest_per_direction() {
        let toxics = [
            toxic(
                0,
                ToxicKind::Bandwidth {
                    bytes_per_second: 1000.0,
                },
                Stream::Downstream,
                1.0,
            ),
            toxic(
                1,
                ToxicKind::Bandwidth {
                    bytes_per_second: 500.0,
                },
                Stream::Downstream,
                1.0,
            ),
            toxic(2, ToxicKind::LimitData { bytes: 10 }, Stream::Upstream, 1.0),
            toxic(
                3,
                ToxicKind::Stall {
                    timeout: Some(Duration::from_secs(2)),
                },
                Stream::Upstream,
                1.0,
            ),
            toxic(4, ToxicKind::Stall { timeout: None }, Stream::Upstream, 1.0),
            toxic(
                5,
                ToxicKind::ResetPeer {
                    timeout: Duration::from_secs(3),
                },
                Stream::Downstream,
                1.0,
            ),
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (v, fresh) = Draws::default().verdict(&toxics, &mut rng);
        assert_eq!(v.downstream.bandwidth, Some(500.0));
        assert_eq!(v.upstream.bandwidth, None);
        assert_eq!(v.upstream.limit, Some(10));
        assert_eq!(
            v.upstream.stall,
            Some(Some(Duration::from_secs(2))),
            "a stall that closes wins over one that never does"
        );
        assert_eq!(v.reset, Some(Duration::from_secs(3)));
        assert_eq!(fresh, vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn toxicity_is_rolled_once_per_connection_and_fault() {
        let toxics = [toxic(
            7,
            ToxicKind::LimitData { bytes: 1 },
            Stream::Downstream,
            0.3,
        )];
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut hits = 0;
        for _ in 0..10_000 {
            let mut draws = Draws::default();
            let (first, fresh) = draws.verdict(&toxics, &mut rng);
            // Asking again never re-rolls: the connection keeps its draw.
            for _ in 0..3 {
                let (again, none) = draws.verdict(&toxics, &mut rng);
                assert_eq!(again, first);
                assert!(none.is_empty(), "counted once");
            }
            if !first.is_clear() {
                assert_eq!(fresh, vec![7]);
                hits += 1;
            }
        }
        // 10 000 connections at 30 %: σ ≈ 46, so ±230 is 5 σ.
        assert!((2770..=3230).contains(&hits), "{hits} of 10 000 hit");
    }

    #[test]
    fn slices_stay_within_their_variation_and_average_out() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let sizes: Vec<usize> = (0..10_000).map(|_| slice_size(100, 40, &mut rng)).collect();
        assert!(sizes.iter().all(|s| (60..=140).contains(s)));
        let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
        assert!((mean - 100.0).abs() < 1.5, "mean {mean}");
        assert!(
            (0..1000).all(|_| slice_size(1, 1, &mut rng) >= 1),
            "never an empty slice"
        );
    }

    #[test]
    fn transfer_time_is_bytes_over_rate() {
        assert_eq!(transfer_time(8000, 1000.0), Duration::from_secs(8));
        assert_eq!(transfer_time(0, 1.0), Duration::ZERO);
    }
}
