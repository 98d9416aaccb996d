//! A fault as a scenario writes it: one flat mapping with a `kind`, a target (tasks) or a
//! link (two groups of tasks), a time window and the kind's own parameters.
//!
//! The mapping is flat rather than nested per kind so a fault reads as one line of intent
//! (`kind: latency, link: ..., latency: 200ms, start: 2m, duration: 60s`); [`FaultSpec::build`]
//! then refuses parameters that do not belong to the kind and asks for the ones it needs,
//! each error with its field path.

use std::time::Duration;

use serde::Deserialize;

use super::toxic::ToxicKind;
use super::{Fault, FaultKind, Link, Selector, Window};
use crate::model::duration::HumanDuration;
use crate::model::error::{ConfigError, Problem};

/// The kinds, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KindName {
    /// Added link latency, with jitter and correlation.
    Latency,
    /// Packet loss on a link (TCP retransmits after its RTO).
    Loss,
    /// A partition between two groups (two-way, or one-way).
    Partition,
    /// Messages on a link wait, then arrive all at once at the end.
    Hold,
    /// A task crashes (optionally restarts after a delay).
    Crash,
    /// Every task of the target restarts, one after another.
    RollingRestart,
    /// Service time multiplied by a factor.
    Slowdown,
    /// The app fails a share of requests with a status.
    Errors,
    /// The app runs with fewer workers.
    Saturation,
    /// The app's calls to one virtual service never get an answer.
    Hang,
    /// The task crashes after serving N more requests (a leak).
    Leak,
    /// The sidecar's fault filter delays requests (inbound, at the target).
    HttpDelay,
    /// The sidecar's fault filter aborts requests (inbound, at the target).
    HttpAbort,
    /// Toxiproxy's `bandwidth`: a throughput cap on the target's inbound connections.
    Bandwidth,
    /// Toxiproxy's `reset_peer`: the target's inbound connections are reset.
    ResetPeer,
    /// Toxiproxy's `slow_close`: closing a connection waits.
    SlowClose,
    /// Toxiproxy's `timeout`: bytes stop, and the connection closes after a timeout.
    Stall,
    /// Toxiproxy's `slicer`: bytes go in small slices with pauses.
    Slicer,
    /// Toxiproxy's `limit_data`: a connection closes after N bytes.
    LimitData,
}

impl KindName {
    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            KindName::Latency => "latency",
            KindName::Loss => "loss",
            KindName::Partition => "partition",
            KindName::Hold => "hold",
            KindName::Crash => "crash",
            KindName::RollingRestart => "rolling-restart",
            KindName::Slowdown => "slowdown",
            KindName::Errors => "errors",
            KindName::Saturation => "saturation",
            KindName::Hang => "hang",
            KindName::Leak => "leak",
            KindName::HttpDelay => "http-delay",
            KindName::HttpAbort => "http-abort",
            KindName::Bandwidth => "bandwidth",
            KindName::ResetPeer => "reset-peer",
            KindName::SlowClose => "slow-close",
            KindName::Stall => "stall",
            KindName::Slicer => "slicer",
            KindName::LimitData => "limit-data",
        }
    }

    /// Whether the fault acts on a link (`link:`) rather than on tasks (`target:`).
    pub fn on_link(self) -> bool {
        matches!(
            self,
            KindName::Latency | KindName::Loss | KindName::Partition | KindName::Hold
        )
    }

    /// The kind's own parameters: the only ones it accepts besides the common fields.
    pub fn parameters(self) -> &'static [&'static str] {
        match self {
            KindName::Latency => &["latency", "jitter", "correlation"],
            KindName::Loss => &["percent", "correlation"],
            KindName::Partition => &["oneway"],
            KindName::Hold => &[],
            KindName::Crash => &["restart_after", "deregistration_lag"],
            KindName::RollingRestart => &["interval", "downtime", "deregistration_lag"],
            KindName::Slowdown => &["factor"],
            KindName::Errors => &["percent", "status"],
            KindName::Saturation => &["workers"],
            KindName::Hang => &["service"],
            KindName::Leak => &["after_requests", "restart_after", "deregistration_lag"],
            KindName::HttpDelay => &["delay", "percent", "headers", "max_active_faults"],
            KindName::HttpAbort => &[
                "status",
                "grpc_status",
                "percent",
                "headers",
                "max_active_faults",
            ],
            KindName::Bandwidth => &["rate", "stream", "toxicity"],
            KindName::ResetPeer => &["timeout", "toxicity"],
            KindName::SlowClose => &["delay", "stream", "toxicity"],
            KindName::Stall => &["timeout", "stream", "toxicity"],
            KindName::Slicer => &[
                "average_size",
                "size_variation",
                "delay",
                "stream",
                "toxicity",
            ],
            KindName::LimitData => &["bytes", "stream", "toxicity"],
        }
    }

    /// Whether the kind is an L4 toxic (acts on the bytes of the target's connections).
    pub fn is_toxic(self) -> bool {
        matches!(
            self,
            KindName::Bandwidth
                | KindName::ResetPeer
                | KindName::SlowClose
                | KindName::Stall
                | KindName::Slicer
                | KindName::LimitData
        )
    }
}

