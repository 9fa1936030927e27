//! Figure 7: the influence matrices (training rows, then test rows; natural, then robust) as heat
//! maps, each divided by its Frobenius norm, rows and columns grouped by class (image order within
//! a class). Large matrices are averaged over square blocks of entries down to at most `SIDE`
//! pixels a side. Colour: a diverging scale (blue negative, white 0, red positive) clipped at
//! each panel's 99th percentile of |pixel|, printed under the panel; the authors clipped at
//! ±1e-5, which saturates nearly every entry and shows little more than the sign.

use super::{labels, Pair};
use crate::npy::Array;
use crate::render::raster::{self, Rgb};
use crate::render::svg::wrap;
use crate::render::RenderParams;
use anyhow::Result;
use std::fmt::Write;

const SIDE: usize = 300;
const PANEL: f64 = 300.0;
const LEFT: f64 = 60.0;
const TOP: f64 = 120.0;
const GAP: f64 = 70.0;

/// Indices 0..labels.len() grouped by class, in index order within a class.
fn by_class(labels: &[u32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by_key(|&i| (labels[i], i));
    order
}

/// The heat map's pixels (entries / Frobenius norm, class-grouped, block-averaged) and its size.
fn pixels(m: &Array<f64>, rows: &[u32], cols: &[u32]) -> (Vec<f64>, usize, usize) {
    let norm = m.data.iter().map(|v| v * v).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
    let (ro, co) = (by_class(rows), by_class(cols));
    let factor = m.rows().max(m.cols()).div_ceil(SIDE).max(1);
    let (h, w) = (m.rows().div_ceil(factor), m.cols().div_ceil(factor));
    let mut sum = vec![0.0; h * w];
    let mut count = vec![0usize; h * w];
    for (r, &i) in ro.iter().enumerate() {
        let row = m.row(i);
        for (c, &j) in co.iter().enumerate() {
            let p = (r / factor) * w + c / factor;
            sum[p] += row[j] / norm;
            count[p] += 1;
        }
    }
    (sum.iter().zip(&count).map(|(s, &n)| s / n.max(1) as f64).collect(), h, w)
}

/// The 99th percentile of |v|.
fn clip(values: &[f64]) -> f64 {
    let mut a: Vec<f64> = values.iter().map(|v| v.abs()).collect();
    a.sort_by(f64::total_cmp);
    a.get(((a.len() as f64 * 0.99) as usize).min(a.len().saturating_sub(1)))
        .copied()
        .filter(|&c| c > 0.0)
        .unwrap_or(1.0)
}

fn colour(v: f64) -> [u8; 3] {
    let t = v.clamp(-1.0, 1.0);
    let (end, s) = if t < 0.0 { ([33.0, 102.0, 172.0], -t) } else { ([178.0, 24.0, 43.0], t) };
    let mix = |k: usize| (255.0 + (end[k] - 255.0) * s).round() as u8;
    [mix(0), mix(1), mix(2)]
}

/// Where the class groups of `labels` start, as fractions of the axis (interior ones only).
fn boundaries(labels: &[u32]) -> Vec<f64> {
    let order = by_class(labels);
    (1..order.len())
        .filter(|&k| labels[order[k]] != labels[order[k - 1]])
        .map(|k| k as f64 / order.len() as f64)
        .collect()
}

/// The panel's drawn size: the matrix's aspect ratio within a `PANEL` square.
fn size(rows: usize, cols: usize) -> (f64, f64) {
    let (r, c) = (rows.max(1) as f64, cols.max(1) as f64);
    if r > c {
        (PANEL * c / r, PANEL)
    } else {
        (PANEL, PANEL * r / c)
    }
}

pub fn render(p: &RenderParams, pair: &Pair) -> Result<String> {
    let l = labels(p)?;
    let (n, m) = (pair.natural.splits.train.rows(), pair.natural.splits.test.rows());
    let (train_h, test_h) = (size(n, n).1, size(m, n).1);
    let mut subtitle = vec![
        format!("{}, {}.", l.dataset, l.cell),
        "Entry (i, j): influence of training image j (column) on image i (row), divided by the matrix's Frobenius norm.".to_string(),
        "Red: helpful, blue: harmful; clipped at ±c, each panel's 99th percentile of |pixel|; large matrices averaged over blocks.".to_string(),
    ];
    subtitle.extend(wrap(&p.provenance(), 115));
    // Below the subtitle, however many lines it took.
    let top = TOP + 16.0 * (subtitle.len() as f64 - 4.0);
    let width = LEFT + 2.0 * PANEL + GAP + 30.0;
    let height = top + train_h + GAP + test_h + GAP + 16.0;
    let mut svg = crate::render::svg::open(width, height);
    let _ = writeln!(
        svg,
        r#"<text x="16" y="26" font-size="18" font-weight="bold">Figure 7: influence matrices, rows and columns grouped by class</text>"#
    );
    svg.push_str(&crate::render::svg::caption(&subtitle, 46.0));
    let panels = [
        (&l.natural, &pair.natural.splits, true),
        (&l.robust, &pair.robust.splits, true),
        (&l.natural, &pair.natural.splits, false),
        (&l.robust, &pair.robust.splits, false),
    ];
    for (k, (source, model, train_rows)) in panels.into_iter().enumerate() {
        let x = LEFT + (PANEL + GAP) * (k % 2) as f64;
        let y = if train_rows { top } else { top + train_h + GAP };
        let (m, rows) = match train_rows {
            true => (&model.train, &model.train_labels),
            false => (&model.test, &model.test_labels),
        };
        let (values, h, w) = pixels(m, rows, &model.train_labels);
        let c = clip(&values);
        let image =
            Rgb { width: w, height: h, pixels: values.iter().map(|v| colour(v / c)).collect() };
        let (pw, ph) = size(m.rows(), m.cols());
        svg.push_str(&raster::image(&image, x, y, pw, ph)?);
        svg.push('\n');
        for b in boundaries(&model.train_labels) {
            let _ = writeln!(
                svg,
                r##"<line x1="{0}" y1="{y}" x2="{0}" y2="{1}" stroke="#00000040" stroke-width="0.5"/>"##,
                x + b * pw,
                y + ph
            );
        }
        for b in boundaries(rows) {
            let _ = writeln!(
                svg,
                r##"<line x1="{x}" y1="{0}" x2="{1}" y2="{0}" stroke="#00000040" stroke-width="0.5"/>"##,
                y + b * ph,
                x + pw
            );
        }
        let _ = writeln!(
            svg,
            r##"<rect x="{x}" y="{y}" width="{pw}" height="{ph}" fill="none" stroke="#333333" stroke-width="0.8"/>"##
        );
        let what = if train_rows { "training" } else { "test" };
        let _ = writeln!(
            svg,
            r#"<text x="{x}" y="{}" font-size="12">{}: {what} rows × training columns</text>"#,
            y + ph + 16.0,
            p.source_label(source),
        );
        let _ = writeln!(
            svg,
            r##"<text x="{x}" y="{}" font-size="11" fill="#505050">{} × {}, c = {c:.3e}</text>"##,
            y + ph + 31.0,
            m.rows(),
            m.cols()
        );
    }
    svg.push_str("</svg>\n");
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_group_by_class_normalise_and_average_blocks() {
        // 2 × 2 entries, rows labelled (1, 0), columns (0, 1): grouping swaps the rows.
        let m = Array::new(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let (v, h, w) = pixels(&m, &[1, 0], &[0, 1]);
        let norm = 30f64.sqrt();
        assert_eq!((h, w), (2, 2));
        let want = [3.0, 4.0, 1.0, 2.0].map(|x| x / norm);
        assert!(v.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-15), "{v:?}");
        assert_eq!(colour(0.0), [255, 255, 255]);
        assert_eq!(colour(-5.0), [33, 102, 172]);
        assert_eq!(boundaries(&[1, 0, 1, 0]), vec![0.5]);
        // 601 columns: blocks of 3 entries, 201 pixels wide.
        let wide = Array::new(vec![1, 601], vec![1.0; 601]).unwrap();
        let (_, h, w) = pixels(&wide, &[0], &[0; 601]);
        assert_eq!((h, w), (1, 201));
    }
}
