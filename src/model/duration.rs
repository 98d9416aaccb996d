//! Durations as scenario files write them: `"20ms"`, `"1.5s"`, `"1m30s"`.
//!
//! A bare number is refused: "20" could mean seconds or milliseconds, and guessing wrong makes
//! a model a thousand times off without any error. The grammar is Go's `time.ParseDuration`
//! (one or more `<decimal><unit>` segments, units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, and a
//! lone `0`) without signs, since no duration in a model can be negative.
//!
//! Arithmetic is exact in integers: `"1.5s"` is 1 500 000 000 ns, not a float rounded to it.
//! A value finer than a nanosecond, or longer than [`SimTime`](crate::engine::SimTime) can
//! reach (about 584 years), is an error rather than silently rounded or clamped.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration that deserialises from the text form (see the [module](self) docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl From<HumanDuration> for Duration {
    fn from(d: HumanDuration) -> Duration {
        d.0
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug of Duration is already the short human form ("20ms", "1.5s").
        write!(f, "{:?}", self.0)
    }
}

impl FromStr for HumanDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(HumanDuration)
    }
}

/// Why a duration text was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was written.
    #[error("a duration cannot be empty; write one like \"20ms\"")]
    Empty,
    /// A leading `-`.
    #[error("duration \"{0}\" is negative")]
    Negative(String),
    /// A number without a unit, like `"20"`.
    #[error("duration \"{0}\" has no unit; write one of ns, us, ms, s, m, h (like \"20ms\")")]
    MissingUnit(String),
    /// A unit not in the list.
    #[error("duration \"{text}\" has unknown unit \"{unit}\"; use ns, us, ms, s, m or h")]
    UnknownUnit {
        /// The whole text.
        text: String,
        /// The unit as written.
        unit: String,
    },
    /// Not a number where one was expected.
    #[error("duration \"{0}\" is not a number followed by a unit (like \"1.5s\")")]
    Syntax(String),
    /// More precision than a nanosecond.
    #[error("duration \"{0}\" is finer than a nanosecond")]
    SubNanosecond(String),
    /// Longer than simulated time reaches.
    #[error("duration \"{0}\" is longer than the simulator's clock reaches (about 584 years)")]
    TooLong(String),
}

/// Parses a duration text (see the [module](self) docs).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.starts_with('-') {
        return Err(DurationError::Negative(text.to_string()));
    }
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(text.to_string()));
        }
        let unit_nanos = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
            text: text.to_string(),
            unit: unit.to_string(),
        })?;
        total = total
            .checked_add(segment_nanos(text, number, unit_nanos)?)
            .ok_or_else(|| DurationError::TooLong(text.to_string()))?;
        rest = tail;
    }
    u64::try_from(total)
        .map(Duration::from_nanos)
        .map_err(|_| DurationError::TooLong(text.to_string()))
}

/// A duration as a scenario would write it: whole hours, minutes and seconds as `24h`,
/// `1m30s` or `10m`; anything finer in Rust's short form (`1.5s`, `20ms`). Messages about
/// long runs read better as `99999h` than as `359996400s`.
pub fn written(d: Duration) -> String {
    if d.subsec_nanos() != 0 || d.is_zero() {
        return format!("{d:?}");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        // U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU, as Go accepts both.
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// `number` (digits, optionally a `.` and more digits) times `unit` nanoseconds, exactly.
fn segment_nanos(text: &str, number: &str, unit: u128) -> Result<u128, DurationError> {
    let syntax = || DurationError::Syntax(text.to_string());
    let too_long = || DurationError::TooLong(text.to_string());
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(syntax());
    }
    let mut nanos: u128 = 0;
    for d in whole.bytes() {
        nanos = nanos
            .checked_mul(10)
            .and_then(|n| n.checked_add(u128::from(d - b'0')))
            .ok_or_else(too_long)?;
    }
    nanos = nanos.checked_mul(unit).ok_or_else(too_long)?;
    // Trailing zeros add no precision. What is left, if longer than 12 digits, cannot be a
    // whole number of nanoseconds of any unit (the largest, 1 h, is 2^12·3^2·5^11 ns).
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > 12 {
        return Err(DurationError::SubNanosecond(text.to_string()));
    }
    let mut numerator: u128 = 0;
    for d in fraction.bytes() {
        numerator = numerator * 10 + u128::from(d - b'0');
    }
    let denominator = 10u128.pow(u32::try_from(fraction.len()).unwrap_or(12));
    let scaled = numerator * unit;
    if !scaled.is_multiple_of(denominator) {
        return Err(DurationError::SubNanosecond(text.to_string()));
    }
    nanos.checked_add(scaled / denominator).ok_or_else(too_long)
}

impl<'de> serde::Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl serde::de::Visitor<'_> for TextVisitor {
    type Value = HumanDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration with a unit, like \"20ms\" or \"1.5s\"")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HumanDuration, E> {
        v.parse().map_err(E::custom)
    }
}

