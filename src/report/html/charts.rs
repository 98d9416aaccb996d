//! Charts as data, drawn by plotters' SVG backend.
//!
//! A chart is described first (axes, marks, legend) and drawn in one place, so every chart
//! of the page shares one look and one coordinate type (see [`super::axis`]).

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::series::DashedLineSeries;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::Ticked;
pub use super::axis::{Axis, Scale, Ticks};

/// Something drawn inside the plotting area, in data units.
#[derive(Clone, Debug, PartialEq)]
pub enum Mark {
    /// A time span shaded over the full height (a fault in force).
    Shade {
        /// Start.
        from: f64,
        /// End.
        to: f64,
        /// Legend entry (given once per kind of shade).
        label: Option<String>,
        /// Written inside the span, at its top (the fault's name, on its first span).
        caption: Option<String>,
    },
    /// One connected stretch of a series.
    Line {
        /// Legend entry (the first stretch of a series carries it).
        label: Option<String>,
        /// Colour.
        color: RGBColor,
        /// Stroke width in pixels.
        width: u32,
        /// Solid, dashed or dotted: what keeps a series visible on top of another with the
        /// same values.
        stroke: Stroke,
        /// Points, in x order.
        points: Vec<(f64, f64)>,
    },
    /// A vertical rule with a caption at its top (a rollout step, decision or scale-down).
    Rule {
        /// Where.
        at: f64,
        /// Caption.
        label: String,
        /// Colour.
        color: RGBColor,
        /// Stroke width in pixels.
        width: u32,
    },
    /// A dot (a rollout check's result).
    Dot {
        /// Where.
        at: (f64, f64),
        /// Colour.
        color: RGBColor,
        /// Legend entry (given once per colour).
        label: Option<String>,
    },
    /// A horizontal bar in category band `band`, from `from` to `to`, with `text` after it.
    Bar {
        /// Category index.
        band: usize,
        /// Start value.
        from: f64,
        /// End value.
        to: f64,
        /// Colour.
        color: RGBColor,
        /// Written after the bar's end.
        text: String,
    },
}

/// How a line is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stroke {
    /// A continuous line.
    #[default]
    Solid,
    /// 9 px dashes, 5 px apart.
    Dashed,
    /// 2 px dashes, 4 px apart.
    Dotted,
}

/// One chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// Caption, drawn above the plotting area.
    pub title: String,
    /// Pixels.
    pub size: (u32, u32),
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// What is drawn, in order (later marks on top).
    pub marks: Vec<Mark>,
    /// Whether the marks' labels are listed in a legend beside the plot.
    pub legend: bool,
}

/// Why a chart could not be drawn (the page shows the message in its place).
#[derive(Debug, thiserror::Error)]
#[error("the chart `{title}` could not be drawn: {message}")]
pub struct ChartError {
    /// The chart's title.
    pub title: String,
    /// What plotters said.
    pub message: String,
}

/// Fault windows: a light red, so every series stays readable on top of it.
pub const SHADE: RGBColor = RGBColor(214, 39, 40);
/// The shade's opacity.
const SHADE_ALPHA: f64 = 0.09;
const INK: RGBColor = RGBColor(51, 51, 51);
const FONT: &str = "sans-serif";

/// Series colours, in the order series are given them (Tableau 10, red last so it does not
/// read as a fault).
const PALETTE: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(89, 161, 79),
    RGBColor(176, 122, 161),
    RGBColor(118, 183, 178),
    RGBColor(156, 117, 95),
    RGBColor(255, 157, 167),
    RGBColor(237, 201, 72),
    RGBColor(186, 176, 172),
    RGBColor(225, 87, 89),
];

