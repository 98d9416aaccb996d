//! The statistical judge: a Kayenta-style comparison of the candidate (Kayenta's "experiment")
//! against a control (the baseline, or the stable when there is none), made deterministic.
//!
//! For each metric (each request's latency; each request as error 1 / success 0) the two
//! samples are compared with the Mann–Whitney U test (Wilcoxon rank-sum), two-sided, by the
//! normal approximation with tie correction and continuity correction:
//!
//! - ranks: pooled values sorted; a group of `t` tied values gets the mid-rank
//!   `r + (t + 1) / 2`, `r` being the number of smaller values (exact, no tie-breaking);
//! - `U = R_exp − n_exp (n_exp + 1) / 2`, `R_exp` the experiment's rank sum; `U` counts pairs
//!   (control, experiment) with the experiment larger, ties counting ½;
//! - `μ_U = n_c n_e / 2`, `σ_U² = n_c n_e / 12 · ((N + 1) − Σ (t³ − t) / (N (N − 1)))`
//!   with `N = n_c + n_e` and the sum over tie groups;
//! - `z = (U − μ_U − ½ sgn(U − μ_U)) / σ_U` and `p = 2 Φ(−|z|)`, as R's `wilcox.test(...,
//!   exact = FALSE, correct = TRUE)`.
//!
//! A metric is **High** when `p < 1 − confidence`, the experiment ranks higher, and the mean
//! ratio experiment/control is at least `allowed_increase` (Kayenta's effect-size gate,
//! default 1.0, so any significant shift counts); **Low** symmetrically; else **Pass**. Two
//! samples that are equal, or whose pooled values are all one number, pass, as in Kayenta's
//! `MannWhitneyClassifier`. Fewer requests than the analysis minimum on either side is
//! **Nodata**.
//!
//! Scoring follows Kayenta's `WeightedSumScorer` for one group: `score = 100 · pass / (pass +
//! high + low)`, 0 when half or more of the metrics have no data, rounded to two decimals;
//! `score ≥ pass_score` passes, `≥ marginal_score` is marginal, else it fails.
//!
//! **Where meshsim differs from Kayenta, deliberately.** Kayenta adds unseeded Gaussian noise
//! (σ = 10⁻⁵ × value) when each side has a single distinct value, so its verdict on such data
//! is random; here the tie-corrected variance handles that case exactly (it is positive as
//! soon as the pooled sample has two distinct values). Kayenta decides High/Low from the
//! Hodges–Lehmann confidence interval of the shift, widened by a tolerance of 25 % of the
//! estimate; here the decision is the test's p-value at the same confidence (the interval
//! excludes zero exactly when the inverted test rejects), without the tolerance, so very
//! small but significant shifts count; raise `allowed_increase` to ignore them. Kayenta
//! compares per-interval metric series; here the samples are the requests themselves, from
//! the same histograms the reports use (values tie within a histogram bucket, and mid-ranks
//! handle that).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::spec::JudgeMetricName;
use crate::metrics::Latencies;

/// Which shift is a regression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Either way (Kayenta's code default).
    Either,
    /// Only an increase.
    Increase,
    /// Only a decrease.
    Decrease,
}

/// The judge's settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JudgeConfig {
    /// Score at or above which the canary passes.
    pub pass_score: f64,
    /// Score at or above which it is marginal.
    pub marginal_score: f64,
    /// Confidence level of the test.
    pub confidence: f64,
    /// What is compared.
    pub metrics: Vec<JudgeMetricName>,
    /// Which shift counts.
    pub direction: Direction,
    /// Effect-size gate for High.
    pub allowed_increase: f64,
    /// Effect-size gate for Low.
    pub allowed_decrease: f64,
}

impl Default for JudgeConfig {
    /// Kayenta's: NetflixACAJudge-v1.0 runs its Mann–Whitney classifier at confidence 0.98
    /// (the class default is 0.95); score thresholds pass 95, marginal 75 (the typical
    /// values in the research notes); effect sizes 1.0; direction `either`.
    fn default() -> Self {
        JudgeConfig {
            pass_score: 95.0,
            marginal_score: 75.0,
            confidence: 0.98,
            metrics: vec![JudgeMetricName::Latency, JudgeMetricName::ErrorRate],
            direction: Direction::Either,
            allowed_increase: 1.0,
            allowed_decrease: 1.0,
        }
    }
}

/// A sample as sorted distinct values with their counts: a histogram of a thousand buckets
/// stands for a million requests without expanding them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    values: Vec<(f64, u64)>,
}

impl Sample {
    /// From values in any order (NaNs are dropped, like Kayenta's `nanStrategy: remove`).
    pub fn from_values(values: impl IntoIterator<Item = f64>) -> Sample {
        Sample::from_weighted(values.into_iter().map(|v| (v, 1)))
    }

