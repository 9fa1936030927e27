//! The cell tables: the expected grid, the built cells (one row per cell × evaluation epoch),
//! coverage and missing cells, and the per-grid-point summary, in a fixed row order.

use super::columns::{cols, BEST, EPOCH};
use super::deltas::deltas_frame;
use super::stats::with_ci95;
use super::tables::Tables;
use super::AggregateParams;
use crate::finetune::cell::Cell;
use crate::finetune::metrics::CellMetrics;
use crate::subset::params::size_order;
use anyhow::{bail, Result};
use polars::prelude::*;
use std::collections::BTreeSet;

pub(super) fn rank(names: &[String], name: &str, what: &str) -> Result<u32> {
    match names.iter().position(|n| n == name) {
        Some(i) => Ok(i as u32),
        None => bail!("{what} `{name}` is not in the aggregate's {what} list {names:?}"),
    }
}

/// Columns naming a group of cells (all seeds of one grid point) at one epoch.
const GROUP: [&str; 8] =
    ["source", "dataset", "size", "size_label", "blocks", "epoch", "final", "source_rank"];
/// Sort order of everything derived from cells.
pub(super) const ORDER: [&str; 5] =
    ["source_rank", "dataset_rank", "size_order", "blocks", "epoch"];

/// Compute every table from the cells that were built.
pub fn aggregate(params: &AggregateParams, metrics: &[CellMetrics]) -> Result<Tables> {
    let source_names: Vec<String> = params.sources.iter().map(|s| s.name.clone()).collect();
    let expected = expected_frame(params, &source_names)?;
    let expected_keys: BTreeSet<&Cell> = params.expected.iter().collect();
    let cells = cells_frame(params, &source_names, metrics, &expected_keys)?;

    let cells_out = cells
        .clone()
        .select(cols(&[
            "source",
            "dataset",
            "size",
            "size_label",
            "blocks",
            "seed",
            "epoch",
            "accuracy",
            "loss",
            "final",
        ]))
        .collect()?;

    let coverage = coverage_frame(&expected, &cells)?;
    let missing = expected
        .clone()
        .join(
            cells
                .clone()
                .group_by(cols(&["source", "dataset", "size_label", "blocks", "seed"]))
                .agg([len().alias("built")]),
            cols(&["source", "dataset", "size_label", "blocks", "seed"]),
            cols(&["source", "dataset", "size_label", "blocks", "seed"]),
            JoinArgs::new(JoinType::Left),
        )
        .filter(col("built").is_null())
        .sort(
            ["source_rank", "dataset_rank", "size_order", "blocks", "seed"],
            SortMultipleOptions::default(),
        )
        .select(cols(&["source", "dataset", "size_label", "blocks", "seed"]))
        .collect()?;

    let summary = summary_frame(&cells, &coverage)?;
    let deltas = deltas_frame(params, &cells)?;
    Ok(Tables { cells: cells_out, summary, deltas, coverage, missing })
}

/// Per grid point: the mean over seeds at every evaluation epoch (`statistic` "epoch"; `final`
/// marks the last) and of each cell's best evaluation (`statistic` "best", no epoch).
fn summary_frame(cells: &LazyFrame, coverage: &DataFrame) -> Result<DataFrame> {
    let stats = || {
        [
            len().cast(DataType::UInt32).alias("n"),
            col("accuracy").mean().alias("mean"),
            col("accuracy").std(1).alias("std"),
        ]
    };
    let mut group: Vec<&str> = GROUP.to_vec();
    group.extend(["dataset_rank", "size_order"]);
    let per_epoch = cells
        .clone()
        .group_by(cols(&group))
        .agg(stats())
        .with_column(lit(EPOCH).alias("statistic"));
    let point: Vec<&str> =
        group.iter().copied().filter(|c| !["epoch", "final"].contains(c)).collect();
    let best =
        cells.clone().filter(col("best")).group_by(cols(&point)).agg(stats()).with_columns([
            lit(NULL).cast(DataType::UInt32).alias("epoch"),
            lit(false).alias("final"),
            lit(BEST).alias("statistic"),
        ]);
    let grouped =
        concat([per_epoch, best.select(per_epoch_columns(&group))], UnionArgs::default())?
            .collect()?;
    Ok(with_ci95(grouped)?
        .join(
            coverage.clone().lazy().select(cols(&[
                "source",
                "dataset",
                "size_label",
                "blocks",
                "expected_seeds",
            ])),
            cols(&["source", "dataset", "size_label", "blocks"]),
            cols(&["source", "dataset", "size_label", "blocks"]),
            JoinArgs::new(JoinType::Left),
        )
        .sort(ORDER, SortMultipleOptions::default().with_nulls_last(true))
        .select(cols(&[
            "source",
            "dataset",
            "size",
            "size_label",
            "blocks",
            "statistic",
            "epoch",
            "final",
            "n",
            "expected_seeds",
            "mean",
            "std",
            "ci95",
        ]))
        .rename(["n"], ["n_seeds"], true)
        .collect()?)
}

/// The grouped per-epoch frame's columns, in its order (`group`, the statistics, `statistic`),
/// so the best rows can be stacked under it.
fn per_epoch_columns(group: &[&str]) -> Vec<Expr> {
    let mut names: Vec<&str> = group.to_vec();
    names.extend(["n", "mean", "std", "statistic"]);
    cols(&names)
}

