//! Reading the aggregate's tables (Parquet) into typed rows: Polars selects and filters, the
//! reports then lay the rows out.

use crate::aggregate::columns as column;
use crate::aggregate::columns::statistic;
use anyhow::{Context, Result};
use polars::prelude::{col, lit, DataFrame, Expr, IntoLazy, ParquetReader, SerReader};
use std::path::Path;

use super::Statistic;

/// A mean over seeds (or seed pairs) with its spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub n: u32,
    pub mean: f64,
    /// Half-width of the 95% Student-t interval; `None` for one seed.
    pub ci95: Option<f64>,
}

impl Stat {
    /// Lower and upper ends of the interval (the mean itself when there is none).
    pub fn interval(&self) -> (f64, f64) {
        let h = self.ci95.unwrap_or(0.0);
        (self.mean - h, self.mean + h)
    }
}

/// One row of `summary.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub source: String,
    pub dataset: String,
    pub size: u64,
    pub size_label: String,
    pub blocks: u32,
    pub epoch: u32,
    pub expected_seeds: u32,
    pub stat: Stat,
}

/// One row of `deltas.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaRow {
    pub a_source: String,
    pub b_source: String,
    pub a_blocks: u32,
    pub b_blocks: u32,
    pub dataset: String,
    pub size: u64,
    pub epoch: u32,
    pub stat: Stat,
}

/// One row of `coverage.parquet`: a grid point of the expected study.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverageRow {
    pub source: String,
    pub dataset: String,
    pub size_label: String,
    pub blocks: u32,
    pub expected_seeds: u32,
    pub built_seeds: u32,
    /// Built seeds whose cell fitted its subset (see `aggregate::columns::FITTED`).
    pub fitted_seeds: u32,
}

fn scan(dir: &Path, table: &str, filter: Expr) -> Result<DataFrame> {
    let path = dir.join(format!("{table}.parquet"));
    let file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let read = ParquetReader::new(file).finish().and_then(|df| df.lazy().filter(filter).collect());
    Context::with_context(read, || format!("reading {}", path.display()))
}

/// Rows of the aggregate's `summary` matching `filter` (e.g. `at(Statistic::Last)`), in file
/// order.
pub fn summary(dir: &Path, filter: Expr) -> Result<Vec<SummaryRow>> {
    let df = scan(dir, "summary", filter)?;
    let (source, dataset, size_label) = (
        df.column(column::SOURCE)?.str()?,
        df.column(column::DATASET)?.str()?,
        df.column(column::SIZE_LABEL)?.str()?,
    );
    let (size, blocks, epoch) = (
        df.column(column::SIZE)?.u64()?,
        df.column(column::BLOCKS)?.u32()?,
        df.column(column::EPOCH)?.u32()?,
    );
    let (n, expected, mean, ci) = (
        df.column(column::N_SEEDS)?.u32()?,
        df.column(column::EXPECTED_SEEDS)?.u32()?,
        df.column(column::MEAN)?.f64()?,
        df.column(column::CI95)?.f64()?,
    );
    Ok((0..df.height())
        .map(|i| SummaryRow {
            source: source.get(i).unwrap_or_default().to_string(),
            dataset: dataset.get(i).unwrap_or_default().to_string(),
            size: size.get(i).unwrap_or_default(),
            size_label: size_label.get(i).unwrap_or_default().to_string(),
            blocks: blocks.get(i).unwrap_or_default(),
            epoch: epoch.get(i).unwrap_or_default(),
            expected_seeds: expected.get(i).unwrap_or_default(),
            stat: Stat {
                n: n.get(i).unwrap_or_default(),
                mean: mean.get(i).unwrap_or(f64::NAN),
                ci95: ci.get(i),
            },
        })
        .collect())
}

/// Rows of the aggregate's `deltas` matching `filter`, in file order.
pub fn deltas(dir: &Path, filter: Expr) -> Result<Vec<DeltaRow>> {
    let df = scan(dir, "deltas", filter)?;
    let (a_source, b_source, dataset) = (
        df.column(column::A_SOURCE)?.str()?,
        df.column(column::B_SOURCE)?.str()?,
        df.column(column::DATASET)?.str()?,
    );
    let (a_blocks, b_blocks, size, epoch) = (
        df.column(column::A_BLOCKS)?.u32()?,
        df.column(column::B_BLOCKS)?.u32()?,
        df.column(column::SIZE)?.u64()?,
        df.column(column::EPOCH)?.u32()?,
    );
    let (n, mean, ci) = (
        df.column(column::N_PAIRS)?.u32()?,
        df.column(column::MEAN)?.f64()?,
        df.column(column::CI95)?.f64()?,
    );
    Ok((0..df.height())
        .map(|i| DeltaRow {
            a_source: a_source.get(i).unwrap_or_default().to_string(),
            b_source: b_source.get(i).unwrap_or_default().to_string(),
            a_blocks: a_blocks.get(i).unwrap_or_default(),
            b_blocks: b_blocks.get(i).unwrap_or_default(),
            dataset: dataset.get(i).unwrap_or_default().to_string(),
            size: size.get(i).unwrap_or_default(),
            epoch: epoch.get(i).unwrap_or_default(),
            stat: Stat {
                n: n.get(i).unwrap_or_default(),
                mean: mean.get(i).unwrap_or(f64::NAN),
                ci95: ci.get(i),
            },
        })
        .collect())
}

/// Rows of the aggregate's `coverage` matching `filter`, in file order.
pub fn coverage(dir: &Path, filter: Expr) -> Result<Vec<CoverageRow>> {
    let df = scan(dir, "coverage", filter)?;
    let (source, dataset, size_label) = (
        df.column(column::SOURCE)?.str()?,
        df.column(column::DATASET)?.str()?,
        df.column(column::SIZE_LABEL)?.str()?,
    );
    let (blocks, expected, built, fitted) = (
        df.column(column::BLOCKS)?.u32()?,
        df.column(column::EXPECTED_SEEDS)?.u32()?,
        df.column(column::BUILT_SEEDS)?.u32()?,
        df.column(column::FITTED_SEEDS)?.u32()?,
    );
    Ok((0..df.height())
        .map(|i| CoverageRow {
            source: source.get(i).unwrap_or_default().to_string(),
            dataset: dataset.get(i).unwrap_or_default().to_string(),
            size_label: size_label.get(i).unwrap_or_default().to_string(),
            blocks: blocks.get(i).unwrap_or_default(),
            expected_seeds: expected.get(i).unwrap_or_default(),
            built_seeds: built.get(i).unwrap_or_default(),
            fitted_seeds: fitted.get(i).unwrap_or_default(),
        })
        .collect())
}

/// Rows of `statistic`: the means of each cell's last evaluation, or of each cell's best.
pub fn at(statistic: Statistic) -> Expr {
    match statistic {
        Statistic::Last => col(column::FINAL),
        Statistic::Best => col(column::STATISTIC).eq(lit(statistic::BEST)),
    }
}

/// Rows at one evaluation epoch (not the best-evaluation rows).
pub fn per_epoch() -> Expr {
    col(column::STATISTIC).eq(lit(statistic::EPOCH))
}

/// Rows fine-tuned with `blocks` blocks.
pub fn blocks(blocks: u32) -> Expr {
    col(column::BLOCKS).eq(lit(blocks))
}
