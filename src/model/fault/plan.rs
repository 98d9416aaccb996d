//! Faults resolved against the run's tasks: the hosts and links each one touches, the
//! contradictions refused, and the rule chain that decides a link's fate at a moment.
//!
//! The chain is the faults in the order written. For a link at a moment, the first
//! `partition` or `hold` in force is the verdict (a cut link carries nothing, so nothing
//! after it matters); otherwise every `latency` and `loss` in force adds its delay. Two faults
//! that cannot both hold on one link at one moment (two of the same kind, or a partition and a
//! hold) are refused when the plan is made, so the order never hides a mistake.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{Fault, FaultKind};

/// A task as faults see it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaskRef {
    /// turmoil host name.
    pub host: String,
    /// Virtual node.
    pub node: String,
    /// Version label.
    pub version: String,
}

/// What a fault touches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Tasks, in task order.
    Hosts(Vec<String>),
    /// Every (from, to) pair of tasks, in order; a task in both groups is not linked to
    /// itself.
    Link(Vec<(String, String)>),
}

/// A plan that cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A selector that matches no task.
    #[error("`{selector}` matches no task of this scenario (tasks: {known})")]
    NoTasks {
        /// The fault's index.
        index: usize,
        /// `target`, `link.from` or `link.to`.
        field: &'static str,
        /// The selector, described.
        selector: String,
        /// Some task names, to help.
        known: String,
    },
    /// Two faults that cannot both hold on one link at one moment.
    #[error(
        "contradicts fault `{other}`: both act on the link {a} ↔ {b} at the same time and a link cannot be {what}"
    )]
    Contradiction {
        /// The later fault's index.
        index: usize,
        /// The earlier one's index.
        other_index: usize,
        /// The earlier one's name.
        other: String,
        /// One end.
        a: String,
        /// The other end.
        b: String,
        /// What cannot be both.
        what: String,
    },
}

impl PlanError {
    /// The index of the fault at fault, and the field to point at.
    pub fn location(&self) -> (usize, &'static str) {
        match self {
            PlanError::NoTasks { index, field, .. } => (*index, field),
            PlanError::Contradiction { index, .. } => (*index, "link"),
        }
    }
}

/// What the chain says of a link's messages at a moment.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkVerdict {
    /// Nothing in force.
    Pass,
    /// Cut (both ways, or only from `from`'s side when one-way).
    Cut {
        /// The fault.
        fault: usize,
    },
    /// Held.
    Hold {
        /// The fault.
        fault: usize,
    },
    /// Delivered late: the latency and loss faults in force, by index.
    Shape {
        /// Faults in force, in chain order.
        faults: Vec<usize>,
    },
}

/// The faults of a run, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The faults, in the order written (the chain order).
    pub faults: Vec<Fault>,
    /// What each touches, by index.
    pub reach: Vec<Reach>,
}

impl Plan {
    /// An empty plan.
    pub fn none() -> Plan {
        Plan {
            faults: Vec::new(),
            reach: Vec::new(),
        }
    }

