//! The influence study's nodes for a profile with an `influence:` block: for the natural and the
//! robust source's cell, its features and its influence matrices. The cells themselves are the
//! grid's `finetune` nodes, told to keep their networks (`study/expand.rs`).

use super::node;
use crate::finetune::cell::Cell;
use crate::influence::params::InfluenceParams;
use crate::influence::settings::InfluenceSettings;
use crate::influence::InfluenceStage;
use crate::study::config::Profile;
use pipeline_engine::{Input, Node};

/// `influence/<source>/<dataset>/n<size>/b<blocks>/s<seed>`.
pub fn id(cell: &Cell) -> String {
    cell.id().replacen("finetune/", "influence/", 1)
}

/// The `features` and `influence` nodes of both sources.
pub fn nodes(profile: &Profile, settings: &InfluenceSettings) -> Vec<Node> {
    let mut nodes = Vec::new();
    for cell in settings.cells() {
        let features = super::features::node_for(&cell, profile);
        let params = InfluenceParams {
            source: cell.source.clone(),
            dataset: cell.dataset.clone(),
            size_label: cell.size_label.clone(),
            blocks: cell.blocks as usize,
            seed: cell.seed,
            weight_decay: profile.finetune.weight_decay,
            inverse: settings.inverse.clone(),
        };
        let inputs = vec![Input::new("features", &features.id)];
        nodes.push(features);
        nodes.push(node::<InfluenceStage>(id(&cell), &params, inputs));
    }
    nodes
}
