//! Local rate limiting: Envoy's `local_ratelimit` HTTP filter, an extension (App Mesh has no
//! rate limiting).
//!
//! One token bucket per listener, shared by every connection (Envoy's default,
//! `local_rate_limit_per_downstream_connection: false`). The bucket starts full and gains
//! `tokens_per_fill` tokens at the end of every whole `fill_interval` since it was created, up
//! to `max_tokens`: Envoy's fill timer, computed lazily from the `now` the caller passes
//! instead of by a timer.
//!
//! Per request, as Envoy's `decodeHeaders` does: roll `filter_enabled` (a miss lets the
//! request through without touching the bucket); take a token if there is one; otherwise roll
//! `filter_enforced`: a hit answers locally with `status` (flag `RL`), a miss lets the request
//! through but counts it (shadow mode).
//!
//! Not modelled: descriptors, per-connection buckets, `stage`, gRPC `RESOURCE_EXHAUSTED`.

use std::fmt;
use std::time::Duration;

use super::fault::Percent;
use super::time::SimTime;

/// Envoy's floor on `fill_interval`: shorter intervals are rejected "to avoid too aggressive
/// refills".
pub const MIN_FILL_INTERVAL: Duration = Duration::from_millis(50);
/// The default `status`: 429 Too Many Requests.
pub const DEFAULT_STATUS: u16 = 429;
/// Access-log response flag of a rate-limited request.
pub const RESPONSE_FLAG: &str = "RL";
/// Body of Envoy's local reply.
pub const LIMITED_BODY: &str = "local_rate_limited";

/// `type.v3.TokenBucket`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    /// Capacity, and the initial fill; must be above 0.
    pub max_tokens: u32,
    /// Tokens added per interval; Envoy's default is 1, and 0 is rejected.
    pub tokens_per_fill: u32,
    /// Refill period; at least [`MIN_FILL_INTERVAL`].
    pub fill_interval: Duration,
}

impl TokenBucket {
    /// `max_tokens` with Envoy's default of one token per `fill_interval`.
    pub fn new(max_tokens: u32, fill_interval: Duration) -> TokenBucket {
        TokenBucket {
            max_tokens,
            tokens_per_fill: 1,
            fill_interval,
        }
    }
}

/// The filter's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalRateLimitConfig {
    /// The bucket.
    pub token_bucket: TokenBucket,
    /// Status of the local reply; values below 400 become 429, as in Envoy.
    pub status: u16,
    /// Share of requests the filter looks at.
    pub filter_enabled: Percent,
    /// Share of limited requests actually refused (the rest are shadow-limited).
    pub filter_enforced: Percent,
    /// Envoy's `enable_x_ratelimit_headers`: when on, a limited decision carries the time to
    /// the next refill (what `X-RateLimit-Reset` reports). Envoy sends no `Retry-After`.
    pub x_ratelimit_headers: bool,
}

impl LocalRateLimitConfig {
    /// Our scenario defaults: enabled and enforced at 100 %, status 429, no rate-limit headers.
    /// Envoy's own default for `filter_enabled` and `filter_enforced` is 0 %, which limits
    /// nothing; a scenario that writes a rate limit means it, so we default to 100 %.
    pub fn new(token_bucket: TokenBucket) -> LocalRateLimitConfig {
        LocalRateLimitConfig {
            token_bucket,
            status: DEFAULT_STATUS,
            filter_enabled: Percent::HUNDRED,
            filter_enforced: Percent::HUNDRED,
            x_ratelimit_headers: false,
        }
    }
}

/// A configuration Envoy would reject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    /// `max_tokens` must be above 0.
    #[error("token bucket max_tokens must be greater than 0")]
    ZeroMaxTokens,
    /// `tokens_per_fill` must be above 0.
    #[error("token bucket tokens_per_fill must be greater than 0")]
    ZeroTokensPerFill,
    /// `fill_interval` below 50 ms.
    #[error("token bucket fill_interval must be at least 50ms, got {0:?}")]
    FillIntervalTooShort(Duration),
    /// `status` is not an HTTP status code.
    #[error("status must be an HTTP status code (100 to 599), got {0}")]
    Status(u16),
}

/// Why a request went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowed {
    /// The `filter_enabled` roll missed: the filter did not look at the request.
    NotEnabled,
    /// A token was taken.
    Token {
        /// Tokens left in the bucket.
        remaining: u32,
    },
}

/// The filter's decision for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    /// Forward the request.
    Allowed(Allowed),
    /// Answer locally with `status` (flag `RL`, body `local_rate_limited`).
    Limited {
        /// The reply status.
        status: u16,
        /// Time to the next refill, when `x_ratelimit_headers` is on.
        retry_after: Option<Duration>,
    },
    /// The bucket was empty but the `filter_enforced` roll missed: forward the request, count
    /// it as limited.
    ShadowLimited,
}

