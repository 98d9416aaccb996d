//! Faults: what a scenario's `faults:` section asks the simulator to break, when, and how
//! hard, as sans-IO values the world applies (the app and the mesh config are never edited).
//!
//! - [`spec`]: the scenario's form, validated by [`FaultSpec::build`] into a [`Fault`].
//! - [`plan`]: faults resolved against the run's tasks into a [`Plan`]: which hosts and which
//!   links each one touches, checked for contradictions, and the ordered rule chain that
//!   decides a link's fate at any moment (the first fault that has a verdict wins).
//! - [`link`]: what the plan does to a link's messages at a moment, as decisions a driver
//!   carries out: link states to change (cut, one-way cut, hold, repair, release) and each
//!   shaped link's latency for the next step (delay, correlated jitter, loss as TCP resends).
//! - [`effects`]: what is in force at a task right now (slowdown, errors, fewer workers,
//!   hung calls, a leak, HTTP faults), read by its app and sidecar on every request.
//! - [`random`]: a schedule drawn from the seed within bounds (swarm testing).
//!
//! Kinds and their models (parameters after Toxiproxy, Chaos Mesh and Envoy's fault filter):
//! - network, on a link between two groups of tasks: `latency` (added one-way delay,
//!   uniform jitter, netem-style correlation), `loss` (each lost segment is resent after
//!   TCP's retransmission timeout, so loss shows as latency spikes and, in bursts, timeouts),
//!   `partition` (two-way or one-way: new connections fail at once, open ones hang), `hold`
//!   (messages wait, then arrive together when it ends);
//! - host: `crash` (optionally restarting), `rolling-restart`, `leak` (crash after N
//!   requests); Cloud Map keeps a dead task registered for `deregistration_lag`;
//! - gray failure of a service or version: `slowdown`, `errors`, `saturation`, `hang`;
//! - L7, in the target's sidecar (Envoy's fault filter): `http-delay`, `http-abort`, with
//!   percentages and, with `headers: true`, `x-envoy-fault-*` request headers;
//! - L4, on the bytes of the target's inbound connections (Toxiproxy's toxics, [`toxic`]):
//!   `bandwidth`, `reset-peer`, `slow-close`, `stall` (Toxiproxy's `timeout`), `slicer`,
//!   `limit-data`, each with a `stream` direction and a per-connection `toxicity`.

pub mod effects;
pub mod link;
pub mod plan;
pub mod random;
pub mod spec;
pub mod toxic;

use std::time::Duration;

pub use effects::{Effects, HostEffects};
pub use plan::{LinkVerdict, Plan, PlanError, TaskRef};
pub use spec::{FaultError, FaultSpec, KindName, LinkSpec, SelectorSpec};

/// Tasks chosen by task name, virtual node and version label (every one given must hold).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Selector {
    /// One task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Every task of a virtual node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Every task with this version label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl Selector {
    /// Whether the task matches.
    pub fn matches(&self, task: &TaskRef) -> bool {
        self.task.as_ref().is_none_or(|t| *t == task.host)
            && self.node.as_ref().is_none_or(|n| *n == task.node)
            && self.version.as_ref().is_none_or(|v| *v == task.version)
    }

    /// How it reads in messages: `node inventory-v1, version v2`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &self.task {
            parts.push(format!("task {t}"));
        }
        if let Some(n) = &self.node {
            parts.push(format!("node {n}"));
        }
        if let Some(v) = &self.version {
            parts.push(format!("version {v}"));
        }
        parts.join(", ")
    }
}

/// Two groups of tasks.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Link {
    /// One side.
    pub from: Selector,
    /// The other.
    pub to: Selector,
}

/// When a fault is in force, and how its intensity grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    /// Start, from the start of the run.
    pub start: Duration,
    /// End; `None` until the end of the run.
    pub end: Option<Duration>,
    /// Linear ramp from nothing to full intensity.
    pub ramp: Option<Duration>,
}

impl Window {
    /// Whether `at` (since the start of the run) is inside.
    pub fn contains(&self, at: Duration) -> bool {
        at >= self.start && self.end.is_none_or(|e| at < e)
    }

    /// Intensity at `at`: 0 outside, then rising linearly to 1 over the ramp.
    pub fn intensity(&self, at: Duration) -> f64 {
        if !self.contains(at) {
            return 0.0;
        }
        match self.ramp {
            Some(r) if !r.is_zero() => ((at - self.start).as_secs_f64() / r.as_secs_f64()).min(1.0),
            _ => 1.0,
        }
    }

    /// Whether two windows share a moment.
    pub fn overlaps(&self, other: &Window) -> bool {
        let ends_after = |w: &Window, t: Duration| w.end.is_none_or(|e| e > t);
        ends_after(self, other.start) && ends_after(other, self.start)
    }
}

