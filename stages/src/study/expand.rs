//! Expands one profile of the study into the DAG's nodes, asking the wiring of each stage kind
//! for its own (`wiring/<kind>.rs`). Ids are derived from parameter values
//! (`finetune/l2_eps3/cifar10/n1600/b3/s20100000`), never from list positions, so adding a seed
//! or a dataset leaves every other id and key alone. The expansion is not part of any stage's
//! fingerprint: what it decides reaches the keys through the nodes' parameters. A profile's
//! optional blocks are wired through [`blocks`], one line each.

use super::block::Wired;
use super::config::{Profile, SourceOrigin};
use super::wiring::finetune::SourceModel;
use super::wiring::influence::InfluenceBlock;
use super::wiring::probe::ProbeBlock;
use super::wiring::visualise::Figure1Block;
use super::wiring::{aggregate, fetch, finetune, grid_sources, prepare, pretrain, render, subset};
use crate::fetch::params::LocalFile;
use crate::finetune::params::SourceFormat;
use crate::prepare::params::PrepareParams;
use crate::render::reports::Part;
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

/// The optional blocks a profile may have, each wired by its own file: the one list that the
/// checks, the expansion and the reports' parts read.
pub fn blocks() -> [&'static dyn Wired; 3] {
    [&InfluenceBlock, &Figure1Block, &ProbeBlock]
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
    // The influence study reads the networks of its grid cells: only those keep theirs.
    let kept: Vec<_> = profile
        .influence
        .as_ref()
        .map(|s| s.cells().into_iter().map(|(_, c)| c).collect())
        .unwrap_or_default();
    let (cells, grid) = finetune::nodes(profile, &sources, &kept);
    nodes.extend(cells);
    nodes.extend(aggregate::nodes(profile, &grid));
    let mut parts = vec![Part::Grid];
    for block in blocks().into_iter().filter(|b| b.on(profile)) {
        nodes.extend(block.nodes(profile, &sources));
        parts.push(block.part());
    }
    let pretrained: Vec<&Node> = pretrained.iter().collect();
    nodes.extend(render::nodes(name, profile, &parts, &statistics, reports, &pretrained));
    nodes
}
