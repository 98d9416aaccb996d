//! Envoy's access-log response flags (`%RESPONSE_FLAGS%`): what a proxy notes about why its
//! own answer to a request is what it is.
//!
//! A line carries a *set* of flags, printed comma-separated in the fixed order of Envoy's
//! `ResponseFlagUtils::toShortString` (source/common/stream_info/utility.cc), or `-` when
//! none is set. A flag belongs to the proxy that set it: a caller's Envoy that receives an
//! upstream's 503 `UO` (its pool shed the request) logs the 503 with `-` (or `URX` if its
//! retries ran out on it); the `UO` is on the upstream's own line. Which flags the caller's
//! router sets after an exchange is [`Final::flags`](super::exchange::Final::flags).

use std::fmt;

/// One response flag. The variants are in Envoy's print order, so the derived `Ord` is the
/// order a set prints in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResponseFlag {
    /// `UH`: no healthy upstream host.
    NoHealthyUpstream,
    /// `UT`: upstream request timeout (route or per-try).
    UpstreamTimeout,
    /// `UR`: the upstream reset the stream (an HTTP/2 refused stream among others).
    UpstreamRemoteReset,
    /// `UF`: upstream connection failure.
    ConnectFailure,
    /// `UC`: upstream connection terminated.
    UpstreamReset,
    /// `UO`: a circuit breaker overflowed (a pool's, or the caller's retry breaker).
    Overflow,
    /// `NR`: no route.
    NoRoute,
    /// `DI`: the fault filter delayed the request (it went on).
    DelayInjected,
    /// `FI`: the fault filter aborted the request.
    FaultInjected,
    /// `RL`: the local rate limit filter refused the request.
    RateLimited,
    /// `URX`: retries exhausted, or the attempts the policy allows used up; set beside the
    /// flag of the last attempt's failure, never instead of it.
    RetriesExhausted,
    /// `SI`: stream idle timeout (an HTTP stream with no answer for the route's or the
    /// listener's `idle`, answered 504; a TCP pass-through connection idle for the route's
    /// `idle`, closed).
    StreamIdleTimeout,
}

impl ResponseFlag {
    /// Every flag, in Envoy's print order.
    pub const ALL: [ResponseFlag; 12] = [
        ResponseFlag::NoHealthyUpstream,
        ResponseFlag::UpstreamTimeout,
        ResponseFlag::UpstreamRemoteReset,
        ResponseFlag::ConnectFailure,
        ResponseFlag::UpstreamReset,
        ResponseFlag::Overflow,
        ResponseFlag::NoRoute,
        ResponseFlag::DelayInjected,
        ResponseFlag::FaultInjected,
        ResponseFlag::RateLimited,
        ResponseFlag::RetriesExhausted,
        ResponseFlag::StreamIdleTimeout,
    ];

    /// Envoy's short code.
    pub fn code(self) -> &'static str {
        match self {
            ResponseFlag::NoHealthyUpstream => "UH",
            ResponseFlag::UpstreamTimeout => "UT",
            ResponseFlag::UpstreamRemoteReset => "UR",
            ResponseFlag::ConnectFailure => "UF",
            ResponseFlag::UpstreamReset => "UC",
            ResponseFlag::Overflow => "UO",
            ResponseFlag::NoRoute => "NR",
            ResponseFlag::DelayInjected => "DI",
            ResponseFlag::FaultInjected => "FI",
            ResponseFlag::RateLimited => "RL",
            ResponseFlag::RetriesExhausted => "URX",
            ResponseFlag::StreamIdleTimeout => "SI",
        }
    }

    /// Parses a short code.
    pub fn from_code(code: &str) -> Option<ResponseFlag> {
        ResponseFlag::ALL.into_iter().find(|f| f.code() == code)
    }

    /// The name used for a failure reason in reports.
    pub fn reason(self) -> &'static str {
        match self {
            ResponseFlag::NoHealthyUpstream => "no_healthy_upstream",
            ResponseFlag::UpstreamTimeout => "upstream_timeout",
            ResponseFlag::UpstreamRemoteReset => "upstream_remote_reset",
            ResponseFlag::ConnectFailure => "upstream_connect_failure",
            ResponseFlag::UpstreamReset => "upstream_reset",
            ResponseFlag::Overflow => "overflow",
            ResponseFlag::NoRoute => "no_route",
            ResponseFlag::DelayInjected => "delay_injected",
            ResponseFlag::FaultInjected => "fault_injected",
            ResponseFlag::RateLimited => "rate_limited",
            ResponseFlag::RetriesExhausted => "retries_exhausted",
            ResponseFlag::StreamIdleTimeout => "stream_idle_timeout",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for ResponseFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The flags of one access-log line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResponseFlags(u16);

impl ResponseFlags {
    /// No flag (`-`).
    pub const NONE: ResponseFlags = ResponseFlags(0);

    /// Just `flag`.
    pub fn of(flag: ResponseFlag) -> ResponseFlags {
        ResponseFlags(flag.bit())
    }

    /// Sets `flag` (setting one twice is setting it once, as in Envoy's bit field).
    pub fn insert(&mut self, flag: ResponseFlag) {
        self.0 |= flag.bit();
    }

    /// With `flag` set too.
    pub fn with(mut self, flag: ResponseFlag) -> ResponseFlags {
        self.insert(flag);
        self
    }

    /// Whether `flag` is set.
    pub fn contains(self, flag: ResponseFlag) -> bool {
        self.0 & flag.bit() != 0
    }

    /// Whether no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The flags set, in print order.
    pub fn iter(self) -> impl Iterator<Item = ResponseFlag> {
        ResponseFlag::ALL
            .into_iter()
            .filter(move |f| self.contains(*f))
    }

    /// Parses Envoy's form (`UF,URX`, or `-`); `None` if any code is unknown.
    pub fn parse(text: &str) -> Option<ResponseFlags> {
        if text == "-" {
            return Some(ResponseFlags::NONE);
        }
        text.split(',').try_fold(ResponseFlags::NONE, |set, code| {
            ResponseFlag::from_code(code).map(|f| set.with(f))
        })
    }
}

impl From<ResponseFlag> for ResponseFlags {
    fn from(flag: ResponseFlag) -> ResponseFlags {
        ResponseFlags::of(flag)
    }
}

impl fmt::Display for ResponseFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        for (i, flag) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(flag.code())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_print_in_envoy_order_joined_by_commas() {
        // toShortString appends in its fixed order, whatever order the router set them in.
        let mut f = ResponseFlags::of(ResponseFlag::RetriesExhausted);
        f.insert(ResponseFlag::ConnectFailure);
        assert_eq!(f.to_string(), "UF,URX");
        let f = ResponseFlags::of(ResponseFlag::RetriesExhausted)
            .with(ResponseFlag::UpstreamReset)
            .with(ResponseFlag::UpstreamTimeout);
        assert_eq!(f.to_string(), "UT,UC,URX");
        assert_eq!(
            ResponseFlags::of(ResponseFlag::FaultInjected)
                .with(ResponseFlag::DelayInjected)
                .to_string(),
            "DI,FI"
        );
        assert_eq!(ResponseFlags::NONE.to_string(), "-");
        for text in ["-", "UF,URX", "UO", "UT,UC,URX", "DI,FI"] {
            let parsed = ResponseFlags::parse(text).expect(text);
            assert_eq!(parsed.to_string(), text);
        }
        assert_eq!(ResponseFlags::parse("UF,XX"), None);
        for f in ResponseFlag::ALL {
            assert_eq!(ResponseFlag::from_code(f.code()), Some(f));
        }
    }
}
