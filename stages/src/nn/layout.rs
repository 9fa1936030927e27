//! The ResNet-50 layout with torchvision's names: which tensors exist, their shapes, roles and
//! initialisation, and which part of the network (stem, block i, `fc`) each belongs to.
//!
//! Layout (torchvision v1.5): bottleneck blocks [3, 4, 6, 3] with expansion 4, the stride on each
//! block's 3×3 `conv2`, and a `downsample` (`downsample.0` 1×1 conv, `downsample.1` BatchNorm) on
//! the first block of every layer. `width` is the base number of planes: 64 is the real ResNet-50
//! (`fc` sees 32·width = 2048 features); the mini profile uses small widths. Every tensor carries
//! its torchvision state-dict name (`conv1.weight`, `layer4.2.bn3.running_var`, `fc.bias`, …), so
//! a real checkpoint loads through a `VarBuilder` prefix and no renaming table.

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

pub use super::options::{FcInit, Stem};
use super::rng::{self, Rng};

/// Bottleneck blocks per layer (`layer1` … `layer4`).
pub const LAYERS: [usize; 4] = [3, 4, 6, 3];
/// Output channels of a bottleneck block per plane.
pub const EXPANSION: usize = 4;
/// Number of bottleneck blocks.
pub const BLOCKS: usize = 16;

/// Fixed per-channel input normalisation `(x − mean) / std`, applied to [0, 1] inputs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalizer {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Normalizer {
    /// ImageNet statistics, as inside MadryLab's and the authors' models.
    pub const IMAGENET: Normalizer =
        Normalizer { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
}

/// Shape of a network.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// Base planes: 64 is ResNet-50.
    pub width: usize,
    pub stem: Stem,
    /// Output classes of `fc`.
    pub classes: usize,
    pub normalizer: Option<Normalizer>,
}

impl NetConfig {
    /// The real ResNet-50 on ImageNet-normalised inputs.
    pub fn resnet50(classes: usize) -> Self {
        NetConfig {
            width: 64,
            stem: Stem::ImageNet,
            classes,
            normalizer: Some(Normalizer::IMAGENET),
        }
    }

    /// Features entering `fc`: the last layer's planes (8·width) times the expansion.
    pub fn features(&self) -> usize {
        8 * self.width * EXPANSION
    }
}

/// The part of the network a tensor belongs to (the unit of freezing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// `conv1`, `bn1`.
    Stem,
    /// Bottleneck block i in 0..16 (`layer1.0` = 0, …, `layer4.2` = 15).
    Block(usize),
    /// `fc`.
    Fc,
}

/// The trainable part of the network (here, beside the parts, so that what draws it, Figure 9,
/// reaches no kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trainable {
    /// Every parameter (pre-training from scratch).
    All,
    /// `fc` and the last k of the 16 bottleneck blocks; the stem and earlier blocks are frozen.
    LastBlocks(usize),
}

impl Trainable {
    /// Whether the parameters of `part` train.
    pub fn includes(self, part: Part) -> bool {
        match (self, part) {
            (Trainable::All, _) | (_, Part::Fc) => true,
            (Trainable::LastBlocks(_), Part::Stem) => false,
            (Trainable::LastBlocks(k), Part::Block(i)) => i + k >= BLOCKS,
        }
    }
}

/// Whether a tensor is trained or is a BatchNorm running statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Parameter,
    RunningStat,
}

/// How a fresh tensor is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Init {
    Normal { std: f64 },
    Uniform { bound: f64 },
    Const(f64),
}

/// One named tensor of the network.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    /// torchvision state-dict name.
    pub name: String,
    pub shape: Vec<usize>,
    pub part: Part,
    pub role: Role,
    pub(super) init: Init,
}

