//! The control plane between the rollout and the sidecars. App Mesh pushes a route change to
//! each Envoy over its xDS stream, and nothing guarantees they all get it at once: for a while
//! some sidecars split traffic the old way and some the new. Here every published
//! configuration reaches sidecar `i` exactly `delay + extra_i` after it was published, with
//! `extra_i` in `[0, spread]` fixed per sidecar for the whole run: drawn from an RNG the
//! caller passes (seeded, so a run replays), or staggered evenly in name order. A sidecar's
//! extra delay is the same for every change, so changes reach it in the order they were made.
//!
//! Each push carries the whole route configuration (as xDS does), so a sidecar that receives
//! the next one has nothing stale left over.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;

use super::route::{Action, RouteConfig};
use crate::engine::SimTime;

/// A configuration reaching a sidecar.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// When it arrives.
    pub at: SimTime,
    /// Which sidecar (as named at construction: a task or host name).
    pub sidecar: String,
    /// What it applies from then on.
    pub config: RouteConfig,
}

/// The rollout's model of xDS propagation: the route configurations it published and each
/// sidecar's delay, from which [`Propagation::poll`] says when each reaches which sidecar.
/// What a proxy has actually received is the sidecar layer's `RouteOverrides`.
#[derive(Clone, Debug)]
pub struct Propagation {
    delay: Duration,
    extra: BTreeMap<String, Duration>,
    history: Vec<(SimTime, RouteConfig)>,
    delivered: BTreeMap<String, usize>,
}

impl Propagation {
    /// Sidecars with extra delays drawn uniformly from `[0, spread]`, in name order, from
    /// `rng` (pass a stream derived from the run's seed).
    pub fn random(
        initial: RouteConfig,
        delay: Duration,
        spread: Duration,
        sidecars: impl IntoIterator<Item = String>,
        rng: &mut impl Rng,
    ) -> Propagation {
        let names = sorted(sidecars);
        let max = u64::try_from(spread.as_nanos()).unwrap_or(u64::MAX);
        let extra = names
            .into_iter()
            .map(|n| (n, Duration::from_nanos(rng.random_range(0..=max))))
            .collect();
        Propagation::with_extra(initial, delay, extra)
    }

