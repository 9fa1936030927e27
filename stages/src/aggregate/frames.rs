//! The cell tables: the expected grid, the built cells (one row per cell × evaluation epoch),
//! coverage and missing cells, and the per-grid-point summary, in a fixed row order.

use super::columns::{
    cols, statistic, ACCURACY, BLOCKS, BUILT_SEEDS, CI95, DATASET, DATASET_RANK, EPOCH,
    EXPECTED_SEEDS, FINAL, FITTED, FITTED_SEEDS, IS_BEST, LOSS, MEAN, N, N_SEEDS, SEED, SIZE,
    SIZE_LABEL, SIZE_ORDER, SOURCE, SOURCE_RANK, STATISTIC, STD, TRAIN_ACCURACY,
};
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
const GROUP: [&str; 8] = [SOURCE, DATASET, SIZE, SIZE_LABEL, BLOCKS, EPOCH, FINAL, SOURCE_RANK];
/// Sort order of everything derived from cells.
pub(super) const ORDER: [&str; 5] = [SOURCE_RANK, DATASET_RANK, SIZE_ORDER, BLOCKS, EPOCH];

/// Compute every table from the cells that were built.
pub fn aggregate(params: &AggregateParams, metrics: &[CellMetrics]) -> Result<Tables> {
    let source_names: Vec<String> = params.sources.iter().map(|s| s.name.clone()).collect();
    let expected = expected_frame(params, &source_names)?;
    let expected_keys: BTreeSet<&Cell> = params.expected.iter().collect();
    let cells = cells_frame(params, &source_names, metrics, &expected_keys)?;

    let cells_out = cells
        .clone()
        .select(cols(&[
            SOURCE,
            DATASET,
            SIZE,
            SIZE_LABEL,
            BLOCKS,
            SEED,
            EPOCH,
            ACCURACY,
            LOSS,
            FINAL,
            TRAIN_ACCURACY,
        ]))
        .collect()?;

    let coverage = coverage_frame(&expected, &cells)?;
    let missing = expected
        .clone()
        .join(
            cells
                .clone()
                .group_by(cols(&[SOURCE, DATASET, SIZE_LABEL, BLOCKS, SEED]))
                .agg([len().alias("built")]),
            cols(&[SOURCE, DATASET, SIZE_LABEL, BLOCKS, SEED]),
            cols(&[SOURCE, DATASET, SIZE_LABEL, BLOCKS, SEED]),
            JoinArgs::new(JoinType::Left),
        )
        .filter(col("built").is_null())
        .sort([SOURCE_RANK, DATASET_RANK, SIZE_ORDER, BLOCKS, SEED], SortMultipleOptions::default())
        .select(cols(&[SOURCE, DATASET, SIZE_LABEL, BLOCKS, SEED]))
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
            len().cast(DataType::UInt32).alias(N),
            col(ACCURACY).mean().alias(MEAN),
            col(ACCURACY).std(1).alias(STD),
        ]
    };
    let mut group: Vec<&str> = GROUP.to_vec();
    group.extend([DATASET_RANK, SIZE_ORDER]);
    let per_epoch = cells
        .clone()
        .group_by(cols(&group))
        .agg(stats())
        .with_column(lit(statistic::EPOCH).alias(STATISTIC));
    let point: Vec<&str> = group.iter().copied().filter(|c| ![EPOCH, FINAL].contains(c)).collect();
    let best =
        cells.clone().filter(col(IS_BEST)).group_by(cols(&point)).agg(stats()).with_columns([
            lit(NULL).cast(DataType::UInt32).alias(EPOCH),
            lit(false).alias(FINAL),
            lit(statistic::BEST).alias(STATISTIC),
        ]);
    let grouped =
        concat([per_epoch, best.select(per_epoch_columns(&group))], UnionArgs::default())?
            .collect()?;
    Ok(with_ci95(grouped)?
        .join(
            coverage.clone().lazy().select(cols(&[
                SOURCE,
                DATASET,
                SIZE_LABEL,
                BLOCKS,
                EXPECTED_SEEDS,
            ])),
            cols(&[SOURCE, DATASET, SIZE_LABEL, BLOCKS]),
            cols(&[SOURCE, DATASET, SIZE_LABEL, BLOCKS]),
            JoinArgs::new(JoinType::Left),
        )
        .sort(ORDER, SortMultipleOptions::default().with_nulls_last(true))
        .select(cols(&[
            SOURCE,
            DATASET,
            SIZE,
            SIZE_LABEL,
            BLOCKS,
            STATISTIC,
            EPOCH,
            FINAL,
            N,
            EXPECTED_SEEDS,
            MEAN,
            STD,
            CI95,
        ]))
        .rename([N], [N_SEEDS], true)
        .collect()?)
}

