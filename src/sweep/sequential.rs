//! An anytime-valid test for a regression in a count metric (errors, slow requests), after
//! Lindon, Sanden & Shirikian, "Rapid Regression Detection in Software Deployments through
//! Sequential Testing", KDD 2022 (arXiv:2205.14762, doi:10.1145/3534678.3539099), §"count
//! metrics": each arm's events form a Poisson process whose intensity is the arm's share of
//! the traffic times a common, arbitrarily time-varying baseline, times a rate ratio θ for the
//! candidate. Conditional on an event happening at time t, it is the candidate's with
//! probability `θρ / (θρ + 1 − ρ)`, ρ being the candidate's share of the requests at t; the
//! unknown baseline cancels. Under the null (θ = 1, no regression) that probability is ρ, so
//! for every θ the likelihood ratio
//!
//! `Λ_θ(t) = Π_events θ^[candidate] / (θρ + 1 − ρ)`
//!
//! is a non-negative martingale with mean 1, and so is any mixture of them over a prior on θ.
//! Ville's inequality then bounds the chance that the mixture *ever* reaches 1/α by α: the
//! test may be looked at after every event, every second, for as long as the rollout lasts,
//! and still falsely detects a regression with probability at most α. That is what a
//! threshold analysis or a repeated Mann–Whitney test cannot promise.
//!
//! **Where this differs from the paper.** The paper mixes over a conjugate (Gamma/Dirichlet)
//! prior, which gives a closed form when the allocation ρ is fixed. A canary moves ρ every
//! step, so here the prior is discrete, uniform over the rate ratios in [`RATIOS`], and each
//! component's likelihood ratio is kept exactly; the mixture of martingales is a martingale,
//! so the guarantee is the same. The test is one-sided (only a higher rate in the candidate is
//! a regression), and ρ is the share of requests each arm's sidecars saw in the same simulated
//! second: with errors drawn per request (Bernoulli), the conditional law of an event's arm
//! is hypergeometric rather than binomial, which the Poisson model approximates well while
//! errors are rare; the null false-detection rate is measured below and in tests/sweep.rs.

/// The rate ratios the mixture puts equal weight on: from a 10 % regression to a tenfold one.
pub const RATIOS: [f64; 8] = [1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0];

/// The test on one count metric.
#[derive(Clone, Debug)]
pub struct CountTest {
    /// ln Λ_θ for each θ in [`RATIOS`].
    log_ratios: [f64; RATIOS.len()],
    /// Reject when the mixture reaches this (1/α).
    bound: f64,
}

impl CountTest {
    /// A test that falsely detects with probability at most `alpha`, however often it is read.
    pub fn new(alpha: f64) -> CountTest {
        CountTest {
            log_ratios: [0.0; RATIOS.len()],
            bound: 1.0 / alpha,
        }
    }

    /// Adds one interval's events: `candidate` of `events` were the candidate's, while the
    /// candidate had `share` (0..=1) of the requests. An interval where either arm had no
    /// requests says nothing (the factor is 1 for every θ) and is skipped.
    pub fn add(&mut self, events: u64, candidate: u64, share: f64) {
        if events == 0 || !(share > 0.0 && share < 1.0) {
            return;
        }
        let (e, x) = (events as f64, candidate.min(events) as f64);
        for (l, theta) in self.log_ratios.iter_mut().zip(RATIOS) {
            *l += x * theta.ln() - e * (theta * share + 1.0 - share).ln();
        }
    }

    /// The mixture likelihood ratio (the e-value): the mean of the components.
    pub fn e_value(&self) -> f64 {
        let max = self
            .log_ratios
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = self.log_ratios.iter().map(|l| (l - max).exp()).sum();
        (max + (sum / RATIOS.len() as f64).ln()).exp()
    }

    /// Whether the regression is detected: the mixture has reached 1/α.
    pub fn rejects(&self) -> bool {
        self.e_value() >= self.bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng as _, SeedableRng as _};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution as _, Poisson};

    /// One simulated canary: 600 seconds, the candidate's share stepping 10 % → 50 % every
    /// 120 s, a baseline rate of `per_second` events (errors) per second in all, the
    /// candidate's rate `theta` times the stable's. Returns whether the test ever rejected.
    fn canary(seed: u64, per_second: f64, theta: f64, alpha: f64) -> bool {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut test = CountTest::new(alpha);
        for s in 0..600u64 {
            let share = 0.1 + 0.1 * (s / 120) as f64;
            let stable = Poisson::new(per_second * (1.0 - share))
                .unwrap()
                .sample(&mut rng) as u64;
            let cand = Poisson::new(per_second * share * theta)
                .unwrap()
                .sample(&mut rng) as u64;
            test.add(stable + cand, cand, share);
            if test.rejects() {
                return true;
            }
        }
        false
    }

    #[test]
    fn under_the_null_it_falsely_detects_at_most_alpha_of_the_time_when_read_every_second() {
        let runs = 2000;
        let alarms = (0..runs).filter(|&s| canary(s, 0.5, 1.0, 0.05)).count();
        println!("null: {alarms} false detections of {runs}");
        // Ville's bound is 5 % (100 of 2000); the binomial sd at 5 % is about 10 runs.
        assert!(alarms <= 120, "{alarms} false detections of {runs}");
        // And it is not vacuous: a threefold error rate is found nearly always.
        let found = (0..200).filter(|&s| canary(s, 0.5, 3.0, 0.05)).count();
        println!("threefold: {found} of 200 found");
        assert!(found >= 190, "{found} of 200 threefold regressions found");
    }

    #[test]
    fn per_request_errors_stay_within_the_bound_too() {
        // The simulator draws errors per request; the same test on Bernoulli draws.
        let mut alarms = 0;
        for seed in 0..500u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut test = CountTest::new(0.05);
            for s in 0..600u64 {
                let share = 0.1 + 0.1 * (s / 120) as f64;
                let n_c = (100.0 * share) as u64;
                let n_s = 100 - n_c;
                let errs = |n: u64, rng: &mut ChaCha8Rng| {
                    (0..n).filter(|_| rng.random_bool(0.01)).count() as u64
                };
                let (e_s, e_c) = (errs(n_s, &mut rng), errs(n_c, &mut rng));
                test.add(e_s + e_c, e_c, n_c as f64 / 100.0);
                if test.rejects() {
                    alarms += 1;
                    break;
                }
            }
        }
        println!("bernoulli null: {alarms} false detections of 500");
        assert!(alarms <= 35, "{alarms} false detections of 500");
    }

    #[test]
    fn an_interval_without_both_arms_changes_nothing() {
        let mut t = CountTest::new(0.05);
        t.add(10, 10, 1.0);
        t.add(10, 0, 0.0);
        t.add(0, 0, 0.5);
        assert_eq!(t.e_value(), 1.0);
    }
}
