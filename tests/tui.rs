//! `meshsim tui` without a terminal: frames drawn from a real rehearsal at fixed simulated
//! times (insta snapshots on ratatui's TestBackend), the report a TUI run writes against
//! `meshsim run`'s, faults injected live replayed from the saved scenario, and the fallback
//! when standard output is not a terminal.
//!
//! The canary runs are shortened to 80 simulated seconds (the scenario's 12 minutes take
//! minutes in a debug build): the rollout starts at 60 s, so the frames show the canary at
//! its first 10 % step with the candidate's errors, not the rollback at 600 s (the README's
//! demo shows that, recorded from a full run).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use meshsim::rehearse::rehearse;
use meshsim::report::{self, Report};
use meshsim::scenario::{self, ScenarioLoad};
use meshsim::sim::{self, RunOptions};
use meshsim::tui::app::{Effect, Panel, Update};
use meshsim::tui::inject::{InjectKind, Injection, Target};
use meshsim::tui::{App, Job, Outcome, Pacer, Speed, render, simulate};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const CANARY: &str = "scenarios/canary-bad-errors.yaml";
const SHORT: Duration = Duration::from_secs(80);

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-tui-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

fn load(path: &Path) -> ScenarioLoad {
    let loaded = scenario::load(path);
    assert!(loaded.is_valid(), "{} does not load", path.display());
    loaded
}

/// A job as `meshsim tui SCENARIO --duration D --out OUT` makes it.
fn job(scenario: &Path, duration: Duration, out: &Path) -> Job {
    Job {
        scenario: scenario.to_path_buf(),
        options: RunOptions {
            duration: Some(duration),
            ..RunOptions::default()
        },
        out: Some(out.to_path_buf()),
        outputs: report::Outputs::default(),
        save_scenario: None,
        // As `meshsim tui` spells it: the duration in humantime's form without spaces.
        command: format!(
            "meshsim run {{scenario}} --seed 42 --duration {}",
            humantime::format_duration(duration)
                .to_string()
                .replace(' ', "")
        ),
    }
}

struct Recorded {
    updates: Vec<Update>,
    outcome: Outcome,
    out: PathBuf,
}

/// The shortened canary, run once at full speed for every test that needs it.
fn canary() -> &'static Recorded {
    static RUN: OnceLock<Recorded> = OnceLock::new();
    RUN.get_or_init(|| {
        let out = scratch("canary");
        let (tx, rx) = mpsc::channel();
        let outcome = simulate(
            &job(Path::new(CANARY), SHORT, &out),
            Pacer::new(Speed::Max, false),
            tx,
        );
        Recorded {
            updates: rx.try_iter().collect(),
            outcome,
            out,
        }
    })
}

/// The screen as it stood at simulated second `t` (every update up to the first sample
/// past it), or at the end with `t` = infinity.
fn app_at(t: f64) -> App {
    let loaded = load(Path::new(CANARY));
    let (scenario, mesh) = loaded.runnable().expect("runnable");
    let schedule = sim::fault_schedule(scenario, mesh, 42);
    let mut app = App::new(scenario, 42, SHORT.as_secs_f64(), &schedule);
    for u in &canary().updates {
        if let Update::Sample(s) = u
            && s.t > t
        {
            break;
        }
        app.update(u.clone());
    }
    app
}

/// The frame's text, one line per row (colours are not in it).
fn draw(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal
        .draw(|f| render::render(f, app))
        .expect("the frame draws");
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..height {
        let mut line = String::new();
        for x in 0..width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The version rows of the service graph in a frame.
fn graph_row<'a>(frame: &'a str, node: &str) -> &'a str {
    frame
        .lines()
        .find(|l| l.contains(&format!("● {node}")))
        .unwrap_or_else(|| panic!("no {node} row:\n{frame}"))
}

