//! A profile's `influence:` block: which cell of the grid the influence study (Section 6 of the
//! paper) examines, from which two sources, and how it inverts the Hessian. Like `slurm:`, the
//! block is read apart from the rest of the profile (`study/apart.rs`), so adding or changing it
//! never touches the schema every other stage's fingerprint covers.

use super::solve::Inverse;
use crate::data::subset::seeds;
use crate::finetune::cell::Cell;
use crate::study::apart::Problem;
use crate::study::config::{Constraint, Profile, SubsetSize};
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

    /// What does not name a part of `profile`'s grid.
    pub fn check(&self, profile: &Profile) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |field, message: String| problems.push(Problem { field, message });
        let grid = &profile.grid;
        if !grid.datasets.contains(&self.dataset) {
            problem(
                "dataset",
                format!(
                    "`{}` is not a dataset of the grid ({})",
                    self.dataset,
                    grid.datasets.join(", ")
                ),
            );
        }
        for (field, name, natural) in
            [("natural", &self.natural, true), ("robust", &self.robust, false)]
        {
            match profile.sources.iter().find(|s| &s.name == name && grid.sources.contains(name)) {
                None => problem(
                    field,
                    format!("`{name}` is not a source of the grid ({})", grid.sources.join(", ")),
                ),
                Some(s) if natural && s.constraint != Constraint::None => problem(
                    field,
                    format!("`{name}` is adversarially trained; name the natural source"),
                ),
                Some(s) if !natural && s.constraint == Constraint::None => {
                    problem(field, format!("`{name}` is naturally trained; name a robust source"))
                }
                Some(_) => {}
            }
        }
        match grid.schedule.iter().find(|r| r.size == self.size) {
            None => {
                let sizes: Vec<String> = grid.schedule.iter().map(|r| r.size.label()).collect();
                problem(
                    "size",
                    format!(
                        "{} is not a subset size of the grid ({})",
                        self.size.label(),
                        sizes.join(", ")
                    ),
                );
            }
            Some(row) if !seeds(row.seeds).contains(&self.seed) => {
                let have: Vec<String> = seeds(row.seeds).iter().map(u64::to_string).collect();
                problem(
                    "seed",
                    format!(
                        "size {} has seeds {}, not {}",
                        self.size.label(),
                        have.join(", "),
                        self.seed
                    ),
                );
            }
            Some(_) => {}
        }
        if !grid.blocks.contains(&self.blocks) {
            problem(
                "blocks",
                format!("{} is not a depth of the grid ({:?})", self.blocks, grid.blocks),
            );
        }
        if let Inverse::Pinv { cutoff } = self.inverse {
            if !(cutoff >= 0.0 && cutoff.is_finite()) {
                problem(
                    "inverse",
                    format!("the cut-off must be a finite number ≥ 0, got {cutoff}"),
                );
            }
        }
        // Non-finite numbers are refused before this check runs.
        if profile.finetune.weight_decay <= 0.0 && self.inverse == Inverse::Damped {
            problem("inverse", "the damped solve needs a positive fine-tuning weight decay".into());
        }
        problems
    }
}
