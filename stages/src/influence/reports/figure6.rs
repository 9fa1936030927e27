//! Figure 6: one test image per class (drawn with the recorded seed), and beside it the training
//! image each model ranks most helpful to it, at native resolution scaled up without smoothing.

use super::ranks::ranked;
use super::{labels, Pair};
use crate::data::{derived_rng, Dataset};
use crate::render::raster::{self, Rgb};
use crate::render::svg::wrap;
use crate::render::RenderParams;
use anyhow::{ensure, Result};
use rand::Rng;
use std::fmt::Write;
use std::path::Path;

const CELL: f64 = 76.0;
const IMAGE: f64 = 64.0;
/// Room for the row labels ("ℓ2 ε=0.375: most helpful" at the caption font).
const LEFT: f64 = 210.0;
/// Baseline of the caption's first line.
const CAPTION: f64 = 48.0;
const ROW: f64 = 100.0;
const SAME: &str = "#1a7f37";
const OTHER: &str = "#c0392b";

fn rgb(ds: &Dataset, i: usize) -> Rgb {
    let (h, w, c) = (ds.height, ds.width, ds.channels);
    let img = ds.image(i);
    let pixels = (0..h * w)
        .map(|p| match c {
            1 => [img[p]; 3],
            _ => [img[p], img[h * w + p], img[2 * h * w + p]],
        })
        .collect();
    Rgb { width: w, height: h, pixels }
}

fn class_name(ds: &Dataset, c: u32) -> String {
    ds.class_names
        .as_ref()
        .and_then(|n| n.get(c as usize).cloned())
        .unwrap_or_else(|| format!("class {c}"))
}

pub fn render(p: &RenderParams, pair: &Pair, data: &Path) -> Result<String> {
    let l = labels(p)?;
    let (train, test) = (Dataset::load(&data.join("train"))?, Dataset::load(&data.join("test"))?);
    let i = &pair.natural.splits;
    ensure!(
        i.test_labels.len() == test.len() && pair.robust.splits.test_labels == i.test_labels,
        "the influence artifacts and the dataset disagree on the test images"
    );
    // One test image per class that has any, drawn uniformly with the recorded seed.
    let mut columns = Vec::new();
    for c in 0..test.classes as u32 {
        let of_class: Vec<usize> = (0..test.len()).filter(|&t| test.labels[t] == c).collect();
        if !of_class.is_empty() {
            let mut rng = derived_rng("figure6", &[l.figure6_seed, c as u64]);
            columns.push(of_class[rng.random_range(0..of_class.len())]);
        }
    }
    let width = LEFT + CELL * columns.len() as f64 + 20.0;
    let mut caption = wrap(
        &format!(
            "{}, {}; one test image per class drawn with seed {}. Under a training image: its \
             class, green when it is the test image's.",
            l.dataset, l.cell, l.figure6_seed
        ),
        130,
    );
    caption.extend(wrap(&p.provenance(), 130));
    // The images start below the caption, however many lines it took.
    let top = CAPTION + 16.0 * caption.len() as f64 + 12.0;
    let height = top + 3.0 * ROW + 10.0;
    let mut svg = crate::render::svg::open(width, height);
    let _ = writeln!(
        svg,
        r#"<text x="16" y="26" font-size="18" font-weight="bold">Figure 6: each test image and the training image each model finds most helpful to it</text>"#
    );
    svg.push_str(&crate::render::svg::caption(&caption, CAPTION));
    let rows = [
        ("test image".to_string(), None),
        (format!("{}: most helpful", p.source_label(&l.natural)), Some(&pair.natural)),
        (format!("{}: most helpful", p.source_label(&l.robust)), Some(&pair.robust)),
    ];
    for (r, (title, model)) in rows.iter().enumerate() {
        let y = top + ROW * r as f64;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" font-size="12" text-anchor="end">{title}</text>"#,
            LEFT - 10.0,
            y + IMAGE / 2.0 + 4.0
        );
        for (c, &t) in columns.iter().enumerate() {
            let x = LEFT + CELL * c as f64;
            let (image, label, same) = match model {
                None => (rgb(&test, t), class_name(&test, test.labels[t]), true),
                Some(m) => {
                    let j = ranked(m.splits.test.row(t))[0];
                    let index = m.splits.train_indices[j] as usize;
                    let class = train.labels[index];
                    (rgb(&train, index), class_name(&train, class), class == test.labels[t])
                }
            };
            svg.push_str(&raster::image(&image, x, y, IMAGE, IMAGE)?);
            svg.push('\n');
            let fill = if model.is_none() {
                "#000000"
            } else if same {
                SAME
            } else {
                OTHER
            };
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{}" font-size="10" text-anchor="middle" fill="{fill}">{label}</text>"#,
                x + IMAGE / 2.0,
                y + IMAGE + 13.0
            );
        }
    }
    svg.push_str("</svg>\n");
    Ok(svg)
}
