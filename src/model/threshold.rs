//! Thresholds as written (`">= 99.5%"`, `"<= 250ms"`, `"<= 10"`, `0.995`): one grammar for
//! `expect:` entries and a rollout's analysis checks (a comparison, then a value in the
//! metric's unit; a latency needs a unit), so a scenario states an SLO and a rollout check the
//! same way. `expect:` parses while deserializing; a rollout keeps the [`RawBound`] and parses
//! in its `build`, so a bad threshold is one typed error among the section's others.

use std::fmt;

use serde::de::{self, Visitor};

use crate::model::duration::{HumanDuration, parse_duration};

/// A threshold as written: text, or a bare number.
#[derive(Clone, Debug, PartialEq)]
pub enum RawBound {
    /// `">= 99%"`, `"<= 250ms"`.
    Text(String),
    /// `0.99`, `10`.
    Number(f64),
}

impl<'de> de::Deserialize<'de> for RawBound {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawBound;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a threshold like \">= 99.5%\" or \"<= 250ms\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawBound, E> {
                Ok(RawBound::Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawBound, E> {
                Ok(RawBound::Number(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawBound, E> {
                Ok(RawBound::Number(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawBound, E> {
                Ok(RawBound::Number(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

/// How an observed value must compare with the threshold's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Comparison {
    /// `>=`
    AtLeast,
    /// `<=`
    AtMost,
    /// `>`
    Above,
    /// `<`
    Below,
}

impl Comparison {
    /// The symbol shown.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::AtLeast => ">=",
            Comparison::AtMost => "<=",
            Comparison::Above => ">",
            Comparison::Below => "<",
        }
    }

    /// The comparison in words, for sentences.
    pub fn words(self) -> &'static str {
        match self {
            Comparison::AtLeast => "at least",
            Comparison::AtMost => "at most",
            Comparison::Above => "above",
            Comparison::Below => "below",
        }
    }
}

/// What a threshold bounds, which decides its unit and its default comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// Percent of requests (a floor unless told otherwise).
    Rate,
    /// Milliseconds (a ceiling).
    Latency,
    /// A count of requests (a ceiling).
    Count,
    /// Attempts per request, at least 1 (a ceiling).
    Ratio,
}

impl Quantity {
    /// Without a comparison, a success rate is a floor and the rest are ceilings.
    pub fn default_comparison(self) -> Comparison {
        match self {
            Quantity::Rate => Comparison::AtLeast,
            _ => Comparison::AtMost,
        }
    }

    /// How one is written.
    pub fn example(self) -> &'static str {
        match self {
            Quantity::Rate => "\">= 99.5%\" or 0.995",
            Quantity::Latency => "\"<= 250ms\"",
            Quantity::Count => "\"<= 10\"",
            Quantity::Ratio => "\"<= 1.5\"",
        }
    }
}

/// A checked bound, in the metric's unit: percent, milliseconds, requests, or attempts per
/// request.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Threshold {
    /// How the observed value must compare.
    pub comparison: Comparison,
    /// The bound.
    pub value: f64,
    /// As shown in reports: `>= 99%`, `<= 500ms`.
    pub text: String,
}

impl Threshold {
    /// Whether an observed value respects the bound.
    pub fn admits(&self, observed: f64) -> bool {
        match self.comparison {
            Comparison::AtLeast => observed >= self.value,
            Comparison::AtMost => observed <= self.value,
            Comparison::Above => observed > self.value,
            Comparison::Below => observed < self.value,
        }
    }

    /// Parses a bound for a quantity; the error is a sentence for the person who wrote it.
    pub fn parse(raw: &RawBound, q: Quantity) -> Result<Threshold, String> {
        match raw {
            RawBound::Text(t) => parse_text(t, q),
            RawBound::Number(v) => match q {
                Quantity::Latency => Err(format!(
                    "a latency threshold needs a unit, like \"<= {v}ms\"; a bare number could be \
                     seconds or milliseconds"
                )),
                _ => number(*v, false, q.default_comparison(), &v.to_string(), q),
            },
        }
    }
}

fn parse_text(text: &str, q: Quantity) -> Result<Threshold, String> {
    let trimmed = text.trim();
    let (comparison, rest) = split_comparison(trimmed).unwrap_or((q.default_comparison(), trimmed));
    let rest = rest.trim_start();
    if rest.is_empty() {
        return Err(format!(
            "threshold \"{text}\" has no value; write one like {}",
            q.example()
        ));
    }
    if q == Quantity::Latency {
        let d = parse_duration(rest).map_err(|e| format!("latency threshold: {e}"))?;
        let value = d.as_nanos() as f64 / 1e6;
        if value == 0.0 && matches!(comparison, Comparison::AtMost | Comparison::Below) {
            return Err(format!(
                "\"{text}\" can never hold: every request takes some time, so a latency is above \
                 0ms; write a ceiling like {}",
                q.example()
            ));
        }
        return Ok(Threshold {
            comparison,
            value,
            text: format!("{} {}", comparison.symbol(), HumanDuration(d)),
        });
    }
    let (digits, percent) = match rest.strip_suffix('%') {
        Some(n) if q == Quantity::Rate => (n.trim_end(), true),
        _ => (rest, false),
    };
    let value = digits
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            format!(
                "threshold \"{text}\" is not a comparison and a number; write one like {}",
                q.example()
            )
        })?;
    number(value, percent, comparison, text, q)
}

fn split_comparison(text: &str) -> Option<(Comparison, &str)> {
    [
        (">=", Comparison::AtLeast),
        ("<=", Comparison::AtMost),
        ("≥", Comparison::AtLeast),
        ("≤", Comparison::AtMost),
        (">", Comparison::Above),
        ("<", Comparison::Below),
    ]
    .into_iter()
    .find_map(|(symbol, c)| text.strip_prefix(symbol).map(|rest| (c, rest)))
}

fn number(
    value: f64,
    percent: bool,
    comparison: Comparison,
    text: &str,
    q: Quantity,
) -> Result<Threshold, String> {
    let value = match q {
        Quantity::Rate => {
            if percent && !(0.0..=100.0).contains(&value) {
                return Err(format!(
                    "a success rate is between 0% and 100%, got \"{text}\""
                ));
            }
            if !percent && !(0.0..=1.0).contains(&value) {
                let hint = if (1.0..=100.0).contains(&value) {
                    format!("; write \"{value}%\" for a percentage")
                } else {
                    String::new()
                };
                return Err(format!(
                    "a success rate is a fraction from 0 to 1 (or a percentage), got \"{text}\"{hint}"
                ));
            }
            let pct = if percent { value } else { value * 100.0 };
            // 0.995 × 100 is 99.49999999999999 in binary: drop the representation noise so a
            // rate written either way is the same bound.
            (pct * 1e9).round() / 1e9
        }
        Quantity::Count => {
            if value < 0.0 {
                return Err(format!("an error count is not negative, got \"{text}\""));
            }
            value
        }
        Quantity::Ratio => {
            if value < 1.0 {
                return Err(format!(
                    "retry amplification counts attempts per request, so it is at least 1; got \
                     \"{text}\""
                ));
            }
            value
        }
        Quantity::Latency => value,
    };
    if never_holds(comparison, value, q) {
        return Err(format!(
            "\"{text}\" can never hold: {}",
            match q {
                Quantity::Rate => "a success rate is from 0% to 100%",
                Quantity::Count => "a count is 0 or more",
                Quantity::Ratio => "a sidecar sends at least 1 attempt per request",
                Quantity::Latency => "a latency is above 0ms",
            }
        ));
    }
    let shown = match q {
        Quantity::Rate => format!("{}%", decimal(value, 6)),
        _ => decimal(value, 6),
    };
    Ok(Threshold {
        comparison,
        value,
        text: format!("{} {shown}", comparison.symbol()),
    })
}

/// Whether no value the quantity can take respects the bound (`> 100%`, `< 0`, `< 1`
/// attempt): such an expectation would fail every run whatever the mesh did, so it is refused
/// where it is written rather than reported as a finding.
fn never_holds(comparison: Comparison, value: f64, q: Quantity) -> bool {
    let (low, high) = match q {
        Quantity::Rate => (0.0, 100.0),
        Quantity::Count => (0.0, f64::INFINITY),
        Quantity::Ratio => (1.0, f64::INFINITY),
        Quantity::Latency => (0.0, f64::INFINITY),
    };
    match comparison {
        Comparison::AtLeast => value > high,
        Comparison::Above => value >= high,
        Comparison::AtMost => value < low,
        Comparison::Below => value <= low,
    }
}

/// `value` with at most `places` decimals, trailing zeros dropped: `99.5`, `100`, `0.25`.
pub fn decimal(value: f64, places: usize) -> String {
    let s = format!("{value:.places$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str, q: Quantity) -> Result<Threshold, String> {
        Threshold::parse(&RawBound::Text(t.into()), q)
    }

    #[test]
    fn each_quantity_reads_its_unit_and_default_direction() {
        let r = text("99%", Quantity::Rate).expect("rate");
        assert_eq!(
            (r.comparison, r.value, r.text.as_str()),
            (Comparison::AtLeast, 99.0, ">= 99%")
        );
        let r = Threshold::parse(&RawBound::Number(0.995), Quantity::Rate).expect("fraction");
        assert_eq!(r.value, 99.5);
        let l = text("<= 1.5s", Quantity::Latency).expect("latency");
        assert_eq!((l.value, l.text.as_str()), (1500.0, "<= 1.5s"));
        let c = Threshold::parse(&RawBound::Number(10.0), Quantity::Count).expect("count");
        assert_eq!((c.comparison, c.value), (Comparison::AtMost, 10.0));
        assert!(c.admits(10.0) && !c.admits(11.0));
        let a = text("< 1.5", Quantity::Ratio).expect("ratio");
        assert!(a.admits(1.4) && !a.admits(1.5));
    }

    #[test]
    fn mistakes_are_explained() {
        let e = Threshold::parse(&RawBound::Number(250.0), Quantity::Latency).expect_err("unit");
        assert!(e.contains("needs a unit"), "{e}");
        let e = text(">= 99", Quantity::Rate).expect_err("fraction");
        assert!(e.contains("\"99%\""), "{e}");
        let e = text("<= 0.5", Quantity::Ratio).expect_err("ratio");
        assert!(e.contains("at least 1"), "{e}");
        let e = text(">=", Quantity::Count).expect_err("empty");
        assert!(e.contains("no value"), "{e}");
        let e = text("<= 5 ms", Quantity::Latency).expect_err("space");
        assert!(e.contains("latency threshold"), "{e}");
    }

    #[test]
    fn bounds_no_value_can_respect_are_refused() {
        for (t, q) in [
            ("<= 0ms", Quantity::Latency),
            ("< 0s", Quantity::Latency),
            ("> 100%", Quantity::Rate),
            (">= 100.5%", Quantity::Rate),
            ("< 0%", Quantity::Rate),
            ("< 0", Quantity::Count),
            ("< 1", Quantity::Ratio),
        ] {
            let e = text(t, q).expect_err(t);
            assert!(
                e.contains("can never hold") || e.contains("between"),
                "{t}: {e}"
            );
        }
        // The edges that can hold stay valid: a perfect run, no errors, no retries.
        for (t, q) in [
            (">= 100%", Quantity::Rate),
            ("<= 0", Quantity::Count),
            ("<= 1", Quantity::Ratio),
            ("<= 1ms", Quantity::Latency),
            ("> 0ms", Quantity::Latency),
        ] {
            assert!(text(t, q).is_ok(), "{t}");
        }
    }
}
