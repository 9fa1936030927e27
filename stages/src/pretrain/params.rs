//! The parameters of a `pretrain` node: written by the study's expansion (`study/expand.rs`), read
//! by the stage. Everything that can change the node's output is here (so it enters the key),
//! and nothing else.

use crate::study::config::{Constraint, Epsilon, NetworkSettings, PretrainSettings};
use serde::{Deserialize, Serialize};

/// `pretrain`: one source model trained here (naturally, or adversarially with PGD); input `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainParams {
    pub source: String,
    pub constraint: Constraint,
    pub epsilon: Epsilon,
    pub network: NetworkSettings,
    pub train: PretrainSettings,
}