/// The `i`-th series colour.
pub fn palette(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Draws `chart` as an `<svg>` element.
pub fn draw(chart: &Chart) -> Result<String, ChartError> {
    let mut svg = String::new();
    render(chart, &mut svg).map_err(|message| ChartError {
        title: chart.title.clone(),
        message,
    })?;
    Ok(svg)
}

/// A legend entry's swatch.
#[derive(Clone, Copy)]
enum Swatch {
    Shade,
    Line(RGBColor, u32, Stroke),
    Dot(RGBColor),
}

/// The legend's entries, in mark order.
fn legend_entries(marks: &[Mark]) -> Vec<(&str, Swatch)> {
    marks
        .iter()
        .filter_map(|m| match m {
            Mark::Shade { label: Some(l), .. } => Some((l.as_str(), Swatch::Shade)),
            Mark::Line {
                label: Some(l),
                color,
                width,
                stroke,
                ..
            } => Some((l.as_str(), Swatch::Line(*color, *width, *stroke))),
            Mark::Dot {
                label: Some(l),
                color,
                ..
            } => Some((l.as_str(), Swatch::Dot(*color))),
            _ => None,
        })
        .collect()
}

/// Draws the chart: the title across the top, the legend in a column on the right (beside
/// the data rather than over it: a dozen series would hide a third of a plot), the plot in
/// the rest.
fn render(chart: &Chart, svg: &mut String) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::with_string(svg, chart.size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let body = root
        .titled(&chart.title, (FONT, 20).into_font().color(&INK))
        .map_err(|e| fail(&e))?;
    let entries = if chart.legend {
        legend_entries(&chart.marks)
    } else {
        Vec::new()
    };
    let widest = entries.iter().map(|(l, _)| l.len()).max().unwrap_or(0) as u32;
    let legend_width = if entries.is_empty() {
        0
    } else {
        // About 7 px a character at 14 px, and the swatch: wide enough that no entry is cut.
        (widest * 7 + 44).clamp(110, 320)
    };
    let (plot, legend) = body.split_horizontally(chart.size.0.saturating_sub(legend_width));
    let (x_lo, x_hi) = chart.x.range();
    let (y_lo, y_hi) = chart.y.range();
    let mut ctx = ChartBuilder::on(&plot)
        .margin(10)
        .margin_right(if entries.is_empty() { 24 } else { 10 })
        .x_label_area_size(44)
        .y_label_area_size(chart.y.label_room())
        .build_cartesian_2d(
            Ticked::new(x_lo, x_hi, chart.x.tick_positions()),
            Ticked::new(y_lo, y_hi, chart.y.tick_positions()),
        )
        .map_err(|e| fail(&e))?;
    let x_label = |v: &f64| chart.x.tick_label(*v);
    let y_label = |v: &f64| chart.y.tick_label(*v);
    ctx.configure_mesh()
        .x_desc(chart.x.desc.as_str())
        .y_desc(chart.y.desc.as_str())
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .label_style((FONT, 15).into_font().color(&INK))
        .axis_desc_style((FONT, 16).into_font().color(&INK))
        .bold_line_style(BLACK.mix(0.08))
        .light_line_style(TRANSPARENT)
        .axis_style(INK.mix(0.6))
        .draw()
        .map_err(|e| fail(&e))?;
    let (x, y) = (&chart.x, &chart.y);
    // Captions are laid out after every mark is drawn, so none is struck by a rule or a line.
    let mut captions: Vec<Caption> = Vec::new();
    for mark in &chart.marks {
        match mark {
            Mark::Shade {
                from, to, caption, ..
            } => {
                let (a, b) = (x.map(*from).max(x_lo), x.map(*to).min(x_hi));
                if b > a {
                    let shade = Rectangle::new([(a, y_lo), (b, y_hi)], shade_style());
                    ctx.draw_series(std::iter::once(shade))
                        .map_err(|e| fail(&e))?;
                    if let Some(text) = caption {
                        let at = ctx.backend_coord(&(a, y_hi)).0;
                        captions.push(Caption::new(text, at, SHADE_TEXT, true));
                    }
                }
            }
            Mark::Line {
                color,
                width,
                stroke,
                points,
                ..
            } => {
                let mapped: Vec<(f64, f64)> =
                    points.iter().map(|(a, b)| (x.map(*a), y.map(*b))).collect();
                let style = color.stroke_width(*width);
                if let [point] = mapped[..] {
                    let dot = Circle::new(point, 2 + *width, color.filled());
                    ctx.draw_series(std::iter::once(dot))
                } else {
                    match stroke {
                        Stroke::Solid => ctx.draw_series(LineSeries::new(mapped, style)),
                        Stroke::Dashed => {
                            ctx.draw_series(DashedLineSeries::new(mapped, 9, 5, style))
                        }
                        Stroke::Dotted => {
                            ctx.draw_series(DashedLineSeries::new(mapped, 2, 4, style))
                        }
                    }
                }
                .map_err(|e| fail(&e))?;
            }
            Mark::Rule {
                at,
                label,
                color,
                width,
            } => {
                let at = x.map(*at);
                if at < x_lo || at > x_hi {
                    continue;
                }
                let line =
                    PathElement::new(vec![(at, y_lo), (at, y_hi)], color.stroke_width(*width));
                ctx.draw_series(std::iter::once(line))
                    .map_err(|e| fail(&e))?;
                let px = ctx.backend_coord(&(at, y_hi)).0;
                captions.push(Caption::new(label, px, *color, false));
            }
            Mark::Dot { at, color, .. } => {
                let dot = Circle::new((x.map(at.0), y.map(at.1)), 6, color.filled());
                ctx.draw_series(std::iter::once(dot))
                    .map_err(|e| fail(&e))?;
            }
            Mark::Bar {
                band,
                from,
                to,
                color,
                text,
            } => {
                let (a, b) = (x.map(*from), x.map(*to));
                let (top, bottom) = (*band as f64 + 0.8, *band as f64 + 0.2);
                let bar = Rectangle::new([(a, bottom), (b, top)], color.filled());
                let caption = EmptyElement::at((b, *band as f64 + 0.5))
                    + Text::new(text.clone(), (6, -8), (FONT, 15).into_font().color(&INK));
                ctx.draw_series(std::iter::once(bar))
                    .map_err(|e| fail(&e))?;
                ctx.draw_series(std::iter::once(caption))
                    .map_err(|e| fail(&e))?;
            }
        }
    }
    let (left, top) = ctx.backend_coord(&(x_lo, y_hi));
    let right = ctx.backend_coord(&(x_hi, y_hi)).0;
    for c in lay_out(captions, left, right) {
        let y = top + 3 + CAPTION_ROW * c.row as i32;
        // A white ground under the text: a rule or a series passing behind stays visible
        // above and below it, and the text stays readable.
        let ground = Rectangle::new(
            [(c.x - 2, y - 1), (c.x + c.width + 2, y + CAPTION_ROW - 3)],
            WHITE.mix(0.85).filled(),
        );
        root.draw(&ground).map_err(|e| fail(&e))?;
        // A caption left of its rule ends at the rule, whatever the font's real widths: the
        // estimate only keeps captions apart.
        let (at, h) = if c.x < c.anchor {
            (c.x + c.width, HPos::Right)
        } else {
            (c.x, HPos::Left)
        };
        let style = (FONT, CAPTION_FONT)
            .into_font()
            .color(&c.color)
            .pos(Pos::new(h, VPos::Top));
        root.draw(&Text::new(c.text.clone(), (at, y), style))
            .map_err(|e| fail(&e))?;
    }
    let text = (FONT, 14).into_font().color(&INK);
    for (i, (label, swatch)) in entries.iter().enumerate() {
        // Rows 20 px apart, from the top of the plotting area.
        let cy = 18 + 20 * i as i32;
        match *swatch {
            Swatch::Shade => {
                legend.draw(&Rectangle::new([(4, cy - 7), (22, cy + 7)], shade_style()))
            }
            Swatch::Line(c, width, stroke) => {
                let style = c.stroke_width(width.max(2));
                let ends = vec![(2, cy), (26, cy)];
                match stroke {
                    Stroke::Solid => legend.draw(&PathElement::new(ends, style)),
                    Stroke::Dashed => legend.draw(&DashedPathElement::new(ends, 9, 5, style)),
                    Stroke::Dotted => legend.draw(&DashedPathElement::new(ends, 2, 4, style)),
                }
            }
            Swatch::Dot(c) => legend.draw(&Circle::new((13, cy), 6, c.filled())),
        }
        .map_err(|e| fail(&e))?;
        legend
            .draw(&Text::new(label.to_string(), (32, cy - 8), text.clone()))
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

/// Caption text size and the height of a row of captions, px.
const CAPTION_FONT: u32 = 13;
const CAPTION_ROW: i32 = 17;
/// A fault's name written in its shaded span: the shade's hue, dark enough to read.
const SHADE_TEXT: RGBColor = RGBColor(168, 30, 31);

/// A caption at the top of the plot: a rule's or a shaded span's.
#[derive(Clone, Debug, PartialEq)]
struct Caption {
    text: String,
    /// Where it is anchored, px: the rule, or the span's left edge.
    anchor: i32,
    color: RGBColor,
    /// A span's name reads from its left edge inward; a rule's caption may sit either side.
    inside: bool,
    /// Where it is drawn: left edge, width and row, px and rows.
    x: i32,
    width: i32,
    row: usize,
}

impl Caption {
    fn new(text: &str, anchor: i32, color: RGBColor, inside: bool) -> Caption {
        Caption {
            text: text.to_string(),
            anchor,
            color,
            inside,
            x: anchor,
            width: text_width(text),
            row: 0,
        }
    }
}

/// The width of `text` at [`CAPTION_FONT`] in a sans-serif face, px: about 7 px a
/// character, rounded up so that a caption claims at least the room it takes.
fn text_width(text: &str) -> i32 {
    i32::try_from(text.chars().count()).unwrap_or(i32::MAX / 8) * 7 + 2
}

/// Places captions between `left` and `right` (px) without overlap: each to the right of its
/// anchor, or to its left when it would run past the plot's right edge, in the first row
/// from the top where it touches no caption placed before it (captions are placed in anchor
/// order, so the earliest event gets the top row).
fn lay_out(mut captions: Vec<Caption>, left: i32, right: i32) -> Vec<Caption> {
    captions.sort_by_key(|c| c.anchor);
    let mut placed: Vec<Caption> = Vec::with_capacity(captions.len());
    for mut c in captions {
        let after = c.anchor + 4;
        let before = c.anchor - 4 - c.width;
        c.x = if c.inside || after + c.width <= right {
            after.min(right - c.width)
        } else {
            before
        }
        .max(left + 2);
        let clashes = |row: usize, c: &Caption| {
            placed
                .iter()
                .any(|p| p.row == row && c.x < p.x + p.width + 6 && p.x < c.x + c.width + 6)
        };
        c.row = (0..).find(|row| !clashes(*row, &c)).unwrap_or(0);
        placed.push(c);
    }
    placed
}

fn shade_style() -> ShapeStyle {
    SHADE.mix(SHADE_ALPHA).filled()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(lo: f64, hi: f64, scale: Scale) -> Axis {
        Axis {
            desc: "value (ms)".into(),
            lo,
            hi,
            scale,
            ticks: Ticks::Auto,
        }
    }

    #[test]
    fn a_chart_is_an_svg_with_its_title_axis_names_and_legend_as_text() {
        let chart = Chart {
            title: "p99 <latency> & more".into(),
            size: (400, 240),
            x: axis(0.0, 60.0, Scale::Linear),
            y: axis(0.5, 500.0, Scale::Log10),
            marks: vec![
                Mark::Shade {
                    from: 10.0,
                    to: 20.0,
                    label: Some("fault in force".into()),
                    caption: Some("v2-burst".into()),
                },
                Mark::Line {
                    label: Some("order-v1 p99".into()),
                    color: palette(0),
                    width: 2,
                    stroke: Stroke::Dashed,
                    points: vec![(5.0, 3.0), (15.0, 300.0)],
                },
            ],
            legend: true,
        };
        let svg = draw(&chart).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        for text in [
            "p99 &lt;latency&gt; &amp; more",
            "value (ms)",
            ">\norder-v1 p99\n<",
            ">\nfault in force\n<",
            ">\nv2-burst\n<",
            ">\n100\n<",
        ] {
            assert!(svg.contains(text), "no {text:?} in\n{svg}");
        }
        assert_eq!(svg, draw(&chart).unwrap(), "drawing is deterministic");
    }

    #[test]
    fn captions_never_overlap_and_stay_inside_the_plot() {
        // "limit crossed" and "rolled back" 60 px apart: the later one goes to the next row
        // rather than over the first.
        let captions = vec![
            Caption::new("rolled back", 160, INK, false),
            Caption::new("limit crossed", 100, INK, false),
            Caption::new("promoted", 395, INK, false),
            Caption::new("v2-burst", 30, INK, true),
        ];
        let placed = lay_out(captions, 20, 400);
        let rows: Vec<(&str, usize)> = placed.iter().map(|c| (c.text.as_str(), c.row)).collect();
        assert_eq!(
            rows,
            [
                ("v2-burst", 0),
                ("limit crossed", 0),
                ("rolled back", 1),
                ("promoted", 0)
            ]
        );
        for (i, a) in placed.iter().enumerate() {
            assert!(a.x >= 22 && a.x + a.width <= 400, "{a:?} leaves the plot");
            for b in &placed[i + 1..] {
                let apart = a.row != b.row || a.x + a.width <= b.x || b.x + b.width <= a.x;
                assert!(apart, "{a:?} overlaps {b:?}");
            }
        }
        // Near the right edge a rule's caption goes to its left.
        let promoted = &placed[3];
        assert!(promoted.x + promoted.width <= 395);
    }
}