    /// From (value, count) pairs in any order.
    pub fn from_weighted(pairs: impl IntoIterator<Item = (f64, u64)>) -> Sample {
        let mut v: Vec<(f64, u64)> = pairs
            .into_iter()
            .filter(|(x, c)| !x.is_nan() && *c > 0)
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut values: Vec<(f64, u64)> = Vec::with_capacity(v.len());
        for (x, c) in v {
            match values.last_mut() {
                Some((last, n)) if *last == x => *n += c,
                _ => values.push((x, c)),
            }
        }
        Sample { values }
    }

    /// A histogram's values (microseconds, each bucket at its highest equivalent value, so
    /// two histograms of the same precision tie exactly where their buckets do).
    pub fn from_latencies(l: &Latencies) -> Sample {
        Sample::from_weighted(
            l.histogram()
                .iter_recorded()
                .map(|v| (v.value_iterated_to() as f64, v.count_at_value())),
        )
    }

    /// `errors` ones and `requests − errors` zeros.
    pub fn binary(requests: u64, errors: u64) -> Sample {
        let errors = errors.min(requests);
        Sample::from_weighted([(0.0, requests - errors), (1.0, errors)])
    }

    /// Number of values.
    pub fn len(&self) -> u64 {
        self.values.iter().map(|(_, c)| c).sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Arithmetic mean (0 when empty).
    pub fn mean(&self) -> f64 {
        let n = self.len();
        if n == 0 {
            return 0.0;
        }
        self.values.iter().map(|(x, c)| x * *c as f64).sum::<f64>() / n as f64
    }

    /// The distinct values and their counts, ascending.
    pub fn distinct(&self) -> &[(f64, u64)] {
        &self.values
    }
}

/// The test's numbers.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MannWhitney {
    /// Control size.
    pub n_control: u64,
    /// Experiment size.
    pub n_experiment: u64,
    /// U of the experiment: pairs where it is larger, ties ½.
    pub u: f64,
    /// Standardised, continuity-corrected statistic (0 when σ is 0).
    pub z: f64,
    /// Two-sided p-value (1 when σ is 0).
    pub p_value: f64,
}

/// The Mann–Whitney U test of `experiment` against `control` (formulas in the module docs);
/// `None` when either sample is empty.
pub fn mann_whitney(control: &Sample, experiment: &Sample) -> Option<MannWhitney> {
    let (nc, ne) = (control.len(), experiment.len());
    if nc == 0 || ne == 0 {
        return None;
    }
    let (mut i, mut j) = (0, 0);
    let (xs, ys) = (&control.values, &experiment.values);
    let mut below = 0.0_f64; // values ranked so far
    let mut rank_sum = 0.0_f64;
    let mut ties = 0.0_f64; // Σ (t³ − t)
    while i < xs.len() || j < ys.len() {
        let next = match (xs.get(i), ys.get(j)) {
            (Some(x), Some(y)) => x.0.total_cmp(&y.0),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        let (cx, cy) = match next {
            Ordering::Less => (xs[i].1, 0),
            Ordering::Greater => (0, ys[j].1),
            Ordering::Equal => (xs[i].1, ys[j].1),
        };
        if next != Ordering::Greater {
            i += 1;
        }
        if next != Ordering::Less {
            j += 1;
        }
        let t = (cx + cy) as f64;
        let mid_rank = below + (t + 1.0) / 2.0;
        rank_sum += cy as f64 * mid_rank;
        ties += t * t * t - t;
        below += t;
    }
    let (nc_f, ne_f) = (nc as f64, ne as f64);
    let n = nc_f + ne_f;
    let u = rank_sum - ne_f * (ne_f + 1.0) / 2.0;
    let mean = nc_f * ne_f / 2.0;
    let variance = nc_f * ne_f / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    let (z, p_value) = if variance > 0.0 {
        let d = u - mean;
        let z = (d - 0.5 * d.signum()) / variance.sqrt();
        // |d| < ½ turns the sign; a corrected statistic never crosses zero.
        let z = if d.abs() <= 0.5 { 0.0 } else { z };
        (z, (2.0 * normal_cdf(-z.abs())).min(1.0))
    } else {
        (0.0, 1.0)
    };
    Some(MannWhitney {
        n_control: nc,
        n_experiment: ne,
        u,
        z,
        p_value,
    })
}

/// Φ, the standard normal distribution function, to about 1e-14: the Taylor series
/// `Φ(x) = ½ + φ(x) Σ x^(2k+1) / (2k+1)!!` for |x| < 3, and for the tails Laplace's continued
/// fraction `1 − Φ(x) = φ(x) / (x + 1/(x + 2/(x + 3/(x + …))))`, evaluated backwards.
pub fn normal_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let density = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    if x.abs() < 3.0 {
        let (mut term, mut sum) = (x, x);
        let mut k = 1.0;
        while term.abs() > 1e-17 * sum.abs().max(1e-300) {
            term *= x * x / (2.0 * k + 1.0);
            sum += term;
            k += 1.0;
        }
        return 0.5 + density(x) * sum;
    }
    let a = x.abs();
    let mut fraction = a;
    for k in (1..=120).rev() {
        fraction = a + f64::from(k) / fraction;
    }
    let tail = density(a) / fraction;
    if x > 0.0 { 1.0 - tail } else { tail }
}

