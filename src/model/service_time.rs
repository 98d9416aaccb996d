//! Distributions: how long an endpoint works on a request, and (the same shapes over bytes)
//! how large its response is.
//!
//! One generic [`Distribution`] over a [`Quantity`] serves both, so every shape is available
//! for both and is tested once. Samples are drawn in the quantity's integer base unit
//! (nanoseconds, bytes); parametric shapes come from `rand_distr`.
//!
//! Choices:
//! - **Normal is truncated at 0 by rejection**, not clamped: clamping would pile every negative
//!   draw onto exactly zero, an instant response no real service gives. The mean must be ≥ 0,
//!   so each draw is kept with probability ≥ ½. `mean` and `stddev` are the parameters of the
//!   untruncated normal (they are the mean and deviation observed when `mean` ≫ `stddev`).
//! - **Log-normal is given by its median and p99**, not by μ and σ: latencies are measured and
//!   quoted as percentiles, μ and σ are in log-nanoseconds that nobody reads off a dashboard,
//!   and two percentiles pin the two parameters exactly (μ = ln median,
//!   σ = ln(p99 / median) / z₀.₉₉).
//! - **Empirical tables are inverse CDFs**: a uniform percentile is drawn and interpolated
//!   linearly between the two table points around it. Below the first point the sample is
//!   the first value and above the last the last value, so a table without `percentile: 0`
//!   and `percentile: 100` bounds its tails at its end points.
//! - Samples beyond the base unit's range (a heavy Pareto tail) saturate rather than wrap.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use rand::Rng;
use rand_distr::Distribution as _;
use serde::de::{DeserializeOwned, IntoDeserializer};

use super::duration::HumanDuration;

/// z such that Φ(z) = 0.99, for the log-normal's p99.
const Z_99: f64 = 2.326_347_874_040_840_8;

/// Draws from a truncated normal before giving up; each is kept with probability ≥ ½, so
/// running out happens with probability 2⁻⁶⁴.
const NORMAL_TRIES: u32 = 64;

/// A quantity a distribution draws: a length of time or a size.
pub trait Quantity: Copy + PartialOrd + fmt::Debug {
    /// How a scenario file writes one (a duration text, a byte count).
    type Written: DeserializeOwned + Into<Self>;
    /// In base units (nanoseconds, bytes).
    fn to_units(self) -> u64;
    /// From base units.
    fn from_units(units: u64) -> Self;
    /// For messages: `20ms`, `512 bytes`.
    fn render(self) -> String;
}

impl Quantity for Duration {
    type Written = HumanDuration;
    fn to_units(self) -> u64 {
        u64::try_from(self.as_nanos()).unwrap_or(u64::MAX)
    }
    fn from_units(units: u64) -> Self {
        Duration::from_nanos(units)
    }
    fn render(self) -> String {
        format!("{self:?}")
    }
}

/// A service-time distribution as configured.
pub type ServiceTimeConfig = DistributionConfig<Duration>;
/// A validated service-time distribution.
pub type ServiceTime = Distribution<Duration>;

/// A distribution as a scenario writes it: either a bare quantity (a constant, `"20ms"`) or a
/// map tagged by `distribution:`, e.g. `{ distribution: lognormal, median: 20ms, p99: 150ms }`.
#[derive(Clone, Debug, PartialEq)]
pub enum DistributionConfig<Q> {
    /// Always `value`.
    Constant {
        /// The value.
        value: Q,
    },
    /// Uniform on `[min, max]`.
    Uniform {
        /// Smallest value.
        min: Q,
        /// Largest value.
        max: Q,
    },
    /// Normal, truncated at 0 (see the [module](self) docs).
    Normal {
        /// Mean of the untruncated normal.
        mean: Q,
        /// Standard deviation of the untruncated normal.
        stddev: Q,
    },
    /// Log-normal, by median and 99th percentile.
    LogNormal {
        /// 50th percentile.
        median: Q,
        /// 99th percentile (≥ median).
        p99: Q,
    },
    /// Exponential (memoryless).
    Exponential {
        /// Mean.
        mean: Q,
    },
    /// Pareto (heavy-tailed): P(X > x) = (scale / x)^shape for x ≥ scale.
    Pareto {
        /// Minimum value.
        scale: Q,
        /// Tail index; at or below 1 the mean is infinite, at or below 2 the variance.
        shape: f64,
    },
    /// A table of percentiles, sampled by inverse CDF with linear interpolation.
    Empirical {
        /// Points, percentiles strictly increasing, values non-decreasing.
        points: Vec<PercentilePoint<Q>>,
    },
}

