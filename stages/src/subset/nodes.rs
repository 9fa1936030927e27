//! The `subset` nodes of a profile: one per (dataset, size, seed), shared by every source and
//! depth, so that all sources are fine-tuned on the same subsets (paired comparisons).

use super::params::SubsetParams;
use crate::data::subset::seeds;
use crate::prepare;
use crate::study::config::Profile;
use crate::study::expand::{grid_datasets, node};
use crate::subset::params::SubsetSize;
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
                let inputs = vec![Input::new("data", prepare::nodes::id(&d.name))];
                let params = SubsetParams { size, seed };
                nodes.push(node(id(&d.name, &row.size.label(), seed), "subset", &params, inputs));
            }
        }
    }
    nodes
}
