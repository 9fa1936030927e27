//! The `pretrain` node of a source trained here (naturally or with PGD).

use super::node;
use super::prepare::SOURCE_DATA;
use crate::pretrain::params::PretrainParams;
use crate::pretrain::Pretrain;
use crate::study::config::{Profile, Source};
use pipeline_engine::{Input, Node};

/// `pretrain/<source>`, reading the profile's source data.
pub fn node_for(source: &Source, profile: &Profile) -> Node {
    let params = PretrainParams {
        source: source.name.clone(),
        constraint: source.constraint,
        epsilon: source.epsilon.clone(),
        network: profile.network.clone(),
        train: profile.pretrain.clone().expect("validated: pretrain settings exist"),
    };
    node::<Pretrain>(
        format!("pretrain/{}", source.name),
        &params,
        vec![Input::new("data", SOURCE_DATA)],
    )
}
