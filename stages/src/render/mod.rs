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
pub mod nodes;
mod paper;
mod plot;
mod raster;
mod settings;
mod setup;
mod svg;
mod table3;
pub mod table5;

use crate::finetune::params::FinetuneSettings;
use crate::fingerprint::{sources, Code};
use crate::threat::Constraint;
use anyhow::{bail, Context, Result};
use pipeline_engine::{Stage, StageContext};
use serde::{Deserialize, Serialize};
pub use settings::{Statistic, Statistics};
use std::path::Path;

/// Which report a render node draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Report {
    /// `table5.md` + `table5.csv`: final accuracy at 3 blocks, sources side by side.
    Table5,
    /// `table3.md`: each source model's accuracy, clean and under attack.
    Table3,
    /// `figure2.svg`: accuracy and robust − natural against subset size.
    Figure2,
    /// `figure3.svg`: accuracy and robust − natural against training epoch at one subset size.
    Figure3,
    /// `figure4.svg`: fine-tuned blocks, for the l2 source against natural.
    Figure4,
    /// `figure5.svg`: constraint comparisons (l-inf small − large ε, l2 − l-inf).
    Figure5,
    /// `figure10.svg`: as Figure 4, for every other robust source.
    Figure10,
    /// `table1.md`: the fine-tuning hyper-parameters.
    Table1,
    /// `table2.md`: schedule and seeds per subset size.
    Table2,
    /// `table4.md`: the target datasets as prepared.
    Table4,
    /// `figure9.svg`: the fine-tuning set-ups, drawn from the network definition.
    Figure9,
    /// `figure1.svg`: feature visualisation, robust against natural, from the same seeds.
    Figure1,
    /// `figure6.svg`: each class's test image and its most helpful training image per model.
    Figure6,
    /// `figure7.svg`: the influence matrices as heat maps.
    Figure7,
    /// `figure8.svg`: the share of rows whose k-th most helpful training image has their class.
    Figure8,
    /// `influence.md`: the influence study's headline numbers, inverse and accuracies.
    Influence,
    /// `README.md`: the index of reports.
    Index,
}

/// A source model as the reports show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceLabel {
    /// The name the aggregate uses (`l2_eps3`).
    pub name: String,
    /// The name readers see (`l2, ε = 3`).
    pub label: String,
    pub constraint: Constraint,
    /// Its column in the paper's tables (`stages/paper/*.csv`), when it is one of the paper's.
    #[serde(default)]
    pub paper: Option<String>,
    /// The radius as written in `pipeline.yaml` (`3`, `4/255`); empty for natural training.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub epsilon: String,
    /// A hub checkpoint standing in for the paper's, and why (`pipeline.yaml`'s `stand_in`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stand_in: Option<String>,
}

/// A target dataset as the reports show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetLabel {
    pub name: String,
    pub label: String,
    /// Its name in the paper's Table 5, when it is one of the paper's.
    #[serde(default)]
    pub paper: Option<String>,
}

/// One line of the index.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexEntry {
    /// Path relative to the index (`table5.md`).
    pub path: String,
    pub description: String,
}

/// Parameters of a `render` node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderParams {
    pub report: Report,
    /// The profile's name, shown in every report.
    pub profile: String,
    /// True only where the data are the paper's (paper profile): the paper's numbers are then
    /// shown beside ours.
    pub comparable_to_paper: bool,
    /// Sources in display order (the first with constraint `none` is the natural baseline).
    #[serde(default)]
    pub sources: Vec<SourceLabel>,
    /// Target datasets in display order.
    #[serde(default)]
    pub datasets: Vec<DatasetLabel>,
    /// Figure 3: the subset-size label whose training curves are drawn.
    #[serde(default)]
    pub subset_size: Option<String>,
    /// Table 5 and Figures 2, 4, 5 and 10: which evaluation of each cell they report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<Statistic>,
    /// Index: the reports to list.
    #[serde(default)]
    pub reports: Vec<IndexEntry>,
    /// Where the data, the sources and the network came from, one clause each (`data:
    /// procedural, made by this project`); every report's caption says them.
    #[serde(default)]
    pub origins: Vec<String>,
    /// Table 1: the profile's fine-tuning settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finetune: Option<FinetuneSettings>,
    /// Table 2: the grid's schedule, one row per subset size.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<ScheduleEntry>,
    /// Table 2 and Figure 9: the fine-tuning depths (blocks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<usize>,
    /// Figures 6–8 and `influence.md`: the influence study.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub influence: Option<influence::InfluenceLabels>,
}

