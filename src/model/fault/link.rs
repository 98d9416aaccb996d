//! Link faults as decisions: what the fault [`Plan`] does to the messages between two tasks
//! at a moment, for any driver to carry out (the turmoil world sets its link states and
//! latencies from them, `sim::chaos`; a discrete-event world could delay its messages by
//! them).
//!
//! - [`Links`]: the links a `partition` or `hold` may touch, and the state each is in; an
//!   update at a moment returns the changes to make (cut both ways, cut one way, hold,
//!   repair, release), each with the words the chaos log writes for it.
//! - [`Shaper`]: the links a `latency` or `loss` fault may touch; each step it returns the
//!   latency to set on each: the added delay, a jitter draw correlated with the previous one
//!   (netem's `correlation`), and for a lost segment the time TCP takes to resend it
//!   (Linux's 200 ms minimum RTO, doubling while the resend is lost too). A driver whose TCP
//!   has no retransmission of its own (turmoil's) models loss by its effect at the receiver,
//!   a late segment, per link per step.
//!
//! The seeded streams are handed in, so the draws are the driver's to order.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::Rng;

use super::plan::Reach;
use super::{FaultKind, LinkVerdict, Plan};
use crate::engine::{SimTime, time};

/// Linux's minimum retransmission timeout.
pub const MIN_RTO: Duration = Duration::from_millis(200);

/// Two tasks, the lesser name first: a link is undirected.
pub type Pair = (String, String);

/// The state of a link's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Delivered.
    Normal,
    /// Lost: new connections fail at once, open ones hang (a black-holed route).
    Cut {
        /// Only the messages from one side are lost.
        oneway: bool,
        /// One-way: the side whose messages are lost is the pair's first.
        forward: bool,
    },
    /// Held, then delivered together when released.
    Held,
}

/// The state the plan wants for the link between `a` and `b` at `at`, and the fault that
/// wants it (`None`: none does).
pub fn wanted(plan: &Plan, a: &str, b: &str, at: Duration) -> (LinkState, Option<usize>) {
    match plan.link_verdict(a, b, at) {
        LinkVerdict::Cut { fault } => match plan.faults[fault].kind {
            FaultKind::Partition { oneway } => {
                // One-way: only messages from `from`'s side are lost.
                let forward = match &plan.reach[fault] {
                    Reach::Link(p) => p.contains(&(a.to_string(), b.to_string())),
                    Reach::Hosts(_) => true,
                };
                (LinkState::Cut { oneway, forward }, Some(fault))
            }
            _ => (LinkState::Normal, Some(fault)),
        },
        LinkVerdict::Hold { fault } => (LinkState::Held, Some(fault)),
        LinkVerdict::Pass | LinkVerdict::Shape { .. } => (LinkState::Normal, None),
    }
}

/// A link's state to change, in the order the driver makes the changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkChange {
    /// The link.
    pub pair: Pair,
    /// The state it leaves (undone first).
    pub from: LinkState,
    /// The state it enters.
    pub to: LinkState,
    /// What the chaos log says, in order, each with the index of the fault it is for.
    pub notes: Vec<(String, usize)>,
}

/// The links a `partition` or `hold` may touch, and the state each is in.
#[derive(Clone, Debug, Default)]
pub struct Links {
    pairs: Vec<Pair>,
    states: BTreeMap<Pair, (LinkState, Option<usize>)>,
}

impl Links {
    /// Every link a `partition` or `hold` of `plan` names (undirected: two faults naming one
    /// link either way round are one link).
    pub fn new(plan: &Plan) -> Links {
        let mut links = Links::default();
        links.extend(plan);
        links
    }

    /// Adds the links of faults added to the plan; the states of those known stay.
    pub fn extend(&mut self, plan: &Plan) {
        let mut pairs: BTreeSet<Pair> = self.pairs.iter().cloned().collect();
        for (f, r) in plan.faults.iter().zip(&plan.reach) {
            if let (FaultKind::Partition { .. } | FaultKind::Hold, Reach::Link(named)) =
                (&f.kind, r)
            {
                pairs.extend(named.iter().map(|(a, b)| undirected(a, b)));
            }
        }
        self.pairs = pairs.into_iter().collect();
    }

