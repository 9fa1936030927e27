//! The layers of the network: convolution, BatchNorm, bottleneck block, linear classifier.
//!
//! BatchNorm follows PyTorch (eps 1e-5, momentum 0.1): in training mode it normalises with the
//! biased batch variance and moves the running variance towards the *unbiased* one
//! (n/(n−1), n = N·H·W values per channel). candle-nn's `BatchNorm` does the same, but it would
//! copy the running statistics out of any non-`Var` source, so the layer is written here with
//! the running statistics held as `Var`s shared with the network's saved weights. On the CPU
//! it runs as fused kernels ([`super::batchnorm`]), elsewhere as candle's broadcast ops.

use anyhow::{bail, Result};
use candle_core::{Tensor, Var};

use super::batchnorm::BN_EPS;
use super::conv::conv2d_normalised;
use super::cpu::kernels_for;
use super::{batchnorm, residual};

/// BatchNorm running-statistics momentum (PyTorch default).
pub const BN_MOMENTUM: f64 = 0.1;

/// A parameter as used in a forward pass: tracked for autograd, or a detached view of the same
/// storage (so frozen parts and attacks build no graph over the weights).
pub(super) fn param(t: &Tensor, track: bool) -> Tensor {
    if track {
        t.clone()
    } else {
        t.detach()
    }
}

/// How a BatchNorm layer normalises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BnMode {
    /// Batch statistics; running statistics updated (PyTorch training mode).
    Batch,
    /// Running statistics, never updated (PyTorch evaluation mode).
    Running,
}

pub(super) struct Conv {
    pub(super) weight: Tensor,
    pub(super) stride: usize,
    pub(super) padding: usize,
}

impl Conv {
    pub(super) fn forward(&self, x: &Tensor, track: bool) -> Result<Tensor> {
        Ok(super::conv::conv2d(x, &param(&self.weight, track), self.stride, self.padding)?)
    }
}

pub(super) struct BatchNorm {
    pub(super) weight: Tensor,
    pub(super) bias: Tensor,
    pub(super) running_mean: Var,
    pub(super) running_var: Var,
}

impl BatchNorm {
    /// This layer on `conv`'s output of `x`, then ReLU if `relu` (fused with the layer on the
    /// CPU). For inference (running statistics, and nothing needing a gradient) on the CPU, the
    /// convolution, the layer and the ReLU run as one kernel.
    pub(super) fn of_conv(
        &self,
        conv: &Conv,
        x: &Tensor,
        mode: BnMode,
        track: bool,
        relu: bool,
    ) -> Result<Tensor> {
        if mode == BnMode::Running && !track && !x.track_op() && kernels_for(x) {
            let params = Tensor::stack(
                &[
                    self.running_mean.as_detached_tensor(),
                    self.running_var.as_detached_tensor(),
                    self.weight.detach(),
                    self.bias.detach(),
                ],
                0,
            )?;
            let w = conv.weight.detach();
            return Ok(conv2d_normalised(x, &w, conv.stride, conv.padding, &params, relu)?);
        }
        self.forward(&conv.forward(x, track)?, mode, track, relu)
    }

    /// This layer on `x`, then ReLU if `relu` (fused on the CPU).
    pub(super) fn forward(
        &self,
        x: &Tensor,
        mode: BnMode,
        track: bool,
        relu: bool,
    ) -> Result<Tensor> {
        let (n, _, h, w) = x.dims4()?;
        let count = n * h * w;
        if mode == BnMode::Batch && count < 2 {
            bail!(
                "BatchNorm in training mode needs more than one value per channel, got input {:?}",
                x.dims()
            );
        }
        if !kernels_for(x) {
            let y = self.candle_ops(x, mode, track, count)?;
            return Ok(if relu { y.relu()? } else { y });
        }
        let affine = Tensor::stack(&[param(&self.weight, track), param(&self.bias, track)], 0)?;
        let stats = match mode {
            BnMode::Batch => {
                let stats = batchnorm::channel_stats(x)?;
                self.update_running(&stats.get(0)?, &stats.get(1)?, count)?;
                stats
            }
            BnMode::Running => Tensor::stack(
                &[self.running_mean.as_detached_tensor(), self.running_var.as_detached_tensor()],
                0,
            )?,
        };
        Ok(batchnorm::normalise(x, &stats, &affine, mode == BnMode::Batch, relu)?)
    }

    /// The same layer in candle's broadcast ops (other devices, and the tests' oracle).
    fn candle_ops(&self, x: &Tensor, mode: BnMode, track: bool, count: usize) -> Result<Tensor> {
        let per_channel = (1, x.dim(1)?, 1, 1);
        let weight = param(&self.weight, track).reshape(per_channel)?;
        let bias = param(&self.bias, track).reshape(per_channel)?;
        match mode {
            BnMode::Batch => {
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

pub(super) struct Bottleneck {
    pub(super) conv1: Conv,
    pub(super) bn1: BatchNorm,
    pub(super) conv2: Conv,
    pub(super) bn2: BatchNorm,
    pub(super) conv3: Conv,
    pub(super) bn3: BatchNorm,
    pub(super) downsample: Option<(Conv, BatchNorm)>,
}

impl Bottleneck {
    pub(super) fn forward(&self, x: &Tensor, bn: BnMode, track: bool) -> Result<Tensor> {
        let (main, shortcut) = self.paths(x, bn, track)?;
        Ok(residual::add_relu(&main, &shortcut)?)
    }

    /// The block's output before its final ReLU: main path plus shortcut.
    pub(super) fn pre_activation(&self, x: &Tensor, bn: BnMode, track: bool) -> Result<Tensor> {
        let (main, shortcut) = self.paths(x, bn, track)?;
        Ok((main + shortcut)?)
    }

    /// The main path and the shortcut.
    fn paths(&self, x: &Tensor, bn: BnMode, track: bool) -> Result<(Tensor, Tensor)> {
        let h = self.bn1.of_conv(&self.conv1, x, bn, track, true)?;
        let h = self.bn2.of_conv(&self.conv2, &h, bn, track, true)?;
        let h = self.bn3.of_conv(&self.conv3, &h, bn, track, false)?;
        let shortcut = match &self.downsample {
            Some((conv, norm)) => norm.of_conv(conv, x, bn, track, false)?,
            None => x.clone(),
        };
        Ok((h, shortcut))
    }
}

pub(super) struct Linear {
    pub(super) weight: Tensor,
    pub(super) bias: Tensor,
}

impl Linear {
    pub(super) fn forward(&self, x: &Tensor, track: bool) -> Result<Tensor> {
        let w = param(&self.weight, track);
        Ok(x.matmul(&w.t()?)?.broadcast_add(&param(&self.bias, track))?)
    }
}
