//! Drawing [`App`] into a frame. Layout (oha's and trippy's: a header line, the live state on
//! top, one switchable panel below, the keys in the footer), at 80×24 and up (smaller: a
//! "terminal too small" notice):
//!
//! ```text
//!  ▶ running 10× │ t 312s / 720s │ users ok 99.98% │ meshsim tui · scenario · seed 42
//! ┌ Service graph ───────────────────────────────┐┌ Rollout ───────────────────────────┐
//! │ ingress → ui → order → inventory             ││ canary · running                    │
//! │ ● ui-v1        2/2 up  w 100%  80 rps  ok …  ││ inventory-v2  20% ────────────      │
//! │ ● inventory-v2 3/3 up  w  20%  21 rps  ok …  ││ checks 5 passed, 1 failed           │
//! └──────────────────────────────────────────────┘└─────────────────────────────────────┘
//!  Charts │ Histogram │ Events │ Faults            (tab switches)
//! ┌ latency, ms (Chart: p99 lines, p50 dots) ────┐┌ users ok (figures + bars) ┐
//! │ legend under the plot                        ││ retries/s (bars)          │
//! └──────────────────────────────────────────────┘└───────────────────────────┘
//!  VERDICT, once the run is over (rows packed from its parts)
//!  keys
//! ```
//!
//! Everything drawn comes from the state; nothing here reads a clock, so a frame at a given
//! simulated second is the same frame every time (the snapshot tests rely on it).

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Chart, Clear, Dataset, GraphType, LineGauge, Paragraph, Sparkline, Tabs,
    Wrap,
};

use super::app::{App, Menu, Panel};
use super::inject::InjectKind;
use super::sample::{EventKind, VersionSample};

/// Colours of versions on the charts, in service order.
const PALETTE: [Color; 6] = [
    Color::Cyan,
    Color::Yellow,
    Color::Green,
    Color::Magenta,
    Color::Blue,
    Color::LightRed,
];

/// The smallest screen every panel keeps its key columns on (a projector's 80×24).
pub const MIN_WIDTH: u16 = 80;
/// See [`MIN_WIDTH`].
pub const MIN_HEIGHT: u16 = 24;

/// Draws the whole screen.
pub fn render(frame: &mut Frame<'_>, app: &App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        render_too_small(frame, area);
        return;
    }
    let versions: usize = app.services.iter().map(|(_, v)| v.len()).sum();
    let graph_rows = (versions as u16 + 3).min(area.height.saturating_sub(10).max(5));
    let verdict = verdict_lines(app, area.width);
    let verdict_rows = (verdict.len() as u16).min(4);
    let [header, top, tabs, lower, verdict_area, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(graph_rows),
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Length(verdict_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(frame, header, app);
    let rollout_width = if area.width >= 110 { 42 } else { 28 };
    let [graph, rollout] =
        Layout::horizontal([Constraint::Min(40), Constraint::Length(rollout_width)]).areas(top);
    render_graph(frame, graph, app);
    render_rollout(frame, rollout, app);
    render_tabs(frame, tabs, app);
    match app.panel {
        Panel::Charts => render_charts(frame, lower, app),
        Panel::Histogram => render_histogram(frame, lower, app),
        Panel::Events => render_events(frame, lower, app),
        Panel::Faults => render_faults(frame, lower, app),
    }
    frame.render_widget(Paragraph::new(verdict), verdict_area);
    render_footer(frame, footer, app);
    if let Some(menu) = &app.menu {
        render_menu(frame, area, menu);
    }
    if app.help {
        render_help(frame, area);
    }
}

/// Instead of a screen whose columns would be cut: what size it needs. Keys still work (q
/// quits), and a larger window draws the screen again at the next frame.
fn render_too_small(frame: &mut Frame<'_>, area: Rect) {
    let lines = vec![
        Line::from(Span::styled(
            format!("terminal too small: need {MIN_WIDTH}×{MIN_HEIGHT}"),
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        )),
        Line::from(format!("now {}×{}", area.width, area.height)),
        Line::from("q quits"),
    ];
    let height = (lines.len() as u16).min(area.height);
    let top = area.y + area.height.saturating_sub(height) / 2;
    frame.render_widget(
        Paragraph::new(lines)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        Rect::new(area.x, top, area.width, height),
    );
}

fn render_header(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let state = match (&app.finished, app.paused, app.cursor) {
        (Some(f), _, _) if f.halted => Span::styled("■ stopped", Style::new().fg(Color::Red)),
        (Some(_), _, None) => Span::styled("■ done", Style::new().fg(Color::Green)),
        (_, _, Some(_)) => Span::styled("◀▶ scrubbing", Style::new().fg(Color::Cyan)),
        (None, true, None) => Span::styled("⏸ paused", Style::new().fg(Color::Yellow)),
        (None, false, None) => Span::styled("▶ running", Style::new().fg(Color::Green)),
    };
    let ok = app
        .shown()
        .filter(|s| s.ended > 0)
        .map(|s| format!("{:.2}%", s.succeeded as f64 * 100.0 / s.ended as f64))
        .unwrap_or_else(|| "-".into());
    // What changes comes first, so a narrow terminal cuts the scenario's name, not the clock.
    let line = Line::from(vec![
        Span::raw(" "),
        state,
        Span::raw(format!(" {} │ ", app.speed.label())),
        Span::styled(
            format!("t {:.0}s / {:.0}s", app.now(), app.duration),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(" │ users ok {ok} │ ")),
        Span::styled("meshsim tui", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(" · {} · seed {}", app.scenario, app.seed)),
    ]);
    frame.render_widget(
        Paragraph::new(line).style(Style::new().bg(Color::DarkGray)),
        area,
    );
}

/// A version's colour: grey scaled down by the rollout, red down or failing, magenta breaker
/// open, yellow degraded, green well.
fn health(v: &VersionSample) -> (Color, &'static str) {
    let ok = v.ok_percent();
    if v.scaled_down {
        (Color::DarkGray, "scaled down")
    } else if v.tasks > 0 && v.down >= v.tasks {
        (Color::Red, "crashed")
    } else if v.overflows > 0 {
        (Color::Magenta, "breaker open")
    } else if ok.is_some_and(|o| o < 90.0) {
        (Color::Red, "failing")
    } else if v.down > 0 {
        (Color::Yellow, "task down")
    } else if v.ejections > 0 {
        (Color::Yellow, "ejecting")
    } else if ok.is_some_and(|o| o < 99.0) {
        (Color::Yellow, "errors")
    } else {
        (Color::Green, "")
    }
}

/// The longest health word, reserved on every row so a word is never cut ("fai").
const HEALTH_WIDTH: usize = 12;

/// Milliseconds in at most six columns: `30ms`, `9999ms`, `12.5s`.
fn fmt_ms(ms: f64) -> String {
    if ms < 9999.5 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.1}s", ms / 1000.0)
    }
}

