//! The screen's state and what each key does to it: pure, with no terminal and no clock, so
//! every control is tested without drawing. Keys that reach the simulation come back as
//! [`Effect`]s for the driver to carry out.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::inject::{InjectKind, Injection, Target, Targets};
use super::sample::{Event, EventKind, Sample};
use crate::model::fault::Fault;
use crate::scenario::Scenario;

/// How fast simulated time runs against the wall clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Speed {
    /// One simulated second per second: a demo in front of a room.
    X1,
    /// Ten.
    X10,
    /// A hundred.
    X100,
    /// As fast as the machine goes.
    Max,
}

impl Speed {
    /// Simulated seconds per wall second (`None`: unpaced).
    pub fn factor(self) -> Option<f64> {
        match self {
            Speed::X1 => Some(1.0),
            Speed::X10 => Some(10.0),
            Speed::X100 => Some(100.0),
            Speed::Max => None,
        }
    }

    /// For the header: `1×`, `max`.
    pub fn label(self) -> &'static str {
        match self {
            Speed::X1 => "1×",
            Speed::X10 => "10×",
            Speed::X100 => "100×",
            Speed::Max => "max",
        }
    }

    fn faster(self) -> Speed {
        match self {
            Speed::X1 => Speed::X10,
            Speed::X10 => Speed::X100,
            Speed::X100 | Speed::Max => Speed::Max,
        }
    }

    fn slower(self) -> Speed {
        match self {
            Speed::Max => Speed::X100,
            Speed::X100 => Speed::X10,
            Speed::X10 | Speed::X1 => Speed::X1,
        }
    }
}

/// The lower panel, switched with tab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    /// Latency p50/p99 per version, success rate and retries.
    Charts,
    /// Latency percentile distributions (HdrHistogram) of the stable and the candidate.
    Histogram,
    /// The event log.
    Events,
    /// The fault timeline.
    Faults,
}

impl Panel {
    /// Every panel, in tab order.
    pub const ALL: [Panel; 4] = [
        Panel::Charts,
        Panel::Histogram,
        Panel::Events,
        Panel::Faults,
    ];

    /// The tab's title.
    pub fn title(self) -> &'static str {
        match self {
            Panel::Charts => "Charts",
            Panel::Histogram => "Histogram",
            Panel::Events => "Events",
            Panel::Faults => "Faults",
        }
    }

    fn next(self) -> Panel {
        let i = Panel::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Panel::ALL[(i + 1) % Panel::ALL.len()]
    }

    fn prev(self) -> Panel {
        let i = Panel::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Panel::ALL[(i + Panel::ALL.len() - 1) % Panel::ALL.len()]
    }
}

/// The fault menu, two levels deep: what, then on what.
#[derive(Clone, Debug, PartialEq)]
pub enum Menu {
    /// Choosing the kind.
    Kinds {
        /// Highlighted row.
        selected: usize,
    },
    /// Choosing the target.
    Targets {
        /// Kind chosen.
        kind: InjectKind,
        /// What it can hit.
        targets: Vec<Target>,
        /// Highlighted row.
        selected: usize,
    },
}

/// What a key asks of the simulation.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Stop pacing simulated time.
    Pause,
    /// Go on.
    Resume,
    /// Run one simulated second, then stay paused.
    Step,
    /// Change the pace.
    Speed(Speed),
    /// Add a fault now.
    Inject(Injection),
    /// Start over with the same seed.
    Restart,
    /// End the program and print the summary.
    Quit,
}

/// A fault on the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultLine {
    /// Its name.
    pub name: String,
    /// The fault in words.
    pub text: String,
    /// Start, simulated seconds.
    pub start: f64,
    /// End (`None`: until the end of the run).
    pub end: Option<f64>,
    /// Injected from the screen.
    pub injected: bool,
}

impl FaultLine {
    /// The timeline's line for `fault`.
    pub fn of(fault: &Fault, injected: bool) -> FaultLine {
        FaultLine {
            name: fault.name.clone(),
            text: fault.describe(),
            start: fault.window.start.as_secs_f64(),
            end: fault.window.end.map(|e| e.as_secs_f64()),
            injected,
        }
    }

