//! Simulated time. The engine never reads a clock: callers pass the current [`SimTime`].

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// An instant of simulated time: nanoseconds since the simulation started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(u64);

impl SimTime {
    /// The start of the simulation.
    pub const ZERO: SimTime = SimTime(0);
    /// Later than any instant a simulation reaches (about 584 years).
    pub const NEVER: SimTime = SimTime(u64::MAX);

    /// `d` after the start.
    pub fn from_duration(d: Duration) -> SimTime {
        SimTime(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    /// `ms` milliseconds after the start.
    pub fn from_millis(ms: u64) -> SimTime {
        SimTime(ms.saturating_mul(1_000_000))
    }

    /// Time since the start.
    pub fn since_start(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// Nanoseconds since the start.
    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: SimTime) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for SimTime {
    type Output = SimTime;
    fn add(self, d: Duration) -> SimTime {
        let n = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        SimTime(self.0.saturating_add(n))
    }
}

impl Sub<SimTime> for SimTime {
    type Output = Duration;
    fn sub(self, earlier: SimTime) -> Duration {
        self.saturating_since(earlier)
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 / 1_000_000;
        let us = (self.0 / 1_000) % 1_000;
        write!(f, "{}.{:03}{:03}s", ms / 1000, ms % 1000, us)
    }
}
