//! Shared plotting: a figure is a title, a legend and a grid of cells, each cell a stack of
//! panels; a panel is lines of means with shaded 95% intervals. Every figure is drawn by
//! [`svg`], so all figures share one look. SVG text uses the generic `sans-serif` family: no
//! system fonts are read (plotters' text sizes are estimates, hence the generous margins).

use anyhow::{anyhow, Result};
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::svg::wrap;

/// Width in pixels: what GitHub shows an SVG at without scaling.
const WIDTH: u32 = 900;
/// Height of the first panel of a cell and of each panel stacked below it.
const FIRST_PANEL: u32 = 250;
const NEXT_PANEL: u32 = 170;
const FONT: &str = "sans-serif";

/// A mean and its interval at one x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub lo: f64,
    pub hi: f64,
}

/// One series: a line through the means with a shaded band between the interval ends.
#[derive(Debug, Clone)]
pub struct Line {
    pub color: RGBColor,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XAxis {
    /// Subset sizes: 100 … 50,000 on a log scale.
    Log,
    /// Epochs.
    Linear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YAxis {
    /// Test accuracy in percent: the axis and the bands stay within [0, 100].
    Accuracy,
    /// A difference of accuracies in points, with the y = 0 line drawn.
    Difference,
    /// A share of rows in percent (Figure 8), within [0, 100].
    Share,
}

impl YAxis {
    fn label(self) -> &'static str {
        match self {
            YAxis::Accuracy => "test accuracy (%)",
            YAxis::Difference => "Δ accuracy (points)",
            YAxis::Share => "rows (%)",
        }
    }
    /// The values this axis can hold; an interval reaching past them is cut at the bound.
    fn bounds(self) -> (f64, f64) {
        match self {
            YAxis::Accuracy | YAxis::Share => (0.0, 100.0),
            YAxis::Difference => (-100.0, 100.0),
        }
    }
}

/// One chart.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub x_axis: XAxis,
    pub y_axis: YAxis,
    pub lines: Vec<Line>,
    /// Where guessing lands (percent), drawn as a dashed line.
    pub chance: Option<f64>,
}

impl Panel {
    /// The panel with chance drawn at `at` percent.
    pub fn with_chance(self, at: Option<f64>) -> Panel {
        Panel { chance: at, ..self }
    }
}

/// A whole figure.
#[derive(Debug, Clone)]
pub struct Figure {
    pub title: String,
    /// One or more lines (`\n`).
    pub subtitle: String,
    /// Legend entries, shown once above the grid.
    pub legend: Vec<(String, RGBColor)>,
    pub columns: usize,
    /// Grid cells in reading order; each a stack of panels, top to bottom.
    pub cells: Vec<Vec<Panel>>,
}

/// Colours of sources, in the order the parameters list them (the first is usually natural).
pub const SOURCE_COLORS: [RGBColor; 6] = [
    RGBColor(70, 70, 70),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(23, 170, 190),
    RGBColor(140, 86, 75),
];
/// Colours of comparisons between robust sources (hues unused by the sources).
pub const COMPARISON_COLORS: [RGBColor; 4] =
    [RGBColor(230, 120, 20), RGBColor(0, 140, 130), RGBColor(200, 60, 150), RGBColor(120, 120, 0)];
/// Colours of a sequence (numbers of fine-tuned blocks): light to dark reds.
pub const SEQUENCE_COLORS: [RGBColor; 5] = [
    RGBColor(253, 174, 97),
    RGBColor(244, 109, 67),
    RGBColor(215, 48, 39),
    RGBColor(165, 0, 38),
    RGBColor(90, 0, 20),
];

fn plot_err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the figure: {e}")
}

fn cell_height(cell: &[Panel]) -> u32 {
    if cell.is_empty() {
        0
    } else {
        FIRST_PANEL + NEXT_PANEL * (cell.len() as u32 - 1)
    }
}

/// Estimated width of `text` at `size` px (plotters' SVG backend cannot measure text).
fn text_width(text: &str, size: f64) -> i32 {
    (text.chars().count() as f64 * size * 0.5).ceil() as i32
}

/// Legend rows (entries wrapped to the figure width) and their positions.
fn legend_layout(legend: &[(String, RGBColor)]) -> Vec<(i32, i32, usize)> {
    let (mut x, mut y, mut out) = (16, 0, Vec::new());
    for (i, (label, _)) in legend.iter().enumerate() {
        let w = 30 + text_width(label, 13.0) + 24;
        if x + w > WIDTH as i32 - 10 && x > 16 {
            x = 16;
            y += 22;
        }
        out.push((x, y, i));
        x += w;
    }
    out
}

