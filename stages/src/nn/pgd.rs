//! PGD(k) attacks in ℓ2 and ℓ∞ balls (paper, section 3).
//!
//! k steps of size α = c·ε/k (1.5 < c < 4) ascend the cross-entropy of the true labels; after
//! every step the perturbation δ is projected onto the ε-ball and x + δ is clipped to [0, 1]:
//!
//! * ℓ∞: δ ← clamp(δ + α·sign(∇), −ε, ε)
//! * ℓ2: δ ← δ + α·∇/‖∇‖₂, then δ·min(1, ε/‖δ‖₂), norms per example
//!
//! An optional random start draws δ uniformly (ℓ∞: U[−ε, ε]; ℓ2: U[−½, ½] projected onto the
//! ball), as MadryLab's robustness library does. The attack returns the last iterate.
//!
//! **BatchNorm while attacking: evaluation mode.** MadryLab's `AttackerModel.forward` (used for
//! the robust source models) switches the model to `eval()` while it builds the adversarial
//! examples and back to `train()` for the training step, so the attack uses the running
//! statistics and leaves them unchanged. [`Pgd::attack`] always runs [`Network::forward_eval`].
//!
//! The gradient is that of the *summed* per-example loss, so each example's step uses its own
//! gradient whatever the batch size (MadryLab differentiates the mean; sign and ℓ2-normalised
//! steps are the same).

use anyhow::{bail, Result};
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use super::resnet::Network;
use super::rng::{self, Rng};

/// Default step-size factor c (α = c·ε/k); the paper requires 1.5 < c < 4.
pub const DEFAULT_STEP_FACTOR: f64 = 2.5;

/// The norm of the threat model's ball (a profile's `Constraint` without `none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    L2,
    Linf,
}

/// A PGD attack: ball, radius, steps, step-size factor, random start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pgd {
    constraint: Norm,
    eps: f64,
    steps: usize,
    step_factor: f64,
    random_start: bool,
}

/// Guard against division by a zero gradient norm (as in MadryLab's ℓ2 step).
const NORM_GUARD: f64 = 1e-10;

impl Pgd {
    /// Checks ε ≥ 0, k ≥ 1 and 1.5 < c < 4.
    pub fn new(
        constraint: Norm,
        eps: f64,
        steps: usize,
        step_factor: f64,
        random_start: bool,
    ) -> Result<Self> {
        if !(eps >= 0.0 && eps.is_finite()) {
            bail!("PGD radius must be finite and non-negative, got {eps}");
        }
        if steps == 0 {
            bail!("PGD needs at least one step");
        }
        if !(step_factor > 1.5 && step_factor < 4.0) {
            bail!("PGD step-size factor c must satisfy 1.5 < c < 4 (paper, section 3), got {step_factor}");
        }
        Ok(Pgd { constraint, eps, steps, step_factor, random_start })
    }

    /// α = c·ε/k.
    pub fn step_size(&self) -> f64 {
        self.step_factor * self.eps / self.steps as f64
    }

    pub fn constraint(&self) -> Norm {
        self.constraint
    }

    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// Adversarial versions of the [0, 1] images `x` ([B, 3, H, W]) for labels `y` (u32 [B]),
    /// in the network's dtype. BatchNorm runs in evaluation mode; nothing in `net` changes.
    /// `rng` is used only with a random start.
    pub fn attack(&self, net: &Network, x: &Tensor, y: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        let x0 = x.to_dtype(net.dtype())?.detach();
        let mut adv = if self.random_start {
            let n = x0.elem_count();
            let noise = match self.constraint {
                Norm::Linf => rng::uniform(rng, n, -self.eps, self.eps),
                Norm::L2 => rng::uniform(rng, n, -0.5, 0.5),
            };
            let noise = Tensor::from_vec(noise, x0.shape(), &candle_core::Device::Cpu)?
                .to_dtype(x0.dtype())?
                .to_device(x0.device())?;
            self.project(&(&x0 + noise)?, &x0)?
        } else {
            x0.clone()
        };
        let alpha = self.step_size();
        for _ in 0..self.steps {
            let xv = Var::from_tensor(&adv)?;
            let logits = net.forward_eval(xv.as_tensor())?;
            let loss = (candle_nn::loss::cross_entropy(&logits, y)? * y.dim(0)? as f64)?;
            let grad =
                loss.backward()?.remove(xv.as_tensor()).expect("the input is in the loss's graph");
            let step = match self.constraint {
                Norm::Linf => (grad.sign()? * alpha)?,
                Norm::L2 => grad
                    .broadcast_div(&(per_example_l2(&grad)? + NORM_GUARD)?)?
                    .affine(alpha, 0.0)?,
            };
            adv = self.project(&(adv + step)?, &x0)?;
        }
        Ok(adv)
    }

    /// Projects `x` onto the ε-ball around `x0`, then clips to [0, 1].
    fn project(&self, x: &Tensor, x0: &Tensor) -> Result<Tensor> {
        let delta = (x - x0)?;
        let delta = match self.constraint {
            Norm::Linf => delta.clamp(-self.eps, self.eps)?,
            Norm::L2 => {
                let norm = per_example_l2(&delta)?;
                // min(1, ε/‖δ‖); a zero δ stays zero.
                let scale = (norm.maximum(NORM_GUARD)?.recip()? * self.eps)?.minimum(1.0)?;
                delta.broadcast_mul(&scale)?
            }
        };
        Ok((x0 + delta)?.clamp(0.0, 1.0)?)
    }
}

/// ‖v‖₂ of each example of a [B, …] tensor, shaped [B, 1, 1, 1] for broadcasting.
pub fn per_example_l2(v: &Tensor) -> Result<Tensor> {
    let b = v.dim(0)?;
    Ok(v.flatten_from(1)?.sqr()?.sum_keepdim(1)?.sqrt()?.reshape((b, 1, 1, 1))?)
}
