//! Figure 1's nodes: one `visualise` node per source the profile's `figure1:` block names.

use super::finetune::SourceModel;
use super::node;
use crate::study::config::Profile;
use crate::visualise::params::VisualiseParams;
use crate::visualise::settings::Figure1Settings;
use crate::visualise::VisualiseStage;
use pipeline_engine::{Input, Node};

/// `visualise/<source>`.
pub fn id(source: &str) -> String {
    format!("visualise/{source}")
}

/// The `visualise` node of each source of `settings`; `sources` are the grid's source models.
pub fn nodes(profile: &Profile, settings: &Figure1Settings, sources: &[SourceModel]) -> Vec<Node> {
    settings
        .sources
        .iter()
        .filter_map(|name| sources.iter().find(|s| &s.name == name))
        .map(|s| {
            let params = VisualiseParams {
                source: s.name.clone(),
                source_format: s.format,
                network: profile.network.clone(),
                coordinates: settings.coordinates.clone(),
                patterns: settings.patterns.clone(),
                noise: settings.noise,
                noise_seed: settings.noise_seed,
                step: settings.step,
                iterations: settings.iterations,
            };
            node::<VisualiseStage>(id(&s.name), &params, vec![Input::new("source", &s.node)])
        })
        .collect()
}
