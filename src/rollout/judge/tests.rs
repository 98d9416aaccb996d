//! Known answers: values of Φ and of the test computed independently (Python's `math.erfc`
//! and a brute-force pair count, the formulas in the module docs), R's documented U for its
//! `wilcox.test` example, and the classification at the documented confidence.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::metrics::Latencies;

fn close(got: f64, want: f64, rel: f64) {
    let err = (got - want).abs();
    assert!(
        err <= rel * want.abs().max(1e-300) || err < 1e-16,
        "got {got}, want {want} (error {err})"
    );
}

#[test]
fn normal_cdf_matches_reference_values() {
    // Φ(x) = erfc(−x/√2)/2 from Python's math.erfc.
    for (x, want) in [
        (0.0, 0.5),
        (0.5, 0.6914624612740131),
        (1.0, 0.8413447460685429),
        (1.96, 0.9750021048517795),
        (-2.5, 0.006209665325776139),
        (2.99, 0.9986051127645077),
        (-3.0, 0.0013498980316300957),
        (-3.5, 0.00023262907903552504),
        (-5.0, 2.866515718791946e-07),
        (-8.0, 6.220960574271819e-16),
        (6.0, 0.9999999990134123),
    ] {
        close(normal_cdf(x), want, 1e-12);
    }
    assert!(normal_cdf(f64::NAN).is_nan());
    assert_eq!(normal_cdf(-40.0), 0.0);
}

#[test]
fn textbook_example_has_rs_u_and_the_normal_p() {
    // R's ?wilcox.test (Hollander & Wolfe): wilcox.test(x, y) reports W = 35, the pairs
    // with x larger. Normal approximation with continuity correction, two-sided:
    // z = (35 − 25 − 0.5)/√(10·5·16/12) = 1.16351, p = 0.244624.
    let x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
    let y = [1.15, 0.88, 0.90, 0.74, 1.21];
    let t = mann_whitney(&Sample::from_values(y), &Sample::from_values(x)).expect("test");
    assert_eq!((t.n_control, t.n_experiment, t.u), (5, 10, 35.0));
    close(t.z, 1.1635076278220096, 1e-12);
    close(t.p_value, 0.24462360512698333, 1e-12);
}

#[test]
fn ties_take_mid_ranks_and_correct_the_variance() {
    // Pairs: U = 23 (ties ½); tie groups 2 (×3), 3 (×5), 4 (×2) shrink σ² from 30 to
    // 26.5909…; z = 1.45444, p = 0.145825 (brute force in Python).
    let c = Sample::from_values([1.0, 2.0, 2.0, 3.0, 3.0, 3.0]);
    let e = Sample::from_values([2.0, 3.0, 3.0, 4.0, 4.0]);
    let t = mann_whitney(&c, &e).expect("test");
    assert_eq!(t.u, 23.0);
    close(t.z, 1.4544361847068488, 1e-12);
    close(t.p_value, 0.14582541398394833, 1e-12);
}

#[test]
fn one_value_per_side_is_judged_without_noise() {
    // Kayenta adds unseeded noise here; the tie-corrected variance (6, not 10) needs none:
    // p = 0.0247447 every time, a pass at 98 % confidence and High at 95 %.
    let c = Sample::from_values([5.0; 3]);
    let e = Sample::from_values([7.0; 4]);
    let t = mann_whitney(&c, &e).expect("test");
    assert_eq!(t.u, 12.0);
    close(t.p_value, 0.02474467204639896, 1e-12);
    let at = |confidence| JudgeConfig {
        confidence,
        ..JudgeConfig::default()
    };
    let m = JudgeMetricName::Latency;
    assert_eq!(
        classify(m, &c, &e, &at(0.98), 1).classification,
        Classification::Pass
    );
    assert_eq!(
        classify(m, &c, &e, &at(0.95), 1).classification,
        Classification::High
    );
    assert_eq!(
        classify(m, &c, &e, &at(0.95), 1),
        classify(m, &c, &e, &at(0.95), 1)
    );
}

#[test]
fn all_tied_is_no_evidence() {
    let a = Sample::from_values([3.0; 5]);
    let b = Sample::from_values([3.0; 9]);
    let t = mann_whitney(&a, &b).expect("test");
    assert_eq!((t.z, t.p_value), (0.0, 1.0));
    let c = classify(JudgeMetricName::Latency, &a, &b, &JudgeConfig::default(), 1);
    assert_eq!(c.classification, Classification::Pass);
    assert!(mann_whitney(&Sample::default(), &b).is_none());
}

#[test]
fn a_shift_fails_exactly_at_the_documented_confidence() {
    // Control 1..=100, experiment shifted by k: p(k=9) = 0.0358, p(k=10) = 0.02034,
    // p(k=11) = 0.01112. At the default 98 %, 9 and 10 pass and 11 is High; at 95 %, 9 is.
    let base: Vec<f64> = (1..=100).map(f64::from).collect();
    let shifted = |k: f64| Sample::from_values(base.iter().map(|v| v + k));
    let c = Sample::from_values(base.clone());
    let d = JudgeConfig::default();
    let m = JudgeMetricName::Latency;
    for (k, p, at98) in [
        (9.0, 0.035821953607739584, Classification::Pass),
        (10.0, 0.020336763458753845, Classification::Pass),
        (11.0, 0.01112442678312297, Classification::High),
    ] {
        let r = classify(m, &c, &shifted(k), &d, 1);
        close(r.test.expect("ran").p_value, p, 1e-10);
        assert_eq!(r.classification, at98, "shift {k}");
    }
    let at95 = JudgeConfig {
        confidence: 0.95,
        ..d.clone()
    };
    assert_eq!(
        classify(m, &c, &shifted(9.0), &at95, 1).classification,
        Classification::High
    );
    // Downward shifts are Low with `either`, and ignored with `increase`.
    assert_eq!(
        classify(m, &c, &shifted(-11.0), &d, 1).classification,
        Classification::Low
    );
    let up = JudgeConfig {
        direction: Direction::Increase,
        ..d.clone()
    };
    assert_eq!(
        classify(m, &c, &shifted(-11.0), &up, 1).classification,
        Classification::Pass
    );
    // The effect-size gate: a 22 % mean increase (61.5 / 50.5) is ignored when 1.25 is
    // allowed.
    let gated = JudgeConfig {
        allowed_increase: 1.25,
        ..d
    };
    assert_eq!(
        classify(m, &c, &shifted(11.0), &gated, 1).classification,
        Classification::Pass
    );
}

