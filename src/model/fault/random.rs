//! Randomised fault schedules (swarm testing, after TigerBeetle's VOPR): kinds, targets, start
//! times, durations and intensities drawn from the run's seed within the bounds a scenario
//! gives. The draw is a plain list of [`Fault`]s, so it is printed, written into the report
//! and replayed exactly like a written schedule.

use std::time::Duration;

use rand::Rng as _;
use serde::Deserialize;

use super::plan::{Plan, TaskRef};
use super::spec::{KindName, SelectorSpec};
use super::{Fault, FaultKind, Link, Selector, Window};
use crate::engine::seed;
use crate::model::duration::HumanDuration;

/// `faults: { random: ... }` as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomSpec {
    /// How many faults to draw.
    pub count: u32,
    /// Kinds to draw from (default: latency, loss, partition, crash, slowdown, errors).
    #[serde(default = "default_kinds")]
    pub kinds: Vec<KindName>,
    /// Groups of tasks faults may hit; link faults join two of them (default: one group per
    /// virtual node of the scenario).
    #[serde(default)]
    pub targets: Vec<SelectorSpec>,
    /// Earliest and latest start.
    pub start: [HumanDuration; 2],
    /// Shortest and longest duration.
    pub duration: [HumanDuration; 2],
    /// latency bounds.
    #[serde(default = "default_latency")]
    pub latency: [HumanDuration; 2],
    /// Percent bounds for loss and errors.
    #[serde(default = "default_percent")]
    pub percent: [f64; 2],
    /// slowdown factor bounds.
    #[serde(default = "default_factor")]
    pub factor: [f64; 2],
}

fn default_kinds() -> Vec<KindName> {
    vec![
        KindName::Latency,
        KindName::Loss,
        KindName::Partition,
        KindName::Crash,
        KindName::Slowdown,
        KindName::Errors,
    ]
}

fn default_latency() -> [HumanDuration; 2] {
    [
        HumanDuration(Duration::from_millis(20)),
        HumanDuration(Duration::from_millis(500)),
    ]
}

fn default_percent() -> [f64; 2] {
    [1.0, 20.0]
}

fn default_factor() -> [f64; 2] {
    [2.0, 10.0]
}