/// One point of an empirical table: `percentile` % of samples are at or below `value`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PercentilePoint<Q> {
    /// 0 to 100.
    pub percentile: f64,
    /// The value at that percentile.
    pub value: Q,
}

impl<Q: Quantity> Default for DistributionConfig<Q> {
    fn default() -> Self {
        DistributionConfig::Constant {
            value: Q::from_units(0),
        }
    }
}

/// A distribution's parameters do not describe a distribution.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DistributionError {
    /// `uniform` with `max` below `min`.
    #[error("max ({max}) is below min ({min})")]
    MaxBelowMin {
        /// `min`, rendered.
        min: String,
        /// `max`, rendered.
        max: String,
    },
    /// `lognormal` with a zero median (its logarithm is −∞).
    #[error("a log-normal median must be above zero")]
    ZeroMedian,
    /// `lognormal` with `p99` below the median.
    #[error("p99 ({p99}) is below the median ({median})")]
    P99BelowMedian {
        /// `median`, rendered.
        median: String,
        /// `p99`, rendered.
        p99: String,
    },
    /// `exponential` with a zero mean (write a constant instead).
    #[error("an exponential mean must be above zero (for always zero, write a constant)")]
    ZeroMean,
    /// `pareto` with a zero scale.
    #[error("a Pareto scale must be above zero")]
    ZeroScale,
    /// `pareto` with a shape that is not a positive number.
    #[error("a Pareto shape must be a number above zero, got {0}")]
    Shape(f64),
    /// `empirical` with no points.
    #[error("an empirical table needs at least one point")]
    NoPoints,
    /// A percentile outside 0..=100.
    #[error("percentile {percentile} (point {index}) is outside 0 to 100")]
    Percentile {
        /// Index of the point.
        index: usize,
        /// The percentile.
        percentile: f64,
    },
    /// Percentiles not strictly increasing.
    #[error("percentile {percentile} (point {index}) does not increase on {previous}")]
    PercentilesNotIncreasing {
        /// Index of the point.
        index: usize,
        /// The previous point's percentile.
        previous: f64,
        /// This point's percentile.
        percentile: f64,
    },
    /// Values decreasing from one point to the next (a CDF cannot go back).
    #[error("value {value} (point {index}) is below the previous point's {previous}")]
    ValuesDecreasing {
        /// Index of the point.
        index: usize,
        /// The previous point's value, rendered.
        previous: String,
        /// This point's value, rendered.
        value: String,
    },
    /// Parameters `rand_distr` refused (not reachable after the checks above; kept so that a
    /// bad input can never panic).
    #[error("invalid parameters: {0}")]
    Parameters(String),
}

impl DistributionError {
    /// The field at fault, relative to the distribution: `max`, `points[2].percentile`.
    pub fn field(&self) -> String {
        match self {
            DistributionError::MaxBelowMin { .. } => "max".into(),
            DistributionError::ZeroMedian => "median".into(),
            DistributionError::P99BelowMedian { .. } => "p99".into(),
            DistributionError::ZeroMean => "mean".into(),
            DistributionError::ZeroScale => "scale".into(),
            DistributionError::Shape(_) => "shape".into(),
            DistributionError::NoPoints | DistributionError::Parameters(_) => String::new(),
            DistributionError::Percentile { index, .. }
            | DistributionError::PercentilesNotIncreasing { index, .. } => {
                format!("points[{index}].percentile")
            }
            DistributionError::ValuesDecreasing { index, .. } => format!("points[{index}].value"),
        }
    }
}

/// A validated distribution of `Q`.
#[derive(Clone, Debug, PartialEq)]
pub struct Distribution<Q> {
    shape: Shape,
    quantity: PhantomData<fn() -> Q>,
}

