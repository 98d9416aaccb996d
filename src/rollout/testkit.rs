//! A synthetic world for the state-machine tests: a steady request rate on the route, split
//! by the rollout's desired weights at once (no propagation), each arm healthy or not as a
//! test says, every request's latency and error decided without randomness.

use std::time::Duration;

use super::{Action, Arm, Rollout, RolloutSpec, Verdict};
use crate::engine::SimTime;

/// How an arm behaves at a moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Health {
    /// Share of requests that fail, 0..=1.
    pub errors: f64,
    /// Median latency; requests spread evenly from 0.5× to 1.5× of it.
    pub latency_ms: f64,
}

/// Healthy: no errors, 20 ms.
pub const HEALTHY: Health = Health {
    errors: 0.0,
    latency_ms: 20.0,
};

/// 5 % errors.
pub const FAILING: Health = Health {
    errors: 0.05,
    latency_ms: 20.0,
};

type HealthFn = Box<dyn Fn(Arm, SimTime) -> Health>;

/// The synthetic world.
pub struct World {
    pub rollout: Rollout,
    /// Every action with its time.
    pub actions: Vec<(SimTime, Action)>,
    /// Requests per second on the route.
    pub rps: u64,
    /// Requests per second of preview traffic while preview is on.
    pub preview_rps: u64,
    /// Share of requests (percent) that match an A/B route.
    pub matching_percent: u64,
    health: HealthFn,
    now: SimTime,
    error_debt: [f64; 3],
    served: [u64; 3],
}

/// Seconds as simulated time.
pub fn s(secs: u64) -> SimTime {
    SimTime::from_millis(secs * 1000)
}

/// A spec from JSON (the same serde derive the scenario loader uses).
pub fn spec(json: &str) -> RolloutSpec {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("spec: {e}\n{json}"))
}

impl World {
    pub fn new(json: &str) -> World {
        let rollout = Rollout::from_spec(&spec(json)).unwrap_or_else(|e| panic!("{e:?}"));
        World {
            rollout,
            actions: Vec::new(),
            rps: 100,
            preview_rps: 20,
            matching_percent: 20,
            health: Box::new(|_, _| HEALTHY),
            now: SimTime::ZERO,
            error_debt: [0.0; 3],
            served: [0; 3],
        }
    }

    /// Sets how each arm behaves over time.
    pub fn health(mut self, f: impl Fn(Arm, SimTime) -> Health + 'static) -> World {
        self.health = Box::new(f);
        self
    }

    /// The candidate fails from `from` on (5 % errors); others are healthy.
    pub fn candidate_fails_from(self, from: SimTime) -> World {
        self.health(move |arm, t| {
            if arm == Arm::Candidate && t >= from {
                FAILING
            } else {
                HEALTHY
            }
        })
    }

    fn arm_index(arm: Arm) -> usize {
        match arm {
            Arm::Stable => 0,
            Arm::Candidate => 1,
            Arm::Baseline => 2,
        }
    }

    fn serve(&mut self, arm: Arm, n: u64, at: SimTime) {
        let h = (self.health)(arm, at);
        for _ in 0..n {
            let debt = &mut self.error_debt[Self::arm_index(arm)];
            *debt += h.errors;
            let error = *debt >= 1.0;
            if error {
                *debt -= 1.0;
            }
            // Each arm walks the same sequence, so equally healthy arms have equal samples.
            let served = &mut self.served[Self::arm_index(arm)];
            let spread = 0.5 + (*served % 100) as f64 / 100.0;
            *served += 1;
            let latency = Duration::from_secs_f64(h.latency_ms * spread / 1000.0);
            self.rollout.record(arm, at, latency, error, 1);
        }
    }

    /// Runs second by second up to `end` (or until the verdict and every scale-down are in).
    pub fn run_until(&mut self, end: SimTime) -> &mut World {
        loop {
            let now = self.now;
            let new = self.rollout.poll(now);
            self.actions.extend(new);
            let settled = self.rollout.verdict().is_some() && self.rollout.poll_timeout().is_none();
            if settled || now >= end {
                break;
            }
            // The second [now, now + 1 s), routed as the rollout wants it after `now`'s events.
            let d = self.rollout.desired().clone();
            let at = now + Duration::from_millis(500);
            let matching = if d.header_route.is_some() {
                self.rps * self.matching_percent / 100
            } else {
                0
            };
            let weighted = self.rps - matching;
            let candidate = weighted * u64::from(d.weights.candidate) / 100 + matching;
            let baseline = weighted * u64::from(d.weights.baseline) / 100;
            let stable = self.rps - candidate - baseline;
            let mirrored = stable * u64::from(d.mirror_percent) / 100;
            let preview = if self.previewing() {
                self.preview_rps
            } else {
                0
            };
            self.serve(Arm::Stable, stable, at);
            self.serve(Arm::Candidate, candidate + mirrored + preview, at);
            self.serve(Arm::Baseline, baseline, at);
            self.now = now + Duration::from_secs(1);
        }
        self
    }

    /// Runs to `end`, then ends the run.
    pub fn finish_at(&mut self, end: SimTime) -> &mut World {
        self.run_until(end);
        let done = self.rollout.finish(end);
        self.actions.extend(done);
        self
    }

    fn previewing(&self) -> bool {
        self.actions
            .iter()
            .rev()
            .find_map(|(_, a)| match a {
                Action::SetPreview(on) => Some(*on),
                _ => None,
            })
            .unwrap_or(false)
    }

    pub fn verdict(&self) -> Verdict {
        self.rollout.verdict().cloned().unwrap_or_else(|| {
            panic!(
                "no verdict; report: {:#?}",
                self.rollout.report().checks.last()
            )
        })
    }

    pub fn decided_at(&self) -> SimTime {
        self.rollout.decided_at().expect("decided")
    }

    /// Candidate weights set, with their times (seconds).
    pub fn weight_changes(&self) -> Vec<(u64, u32)> {
        self.actions
            .iter()
            .filter_map(|(t, a)| match a {
                Action::SetWeights(w) => Some((t.as_nanos() / 1_000_000_000, w.candidate)),
                _ => None,
            })
            .collect()
    }

    /// Verdict actions emitted.
    pub fn verdicts(&self) -> usize {
        self.actions
            .iter()
            .filter(|(_, a)| matches!(a, Action::Verdict(_)))
            .count()
    }
}

/// The check and step of a rollback, or a panic with the verdict.
pub fn rolled_back(v: &Verdict) -> (&str, usize, SimTime) {
    match v {
        Verdict::RolledBack {
            check,
            step,
            detected_at,
            ..
        } => (check.as_str(), *step, *detected_at),
        other => panic!("expected a rollback, got {other:?}"),
    }
}
