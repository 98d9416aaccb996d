//! The page's charts: each section's data from [`series`] laid out as [`Chart`]s. A fault's
//! windows are shaded, and named, on the latency charts of the nodes it acts on (Jepsen's way
//! of showing what the nemesis was doing while the numbers moved), not on every chart: a
//! fault on one canary task says nothing about the other services' charts. The latency
//! charts also carry the rollout's steps, decision and scale-downs.

use std::collections::{BTreeMap, BTreeSet};

use plotters::style::RGBColor;

use super::axis::{nice_above, nice_below, number};
use super::charts::{Axis, Chart, Mark, Scale, Stroke, Ticks, draw, palette};
use super::rollout::decisions;
use super::series::{self, Series, Span, Timeline};
use super::totals;
use super::{escape, note};
use crate::report::Report;
use crate::rollout::RolloutReport;
use crate::rollout::timeline::ChangeRecord;
use crate::sim::RunResult;

/// A chart in a two-column grid.
pub const HALF: (u32, u32) = (620, 320);
/// A chart across the page.
const FULL: (u32, u32) = (1250, 400);

/// Everything the charts over time share.
pub struct Context<'a> {
    /// The time axis.
    pub timeline: Timeline,
    /// Fault windows to shade.
    pub spans: Vec<Span>,
    /// The virtual nodes each fault acts on, by fault name.
    pub targets: BTreeMap<String, BTreeSet<String>>,
    /// The rollout rehearsed, if any.
    pub rollout: Option<&'a RolloutReport>,
    /// The run.
    pub run: &'a RunResult,
}

impl Context<'_> {
    fn time_axis(&self) -> Axis {
        Axis {
            desc: "time (s)".into(),
            lo: 0.0,
            hi: self.timeline.end_s,
            scale: Scale::Linear,
            ticks: Ticks::Auto,
        }
    }

    /// A chart over time: the windows of the faults that act on one of `nodes` shaded first
    /// (each fault named on its first span), then `marks`.
    pub fn over_time(
        &self,
        title: String,
        size: (u32, u32),
        y: Axis,
        marks: Vec<Mark>,
        nodes: &[String],
    ) -> Chart {
        let mut named: BTreeSet<&str> = BTreeSet::new();
        let mut all: Vec<Mark> = Vec::new();
        for s in &self.spans {
            let acts_here = self
                .targets
                .get(&s.fault)
                .is_some_and(|t| nodes.iter().any(|n| t.contains(n)));
            if !acts_here {
                continue;
            }
            let first = named.insert(s.fault.as_str());
            all.push(Mark::Shade {
                from: s.from_s,
                to: s.to_s,
                label: (named.len() == 1 && first).then(|| "fault in force".to_string()),
                caption: first.then(|| s.fault.clone()),
            });
        }
        all.extend(marks);
        Chart {
            title,
            size,
            x: self.time_axis(),
            y,
            marks: all,
            legend: true,
        }
    }

    /// One line per series, each in its palette colour, in strokes that keep series with
    /// the same values apart.
    fn lines(&self, series: &[Series], width: u32) -> Vec<Mark> {
        let strokes = strokes(series, width);
        series
            .iter()
            .zip(strokes)
            .enumerate()
            .flat_map(|(i, (s, (stroke, w)))| stretches(s, &self.timeline, palette(i), w, stroke))
            .collect()
    }

    /// The rollout's weight changes, detection, decision and scale-downs, as rules.
    fn rollout_rules(&self) -> Vec<Mark> {
        let Some(r) = self.rollout else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut before: Option<&ChangeRecord> = None;
        for c in &r.changes {
            let label = step_label(before, c);
            before = Some(c);
            // The change a decision makes is the decision's own rule.
            if r.decided_at_s.is_some_and(|d| (d - c.at_s).abs() < 1e-9) {
                continue;
            }
            out.push(Mark::Rule {
                at: c.at_s,
                label,
                color: STEP,
                width: 1,
            });
        }
        for s in &r.scale_downs {
            out.push(Mark::Rule {
                at: s.at_s,
                label: format!("{} scaled down", s.node),
                color: STEP,
                width: 1,
            });
        }
        out.extend(decisions(r));
        out
    }
}