/// Tasks selected by any of task name, virtual node and version label (all given must hold).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectorSpec {
    /// One task (`inventory-v1-2`).
    #[serde(default)]
    pub task: Option<String>,
    /// Every task of a virtual node.
    #[serde(default)]
    pub node: Option<String>,
    /// Every task with this version label.
    #[serde(default)]
    pub version: Option<String>,
}

/// Two groups of tasks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// One side (for a one-way partition, the side whose messages are lost).
    pub from: SelectorSpec,
    /// The other side.
    pub to: SelectorSpec,
}

/// One fault, as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Name in reports (default: `<kind>-<index>`).
    #[serde(default)]
    pub name: Option<String>,
    /// What kind of fault.
    pub kind: KindName,
    /// The tasks it acts on (task faults).
    #[serde(default)]
    pub target: Option<SelectorSpec>,
    /// The link it acts on (network faults).
    #[serde(default)]
    pub link: Option<LinkSpec>,
    /// When it starts, from the start of the run.
    pub start: HumanDuration,
    /// How long it lasts (unset: until the end of the run).
    #[serde(default)]
    pub duration: Option<HumanDuration>,
    /// Intensity grows linearly from nothing to full over this long.
    #[serde(default)]
    pub ramp: Option<HumanDuration>,
    /// latency: added one-way delay.
    #[serde(default)]
    pub latency: Option<HumanDuration>,
    /// latency: ± this much, uniformly.
    #[serde(default)]
    pub jitter: Option<HumanDuration>,
    /// latency, loss: netem's correlation with the previous draw, in percent.
    #[serde(default)]
    pub correlation: Option<f64>,
    /// loss, errors, http-*: share in percent.
    #[serde(default)]
    pub percent: Option<f64>,
    /// partition: only `from` → `to` is cut.
    #[serde(default)]
    pub oneway: Option<bool>,
    /// crash, leak: restart this long after the crash (unset: stays down).
    #[serde(default)]
    pub restart_after: Option<HumanDuration>,
    /// crash, rolling-restart, leak: how long Cloud Map keeps a dead task registered.
    #[serde(default)]
    pub deregistration_lag: Option<HumanDuration>,
    /// rolling-restart: between one task's restart and the next.
    #[serde(default)]
    pub interval: Option<HumanDuration>,
    /// rolling-restart: how long each task is down.
    #[serde(default)]
    pub downtime: Option<HumanDuration>,
    /// slowdown: service-time multiplier.
    #[serde(default)]
    pub factor: Option<f64>,
    /// errors, http-abort: HTTP status.
    #[serde(default)]
    pub status: Option<u16>,
    /// http-abort: gRPC status instead of an HTTP one.
    #[serde(default)]
    pub grpc_status: Option<u8>,
    /// saturation: workers left.
    #[serde(default)]
    pub workers: Option<u32>,
    /// hang: the virtual service whose calls hang.
    #[serde(default)]
    pub service: Option<String>,
    /// leak: requests served before the crash.
    #[serde(default)]
    pub after_requests: Option<u64>,
    /// http-delay: the delay; slow-close: the wait before closing; slicer: the pause before
    /// each slice.
    #[serde(default)]
    pub delay: Option<HumanDuration>,
    /// http-*: also (or only, with percent 0) obey `x-envoy-fault-*` request headers.
    #[serde(default)]
    pub headers: Option<bool>,
    /// http-*: Envoy's `max_active_faults`, the requests a task's listener may have with a
    /// fault in progress at once; further ones pass untouched (unset: no limit).
    #[serde(default)]
    pub max_active_faults: Option<u32>,
    /// bandwidth: KB/s (Toxiproxy's unit; 1 KB = 1000 bytes).
    #[serde(default)]
    pub rate: Option<f64>,
    /// toxics: which way the bytes go (default `downstream`, server → client).
    #[serde(default)]
    pub stream: Option<super::toxic::Stream>,
    /// toxics: the probability a connection is affected, 0 to 1 (Toxiproxy's default 1).
    #[serde(default)]
    pub toxicity: Option<f64>,
    /// reset-peer: reset this long after the toxic meets a connection (default 0: at once);
    /// stall: close the connection after this long (unset or 0: never, the bytes just stop).
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    /// slicer: mean slice, bytes.
    #[serde(default)]
    pub average_size: Option<u32>,
    /// slicer: slices vary by up to this many bytes either way (default 0).
    #[serde(default)]
    pub size_variation: Option<u32>,
    /// limit-data: bytes before the connection is closed.
    #[serde(default)]
    pub bytes: Option<u64>,
}

