//! A rehearsal: a scenario's world run with its rollout steering the mesh, as App Mesh's
//! control plane would. The rollout (sans-IO, [`crate::rollout`]) decides; this module is the
//! pilot that feeds it what each arm's sidecars saw and carries its decisions into the world
//! through the [`Controller`] seam: weights, A/B steering and mirroring sent to every proxy
//! with its own propagation delay, and scale-downs.
//!
//! Layering: above `sim` and `rollout`, below `report` and the CLI.

use std::rc::Rc;

use crate::config::model::Mesh;
use crate::engine::{SimTime, seed};
use crate::proxy::control::{Mirror, RouteOverride, Steer};
use crate::proxy::{AccessLogEntry, Direction};
use crate::rollout::plan::Targets;
use crate::rollout::{
    Action, Outcome, Plan, Propagation, Rollout, RolloutReport, RouteConfig, Weights,
};
use crate::scenario::Scenario;
use crate::sim::{
    self, Change, Controller, Progress, ProxyRef, RunOptions, RunResult, SimError, WorldView,
};

/// Blue/green preview traffic is the testers' requests, which a simulation does not have: it
/// is modelled as copies of this share of the live requests on the route, sent to the
/// candidate and discarded, so the pre-promotion analysis has data of the right shape.
pub const PREVIEW_SHARE: f64 = 0.1;

/// What a rehearsal leaves behind.
#[derive(Debug)]
pub struct Rehearsal {
    /// The world's run.
    pub run: RunResult,
    /// The rollout's timeline and verdict, if the scenario has one. A run its watcher ended
    /// early leaves the rollout as it stood then (`running` if it had not decided): the rest
    /// of its steps never happened, so no verdict is made up for them.
    pub rollout: Option<RolloutReport>,
    /// When the watcher ended the run ([`Change::Halt`]), if it did.
    pub halted_at: Option<SimTime>,
}

impl Rehearsal {
    /// How the rollout ended (`None` without one).
    pub fn outcome(&self) -> Option<Outcome> {
        self.rollout.as_ref().map(|r| r.outcome)
    }
}

/// Runs the scenario, with its rollout if it has one. `progress` as in [`sim::run`].
pub fn rehearse(
    scenario: &Scenario,
    mesh: &Mesh,
    options: &RunOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Rehearsal, SimError> {
    rehearse_watched(scenario, mesh, options, progress, &mut Unwatched)
}

/// What watches a rehearsal as it runs, and may answer with changes of its own (the TUI:
/// live fault injection, ending the run early). It sees what the rollout's pilot sees, after
/// the pilot, so a watcher that changes nothing leaves the run exactly as [`rehearse`] runs it.
pub trait Watcher {
    /// Access-log lines drained since the last call, as [`Controller::observe`] has them.
    fn observe(&mut self, _lines: &[AccessLogEntry]) {}
    /// Once per simulated second, after the rollout's own changes: the world's records and
    /// the rollout as it stands.
    fn watch(
        &mut self,
        now: SimTime,
        world: &WorldView<'_>,
        rollout: Option<&Rollout>,
    ) -> Vec<Change>;
}

/// Watches nothing.
struct Unwatched;

impl Watcher for Unwatched {
    fn watch(&mut self, _: SimTime, _: &WorldView<'_>, _: Option<&Rollout>) -> Vec<Change> {
        Vec::new()
    }
}

/// The pilot (if the scenario has a rollout) with a watcher behind it.
struct Watched<'a> {
    pilot: Option<Pilot>,
    watcher: &'a mut dyn Watcher,
    /// When the watcher asked the run to end.
    halted_at: Option<SimTime>,
}

