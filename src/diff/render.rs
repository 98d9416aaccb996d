//! diff.md and diff.html from a [`Diff`]: text only, no clock, so the files are as
//! deterministic as diff.json.

use std::fmt::Write as _;

use super::Diff;

fn num(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

fn signed(x: f64) -> String {
    if x > 0.0 {
        format!("+{}", num(x))
    } else {
        num(x)
    }
}

/// diff.md.
pub fn markdown(d: &Diff) -> String {
    let mut o = String::new();
    let p = &d.plan;
    let _ = writeln!(o, "# Diff: {}\n", p.scenario);
    let _ = writeln!(
        o,
        "Scenario `{}` against {} ({}): seeds {}..{} on each side, noise from the baseline with seeds {}..{}; {} of {} runs{}, backend `{}`{}.\n",
        p.path,
        p.against
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", "),
        p.against_format,
        p.first_seed,
        p.first_seed.wrapping_add(p.seeds.saturating_sub(1)),
        p.first_seed.wrapping_add(p.seeds),
        p.first_seed
            .wrapping_add(p.seeds.saturating_mul(2).saturating_sub(1)),
        d.runs_finished,
        d.runs_planned,
        if d.partial {
            " — **partial: stopped before every run finished**"
        } else {
            ""
        },
        p.mode,
        p.duration
            .as_ref()
            .map(|x| format!(", --duration {x}"))
            .unwrap_or_default()
    );
    let _ = writeln!(o, "Rule: {}.\n", d.rule);
    if d.differences.is_empty() {
        let _ = writeln!(o, "**No difference beyond the noise floor.**\n");
    } else {
        let _ = writeln!(
            o,
            "## {} difference{} beyond the noise floor\n",
            d.differences.len(),
            if d.differences.len() == 1 { "" } else { "s" }
        );
        for x in &d.differences {
            let _ = writeln!(
                o,
                "- **{}** `{}`: {} → {} (mean difference {}, noise floor {}); seed {}: {} → {}\n  - baseline: `{}`\n  - candidate: `{}`",
                x.class,
                x.metric,
                num(x.baseline),
                num(x.candidate),
                signed(x.delta),
                num(x.noise_floor),
                x.seed,
                num(x.baseline_at_seed),
                num(x.candidate_at_seed),
                x.baseline_command,
                x.candidate_command
            );
        }
        o.push('\n');
    }
    let _ = writeln!(o, "## Every metric\n");
    let _ = writeln!(
        o,
        "| class | metric | baseline | candidate | mean difference | noise floor | seeds | beyond noise |"
    );
    let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---|");
    for m in &d.metrics {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            m.class,
            m.metric,
            num(m.baseline),
            num(m.candidate),
            signed(m.delta),
            num(m.noise_floor),
            m.seeds,
            if m.differs { "**yes**" } else { "no" }
        );
    }
    let _ = writeln!(
        o,
        "\nA class is `users` (the load generator's view, end to end) or `<caller> → <virtual service>` (the caller's outbound proxy: retries are attempts beyond the first, timeouts are requests that ended in `UT`, `served % <route> → <virtual node>` is the share of its requests each route and node served). Rates are per 100 requests; latencies in ms, nearest rank."
    );
    o
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// diff.html: the markdown's content as one self-contained page.
pub fn html(d: &Diff) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Diff: {}</title>\n<style>body{{font-family:sans-serif;max-width:70em;margin:2em auto}}pre{{white-space:pre-wrap}}</style></head><body>\n<h1>Diff: {}</h1>\n<pre>{}</pre>\n</body></html>\n",
        esc(&d.plan.scenario),
        esc(&d.plan.scenario),
        esc(&markdown(d))
    )
}
