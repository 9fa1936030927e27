//! Training and evaluation primitives for the pretrain and finetune stages.
//!
//! Inputs are [0, 1] images `[B, 3, H, W]` (f32, already augmented by `data`) and u32 labels
//! `[B]`. A step is: forward (frozen prefix without graph, trainable suffix with graph), mean
//! cross-entropy, backward, SGD step. Adversarial training attacks first (BatchNorm in
//! evaluation mode, see [`super::pgd`]) and then takes the same step on the attacked images.

use anyhow::{ensure, Result};
use candle_core::{DType, Tensor};
use candle_nn::loss::cross_entropy;

use super::freeze::Regime;
use super::pgd::Pgd;
use super::resnet::Network;
use super::rng::Rng;
use super::sgd::Sgd;

/// One SGD step on a batch; returns the batch's mean cross-entropy before the step.
pub fn train_step(
    net: &Network,
    opt: &mut Sgd,
    regime: &Regime,
    x: &Tensor,
    y: &Tensor,
) -> Result<f64> {
    let loss = cross_entropy(&regime.forward(net, x)?, y)?;
    opt.backward_step(&loss)?;
    Ok(loss.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// PGD adversarial training (Madry et al.): attack the batch, then one SGD step on the attacked
/// images; returns the mean cross-entropy on them before the step.
pub fn adversarial_train_step(
    net: &Network,
    opt: &mut Sgd,
    regime: &Regime,
    pgd: &Pgd,
    x: &Tensor,
    y: &Tensor,
    rng: &mut Rng,
) -> Result<f64> {
    let adv = pgd.attack(net, x, y, rng)?;
    train_step(net, opt, regime, &adv, y)
}

/// Counts over an evaluated dataset.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Evaluation {
    /// Examples whose arg-max logit is the label.
    pub correct: usize,
    /// Sum of the per-example cross-entropies.
    pub loss_sum: f64,
    /// Examples evaluated.
    pub count: usize,
}

impl Evaluation {
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.count as f64
    }

    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.count as f64
    }
}

/// Evaluation-mode accuracy and loss over `images` and `labels`, in batches of `batch`.
pub fn evaluate(
    net: &Network,
    images: &Tensor,
    labels: &Tensor,
    batch: usize,
) -> Result<Evaluation> {
    evaluate_batches(net, images, labels, batch, |x, _| Ok(x.clone()))
}

/// As [`evaluate`], on images attacked with `pgd` (each batch attacked separately).
pub fn evaluate_adversarial(
    net: &Network,
    pgd: &Pgd,
    images: &Tensor,
    labels: &Tensor,
    batch: usize,
    rng: &mut Rng,
) -> Result<Evaluation> {
    evaluate_batches(net, images, labels, batch, |x, y| pgd.attack(net, x, y, rng))
}

fn evaluate_batches(
    net: &Network,
    images: &Tensor,
    labels: &Tensor,
    batch: usize,
    mut prepare: impl FnMut(&Tensor, &Tensor) -> Result<Tensor>,
) -> Result<Evaluation> {
    let n = images.dim(0)?;
    ensure!(batch > 0, "evaluation batch size must be positive");
    ensure!(labels.dims() == [n], "{} images but labels of shape {:?}", n, labels.dims());
    let mut total = Evaluation::default();
    for start in (0..n).step_by(batch) {
        let len = batch.min(n - start);
        let y = labels.narrow(0, start, len)?;
        let x = prepare(&images.narrow(0, start, len)?, &y)?;
        let logits = net.forward_eval(&x)?;
        let predicted = logits.argmax(1)?.to_dtype(DType::U32)?;
        total.correct +=
            predicted.eq(&y)?.to_dtype(DType::U32)?.sum_all()?.to_scalar::<u32>()? as usize;
        let mean = cross_entropy(&logits, &y)?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        total.loss_sum += mean * len as f64;
        total.count += len;
    }
    Ok(total)
}
