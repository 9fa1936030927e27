//! The grid's reports, one row each (`row.rs`), and the index. The study's wiring makes one
//! `render` node per row its profile has (these, and the rows its blocks' kinds own); the stage
//! draws a node from its row. Adding a report of the grid is adding a row here (and the module
//! that draws it).

use super::row::{Reads, ReportRow, Told};
use super::{figure9, figures, findings, index, setup, table3, table5};
use crate::probe::checks;
use std::path::Path;

/// The grid's reports, in the index's order.
pub const REPORTS: &[ReportRow] = &[
    ReportRow {
        name: "findings",
        files: &["findings.md"],
        description: "What the study says: robust − natural per target and size beside the paper's sign, which of the predictions written before the run held, how many cells fitted their subsets, and the manipulation checks' outcome.",
        reads: Reads::Aggregate,
        told: &[],
        statistic: Some(|s| s.table5),
        draw: |p, ctx| {
            // The manipulation checks' outcome, where the profile has them (its `probe:` block
            // adds their inputs).
            let probed = checks::load(&checks::probed(p, ctx))?;
            Ok(vec![findings::render(p, ctx.input("aggregate")?, &probed)?])
        },
    },
    ReportRow {
        name: "table5",
        files: &["table5.md", "table5.csv"],
        description: "Test accuracy after fine-tuning 3 blocks, per target dataset and subset size, for each source (mean ± 95% CI over seeds; each run's last or best evaluation, as the caption says).",
        reads: Reads::Aggregate,
        told: &[],
        statistic: Some(|s| s.table5),
        draw: |p, ctx| {
            let (md, csv) = table5::render(p, ctx.input("aggregate")?)?;
            Ok(vec![md, csv])
        },
    },
    ReportRow {
        name: "table3",
        files: &["table3.md"],
        description: "Each source model's accuracy on its own test data, clean and under PGD attack.",
        reads: Reads::Sources,
        told: &[],
        statistic: None,
        draw: |p, ctx| {
            // Sources pre-trained here have an input; fetched checkpoints have none.
            let dirs: Vec<Option<&Path>> =
                p.sources.iter().map(|s| ctx.input(&format!("source:{}", s.name)).ok()).collect();
            Ok(vec![table3::render(p, &dirs)?])
        },
    },
    ReportRow {
        name: "figure2",
        files: &["figure2.svg"],
        description: "Accuracy against training-subset size per dataset (3 blocks), and robust − natural with its 95% CI.",
        reads: Reads::Aggregate,
        told: &[],
        statistic: Some(|s| s.figure2),
        draw: |p, ctx| Ok(vec![figures::svg(figures::figure2, p, ctx.input("aggregate")?)?]),
    },
    ReportRow {
        name: "figure3",
        files: &["figure3.svg"],
        description: "Accuracy against fine-tuning epoch at one subset size (3 blocks).",
        reads: Reads::Aggregate,
        told: &[Told::SubsetSize],
        statistic: None,
        draw: |p, ctx| Ok(vec![figures::svg(figures::figure3, p, ctx.input("aggregate")?)?]),
    },
    ReportRow {
        name: "figure4",
        files: &["figure4.svg"],
        description: "Effect of fine-tuning 0/1/3/9 blocks (ℓ2 source and natural), and the 3 − 1 blocks delta.",
        reads: Reads::Depths,
        told: &[],
        statistic: Some(|s| s.figure4),
        draw: |p, ctx| Ok(vec![figures::svg(figures::figure4, p, ctx.input("aggregate")?)?]),
    },
    ReportRow {
        name: "figure5",
        files: &["figure5.svg"],
        description: "Constraint comparisons: ℓ∞ small − large ε, and ℓ2 − each ℓ∞ (3 blocks).",
        reads: Reads::Aggregate,
        told: &[],
        statistic: Some(|s| s.figure5),
        draw: |p, ctx| Ok(vec![figures::svg(figures::figure5, p, ctx.input("aggregate")?)?]),
    },
    ReportRow {
        name: "figure10",
        files: &["figure10.svg"],
        description: "As Figure 4, for the other robust sources.",
        reads: Reads::Depths,
        told: &[],
        statistic: Some(|s| s.figure10),
        draw: |p, ctx| Ok(vec![figures::svg(figures::figure10, p, ctx.input("aggregate")?)?]),
    },
    ReportRow {
        name: "table1",
        files: &["table1.md"],
        description: "The fine-tuning hyper-parameters this profile ran with.",
        reads: Reads::Nothing,
        told: &[Told::Finetune],
        statistic: None,
        draw: |p, _| Ok(vec![setup::table1(p)?]),
    },
    ReportRow {
        name: "table2",
        files: &["table2.md"],
        description: "Epochs, seeds, evaluation and learning-rate decay per training-subset size.",
        reads: Reads::Nothing,
        told: &[Told::Blocks, Told::Schedule],
        statistic: None,
        draw: |p, _| Ok(vec![setup::table2(p)?]),
    },
    ReportRow {
        name: "table4",
        files: &["table4.md"],
        description: "The target datasets as prepared: images, classes and colour, counted in the data.",
        reads: Reads::Datasets,
        told: &[],
        statistic: None,
        draw: |p, ctx| {
            // An optional input: a dataset that failed to prepare is a row marked so.
            let prepared: Vec<_> =
                p.datasets.iter().map(|d| (d, ctx.input(&format!("dataset:{}", d.name)).ok())).collect();
            Ok(vec![setup::table4(p, &prepared)?])
        },
    },
    ReportRow {
        name: "figure9",
        files: &["figure9.svg"],
        description: "The fine-tuning set-ups: which blocks of the network train at each depth.",
        reads: Reads::Nothing,
        told: &[Told::Blocks],
        statistic: None,
        draw: |p, _| Ok(vec![figure9::render(p)?]),
    },
];

/// The index of the reports a profile has (its params list them).
pub const INDEX: ReportRow = ReportRow {
    name: "index",
    files: &["README.md"],
    description: "The index of reports.",
    reads: Reads::Nothing,
    told: &[],
    statistic: None,
    draw: |p, _| Ok(vec![index::render(p)]),
};
