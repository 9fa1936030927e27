//! Expands one profile of the study into the DAG's nodes, asking the wiring of each stage kind
//! for its own (`wiring/<kind>.rs`). Ids are derived from parameter values
//! (`finetune/l2_eps3/cifar10/n1600/b3/s20100000`), never from list positions, so adding a seed
//! or a dataset leaves every other id and key alone. The expansion is not part of any stage's
//! fingerprint: what it decides reaches the keys through the nodes' parameters. A profile's
//! optional blocks are wired through [`wiring::blocks`], one line each.

use super::block::SourceModel;
use super::config::{Profile, SourceOrigin};
use super::wiring::subset;
use super::wiring::{self, aggregate, fetch, finetune, grid_sources, prepare, pretrain, render};
use crate::fetch::params::LocalFile;
use crate::finetune::params::SourceFormat;
use crate::prepare::params::PrepareParams;
use pipeline_engine::Node;
use std::collections::BTreeMap;

/// The profile's local files, hashed when the study was loaded (so that their content is part
/// of the keys), by dataset or source name.
#[derive(Debug, Default)]
pub struct LocalFiles {
    /// The `prepare` parameters of each local dataset of the grid.
    pub datasets: BTreeMap<String, PrepareParams>,
    /// The `fetch` parameters of each local source checkpoint of the grid.
    pub sources: BTreeMap<String, LocalFile>,
}

/// Every node of profile `name` (assumed valid), of each block it has, its reports publishing
/// into `reports`.
pub fn nodes(name: &str, profile: &Profile, local: &LocalFiles, reports: &str) -> Vec<Node> {
    let statistics = profile.statistics.unwrap_or_default();
    let mut nodes = prepare::targets(profile, &local.datasets);
    let mut sources = Vec::new();
    let mut pretrained = Vec::new();
    for s in grid_sources(profile) {
        let (model, format) = match &s.origin {
            SourceOrigin::Pretrain | SourceOrigin::Scratch => {
                if pretrained.is_empty() {
                    let train = profile.pretrain.as_ref().expect("validated: pretrain settings");
                    nodes.push(prepare::source_data(train));
                }
                let model = pretrain::node_for(s, profile);
                pretrained.push(model.clone());
                (model, SourceFormat::Pretrained)
            }
            SourceOrigin::Hub => {
                let h = s.hub.as_ref().expect("validated: hub settings exist");
                (fetch::checkpoint(s, h), SourceFormat::Checkpoint(h.format))
            }
            SourceOrigin::Local => {
                let c = s.local.as_ref().expect("validated: local settings exist");
                let file = local.sources.get(&s.name).expect("resolved: every local source");
                (fetch::local_checkpoint(s, file), SourceFormat::Checkpoint(c.format))
            }
        };
        sources.push(SourceModel { name: s.name.clone(), node: model.id.clone(), format });
        nodes.push(model);
    }
    nodes.extend(subset::nodes(profile));
    let blocks: Vec<_> = wiring::blocks().into_iter().filter(|b| b.on(profile)).collect();
    // Only the cells whose networks a block reads (the influence study's) keep theirs.
    let kept: Vec<_> = blocks.iter().flat_map(|b| b.kept(profile)).collect();
    let (cells, grid) = finetune::nodes(profile, &sources, &kept);
    nodes.extend(cells);
    nodes.extend(aggregate::nodes(profile, &grid));
    for block in &blocks {
        nodes.extend(block.nodes(profile, &sources));
    }
    let pretrained: Vec<&Node> = pretrained.iter().collect();
    let grid = render::Grid { statistics: &statistics, pretrained: &pretrained, sources: &sources };
    nodes.extend(render::nodes(name, profile, &grid, &blocks, reports));
    nodes
}
