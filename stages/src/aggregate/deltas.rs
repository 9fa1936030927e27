//! Paired differences A − B over seeds (subsets are shared across sources, so the same seed is
//! the same training subset): robust − natural, ℓ∞ small − large ε, ℓ2 − ℓ∞, each source − the
//! untrained floor, every other pair of sources (for Table 5's bold), 3 − 1 blocks.

use super::columns::{
    cols, statistic, ACCURACY, A_BLOCKS, A_SOURCE, BLOCKS, B_BLOCKS, B_SOURCE, CI95, COMPARISON,
    DATASET, DATASET_RANK, EPOCH, FINAL, IS_BEST, MEAN, N, N_PAIRS, SEED, SIZE, SIZE_LABEL,
    SIZE_ORDER, SOURCE, SOURCE_RANK, STATISTIC, STD,
};
use super::stats::with_ci95;
use super::{AggregateParams, SourceSpec};
use crate::threat::Constraint;
use anyhow::Result;
use polars::prelude::*;

/// A paired comparison the figures draw.
#[derive(Debug, Clone, PartialEq)]
pub enum Comparison {
    /// Source `a` minus source `b` at the same blocks.
    Sources { a: String, b: String },
    /// Each source fine-tuned with `a` blocks minus the same source with `b` blocks.
    Blocks { a: u32, b: u32 },
}

impl Comparison {
    pub fn label(&self) -> String {
        match self {
            Comparison::Sources { a, b } => format!("{a} - {b}"),
            Comparison::Blocks { a, b } => format!("blocks {a} - blocks {b}"),
        }
    }
}

/// The comparisons of the paper's figures: each robust source minus natural (Figures 2–4, 10);
/// each smaller-ε l-inf source minus each larger-ε one and each l2 source minus each l-inf one
/// (Figure 5); then each source minus the untrained floor, and every pair not yet compared, the
/// earlier source in display order first (Table 5 bolds a mean only where these say so); and
/// 3 minus 1 fine-tuned blocks per source (Figures 4 and 10).
pub fn comparisons(sources: &[SourceSpec]) -> Vec<Comparison> {
    let pair = |a: &SourceSpec, b: &SourceSpec| Comparison::Sources {
        a: a.name.clone(),
        b: b.name.clone(),
    };
    let of = |c: Constraint| sources.iter().filter(move |s| s.constraint == c && !s.untrained);
    let mut out = Vec::new();
    for natural in of(Constraint::None) {
        out.extend(
            sources.iter().filter(|s| s.constraint != Constraint::None).map(|r| pair(r, natural)),
        );
    }
    let mut linf: Vec<&SourceSpec> = of(Constraint::Linf).collect();
    linf.sort_by(|x, y| x.epsilon.total_cmp(&y.epsilon));
    for (i, small) in linf.iter().enumerate() {
        out.extend(linf[i + 1..].iter().map(|large| pair(small, large)));
    }
    for l2 in of(Constraint::L2) {
        out.extend(linf.iter().map(|l| pair(l2, l)));
    }
    for floor in sources.iter().filter(|s| s.untrained) {
        out.extend(sources.iter().filter(|s| s.name != floor.name).map(|s| pair(s, floor)));
    }
    for (i, a) in sources.iter().enumerate() {
        for b in &sources[i + 1..] {
            let compared = |x: &SourceSpec, y: &SourceSpec| out.contains(&pair(x, y));
            if !compared(a, b) && !compared(b, a) {
                out.push(pair(a, b));
            }
        }
    }
    out.push(Comparison::Blocks { a: 3, b: 1 });
    out
}