/// A weight change's caption: what changed since the change `before` it, the candidate's
/// weight (`25%`), else the mirrored share, the preview or the A/B match.
fn step_label(before: Option<&ChangeRecord>, c: &ChangeRecord) -> String {
    match before {
        Some(b) if b.weights.candidate == c.weights.candidate => {
            if b.mirror_percent != c.mirror_percent {
                format!("mirror {}%", c.mirror_percent)
            } else if b.preview != c.preview {
                if c.preview { "preview" } else { "no preview" }.to_string()
            } else {
                "A/B match".to_string()
            }
        }
        _ => format!("{}%", c.weights.candidate),
    }
}

/// Rollout steps and scale-downs: a quiet grey beside the decision's colours.
const STEP: RGBColor = RGBColor(120, 120, 120);

fn stretches(s: &Series, t: &Timeline, color: RGBColor, width: u32, stroke: Stroke) -> Vec<Mark> {
    s.stretches(t)
        .into_iter()
        .enumerate()
        .map(|(i, points)| Mark::Line {
            label: (i == 0).then(|| s.label.clone()),
            color,
            width,
            stroke,
            points,
        })
        .collect()
}

/// Each series' stroke and width. Series drawn on top of one with (nearly) the same values
/// would hide it (the users, the ingress gateway and the UI all carry the same requests per
/// second): each takes the first of solid, dashed and dotted that no earlier series it
/// overlaps has, and a series that a later one overlaps is drawn wider, so it shows on both
/// sides of the one above it.
fn strokes(series: &[Series], width: u32) -> Vec<(Stroke, u32)> {
    const ORDER: [Stroke; 3] = [Stroke::Solid, Stroke::Dashed, Stroke::Dotted];
    let mut chosen: Vec<Stroke> = Vec::with_capacity(series.len());
    for (i, s) in series.iter().enumerate() {
        let taken: Vec<Stroke> = (0..i)
            .filter(|j| overlaps(&series[*j], s))
            .map(|j| chosen[j])
            .collect();
        let free = ORDER.iter().copied().find(|k| !taken.contains(k));
        chosen.push(free.unwrap_or(Stroke::Dotted));
    }
    chosen
        .iter()
        .enumerate()
        .map(|(i, stroke)| {
            let under = (i + 1..series.len()).any(|j| overlaps(&series[i], &series[j]));
            let w = match (stroke, under) {
                (Stroke::Solid, true) => width * 3,
                (Stroke::Dashed, true) | (Stroke::Dotted, _) => width + 1,
                _ => width,
            };
            (*stroke, w)
        })
        .collect()
}

/// Whether two series would draw (nearly) the same line: within 3 % of each other in at
/// least four of five windows both have values in.
fn overlaps(a: &Series, b: &Series) -> bool {
    let mut both = 0;
    let mut close = 0;
    for (w, va) in &a.values {
        if let Some(vb) = b.values.get(w) {
            both += 1;
            if (va - vb).abs() <= 0.03 * va.abs().max(vb.abs()) {
                close += 1;
            }
        }
    }
    both > 0 && close * 5 >= both * 4
}

/// A linear axis from 0, a little above the largest value.
fn count_axis(desc: &str, max: f64) -> Axis {
    Axis {
        desc: desc.into(),
        lo: 0.0,
        hi: if max > 0.0 { max * 1.1 } else { 1.0 },
        scale: Scale::Linear,
        ticks: Ticks::Auto,
    }
}