/// Parameters in base units.
#[derive(Clone, Debug, PartialEq)]
enum Shape {
    Constant(u64),
    Uniform {
        min: u64,
        max: u64,
    },
    Normal(rand_distr::Normal<f64>),
    LogNormal(rand_distr::LogNormal<f64>),
    Exponential(rand_distr::Exp<f64>),
    Pareto(rand_distr::Pareto<f64>),
    /// (percentile, value) with percentiles strictly increasing.
    Empirical(Vec<(f64, f64)>),
}

impl<Q: Quantity> Distribution<Q> {
    /// Always `value`.
    pub fn constant(value: Q) -> Self {
        Distribution::from_shape(Shape::Constant(value.to_units()))
    }

    fn from_shape(shape: Shape) -> Self {
        Distribution {
            shape,
            quantity: PhantomData,
        }
    }

    /// One sample.
    pub fn sample(&self, rng: &mut impl Rng) -> Q {
        let units = match &self.shape {
            Shape::Constant(v) => return Q::from_units(*v),
            Shape::Uniform { min, max } => return Q::from_units(rng.random_range(*min..=*max)),
            Shape::Normal(n) => (0..NORMAL_TRIES)
                .map(|_| n.sample(rng))
                .find(|x| *x >= 0.0)
                .unwrap_or(0.0),
            Shape::LogNormal(d) => d.sample(rng),
            Shape::Exponential(d) => d.sample(rng),
            Shape::Pareto(d) => d.sample(rng),
            Shape::Empirical(points) => inverse_cdf(points, rng.random::<f64>() * 100.0),
        };
        // `as` saturates (and maps NaN to 0): a huge tail sample cannot wrap.
        Q::from_units(units.round() as u64)
    }
}

/// The value at percentile `u` of a table, interpolating linearly between points.
fn inverse_cdf(points: &[(f64, f64)], u: f64) -> f64 {
    let above = points.partition_point(|(p, _)| *p <= u);
    match (above.checked_sub(1).map(|i| points[i]), points.get(above)) {
        (Some((p0, v0)), Some(&(p1, v1))) => v0 + (u - p0) / (p1 - p0) * (v1 - v0),
        (Some((_, v)), None) | (None, Some(&(_, v))) => v,
        (None, None) => 0.0,
    }
}

impl<Q: Quantity> DistributionConfig<Q> {
    /// Validates the parameters and prepares the sampler.
    pub fn build(&self) -> Result<Distribution<Q>, DistributionError> {
        let parameters = |e: &dyn fmt::Display| DistributionError::Parameters(e.to_string());
        let units = |q: Q| q.to_units() as f64;
        let shape = match self {
            DistributionConfig::Constant { value } => Shape::Constant(value.to_units()),
            DistributionConfig::Uniform { min, max } => {
                if max < min {
                    return Err(DistributionError::MaxBelowMin {
                        min: min.render(),
                        max: max.render(),
                    });
                }
                Shape::Uniform {
                    min: min.to_units(),
                    max: max.to_units(),
                }
            }
            DistributionConfig::Normal { mean, stddev } => Shape::Normal(
                rand_distr::Normal::new(units(*mean), units(*stddev))
                    .map_err(|e| parameters(&e))?,
            ),
            DistributionConfig::LogNormal { median, p99 } => {
                if median.to_units() == 0 {
                    return Err(DistributionError::ZeroMedian);
                }
                if p99 < median {
                    return Err(DistributionError::P99BelowMedian {
                        median: median.render(),
                        p99: p99.render(),
                    });
                }
                let mu = units(*median).ln();
                let sigma = (units(*p99) / units(*median)).ln() / Z_99;
                Shape::LogNormal(rand_distr::LogNormal::new(mu, sigma).map_err(|e| parameters(&e))?)
            }
            DistributionConfig::Exponential { mean } => {
                if mean.to_units() == 0 {
                    return Err(DistributionError::ZeroMean);
                }
                Shape::Exponential(
                    rand_distr::Exp::new(1.0 / units(*mean)).map_err(|e| parameters(&e))?,
                )
            }
            DistributionConfig::Pareto { scale, shape } => {
                if scale.to_units() == 0 {
                    return Err(DistributionError::ZeroScale);
                }
                if !(shape.is_finite() && *shape > 0.0) {
                    return Err(DistributionError::Shape(*shape));
                }
                Shape::Pareto(
                    rand_distr::Pareto::new(units(*scale), *shape).map_err(|e| parameters(&e))?,
                )
            }
            DistributionConfig::Empirical { points } => Shape::Empirical(table(points)?),
        };
        Ok(Distribution::from_shape(shape))
    }
}