    /// Sidecars with extra delays spaced evenly from 0 to `spread`, in name order (the first
    /// gets none, the last all of it).
    pub fn staggered(
        initial: RouteConfig,
        delay: Duration,
        spread: Duration,
        sidecars: impl IntoIterator<Item = String>,
    ) -> Propagation {
        let names = sorted(sidecars);
        let steps = names.len().saturating_sub(1).max(1) as u32;
        let extra = names
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, spread * i as u32 / steps))
            .collect();
        Propagation::with_extra(initial, delay, extra)
    }

    fn with_extra(
        initial: RouteConfig,
        delay: Duration,
        extra: BTreeMap<String, Duration>,
    ) -> Propagation {
        let delivered = extra.keys().map(|k| (k.clone(), 1)).collect();
        Propagation {
            delay,
            extra,
            history: vec![(SimTime::ZERO, initial)],
            delivered,
        }
    }

    /// How long a change takes to reach a sidecar (an unknown one: the base delay).
    pub fn delay_of(&self, sidecar: &str) -> Duration {
        self.delay + self.extra.get(sidecar).copied().unwrap_or_default()
    }

    /// Publishes a whole configuration at `at` (calls come in time order; several at one
    /// instant make one push, the last).
    pub fn publish(&mut self, at: SimTime, config: RouteConfig) {
        // history[0] is the configuration before any change; it is never replaced.
        let published = self.history.len() > 1;
        match self.history.last_mut() {
            Some((t, c)) if published && *t >= at => *c = config,
            _ => self.history.push((at, config)),
        }
    }

    /// Folds a rollout action into the configuration published at `at`; other actions are
    /// ignored.
    pub fn apply(&mut self, at: SimTime, action: &Action) {
        let Some((_, current)) = self.history.last() else {
            return;
        };
        let mut next = current.clone();
        match action {
            Action::SetWeights(w) => next.weights = *w,
            Action::SetHeaderRoute(m) => next.header_route = m.clone(),
            Action::SetMirror(p) => next.mirror_percent = *p,
            _ => return,
        }
        self.publish(at, next);
    }

    /// What a sidecar applies at `t`: the newest configuration published no later than
    /// `t − its delay`.
    pub fn config_at(&self, sidecar: &str, t: SimTime) -> &RouteConfig {
        let delay = self.delay_of(sidecar);
        let i = self.index_at(t, delay);
        &self.history[i].1
    }

    fn index_at(&self, t: SimTime, delay: Duration) -> usize {
        // history[0] is the initial configuration, in force from the start.
        let visible = self
            .history
            .partition_point(|(at, _)| *at + delay <= t)
            .max(1);
        visible - 1
    }

    /// Configurations that reached a sidecar by `now` since the last call, in time order
    /// (then by sidecar name); a sidecar that missed several gets each, in order.
    pub fn poll(&mut self, now: SimTime) -> Vec<Delivery> {
        let mut out = Vec::new();
        for (name, extra) in &self.extra {
            let delay = self.delay + *extra;
            let seen = self.delivered.entry(name.clone()).or_insert(1);
            while *seen < self.history.len() {
                let (published, config) = &self.history[*seen];
                let at = *published + delay;
                if at > now {
                    break;
                }
                out.push(Delivery {
                    at,
                    sidecar: name.clone(),
                    config: config.clone(),
                });
                *seen += 1;
            }
        }
        out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.sidecar.cmp(&b.sidecar)));
        out
    }

    /// When the next configuration reaches some sidecar.
    pub fn next_delivery(&self) -> Option<SimTime> {
        self.extra
            .iter()
            .filter_map(|(name, extra)| {
                let seen = self.delivered.get(name).copied().unwrap_or(1);
                self.history
                    .get(seen)
                    .map(|(published, _)| *published + self.delay + *extra)
            })
            .min()
    }
}

