//! The study's wiring of each stage kind: which nodes of that kind a profile has, with which
//! parameters and inputs (`<kind>.rs`, one file per kind), the list of a profile's optional
//! blocks, and the helpers they share. This sits on top of the stages it wires: a stage never
//! imports the study.

pub mod aggregate;
pub mod features;
pub mod fetch;
pub mod finetune;
pub mod prepare;
pub mod pretrain;
pub mod render;
pub mod subset;

use super::block::Wired;
use super::config::{DatasetSettings, Profile, Source};
use crate::kind::StageKind;
use pipeline_engine::{Input, Node};

/// `blocks![module::Block, …]`: each block's wiring module (`pub mod module;`) and the list
/// [`blocks`] of the blocks.
macro_rules! blocks {
    ($($module:ident::$block:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// The optional blocks a profile may have, each wired by its own file: the one list
        /// that the schema, the checks, the expansion, the reports and the stage registry read.
        pub fn blocks() -> Vec<&'static dyn Wired> {
            vec![$(&$module::$block),*]
        }
    };
}

// One line per block: the kind's module and its wiring file hold the rest.
blocks![influence::InfluenceBlock, visualise::Figure1Block, probe::ProbeBlock,];

/// A node of stage kind `K` with these parameters and inputs, publishing nothing.
pub fn node<K: StageKind>(id: String, params: &K::Params, inputs: Vec<Input>) -> Node {
    Node {
        id,
        kind: K::KIND.into(),
        params: serde_json::to_value(params).expect("parameters serialise"),
        inputs,
        publish: vec![],
    }
}

/// The profile's datasets that its grid uses, in the order they are defined.
pub fn grid_datasets(profile: &Profile) -> impl Iterator<Item = &DatasetSettings> {
    profile.datasets.iter().filter(|d| profile.grid.datasets.contains(&d.name))
}

/// The profile's sources that its grid uses, in the order they are defined.
pub fn grid_sources(profile: &Profile) -> impl Iterator<Item = &Source> {
    profile.sources.iter().filter(|s| profile.grid.sources.contains(&s.name))
}