/// Default for how long Cloud Map keeps a crashed task registered: ECS notices the stopped
/// task and deregisters it within seconds; 10 s is our middle of what users report. The
/// sidecars then see the change `discovery.propagation_delay` later.
pub const DEFAULT_DEREGISTRATION_LAG: Duration = Duration::from_secs(10);

/// A fault parameter problem.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FaultError {
    /// A field the kind needs is missing.
    #[error("a `{kind}` fault needs `{field}`")]
    Missing {
        /// Kind.
        kind: &'static str,
        /// Field.
        field: &'static str,
    },
    /// A parameter of another kind.
    #[error("`{field}` does not apply to a `{kind}` fault (it takes {allowed})")]
    NotForKind {
        /// Kind.
        kind: &'static str,
        /// Field.
        field: &'static str,
        /// What it takes.
        allowed: String,
    },
    /// A value out of range.
    #[error("{0}")]
    Range(String),
}

impl FaultSpec {
    /// The fields set, besides the common ones, by name.
    fn parameters_set(&self) -> Vec<&'static str> {
        let mut set = Vec::new();
        let mut add = |name: &'static str, present: bool| {
            if present {
                set.push(name);
            }
        };
        add("latency", self.latency.is_some());
        add("jitter", self.jitter.is_some());
        add("correlation", self.correlation.is_some());
        add("percent", self.percent.is_some());
        add("oneway", self.oneway.is_some());
        add("restart_after", self.restart_after.is_some());
        add("deregistration_lag", self.deregistration_lag.is_some());
        add("interval", self.interval.is_some());
        add("downtime", self.downtime.is_some());
        add("factor", self.factor.is_some());
        add("status", self.status.is_some());
        add("grpc_status", self.grpc_status.is_some());
        add("workers", self.workers.is_some());
        add("service", self.service.is_some());
        add("after_requests", self.after_requests.is_some());
        add("delay", self.delay.is_some());
        add("headers", self.headers.is_some());
        add("max_active_faults", self.max_active_faults.is_some());
        add("rate", self.rate.is_some());
        add("stream", self.stream.is_some());
        add("toxicity", self.toxicity.is_some());
        add("timeout", self.timeout.is_some());
        add("average_size", self.average_size.is_some());
        add("size_variation", self.size_variation.is_some());
        add("bytes", self.bytes.is_some());
        set
    }

    /// Validates the fault; every problem is reported with its field path. `index` names an
    /// unnamed fault.
    pub fn build(&self, index: usize) -> Result<Fault, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let err = |field: &str, e: FaultError| ConfigError::new(field, Problem::Fault(e));
        let kind = self.kind;
        let k = kind.as_str();
        for field in self.parameters_set() {
            if !kind.parameters().contains(&field) {
                let allowed = match kind.parameters() {
                    [] => "no parameters".to_string(),
                    p => p.join(", "),
                };
                errors.push(err(
                    field,
                    FaultError::NotForKind {
                        kind: k,
                        field,
                        allowed,
                    },
                ));
            }
        }
        let missing = |field: &'static str| FaultError::Missing { kind: k, field };
        if kind.on_link() {
            if self.link.is_none() {
                errors.push(err("link", missing("link")));
            }
            if self.target.is_some() {
                errors.push(err(
                    "target",
                    FaultError::Range(format!(
                        "a `{k}` fault acts on a `link` (from, to), not on a `target`"
                    )),
                ));
            }
        } else {
            if self.target.is_none() {
                errors.push(err("target", missing("target")));
            }
            if self.link.is_some() {
                errors.push(err(
                    "link",
                    FaultError::Range(format!(
                        "a `{k}` fault acts on a `target` (tasks), not on a `link`"
                    )),
                ));
            }
        }
        for (field, sel) in [
            ("target", self.target.as_ref()),
            ("link.from", self.link.as_ref().map(|l| &l.from)),
            ("link.to", self.link.as_ref().map(|l| &l.to)),
        ] {
            if let Some(s) = sel
                && s.task.is_none()
                && s.node.is_none()
                && s.version.is_none()
            {
                errors.push(err(
                    field,
                    FaultError::Range(
                        "select tasks by at least one of `task`, `node`, `version`".into(),
                    ),
                ));
            }
        }
        let start = self.start;
        if self.duration.is_some() && matches!(kind, KindName::Crash | KindName::RollingRestart) {
            errors.push(err(
                "duration",
                FaultError::Range(format!(
                    "a `{k}` happens at `start` and has no duration; use `restart_after` or `interval`/`downtime`"
                )),
            ));
        }
        if self.ramp.is_some()
            && !matches!(
                kind,
                KindName::Latency
                    | KindName::Loss
                    | KindName::Slowdown
                    | KindName::Errors
                    | KindName::HttpDelay
                    | KindName::HttpAbort
            )
        {
            errors.push(err(
                "ramp",
                FaultError::Range(format!(
                    "a `{k}` fault has no intensity to ramp (ramps apply to latency, loss, slowdown, errors and http faults)"
                )),
            ));
        }
        if self.duration.is_some_and(|d| d.get().is_zero()) {
            errors.push(err(
                "duration",
                FaultError::Range(
                    "a fault's duration must be above zero (leave it unset for until the end)"
                        .into(),
                ),
            ));
        }
        if let (Some(r), Some(d)) = (self.ramp, self.duration)
            && r.get() > d.get()
        {
            errors.push(err(
                "ramp",
                FaultError::Range(format!(
                    "the ramp ({}) is longer than the fault ({})",
                    show(r.get()),
                    show(d.get())
                )),
            ));
        }
        let percent = |errors: &mut Vec<ConfigError>, required: bool| -> f64 {
            match self.percent {
                Some(p) if p.is_finite() && (0.0..=100.0).contains(&p) => p,
                Some(p) => {
                    errors.push(err(
                        "percent",
                        FaultError::Range(format!("percent must be 0 to 100, got {p}")),
                    ));
                    0.0
                }
                None if required => {
                    errors.push(err("percent", missing("percent")));
                    0.0
                }
                None => 100.0,
            }
        };
        let correlation = match self.correlation {
            Some(c) if c.is_finite() && (0.0..=100.0).contains(&c) => c / 100.0,
            Some(c) => {
                errors.push(err(
                    "correlation",
                    FaultError::Range(format!("correlation must be 0 to 100 (%), got {c}")),
                ));
                0.0
            }
            None => 0.0,
        };
        let lag = self
            .deregistration_lag
            .map_or(DEFAULT_DEREGISTRATION_LAG, HumanDuration::get);
        let status = |errors: &mut Vec<ConfigError>, field: &'static str| -> u16 {
            match self.status {
                Some(s) if (200..=599).contains(&s) => s,
                Some(s) => {
                    errors.push(err(
                        field,
                        FaultError::Range(format!("status must be 200 to 599, got {s}")),
                    ));
                    500
                }
                None => 500,
            }
        };
        let stream = self.stream.unwrap_or_default();
        let toxicity = match self.toxicity {
            Some(t) if t.is_finite() && (0.0..=1.0).contains(&t) => t,
            Some(t) => {
                errors.push(err(
                    "toxicity",
                    FaultError::Range(format!(
                        "toxicity is a probability from 0 to 1 (Toxiproxy's), got {t}"
                    )),
                ));
                1.0
            }
            None => 1.0,
        };
        let toxic = |kind: ToxicKind| FaultKind::Toxic {
            toxic: kind,
            stream,
            toxicity,
        };
        let fault_kind = match kind {
            KindName::Bandwidth => {
                let rate = match self.rate {
                    Some(r) if r.is_finite() && r > 0.0 => r,
                    Some(r) => {
                        errors.push(err(
                            "rate",
                            FaultError::Range(format!(
                                "rate is KB/s and must be above 0, got {r} (use `stall` to stop the bytes)"
                            )),
                        ));
                        1.0
                    }
                    None => {
                        errors.push(err("rate", missing("rate")));
                        1.0
                    }
                };
                toxic(ToxicKind::Bandwidth {
                    bytes_per_second: rate * 1000.0,
                })
            }
            KindName::ResetPeer => toxic(ToxicKind::ResetPeer {
                timeout: self.timeout.map(HumanDuration::get).unwrap_or_default(),
            }),
            KindName::SlowClose => {
                if self.delay.is_none() {
                    errors.push(err("delay", missing("delay")));
                }
                toxic(ToxicKind::SlowClose {
                    delay: self.delay.map(HumanDuration::get).unwrap_or_default(),
                })
            }
            KindName::Stall => toxic(ToxicKind::Stall {
                timeout: self
                    .timeout
                    .map(HumanDuration::get)
                    .filter(|t| !t.is_zero()),
            }),
            KindName::Slicer => {
                let average = match self.average_size {
                    None => {
                        errors.push(err("average_size", missing("average_size")));
                        1
                    }
                    Some(0) => {
                        errors.push(err(
                            "average_size",
                            FaultError::Range("average_size must be at least 1 byte".into()),
                        ));
                        1
                    }
                    Some(a) => a,
                };
                let variation = self.size_variation.unwrap_or(0);
                if variation >= average && self.size_variation.is_some() {
                    errors.push(err(
                        "size_variation",
                        FaultError::Range(format!(
                            "size_variation ({variation}) must be below average_size ({average}), so every slice has a byte"
                        )),
                    ));
                }
                toxic(ToxicKind::Slicer {
                    average_size: average,
                    size_variation: variation.min(average.saturating_sub(1)),
                    delay: self.delay.map(HumanDuration::get).unwrap_or_default(),
                })
            }
            KindName::LimitData => {
                if self.bytes.is_none() {
                    errors.push(err("bytes", missing("bytes")));
                }
                toxic(ToxicKind::LimitData {
                    bytes: self.bytes.unwrap_or(0),
                })
            }
            KindName::Latency => {
                let latency = self.latency.map(HumanDuration::get);
                if latency.is_none() {
                    errors.push(err("latency", missing("latency")));
                }
                FaultKind::Latency {
                    latency: latency.unwrap_or_default(),
                    jitter: self.jitter.map(HumanDuration::get).unwrap_or_default(),
                    correlation,
                }
            }
            KindName::Loss => FaultKind::Loss {
                share: percent(&mut errors, true) / 100.0,
                correlation,
            },
            KindName::Partition => FaultKind::Partition {
                oneway: self.oneway.unwrap_or(false),
            },
            KindName::Hold => FaultKind::Hold,
            KindName::Crash => FaultKind::Crash {
                restart_after: self.restart_after.map(HumanDuration::get),
                deregistration_lag: lag,
            },
            KindName::RollingRestart => {
                let interval = self.interval.map(HumanDuration::get);
                if interval.is_none() {
                    errors.push(err("interval", missing("interval")));
                }
                FaultKind::RollingRestart {
                    interval: interval.unwrap_or_default(),
                    downtime: self
                        .downtime
                        .map_or(Duration::from_secs(10), HumanDuration::get),
                    deregistration_lag: lag,
                }
            }
            KindName::Slowdown => {
                let factor = match self.factor {
                    Some(f) if f.is_finite() && f > 0.0 => f,
                    Some(f) => {
                        errors.push(err(
                            "factor",
                            FaultError::Range(format!("factor must be above 0, got {f}")),
                        ));
                        1.0
                    }
                    None => {
                        errors.push(err("factor", missing("factor")));
                        1.0
                    }
                };
                FaultKind::Slowdown { factor }
            }
            KindName::Errors => FaultKind::Errors {
                share: percent(&mut errors, true) / 100.0,
                status: status(&mut errors, "status"),
            },
            KindName::Saturation => {
                let workers = self.workers;
                match workers {
                    None => errors.push(err("workers", missing("workers"))),
                    Some(0) => errors.push(err(
                        "workers",
                        FaultError::Range(
                            "saturation leaves at least one worker (use `crash` for none)".into(),
                        ),
                    )),
                    Some(_) => {}
                }
                FaultKind::Saturation {
                    workers: workers.unwrap_or(1).max(1),
                }
            }
            KindName::Hang => {
                if self.service.is_none() {
                    errors.push(err("service", missing("service")));
                }
                FaultKind::Hang {
                    service: self.service.clone().unwrap_or_default(),
                }
            }
            KindName::Leak => {
                match self.after_requests {
                    None => errors.push(err("after_requests", missing("after_requests"))),
                    Some(0) => errors.push(err(
                        "after_requests",
                        FaultError::Range("after_requests must be at least 1".into()),
                    )),
                    Some(_) => {}
                }
                FaultKind::Leak {
                    after_requests: self.after_requests.unwrap_or(1),
                    restart_after: self.restart_after.map(HumanDuration::get),
                    deregistration_lag: lag,
                }
            }
            KindName::HttpDelay => {
                let headers = self.headers.unwrap_or(false);
                if self.delay.is_none() && !headers {
                    errors.push(err("delay", missing("delay")));
                }
                FaultKind::HttpDelay {
                    delay: self.delay.map(HumanDuration::get),
                    share: percent(&mut errors, false) / 100.0,
                    headers,
                    max_active_faults: self.max_active_faults,
                }
            }
            KindName::HttpAbort => {
                let headers = self.headers.unwrap_or(false);
                if let Some(g) = self.grpc_status
                    && g > 16
                {
                    errors.push(err(
                        "grpc_status",
                        FaultError::Range(format!("grpc_status must be 0 to 16, got {g}")),
                    ));
                }
                FaultKind::HttpAbort {
                    status: status(&mut errors, "status"),
                    grpc_status: self.grpc_status,
                    share: percent(&mut errors, false) / 100.0,
                    headers,
                    max_active_faults: self.max_active_faults,
                }
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let selector = |s: &SelectorSpec| Selector {
            task: s.task.clone(),
            node: s.node.clone(),
            version: s.version.clone(),
        };
        Ok(Fault {
            name: self
                .name
                .clone()
                .unwrap_or_else(|| format!("{k}-{}", index + 1)),
            kind: fault_kind,
            target: self.target.as_ref().map(selector),
            link: self.link.as_ref().map(|l| Link {
                from: selector(&l.from),
                to: selector(&l.to),
            }),
            window: Window {
                start: start.get(),
                end: self.duration.map(|d| start.get() + d.get()),
                ramp: self.ramp.map(HumanDuration::get),
            },
        })
    }
}

/// A duration as a person writes it: `90s`, `1.5s`, `250ms`.
pub fn show(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}
