//! SGD with momentum and weight decay, PyTorch's `torch.optim.SGD` exactly (dampening 0, no
//! Nesterov):
//!
//! ```text
//! d   = g + weight_decay · p
//! buf = d                      on the first step,  buf = momentum · buf + d  after
//! p   = p − lr · buf
//! ```
//!
//! Weight decay applies to every tensor handed to the optimiser (the authors' code decays
//! BatchNorm weights and biases too). candle-nn's SGD has neither momentum nor weight decay.

use anyhow::{anyhow, Result};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

/// Hyper-parameters (Table 1: lr 0.1, momentum 0.9, weight decay 5e-4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
}

/// The optimiser and its momentum buffers.
pub struct Sgd {
    vars: Vec<Var>,
    config: SgdConfig,
    buffers: Vec<Option<Tensor>>,
}

impl Sgd {
    pub fn new(vars: Vec<Var>, config: SgdConfig) -> Self {
        let buffers = vec![None; vars.len()];
        Sgd { vars, config, buffers }
    }

    /// Sets the learning rate for the following steps (see [`super::schedule::lr_at`]).
    pub fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    pub fn lr(&self) -> f64 {
        self.config.lr
    }

    /// Back-propagates `loss` and takes one step.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        self.step(&loss.backward()?)
    }

    /// One step with the gradients in `grads`. Every variable must have a gradient: a missing
    /// one means the variable is not in the loss's graph (e.g. a frozen part given as trainable).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        let SgdConfig { lr, momentum, weight_decay } = self.config;
        for (var, buffer) in self.vars.iter().zip(self.buffers.iter_mut()) {
            let grad = grads.get(var.as_tensor()).ok_or_else(|| {
                anyhow!("a trainable tensor of shape {:?} received no gradient", var.dims())
            })?;
            let p = var.as_detached_tensor();
            let d = (grad.detach() + (&p * weight_decay)?)?;
            let next = match buffer.take() {
                None => d,
                Some(b) => ((b * momentum)? + d)?,
            };
            var.set(&(&p - (&next * lr)?)?)?;
            *buffer = Some(next);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Loss Σ cᵢ·pᵢ + ½ Σ pᵢ² has gradient c + p: a gradient that depends on the parameter, so
    /// the order of decay, momentum and update matters.
    fn loss(p: &Var, c: &Tensor) -> Tensor {
        let t = p.as_tensor();
        ((t * c).unwrap().sum_all().unwrap() + (t.sqr().unwrap().sum_all().unwrap() * 0.5).unwrap())
            .unwrap()
    }

    #[test]
    fn sgd_matches_hand_computed_pytorch_update() {
        let (lr, mu, wd) = (0.1, 0.9, 0.05);
        let p0 = [1.0f64, -2.0, 0.5];
        let c = [0.3f64, -0.1, 2.0];
        let p = Var::from_vec(p0.to_vec(), 3, &Device::Cpu).unwrap();
        let ct = Tensor::new(&c, &Device::Cpu).unwrap();
        let mut opt = Sgd::new(vec![p.clone()], SgdConfig { lr, momentum: mu, weight_decay: wd });
        for _ in 0..4 {
            opt.backward_step(&loss(&p, &ct)).unwrap();
        }
        // Independent f64 loop, PyTorch's algorithm written out element by element.
        let mut want = p0;
        let mut buf = [0.0f64; 3];
        for step in 0..4 {
            for i in 0..3 {
                let g = c[i] + want[i];
                let d = g + wd * want[i];
                buf[i] = if step == 0 { d } else { mu * buf[i] + d };
                want[i] -= lr * buf[i];
            }
        }
        let got = p.as_tensor().to_vec1::<f64>().unwrap();
        for i in 0..3 {
            assert!((got[i] - want[i]).abs() < 1e-14, "element {i}: {} vs {}", got[i], want[i]);
        }
        // First step by hand for element 0: g = 1.3, d = 1.35, p = 1 − 0.135 = 0.865.
        let q = Var::from_vec(vec![1.0f64], 1, &Device::Cpu).unwrap();
        let mut one = Sgd::new(vec![q.clone()], SgdConfig { lr, momentum: mu, weight_decay: wd });
        one.backward_step(&loss(&q, &Tensor::new(&[0.3f64], &Device::Cpu).unwrap())).unwrap();
        assert!((q.as_tensor().to_vec1::<f64>().unwrap()[0] - 0.865).abs() < 1e-15);
    }

    #[test]
    fn sgd_rejects_a_variable_without_gradient() {
        let p = Var::from_vec(vec![1.0f64], 1, &Device::Cpu).unwrap();
        let unused = Var::from_vec(vec![1.0f64], 1, &Device::Cpu).unwrap();
        let mut opt = Sgd::new(
            vec![p.clone(), unused],
            SgdConfig { lr: 0.1, momentum: 0.9, weight_decay: 0.0 },
        );
        let c = Tensor::new(&[1.0f64], &Device::Cpu).unwrap();
        assert!(opt.backward_step(&loss(&p, &c)).is_err());
    }
}
