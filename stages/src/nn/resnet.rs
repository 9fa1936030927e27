//! A ResNet-50-layout network with torchvision's names, a width multiplier and two stems.
//!
//! Layout (torchvision v1.5): bottleneck blocks [3, 4, 6, 3] with expansion 4, the stride on each
//! block's 3×3 `conv2`, and a `downsample` (`downsample.0` 1×1 conv, `downsample.1` BatchNorm) on
//! the first block of every layer. `width` is the base number of planes: 64 is the real ResNet-50
//! (`fc` sees 32·width = 2048 features); the mini profile uses small widths. Every tensor carries
//! its torchvision state-dict name (`conv1.weight`, `layer4.2.bn3.running_var`, `fc.bias`, …), so
//! a real checkpoint loads through a [`VarBuilder`] prefix and no renaming table.
//!
//! BatchNorm follows PyTorch (eps 1e-5, momentum 0.1): in training mode it normalises with the
//! biased batch variance and moves the running variance towards the *unbiased* one
//! (n/(n−1), n = N·H·W values per channel). candle-nn's `BatchNorm` does the same, but it would
//! copy the running statistics out of any non-`Var` source, so the layer is written here with
//! the running statistics held as `Var`s shared with [`Network::save`].
//!
//! An optional [`Normalizer`] (fixed per-channel mean and std, not trainable, not saved) maps
//! [0, 1] inputs as MadryLab's models do, so attacks and data work in pixel space.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::freeze::Regime;
use super::maxpool::max_pool_3x3_s2_p1;
pub use super::options::{FcInit, FrozenBn, Stem};
use super::rng::{self, Rng};

/// Bottleneck blocks per layer (`layer1` … `layer4`).
pub const LAYERS: [usize; 4] = [3, 4, 6, 3];
/// Output channels of a bottleneck block per plane.
pub const EXPANSION: usize = 4;
/// Number of bottleneck blocks.
pub const BLOCKS: usize = 16;
/// BatchNorm epsilon (PyTorch default).
pub const BN_EPS: f64 = 1e-5;
/// BatchNorm running-statistics momentum (PyTorch default).
pub const BN_MOMENTUM: f64 = 0.1;

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

/// Whether a tensor is trained or is a BatchNorm running statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Parameter,
    RunningStat,
}