fn latencies(values_ms: impl IntoIterator<Item = f64>) -> Latencies {
    let mut l = Latencies::coarse();
    for v in values_ms {
        l.record(Duration::from_secs_f64(v / 1000.0));
    }
    l
}

/// A deterministic latency-like spread: quantiles of a log-normal around 20 ms.
fn spread(n: u32, scale: f64) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let q = (f64::from(i) + 0.5) / f64::from(n);
            // Inverse of a logistic, close enough to a log-normal's shape for this purpose.
            let z = (q / (1.0 - q)).ln() * 0.55;
            20.0 * scale * z.exp()
        })
        .collect()
}

#[test]
fn identical_distributions_pass_and_a_slower_canary_fails() {
    let config = JudgeConfig::default();
    let baseline = ArmSamples {
        latency: Sample::from_latencies(&latencies(spread(2000, 1.0))),
        errors: Sample::binary(2000, 4),
    };
    let same = ArmSamples {
        latency: Sample::from_latencies(&latencies(spread(2000, 1.0))),
        errors: Sample::binary(2000, 4),
    };
    let j = judge(&config, &baseline, &same, 50);
    assert_eq!((j.score, j.outcome), (100.0, JudgeOutcome::Pass));
    // 20 % slower, same errors: latency High, errors Pass: score 50, a failure.
    let slow = ArmSamples {
        latency: Sample::from_latencies(&latencies(spread(2000, 1.2))),
        errors: Sample::binary(2000, 4),
    };
    let j = judge(&config, &baseline, &slow, 50);
    assert_eq!(j.metrics[0].classification, Classification::High);
    assert_eq!(j.metrics[1].classification, Classification::Pass);
    assert_eq!((j.score, j.outcome), (50.0, JudgeOutcome::Fail));
    // 3 % errors against 0.2 %: the error rate is High as well.
    let failing = ArmSamples {
        latency: Sample::from_latencies(&latencies(spread(2000, 1.0))),
        errors: Sample::binary(2000, 60),
    };
    let j = judge(&config, &baseline, &failing, 50);
    assert_eq!(j.metrics[1].classification, Classification::High);
}

#[test]
fn scores_follow_kayentas_scorer() {
    let config = JudgeConfig {
        pass_score: 90.0,
        marginal_score: 50.0,
        ..JudgeConfig::default()
    };
    let r = |c| MetricResult {
        metric: JudgeMetricName::Latency,
        classification: c,
        test: None,
        mean_ratio: None,
    };
    use Classification::*;
    let s = |v: Vec<Classification>| score(v.into_iter().map(r).collect(), &config);
    assert_eq!(s(vec![Pass, Pass, High]).score, 66.67);
    assert_eq!(s(vec![Pass, Pass, High]).outcome, JudgeOutcome::Marginal);
    assert_eq!(s(vec![Pass, Nodata]).score, 0.0, "half without data");
    assert_eq!(
        s(vec![Pass, Nodata, High]).score,
        50.0,
        "a third without data"
    );
    assert_eq!(
        s(vec![Pass, Pass, Nodata]).score,
        100.0,
        "no data is left out"
    );
    assert_eq!(s(vec![]).outcome, JudgeOutcome::Fail);
    // Too few values on a side is Nodata.
    let few = Sample::from_values([1.0, 2.0]);
    assert_eq!(
        classify(JudgeMetricName::Latency, &few, &few, &config, 3).classification,
        Nodata
    );
}

fn brute_u(c: &[u8], e: &[u8]) -> f64 {
    let mut u = 0.0;
    for x in c {
        for y in e {
            u += match y.cmp(x) {
                std::cmp::Ordering::Greater => 1.0,
                std::cmp::Ordering::Equal => 0.5,
                std::cmp::Ordering::Less => 0.0,
            };
        }
    }
    u
}

proptest! {
    #[test]
    fn u_counts_pairs_and_the_test_is_symmetric(
        c in prop::collection::vec(0u8..12, 1..40),
        e in prop::collection::vec(0u8..12, 1..40),
    ) {
        // Mid-ranks give the pair count exactly, ties ½; swapping the samples gives
        // n_c·n_e − U, the same |z| and the same p; p is a probability.
        let sc = Sample::from_values(c.iter().map(|&v| f64::from(v)));
        let se = Sample::from_values(e.iter().map(|&v| f64::from(v)));
        let t = mann_whitney(&sc, &se).expect("non-empty");
        prop_assert_eq!(t.u, brute_u(&c, &e));
        let back = mann_whitney(&se, &sc).expect("non-empty");
        prop_assert_eq!(back.u, (c.len() * e.len()) as f64 - t.u);
        prop_assert!((back.p_value - t.p_value).abs() < 1e-12);
        prop_assert!((back.z + t.z).abs() < 1e-12);
        prop_assert!((0.0..=1.0).contains(&t.p_value));
    }
}
