//! The paper's figures as data: which rows of the aggregate each panel shows. Drawing is
//! [`super::plot`]'s; every figure is one grid of per-dataset cells.
//!
//! Figures 2, 4, 5 and 10 use the report's statistic (each run's last or best evaluation; by
//! default the paper's: last for Figure 2, best for the blocks and constraint figures); Figure 3
//! every evaluation. Intervals are 95% Student-t over seeds (the paper used seaborn's bootstrap
//! intervals).

use super::data::{self, DeltaRow, Stat, SummaryRow};
use super::plot::{
    self, Figure, Line, Panel, Point, XAxis, YAxis, COMPARISON_COLORS, SEQUENCE_COLORS,
    SOURCE_COLORS,
};
use super::{RenderParams, SourceLabel};
use crate::aggregate::columns as column;
use crate::threat::Constraint;
use anyhow::{bail, Result};
use plotters::style::RGBColor;
use polars::prelude::{col, lit, Expr};
use std::path::Path;

/// The blocks the paper's Figures 2, 3 and 5 fine-tune.
const BLOCKS: u32 = 3;
const SUBSET: &str = "training images (log scale)";

/// The SVG of `figure`, drawn from the aggregate in `aggregate`.
pub fn svg(
    figure: fn(&RenderParams, &Path) -> Result<Figure>,
    params: &RenderParams,
    aggregate: &Path,
) -> Result<String> {
    plot::svg(&figure(params, aggregate)?)
}

/// Figure 4: the fine-tuned depths for the ℓ2 source against natural.
pub fn figure4(params: &RenderParams, aggregate: &Path) -> Result<Figure> {
    let l2 = params.sources.iter().find(|s| s.constraint == Constraint::L2);
    let Some(l2) = l2 else { bail!("figure4 needs an l2 source among `sources`") };
    blocks_figure(params, aggregate, "Figure 4", &[l2])
}

/// Figure 10: as Figure 4, for every robust source but the first ℓ2 one.
pub fn figure10(params: &RenderParams, aggregate: &Path) -> Result<Figure> {
    let first_l2 = params.sources.iter().position(|s| s.constraint == Constraint::L2);
    let others: Vec<&SourceLabel> = params
        .sources
        .iter()
        .enumerate()
        .filter(|&(i, s)| s.constraint != Constraint::None && Some(i) != first_l2)
        .map(|(_, s)| s)
        .collect();
    blocks_figure(params, aggregate, "Figure 10", &others)
}

/// Dataset cells per row: every dataset in one row up to four (a laptop screen's width), else
/// rows of three.
fn columns(params: &RenderParams) -> usize {
    match params.datasets.len() {
        n @ 1..=4 => n,
        _ => 3,
    }
}

/// The colour of `source` in every figure.
pub fn color(params: &RenderParams, source: &str) -> RGBColor {
    let i = params.sources.iter().position(|s| s.name == source).unwrap_or(0);
    SOURCE_COLORS[i % SOURCE_COLORS.len()]
}

/// A line through `rows`, each placed at `x(row)` with its statistic.
fn line<R>(rows: &[R], color: RGBColor, x: impl Fn(&R) -> (f64, Stat)) -> Line {
    Line {
        color,
        points: rows
            .iter()
            .map(|r| {
                let (x, s) = x(r);
                let (lo, hi) = s.interval();
                Point { x, y: s.mean, lo, hi }
            })
            .collect(),
    }
}

fn summary_by_size(r: &SummaryRow) -> (f64, Stat) {
    (r.size as f64, r.stat)
}

fn delta_by_size(r: &DeltaRow) -> (f64, Stat) {
    (r.size as f64, r.stat)
}

fn source_legend(params: &RenderParams) -> Vec<(String, RGBColor)> {
    params.sources.iter().map(|s| (s.label.clone(), color(params, &s.name))).collect()
}

