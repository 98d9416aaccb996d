//! The simulation's side of the TUI: one rehearsal on its own thread, watched once per
//! simulated second. The watcher sends a [`Sample`] to the screen, then holds the simulation
//! while it is paused or ahead of the wall clock's pace, and hands live injections to the
//! world as faults that start at the next whole simulated second. Pacing only decides *when*
//! the next simulated second is computed, never what it holds: a run that injects nothing is
//! the run `meshsim run` makes, byte for byte.

// The wall clock paces the screen; it never reaches the simulation or its report.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::app::{Effect, FaultLine, Finished, Speed, Update};
use super::inject::{self, Injection, start_after};
use super::sample::{Event, EventKind, Sampler};
use crate::engine::SimTime;
use crate::rehearse::{Watcher, rehearse_watched};
use crate::report::{self, Report};
use crate::rollout::Rollout;
use crate::scenario::{self, ScenarioLoad};
use crate::sim::{Change, RunOptions, WorldView};

/// What the screen asks of the simulation, shared between the two threads.
#[derive(Debug)]
struct Control {
    paused: bool,
    steps: u32,
    speed: Speed,
    injections: Vec<Injection>,
    halt: bool,
    /// Bumped on every change, so a pacing wait notices it.
    generation: u64,
}

/// The screen's hand on the simulation: pause, step, speed, injections, halt.
#[derive(Debug)]
pub struct Pacer {
    control: Mutex<Control>,
    wake: Condvar,
}