    /// The changes the plan wants at `at`, in link order; the states are taken as made.
    pub fn update(&mut self, plan: &Plan, at: Duration) -> Vec<LinkChange> {
        let mut changes = Vec::new();
        for (a, b) in &self.pairs {
            let want = wanted(plan, a, b, at);
            let key = (a.clone(), b.clone());
            let have = self
                .states
                .get(&key)
                .copied()
                .unwrap_or((LinkState::Normal, None));
            if have.0 == want.0 {
                continue;
            }
            let mut notes = Vec::new();
            let cause = have.1.unwrap_or(usize::MAX);
            match have.0 {
                LinkState::Cut {
                    oneway: true,
                    forward,
                } => {
                    let (from, to) = if forward { (a, b) } else { (b, a) };
                    notes.push((format!("repair {from} → {to}"), cause));
                }
                LinkState::Cut { .. } => {
                    let (x, y) = as_written(plan, cause, a, b);
                    notes.push((format!("repair {x} ↔ {y}"), cause));
                }
                LinkState::Held => {
                    let (x, y) = as_written(plan, cause, a, b);
                    notes.push((format!("release {x} ↔ {y}"), cause));
                }
                LinkState::Normal => {}
            }
            let cause = want.1.unwrap_or(usize::MAX);
            match want.0 {
                LinkState::Cut {
                    oneway: true,
                    forward,
                } => {
                    let (from, to) = if forward { (a, b) } else { (b, a) };
                    notes.push((format!("partition {from} → {to} (one-way)"), cause));
                }
                LinkState::Cut { .. } => {
                    let (x, y) = as_written(plan, cause, a, b);
                    notes.push((format!("partition {x} ↔ {y}"), cause));
                }
                LinkState::Held => {
                    let (x, y) = as_written(plan, cause, a, b);
                    notes.push((format!("hold {x} ↔ {y}"), cause));
                }
                LinkState::Normal => {}
            }
            changes.push(LinkChange {
                pair: key.clone(),
                from: have.0,
                to: want.0,
                notes,
            });
            self.states.insert(key, want);
        }
        changes
    }
}

