//! L7 fault injection: Envoy's HTTP fault filter (`extensions.filters.http.fault.v3.HTTPFault`),
//! an extension, since App Mesh exposes no fault injection.
//!
//! Order of evaluation follows Envoy's `FaultFilter::decodeHeaders`:
//! 1. scope: every configured header matcher must match, or the request passes untouched;
//! 2. `max_active_faults`: at the cap, the request passes untouched and counts as overflow
//!    (checked before any dice, so it counts every in-scope request, as `faults_overflow` does);
//! 3. delay: roll its percentage, then take the duration (fixed or from the header);
//! 4. abort: roll its percentage, then take the status (fixed or from the headers).
//!
//! Delay and abort may both apply: the caller holds the request for the delay, then aborts it.
//! Envoy rolls the abort after the delay has run; rolling it at once, in the same order, draws
//! the same numbers.
//!
//! Percentages are Envoy `FractionalPercent`s over a denominator of one million, the finest
//! Envoy offers, so 0 % never and 100 % always fire. Each configured fault draws exactly one
//! number per request that reaches its roll, whatever its percentage, so changing a percentage
//! never shifts the draws of later requests.
//!
//! Not modelled: response rate limiting (`FaultRateLimit`), `upstream_cluster` and
//! `downstream_nodes` scoping, and runtime overrides.

use std::fmt;
use std::time::Duration;

use super::matchers::{HeaderMatcher, Mismatch};
use super::request::RequestHead;
use super::time::SimTime;
use crate::config::model::HeaderMatch;

/// `x-envoy-fault-abort-request`: HTTP status of a header-controlled abort (200..=599).
pub const HEADER_ABORT: &str = "x-envoy-fault-abort-request";
/// `x-envoy-fault-abort-grpc-request`: gRPC status of a header-controlled abort (0..=16).
pub const HEADER_ABORT_GRPC: &str = "x-envoy-fault-abort-grpc-request";
/// `x-envoy-fault-abort-request-percentage`: abort percentage, capped by the configured one.
pub const HEADER_ABORT_PERCENTAGE: &str = "x-envoy-fault-abort-request-percentage";
/// `x-envoy-fault-delay-request`: delay of a header-controlled delay, in milliseconds.
pub const HEADER_DELAY: &str = "x-envoy-fault-delay-request";
/// `x-envoy-fault-delay-request-percentage`: delay percentage, capped by the configured one.
pub const HEADER_DELAY_PERCENTAGE: &str = "x-envoy-fault-delay-request-percentage";
/// Access-log response flag for an injected delay.
pub const RESPONSE_FLAG_DELAY: &str = "DI";
/// Access-log response flag for an injected abort.
pub const RESPONSE_FLAG_ABORT: &str = "FI";
/// Body of an injected abort (Envoy's local reply text).
pub const ABORT_BODY: &str = "fault filter abort";

/// The denominator of [`Percent`]: Envoy's `FractionalPercent` `MILLION`.
pub const PER_MILLION: u32 = 1_000_000;

/// A percentage with Envoy `FractionalPercent` semantics, stored in millionths so that a roll
/// is an exact integer comparison.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent {
    per_million: u32,
}

/// A percentage outside 0..=100 (or not a number).
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("a percentage must be a number from 0 to 100, got {0}")]
pub struct PercentError(pub f64);

impl Percent {
    /// Never.
    pub const ZERO: Percent = Percent { per_million: 0 };
    /// Always.
    pub const HUNDRED: Percent = Percent {
        per_million: PER_MILLION,
    };

