//! The `finetune` nodes of a profile: one per cell of the grid (sources × datasets × sizes ×
//! blocks × seeds), each reading its source model, its dataset and its subset.

use super::{grid_datasets, node};
use crate::data::subset::seeds;
use crate::finetune::cell::Cell;
use crate::finetune::params::FinetuneParams;
use crate::finetune::Finetune;
use crate::study::block::SourceModel;
use crate::study::config::Profile;
use pipeline_engine::{Input, Node};

/// The cells' nodes and the cells, in grid order; the cells in `kept` keep their networks.
pub fn nodes(profile: &Profile, sources: &[SourceModel], kept: &[Cell]) -> (Vec<Node>, Vec<Cell>) {
    let (mut nodes, mut cells) = (Vec::new(), Vec::new());
    for source in sources {
        for d in grid_datasets(profile) {
            for row in &profile.grid.schedule {
                for &blocks in &profile.grid.blocks {
                    for seed in seeds(row.seeds) {
                        let cell = Cell {
                            source: source.name.clone(),
                            dataset: d.name.clone(),
                            size_label: row.size.label(),
                            blocks: blocks as u32,
                            seed,
                        };
                        let params = FinetuneParams {
                            source: source.name.clone(),
                            source_format: source.format,
                            dataset: d.name.clone(),
                            size_label: cell.size_label.clone(),
                            blocks,
                            seed,
                            network: profile.network.clone(),
                            epochs: row.epochs,
                            eval_every: row.eval_every,
                            lr_decay: row.lr_decay.clone(),
                            train: profile.finetune.clone(),
                            keep_model: kept.contains(&cell),
                        };
                        let inputs = vec![
                            Input::new("source", &source.node),
                            Input::new("data", super::prepare::id(&d.name)),
                            Input::new(
                                "subset",
                                super::subset::id(&d.name, &cell.size_label, seed),
                            ),
                        ];
                        nodes.push(node::<Finetune>(cell.id(), &params, inputs));
                        cells.push(cell);
                    }
                }
            }
        }
    }
    (nodes, cells)
}
