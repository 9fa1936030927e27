//! The `render` stage: one node per report, drawing the aggregate's tables into the files that are
//! committed under `reports/` (Markdown, CSV, SVG). Its fingerprint covers `render/` only, so
//! restyling a figure re-runs rendering and nothing upstream.
//!
//! Every output is a pure function of the parameters and the input bytes: no timestamps, fixed
//! float formatting, rows and series in the order the parameters list sources and datasets.

mod checks;
mod data;
mod figure1;
mod figure9;
mod figures;
mod findings;
mod index;
pub mod influence;
mod paper;
pub mod params;
mod plot;
mod raster;
pub mod reports;
mod settings;
mod setup;
mod svg;
mod table3;
pub mod table5;

use crate::fingerprint::{sources, Code};
use crate::kind::StageKind;
use anyhow::{Context, Result};
pub use params::{
    DatasetLabel, IndexEntry, InfluenceLabels, RenderParams, ScheduleEntry, SourceLabel,
};
use pipeline_engine::StageContext;
pub use settings::{Statistic, Statistics};
use std::path::Path;

/// The `render` stage. Inputs: `aggregate` (tables and figures), `source:<name>` (the pretrain
/// artifacts, Table 3 only), `dataset:<name>` (Table 4), and `natural`, `robust` (influence
/// artifacts) and `data` (Figure 6's images) for the influence reports.
pub struct Render;

/// The files this stage's code is made of (its fingerprint; see `fingerprint.rs`).
pub const CODE: Code = Code {
    root: "render/mod.rs",
    parts: &[
        sources![
            "render/mod.rs",
            "../paper/datasets.csv",
            "../paper/influence.csv",
            "../paper/schedule.csv",
            "../paper/sources.csv",
            "../paper/table5.csv",
            "aggregate/columns.rs",
            "checkpoint/format.rs",
            "data/augment.rs",
            "data/dataset.rs",
            "data/rng.rs",
            "features/arrays.rs",
            "finetune/params.rs",
            "influence/matrices.rs",
            "influence/solve.rs",
            "nn/layout.rs",
            "nn/options.rs",
            "nn/rng.rs",
            "npy.rs",
            "pretrain/report.rs",
            "probe/report.rs",
            "render/checks.rs",
            "render/data.rs",
            "render/figure1.rs",
            "render/figure9.rs",
            "render/figures.rs",
            "render/findings.rs",
            "render/index.rs",
            "render/influence/figure6.rs",
            "render/influence/figure7.rs",
            "render/influence/mod.rs",
            "render/influence/ranks.rs",
            "render/paper.rs",
            "render/params.rs",
            "render/plot.rs",
            "render/raster.rs",
            "render/reports.rs",
            "render/settings.rs",
            "render/setup.rs",
            "render/svg.rs",
            "render/table3.rs",
            "render/table5.rs",
            "splits.rs",
            "subset/params.rs",
            "threat.rs",
            "visualise/artifact.rs",
        ],
        crate::kind::SEAM,
    ],
};

impl StageKind for Render {
    const KIND: &'static str = "render";
    type Params = RenderParams;
    const CODE: &'static Code = &CODE;

    fn run(&self, ctx: &StageContext, params: RenderParams) -> Result<()> {
        let row = reports::report(&params.report)?;
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