/// `text` cut to `width` characters, with `…` where it was cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        out.push('…');
    }
    out
}

/// Bytes of the start the versions of a service share, up to and with a `-` (0 for one
/// version).
fn shared_start(nodes: &[String]) -> usize {
    let [first, rest @ ..] = nodes else { return 0 };
    if rest.is_empty() {
        return 0;
    }
    let mut common = first.len();
    for n in rest {
        common = common.min(
            first
                .bytes()
                .zip(n.bytes())
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    first[..common].rfind('-').map_or(0, |i| i + 1)
}

/// One version's row of the service graph, as cells.
struct GraphRow {
    label: String,
    node: String,
    colour: Color,
    word: &'static str,
    up: String,
    weight: String,
    rps: String,
    ok: String,
    p99: String,
}

/// The service graph: one row per version. Its key columns (up, weight, success rate, p99
/// and the health word) keep their place at every width the screen allows; what gives way,
/// in order, is the service's name, the requests per second and the column words, and
/// last the end of long version names (cut with `…`).
fn render_graph(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let mut chain = vec![Span::styled(
        app.gateway.clone(),
        Style::new().add_modifier(Modifier::BOLD),
    )];
    for (service, _) in &app.services {
        chain.push(Span::raw(" → "));
        chain.push(Span::styled(
            service.clone(),
            Style::new().add_modifier(Modifier::BOLD),
        ));
    }
    let shown = app.shown();
    let mut rows = Vec::new();
    for (service, nodes) in &app.services {
        for (i, node) in nodes.iter().enumerate() {
            let empty = VersionSample::default();
            let v = shown.and_then(|s| s.versions.get(node)).unwrap_or(&empty);
            let (colour, word) = health(v);
            rows.push(GraphRow {
                label: if i == 0 {
                    service.clone()
                } else {
                    String::new()
                },
                node: node.clone(),
                colour,
                word,
                up: format!("{}/{}", v.tasks - v.down.min(v.tasks), v.tasks),
                weight: match (v.weight, nodes.len()) {
                    (Some(w), _) => format!("{w}%"),
                    (None, 1) => "100%".into(),
                    (None, _) => "-".into(),
                },
                rps: v.requests.to_string(),
                ok: v
                    .ok_percent()
                    .map(|o| format!("{o:.1}%"))
                    .unwrap_or_else(|| "-".into()),
                p99: v.p99_ms.map(fmt_ms).unwrap_or_else(|| "-".into()),
            });
        }
    }
    let col = |f: fn(&GraphRow) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let label_w = col(|r| r.label.len());
    let node_w = col(|r| r.node.chars().count());
    let up_w = col(|r| r.up.len());
    let rps_w = col(|r| r.rps.len()).max(3);
    let inner = usize::from(area.width.saturating_sub(2));
    // Widths besides the version's name: wide with the service, wide, narrow.
    let wide =
        2 + (1 + up_w + 3) + (2 + 6) + (2 + rps_w + 4) + (2 + 9) + (2 + 10) + 1 + HEALTH_WIDTH;
    let narrow = 2 + (1 + up_w) + 5 + 7 + 7 + 1 + HEALTH_WIDTH;
    let (tier, node_w) = if label_w + 2 + wide + node_w <= inner {
        (0, node_w)
    } else if wide + node_w <= inner {
        (1, node_w)
    } else {
        (2, node_w.min(inner.saturating_sub(narrow)).max(4))
    };
    // Names cut to fit lose their service's shared start first (`colorteller-blue-node`
    // and `colorteller-green-node` become `…blue-node` and `…green-node`), so the versions
    // stay told apart.
    for (_, nodes) in &app.services {
        let shared = shared_start(nodes);
        for r in rows.iter_mut().filter(|r| nodes.contains(&r.node)) {
            if r.node.chars().count() > node_w && shared > 0 {
                r.node = format!("…{}", &r.node[shared..]);
            }
        }
    }
    let mut lines = vec![Line::from(chain)];
    for r in &rows {
        let mut spans = Vec::new();
        if tier == 0 {
            spans.push(Span::styled(
                format!(" {:<label_w$} ", r.label),
                Style::new().add_modifier(Modifier::DIM),
            ));
        }
        spans.push(Span::styled("● ", Style::new().fg(r.colour)));
        spans.push(Span::styled(
            format!("{:<node_w$}", fit(&r.node, node_w)),
            Style::new().fg(r.colour),
        ));
        spans.push(Span::raw(if tier < 2 {
            format!(
                " {:>up_w$} up  w {:>4}  {:>rps_w$} rps  ok {:>6}  p99 {:>6}",
                r.up, r.weight, r.rps, r.ok, r.p99
            )
        } else {
            format!(" {:>up_w$} {:>4} {:>6} {:>6}", r.up, r.weight, r.ok, r.p99)
        }));
        if !r.word.is_empty() {
            spans.push(Span::styled(
                format!(" {}", r.word),
                Style::new().fg(r.colour).add_modifier(Modifier::BOLD),
            ));
        }
        lines.push(Line::from(spans));
    }
    let title = if tier < 2 {
        " Service graph "
    } else {
        " Service graph: up · weight · ok · p99 "
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        area,
    );
}

fn render_rollout(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let block = Block::bordered().title(" Rollout ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(r) = app.shown().and_then(|s| s.rollout.as_ref()) else {
        let text = if app.samples.is_empty() {
            "starting…"
        } else {
            "no rollout in this scenario"
        };
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), inner);
        return;
    };
    let outcome_colour = match r.outcome.as_str() {
        "promoted" => Color::Green,
        "rolled_back" => Color::Red,
        "inconclusive" => Color::Yellow,
        _ => Color::Cyan,
    };
    let rows = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .split(inner);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::raw(format!("{} · ", r.strategy)),
            Span::styled(
                r.outcome.replace('_', " "),
                Style::new().fg(outcome_colour).add_modifier(Modifier::BOLD),
            ),
        ])),
        rows[0],
    );
    frame.render_widget(
        LineGauge::default()
            .ratio(f64::from(r.candidate_weight.min(100)) / 100.0)
            .label(format!("{} {:>3}%", r.candidate, r.candidate_weight))
            .filled_style(Style::new().fg(Color::Yellow))
            .unfilled_style(Style::new().fg(Color::DarkGray)),
        rows[1],
    );
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::raw("checks "),
            Span::styled(
                format!("{} passed", r.passed),
                Style::new().fg(Color::Green),
            ),
            Span::raw(", "),
            Span::styled(
                format!("{} failed", r.failed),
                Style::new().fg(if r.failed > 0 {
                    Color::Red
                } else {
                    Color::Reset
                }),
            ),
        ])),
        rows[2],
    );
    frame.render_widget(
        Paragraph::new(format!("step {}/{}: {}", r.step, r.steps, r.step_text))
            .wrap(Wrap { trim: true }),
        rows[3],
    );
}

