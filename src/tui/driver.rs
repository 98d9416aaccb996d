//! The terminal's side: raw mode and the alternate screen, restored on every way out (quit,
//! Ctrl-C, SIGINT/SIGTERM/SIGHUP from outside, an error, a panic); keys turned into
//! [`Effect`]s; the simulation's thread started again on restart.

use std::io::{self, Stdout, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::Duration;

use crossterm::cursor::Show;
use crossterm::event::{self, Event as TermEvent};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use super::app::{App, Effect, Update};
use super::render::render;
use super::session::{Job, Outcome, Pacer, simulate};

/// Why the screen could not run.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The terminal refused raw mode, the alternate screen, or a draw.
    #[error("the terminal: {0}")]
    Terminal(#[from] io::Error),
    /// The simulation's thread could not start or died.
    #[error("the simulation's thread: {0}")]
    Thread(String),
}

/// Puts the terminal back as it was: cooked mode, the main screen, a visible cursor. Safe to
/// call twice (the panic hook and the guard may both run).
pub fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
}

/// Restores the terminal when dropped, so an early `?` return cannot leave it raw.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Restores the terminal before the default panic message, so the message is readable and
/// the shell usable.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
}

/// SIGINT, SIGTERM and SIGHUP, caught. In raw mode Ctrl-C arrives as a key, but `kill`, a
/// supervisor stopping the demo or a closed terminal window send a signal, whose default
/// action would end the process with the terminal still raw and on the alternate screen. The
/// screen loop sees a caught signal within one poll and quits as `q` does: the run halted,
/// the terminal restored. A second signal while that is under way ends the process at once
/// (with 128 + the signal), so a stuck shutdown never needs SIGKILL.
struct Signals {
    /// The number of the signal caught, 0 while none.
    caught: Arc<AtomicUsize>,
}

impl Signals {
    fn watch() -> io::Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        use signal_hook::flag;
        let raised = Arc::new(AtomicBool::new(false));
        let caught = Arc::new(AtomicUsize::new(0));
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            // Registered first, so it runs first: it exits only if an earlier signal has
            // already raised the flag.
            flag::register_conditional_shutdown(signal, 128 + signal, Arc::clone(&raised))?;
            flag::register(signal, Arc::clone(&raised))?;
            flag::register_usize(signal, Arc::clone(&caught), signal as usize)?;
        }
        Ok(Signals { caught })
    }

    fn caught(&self) -> Option<i32> {
        match self.caught.load(Ordering::Relaxed) {
            0 => None,
            n => i32::try_from(n).ok(),
        }
    }
}

/// One simulation thread and the channel it reports on.
struct Running {
    pacer: Arc<Pacer>,
    rx: Receiver<Update>,
    handle: JoinHandle<Outcome>,
}

fn start(job: &Job, app: &App) -> Result<Running, TuiError> {
    let pacer = Pacer::new(app.speed, app.paused);
    let (tx, rx) = mpsc::channel();
    let job = job.clone();
    let p = Arc::clone(&pacer);
    let handle = std::thread::Builder::new()
        .name("simulation".into())
        .spawn(move || simulate(&job, p, tx))
        .map_err(|e| TuiError::Thread(e.to_string()))?;
    Ok(Running { pacer, rx, handle })
}

/// Halts a run and waits for its thread (within one simulated second of work).
fn stop(running: Running) -> Result<Outcome, TuiError> {
    running.pacer.halt();
    drop(running.rx);
    running
        .handle
        .join()
        .map_err(|_| TuiError::Thread("it panicked".into()))
}

/// Runs the screen until the user quits; returns how the last run ended.
pub fn run(job: &Job, mut app: App) -> Result<Outcome, TuiError> {
    install_panic_hook();
    // Before raw mode: a signal from here on finds the handlers, not the default action.
    let signals = Signals::watch()?;
    enable_raw_mode()?;
    let _guard = Guard;
    execute!(io::stdout(), EnterAlternateScreen)?;
    let mut terminal: Terminal<CrosstermBackend<Stdout>> =
        Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;
    let mut running = start(job, &app)?;
    let quit = |running: Running,
                terminal: Terminal<CrosstermBackend<Stdout>>|
     -> Result<Outcome, TuiError> {
        let outcome = stop(running)?;
        drop(terminal);
        restore_terminal();
        let _ = io::stdout().flush();
        Ok(outcome)
    };
    loop {
        if let Some(signal) = signals.caught() {
            let mut outcome = quit(running, terminal)?;
            outcome.signal = Some(signal);
            return Ok(outcome);
        }
        while let Ok(update) = running.rx.try_recv() {
            app.update(update);
        }
        terminal.draw(|f| render(f, &app))?;
        // crossterm resumes a wait a signal interrupted; the flag is read at the next turn.
        if !event::poll(Duration::from_millis(50))? {
            continue;
        }
        let TermEvent::Key(key) = event::read()? else {
            // A resize: the next draw lays the screen out again.
            continue;
        };
        for effect in app.handle_key(key) {
            match effect {
                Effect::Quit => return quit(running, terminal),
                Effect::Restart => {
                    let _ = stop(running)?;
                    running = start(job, &app)?;
                }
                other => running.pacer.apply(&other),
            }
        }
    }
}