    /// `percent` (0.0..=100.0), rounded to the nearest millionth.
    pub fn new(percent: f64) -> Result<Percent, PercentError> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(PercentError(percent));
        }
        // In range, so the product is within 0..=1e6 and the cast is exact after rounding.
        let per_million = (percent * 10_000.0).round() as u32;
        Ok(Percent {
            per_million: per_million.min(PER_MILLION),
        })
    }

    /// `n` millionths, capped at one million.
    pub const fn from_per_million(n: u32) -> Percent {
        Percent {
            per_million: if n > PER_MILLION { PER_MILLION } else { n },
        }
    }

    /// Millionths.
    pub fn per_million(self) -> u32 {
        self.per_million
    }

    /// As a percentage, 0.0..=100.0.
    pub fn as_percent(self) -> f64 {
        f64::from(self.per_million) / 10_000.0
    }

    /// As a fraction, 0.0..=1.0.
    pub fn as_fraction(self) -> f64 {
        f64::from(self.per_million) / f64::from(PER_MILLION)
    }

    /// One Bernoulli draw: Envoy's `random % denominator < numerator`. Always draws one number,
    /// so 0 % and 100 % consume the stream like any other percentage.
    pub fn roll(self, rng: &mut impl rand::Rng) -> bool {
        rng.random_range(0..PER_MILLION) < self.per_million
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.as_percent())
    }
}

/// Where an injected delay's duration comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DelaySource {
    /// `fixed_delay`.
    Fixed(Duration),
    /// `header_delay`: milliseconds from `x-envoy-fault-delay-request`; the percentage may be
    /// lowered by `x-envoy-fault-delay-request-percentage`. No valid header, no delay.
    Header,
}

/// `delay`: a fault that holds the request before it is forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DelayFault {
    /// The duration.
    pub source: DelaySource,
    /// Share of in-scope requests delayed.
    pub percentage: Percent,
}

/// Where an injected abort's status comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortSource {
    /// `http_status`, 200..=599.
    Http(u16),
    /// `grpc_status`, 0..=16 (the HTTP status is then 200).
    Grpc(u8),
    /// `header_abort`: the status from `x-envoy-fault-abort-request` (preferred) or
    /// `x-envoy-fault-abort-grpc-request`; the percentage may be lowered by
    /// `x-envoy-fault-abort-request-percentage`. No valid header, no abort.
    Header,
}

/// `abort`: a fault that answers the request locally instead of forwarding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortFault {
    /// The status.
    pub source: AbortSource,
    /// Share of in-scope requests aborted.
    pub percentage: Percent,
}

/// The filter's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultConfig {
    /// Delay, if any.
    pub delay: Option<DelayFault>,
    /// Abort, if any.
    pub abort: Option<AbortFault>,
    /// Scope: every matcher must match for any fault to apply (empty: every request).
    pub headers: Vec<HeaderMatch>,
    /// Cap on requests with a fault in progress; `None` is Envoy's default, unlimited.
    pub max_active_faults: Option<u32>,
}

/// A configuration Envoy would reject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FaultConfigError {
    /// `abort.http_status` outside 200..=599.
    #[error("abort http_status must be 200 to 599, got {0}")]
    HttpStatus(u16),
    /// `abort.grpc_status` outside 0..=16.
    #[error("abort grpc_status must be 0 to 16, got {0}")]
    GrpcStatus(u8),
}

/// An injected abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abort {
    /// A local reply with this HTTP status.
    Http(u16),
    /// A trailers-only gRPC reply: `:status` 200 and this `grpc-status`.
    Grpc(u8),
}

impl Abort {
    /// The HTTP status of the local reply (200 for a gRPC abort).
    pub fn http_status(self) -> u16 {
        match self {
            Abort::Http(s) => s,
            Abort::Grpc(_) => 200,
        }
    }

    /// The `grpc-status` of the local reply, for a gRPC abort.
    pub fn grpc_status(self) -> Option<u8> {
        match self {
            Abort::Http(_) => None,
            Abort::Grpc(s) => Some(s),
        }
    }
}

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Abort::Http(s) => write!(f, "HTTP {s}"),
            Abort::Grpc(s) => write!(f, "grpc-status {s}"),
        }
    }
}

/// What one fault's roll came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultRoll {
    /// The filter has no such fault.
    NotConfigured,
    /// The dice spared the request at this (effective) percentage.
    Spared {
        /// Configured percentage, lowered by the percentage header if header-controlled.
        percentage: Percent,
    },
    /// The dice hit, but there was nothing to inject: a header-controlled fault without a
    /// valid header, or a zero delay (Envoy injects only delays above 0 ms).
    NoValue {
        /// Effective percentage.
        percentage: Percent,
    },
    /// Injected.
    Injected {
        /// Effective percentage.
        percentage: Percent,
    },
}

