//! The manipulation checks' nodes: one `probe` node per source of the grid trained or
//! initialised here, when the profile has a `probe:` block.

use super::finetune::SourceModel;
use super::node;
use super::prepare::SOURCE_DATA;
use crate::probe::params::ProbeParams;
use crate::probe::settings::ProbeSettings;
use crate::probe::Probe;
use crate::study::config::Profile;
use pipeline_engine::{Input, Node};

/// Images per evaluation batch.
const BATCH: usize = 500;

/// `probe/<source>`.
pub fn id(source: &str) -> String {
    format!("probe/{source}")
}

/// The `probe` node of each source model in `sources` (those made here: the probe draws from
/// the profile's source set).
pub fn nodes(profile: &Profile, settings: &ProbeSettings, sources: &[SourceModel]) -> Vec<Node> {
    let data = &profile.pretrain.as_ref().expect("validated: a probe needs pretrain data").data;
    sources
        .iter()
        .map(|s| {
            let params = ProbeParams {
                source: s.name.clone(),
                source_format: s.format,
                network: profile.network.clone(),
                data: data.clone(),
                sigma: settings.sigma,
                conflict_images: settings.conflict_images,
                batch: BATCH,
            };
            let inputs = vec![Input::new("source", &s.node), Input::new("data", SOURCE_DATA)];
            node::<Probe>(id(&s.name), &params, inputs)
        })
        .collect()
}
