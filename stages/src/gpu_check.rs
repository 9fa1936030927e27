//! The numeric parts of `pipeline gpu-check`: ResNet-50 throughput on the GPU, and one training
//! step on the GPU against the same step on the CPU (same weights, same batch).
//!
//! The agreement is judged per tensor on the *update* a step makes (after − before), not on the
//! values, which one step barely moves: for every parameter and running statistic,
//! ‖Δ_gpu − Δ_cpu‖₂ ≤ [`UPDATE_TOLERANCE`] · ‖Δ_cpu‖₂ (a tensor neither device moves agrees),
//! and for the loss |loss_gpu − loss_cpu| ≤ [`LOSS_TOLERANCE`] · |loss_cpu|. Both computations
//! are f32; they differ in summation order (cuBLAS and candle's CUDA kernels against gemm and
//! candle's CPU loops), which leaves relative differences of about 1e-6 per operation.

use anyhow::{ensure, Result};
use candle_core::{DType, Device, Tensor};

use crate::bench::throughput;
use crate::nn::{self, FcInit, FrozenBn, NetConfig, Network, Regime, Sgd, SgdConfig};

/// Relative tolerance on the loss before the step.
pub const LOSS_TOLERANCE: f64 = 1e-4;
/// Relative tolerance (L2) on each tensor's update.
pub const UPDATE_TOLERANCE: f64 = 1e-3;

const CLASSES: usize = 10;

/// ResNet-50 at 224×224 fine-tuning its last 3 blocks and fc (Table 5's setting), as
/// `pipeline bench` times it: (forward images/s, train-step images/s).
pub fn resnet50_throughput(device: &Device, batch: usize, iterations: usize) -> Result<(f64, f64)> {
    let (net, x, y) = setup(NetConfig::resnet50(CLASSES), 224, batch, device)?;
    let (forward, step) =
        throughput(&net, &Regime::fine_tune(3, FrozenBn::Train)?, &x, &y, iterations)?;
    Ok((forward.images_per_second, step.images_per_second))
}

/// How one training step on `device` compares with the same step on the CPU.
#[derive(Debug)]
pub struct Agreement {
    pub loss_cpu: f64,
    pub loss_device: f64,
    /// Tensors compared.
    pub tensors: usize,
    /// The largest ‖Δ_device − Δ_cpu‖ / ‖Δ_cpu‖ over the tensors, with its tensor's name.
    pub worst: (f64, String),
    /// Tensors over the tolerance, with their relative difference.
    pub failures: Vec<(String, f64)>,
}

impl Agreement {
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && loss_agrees(self.loss_cpu, self.loss_device)
    }
}

fn loss_agrees(cpu: f64, other: f64) -> bool {
    (other - cpu).abs() <= LOSS_TOLERANCE * cpu.abs()
}

/// One SGD step of `regime` (lr 0.1, momentum 0.9, weight decay 5e-4) on a fresh network
/// (`config`, seed 1) and one seeded batch, on the CPU and on `device`, compared as the module
/// says.
pub fn step_agreement(
    device: &Device,
    config: NetConfig,
    side: usize,
    batch: usize,
    regime: &Regime,
) -> Result<Agreement> {
    let cpu = step(config, side, batch, regime, STEP, &Device::Cpu)?;
    Ok(compare(&cpu, &step(config, side, batch, regime, STEP, device)?))
}

const STEP: SgdConfig = SgdConfig { lr: 0.1, momentum: 0.9, weight_decay: 5e-4 };

fn compare(reference: &Step, other: &Step) -> Agreement {
    let mut agreement = Agreement {
        loss_cpu: reference.loss,
        loss_device: other.loss,
        tensors: reference.tensors.len(),
        worst: (0.0, String::new()),
        failures: Vec::new(),
    };
    for ((name, before, after), (_, other_before, other_after)) in
        reference.tensors.iter().zip(&other.tensors)
    {
        let relative = update_difference(before, after, other_before, other_after);
        if relative > agreement.worst.0 {
            agreement.worst = (relative, name.clone());
        }
        if relative > UPDATE_TOLERANCE {
            agreement.failures.push((name.clone(), relative));
        }
    }
    agreement
}

/// ‖(b1 − a1) − (b0 − a0)‖₂ / ‖b0 − a0‖₂ in f64, where device 0 is the reference; 0 when neither
/// moved, infinite when only the other did.
pub fn update_difference(
    before: &[f32],
    after: &[f32],
    other_before: &[f32],
    other_after: &[f32],
) -> f64 {
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for i in 0..before.len() {
        let reference = after[i] as f64 - before[i] as f64;
        let other = other_after[i] as f64 - other_before[i] as f64;
        diff += (other - reference).powi(2);
        norm += reference.powi(2);
    }
    if diff == 0.0 {
        0.0
    } else if norm == 0.0 {
        f64::INFINITY
    } else {
        (diff / norm).sqrt()
    }
}

struct Step {
    loss: f64,
    /// Per tensor: name, values before, values after (host copies).
    tensors: Vec<(String, Vec<f32>, Vec<f32>)>,
}