/// A bound problem.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RandomError {
    /// `[min, max]` with min above max, or out of range.
    #[error("`{field}`: {problem}")]
    Bounds {
        /// Field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

impl RandomSpec {
    /// Checks the bounds; every problem is reported.
    pub fn check(&self) -> Vec<RandomError> {
        let mut errors = Vec::new();
        let mut bad = |field: &'static str, problem: String| {
            errors.push(RandomError::Bounds { field, problem });
        };
        if self.count == 0 {
            bad("count", "draw at least one fault".into());
        }
        if self.kinds.is_empty() {
            bad("kinds", "name at least one kind".into());
        }
        for k in &self.kinds {
            if !matches!(
                k,
                KindName::Latency
                    | KindName::Loss
                    | KindName::Partition
                    | KindName::Hold
                    | KindName::Crash
                    | KindName::Slowdown
                    | KindName::Errors
                    | KindName::Saturation
            ) {
                bad(
                    "kinds",
                    format!(
                        "`{}` needs parameters a draw cannot choose; write it as a fault instead",
                        k.as_str()
                    ),
                );
            }
        }
        for (field, [a, b]) in [
            ("start", self.start),
            ("duration", self.duration),
            ("latency", self.latency),
        ] {
            if a > b {
                bad(field, "the first bound is above the second".into());
            }
        }
        if self.duration[0].get().is_zero() {
            bad("duration", "durations must be above zero".into());
        }
        for (field, [a, b], range) in [
            ("percent", self.percent, 0.0..=100.0),
            ("factor", self.factor, 0.0..=1000.0),
        ] {
            if !(range.contains(&a) && range.contains(&b)) || a > b {
                bad(
                    field,
                    format!("bounds must be ordered and within {range:?}, got [{a}, {b}]"),
                );
            }
        }
        errors
    }

    /// Draws the schedule for `seed` over `tasks`. Draws that would contradict an earlier
    /// fault are drawn again (at most 20 times each), so every drawn plan is valid.
    pub fn draw(&self, seed: u64, tasks: &[TaskRef]) -> Vec<Fault> {
        let mut rng = seed::stream(seed, "faults/random");
        let groups: Vec<Selector> = if self.targets.is_empty() {
            let mut nodes: Vec<&str> = tasks.iter().map(|t| t.node.as_str()).collect();
            nodes.dedup();
            nodes.sort_unstable();
            nodes.dedup();
            nodes
                .into_iter()
                .map(|n| Selector {
                    node: Some(n.to_string()),
                    ..Selector::default()
                })
                .collect()
        } else {
            self.targets
                .iter()
                .map(|s| Selector {
                    task: s.task.clone(),
                    node: s.node.clone(),
                    version: s.version.clone(),
                })
                .collect()
        };
        let mut faults: Vec<Fault> = Vec::new();
        if groups.is_empty() || self.kinds.is_empty() {
            return faults;
        }
        let span = |rng: &mut seed::Rng, [a, b]: [HumanDuration; 2]| -> Duration {
            let (a, b) = (a.get().as_millis() as u64, b.get().as_millis() as u64);
            Duration::from_millis(if a >= b { a } else { rng.random_range(a..=b) })
        };
        let real = |rng: &mut seed::Rng, [a, b]: [f64; 2]| -> f64 {
            if a >= b { a } else { rng.random_range(a..=b) }
        };
        for n in 0..self.count {
            for _ in 0..20 {
                let kind = self.kinds[rng.random_range(0..self.kinds.len())];
                let start = span(&mut rng, self.start);
                let duration = span(&mut rng, self.duration);
                let group = groups[rng.random_range(0..groups.len())].clone();
                let fault_kind = match kind {
                    KindName::Latency => FaultKind::Latency {
                        latency: span(&mut rng, self.latency),
                        jitter: Duration::ZERO,
                        correlation: 0.0,
                    },
                    KindName::Loss => FaultKind::Loss {
                        share: real(&mut rng, self.percent) / 100.0,
                        correlation: 0.0,
                    },
                    KindName::Partition => FaultKind::Partition { oneway: false },
                    KindName::Hold => FaultKind::Hold,
                    KindName::Crash => FaultKind::Crash {
                        restart_after: Some(duration),
                        deregistration_lag: super::spec::DEFAULT_DEREGISTRATION_LAG,
                    },
                    KindName::Slowdown => FaultKind::Slowdown {
                        factor: real(&mut rng, self.factor),
                    },
                    KindName::Errors => FaultKind::Errors {
                        share: real(&mut rng, self.percent) / 100.0,
                        status: 500,
                    },
                    _ => FaultKind::Saturation { workers: 1 },
                };
                let (target, link) = if kind.on_link() {
                    let other = groups[rng.random_range(0..groups.len())].clone();
                    (
                        None,
                        Some(Link {
                            from: group,
                            to: other,
                        }),
                    )
                } else {
                    (Some(group), None)
                };
                // A crash's window ends at its restart (the drawn duration).
                let end = Some(start + duration);
                let fault = Fault {
                    name: format!("random-{}-{}", n + 1, kind.as_str()),
                    kind: fault_kind,
                    target,
                    link,
                    window: Window {
                        start,
                        end,
                        ramp: None,
                    },
                };
                let mut candidate = faults.clone();
                candidate.push(fault.clone());
                if Plan::new(candidate, tasks).is_ok() {
                    faults.push(fault);
                    break;
                }
            }
        }
        faults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks() -> Vec<TaskRef> {
        ["ui-v1", "order-v1", "inventory-v1"]
            .iter()
            .flat_map(|n| {
                (1..=2).map(move |i| TaskRef {
                    host: format!("{n}-{i}"),
                    node: n.to_string(),
                    version: "v1".into(),
                })
            })
            .collect()
    }

    fn spec() -> RandomSpec {
        RandomSpec {
            count: 8,
            kinds: default_kinds(),
            targets: Vec::new(),
            start: [
                HumanDuration(Duration::from_secs(60)),
                HumanDuration(Duration::from_secs(300)),
            ],
            duration: [
                HumanDuration(Duration::from_secs(10)),
                HumanDuration(Duration::from_secs(60)),
            ],
            latency: default_latency(),
            percent: default_percent(),
            factor: default_factor(),
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_schedule_within_bounds() {
        let a = spec().draw(7, &tasks());
        assert_eq!(a, spec().draw(7, &tasks()));
        assert_ne!(a, spec().draw(8, &tasks()));
        assert!(!a.is_empty() && a.len() <= 8);
        for f in &a {
            assert!(f.window.start >= Duration::from_secs(60));
            assert!(f.window.start <= Duration::from_secs(300));
            let d = f.window.end.expect("bounded") - f.window.start;
            assert!(d >= Duration::from_secs(10) && d <= Duration::from_secs(60));
        }
        assert!(Plan::new(a, &tasks()).is_ok(), "every draw is a valid plan");
    }

    #[test]
    fn bad_bounds_are_named() {
        let mut s = spec();
        s.percent = [50.0, 10.0];
        s.count = 0;
        let errors = s.check();
        assert_eq!(errors.len(), 2);
        assert!(
            errors
                .iter()
                .any(|e| e.to_string().starts_with("`percent`"))
        );
    }
}
