//! The parameters of an `influence` node (written by `influence/nodes.rs`, read by the stage).

use super::solve::Inverse;
use serde::{Deserialize, Serialize};

/// `influence`: the influence matrices of one fine-tuned cell; input `features`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluenceParams {
    pub source: String,
    pub dataset: String,
    pub size_label: String,
    pub blocks: usize,
    pub seed: u64,
    /// The fine-tuning weight decay: the damping is n times it.
    pub weight_decay: f64,
    pub inverse: Inverse,
}
