//! JUnit XML of a run's expectations, the format CI systems (Jenkins, GitLab, GitHub Actions
//! reporters, Azure Pipelines) read test results in.
//!
//! One `<testsuite>` named after the scenario, inside a `<testsuites>` root, with one
//! `<testcase>` per expectation and a `<failure>` in each that did not hold. The shape follows
//! the schema those tools validate against (Jenkins' `junit-10.xsd`): `testsuite` has `name`,
//! `tests`, `failures`, `errors`, `skipped` and `time`; `testcase` has `name`, `classname` and
//! `time`; `failure` has `message` and `type` and says the rest in its text.
//!
//! The file is as deterministic as report.json: the only times in it are simulated. The
//! suite's `time` is the run's simulated seconds, and each test case's the simulated seconds
//! its verdict judged: the whole run for an SLO or an invariant, the run up to the decision
//! for a rollout expectation. There is no `timestamp`: the only one that keeps the file
//! deterministic is the simulated clock's epoch (2026-01-01T00:00:00Z, which access logs
//! count from), and a CI tool would show that made-up date as when the tests ran; without
//! one, tools show when they read the file. No host name either.
//!
//! Written by hand rather than with quick-junit, the Rust crate for the format: it writes a
//! `skipped` attribute on `<testsuites>`, which Jenkins' `junit-10.xsd` does not declare, so
//! its files fail the schema `tests/cli_expect.rs` checks ours against. The document is five
//! element kinds; the one thing to get right, escaping, is below with its tests.

use std::fmt::Write as _;

use super::{Report, Verdict};

/// The `type` of a failed expectation's `<failure>`.
const FAILURE_TYPE: &str = "ExpectationFailed";

/// The JUnit XML text of a report's expectations.
pub fn junit(report: &Report) -> String {
    let tests = report.expectations.len();
    let failures = report.expectations.iter().filter(|v| !v.held).count();
    let time = format!("{:.3}", report.simulated_seconds);
    let suite = attr(&report.scenario);
    let classname = attr(&format!("meshsim.{}", report.scenario));
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"meshsim\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" \
         time=\"{time}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{suite}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" \
         skipped=\"0\" time=\"{time}\">"
    );
    out.push_str("    <properties>\n");
    for (name, value) in [
        ("seed", report.seed.to_string()),
        ("duration_seconds", report.duration_seconds.to_string()),
        ("simulated_seconds", time.clone()),
    ] {
        let _ = writeln!(
            out,
            "      <property name=\"{name}\" value=\"{}\"/>",
            attr(&value)
        );
    }
    out.push_str("    </properties>\n");
    for v in &report.expectations {
        let name = attr(&v.name);
        let time = format!("{:.3}", v.judged_seconds);
        if v.held {
            let _ = writeln!(
                out,
                "    <testcase name=\"{name}\" classname=\"{classname}\" time=\"{time}\"/>"
            );
            continue;
        }
        let _ = writeln!(
            out,
            "    <testcase name=\"{name}\" classname=\"{classname}\" time=\"{time}\">"
        );
        let _ = writeln!(
            out,
            "      <failure message=\"{}\" type=\"{FAILURE_TYPE}\">{}</failure>",
            attr(&message(v)),
            text(&body(v))
        );
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// The one line CI tools show for a failure.
fn message(v: &Verdict) -> String {
    format!("observed {}, expected {}", v.observed_text(), v.threshold)
}

/// The failure's text: the whole verdict.
fn body(v: &Verdict) -> String {
    format!(
        "{}\nthreshold: {}\nobserved: {}\n{}",
        v.description,
        v.threshold,
        v.observed_text(),
        v.detail
    )
}

/// A character XML 1.0 can carry at all; the rest (most C0 controls, lone surrogates cannot
/// occur in a `str`) become U+FFFD rather than make the file unreadable.
fn allowed(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' => c,
        c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
        c => c,
    }
}

/// Escaped for a double-quoted attribute value. Line breaks and tabs are written as character
/// references, since a parser would otherwise normalise them to spaces.
fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(allowed) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped for element text (`>` too, so that `]]>` cannot appear).
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(allowed) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::expect::evaluate;
    use crate::report::expect::tests::{recorder, report, slo};
    use crate::scenario::{Comparison, Metric, Percentile, Subject};

    #[test]
    fn one_suite_one_case_per_expectation_a_failure_for_each_that_failed() {
        let mut r = report();
        let expect = [
            slo(
                Subject::Users,
                Metric::SuccessRate,
                Comparison::AtLeast,
                99.0,
            ),
            slo(
                Subject::Service("inventory-v1".into()),
                Metric::Latency(Percentile::P99),
                Comparison::AtMost,
                10.0,
            ),
        ];
        r.expectations = evaluate(&expect, &r, &recorder());
        assert_eq!(
            junit(&r),
            r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="meshsim" tests="2" failures="1" errors="0" time="10.500">
  <testsuite name="t" tests="2" failures="1" errors="0" skipped="0" time="10.500">
    <properties>
      <property name="seed" value="1"/>
      <property name="duration_seconds" value="10"/>
      <property name="simulated_seconds" value="10.500"/>
    </properties>
    <testcase name="users success_rate &gt;= 99" classname="meshsim.t" time="10.500"/>
    <testcase name="inventory-v1 p99 &lt;= 10" classname="meshsim.t" time="10.500">
      <failure message="observed 14ms, expected &lt;= 10" type="ExpectationFailed">p99 latency of the requests inventory-v1 received (at its inbound listener) is at most 10
threshold: &lt;= 10
observed: 14ms
over 100 requests</failure>
    </testcase>
  </testsuite>
</testsuites>
"#
        );
    }

    #[test]
    fn each_case_has_the_time_its_verdict_judged() {
        let mut r = report();
        let at_least = |v| slo(Subject::Users, Metric::SuccessRate, Comparison::AtLeast, v);
        r.expectations = evaluate(&[at_least(99.0), at_least(1.0)], &r, &recorder());
        // As a rollout expectation decided at 4.25 s would have it.
        r.expectations[1].judged_seconds = 4.25;
        let xml = junit(&r);
        assert!(xml.contains(r#"success_rate &gt;= 99" classname="meshsim.t" time="10.500""#));
        assert!(xml.contains(r#"success_rate &gt;= 1" classname="meshsim.t" time="4.250""#));
        assert!(!xml.contains("timestamp"));
    }

    #[test]
    fn no_expectations_is_an_empty_suite() {
        let xml = junit(&report());
        assert!(xml.contains(r#"<testsuite name="t" tests="0" failures="0" errors="0""#));
        assert!(!xml.contains("<testcase"));
    }

    #[test]
    fn attributes_escape_markup_quotes_and_line_breaks() {
        assert_eq!(
            attr("a<b> & \"c\" 'd'\n\te"),
            "a&lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;&#10;&#9;e"
        );
        assert_eq!(attr("p99 <= 250ms"), "p99 &lt;= 250ms");
        assert_eq!(attr("bell\u{7}"), "bell\u{FFFD}");
    }

    #[test]
    fn text_escapes_markup_and_keeps_lines() {
        assert_eq!(text("x ]]> y & <z>\nw"), "x ]]&gt; y &amp; &lt;z&gt;\nw");
        assert_eq!(text("\u{0}"), "\u{FFFD}");
    }
}
