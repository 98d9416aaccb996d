//! The open-loop workload: arrivals by a rate schedule, each a request drawn from a weighted
//! mix.
//!
//! **Open loop.** Arrival times come from the schedule and the seed alone, never from
//! responses: a user does not wait for the previous user's answer before arriving. A closed
//! loop (send, wait, send) slows down exactly when the system does and so hides the latency
//! of the requests it failed to send; this is wrk2's "coordinated omission", and the reason
//! [`Workload::arrivals`] takes no feedback at all.
//!
//! Arrivals are a non-homogeneous Poisson process with the configured rate λ(t), sampled
//! exactly, without time steps:
//! - The schedule is a list of pieces on which λ is linear (constant pieces have slope 0; a
//!   ramp is one sloped piece, then a constant one). Within a piece, the next arrival after
//!   `t` is where the integrated rate ∫ₜ λ reaches a fresh Exp(1) draw `E`, found by solving
//!   the quadratic in closed form (inversion of the integrated rate; one draw per arrival,
//!   no rejected candidates as in thinning).
//! - If the piece ends first, the draw is dropped and the search restarts at the piece's
//!   end: the process has independent increments, so forgetting the partial wait is exact.
//!   A piece with zero rate is skipped without a draw, so a zero rate, even forever, ends
//!   the iterator instead of spinning.
//!
//! **Two streams.** The mix entry of each arrival is drawn from a stream forked off the
//! caller's stream before the first gap, and the gaps from the rest of it. Changing the mix
//! (weights, entries) therefore never moves an arrival in time, so two runs that differ only
//! in their mix see the same arrival instants.
//!
//! A step schedule whose first step starts after 0 has rate 0 before it.

use std::collections::BTreeMap;
use std::iter::FusedIterator;
use std::time::Duration;

use rand::distr::Distribution as _;
use rand::{Rng, SeedableRng};
use rand_distr::weighted::WeightedIndex;

use super::duration::HumanDuration;
use super::error::{ConfigError, Problem};
use crate::engine::SimTime;

/// The workload as a scenario writes it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct WorkloadConfig {
    /// Where users' requests enter: a virtual gateway name, or a virtual service name (then
    /// the load generator calls it through a sidecar of its own).
    pub target: String,
    /// Arrivals per simulated second over time.
    pub rate: RateConfig,
    /// The requests users send, picked by weight.
    pub mix: Vec<MixEntry>,
    /// How long a user waits for an answer before giving up (default 30s).
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

/// A rate schedule: `{ constant: 100 }`, `{ ramp: { from: 10, to: 200, over: 5m } }` or
/// `{ steps: [ { at: 0s, rps: 100 }, { at: 2m, rps: 300 } ] }`.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum RateConfig {
    /// The same rate throughout.
    Constant(f64),
    /// A linear change from `from` to `to` over `over` (starting at 0), then `to`.
    Ramp {
        /// Rate at time 0.
        from: f64,
        /// Rate from `over` on.
        to: f64,
        /// How long the ramp lasts.
        over: HumanDuration,
    },
    /// Piecewise-constant: each step's rate holds from its `at` until the next step's.
    Steps(Vec<RateStep>),
}

/// One step of a [`RateConfig::Steps`] schedule.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RateStep {
    /// When this rate starts.
    pub at: HumanDuration,
    /// Arrivals per second from then on.
    pub rps: f64,
}

/// One kind of request in the mix.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct MixEntry {
    /// Relative weight (≥ 0; the weights need not add up to anything).
    pub weight: f64,
    /// HTTP method, upper case (default `GET`).
    #[serde(default = "default_method")]
    pub method: String,
    /// Path, starting with `/`.
    pub path: String,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_method() -> String {
    "GET".to_string()
}