/// The grouped per-epoch frame's columns, in its order (`group`, the statistics, `statistic`),
/// so the best rows can be stacked under it.
fn per_epoch_columns(group: &[&str]) -> Vec<Expr> {
    let mut names: Vec<&str> = group.to_vec();
    names.extend([N, MEAN, STD, STATISTIC]);
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
        SOURCE => e.iter().map(|c| c.source.as_str()).collect::<Vec<_>>(),
        DATASET => e.iter().map(|c| c.dataset.as_str()).collect::<Vec<_>>(),
        SIZE_LABEL => e.iter().map(|c| c.size_label.as_str()).collect::<Vec<_>>(),
        BLOCKS => e.iter().map(|c| c.blocks).collect::<Vec<_>>(),
        SEED => e.iter().map(|c| c.seed).collect::<Vec<_>>(),
        SOURCE_RANK => source_rank,
        DATASET_RANK => dataset_rank,
        SIZE_ORDER => order,
    )?;
    Ok(df.lazy())
}

/// The built cells, one row per cell × evaluation epoch, with sort ranks, the `final` flag (the
/// cell's last evaluation) and the `best` flag (its best: see [`statistic::BEST`]).
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
    let mut train_accuracy = vec![];
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
            train_accuracy.push(m.train_accuracy);
            source_rank.push(sr);
            dataset_rank.push(dr);
            order.push(so);
        }
    }
    let df = df!(
        SOURCE => source, DATASET => dataset, SIZE => size, SIZE_LABEL => size_label,
        BLOCKS => blocks, SEED => seed, EPOCH => epoch, ACCURACY => accuracy, LOSS => loss,
        TRAIN_ACCURACY => train_accuracy, SOURCE_RANK => source_rank, DATASET_RANK => dataset_rank, SIZE_ORDER => order,
    )?;
    let cell = cols(&[SOURCE, DATASET, SIZE_LABEL, BLOCKS, SEED]);
    // Canonical row order, materialised: floating-point sums (means, deviations) depend on the
    // order rows reach an aggregation, and the optimiser may drop a sort that feeds a group-by.
    Ok(df
        .lazy()
        .sort(
            [SOURCE_RANK, DATASET_RANK, SIZE_ORDER, BLOCKS, SEED, EPOCH],
            SortMultipleOptions::default(),
        )
        .with_column(col(EPOCH).eq(col(EPOCH).max().over(cell.clone())?).alias(FINAL))
        .with_column(col(ACCURACY).eq(col(ACCURACY).max().over(cell.clone())?).alias("top"))
        .with_column(
            col("top")
                .and(col(EPOCH).eq(col(EPOCH).filter(col("top")).min().over(cell)?))
                .alias(IS_BEST),
        )
        .collect()?
        .lazy())
}

/// Per expected grid point: seeds expected, seeds built, and built seeds whose cell fitted its
/// subset (training accuracy at least [`FITTED`]).
fn coverage_frame(expected: &LazyFrame, cells: &LazyFrame) -> Result<DataFrame> {
    let point = [SOURCE, DATASET, SIZE_LABEL, BLOCKS];
    let built = cells.clone().group_by(cols(&point)).agg([
        col(SEED).n_unique().cast(DataType::UInt32).alias(BUILT_SEEDS),
        col(SEED)
            .filter(col(TRAIN_ACCURACY).gt_eq(lit(FITTED)))
            .n_unique()
            .cast(DataType::UInt32)
            .alias(FITTED_SEEDS),
    ]);
    let mut keys: Vec<&str> = point.to_vec();
    keys.extend([SOURCE_RANK, DATASET_RANK, SIZE_ORDER]);
    Ok(expected
        .clone()
        .group_by(cols(&keys))
        .agg([len().cast(DataType::UInt32).alias(EXPECTED_SEEDS)])
        .join(built, cols(&point), cols(&point), JoinArgs::new(JoinType::Left))
        .with_columns([
            col(BUILT_SEEDS).fill_null(lit(0u32)),
            col(FITTED_SEEDS).fill_null(lit(0u32)),
        ])
        .sort([SOURCE_RANK, DATASET_RANK, SIZE_ORDER, BLOCKS], SortMultipleOptions::default())
        .select(cols(&[
            SOURCE,
            DATASET,
            SIZE_LABEL,
            BLOCKS,
            EXPECTED_SEEDS,
            BUILT_SEEDS,
            FITTED_SEEDS,
        ]))
        .collect()?)
}
