//! `report.html`: one file a person opens from disk to see what a run did, with no network and
//! no script: inline CSS, and charts drawn by plotters' SVG backend and inlined as `<svg>`.
//!
//! The header answers "did it pass, and how do I rerun it" (scenario, seed, config hash, the
//! command, the verdict, expectations and invariants); the charts below show why. Everything
//! is derived from the report and the run's recorder in key order, numbers are printed with
//! fixed decimals, and nothing reads a clock, so one seed gives one byte sequence.

mod axis;
mod charts;
mod rollout;
mod sections;
mod series;
mod totals;

use std::fmt::Write as _;

use super::Report;
use crate::sim::RunResult;
use sections::Context;
use series::Timeline;

/// The page's style: wide enough for two 620 px charts side by side, readable when printed.
const CSS: &str = "\
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#333;margin:0 auto;\
max-width:1260px;padding:12px 10px 40px}\
h1{font-size:26px;margin:4px 0 6px}h1 .seed{color:#777;font-weight:normal;font-size:20px}\
h2{font-size:20px;border-bottom:1px solid #ddd;padding-bottom:4px;margin:26px 0 10px}\
.verdict{display:inline-block;font-weight:bold;padding:5px 12px;border-radius:4px;margin:4px 0}\
.pass{background:#e3f1df;color:#2d6a27}.fail{background:#fbe3e3;color:#a11d1e}\
.rollout{font-weight:bold;margin:6px 0}\
dl.meta{display:grid;grid-template-columns:max-content auto;gap:3px 14px;margin:8px 0}\
dl.meta dt{color:#777}dl.meta dd{margin:0}code{font-size:13px;word-break:break-all}\
table{border-collapse:collapse;margin:8px 0;font-size:14px}\
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}\
td.held{color:#2d6a27;font-weight:bold}td.failed{color:#a11d1e;font-weight:bold}\
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(600px,1fr));gap:10px}\
figure{margin:0}svg{max-width:100%;height:auto;display:block}\
.note{color:#777;font-style:italic}ul{margin:6px 0;padding-left:22px}\
details{margin:6px 0}summary{cursor:pointer;color:#555}";

/// The whole page.
pub fn page(report: &Report, run: &RunResult) -> String {
    let timeline = Timeline::new(
        run.recorder.interval().as_secs_f64(),
        report.duration_seconds,
    );
    let spans = series::fault_spans(&report.faults, &report.fault_events, timeline.end_s);
    let targets = report
        .faults
        .iter()
        .map(|f| (f.name.clone(), series::fault_nodes(f, &run.tasks)))
        .collect();
    let ctx = Context {
        timeline,
        spans,
        targets,
        rollout: report.rollout.as_ref(),
        run,
    };
    let mut out = String::with_capacity(256 * 1024);
    let title = format!("{} (seed {}): meshsim report", report.scenario, report.seed);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    header(&mut out, report);
    section(&mut out, "Latency over time", &sections::latency(&ctx));
    section(
        &mut out,
        "Traffic, errors and retries",
        &sections::traffic(&ctx),
    );
    if let Some(r) = &report.rollout {
        let mut body = rollout::section(&ctx, r);
        body.push_str(&rollout::checks_table(r));
        section(&mut out, "Rollout", &body);
    }
    section(
        &mut out,
        "Latency distribution",
        &sections::distribution(run),
    );
    section(
        &mut out,
        "Retry amplification",
        &sections::amplification(report),
    );
    section(
        &mut out,
        "Ejections and circuit breakers",
        &sections::resilience(&ctx),
    );
    section(&mut out, "Services", &services_table(report));
    out.push_str("</body>\n</html>\n");
    out
}

fn section(out: &mut String, title: &str, body: &str) {
    let _ = write!(
        out,
        "<section>\n<h2>{}</h2>\n{body}</section>\n",
        escape(title)
    );
}

