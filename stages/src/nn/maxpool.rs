//! The differentiable 3×3, stride-2, padding-1 max-pool of torchvision's ResNet stem.
//!
//! candle's `max_pool2d` has no backward pass, so the pool is composed from ops that have one:
//! along each spatial axis, three `index_select`s pick the window rows `2i-1, 2i, 2i+1` and
//! `maximum` combines them (the 3×3 max is the max over rows of the max over columns). Indices
//! outside the input are clamped to the edge, which is exact for a max: the edge element is
//! already in that window, so it matches PyTorch's −∞ padding.
//!
//! Gradient: at ties `maximum` splits the gradient equally between the tied inputs (PyTorch gives
//! it all to one of them). Both are valid subgradients; after a ReLU, ties are at zero where the
//! ReLU's own gradient is zero, so the training gradient is the same.

use candle_core::{Result, Tensor};

/// Max-pool with kernel 3, stride 2, padding 1 over the last two axes of an NCHW tensor.
pub fn max_pool_3x3_s2_p1(x: &Tensor) -> Result<Tensor> {
    let rows = max3_along(x, 2)?;
    max3_along(&rows, 3)
}

/// Max over windows of three along `axis`, stride 2, padding 1.
fn max3_along(x: &Tensor, axis: usize) -> Result<Tensor> {
    let size = x.dim(axis)?;
    let out = (size - 1) / 2 + 1; // floor((size + 2·1 − 3) / 2) + 1
    let pick = |offset: i64| -> Result<Tensor> {
        let index: Vec<u32> =
            (0..out as i64).map(|i| (2 * i + offset).clamp(0, size as i64 - 1) as u32).collect();
        x.index_select(&Tensor::new(index, x.device())?, axis)
    };
    pick(-1)?.maximum(&pick(0)?)?.maximum(&pick(1)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::rng;
    use candle_core::{Device, Var};

    /// Plain-loop reference with −∞ padding (PyTorch's definition).
    fn reference(x: &[f64], c: usize, h: usize, w: usize) -> (Vec<f64>, usize, usize) {
        let (oh, ow) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1);
        let mut out = vec![f64::NEG_INFINITY; c * oh * ow];
        for ch in 0..c {
            for i in 0..oh {
                for j in 0..ow {
                    for di in 0..3 {
                        for dj in 0..3 {
                            let (r, s) = ((2 * i + di) as i64 - 1, (2 * j + dj) as i64 - 1);
                            if r >= 0 && s >= 0 && (r as usize) < h && (s as usize) < w {
                                let v = x[ch * h * w + r as usize * w + s as usize];
                                let o = &mut out[ch * oh * ow + i * ow + j];
                                *o = o.max(v);
                            }
                        }
                    }
                }
            }
        }
        (out, oh, ow)
    }

    fn random(shape: (usize, usize, usize, usize), seed: u64) -> Tensor {
        let n = shape.0 * shape.1 * shape.2 * shape.3;
        let v = rng::normal(&mut rng::rng(seed), n, 1.0);
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn max_pool_matches_loops_and_candle_forward() {
        for (h, w) in [(8, 8), (7, 9), (112, 112), (5, 6), (1, 2)] {
            let x = random((2, 3, h, w), 7);
            let got = max_pool_3x3_s2_p1(&x).unwrap();
            let xs = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let (want, oh, ow) = reference(&xs, 6, h, w);
            assert_eq!(got.dims(), &[2, 3, oh, ow]);
            assert_eq!(got.flatten_all().unwrap().to_vec1::<f64>().unwrap(), want);
            // candle's forward-only pool on an edge-padded input (torchvision-equivalent).
            let candle = x
                .pad_with_same(2, 1, 1)
                .unwrap()
                .pad_with_same(3, 1, 1)
                .unwrap()
                .max_pool2d_with_stride(3, 2)
                .unwrap();
            assert_eq!(candle.flatten_all().unwrap().to_vec1::<f64>().unwrap(), want, "{h}x{w}");
        }
    }

    #[test]
    fn max_pool_gradient_matches_finite_differences() {
        let x = random((1, 2, 7, 6), 11);
        let r = random((1, 2, 4, 3), 12); // loss = Σ r · pool(x)
        let xv = Var::from_tensor(&x).unwrap();
        let loss = |t: &Tensor| -> f64 {
            (max_pool_3x3_s2_p1(t).unwrap() * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        let grads = (max_pool_3x3_s2_p1(xv.as_tensor()).unwrap() * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g = grads.get(xv.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let base = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let h = 1e-6;
        for i in 0..base.len() {
            let mut p = base.clone();
            p[i] += h;
            let mut m = base.clone();
            m[i] -= h;
            let t = |v: Vec<f64>| Tensor::from_vec(v, x.shape(), &Device::Cpu).unwrap();
            let fd = (loss(&t(p)) - loss(&t(m))) / (2.0 * h);
            assert!(
                (fd - g[i]).abs() < 1e-6,
                "element {i}: finite difference {fd}, autograd {}",
                g[i]
            );
        }
    }
}
