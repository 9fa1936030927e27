//! The ResNet-50-layout network: its tensors (see `layout.rs`) assembled into layers (see
//! `layers.rs`), and the forward pass — [`Network::features`] up to the pooled penultimate
//! representation, [`Network::head`] the classifier on it. Which parts train is decided by the
//! caller (`freeze.rs`): the network runs each part as it is told.
//!
//! An optional [`Normalizer`] (fixed per-channel mean and std, not trainable, not saved) maps
//! [0, 1] inputs as MadryLab's models do, so attacks and data work in pixel space.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;

use super::layers::{BatchNorm, BnMode, Bottleneck, Conv, Linear};
use super::layout::{block_layout, fc_specs};
pub use super::layout::{
    tensor_specs, FcInit, NetConfig, Normalizer, Part, Role, Stem, TensorSpec, BLOCKS,
};
use super::maxpool::max_pool_3x3_s2_p1;
pub use super::options::FrozenBn;
use super::rng;

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
            Stem::Strided => conv("conv1", 2, 1),
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

    /// The parameters of the parts `trains` selects, for the optimiser (never BatchNorm
    /// running statistics).
    pub fn parameters(&self, trains: impl Fn(Part) -> bool) -> Vec<Var> {
        self.vars
            .iter()
            .filter(|(s, _)| s.role == Role::Parameter && trains(s.part))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Logits for a training step in which the parts `trains` selects train. The other parts run
    /// outside the autograd graph (detached parameters, detached output); with
    /// [`FrozenBn::Train`] their BatchNorm layers use batch statistics and update their running
    /// statistics, with [`FrozenBn::Eval`] they use and keep their running statistics. Trainable
    /// BatchNorm layers always use batch statistics.
    pub fn forward_train(
        &self,
        x: &Tensor,
        trains: &dyn Fn(Part) -> bool,
        frozen_bn: FrozenBn,
    ) -> Result<Tensor> {
        let frozen_bn = match frozen_bn {
            FrozenBn::Train => BnMode::Batch,
            FrozenBn::Eval => BnMode::Running,
        };
        let mode =
            |part| if trains(part) { PartMode::Trainable } else { PartMode::Frozen(frozen_bn) };
        self.head(&self.features(x, &mode, LastRelu::Real)?, &mode)
    }

    /// Logits in evaluation mode: running statistics, nothing updated, no graph over the
    /// parameters. If `x` is a `Var` the graph to it is kept, so attacks can take `∂loss/∂x`.
    pub fn forward_eval(&self, x: &Tensor) -> Result<Tensor> {
        self.head_eval(&self.features_eval(x)?)
    }

    /// The penultimate representation in evaluation mode: the pooled output of the last block
    /// (`fc`'s input, 32·width features per image), with the graph to `x` kept as in
    /// [`Network::forward_eval`].
    pub fn features_eval(&self, x: &Tensor) -> Result<Tensor> {
        self.features(x, &|_| PartMode::Eval, LastRelu::Real)
    }

    /// [`Network::features_eval`] with the last block's final ReLU passed through as the
    /// identity in the backward pass (the `fake_relu` of MadryLab's robustness library): the
    /// same values, and a gradient to `x` that does not vanish where that ReLU is off — what
    /// feature visualisation ascends (Figure 1).
    pub fn features_eval_fake_relu(&self, x: &Tensor) -> Result<Tensor> {
        self.features(x, &|_| PartMode::Eval, LastRelu::PassThrough)
    }

    /// The classifier on penultimate features, in evaluation mode.
    pub fn head_eval(&self, features: &Tensor) -> Result<Tensor> {
        self.head(features, &|_| PartMode::Eval)
    }

    /// Stem and blocks, each run as `mode` says, then global average pooling.
    fn features(
        &self,
        x: &Tensor,
        mode: &dyn Fn(Part) -> PartMode,
        last_relu: LastRelu,
    ) -> Result<Tensor> {
        let x = self.normalise(x)?;
        let mut h = run(mode(Part::Stem), &x, &|x, bn, track| {
            let h = self.bn1.of_conv(&self.conv1, x, bn, track, true)?;
            match self.config.stem {
                Stem::ImageNet => Ok(max_pool_3x3_s2_p1(&h)?),
                Stem::Small | Stem::Strided => Ok(h),
            }
        })?;
        let last = self.blocks.len() - 1;
        for (i, block) in self.blocks.iter().enumerate() {
            h = run(mode(Part::Block(i)), &h, &|x, bn, track| match last_relu {
                LastRelu::PassThrough if i == last => {
                    // relu(z) forward, identity backward: z + (relu(z) − z) held constant.
                    let z = block.pre_activation(x, bn, track)?;
                    Ok((&z + (z.relu()? - &z)?.detach())?)
                }
                _ => block.forward(x, bn, track),
            })?;
        }
        Ok(h.mean((2, 3))?)
    }

    /// `fc` on the pooled features, run as `mode` says.
    fn head(&self, features: &Tensor, mode: &dyn Fn(Part) -> PartMode) -> Result<Tensor> {
        run(mode(Part::Fc), features, &|x, _, track| self.fc.forward(x, track))
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

/// How the last block ends.
#[derive(Clone, Copy)]
enum LastRelu {
    Real,
    /// ReLU forward, identity backward.
    PassThrough,
}

/// Run one part (`f` with its BatchNorm mode and whether to track parameters) as `mode` says.
fn run(
    mode: PartMode,
    h: &Tensor,
    f: &dyn Fn(&Tensor, BnMode, bool) -> Result<Tensor>,
) -> Result<Tensor> {
    match mode {
        PartMode::Trainable => f(h, BnMode::Batch, true),
        PartMode::Frozen(bn) => Ok(f(h, bn, false)?.detach()),
        PartMode::Eval => f(h, BnMode::Running, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last block's pre-activation, pooled: what the fake-ReLU representation's gradient
    /// must be the gradient of (written out here, apart from `features`).
    fn pooled_pre_activation(net: &Network, x: &Tensor) -> Tensor {
        let x = net.normalise(x).unwrap();
        let stem = net.conv1.forward(&x, false).unwrap();
        let mut h = net.bn1.forward(&stem, BnMode::Running, false, false).unwrap().relu().unwrap();
        let (last, rest) = net.blocks.split_last().unwrap();
        for block in rest {
            h = block.forward(&h, BnMode::Running, false).unwrap();
        }
        last.pre_activation(&h, BnMode::Running, false).unwrap().mean((2, 3)).unwrap()
    }

    /// Figure 1's objective: the fake-ReLU representation has the values of `features_eval` and
    /// the gradient of the pooled pre-activation (finite differences in f64), which differs from
    /// the real ReLU's where the coordinate is negative.
    #[test]
    fn fake_relu_passes_the_last_relu_gradient_through() {
        let config = NetConfig { width: 2, stem: Stem::Small, classes: 3, normalizer: None };
        let net = Network::new(config, 5, DType::F64, &Device::Cpu).unwrap();
        let x0 = rng::uniform(&mut rng::rng(6), 2 * 3 * 8 * 8, 0.0, 1.0);
        let image = |v: Vec<f64>| Tensor::from_vec(v, (2, 3, 8, 8), &Device::Cpu).unwrap();
        let x = Var::from_tensor(&image(x0.clone())).unwrap();
        let real = net.features_eval(&x).unwrap();
        let fake = net.features_eval_fake_relu(&x).unwrap();
        let values = |t: &Tensor| t.to_vec2::<f64>().unwrap();
        assert_eq!(values(&fake), values(&real));
        // Per image, its most negative pre-activation coordinate: the real ReLU is off there.
        let pre = values(&pooled_pre_activation(&net, &x));
        let coords: Vec<usize> = pre
            .iter()
            .map(|row| (0..row.len()).min_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap())
            .collect();
        assert!(coords.iter().zip(&pre).all(|(&k, row)| row[k] < 0.0), "{pre:?}");
        let mut mask = vec![0.0; pre.len() * pre[0].len()];
        for (b, &k) in coords.iter().enumerate() {
            mask[b * pre[0].len() + k] = 1.0;
        }
        let mask = Tensor::from_vec(mask, (pre.len(), pre[0].len()), &Device::Cpu).unwrap();
        let objective = |t: &Tensor| (t * &mask).unwrap().sum_all().unwrap();
        let grad = |t: &Tensor| {
            let g = objective(t).backward().unwrap();
            g.get(x.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap()
        };
        let (fake_grad, real_grad) = (grad(&fake), grad(&real));
        assert!(real_grad.iter().all(|g| *g == 0.0), "the real ReLU is off: no gradient");
        let h = 1e-6;
        for i in (0..x0.len()).step_by(37) {
            let at = |d: f64| {
                let mut v = x0.clone();
                v[i] += d;
                let t = pooled_pre_activation(&net, &image(v));
                objective(&t).to_scalar::<f64>().unwrap()
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            assert!(
                (fake_grad[i] - fd).abs() < 1e-7 * (1.0 + fd.abs()),
                "{i}: {} vs {fd}",
                fake_grad[i]
            );
        }
        assert!(fake_grad.iter().any(|g| g.abs() > 1e-6), "a gradient to ascend");
    }

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
        let eval = bn.forward(&xt, BnMode::Running, false, false).unwrap();
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
            .forward(&xt, BnMode::Batch, false, false)
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
        assert!(bn.forward(&single, BnMode::Batch, false, false).is_err(), "one value per channel");
    }
}
