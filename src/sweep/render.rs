//! sweep.md and sweep.html from a [`Sweep`]: text only, no clock, so the files are as
//! deterministic as sweep.json.

use std::fmt::Write as _;

use super::stats::{Share, Spread};
use super::{Decision, Sweep};

fn pct(s: &Share) -> String {
    format!(
        "{:.1} % ({}/{}; 95 % CI {:.1}–{:.1} %)",
        s.share * 100.0,
        s.count,
        s.of,
        s.low * 100.0,
        s.high * 100.0
    )
}

fn spread(s: &Option<Spread>, unit: &str, decimals: usize) -> String {
    match s {
        None => "–".into(),
        Some(s) => format!(
            "min {:.d$}, p5 {:.d$}, median {:.d$}, p95 {:.d$}, max {:.d$} {unit} (mean {:.d$}, {} runs)",
            s.min,
            s.p5,
            s.p50,
            s.p95,
            s.max,
            s.mean,
            s.runs,
            d = decimals
        ),
    }
}

fn judge_label(j: &str) -> &'static str {
    match j {
        "thresholds" => "rollout's own analysis (thresholds)",
        "mann_whitney" => "Mann–Whitney judge (shadow)",
        _ => "sequential test, α = 5 % (shadow)",
    }
}

/// sweep.md.
pub fn markdown(s: &Sweep) -> String {
    let mut o = String::new();
    let p = &s.plan;
    let _ = writeln!(o, "# Sweep: {}\n", p.scenario);
    let _ = writeln!(
        o,
        "{} of {} runs{}; seeds {}..{} ({} per value), backend `{}`{}.\n",
        s.runs_finished,
        s.runs_planned,
        if s.partial {
            " — **partial: stopped before every run finished**"
        } else {
            ""
        },
        p.first_seed,
        p.first_seed.wrapping_add(p.seeds.saturating_sub(1)),
        p.seeds,
        p.mode,
        p.duration
            .as_ref()
            .map(|d| format!(", duration {d}"))
            .unwrap_or_default()
    );
    if let Some(v) = &p.vary {
        let _ = writeln!(o, "Varied: `{}`.\n", v.spec);
        let _ = writeln!(
            o,
            "## Operating characteristic\n\n| {} | runs | P(promoted) | P(rolled back) | undecided |\n|---|---|---|---|---|",
            v.path
        );
        for pt in &s.points {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                pt.value.as_deref().unwrap_or(""),
                pt.runs,
                pct(&pt.decisions.promoted),
                pct(&pt.decisions.rolled_back),
                pct(&pt.decisions.undecided)
            );
        }
        o.push('\n');
    }
    if !s.judges.is_empty() {
        let right = s.judges[0].right;
        let (what, why) = match right {
            Decision::RolledBack => (
                "false promotion (bad candidate promoted)",
                "the scenario expects a rollback",
            ),
            _ => (
                "false rollback (good candidate rolled back)",
                "the scenario expects a promotion",
            ),
        };
        let _ = writeln!(
            o,
            "## Judges compared\n\nOn the same runs; {why}, so a wrong decision is a {what}.\n\n| judge | {what} |\n|---|---|"
        );
        for j in &s.judges {
            let share = j.false_promotion.as_ref().or(j.false_rollback.as_ref());
            let _ = writeln!(
                o,
                "| {} | {} |",
                judge_label(&j.judge),
                share.map(pct).unwrap_or_default()
            );
        }
        o.push('\n');
    }
    for pt in &s.points {
        match &pt.value {
            Some(v) => {
                let _ = writeln!(
                    o,
                    "## {} = {v}\n",
                    p.vary.as_ref().map_or("", |x| x.path.as_str())
                );
            }
            None => o.push_str("## Results\n\n"),
        }
        let _ = writeln!(o, "| decision | share of runs |\n|---|---|");
        let d = &pt.decisions;
        for (name, sh) in [
            ("promoted", &d.promoted),
            ("rolled back", &d.rolled_back),
            ("undecided", &d.undecided),
        ] {
            let _ = writeln!(o, "| {name} | {} |", pct(sh));
        }
        let _ = writeln!(
            o,
            "\nTime to decision: {}.\n",
            spread(&pt.time_to_decision_s, "s", 0)
        );
        if !pt.expectations.is_empty() {
            let _ = writeln!(o, "| expectation | held in |\n|---|---|");
            for e in &pt.expectations {
                let _ = writeln!(o, "| {} | {} |", e.name, pct(&e.held));
            }
            o.push('\n');
        }
        let _ = writeln!(
            o,
            "Users' success rate: {}.\n",
            spread(&pt.users_success_rate, "%", 3)
        );
        let _ = writeln!(o, "Users' p99: {}.\n", spread(&pt.users_p99_ms, "ms", 1));
        let _ = writeln!(
            o,
            "| judge | promoted | rolled back | undecided | time to decision |\n|---|---|---|---|---|"
        );
        for j in &pt.judges {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                judge_label(&j.judge),
                pct(&j.decisions.promoted),
                pct(&j.decisions.rolled_back),
                pct(&j.decisions.undecided),
                j.time_to_decision_s
                    .as_ref()
                    .map(|t| format!("median {:.0} s", t.p50))
                    .unwrap_or("–".into())
            );
        }
        if !pt.worst.is_empty() {
            let _ = writeln!(o, "\nWorst runs:\n");
            for w in &pt.worst {
                let failed = if w.failed.is_empty() {
                    "all expectations held".to_string()
                } else {
                    format!("failed: {}", w.failed.join("; "))
                };
                let _ = writeln!(
                    o,
                    "- seed {}: {}, users {:.3} % ok, p99 {:.1} ms, {failed}\n  `{}`",
                    w.seed,
                    w.decision.as_str(),
                    w.users_success_rate,
                    w.users_p99_ms,
                    w.command
                );
            }
        }
        o.push('\n');
    }
    o.push_str("Shadow judges read the same access-log lines as the rollout but do not steer it; one that had not detected a regression when the rollout decided is counted as promoting (docs/SWEEPS.md).\n");
    o
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// sweep.html: the markdown's content as a page, and with `--vary` the operating
/// characteristic drawn as SVG (P(promoted) per value, with its Wilson interval).
pub fn html(s: &Sweep) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Sweep: {}</title>\n<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}pre{{white-space:pre-wrap}}</style></head><body>\n<h1>Sweep: {}</h1>\n",
        esc(&s.plan.scenario),
        esc(&s.plan.scenario)
    );
    if let Some(v) = &s.plan.vary {
        o.push_str(&oc_svg(s, &v.path));
    }
    let _ = write!(o, "<pre>{}</pre>\n</body></html>\n", esc(&markdown(s)));
    o
}