/// One subset size of the grid's schedule, as Table 2 shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEntry {
    /// `100` or `all`.
    pub size: String,
    pub epochs: usize,
    pub seeds: usize,
    pub eval_every: usize,
    pub lr_decay: Vec<usize>,
}

impl Report {
    /// The report's name, as in `render/<name>` and `reports/<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Report::Table5 => "table5",
            Report::Table3 => "table3",
            Report::Figure2 => "figure2",
            Report::Figure3 => "figure3",
            Report::Figure4 => "figure4",
            Report::Figure5 => "figure5",
            Report::Figure10 => "figure10",
            Report::Table1 => "table1",
            Report::Table2 => "table2",
            Report::Table4 => "table4",
            Report::Figure9 => "figure9",
            Report::Figure1 => "figure1",
            Report::Figure6 => "figure6",
            Report::Figure7 => "figure7",
            Report::Figure8 => "figure8",
            Report::Influence => "influence",
            Report::Index => "index",
        }
    }

    /// The files its node writes, which the project publishes under `reports/`.
    pub fn files(self) -> &'static [&'static str] {
        match self {
            Report::Table5 => &["table5.md", "table5.csv"],
            Report::Table3 => &["table3.md"],
            Report::Figure2 => &["figure2.svg"],
            Report::Figure3 => &["figure3.svg"],
            Report::Figure4 => &["figure4.svg"],
            Report::Figure5 => &["figure5.svg"],
            Report::Figure10 => &["figure10.svg"],
            Report::Table1 => &["table1.md"],
            Report::Table2 => &["table2.md"],
            Report::Table4 => &["table4.md"],
            Report::Figure9 => &["figure9.svg"],
            Report::Figure1 => &["figure1.svg"],
            Report::Figure6 => &["figure6.svg"],
            Report::Figure7 => &["figure7.svg"],
            Report::Figure8 => &["figure8.svg"],
            Report::Influence => &["influence.md"],
            Report::Index => &["README.md"],
        }
    }
}

impl RenderParams {
    /// The evaluation this report uses (set for Table 5 and Figures 2, 4, 5 and 10).
    fn statistic(&self) -> Result<Statistic> {
        match self.statistic {
            Some(s) => Ok(s),
            None => bail!("{:?} needs `statistic` (last or best)", self.report),
        }
    }
    fn natural(&self) -> Result<&SourceLabel> {
        match self.sources.iter().find(|s| s.constraint == Constraint::None) {
            Some(s) => Ok(s),
            None => bail!(
                "{:?} needs a natural source (constraint `none`) among `sources`",
                self.report
            ),
        }
    }
    fn source_label<'a>(&'a self, name: &'a str) -> &'a str {
        self.sources.iter().find(|s| s.name == name).map_or(name, |s| s.label.as_str())
    }
    /// The sentence every report carries about where its numbers come from.
    fn provenance(&self) -> String {
        let origins = match self.origins.is_empty() {
            true if self.comparable_to_paper => "the paper's setting".to_string(),
            true => "procedural data and a scaled-down network".to_string(),
            false => self.origins.join("; "),
        };
        let comparison = match self.comparable_to_paper {
            true => "The paper's values stand beside ours.",
            false => "These numbers are not comparable to the paper's.",
        };
        format!("Profile `{}`: {origins}. {comparison}", self.profile)
    }
}

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

impl Stage for Render {
    fn kind(&self) -> &'static str {
        "render"
    }

    fn fingerprint(&self) -> blake3::Hash {
        CODE.fingerprint(self.kind())
    }

    fn run(&self, ctx: &StageContext) -> Result<()> {
        let params: RenderParams = ctx.params_as()?;
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

/// Accuracy (percent) as the tables print it.
fn pct(x: f64) -> String {
    format!("{x:.2}")
}

#[cfg(test)]
mod tests;