fn step(
    config: NetConfig,
    side: usize,
    batch: usize,
    regime: &Regime,
    sgd: SgdConfig,
    device: &Device,
) -> Result<Step> {
    let (net, x, y) = setup(config, side, batch, device)?;
    let values = |net: &Network| -> Result<Vec<(String, Vec<f32>)>> {
        net.named_vars()
            .map(|(spec, var)| {
                let v = var.as_tensor().to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
                Ok((spec.name.clone(), v))
            })
            .collect()
    };
    let before = values(&net)?;
    let mut opt = Sgd::new(regime.trainable_vars(&net), sgd);
    let loss = nn::train_step(&net, &mut opt, regime, &x, &y)?;
    let after = values(&net)?;
    ensure!(before.len() == after.len(), "the network changed its tensors in a step");
    let tensors = before.into_iter().zip(after).map(|((name, b), (_, a))| (name, b, a)).collect();
    Ok(Step { loss, tensors })
}

/// A fresh network (seed 1, fc re-initialised with seed 2) and a seeded batch of [0, 1] images,
/// drawn on the host so that every device gets the same numbers.
fn setup(
    config: NetConfig,
    side: usize,
    batch: usize,
    device: &Device,
) -> Result<(Network, Tensor, Tensor)> {
    let mut net = Network::new(config, 1, DType::F32, device)?;
    net.reset_fc(CLASSES, FcInit::Normal1, 2)?;
    let pixels = nn::rng::uniform(&mut nn::rng::rng(3), batch * 3 * side * side, 0.0, 1.0);
    let x = Tensor::from_vec(pixels, (batch, 3, side, side), &Device::Cpu)?
        .to_dtype(DType::F32)?
        .to_device(device)?;
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % CLASSES as u32).collect();
    let y = Tensor::from_vec(labels, batch, &Device::Cpu)?.to_device(device)?;
    Ok((net, x, y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Stem;

    #[test]
    fn update_difference_is_relative_to_the_reference_update() {
        let before = [1.0, 2.0, 3.0];
        assert_eq!(update_difference(&before, &before, &before, &before), 0.0);
        assert_eq!(update_difference(&before, &before, &before, &[1.0, 2.0, 3.5]), f64::INFINITY);
        // Reference update (0.3, 0.4, 0): norm 0.5; the other's differs by (0, 0, 0.05).
        let got = update_difference(&before, &[1.3, 2.4, 3.0], &before, &[1.3, 2.4, 3.05]);
        assert!((got - 0.1).abs() < 1e-6, "{got}");
    }

    fn tiny() -> NetConfig {
        NetConfig { width: 1, stem: Stem::Small, classes: CLASSES, normalizer: None }
    }

    /// The CPU against itself agrees exactly: the check compares the same tensors in the same
    /// order and the step is deterministic.
    #[test]
    fn a_step_agrees_with_itself_on_the_cpu() {
        let regime = Regime::fine_tune(3, FrozenBn::Train).unwrap();
        let a = step_agreement(&Device::Cpu, tiny(), 8, 4, &regime).unwrap();
        assert!(a.ok(), "{a:?}");
        assert_eq!(a.worst.0, 0.0);
        assert_eq!(
            a.tensors,
            Network::new(tiny(), 1, DType::F32, &Device::Cpu).unwrap().named_vars().count()
        );
    }

    /// On a machine with a GPU and a CUDA build (`cargo test --release --features cuda --
    /// --ignored gpu`): a ResNet-50 training step on cuda:0 agrees with the CPU's, as
    /// `pipeline gpu-check` checks it.
    #[cfg(feature = "cuda")]
    #[test]
    #[ignore = "needs a GPU"]
    fn gpu_step_agrees_with_the_cpu() {
        let gpu = Device::new_cuda(0).expect("a GPU");
        for regime in [Regime::full(), Regime::fine_tune(3, FrozenBn::Train).unwrap()] {
            let a = step_agreement(&gpu, NetConfig::resnet50(CLASSES), 224, 8, &regime).unwrap();
            assert!(a.ok(), "{a:?}");
        }
    }

    /// A step that differs (another learning rate, standing in for a wrong kernel) is caught,
    /// and exactly the tensors that train are named.
    #[test]
    fn a_different_step_is_caught_and_named() {
        let regime = Regime::fine_tune(1, FrozenBn::Eval).unwrap();
        let reference = step(tiny(), 8, 4, &regime, STEP, &Device::Cpu).unwrap();
        let other = SgdConfig { lr: 0.11, ..STEP };
        let a = compare(&reference, &step(tiny(), 8, 4, &regime, other, &Device::Cpu).unwrap());
        assert!(!a.ok());
        assert!(a.failures.iter().all(|(_, r)| (r - 0.1).abs() < 0.02), "{a:?}");
        let trains = |name: &str| name.starts_with("fc.") || name.starts_with("layer4.2.");
        let named: Vec<&str> = a.failures.iter().map(|(n, _)| n.as_str()).collect();
        assert!(named.iter().all(|n| trains(n)), "{named:?}");
        assert!(
            named.contains(&"fc.weight") && named.contains(&"layer4.2.conv3.weight"),
            "{named:?}"
        );
    }
}
