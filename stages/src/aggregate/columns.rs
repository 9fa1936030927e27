//! The statistic labels of the summary and delta rows, and columns by name: shared by the cell
//! tables (`frames.rs`) and the differences between sources (`deltas.rs`).

use polars::prelude::{col, Expr};

/// `statistic` of the summary and delta rows at one evaluation epoch.
pub const EPOCH: &str = "epoch";
/// `statistic` of the rows over each cell's best evaluation (the highest test accuracy; the
/// earliest epoch among equals), the authors' notebooks' choice for their depth and constraint
/// figures.
pub const BEST: &str = "best";

pub fn cols(names: &[&str]) -> Vec<Expr> {
    names.iter().map(|n| col(*n)).collect()
}