fn table<Q: Quantity>(points: &[PercentilePoint<Q>]) -> Result<Vec<(f64, f64)>, DistributionError> {
    if points.is_empty() {
        return Err(DistributionError::NoPoints);
    }
    for (index, point) in points.iter().enumerate() {
        if !(0.0..=100.0).contains(&point.percentile) {
            return Err(DistributionError::Percentile {
                index,
                percentile: point.percentile,
            });
        }
        let Some(previous) = index.checked_sub(1).map(|i| points[i]) else {
            continue;
        };
        if point.percentile <= previous.percentile {
            return Err(DistributionError::PercentilesNotIncreasing {
                index,
                previous: previous.percentile,
                percentile: point.percentile,
            });
        }
        if point.value < previous.value {
            return Err(DistributionError::ValuesDecreasing {
                index,
                previous: previous.value.render(),
                value: point.value.render(),
            });
        }
    }
    Ok(points
        .iter()
        .map(|p| (p.percentile, p.value.to_units() as f64))
        .collect())
}

// Deserialisation: a bare quantity is a constant; a map is tagged by `distribution:`. The
// derived enum below reads the map (so unknown fields and tags get serde's own messages); the
// hand-written visitor only chooses between the two forms.

#[derive(serde::Deserialize)]
#[serde(
    tag = "distribution",
    rename_all = "snake_case",
    deny_unknown_fields,
    bound = "W: DeserializeOwned"
)]
enum Tagged<W> {
    Constant {
        value: W,
    },
    Uniform {
        min: W,
        max: W,
    },
    Normal {
        mean: W,
        stddev: W,
    },
    #[serde(rename = "lognormal")]
    LogNormal {
        median: W,
        p99: W,
    },
    Exponential {
        mean: W,
    },
    Pareto {
        scale: W,
        shape: f64,
    },
    Empirical {
        points: Vec<WrittenPoint<W>>,
    },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, bound = "W: DeserializeOwned")]
struct WrittenPoint<W> {
    percentile: f64,
    value: W,
}

impl<Q: Quantity> From<Tagged<Q::Written>> for DistributionConfig<Q> {
    fn from(t: Tagged<Q::Written>) -> Self {
        match t {
            Tagged::Constant { value } => DistributionConfig::Constant {
                value: value.into(),
            },
            Tagged::Uniform { min, max } => DistributionConfig::Uniform {
                min: min.into(),
                max: max.into(),
            },
            Tagged::Normal { mean, stddev } => DistributionConfig::Normal {
                mean: mean.into(),
                stddev: stddev.into(),
            },
            Tagged::LogNormal { median, p99 } => DistributionConfig::LogNormal {
                median: median.into(),
                p99: p99.into(),
            },
            Tagged::Exponential { mean } => DistributionConfig::Exponential { mean: mean.into() },
            Tagged::Pareto { scale, shape } => DistributionConfig::Pareto {
                scale: scale.into(),
                shape,
            },
            Tagged::Empirical { points } => DistributionConfig::Empirical {
                points: points
                    .into_iter()
                    .map(|p| PercentilePoint {
                        percentile: p.percentile,
                        value: p.value.into(),
                    })
                    .collect(),
            },
        }
    }
}

impl<'de, Q: Quantity> serde::Deserialize<'de> for DistributionConfig<Q> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FormVisitor(PhantomData))
    }
}

struct FormVisitor<Q>(PhantomData<fn() -> Q>);

impl<Q: Quantity> FormVisitor<Q> {
    fn constant<'a, E, D>(d: D) -> Result<DistributionConfig<Q>, E>
    where
        E: serde::de::Error,
        D: serde::Deserializer<'a, Error = E>,
    {
        let value = <Q::Written as serde::Deserialize>::deserialize(d)?;
        Ok(DistributionConfig::Constant {
            value: value.into(),
        })
    }
}