/// The two ends of a link in the order fault `fault` names them (`from` first).
fn as_written(plan: &Plan, fault: usize, a: &str, b: &str) -> (String, String) {
    let forward = match plan.reach.get(fault) {
        Some(Reach::Link(pairs)) => pairs.iter().any(|(x, y)| x == a && y == b),
        _ => true,
    };
    if forward {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

fn undirected(a: &str, b: &str) -> Pair {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

/// The latency a shaped link is to have for the coming step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Latency {
    /// No shaping fault is in force any more: back to the world's own latency and jitter.
    Base,
    /// The world's base latency plus this much, on a whole tick.
    Extra(Duration),
}

/// Correlated draws of one shaped link.
#[derive(Clone, Debug, Default)]
struct Shaping {
    jitter: f64,
    loss: f64,
    active: bool,
}

/// The links a `latency` or `loss` fault may touch, and each one's correlated draws.
#[derive(Clone, Debug, Default)]
pub struct Shaper {
    shaped: BTreeMap<Pair, Shaping>,
}

impl Shaper {
    /// Every link a `latency` or `loss` fault of `plan` names.
    pub fn new(plan: &Plan) -> Shaper {
        let mut shaper = Shaper::default();
        shaper.extend(plan);
        shaper
    }

    /// Adds the links of faults added to the plan; the draws of those known stay.
    pub fn extend(&mut self, plan: &Plan) {
        for pair in plan.shaped_pairs() {
            self.shaped.entry(pair).or_default();
        }
    }

    /// Whether no link is shaped.
    pub fn is_empty(&self) -> bool {
        self.shaped.is_empty()
    }

    /// The links whose latency is to change for the coming step at `at`, in link order:
    /// each shaped link with a `latency` or `loss` fault in force gets its extra delay
    /// (drawn from `rng`, put on a tick with `rounding`); one whose faults have all ended
    /// goes back to [`Latency::Base`] once.
    pub fn shape(
        &mut self,
        plan: &Plan,
        at: Duration,
        rng: &mut impl Rng,
        rounding: &mut impl Rng,
    ) -> Vec<(Pair, Latency)> {
        let mut out = Vec::new();
        for (key, state) in &mut self.shaped {
            let LinkVerdict::Shape { faults } = plan.link_verdict(&key.0, &key.1, at) else {
                if state.active {
                    *state = Shaping::default();
                    out.push((key.clone(), Latency::Base));
                }
                continue;
            };
            let mut extra = Duration::ZERO;
            for i in faults {
                let fault = &plan.faults[i];
                let intensity = fault.window.intensity(at);
                match fault.kind {
                    FaultKind::Latency {
                        latency,
                        jitter,
                        correlation,
                    } => {
                        let fresh: f64 = rng.random_range(-1.0..=1.0);
                        state.jitter = correlation * state.jitter + (1.0 - correlation) * fresh;
                        let ms = latency.as_secs_f64() * 1000.0
                            + state.jitter * jitter.as_secs_f64() * 1000.0;
                        extra += Duration::from_secs_f64((ms * intensity).max(0.0) / 1000.0);
                    }
                    FaultKind::Loss { share, correlation } => {
                        let fresh: f64 = rng.random_range(0.0..1.0);
                        state.loss = correlation * state.loss + (1.0 - correlation) * fresh;
                        let p = share * intensity;
                        if state.loss < p {
                            // The resend is lost again with the same odds; each loss doubles
                            // the RTO.
                            let mut rto = MIN_RTO;
                            extra += rto;
                            while rng.random_bool(p.clamp(0.0, 0.999))
                                && rto < Duration::from_secs(60)
                            {
                                rto *= 2;
                                extra += rto;
                            }
                        }
                    }
                    _ => {}
                }
                state.active = true;
            }
            // turmoil delivers on the first tick at or after the latency: put the extra on a
            // tick without bias, as the apps' service times are.
            let extra = time::dither(SimTime::from_duration(extra), rounding);
            out.push((key.clone(), Latency::Extra(extra.since_start())));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Fault, Link, Selector, TaskRef, Window};
    use super::*;
    use crate::engine::seed;

    fn tasks() -> Vec<TaskRef> {
        let t = |host: &str, node: &str| TaskRef {
            host: host.into(),
            node: node.into(),
            version: "v1".into(),
        };
        vec![t("order-1", "order"), t("inventory-1", "inventory")]
    }

    fn node(n: &str) -> Selector {
        Selector {
            node: Some(n.into()),
            ..Selector::default()
        }
    }

    fn fault(kind: FaultKind, from: &str, to: &str, start: u64, end: u64) -> Fault {
        Fault {
            name: format!("f{start}"),
            kind,
            target: None,
            link: Some(Link {
                from: node(from),
                to: node(to),
            }),
            window: Window {
                start: Duration::from_secs(start),
                end: Some(Duration::from_secs(end)),
                ramp: None,
            },
        }
    }

    fn plan(faults: Vec<Fault>) -> Plan {
        Plan::new(faults, &tasks()).expect("a valid plan")
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn pair() -> Pair {
        ("inventory-1".into(), "order-1".into())
    }

    #[test]
    fn a_partition_cuts_the_link_in_its_window_and_repairs_it_after() {
        let p = plan(vec![fault(
            FaultKind::Partition { oneway: false },
            "order",
            "inventory",
            10,
            20,
        )]);
        let mut links = Links::new(&p);
        assert!(links.update(&p, secs(5)).is_empty());
        let cut = LinkState::Cut {
            oneway: false,
            forward: false,
        };
        assert_eq!(
            links.update(&p, secs(10)),
            vec![LinkChange {
                pair: pair(),
                from: LinkState::Normal,
                to: cut,
                notes: vec![("partition order-1 ↔ inventory-1".into(), 0)],
            }]
        );
        assert!(links.update(&p, secs(15)).is_empty(), "no change, no call");
        assert_eq!(
            links.update(&p, secs(20)),
            vec![LinkChange {
                pair: pair(),
                from: cut,
                to: LinkState::Normal,
                notes: vec![("repair order-1 ↔ inventory-1".into(), 0)],
            }]
        );
    }

    #[test]
    fn a_one_way_partition_loses_only_its_from_side_s_messages() {
        let p = plan(vec![fault(
            FaultKind::Partition { oneway: true },
            "order",
            "inventory",
            0,
            10,
        )]);
        // The pair is stored lesser name first (inventory, order); order's side is lost.
        assert_eq!(
            wanted(&p, "inventory-1", "order-1", secs(1)),
            (
                LinkState::Cut {
                    oneway: true,
                    forward: false
                },
                Some(0)
            )
        );
        assert_eq!(
            wanted(&p, "order-1", "inventory-1", secs(1)).0,
            LinkState::Cut {
                oneway: true,
                forward: true
            }
        );
        let mut links = Links::new(&p);
        let changes = links.update(&p, secs(1));
        assert_eq!(
            changes[0].notes,
            vec![("partition order-1 → inventory-1 (one-way)".into(), 0)]
        );
        let changes = links.update(&p, secs(10));
        assert_eq!(
            changes[0].notes,
            vec![("repair order-1 → inventory-1".into(), 0)]
        );
    }

    #[test]
    fn a_hold_then_a_partition_on_one_link_release_then_cut() {
        let p = plan(vec![
            fault(FaultKind::Hold, "order", "inventory", 0, 5),
            fault(
                FaultKind::Partition { oneway: false },
                "inventory",
                "order",
                5,
                9,
            ),
        ]);
        let mut links = Links::new(&p);
        let held = links.update(&p, secs(0));
        assert_eq!(held[0].to, LinkState::Held);
        assert_eq!(
            held[0].notes,
            vec![("hold order-1 ↔ inventory-1".into(), 0)]
        );
        let next = links.update(&p, secs(5));
        assert_eq!(next.len(), 1, "one link, written either way round");
        assert_eq!(
            next[0].notes,
            vec![
                ("release order-1 ↔ inventory-1".into(), 0),
                ("partition inventory-1 ↔ order-1".into(), 1)
            ]
        );
        assert_eq!(next[0].from, LinkState::Held);
    }

    #[test]
    fn latency_adds_its_delay_while_in_force_then_the_link_goes_back_to_base_once() {
        let p = plan(vec![fault(
            FaultKind::Latency {
                latency: Duration::from_millis(100),
                jitter: Duration::ZERO,
                correlation: 0.0,
            },
            "order",
            "inventory",
            1,
            2,
        )]);
        let mut shaper = Shaper::new(&p);
        let (mut rng, mut rounding) = (seed::stream(1, "net"), seed::stream(1, "round"));
        let mut shape = |s: &mut Shaper, at| s.shape(&p, at, &mut rng, &mut rounding);
        assert!(shape(&mut shaper, secs(0)).is_empty(), "not shaped before");
        assert_eq!(
            shape(&mut shaper, secs(1)),
            vec![(pair(), Latency::Extra(Duration::from_millis(100)))]
        );
        assert_eq!(shape(&mut shaper, secs(2)), vec![(pair(), Latency::Base)]);
        assert!(shape(&mut shaper, secs(3)).is_empty(), "reset once");
    }

    #[test]
    fn a_lost_segment_costs_at_least_one_rto_and_jitter_stays_within_its_bound() {
        let p = plan(vec![fault(
            FaultKind::Loss {
                share: 1.0,
                correlation: 0.0,
            },
            "order",
            "inventory",
            0,
            10,
        )]);
        let mut shaper = Shaper::new(&p);
        let (mut rng, mut rounding) = (seed::stream(2, "net"), seed::stream(2, "round"));
        let out = shaper.shape(&p, secs(1), &mut rng, &mut rounding);
        let [(_, Latency::Extra(extra))] = out[..] else {
            panic!("{out:?}");
        };
        assert!(extra >= MIN_RTO, "{extra:?}");
        let p = plan(vec![fault(
            FaultKind::Latency {
                latency: Duration::from_millis(50),
                jitter: Duration::from_millis(20),
                correlation: 0.5,
            },
            "order",
            "inventory",
            0,
            10,
        )]);
        let mut shaper = Shaper::new(&p);
        let mut seen = BTreeSet::new();
        for _ in 0..200 {
            let out = shaper.shape(&p, secs(1), &mut rng, &mut rounding);
            let [(_, Latency::Extra(extra))] = out[..] else {
                panic!("{out:?}");
            };
            assert!(
                (Duration::from_millis(30)..=Duration::from_millis(70)).contains(&extra),
                "{extra:?}"
            );
            seen.insert(extra);
        }
        assert!(seen.len() > 10, "the jitter varies: {seen:?}");
    }

    #[test]
    fn the_same_streams_give_the_same_latencies() {
        let p = plan(vec![fault(
            FaultKind::Loss {
                share: 0.3,
                correlation: 0.25,
            },
            "order",
            "inventory",
            0,
            10,
        )]);
        let run = || {
            let mut shaper = Shaper::new(&p);
            let (mut rng, mut rounding) = (seed::stream(3, "net"), seed::stream(3, "round"));
            (0..50)
                .map(|i| shaper.shape(&p, Duration::from_millis(i * 100), &mut rng, &mut rounding))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }
}
