//! The two `aggregate` nodes: the 3-block cells (Table 5, Figures 2, 3, 5) and every depth
//! (Figures 4, 10). Each reads its cells as optional inputs: a failed cell is a gap the reports
//! mark, not a reason to render nothing.

use super::{grid_datasets, grid_sources, node};
use crate::aggregate::Aggregate;
use crate::aggregate::{AggregateParams, SourceSpec};
use crate::finetune::cell::Cell;
use crate::study::config::{Profile, SourceOrigin};
use pipeline_engine::{Input, Node};

/// The aggregate of the 3-block cells.
pub const MAIN: &str = "aggregate/blocks3";
/// The aggregate of every depth.
pub const DEPTHS: &str = "aggregate/depths";

pub fn nodes(profile: &Profile, cells: &[Cell]) -> Vec<Node> {
    let aggregate = |id: &str, keep: &dyn Fn(&Cell) -> bool| {
        let cells: Vec<&Cell> = cells.iter().filter(|c| keep(c)).collect();
        let params = AggregateParams {
            sources: grid_sources(profile)
                .map(|s| SourceSpec {
                    name: s.name.clone(),
                    constraint: s.constraint,
                    epsilon: s.epsilon.value,
                    untrained: s.origin == SourceOrigin::Scratch,
                })
                .collect(),
            datasets: grid_datasets(profile).map(|d| d.name.clone()).collect(),
            expected: cells.iter().map(|&c| c.clone()).collect(),
        };
        let inputs = cells.iter().map(|c| Input::optional(c.id(), c.id())).collect();
        node::<Aggregate>(id.into(), &params, inputs)
    };
    vec![aggregate(MAIN, &|c| c.blocks == 3), aggregate(DEPTHS, &|_| true)]
}
