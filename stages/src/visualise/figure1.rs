//! Figure 1: feature visualisation. One row per seed image; beside the seed, for each chosen
//! coordinate of the penultimate representation, the image each source's network ascended to
//! from that seed (`visualise` artifacts), at the network's resolution without smoothing. Under
//! each image the coordinate's value, from the seed's to the kept image's.

use crate::npy::Array;
use crate::render::raster::{self, Rgb};
use crate::render::row::{Reads, ReportRow};
use crate::render::svg::{caption, open, wrap};
use crate::render::RenderParams;
use crate::visualise::artifact::{Summary, IMAGES, SEEDS};
use anyhow::{ensure, Result};
use std::fmt::Write;
use std::path::Path;

/// Figure 1's report. Inputs: `visualise:<name>`, the visualisation of each of its sources.
pub const ROWS: &[ReportRow] = &[ReportRow {
        name: "figure1",
        files: &["figure1.svg"],
        description: "Feature visualisation: images that maximise coordinates of each model's representation, from the same seeds.",
        reads: Reads::Nothing,
        told: &[],
        statistic: None,
        draw: |p, ctx| {
            let dirs: Vec<(&str, &Path)> = p
                .sources
                .iter()
                .filter_map(|s| Some((s.name.as_str(), ctx.input(&format!("visualise:{}", s.name)).ok()?)))
                .collect();
            Ok(vec![render(p, &dirs)?])
        },
}];

const IMAGE: f64 = 64.0;
const CELL: f64 = 76.0;
/// Gap between coordinate groups.
const GROUP_GAP: f64 = 16.0;
const LEFT: f64 = 100.0;
const CAPTION: f64 = 48.0;
const ROW: f64 = 96.0;
/// Wide enough for the title.
const MIN_WIDTH: f64 = 800.0;

/// One source's artifact.
struct Run {
    label: String,
    summary: Summary,
    seeds: Array<f32>,
    images: Array<f32>,
}

/// Pixel `i` of a `[3, side, side]` image in [0, 1], as 8-bit RGB.
fn rgb(values: &[f32], side: usize) -> Rgb {
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let n = side * side;
    let pixels = (0..n).map(|i| [byte(values[i]), byte(values[n + i]), byte(values[2 * n + i])]);
    Rgb { width: side, height: side, pixels: pixels.collect() }
}

/// A value in at most about four digits: `1767`, `15.1`, `0.49`.
fn short(v: f32) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    }
}

/// `dirs`: each source's `visualise` artifact, with its name, in the order of the columns.
pub fn render(p: &RenderParams, dirs: &[(&str, &Path)]) -> Result<String> {
    ensure!(!dirs.is_empty(), "Figure 1 needs at least one `visualise` input");
    let runs: Vec<Run> = dirs
        .iter()
        .map(|(name, dir)| {
            Ok(Run {
                label: p.source_label(name).to_string(),
                summary: Summary::read(dir)?,
                seeds: Array::read(&dir.join(SEEDS))?,
                images: Array::read(&dir.join(IMAGES))?,
            })
        })
        .collect::<Result<_>>()?;
    let first = &runs[0].summary;
    for r in &runs[1..] {
        let s = &r.summary;
        ensure!(
            s.seeds == first.seeds
                && s.coordinates == first.coordinates
                && s.resolution == first.resolution
                && s.step == first.step
                && s.iterations == first.iterations,
            "the sources' visualisations differ in their settings ({} and {})",
            first.source,
            s.source
        );
        ensure!(r.seeds.data == runs[0].seeds.data, "the sources started from other seed images");
    }
    let (side, k, m) = (first.resolution, first.coordinates.len(), runs.len());
    let pixels = 3 * side * side;
    let group = CELL * m as f64 + GROUP_GAP;
    let width = (LEFT + CELL + GROUP_GAP + group * k as f64 + 10.0).max(MIN_WIDTH);
    // About 6.6 px per character of 12 px sans-serif.
    let chars = ((width - 32.0) / 6.6) as usize;
    let coordinates: Vec<String> = first.coordinates.iter().map(usize::to_string).collect();
    let mut lines = wrap(
        &format!(
            "Each image maximises one coordinate of a network's penultimate representation \
             (BatchNorm in evaluation mode, the last ReLU's gradient passed through) by gradient \
             ascent from the seed image of its row: {} L2-normalised steps of length {} in [0, 1] \
             pixel units at {side}×{side} (the paper's 2 at 224×224, scaled by the square root of \
             the pixel count), clamped to [0, 1], the best iterate kept. The same seeds and \
             coordinates ({}) for every model; the coordinates are fixed in pipeline.yaml (the \
             paper does not record its choice). Seeds: procedural patterns that no training set \
             holds, and Gaussian noise N(0.5, 0.05²). Under each image: the coordinate's value at \
             the seed → at the kept image.",
            first.iterations,
            first.step,
            coordinates.join(", ")
        ),
        chars,
    );
    lines.extend(wrap(&p.provenance(), chars));
    let top = CAPTION + 16.0 * lines.len() as f64 + 48.0;
    let height = top + ROW * first.seeds.len() as f64 + 10.0;
    let mut svg = open(width, height);
    let _ = writeln!(
        svg,
        r#"<text x="16" y="26" font-size="18" font-weight="bold">Figure 1: feature visualisation, robust and natural, from the same seeds</text>"#
    );
    svg.push_str(&caption(&lines, CAPTION));
    let column = |g: usize, s: usize| LEFT + CELL + GROUP_GAP + group * g as f64 + CELL * s as f64;
    let header = top - 30.0;
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">seed</text>"#,
        LEFT + IMAGE / 2.0,
        header + 16.0
    );
    for (g, coordinate) in coordinates.iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{header}" font-size="12" font-weight="bold" text-anchor="middle">coordinate {coordinate}</text>"#,
            column(g, 0) + (CELL * m as f64 - (CELL - IMAGE)) / 2.0
        );
        for (s, run) in runs.iter().enumerate() {
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text>"#,
                column(g, s) + IMAGE / 2.0,
                header + 16.0,
                run.label
            );
        }
    }
    for (row, name) in first.seeds.iter().enumerate() {
        let y = top + ROW * row as f64;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" font-size="12" text-anchor="end">{name}</text>"#,
            LEFT - 10.0,
            y + IMAGE / 2.0 + 4.0
        );
        let seed = &runs[0].seeds.data[row * pixels..(row + 1) * pixels];
        svg.push_str(&raster::image(&rgb(seed, side), LEFT, y, IMAGE, IMAGE)?);
        svg.push('\n');
        for g in 0..k {
            for (s, run) in runs.iter().enumerate() {
                let i = row * k + g;
                let image = &run.images.data[i * pixels..(i + 1) * pixels];
                let x = column(g, s);
                svg.push_str(&raster::image(&rgb(image, side), x, y, IMAGE, IMAGE)?);
                svg.push('\n');
                let _ = writeln!(
                    svg,
                    r#"<text x="{}" y="{}" font-size="10" text-anchor="middle">{} → {}</text>"#,
                    x + IMAGE / 2.0,
                    y + IMAGE + 13.0,
                    short(run.summary.start[i]),
                    short(run.summary.best[i])
                );
            }
        }
    }
    svg.push_str("</svg>\n");
    Ok(svg)
}