/// The expected grid, one row per cell, with sort ranks.
fn expected_frame(params: &AggregateParams, source_names: &[String]) -> Result<LazyFrame> {
    let e = &params.expected;
    let mut source_rank = Vec::with_capacity(e.len());
    let mut dataset_rank = Vec::with_capacity(e.len());
    let mut order = Vec::with_capacity(e.len());
    for c in e {
        source_rank.push(rank(source_names, &c.source, "source")?);
        dataset_rank.push(rank(&params.datasets, &c.dataset, "dataset")?);
        order.push(size_order(&c.size_label)?);
    }
    let df = df!(
        "source" => e.iter().map(|c| c.source.as_str()).collect::<Vec<_>>(),
        "dataset" => e.iter().map(|c| c.dataset.as_str()).collect::<Vec<_>>(),
        "size_label" => e.iter().map(|c| c.size_label.as_str()).collect::<Vec<_>>(),
        "blocks" => e.iter().map(|c| c.blocks).collect::<Vec<_>>(),
        "seed" => e.iter().map(|c| c.seed).collect::<Vec<_>>(),
        "source_rank" => source_rank,
        "dataset_rank" => dataset_rank,
        "size_order" => order,
    )?;
    Ok(df.lazy())
}

/// The built cells, one row per cell × evaluation epoch, with sort ranks, the `final` flag (the
/// cell's last evaluation) and the `best` flag (its best: see [`BEST`]).
fn cells_frame(
    params: &AggregateParams,
    source_names: &[String],
    metrics: &[CellMetrics],
    expected: &BTreeSet<&Cell>,
) -> Result<LazyFrame> {
    let mut seen = BTreeSet::new();
    let (mut source, mut dataset, mut size, mut size_label) = (vec![], vec![], vec![], vec![]);
    let (mut blocks, mut seed, mut epoch, mut accuracy, mut loss) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut source_rank, mut dataset_rank, mut order) = (vec![], vec![], vec![]);
    for m in metrics {
        let c = &m.cell;
        if !expected.contains(c) {
            bail!("cell {} is not in the expected grid passed to the aggregate node", c.id());
        }
        if !seen.insert(c) {
            bail!("cell {} appears twice among the aggregate's inputs", c.id());
        }
        if m.evals.is_empty() {
            bail!("cell {} has no evaluations in its metrics.json", c.id());
        }
        let (sr, dr, so) = (
            rank(source_names, &c.source, "source")?,
            rank(&params.datasets, &c.dataset, "dataset")?,
            size_order(&c.size_label)?,
        );
        for e in &m.evals {
            source.push(c.source.as_str());
            dataset.push(c.dataset.as_str());
            size.push(m.size);
            size_label.push(c.size_label.as_str());
            blocks.push(c.blocks);
            seed.push(c.seed);
            epoch.push(e.epoch);
            accuracy.push(e.accuracy);
            loss.push(e.loss);
            source_rank.push(sr);
            dataset_rank.push(dr);
            order.push(so);
        }
    }
    let df = df!(
        "source" => source, "dataset" => dataset, "size" => size, "size_label" => size_label,
        "blocks" => blocks, "seed" => seed, "epoch" => epoch, "accuracy" => accuracy, "loss" => loss,
        "source_rank" => source_rank, "dataset_rank" => dataset_rank, "size_order" => order,
    )?;
    let cell = cols(&["source", "dataset", "size_label", "blocks", "seed"]);
    // Canonical row order, materialised: floating-point sums (means, deviations) depend on the
    // order rows reach an aggregation, and the optimiser may drop a sort that feeds a group-by.
    Ok(df
        .lazy()
        .sort(
            ["source_rank", "dataset_rank", "size_order", "blocks", "seed", "epoch"],
            SortMultipleOptions::default(),
        )
        .with_column(col("epoch").eq(col("epoch").max().over(cell.clone())?).alias("final"))
        .with_column(col("accuracy").eq(col("accuracy").max().over(cell.clone())?).alias("top"))
        .with_column(
            col("top")
                .and(col("epoch").eq(col("epoch").filter(col("top")).min().over(cell)?))
                .alias("best"),
        )
        .collect()?
        .lazy())
}

/// Per expected grid point: seeds expected and seeds built.
fn coverage_frame(expected: &LazyFrame, cells: &LazyFrame) -> Result<DataFrame> {
    let point = ["source", "dataset", "size_label", "blocks"];
    let built = cells
        .clone()
        .group_by(cols(&point))
        .agg([col("seed").n_unique().cast(DataType::UInt32).alias("built_seeds")]);
    let mut keys: Vec<&str> = point.to_vec();
    keys.extend(["source_rank", "dataset_rank", "size_order"]);
    Ok(expected
        .clone()
        .group_by(cols(&keys))
        .agg([len().cast(DataType::UInt32).alias("expected_seeds")])
        .join(built, cols(&point), cols(&point), JoinArgs::new(JoinType::Left))
        .with_column(col("built_seeds").fill_null(lit(0u32)))
        .sort(
            ["source_rank", "dataset_rank", "size_order", "blocks"],
            SortMultipleOptions::default(),
        )
        .select(cols(&[
            "source",
            "dataset",
            "size_label",
            "blocks",
            "expected_seeds",
            "built_seeds",
        ]))
        .collect()?)
}
