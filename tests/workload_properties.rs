//! Properties of the open-loop workload's arrivals: the schedule, the streams, and the
//! statistics of the process.
//!
//! Seeds are fixed, so each test is deterministic; the tolerances still come from the
//! distributions (five standard deviations of a Poisson count, a binomial proportion or a
//! sample variance), so a test passes because the process is right, not because the seed was
//! tuned. A process with the right mean but the wrong shape (evenly spaced arrivals, a ramp
//! sampled at its average rate, a mix ignoring its weights) fails them.

use std::collections::BTreeMap;
use std::time::Duration;

use meshsim::engine::{SimTime, seed};
use meshsim::model::duration::HumanDuration;
use meshsim::model::workload::{Arrival, MixEntry, RateConfig, RateStep, Workload, WorkloadConfig};
use rand::{Rng as _, SeedableRng as _};

const SIGMAS: f64 = 5.0;

fn secs(s: u64) -> SimTime {
    SimTime::from_millis(s * 1_000)
}

fn dur(s: u64) -> HumanDuration {
    HumanDuration(Duration::from_secs(s))
}

fn entry(weight: f64) -> MixEntry {
    MixEntry {
        weight,
        method: "GET".into(),
        path: "/".into(),
        headers: BTreeMap::new(),
    }
}

fn workload(rate: RateConfig, weights: &[f64]) -> Workload {
    WorkloadConfig {
        target: "gateway".into(),
        rate,
        mix: weights.iter().map(|w| entry(*w)).collect(),
        timeout: HumanDuration(Duration::from_secs(30)),
    }
    .build()
    .unwrap_or_else(|e| panic!("{e:?}"))
}

fn arrivals(w: &Workload, seed: u64, until: SimTime) -> Vec<Arrival> {
    w.arrivals(seed::stream(seed, "workload"), until).collect()
}

/// Arrivals in `[from, to)` seconds.
fn count(a: &[Arrival], from: f64, to: f64) -> usize {
    let ns = |s: f64| (s * 1e9) as u64;
    a.iter()
        .filter(|x| x.at.as_nanos() >= ns(from) && x.at.as_nanos() < ns(to))
        .count()
}

/// A Poisson count with mean `expected` is within five standard deviations of it.
fn assert_poisson(what: &str, observed: usize, expected: f64) {
    let tolerance = SIGMAS * expected.sqrt();
    assert!(
        (observed as f64 - expected).abs() <= tolerance,
        "{what}: {observed} arrivals, expected {expected:.1} ± {tolerance:.1}"
    );
}

#[test]
fn constant_rate_gives_poisson_counts_and_exponential_gaps() {
    let rate = 1_000.0;
    let w = workload(RateConfig::Constant(rate), &[1.0]);
    let until = 200;
    let a = arrivals(&w, 11, secs(until));
    assert_poisson("total", a.len(), w.expected_arrivals(secs(until)));

    // Per-second counts: Poisson, so their variance equals their mean. Evenly spaced
    // arrivals would have the same mean and a variance near 0. For Poisson counts the sample
    // variance s² has variance μ/n + 2μ²/(n − 1).
    let bins: Vec<f64> = (0..until)
        .map(|s| count(&a, s as f64, s as f64 + 1.0) as f64)
        .collect();
    let n = bins.len() as f64;
    let mean = bins.iter().sum::<f64>() / n;
    let var = bins.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let sd = (rate / n + 2.0 * rate * rate / (n - 1.0)).sqrt();
    assert!(
        (var - rate).abs() <= SIGMAS * sd,
        "per-second variance {var:.1}, expected {rate} ± {:.1}",
        SIGMAS * sd
    );

    // Gaps: P(gap > x) = e^(−rate·x) at several multiples of the mean gap.
    let gaps: Vec<f64> = a
        .windows(2)
        .map(|p| (p[1].at.as_nanos() - p[0].at.as_nanos()) as f64 / 1e9)
        .collect();
    let g = gaps.len() as f64;
    for multiple in [0.1_f64, 0.5, 1.0, 2.0, 4.0] {
        let p = (-multiple).exp();
        let above = gaps.iter().filter(|x| **x * rate > multiple).count() as f64 / g;
        let tolerance = SIGMAS * (p * (1.0 - p) / g).sqrt();
        assert!(
            (above - p).abs() <= tolerance,
            "P(gap > {multiple}/rate) = {above:.4}, expected {p:.4} ± {tolerance:.4}"
        );
    }
}

