//! A profile's `influence:` block: which cell of the grid the influence study (Section 6 of the
//! paper) examines, from which two sources, and how it inverts the Hessian. A typed field of the
//! profile; `study/blocks.rs` checks it against the grid.

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
    /// The cell: a subset size of the grid's schedule, one of the grid's depths, and one of that
    /// size's seeds.
    pub size: SubsetSize,
    pub blocks: usize,
    pub seed: u64,
    pub inverse: Inverse,
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

    /// The natural source's cell, then the robust one's.
    pub fn cells(&self) -> [Cell; 2] {
        [self.cell(&self.natural), self.cell(&self.robust)]
    }
}