/// Differences `source − b` with both at `blocks` blocks.
fn pair(a: &str, b: &str, blocks: u32) -> Expr {
    col(column::A_SOURCE)
        .eq(lit(a))
        .and(col(column::B_SOURCE).eq(lit(b)))
        .and(col(column::A_BLOCKS).eq(lit(blocks)))
        .and(col(column::B_BLOCKS).eq(lit(blocks)))
}

fn panel(title: String, x_label: &str, x_axis: XAxis, y_axis: YAxis, lines: Vec<Line>) -> Panel {
    Panel { title, x_label: x_label.into(), x_axis, y_axis, lines, chance: None }
}

/// Per dataset: accuracy of every source, and each robust source minus natural, at `BLOCKS`
/// blocks, against `x` (subset size or epoch) over the rows `filter` selects.
fn accuracy_and_delta_cells(
    params: &RenderParams,
    aggregate: &Path,
    filter: Expr,
    x_axis: XAxis,
) -> Result<Vec<Vec<Panel>>> {
    let natural = params.natural()?;
    let x_label = if x_axis == XAxis::Log { SUBSET } else { "epoch" };
    let at = move |size: u64, epoch: u32| {
        if x_axis == XAxis::Log {
            size as f64
        } else {
            f64::from(epoch)
        }
    };
    let x_sum = move |r: &SummaryRow| (at(r.size, r.epoch), r.stat);
    let x_delta = move |r: &DeltaRow| (at(r.size, r.epoch), r.stat);
    let mut cells = Vec::new();
    for d in &params.datasets {
        let of_dataset = col(column::DATASET).eq(lit(d.name.as_str())).and(filter.clone());
        let mut acc = Vec::new();
        for s in &params.sources {
            let rows = data::summary(
                aggregate,
                of_dataset
                    .clone()
                    .and(col(column::SOURCE).eq(lit(s.name.as_str())))
                    .and(data::blocks(BLOCKS)),
            )?;
            acc.push(line(&rows, color(params, &s.name), x_sum));
        }
        let mut delta = Vec::new();
        for s in params.sources.iter().filter(|s| s.constraint != Constraint::None) {
            let rows = data::deltas(
                aggregate,
                of_dataset.clone().and(pair(&s.name, &natural.name, BLOCKS)),
            )?;
            delta.push(line(&rows, color(params, &s.name), x_delta));
        }
        cells.push(vec![
            panel(d.label.clone(), x_label, x_axis, YAxis::Accuracy, acc).with_chance(d.chance()),
            // The dataset is the cell's first title; the rest stay short enough for a column.
            panel(format!("robust − {}", natural.label), x_label, x_axis, YAxis::Difference, delta),
        ]);
    }
    Ok(cells)
}

/// Figure 2: accuracy against subset size, and robust − natural.
pub fn figure2(params: &RenderParams, aggregate: &Path) -> Result<Figure> {
    let statistic = params.statistic()?;
    Ok(Figure {
        title: "Figure 2: accuracy against training-set size".into(),
        subtitle: format!(
            "{BLOCKS} fine-tuned blocks, {}. Upper: mean over seeds; lower: paired difference from \
             the natural source. Bands: 95% t-interval. Profile {}.",
            statistic.phrase(),
            params.profile
        ),
        legend: source_legend(params),
        columns: columns(params),
        cells: accuracy_and_delta_cells(params, aggregate, data::at(statistic), XAxis::Log)?,
    })
}

/// Figure 3: accuracy against training epoch at one subset size, and robust − natural.
pub fn figure3(params: &RenderParams, aggregate: &Path) -> Result<Figure> {
    let Some(size) = &params.subset_size else {
        bail!("figure3 needs `subset_size` (a subset-size label)")
    };
    Ok(Figure {
        title: format!("Figure 3: accuracy during fine-tuning, {size} training images"),
        subtitle: format!(
            "{BLOCKS} fine-tuned blocks. Upper: test accuracy at each evaluation; lower: paired difference from the \
             natural source. Bands: 95% t-interval over seeds. Profile {}.",
            params.profile
        ),
        legend: source_legend(params),
        columns: columns(params),
        cells: accuracy_and_delta_cells(
            params,
            aggregate,
            data::per_epoch().and(col(column::SIZE_LABEL).eq(lit(size.as_str()))),
            XAxis::Linear,
        )?,
    })
}

