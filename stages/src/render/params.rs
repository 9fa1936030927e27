//! The parameters of a `render` node: which report it draws and everything the report shows
//! (labels, the grid's schedule, the paper's columns). Written by the study's wiring, read by
//! the report modules.

use super::settings::Statistic;
use crate::finetune::params::FinetuneSettings;
use crate::threat::Constraint;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

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
    /// Never trained (`origin: scratch`): the floor, not a natural source.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub untrained: bool,
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
    /// Its class count, where the profile says it (procedural and hub datasets, local files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
}

impl DatasetLabel {
    /// The accuracy of guessing, in percent.
    pub fn chance(&self) -> Option<f64> {
        self.classes.map(|c| 100.0 / c as f64)
    }
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
    /// Which report the node draws: a row of [`super::reports::REPORTS`] (`table5`), or `index`.
    pub report: String,
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
    /// What a block tells its reports, in the form its kind's report module reads (the
    /// influence study's labels for Figures 6–8 and `influence.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<serde_json::Value>,
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

impl RenderParams {
    /// The evaluation this report uses (set for Table 5 and Figures 2, 4, 5 and 10).
    pub fn statistic(&self) -> Result<Statistic> {
        match self.statistic {
            Some(s) => Ok(s),
            None => bail!("{} needs `statistic` (last or best)", self.report),
        }
    }
    pub fn natural(&self) -> Result<&SourceLabel> {
        match self.sources.iter().find(|s| s.constraint == Constraint::None && !s.untrained) {
            Some(s) => Ok(s),
            None => {
                bail!("{} needs a natural source (constraint `none`) among `sources`", self.report)
            }
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