/// A workload field is wrong.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum WorkloadError {
    /// `mix: []`.
    #[error("a workload needs at least one request in its mix")]
    EmptyMix,
    /// `target: ""`.
    #[error("a workload needs a target (a virtual gateway or virtual service name)")]
    EmptyTarget,
    /// A weight that is negative, NaN or infinite.
    #[error("a mix weight must be a finite number ≥ 0, got {0}")]
    Weight(f64),
    /// Every weight is 0, so no request could ever be picked.
    #[error("every weight in the mix is 0; give at least one request a weight above 0")]
    AllWeightsZero,
    /// A method that is not an upper-case HTTP token.
    #[error("method \"{0}\" is not an upper-case HTTP method (like GET or POST)")]
    Method(String),
    /// A path that does not start with `/`.
    #[error("path \"{0}\" must start with /")]
    PathNotAbsolute(String),
    /// A path that cannot go on a request line (spaces, control characters).
    #[error(
        "path \"{0}\" is not a valid request path (spaces and control characters are not allowed)"
    )]
    PathInvalid(String),
    /// A header name with characters HTTP does not allow in one.
    #[error("\"{0}\" is not a valid HTTP header name")]
    HeaderName(String),
    /// A header value with characters HTTP does not allow in one (control characters).
    #[error("the value of header \"{0}\" is not a valid HTTP header value")]
    HeaderValue(String),
    /// A rate that is negative, NaN or infinite.
    #[error("a rate must be a finite number of requests per second ≥ 0, got {0}")]
    Rate(f64),
    /// `steps: []`.
    #[error("a step schedule needs at least one step")]
    NoSteps,
    /// A step that does not start after the previous one.
    #[error("step {index} starts at {at}, not after the previous step's {previous}")]
    StepsNotIncreasing {
        /// Index of the step.
        index: usize,
        /// The previous step's `at`.
        previous: HumanDuration,
        /// This step's `at`.
        at: HumanDuration,
    },
    /// `over: 0s` (write `steps` for a jump).
    #[error("a ramp must last longer than 0 (for a jump, write steps)")]
    ZeroRampDuration,
    /// `timeout: 0s`.
    #[error("a user timeout must be above 0")]
    ZeroTimeout,
}

/// A validated workload: a rate schedule, a mix and a user timeout.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    target: String,
    timeout: Duration,
    entries: Vec<MixEntry>,
    pieces: Vec<Piece>,
    mix: WeightedIndex<f64>,
}

/// A stretch of the schedule on which the rate is linear: `rate + slope·(t − start)` for
/// `start ≤ t < end`, in seconds. The last piece ends at +∞ with slope 0.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Piece {
    start: f64,
    end: f64,
    rate: f64,
    slope: f64,
}

impl Piece {
    fn constant(start: f64, end: f64, rate: f64) -> Piece {
        Piece {
            start,
            end,
            rate,
            slope: 0.0,
        }
    }

    /// λ(t); clamped at 0 so that rounding at the end of a ramp down to 0 is not negative.
    fn rate_at(&self, t: f64) -> f64 {
        (self.rate + self.slope * (t - self.start)).max(0.0)
    }

    /// ∫ λ over `[from, to)`, both inside the piece.
    fn mass(&self, from: f64, to: f64) -> f64 {
        if to <= from {
            return 0.0;
        }
        let span = to - from;
        (self.rate_at(from) * span + 0.5 * self.slope * span * span).max(0.0)
    }
}

fn secs_of(t: SimTime) -> f64 {
    t.as_nanos() as f64 / 1e9
}