/// Draw `fig` as an SVG document.
pub fn svg(fig: &Figure) -> Result<String> {
    let columns = fig.columns.max(1);
    let rows: Vec<&[Vec<Panel>]> = fig.cells.chunks(columns).collect();
    let row_heights: Vec<u32> =
        rows.iter().map(|r| r.iter().map(|c| cell_height(c)).max().unwrap_or(0)).collect();
    let legend = legend_layout(&fig.legend);
    let legend_height = legend.last().map_or(0, |&(_, y, _)| y + 26) as u32;
    // The subtitle wrapped to the width (about 7.2 px per character of 13 px sans-serif); lines
    // after the first push the legend and the grid down.
    let chars = ((WIDTH - 32) as f64 / 7.2) as usize;
    let subtitle: Vec<String> = fig.subtitle.lines().flat_map(|l| wrap(l, chars)).collect();
    let extra = 18 * (subtitle.len().max(1) as u32 - 1);
    let header = 62 + extra + legend_height;
    let height = header + row_heights.iter().sum::<u32>() + 8;

    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        root.draw(&Text::new(
            fig.title.clone(),
            (16, 12),
            (FONT, 20).into_font().style(FontStyle::Bold),
        ))
        .map_err(plot_err)?;
        for (i, line) in subtitle.iter().enumerate() {
            root.draw(&Text::new(
                line.clone(),
                (16, 38 + 18 * i as i32),
                (FONT, 13).into_font().color(&RGBColor(80, 80, 80)),
            ))
            .map_err(plot_err)?;
        }
        for &(x, y, i) in &legend {
            let (label, color) = &fig.legend[i];
            let y = 62 + extra as i32 + y;
            root.draw(&Rectangle::new([(x, y + 5), (x + 24, y + 9)], color.filled()))
                .map_err(plot_err)?;
            root.draw(&Text::new(label.clone(), (x + 30, y), (FONT, 13).into_font()))
                .map_err(plot_err)?;
        }
        let (_, mut body) = root.split_vertically(header);
        for (row, h) in rows.iter().zip(&row_heights) {
            let (this, rest) = body.split_vertically(*h);
            body = rest;
            let areas = this.split_evenly((1, columns));
            for (cell, area) in row.iter().zip(&areas) {
                draw_cell(area, cell)?;
            }
        }
        root.present().map_err(plot_err)?;
    }
    Ok(out)
}

fn draw_cell(area: &DrawingArea<SVGBackend<'_>, Shift>, cell: &[Panel]) -> Result<()> {
    let mut rest = area.clone();
    for (i, panel) in cell.iter().enumerate() {
        let h = if i == 0 { FIRST_PANEL } else { NEXT_PANEL };
        let (this, below) = rest.split_vertically(h);
        draw_panel(&this, panel)?;
        rest = below;
    }
    Ok(())
}

fn points(panel: &Panel) -> impl Iterator<Item = &Point> {
    panel.lines.iter().flat_map(|l| &l.points)
}

fn x_range(panel: &Panel) -> (f64, f64) {
    let (lo, hi) = points(panel)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.x), b.max(p.x)));
    match panel.x_axis {
        _ if lo > hi => (1.0, 10.0),
        XAxis::Log => (lo / 1.5, hi * 1.5),
        XAxis::Linear => {
            let pad = ((hi - lo) * 0.03).max(0.5);
            (lo - pad, hi + pad)
        }
    }
}

/// Ticks of the log subset axis: the sizes plotted when they are few, else 1-2-5 steps.
fn log_ticks(panel: &Panel, (x0, x1): (f64, f64)) -> Vec<f64> {
    let mut xs: Vec<f64> = points(panel).map(|p| p.x).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    if !xs.is_empty() && xs.len() <= 6 {
        return xs;
    }
    let decades = x0.max(1.0).log10().floor() as i32..=x1.log10().ceil() as i32;
    decades
        .flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
        .filter(|v| (x0..=x1).contains(v))
        .collect()
}

fn y_range(panel: &Panel) -> (f64, f64) {
    let (bottom, top) = panel.y_axis.bounds();
    let (mut lo, mut hi) = points(panel).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.lo).min(p.y), b.max(p.hi).max(p.y))
    });
    if panel.y_axis == YAxis::Difference {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    if panel.y_axis == YAxis::Share {
        lo = 0.0;
    }
    if let Some(c) = panel.chance {
        lo = lo.min(c);
        hi = hi.max(c);
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(0.5);
    ((lo - pad).max(bottom), (hi + pad).min(top))
}

fn draw_panel(area: &DrawingArea<SVGBackend<'_>, Shift>, panel: &Panel) -> Result<()> {
    let (x0, x1) = x_range(panel);
    let (y0, y1) = y_range(panel);
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&panel.title, (FONT, 14).into_font().style(FontStyle::Bold))
        .margin_top(4)
        .margin_left(6)
        .margin_right(14)
        .margin_bottom(4)
        .x_label_area_size(40)
        .y_label_area_size(52);
    match panel.x_axis {
        XAxis::Log => {
            let ticks = log_ticks(panel, (x0, x1));
            let chart = builder
                .build_cartesian_2d((x0..x1).log_scale().with_key_points(ticks), y0..y1)
                .map_err(plot_err)?;
            draw_series(chart, panel, (x0, x1), (y0, y1))?;
        }
        XAxis::Linear => {
            let chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(plot_err)?;
            draw_series(chart, panel, (x0, x1), (y0, y1))?;
        }
    }
    if panel.lines.iter().all(|l| l.points.is_empty()) {
        let (w, h) = area.dim_in_pixel();
        area.draw(&Text::new(
            "no data",
            (w as i32 / 2 - 10, h as i32 / 2 - 10),
            (FONT, 13).into_font(),
        ))
        .map_err(plot_err)?;
    }
    Ok(())
}

