//! The `render` stage: one node per report, drawing the aggregate's tables into the files that are
//! committed under `reports/` (Markdown, CSV, SVG). Its fingerprint covers `render/` only, so
//! restyling a figure re-runs rendering and nothing upstream.
//!
//! Every output is a pure function of the parameters and the input bytes: no timestamps, fixed
//! float formatting, rows and series in the order the parameters list sources and datasets.

mod data;
mod figure9;
pub mod figures;
mod findings;
mod index;
pub mod paper;
pub mod params;
pub mod plot;
pub mod raster;
pub mod reports;
pub mod row;
mod settings;
mod setup;
pub mod svg;
mod table3;
pub mod table5;

use crate::fingerprint::{sources, Code, Sources};
use crate::kind::StageKind;
use anyhow::{bail, Context, Result};
pub use params::{DatasetLabel, IndexEntry, RenderParams, ScheduleEntry, SourceLabel};
use pipeline_engine::StageContext;
use row::ReportRow;
pub use settings::{Statistic, Statistics};
use std::path::Path;

/// The reports a stage kind owns, and the code that draws them (its fingerprint's part of the
/// render stage's): `code` lists the drawing module and what it reaches, composing
/// [`REPORT_ROW`].
pub struct Reports {
    pub rows: &'static [ReportRow],
    pub code: &'static Code,
}

/// The files every report's drawing code reaches through its row and its parameters.
pub const REPORT_ROW: Sources = sources![
    "render/row.rs",
    "render/params.rs",
    "render/settings.rs",
    "checkpoint/format.rs",
    "data/augment.rs",
    "finetune/params.rs",
    "nn/options.rs",
    "threat.rs",
];

/// The `render` stage: the grid's reports ([`reports::REPORTS`]), the index, and the reports
/// the stage kinds of a profile's blocks own, each drawn from its row. Inputs: `aggregate`
/// (tables and figures), `source:<name>` (the pretrain artifacts, Table 3),
/// `dataset:<name>` (Table 4), and what a block adds for its reports.
pub struct Render {
    rows: Vec<&'static ReportRow>,
    codes: Vec<&'static Code>,
}

impl Render {
    /// The stage that draws the grid's reports, the index and `owned` (the reports stage kinds
    /// own); its fingerprint covers their code with its own.
    pub fn new(owned: &[&'static Reports]) -> Render {
        let rows: Vec<&'static ReportRow> = (reports::REPORTS.iter())
            .chain(owned.iter().flat_map(|r| r.rows))
            .chain([&reports::INDEX])
            .collect();
        let codes = [&CODE].into_iter().chain(owned.iter().map(|r| r.code)).collect();
        Render { rows, codes }
    }

    /// Every report it draws, the index last.
    pub fn rows(&self) -> &[&'static ReportRow] {
        &self.rows
    }

    /// The row of report `name`.
    fn row(&self, name: &str) -> Result<&'static ReportRow> {
        match self.rows.iter().find(|r| r.name == name) {
            Some(row) => Ok(row),
            None => {
                let known: Vec<&str> = self.rows.iter().map(|r| r.name).collect();
                bail!("unknown report `{name}`; the reports are {}", known.join(", "))
            }
        }
    }
}

/// The files this stage's code is made of (its fingerprint; see `fingerprint.rs`).
pub const CODE: Code = Code {
    root: "render/mod.rs",
    parts: &[
        sources![
            "render/mod.rs",
            "../paper/datasets.csv",
            "../paper/schedule.csv",
            "../paper/sources.csv",
            "../paper/table5.csv",
            "aggregate/columns.rs",
            "data/dataset.rs",
            "nn/layout.rs",
            "nn/rng.rs",
            "pretrain/report.rs",
            "probe/report.rs",
            "probe/checks.rs",
            "render/data.rs",
            "render/figure9.rs",
            "render/figures.rs",
            "render/findings.rs",
            "render/index.rs",
            "render/paper.rs",
            "render/plot.rs",
            "render/reports.rs",
            "render/setup.rs",
            "render/svg.rs",
            "render/table3.rs",
            "render/table5.rs",
            "subset/params.rs",
        ],
        REPORT_ROW,
        crate::kind::SEAM,
    ],
};

impl StageKind for Render {
    const KIND: &'static str = "render";
    type Params = RenderParams;
    const CODE: &'static Code = &CODE;

    fn codes(&self) -> Vec<&'static Code> {
        self.codes.clone()
    }

    fn run(&self, ctx: &StageContext, params: RenderParams) -> Result<()> {
        let row = self.row(&params.report)?;
        let texts = (row.draw)(&params, ctx)?;
        assert_eq!(texts.len(), row.files.len(), "report {} draws one text per file", row.name);
        for (file, text) in row.files.iter().zip(&texts) {
            write(ctx.out_dir(), file, text)?;
        }
        Ok(())
    }
}

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests;