impl<'de, Q: Quantity> serde::de::Visitor<'de> for FormVisitor<Q> {
    type Value = DistributionConfig<Q>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a constant, or a map with `distribution:` and its parameters")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Self::constant(v.into_deserializer())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Self::constant(v.into_deserializer())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Self::constant(v.into_deserializer())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Self::constant(v.into_deserializer())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let tagged = <Tagged<Q::Written> as serde::Deserialize>::deserialize(
            serde::de::value::MapAccessDeserializer::new(map),
        )?;
        Ok(tagged.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::seed;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn build(config: ServiceTimeConfig) -> ServiceTime {
        config.build().expect("valid distribution")
    }

    /// `n` samples in milliseconds, sorted, from a fixed stream.
    fn samples(d: &ServiceTime, n: usize) -> Vec<f64> {
        let mut rng = seed::stream(11, "model/service-time/test");
        let mut v: Vec<f64> = (0..n)
            .map(|_| d.sample(&mut rng).as_secs_f64() * 1e3)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len() as f64
    }

    fn stddev(v: &[f64]) -> f64 {
        let m = mean(v);
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    }

    /// The `p`-th percentile of sorted samples (nearest rank).
    fn percentile(v: &[f64], p: f64) -> f64 {
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    fn assert_close(what: &str, observed: f64, expected: f64, tolerance: f64) {
        assert!(
            (observed - expected).abs() <= tolerance * expected,
            "{what}: observed {observed:.4}, expected {expected:.4} ± {:.1}%",
            tolerance * 100.0
        );
    }

    const N: usize = 100_000;

    #[test]
    fn constant_and_uniform_stay_in_bounds() {
        // Constant is exact; uniform covers [min, max] with mean at the midpoint.
        let c = build(DistributionConfig::Constant { value: ms(20) });
        assert!(samples(&c, 100).iter().all(|x| *x == 20.0));
        let u = build(DistributionConfig::Uniform {
            min: ms(10),
            max: ms(30),
        });
        let s = samples(&u, N);
        assert!(s[0] >= 10.0 && s[N - 1] <= 30.0);
        assert!(s[0] < 10.1 && s[N - 1] > 29.9, "reaches both ends");
        assert_close("uniform mean", mean(&s), 20.0, 0.01);
        let point = build(DistributionConfig::Uniform {
            min: ms(5),
            max: ms(5),
        });
        assert!(samples(&point, 100).iter().all(|x| *x == 5.0));
    }

    #[test]
    fn normal_has_its_mean_and_stddev_when_far_from_zero() {
        // mean ≫ stddev: truncation removes nothing measurable.
        let d = build(DistributionConfig::Normal {
            mean: ms(20),
            stddev: ms(4),
        });
        let s = samples(&d, N);
        assert_close("normal mean", mean(&s), 20.0, 0.01);
        assert_close("normal stddev", stddev(&s), 4.0, 0.03);
    }

    #[test]
    fn normal_is_truncated_at_zero_not_clamped() {
        // mean 0: every sample ≥ 0 and the mean is the half-normal's σ·√(2/π) ≈ 7.98 ms.
        // Clamping would give σ/√(2π) ≈ 3.99 ms and half the samples at exactly 0.
        let d = build(DistributionConfig::Normal {
            mean: ms(0),
            stddev: ms(10),
        });
        let s = samples(&d, N);
        assert!(s[0] >= 0.0);
        assert_close(
            "half-normal mean",
            mean(&s),
            10.0 * (2.0 / std::f64::consts::PI).sqrt(),
            0.02,
        );
        let zeros = s.iter().filter(|x| **x == 0.0).count();
        assert!(zeros < N / 1_000, "{zeros} samples at exactly 0");
    }

    #[test]
    fn lognormal_hits_its_median_and_p99() {
        // The two parameters are the two percentiles observed.
        let d = build(DistributionConfig::LogNormal {
            median: ms(20),
            p99: ms(200),
        });
        let s = samples(&d, N);
        assert_close("lognormal p50", percentile(&s, 50.0), 20.0, 0.02);
        assert_close("lognormal p99", percentile(&s, 99.0), 200.0, 0.05);
        // p99 = median: no spread at all.
        let flat = build(DistributionConfig::LogNormal {
            median: ms(20),
            p99: ms(20),
        });
        assert!(samples(&flat, 100).iter().all(|x| *x == 20.0));
    }

    #[test]
    fn exponential_has_its_mean_and_median() {
        // Mean as configured; median = mean·ln 2.
        let d = build(DistributionConfig::Exponential { mean: ms(50) });
        let s = samples(&d, N);
        assert_close("exponential mean", mean(&s), 50.0, 0.02);
        assert_close(
            "exponential p50",
            percentile(&s, 50.0),
            50.0 * std::f64::consts::LN_2,
            0.02,
        );
    }

    #[test]
    fn pareto_starts_at_scale_with_its_mean_and_median() {
        // scale 10 ms, shape 3: min 10 ms, mean 3·10/2 = 15 ms, median 10·2^(1/3) ≈ 12.6 ms.
        let d = build(DistributionConfig::Pareto {
            scale: ms(10),
            shape: 3.0,
        });
        let s = samples(&d, N);
        assert!(s[0] >= 10.0);
        assert_close("pareto mean", mean(&s), 15.0, 0.03);
        assert_close(
            "pareto p50",
            percentile(&s, 50.0),
            10.0 * 2f64.powf(1.0 / 3.0),
            0.02,
        );
    }

    fn point(percentile: f64, value: u64) -> PercentilePoint<Duration> {
        PercentilePoint {
            percentile,
            value: ms(value),
        }
    }

    #[test]
    fn empirical_percentiles_hit_their_table_points_and_interpolate() {
        // Inverse CDF: the observed percentile at each table point is its value, and halfway
        // between two points (p70, between p50 = 10 and p90 = 40) it is halfway (25 ms).
        let d = build(DistributionConfig::Empirical {
            points: vec![
                point(0.0, 1),
                point(50.0, 10),
                point(90.0, 40),
                point(99.0, 100),
                point(100.0, 200),
            ],
        });
        let s = samples(&d, N);
        assert!(s[0] >= 1.0 && s[N - 1] <= 200.0);
        for (p, v) in [(50.0, 10.0), (70.0, 25.0), (90.0, 40.0), (99.0, 100.0)] {
            assert_close(&format!("empirical p{p}"), percentile(&s, p), v, 0.03);
        }
        assert_close("empirical p25", percentile(&s, 25.0), 5.5, 0.03);
        // Tails without 0 and 100 are held at the end points.
        let open = build(DistributionConfig::Empirical {
            points: vec![point(50.0, 10), point(90.0, 50)],
        });
        let s = samples(&open, N);
        assert_eq!((s[0], s[N - 1]), (10.0, 50.0));
        let below = s.iter().filter(|x| **x == 10.0).count() as f64 / N as f64;
        assert_close("mass at the first point", below, 0.5, 0.02);
    }

    #[test]
    fn invalid_parameters_are_typed_errors() {
        let err = |c: ServiceTimeConfig| c.build().expect_err("invalid");
        let e = err(DistributionConfig::Uniform {
            min: ms(30),
            max: ms(10),
        });
        assert_eq!(
            e,
            DistributionError::MaxBelowMin {
                min: "30ms".into(),
                max: "10ms".into()
            }
        );
        assert_eq!(e.field(), "max");
        assert_eq!(e.to_string(), "max (10ms) is below min (30ms)");
        assert_eq!(
            err(DistributionConfig::LogNormal {
                median: ms(0),
                p99: ms(10)
            }),
            DistributionError::ZeroMedian
        );
        assert!(matches!(
            err(DistributionConfig::LogNormal {
                median: ms(20),
                p99: ms(10)
            }),
            DistributionError::P99BelowMedian { .. }
        ));
        assert_eq!(
            err(DistributionConfig::Exponential { mean: ms(0) }),
            DistributionError::ZeroMean
        );
        assert_eq!(
            err(DistributionConfig::Pareto {
                scale: ms(0),
                shape: 2.0
            }),
            DistributionError::ZeroScale
        );
        for shape in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = err(DistributionConfig::Pareto {
                scale: ms(1),
                shape,
            });
            assert!(matches!(e, DistributionError::Shape(_)), "{shape}: {e:?}");
        }
        assert_eq!(
            err(DistributionConfig::Empirical { points: vec![] }),
            DistributionError::NoPoints
        );
        let e = err(DistributionConfig::Empirical {
            points: vec![point(0.0, 1), point(100.5, 2)],
        });
        assert!(matches!(e, DistributionError::Percentile { index: 1, .. }));
        assert_eq!(e.field(), "points[1].percentile");
        let e = err(DistributionConfig::Empirical {
            points: vec![point(0.0, 1), point(f64::NAN, 2)],
        });
        assert!(matches!(e, DistributionError::Percentile { index: 1, .. }));
        let e = err(DistributionConfig::Empirical {
            points: vec![point(50.0, 1), point(50.0, 2)],
        });
        assert!(matches!(
            e,
            DistributionError::PercentilesNotIncreasing { index: 1, .. }
        ));
        let e = err(DistributionConfig::Empirical {
            points: vec![point(10.0, 5), point(50.0, 20), point(90.0, 19)],
        });
        assert!(matches!(
            e,
            DistributionError::ValuesDecreasing { index: 2, .. }
        ));
        assert_eq!(e.field(), "points[2].value");
        // Equal values are a flat step (an atom), which a CDF allows.
        assert!(
            DistributionConfig::Empirical {
                points: vec![point(0.0, 5), point(50.0, 5)]
            }
            .build()
            .is_ok()
        );
    }

    #[test]
    fn deserialises_the_short_and_the_tagged_forms() {
        // A bare duration is a constant; a map is tagged by `distribution`.
        let parse = |json: &str| serde_json::from_str::<ServiceTimeConfig>(json);
        assert_eq!(
            parse("\"20ms\"").expect("short form"),
            DistributionConfig::Constant { value: ms(20) }
        );
        assert_eq!(
            parse(r#"{"distribution": "lognormal", "median": "20ms", "p99": "1.5s"}"#)
                .expect("tagged"),
            DistributionConfig::LogNormal {
                median: ms(20),
                p99: ms(1_500)
            }
        );
        assert_eq!(
            parse(r#"{"distribution": "pareto", "scale": "10ms", "shape": 2}"#).expect("pareto"),
            DistributionConfig::Pareto {
                scale: ms(10),
                shape: 2.0
            }
        );
        assert_eq!(
            parse(
                r#"{"distribution": "empirical", "points": [
                    {"percentile": 0, "value": "1ms"}, {"percentile": 99.9, "value": "1s"}]}"#
            )
            .expect("empirical"),
            DistributionConfig::Empirical {
                points: vec![point(0.0, 1), point(99.9, 1_000)]
            }
        );
        // Deserialising does not validate: max < min is a build() error, not a parse error.
        assert!(parse(r#"{"distribution": "uniform", "min": "2s", "max": "1s"}"#).is_ok());
    }

    #[test]
    fn deserialisation_errors_name_the_problem() {
        let parse = |json: &str| {
            serde_json::from_str::<ServiceTimeConfig>(json)
                .expect_err(json)
                .to_string()
        };
        // A negative stddev cannot be written: durations have no sign.
        let e = parse(r#"{"distribution": "normal", "mean": "20ms", "stddev": "-5ms"}"#);
        assert!(e.contains("negative"), "{e}");
        let e = parse(r#"{"distribution": "exponential", "mean": "20ms", "median": "1s"}"#);
        assert!(e.contains("unknown field `median`"), "{e}");
        let e = parse(r#"{"distribution": "gamma", "mean": "20ms"}"#);
        assert!(e.contains("unknown variant `gamma`"), "{e}");
        let e = parse(r#"{"distribution": "normal", "mean": "20ms"}"#);
        assert!(e.contains("missing field `stddev`"), "{e}");
        let e = parse("20");
        assert!(e.contains("a duration with a unit"), "{e}");
        let e = parse(
            r#"{"distribution": "empirical", "points": [{"percentile": 1, "value": "1s", "x": 1}]}"#,
        );
        assert!(e.contains("unknown field `x`"), "{e}");
    }

    #[test]
    fn same_seed_same_samples() {
        // Sampling depends only on the stream handed in.
        let d = build(DistributionConfig::LogNormal {
            median: ms(20),
            p99: ms(200),
        });
        let run = |name: &str| {
            let mut rng = seed::stream(3, name);
            (0..100).map(|_| d.sample(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run("a"), run("a"));
        assert_ne!(run("a"), run("b"));
    }
}