/// Halfway to white: a version's p50 beside its p99.
fn pale(c: RGBColor) -> RGBColor {
    let mix = |v: u8| ((u16::from(v) + 255) / 2) as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// An `<svg>` in a `<figure>`, or a note saying why there is none.
pub fn figure(chart: &Chart) -> String {
    match draw(chart) {
        Ok(svg) => format!("<figure>\n{svg}</figure>\n"),
        Err(e) => note(&e.to_string()),
    }
}

/// p50 and p99 over time: one chart for the users, then one per service with a pair of lines
/// per version.
pub fn latency(ctx: &Context) -> String {
    let services = series::latency_by_service(&ctx.run.recorder, &ctx.timeline);
    if services.is_empty() {
        return note("No requests ended during the arrivals: no latency to chart.");
    }
    let mut out = String::from("<div class=\"grid\">\n");
    for s in &services {
        let all = s.versions.iter().flatten();
        let max = all.clone().map(Series::max).fold(0.0, f64::max);
        let min = all
            .flat_map(|x| x.values.values().copied())
            .fold(f64::INFINITY, f64::min);
        let rules = ctx.rollout_rules();
        // Room above the lines for the rules' captions (log scale: a factor, not a margin).
        let headroom = if rules.is_empty() { 1.2 } else { 3.0 };
        let y = Axis {
            desc: "latency (ms, log)".into(),
            lo: nice_below((min / 1.2).max(0.01)),
            hi: nice_above((max * headroom).max(1.0)),
            scale: Scale::Log10,
            ticks: Ticks::Auto,
        };
        let mut marks = Vec::new();
        for (i, [p50, p99]) in s.versions.iter().enumerate() {
            marks.extend(stretches(p99, &ctx.timeline, palette(i), 2, Stroke::Solid));
            marks.extend(stretches(
                p50,
                &ctx.timeline,
                pale(palette(i)),
                2,
                Stroke::Solid,
            ));
        }
        marks.extend(rules);
        let whom = if s.service == "users" {
            "users, as they saw it".to_string()
        } else {
            format!("{}, at its sidecars' inbound listeners", s.service)
        };
        let title = format!("Latency, p50 and p99: {whom}");
        out.push_str(&figure(&ctx.over_time(title, HALF, y, marks, &s.nodes)));
    }
    out.push_str("</div>\n");
    out
}

/// Request rate, errors and retries over time, and resilience events per window.
pub fn traffic(ctx: &Context) -> String {
    let mut out = String::from("<div class=\"grid\">\n");
    let rates = series::request_rates(&ctx.run.recorder, &ctx.timeline);
    if rates.is_empty() {
        return note("No requests ended during the arrivals: no traffic to chart.");
    }
    let max = rates.iter().map(Series::max).fold(0.0, f64::max);
    let chart = ctx.over_time(
        "Requests per second: users and each virtual node".into(),
        HALF,
        count_axis("requests per second", max),
        ctx.lines(&rates, 2),
        &[],
    );
    out.push_str(&figure(&chart));
    let errors = series::errors_and_retries(&ctx.run.recorder, &ctx.timeline);
    if errors.is_empty() {
        out.push_str(&note("No failed requests and no retries."));
    } else {
        let max = errors.iter().map(Series::max).fold(0.0, f64::max);
        let chart = ctx.over_time(
            "Errors and retries per second: users and each virtual node".into(),
            HALF,
            count_axis("per second", max),
            ctx.lines(&errors, 2),
            &[],
        );
        out.push_str(&figure(&chart));
    }
    out.push_str("</div>\n");
    out
}

/// Ejections, breaker overflows and trips, rate limiting: counts per window.
pub fn resilience(ctx: &Context) -> String {
    let events = series::resilience_events(&ctx.run.recorder, &ctx.timeline);
    if events.is_empty() {
        return note(
            "No outlier ejections, circuit-breaker overflows, failure-accrual trips or \
             rate-limited requests in this run.",
        );
    }
    let max = events.iter().map(Series::max).fold(0.0, f64::max);
    let desc = format!("events per {} s window", number(ctx.timeline.width_s));
    let chart = ctx.over_time(
        "Ejections, overflows, breaker trips and rate limiting: each proxy".into(),
        FULL,
        // At least 0 to 5, so a handful of events gets whole-number ticks.
        count_axis(&desc, max.max(4.6)),
        ctx.lines(&events, 2),
        &[],
    );
    figure(&chart)
}

/// HdrHistogram's percentile plot of every version's totals.
pub fn distribution(run: &RunResult) -> String {
    let curves: Vec<(String, Vec<(f64, f64)>)> =
        totals::distributions(&run.recorder, &run.ledger.latencies)
            .into_iter()
            .map(|(name, lat)| (name, totals::percentile_curve(&lat)))
            .filter(|(_, c)| !c.is_empty())
            .collect();
    if curves.is_empty() {
        return note("No requests: no latency distribution.");
    }
    let widest = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let nines = widest.log10().ceil().clamp(2.0, 7.0);
    let max = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let marks = curves
        .into_iter()
        .enumerate()
        .map(|(i, (name, points))| Mark::Line {
            label: Some(name),
            color: palette(i),
            width: 2,
            stroke: Stroke::Solid,
            points,
        })
        .collect();
    figure(&Chart {
        title: "Latency by percentile: each version (HdrHistogram)".into(),
        size: FULL,
        x: Axis {
            desc: "percentile (log scale of 1/(1-percentile))".into(),
            lo: 1.0,
            hi: 10f64.powf(nines),
            scale: Scale::Log10,
            ticks: Ticks::Percentiles,
        },
        y: Axis {
            desc: "latency (ms)".into(),
            lo: 0.0,
            hi: (max * 1.1).max(0.01),
            scale: Scale::Linear,
            ticks: Ticks::Auto,
        },
        marks,
        legend: true,
    })
}

/// Attempts per request on each hop, as bars from 1 (no retries), and as a table.
pub fn amplification(report: &Report) -> String {
    let hops = totals::retry_amplification(&report.routes);
    if hops.is_empty() {
        return note("No route carried requests.");
    }
    let max = hops.iter().map(|h| h.amplification()).fold(1.0, f64::max);
    // Whole names, however long: the chart is as wide as the page.
    let names: Vec<String> = hops.iter().map(|h| h.hop.clone()).collect();
    let marks = hops
        .iter()
        .enumerate()
        .map(|(i, h)| Mark::Bar {
            band: i,
            from: 1.0,
            to: h.amplification(),
            color: palette(0),
            text: format!("{:.3}×", h.amplification()),
        })
        .collect();
    let height = 110 + 46 * hops.len() as u32;
    let mut out = figure(&Chart {
        title: "Retry amplification: attempts per request on each hop".into(),
        size: (FULL.0, height),
        x: Axis {
            desc: "attempts per request (1 = no retries)".into(),
            lo: 1.0,
            hi: 1.0 + ((max - 1.0) * 1.25).max(0.1),
            scale: Scale::Linear,
            ticks: Ticks::Auto,
        },
        y: Axis {
            desc: String::new(),
            lo: 0.0,
            hi: hops.len() as f64,
            scale: Scale::Linear,
            ticks: Ticks::Categories(names),
        },
        marks,
        legend: false,
    });
    out.push_str(
        "<table>\n<tr><th>hop (caller → virtual service/route)</th><th>requests</th>\
         <th>attempts</th><th>attempts per request</th></tr>\n",
    );
    for h in &hops {
        out.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.3}</td></tr>\n",
            escape(&h.hop),
            h.requests,
            h.attempts,
            h.amplification()
        ));
    }
    out.push_str("</table>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64]) -> Series {
        Series {
            label: String::new(),
            values: values
                .iter()
                .copied()
                .enumerate()
                .map(|(w, v)| (w as u64, v))
                .collect(),
        }
    }

    #[test]
    fn series_with_the_same_values_get_strokes_that_keep_each_visible() {
        let users = series(&[100.0, 101.0, 99.0, 100.0]);
        let ingress = series(&[100.0, 101.0, 99.0, 100.0]);
        let order = series(&[20.0, 21.0, 19.0, 20.0]);
        let ui = series(&[99.0, 100.0, 100.0, 101.0]);
        assert_eq!(
            strokes(&[users, ingress, order, ui], 2),
            [
                // Under two others: wide, so it shows on both sides of them.
                (Stroke::Solid, 6),
                (Stroke::Dashed, 3),
                // Alone at its values: a plain line.
                (Stroke::Solid, 2),
                (Stroke::Dotted, 3),
            ]
        );
    }

    #[test]
    fn a_step_is_captioned_with_what_it_changed() {
        let change = |candidate: u32, mirror_percent: u32, preview: bool| ChangeRecord {
            at_s: 0.0,
            weights: crate::rollout::Weights {
                stable: 100 - candidate,
                candidate,
                baseline: 0,
            },
            header_route: None,
            mirror_percent,
            preview,
        };
        let (first, more) = (change(10, 0, false), change(25, 0, false));
        assert_eq!(step_label(None, &first), "10%");
        assert_eq!(step_label(Some(&first), &more), "25%");
        let mirrored = change(25, 50, false);
        assert_eq!(step_label(Some(&more), &mirrored), "mirror 50%");
        let preview = change(25, 50, true);
        assert_eq!(step_label(Some(&mirrored), &preview), "preview");
        assert_eq!(step_label(Some(&preview), &preview), "A/B match");
    }

    #[test]
    fn pale_is_halfway_to_white() {
        assert_eq!(pale(RGBColor(1, 255, 101)), RGBColor(128, 255, 178));
    }
}