/// Figures 4 and 10: for each of `sources`, per dataset, the source minus natural at each number
/// of fine-tuned blocks, and 3 − 1 blocks for the source and for natural.
fn blocks_figure(
    params: &RenderParams,
    aggregate: &Path,
    title: &str,
    sources: &[&SourceLabel],
) -> Result<Figure> {
    let natural = params.natural()?;
    let statistic = params.statistic()?;
    let all_blocks = data::coverage(aggregate, col(column::SOURCE).eq(lit(natural.name.as_str())))?;
    let mut blocks: Vec<u32> = all_blocks.iter().map(|c| c.blocks).collect();
    blocks.sort_unstable();
    blocks.dedup();
    let block_color = |i: usize| SEQUENCE_COLORS[i % SEQUENCE_COLORS.len()];

    let mut cells = Vec::new();
    for s in sources {
        for d in &params.datasets {
            let of_dataset = col(column::DATASET).eq(lit(d.name.as_str())).and(data::at(statistic));
            // What the paper draws: the robust source's accuracy at each depth, and (its
            // appendix) the natural source's beside it.
            let mut accuracy = [Vec::new(), Vec::new()];
            for (lines, src) in accuracy.iter_mut().zip([*s, natural]) {
                for (i, &k) in blocks.iter().enumerate() {
                    let rows = data::summary(
                        aggregate,
                        of_dataset
                            .clone()
                            .and(col(column::SOURCE).eq(lit(src.name.as_str())))
                            .and(data::blocks(k)),
                    )?;
                    lines.push(line(&rows, block_color(i), summary_by_size));
                }
            }
            let [accuracy, natural_accuracy] = accuracy;
            let mut by_blocks = Vec::new();
            for (i, &k) in blocks.iter().enumerate() {
                let rows = data::deltas(
                    aggregate,
                    of_dataset.clone().and(pair(&s.name, &natural.name, k)),
                )?;
                by_blocks.push(line(&rows, block_color(i), delta_by_size));
            }
            let mut three_minus_one = Vec::new();
            for src in [*s, natural] {
                let same = col(column::A_SOURCE)
                    .eq(lit(src.name.as_str()))
                    .and(col(column::B_SOURCE).eq(lit(src.name.as_str())));
                let rows = data::deltas(
                    aggregate,
                    of_dataset
                        .clone()
                        .and(same)
                        .and(col(column::A_BLOCKS).eq(lit(3u32)))
                        .and(col(column::B_BLOCKS).eq(lit(1u32))),
                )?;
                three_minus_one.push(line(&rows, color(params, &src.name), delta_by_size));
            }
            cells.push(vec![
                panel(
                    // The source is the figure's title when it is the only one.
                    match sources.len() {
                        1 => d.label.clone(),
                        _ => format!("{}: {}", d.label, s.label),
                    },
                    SUBSET,
                    XAxis::Log,
                    YAxis::Accuracy,
                    accuracy,
                )
                .with_chance(d.chance()),
                panel(natural.label.clone(), SUBSET, XAxis::Log, YAxis::Accuracy, natural_accuracy)
                    .with_chance(d.chance()),
                panel(
                    format!("{} − {}", s.label, natural.label),
                    SUBSET,
                    XAxis::Log,
                    YAxis::Difference,
                    by_blocks,
                ),
                panel(
                    "3 − 1 blocks".to_string(),
                    SUBSET,
                    XAxis::Log,
                    YAxis::Difference,
                    three_minus_one,
                ),
            ]);
        }
    }
    let mut legend: Vec<(String, RGBColor)> = blocks
        .iter()
        .enumerate()
        .map(|(i, k)| (format!("{k} block{}", if *k == 1 { "" } else { "s" }), block_color(i)))
        .collect();
    for src in sources.iter().copied().chain([natural]) {
        legend.push((format!("{} (3 − 1 blocks)", src.label), color(params, &src.name)));
    }
    let names: Vec<&str> = sources.iter().map(|s| s.label.as_str()).collect();
    Ok(Figure {
        title: format!(
            "{title}: fine-tuned blocks, {} against {}",
            names.join(", "),
            natural.label
        ),
        subtitle: format!(
            "Accuracy {}. Rows, per dataset: the robust source's accuracy per number of fine-tuned \
             blocks (the paper's panels); the natural source's (the paper's appendix);\nthe robust \
             source minus natural at each depth (paired); 3 minus 1 blocks. Bands: 95% t-interval. \
             Profile {}.",
            statistic.phrase(),
            params.profile
        ),
        legend,
        columns: columns(params),
        cells,
    })
}

