//! A profile's `influence:` block: which cell of the grid the influence study (Section 6 of the
//! paper) examines, from which two sources (and an untrained floor), and how it inverts the
//! Hessian. A typed field of the profile; `study/wiring/influence.rs` checks it against the grid.

use super::solve::Inverse;
use crate::finetune::cell::Cell;
use crate::subset::params::SubsetSize;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluenceSettings {
    /// The target dataset, one of the grid's.
    pub dataset: String,
    /// The naturally trained source (constraint `none`) and the robust one compared with it.
    pub natural: String,
    pub robust: String,
    /// A source with no pre-training (origin `scratch`): the same statistics from its features
    /// say what the labels alone produce.
    #[serde(default)]
    pub floor: Option<String>,
    /// The cell: a subset size of the grid's schedule, one of the grid's depths, and one of that
    /// size's seeds.
    pub size: SubsetSize,
    pub blocks: usize,
    pub seed: u64,
    /// The Hessian's inverses, one of each method: every one is computed, the first draws
    /// Figures 6–8, and `influence.md` gives every one's statistics.
    pub inverses: Vec<Inverse>,
    /// Figure 6: the seed that draws one test image per class.
    pub figure6_seed: u64,
}

impl InfluenceSettings {
    /// The grid cell of `source` that the study reads.
    pub fn cell(&self, source: &str) -> Cell {
        Cell {
            source: source.to_string(),
            dataset: self.dataset.clone(),
            size_label: self.size.label(),
            blocks: self.blocks as u32,
            seed: self.seed,
        }
    }

    /// Each studied source's role (`natural`, `robust`, `floor`) and cell, in that order.
    pub fn cells(&self) -> Vec<(&'static str, Cell)> {
        let floor = self.floor.iter().map(|f| ("floor", self.cell(f)));
        [("natural", self.cell(&self.natural)), ("robust", self.cell(&self.robust))]
            .into_iter()
            .chain(floor)
            .collect()
    }
}
