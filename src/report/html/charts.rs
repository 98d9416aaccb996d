//! Charts as data, drawn by plotters' SVG backend.
//!
//! A chart is described first (axes, marks, legend) and drawn in one place, so every chart
//! of the page shares one look and one coordinate type (see [`super::axis`]).

use plotters::prelude::*;

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
    },
    /// One connected stretch of a series.
    Line {
        /// Legend entry (the first stretch of a series carries it).
        label: Option<String>,
        /// Colour.
        color: RGBColor,
        /// Stroke width in pixels.
        width: u32,
        /// Points, in x order.
        points: Vec<(f64, f64)>,
    },
    /// A vertical rule with a caption at its top (a rollout decision).
    Rule {
        /// Where.
        at: f64,
        /// Caption.
        label: String,
        /// Colour.
        color: RGBColor,
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

/// Where the legend goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Legend {
    /// Top left of the plotting area.
    UpperLeft,
    /// Top right of the plotting area.
    UpperRight,
    /// No legend.
    None,
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
    /// Legend placement.
    pub legend: Legend,
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

fn render(chart: &Chart, svg: &mut String) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::with_string(svg, chart.size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let (x_lo, x_hi) = chart.x.range();
    let (y_lo, y_hi) = chart.y.range();
    let x_ticks = chart.x.tick_positions();
    let y_ticks = chart.y.tick_positions();
    let mut ctx = ChartBuilder::on(&root)
        .caption(&chart.title, (FONT, 20).into_font().color(&INK))
        .margin(12)
        .margin_right(24)
        .x_label_area_size(44)
        .y_label_area_size(chart.y.label_room())
        .build_cartesian_2d(
            Ticked::new(x_lo, x_hi, x_ticks),
            Ticked::new(y_lo, y_hi, y_ticks),
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
    let mut legend = false;
    for mark in &chart.marks {
        match mark {
            Mark::Shade { from, to, label } => {
                let (a, b) = (x.map(*from).max(x_lo), x.map(*to).min(x_hi));
                if b <= a {
                    continue;
                }
                let style = SHADE.mix(SHADE_ALPHA).filled();
                let anno = ctx
                    .draw_series(std::iter::once(Rectangle::new(
                        [(a, y_lo), (b, y_hi)],
                        style,
                    )))
                    .map_err(|e| fail(&e))?;
                if let Some(l) = label {
                    legend = true;
                    anno.label(l.as_str()).legend(move |(px, py)| {
                        Rectangle::new([(px, py - 6), (px + 16, py + 6)], style)
                    });
                }
            }
            Mark::Line {
                label,
                color,
                width,
                points,
            } => {
                let style = color.stroke_width(*width);
                let mapped: Vec<(f64, f64)> =
                    points.iter().map(|(a, b)| (x.map(*a), y.map(*b))).collect();
                let anno = if mapped.len() == 1 {
                    ctx.draw_series(
                        mapped
                            .iter()
                            .map(|p| Circle::new(*p, 2 + *width, color.filled())),
                    )
                } else {
                    ctx.draw_series(LineSeries::new(mapped, style))
                }
                .map_err(|e| fail(&e))?;
                if let Some(l) = label {
                    legend = true;
                    anno.label(l.as_str()).legend(move |(px, py)| {
                        PathElement::new(vec![(px, py), (px + 16, py)], style.stroke_width(3))
                    });
                }
            }
            Mark::Rule { at, label, color } => {
                let at = x.map(*at);
                if at < x_lo || at > x_hi {
                    continue;
                }
                let line = PathElement::new(vec![(at, y_lo), (at, y_hi)], color.stroke_width(2));
                let caption = EmptyElement::at((at, y_hi))
                    + Text::new(label.clone(), (4, 4), (FONT, 14).into_font().color(color));
                ctx.draw_series(std::iter::once(line))
                    .map_err(|e| fail(&e))?;
                ctx.draw_series(std::iter::once(caption))
                    .map_err(|e| fail(&e))?;
            }
            Mark::Dot { at, color, label } => {
                let dot = Circle::new((x.map(at.0), y.map(at.1)), 6, color.filled());
                let anno = ctx
                    .draw_series(std::iter::once(dot))
                    .map_err(|e| fail(&e))?;
                if let Some(l) = label {
                    legend = true;
                    let c = *color;
                    anno.label(l.as_str())
                        .legend(move |(px, py)| Circle::new((px + 8, py), 6, c.filled()));
                }
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
    let position = match chart.legend {
        Legend::UpperLeft => Some(SeriesLabelPosition::UpperLeft),
        Legend::UpperRight => Some(SeriesLabelPosition::UpperRight),
        Legend::None => None,
    };
    if let (true, Some(position)) = (legend, position) {
        ctx.configure_series_labels()
            .position(position)
            .background_style(WHITE.mix(0.85))
            .border_style(INK.mix(0.3))
            .label_font((FONT, 14).into_font().color(&INK))
            .draw()
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
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
                },
                Mark::Line {
                    label: Some("order-v1 p99".into()),
                    color: palette(0),
                    width: 2,
                    points: vec![(5.0, 3.0), (15.0, 300.0)],
                },
            ],
            legend: Legend::UpperRight,
        };
        let svg = draw(&chart).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        for text in [
            "p99 &lt;latency&gt; &amp; more",
            "value (ms)",
            ">\norder-v1 p99\n<",
            ">\nfault in force\n<",
            ">\n100\n<",
        ] {
            assert!(svg.contains(text), "no {text:?} in\n{svg}");
        }
        assert_eq!(svg, draw(&chart).unwrap(), "drawing is deterministic");
    }
}
