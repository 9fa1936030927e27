//! The `features` node of a grid cell whose network a later stage reads.

use super::node;
use crate::features::params::FeaturesParams;
use crate::features::FeaturesStage;
use crate::finetune::cell::Cell;
use crate::study::config::Profile;
use pipeline_engine::{Input, Node};

/// `features/<source>/<dataset>/n<size>/b<blocks>/s<seed>`.
pub fn id(cell: &Cell) -> String {
    cell.id().replacen("finetune/", "features/", 1)
}

/// The features of `cell` (whose `finetune` node keeps its network).
pub fn node_for(cell: &Cell, profile: &Profile) -> Node {
    let params = FeaturesParams {
        source: cell.source.clone(),
        dataset: cell.dataset.clone(),
        size_label: cell.size_label.clone(),
        blocks: cell.blocks as usize,
        seed: cell.seed,
        resolution: profile.network.resolution,
        batch: profile.finetune.eval_batch,
    };
    let inputs = vec![
        Input::new("model", cell.id()),
        Input::new("data", super::prepare::id(&cell.dataset)),
        Input::new("subset", super::subset::id(&cell.dataset, &cell.size_label, cell.seed)),
    ];
    node::<FeaturesStage>(id(cell), &params, inputs)
}
