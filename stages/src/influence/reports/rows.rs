//! The influence study's report rows (Figures 6–8 and `influence.md`) and the artifacts they
//! load from the node's inputs.

use super::{figure6, figure7, figure8, labels, markdown, Pair};
use crate::render::row::{Reads, ReportRow};
use crate::render::RenderParams;
use anyhow::{Context, Result};
use pipeline_engine::StageContext;

/// The influence study's reports. Inputs: `<role>:<method>`, the influence artifact of each
/// studied source (`natural`, `robust`, `floor`) under each inverse, and `data` (the dataset's
/// images) for Figure 6; told the study's labels ([`super::InfluenceLabels`]).
pub const ROWS: &[ReportRow] = &[
        ReportRow {
            name: "figure6",
            files: &["figure6.svg"],
            description: "One test image per class and the training image each model ranks most helpful to it.",
            reads: Reads::Nothing,
            told: &[],
            statistic: None,
            draw: |p, ctx| Ok(vec![figure6(p, &figures_pair(p, ctx)?, ctx.input("data")?)?]),
        },
        ReportRow {
            name: "figure7",
            files: &["figure7.svg"],
            description: "The influence matrices (training and test rows, natural and robust) as heat maps grouped by class.",
            reads: Reads::Nothing,
            told: &[],
            statistic: None,
            draw: |p, ctx| Ok(vec![figure7(p, &figures_pair(p, ctx)?)?]),
        },
        ReportRow {
            name: "figure8",
            files: &["figure8.svg"],
            description: "How often the k-th most helpful training image shares the row's class, k = 1…100.",
            reads: Reads::Nothing,
            told: &[],
            statistic: None,
            draw: |p, ctx| Ok(vec![figure8(p, &figures_pair(p, ctx)?)?]),
        },
        ReportRow {
            name: "influence",
            files: &["influence.md"],
            description: "The influence study's headline numbers under each Hessian inverse, for both models and the untrained floor, which statistics are saturated, and the models' accuracies.",
            reads: Reads::Nothing,
            told: &[],
            statistic: None,
            draw: |p, ctx| Ok(vec![markdown(p, &pairs(p, ctx)?)?]),
        },
];

/// The influence study's artifacts under the inverse `method` (inputs `<role>:<method>`).
fn pair(p: &RenderParams, ctx: &StageContext, method: &str) -> Result<Pair> {
    let input = |role: &str| ctx.input(&format!("{role}:{method}"));
    let floor = labels(p)?.floor.as_ref().map(|_| input("floor")).transpose()?;
    Pair::load(input("natural")?, input("robust")?, floor)
}

/// Under the first inverse: the one the figures are drawn from.
fn figures_pair(p: &RenderParams, ctx: &StageContext) -> Result<Pair> {
    let first = labels(p)?.inverses.first().cloned();
    pair(p, ctx, &first.context("the influence study names no inverse")?)
}

/// Under each inverse, in the profile's order.
fn pairs(p: &RenderParams, ctx: &StageContext) -> Result<Vec<(String, Pair)>> {
    let methods = labels(p)?.inverses;
    methods.iter().map(|m| Ok((m.clone(), pair(p, ctx, m)?))).collect()
}
