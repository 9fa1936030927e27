//! The parameters of a `render` node: which report it draws and everything the report shows
//! (labels, the grid's schedule, the paper's columns). Written by the study's wiring, read by
//! the report modules.

use super::settings::Statistic;
use crate::finetune::params::FinetuneSettings;
use crate::threat::Constraint;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

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
    pub influence: Option<InfluenceLabels>,
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
    pub fn statistic(&self) -> Result<Statistic> {
        match self.statistic {
            Some(s) => Ok(s),
            None => bail!("{:?} needs `statistic` (last or best)", self.report),
        }
    }
    pub fn natural(&self) -> Result<&SourceLabel> {
        match self.sources.iter().find(|s| s.constraint == Constraint::None) {
            Some(s) => Ok(s),
            None => bail!(
                "{:?} needs a natural source (constraint `none`) among `sources`",
                self.report
            ),
        }
    }
    pub fn source_label<'a>(&'a self, name: &'a str) -> &'a str {
        self.sources.iter().find(|s| s.name == name).map_or(name, |s| s.label.as_str())
    }
    /// The sentence every report carries about where its numbers come from.
    pub fn provenance(&self) -> String {
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

/// What the influence reports say about the study (set by `render/nodes.rs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluenceLabels {
    /// Source names (as in `RenderParams::sources`) of the two models.
    pub natural: String,
    pub robust: String,
    /// The target dataset's label.
    pub dataset: String,
    /// The cell, in words: `400 training images, 3 fine-tuned blocks, seed 20000000`.
    pub cell: String,
    /// Figure 6: the seed that draws one test image per class.
    pub figure6_seed: u64,
}
