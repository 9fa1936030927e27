//! The parameters of a `pretrain` node: written by the study's expansion (`study/expand.rs`), read
//! by the stage. Everything that can change the node's output is here (so it enters the key),
//! and nothing else.

use crate::threat::{Constraint, Epsilon};

use crate::nn::options::{NetworkSettings, Precision};

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
    /// The convolutions' arithmetic: `fp32` (the default, left out of the key), `tf32` or
    /// `bf16` ([`Precision`]).
    #[serde(default, skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgdSettings {
    pub steps: usize,
    /// Step size is step_factor·ε/steps; the paper has 1.5 < c < 4.
    pub step_factor: f64,
    #[serde(default)]
    pub random_start: bool,
    /// Epochs over which the training radius grows linearly to ε (ε·(e+1)/warmup in 0-based
    /// epoch e), so that a network trained from scratch learns something before the full
    /// adversary masks it; 0 (the default): the full radius from the first step.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup_epochs: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl PgdSettings {
    /// The fraction of ε the adversary uses in 0-based epoch `epoch`.
    pub fn radius_fraction(&self, epoch: usize) -> f64 {
        match self.warmup_epochs {
            0 => 1.0,
            w => ((epoch + 1) as f64 / w as f64).min(1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PgdSettings;

    #[test]
    fn the_radius_grows_linearly_over_the_warmup_then_stays() {
        let pgd =
            |w| PgdSettings { steps: 2, step_factor: 2.5, random_start: true, warmup_epochs: w };
        let fractions: Vec<f64> = (0..6).map(|e| pgd(4).radius_fraction(e)).collect();
        assert_eq!(fractions, [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]);
        assert!((0..3).all(|e| pgd(0).radius_fraction(e) == 1.0));
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attack {
    pub constraint: Constraint,
    pub epsilon: Epsilon,
    pub steps: usize,
}
