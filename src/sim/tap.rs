//! What a run hands out beyond its numbers: the sampled requests' traces, kept for the
//! report, and access-log lines, handed to a sink as the run drains them so that a long run's
//! full logs never sit in memory.
//!
//! The world only knows the proxies' lines; what a sink makes of them (Envoy's text format,
//! files per sidecar) belongs to the report layer above.

use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::proxy::attempts::{Sampler, Tracing, UserRequest};
use crate::proxy::{AccessLogEntry, Telemetry};

/// Where access-log lines go while a run goes.
pub trait LineSink {
    /// One line, in the order the proxies wrote them.
    fn line(&mut self, line: &AccessLogEntry);
}

/// Which lines an access-log sink gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessLogMode {
    /// Lines of sampled requests only (`Sampled=1`): cheap, and each line has its trace.
    Sampled,
    /// Every line, health checks included, as an Envoy with access logging on writes them.
    Full,
}

/// An access-log sink and the lines it wants. Shared through a mutex so that run options
/// can be handed to the thread a run goes on (the TUI's); the world locks it once a drain.
#[derive(Clone)]
pub struct AccessLogTap {
    /// Which lines.
    pub mode: AccessLogMode,
    /// Where they go.
    pub sink: Arc<Mutex<dyn LineSink + Send>>,
}

impl fmt::Debug for AccessLogTap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLogTap")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// The sampled requests of a run: each hop's line with its detail, and each request's root
/// as the users saw it.
#[derive(Clone, Debug, Default)]
pub struct Traces {
    /// The share sampled (`report.trace_sample` or its override).
    pub rate: f64,
    /// The one request traced, when a rerun asked for one.
    pub only: Option<u64>,
    /// The sampled requests' access-log lines, each with its hop's detail, in the order
    /// they were written.
    pub hops: Vec<AccessLogEntry>,
    /// The sampled user requests, in the order they ended.
    pub users: Vec<UserRequest>,
}

impl Traces {
    /// What the proxies are asked to record for these traces and for `tap`.
    pub(crate) fn tracing(&self, seed: u64, tap: Option<&AccessLogTap>) -> Tracing {
        Tracing {
            sampler: match self.only {
                Some(seq) => Sampler::only(seq),
                None => Sampler::new(seed, self.rate),
            },
            envoy_fields: tap.is_some_and(|t| t.mode == AccessLogMode::Full),
        }
    }

    /// Takes what a drain brings: the sampled lines among `lines` (copied; the world keeps
    /// the lines for the metrics), the users' roots from `telemetry`, and hands the lines
    /// `tap` wants to its sink.
    pub(crate) fn collect(
        &mut self,
        lines: &[AccessLogEntry],
        telemetry: &RefCell<Telemetry>,
        tap: Option<&AccessLogTap>,
    ) {
        self.hops
            .extend(lines.iter().filter(|l| l.detail.is_some()).cloned());
        self.users.append(&mut telemetry.borrow_mut().users);
        if let Some(tap) = tap {
            // A sink that panicked mid-line is still a sink: keep writing.
            let mut sink = tap
                .sink
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for l in lines {
                if tap.mode == AccessLogMode::Full || l.detail.is_some() {
                    sink.line(l);
                }
            }
        }
    }
}