fn draw_series<X>(
    mut chart: ChartContext<'_, SVGBackend<'_>, Cartesian2d<X, RangedCoordf64>>,
    panel: &Panel,
    (x0, x1): (f64, f64),
    (y_bottom, y_top): (f64, f64),
) -> Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let x_fmt = |v: &f64| {
        if *v >= 10_000.0 {
            format!("{}k", (v / 100.0).round() / 10.0)
        } else {
            format!("{v:.0}")
        }
    };
    let y_fmt = |v: &f64| {
        let v = if v.abs() < 1e-9 { 0.0 } else { *v }; // never "-0.0"
        if y_top - y_bottom < 6.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.0}")
        }
    };
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_axis.label())
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((FONT, 11))
        .axis_desc_style((FONT, 12))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(plot_err)?;
    if panel.y_axis == YAxis::Difference {
        chart
            .draw_series(LineSeries::new([(x0, 0.0), (x1, 0.0)], BLACK.stroke_width(1)))
            .map_err(plot_err)?;
    }
    if let Some(c) = panel.chance {
        let grey = RGBColor(120, 120, 120);
        chart
            .draw_series(DashedLineSeries::new([(x0, c), (x1, c)], 4, 3, grey.stroke_width(1)))
            .map_err(plot_err)?;
        chart
            .draw_series([Text::new("chance", (x0, c), (FONT, 10).into_font().color(&grey))])
            .map_err(plot_err)?;
    }
    // Overlapping bands stay readable: the more bands, the lighter each.
    let banded = panel.lines.iter().filter(|l| l.points.iter().any(|p| p.hi > p.lo)).count();
    let alpha = (0.36 / banded.max(1) as f64).clamp(0.07, 0.18);
    for line in &panel.lines {
        if line.points.iter().any(|p| p.hi > p.lo) {
            let band: Vec<(f64, f64)> = line
                .points
                .iter()
                .map(|p| (p.x, p.hi.min(y_top)))
                .chain(line.points.iter().rev().map(|p| (p.x, p.lo.max(y_bottom))))
                .collect();
            chart
                .draw_series([Polygon::new(band, line.color.mix(alpha).filled())])
                .map_err(plot_err)?;
        }
    }
    for line in &panel.lines {
        chart
            .draw_series(LineSeries::new(
                line.points.iter().map(|p| (p.x, p.y)),
                line.color.stroke_width(2),
            ))
            .map_err(plot_err)?;
        chart
            .draw_series(
                line.points.iter().map(|p| Circle::new((p.x, p.y), 3, line.color.filled())),
            )
            .map_err(plot_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(y_axis: YAxis, xs_ys: &[(f64, f64, f64)]) -> Panel {
        let points = xs_ys.iter().map(|&(x, lo, hi)| Point { x, y: (lo + hi) / 2.0, lo, hi });
        Panel {
            title: String::new(),
            x_label: String::new(),
            x_axis: XAxis::Log,
            y_axis,
            lines: vec![Line { color: BLACK, points: points.collect() }],
            chance: None,
        }
    }

    #[test]
    fn accuracy_axes_stay_within_0_and_100_and_differences_show_zero() {
        let wide = panel(YAxis::Accuracy, &[(100.0, -30.0, 40.0), (200.0, 70.0, 130.0)]);
        assert_eq!(y_range(&wide), (0.0, 100.0));
        let (lo, hi) = y_range(&panel(YAxis::Accuracy, &[(100.0, 20.0, 30.0)]));
        assert!(lo > 0.0 && lo < 20.0 && hi > 30.0 && hi < 100.0, "{lo} {hi}");
        let (lo, hi) = y_range(&panel(YAxis::Difference, &[(100.0, 2.0, 6.0)]));
        assert!(lo < 0.0 && hi > 6.0, "{lo} {hi}");
    }

    #[test]
    fn log_ticks_are_the_sizes_when_few_else_one_two_five_steps() {
        let few =
            panel(YAxis::Accuracy, &[(100.0, 1.0, 2.0), (200.0, 1.0, 2.0), (400.0, 1.0, 2.0)]);
        assert_eq!(log_ticks(&few, x_range(&few)), [100.0, 200.0, 400.0]);
        let sizes: Vec<(f64, f64, f64)> =
            (0..10).map(|i| (100.0 * 2f64.powi(i), 1.0, 2.0)).collect();
        let many = panel(YAxis::Accuracy, &sizes);
        let (x0, x1) = x_range(&many);
        let ticks = log_ticks(&many, (x0, x1));
        assert_eq!(ticks, [100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0, 50000.0]);
    }
}