    /// Whether it is in force at `t`.
    pub fn active(&self, t: f64) -> bool {
        t >= self.start && self.end.is_none_or(|e| t < e)
    }
}

/// How the run ended, for the verdict that stays on screen.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    /// The rollout's verdict in one line, if there is a rollout; for a run quit early, only a
    /// verdict reached before the quit (`stopped at 70 s: rollout undecided` otherwise).
    pub rollout: Option<String>,
    /// Expectations held, of how many.
    pub held: usize,
    /// Expectations in all.
    pub expectations: usize,
    /// Where report.json went (none when the run was cut short).
    pub report: Option<String>,
    /// The run was ended early (quit or restart), so nothing was judged and no report
    /// written.
    pub halted: bool,
    /// Where `--save-scenario` wrote the scenario with the faults injected from the screen
    /// (after a quit too: a teacher's faults are not lost with the run).
    pub saved: Option<String>,
    /// Why the run failed, if it did.
    pub error: Option<String>,
}

/// What a message from the simulation says.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// One more simulated second.
    Sample(Sample),
    /// Faults that joined the run from the screen.
    Injected(Vec<FaultLine>),
    /// A line for the event log from the simulation's side (an injection that failed).
    Note(Event),
    /// The run ended; failed expectations come as events.
    Done(Finished, Vec<Event>),
}

/// Everything on screen.
#[derive(Clone, Debug, PartialEq)]
pub struct App {
    /// Scenario name.
    pub scenario: String,
    /// Seed in force.
    pub seed: u64,
    /// Arrivals stop at, simulated seconds.
    pub duration: f64,
    /// Where users' requests enter.
    pub gateway: String,
    /// Services in call order, each with its versions (virtual nodes).
    pub services: Vec<(String, Vec<String>)>,
    /// What the fault menu can aim at.
    pub targets: Targets,
    /// The fault timeline.
    pub faults: Vec<FaultLine>,
    /// One per simulated second, kept for scrubbing.
    pub samples: Vec<Sample>,
    /// The event log.
    pub events: Vec<Event>,
    /// Pacing stopped.
    pub paused: bool,
    /// Pace.
    pub speed: Speed,
    /// Lower panel shown.
    pub panel: Panel,
    /// Help overlay shown.
    pub help: bool,
    /// Fault menu open.
    pub menu: Option<Menu>,
    /// Scrubbing: the sample shown (`None`: the latest).
    pub cursor: Option<usize>,
    /// The run's end, once it came.
    pub finished: Option<Finished>,
    /// Injections asked for that have not joined the run yet.
    pub queued: Vec<Injection>,
    /// Quit was asked for.
    pub quitting: bool,
}

impl App {
    /// The screen for `scenario` before the first second.
    pub fn new(scenario: &Scenario, seed: u64, duration: f64, faults: &[Fault]) -> App {
        let mut services: Vec<(String, Vec<String>)> = Vec::new();
        for t in &scenario.tasks {
            match services.iter_mut().find(|(s, _)| *s == t.service) {
                Some((_, nodes)) if !nodes.contains(&t.node) => nodes.push(t.node.clone()),
                Some(_) => {}
                None => services.push((t.service.clone(), vec![t.node.clone()])),
            }
        }
        App {
            scenario: scenario.name.clone(),
            seed,
            duration,
            gateway: scenario.workload.target.clone(),
            services,
            targets: Targets::of(scenario),
            faults: faults.iter().map(|f| FaultLine::of(f, false)).collect(),
            samples: Vec::new(),
            events: Vec::new(),
            paused: false,
            speed: Speed::X10,
            panel: Panel::Charts,
            help: false,
            menu: None,
            cursor: None,
            finished: None,
            queued: Vec::new(),
            quitting: false,
        }
    }

    /// Back to the start for a restart: the same scenario and seed, the same pace and panel.
    pub fn restart(&mut self) {
        self.faults.retain(|f| !f.injected);
        self.samples.clear();
        self.events.clear();
        self.paused = false;
        self.menu = None;
        self.cursor = None;
        self.finished = None;
        self.queued.clear();
    }

