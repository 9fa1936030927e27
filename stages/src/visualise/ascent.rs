//! Figure 1's optimisation, as the authors ran it with MadryLab's robustness library: gradient
//! ascent on the input image to maximise one coordinate of the penultimate representation
//! (BatchNorm in evaluation mode, the last ReLU passed through in the backward pass), with
//! L2-normalised steps (g / (‖g‖₂ + 1e-10) per image), clamped to [0, 1] after every step, and
//! the best iterate kept. The authors' ε-ball was too large to bind, so there is none here.

use crate::nn::Network;
use anyhow::{ensure, Result};
use candle_core::{DType, Tensor, Var};

/// The result for a batch of B images, image b maximising coordinate `coordinates[b]`.
pub struct Ascent {
    /// The best iterate of each image, `[B, 3, H, W]` flattened.
    pub best: Vec<f32>,
    /// The objective of each best iterate.
    pub best_value: Vec<f32>,
    /// The iteration (0 = the seed itself) each best iterate comes from.
    pub best_iteration: Vec<usize>,
    /// The objective at the seed.
    pub start: Vec<f32>,
    /// Row t (t = 0..=iterations): the best objective so far of each image after evaluating
    /// iterate t, `[iterations + 1, B]` flattened. Non-decreasing down each column.
    pub trace: Vec<f32>,
}

/// Ascends from `seeds` (`[B, 3, H, W]` in [0, 1], on the network's device) for `iterations`
/// steps of L2 length `step`; `progress(done, total)` after each step.
pub fn ascend(
    net: &Network,
    seeds: &Tensor,
    coordinates: &[usize],
    step: f64,
    iterations: usize,
    progress: &dyn Fn(u64, u64),
) -> Result<Ascent> {
    let b = seeds.dim(0)?;
    ensure!(coordinates.len() == b, "one coordinate per seed image");
    let width = net.features_eval(&seeds.narrow(0, 0, 1)?)?.dim(1)?;
    ensure!(
        coordinates.iter().all(|&k| k < width),
        "coordinates {coordinates:?} beyond the representation's {width}"
    );
    let mut mask = vec![0f32; b * width];
    for (i, &k) in coordinates.iter().enumerate() {
        mask[i * width + k] = 1.0;
    }
    let mask = Tensor::from_vec(mask, (b, width), seeds.device())?.to_dtype(net.dtype())?;

    let mut x = seeds.to_dtype(net.dtype())?;
    let mut best_x = x.clone();
    let mut best = vec![f32::NEG_INFINITY; b];
    let mut best_iteration = vec![0; b];
    let mut start = Vec::new();
    let mut trace = Vec::with_capacity((iterations + 1) * b);
    for t in 0..=iterations {
        let var = Var::from_tensor(&x)?;
        let objective = (net.features_eval_fake_relu(var.as_tensor())? * &mask)?.sum(1)?;
        let values = objective.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        ensure!(values.iter().all(|v| v.is_finite()), "the objective is not finite at step {t}");
        if t == 0 {
            start = values.clone();
        }
        let improved: Vec<u8> = (0..b).map(|i| u8::from(values[i] > best[i])).collect();
        for i in (0..b).filter(|&i| improved[i] == 1) {
            best[i] = values[i];
            best_iteration[i] = t;
        }
        let keep = Tensor::from_vec(improved, (b, 1, 1, 1), x.device())?;
        best_x = keep.broadcast_as(x.shape())?.where_cond(&x, &best_x)?;
        trace.extend_from_slice(&best);
        if t == iterations {
            break;
        }
        let grads = objective.sum_all()?.backward()?;
        let g = grads.get(var.as_tensor()).expect("the objective depends on the image").clone();
        let norm = (g.sqr()?.sum_keepdim((1, 2, 3))?.sqrt()? + 1e-10)?;
        x = (&x + (g.broadcast_div(&norm)? * step)?)?.clamp(0f32, 1f32)?;
        progress(t as u64 + 1, iterations as u64);
    }
    let best_pixels = best_x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    Ok(Ascent { best: best_pixels, best_value: best, best_iteration, start, trace })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{rng, NetConfig, Stem};
    use candle_core::Device;

    /// On a random network: the kept objective never decreases and ends above the seed's, the
    /// kept images stay in [0, 1], and each kept image, evaluated again on its own, has the
    /// value recorded for it.
    #[test]
    fn the_kept_iterate_improves_monotonically_and_stays_in_range() {
        let config = NetConfig { width: 2, stem: Stem::Small, classes: 3, normalizer: None };
        let net = Network::new(config, 9, DType::F32, &Device::Cpu).unwrap();
        let (b, side) = (3, 8);
        let pixels = rng::uniform(&mut rng::rng(4), b * 3 * side * side, 0.2, 0.8);
        let seeds = Tensor::from_vec(pixels, (b, 3, side, side), &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let coordinates = [0, 7, 63];
        let iterations = 25;
        let a = ascend(&net, &seeds, &coordinates, 0.5, iterations, &|_, _| {}).unwrap();
        assert_eq!(a.trace.len(), (iterations + 1) * b);
        for i in 0..b {
            let column: Vec<f32> = (0..=iterations).map(|t| a.trace[t * b + i]).collect();
            assert!(column.windows(2).all(|w| w[1] >= w[0]), "{column:?}");
            assert_eq!(column[0], a.start[i]);
            assert_eq!(*column.last().unwrap(), a.best_value[i]);
            assert!(a.best_value[i] > a.start[i], "image {i}: {column:?}");
            assert!(a.best_iteration[i] > 0);
        }
        assert!(a.best.iter().all(|v| (0.0..=1.0).contains(v)));
        let n = 3 * side * side;
        for (i, &k) in coordinates.iter().enumerate() {
            let img = Tensor::from_vec(
                a.best[i * n..(i + 1) * n].to_vec(),
                (1, 3, side, side),
                &Device::Cpu,
            )
            .unwrap();
            let value = net.features_eval(&img).unwrap().to_vec2::<f32>().unwrap()[0][k];
            assert!(
                (value - a.best_value[i]).abs() <= 1e-5 * (1.0 + value.abs()),
                "{value} vs {}",
                a.best_value[i]
            );
        }
        assert!(ascend(&net, &seeds, &[0, 1, 64], 0.5, 1, &|_, _| {}).is_err(), "64 ≥ 32·width");
    }
}
