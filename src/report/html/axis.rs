//! Axes of report.html's charts: where the ticks go and what they say.
//!
//! Log axes are drawn as linear axes over `log10` of the values with tick labels mapped
//! back: plotters' own log coordinate picks its ticks itself, and the HdrHistogram percentile
//! axis needs ticks at 90 %, 99 %, 99.9 % exactly. Tick positions and labels are computed
//! here, with fixed decimals, so the SVG text is the same on every machine.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;

/// How values map onto an axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    /// As they are.
    Linear,
    /// By their base-10 logarithm (values must be positive).
    Log10,
}

/// Where the ticks go and what they say.
#[derive(Clone, Debug, PartialEq)]
pub enum Ticks {
    /// Round numbers (linear) or powers of ten (log).
    Auto,
    /// HdrHistogram's `1/(1-percentile)` axis: 10 reads `90%`, 100 `99%`, 1000 `99.9%`.
    Percentiles,
    /// One band per name, from 0 to the number of names; band `i` is centred on `i + 0.5`.
    Categories(Vec<String>),
}

/// One axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// Its name, with the unit.
    pub desc: String,
    /// Lowest value shown.
    pub lo: f64,
    /// Highest value shown.
    pub hi: f64,
    /// Value mapping.
    pub scale: Scale,
    /// Tick placement.
    pub ticks: Ticks,
}

impl Axis {
    pub(super) fn map(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Linear => v,
            Scale::Log10 => v.max(1e-9).log10(),
        }
    }

    /// The drawn range, never empty.
    pub(super) fn range(&self) -> (f64, f64) {
        let (lo, hi) = (self.map(self.lo), self.map(self.hi));
        if hi > lo { (lo, hi) } else { (lo, lo + 1.0) }
    }

    /// Tick positions in drawn (mapped) units.
    pub fn tick_positions(&self) -> Vec<f64> {
        let (lo, hi) = self.range();
        match (&self.ticks, self.scale) {
            (Ticks::Categories(names), _) => (0..names.len()).map(|i| i as f64 + 0.5).collect(),
            (_, Scale::Log10) => log_ticks(lo, hi),
            (_, Scale::Linear) => linear_ticks(lo, hi),
        }
    }

    /// The label of a tick at `t` (drawn units).
    pub fn tick_label(&self, t: f64) -> String {
        match (&self.ticks, self.scale) {
            (Ticks::Categories(names), _) => {
                let i = (t - 0.5).round();
                if i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            }
            (Ticks::Percentiles, Scale::Log10) => percentile_label(t),
            (_, Scale::Log10) => number(10f64.powf(t)),
            (_, Scale::Linear) => number(t),
        }
    }

    /// Room for the longest tick label, in pixels (plotters' own estimate for fonts it
    /// cannot measure is 0.7 em per byte).
    pub(super) fn label_room(&self) -> u32 {
        let longest = self
            .tick_positions()
            .iter()
            .map(|t| self.tick_label(*t).len())
            .max()
            .unwrap_or(1);
        // Up to 70 characters whole (a hop's name on the page-wide amplification chart).
        (longest as u32 * 7 + 34).min(524)
    }
}

/// A linear coordinate with the ticks given: plotters' `with_key_points` wrapper loses the
/// label formatter of `f64` ranges, so this one declares the default formatting (every label
/// is formatted by [`Axis::tick_label`] anyway).
pub(super) struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    /// `lo..hi` (drawn units) with ticks at `ticks`.
    pub(super) fn new(lo: f64, hi: f64, ticks: Vec<f64>) -> Ticked {
        Ticked {
            inner: (lo..hi).into(),
            ticks,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// Round-number ticks: steps of 1, 2 or 5 times a power of ten, about six of them.
pub fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = hi - lo;
    if !span.is_finite() || span <= 0.0 {
        return vec![lo];
    }
    let raw = span / 6.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Ticks on a log axis (positions are log10 values): every power of ten, with 2 and 5 times
/// each on axes of up to two decades and 3 times each up to three and a half, so labels
/// stay apart on a plot about 200 px high.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let multiples: &[f64] = match hi - lo {
        s if s <= 2.0 => &[1.0, 2.0, 5.0],
        s if s <= 3.5 => &[1.0, 3.0],
        _ => &[1.0],
    };
    let mut out = Vec::new();
    for decade in (lo.floor() as i64)..=(hi.ceil() as i64) {
        for m in multiples {
            let t = decade as f64 + m.log10();
            if t >= lo - 1e-9 && t <= hi + 1e-9 {
                out.push(t);
            }
        }
    }
    out
}