    /// Takes in a message from the simulation.
    pub fn update(&mut self, update: Update) {
        match update {
            Update::Sample(s) => {
                self.events.extend(s.events.iter().cloned());
                self.samples.push(s);
            }
            Update::Injected(lines) => {
                for l in &lines {
                    self.queued.retain(|q| !l.name.ends_with(&q.slug()));
                }
                self.faults.extend(lines);
            }
            Update::Note(e) => self.events.push(e),
            Update::Done(finished, events) => {
                self.events.extend(events);
                self.finished = Some(finished);
                self.menu = None;
            }
        }
    }

    /// The sample on screen: the scrubbed one, or the latest.
    pub fn shown(&self) -> Option<&Sample> {
        match self.cursor {
            Some(i) => self.samples.get(i),
            None => self.samples.last(),
        }
    }

    /// Samples up to the one on screen.
    pub fn history(&self) -> &[Sample] {
        let end = self
            .cursor
            .map_or(self.samples.len(), |i| (i + 1).min(self.samples.len()));
        &self.samples[..end]
    }

    /// Simulated seconds on screen.
    pub fn now(&self) -> f64 {
        self.shown().map_or(0.0, |s| s.t)
    }

    /// Whether arrow keys move through time: once the run is over, or while paused.
    fn can_scrub(&self) -> bool {
        (self.finished.is_some() || self.paused) && !self.samples.is_empty()
    }

    /// What a key does.
    pub fn handle_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return self.quit();
        }
        if self.help {
            if key.code == KeyCode::Char('q') {
                return self.quit();
            }
            self.help = false;
            return Vec::new();
        }
        if self.menu.is_some() {
            return self.menu_key(key);
        }
        match key.code {
            KeyCode::Char('q') => self.quit(),
            KeyCode::Char('?') => {
                self.help = true;
                Vec::new()
            }
            KeyCode::Char(' ') if self.finished.is_none() => {
                self.paused = !self.paused;
                if self.paused {
                    vec![Effect::Pause]
                } else {
                    self.cursor = None;
                    vec![Effect::Resume]
                }
            }
            KeyCode::Char('.') if self.finished.is_none() => {
                self.paused = true;
                self.cursor = None;
                vec![Effect::Step]
            }
            KeyCode::Char('+') | KeyCode::Char('=') => {
                self.speed = self.speed.faster();
                vec![Effect::Speed(self.speed)]
            }
            KeyCode::Char('-') | KeyCode::Char('_') => {
                self.speed = self.speed.slower();
                vec![Effect::Speed(self.speed)]
            }
            KeyCode::Char('f') if self.finished.is_none() => {
                self.menu = Some(Menu::Kinds { selected: 0 });
                Vec::new()
            }
            KeyCode::Char('r') => {
                self.restart();
                vec![Effect::Restart]
            }
            KeyCode::Tab => {
                self.panel = self.panel.next();
                Vec::new()
            }
            KeyCode::BackTab => {
                self.panel = self.panel.prev();
                Vec::new()
            }
            KeyCode::Left if self.can_scrub() => {
                let last = self.samples.len() - 1;
                self.cursor = Some(self.cursor.unwrap_or(last).saturating_sub(1));
                Vec::new()
            }
            KeyCode::Right if self.can_scrub() => {
                let last = self.samples.len() - 1;
                self.cursor = match self.cursor {
                    Some(i) if i + 1 < last => Some(i + 1),
                    _ => None,
                };
                Vec::new()
            }
            KeyCode::Home if self.can_scrub() => {
                self.cursor = Some(0);
                Vec::new()
            }
            KeyCode::End | KeyCode::Esc => {
                self.cursor = None;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn quit(&mut self) -> Vec<Effect> {
        self.quitting = true;
        vec![Effect::Quit]
    }

    fn menu_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(menu) = self.menu.take() else {
            return Vec::new();
        };
        let rows = match &menu {
            Menu::Kinds { .. } => InjectKind::ALL.len(),
            Menu::Targets { targets, .. } => targets.len(),
        };
        let selected = match &menu {
            Menu::Kinds { selected } | Menu::Targets { selected, .. } => *selected,
        };
        let pick = match key.code {
            KeyCode::Esc | KeyCode::Char('f') => return Vec::new(),
            KeyCode::Char('q') => return self.quit(),
            KeyCode::Left | KeyCode::Backspace => {
                if matches!(menu, Menu::Targets { .. }) {
                    self.menu = Some(Menu::Kinds { selected: 0 });
                }
                return Vec::new();
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.menu = Some(with_selected(menu, selected.saturating_sub(1)));
                return Vec::new();
            }
            KeyCode::Down | KeyCode::Char('j') => {
                let next = (selected + 1).min(rows.saturating_sub(1));
                self.menu = Some(with_selected(menu, next));
                return Vec::new();
            }
            KeyCode::Enter | KeyCode::Right => selected,
            KeyCode::Char(c @ '1'..='9') => {
                let i = (c as usize) - ('1' as usize);
                if i >= rows {
                    self.menu = Some(menu);
                    return Vec::new();
                }
                i
            }
            _ => {
                self.menu = Some(menu);
                return Vec::new();
            }
        };
        match menu {
            Menu::Kinds { .. } => {
                let Some(kind) = InjectKind::ALL.get(pick).copied() else {
                    return Vec::new();
                };
                let targets = kind.targets(&self.targets);
                if !targets.is_empty() {
                    self.menu = Some(Menu::Targets {
                        kind,
                        targets,
                        selected: 0,
                    });
                }
                Vec::new()
            }
            Menu::Targets { kind, targets, .. } => {
                let Some(target) = targets.get(pick).cloned() else {
                    return Vec::new();
                };
                let injection = Injection { kind, target };
                self.queued.push(injection.clone());
                vec![Effect::Inject(injection)]
            }
        }
    }

    /// Events on screen: those up to the moment shown.
    pub fn events_shown(&self) -> impl Iterator<Item = &Event> {
        let now = self.now();
        let scrubbing = self.cursor.is_some();
        self.events
            .iter()
            .filter(move |e| !scrubbing || e.t <= now + 1e-9)
    }

    /// Failed expectations become events at the end of the run.
    pub fn expectation_event(t: f64, text: String) -> Event {
        Event {
            t,
            kind: EventKind::Expectation,
            text,
        }
    }
}