fn render_tabs(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let titles: Vec<&str> = Panel::ALL.iter().map(|p| p.title()).collect();
    let selected = Panel::ALL.iter().position(|p| *p == app.panel).unwrap_or(0);
    frame.render_widget(
        Tabs::new(titles)
            .select(selected)
            .highlight_style(Style::new().fg(Color::Black).bg(Color::Cyan))
            .divider("│"),
        area,
    );
}

/// One line of the latency chart: version, colour, p99 (else p50), points.
type Series = (String, Color, bool, Vec<(f64, f64)>);

/// The smallest of 1, 2, 5, 10, 20, 50, ... at or above `v` (at least `floor`): a scale
/// that moves only when a value outgrows it, in steps a reader can take in.
fn nice_ceiling(v: f64, floor: f64) -> f64 {
    let mut step = floor;
    loop {
        for m in [1.0, 2.0, 5.0] {
            if v <= step * m {
                return step * m;
            }
        }
        step *= 10.0;
    }
}

/// The latency chart's ceiling: the 99th percentile of every point shown, with a fifth
/// more room, on a 1-2-5 step; so one spike neither sets the axis nor flattens the lines
/// (points above it are drawn on the ceiling and counted in the title).
fn robust_top(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let q = if values.is_empty() {
        0.0
    } else {
        let rank = ((0.99 * values.len() as f64).ceil() as usize).clamp(1, values.len());
        values[rank - 1]
    };
    nice_ceiling(q * 1.2, 10.0)
}

/// A version's colour, by its place among every version on screen.
fn colour_of(app: &App, node: &str) -> Color {
    let i = app
        .services
        .iter()
        .flat_map(|(_, v)| v.iter())
        .position(|n| n == node)
        .unwrap_or(0);
    PALETTE[i % PALETTE.len()]
}