/// How a fresh tensor is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Init {
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
    init: Init,
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
        Stem::Small => 3,
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
fn fc_specs(config: &NetConfig, init: FcInit) -> [TensorSpec; 2] {
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
struct BlockLayout {
    name: String,
    in_channels: usize,
    planes: usize,
    stride: usize,
}

impl BlockLayout {
    fn has_downsample(&self) -> bool {
        self.stride != 1 || self.in_channels != self.planes * EXPANSION
    }
}

/// The 16 blocks in order: `layer{l}.{b}`, stride 2 on the first block of layers 2–4.
fn block_layout(width: usize) -> Vec<BlockLayout> {
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
    fn sample(
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

/// A parameter as used in a forward pass: tracked for autograd, or a detached view of the same
/// storage (so frozen parts and attacks build no graph over the weights).
fn param(t: &Tensor, track: bool) -> Tensor {
    if track {
        t.clone()
    } else {
        t.detach()
    }
}

/// How a BatchNorm layer normalises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BnMode {
    /// Batch statistics; running statistics updated (PyTorch training mode).
    Batch,
    /// Running statistics, never updated (PyTorch evaluation mode).
    Running,
}

struct Conv {
    weight: Tensor,
    stride: usize,
    padding: usize,
}

impl Conv {
    fn forward(&self, x: &Tensor, track: bool) -> Result<Tensor> {
        Ok(x.conv2d(&param(&self.weight, track), self.padding, self.stride, 1, 1)?)
    }
}

struct BatchNorm {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
}

impl BatchNorm {
    fn forward(&self, x: &Tensor, mode: BnMode, track: bool) -> Result<Tensor> {
        let channels = x.dim(1)?;
        let per_channel = (1, channels, 1, 1);
        let weight = param(&self.weight, track).reshape(per_channel)?;
        let bias = param(&self.bias, track).reshape(per_channel)?;
        match mode {
            BnMode::Batch => {
                let (n, _, h, w) = x.dims4()?;
                let count = n * h * w;
                if count < 2 {
                    bail!(
                        "BatchNorm in training mode needs more than one value per channel, got input {:?}",
                        x.dims()
                    );
                }
                let mean = channel_mean(x, count)?;
                let centred = x.broadcast_sub(&mean)?;
                let var = channel_mean(&centred.sqr()?, count)?; // biased, used to normalise
                self.update_running(&mean, &var, count)?;
                let scale = weight.broadcast_div(&(var + BN_EPS)?.sqrt()?)?; // per channel
                Ok(centred.broadcast_mul(&scale)?.broadcast_add(&bias)?)
            }
            BnMode::Running => {
                let mean = self.running_mean.as_detached_tensor().reshape(per_channel)?;
                let std = (self.running_var.as_detached_tensor() + BN_EPS)?
                    .sqrt()?
                    .reshape(per_channel)?;
                let scale = weight.broadcast_div(&std)?;
                let shift = (bias - mean.broadcast_mul(&scale)?)?;
                Ok(x.broadcast_mul(&scale)?.broadcast_add(&shift)?)
            }
        }
    }

    /// running ← (1 − momentum)·running + momentum·batch, with the unbiased batch variance.
    fn update_running(&self, mean: &Tensor, biased_var: &Tensor, count: usize) -> Result<()> {
        let m = BN_MOMENTUM;
        let mean = mean.detach().flatten_all()?;
        let unbiased = (biased_var.detach().flatten_all()? * (count as f64 / (count - 1) as f64))?;
        let rm = self.running_mean.as_detached_tensor();
        let rv = self.running_var.as_detached_tensor();
        self.running_mean.set(&((rm * (1.0 - m))? + (mean * m)?)?)?;
        self.running_var.set(&((rv * (1.0 - m))? + (unbiased * m)?)?)?;
        Ok(())
    }
}

/// Per-channel mean of an NCHW tensor, shaped [1, C, 1, 1]. Summing the contiguous spatial axes
/// first is about 100× faster on CPU than candle's reduction over (0, 2, 3) at once.
fn channel_mean(x: &Tensor, count: usize) -> Result<Tensor> {
    Ok((x.sum_keepdim((2, 3))?.sum_keepdim(0)? / count as f64)?)
}

struct Bottleneck {
    conv1: Conv,
    bn1: BatchNorm,
    conv2: Conv,
    bn2: BatchNorm,
    conv3: Conv,
    bn3: BatchNorm,
    downsample: Option<(Conv, BatchNorm)>,
}

impl Bottleneck {
    fn forward(&self, x: &Tensor, bn: BnMode, track: bool) -> Result<Tensor> {
        let h = self.bn1.forward(&self.conv1.forward(x, track)?, bn, track)?.relu()?;
        let h = self.bn2.forward(&self.conv2.forward(&h, track)?, bn, track)?.relu()?;
        let h = self.bn3.forward(&self.conv3.forward(&h, track)?, bn, track)?;
        let shortcut = match &self.downsample {
            Some((conv, norm)) => norm.forward(&conv.forward(x, track)?, bn, track)?,
            None => x.clone(),
        };
        Ok((h + shortcut)?.relu()?)
    }
}

struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    fn forward(&self, x: &Tensor, track: bool) -> Result<Tensor> {
        let w = param(&self.weight, track);
        Ok(x.matmul(&w.t()?)?.broadcast_add(&param(&self.bias, track))?)
    }
}

/// How one part runs in a forward pass.
#[derive(Debug, Clone, Copy)]
enum PartMode {
    /// Batch statistics, parameters tracked for autograd.
    Trainable,
    /// Parameters untracked and the output detached: no graph, no gradient.
    Frozen(BnMode),
    /// Running statistics, parameters untracked; the graph to the input is kept (for attacks).
    Eval,
}

/// A ResNet-50-layout network and its named tensors.
pub struct Network {
    config: NetConfig,
    /// Every tensor in [`tensor_specs`] order, the single owner of the values.
    vars: Vec<(TensorSpec, Var)>,
    conv1: Conv,
    bn1: BatchNorm,
    blocks: Vec<Bottleneck>,
    fc: Linear,
}

impl Network {
    /// A freshly initialised network, all values drawn from `seed` in state-dict order.
    pub fn new(config: NetConfig, seed: u64, dtype: DType, device: &Device) -> Result<Self> {
        let mut rng = rng::rng(seed);
        let vars = tensor_specs(&config)
            .into_iter()
            .map(|spec| {
                let t = spec.init.sample(&spec.shape, &mut rng, dtype, device)?;
                Ok((spec, Var::from_tensor(&t)?))
            })
            .collect::<Result<Vec<_>>>()?;
        Self::assemble(config, vars)
    }

    /// Copies every tensor out of `vb` by its torchvision name (use `vb.pp("module.model")` and
    /// the like for prefixed checkpoints). Shapes must match `config`; extra tensors are ignored.
    pub fn from_varbuilder(config: NetConfig, vb: &VarBuilder) -> Result<Self> {
        let vars = tensor_specs(&config)
            .into_iter()
            .map(|spec| {
                let t = vb.get(spec.shape.as_slice(), &spec.name).with_context(|| {
                    format!("reading tensor `{}` of shape {:?}", spec.name, spec.shape)
                })?;
                Ok((spec, Var::from_tensor(&t)?))
            })
            .collect::<Result<Vec<_>>>()?;
        Self::assemble(config, vars)
    }

    /// Loads a safetensors file written by [`Network::save`] (or any torchvision-named one).
    pub fn load(config: NetConfig, path: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let tensors = candle_core::safetensors::load(path, device)
            .with_context(|| format!("reading network weights from {}", path.display()))?;
        Self::from_varbuilder(config, &VarBuilder::from_tensors(tensors, dtype, device))
            .with_context(|| format!("loading network weights from {}", path.display()))
    }

    /// Writes every parameter and running statistic to a safetensors file under torchvision names.
    /// The bytes depend only on the values (safetensors orders tensors by dtype and name).
    pub fn save(&self, path: &Path) -> Result<()> {
        let tensors: HashMap<&str, Tensor> = self
            .vars
            .iter()
            .map(|(spec, var)| (spec.name.as_str(), var.as_detached_tensor()))
            .collect();
        candle_core::safetensors::save(&tensors, path)
            .with_context(|| format!("writing network weights to {}", path.display()))
    }

    fn assemble(config: NetConfig, vars: Vec<(TensorSpec, Var)>) -> Result<Self> {
        if config.width == 0 || config.classes == 0 {
            bail!("network width and class count must be positive, got {config:?}");
        }
        let by_name: HashMap<&str, &Var> = vars.iter().map(|(s, v)| (s.name.as_str(), v)).collect();
        let tensor = |name: String| by_name[name.as_str()].as_tensor().clone();
        let var = |name: String| by_name[name.as_str()].clone();
        let conv = |name: &str, stride, padding| Conv {
            weight: tensor(format!("{name}.weight")),
            stride,
            padding,
        };
        let bn = |name: &str| BatchNorm {
            weight: tensor(format!("{name}.weight")),
            bias: tensor(format!("{name}.bias")),
            running_mean: var(format!("{name}.running_mean")),
            running_var: var(format!("{name}.running_var")),
        };
        let conv1 = match config.stem {
            Stem::ImageNet => conv("conv1", 2, 3),
            Stem::Small => conv("conv1", 1, 1),
        };
        let blocks = block_layout(config.width)
            .iter()
            .map(|b| {
                let n = &b.name;
                Bottleneck {
                    conv1: conv(&format!("{n}.conv1"), 1, 0),
                    bn1: bn(&format!("{n}.bn1")),
                    conv2: conv(&format!("{n}.conv2"), b.stride, 1),
                    bn2: bn(&format!("{n}.bn2")),
                    conv3: conv(&format!("{n}.conv3"), 1, 0),
                    bn3: bn(&format!("{n}.bn3")),
                    downsample: b.has_downsample().then(|| {
                        (
                            conv(&format!("{n}.downsample.0"), b.stride, 0),
                            bn(&format!("{n}.downsample.1")),
                        )
                    }),
                }
            })
            .collect();
        let fc = Linear { weight: tensor("fc.weight".into()), bias: tensor("fc.bias".into()) };
        let bn1 = bn("bn1");
        Ok(Network { config, vars, conv1, bn1, blocks, fc })
    }

    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    pub fn dtype(&self) -> DType {
        self.fc.weight.dtype()
    }

    pub fn device(&self) -> &Device {
        self.fc.weight.device()
    }

    /// Every tensor with its spec, in state-dict order.
    pub fn named_vars(&self) -> impl Iterator<Item = (&TensorSpec, &Var)> {
        self.vars.iter().map(|(s, v)| (s, v))
    }

    /// Replaces `fc` by a fresh classifier for `classes` outputs drawn from `seed`.
    pub fn reset_fc(&mut self, classes: usize, init: FcInit, seed: u64) -> Result<()> {
        if classes == 0 {
            bail!("cannot build a classifier with 0 classes");
        }
        let config = NetConfig { classes, ..self.config };
        let (dtype, device) = (self.dtype(), self.device().clone());
        let mut rng = rng::rng(seed);
        let [weight, bias] = fc_specs(&config, init);
        let weight_var =
            Var::from_tensor(&weight.init.sample(&weight.shape, &mut rng, dtype, &device)?)?;
        let bias_var =
            Var::from_tensor(&bias.init.sample(&bias.shape, &mut rng, dtype, &device)?)?;
        self.fc =
            Linear { weight: weight_var.as_tensor().clone(), bias: bias_var.as_tensor().clone() };
        for (spec, var) in [(weight, weight_var), (bias, bias_var)] {
            let slot = self.vars.iter_mut().find(|(s, _)| s.name == spec.name);
            *slot.expect("every network holds fc.weight and fc.bias") = (spec, var);
        }
        self.config = config;
        Ok(())
    }

    /// Zero the last BatchNorm scale of every bottleneck, so each block starts as the identity
    /// (torchvision's `zero_init_residual`, Goyal et al. 2017): training from scratch.
    pub fn zero_init_residual(&self) -> Result<()> {
        for (spec, var) in &self.vars {
            if spec.name.ends_with(".bn3.weight") {
                var.set(&var.as_tensor().zeros_like()?)?;
            }
        }
        Ok(())
    }

    /// The parameters the optimiser updates under `regime` (never BatchNorm running statistics).
    pub fn trainable_vars(&self, regime: &Regime) -> Vec<Var> {
        self.vars
            .iter()
            .filter(|(s, _)| s.role == Role::Parameter && regime.trainable().includes(s.part))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Logits for a training step under `regime`. The frozen part runs outside the autograd
    /// graph (detached parameters, detached output); with [`FrozenBn::Train`] its BatchNorm layers
    /// use batch statistics and update their running statistics, with [`FrozenBn::Eval`] they use
    /// and keep their running statistics. Trainable BatchNorm layers always use batch statistics.
    pub fn forward_train(&self, x: &Tensor, regime: &Regime) -> Result<Tensor> {
        let frozen_bn = match regime.frozen_bn() {
            FrozenBn::Train => BnMode::Batch,
            FrozenBn::Eval => BnMode::Running,
        };
        self.forward_parts(x, |part| {
            if regime.trainable().includes(part) {
                PartMode::Trainable
            } else {
                PartMode::Frozen(frozen_bn)
            }
        })
    }

    /// Logits in evaluation mode: running statistics, nothing updated, no graph over the
    /// parameters. If `x` is a `Var` the graph to it is kept, so attacks can take `∂loss/∂x`.
    pub fn forward_eval(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_parts(x, |_| PartMode::Eval)
    }

    fn forward_parts(&self, x: &Tensor, mode: impl Fn(Part) -> PartMode) -> Result<Tensor> {
        let run = |part: Part, h: &Tensor, f: &dyn Fn(&Tensor, BnMode, bool) -> Result<Tensor>| {
            match mode(part) {
                PartMode::Trainable => f(h, BnMode::Batch, true),
                PartMode::Frozen(bn) => Ok(f(h, bn, false)?.detach()),
                PartMode::Eval => f(h, BnMode::Running, false),
            }
        };
        let x = self.normalise(x)?;
        let mut h = run(Part::Stem, &x, &|x, bn, track| {
            let h = self.bn1.forward(&self.conv1.forward(x, track)?, bn, track)?.relu()?;
            match self.config.stem {
                Stem::ImageNet => Ok(max_pool_3x3_s2_p1(&h)?),
                Stem::Small => Ok(h),
            }
        })?;
        for (i, block) in self.blocks.iter().enumerate() {
            h = run(Part::Block(i), &h, &|x, bn, track| block.forward(x, bn, track))?;
        }
        let pooled = h.mean((2, 3))?;
        run(Part::Fc, &pooled, &|x, _, track| self.fc.forward(x, track))
    }

    /// Converts to the network's dtype and applies the fixed input normaliser, if any.
    fn normalise(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.to_dtype(self.dtype())?;
        let Some(n) = &self.config.normalizer else { return Ok(x) };
        let channel = |v: &[f32; 3]| -> Result<Tensor> {
            Ok(Tensor::new(v, self.device())?.to_dtype(self.dtype())?.reshape((1, 3, 1, 1))?)
        };
        Ok(x.broadcast_sub(&channel(&n.mean)?)?.broadcast_div(&channel(&n.std)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyTorch's BatchNorm2d in training mode, written as loops: normalise with the biased
    /// variance, move the running variance towards the unbiased one.
    #[test]
    fn batch_norm_matches_pytorch_semantics() {
        let (n, c, h, w) = (2, 3, 2, 3);
        let x: Vec<f64> = rng::normal(&mut rng::rng(1), n * c * h * w, 2.0);
        let (gamma, beta) = ([0.5, 1.5, -1.0], [0.1, -0.2, 0.3]);
        let (rm0, rv0) = ([0.2, -0.1, 0.0], [1.0, 2.0, 0.5]);
        let vec = |v: &[f64]| Tensor::new(v, &Device::Cpu).unwrap();
        let bn = BatchNorm {
            weight: vec(&gamma),
            bias: vec(&beta),
            running_mean: Var::from_tensor(&vec(&rm0)).unwrap(),
            running_var: Var::from_tensor(&vec(&rv0)).unwrap(),
        };
        let xt = Tensor::from_vec(x.clone(), (n, c, h, w), &Device::Cpu).unwrap();
        let at = |b: usize, ch: usize, i: usize| x[(b * c + ch) * h * w + i];

        // Evaluation mode first (running statistics as given).
        let eval = bn.forward(&xt, BnMode::Running, false).unwrap();
        let eval = eval.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        for b in 0..n {
            for ch in 0..c {
                for i in 0..h * w {
                    let want =
                        (at(b, ch, i) - rm0[ch]) / (rv0[ch] + 1e-5).sqrt() * gamma[ch] + beta[ch];
                    assert!((eval[(b * c + ch) * h * w + i] - want).abs() < 1e-12);
                }
            }
        }

        let out = bn
            .forward(&xt, BnMode::Batch, false)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let rm = bn.running_mean.as_tensor().to_vec1::<f64>().unwrap();
        let rv = bn.running_var.as_tensor().to_vec1::<f64>().unwrap();
        let count = (n * h * w) as f64;
        for ch in 0..c {
            let vals: Vec<f64> = (0..n)
                .flat_map(|b| (0..h * w).map(move |i| (b, i)))
                .map(|(b, i)| at(b, ch, i))
                .collect();
            let mean = vals.iter().sum::<f64>() / count;
            let ss = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
            let (biased, unbiased) = (ss / count, ss / (count - 1.0));
            assert!((rm[ch] - (0.9 * rm0[ch] + 0.1 * mean)).abs() < 1e-12);
            assert!((rv[ch] - (0.9 * rv0[ch] + 0.1 * unbiased)).abs() < 1e-12);
            for b in 0..n {
                for i in 0..h * w {
                    let want =
                        (at(b, ch, i) - mean) / (biased + 1e-5).sqrt() * gamma[ch] + beta[ch];
                    assert!((out[(b * c + ch) * h * w + i] - want).abs() < 1e-12);
                }
            }
        }
        let single = Tensor::zeros((1, c, 1, 1), DType::F64, &Device::Cpu).unwrap();
        assert!(bn.forward(&single, BnMode::Batch, false).is_err(), "one value per channel");
    }
}
