//! The `render` stage: one node per report, drawing the aggregate's tables into the files that are
//! committed under `reports/` (Markdown, CSV, SVG). Its fingerprint covers `render/` only, so
//! restyling a figure re-runs rendering and nothing upstream.
//!
//! Every output is a pure function of the parameters and the input bytes: no timestamps, fixed
//! float formatting, rows and series in the order the parameters list sources and datasets.

mod data;
mod figure1;
mod figure9;
mod figures;
mod index;
pub mod influence;
mod paper;
pub mod params;
mod plot;
mod raster;
mod settings;
mod setup;
mod svg;
mod table3;
pub mod table5;

use crate::fingerprint::{sources, Code};
use crate::kind::StageKind;
use anyhow::{Context, Result};
pub use params::{
    DatasetLabel, IndexEntry, InfluenceLabels, RenderParams, Report, ScheduleEntry, SourceLabel,
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
    sources: sources![
        "render/mod.rs",
        "../paper/datasets.csv",
        "../paper/influence.csv",
        "../paper/schedule.csv",
        "../paper/sources.csv",
        "../paper/table5.csv",
        "checkpoint/format.rs",
        "data/augment.rs",
        "data/dataset.rs",
        "data/rng.rs",
        "features/arrays.rs",
        "finetune/params.rs",
        "fingerprint/build_record.rs",
        "fingerprint/mod.rs",
        "fingerprint/tokens.rs",
        "influence/matrices.rs",
        "influence/solve.rs",
        "kind.rs",
        "nn/layout.rs",
        "nn/options.rs",
        "nn/rng.rs",
        "npy.rs",
        "pretrain/report.rs",
        "render/data.rs",
        "render/figure1.rs",
        "render/figure9.rs",
        "render/figures.rs",
        "render/index.rs",
        "render/influence/figure6.rs",
        "render/influence/figure7.rs",
        "render/influence/mod.rs",
        "render/influence/ranks.rs",
        "render/paper.rs",
        "render/params.rs",
        "render/plot.rs",
        "render/raster.rs",
        "render/settings.rs",
        "render/setup.rs",
        "render/svg.rs",
        "render/table3.rs",
        "render/table5.rs",
        "subset/params.rs",
        "threat.rs",
        "visualise/artifact.rs",
    ],
};

impl StageKind for Render {
    const KIND: &'static str = "render";
    type Params = RenderParams;
    const CODE: &'static Code = &CODE;

    fn run(&self, ctx: &StageContext, params: RenderParams) -> Result<()> {
        let out = ctx.out_dir();
        match params.report {
            Report::Table5 => {
                let (md, csv) = table5::render(&params, ctx.input("aggregate")?)?;
                let [md_file, csv_file] = Report::Table5.files() else { unreachable!() };
                write(out, md_file, &md)?;
                write(out, csv_file, &csv)
            }
            Report::Table3 => {
                // Sources pre-trained here have an input; fetched checkpoints have none.
                let dirs: Vec<Option<&Path>> = params
                    .sources
                    .iter()
                    .map(|s| ctx.input(&format!("source:{}", s.name)).ok())
                    .collect();
                write(out, Report::Table3.files()[0], &table3::render(&params, &dirs)?)
            }
            Report::Index => write(out, Report::Index.files()[0], &index::render(&params)),
            Report::Table1 => write(out, Report::Table1.files()[0], &setup::table1(&params)?),
            Report::Table2 => write(out, Report::Table2.files()[0], &setup::table2(&params)?),
            Report::Figure9 => write(out, Report::Figure9.files()[0], &figure9::render(&params)?),
            Report::Figure1 => {
                let dirs: Vec<(&str, &Path)> = params
                    .sources
                    .iter()
                    .filter_map(|s| {
                        let dir = ctx.input(&format!("visualise:{}", s.name)).ok()?;
                        Some((s.name.as_str(), dir))
                    })
                    .collect();
                write(out, Report::Figure1.files()[0], &figure1::render(&params, &dirs)?)
            }
            Report::Figure6 | Report::Figure7 | Report::Figure8 | Report::Influence => {
                let pair = influence::Pair::load(ctx.input("natural")?, ctx.input("robust")?)?;
                let text = match params.report {
                    Report::Figure6 => influence::figure6(&params, &pair, ctx.input("data")?)?,
                    Report::Figure7 => influence::figure7(&params, &pair)?,
                    Report::Figure8 => influence::figure8(&params, &pair)?,
                    _ => influence::markdown(&params, &pair)?,
                };
                write(out, params.report.files()[0], &text)
            }
            Report::Table4 => {
                let mut prepared = Vec::new();
                for d in &params.datasets {
                    // An optional input: a dataset that failed to prepare is a row marked so.
                    prepared.push((d, ctx.input(&format!("dataset:{}", d.name)).ok()));
                }
                write(out, Report::Table4.files()[0], &setup::table4(&params, &prepared)?)
            }
            figure => {
                let svg = figures::render(&params, ctx.input("aggregate")?)?;
                write(out, figure.files()[0], &svg)
            }
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests;