impl fmt::Display for FaultRoll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultRoll::NotConfigured => write!(f, "not configured"),
            FaultRoll::Spared { percentage } => write!(f, "spared at {percentage}"),
            FaultRoll::NoValue { percentage } => {
                write!(f, "hit at {percentage} but no value to inject")
            }
            FaultRoll::Injected { percentage } => write!(f, "injected at {percentage}"),
        }
    }
}

/// Why the filter decided what it decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultReason {
    /// A scoping header matcher failed; no dice were rolled.
    OutOfScope(Mismatch),
    /// `max_active_faults` reached; no dice were rolled (counted in `faults_overflow`).
    Overflow {
        /// Faults in progress.
        active: u32,
        /// The cap.
        max_active_faults: u32,
    },
    /// In scope and under the cap: the dice.
    Rolled {
        /// The delay's roll.
        delay: FaultRoll,
        /// The abort's roll.
        abort: FaultRoll,
    },
}

impl fmt::Display for FaultReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultReason::OutOfScope(m) => write!(f, "out of fault scope: {m}"),
            FaultReason::Overflow {
                active,
                max_active_faults,
            } => write!(
                f,
                "fault skipped: {active} faults active, max_active_faults is {max_active_faults}"
            ),
            FaultReason::Rolled { delay, abort } => write!(f, "delay {delay}; abort {abort}"),
        }
    }
}

/// The filter's decision for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultDecision {
    /// Hold the request this long first (flag `DI`).
    pub delay: Option<Duration>,
    /// Then answer locally instead of forwarding (flag `FI`).
    pub abort: Option<Abort>,
    /// When the request leaves the filter: `now + delay`, or `now`.
    pub resume_at: SimTime,
    /// Why.
    pub reason: FaultReason,
}

impl FaultDecision {
    /// Whether any fault was injected; if so the caller must call
    /// [`FaultFilter::on_fault_end`] when the request ends.
    pub fn is_fault(&self) -> bool {
        self.delay.is_some() || self.abort.is_some()
    }
}

/// Counters, named after Envoy's fault filter stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// `delays_injected`.
    pub delays_injected: u64,
    /// `aborts_injected`.
    pub aborts_injected: u64,
    /// `faults_overflow`: in-scope requests passed untouched at `max_active_faults`.
    pub faults_overflow: u64,
    /// `active_faults`: requests with a fault still in progress.
    pub active_faults: u32,
}

/// One fault filter instance (one per listener or route that configures it).
#[derive(Clone, Debug)]
pub struct FaultFilter {
    delay: Option<DelayFault>,
    abort: Option<AbortFault>,
    scope: Vec<HeaderMatcher>,
    max_active_faults: Option<u32>,
    stats: FaultStats,
}

impl FaultFilter {
    /// Validates and compiles a configuration.
    pub fn new(config: &FaultConfig) -> Result<FaultFilter, FaultConfigError> {
        if let Some(a) = &config.abort {
            match a.source {
                AbortSource::Http(s) if !(200..=599).contains(&s) => {
                    return Err(FaultConfigError::HttpStatus(s));
                }
                AbortSource::Grpc(s) if s > 16 => return Err(FaultConfigError::GrpcStatus(s)),
                _ => {}
            }
        }
        Ok(FaultFilter {
            delay: config.delay,
            abort: config.abort,
            scope: config.headers.iter().map(HeaderMatcher::compile).collect(),
            max_active_faults: config.max_active_faults,
            stats: FaultStats::default(),
        })
    }

    /// Takes a new configuration (the faults in force changed) and keeps the counters.
    /// Envoy's `active_faults` is a gauge in the listener's stats scope, shared by every
    /// filter configuration the listener gets, so faults still in progress keep counting
    /// against the new `max_active_faults`.
    pub fn reconfigure(&mut self, config: &FaultConfig) -> Result<(), FaultConfigError> {
        let stats = self.stats;
        *self = FaultFilter::new(config)?;
        self.stats = stats;
        Ok(())
    }

