//! The page's charts: each section's data from [`series`] laid out as [`Chart`]s, with
//! fault windows shaded on every chart over time (Jepsen's way of showing what the nemesis
//! was doing while the numbers moved).

use plotters::style::RGBColor;

use super::axis::{nice_above, nice_below, number};
use super::charts::{Axis, Chart, Mark, Scale, Ticks, draw, palette};
use super::series::{self, Series, Span, Timeline};
use super::totals;
use super::{escape, note};
use crate::report::Report;
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

    /// A chart over time: the fault shading first, then `marks`.
    pub fn over_time(&self, title: String, size: (u32, u32), y: Axis, marks: Vec<Mark>) -> Chart {
        let mut all: Vec<Mark> = self
            .spans
            .iter()
            .enumerate()
            .map(|(i, s)| Mark::Shade {
                from: s.from_s,
                to: s.to_s,
                label: (i == 0).then(|| "fault in force".to_string()),
            })
            .collect();
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

    /// One line per series, each in its palette colour.
    fn lines(&self, series: &[Series], width: u32) -> Vec<Mark> {
        series
            .iter()
            .enumerate()
            .flat_map(|(i, s)| stretches(s, &self.timeline, palette(i), width))
            .collect()
    }
}

fn stretches(s: &Series, t: &Timeline, color: RGBColor, width: u32) -> Vec<Mark> {
    s.stretches(t)
        .into_iter()
        .enumerate()
        .map(|(i, points)| Mark::Line {
            label: (i == 0).then(|| s.label.clone()),
            color,
            width,
            points,
        })
        .collect()
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
        let y = Axis {
            desc: "latency (ms, log)".into(),
            lo: nice_below((min / 1.2).max(0.01)),
            hi: nice_above((max * 1.2).max(1.0)),
            scale: Scale::Log10,
            ticks: Ticks::Auto,
        };
        let mut marks = Vec::new();
        for (i, [p50, p99]) in s.versions.iter().enumerate() {
            marks.extend(stretches(p99, &ctx.timeline, palette(i), 2));
            marks.extend(stretches(p50, &ctx.timeline, pale(palette(i)), 2));
        }
        let view = if s.service == "users" {
            "as the users saw it"
        } else {
            "at its sidecars' inbound listeners"
        };
        let title = format!("{}: p50 and p99 latency, {view}", s.service);
        out.push_str(&figure(&ctx.over_time(title, HALF, y, marks)));
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
        "Requests per second, users and each virtual node".into(),
        HALF,
        count_axis("requests per second", max),
        ctx.lines(&rates, 2),
    );
    out.push_str(&figure(&chart));
    let errors = series::errors_and_retries(&ctx.run.recorder, &ctx.timeline);
    if errors.is_empty() {
        out.push_str(&note("No failed requests and no retries."));
    } else {
        let max = errors.iter().map(Series::max).fold(0.0, f64::max);
        let chart = ctx.over_time(
            "Errors and retries per second".into(),
            HALF,
            count_axis("per second", max),
            ctx.lines(&errors, 2),
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
        "Ejections, overflows, breaker trips and rate limiting".into(),
        FULL,
        // At least 0 to 5, so a handful of events gets whole-number ticks.
        count_axis(&desc, max.max(4.6)),
        ctx.lines(&events, 2),
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
            points,
        })
        .collect();
    figure(&Chart {
        title: "Latency by percentile, per version (HdrHistogram)".into(),
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
    let names: Vec<String> = hops.iter().map(|h| shorten(&h.hop, 52)).collect();
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
        title: "Retry amplification per hop (attempts per request)".into(),
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

/// `s` cut to `max` characters with an ellipsis in the middle (hop names are long; the
/// table below the chart has them whole).
fn shorten(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(1) / 2;
    let head: String = chars[..keep].iter().collect();
    let tail: String = chars[chars.len() - keep..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_hop_names_keep_both_ends() {
        assert_eq!(shorten("short", 10), "short");
        let s = shorten(
            "ingress -> ui.ordering.local/ui-v1 (virtual node provider)",
            21,
        );
        assert_eq!(s, "ingress ->… provider)");
    }

    #[test]
    fn pale_is_halfway_to_white() {
        assert_eq!(pale(RGBColor(1, 255, 101)), RGBColor(128, 255, 178));
    }
}