impl RateDecision {
    /// Whether the request goes on to the upstream.
    pub fn is_forwarded(self) -> bool {
        !matches!(self, RateDecision::Limited { .. })
    }
}

impl fmt::Display for RateDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateDecision::Allowed(Allowed::NotEnabled) => {
                write!(f, "allowed: rate limit not enabled for this request")
            }
            RateDecision::Allowed(Allowed::Token { remaining }) => {
                write!(f, "allowed: took a token, {remaining} left")
            }
            RateDecision::Limited {
                status,
                retry_after: Some(d),
            } => write!(f, "limited: bucket empty, {status}, refill in {d:?}"),
            RateDecision::Limited { status, .. } => write!(f, "limited: bucket empty, {status}"),
            RateDecision::ShadowLimited => {
                write!(f, "allowed: bucket empty but not enforced (shadow)")
            }
        }
    }
}

/// Counters, named after Envoy's `local_rate_limit` stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitStats {
    /// `enabled`: requests the filter looked at.
    pub enabled: u64,
    /// `ok`: requests that took a token.
    pub ok: u64,
    /// `rate_limited`: requests that found the bucket empty (enforced or not).
    pub rate_limited: u64,
    /// `enforced`: requests refused.
    pub enforced: u64,
}

/// One listener's local rate limiter.
#[derive(Clone, Debug)]
pub struct LocalRateLimiter {
    config: LocalRateLimitConfig,
    tokens: u32,
    /// The end of the last whole interval already credited.
    last_fill: SimTime,
    stats: RateLimitStats,
}

impl LocalRateLimiter {
    /// Validates the configuration; the bucket starts full at `now`.
    pub fn new(config: LocalRateLimitConfig, now: SimTime) -> Result<Self, RateLimitError> {
        let b = config.token_bucket;
        if b.max_tokens == 0 {
            return Err(RateLimitError::ZeroMaxTokens);
        }
        if b.tokens_per_fill == 0 {
            return Err(RateLimitError::ZeroTokensPerFill);
        }
        if b.fill_interval < MIN_FILL_INTERVAL {
            return Err(RateLimitError::FillIntervalTooShort(b.fill_interval));
        }
        if !(100..=599).contains(&config.status) {
            return Err(RateLimitError::Status(config.status));
        }
        let status = if config.status < 400 {
            DEFAULT_STATUS
        } else {
            config.status
        };
        Ok(LocalRateLimiter {
            config: LocalRateLimitConfig { status, ..config },
            tokens: b.max_tokens,
            last_fill: now,
            stats: RateLimitStats::default(),
        })
    }

    /// Decides one request arriving at `now` (see the module docs for the order).
    pub fn try_acquire(&mut self, now: SimTime, rng: &mut impl rand::Rng) -> RateDecision {
        if !self.config.filter_enabled.roll(rng) {
            return RateDecision::Allowed(Allowed::NotEnabled);
        }
        self.stats.enabled += 1;
        self.refill(now);
        if self.tokens > 0 {
            self.tokens -= 1;
            self.stats.ok += 1;
            return RateDecision::Allowed(Allowed::Token {
                remaining: self.tokens,
            });
        }
        self.stats.rate_limited += 1;
        if !self.config.filter_enforced.roll(rng) {
            return RateDecision::ShadowLimited;
        }
        self.stats.enforced += 1;
        RateDecision::Limited {
            status: self.config.status,
            retry_after: self
                .config
                .x_ratelimit_headers
                .then(|| self.next_fill() - now),
        }
    }

    /// Tokens in the bucket at `now`.
    pub fn tokens(&mut self, now: SimTime) -> u32 {
        self.refill(now);
        self.tokens
    }

    /// The effective reply status (after the below-400 rule).
    pub fn status(&self) -> u16 {
        self.config.status
    }

    /// Counters.
    pub fn stats(&self) -> RateLimitStats {
        self.stats
    }

    fn next_fill(&self) -> SimTime {
        self.last_fill + self.config.token_bucket.fill_interval
    }