    /// Resolves `faults` against `tasks`; every problem is reported.
    pub fn new(faults: Vec<Fault>, tasks: &[TaskRef]) -> Result<Plan, Vec<PlanError>> {
        let mut errors = Vec::new();
        let mut reach = Vec::new();
        let known = || {
            let names: Vec<&str> = tasks.iter().map(|t| t.host.as_str()).take(6).collect();
            let more = if tasks.len() > 6 { ", …" } else { "" };
            format!("{}{more}", names.join(", "))
        };
        for (index, fault) in faults.iter().enumerate() {
            let pick = |sel: &super::Selector| -> Vec<String> {
                tasks
                    .iter()
                    .filter(|t| sel.matches(t))
                    .map(|t| t.host.clone())
                    .collect()
            };
            let mut none = |field: &'static str, sel: &super::Selector| {
                errors.push(PlanError::NoTasks {
                    index,
                    field,
                    selector: sel.describe(),
                    known: known(),
                });
            };
            if let Some(link) = &fault.link {
                let from = pick(&link.from);
                let to = pick(&link.to);
                if from.is_empty() {
                    none("link.from", &link.from);
                }
                if to.is_empty() {
                    none("link.to", &link.to);
                }
                let mut pairs = Vec::new();
                for a in &from {
                    for b in &to {
                        if a != b {
                            pairs.push((a.clone(), b.clone()));
                        }
                    }
                }
                reach.push(Reach::Link(pairs));
            } else if let Some(target) = &fault.target {
                let hosts = pick(target);
                if hosts.is_empty() {
                    none("target", target);
                }
                reach.push(Reach::Hosts(hosts));
            } else {
                reach.push(Reach::Hosts(Vec::new()));
            }
        }
        let plan = Plan { faults, reach };
        errors.extend(plan.contradictions());
        if errors.is_empty() {
            Ok(plan)
        } else {
            Err(errors)
        }
    }

    fn contradictions(&self) -> Vec<PlanError> {
        let mut errors = Vec::new();
        let exclusive = |k: &FaultKind| matches!(k, FaultKind::Partition { .. } | FaultKind::Hold);
        for (j, later) in self.faults.iter().enumerate() {
            for (i, earlier) in self.faults.iter().enumerate().take(j) {
                let same = earlier.kind.name() == later.kind.name();
                let both_exclusive = exclusive(&earlier.kind) && exclusive(&later.kind);
                if !(same || both_exclusive) || !earlier.window.overlaps(&later.window) {
                    continue;
                }
                let (Reach::Link(p), Reach::Link(q)) = (&self.reach[i], &self.reach[j]) else {
                    continue;
                };
                let undirected = |(a, b): &(String, String)| {
                    if a <= b {
                        (a.clone(), b.clone())
                    } else {
                        (b.clone(), a.clone())
                    }
                };
                let ps: BTreeSet<_> = p.iter().map(undirected).collect();
                if let Some((a, b)) = q.iter().map(undirected).find(|pair| ps.contains(pair)) {
                    let what = if same {
                        format!("under two `{}` faults at once", later.kind.name().as_str())
                    } else {
                        "partitioned and held at once".to_string()
                    };
                    errors.push(PlanError::Contradiction {
                        index: j,
                        other_index: i,
                        other: earlier.name.clone(),
                        a,
                        b,
                        what,
                    });
                }
            }
        }
        errors
    }

    /// Every unordered pair of hosts some network fault touches.
    pub fn shaped_pairs(&self) -> BTreeSet<(String, String)> {
        let mut set = BTreeSet::new();
        for (f, r) in self.faults.iter().zip(&self.reach) {
            if !matches!(f.kind, FaultKind::Latency { .. } | FaultKind::Loss { .. }) {
                continue;
            }
            if let Reach::Link(pairs) = r {
                for (a, b) in pairs {
                    set.insert(if a <= b {
                        (a.clone(), b.clone())
                    } else {
                        (b.clone(), a.clone())
                    });
                }
            }
        }
        set
    }

    /// The chain's verdict for messages between `a` and `b` (either direction) at `at`.
    pub fn link_verdict(&self, a: &str, b: &str, at: Duration) -> LinkVerdict {
        let mut shaping = Vec::new();
        for (i, (f, r)) in self.faults.iter().zip(&self.reach).enumerate() {
            if !f.window.contains(at) {
                continue;
            }
            let Reach::Link(pairs) = r else { continue };
            let on = pairs
                .iter()
                .any(|(x, y)| (x == a && y == b) || (x == b && y == a));
            if !on {
                continue;
            }
            match f.kind {
                FaultKind::Partition { .. } => return LinkVerdict::Cut { fault: i },
                FaultKind::Hold => return LinkVerdict::Hold { fault: i },
                FaultKind::Latency { .. } | FaultKind::Loss { .. } => shaping.push(i),
                _ => {}
            }
        }
        if shaping.is_empty() {
            LinkVerdict::Pass
        } else {
            LinkVerdict::Shape { faults: shaping }
        }
    }

    /// Every moment a fault starts or ends, sorted, without duplicates.
    pub fn boundaries(&self) -> Vec<Duration> {
        let mut set = BTreeSet::new();
        for f in &self.faults {
            set.insert(f.window.start);
            if let Some(e) = f.window.end {
                set.insert(e);
            }
            if let Some(r) = f.window.ramp {
                set.insert(f.window.start + r);
            }
        }
        set.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Link, Selector, Window};
    use super::*;

    fn tasks() -> Vec<TaskRef> {
        let t = |host: &str, node: &str, version: &str| TaskRef {
            host: host.into(),
            node: node.into(),
            version: version.into(),
        };
        vec![
            t("order-v1-1", "order-v1", "v1"),
            t("inventory-v1-1", "inventory-v1", "v1"),
            t("inventory-v1-2", "inventory-v1", "v1"),
            t("inventory-v2-1", "inventory-v2", "v2"),
        ]
    }

    fn node(n: &str) -> Selector {
        Selector {
            node: Some(n.into()),
            ..Selector::default()
        }
    }

    fn link_fault(name: &str, kind: FaultKind, to: &str, start: u64, end: Option<u64>) -> Fault {
        Fault {
            name: name.into(),
            kind,
            target: None,
            link: Some(Link {
                from: node("order-v1"),
                to: node(to),
            }),
            window: Window {
                start: Duration::from_secs(start),
                end: end.map(Duration::from_secs),
                ramp: None,
            },
        }
    }

    fn latency(ms: u64) -> FaultKind {
        FaultKind::Latency {
            latency: Duration::from_millis(ms),
            jitter: Duration::ZERO,
            correlation: 0.0,
        }
    }

    #[test]
    fn selectors_resolve_to_tasks_and_links_to_pairs() {
        let f = link_fault("l", latency(50), "inventory-v1", 0, None);
        let plan = Plan::new(vec![f], &tasks()).expect("valid");
        assert_eq!(
            plan.reach[0],
            Reach::Link(vec![
                ("order-v1-1".into(), "inventory-v1-1".into()),
                ("order-v1-1".into(), "inventory-v1-2".into()),
            ])
        );
        assert_eq!(plan.shaped_pairs().len(), 2);
    }

    #[test]
    fn a_selector_matching_nothing_is_an_error_naming_the_field() {
        let f = link_fault("l", latency(50), "invntory-v1", 0, None);
        let errors = Plan::new(vec![f], &tasks()).expect_err("no tasks");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].location(), (0, "link.to"));
        assert!(errors[0].to_string().contains("node invntory-v1"));
    }

    #[test]
    fn overlapping_contradictions_are_refused_and_disjoint_ones_allowed() {
        let cut = FaultKind::Partition { oneway: false };
        let plan = Plan::new(
            vec![
                link_fault("a", cut.clone(), "inventory-v1", 10, Some(20)),
                link_fault("b", FaultKind::Hold, "inventory-v1", 15, Some(30)),
            ],
            &tasks(),
        );
        let errors = plan.expect_err("contradiction");
        assert_eq!(errors[0].location(), (1, "link"));
        assert!(errors[0].to_string().contains("partitioned and held"));
        // Same kind, overlapping: refused; one after the other: fine.
        assert!(
            Plan::new(
                vec![
                    link_fault("a", latency(10), "inventory-v1", 0, None),
                    link_fault("b", latency(20), "inventory-v1", 50, Some(60)),
                ],
                &tasks()
            )
            .is_err()
        );
        assert!(
            Plan::new(
                vec![
                    link_fault("a", cut.clone(), "inventory-v1", 10, Some(20)),
                    link_fault("b", FaultKind::Hold, "inventory-v1", 20, Some(30)),
                    link_fault("c", latency(20), "inventory-v1", 0, None),
                    link_fault("d", cut, "inventory-v2", 10, Some(20)),
                ],
                &tasks()
            )
            .is_ok()
        );
    }

    #[test]
    fn the_first_cut_or_hold_wins_and_shaping_faults_add_up() {
        let plan = Plan::new(
            vec![
                link_fault("slow", latency(100), "inventory-v1", 0, None),
                link_fault(
                    "lossy",
                    FaultKind::Loss {
                        share: 0.1,
                        correlation: 0.0,
                    },
                    "inventory-v1",
                    0,
                    Some(100),
                ),
                link_fault(
                    "cut",
                    FaultKind::Partition { oneway: false },
                    "inventory-v1",
                    10,
                    Some(20),
                ),
            ],
            &tasks(),
        )
        .expect("valid");
        let at = Duration::from_secs;
        assert_eq!(
            plan.link_verdict("inventory-v1-1", "order-v1-1", at(5)),
            LinkVerdict::Shape { faults: vec![0, 1] }
        );
        assert_eq!(
            plan.link_verdict("order-v1-1", "inventory-v1-2", at(15)),
            LinkVerdict::Cut { fault: 2 }
        );
        assert_eq!(
            plan.link_verdict("order-v1-1", "inventory-v2-1", at(15)),
            LinkVerdict::Pass
        );
        assert_eq!(
            plan.link_verdict("order-v1-1", "inventory-v1-1", at(200)),
            LinkVerdict::Shape { faults: vec![0] }
        );
        assert_eq!(plan.boundaries(), vec![at(0), at(10), at(20), at(100)]);
    }
}
