//! The `pretrain` node of a source trained here (naturally or with PGD), or initialised here and
//! not trained (`origin: scratch`: zero epochs).

use super::node;
use super::prepare::SOURCE_DATA;
use crate::pretrain::params::PretrainParams;
use crate::pretrain::Pretrain;
use crate::study::config::{Profile, Source, SourceOrigin};
use pipeline_engine::{Input, Node};

/// `pretrain/<source>`, reading the profile's source data.
pub fn node_for(source: &Source, profile: &Profile) -> Node {
    let mut train = profile.pretrain.clone().expect("validated: pretrain settings exist");
    if source.origin == SourceOrigin::Scratch {
        train.epochs = 0;
        train.lr_decay.clear();
    }
    let params = PretrainParams {
        source: source.name.clone(),
        constraint: source.constraint,
        epsilon: source.epsilon.clone(),
        network: profile.network.clone(),
        train,
    };
    node::<Pretrain>(
        format!("pretrain/{}", source.name),
        &params,
        vec![Input::new("data", SOURCE_DATA)],
    )
}
