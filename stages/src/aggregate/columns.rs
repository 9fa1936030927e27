//! The aggregate's column names and the labels of its `statistic` column, spelled once: for the
//! aggregate, which writes the tables (`frames.rs`, `deltas.rs`), and for the reports, which read
//! them (`render/data.rs`, `render/figures.rs`).

use polars::prelude::{col, Expr};

/// The labels of the [`STATISTIC`] column of the summary and delta rows.
pub mod statistic {
    /// The rows at one evaluation epoch.
    pub const EPOCH: &str = "epoch";
    /// The rows over each cell's best evaluation (the highest test accuracy; the earliest epoch
    /// among equals), the authors' notebooks' choice for their depth and constraint figures.
    pub const BEST: &str = "best";
}

// The published columns (`cells`, `summary`, `deltas`, `coverage`, `missing`).
pub const SOURCE: &str = "source";
pub const DATASET: &str = "dataset";
/// Training images of the subset.
pub const SIZE: &str = "size";
/// The subset's name in the study (`100`, `full`).
pub const SIZE_LABEL: &str = "size_label";
pub const BLOCKS: &str = "blocks";
pub const SEED: &str = "seed";
/// The evaluation's epoch (null in the best-evaluation rows).
pub const EPOCH: &str = "epoch";
pub const ACCURACY: &str = "accuracy";
pub const LOSS: &str = "loss";
/// Whether the row is a cell's last evaluation.
pub const FINAL: &str = "final";
/// [`statistic::EPOCH`] or [`statistic::BEST`].
pub const STATISTIC: &str = "statistic";
pub const N_SEEDS: &str = "n_seeds";
pub const EXPECTED_SEEDS: &str = "expected_seeds";
pub const BUILT_SEEDS: &str = "built_seeds";
/// Built seeds whose cell fitted its subset (see [`FITTED`]).
pub const FITTED_SEEDS: &str = "fitted_seeds";
/// A cell's accuracy on its own training subset after the last epoch, in percent.
pub const TRAIN_ACCURACY: &str = "train_accuracy";
/// The convergence criterion: a cell fitted its subset when its training accuracy after the
/// last epoch is at least this (percent).
pub const FITTED: f64 = 95.0;
pub const MEAN: &str = "mean";
/// The sample standard deviation.
pub const STD: &str = "std";
/// Half-width of the 95% Student-t interval of the mean (null for one seed).
pub const CI95: &str = "ci95";
/// The comparison's label (`l2_eps3 - natural`).
pub const COMPARISON: &str = "comparison";
pub const A_SOURCE: &str = "a_source";
pub const B_SOURCE: &str = "b_source";
pub const A_BLOCKS: &str = "a_blocks";
pub const B_BLOCKS: &str = "b_blocks";
pub const N_PAIRS: &str = "n_pairs";

// Columns of the frames in between.
pub(super) const SOURCE_RANK: &str = "source_rank";
pub(super) const DATASET_RANK: &str = "dataset_rank";
pub(super) const SIZE_ORDER: &str = "size_order";
/// Whether the row is its cell's best evaluation.
pub(super) const IS_BEST: &str = "best";
/// Rows of a group (renamed [`N_SEEDS`] or [`N_PAIRS`] when published).
pub(super) const N: &str = "n";

pub fn cols(names: &[&str]) -> Vec<Expr> {
    names.iter().map(|n| col(*n)).collect()
}