/// `deserialize_with` for an optional duration field (use with `#[serde(default)]`).
pub fn deserialize_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    <Option<HumanDuration> as serde::Deserialize>::deserialize(d).map(|o| o.map(HumanDuration::get))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_reads_back_as_the_same_duration() {
        for (d, text) in [
            (Duration::from_secs(359_996_400), "99999h"),
            (Duration::from_secs(86_400), "24h"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3_601), "1h1s"),
            (Duration::from_millis(1_500), "1.5s"),
            (Duration::from_millis(20), "20ms"),
            (Duration::ZERO, "0ns"),
        ] {
            assert_eq!(written(d), text);
            assert_eq!(parse_duration(text), Ok(d));
        }
    }

    fn ok(text: &str) -> Duration {
        parse_duration(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn units_and_fractions_are_exact() {
        // Every unit, decimal fractions in exact integer nanoseconds, compound segments.
        assert_eq!(ok("20ms"), Duration::from_millis(20));
        assert_eq!(ok("1.5s"), Duration::from_millis(1_500));
        assert_eq!(ok("250us"), Duration::from_micros(250));
        assert_eq!(ok("250µs"), Duration::from_micros(250));
        assert_eq!(ok("7ns"), Duration::from_nanos(7));
        assert_eq!(ok("2m"), Duration::from_secs(120));
        assert_eq!(ok("1h"), Duration::from_secs(3_600));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("1h0.5m"), Duration::from_secs(3_630));
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("0.000000001s"), Duration::from_nanos(1));
        assert_eq!(ok("1.250000000000000000000s"), Duration::from_millis(1_250));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("0s"), Duration::ZERO);
        // 0.1 s is not a binary fraction: exact integers give exactly 100 ms.
        assert_eq!(ok("0.1s").as_nanos(), 100_000_000);
    }

    #[test]
    fn bad_texts_are_typed_errors() {
        let err = |t: &str| parse_duration(t).expect_err(t);
        assert_eq!(err(""), DurationError::Empty);
        assert_eq!(err("-5ms"), DurationError::Negative("-5ms".into()));
        assert_eq!(err("20"), DurationError::MissingUnit("20".into()));
        assert_eq!(err("1s20"), DurationError::MissingUnit("1s20".into()));
        assert_eq!(
            err("20 ms"),
            DurationError::UnknownUnit {
                text: "20 ms".into(),
                unit: " ms".into()
            }
        );
        assert!(matches!(err("3d"), DurationError::UnknownUnit { unit, .. } if unit == "d"));
        assert_eq!(err("ms"), DurationError::Syntax("ms".into()));
        assert_eq!(err("1.2.3s"), DurationError::Syntax("1.2.3s".into()));
        assert_eq!(err(".s"), DurationError::Syntax(".s".into()));
        assert_eq!(err("1.5ns"), DurationError::SubNanosecond("1.5ns".into()));
        assert_eq!(
            err("0.0000000001s"),
            DurationError::SubNanosecond("0.0000000001s".into())
        );
        assert_eq!(
            err("6000000h"),
            DurationError::TooLong("6000000h".into()),
            "584 years is about 5.1 million hours"
        );
        assert!(matches!(
            err("99999999999999999999999999999999999999999h"),
            DurationError::TooLong(_)
        ));
    }

    #[test]
    fn deserialises_from_text_only() {
        // A string parses; a bare number is refused (its unit would be a guess).
        let d: HumanDuration = serde_json::from_str("\"1.5s\"").expect("text");
        assert_eq!(d.get(), Duration::from_millis(1_500));
        assert_eq!(d.to_string(), "1.5s");
        let e = serde_json::from_str::<HumanDuration>("20").expect_err("number");
        assert!(e.to_string().contains("a duration with a unit"), "{e}");
        let e = serde_json::from_str::<HumanDuration>("\"-1s\"").expect_err("negative");
        assert!(e.to_string().contains("negative"), "{e}");
    }
}