/// Figure 5: robust sources against each other (smaller minus larger l-inf ε, l2 minus l-inf).
pub fn figure5(params: &RenderParams, aggregate: &Path) -> Result<Figure> {
    let robust = |name: &str| {
        params.sources.iter().any(|s| s.name == name && s.constraint != Constraint::None)
    };
    let statistic = params.statistic()?;
    let all = data::deltas(
        aggregate,
        data::at(statistic)
            .and(col(column::A_BLOCKS).eq(lit(BLOCKS)))
            .and(col(column::B_BLOCKS).eq(lit(BLOCKS))),
    )?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for r in all
        .iter()
        .filter(|r| r.a_source != r.b_source && robust(&r.a_source) && robust(&r.b_source))
    {
        if !pairs.contains(&(r.a_source.clone(), r.b_source.clone())) {
            pairs.push((r.a_source.clone(), r.b_source.clone()));
        }
    }
    let pair_color = |i: usize| COMPARISON_COLORS[i % COMPARISON_COLORS.len()];
    let mut cells = Vec::new();
    for d in &params.datasets {
        // The paper's panels (a, b): each robust source's accuracy.
        let mut accuracy = Vec::new();
        for s in params.sources.iter().filter(|s| robust(&s.name)) {
            let rows = data::summary(
                aggregate,
                data::at(statistic)
                    .and(col(column::DATASET).eq(lit(d.name.as_str())))
                    .and(col(column::SOURCE).eq(lit(s.name.as_str())))
                    .and(data::blocks(BLOCKS)),
            )?;
            accuracy.push(line(&rows, color(params, &s.name), |r: &SummaryRow| {
                (r.size as f64, r.stat)
            }));
        }
        let lines = pairs
            .iter()
            .enumerate()
            .map(|(i, (a, b))| {
                let rows: Vec<DeltaRow> = all
                    .iter()
                    .filter(|r| &r.a_source == a && &r.b_source == b && r.dataset == d.name)
                    .cloned()
                    .collect();
                line(&rows, pair_color(i), delta_by_size)
            })
            .collect();
        cells.push(vec![
            panel(d.label.clone(), SUBSET, XAxis::Log, YAxis::Accuracy, accuracy)
                .with_chance(d.chance()),
            // The panel above names the dataset (with it, the title is wider than the panel).
            panel("paired differences".into(), SUBSET, XAxis::Log, YAxis::Difference, lines),
        ]);
    }
    let mut legend: Vec<(String, RGBColor)> = params
        .sources
        .iter()
        .filter(|s| robust(&s.name))
        .map(|s| (s.label.clone(), color(params, &s.name)))
        .collect();
    legend.extend(pairs.iter().enumerate().map(|(i, (a, b))| {
        (format!("{} − {}", params.source_label(a), params.source_label(b)), pair_color(i))
    }));
    Ok(Figure {
        title: "Figure 5: adversarial constraints compared".into(),
        subtitle: format!(
            "{BLOCKS} fine-tuned blocks, accuracy {}. Upper: each robust source's accuracy (the \
             paper's panels); lower: paired difference between robust sources.\nBands: 95% \
             t-interval. Profile {}.",
            statistic.phrase(),
            params.profile
        ),
        legend,
        columns: columns(params),
        cells,
    })
}