    /// Credits every whole interval that ended by `now`; a partial interval adds nothing.
    fn refill(&mut self, now: SimTime) {
        let b = self.config.token_bucket;
        let interval = b.fill_interval.as_nanos();
        let elapsed = now.saturating_since(self.last_fill).as_nanos();
        let fills = elapsed / interval;
        if fills == 0 {
            return;
        }
        let added = fills.saturating_mul(u128::from(b.tokens_per_fill));
        let tokens = (u128::from(self.tokens) + added).min(u128::from(b.max_tokens));
        self.tokens = u32::try_from(tokens).unwrap_or(b.max_tokens);
        let advance = u64::try_from(fills * interval).unwrap_or(u64::MAX);
        self.last_fill = self.last_fill + Duration::from_nanos(advance);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::seed;
    use proptest::prelude::*;

    fn ms(n: u64) -> SimTime {
        SimTime::from_millis(n)
    }

    fn limiter(max: u32, per_fill: u32, interval_ms: u64) -> LocalRateLimiter {
        let bucket = TokenBucket {
            max_tokens: max,
            tokens_per_fill: per_fill,
            fill_interval: Duration::from_millis(interval_ms),
        };
        LocalRateLimiter::new(LocalRateLimitConfig::new(bucket), SimTime::ZERO).expect("valid")
    }

    fn rng() -> seed::Rng {
        seed::stream(3, "ratelimit/test")
    }

    #[test]
    fn bucket_starts_full_and_refills_in_whole_intervals() {
        // max_tokens is also the initial fill; tokens_per_fill arrive at each whole interval.
        let mut l = limiter(3, 2, 100);
        let mut r = rng();
        for left in [2, 1, 0] {
            assert_eq!(
                l.try_acquire(ms(0), &mut r),
                RateDecision::Allowed(Allowed::Token { remaining: left })
            );
        }
        assert!(matches!(
            l.try_acquire(ms(0), &mut r),
            RateDecision::Limited { .. }
        ));
        // 99 ms is not a whole interval: nothing yet.
        assert!(matches!(
            l.try_acquire(ms(99), &mut r),
            RateDecision::Limited { .. }
        ));
        assert_eq!(l.tokens(ms(99)), 0);
        // At 100 ms one interval ends: +2.
        assert_eq!(l.tokens(ms(100)), 2);
        // 150 ms: still inside the second interval; the partial 50 ms is not credited and is
        // not lost either (the next fill is at 200 ms, not 250 ms).
        assert!(l.try_acquire(ms(150), &mut r).is_forwarded());
        assert_eq!(l.tokens(ms(199)), 1);
        assert_eq!(l.tokens(ms(200)), 3);
    }

    #[test]
    fn refill_is_capped_at_max_tokens() {
        // "up to max_tokens": a long idle period refills to the cap, no more.
        let mut l = limiter(4, 3, 50);
        let mut r = rng();
        for _ in 0..4 {
            assert!(l.try_acquire(ms(0), &mut r).is_forwarded());
        }
        assert_eq!(l.tokens(ms(60_000)), 4);
        for _ in 0..4 {
            assert!(l.try_acquire(ms(60_000), &mut r).is_forwarded());
        }
        assert!(!l.try_acquire(ms(60_000), &mut r).is_forwarded());
    }

    #[test]
    fn status_below_400_becomes_429() {
        // Envoy: `status` codes below 400 are replaced by 429.
        let bucket = TokenBucket::new(1, Duration::from_secs(1));
        let with = |status| {
            LocalRateLimiter::new(
                LocalRateLimitConfig {
                    status,
                    ..LocalRateLimitConfig::new(bucket)
                },
                SimTime::ZERO,
            )
        };
        assert_eq!(with(200).expect("valid").status(), 429);
        assert_eq!(with(399).expect("valid").status(), 429);
        assert_eq!(with(400).expect("valid").status(), 400);
        assert_eq!(with(503).expect("valid").status(), 503);
        assert_eq!(with(99).err(), Some(RateLimitError::Status(99)));
        let mut l = with(302).expect("valid");
        let mut r = rng();
        assert!(l.try_acquire(ms(0), &mut r).is_forwarded());
        assert_eq!(
            l.try_acquire(ms(0), &mut r),
            RateDecision::Limited {
                status: 429,
                retry_after: None
            }
        );
    }

    #[test]
    fn invalid_buckets_are_typed_errors() {
        let cfg = |max, per, ms| {
            LocalRateLimitConfig::new(TokenBucket {
                max_tokens: max,
                tokens_per_fill: per,
                fill_interval: Duration::from_millis(ms),
            })
        };
        let new = |c| LocalRateLimiter::new(c, SimTime::ZERO).err();
        assert_eq!(new(cfg(0, 1, 100)), Some(RateLimitError::ZeroMaxTokens));
        assert_eq!(new(cfg(1, 0, 100)), Some(RateLimitError::ZeroTokensPerFill));
        assert_eq!(
            new(cfg(1, 1, 49)),
            Some(RateLimitError::FillIntervalTooShort(Duration::from_millis(
                49
            )))
        );
        assert_eq!(new(cfg(1, 1, 50)), None);
    }

    #[test]
    fn retry_after_reports_the_next_refill_when_headers_are_on() {
        // enable_x_ratelimit_headers: X-RateLimit-Reset is the time to the next fill.
        let mut l = LocalRateLimiter::new(
            LocalRateLimitConfig {
                x_ratelimit_headers: true,
                ..LocalRateLimitConfig::new(TokenBucket::new(1, Duration::from_millis(1_000)))
            },
            ms(500),
        )
        .expect("valid");
        let mut r = rng();
        assert!(l.try_acquire(ms(700), &mut r).is_forwarded());
        assert_eq!(
            l.try_acquire(ms(1_200), &mut r),
            RateDecision::Limited {
                status: 429,
                retry_after: Some(Duration::from_millis(300))
            }
        );
    }

    #[test]
    fn not_enforced_is_shadow_limited_and_not_enabled_skips_the_bucket() {
        // filter_enforced 0 %: counted in rate_limited, but forwarded.
        let bucket = TokenBucket::new(1, Duration::from_secs(1));
        let mut shadow = LocalRateLimiter::new(
            LocalRateLimitConfig {
                filter_enforced: Percent::ZERO,
                ..LocalRateLimitConfig::new(bucket)
            },
            SimTime::ZERO,
        )
        .expect("valid");
        let mut r = rng();
        assert!(matches!(
            shadow.try_acquire(ms(0), &mut r),
            RateDecision::Allowed(_)
        ));
        for _ in 0..10 {
            assert_eq!(
                shadow.try_acquire(ms(0), &mut r),
                RateDecision::ShadowLimited
            );
        }
        let s = shadow.stats();
        assert_eq!(
            (s.enabled, s.ok, s.rate_limited, s.enforced),
            (11, 1, 10, 0)
        );
        // filter_enabled 0 % (Envoy's own default): nothing is limited, no token is taken.
        let mut off = LocalRateLimiter::new(
            LocalRateLimitConfig {
                filter_enabled: Percent::ZERO,
                ..LocalRateLimitConfig::new(bucket)
            },
            SimTime::ZERO,
        )
        .expect("valid");
        for _ in 0..10 {
            assert_eq!(
                off.try_acquire(ms(0), &mut r),
                RateDecision::Allowed(Allowed::NotEnabled)
            );
        }
        assert_eq!(off.tokens(ms(0)), 1);
        assert_eq!(off.stats().enabled, 0);
    }

    /// Greedy requests at the given times; returns the times of the requests that got a token.
    fn allowed_times(l: &mut LocalRateLimiter, times: &[u64]) -> Vec<u64> {
        let mut r = rng();
        times
            .iter()
            .copied()
            .filter(|&t| matches!(l.try_acquire(ms(t), &mut r), RateDecision::Allowed(_)))
            .collect()
    }

    proptest! {
        #[test]
        fn bucket_never_allows_more_than_max_tokens_plus_refills(
            max in 1u32..8,
            per_fill in 1u32..4,
            interval in 50u64..400,
            gaps in prop::collection::vec(0u64..250, 1..150),
        ) {
            // Over any window [a, b], allowed ≤ max_tokens + tokens_per_fill × (fill boundaries
            // in (a, b]), boundaries at k × fill_interval from the bucket's creation.
            let mut l = limiter(max, per_fill, interval);
            let times: Vec<u64> = gaps
                .iter()
                .scan(0u64, |t, g| {
                    *t += g;
                    Some(*t)
                })
                .collect();
            let allowed = allowed_times(&mut l, &times);
            for (i, &a) in allowed.iter().enumerate() {
                for (j, &b) in allowed.iter().enumerate().skip(i) {
                    let in_window = (j - i + 1) as u64;
                    let fills = b / interval - a / interval;
                    let bound = u64::from(max) + u64::from(per_fill) * fills;
                    prop_assert!(
                        in_window <= bound,
                        "{in_window} allowed in [{a}, {b}] ms, bound {bound}"
                    );
                }
            }
            // And the bucket is not simply refusing: the first max_tokens requests get tokens.
            prop_assert_eq!(allowed.len().min(max as usize), times.len().min(max as usize));
        }

        #[test]
        fn same_seed_same_decisions(seed in any::<u64>(), enabled in 0.0f64..=100.0, enforced in 0.0f64..=100.0) {
            // Decisions depend only on the seeded stream and the arrival times.
            let run = || {
                let mut l = LocalRateLimiter::new(
                    LocalRateLimitConfig {
                        filter_enabled: Percent::new(enabled).expect("in range"),
                        filter_enforced: Percent::new(enforced).expect("in range"),
                        ..LocalRateLimitConfig::new(TokenBucket::new(3, Duration::from_millis(100)))
                    },
                    SimTime::ZERO,
                )
                .expect("valid");
                let mut r = seed::stream(seed, "ratelimit/determinism");
                (0..300u64).map(|i| l.try_acquire(ms(i * 7), &mut r)).collect::<Vec<_>>()
            };
            prop_assert_eq!(run(), run());
        }
    }
}