/// The largest of 1, 2, 5, 10, 20, ... (times any power of ten) at or below `v` (> 0), so a
/// log axis starts on a labelled tick.
pub fn nice_below(v: f64) -> f64 {
    let decade = 10f64.powf(v.log10().floor());
    [5.0, 2.0, 1.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|n| *n <= v * (1.0 + 1e-9))
        .unwrap_or(decade)
}

/// The smallest of 1, 2, 5, 10, 20, ... at or above `v` (> 0).
pub fn nice_above(v: f64) -> f64 {
    let decade = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|n| *n >= v * (1.0 - 1e-9))
        .unwrap_or(10.0 * decade)
}

/// `90%`, `99%`, `99.9%`, ... for log10(1/(1-percentile)) = 1, 2, 3, ...; `0%` at 0.
pub fn percentile_label(t: f64) -> String {
    let nines = t.round().max(0.0) as usize;
    match nines {
        0 => "0%".into(),
        1 => "90%".into(),
        2 => "99%".into(),
        n => format!("99.{}%", "9".repeat(n - 2)),
    }
}

/// A number with at most three decimals and no trailing zeros: `0.5`, `12`, `1000`.
pub fn number(v: f64) -> String {
    let s = format!("{:.3}", if v.abs() < 5e-4 { 0.0 } else { v });
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(lo: f64, hi: f64, scale: Scale, ticks: Ticks) -> Axis {
        Axis {
            desc: "value (ms)".into(),
            lo,
            hi,
            scale,
            ticks,
        }
    }

    #[test]
    fn linear_ticks_are_round_numbers_inside_the_range() {
        assert_eq!(linear_ticks(0.0, 720.0), [0.0, 200.0, 400.0, 600.0]);
        assert_eq!(
            linear_ticks(0.0, 100.0),
            [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(linear_ticks(1.0, 1.1).len(), 6);
        assert_eq!(linear_ticks(3.0, 3.0), [3.0]);
    }

    #[test]
    fn log_ticks_add_twos_and_fives_on_short_axes() {
        let short: Vec<String> = log_ticks(0.0, 2.0)
            .iter()
            .map(|t| number(10f64.powf(*t)))
            .collect();
        assert_eq!(short, ["1", "2", "5", "10", "20", "50", "100"]);
        let middle: Vec<String> = log_ticks(1.0, 4.0)
            .iter()
            .map(|t| number(10f64.powf(*t)))
            .collect();
        assert_eq!(middle, ["10", "30", "100", "300", "1000", "3000", "10000"]);
        assert_eq!(log_ticks(-1.0, 3.0), [-1.0, 0.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn nice_bounds_land_on_one_two_five() {
        assert_eq!(nice_below(3.007), 2.0);
        assert_eq!(nice_below(0.7), 0.5);
        assert_eq!(nice_below(20.0), 20.0);
        assert_eq!(nice_above(3.007), 5.0);
        assert_eq!(nice_above(5200.0), 10000.0);
        assert_eq!(nice_above(100.0), 100.0);
    }

    #[test]
    fn the_percentile_axis_reads_in_nines() {
        let a = axis(1.0, 1e5, Scale::Log10, Ticks::Percentiles);
        let labels: Vec<String> = a
            .tick_positions()
            .iter()
            .map(|t| a.tick_label(*t))
            .collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]);
    }

    #[test]
    fn categories_label_their_bands() {
        let a = axis(
            0.0,
            2.0,
            Scale::Linear,
            Ticks::Categories(vec!["a".into(), "b".into()]),
        );
        assert_eq!(a.tick_positions(), [0.5, 1.5]);
        assert_eq!(
            (a.tick_label(0.5), a.tick_label(1.5)),
            ("a".into(), "b".into())
        );
    }

    #[test]
    fn numbers_have_fixed_decimals_without_trailing_zeros() {
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(1000.0), "1000");
        assert_eq!(number(0.30000000000000004), "0.3");
        assert_eq!(number(-0.0001), "0");
    }
}