/// What a fault does, with its parameters validated.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FaultKind {
    /// Added one-way delay on a link.
    Latency {
        /// Added delay.
        #[serde(with = "millis")]
        latency: Duration,
        /// ± uniform.
        #[serde(with = "millis")]
        jitter: Duration,
        /// 0..=1: weight of the previous draw.
        correlation: f64,
    },
    /// Segment loss on a link.
    Loss {
        /// 0..=1.
        share: f64,
        /// 0..=1.
        correlation: f64,
    },
    /// A cut link.
    Partition {
        /// Only `from` → `to`.
        oneway: bool,
    },
    /// Messages wait until the end.
    Hold,
    /// A crash, and maybe a restart.
    Crash {
        /// Restart delay.
        #[serde(with = "opt_millis")]
        restart_after: Option<Duration>,
        /// Cloud Map keeps the task this long.
        #[serde(with = "millis")]
        deregistration_lag: Duration,
    },
    /// Restart the target's tasks one by one.
    RollingRestart {
        /// Between restarts.
        #[serde(with = "millis")]
        interval: Duration,
        /// How long each is down.
        #[serde(with = "millis")]
        downtime: Duration,
        /// Cloud Map keeps each stopped task this long.
        #[serde(with = "millis")]
        deregistration_lag: Duration,
    },
    /// Service time × factor.
    Slowdown {
        /// Multiplier.
        factor: f64,
    },
    /// The app fails a share of requests.
    Errors {
        /// 0..=1.
        share: f64,
        /// Status.
        status: u16,
    },
    /// The app keeps only this many workers.
    Saturation {
        /// Workers left.
        workers: u32,
    },
    /// Calls to this virtual service never return.
    Hang {
        /// Virtual service.
        service: String,
    },
    /// Crash after N requests.
    Leak {
        /// Requests before the crash.
        after_requests: u64,
        /// Restart delay.
        #[serde(with = "opt_millis")]
        restart_after: Option<Duration>,
        /// Cloud Map keeps the task this long.
        #[serde(with = "millis")]
        deregistration_lag: Duration,
    },
    /// Envoy fault filter delay.
    HttpDelay {
        /// Fixed delay (unset: header-controlled only).
        #[serde(with = "opt_millis")]
        delay: Option<Duration>,
        /// 0..=1.
        share: f64,
        /// Obey `x-envoy-fault-delay-request`.
        headers: bool,
        /// Envoy's `max_active_faults`: requests with a fault in progress at the listener.
        #[serde(skip_serializing_if = "Option::is_none")]
        max_active_faults: Option<u32>,
    },
    /// Envoy fault filter abort.
    HttpAbort {
        /// HTTP status.
        status: u16,
        /// gRPC status instead.
        grpc_status: Option<u8>,
        /// 0..=1.
        share: f64,
        /// Obey `x-envoy-fault-abort-request`.
        headers: bool,
        /// Envoy's `max_active_faults`: requests with a fault in progress at the listener.
        #[serde(skip_serializing_if = "Option::is_none")]
        max_active_faults: Option<u32>,
    },
    /// An L4 toxic on the target's inbound connections (Toxiproxy).
    #[serde(untagged)]
    Toxic {
        /// What it does (its `kind` is the toxic's).
        #[serde(flatten)]
        toxic: toxic::ToxicKind,
        /// Which direction.
        stream: toxic::Stream,
        /// Probability per connection.
        toxicity: f64,
    },
}

impl FaultKind {
    /// The kind's name as written.
    pub fn name(&self) -> KindName {
        match self {
            FaultKind::Latency { .. } => KindName::Latency,
            FaultKind::Loss { .. } => KindName::Loss,
            FaultKind::Partition { .. } => KindName::Partition,
            FaultKind::Hold => KindName::Hold,
            FaultKind::Crash { .. } => KindName::Crash,
            FaultKind::RollingRestart { .. } => KindName::RollingRestart,
            FaultKind::Slowdown { .. } => KindName::Slowdown,
            FaultKind::Errors { .. } => KindName::Errors,
            FaultKind::Saturation { .. } => KindName::Saturation,
            FaultKind::Hang { .. } => KindName::Hang,
            FaultKind::Leak { .. } => KindName::Leak,
            FaultKind::HttpDelay { .. } => KindName::HttpDelay,
            FaultKind::HttpAbort { .. } => KindName::HttpAbort,
            FaultKind::Toxic { toxic, .. } => match toxic {
                toxic::ToxicKind::Bandwidth { .. } => KindName::Bandwidth,
                toxic::ToxicKind::ResetPeer { .. } => KindName::ResetPeer,
                toxic::ToxicKind::SlowClose { .. } => KindName::SlowClose,
                toxic::ToxicKind::Stall { .. } => KindName::Stall,
                toxic::ToxicKind::Slicer { .. } => KindName::Slicer,
                toxic::ToxicKind::LimitData { .. } => KindName::LimitData,
            },
        }
    }
}

/// One fault, validated.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Fault {
    /// Name in reports.
    pub name: String,
    /// What it does.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Tasks it acts on (task faults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
    /// Link it acts on (network faults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
    /// When.
    pub window: Window,
}