fn with_selected(menu: Menu, selected: usize) -> Menu {
    match menu {
        Menu::Kinds { .. } => Menu::Kinds { selected },
        Menu::Targets { kind, targets, .. } => Menu::Targets {
            kind,
            targets,
            selected,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::sample::Sample;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ch(c: char) -> KeyEvent {
        key(KeyCode::Char(c))
    }

    fn sample(t: f64) -> Sample {
        Sample {
            t,
            issued: 0,
            ended: 0,
            succeeded: 0,
            users_ended: 0,
            users_ok: None,
            retries: 0,
            versions: Default::default(),
            rollout: None,
            events: vec![Event {
                t,
                kind: EventKind::Fault,
                text: format!("at {t}"),
            }],
            distributions: Default::default(),
        }
    }

    /// An app for two services, ui (one version) and inventory (two), with no scenario file.
    fn app() -> App {
        App {
            scenario: "s".into(),
            seed: 1,
            duration: 10.0,
            gateway: "ingress".into(),
            services: vec![
                ("ui".into(), vec!["ui-v1".into()]),
                (
                    "inventory".into(),
                    vec!["inventory-v1".into(), "inventory-v2".into()],
                ),
            ],
            targets: Targets {
                tasks: vec!["ui-v1-1".into(), "inventory-v2-1".into()],
                nodes: vec!["ui-v1".into(), "inventory-v1".into(), "inventory-v2".into()],
                links: vec![
                    ("ui-v1".into(), "inventory-v1".into()),
                    ("ui-v1".into(), "inventory-v2".into()),
                ],
            },
            faults: Vec::new(),
            samples: Vec::new(),
            events: Vec::new(),
            paused: false,
            speed: Speed::X10,
            panel: Panel::Charts,
            help: false,
            menu: None,
            cursor: None,
            finished: None,
            queued: Vec::new(),
            quitting: false,
        }
    }

    fn finished() -> Finished {
        Finished {
            rollout: None,
            held: 1,
            expectations: 1,
            report: None,
            halted: false,
            saved: None,
            error: None,
        }
    }

    #[test]
    fn space_pauses_and_resumes() {
        let mut a = app();
        assert_eq!(a.handle_key(ch(' ')), vec![Effect::Pause]);
        assert!(a.paused);
        assert_eq!(a.handle_key(ch(' ')), vec![Effect::Resume]);
        assert!(!a.paused);
        a.finished = Some(finished());
        assert_eq!(
            a.handle_key(ch(' ')),
            vec![],
            "nothing to pause after the run"
        );
    }

    #[test]
    fn dot_steps_one_second_and_stays_paused() {
        let mut a = app();
        assert_eq!(a.handle_key(ch('.')), vec![Effect::Step]);
        assert!(a.paused);
        assert_eq!(a.handle_key(ch('.')), vec![Effect::Step]);
        assert!(a.paused);
    }

    #[test]
    fn plus_and_minus_walk_the_speeds_and_stop_at_the_ends() {
        let mut a = app();
        assert_eq!(a.handle_key(ch('+')), vec![Effect::Speed(Speed::X100)]);
        assert_eq!(a.handle_key(ch('+')), vec![Effect::Speed(Speed::Max)]);
        assert_eq!(a.handle_key(ch('+')), vec![Effect::Speed(Speed::Max)]);
        for want in [Speed::X100, Speed::X10, Speed::X1, Speed::X1] {
            assert_eq!(a.handle_key(ch('-')), vec![Effect::Speed(want)]);
        }
        assert_eq!(a.speed, Speed::X1);
        assert_eq!(Speed::X1.factor(), Some(1.0));
        assert_eq!(Speed::Max.factor(), None);
    }

    #[test]
    fn f_opens_the_menu_and_a_choice_injects_once() {
        let mut a = app();
        assert_eq!(a.handle_key(ch('f')), vec![]);
        assert_eq!(a.menu, Some(Menu::Kinds { selected: 0 }));
        // Down to "slow a version", then into its targets.
        assert_eq!(a.handle_key(key(KeyCode::Down)), vec![]);
        assert_eq!(a.handle_key(key(KeyCode::Enter)), vec![]);
        let Some(Menu::Targets { kind, targets, .. }) = &a.menu else {
            panic!("targets expected: {:?}", a.menu);
        };
        assert_eq!(*kind, InjectKind::Slow);
        assert_eq!(targets.len(), 3);
        // Digits pick directly: the third version.
        let effects = a.handle_key(ch('3'));
        let want = Injection {
            kind: InjectKind::Slow,
            target: Target::Node("inventory-v2".into()),
        };
        assert_eq!(effects, vec![Effect::Inject(want.clone())]);
        assert_eq!(a.menu, None);
        assert_eq!(a.queued, vec![want]);
    }

    #[test]
    fn the_menu_goes_back_closes_and_ignores_rows_it_lacks() {
        let mut a = app();
        a.handle_key(ch('f'));
        assert_eq!(a.handle_key(ch('9')), vec![], "no ninth kind");
        assert_eq!(a.menu, Some(Menu::Kinds { selected: 0 }));
        a.handle_key(ch('1'));
        assert!(matches!(
            a.menu,
            Some(Menu::Targets {
                kind: InjectKind::Kill,
                ..
            })
        ));
        a.handle_key(key(KeyCode::Left));
        assert_eq!(a.menu, Some(Menu::Kinds { selected: 0 }));
        a.handle_key(key(KeyCode::Esc));
        assert_eq!(a.menu, None);
        assert!(a.queued.is_empty());
        a.finished = Some(finished());
        a.handle_key(ch('f'));
        assert_eq!(a.menu, None, "no injecting into a finished run");
    }

    #[test]
    fn injected_lines_clear_the_queue() {
        let mut a = app();
        a.handle_key(ch('f'));
        a.handle_key(ch('1'));
        a.handle_key(ch('2'));
        assert_eq!(a.queued.len(), 1);
        a.update(Update::Injected(vec![FaultLine {
            name: "live-1-kill-inventory-v2-1".into(),
            text: String::new(),
            start: 3.0,
            end: None,
            injected: true,
        }]));
        assert!(a.queued.is_empty());
        assert_eq!(a.faults.len(), 1);
    }

    #[test]
    fn r_restarts_from_nothing_with_the_same_pace() {
        let mut a = app();
        a.handle_key(ch('+'));
        a.update(Update::Sample(sample(1.0)));
        a.faults.push(FaultLine {
            name: "live-1".into(),
            text: String::new(),
            start: 1.0,
            end: None,
            injected: true,
        });
        a.faults.push(FaultLine {
            name: "written".into(),
            text: String::new(),
            start: 1.0,
            end: None,
            injected: false,
        });
        a.paused = true;
        assert_eq!(a.handle_key(ch('r')), vec![Effect::Restart]);
        assert!(a.samples.is_empty() && a.events.is_empty());
        assert!(!a.paused);
        assert_eq!(a.speed, Speed::X100);
        assert_eq!(a.faults.len(), 1, "only the scenario's own faults stay");
    }

    #[test]
    fn tab_cycles_the_panels_both_ways() {
        let mut a = app();
        a.handle_key(key(KeyCode::Tab));
        assert_eq!(a.panel, Panel::Histogram);
        a.handle_key(key(KeyCode::Tab));
        assert_eq!(a.panel, Panel::Events);
        a.handle_key(key(KeyCode::Tab));
        assert_eq!(a.panel, Panel::Faults);
        a.handle_key(key(KeyCode::Tab));
        assert_eq!(a.panel, Panel::Charts);
        a.handle_key(key(KeyCode::BackTab));
        assert_eq!(a.panel, Panel::Faults);
    }

    #[test]
    fn question_mark_shows_help_and_any_key_hides_it() {
        let mut a = app();
        a.handle_key(ch('?'));
        assert!(a.help);
        assert_eq!(a.handle_key(ch(' ')), vec![], "the key only closes help");
        assert!(!a.help && !a.paused);
    }

    #[test]
    fn q_and_ctrl_c_quit_from_anywhere() {
        let mut a = app();
        assert_eq!(a.handle_key(ch('q')), vec![Effect::Quit]);
        let mut a = app();
        a.handle_key(ch('f'));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(a.handle_key(ctrl_c), vec![Effect::Quit]);
        let mut a = app();
        a.handle_key(ch('?'));
        assert_eq!(a.handle_key(ch('q')), vec![Effect::Quit]);
        assert!(a.quitting);
    }

    #[test]
    fn arrows_scrub_recorded_seconds_after_the_run() {
        let mut a = app();
        for t in 1..=5 {
            a.update(Update::Sample(sample(f64::from(t))));
        }
        a.handle_key(key(KeyCode::Left));
        assert_eq!(a.cursor, None, "no scrubbing while the run goes on");
        a.update(Update::Done(finished(), Vec::new()));
        a.handle_key(key(KeyCode::Left));
        assert_eq!(a.now(), 4.0);
        a.handle_key(key(KeyCode::Left));
        assert_eq!(a.now(), 3.0);
        assert_eq!(a.history().len(), 3);
        assert_eq!(
            a.events_shown().count(),
            3,
            "events after the moment shown are hidden"
        );
        a.handle_key(key(KeyCode::Home));
        assert_eq!(a.now(), 1.0);
        a.handle_key(key(KeyCode::Left));
        assert_eq!(a.now(), 1.0, "the first second is the first");
        a.handle_key(key(KeyCode::Right));
        assert_eq!(a.now(), 2.0);
        a.handle_key(key(KeyCode::End));
        assert_eq!((a.cursor, a.now()), (None, 5.0));
        for _ in 0..2 {
            a.handle_key(key(KeyCode::Left));
        }
        a.handle_key(key(KeyCode::Right));
        a.handle_key(key(KeyCode::Right));
        assert_eq!(
            a.cursor, None,
            "stepping past the last second is live again"
        );
    }

    #[test]
    fn pausing_also_allows_scrubbing_and_resuming_returns_to_live() {
        let mut a = app();
        for t in 1..=3 {
            a.update(Update::Sample(sample(f64::from(t))));
        }
        a.handle_key(ch(' '));
        a.handle_key(key(KeyCode::Left));
        assert_eq!(a.now(), 2.0);
        a.handle_key(ch(' '));
        assert_eq!(a.cursor, None);
    }

    #[test]
    fn key_releases_are_ignored() {
        let mut a = app();
        let mut release = ch('q');
        release.kind = KeyEventKind::Release;
        assert_eq!(a.handle_key(release), vec![]);
        assert!(!a.quitting);
    }
}