/// An HTTP token (RFC 9110 `tchar`) without lower-case letters.
fn is_upper_token(method: &str) -> bool {
    !method.is_empty()
        && method.bytes().all(|b| {
            b.is_ascii_uppercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

impl WorkloadConfig {
    /// Validates every field and builds the workload; every problem is reported, each with
    /// its path in this config (`mix[1].weight`, `rate.steps[2].rps`).
    pub fn build(&self) -> Result<Workload, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut push = |path: String, e: WorkloadError| {
            errors.push(ConfigError::new(path, Problem::Workload(e)));
        };
        if self.target.is_empty() {
            push("target".into(), WorkloadError::EmptyTarget);
        }
        if self.timeout.get().is_zero() {
            push("timeout".into(), WorkloadError::ZeroTimeout);
        }
        let pieces = self
            .rate
            .pieces(&mut |path, e| push(format!("rate.{path}"), e));
        check_mix(&self.mix, &mut push);
        let weights = self.mix.iter().map(|e| e.weight);
        match (pieces, WeightedIndex::new(weights)) {
            (Some(pieces), Ok(mix)) if errors.is_empty() => Ok(Workload {
                target: self.target.clone(),
                timeout: self.timeout.get(),
                entries: self.mix.clone(),
                pieces,
                mix,
            }),
            // Every weight error is reported above; WeightedIndex refuses nothing else.
            _ => Err(errors),
        }
    }
}

fn check_mix(mix: &[MixEntry], push: &mut impl FnMut(String, WorkloadError)) {
    if mix.is_empty() {
        push("mix".into(), WorkloadError::EmptyMix);
    }
    let mut all_valid = true;
    for (i, entry) in mix.iter().enumerate() {
        let mut problems = Vec::new();
        if !(entry.weight.is_finite() && entry.weight >= 0.0) {
            all_valid = false;
            problems.push(("weight", WorkloadError::Weight(entry.weight)));
        }
        if !is_upper_token(&entry.method) {
            problems.push(("method", WorkloadError::Method(entry.method.clone())));
        }
        let path = entry.path.clone();
        if !entry.path.starts_with('/') {
            problems.push(("path", WorkloadError::PathNotAbsolute(path)));
        } else if entry.path.parse::<http::uri::PathAndQuery>().is_err() {
            problems.push(("path", WorkloadError::PathInvalid(path)));
        }
        // A bad header's name goes into the message, not the path: it may hold dots or
        // brackets that would make the path ambiguous.
        for (name, value) in &entry.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                problems.push(("headers", WorkloadError::HeaderName(name.clone())));
            } else if http::HeaderValue::from_str(value).is_err() {
                problems.push(("headers", WorkloadError::HeaderValue(name.clone())));
            }
        }
        for (field, problem) in problems {
            push(format!("mix[{i}].{field}"), problem);
        }
    }
    if all_valid && !mix.is_empty() && mix.iter().all(|e| e.weight == 0.0) {
        push("mix".into(), WorkloadError::AllWeightsZero);
    }
}

impl RateConfig {
    /// The schedule as pieces, or `None` after reporting (paths relative to `rate`) every
    /// problem.
    fn pieces(&self, push: &mut impl FnMut(String, WorkloadError)) -> Option<Vec<Piece>> {
        let mut ok = true;
        match self {
            RateConfig::Constant(r) => {
                ok &= check_rate(push, "constant".into(), *r);
                ok.then(|| vec![Piece::constant(0.0, f64::INFINITY, *r)])
            }
            RateConfig::Ramp { from, to, over } => {
                ok &= check_rate(push, "ramp.from".into(), *from);
                ok &= check_rate(push, "ramp.to".into(), *to);
                if over.get().is_zero() {
                    ok = false;
                    push("ramp.over".into(), WorkloadError::ZeroRampDuration);
                }
                let over = over.get().as_secs_f64();
                ok.then(|| {
                    vec![
                        Piece {
                            start: 0.0,
                            end: over,
                            rate: *from,
                            slope: (to - from) / over,
                        },
                        Piece::constant(over, f64::INFINITY, *to),
                    ]
                })
            }
            RateConfig::Steps(steps) => {
                if steps.is_empty() {
                    ok = false;
                    push("steps".into(), WorkloadError::NoSteps);
                }
                for (i, step) in steps.iter().enumerate() {
                    ok &= check_rate(push, format!("steps[{i}].rps"), step.rps);
                }
                for (i, pair) in steps.windows(2).enumerate() {
                    if pair[1].at <= pair[0].at {
                        ok = false;
                        push(
                            format!("steps[{}].at", i + 1),
                            WorkloadError::StepsNotIncreasing {
                                index: i + 1,
                                previous: pair[0].at,
                                at: pair[1].at,
                            },
                        );
                    }
                }
                ok.then(|| step_pieces(steps))
            }
        }
    }
}

/// Whether `r` is a usable rate; reports it at `path` if not.
fn check_rate(push: &mut impl FnMut(String, WorkloadError), path: String, r: f64) -> bool {
    let valid = r.is_finite() && r >= 0.0;
    if !valid {
        push(path, WorkloadError::Rate(r));
    }
    valid
}

