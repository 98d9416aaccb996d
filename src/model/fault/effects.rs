//! What the faults in force do to one task at a moment: the board a task's app and sidecar
//! read on every request. The world recomputes it from the [`Plan`] whenever a fault starts,
//! ends or ramps; apps and sidecars only read it (and count a leaking task's requests).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::plan::{Plan, Reach};
use super::toxic::Toxic;
use super::{Fault, FaultKind};

/// An HTTP fault in force at a task's inbound listener.
#[derive(Clone, Debug, PartialEq)]
pub enum HttpFault {
    /// Hold the request.
    Delay {
        /// Fixed delay (none: only header-controlled).
        delay: Option<Duration>,
        /// Share delayed, already scaled by the ramp.
        share: f64,
        /// Obey `x-envoy-fault-delay-request`.
        headers: bool,
        /// Cap on requests with a fault in progress at the listener.
        max_active_faults: Option<u32>,
    },
    /// Answer locally.
    Abort {
        /// HTTP status.
        status: u16,
        /// gRPC status instead.
        grpc_status: Option<u8>,
        /// Share aborted, already scaled by the ramp.
        share: f64,
        /// Obey `x-envoy-fault-abort-request`.
        headers: bool,
        /// Cap on requests with a fault in progress at the listener.
        max_active_faults: Option<u32>,
    },
}

/// A leak in force: the task crashes after serving this many requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeakEffect {
    /// The fault.
    pub fault: usize,
    /// Requests served before the crash.
    pub after_requests: u64,
}

/// Everything in force at one task.
#[derive(Clone, Debug, PartialEq)]
pub struct HostEffects {
    /// Service-time multiplier (1 = none).
    pub slowdown: f64,
    /// Share of requests the app fails, and the status.
    pub errors: Option<(f64, u16)>,
    /// Workers left.
    pub workers: Option<u32>,
    /// Virtual services whose calls hang.
    pub hang: BTreeSet<String>,
    /// A leak.
    pub leak: Option<LeakEffect>,
    /// HTTP faults, in chain order.
    pub http: Vec<HttpFault>,
    /// L4 toxics on the task's inbound connections.
    pub toxics: Vec<Toxic>,
}

impl Default for HostEffects {
    fn default() -> Self {
        HostEffects {
            slowdown: 1.0,
            errors: None,
            workers: None,
            hang: BTreeSet::new(),
            leak: None,
            http: Vec::new(),
            toxics: Vec::new(),
        }
    }
}

impl HostEffects {
    /// Whether nothing is in force.
    pub fn is_clear(&self) -> bool {
        *self == HostEffects::default()
    }

    fn apply(&mut self, index: usize, fault: &Fault, intensity: f64) {
        match &fault.kind {
            FaultKind::Slowdown { factor } => {
                self.slowdown *= 1.0 + (factor - 1.0) * intensity;
            }
            FaultKind::Errors { share, status } => {
                let (prev, _) = self.errors.unwrap_or((0.0, *status));
                // Independent error sources: fail unless every one spares the request.
                let combined = 1.0 - (1.0 - prev) * (1.0 - share * intensity);
                self.errors = Some((combined, *status));
            }
            FaultKind::Saturation { workers } => {
                self.workers = Some(self.workers.map_or(*workers, |w| w.min(*workers)));
            }
            FaultKind::Hang { service } => {
                self.hang.insert(service.clone());
            }
            FaultKind::Leak { after_requests, .. } if self.leak.is_none() => {
                self.leak = Some(LeakEffect {
                    fault: index,
                    after_requests: *after_requests,
                });
            }
            FaultKind::HttpDelay {
                delay,
                share,
                headers,
                max_active_faults,
            } => self.http.push(HttpFault::Delay {
                delay: *delay,
                share: share * intensity,
                headers: *headers,
                max_active_faults: *max_active_faults,
            }),
            FaultKind::HttpAbort {
                status,
                grpc_status,
                share,
                headers,
                max_active_faults,
            } => self.http.push(HttpFault::Abort {
                status: *status,
                grpc_status: *grpc_status,
                share: share * intensity,
                headers: *headers,
                max_active_faults: *max_active_faults,
            }),
            FaultKind::Toxic {
                toxic,
                stream,
                toxicity,
            } => self.toxics.push(Toxic {
                fault: index,
                kind: *toxic,
                stream: *stream,
                toxicity: *toxicity,
            }),
            _ => {}
        }
    }
}

/// The board: effects by task, and the crash requests of leaking tasks.
#[derive(Clone, Debug, Default)]
pub struct Effects {
    hosts: BTreeMap<String, HostEffects>,
    served: BTreeMap<(usize, String), u64>,
    crashes: Vec<(String, usize)>,
}