/// Every tensor of the network in torchvision's state-dict order, without BatchNorm's
/// `num_batches_tracked` counters (unused with a fixed momentum).
///
/// Fresh initialisation follows torchvision: convolutions Kaiming-normal (fan-out, ReLU gain),
/// BatchNorm weight 1 and bias 0, running mean 0 and variance 1, `fc` PyTorch's `Linear` default.
pub fn tensor_specs(config: &NetConfig) -> Vec<TensorSpec> {
    let mut specs = Vec::new();
    let conv = |specs: &mut Vec<TensorSpec>, name: String, shape: [usize; 4], part: Part| {
        let fan_out = (shape[0] * shape[2] * shape[3]) as f64;
        specs.push(TensorSpec {
            name: format!("{name}.weight"),
            shape: shape.to_vec(),
            part,
            role: Role::Parameter,
            init: Init::Normal { std: (2.0 / fan_out).sqrt() },
        });
    };
    let bn = |specs: &mut Vec<TensorSpec>, name: String, channels: usize, part: Part| {
        for (field, role, value) in [
            ("weight", Role::Parameter, 1.0),
            ("bias", Role::Parameter, 0.0),
            ("running_mean", Role::RunningStat, 0.0),
            ("running_var", Role::RunningStat, 1.0),
        ] {
            specs.push(TensorSpec {
                name: format!("{name}.{field}"),
                shape: vec![channels],
                part,
                role,
                init: Init::Const(value),
            });
        }
    };

    let w = config.width;
    let kernel = match config.stem {
        Stem::ImageNet => 7,
        Stem::Small | Stem::Strided => 3,
    };
    conv(&mut specs, "conv1".into(), [w, 3, kernel, kernel], Part::Stem);
    bn(&mut specs, "bn1".into(), w, Part::Stem);
    for (index, block) in block_layout(w).into_iter().enumerate() {
        let part = Part::Block(index);
        let (p, out) = (block.planes, block.planes * EXPANSION);
        let n = &block.name;
        conv(&mut specs, format!("{n}.conv1"), [p, block.in_channels, 1, 1], part);
        bn(&mut specs, format!("{n}.bn1"), p, part);
        conv(&mut specs, format!("{n}.conv2"), [p, p, 3, 3], part);
        bn(&mut specs, format!("{n}.bn2"), p, part);
        conv(&mut specs, format!("{n}.conv3"), [out, p, 1, 1], part);
        bn(&mut specs, format!("{n}.bn3"), out, part);
        if block.has_downsample() {
            conv(&mut specs, format!("{n}.downsample.0"), [out, block.in_channels, 1, 1], part);
            bn(&mut specs, format!("{n}.downsample.1"), out, part);
        }
    }
    specs.extend(fc_specs(config, FcInit::PytorchDefault));
    specs
}

/// `fc.weight` and `fc.bias` for `config.classes` outputs.
pub(super) fn fc_specs(config: &NetConfig, init: FcInit) -> [TensorSpec; 2] {
    let fan_in = config.features();
    let (weight, bias) = match init {
        FcInit::Normal1 => (Init::Normal { std: 1.0 }, Init::Const(0.0)),
        FcInit::PytorchDefault => {
            let bound = 1.0 / (fan_in as f64).sqrt();
            (Init::Uniform { bound }, Init::Uniform { bound })
        }
    };
    let spec = |field: &str, shape: Vec<usize>, init| TensorSpec {
        name: format!("fc.{field}"),
        shape,
        part: Part::Fc,
        role: Role::Parameter,
        init,
    };
    [spec("weight", vec![config.classes, fan_in], weight), spec("bias", vec![config.classes], bias)]
}

/// Position and shape of one bottleneck block.
pub(super) struct BlockLayout {
    pub(super) name: String,
    pub(super) in_channels: usize,
    pub(super) planes: usize,
    pub(super) stride: usize,
}

impl BlockLayout {
    pub(super) fn has_downsample(&self) -> bool {
        self.stride != 1 || self.in_channels != self.planes * EXPANSION
    }
}

/// The 16 blocks in order: `layer{l}.{b}`, stride 2 on the first block of layers 2–4.
pub(super) fn block_layout(width: usize) -> Vec<BlockLayout> {
    let mut blocks = Vec::with_capacity(BLOCKS);
    let mut in_channels = width;
    for (layer, &count) in LAYERS.iter().enumerate() {
        let planes = width << layer;
        for b in 0..count {
            let stride = if b == 0 && layer > 0 { 2 } else { 1 };
            blocks.push(BlockLayout {
                name: format!("layer{}.{b}", layer + 1),
                in_channels,
                planes,
                stride,
            });
            in_channels = planes * EXPANSION;
        }
    }
    blocks
}

impl Init {
    pub(super) fn sample(
        self,
        shape: &[usize],
        rng: &mut Rng,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let n = shape.iter().product();
        let values = match self {
            Init::Normal { std } => rng::normal(rng, n, std),
            Init::Uniform { bound } => rng::uniform(rng, n, -bound, bound),
            Init::Const(v) => vec![v; n],
        };
        Ok(Tensor::from_vec(values, shape, &Device::Cpu)?.to_dtype(dtype)?.to_device(device)?)
    }
}
