//! The few statistics a sweep reports: Wilson score intervals for shares, and quantiles by
//! nearest rank. Both are computed from integers and sorted values only, so a sweep's figures
//! do not depend on the order its runs finished in.

use serde::{Deserialize, Serialize};

/// z for a two-sided 95 % interval, Φ⁻¹(0.975).
pub const Z95: f64 = 1.959_963_984_540_054;

/// A share of runs with its Wilson 95 % score interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Share {
    /// Runs counted.
    pub count: u64,
    /// Out of.
    pub of: u64,
    /// count / of (0 when `of` is 0).
    pub share: f64,
    /// Lower end of the 95 % interval.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

impl Share {
    /// `count` of `of`.
    pub fn of(count: u64, of: u64) -> Share {
        let (low, high) = wilson(count, of, Z95);
        Share {
            count,
            of,
            share: if of == 0 {
                0.0
            } else {
                count as f64 / of as f64
            },
            low,
            high,
        }
    }
}

/// The Wilson score interval (Wilson 1927; Brown, Cai & DasGupta 2001 recommend it over the
/// Wald interval, which collapses to a point at 0 and n runs — the very cases a sweep of a
/// good or a bad candidate produces). `(0, 1)` for no runs.
///
/// `centre = (p̂ + z²/2n) / (1 + z²/n)`, `half = z / (1 + z²/n) · √(p̂(1−p̂)/n + z²/4n²)`.
pub fn wilson(successes: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = n as f64;
    let p = successes as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z / denom * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    // At 0 or n the formula's end is exactly 0 or 1; rounding must not nudge it off.
    let low = if successes == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let high = if successes == n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (low, high)
}

/// A distribution across runs: min, 5th, 50th, 95th percentile, max (nearest rank) and mean.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Values summarised.
    pub runs: u64,
    /// Smallest.
    pub min: f64,
    /// 5th percentile.
    pub p5: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Largest.
    pub max: f64,
    /// Arithmetic mean, summed in sorted order.
    pub mean: f64,
}

impl Spread {
    /// Of `values` (in any order); `None` when there are none.
    pub fn of(mut values: Vec<f64>) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        Some(Spread {
            runs: values.len() as u64,
            min: values[0],
            p5: nearest_rank(&values, 0.05),
            p50: nearest_rank(&values, 0.5),
            p95: nearest_rank(&values, 0.95),
            max: values[values.len() - 1],
            mean,
        })
    }
}

/// The nearest-rank quantile of sorted, non-empty `values`: the smallest value with at least
/// `q` of the values at or below it (no interpolation, so every figure is a run's own).
pub fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 5e-5
    }

    /// Reference values: Newcombe (1998), "Two-sided confidence intervals for the single
    /// proportion", Statistics in Medicine 17, Table I, method 3 (Wilson score without
    /// continuity correction), to his four decimals: 81/263 → 0.2553–0.3662, 15/148 →
    /// 0.0624–0.1605, 0/20 → 0–0.1611, 1/29 → 0.0061–0.1718; and 5/10 → 0.2366–0.7634.
    #[test]
    fn wilson_matches_published_values() {
        for (x, n, low, high) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718),
            (5, 10, 0.2366, 0.7634),
        ] {
            let (l, h) = wilson(x, n, Z95);
            assert!(close(l, low) && close(h, high), "{x}/{n}: ({l}, {h})");
        }
        assert_eq!(wilson(0, 0, Z95), (0.0, 1.0));
    }

    #[test]
    fn quantiles_are_runs_own_values_by_nearest_rank() {
        let s = Spread::of((1..=100).map(f64::from).rev().collect()).unwrap();
        assert_eq!(
            (s.min, s.p5, s.p50, s.p95, s.max),
            (1.0, 5.0, 50.0, 95.0, 100.0)
        );
        assert_eq!(s.mean, 50.5);
        let one = Spread::of(vec![7.0]).unwrap();
        assert_eq!((one.p5, one.p95), (7.0, 7.0));
        assert!(Spread::of(Vec::new()).is_none());
    }
}
