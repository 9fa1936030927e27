//! The influence study's nodes for a profile with an `influence:` block: for the natural, the
//! robust and the floor source's cell, its features and its influence matrices under each
//! inverse. The cells themselves are the grid's `finetune` nodes, told to keep their networks
//! (`study/expand.rs`).

use super::node;
use crate::finetune::cell::Cell;
use crate::influence::params::InfluenceParams;
use crate::influence::settings::InfluenceSettings;
use crate::influence::solve::Inverse;
use crate::influence::InfluenceStage;
use crate::study::config::Profile;
use pipeline_engine::{Input, Node};

/// `influence/<source>/<dataset>/n<size>/b<blocks>/s<seed>/<method>`.
pub fn id(cell: &Cell, inverse: &Inverse) -> String {
    format!("{}/{}", cell.id().replacen("finetune/", "influence/", 1), inverse.method())
}

/// The `features` node of each studied source and its `influence` node under each inverse.
pub fn nodes(profile: &Profile, settings: &InfluenceSettings) -> Vec<Node> {
    let mut nodes = Vec::new();
    for (_, cell) in settings.cells() {
        let features = super::features::node_for(&cell, profile);
        for inverse in &settings.inverses {
            let params = InfluenceParams {
                source: cell.source.clone(),
                dataset: cell.dataset.clone(),
                size_label: cell.size_label.clone(),
                blocks: cell.blocks as usize,
                seed: cell.seed,
                weight_decay: profile.finetune.weight_decay,
                inverse: inverse.clone(),
            };
            let inputs = vec![Input::new("features", &features.id)];
            nodes.push(node::<InfluenceStage>(id(&cell, inverse), &params, inputs));
        }
        nodes.push(features);
    }
    nodes
}