fn render_charts(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let spark_width = if area.width >= 110 { 36 } else { 24 };
    let [chart_area, sparks] =
        Layout::horizontal([Constraint::Min(30), Constraint::Length(spark_width)]).areas(area);
    let history = app.history();
    let nodes: Vec<&String> = app.services.iter().flat_map(|(_, v)| v.iter()).collect();
    let mut series: Vec<Series> = Vec::new();
    let mut values = Vec::new();
    for node in &nodes {
        let colour = colour_of(app, node);
        for p99 in [false, true] {
            let points: Vec<(f64, f64)> = history
                .iter()
                .filter_map(|s| {
                    let v = s.versions.get(*node)?;
                    let y = if p99 { v.p99_ms } else { v.p50_ms }?;
                    Some((s.t, y))
                })
                .collect();
            values.extend(points.iter().map(|(_, y)| *y));
            series.push(((*node).clone(), colour, p99, points));
        }
    }
    let top = robust_top(&mut values);
    let mut clipped = 0;
    for (_, _, _, points) in &mut series {
        for (_, y) in points.iter_mut() {
            if *y > top {
                *y = top;
                clipped += 1;
            }
        }
    }
    let t_end = history
        .last()
        .map_or(60.0, |s| s.t)
        .max(app.duration)
        .max(1.0);
    // p50 in dots, p99 in braille lines: told apart without the dim attribute, which the
    // braille canvas drops (it keeps colour only). The p99 lines are drawn last, on top.
    series.sort_by_key(|(_, _, p99, _)| *p99);
    let datasets: Vec<Dataset<'_>> = series
        .iter()
        .map(|(_, colour, p99, points)| {
            let (marker, kind) = if *p99 {
                (Marker::Braille, GraphType::Line)
            } else {
                (Marker::Dot, GraphType::Scatter)
            };
            Dataset::default()
                .marker(marker)
                .graph_type(kind)
                .style(Style::new().fg(*colour))
                .data(points)
        })
        .collect();
    let title = if clipped > 0 {
        format!(" latency, ms · {clipped} clipped at {top:.0} ▲ ")
    } else {
        " latency, ms ".to_string()
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(chart_area);
    frame.render_widget(block, chart_area);
    // The legend gets its own rows under the plot, so it never covers a line.
    let mut legend = vec![
        Span::styled("⠤⠤", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(" p99  "),
        Span::styled("•", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(" p50 "),
    ];
    for node in &nodes {
        legend.push(Span::raw(" "));
        legend.push(Span::styled(
            (*node).clone(),
            Style::new().fg(colour_of(app, node)),
        ));
    }
    let legend_width: usize = legend.iter().map(|s| s.content.chars().count()).sum();
    let legend_rows = legend_width
        .div_ceil(usize::from(inner.width.max(1)))
        .clamp(1, 3) as u16;
    let [plot, legend_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(legend_rows)]).areas(inner);
    let chart = Chart::new(datasets)
        .x_axis(
            Axis::default()
                .bounds([0.0, t_end])
                .labels(["0s".to_string(), format!("{:.0}s", t_end)]),
        )
        .y_axis(Axis::default().bounds([0.0, top]).labels([
            "0".to_string(),
            format!("{:.0}", top / 2.0),
            format!("{top:.0}"),
        ]))
        .legend_position(None);
    frame.render_widget(chart, plot);
    frame.render_widget(
        Paragraph::new(Line::from(legend)).wrap(Wrap { trim: true }),
        legend_area,
    );

    let [ok_area, retry_area] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(sparks);
    render_users_ok(frame, ok_area, app);
    render_retries(frame, retry_area, app);
}

/// The users' success rate: this second's and the run's in figures, and a bar per second
/// of the share that failed on a fixed scale (a dip stands out against a flat line instead
/// of vanishing at the top; a run without failures shows its 100 %, not an empty box).
fn render_users_ok(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let history = app.history();
    let block = Block::bordered().title(" users ok ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let now = history.last().and_then(|s| s.users_ok);
    let run = history
        .last()
        .filter(|s| s.ended > 0)
        .map(|s| s.succeeded as f64 * 100.0 / s.ended as f64);
    let colour = |ok: Option<f64>| match ok {
        Some(o) if o >= 99.9 => Color::Green,
        Some(o) if o >= 99.0 => Color::Yellow,
        Some(_) => Color::Red,
        None => Color::Reset,
    };
    let pct = |ok: Option<f64>| ok.map_or_else(|| "-".to_string(), |o| format!("{o:.2}%"));
    let n = usize::from(inner.width);
    let recent = &history[history.len().saturating_sub(n)..];
    let failed: Vec<u64> = recent
        .iter()
        .map(|s| {
            s.users_ok
                .map_or(0, |o| ((100.0 - o) * 100.0).round() as u64)
        })
        .collect();
    // Hundredths of a percent; the scale only grows, from 1 % up.
    let worst = history
        .iter()
        .filter_map(|s| s.users_ok)
        .map(|o| 100.0 - o)
        .fold(0.0, f64::max);
    let scale = nice_ceiling(worst, 1.0);
    let [figures, scale_row, bars] = Layout::vertical([
        Constraint::Length(if inner.width >= 26 { 1 } else { 2 }),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    let now_span = Span::styled(
        pct(now),
        Style::new().fg(colour(now)).add_modifier(Modifier::BOLD),
    );
    let run_span = Span::styled(pct(run), Style::new().fg(colour(run)));
    let wide = inner.width >= 26;
    let figures_text = if wide {
        vec![Line::from(vec![
            Span::raw("now "),
            now_span,
            Span::raw(" · run "),
            run_span,
        ])]
    } else {
        vec![
            Line::from(vec![Span::raw("now "), now_span]),
            Line::from(vec![Span::raw("run "), run_span]),
        ]
    };
    frame.render_widget(Paragraph::new(figures_text), figures);
    frame.render_widget(
        Paragraph::new(Span::styled(
            format!("failed per s, top {scale:.0}%"),
            Style::new().fg(Color::DarkGray),
        )),
        scale_row,
    );
    frame.render_widget(
        Sparkline::default()
            .data(&failed)
            .max((scale * 100.0).round() as u64)
            .style(Style::new().fg(Color::Red)),
        bars,
    );
}

/// Retries the sidecars sent per second, on a fixed scale printed beside it: the scale
/// grows (1, 2, 5, 10, ...) when a second outgrows it, and never rescales to the window.
fn render_retries(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let history = app.history();
    let now = history.last().map_or(0, |s| s.retries);
    let block = Block::bordered().title(format!(" retries/s {now} "));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let n = usize::from(inner.width);
    let recent = &history[history.len().saturating_sub(n)..];
    let retries: Vec<u64> = recent.iter().map(|s| s.retries).collect();
    let most = history.iter().map(|s| s.retries).max().unwrap_or(0);
    let scale = nice_ceiling(most as f64, 1.0) as u64;
    let [scale_row, bars] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    frame.render_widget(
        Paragraph::new(Span::styled(
            format!("top {scale}/s"),
            Style::new().fg(Color::DarkGray),
        )),
        scale_row,
    );
    frame.render_widget(
        Sparkline::default()
            .data(&retries)
            .max(scale)
            .style(Style::new().fg(Color::Yellow)),
        bars,
    );
}

/// The versions the histogram compares, with what its table calls them: the rollout's
/// stable and candidate (by role, in their colours, so the names fit an 80-column screen),
/// or without a rollout every version (as many as there are colours) by name.
fn histogram_nodes(app: &App) -> (Vec<String>, Vec<String>) {
    if let Some(r) = app.shown().and_then(|s| s.rollout.as_ref()) {
        return (
            vec![r.stable.clone(), r.candidate.clone()],
            vec!["stable".into(), "candidate".into()],
        );
    }
    let nodes: Vec<String> = app
        .services
        .iter()
        .flat_map(|(_, v)| v.iter().cloned())
        .take(PALETTE.len())
        .collect();
    (nodes.clone(), nodes)
}

/// Levels marked on the curves and in the table: p50, p90, p99, p99.9, p99.99.
const MARKED: [(&str, f64); 5] = [
    ("p50", std::f64::consts::LOG10_2),
    ("p90", 1.0),
    ("p99", 2.0),
    ("p99.9", 3.0),
    ("p99.99", 4.0),
];

/// The histogram tab: HdrHistogram's percentile distribution per version, the `.hgrm`
/// plot's way (x: `1/(1−p)` on a log axis, so each decade of nines gets the same room),
/// the whole run beside the last analysis window. A candidate whose tail goes bad while its
/// median holds shows as curves that meet on the left and part on the right. Latency is on
/// a log axis too, so a 10 ms median and a 5 s tail are both readable.
fn render_histogram(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let (nodes, roles) = histogram_nodes(app);
    let Some(d) = app.shown().map(|s| &s.distributions) else {
        frame.render_widget(
            Paragraph::new("no requests yet").block(Block::bordered().title(" Histogram ")),
            area,
        );
        return;
    };
    // One latency axis for both halves, so they compare.
    let all: Vec<f64> = nodes
        .iter()
        .flat_map(|n| [d.run.get(n), d.window.get(n)])
        .flatten()
        .flat_map(|dist| dist.points.iter().map(|(_, v)| *v))
        .filter(|v| *v > 0.0)
        .collect();
    let lo = all
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .log10()
        .floor();
    let hi = all
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max)
        .log10()
        .ceil();
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi.max(lo + 1.0))
    } else {
        (0.0, 2.0)
    };
    let [run_area, window_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let now = app.now();
    render_distribution(
        frame,
        run_area,
        app,
        &nodes,
        &roles,
        &d.run,
        format!(" whole run, 0–{now:.0}s "),
        (lo, hi),
    );
    render_distribution(
        frame,
        window_area,
        app,
        &nodes,
        &roles,
        &d.window,
        format!(
            " last {:.0}s window, {:.0}–{now:.0}s ",
            d.window_s, d.window_from
        ),
        (lo, hi),
    );
}

/// Milliseconds in at most four characters: `9.5`, `120`, `1.5s`, `15s`.
fn short_ms(ms: f64) -> String {
    if ms < 9.95 {
        format!("{ms:.1}")
    } else if ms < 999.5 {
        format!("{ms:.0}")
    } else if ms < 9950.0 {
        format!("{:.1}s", ms / 1000.0)
    } else {
        format!("{:.0}s", ms / 1000.0)
    }
}

/// A version's curve on the histogram tab: colour, the curve, its marked levels.
type Curve = (Color, Vec<(f64, f64)>, Vec<(f64, f64)>);

/// One half of the histogram tab: the curves, the marked levels on them, and their values
/// in a table under the plot.
#[allow(clippy::too_many_arguments)]
fn render_distribution(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    nodes: &[String],
    roles: &[String],
    dists: &std::collections::BTreeMap<String, super::sample::Distribution>,
    title: String,
    (lo, hi): (f64, f64),
) {
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let log = |v: f64| v.max(10f64.powf(lo)).log10();
    let curves: Vec<Curve> = nodes
        .iter()
        .map(|n| {
            let dist = dists.get(n);
            let curve = dist
                .map(|d| d.points.iter().map(|(x, v)| (*x, log(*v))).collect())
                .unwrap_or_default();
            let marks = MARKED
                .iter()
                .filter_map(|(_, x)| Some((*x, log(dist?.at(*x)?))))
                .collect();
            (colour_of(app, n), curve, marks)
        })
        .collect();
    let mut datasets = Vec::new();
    for (colour, curve, marks) in &curves {
        datasets.push(
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(*colour))
                .data(curve),
        );
        datasets.push(
            Dataset::default()
                .marker(Marker::Dot)
                .graph_type(GraphType::Scatter)
                .style(Style::new().fg(*colour).add_modifier(Modifier::BOLD))
                .data(marks),
        );
    }
    let table_rows = nodes.len() as u16 + 1;
    let [plot, table] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(table_rows)]).areas(inner);
    let decades = (hi - lo).round() as i32;
    let y_labels: Vec<String> = (0..=decades)
        .map(|i| fmt_ms(10f64.powf(lo + f64::from(i))))
        .collect();
    let chart = Chart::new(datasets)
        .x_axis(
            Axis::default()
                .bounds([0.0, 4.0])
                .labels(["p0", "p90", "p99", "p99.9", "p99.99"]),
        )
        .y_axis(Axis::default().bounds([lo, hi]).labels(y_labels))
        .legend_position(None);
    frame.render_widget(chart, plot);
    // Cells as wide as their level's name or value (at most four characters: 9.5, 120,
    // 1.5s), so the table fits half of an 80-column screen with the row names whole.
    let widths: Vec<usize> = MARKED.iter().map(|(l, _)| l.len().max(4) + 1).collect();
    let longest = roles.iter().map(|r| r.chars().count()).max().unwrap_or(0);
    let name_w = usize::from(inner.width)
        .saturating_sub(widths.iter().sum::<usize>())
        .min(longest.max(2) + 1);
    let mut header = format!("{:<name_w$}", "ms");
    for ((label, _), w) in MARKED.iter().zip(&widths) {
        header.push_str(&format!("{label:>w$}"));
    }
    let mut lines = vec![Line::from(Span::styled(
        header,
        Style::new().fg(Color::DarkGray),
    ))];
    for (n, role) in nodes.iter().zip(roles) {
        let dist = dists.get(n).filter(|d| d.count > 0);
        let mut row = String::new();
        for ((_, x), w) in MARKED.iter().zip(&widths) {
            let cell = dist
                .and_then(|d| d.at(*x))
                .map_or_else(|| "-".to_string(), short_ms);
            row.push_str(&format!("{cell:>w$}"));
        }
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:<name_w$}", fit(role, name_w)),
                Style::new().fg(colour_of(app, n)),
            ),
            Span::raw(row),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), table);
}