impl Effects {
    /// Recomputes every task's effects at `at` (since the start of the run).
    pub fn update(&mut self, plan: &Plan, at: Duration) {
        let mut hosts: BTreeMap<String, HostEffects> = BTreeMap::new();
        for (index, (fault, reach)) in plan.faults.iter().zip(&plan.reach).enumerate() {
            let intensity = fault.window.intensity(at);
            if intensity <= 0.0 {
                continue;
            }
            let Reach::Hosts(targets) = reach else {
                continue;
            };
            for host in targets {
                hosts
                    .entry(host.clone())
                    .or_default()
                    .apply(index, fault, intensity);
            }
        }
        self.hosts = hosts;
    }

    /// The toxics in force at `host`'s inbound connections (usually none).
    pub fn toxics(&self, host: &str) -> &[Toxic] {
        self.hosts.get(host).map_or(&[], |h| h.toxics.as_slice())
    }

    /// What is in force at `host` (nothing, for a task no fault touches).
    pub fn at(&self, host: &str) -> Option<&HostEffects> {
        self.hosts.get(host)
    }

    /// A task served a request. Under a leak, counts it, and when the count is reached asks
    /// the world to crash the task (once per leak fault); returns whether it did.
    pub fn on_request_served(&mut self, host: &str) -> bool {
        let Some(leak) = self.hosts.get(host).and_then(|h| h.leak) else {
            return false;
        };
        let served = self
            .served
            .entry((leak.fault, host.to_string()))
            .or_default();
        *served += 1;
        if *served == leak.after_requests {
            self.crashes.push((host.to_string(), leak.fault));
            return true;
        }
        false
    }

    /// Takes the crashes leaking tasks asked for: (host, fault index).
    pub fn take_crashes(&mut self) -> Vec<(String, usize)> {
        std::mem::take(&mut self.crashes)
    }

    /// Forgets a task's leak count (it restarted with fresh memory).
    pub fn restarted(&mut self, host: &str) {
        self.served.retain(|(_, h), _| h != host);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Selector, Window};
    use super::*;
    use crate::model::fault::TaskRef;

    fn fault(kind: FaultKind, ramp: Option<u64>) -> Fault {
        Fault {
            name: "f".into(),
            kind,
            target: Some(Selector {
                node: Some("inventory-v1".into()),
                ..Selector::default()
            }),
            link: None,
            window: Window {
                start: Duration::from_secs(10),
                end: Some(Duration::from_secs(30)),
                ramp: ramp.map(Duration::from_secs),
            },
        }
    }

    fn plan(faults: Vec<Fault>) -> Plan {
        let tasks = vec![TaskRef {
            host: "inventory-v1-1".into(),
            node: "inventory-v1".into(),
            version: "v1".into(),
        }];
        Plan::new(faults, &tasks).expect("valid")
    }

    #[test]
    fn effects_follow_windows_and_ramps() {
        let p = plan(vec![
            fault(FaultKind::Slowdown { factor: 5.0 }, Some(10)),
            fault(
                FaultKind::Errors {
                    share: 0.5,
                    status: 503,
                },
                None,
            ),
        ]);
        let mut e = Effects::default();
        e.update(&p, Duration::from_secs(5));
        assert!(e.at("inventory-v1-1").is_none());
        e.update(&p, Duration::from_secs(15));
        let h = e.at("inventory-v1-1").expect("in force");
        assert_eq!(h.slowdown, 3.0, "half way up the ramp: 1 + 4 × 0.5");
        assert_eq!(h.errors, Some((0.5, 503)));
        e.update(&p, Duration::from_secs(25));
        assert_eq!(e.at("inventory-v1-1").map(|h| h.slowdown), Some(5.0));
        e.update(&p, Duration::from_secs(30));
        assert!(e.at("inventory-v1-1").is_none());
    }

    #[test]
    fn a_leak_asks_for_one_crash_after_n_requests() {
        let p = plan(vec![fault(
            FaultKind::Leak {
                after_requests: 3,
                restart_after: None,
                deregistration_lag: Duration::from_secs(10),
            },
            None,
        )]);
        let mut e = Effects::default();
        e.update(&p, Duration::from_secs(11));
        assert!(!e.on_request_served("inventory-v1-1"));
        assert!(!e.on_request_served("inventory-v1-1"));
        assert!(e.on_request_served("inventory-v1-1"));
        assert!(!e.on_request_served("inventory-v1-1"));
        assert_eq!(e.take_crashes(), vec![("inventory-v1-1".to_string(), 0)]);
        assert!(e.take_crashes().is_empty());
        assert!(!e.on_request_served("order-v1-1"));
    }
}
