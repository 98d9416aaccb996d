//! Drawing [`App`] into a frame. Layout (oha's and trippy's: a header line, the live state on
//! top, one switchable panel below, the keys in the footer):
//!
//! ```text
//! ┌ meshsim · scenario · seed ─────────── ▶ 10× · t 312 s / 720 s · users ok 99.98 % ┐
//! ┌ Service graph ───────────────────────────────┐┌ Rollout ───────────────────────────┐
//! │ ingress → ui → order → inventory             ││ canary · running                    │
//! │ ui-v1         2/2  w  —   80/s  ok 100.0%    ││ step 3/12: set_weight 20            │
//! │ inventory-v2  3/3  w 20%  21/s  ok  97.0%    ││ inventory-v2 ████░░░░░░░░░░░ 20 %   │
//! └──────────────────────────────────────────────┘└ checks 5 passed, 1 failed ──────────┘
//!  Charts │ Events │ Faults                       (tab switches)
//! ┌ latency p50/p99 per version (Chart) ─────────┐┌ users ok % (Sparkline) ┐
//! │                                              ││ retries/s (Sparkline)   │
//! └──────────────────────────────────────────────┘└─────────────────────────┘
//!  verdict, once the run is over
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

/// Draws the whole screen.
pub fn render(frame: &mut Frame<'_>, app: &App) {
    let area = frame.area();
    let versions: usize = app.services.iter().map(|(_, v)| v.len()).sum();
    let graph_rows = (versions as u16 + 3).min(area.height.saturating_sub(10).max(5));
    // Two rows: the rollout's verdict alone can fill one.
    let verdict_rows = if app.finished.is_some() { 2 } else { 0 };
    let [header, top, tabs, lower, verdict, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(graph_rows),
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Length(verdict_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(frame, header, app);
    let rollout_width = if area.width >= 110 { 42 } else { 30 };
    let [graph, rollout] =
        Layout::horizontal([Constraint::Min(40), Constraint::Length(rollout_width)]).areas(top);
    render_graph(frame, graph, app);
    render_rollout(frame, rollout, app);
    render_tabs(frame, tabs, app);
    match app.panel {
        Panel::Charts => render_charts(frame, lower, app),
        Panel::Events => render_events(frame, lower, app),
        Panel::Faults => render_faults(frame, lower, app),
    }
    if app.finished.is_some() {
        render_verdict(frame, verdict, app);
    }
    render_footer(frame, footer, app);
    if let Some(menu) = &app.menu {
        render_menu(frame, area, menu);
    }
    if app.help {
        render_help(frame, area);
    }
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
    let mut lines = vec![Line::from(chain)];
    let width = app
        .services
        .iter()
        .flat_map(|(_, v)| v.iter().map(String::len))
        .max()
        .unwrap_or(8);
    let service_width = app.services.iter().map(|(s, _)| s.len()).max().unwrap_or(4);
    let shown = app.shown();
    let wide = area.width >= 76;
    for (service, nodes) in &app.services {
        for (i, node) in nodes.iter().enumerate() {
            let empty = VersionSample::default();
            let v = shown.and_then(|s| s.versions.get(node)).unwrap_or(&empty);
            let (colour, word) = health(v);
            let weight = match (v.weight, nodes.len()) {
                (Some(w), _) => format!("{w:>3}%"),
                (None, 1) => "100%".into(),
                (None, _) => "   -".into(),
            };
            let ok = v
                .ok_percent()
                .map(|o| format!("{o:>5.1}%"))
                .unwrap_or_else(|| "    - ".into());
            let label = if i == 0 { service.as_str() } else { "" };
            let up = v.tasks - v.down.min(v.tasks);
            let mut spans = Vec::new();
            if wide {
                spans.push(Span::styled(
                    format!(" {label:<service_width$} "),
                    Style::new().add_modifier(Modifier::DIM),
                ));
            }
            spans.push(Span::styled("● ", Style::new().fg(colour)));
            spans.push(Span::styled(
                format!("{node:<width$}"),
                Style::new().fg(colour),
            ));
            spans.push(Span::raw(if wide {
                format!(
                    " {up}/{} up  w {weight} {:>4} rps  ok {ok}",
                    v.tasks, v.requests
                )
            } else {
                format!(" {up}/{} w{weight} {:>4}/s {ok}", v.tasks, v.requests)
            }));
            if wide {
                let p99 = v
                    .p99_ms
                    .map(|p| format!("  p99 {p:>4.0}ms"))
                    .unwrap_or_default();
                spans.push(Span::raw(p99));
            }
            if !word.is_empty() {
                spans.push(Span::styled(
                    format!(" {word}"),
                    Style::new().fg(colour).add_modifier(Modifier::BOLD),
                ));
            }
            lines.push(Line::from(spans));
        }
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Service graph ")),
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
        frame.render_widget(Paragraph::new(text), inner);
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

fn render_charts(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let spark_width = if area.width >= 110 { 36 } else { 24 };
    let [chart_area, sparks] =
        Layout::horizontal([Constraint::Min(30), Constraint::Length(spark_width)]).areas(area);
    let history = app.history();
    let nodes: Vec<&String> = app.services.iter().flat_map(|(_, v)| v.iter()).collect();
    let mut series: Vec<Series> = Vec::new();
    let mut top: f64 = 10.0;
    for (i, node) in nodes.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        for p99 in [false, true] {
            let points: Vec<(f64, f64)> = history
                .iter()
                .filter_map(|s| {
                    let v = s.versions.get(*node)?;
                    let y = if p99 { v.p99_ms } else { v.p50_ms }?;
                    Some((s.t, y))
                })
                .collect();
            for (_, y) in &points {
                top = top.max(*y);
            }
            series.push(((*node).clone(), colour, p99, points));
        }
    }
    let t_end = history
        .last()
        .map_or(60.0, |s| s.t)
        .max(app.duration)
        .max(1.0);
    let top = (top * 1.1).ceil();
    let datasets: Vec<Dataset<'_>> = series
        .iter()
        .map(|(node, colour, p99, points)| {
            let style = if *p99 {
                Style::new().fg(*colour)
            } else {
                Style::new().fg(*colour).add_modifier(Modifier::DIM)
            };
            let name = if *p99 {
                format!("{node} p99")
            } else {
                String::new()
            };
            Dataset::default()
                .name(name)
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(style)
                .data(points)
        })
        .collect();
    let chart = Chart::new(datasets)
        .block(Block::bordered().title(" latency p50 (dim) / p99 per version, ms "))
        .x_axis(
            Axis::default()
                .bounds([0.0, t_end])
                .labels(["0s".to_string(), format!("{:.0}s", t_end)]),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels(["0".to_string(), format!("{top:.0}")]),
        )
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)));
    frame.render_widget(chart, chart_area);

    let [ok_area, retry_area] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(sparks);
    let n = usize::from(ok_area.width.saturating_sub(2));
    let recent = &history[history.len().saturating_sub(n)..];
    // The success rate as the errors it hides: a bar per second of the share that failed,
    // so a dip stands out against a flat line instead of vanishing at the top.
    let ok_now = recent
        .last()
        .and_then(|s| s.users_ok)
        .map(|o| format!("{o:.2}%"))
        .unwrap_or_else(|| "-".into());
    let failed: Vec<u64> = recent
        .iter()
        .map(|s| {
            s.users_ok
                .map_or(0, |o| ((100.0 - o) * 100.0).round() as u64)
        })
        .collect();
    frame.render_widget(
        Sparkline::default()
            .block(Block::bordered().title(format!(" users ok {ok_now} ")))
            .data(&failed)
            .style(Style::new().fg(Color::Red)),
        ok_area,
    );
    let retries: Vec<u64> = recent.iter().map(|s| s.retries).collect();
    let retries_now = recent.last().map_or(0, |s| s.retries);
    frame.render_widget(
        Sparkline::default()
            .block(Block::bordered().title(format!(" retries/s {retries_now} ")))
            .data(&retries)
            .style(Style::new().fg(Color::Yellow)),
        retry_area,
    );
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
            lines.push(Line::from(Span::styled(
                format!("  {}", f.text),
                Style::new().fg(colour),
            )));
        }
    }
    for q in &app.queued {
        lines.push(Line::from(Span::styled(
            format!("queued: {} on {}", q.kind.label(), q.target.label()),
            Style::new().fg(Color::Magenta),
        )));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn render_verdict(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let Some(f) = &app.finished else { return };
    let (colour, text) = if let Some(e) = &f.error {
        (Color::Red, format!("the simulation failed: {e}"))
    } else if f.halted {
        let rollout = f.rollout.as_deref().unwrap_or("stopped early");
        (
            Color::Yellow,
            format!("{rollout} · nothing judged or written"),
        )
    } else {
        let mut parts = Vec::new();
        if let Some(r) = &f.rollout {
            parts.push(r.clone());
        }
        if f.expectations > 0 {
            parts.push(format!("expectations {}/{} held", f.held, f.expectations));
        }
        if let Some(p) = &f.report {
            parts.push(format!("report {p}"));
        }
        let colour = if f.held == f.expectations {
            Color::Green
        } else {
            Color::Red
        };
        (colour, parts.join(" · "))
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                " VERDICT ",
                Style::new()
                    .fg(Color::Black)
                    .bg(colour)
                    .add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!(" {text}"), Style::new().fg(colour)),
        ]))
        .wrap(Wrap { trim: true }),
        area,
    );
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
        ("tab", "switch panel: charts, events, faults"),
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