#[test]
fn mix_entries_are_picked_in_proportion_to_their_weights() {
    let weights = [1.0, 3.0, 0.0, 6.0];
    let w = workload(RateConfig::Constant(5_000.0), &weights);
    let a = arrivals(&w, 5, secs(20));
    let n = a.len() as f64;
    let total: f64 = weights.iter().sum();
    for (i, weight) in weights.iter().enumerate() {
        let picked = a.iter().filter(|x| x.entry == i).count() as f64;
        let p = weight / total;
        let tolerance = SIGMAS * (n * p * (1.0 - p)).sqrt();
        assert!(
            (picked - n * p).abs() <= tolerance,
            "entry {i}: picked {picked}, expected {:.1} ± {tolerance:.1}",
            n * p
        );
    }
    assert!(a.iter().all(|x| x.entry != 2), "weight 0 is never picked");
}

#[test]
fn each_step_holds_its_own_rate() {
    let step = |at: u64, rps: f64| RateStep {
        at: HumanDuration(Duration::from_secs(at)),
        rps,
    };
    let w = workload(
        RateConfig::Steps(vec![
            step(0, 100.0),
            step(10, 0.0),
            step(20, 500.0),
            step(30, 50.0),
        ]),
        &[1.0],
    );
    for seed in [1, 2, 3] {
        let a = arrivals(&w, seed, secs(40));
        assert_poisson("0-10 s at 100/s", count(&a, 0.0, 10.0), 1_000.0);
        assert_eq!(count(&a, 10.0, 20.0), 0, "rate 0 gives no arrivals");
        assert_poisson("20-30 s at 500/s", count(&a, 20.0, 30.0), 5_000.0);
        assert_poisson("30-40 s at 50/s", count(&a, 30.0, 40.0), 500.0);
    }
}

#[test]
fn a_ramp_has_the_density_of_its_rate() {
    // 0 → 2000/s over 10 s, then 2000/s: second k of the ramp expects 200·(k + ½) arrivals.
    // Sampling at the piece's start rate would give none in the ramp, at its average rate a
    // flat 1000 per second; both fail here.
    let w = workload(
        RateConfig::Ramp {
            from: 0.0,
            to: 2_000.0,
            over: HumanDuration(Duration::from_secs(10)),
        },
        &[1.0],
    );
    let a = arrivals(&w, 9, secs(15));
    for k in 0..15 {
        let expected = w.expected_arrivals(secs(k + 1)) - w.expected_arrivals(secs(k));
        let model = if k < 10 {
            200.0 * (k as f64 + 0.5)
        } else {
            2_000.0
        };
        assert!((expected - model).abs() < 1e-6, "second {k}: {expected}");
        let (from, to) = (k as f64, k as f64 + 1.0);
        assert_poisson(&format!("second {k}"), count(&a, from, to), expected);
    }

    // Down-ramps too: 1000 → 0 over 10 s expects 950 in the first second, 50 in the last and
    // none after, however long the horizon.
    let down = workload(
        RateConfig::Ramp {
            from: 1_000.0,
            to: 0.0,
            over: HumanDuration(Duration::from_secs(10)),
        },
        &[1.0],
    );
    for seed in [4, 5] {
        let a = arrivals(&down, seed, SimTime::NEVER);
        assert_poisson("total", a.len(), 5_000.0);
        assert_poisson("first second", count(&a, 0.0, 1.0), 950.0);
        assert_poisson("last second", count(&a, 9.0, 10.0), 50.0);
    }
}

