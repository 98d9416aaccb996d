//! `meshsim tui`: watch, steer and replay a rehearsal live (ratatui + crossterm).
//!
//! - [`app`]: the screen's state and what every key does to it (pure; tested without a
//!   terminal);
//! - [`render`]: the state drawn into a frame (snapshot-tested on ratatui's `TestBackend`);
//! - [`sample`]: one simulated second as the screen shows it, made from what the world records;
//! - [`inject`]: faults injected from the screen, written as `faults:` entries, and the scenario
//!   file saved with them;
//! - [`session`]: the rehearsal on its own thread, paced, paused and halted by the screen;
//! - [`driver`]: the terminal, restored on every way out.
//!
//! Determinism: the world runs in simulated time and the screen only decides when the next
//! simulated second is computed. Injected faults enter through the world's own seam
//! ([`crate::sim::Change::Fault`]) at the next whole simulated second, exactly as the same
//! entries written in the scenario would, so `--save-scenario` replays them.
//!
//! Layering: the top of the crate; it imports `report`, `rehearse` and `sim`, and nothing
//! imports it.

pub mod app;
pub mod driver;
pub mod inject;
pub mod render;
pub mod sample;
pub mod session;

pub use app::{App, Effect, Speed, Update};
pub use driver::{TuiError, run};
pub use session::{Job, Outcome, Pacer, simulate};