/// The operating characteristic: x the varied value (by index, labelled), y P(promoted).
fn oc_svg(s: &Sweep, path: &str) -> String {
    let (w, h, left, bottom, top, right) = (640.0, 360.0, 60.0, 50.0, 20.0, 20.0);
    let n = s.points.len().max(1);
    let x = |i: usize| {
        if n == 1 {
            left + (w - left - right) / 2.0
        } else {
            left + (w - left - right) * i as f64 / (n - 1) as f64
        }
    };
    let y = |p: f64| top + (h - top - bottom) * (1.0 - p);
    let mut o = format!(
        "<h2>Operating characteristic</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"P(promoted) against {}\">\n",
        esc(path)
    );
    for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = writeln!(
            o,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{:.0} %</text>",
            w - right,
            y(t),
            y(t),
            left - 6.0,
            y(t) + 4.0,
            t * 100.0
        );
    }
    let mut line = String::new();
    for (i, pt) in s.points.iter().enumerate() {
        let d = &pt.decisions.promoted;
        let _ = writeln!(
            o,
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#888\"/><circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"#1f77b4\"><title>{} = {}: {:.1} % promoted ({}/{}), 95 % CI {:.1}–{:.1} %</title></circle>",
            x(i),
            x(i),
            y(d.low),
            y(d.high),
            x(i),
            y(d.share),
            esc(path),
            esc(pt.value.as_deref().unwrap_or("")),
            d.share * 100.0,
            d.count,
            d.of,
            d.low * 100.0,
            d.high * 100.0
        );
        let _ = write!(
            line,
            "{}{:.1},{:.1}",
            if i == 0 { "" } else { " " },
            x(i),
            y(d.share)
        );
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            x(i),
            h - bottom + 16.0,
            esc(pt.value.as_deref().unwrap_or(""))
        );
    }
    let _ = writeln!(
        o,
        "<polyline points=\"{line}\" fill=\"none\" stroke=\"#1f77b4\"/>"
    );
    let _ = writeln!(
        o,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">{}</text><text x=\"14\" y=\"{:.1}\" font-size=\"12\" transform=\"rotate(-90 14 {:.1})\" text-anchor=\"middle\">P(promoted), 95 % Wilson interval</text>\n</svg>",
        (left + w - right) / 2.0,
        h - 12.0,
        esc(path),
        h / 2.0,
        h / 2.0
    );
    o
}