#[test]
fn deserialises_the_three_rate_forms_and_defaults() {
    let c: WorkloadConfig = serde_json::from_str(
        r#"{"target": "gw", "rate": {"ramp": {"from": 10, "to": 200, "over": "5m"}},
            "mix": [{"weight": 1, "path": "/"}]}"#,
    )
    .expect("ramp");
    assert_eq!(c.timeout.get(), Duration::from_secs(30));
    assert_eq!(c.mix[0].method, "GET");
    assert!(matches!(c.rate, RateConfig::Ramp { over, .. } if over == dur(300)));
    let steps: RateConfig =
        serde_json::from_str(r#"{"steps": [{"at": "0s", "rps": 1}, {"at": "2m", "rps": 3}]}"#)
            .expect("steps");
    assert!(matches!(steps, RateConfig::Steps(s) if s.len() == 2));
    let constant: RateConfig = serde_json::from_str(r#"{"constant": 100}"#).expect("constant");
    assert_eq!(constant, RateConfig::Constant(100.0));
}

#[test]
fn rate_and_its_integral_follow_the_schedule() {
    let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-9, "{a} != {b}");
    let c = workload(RateConfig::Constant(50.0), &[1.0]);
    close(c.rate_at(secs(1_000)), 50.0);
    close(c.expected_arrivals(secs(10)), 500.0);
    // Ramp 10 → 30 over 10 s, then 30: mid-ramp 20; area 200 by 10 s, +30/s after.
    let r = workload(
        RateConfig::Ramp {
            from: 10.0,
            to: 30.0,
            over: dur(10),
        },
        &[1.0],
    );
    close(r.rate_at(SimTime::ZERO), 10.0);
    close(r.rate_at(secs(5)), 20.0);
    close(r.rate_at(secs(10)), 30.0);
    close(r.rate_at(secs(99)), 30.0);
    close(r.expected_arrivals(secs(5)), 75.0);
    close(r.expected_arrivals(secs(10)), 200.0);
    close(r.expected_arrivals(secs(12)), 260.0);
    // Steps starting late: 0 before the first step, each rate up to the next step.
    let step = |at: u64, rps: f64| RateStep { at: dur(at), rps };
    let s = workload(
        RateConfig::Steps(vec![step(2, 10.0), step(4, 0.0), step(6, 5.0)]),
        &[1.0],
    );
    close(s.rate_at(secs(1)), 0.0);
    close(s.rate_at(secs(2)), 10.0);
    close(s.rate_at(secs(5)), 0.0);
    close(s.rate_at(secs(6)), 5.0);
    close(s.expected_arrivals(secs(10)), 40.0);
    close(s.expected_arrivals(SimTime::ZERO), 0.0);
}

#[test]
fn changing_the_mix_does_not_move_arrivals() {
    let rate = RateConfig::Constant(500.0);
    let one = workload(rate.clone(), &[1.0]);
    let three = workload(rate, &[1.0, 5.0, 0.5]);
    let a = arrivals(&one, 3, secs(10));
    let b = arrivals(&three, 3, secs(10));
    let at = |v: &[Arrival]| v.iter().map(|x| x.at).collect::<Vec<_>>();
    assert_eq!(at(&a), at(&b));
    assert!(a.iter().all(|x| x.entry == 0));
    assert!(b.iter().any(|x| x.entry == 2), "every entry is used");
}

#[test]
fn gaps_come_from_their_own_stream_alone() {
    // Any weighted pick draws one number, so comparing two mixes cannot tell a shared stream
    // from separate ones; replaying the gap stream by hand can. At a constant rate the gaps
    // are Exp(1)/rate draws from what is left of the stream after the mix's fork.
    let rate = 250.0;
    let w = workload(RateConfig::Constant(rate), &[1.0, 2.0]);
    let mut gaps = seed::stream(4, "workload");
    let _picks = seed::Rng::from_rng(&mut gaps);
    let mut t = 0.0;
    let expected: Vec<SimTime> = (0..1_000)
        .map(|_| {
            t += gaps.sample::<f64, _>(rand_distr::Exp1) / rate;
            SimTime::from_duration(Duration::from_nanos((t * 1e9).floor() as u64))
        })
        .collect();
    let got: Vec<SimTime> = w
        .arrivals(seed::stream(4, "workload"), SimTime::NEVER)
        .take(1_000)
        .map(|a| a.at)
        .collect();
    assert_eq!(got, expected);
}