impl Fault {
    /// One line for people: `order-loses-inventory: partition node order-v1 ↔ node
    /// inventory-v1, 60s → 120s`.
    pub fn describe(&self) -> String {
        let on = match (&self.link, &self.target) {
            (Some(l), _) => format!("{} ↔ {}", l.from.describe(), l.to.describe()),
            (None, Some(t)) => t.describe(),
            (None, None) => String::new(),
        };
        let show = spec::show;
        let when = match self.window.end {
            Some(e) => format!("{} → {}", show(self.window.start), show(e)),
            None => format!("from {}", show(self.window.start)),
        };
        let what = match &self.kind {
            FaultKind::Latency {
                latency, jitter, ..
            } if jitter.is_zero() => {
                format!("latency +{}", show(*latency))
            }
            FaultKind::Latency {
                latency, jitter, ..
            } => {
                format!("latency +{} ±{}", show(*latency), show(*jitter))
            }
            FaultKind::Loss { share, .. } => format!("loss {:.1}%", share * 100.0),
            FaultKind::Partition { oneway: true } => "one-way partition".into(),
            FaultKind::Partition { oneway: false } => "partition".into(),
            FaultKind::Hold => "hold".into(),
            FaultKind::Crash {
                restart_after: Some(r),
                ..
            } => format!("crash, restart after {}", show(*r)),
            FaultKind::Crash { .. } => "crash".into(),
            FaultKind::RollingRestart { interval, .. } => {
                format!("rolling restart every {}", show(*interval))
            }
            FaultKind::Slowdown { factor } => format!("slowdown ×{factor:.1}"),
            FaultKind::Errors { share, status } => {
                format!("errors {:.1}% {status}", share * 100.0)
            }
            FaultKind::Saturation { workers } => format!("saturation to {workers} workers"),
            FaultKind::Hang { service } => format!("hang calls to {service}"),
            FaultKind::Leak { after_requests, .. } => {
                format!("leak: crash after {after_requests} requests")
            }
            FaultKind::HttpDelay { share, .. } => format!("http delay {:.1}%", share * 100.0),
            FaultKind::HttpAbort { share, status, .. } => {
                format!("http abort {:.1}% {status}", share * 100.0)
            }
            FaultKind::Toxic {
                toxic,
                stream,
                toxicity,
            } => {
                let what = toxic.describe();
                let share = if *toxicity < 1.0 {
                    format!(", {:.0}% of connections", toxicity * 100.0)
                } else {
                    String::new()
                };
                match toxic {
                    toxic::ToxicKind::ResetPeer { .. } => format!("{what}{share}"),
                    _ => format!("{what} {}{share}", stream.as_str()),
                }
            }
        };
        format!("{}: {what} on {on}, {when}", self.name)
    }
}

mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }
}

mod opt_millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64() * 1000.0),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: u64, end: Option<u64>, ramp: Option<u64>) -> Window {
        Window {
            start: Duration::from_secs(start),
            end: end.map(Duration::from_secs),
            ramp: ramp.map(Duration::from_secs),
        }
    }

    #[test]
    fn a_window_ramps_up_and_ends() {
        let win = w(10, Some(20), Some(4));
        assert_eq!(win.intensity(Duration::from_secs(9)), 0.0);
        assert_eq!(win.intensity(Duration::from_secs(10)), 0.0);
        assert_eq!(win.intensity(Duration::from_secs(12)), 0.5);
        assert_eq!(win.intensity(Duration::from_secs(15)), 1.0);
        assert_eq!(win.intensity(Duration::from_secs(20)), 0.0);
        assert_eq!(w(5, None, None).intensity(Duration::from_secs(3600)), 1.0);
    }

    #[test]
    fn a_toxic_is_written_into_the_report_under_its_own_kind() {
        let spec: FaultSpec = serde_json::from_str(
            r#"{"kind": "slicer", "target": {"node": "back-v1"}, "start": "10s",
                "average_size": 100, "size_variation": 20, "delay": "2ms", "stream": "upstream"}"#,
        )
        .expect("parses");
        let fault = spec.build(0).expect("valid");
        assert_eq!(fault.kind.name(), KindName::Slicer);
        let json = serde_json::to_value(&fault).expect("serializes");
        assert_eq!(json["kind"], "slicer");
        assert_eq!(json["average_size"], 100);
        assert_eq!(json["delay"], 2.0);
        assert_eq!(json["stream"], "upstream");
        assert_eq!(json["toxicity"], 1.0);
        assert_eq!(
            fault.describe(),
            "slicer-1: slicer 100±20 B every 2ms upstream on node back-v1, from 10s"
        );
    }

    #[test]
    fn windows_overlap_when_they_share_a_moment() {
        assert!(w(0, Some(10), None).overlaps(&w(5, Some(15), None)));
        assert!(!w(0, Some(10), None).overlaps(&w(10, Some(15), None)));
        assert!(w(0, None, None).overlaps(&w(100, Some(105), None)));
        assert!(!w(20, None, None).overlaps(&w(0, Some(20), None)));
    }
}
