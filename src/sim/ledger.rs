//! The users' ledger: every request the load generator issues ends here exactly once, as a
//! success or a named failure, with its latency measured from the moment it was meant to be
//! sent.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::metrics::Latencies;
use crate::proxy::ResponseFlag;

/// How one user request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserOutcome {
    /// An HTTP answer; `flag` when a proxy made it itself.
    Answered {
        /// Status.
        status: u16,
        /// The proxy's response flag, if it was a local reply.
        flag: Option<ResponseFlag>,
    },
    /// The user gave up (the workload's timeout).
    ClientTimeout,
    /// The connection to the entry point could not be made.
    ConnectFailure,
    /// The connection broke before the answer.
    Reset,
}

impl UserOutcome {
    /// Whether the user got what they asked for (2xx or 3xx).
    pub fn succeeded(self) -> bool {
        matches!(self, UserOutcome::Answered { status, .. } if status < 400)
    }

    /// The failure's name in reports (`None` for a success).
    ///
    /// A proxy's local reply is named by its response flag (`upstream_timeout`, `overflow`,
    /// `no_healthy_upstream`, …), an app's own answer by its status (`http_500`,
    /// `http_409`), and the load generator's own failures as such.
    pub fn failure_reason(self) -> Option<String> {
        if self.succeeded() {
            return None;
        }
        Some(match self {
            UserOutcome::Answered {
                flag: Some(f),
                status,
            } => format!("{}_{status}", f.reason()),
            UserOutcome::Answered { status, .. } => format!("http_{status}"),
            UserOutcome::ClientTimeout => "client_timeout".into(),
            UserOutcome::ConnectFailure => "connect_failure".into(),
            UserOutcome::Reset => "connection_reset".into(),
        })
    }
}

/// Totals of the users' requests.
#[derive(Clone, Debug, Default)]
pub struct UserLedger {
    /// Requests sent.
    pub issued: u64,
    /// Requests ended with a 2xx or 3xx.
    pub succeeded: u64,
    /// Failures by reason.
    pub failed_by_reason: BTreeMap<String, u64>,
    /// Latency of every ended request (successes and failures), from its intended send time.
    pub latencies: Latencies,
    /// Latency of successes only.
    pub success_latencies: Latencies,
}

impl UserLedger {
    /// A request was sent.
    pub fn issue(&mut self) {
        self.issued += 1;
    }

    /// A request ended.
    pub fn end(&mut self, outcome: UserOutcome, latency: Duration) {
        self.latencies.record(latency);
        match outcome.failure_reason() {
            None => {
                self.succeeded += 1;
                self.success_latencies.record(latency);
            }
            Some(reason) => *self.failed_by_reason.entry(reason).or_default() += 1,
        }
    }

    /// Requests that failed.
    pub fn failed(&self) -> u64 {
        self.failed_by_reason.values().sum()
    }

    /// Requests that have ended.
    pub fn ended(&self) -> u64 {
        self.succeeded + self.failed()
    }

    /// Requests still in flight.
    pub fn in_flight(&self) -> u64 {
        self.issued - self.ended()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_named_and_totals_add_up() {
        let mut l = UserLedger::default();
        let ms = Duration::from_millis;
        for o in [
            UserOutcome::Answered {
                status: 200,
                flag: None,
            },
            UserOutcome::Answered {
                status: 503,
                flag: Some(ResponseFlag::Overflow),
            },
            UserOutcome::Answered {
                status: 500,
                flag: None,
            },
            UserOutcome::ClientTimeout,
        ] {
            l.issue();
            l.end(o, ms(5));
        }
        l.issue();
        assert_eq!(l.succeeded, 1);
        assert_eq!(l.failed(), 3);
        assert_eq!(l.in_flight(), 1);
        assert_eq!(
            l.failed_by_reason.keys().collect::<Vec<_>>(),
            ["client_timeout", "http_500", "overflow_503"]
        );
    }
}