fn step_pieces(steps: &[RateStep]) -> Vec<Piece> {
    let mut pieces = Vec::with_capacity(steps.len() + 1);
    let first = steps.first().map_or(0.0, |s| s.at.get().as_secs_f64());
    if first > 0.0 {
        pieces.push(Piece::constant(0.0, first, 0.0));
    }
    for (i, step) in steps.iter().enumerate() {
        let end = steps
            .get(i + 1)
            .map_or(f64::INFINITY, |s| s.at.get().as_secs_f64());
        pieces.push(Piece::constant(step.at.get().as_secs_f64(), end, step.rps));
    }
    pieces
}

impl Workload {
    /// Where requests enter: a virtual gateway or virtual service name.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// How long a user waits for an answer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The mix, in configuration order; [`Arrival::entry`] indexes it.
    pub fn entries(&self) -> &[MixEntry] {
        &self.entries
    }

    fn piece_at(&self, t: f64) -> Option<&Piece> {
        let i = self.pieces.partition_point(|p| p.start <= t);
        i.checked_sub(1).and_then(|i| self.pieces.get(i))
    }

    /// Arrivals per second at `t`.
    pub fn rate_at(&self, t: SimTime) -> f64 {
        let t = secs_of(t);
        self.piece_at(t).map_or(0.0, |p| p.rate_at(t))
    }

    /// The expected number of arrivals in `[0, until)`: the integral of the rate.
    pub fn expected_arrivals(&self, until: SimTime) -> f64 {
        let until = secs_of(until);
        self.pieces
            .iter()
            .map(|p| p.mass(p.start, p.end.min(until)))
            .sum()
    }

    /// The arrivals in `[0, until)`, in time order, drawn from `rng` (see the [module](self)
    /// docs for the process and for how the mix gets a stream of its own).
    pub fn arrivals<R: Rng + SeedableRng>(&self, mut rng: R, until: SimTime) -> Arrivals<R> {
        let mix_rng = R::from_rng(&mut rng);
        Arrivals {
            pieces: self.pieces.clone(),
            mix: self.mix.clone(),
            gaps: rng,
            picks: mix_rng,
            piece: 0,
            t: 0.0,
            until: until.as_nanos(),
            until_secs: secs_of(until),
            seq: 0,
            done: false,
        }
    }
}

/// One user's request arriving.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Arrival {
    /// When it arrives.
    pub at: SimTime,
    /// Its position in the sequence, from 0; breaks ties between arrivals rounded to the same
    /// nanosecond.
    pub seq: u64,
    /// Index into [`Workload::entries`].
    pub entry: usize,
}

/// The arrivals of a [`Workload`] before a horizon, in increasing `(at, seq)`.
#[derive(Clone, Debug)]
pub struct Arrivals<R> {
    pieces: Vec<Piece>,
    mix: WeightedIndex<f64>,
    gaps: R,
    picks: R,
    piece: usize,
    /// Seconds; the last arrival, or where the search for the next one restarts.
    t: f64,
    until: u64,
    until_secs: f64,
    seq: u64,
    done: bool,
}

impl<R: Rng> Arrivals<R> {
    /// The next arrival instant in seconds, or `None` when there is none before `until`.
    fn next_instant(&mut self) -> Option<f64> {
        while let Some(piece) = self.pieces.get(self.piece) {
            let end = piece.end.min(self.until_secs);
            let mass = piece.mass(self.t, end);
            if mass > 0.0 {
                let e: f64 = self.gaps.sample(rand_distr::Exp1);
                if e < mass {
                    // ∫ₜ^{t+Δ} λ = λₜΔ + kΔ²/2 = E, solved in the form without cancellation;
                    // the root is real and positive because E < mass.
                    let rate = piece.rate_at(self.t);
                    let root = (rate * rate + 2.0 * piece.slope * e).max(0.0).sqrt();
                    let at = (self.t + 2.0 * e / (rate + root)).min(end);
                    self.t = at;
                    return Some(at);
                }
            }
            if end >= self.until_secs {
                return None;
            }
            self.t = end;
            self.piece += 1;
        }
        None
    }
}

