//! The networks and training numerics of the study.
//!
//! * [`resnet`]: the ResNet-50-layout [`Network`] with torchvision names, a width multiplier,
//!   ImageNet or small stem, safetensors save/load.
//! * [`freeze`]: which blocks fine-tune ([`Regime`]) and how frozen BatchNorm behaves.
//! * [`sgd`]: PyTorch's SGD with momentum and weight decay.
//! * [`schedule`]: step learning-rate decay and evaluation epochs (Table 2).
//! * [`pgd`]: ℓ2 / ℓ∞ PGD attacks.
//! * [`train`]: training steps (natural and adversarial) and evaluation.
//! * [`maxpool`]: the stem's differentiable 3×3 stride-2 max-pool.
//! * [`rng`]: seeded host-side random numbers.
//!
//! Compute runs on [`device`]; all tensor work goes through candle ops in these modules.

pub mod freeze;
pub mod maxpool;
pub mod pgd;
pub mod resnet;
pub mod rng;
pub mod schedule;
pub mod sgd;
pub mod train;

#[cfg(test)]
mod tests;

pub use freeze::{FrozenBn, Regime, Trainable};
pub use pgd::{Constraint, Pgd, DEFAULT_STEP_FACTOR};
pub use resnet::{FcInit, NetConfig, Network, Normalizer, Stem};
pub use schedule::{eval_epochs, lr_at};
pub use sgd::{Sgd, SgdConfig};
pub use train::{adversarial_train_step, evaluate, evaluate_adversarial, train_step, Evaluation};

use candle_core::Device;

/// The compute device: CUDA device 0 when built with the `cuda` feature and one is present,
/// otherwise the CPU.
pub fn device() -> anyhow::Result<Device> {
    #[cfg(feature = "cuda")]
    {
        Ok(Device::cuda_if_available(0)?)
    }
    #[cfg(not(feature = "cuda"))]
    {
        Ok(Device::Cpu)
    }
}
