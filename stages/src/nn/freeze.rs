//! Which parts of the network train, and how the frozen BatchNorm layers behave.
//!
//! The paper fine-tunes "k blocks" (k ∈ {0, 1, 3, 9}): the new `fc` plus the last k bottleneck
//! blocks train, everything before them is frozen. In the authors' code, 1 = `layer4.2`,
//! 3 = all of `layer4`, and 9 = `layer3` + `layer4` (their code's key 6, their notebooks' 9).
//! Pre-training trains everything ([`Regime::full`]).

use anyhow::{bail, Result};
use candle_core::{Tensor, Var};

use super::layout::{Trainable, BLOCKS};
pub use super::options::FrozenBn;
use super::resnet::Network;

/// What a training step trains: the trainable part and the frozen BatchNorm behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Regime {
    trainable: Trainable,
    frozen_bn: FrozenBn,
}

impl Regime {
    /// Train every parameter (pre-training).
    pub fn full() -> Self {
        Regime { trainable: Trainable::All, frozen_bn: FrozenBn::Train }
    }

    /// Fine-tune `fc` and the last `blocks` bottleneck blocks (the paper's k; 0 = `fc` only).
    pub fn fine_tune(blocks: usize, frozen_bn: FrozenBn) -> Result<Self> {
        if blocks > BLOCKS {
            bail!("cannot fine-tune {blocks} blocks: a ResNet-50 has {BLOCKS} bottleneck blocks");
        }
        Ok(Regime { trainable: Trainable::LastBlocks(blocks), frozen_bn })
    }

    pub fn trainable(&self) -> Trainable {
        self.trainable
    }

    pub fn frozen_bn(&self) -> FrozenBn {
        self.frozen_bn
    }

    /// The parameters the optimiser updates in this regime.
    pub fn trainable_vars(&self, net: &Network) -> Vec<Var> {
        net.parameters(|part| self.trainable.includes(part))
    }

    /// Logits of `net` on `x` for a training step in this regime.
    pub fn forward(&self, net: &Network, x: &Tensor) -> Result<Tensor> {
        net.forward_train(x, &|part| self.trainable.includes(part), self.frozen_bn)
    }
}
