//! The epoch loop and split evaluation shared by `pretrain` and `finetune`: seeded batch order,
//! the augmentation, the learning-rate schedule, and evaluation in bounded-memory chunks.

use crate::data::augment::Augment;
use crate::data::{derived_rng, epoch_batches, test_batch, Dataset, TrainTransform};
use crate::nn::{self, adversarial_train_step, train_step, Evaluation, Network, Pgd, Regime, Sgd};
use anyhow::Result;
use candle_core::{Device, Tensor};

/// The training transform of a profile's `augment` settings at `resolution`.
pub fn transform(augment: &Augment, resolution: usize) -> TrainTransform {
    let jitter = augment.jitter as f32;
    TrainTransform {
        size: resolution,
        pad: augment.pad,
        flip_p: if augment.flip { 0.5 } else { 0.0 },
        brightness: jitter,
        contrast: jitter,
        saturation: jitter,
        rotation_deg: augment.rotation as f32,
    }
}

/// One epoch's training run.
pub struct Epoch<'a> {
    pub data: &'a Dataset,
    /// The training images (a subset's indices, or all).
    pub indices: &'a [u32],
    pub transform: &'a TrainTransform,
    pub batch: usize,
    /// Seeds batch order, augmentation and attack starts; `purpose` keeps streams apart.
    pub seed: u64,
    pub purpose: &'a str,
    /// Adversarial training when set.
    pub pgd: Option<&'a Pgd>,
}

impl Epoch<'_> {
    /// Train one epoch (0-based `epoch`) at `lr`; returns the mean training loss over images.
    pub fn run(
        &self,
        net: &Network,
        sgd: &mut Sgd,
        regime: &Regime,
        epoch: usize,
        lr: f64,
    ) -> Result<f64> {
        sgd.set_lr(lr);
        let device = net.device().clone();
        let (mut loss_sum, mut count) = (0.0, 0usize);
        for (b, batch) in
            epoch_batches(self.indices, self.seed, epoch as u64, self.batch).iter().enumerate()
        {
            let words = [self.seed, epoch as u64, b as u64];
            let x = self.transform.batch(
                self.data,
                batch,
                &mut derived_rng(&format!("{}/augment", self.purpose), &words),
                &device,
            )?;
            let y = labels(self.data, batch, &device)?;
            let loss = match self.pgd {
                Some(pgd) => {
                    let mut rng = derived_rng(&format!("{}/attack", self.purpose), &words);
                    adversarial_train_step(net, sgd, regime, pgd, &x, &y, &mut rng)?
                }
                None => train_step(net, sgd, regime, &x, &y)?,
            };
            loss_sum += loss * batch.len() as f64;
            count += batch.len();
        }
        Ok(loss_sum / count.max(1) as f64)
    }
}

/// The labels of `indices` as a u32 tensor.
pub fn labels(data: &Dataset, indices: &[u32], device: &Device) -> Result<Tensor> {
    let y: Vec<u32> = indices.iter().map(|&i| data.labels[i as usize]).collect();
    Ok(Tensor::from_vec(y, indices.len(), device)?)
}

/// Evaluation-mode accuracy and loss on every image of `data` at `resolution`, built and
/// evaluated `batch` images at a time (the paper profile's test sets do not fit in memory as
/// one tensor); attacked with `pgd` when given.
pub fn evaluate(
    net: &Network,
    data: &Dataset,
    resolution: usize,
    batch: usize,
    pgd: Option<(&Pgd, u64)>,
) -> Result<Evaluation> {
    let all: Vec<u32> = (0..data.len() as u32).collect();
    let mut total = Evaluation::default();
    for (c, chunk) in all.chunks(batch.max(1)).enumerate() {
        let x = test_batch(data, chunk, resolution, net.device())?;
        let y = labels(data, chunk, net.device())?;
        let e = match pgd {
            Some((pgd, seed)) => {
                let mut rng = derived_rng("evaluate/attack", &[seed, c as u64]);
                nn::evaluate_adversarial(net, pgd, &x, &y, chunk.len(), &mut rng)?
            }
            None => nn::evaluate(net, &x, &y, chunk.len())?,
        };
        total.correct += e.correct;
        total.loss_sum += e.loss_sum;
        total.count += e.count;
    }
    Ok(total)
}