impl<R: Rng> Iterator for Arrivals<R> {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        if self.done {
            return None;
        }
        // The nanosecond the instant falls in (`as` saturates). Rounding in `t · 10⁹` may
        // still land on `until` itself, hence the filter.
        let at = self.next_instant().map(|t| (t * 1e9).floor() as u64);
        let Some(at) = at.filter(|at| *at < self.until) else {
            self.done = true;
            return None;
        };
        let arrival = Arrival {
            at: SimTime::from_duration(Duration::from_nanos(at)),
            seq: self.seq,
            entry: self.mix.sample(&mut self.picks),
        };
        self.seq += 1;
        Some(arrival)
    }
}

impl<R: Rng> FusedIterator for Arrivals<R> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::seed;

    fn secs(s: u64) -> SimTime {
        SimTime::from_millis(s * 1_000)
    }

    fn dur(s: u64) -> HumanDuration {
        HumanDuration(Duration::from_secs(s))
    }

    fn entry(weight: f64, path: &str) -> MixEntry {
        MixEntry {
            weight,
            method: "GET".into(),
            path: path.into(),
            headers: BTreeMap::new(),
        }
    }

    fn config(rate: RateConfig, mix: Vec<MixEntry>) -> WorkloadConfig {
        WorkloadConfig {
            target: "gateway".into(),
            rate,
            mix,
            timeout: default_timeout(),
        }
    }

    fn build(rate: RateConfig) -> Workload {
        config(rate, vec![entry(1.0, "/")])
            .build()
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// (path, message) of every problem, for comparing against expectations.
    fn problems(c: &WorkloadConfig) -> Vec<(String, WorkloadError)> {
        let errors = c.build().expect_err("the config is invalid");
        errors
            .into_iter()
            .map(|e| match e.problem {
                Problem::Workload(w) => (e.path, w),
                other => panic!("not a workload problem: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn every_mix_problem_is_reported_with_its_path() {
        let mut bad_headers = entry(1.0, "/ok");
        bad_headers.headers.insert("bad name".into(), "v".into());
        bad_headers
            .headers
            .insert("x-ok".into(), "line\nbreak".into());
        let mut lower = entry(1.0, "/");
        lower.method = "get".into();
        let c = WorkloadConfig {
            target: String::new(),
            timeout: HumanDuration(Duration::ZERO),
            ..config(
                RateConfig::Constant(1.0),
                vec![
                    entry(1.0, "/"),
                    entry(-5.0, "/"),
                    entry(f64::NAN, "no-slash"),
                    lower,
                    entry(f64::INFINITY, "/has space"),
                    bad_headers,
                ],
            )
        };
        let got = problems(&c);
        let paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "target",
                "timeout",
                "mix[1].weight",
                "mix[2].weight",
                "mix[2].path",
                "mix[3].method",
                "mix[4].weight",
                "mix[4].path",
                "mix[5].headers",
                "mix[5].headers",
            ]
        );
        assert_eq!(got[2].1, WorkloadError::Weight(-5.0));
        assert_eq!(
            ConfigError::new("mix[1].weight", Problem::Workload(got[2].1.clone())).to_string(),
            "mix[1].weight: a mix weight must be a finite number ≥ 0, got -5"
        );
        assert!(matches!(&got[3].1, WorkloadError::Weight(w) if w.is_nan()));
        assert_eq!(got[4].1, WorkloadError::PathNotAbsolute("no-slash".into()));
        assert_eq!(got[5].1, WorkloadError::Method("get".into()));
        assert_eq!(got[7].1, WorkloadError::PathInvalid("/has space".into()));
        assert_eq!(got[8].1, WorkloadError::HeaderName("bad name".into()));
        assert_eq!(got[9].1, WorkloadError::HeaderValue("x-ok".into()));
    }

    #[test]
    fn empty_and_all_zero_mixes_are_refused() {
        let empty = config(RateConfig::Constant(1.0), vec![]);
        assert_eq!(problems(&empty), [("mix".into(), WorkloadError::EmptyMix)]);
        let zeros = config(
            RateConfig::Constant(1.0),
            vec![entry(0.0, "/a"), entry(0.0, "/b")],
        );
        assert_eq!(
            problems(&zeros),
            [("mix".into(), WorkloadError::AllWeightsZero)]
        );
        // A zero weight next to a positive one is fine; custom upper-case tokens are too.
        let mut custom = entry(0.0, "/b?q=1");
        custom.method = "M-SEARCH".into();
        custom.headers.insert("X-Upper".into(), "v".into());
        assert!(
            config(RateConfig::Constant(1.0), vec![entry(2.0, "/a"), custom])
                .build()
                .is_ok()
        );
    }

    #[test]
    fn every_rate_problem_is_reported_with_its_path() {
        let c = config(RateConfig::Constant(-1.0), vec![entry(1.0, "/")]);
        assert_eq!(
            problems(&c),
            [("rate.constant".into(), WorkloadError::Rate(-1.0))]
        );
        let c = config(RateConfig::Constant(f64::INFINITY), vec![entry(1.0, "/")]);
        assert_eq!(problems(&c)[0].0, "rate.constant");
        let ramp = RateConfig::Ramp {
            from: f64::NAN,
            to: -2.0,
            over: dur(0),
        };
        let got = problems(&config(ramp, vec![entry(1.0, "/")]));
        let paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["rate.ramp.from", "rate.ramp.to", "rate.ramp.over"]);
        assert_eq!(got[2].1, WorkloadError::ZeroRampDuration);
        let steps = RateConfig::Steps(vec![
            RateStep {
                at: dur(0),
                rps: 1.0,
            },
            RateStep {
                at: dur(5),
                rps: 2.0,
            },
            RateStep {
                at: dur(5),
                rps: -3.0,
            },
            RateStep {
                at: dur(4),
                rps: 1.0,
            },
        ]);
        let got = problems(&config(steps, vec![entry(1.0, "/")]));
        let paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            ["rate.steps[2].rps", "rate.steps[2].at", "rate.steps[3].at"]
        );
        assert_eq!(
            got[1].1,
            WorkloadError::StepsNotIncreasing {
                index: 2,
                previous: dur(5),
                at: dur(5)
            }
        );
        let none = config(RateConfig::Steps(vec![]), vec![entry(1.0, "/")]);
        assert_eq!(
            problems(&none),
            [("rate.steps".into(), WorkloadError::NoSteps)]
        );
    }

    fn times(w: &Workload, seed: u64, until: SimTime) -> Vec<Arrival> {
        w.arrivals(seed::stream(seed, "workload"), until).collect()
    }

    #[test]
    fn arrivals_are_ordered_numbered_bounded_and_deterministic() {
        let w = build(RateConfig::Constant(2_000.0));
        let a = times(&w, 7, secs(5));
        assert!(a.len() > 9_000, "{} arrivals", a.len());
        assert!(a.iter().enumerate().all(|(i, x)| x.seq == i as u64));
        assert!(a.windows(2).all(|p| p[0].at <= p[1].at));
        assert!(a.iter().all(|x| x.at < secs(5)));
        assert_eq!(a, times(&w, 7, secs(5)), "same seed, same arrivals");
        assert_ne!(a, times(&w, 8, secs(5)), "another seed, other arrivals");
        // A shorter horizon is a prefix: the horizon cuts, it does not reshape.
        let short = times(&w, 7, secs(2));
        assert_eq!(short[..], a[..short.len()]);
        assert!(a[short.len()].at >= secs(2));
    }

    #[test]
    fn zero_rates_end_the_iterator_instead_of_spinning() {
        // Each of these would loop forever if a zero piece were searched draw by draw.
        let none = build(RateConfig::Constant(0.0));
        assert_eq!(times(&none, 1, SimTime::NEVER), []);
        let ramp_down = build(RateConfig::Ramp {
            from: 100.0,
            to: 0.0,
            over: dur(10),
        });
        let a = times(&ramp_down, 1, SimTime::NEVER);
        assert!(!a.is_empty() && a.iter().all(|x| x.at < secs(10)));
        let stop = build(RateConfig::Steps(vec![
            RateStep {
                at: dur(0),
                rps: 0.0,
            },
            RateStep {
                at: dur(3),
                rps: 100.0,
            },
            RateStep {
                at: dur(4),
                rps: 0.0,
            },
        ]));
        let a = times(&stop, 1, SimTime::NEVER);
        assert!(!a.is_empty());
        assert!(a.iter().all(|x| x.at >= secs(3) && x.at < secs(4)));
    }
}
