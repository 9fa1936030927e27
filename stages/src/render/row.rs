//! What a report is to the render stage: one row (its name, the files it writes, the index's
//! line, what of the grid it reads and is told, and how it is drawn). The grid's rows are
//! `reports.rs`'s; a profile block's are its kind's (`probe/checks.rs`, `visualise/figure1.rs`,
//! `influence/reports/rows.rs`), composed into the render stage by the study.

use super::params::RenderParams;
use super::settings::{Statistic, Statistics};
use anyhow::Result;
use pipeline_engine::StageContext;

/// One report.
pub struct ReportRow {
    /// As in `render/<name>`; the params' `report`.
    pub name: &'static str,
    /// The files its node writes, published under the profile's reports folder.
    pub files: &'static [&'static str],
    /// Its line in the index.
    pub description: &'static str,
    /// What of the grid it reads (a block adds the inputs of its own kinds).
    pub reads: Reads,
    /// What of the profile its params carry beyond the labels every report has.
    pub told: &'static [Told],
    /// The evaluation of each cell it reports, for the accuracy reports.
    pub statistic: Option<fn(&Statistics) -> Statistic>,
    /// Its files' texts, in the order of `files`.
    pub draw: fn(&RenderParams, &StageContext) -> Result<Vec<String>>,
}

/// What of the grid a report's node reads; the names are those the draw functions ask
/// `ctx.input` for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// `aggregate`: the grid's main aggregate.
    Aggregate,
    /// `aggregate`: the aggregate over every fine-tuning depth.
    Depths,
    /// `source:<name>`: the pretrain artifact of each source trained here.
    Sources,
    /// `dataset:<name>`, optional: each target as prepared.
    Datasets,
    /// Nothing of the grid: drawn from the params and what its block adds.
    Nothing,
}

/// What of the profile a report's params carry, besides labels and origins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Told {
    /// `finetune`: the fine-tuning settings.
    Finetune,
    /// `schedule`: the grid's schedule.
    Schedule,
    /// `blocks`: the fine-tuning depths.
    Blocks,
    /// `subset_size`: the subset size whose curves are drawn.
    SubsetSize,
}