fn sorted(sidecars: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = sidecars.into_iter().collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::engine::seed;
    use crate::rollout::route::Weights;

    fn at(s: u64) -> SimTime {
        SimTime::from_millis(s * 1000)
    }

    fn weights(c: u32) -> RouteConfig {
        RouteConfig {
            weights: Weights::split(c, false),
            ..RouteConfig::initial()
        }
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("ui-{i}")).collect()
    }

    #[test]
    fn a_change_reaches_sidecars_at_different_times() {
        // Delay 5 s, spread 4 s staggered over three sidecars: 5 s, 7 s, 9 s.
        let mut cp = Propagation::staggered(
            RouteConfig::initial(),
            Duration::from_secs(5),
            Duration::from_secs(4),
            names(3),
        );
        cp.apply(at(60), &Action::SetWeights(Weights::split(10, false)));
        let w = |cp: &Propagation, s: &str, t| cp.config_at(s, at(t)).weights.candidate;
        assert_eq!([w(&cp, "ui-0", 64), w(&cp, "ui-0", 65)], [0, 10]);
        // At 66 s the sidecars disagree: one sends 10 % to the candidate, two send none.
        assert_eq!(
            [w(&cp, "ui-0", 66), w(&cp, "ui-1", 66), w(&cp, "ui-2", 66)],
            [10, 0, 0]
        );
        assert_eq!(
            [w(&cp, "ui-1", 67), w(&cp, "ui-2", 68), w(&cp, "ui-2", 69)],
            [10, 0, 10]
        );
        assert_eq!(cp.next_delivery(), Some(at(65)));
        let d = cp.poll(at(67));
        assert_eq!(
            d.iter()
                .map(|d| (d.sidecar.as_str(), d.at))
                .collect::<Vec<_>>(),
            vec![("ui-0", at(65)), ("ui-1", at(67))]
        );
        assert_eq!(cp.next_delivery(), Some(at(69)));
        assert_eq!(cp.poll(at(100)).len(), 1);
        assert_eq!(cp.next_delivery(), None);
        // An unknown sidecar gets the base delay.
        assert_eq!(w(&cp, "gateway", 65), 10);
    }

    #[test]
    fn a_rollouts_weight_change_reaches_each_sidecar_in_turn() {
        // The rollout decides 10 % at 0 s and 100 % at 60 s; with a 5 s delay staggered over
        // 4 s, ui-0 applies each at +5 s, ui-1 at +7 s, ui-2 at +9 s.
        let json = r#"{ "router": "r", "route": "r", "stable": "v1", "candidate": "v2",
                        "strategy": { "canary": { "steps": [ { "set_weight": 10 },
                                                             { "pause": { "duration": "1m" } } ] } } }"#;
        let mut w = crate::rollout::testkit::World::new(json);
        w.run_until(at(120));
        let mut cp = Propagation::staggered(
            RouteConfig::initial(),
            Duration::from_secs(5),
            Duration::from_secs(4),
            names(3),
        );
        for (t, a) in &w.actions {
            cp.apply(*t, a);
        }
        let seen = |s: &str, t: u64| cp.config_at(s, at(t)).weights.candidate;
        assert_eq!(
            [
                seen("ui-0", 4),
                seen("ui-0", 5),
                seen("ui-1", 6),
                seen("ui-1", 7)
            ],
            [0, 10, 0, 10]
        );
        assert_eq!([seen("ui-2", 8), seen("ui-2", 9)], [0, 10]);
        assert_eq!(
            [
                seen("ui-0", 65),
                seen("ui-1", 66),
                seen("ui-2", 68),
                seen("ui-2", 69)
            ],
            [100, 10, 10, 100]
        );
        let order: Vec<(u64, String, u32)> = cp
            .poll(at(120))
            .into_iter()
            .map(|d| {
                (
                    d.at.as_nanos() / 1_000_000_000,
                    d.sidecar,
                    d.config.weights.candidate,
                )
            })
            .collect();
        assert_eq!(
            order,
            vec![
                (5, "ui-0".into(), 10),
                (7, "ui-1".into(), 10),
                (9, "ui-2".into(), 10),
                (65, "ui-0".into(), 100),
                (67, "ui-1".into(), 100),
                (69, "ui-2".into(), 100),
            ]
        );
    }

    #[test]
    fn random_spread_replays_from_the_seed() {
        let build = |s| {
            let mut rng = seed::stream(s, "rollout/propagation");
            Propagation::random(
                RouteConfig::initial(),
                Duration::from_secs(5),
                Duration::from_secs(10),
                names(8),
                &mut rng,
            )
        };
        let delays = |cp: &Propagation| names(8).iter().map(|n| cp.delay_of(n)).collect::<Vec<_>>();
        assert_eq!(delays(&build(7)), delays(&build(7)));
        assert_ne!(delays(&build(7)), delays(&build(8)));
        assert!(
            delays(&build(7))
                .iter()
                .all(|d| (5..=15).contains(&d.as_secs()))
        );
    }

    proptest! {
        #[test]
        fn each_sidecar_applies_the_latest_change_older_than_its_delay(
            changes in prop::collection::vec((0u64..600, 0u32..=100), 1..20),
            delay in 0u64..30,
            spread in 0u64..30,
            probe in 0u64..700,
        ) {
            let mut cp = Propagation::staggered(
                RouteConfig::initial(),
                Duration::from_secs(delay),
                Duration::from_secs(spread),
                names(4),
            );
            let mut times: Vec<(u64, u32)> = changes;
            times.sort_by_key(|(t, _)| *t);
            for (t, c) in &times {
                cp.publish(at(*t), weights(*c));
            }
            for n in names(4) {
                let d = cp.delay_of(&n);
                let want = times
                    .iter()
                    .rev()
                    .find(|(t, _)| at(*t) + d <= at(probe))
                    .map_or(0, |(_, c)| *c);
                prop_assert_eq!(cp.config_at(&n, at(probe)).weights.candidate, want);
            }
            // Deliveries arrive in time order and each is the configuration it claims.
            let all = cp.poll(SimTime::NEVER);
            prop_assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
            for d in all {
                prop_assert_eq!(&d.config, cp.config_at(&d.sidecar, d.at));
            }
        }
    }
}
