//! Simulated time. The engine never reads a clock: callers pass the current [`SimTime`].

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

use rand::Rng;

/// The one tick the wire world can honour. Its apps and sidecars sleep on tokio's timer, whose
/// resolution is a millisecond whatever turmoil's step is: with a finer step a 10.3 ms sleep
/// still ends at 11 ms (and `now` reads a clock the timer does not follow), with a coarser
/// one a 1 ms sleep lasts the whole step. So the scenario's `network.tick` must be exactly
/// this, and every instant the world sleeps to is first put on it by [`dither`].
pub const TICK: Duration = Duration::from_millis(1);

/// `at` put on a whole [`TICK`] without bias: the tick below with probability one minus the
/// fraction of a tick past it, else the tick above (an instant already on a tick stays, and
/// draws nothing). Rounding up, as tokio's timer does, would add half a tick to every
/// service time on average (an Exp(10 ms) service would average 10.5 ms, and queues at 70 %
/// load would wait 11-39 % longer than Erlang C says); this rounding keeps each mean exact,
/// and the spread it adds (at most a quarter of a tick squared) is far below a millisecond.
pub fn dither(at: SimTime, rng: &mut impl Rng) -> SimTime {
    let tick = u64::try_from(TICK.as_nanos()).unwrap_or(u64::MAX);
    let past = at.0 % tick;
    if past == 0 {
        return at;
    }
    let below = at.0 - past;
    if rng.random_range(0..tick) < past {
        SimTime(below.saturating_add(tick))
    } else {
        SimTime(below)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::seed;

    #[test]
    fn dither_keeps_the_mean_and_lands_on_a_neighbouring_tick() {
        let mut rng = seed::stream(7, "dither");
        let at = SimTime::from_duration(Duration::from_micros(10_300));
        let n = 200_000u64;
        let mut up = 0u64;
        for _ in 0..n {
            let d = dither(at, &mut rng);
            assert!(
                d == SimTime::from_millis(10) || d == SimTime::from_millis(11),
                "{d:?}"
            );
            up += u64::from(d == SimTime::from_millis(11));
        }
        // Up with probability 0.3: the mean stays 10.3 ms. Five standard deviations of a
        // binomial share over 200,000 draws is 0.0051; rounding always up (tokio's timer)
        // gives 1.0, always to the nearest 0.0.
        let share = up as f64 / n as f64;
        assert!((share - 0.3).abs() < 0.0051, "share up {share}");
    }

    #[test]
    fn an_instant_on_a_tick_stays_and_draws_nothing() {
        let mut a = seed::stream(7, "dither");
        let mut b = seed::stream(7, "dither");
        assert_eq!(
            dither(SimTime::from_millis(12), &mut a),
            SimTime::from_millis(12)
        );
        assert_eq!(a.random::<u64>(), b.random::<u64>());
    }
}