fn event_colour(kind: EventKind) -> Color {
    match kind {
        EventKind::Fault => Color::LightRed,
        EventKind::Injected => Color::Magenta,
        EventKind::Rollout => Color::Cyan,
        EventKind::Check | EventKind::Expectation => Color::Red,
        EventKind::Ejection => Color::Yellow,
        EventKind::Breaker => Color::Magenta,
    }
}

fn render_events(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let rows = usize::from(area.height.saturating_sub(2));
    let shown: Vec<_> = app.events_shown().collect();
    let lines: Vec<Line<'_>> = shown[shown.len().saturating_sub(rows)..]
        .iter()
        .map(|e| {
            Line::from(vec![
                Span::raw(format!("{:>5.0}s ", e.t)),
                Span::styled(
                    format!("{:<8}", e.kind.tag()),
                    Style::new().fg(event_colour(e.kind)),
                ),
                Span::raw(e.text.clone()),
            ])
        })
        .collect();
    let title = format!(" Event log ({}) ", shown.len());
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        area,
    );
}

fn render_faults(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let block = Block::bordered().title(" Fault timeline (active in bold) ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if app.faults.is_empty() && app.queued.is_empty() {
        frame.render_widget(Paragraph::new("no faults; press f to inject one"), inner);
        return;
    }
    let now = app.now();
    let label_width = 22usize.min(usize::from(inner.width / 3));
    let bar_width = usize::from(inner.width)
        .saturating_sub(label_width + 1)
        .max(1);
    let span = app.duration.max(now).max(1.0);
    let col = |t: f64| ((t / span) * bar_width as f64).floor() as usize;
    let mut lines = Vec::new();
    let mut notes = Vec::new();
    for f in &app.faults {
        let active = f.active(now);
        let colour = if f.injected {
            Color::Magenta
        } else {
            Color::LightRed
        };
        let (from, to) = (
            col(f.start),
            col(f.end.unwrap_or(span)).max(col(f.start) + 1),
        );
        let now_col = col(now).min(bar_width - 1);
        let bar: String = (0..bar_width)
            .map(|i| {
                if i == now_col {
                    '│'
                } else if i >= from && i < to {
                    '█'
                } else {
                    '·'
                }
            })
            .collect();
        let mut label: String = f.name.chars().take(label_width).collect();
        while label.chars().count() < label_width {
            label.push(' ');
        }
        let style = if active {
            Style::new().fg(colour).add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(colour).add_modifier(Modifier::DIM)
        };
        lines.push(Line::from(vec![
            Span::styled(label, style),
            Span::raw(" "),
            Span::styled(bar, Style::new().fg(colour)),
        ]));
        if active {
            notes.push(Line::from(Span::styled(
                format!("  {}", f.text),
                Style::new().fg(colour),
            )));
        }
    }
    // The axis right under the bars, what the active faults do under it.
    lines.extend(time_axis(label_width, bar_width, span));
    lines.extend(notes);
    for q in &app.queued {
        lines.push(Line::from(Span::styled(
            format!("queued: {} on {}", q.kind.label(), q.target.label()),
            Style::new().fg(Color::Magenta),
        )));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// The fault timeline's time axis under its bars: ticks and seconds at up to five places
/// (the start, the end and evenly between), each label where its tick is when it fits.
fn time_axis(label_width: usize, bar_width: usize, span: f64) -> Vec<Line<'static>> {
    let marks = (bar_width / 12).clamp(1, 4);
    let mut ticks: Vec<char> = vec!['─'; bar_width];
    let mut labels: Vec<char> = vec![' '; bar_width];
    for i in 0..=marks {
        let t = span * i as f64 / marks as f64;
        let at = ((i * bar_width) / marks).min(bar_width - 1);
        ticks[at] = '┬';
        let text: Vec<char> = format!("{t:.0}s").chars().collect();
        // The last label ends at the axis's end; the others start at their tick.
        let from = if i == marks {
            bar_width.saturating_sub(text.len())
        } else {
            at
        };
        if from + text.len() <= bar_width
            && labels[from..from + text.len()].iter().all(|c| *c == ' ')
        {
            labels[from..from + text.len()].copy_from_slice(&text);
        }
    }
    let pad = " ".repeat(label_width + 1);
    let style = Style::new().fg(Color::DarkGray);
    vec![
        Line::from(Span::styled(
            format!("{pad}{}", ticks.into_iter().collect::<String>()),
            style,
        )),
        Line::from(Span::styled(
            format!("{pad}{}", labels.into_iter().collect::<String>()),
            style,
        )),
    ]
}

/// The verdict's rows at `width`: the badge, then the rollout's line (or why there is no
/// verdict), the expectations, where the report and the saved scenario went, packed
/// greedily, one part never split across rows (a part longer than a row is cut with `…`).
fn verdict_lines(app: &App, width: u16) -> Vec<Line<'static>> {
    let Some(f) = &app.finished else {
        return Vec::new();
    };
    let mut parts = Vec::new();
    let colour = if let Some(e) = &f.error {
        parts.push(format!("the simulation failed: {e}"));
        parts.extend(f.rollout.clone());
        Color::Red
    } else if f.halted {
        parts.extend(f.rollout.clone());
        parts.push("stopped early: nothing judged, no report".into());
        Color::Yellow
    } else {
        parts.extend(f.rollout.clone());
        if f.expectations > 0 {
            parts.push(format!("expectations {}/{} held", f.held, f.expectations));
        }
        parts.extend(f.report.as_ref().map(|p| format!("report {p}")));
        if f.held == f.expectations {
            Color::Green
        } else {
            Color::Red
        }
    };
    parts.extend(f.saved.as_ref().map(|p| format!("scenario saved: {p}")));
    let badge = " VERDICT ";
    let width = usize::from(width);
    let mut rows: Vec<String> = Vec::new();
    let mut used = badge.len();
    let mut row = String::new();
    for part in parts {
        let len = part.chars().count();
        if !row.is_empty() && used + 3 + len > width {
            rows.push(std::mem::take(&mut row));
            used = 0;
        }
        if row.is_empty() {
            row.push(' ');
            row.push_str(&part);
            used += 1 + len;
        } else {
            row.push_str(" · ");
            row.push_str(&part);
            used += 3 + len;
        }
    }
    rows.push(row);
    let style = Style::new().fg(colour);
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| {
            if i == 0 {
                Line::from(vec![
                    Span::styled(
                        badge,
                        Style::new()
                            .fg(Color::Black)
                            .bg(colour)
                            .add_modifier(Modifier::BOLD),
                    ),
                    Span::styled(fit(&r, width.saturating_sub(badge.len())), style),
                ])
            } else {
                Line::from(Span::styled(fit(&r, width), style))
            }
        })
        .collect()
}