/// Paired differences of accuracy for every comparison, summarised over seeds: at every
/// evaluation epoch (`statistic` "epoch") and between the two cells' best evaluations ("best").
pub(super) fn deltas_frame(params: &AggregateParams, cells: &LazyFrame) -> Result<DataFrame> {
    let mut paired = Vec::new();
    for (i, cmp) in comparisons(&params.sources).into_iter().enumerate() {
        paired.push(pairs(i, &cmp, cells.clone(), statistic::EPOCH));
        paired.push(pairs(i, &cmp, cells.clone().filter(col(IS_BEST)), statistic::BEST));
    }
    let keys = [
        "comparison_rank",
        COMPARISON,
        A_SOURCE,
        B_SOURCE,
        A_BLOCKS,
        B_BLOCKS,
        SOURCE_RANK,
        DATASET,
        DATASET_RANK,
        SIZE,
        SIZE_LABEL,
        SIZE_ORDER,
        STATISTIC,
        EPOCH,
        FINAL,
    ];
    // Canonical pair order, materialised (joins do not keep order; see `cells_frame`).
    let grouped = concat(&paired, UnionArgs::default())?
        .sort(
            [
                "comparison_rank",
                SOURCE_RANK,
                DATASET_RANK,
                SIZE_ORDER,
                A_BLOCKS,
                STATISTIC,
                EPOCH,
                SEED,
            ],
            SortMultipleOptions::default().with_nulls_last(true),
        )
        .collect()?
        .lazy()
        .group_by(cols(&keys))
        .agg([
            len().cast(DataType::UInt32).alias(N),
            col("diff").mean().alias(MEAN),
            col("diff").std(1).alias(STD),
        ])
        .collect()?;
    Ok(with_ci95(grouped)?
        .sort(
            ["comparison_rank", SOURCE_RANK, DATASET_RANK, SIZE_ORDER, A_BLOCKS, EPOCH],
            SortMultipleOptions::default().with_nulls_last(true),
        )
        .select(cols(&[
            COMPARISON, A_SOURCE, B_SOURCE, A_BLOCKS, B_BLOCKS, DATASET, SIZE, SIZE_LABEL,
            STATISTIC, EPOCH, FINAL, N, MEAN, STD, CI95,
        ]))
        .rename([N], [N_PAIRS], true)
        .collect()?)
}

/// The paired differences of comparison `cmp` (number `rank`) among `cells`: matched by seed,
/// and by epoch for the rows labelled `statistic` "epoch"; "best" rows have no epoch.
fn pairs(rank: usize, cmp: &Comparison, cells: LazyFrame, label: &str) -> LazyFrame {
    let mut on = match cmp {
        Comparison::Sources { .. } => vec![DATASET, SIZE_LABEL, BLOCKS, SEED],
        Comparison::Blocks { .. } => vec![SOURCE, DATASET, SIZE_LABEL, SEED],
    };
    if label == statistic::EPOCH {
        on.push(EPOCH);
    }
    let (left, right) = match cmp {
        Comparison::Sources { a, b } => (
            cells.clone().filter(col(SOURCE).eq(lit(a.as_str()))),
            cells.filter(col(SOURCE).eq(lit(b.as_str()))),
        ),
        Comparison::Blocks { a, b } => {
            (cells.clone().filter(col(BLOCKS).eq(lit(*a))), cells.filter(col(BLOCKS).eq(lit(*b))))
        }
    };
    let (a_source, b_source, a_blocks, b_blocks) = match cmp {
        Comparison::Sources { a, b } => {
            (lit(a.as_str()), lit(b.as_str()), col(BLOCKS), col(BLOCKS))
        }
        Comparison::Blocks { a, b } => (col(SOURCE), col(SOURCE), lit(*a), lit(*b)),
    };
    let (epoch, last) = match label == statistic::EPOCH {
        true => (col(EPOCH), col(FINAL)),
        false => (lit(NULL).cast(DataType::UInt32), lit(false)),
    };
    let mut right_cols = on.clone();
    right_cols.push(ACCURACY);
    left.join(
        right.select(cols(&right_cols)),
        cols(&on),
        cols(&on),
        JoinArgs::new(JoinType::Inner).with_suffix(Some("_b".into())),
    )
    .select([
        lit(rank as u32).alias("comparison_rank"),
        lit(cmp.label()).alias(COMPARISON),
        a_source.alias(A_SOURCE),
        b_source.alias(B_SOURCE),
        a_blocks.cast(DataType::UInt32).alias(A_BLOCKS),
        b_blocks.cast(DataType::UInt32).alias(B_BLOCKS),
        col(SOURCE_RANK),
        col(DATASET),
        col(DATASET_RANK),
        col(SIZE),
        col(SIZE_LABEL),
        col(SIZE_ORDER),
        col(SEED),
        lit(label).alias(STATISTIC),
        epoch.alias(EPOCH),
        last.alias(FINAL),
        (col(ACCURACY) - col("accuracy_b")).alias("diff"),
    ])
}