#[test]
fn frames_at_fixed_simulated_times_120x40() {
    let before = app_at(30.5);
    assert!((before.now() - 30.0).abs() < 0.1, "{}", before.now());
    insta::assert_snapshot!("canary_30s_120x40", draw(&before, 120, 40));
    let canary_on = app_at(75.5);
    let frame = draw(&canary_on, 120, 40);
    let v2 = graph_row(&frame, "inventory-v2");
    assert!(v2.contains("p99") && v2.contains("ms"), "{v2}");
    insta::assert_snapshot!("canary_75s_120x40", frame);
    for panel in [Panel::Histogram, Panel::Events, Panel::Faults] {
        let mut app = canary_on.clone();
        app.panel = panel;
        let name = format!("canary_75s_120x40_{}", panel.title().to_lowercase());
        insta::assert_snapshot!(name, draw(&app, 120, 40));
    }
}

#[test]
fn frames_at_fixed_simulated_times_80x24() {
    let app = app_at(75.5);
    let frame = draw(&app, 80, 24);
    for panel in [
        "Service graph",
        "Rollout",
        "latency, ms",
        "users ok",
        "retries/s",
        "q quit",
    ] {
        assert!(frame.contains(panel), "{panel} missing at 80x24:\n{frame}");
    }
    // The key columns stay at 80×24: the p99 (the health word: render's unit tests).
    let v2 = graph_row(&frame, "inventory-v2");
    assert!(v2.contains("ms"), "p99 missing: {v2}");
    assert!(
        frame.contains("now 100.00%"),
        "the users' success rate: {frame}"
    );
    insta::assert_snapshot!("canary_75s_80x24", frame);
    let mut histogram = app.clone();
    histogram.panel = Panel::Histogram;
    let frame = draw(&histogram, 80, 24);
    for marked in ["p50", "p99.99", "whole run", "window"] {
        assert!(frame.contains(marked), "{marked} missing:\n{frame}");
    }
    insta::assert_snapshot!("canary_75s_80x24_histogram", frame);
    let mut events = app.clone();
    events.panel = Panel::Events;
    insta::assert_snapshot!("canary_75s_80x24_events", draw(&events, 80, 24));
    let mut faults = app.clone();
    faults.panel = Panel::Faults;
    let frame = draw(&faults, 80, 24);
    assert!(
        frame.contains("0s") && frame.contains("80s"),
        "no time axis:\n{frame}"
    );
    insta::assert_snapshot!("canary_75s_80x24_faults", frame);
    let mut menu = app;
    menu.handle_key(key('f'));
    menu.handle_key(key('1'));
    insta::assert_snapshot!("canary_75s_80x24_kill_menu", draw(&menu, 80, 24));
}

#[test]
fn below_the_minimum_size_the_screen_says_what_it_needs() {
    let app = app_at(75.5);
    for (w, h) in [(79, 24), (80, 23), (60, 20)] {
        let frame = draw(&app, w, h);
        assert!(
            frame.contains("terminal too small: need 80×24"),
            "{w}x{h}:\n{frame}"
        );
        assert!(frame.contains("need 80×24"), "{w}x{h}:\n{frame}");
        assert!(!frame.contains("Service graph"), "{w}x{h}:\n{frame}");
    }
    insta::assert_snapshot!("canary_75s_79x23_too_small", draw(&app, 79, 23));
    assert!(!draw(&app, 80, 24).contains("too small"));
}

#[test]
fn the_event_log_never_repeats_its_tag_as_the_texts_first_word() {
    // The rollback has failed checks and a verdict, the lines that read "check check …"
    // and "rollout rollout rolled_back" before.
    let (_, app, _) = watch_no_gateway("tests/fixtures/scenarios/colorteller_rollback.yaml", None);
    use meshsim::tui::sample::EventKind;
    assert!(
        app.events.iter().any(|e| e.kind == EventKind::Check),
        "{:?}",
        app.events
    );
    assert!(
        app.events
            .iter()
            .any(|e| e.kind == EventKind::Rollout && e.text.starts_with("rolled back")),
        "{:?}",
        app.events
    );
    for e in &app.events {
        let first = e.text.split([' ', ':']).next().unwrap_or_default();
        assert_ne!(first, e.kind.tag(), "{:?}", e);
    }
}