    /// Decides the faults for one request (see the module docs for the order).
    pub fn decide(
        &mut self,
        now: SimTime,
        head: &RequestHead,
        rng: &mut impl rand::Rng,
    ) -> FaultDecision {
        let untouched = |reason| FaultDecision {
            delay: None,
            abort: None,
            resume_at: now,
            reason,
        };
        if let Some(miss) = self.scope.iter().find_map(|m| m.check(head).err()) {
            return untouched(FaultReason::OutOfScope(miss));
        }
        if let Some(max) = self.max_active_faults
            && self.stats.active_faults >= max
        {
            self.stats.faults_overflow += 1;
            return untouched(FaultReason::Overflow {
                active: self.stats.active_faults,
                max_active_faults: max,
            });
        }
        let (delay, delay_roll) = self.roll_delay(head, rng);
        let (abort, abort_roll) = self.roll_abort(head, rng);
        if delay.is_some() {
            self.stats.delays_injected += 1;
        }
        if abort.is_some() {
            self.stats.aborts_injected += 1;
        }
        if delay.is_some() || abort.is_some() {
            // One per request, as Envoy's `fault_active_` guard does.
            self.stats.active_faults = self.stats.active_faults.saturating_add(1);
        }
        FaultDecision {
            delay,
            abort,
            resume_at: now + delay.unwrap_or_default(),
            reason: FaultReason::Rolled {
                delay: delay_roll,
                abort: abort_roll,
            },
        }
    }

    /// A request that had a fault ended (completed, aborted or reset).
    pub fn on_fault_end(&mut self) {
        self.stats.active_faults = self.stats.active_faults.saturating_sub(1);
    }

    /// Counters.
    pub fn stats(&self) -> FaultStats {
        self.stats
    }

    fn roll_delay(
        &self,
        head: &RequestHead,
        rng: &mut impl rand::Rng,
    ) -> (Option<Duration>, FaultRoll) {
        let Some(d) = self.delay else {
            return (None, FaultRoll::NotConfigured);
        };
        let header_control = d.source == DelaySource::Header;
        let percentage = effective(d.percentage, header_control, head, HEADER_DELAY_PERCENTAGE);
        if !percentage.roll(rng) {
            return (None, FaultRoll::Spared { percentage });
        }
        let duration = match d.source {
            DelaySource::Fixed(dur) => Some(dur),
            DelaySource::Header => parse::<u64>(head, HEADER_DELAY).map(Duration::from_millis),
        };
        match duration {
            Some(dur) if !dur.is_zero() => (Some(dur), FaultRoll::Injected { percentage }),
            _ => (None, FaultRoll::NoValue { percentage }),
        }
    }

    fn roll_abort(
        &self,
        head: &RequestHead,
        rng: &mut impl rand::Rng,
    ) -> (Option<Abort>, FaultRoll) {
        let Some(a) = self.abort else {
            return (None, FaultRoll::NotConfigured);
        };
        let header_control = a.source == AbortSource::Header;
        let percentage = effective(a.percentage, header_control, head, HEADER_ABORT_PERCENTAGE);
        if !percentage.roll(rng) {
            return (None, FaultRoll::Spared { percentage });
        }
        let abort = match a.source {
            AbortSource::Http(s) => Some(Abort::Http(s)),
            AbortSource::Grpc(s) => Some(Abort::Grpc(s)),
            // The HTTP header wins when both are present (Envoy's `abortStatus`).
            AbortSource::Header => parse::<u16>(head, HEADER_ABORT)
                .filter(|s| (200..=599).contains(s))
                .map(Abort::Http)
                .or_else(|| {
                    parse::<u8>(head, HEADER_ABORT_GRPC)
                        .filter(|s| *s <= 16)
                        .map(Abort::Grpc)
                }),
        };
        match abort {
            Some(abort) => (Some(abort), FaultRoll::Injected { percentage }),
            None => (None, FaultRoll::NoValue { percentage }),
        }
    }
}

