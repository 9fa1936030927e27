//! Means, sample deviations and 95% Student-t intervals of the mean.

use super::columns::{CI95, N, STD};
use anyhow::Result;
use polars::prelude::*;
use statrs::distribution::{ContinuousCDF, StudentsT};
use std::collections::BTreeSet;

/// Quantile 0.975 of Student's t with `n - 1` degrees of freedom; `None` for `n < 2`.
pub fn t975(n: u32) -> Option<f64> {
    (n >= 2).then(|| {
        StudentsT::new(0.0, 1.0, f64::from(n - 1)).expect("valid t distribution").inverse_cdf(0.975)
    })
}

/// Add `ci95` = t(0.975, n−1) · std / √n to a grouped frame with columns `n` and `std`.
/// The quantile is the one value computed outside Polars, joined in as a lookup table.
pub(super) fn with_ci95(grouped: DataFrame) -> Result<LazyFrame> {
    let ns: BTreeSet<u32> = grouped.column(N)?.u32()?.into_no_null_iter().collect();
    let lookup = df!(
        N => ns.iter().copied().collect::<Vec<_>>(),
        "t975" => ns.iter().map(|&n| t975(n)).collect::<Vec<_>>(),
    )?;
    Ok(grouped
        .lazy()
        .join(lookup.lazy(), [col(N)], [col(N)], JoinArgs::new(JoinType::Left))
        .with_column((col("t975") * col(STD) / col(N).cast(DataType::Float64).sqrt()).alias(CI95)))
}
