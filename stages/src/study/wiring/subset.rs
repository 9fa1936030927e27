//! The `subset` nodes of a profile: one per (dataset, size, seed), shared by every source and
//! depth, so that all sources are fine-tuned on the same subsets (paired comparisons).

use super::{grid_datasets, node};
use crate::data::subset::seeds;
use crate::study::config::Profile;
use crate::subset::params::SubsetParams;
use crate::subset::params::SubsetSize;
use crate::subset::Subset;
use pipeline_engine::{Input, Node};

/// `subset/<dataset>/n<size>/s<seed>`.
pub fn id(dataset: &str, size_label: &str, seed: u64) -> String {
    format!("subset/{dataset}/n{size_label}/s{seed}")
}

pub fn nodes(profile: &Profile) -> Vec<Node> {
    let mut nodes = Vec::new();
    for d in grid_datasets(profile) {
        for row in &profile.grid.schedule {
            let size = match row.size {
                SubsetSize::Images(n) => Some(n),
                SubsetSize::All => None,
            };
            for seed in seeds(row.seeds) {
                let inputs = vec![Input::new("data", super::prepare::id(&d.name))];
                let params = SubsetParams { size, seed };
                nodes.push(node::<Subset>(id(&d.name, &row.size.label(), seed), &params, inputs));
            }
        }
    }
    nodes
}