impl Controller for Watched<'_> {
    fn start(&mut self, proxies: &[ProxyRef]) {
        if let Some(p) = &mut self.pilot {
            p.start(proxies);
        }
    }

    fn observe(&mut self, lines: &[AccessLogEntry]) {
        if let Some(p) = &mut self.pilot {
            p.observe(lines);
        }
        self.watcher.observe(lines);
    }

    fn tick(&mut self, now: SimTime) -> Vec<Change> {
        match &mut self.pilot {
            Some(p) => p.tick(now),
            None => Vec::new(),
        }
    }

    fn watch(&mut self, now: SimTime, world: &WorldView<'_>) -> Vec<Change> {
        let rollout = self.pilot.as_ref().map(|p| &p.rollout);
        let changes = self.watcher.watch(now, world, rollout);
        if changes.contains(&Change::Halt) {
            self.halted_at.get_or_insert(now);
        }
        changes
    }
}

/// [`rehearse`], with `watcher` looking on (and perhaps steering) once per simulated second.
pub fn rehearse_watched(
    scenario: &Scenario,
    mesh: &Mesh,
    options: &RunOptions,
    progress: &mut dyn FnMut(&Progress),
    watcher: &mut dyn Watcher,
) -> Result<Rehearsal, SimError> {
    let Some(spec) = &scenario.rollout else {
        let mut watched = Watched {
            pilot: None,
            watcher,
            halted_at: None,
        };
        let run = sim::run_with(scenario, mesh, options, progress, &mut watched)?;
        return Ok(Rehearsal {
            run,
            rollout: None,
            halted_at: watched.halted_at,
        });
    };
    let plan = spec.build().map_err(|errors| {
        SimError::Invalid(
            errors
                .into_iter()
                .map(|e| format!("{}: {}", e.path, e.problem))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let seed = options.seed.unwrap_or(scenario.seed);
    let mut watched = Watched {
        pilot: Some(Pilot::new(plan, seed, mesh)),
        watcher,
        halted_at: None,
    };
    let run = sim::run_with(scenario, mesh, options, progress, &mut watched)?;
    let halted_at = watched.halted_at;
    let Some(mut pilot) = watched.pilot else {
        return Err(SimError::Invalid("the rollout's pilot went missing".into()));
    };
    // `finish` decides what is still open at the end of the run's time ("the run ended
    // during step n"); a run ended early never reached that time.
    if halted_at.is_none() {
        pilot
            .rollout
            .finish(SimTime::from_duration(run.simulated.max(run.duration)));
    }
    let mut report = pilot.rollout.report().clone();
    // Time to detect, from the latest fault that had started by the detection: the one the
    // rollback most plausibly answered (a fault in force from the start of the run counts
    // from then, before the candidate had any traffic).
    if let Some(detected) = report.detected_at_s {
        let started = run
            .faults
            .iter()
            .map(|f| f.window.start.as_secs_f64())
            .filter(|s| *s <= detected)
            .fold(None, |latest: Option<f64>, s| {
                Some(latest.map_or(s, |l| l.max(s)))
            });
        report.time_to_detect_s = started.map(|s| detected - s);
    }
    Ok(Rehearsal {
        run,
        rollout: Some(report),
        halted_at,
    })
}

/// The rollout's route as the mesh config has it. A rollout moves weight only between its
/// own nodes (stable, candidate, baseline), as Argo Rollouts' App Mesh reconciler edits only
/// the stable and canary targets of a route (`rollout/trafficrouting/appmesh/appmesh.go`,
/// `reconcileRoute`): the route's other targets keep their configured share of the traffic,
/// and the rollout's weights split the share its nodes had between them.
#[derive(Clone, Debug, Default)]
pub struct RouteShares {
    /// (virtual node, configured weight), in the config's order; empty when the route has
    /// no targets besides the rollout's.
    configured: Vec<(String, u32)>,
    /// The configured weight of the rollout's nodes together.
    share: u32,
}

impl RouteShares {
    /// The shares of the rollout's route in `mesh`.
    pub fn of(mesh: &Mesh, targets: &Targets) -> RouteShares {
        let key = (targets.router.clone(), targets.route.clone());
        let configured = mesh
            .routes
            .get(&key)
            .map(|r| r.route.spec.kind.targets())
            .unwrap_or_default()
            .iter()
            .map(|t| (t.virtual_node.value.clone(), t.weight))
            .collect();
        RouteShares::new(configured, targets)
    }

    fn new(configured: Vec<(String, u32)>, targets: &Targets) -> RouteShares {
        let own = configured
            .iter()
            .filter(|(n, _)| targets.arm_of(n).is_some());
        if own.clone().count() == configured.len() {
            return RouteShares::default();
        }
        let share = own.map(|(_, w)| w).sum();
        RouteShares { configured, share }
    }

    /// The route's targets for the rollout's `weights` (which sum to 100): each of the
    /// rollout's nodes `weight × share`, each other target `configured × 100`, so every other
    /// target keeps exactly its configured share; reduced by their greatest common divisor.
    pub fn targets(&self, weights: Weights, targets: &Targets) -> Vec<(String, u32)> {
        let own = weights.targets(targets);
        if self.configured.is_empty() {
            return own.into_iter().map(|(n, w)| (n.to_string(), w)).collect();
        }
        let scaled: Vec<(String, u32)> = self
            .configured
            .iter()
            .map(|(node, configured)| {
                let w = match own.iter().find(|(n, _)| n == node) {
                    Some((_, w)) => w * self.share,
                    None => configured * 100,
                };
                (node.clone(), w)
            })
            .collect();
        let divisor = scaled.iter().fold(0, |g, (_, w)| gcd(g, *w)).max(1);
        scaled.into_iter().map(|(n, w)| (n, w / divisor)).collect()
    }

    /// Each target's share of the route in percent, rounded, for `weights`.
    pub fn percents(&self, weights: Weights, targets: &Targets) -> Vec<(String, u32)> {
        let all = self.targets(weights, targets);
        let total = all.iter().map(|(_, w)| u64::from(*w)).sum::<u64>().max(1);
        all.into_iter()
            .map(|(n, w)| {
                let percent = (u64::from(w) * 200 + total) / (2 * total);
                (n, u32::try_from(percent).unwrap_or(100))
            })
            .collect()
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The rollout at the controls.
struct Pilot {
    rollout: Rollout,
    /// How its weights fit among the route's other targets.
    shares: RouteShares,
    seed: u64,
    /// Delays per proxy, once the proxies are known.
    plane: Option<Propagation>,
    proxies: Vec<String>,
    /// The route as last sent.
    config: RouteConfig,
    preview: bool,
}

impl Pilot {
    fn new(plan: Plan, seed: u64, mesh: &Mesh) -> Pilot {
        Pilot {
            shares: RouteShares::of(mesh, &plan.targets),
            rollout: Rollout::new(plan),
            seed,
            plane: None,
            proxies: Vec::new(),
            config: RouteConfig::initial(),
            preview: false,
        }
    }

    /// The route as proxies apply it, for the current configuration.
    fn traffic(&self) -> RouteOverride {
        let targets = self.rollout.targets();
        let mirror_share = match (self.config.mirror_percent, self.preview) {
            (0, true) => PREVIEW_SHARE,
            (p, _) => f64::from(p) / 100.0,
        };
        RouteOverride {
            targets: self.shares.targets(self.config.weights, targets),
            steer: self.config.header_route.clone().map(|matcher| Steer {
                matcher,
                node: targets.candidate.clone(),
            }),
            mirror: (mirror_share > 0.0).then(|| Mirror {
                node: targets.candidate.clone(),
                share: mirror_share,
            }),
        }
    }

    /// The current configuration, sent at `at` to every proxy.
    fn send(&self, at: SimTime) -> Change {
        let traffic = Rc::new(self.traffic());
        let targets = self.rollout.targets();
        let arrivals = self
            .proxies
            .iter()
            .map(|p| {
                let delay = self
                    .plane
                    .as_ref()
                    .map(|c| c.delay_of(p))
                    .unwrap_or_default();
                (p.clone(), at + delay)
            })
            .collect();
        Change::Route {
            router: targets.router.clone(),
            route: targets.route.clone(),
            traffic,
            arrivals,
        }
    }
}

impl Controller for Pilot {
    fn start(&mut self, proxies: &[ProxyRef]) {
        self.proxies = proxies.iter().map(|p| p.task.clone()).collect();
        let p = &self.rollout.plan().propagation;
        let mut rng = seed::stream(self.seed, "rollout/propagation");
        self.plane = Some(Propagation::random(
            RouteConfig::initial(),
            p.delay,
            p.spread,
            self.proxies.clone(),
            &mut rng,
        ));
    }

    /// Each request an arm's tasks received, as their own sidecars' inbound listeners saw it
    /// (mirrored and preview copies included: they are the candidate's only traffic while
    /// they last). This is the view Flagger's App Mesh metrics read, Envoy's statistics on the
    /// canary's own pods, and it is what lets a canary fail its analysis while the callers'
    /// retries hide most of its errors from the users. An error is a 5xx or no answer.
    fn observe(&mut self, lines: &[AccessLogEntry]) {
        for l in lines {
            if l.direction != Direction::Inbound || l.health_check {
                continue;
            }
            let Some(arm) = self.rollout.arm_of(&l.node) else {
                continue;
            };
            let error = crate::sidecar::classify::is_error_status(l.status);
            self.rollout
                .record(arm, l.start + l.duration, l.duration, error, 1);
        }
    }

    fn tick(&mut self, now: SimTime) -> Vec<Change> {
        let mut changes = Vec::new();
        for (at, action) in self.rollout.poll(now) {
            match action {
                Action::SetWeights(w) => self.config.weights = w,
                Action::SetHeaderRoute(m) => self.config.header_route = m,
                Action::SetMirror(p) => self.config.mirror_percent = p,
                Action::SetPreview(on) => self.preview = on,
                Action::ScaleDown(node) => {
                    changes.push(Change::ScaleDown { node });
                    continue;
                }
                Action::Verdict(_) => continue,
            }
            if let Some(plane) = &mut self.plane {
                plane.publish(at, self.config.clone());
            }
            changes.push(self.send(at));
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Targets {
        Targets {
            router: "r".into(),
            route: "route".into(),
            stable: "blue".into(),
            candidate: "green".into(),
            baseline: None,
        }
    }

    fn shares(configured: &[(&str, u32)]) -> RouteShares {
        let configured = configured.iter().map(|(n, w)| (n.to_string(), *w));
        RouteShares::new(configured.collect(), &targets())
    }

    fn share_of(targets: &[(String, u32)], node: &str) -> f64 {
        let total: u32 = targets.iter().map(|(_, w)| w).sum();
        let w = targets
            .iter()
            .find(|(n, _)| n == node)
            .map_or(0, |(_, w)| *w);
        f64::from(w) / f64::from(total)
    }

    #[test]
    fn the_routes_other_targets_keep_their_configured_share_exactly() {
        let s = shares(&[("blue", 40), ("green", 0), ("red", 60)]);
        for candidate in [0, 1, 20, 33, 50, 99, 100] {
            let got = s.targets(Weights::split(candidate, false), &targets());
            assert_eq!(share_of(&got, "red"), 0.6, "{got:?}");
            let green = share_of(&got, "green");
            assert!((green - 0.4 * f64::from(candidate) / 100.0).abs() < 1e-12);
        }
        assert_eq!(
            s.targets(Weights::split(20, false), &targets()),
            vec![
                ("blue".to_string(), 8),
                ("green".to_string(), 2),
                ("red".to_string(), 15)
            ],
            "in the config's order, reduced"
        );
    }

    #[test]
    fn a_route_of_only_the_rollouts_nodes_gets_the_rollouts_weights() {
        let s = shares(&[("green", 0), ("blue", 100)]);
        assert_eq!(
            s.targets(Weights::split(20, false), &targets()),
            vec![("blue".to_string(), 80), ("green".to_string(), 20)]
        );
    }
}