/// A metric's label, as Kayenta's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// No significant regression.
    Pass,
    /// The candidate is significantly higher.
    High,
    /// The candidate is significantly lower.
    Low,
    /// Too little data on a side.
    Nodata,
}

/// One metric's comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricResult {
    /// Which metric.
    pub metric: JudgeMetricName,
    /// Its label.
    pub classification: Classification,
    /// The test, when it ran.
    pub test: Option<MannWhitney>,
    /// Mean experiment / mean control (1 when the control's mean is 0, as Kayenta's).
    pub mean_ratio: Option<f64>,
}

/// Classifies one metric (rules in the module docs); `min_len` is the fewest values a side
/// needs.
pub fn classify(
    metric: JudgeMetricName,
    control: &Sample,
    experiment: &Sample,
    config: &JudgeConfig,
    min_len: u64,
) -> MetricResult {
    let nodata = MetricResult {
        metric,
        classification: Classification::Nodata,
        test: None,
        mean_ratio: None,
    };
    if control.len() < min_len.max(1) || experiment.len() < min_len.max(1) {
        return nodata;
    }
    let ratio = if control.mean() == 0.0 {
        1.0
    } else {
        experiment.mean() / control.mean()
    };
    let pass = |test| MetricResult {
        metric,
        classification: Classification::Pass,
        test,
        mean_ratio: Some(ratio),
    };
    // Kayenta: identical samples pass; so does a pooled sample of one distinct value.
    let one_value = match (control.distinct(), experiment.distinct()) {
        ([(a, _)], [(b, _)]) => a == b,
        _ => false,
    };
    if control == experiment || one_value {
        return pass(None);
    }
    let Some(test) = mann_whitney(control, experiment) else {
        return nodata;
    };
    let significant = test.p_value < 1.0 - config.confidence;
    let higher = test.u > test.n_control as f64 * test.n_experiment as f64 / 2.0;
    let classification = match (significant, higher, config.direction) {
        (true, true, Direction::Either | Direction::Increase)
            if ratio >= config.allowed_increase =>
        {
            Classification::High
        }
        (true, false, Direction::Either | Direction::Decrease)
            if ratio <= config.allowed_decrease =>
        {
            Classification::Low
        }
        _ => Classification::Pass,
    };
    MetricResult {
        metric,
        classification,
        test: Some(test),
        mean_ratio: Some(ratio),
    }
}

/// The judge's overall result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgeOutcome {
    /// Score at or above the pass score.
    Pass,
    /// At or above the marginal score.
    Marginal,
    /// Below.
    Fail,
}

/// A judgement: the score and each metric.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Judgement {
    /// 0..=100, two decimals.
    pub score: f64,
    /// Against the thresholds.
    pub outcome: JudgeOutcome,
    /// Each metric.
    pub metrics: Vec<MetricResult>,
}

/// Scores classified metrics (Kayenta's `WeightedSumScorer`, one group; see module docs).
pub fn score(metrics: Vec<MetricResult>, config: &JudgeConfig) -> Judgement {
    let count = |c: Classification| metrics.iter().filter(|m| m.classification == c).count() as f64;
    let (pass, nodata) = (count(Classification::Pass), count(Classification::Nodata));
    let judged = metrics.len() as f64 - nodata;
    let raw = if metrics.is_empty() || nodata * 2.0 >= metrics.len() as f64 {
        0.0
    } else {
        100.0 * pass / judged
    };
    let score = (raw * 100.0).round() / 100.0;
    let outcome = if score >= config.pass_score {
        JudgeOutcome::Pass
    } else if score >= config.marginal_score {
        JudgeOutcome::Marginal
    } else {
        JudgeOutcome::Fail
    };
    Judgement {
        score,
        outcome,
        metrics,
    }
}

/// Judges one window: each configured metric compared, then scored.
pub fn judge(
    config: &JudgeConfig,
    control: &ArmSamples,
    experiment: &ArmSamples,
    min_len: u64,
) -> Judgement {
    let metrics = config
        .metrics
        .iter()
        .map(|&m| {
            let (c, e) = match m {
                JudgeMetricName::Latency => (&control.latency, &experiment.latency),
                JudgeMetricName::ErrorRate => (&control.errors, &experiment.errors),
            };
            classify(m, c, e, config, min_len)
        })
        .collect();
    score(metrics, config)
}

/// One arm's samples for the judge.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArmSamples {
    /// Latencies, microseconds.
    pub latency: Sample,
    /// 1 per error, 0 per success.
    pub errors: Sample,
}

#[cfg(test)]
mod tests;