impl Pacer {
    /// A pacer at `speed`, paused or not.
    pub fn new(speed: Speed, paused: bool) -> Arc<Pacer> {
        Arc::new(Pacer {
            control: Mutex::new(Control {
                paused,
                steps: 0,
                speed,
                injections: Vec::new(),
                halt: false,
                generation: 0,
            }),
            wake: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Control> {
        // A panic on the other side has already ended the program's usefulness; its state is
        // still plain data, so go on with it.
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Carries out what a key asked for.
    pub fn apply(&self, effect: &Effect) {
        let mut c = self.lock();
        match effect {
            Effect::Pause => c.paused = true,
            Effect::Resume => c.paused = false,
            Effect::Step => {
                c.paused = true;
                c.steps += 1;
            }
            Effect::Speed(s) => c.speed = *s,
            Effect::Inject(i) => c.injections.push(i.clone()),
            Effect::Restart | Effect::Quit => c.halt = true,
        }
        c.generation += 1;
        drop(c);
        self.wake.notify_all();
    }

    /// Ends the run at its next simulated second.
    pub fn halt(&self) {
        self.apply(&Effect::Quit);
    }
}

/// One run to make.
#[derive(Clone, Debug)]
pub struct Job {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Seed and duration overrides.
    pub options: RunOptions,
    /// Report folder (default: `reports/<scenario>/<seed>/`).
    pub out: Option<PathBuf>,
    /// Which report files.
    pub outputs: report::Outputs,
    /// Where to write the scenario with the injected faults.
    pub save_scenario: Option<PathBuf>,
    /// The `meshsim run` command that reruns this run (report.json's `command`), as the CLI
    /// spells it; `{scenario}` stands for the scenario path to name.
    pub command: String,
}

/// How a run ended, for the summary printed after the screen is gone.
#[derive(Debug)]
pub struct Outcome {
    /// What `meshsim run` would have printed: the table, the rollout line, the verdicts and
    /// where the report went.
    pub summary: String,
    /// The run was ended early.
    pub halted: bool,
    /// Every expectation held (true when halted: nothing was judged).
    pub held: bool,
    /// The simulation failed.
    pub error: Option<String>,
    /// The signal that ended the screen (SIGINT, SIGTERM, SIGHUP), set by the terminal
    /// driver; the simulation never sets it.
    pub signal: Option<i32>,
}

/// The watcher on the simulation's thread.
struct Live {
    sampler: Sampler,
    pacer: Arc<Pacer>,
    tx: Sender<Update>,
    injected: usize,
    /// The `faults:` entries of the injections made, as they would be written.
    entries: Vec<serde_json::Value>,
    halted: bool,
    /// (wall time, simulated seconds) pacing counts from; reset by a pause or a new speed.
    anchor: Option<(Instant, f64, Speed)>,
}

impl Live {
    /// Holds the simulation while paused or ahead of its pace; returns the injections asked
    /// for, or `None` to halt.
    fn hold(&mut self, t: f64) -> Option<Vec<Injection>> {
        let pacer = Arc::clone(&self.pacer);
        let mut c = pacer.lock();
        loop {
            if c.halt {
                return None;
            }
            if c.paused {
                if c.steps > 0 {
                    c.steps -= 1;
                    self.anchor = None;
                    break;
                }
                self.anchor = None;
                c = pacer.wake.wait(c).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let Some(factor) = c.speed.factor() else {
                self.anchor = None;
                break;
            };
            let (start, t0, _) = match self.anchor {
                Some(a) if a.2 == c.speed => a,
                _ => {
                    let a = (Instant::now(), t, c.speed);
                    self.anchor = Some(a);
                    a
                }
            };
            let due = start + Duration::from_secs_f64(((t - t0) / factor).max(0.0));
            let now = Instant::now();
            if now >= due {
                break;
            }
            let generation = c.generation;
            let (guard, _) = pacer
                .wake
                .wait_timeout(c, due - now)
                .unwrap_or_else(|e| e.into_inner());
            c = guard;
            if c.generation != generation {
                continue;
            }
        }
        Some(std::mem::take(&mut c.injections))
    }
}

impl Watcher for Live {
    fn observe(&mut self, lines: &[crate::proxy::AccessLogEntry]) {
        self.sampler.observe(lines);
    }

    fn watch(
        &mut self,
        now: SimTime,
        world: &WorldView<'_>,
        rollout: Option<&Rollout>,
    ) -> Vec<Change> {
        if self.halted {
            return vec![Change::Halt];
        }
        let sample = self.sampler.sample(now, world, rollout);
        let t = sample.t;
        if self.tx.send(Update::Sample(sample)).is_err() {
            self.halted = true;
            return vec![Change::Halt];
        }
        let Some(injections) = self.hold(t) else {
            self.halted = true;
            return vec![Change::Halt];
        };
        let mut changes = Vec::new();
        let mut lines = Vec::new();
        let start = start_after(now.since_start());
        for i in injections {
            self.injected += 1;
            match i.fault(self.injected, start) {
                Ok(f) => {
                    self.entries.push(i.entry(self.injected, start));
                    lines.push(FaultLine::of(&f, true));
                    changes.push(Change::Fault(Box::new(f)));
                }
                Err(e) => {
                    let _ = self.tx.send(Update::Note(Event {
                        t,
                        kind: EventKind::Injected,
                        text: format!("not injected: {e}"),
                    }));
                }
            }
        }
        if !lines.is_empty() {
            let _ = self.tx.send(Update::Injected(lines));
        }
        changes
    }
}

/// Runs `job` with the screen's `pacer`, sending what happens to `tx`; returns the summary.
/// Runs to the end at whatever pace the pacer allows; a halt ends it at the next simulated
/// second with nothing written.
pub fn simulate(job: &Job, pacer: Arc<Pacer>, tx: Sender<Update>) -> Outcome {
    let loaded = scenario::load(&job.scenario);
    let fail = |tx: &Sender<Update>, e: String| {
        let _ = tx.send(Update::Done(
            Finished {
                rollout: None,
                held: 0,
                expectations: 0,
                report: None,
                halted: false,
                saved: None,
                error: Some(e.clone()),
            },
            Vec::new(),
        ));
        Outcome {
            summary: String::new(),
            halted: false,
            held: false,
            error: Some(e),
            signal: None,
        }
    };
    let Some((scenario, mesh)) = loaded.runnable() else {
        return fail(
            &tx,
            "the scenario has errors; run `meshsim run` on it to see them".into(),
        );
    };
    let mut live = Live {
        sampler: Sampler::new(scenario, mesh),
        pacer,
        tx: tx.clone(),
        injected: 0,
        entries: Vec::new(),
        halted: false,
        anchor: None,
    };
    let rehearsal = match rehearse_watched(scenario, mesh, &job.options, &mut |_| {}, &mut live) {
        Ok(r) => r,
        Err(e) => return fail(&tx, e.to_string()),
    };
    let halted = live.halted;
    let injected = live.injected > 0;
    let mut report = Report::of_rehearsal(scenario, &rehearsal);
    report.config_sha256 = Some(report::config_sha256(&loaded.sources));
    let mut summary = report.table();
    // The scenario is saved whether the run ended or was quit: the faults a teacher
    // injected are what `--save-scenario` keeps, and a quit must not lose them.
    let mut notes = Vec::new();
    let saved = match &job.save_scenario {
        Some(path) => {
            match save_scenario(job, &loaded, &live.entries, &rehearsal.run.faults, path) {
                Ok(()) => Some(path.clone()),
                Err(e) => {
                    notes.push(format!("meshsim: {e}"));
                    None
                }
            }
        }
        None => None,
    };
    let rerun = |path: &std::path::Path| {
        job.command
            .replace("{scenario}", &path.display().to_string())
    };
    if halted {
        let stopped = rehearsal
            .halted_at
            .map_or(rehearsal.run.simulated, |t| t.since_start())
            .as_secs_f64();
        let rollout = stopped_rollout_line(&report, stopped);
        if let Some(line) = &rollout {
            summary.push_str(&format!("\n{line}\n"));
        }
        let duration = rehearsal.run.duration.as_secs_f64();
        match &saved {
            Some(path) => summary.push_str(&format!(
                "\nstopped at {stopped:.0} s of {duration:.0} s: nothing judged, no report written\n\
                 scenario with the faults injected so far ({duration:.0} s, as given): {}\n\
                 rerun: {}\n",
                path.display(),
                rerun(path)
            )),
            None => summary.push_str(&format!(
                "\nstopped at {stopped:.0} s of {duration:.0} s: nothing judged or written\n"
            )),
        }
        for n in &notes {
            summary.push_str(&format!("{n}\n"));
        }
        let _ = tx.send(Update::Done(
            Finished {
                rollout,
                held: 0,
                expectations: 0,
                report: None,
                halted: true,
                saved: saved.map(|p| p.display().to_string()),
                error: notes.first().cloned(),
            },
            Vec::new(),
        ));
        return Outcome {
            summary,
            halted: true,
            held: true,
            error: None,
            signal: None,
        };
    }
    if let Some(line) = report.rollout_line() {
        summary.push_str(&format!("\n{line}\n"));
    }
    report.command = match (injected, &saved) {
        (false, _) => Some(rerun(&job.scenario)),
        (true, Some(path)) => Some(rerun(path)),
        // Nothing reruns a run with faults injected by hand unless they were saved.
        (true, None) => None,
    };
    let verdicts = report.verdict_lines();
    if !verdicts.is_empty() {
        summary.push_str(&format!("\n{verdicts}"));
    }
    let dir = job
        .out
        .clone()
        .unwrap_or_else(|| report::default_dir(&scenario.name, rehearsal.run.seed));
    let written = match report::write(&dir, &report, &rehearsal.run, &job.outputs) {
        Ok(written) => {
            let json = written
                .iter()
                .find(|p| p.ends_with("report.json"))
                .cloned()
                .unwrap_or_else(|| dir.clone());
            summary.push_str(&format!("\nreport: {}\n", json.display()));
            Some(json.display().to_string())
        }
        Err(e) => {
            notes.push(format!(
                "meshsim: cannot write the report to {}: {e}",
                dir.display()
            ));
            None
        }
    };
    if let Some(path) = &saved {
        summary.push_str(&format!(
            "scenario with the injected faults: {}\n",
            path.display()
        ));
    }
    for n in &notes {
        summary.push_str(&format!("{n}\n"));
    }
    let t_end = rehearsal.run.simulated.as_secs_f64();
    let events = report
        .expectations
        .iter()
        .filter(|v| !v.held)
        .map(|v| {
            super::app::App::expectation_event(
                t_end,
                format!("{} failed: observed {}", v.name, v.observed_text()),
            )
        })
        .collect();
    let held = report.expectations_held();
    let _ = tx.send(Update::Done(
        Finished {
            rollout: report.rollout_line(),
            held: report.expectations.iter().filter(|v| v.held).count(),
            expectations: report.expectations.len(),
            report: written,
            halted: false,
            saved: saved.map(|p| p.display().to_string()),
            error: notes.first().cloned(),
        },
        events,
    ));
    Outcome {
        summary,
        halted: false,
        held,
        error: None,
        signal: None,
    }
}

/// The rollout of a run quit at `stopped` seconds: its verdict if it had decided by then,
/// else that it had not; never a verdict for steps that did not run.
fn stopped_rollout_line(report: &Report, stopped: f64) -> Option<String> {
    let rollout = report.rollout.as_ref()?;
    if rollout.outcome == crate::rollout::Outcome::Running {
        return Some(format!("stopped at {stopped:.0} s: rollout undecided"));
    }
    report.rollout_line()
}

/// Writes the scenario file with the faults injected in this run added to it.
/// Only the injections the world took are written (one it refused would not load).
fn save_scenario(
    job: &Job,
    loaded: &ScenarioLoad,
    entries: &[serde_json::Value],
    faults: &[crate::model::fault::Fault],
    path: &std::path::Path,
) -> Result<(), inject::SaveError> {
    let original = loaded.sources.get(loaded.file).text();
    let taken = |e: &&serde_json::Value| {
        let name = e.get("name").and_then(serde_json::Value::as_str);
        faults.iter().any(|f| Some(f.name.as_str()) == name)
    };
    let entries: Vec<serde_json::Value> = entries.iter().filter(taken).cloned().collect();
    let text = inject::with_faults(original, &job.scenario, path, &entries)?;
    inject::save(path, &text)
}