#[test]
fn the_histogram_tab_reads_the_runs_own_histograms() {
    // At the end of the run the whole-run curve is `<node>.hgrm`'s: the same HdrHistogram.
    let app = app_at(f64::INFINITY);
    let last = app.samples.last().expect("samples");
    let hgrm = std::fs::read_to_string(canary().out.join("inventory-v2.hgrm"))
        .expect("the report's inventory-v2.hgrm");
    let dist = &last.distributions.run["inventory-v2"];
    let total: u64 = hgrm
        .lines()
        .find_map(|l| l.split("Total count    =").nth(1))
        .and_then(|v| v.trim().trim_end_matches(']').trim().parse().ok())
        .expect("a total count");
    assert_eq!(dist.count, total);
    // p90 in the file (the row at 0.9) is the tab's p90.
    let p90: f64 = hgrm
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("0.900000000000"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .expect("the 0.9 row");
    let tab = dist.at(1.0).expect("p90");
    assert!((tab - p90).abs() < 1e-6, "{tab} against {p90}");
    // The window covers the last analysis interval (1m) only.
    let d = &last.distributions;
    assert_eq!(d.window_s, 60.0);
    // Whole recorder windows (10 s) covering at least the last 60 s, and at most 10 s more.
    let covered = last.t - d.window_from;
    assert!(
        (60.0..70.0).contains(&covered),
        "{} to {}",
        d.window_from,
        last.t
    );
    assert_eq!(d.window_from % 10.0, 0.0);
    assert!(d.window["inventory-v2"].count > 0);
    // The stable served all 80 s, so its window holds fewer requests than its whole run.
    assert!(d.window["inventory-v1"].count < d.run["inventory-v1"].count);
}

#[test]
fn frames_at_the_end_120x40() {
    let app = app_at(f64::INFINITY);
    let frame = draw(&app, 120, 40).replace(&canary().out.display().to_string(), "[out]");
    assert!(frame.contains("report [out]/report.json"), "{frame}");
    insta::assert_snapshot!("canary_end_120x40", frame);
}

#[test]
fn the_verdict_stays_after_the_run_and_scrubbing_shows_an_earlier_second() {
    let mut app = app_at(f64::INFINITY);
    assert!(app.finished.is_some(), "the run ended");
    let end = draw(&app, 80, 24).replace(&canary().out.display().to_string(), "[out]");
    assert!(end.contains("VERDICT"), "{end}");
    assert!(
        end.contains("report [out]/report.json"),
        "the report path: {end}"
    );
    insta::assert_snapshot!("canary_end_80x24", end);
    for _ in 0..20 {
        app.handle_key(arrow_left());
    }
    let earlier = app.now();
    assert!(earlier < 70.0, "{earlier}");
    let scrubbed = draw(&app, 80, 24);
    assert!(scrubbed.contains("scrubbing"), "{scrubbed}");
    assert!(
        scrubbed.contains("VERDICT"),
        "the verdict stays while scrubbing"
    );
}

#[test]
fn help_overlay_lists_every_key() {
    let mut app = app_at(10.5);
    app.handle_key(key('?'));
    let frame = draw(&app, 80, 24);
    for k in [
        "space",
        "+ / -",
        "inject a fault",
        "restart",
        "tab",
        "scrub",
        "quit",
    ] {
        assert!(frame.contains(k), "{k} missing from help:\n{frame}");
    }
    insta::assert_snapshot!("help_80x24", frame);
}

fn key(c: char) -> ratatui::crossterm::event::KeyEvent {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn arrow_left() -> ratatui::crossterm::event::KeyEvent {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    KeyEvent::new(KeyCode::Left, KeyModifiers::NONE)
}

#[test]
fn a_tui_run_writes_the_report_meshsim_run_writes() {
    let rec = canary();
    assert!(rec.outcome.error.is_none(), "{:?}", rec.outcome.error);
    let tui = std::fs::read_to_string(rec.out.join("report.json")).expect("the TUI's report");
    let out = scratch("run");
    let status = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(["run", CANARY, "--duration", "80s", "--quiet", "--out"])
        .arg(&out)
        .output()
        .expect("meshsim run starts");
    assert!(
        matches!(status.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let run = std::fs::read_to_string(out.join("report.json")).expect("run's report");
    assert!(
        tui.contains("\"rollout\""),
        "the canary's rollout is in the report"
    );
    assert_eq!(tui, run, "the TUI paced the run but must not change it");
    // Every simulated second was shown, in order.
    let ts: Vec<f64> = rec
        .updates
        .iter()
        .filter_map(|u| match u {
            Update::Sample(s) => Some(s.t),
            _ => None,
        })
        .collect();
    assert!(ts.len() >= 80, "{} samples", ts.len());
    assert!(ts.windows(2).all(|w| w[1] > w[0]));
}

/// Runs `job` on a thread, paused, stepping one simulated second at a time until `at`,
/// then injecting `injections` and letting it run out.
fn run_injecting(job: Job, at: f64, injections: Vec<Injection>) -> (Outcome, Vec<Update>) {
    let pacer = Pacer::new(Speed::Max, true);
    let (tx, rx) = mpsc::channel();
    let p = Arc::clone(&pacer);
    let handle = std::thread::spawn(move || simulate(&job, p, tx));
    let mut updates = Vec::new();
    let mut injected = false;
    for u in rx.iter() {
        if let Update::Sample(s) = &u {
            if s.t < at {
                pacer.apply(&Effect::Step);
            } else if !injected {
                injected = true;
                for i in &injections {
                    pacer.apply(&Effect::Inject(i.clone()));
                }
                pacer.apply(&Effect::Resume);
            }
        }
        updates.push(u);
    }
    (handle.join().expect("the simulation thread"), updates)
}

fn without_provenance(json: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(json).expect("report.json parses");
    if let Some(o) = v.as_object_mut() {
        o.remove("command");
        o.remove("config_sha256");
    }
    v
}

#[test]
fn faults_injected_live_are_reported_saved_and_replay_to_the_same_report() {
    let dir = scratch("inject");
    let saved = dir.join("saved/canary-live.yaml");
    let duration = Duration::from_secs(30);
    let mut job = job(Path::new(CANARY), duration, &dir.join("live"));
    job.save_scenario = Some(saved.clone());
    let injections = vec![
        Injection {
            kind: InjectKind::Kill,
            target: Target::Task("inventory-v1-1".into()),
        },
        Injection {
            kind: InjectKind::Loss,
            target: Target::Link("order-v1".into(), "inventory-v1".into()),
        },
    ];
    let (outcome, updates) = run_injecting(job, 10.0, injections);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert!(!outcome.halted);
    let injected: Vec<_> = updates
        .iter()
        .filter_map(|u| match u {
            Update::Injected(lines) => Some(lines.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(injected.len(), 2, "{injected:?}");
    assert!(injected.iter().all(|l| l.start == 11.0), "{injected:?}");

    let live_json = std::fs::read_to_string(dir.join("live/report.json")).expect("report");
    let v: serde_json::Value = serde_json::from_str(&live_json).expect("parses");
    let names: Vec<&str> = v["faults"]
        .as_array()
        .expect("faults in the report")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "v2-returns-500s",
            "live-1-kill-inventory-v1-1",
            "live-2-loss-order-v1-inventory-v1"
        ]
    );
    let crash = v["fault_events"]
        .as_array()
        .expect("fault events")
        .iter()
        .find(|e| e["what"] == "crash inventory-v1-1")
        .expect("the injected crash happened");
    assert_eq!(crash["at_seconds"].as_f64(), Some(11.0));
    assert_eq!(
        v["command"].as_str(),
        Some(format!("meshsim run {} --seed 42 --duration 30s", saved.display()).as_str())
    );

    // The saved scenario replays the run: the same report, command and hashes aside.
    let replay = load(&saved);
    let (scenario, mesh) = replay.runnable().expect("the saved scenario runs");
    let options = RunOptions {
        duration: Some(duration),
        ..RunOptions::default()
    };
    let rehearsal = rehearse(scenario, mesh, &options, &mut |_| {}).expect("replay runs");
    let replayed = Report::of_rehearsal(scenario, &rehearsal).to_json();
    assert_eq!(
        without_provenance(&live_json),
        without_provenance(&replayed)
    );

    // And the injection mattered: without it the report differs.
    let plain = load(Path::new(CANARY));
    let (scenario, mesh) = plain.runnable().expect("runnable");
    let rehearsal = rehearse(scenario, mesh, &options, &mut |_| {}).expect("runs");
    let untouched = Report::of_rehearsal(scenario, &rehearsal).to_json();
    assert_ne!(
        without_provenance(&live_json),
        without_provenance(&untouched)
    );
}

#[test]
fn a_halted_run_writes_nothing() {
    let dir = scratch("halt");
    let job = job(Path::new(CANARY), Duration::from_secs(30), &dir.join("out"));
    let pacer = Pacer::new(Speed::Max, true);
    let (tx, rx) = mpsc::channel();
    let p = Arc::clone(&pacer);
    let handle = std::thread::spawn(move || simulate(&job, p, tx));
    for u in rx.iter() {
        if let Update::Sample(s) = &u {
            if s.t < 3.0 {
                pacer.apply(&Effect::Step);
            } else {
                pacer.halt();
            }
        }
    }
    let outcome = handle.join().expect("the simulation thread");
    assert!(outcome.halted);
    assert!(
        outcome.summary.contains("stopped at 3 s of 30 s"),
        "{}",
        outcome.summary
    );
    assert!(!dir.join("out/report.json").exists());
}

#[test]
fn quitting_early_still_saves_the_faults_injected_so_far() {
    let dir = scratch("quit-save");
    let saved = dir.join("saved.yaml");
    let mut job = job(Path::new(CANARY), Duration::from_secs(30), &dir.join("out"));
    job.save_scenario = Some(saved.clone());
    let pacer = Pacer::new(Speed::Max, true);
    let (tx, rx) = mpsc::channel();
    let p = Arc::clone(&pacer);
    let handle = std::thread::spawn(move || simulate(&job, p, tx));
    let mut finished = None;
    for u in rx.iter() {
        match &u {
            Update::Sample(s) if s.t < 5.0 => pacer.apply(&Effect::Step),
            Update::Sample(s) if s.t < 6.0 => {
                pacer.apply(&Effect::Inject(Injection {
                    kind: InjectKind::Kill,
                    target: Target::Task("inventory-v1-1".into()),
                }));
                pacer.apply(&Effect::Step);
            }
            Update::Sample(s) if s.t < 8.0 => pacer.apply(&Effect::Step),
            Update::Sample(_) => pacer.halt(),
            Update::Done(f, _) => finished = Some(f.clone()),
            _ => {}
        }
    }
    let outcome = handle.join().expect("the simulation thread");
    assert!(outcome.halted);
    let summary = &outcome.summary;
    assert!(summary.contains("stopped at 8 s of 30 s"), "{summary}");
    assert!(
        summary.contains(&format!(
            "scenario with the faults injected so far (30 s, as given): {}",
            saved.display()
        )),
        "{summary}"
    );
    assert!(
        summary.contains(&format!(
            "rerun: meshsim run {} --seed 42 --duration 30s",
            saved.display()
        )),
        "{summary}"
    );
    assert!(
        !dir.join("out/report.json").exists(),
        "no report for a quit run"
    );
    let finished = finished.expect("the run's end reached the screen");
    assert_eq!(finished.saved, Some(saved.display().to_string()));
    // The file replays the injected kill, with the scenario's own duration.
    let replay = load(&saved);
    let (scenario, _) = replay.runnable().expect("the saved scenario runs");
    let names: Vec<&str> = scenario.faults.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["v2-returns-500s", "live-1-kill-inventory-v1-1"]);
    assert_eq!(scenario.duration, Duration::from_secs(720));
}

#[test]
fn without_a_terminal_tui_says_so_and_runs() {
    let out = scratch("notty");
    let output = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args([
            "tui",
            "scenarios/baseline.yaml",
            "--duration",
            "3s",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("meshsim tui starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a terminal"), "{stderr}");
    assert!(stderr.contains("simulated"), "the progress line: {stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(out.join("report.json").exists());
}

/// A watcher that sends one fault at its first second at or after `at`, and a halt at `halt`.
struct Sends {
    at: f64,
    halt: f64,
    fault: Option<meshsim::model::fault::Fault>,
}

impl meshsim::rehearse::Watcher for Sends {
    fn watch(
        &mut self,
        now: meshsim::engine::SimTime,
        _: &sim::WorldView<'_>,
        _: Option<&meshsim::rollout::Rollout>,
    ) -> Vec<sim::Change> {
        let t = now.since_start().as_secs_f64();
        let mut changes = Vec::new();
        if t >= self.at
            && let Some(f) = self.fault.take()
        {
            changes.push(sim::Change::Fault(Box::new(f)));
        }
        if t >= self.halt {
            changes.push(sim::Change::Halt);
        }
        changes
    }
}

#[test]
fn the_world_refuses_a_live_fault_that_does_not_start_ahead_or_names_no_task() {
    let loaded = load(Path::new("scenarios/baseline.yaml"));
    let (scenario, mesh) = loaded.runnable().expect("runnable");
    let options = RunOptions {
        duration: Some(Duration::from_secs(6)),
        ..RunOptions::default()
    };
    let kill = |task: &str, start: u64| {
        Injection {
            kind: InjectKind::Kill,
            target: Target::Task(task.into()),
        }
        .fault(1, Duration::from_secs(start))
        .expect("builds")
    };
    let cases = [
        (kill("inventory-v1-1", 1), "would start at"),
        (kill("no-such-task", 4), "no-such-task"),
    ];
    for (fault, why) in cases {
        let mut w = Sends {
            at: 2.0,
            halt: f64::INFINITY,
            fault: Some(fault),
        };
        let r = meshsim::rehearse::rehearse_watched(scenario, mesh, &options, &mut |_| {}, &mut w)
            .expect("runs");
        let refused: Vec<_> = r
            .run
            .chaos
            .iter()
            .filter(|e| e.what.starts_with("refused"))
            .collect();
        assert_eq!(refused.len(), 1, "{:?}", r.run.chaos);
        assert!(refused[0].what.contains(why), "{}", refused[0].what);
        assert_eq!(
            r.run.faults.len(),
            0,
            "a refused fault is not in the schedule"
        );
        assert!(!r.run.chaos.iter().any(|e| e.what.starts_with("crash")));
    }
    // A halt ends the run at that second.
    let mut w = Sends {
        at: f64::INFINITY,
        halt: 3.0,
        fault: None,
    };
    let r = meshsim::rehearse::rehearse_watched(scenario, mesh, &options, &mut |_| {}, &mut w)
        .expect("runs");
    assert!(
        r.run.simulated < Duration::from_secs(4),
        "{:?}",
        r.run.simulated
    );
}

#[test]
fn smaller_and_odd_sizes_draw_without_panicking() {
    let mut app = app_at(75.5);
    for (w, h) in [(1, 1), (20, 8), (40, 12), (60, 20), (79, 23), (200, 60)] {
        for panel in Panel::ALL {
            app.panel = panel;
            let frame = draw(&app, w, h);
            assert_eq!(frame.lines().count(), usize::from(h));
        }
        app.help = true;
        draw(&app, w, h);
        app.help = false;
        app.handle_key(key('f'));
        draw(&app, w, h);
        app.menu = None;
    }
}

/// Runs `scenario` (its own duration) on a thread, paused, stepping one simulated second at
/// a time, and quits at `quit_at` if given; returns the outcome, the screen at the end and
/// the report folder (removed: only its name is left, for redacting it from frames).
fn watch_no_gateway(scenario: &str, quit_at: Option<f64>) -> (Outcome, App, PathBuf) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(scenario);
    let loaded = load(&path);
    let (s, mesh) = loaded.runnable().expect("runnable");
    let out = scratch(&s.name);
    let job = Job {
        scenario: path.clone(),
        options: RunOptions::default(),
        out: Some(out.join("out")),
        outputs: report::Outputs::default(),
        save_scenario: None,
        command: "meshsim run {scenario}".into(),
    };
    let pacer = Pacer::new(Speed::Max, true);
    let (tx, rx) = mpsc::channel();
    let p = Arc::clone(&pacer);
    let handle = std::thread::spawn(move || simulate(&job, p, tx));
    let mut app = App::new(
        s,
        s.seed,
        s.duration.as_secs_f64(),
        &sim::fault_schedule(s, mesh, s.seed),
    );
    for u in rx.iter() {
        if let Update::Sample(sample) = &u {
            match quit_at {
                Some(t) if sample.t >= t => pacer.halt(),
                _ => pacer.apply(&Effect::Step),
            }
        }
        app.update(u);
    }
    let outcome = handle.join().expect("the simulation thread");
    let _ = std::fs::remove_dir_all(&out);
    (outcome, app, out)
}

#[test]
fn quitting_before_the_rollout_decides_prints_no_verdict_that_did_not_happen() {
    // The canary starts at 5 s and rolls back at 15 s; the viewer quits at 8 s.
    let (outcome, app, _) = watch_no_gateway(
        "tests/fixtures/scenarios/colorteller_rollback.yaml",
        Some(8.0),
    );
    assert!(outcome.halted);
    let summary = &outcome.summary;
    assert!(
        summary.contains("stopped at 8 s: rollout undecided"),
        "{summary}"
    );
    assert!(
        summary.contains("stopped at 8 s of 40 s: nothing judged or written"),
        "{summary}"
    );
    for verdict in ["rolled_back", "rolled back", "promoted", "inconclusive"] {
        assert!(!summary.contains(verdict), "`{verdict}` in:\n{summary}");
    }
    let frame = draw(&app, 80, 24);
    assert!(frame.contains("rollout undecided"), "{frame}");
    insta::assert_snapshot!("colorteller_quit_at_8s_80x24", frame);
}

#[test]
fn tasks_a_rollout_scaled_down_are_shown_scaled_down_not_crashed() {
    // Green is promoted at 15 s and blue scaled down 5 s later.
    let (outcome, app, out) =
        watch_no_gateway("tests/fixtures/scenarios/colorteller_promote.yaml", None);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let frame = draw(&app, 160, 40);
    let blue = frame
        .lines()
        .find(|l| l.contains("colorteller-blue-node"))
        .unwrap_or_else(|| panic!("no blue row:\n{frame}"));
    assert!(blue.contains("0/2 up"), "{blue}");
    assert!(blue.contains("scaled down"), "{blue}");
    assert!(!frame.contains("crashed"), "{frame}");
    let frame = frame.replace(&out.display().to_string(), "[out]");
    insta::assert_snapshot!("colorteller_promoted_160x40", frame);
}

#[test]
fn the_graph_shows_each_targets_real_share_of_a_route_with_more_targets() {
    // Blue 40, green 0, red 60; the canary's 25 % step takes a quarter of blue's 40 %.
    let (_, app, _) = watch_no_gateway(
        "tests/fixtures/scenarios/colorteller_three_targets.yaml",
        Some(8.0),
    );
    let frame = draw(&app, 160, 40);
    for (node, weight) in [
        ("colorteller-blue-node", "w  30%"),
        ("colorteller-green-node", "w  10%"),
        ("colorteller-red-node", "w  60%"),
    ] {
        let row = frame
            .lines()
            .find(|l| l.contains(&format!("● {node}")))
            .unwrap_or_else(|| panic!("no {node} row:\n{frame}"));
        assert!(row.contains(weight), "{row}");
    }
}