/// The percentage a roll uses. For a header-controlled fault, an integer percentage header
/// lowers the configured one but never raises it (Envoy's `HeaderPercentageProvider` takes the
/// smaller numerator over the configured denominator, here 100); an absent or unparsable header
/// leaves the configured percentage. A fixed fault ignores the header.
fn effective(configured: Percent, header_control: bool, head: &RequestHead, name: &str) -> Percent {
    if !header_control {
        return configured;
    }
    match parse::<u32>(head, name) {
        Some(p) => Percent::from_per_million(p.saturating_mul(10_000)).min(configured),
        None => configured,
    }
}

fn parse<T: std::str::FromStr>(head: &RequestHead, name: &str) -> Option<T> {
    head.header(name)?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::ValueMatch;
    use crate::engine::seed;
    use proptest::prelude::*;

    fn rng() -> seed::Rng {
        seed::stream(7, "fault/test")
    }

    fn req() -> RequestHead {
        RequestHead::get("orders", 8080, "/orders")
    }

    fn pct(p: f64) -> Percent {
        Percent::new(p).expect("valid percentage")
    }

    fn filter(delay: Option<DelayFault>, abort: Option<AbortFault>) -> FaultFilter {
        FaultFilter::new(&FaultConfig {
            delay,
            abort,
            ..FaultConfig::default()
        })
        .expect("valid config")
    }

    fn fixed_delay(ms: u64, p: f64) -> Option<DelayFault> {
        Some(DelayFault {
            source: DelaySource::Fixed(Duration::from_millis(ms)),
            percentage: pct(p),
        })
    }

    fn http_abort(status: u16, p: f64) -> Option<AbortFault> {
        Some(AbortFault {
            source: AbortSource::Http(status),
            percentage: pct(p),
        })
    }

    /// Runs `n` requests, ending each fault at once; returns (delays, aborts).
    fn count(
        f: &mut FaultFilter,
        head: &RequestHead,
        n: usize,
        rng: &mut seed::Rng,
    ) -> (usize, usize) {
        let (mut delays, mut aborts) = (0, 0);
        for _ in 0..n {
            let d = f.decide(SimTime::ZERO, head, rng);
            delays += usize::from(d.delay.is_some());
            aborts += usize::from(d.abort.is_some());
            if d.is_fault() {
                f.on_fault_end();
            }
        }
        (delays, aborts)
    }

    #[test]
    fn percentages_zero_and_hundred_are_exact() {
        // FractionalPercent: `random % 1e6 < numerator`, so 0 never and 100 always fires.
        let mut r = rng();
        let mut never = filter(fixed_delay(10, 0.0), http_abort(503, 0.0));
        assert_eq!(count(&mut never, &req(), 5_000, &mut r), (0, 0));
        let mut always = filter(fixed_delay(10, 100.0), http_abort(503, 100.0));
        assert_eq!(count(&mut always, &req(), 5_000, &mut r), (5_000, 5_000));
    }

    #[test]
    fn delay_and_abort_both_apply_delay_first() {
        // Envoy delays first, then aborts the delayed request.
        let mut f = filter(fixed_delay(250, 100.0), http_abort(503, 100.0));
        let now = SimTime::from_millis(1_000);
        let d = f.decide(now, &req(), &mut rng());
        assert_eq!(d.delay, Some(Duration::from_millis(250)));
        assert_eq!(d.abort, Some(Abort::Http(503)));
        assert_eq!(d.resume_at, SimTime::from_millis(1_250));
        assert_eq!(f.stats().delays_injected, 1);
        assert_eq!(f.stats().aborts_injected, 1);
        // One request with two faults is one active fault.
        assert_eq!(f.stats().active_faults, 1);
    }

    #[test]
    fn grpc_abort_answers_200_with_grpc_status() {
        let mut f = FaultFilter::new(&FaultConfig {
            abort: Some(AbortFault {
                source: AbortSource::Grpc(14),
                percentage: Percent::HUNDRED,
            }),
            ..FaultConfig::default()
        })
        .expect("valid");
        let a = f
            .decide(SimTime::ZERO, &req(), &mut rng())
            .abort
            .expect("abort");
        assert_eq!((a.http_status(), a.grpc_status()), (200, Some(14)));
    }

    #[test]
    fn invalid_statuses_are_typed_errors() {
        // http_status 200..=599, grpc_status 0..=16.
        let cfg = |source| FaultConfig {
            abort: Some(AbortFault {
                source,
                percentage: Percent::HUNDRED,
            }),
            ..FaultConfig::default()
        };
        assert_eq!(
            FaultFilter::new(&cfg(AbortSource::Http(199))).err(),
            Some(FaultConfigError::HttpStatus(199))
        );
        assert_eq!(
            FaultFilter::new(&cfg(AbortSource::Http(600))).err(),
            Some(FaultConfigError::HttpStatus(600))
        );
        assert_eq!(
            FaultFilter::new(&cfg(AbortSource::Grpc(17))).err(),
            Some(FaultConfigError::GrpcStatus(17))
        );
        assert!(FaultFilter::new(&cfg(AbortSource::Http(200))).is_ok());
        assert!(FaultFilter::new(&cfg(AbortSource::Grpc(0))).is_ok());
        assert_eq!(Percent::new(100.5), Err(PercentError(100.5)));
        assert!(Percent::new(f64::NAN).is_err());
        assert!(Percent::new(-0.1).is_err());
    }

    #[test]
    fn header_percentages_are_capped_by_the_configured_percentage() {
        // HeaderPercentageProvider: min(header numerator, configured numerator).
        let mut f = FaultFilter::new(&FaultConfig {
            delay: Some(DelayFault {
                source: DelaySource::Header,
                percentage: pct(10.0),
            }),
            abort: Some(AbortFault {
                source: AbortSource::Header,
                percentage: pct(0.0),
            }),
            ..FaultConfig::default()
        })
        .expect("valid");
        let head = req()
            .with_header(HEADER_DELAY, "40")
            .with_header(HEADER_DELAY_PERCENTAGE, "50")
            .with_header(HEADER_ABORT, "503")
            .with_header(HEADER_ABORT_PERCENTAGE, "100");
        let d = f.decide(SimTime::ZERO, &head, &mut rng());
        let FaultReason::Rolled { delay, abort } = d.reason else {
            panic!("in scope: {:?}", d.reason)
        };
        let p = |r: FaultRoll| match r {
            FaultRoll::Spared { percentage }
            | FaultRoll::NoValue { percentage }
            | FaultRoll::Injected { percentage } => percentage,
            FaultRoll::NotConfigured => panic!("configured"),
        };
        assert_eq!(p(delay), pct(10.0), "50 in the header cannot raise 10");
        assert_eq!(p(abort), Percent::ZERO, "100 in the header cannot raise 0");
        // A configured 0 % stays exact even when every header asks for 100 %.
        assert_eq!(count(&mut f, &head, 2_000, &mut rng()).1, 0);
        // A lower header value does lower the percentage: 0 in the header means never.
        let mut always = FaultFilter::new(&FaultConfig {
            delay: Some(DelayFault {
                source: DelaySource::Header,
                percentage: Percent::HUNDRED,
            }),
            ..FaultConfig::default()
        })
        .expect("valid");
        let lowered = req()
            .with_header(HEADER_DELAY, "40")
            .with_header(HEADER_DELAY_PERCENTAGE, "0");
        assert_eq!(count(&mut always, &lowered, 2_000, &mut rng()).0, 0);
        let unlowered = req().with_header(HEADER_DELAY, "40");
        assert_eq!(count(&mut always, &unlowered, 2_000, &mut rng()).0, 2_000);
    }

    #[test]
    fn fault_headers_are_ignored_without_header_control() {
        // Fixed faults use a constant percentage provider: the headers change nothing.
        let mut f = filter(fixed_delay(10, 100.0), http_abort(503, 100.0));
        let head = req()
            .with_header(HEADER_DELAY, "999")
            .with_header(HEADER_DELAY_PERCENTAGE, "0")
            .with_header(HEADER_ABORT, "418")
            .with_header(HEADER_ABORT_PERCENTAGE, "0");
        let d = f.decide(SimTime::ZERO, &head, &mut rng());
        assert_eq!(d.delay, Some(Duration::from_millis(10)));
        assert_eq!(d.abort, Some(Abort::Http(503)));
    }

    #[test]
    fn header_controlled_faults_need_a_valid_header() {
        // header_delay / header_abort: no (valid) header, no fault; HTTP status wins over gRPC.
        let mut f = FaultFilter::new(&FaultConfig {
            delay: Some(DelayFault {
                source: DelaySource::Header,
                percentage: Percent::HUNDRED,
            }),
            abort: Some(AbortFault {
                source: AbortSource::Header,
                percentage: Percent::HUNDRED,
            }),
            ..FaultConfig::default()
        })
        .expect("valid");
        let mut r = rng();
        let bare = f.decide(SimTime::ZERO, &req(), &mut r);
        assert!(!bare.is_fault());
        assert!(matches!(
            bare.reason,
            FaultReason::Rolled {
                delay: FaultRoll::NoValue { .. },
                abort: FaultRoll::NoValue { .. }
            }
        ));
        let bad = req()
            .with_header(HEADER_DELAY, "soon")
            .with_header(HEADER_ABORT, "700")
            .with_header(HEADER_ABORT_GRPC, "17");
        assert!(!f.decide(SimTime::ZERO, &bad, &mut r).is_fault());
        let zero = req().with_header(HEADER_DELAY, "0");
        assert_eq!(
            f.decide(SimTime::ZERO, &zero, &mut r).delay,
            None,
            "0 ms is no delay"
        );
        let both = req()
            .with_header(HEADER_DELAY, "25")
            .with_header(HEADER_ABORT, "429")
            .with_header(HEADER_ABORT_GRPC, "8");
        let d = f.decide(SimTime::ZERO, &both, &mut r);
        assert_eq!(d.delay, Some(Duration::from_millis(25)));
        assert_eq!(d.abort, Some(Abort::Http(429)));
        let grpc = req().with_header(HEADER_ABORT_GRPC, "8");
        assert_eq!(
            f.decide(SimTime::ZERO, &grpc, &mut r).abort,
            Some(Abort::Grpc(8))
        );
    }

    #[test]
    fn scope_headers_must_all_match() {
        // `headers[]`: all must match, with route-matcher semantics.
        let mut f = FaultFilter::new(&FaultConfig {
            abort: http_abort(503, 100.0),
            headers: vec![
                HeaderMatch {
                    name: "x-chaos".into(),
                    invert: false,
                    value: Some(ValueMatch::Exact("on".into())),
                },
                HeaderMatch {
                    name: "x-canary".into(),
                    invert: false,
                    value: None,
                },
            ],
            ..FaultConfig::default()
        })
        .expect("valid");
        let mut r = rng();
        let one = req().with_header("x-chaos", "on");
        let d = f.decide(SimTime::ZERO, &one, &mut r);
        assert!(!d.is_fault());
        assert!(matches!(
            d.reason,
            FaultReason::OutOfScope(Mismatch::Header(_))
        ));
        let both = one.with_header("x-canary", "1");
        assert_eq!(
            f.decide(SimTime::ZERO, &both, &mut r).abort,
            Some(Abort::Http(503))
        );
    }

    #[test]
    fn max_active_faults_skips_and_counts_overflow() {
        // At the cap the fault is skipped and counted in faults_overflow; ending one frees a slot.
        let mut f = FaultFilter::new(&FaultConfig {
            abort: http_abort(503, 100.0),
            max_active_faults: Some(2),
            ..FaultConfig::default()
        })
        .expect("valid");
        let mut r = rng();
        assert!(f.decide(SimTime::ZERO, &req(), &mut r).is_fault());
        assert!(f.decide(SimTime::ZERO, &req(), &mut r).is_fault());
        let third = f.decide(SimTime::ZERO, &req(), &mut r);
        assert!(!third.is_fault());
        assert_eq!(
            third.reason,
            FaultReason::Overflow {
                active: 2,
                max_active_faults: 2
            }
        );
        assert_eq!(f.stats().faults_overflow, 1);
        f.on_fault_end();
        assert!(f.decide(SimTime::ZERO, &req(), &mut r).is_fault());
        assert_eq!(f.stats().active_faults, 2);
        assert_eq!(f.stats().aborts_injected, 3);
        // Unlimited by default.
        let mut unlimited = filter(None, http_abort(503, 100.0));
        for _ in 0..1_000 {
            assert!(unlimited.decide(SimTime::ZERO, &req(), &mut r).is_fault());
        }
        assert_eq!(unlimited.stats().faults_overflow, 0);
    }

    #[test]
    fn percent_arithmetic_is_exact() {
        assert_eq!(pct(20.0).per_million(), 200_000);
        assert_eq!(pct(0.0001).per_million(), 1);
        assert_eq!(Percent::from_per_million(2_000_000), Percent::HUNDRED);
        assert_eq!(pct(12.5).to_string(), "12.5%");
    }

    fn percent() -> impl Strategy<Value = f64> {
        // 0 and 100 exactly, and values where the normal approximation is sound (N·p ≥ 100).
        prop_oneof![Just(0.0), Just(100.0), 0.5f64..99.5]
    }

    proptest! {
        // A fixed proptest seed: each case has a 0.1 % chance to fall outside the interval, so
        // with a random seed some run would eventually fail; fixed, the verdict is reproducible.
        #![proptest_config(ProptestConfig {
            cases: 48,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x6d65_7368),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn observed_fault_rate_is_within_binomial_interval(
            delay_p in percent(),
            abort_p in percent(),
            seed in any::<u64>(),
        ) {
            // Observed rate over N draws lies within a 99.9 % binomial interval of the
            // configured percentage: |k − Np| ≤ 3.29·√(Np(1−p)) (normal approximation).
            const N: usize = 20_000;
            let mut f = filter(fixed_delay(5, delay_p), http_abort(503, abort_p));
            let mut r = seed::stream(seed, "fault/rate");
            let (delays, aborts) = count(&mut f, &req(), N, &mut r);
            // Against the configured number itself, not the stored Percent, so a wrong
            // conversion fails here too.
            for (k, p) in [(delays, delay_p / 100.0), (aborts, abort_p / 100.0)] {
                let n = N as f64;
                let bound = 3.29 * (n * p * (1.0 - p)).sqrt();
                prop_assert!(
                    (k as f64 - n * p).abs() <= bound,
                    "observed {k} of {N}, expected {} ± {bound}", n * p
                );
            }
        }
    }

    proptest! {
        #[test]
        fn same_seed_same_decisions(seed in any::<u64>(), delay_p in 0.0f64..=100.0, abort_p in 0.0f64..=100.0) {
            // Decisions depend only on the seeded stream: two runs from one seed agree.
            let run = || {
                let mut f = FaultFilter::new(&FaultConfig {
                    delay: fixed_delay(20, delay_p),
                    abort: http_abort(503, abort_p),
                    max_active_faults: Some(3),
                    ..FaultConfig::default()
                })
                .expect("valid");
                let mut r = seed::stream(seed, "fault/determinism");
                (0..200u64)
                    .map(|i| {
                        let d = f.decide(SimTime::from_millis(i), &req(), &mut r);
                        if i % 3 == 0 {
                            f.on_fault_end();
                        }
                        d
                    })
                    .collect::<Vec<_>>()
            };
            prop_assert_eq!(run(), run());
        }
    }

    #[test]
    fn decisions_follow_the_stream() {
        // Guards the determinism property against a filter that ignores its rng: at 50 %, two
        // different streams disagree somewhere in 200 requests.
        let decide = |name: &str| {
            let mut f = filter(fixed_delay(20, 50.0), None);
            let mut r = seed::stream(1, name);
            (0..200)
                .map(|_| {
                    let d = f.decide(SimTime::ZERO, &req(), &mut r).is_fault();
                    f.on_fault_end();
                    d
                })
                .collect::<Vec<_>>()
        };
        assert_ne!(decide("a"), decide("b"));
    }
}
