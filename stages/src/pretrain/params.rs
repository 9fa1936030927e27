//! The parameters of a `pretrain` node: written by the study's expansion (`study/expand.rs`), read
//! by the stage. Everything that can change the node's output is here (so it enters the key),
//! and nothing else.

use crate::threat::{Constraint, Epsilon};

use crate::nn::options::NetworkSettings;

use crate::data::augment::Augment;
use crate::prepare::params::Procedural;
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainSettings {
    /// The source data the sources are trained on (the stand-in for ImageNet).
    pub data: Procedural,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// 0-based epochs at which the learning rate is divided by 10.
    pub lr_decay: Vec<usize>,
    pub seed: u64,
    /// PGD used for adversarial training (paper section 3).
    pub pgd: PgdSettings,
    /// Attacks every source is evaluated under (the mini Table 3).
    pub attacks: Vec<Attack>,
    pub augment: Augment,
    /// Start every bottleneck as the identity (zero last BatchNorm scale), which keeps
    /// training from scratch stable in narrow networks.
    #[serde(default)]
    pub zero_init_residual: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgdSettings {
    pub steps: usize,
    /// Step size is step_factor·ε/steps; the paper has 1.5 < c < 4.
    pub step_factor: f64,
    #[serde(default)]
    pub random_start: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attack {
    pub constraint: Constraint,
    pub epsilon: Epsilon,
    pub steps: usize,
}
