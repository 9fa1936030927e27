//! The parameters of a `visualise` node (written by `visualise/nodes.rs`, read by the stage).

use super::seeds::Pattern;
use crate::finetune::params::SourceFormat;
use crate::nn::options::NetworkSettings;
use serde::{Deserialize, Serialize};

/// `visualise`: Figure 1's feature visualisation of one source network; input `source` (its
/// `pretrain` artifact or fetched checkpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisualiseParams {
    pub source: String,
    pub source_format: SourceFormat,
    pub network: NetworkSettings,
    /// Coordinates of the penultimate representation, each maximised from every seed image.
    pub coordinates: Vec<usize>,
    /// The out-of-distribution seed images, then `noise` Gaussian-noise ones.
    pub patterns: Vec<Pattern>,
    pub noise: usize,
    pub noise_seed: u64,
    /// L2 length of each ascent step, in [0, 1] pixel units at the network's resolution.
    pub step: f64,
    pub iterations: usize,
}
