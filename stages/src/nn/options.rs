//! The choices a profile makes about the network, as `pipeline.yaml` names them: the stem, how
//! the new classifier is drawn, how frozen BatchNorm behaves, and the precision it computes in. Kept apart from the network so
//! that the study's schema names them without depending on the network's code.

use serde::{Deserialize, Serialize};

/// The network's first layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stem {
    /// 7×7 stride-2 conv, BatchNorm, ReLU, 3×3 stride-2 max-pool (ImageNet ResNet-50).
    ImageNet,
    /// 3×3 stride-1 conv, BatchNorm, ReLU, no pool (small images).
    Small,
    /// 3×3 stride-2 conv, BatchNorm, ReLU, no pool: the first layer sees every pixel, the
    /// blocks run at half the resolution (what `Small` costs at half the input side).
    Strided,
}

/// How `Network::reset_fc` draws the new classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FcInit {
    /// Weight ~ N(0, 1), bias 0 (the authors' code).
    #[default]
    Normal1,
    /// PyTorch's `nn.Linear` default: weight and bias ~ U(±1/√fan_in).
    PytorchDefault,
}

/// How the BatchNorm layers of the frozen part behave during a training step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrozenBn {
    /// The authors' published code: the whole model is in training mode, so frozen BatchNorm
    /// layers normalise with batch statistics and keep updating their running statistics
    /// (their affine weights stay frozen).
    #[default]
    Train,
    /// Frozen BatchNorm layers normalise with their running statistics and never update them.
    Eval,
}

/// The arithmetic of the network's convolutions (`precision` in the fine-tuning and
/// pre-training settings). It changes the numbers, so it is part of the key; the parameters
/// leave out fp32, the default, so the keys of nodes that do not name it are what they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Float multiply-adds only, no TF32 anywhere (cuDNN's FMA math, cuBLAS's 32F compute type):
    /// the CPU kernels, candle's ops and the project's CUDA kernels all compute this.
    #[default]
    Fp32,
    /// Convolutions on the GPU's tensor cores with TF32 operands (a 10-bit mantissa) and fp32
    /// sums (cuDNN's tensor-op math), as PyTorch's `allow_tf32`; BatchNorm, the residual adds
    /// and the classifier stay fp32. Only the project's CUDA kernels compute it
    /// (`--device cuda --cuda-kernels project`).
    Tf32,
    /// Convolutions on tensor cores with bfloat16 operands (8 significant bits) and fp32 sums,
    /// their results rounded to bfloat16 (cuDNN's pseudo-bfloat16 configuration: what PyTorch's
    /// autocast to bfloat16 gives a convolution, gradients included), then held in fp32 like
    /// every other tensor: BatchNorm, the residual adds, the classifier and the weights SGD
    /// updates stay fp32. Only the project's CUDA kernels compute it.
    Bf16,
}

impl Precision {
    pub fn is_fp32(&self) -> bool {
        *self == Precision::Fp32
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::Fp32 => "fp32",
            Precision::Tf32 => "tf32",
            Precision::Bf16 => "bf16",
        })
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fp32" => Ok(Precision::Fp32),
            "tf32" => Ok(Precision::Tf32),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(format!("`{s}`: expected fp32, tf32 or bf16")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSettings {
    /// Base planes of the ResNet-50 layout (64 is the real ResNet-50).
    pub width: usize,
    pub stem: Stem,
    /// Input resolution images are up-scaled to (bilinear).
    pub resolution: usize,
}