/// Text made safe for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A paragraph standing in for a chart with nothing to show.
pub fn note(text: &str) -> String {
    format!("<p class=\"note\">{}</p>\n", escape(text))
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        100.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn header(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "<header>\n<h1>{} <span class=\"seed\">seed {}</span></h1>",
        escape(&r.scenario),
        r.seed
    );
    let held = r.expectations.iter().filter(|v| v.held).count();
    let violated = r.invariants.iter().filter(|i| !i.held).count();
    let (class, verdict) = match (r.expectations.len(), r.expectations_held()) {
        (0, _) => ("pass", "no expectations".to_string()),
        (n, true) => ("pass", format!("PASS: {held} of {n} expectations held")),
        (n, false) => ("fail", format!("FAIL: {held} of {n} expectations held")),
    };
    let class = if violated > 0 { "fail" } else { class };
    let _ = writeln!(out, "<p class=\"verdict {class}\">{verdict}</p>");
    if let Some(line) = r.rollout_line() {
        let _ = writeln!(out, "<p class=\"rollout\">{}</p>", escape(&line));
    }
    out.push_str("<dl class=\"meta\">\n");
    let mut meta = |name: &str, value: String| {
        let _ = writeln!(out, "<dt>{name}</dt><dd>{value}</dd>");
    };
    if let Some(c) = &r.command {
        meta("rerun", format!("<code>{}</code>", escape(c)));
    }
    if let Some(h) = &r.config_sha256 {
        meta("config sha256", format!("<code>{}</code>", escape(h)));
    }
    let q = &r.requests;
    meta(
        "users",
        format!(
            "{} requests, {} succeeded, {} failed ({:.2} % success); p50 {:.1} ms, p99 {:.1} ms",
            q.issued,
            q.succeeded,
            q.failed,
            percent(q.succeeded, q.issued),
            q.latency_ms.p50,
            q.latency_ms.p99
        ),
    );
    meta(
        "run",
        format!(
            "{} s of arrivals, last answer at {:.3} s of simulated time",
            axis::number(r.duration_seconds),
            r.simulated_seconds
        ),
    );
    out.push_str("</dl>\n</header>\n");
    if !r.expectations.is_empty() {
        let mut body = String::from(
            "<table>\n<tr><th>verdict</th><th>expectation</th><th>bound</th>\
             <th>observed</th><th>counts</th></tr>\n",
        );
        for v in &r.expectations {
            let (class, mark) = if v.held {
                ("held", "held")
            } else {
                ("failed", "FAILED")
            };
            let _ = writeln!(
                body,
                "<tr><td class=\"{class}\">{mark}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                escape(&v.name),
                escape(&v.threshold),
                escape(&v.observed_text()),
                escape(&v.detail)
            );
        }
        body.push_str("</table>\n");
        section(out, "Expectations", &body);
    }
    if !r.invariants.is_empty() {
        let mut body = String::from("<ul>\n");
        for i in &r.invariants {
            let mark = if i.held { "held" } else { "<b>VIOLATED</b>" };
            let _ = writeln!(
                body,
                "<li><code>{}</code>: {mark}. {}</li>",
                escape(&i.name),
                escape(&i.detail)
            );
        }
        body.push_str("</ul>\n");
        section(out, "Invariants", &body);
    }
    if !r.faults.is_empty() {
        let mut body = String::from("<ul>\n");
        for f in &r.faults {
            let _ = writeln!(body, "<li>{}</li>", escape(&f.describe()));
        }
        body.push_str("</ul>\n");
        if !r.fault_events.is_empty() {
            let _ = writeln!(
                body,
                "<details><summary>{} fault events</summary>\n<table>\n\
                 <tr><th>at s</th><th>what</th><th>fault</th></tr>",
                r.fault_events.len()
            );
            for e in &r.fault_events {
                let _ = writeln!(
                    body,
                    "<tr><td class=\"n\">{:.3}</td><td>{}</td><td>{}</td></tr>",
                    e.at_seconds,
                    escape(&e.what),
                    escape(&e.fault)
                );
            }
            body.push_str("</table>\n</details>\n");
        }
        section(out, "Faults", &body);
    }
}

fn services_table(r: &Report) -> String {
    let mut out = String::from(
        "<table>\n<tr><th>service (inbound)</th><th>requests</th><th>success %</th>\
         <th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th></tr>\n",
    );
    let q = &r.requests;
    let users = ("(users)", q.issued, q.succeeded, &q.latency_ms);
    let rows = std::iter::once(users).chain(
        r.services
            .iter()
            .map(|(n, s)| (n.as_str(), s.requests, s.succeeded, &s.latency_ms)),
    );
    for (name, requests, ok, l) in rows {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{requests}</td><td class=\"n\">{:.2}</td>\
             <td class=\"n\">{:.1}</td><td class=\"n\">{:.1}</td><td class=\"n\">{:.1}</td>\
             <td class=\"n\">{:.1}</td><td class=\"n\">{:.1}</td></tr>",
            escape(name),
            percent(ok, requests),
            l.p50,
            l.p90,
            l.p99,
            l.p999,
            l.max
        );
    }
    out.push_str("</table>\n");
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::Recorder;

    fn empty_run() -> RunResult {
        RunResult {
            seed: 1,
            duration: Duration::ZERO,
            simulated: Duration::ZERO,
            steps: 0,
            ledger: Default::default(),
            recorder: Recorder::new(Duration::from_secs(10)),
            tasks: Vec::new(),
            invariants: Vec::new(),
            access_log: Vec::new(),
            faults: Vec::new(),
            chaos: Vec::new(),
            traces: Default::default(),
        }
    }

    #[test]
    fn a_run_without_requests_gets_notes_instead_of_charts() {
        let run = empty_run();
        let report = Report::new("empty <run>", &run);
        let page = page(&report, &run);
        assert!(page.contains("<h1>empty &lt;run&gt; <span"), "{page}");
        assert!(page.contains("no expectations"));
        for note in [
            "no latency to chart",
            "no traffic to chart",
            "No requests: no latency distribution.",
            "No route carried requests.",
            "No outlier ejections",
        ] {
            assert!(page.contains(note), "no note {note:?}");
        }
        assert!(!page.contains("<svg"));
        assert!(!page.contains("<h2>Rollout</h2>") && !page.contains("<h2>Faults</h2>"));
        assert!(page.ends_with("</html>\n"));
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
