//! The networks and training numerics of the study.
//!
//! * [`resnet`]: the ResNet-50-layout [`Network`] with torchvision names, a width multiplier,
//!   ImageNet or small stem, safetensors save/load.
//! * [`freeze`]: which blocks fine-tune ([`Regime`]) and how frozen BatchNorm behaves.
//! * [`sgd`]: PyTorch's SGD with momentum and weight decay.
//! * [`schedule`]: step learning-rate decay and evaluation epochs (Table 2).
//! * [`pgd`]: ℓ2 / ℓ∞ PGD attacks.
//! * [`train`]: training steps (natural and adversarial) and evaluation.
//! * [`conv`], `batchnorm`, `residual`: the CPU kernels (convolution, BatchNorm + ReLU, the
//!   blocks' add + ReLU) as candle custom ops; `cpu`: what they share; [`cuda`]: their CUDA
//!   implementations (cuDNN convolutions, the project's CUDA kernels).
//! * [`maxpool`]: the stem's differentiable 3×3 stride-2 max-pool.
//! * [`options`]: the stem, classifier initialisation and frozen-BatchNorm choices a profile names.
//! * [`device`]: which device computes; [`precision`]: the precision a node computes in.
//! * [`rng`]: seeded host-side random numbers.
//!
//! Compute runs on [`device()`]; all tensor work goes through candle ops in these modules.

use crate::fingerprint::{sources, Sources};

mod batchnorm;
pub mod conv;
pub mod cpu;
pub mod cuda;
pub mod device;
pub mod freeze;
pub mod layers;
pub mod layout;
pub mod maxpool;
pub mod options;
pub mod pgd;
pub mod precision;
mod residual;
pub mod resnet;
pub mod rng;
pub mod schedule;
pub mod sgd;
pub mod train;

#[cfg(test)]
mod tests;

pub use device::device;
pub use freeze::Regime;
pub use layout::Trainable;
pub use options::{FcInit, FrozenBn, Stem};
pub use pgd::{Norm, Pgd, DEFAULT_STEP_FACTOR};
pub use resnet::{NetConfig, Network, Normalizer};
pub use schedule::{eval_epochs, lr_at};
pub use sgd::{Sgd, SgdConfig};
pub use train::{adversarial_train_step, evaluate, evaluate_adversarial, train_step, Evaluation};

/// The files of the network and its forward pass (layout, layers, kernels, device), named once
/// for the fingerprints of the stages that run it.
pub const NETWORK: Sources = sources![
    "nn/mod.rs",
    "nn/batchnorm.rs",
    "nn/conv.rs",
    "nn/cpu.rs",
    "nn/cuda/mod.rs",
    "nn/cuda/cudnn.rs",
    "nn/cuda/kernels.cu",
    "nn/cuda/kernels.rs",
    "nn/cuda/plan.rs",
    "nn/device.rs",
    "nn/layers.rs",
    "nn/layout.rs",
    "nn/maxpool.rs",
    "nn/options.rs",
    "nn/precision.rs",
    "nn/residual.rs",
    "nn/resnet.rs",
    "nn/rng.rs",
];

/// The files of training the network (with [`NETWORK`]): frozen blocks, SGD, the schedule, PGD
/// and the training and evaluation steps.
pub const TRAINING: Sources =
    sources!["nn/freeze.rs", "nn/pgd.rs", "nn/schedule.rs", "nn/sgd.rs", "nn/train.rs"];