fn render_footer(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let keys: &[(&str, &str)] = if app.finished.is_some() {
        &[
            ("←/→", "scrub"),
            ("home/end", "first/live"),
            ("tab", "panel"),
            ("r", "restart"),
            ("?", "help"),
            ("q", "quit"),
        ]
    } else if area.width >= 100 {
        &[
            ("space", "pause"),
            (".", "step"),
            ("+/-", "speed"),
            ("f", "fault"),
            ("r", "restart"),
            ("tab", "panel"),
            ("←/→", "scrub (paused)"),
            ("?", "help"),
            ("q", "quit"),
        ]
    } else {
        &[
            ("space", "pause"),
            (".", "step"),
            ("+/-", "speed"),
            ("f", "fault"),
            ("r", "restart"),
            ("tab", "panel"),
            ("?", "help"),
            ("q", "quit"),
        ]
    };
    let mut spans = Vec::new();
    for (k, what) in keys {
        spans.push(Span::styled(
            format!(" {k}"),
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(format!(" {what}")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A box of `width` × `height` centred in `area` (clipped to it).
fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn render_menu(frame: &mut Frame<'_>, area: Rect, menu: &Menu) {
    let (title, rows, selected): (&str, Vec<String>, usize) = match menu {
        Menu::Kinds { selected } => (
            " Inject a fault now ",
            InjectKind::ALL
                .iter()
                .map(|k| k.label().to_string())
                .collect(),
            *selected,
        ),
        Menu::Targets {
            kind,
            targets,
            selected,
        } => (
            kind.label(),
            targets.iter().map(|t| t.label()).collect(),
            *selected,
        ),
    };
    let height = (rows.len() as u16 + 3).min(area.height);
    let box_area = centred(area, 52, height);
    let visible = usize::from(box_area.height.saturating_sub(3));
    let first = selected.saturating_sub(visible.saturating_sub(1));
    let mut lines: Vec<Line<'_>> = rows
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(i, r)| {
            let key = if i < 9 {
                format!("{} ", i + 1)
            } else {
                "  ".into()
            };
            let text = format!("{key}{r}");
            if i == selected {
                Line::from(Span::styled(
                    text,
                    Style::new().fg(Color::Black).bg(Color::Magenta),
                ))
            } else {
                Line::from(text)
            }
        })
        .collect();
    lines.push(Line::from(Span::styled(
        "↑/↓ choose · enter inject · ← back · esc close",
        Style::new().add_modifier(Modifier::DIM),
    )));
    frame.render_widget(Clear, box_area);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(title.to_string())
                .border_style(Style::new().fg(Color::Magenta)),
        ),
        box_area,
    );
}

fn render_help(frame: &mut Frame<'_>, area: Rect) {
    let keys = [
        ("space", "pause / resume simulated time"),
        (".", "run one simulated second, then pause"),
        ("+ / -", "speed: 1×, 10×, 100×, as fast as possible"),
        ("f", "inject a fault now (kill, slow, partition, loss)"),
        ("r", "restart with the same seed"),
        ("tab", "switch panel: charts, histogram, events, faults"),
        ("← / →", "scrub through the recorded seconds"),
        ("home/end", "first second / back to live"),
        ("?", "this help"),
        ("q, ctrl-c", "quit and print the summary"),
    ];
    let mut lines: Vec<Line<'_>> = keys
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(
                    format!("{k:>10} "),
                    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "The world runs in simulated time; the screen only paces it.",
        Style::new().add_modifier(Modifier::DIM),
    )));
    let box_area = centred(area, 64, lines.len() as u16 + 2);
    frame.render_widget(Clear, box_area);
    frame.render_widget(
        Paragraph::new(lines).alignment(Alignment::Left).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Keys (any key closes) "),
        ),
        box_area,
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::tui::app::{FaultLine, Speed};
    use crate::tui::inject::Targets;
    use crate::tui::sample::Sample;

    /// Four versions with long names, each in trouble of its own kind.
    fn app() -> App {
        let nodes = [
            "checkout-service-v1",
            "checkout-service-v2",
            "payments-v1",
            "payments-v2",
        ];
        let mut versions = BTreeMap::new();
        let troubles = [
            (100, 50, 0, 0),
            (100, 1, 0, 3),
            (100, 0, 2, 0),
            (0, 0, 0, 0),
        ];
        for (node, (requests, errors, down, overflows)) in nodes.iter().zip(troubles) {
            versions.insert(
                node.to_string(),
                VersionSample {
                    requests,
                    errors,
                    p50_ms: Some(12.0),
                    p99_ms: Some(12_345.0),
                    tasks: 3,
                    down,
                    overflows,
                    ..VersionSample::default()
                },
            );
        }
        let samples = (1..=3)
            .map(|t| Sample {
                t: f64::from(t),
                issued: 100,
                ended: 100,
                succeeded: 99,
                users_ended: 100,
                users_ok: Some(99.0),
                retries: 7,
                versions: versions.clone(),
                rollout: None,
                events: Vec::new(),
                distributions: Default::default(),
            })
            .collect();
        App {
            scenario: "s".into(),
            seed: 1,
            duration: 120.0,
            gateway: "ingress".into(),
            services: vec![
                (
                    "checkout".into(),
                    nodes[..2].iter().map(|s| s.to_string()).collect(),
                ),
                (
                    "payments".into(),
                    nodes[2..].iter().map(|s| s.to_string()).collect(),
                ),
            ],
            targets: Targets {
                tasks: Vec::new(),
                nodes: Vec::new(),
                links: Vec::new(),
            },
            faults: vec![FaultLine {
                name: "slow-payments".into(),
                text: "slow".into(),
                start: 30.0,
                end: Some(60.0),
                injected: false,
            }],
            samples,
            events: Vec::new(),
            paused: false,
            speed: Speed::X10,
            panel: Panel::Charts,
            help: false,
            menu: None,
            cursor: None,
            finished: None,
            queued: Vec::new(),
            quitting: false,
        }
    }

    fn draw(app: &App, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a terminal");
        terminal.draw(|f| render(f, app)).expect("draws");
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| {
                let line: String = (0..width).map(|x| buffer[(x, y)].symbol()).collect();
                format!("{}\n", line.trim_end())
            })
            .collect()
    }

    #[test]
    fn health_words_and_p99_stay_whole_at_80_columns_with_long_names() {
        let frame = draw(&app(), 80, 24);
        for (node, word) in [
            ("…v1", "failing"),
            ("…v2", "breaker open"),
            ("payments-v1", "task down"),
        ] {
            let row = frame
                .lines()
                .find(|l| l.contains(node) && l.contains(word))
                .unwrap_or_else(|| panic!("{node} {word}:\n{frame}"));
            assert!(row.contains("12.3s"), "the p99 column: {row}");
        }
        // The names gave way, their shared start first, with a mark where they were cut.
        assert!(frame.contains("● …v1 "), "{frame}");
    }

    #[test]
    fn the_fault_timeline_has_a_time_axis() {
        let mut a = app();
        a.panel = Panel::Faults;
        let frame = draw(&a, 80, 24);
        let axis = frame
            .lines()
            .find(|l| l.contains("30s") && l.contains("90s"))
            .unwrap_or_else(|| panic!("no axis:\n{frame}"));
        assert!(
            axis.contains(" 0s ") && axis.contains("60s") && axis.contains("120s"),
            "{axis}"
        );
        assert!(frame.contains('┬'), "{frame}");
    }

    #[test]
    fn the_retries_scale_is_absolute_and_only_grows() {
        let frame = draw(&app(), 120, 40);
        assert!(
            frame.contains("top 10/s"),
            "7 retries/s on a 10/s scale:\n{frame}"
        );
        assert!(frame.contains("now 99.00%"), "{frame}");
        assert_eq!(nice_ceiling(0.0, 1.0), 1.0);
        assert_eq!(nice_ceiling(7.0, 1.0), 10.0);
        assert_eq!(nice_ceiling(11.0, 1.0), 20.0);
        assert_eq!(nice_ceiling(200.0, 1.0), 200.0);
    }

    #[test]
    fn one_spike_does_not_set_the_latency_axis() {
        let mut values: Vec<f64> = (0..200).map(|i| 10.0 + f64::from(i % 5)).collect();
        values.push(5_000.0);
        assert_eq!(robust_top(&mut values), 20.0);
        // Without the spike the top is the same; a tail that lasts sets it.
        let mut tail: Vec<f64> = (0..200)
            .map(|i| if i % 10 == 0 { 400.0 } else { 10.0 })
            .collect();
        assert_eq!(robust_top(&mut tail), 500.0);
    }

    #[test]
    fn the_verdict_keeps_the_report_path_whole_on_its_own_row_when_it_must() {
        let mut a = app();
        a.finished = Some(crate::tui::app::Finished {
            rollout: Some("rollout (canary): rolled_back at 600s: success_rate was 0.970 against >= 99% (detected at 540s)".into()),
            held: 3,
            expectations: 4,
            report: Some("reports/canary-bad-errors/42/report.json".into()),
            halted: false,
            saved: Some("saved/canary-live.yaml".into()),
            error: None,
        });
        let frame = draw(&a, 80, 24);
        assert!(
            frame.contains("VERDICT  rollout (canary): rolled_back at 600s"),
            "{frame}"
        );
        assert!(
            frame.contains("report reports/canary-bad-errors/42/report.json"),
            "{frame}"
        );
        assert!(
            frame.contains("scenario saved: saved/canary-live.yaml"),
            "{frame}"
        );
        assert!(frame.contains("expectations 3/4 held"), "{frame}");
    }
}
