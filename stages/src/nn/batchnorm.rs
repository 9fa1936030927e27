//! BatchNorm, optionally followed by ReLU, on the CPU as fused per-channel kernels, forward and
//! backward, as candle custom ops ([`super::layers::BatchNorm`] chooses them on the CPU and
//! candle's broadcast ops elsewhere).
//!
//! With M = N·H·W values per channel, x̂ = (x − μ)/√(σ² + ε) and g the output gradient (zeroed
//! where the fused ReLU's output is not positive, as PyTorch's `threshold_backward`):
//!
//! - forward: y = γ·x̂ + β, from statistics given as an operand: the batch's own (training
//!   mode, [`channel_stats`]) or the running ones (evaluation mode);
//! - ∂γ = Σ g·x̂ and ∂β = Σ g per channel;
//! - ∂x = γ/√(σ² + ε) · (g − ∂β/M − x̂·∂γ/M) with batch statistics (the gradient through μ and
//!   σ²), γ/√(σ² + ε) · g with running ones.
//!
//! Per-channel sums accumulate in f64 in a fixed order, one channel per thread, and element-wise
//! work splits by whole image planes, so results do not depend on the thread count.

use candle_core::{Shape, Tensor};
use rayon::prelude::*;

use std::mem::MaybeUninit;

use super::cpu::{custom_op, par_uninit, CpuKernel, CpuOp, Elem};

/// BatchNorm epsilon (PyTorch default).
pub const BN_EPS: f64 = 1e-5;

const OP: &str = "batchnorm";

/// Per-channel mean and biased variance of `x` [N, C, H, W], as [2, C]; no gradient.
pub(super) fn channel_stats(x: &Tensor) -> candle_core::Result<Tensor> {
    let planes = Planes::of(x.dims())?;
    if planes.count() == 0 {
        candle_core::bail!("{OP}: no values to take statistics of in {:?}", x.dims());
    }
    x.contiguous()?.apply_op1_no_bwd(&Stats(planes))
}

/// γ·(x − μ)/√(σ² + ε) + β per channel, then ReLU if `relu`. `stats` [2, C] holds (μ, σ²)
/// without gradient, `affine` [2, C] holds (γ, β). `batch`: the statistics are `x`'s own, so
/// the input gradient includes the path through them.
pub(super) fn normalise(
    x: &Tensor,
    stats: &Tensor,
    affine: &Tensor,
    batch: bool,
    relu: bool,
) -> candle_core::Result<Tensor> {
    let op = Normalise { planes: Planes::of(x.dims())?, batch, relu };
    x.contiguous()?.apply_op3(&stats.detach().contiguous()?, &affine.contiguous()?, op)
}

/// Evaluation-mode BatchNorm (then ReLU if `relu`) applied in place to output planes, with
/// the arithmetic of [`normalise`]: what a convolution fused with it runs on each plane it
/// writes ([`super::conv::conv2d_normalised`]).
pub(super) struct PlaneNorm {
    channels: Vec<Channel>,
    relu: bool,
}

impl PlaneNorm {
    /// From `params` [4, C]: rows μ, σ², γ, β.
    pub(super) fn new<T: Elem>(params: &[T], relu: bool) -> Self {
        let c = params.len() / 4;
        PlaneNorm { channels: (0..c).map(|k| Channel::of(params, c, k)).collect(), relu }
    }
    /// Channel `c`'s plane, normalised in place.
    pub(super) fn apply<T: Elem>(&self, c: usize, plane: &mut [T]) {
        let ch = self.channels[c];
        plane.iter_mut().for_each(|v| *v = ch.finish(*v, self.relu));
    }
}

/// An NCHW tensor's sizes: images, channels, values per plane.
#[derive(Debug, Clone, Copy)]
struct Planes {
    n: usize,
    c: usize,
    hw: usize,
}

impl Planes {
    fn of(dims: &[usize]) -> candle_core::Result<Self> {
        let &[n, c, h, w] = dims else { candle_core::bail!("{OP}: expected NCHW, got {dims:?}") };
        Ok(Planes { n, c, hw: h * w })
    }
    /// Values per channel.
    fn count(&self) -> usize {
        self.n * self.hw
    }
    fn check_input(&self, dims: &[usize]) -> candle_core::Result<()> {
        match Planes::of(dims)? {
            p if (p.n, p.c, p.hw) == (self.n, self.c, self.hw) => Ok(()),
            _ => candle_core::bail!("{OP}: operand {dims:?} is not the input's shape"),
        }
    }
    fn check_params(&self, dims: &[usize], rows: usize) -> candle_core::Result<()> {
        if dims != [rows, self.c] {
            candle_core::bail!("{OP}: parameters {dims:?}, expected [{rows}, {}]", self.c);
        }
        Ok(())
    }
    /// Channel `c`'s plane of image `n` in `v`.
    fn plane<'a, T>(&self, v: &'a [T], n: usize, c: usize) -> &'a [T] {
        &v[(n * self.c + c) * self.hw..][..self.hw]
    }
}

/// One channel's normalisation, in f64.
#[derive(Clone, Copy)]
struct Channel {
    mean: f64,
    inv_std: f64,
    gamma: f64,
    beta: f64,
}

impl Channel {
    /// Channel `c` of parameter rows (μ, σ², γ, β, …) [rows, C].
    fn of<T: Elem>(params: &[T], channels: usize, c: usize) -> Self {
        let row = |r: usize| params[r * channels + c].to_f64();
        Channel {
            mean: row(0),
            inv_std: 1.0 / (row(1) + BN_EPS).sqrt(),
            gamma: row(2),
            beta: row(3),
        }
    }
    /// y for input `x`, in the element type (the forward pass's exact arithmetic, so the
    /// backward pass's ReLU mask is the forward pass's).
    fn output<T: Elem>(&self, x: T) -> T {
        let (shift, scale, beta) = self.affine();
        (x + shift) * scale + beta
    }
    /// y, then the ReLU if `relu`.
    fn finish<T: Elem>(&self, x: T, relu: bool) -> T {
        let y = self.output(x);
        if passes(y, relu) {
            y
        } else {
            T::default()
        }
    }
    /// (−μ, γ/√(σ² + ε), β) in the element type: y = (x + shift)·scale + β.
    fn affine<T: Elem>(&self) -> (T, T, T) {
        (T::from_f64(-self.mean), T::from_f64(self.gamma * self.inv_std), T::from_f64(self.beta))
    }
}

/// The ReLU's gradient mask: PyTorch passes the gradient where the output is positive.
fn passes<T: Elem>(y: T, relu: bool) -> bool {
    !relu || y > T::default()
}

/// `g` where `pass`, else 0: a select, not a branch (about half the values do not pass, and a
/// branch would mispredict on most of them), and not a product with 0, which would keep an
/// infinite or NaN gradient where PyTorch stops it.
fn masked<T: Elem>(g: T, pass: bool) -> T {
    if pass {
        g
    } else {
        T::default()
    }
}

struct Stats(Planes);

impl CpuKernel for Stats {
    fn run<T: Elem>(&self, operands: &[&[T]]) -> Vec<T> {
        let (x, p) = (operands[0], self.0);
        let stats: Vec<(f64, f64)> = (0..p.c)
            .into_par_iter()
            .map(|c| {
                // One pass: the sums of d = x − x₀ and of d² in f64, x₀ the channel's first
                // value, which keeps Σd²/M − (Σd/M)² from cancelling where the mean is large
                // against the spread.
                let shift = p.plane(x, 0, c)[0].to_f64();
                let (mut sum, mut squares) = (0.0, 0.0);
                for plane in (0..p.n).map(|n| p.plane(x, n, c)) {
                    let [s, q] = lane_sums(plane, plane, |v, _| {
                        let d = v.to_f64() - shift;
                        [d, d * d]
                    });
                    sum += s;
                    squares += q;
                }
                let (m, mean) = (p.count() as f64, sum / p.count() as f64);
                (shift + mean, (squares / m - mean * mean).max(0.0))
            })
            .collect();
        let means = stats.iter().map(|s| T::from_f64(s.0));
        means.chain(stats.iter().map(|s| T::from_f64(s.1))).collect()
    }
}

/// Lanes of the per-channel sums: independent f64 accumulators the compiler can vectorise,
/// added in a fixed order.
const LANES: usize = 8;

/// Two sums over paired values of one plane, Σ f(a, b), in [`LANES`] interleaved f64 partial
/// sums each, added in a fixed order. (A sum over one operand passes it as both.)
fn lane_sums<T: Elem>(a: &[T], b: &[T], f: impl Fn(T, T) -> [f64; 2]) -> [f64; 2] {
    let mut lanes = [[0.0f64; LANES]; 2];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (i, (&a, &b)) in ac.remainder().iter().zip(bc.remainder()).enumerate() {
        let [s, t] = f(a, b);
        lanes[0][i] += s;
        lanes[1][i] += t;
    }
    for (a, b) in ac.zip(bc) {
        for l in 0..LANES {
            let [s, t] = f(a[l], b[l]);
            lanes[0][l] += s;
            lanes[1][l] += t;
        }
    }
    lanes.map(|sums| sums.iter().sum())
}

impl CpuOp for Stats {
    const NAME: &'static str = "pipeline-batchnorm-stats";
    fn at(&self, dims: &[&[usize]]) -> candle_core::Result<(impl CpuKernel, Shape)> {
        self.0.check_input(dims[0])?;
        Ok((self, Shape::from((2, self.0.c))))
    }
}
custom_op!(CustomOp1 for Stats {});

struct Normalise {
    planes: Planes,
    batch: bool,
    relu: bool,
}

impl CpuKernel for Normalise {
    fn run<T: Elem>(&self, operands: &[&[T]]) -> Vec<T> {
        let (&[x, stats, affine], p) = (operands, self.planes) else { unreachable!() };
        let params: Vec<T> = stats.iter().chain(affine).copied().collect();
        let channels: Vec<Channel> = (0..p.c).map(|c| Channel::of(&params, p.c, c)).collect();
        let fill = |plane: usize, out: &mut [MaybeUninit<T>]| {
            let ch = channels[plane % p.c];
            for (o, &v) in out.iter_mut().zip(p.plane(x, plane / p.c, plane % p.c)) {
                o.write(ch.finish(v, self.relu));
            }
        };
        // SAFETY: each plane of the output is written from the same plane of x.
        unsafe { par_uninit(x.len(), p.hw, fill) }
    }
}

impl CpuOp for Normalise {
    const NAME: &'static str = "pipeline-batchnorm";
    fn at(&self, dims: &[&[usize]]) -> candle_core::Result<(impl CpuKernel, Shape)> {
        let p = self.planes;
        p.check_input(dims[0])?;
        p.check_params(dims[1], 2)?;
        p.check_params(dims[2], 2)?;
        Ok((self, Shape::from(dims[0])))
    }
}

custom_op!(CustomOp3 for Normalise {
    fn bwd(
        &self,
        x: &Tensor,
        stats: &Tensor,
        affine: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (planes, relu) = (self.planes, self.relu);
        let grad = grad.contiguous()?;
        let params = Tensor::cat(&[stats, &affine.detach()], 0)?;
        // (∂γ, ∂β): for γ and β when they train, and for ∂x through batch statistics; an
        // attack on a network in evaluation mode needs neither.
        let sums = match affine.track_op() || (self.batch && x.track_op()) {
            true => x.apply_op3_no_bwd(&grad, &params, &GradSums { planes, relu })?,
            false => Tensor::zeros((2, planes.c), x.dtype(), x.device())?,
        };
        let dx = match x.track_op() {
            true => {
                let params = Tensor::cat(&[&params, &sums], 0)?;
                let op = InputGrad { planes, batch: self.batch, relu };
                Some(x.apply_op3_no_bwd(&grad, &params, &op)?)
            }
            false => None,
        };
        Ok((dx, None, affine.track_op().then_some(sums)))
    }
});

/// (∂γ, ∂β) [2, C] from operands (x, g, [μ; σ²; γ; β]).
struct GradSums {
    planes: Planes,
    relu: bool,
}

impl CpuKernel for GradSums {
    fn run<T: Elem>(&self, operands: &[&[T]]) -> Vec<T> {
        let (&[x, g, params], p) = (operands, self.planes) else { unreachable!() };
        let sums: Vec<(f64, f64)> = (0..p.c)
            .into_par_iter()
            .map(|c| {
                let ch = Channel::of(params, p.c, c);
                // The gradient reaching γ and β: g where the ReLU passed it, else 0.
                let (shift, scale, beta) = ch.affine::<T>();
                // Products in the element type, sums in f64.
                let sums = |x: &[T], g: &[T]| match self.relu {
                    true => lane_sums(x, g, |v, d| {
                        let centred = v + shift;
                        let d = masked(d, centred * scale + beta > T::default());
                        [(d * centred).to_f64(), d.to_f64()]
                    }),
                    false => lane_sums(x, g, |v, d| [(d * (v + shift)).to_f64(), d.to_f64()]),
                };
                let (mut dgamma, mut dbeta) = (0.0, 0.0);
                for n in 0..p.n {
                    let [dg, db] = sums(p.plane(x, n, c), p.plane(g, n, c));
                    dgamma += dg;
                    dbeta += db;
                }
                (dgamma * ch.inv_std, dbeta)
            })
            .collect();
        let dgamma = sums.iter().map(|s| T::from_f64(s.0));
        dgamma.chain(sums.iter().map(|s| T::from_f64(s.1))).collect()
    }
}

impl CpuOp for GradSums {
    const NAME: &'static str = "pipeline-batchnorm-grad-sums";
    fn at(&self, dims: &[&[usize]]) -> candle_core::Result<(impl CpuKernel, Shape)> {
        let p = self.planes;
        p.check_input(dims[0])?;
        p.check_input(dims[1])?;
        p.check_params(dims[2], 4)?;
        Ok((self, Shape::from((2, p.c))))
    }
}
custom_op!(CustomOp3 for GradSums {});

/// ∂x from operands (x, g, [μ; σ²; γ; β; ∂γ; ∂β]).
struct InputGrad {
    planes: Planes,
    batch: bool,
    relu: bool,
}

impl CpuKernel for InputGrad {
    fn run<T: Elem>(&self, operands: &[&[T]]) -> Vec<T> {
        let (&[x, g, params], p) = (operands, self.planes) else { unreachable!() };
        // ∂x = a·g + b·(x − μ) + d, with g zero where the ReLU stopped it.
        let m = p.count() as f64;
        let coefficients: Vec<(Channel, T, T, T)> = (0..p.c)
            .map(|c| {
                let ch = Channel::of(params, p.c, c);
                let row = |r: usize| params[r * p.c + c].to_f64();
                let (dgamma, dbeta) = (row(4), row(5));
                let a = ch.gamma * ch.inv_std;
                let (b, d) = match self.batch {
                    true => (-a * ch.inv_std * dgamma / m, -a * dbeta / m),
                    false => (0.0, 0.0),
                };
                (ch, T::from_f64(a), T::from_f64(b), T::from_f64(d))
            })
            .collect();
        let fill = |plane: usize, out: &mut [MaybeUninit<T>]| {
            let (ch, a, b, d) = coefficients[plane % p.c];
            let (x, g) = (&x[plane * p.hw..][..p.hw], &g[plane * p.hw..][..p.hw]);
            let centre = T::from_f64(-ch.mean);
            for ((o, &v), &gv) in out.iter_mut().zip(x).zip(g) {
                let g = masked(gv, passes(ch.output(v), self.relu));
                o.write(a * g + b * (v + centre) + d);
            }
        };
        // SAFETY: each plane of ∂x is written from the same planes of x and g.
        unsafe { par_uninit(x.len(), p.hw, fill) }
    }
}

impl CpuOp for InputGrad {
    const NAME: &'static str = "pipeline-batchnorm-input-grad";
    fn at(&self, dims: &[&[usize]]) -> candle_core::Result<(impl CpuKernel, Shape)> {
        let p = self.planes;
        p.check_input(dims[0])?;
        p.check_input(dims[1])?;
        p.check_params(dims[2], 6)?;
        Ok((self, Shape::from(dims[0])))
    }
}
custom_op!(CustomOp3 for InputGrad {});

/// The CUDA implementations: [`super::cuda::kernels`]'s, on the same operands.
#[cfg(feature = "cuda")]
mod cuda {
    use candle_core::cuda_backend::CudaDevice;
    use cudarc::driver::{CudaSlice, CudaView};

    use super::super::cuda::{kernels, CudaOp};
    use super::{GradSums, InputGrad, Normalise, Planes, Stats};

    type Out = candle_core::Result<CudaSlice<f32>>;

    fn planes(p: Planes) -> kernels::Planes {
        kernels::Planes { c: p.c, hw: p.hw, m: p.count() }
    }

    impl CudaOp for Stats {
        fn cuda(&self, _: &[&[usize]], x: &[CudaView<'_, f32>], device: &CudaDevice) -> Out {
            kernels::stats(device, &x[0], planes(self.0))
        }
    }

    impl CudaOp for Normalise {
        fn cuda(&self, _: &[&[usize]], ops: &[CudaView<'_, f32>], device: &CudaDevice) -> Out {
            // The kernel reads (μ, σ², γ, β) as one [4, C] operand.
            let params = kernels::concat(device, &[&ops[1], &ops[2]])?;
            kernels::normalise(device, &ops[0], &params.slice(..), planes(self.planes), self.relu)
        }
    }

    impl CudaOp for GradSums {
        fn cuda(&self, _: &[&[usize]], ops: &[CudaView<'_, f32>], device: &CudaDevice) -> Out {
            kernels::grad_sums(device, &ops[0], &ops[1], &ops[2], planes(self.planes), self.relu)
        }
    }

    impl CudaOp for InputGrad {
        fn cuda(&self, _: &[&[usize]], ops: &[CudaView<'_, f32>], device: &CudaDevice) -> Out {
            let p = planes(self.planes);
            kernels::input_grad(device, &ops[0], &ops[1], &ops[2], p, self.batch, self.relu)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::rng;
    use candle_core::{DType, Device, Var};

    /// (n, c, h, w): batch 1, odd sizes, a 1×1 plane.
    const SHAPES: [(usize, usize, usize, usize); 4] =
        [(2, 3, 5, 4), (1, 2, 3, 3), (5, 4, 1, 1), (3, 1, 7, 5)];

    fn tensor(dims: &[usize], seed: u64, scale: f64) -> Tensor {
        let count = dims.iter().product();
        let v = rng::normal(&mut rng::rng(seed), count, scale);
        Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
    }

    fn flat(t: &Tensor) -> Vec<f64> {
        t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap()
    }

    /// y by the formula, in loops: batch statistics (biased variance) or the given running ones.
    fn formula(x: &[f64], dims: (usize, usize, usize, usize), p: &[f64], batch: bool) -> Vec<f64> {
        let (n, c, h, w) = dims;
        let hw = h * w;
        let mut y = vec![0.0; x.len()];
        for ch in 0..c {
            let idx = || (0..n).flat_map(move |i| (0..hw).map(move |j| (i * c + ch) * hw + j));
            let m = (n * hw) as f64;
            let (mean, var) = match batch {
                true => {
                    let mean = idx().map(|i| x[i]).sum::<f64>() / m;
                    (mean, idx().map(|i| (x[i] - mean).powi(2)).sum::<f64>() / m)
                }
                false => (p[ch], p[c + ch]),
            };
            for i in idx() {
                y[i] = p[2 * c + ch] * (x[i] - mean) / (var + BN_EPS).sqrt() + p[3 * c + ch];
            }
        }
        y
    }

    /// The op under test, with running statistics `running` [2, C] or the batch's own.
    fn layer(x: &Tensor, affine: &Tensor, running: &Tensor, batch: bool, relu: bool) -> Tensor {
        let stats = if batch { channel_stats(x).unwrap() } else { running.clone() };
        normalise(x, &stats, affine, batch, relu).unwrap()
    }

    fn params(c: usize, seed: u64) -> (Tensor, Tensor) {
        let running = Tensor::cat(
            &[tensor(&[1, c], seed, 0.5), tensor(&[1, c], seed + 1, 1.0).abs().unwrap()],
            0,
        )
        .unwrap();
        (tensor(&[2, c], seed + 2, 1.0), running)
    }

    /// The one-pass statistics against the two-pass formula in f64, on f32 values whose mean is
    /// 10⁶ times their spread (where Σx²/M − μ² computed without a shift would cancel).
    #[test]
    fn batch_statistics_hold_where_the_mean_dwarfs_the_spread() {
        let dims = [3, 2, 5, 7];
        let x = (tensor(&dims, 7, 1.0) + 1e6).unwrap().to_dtype(DType::F32).unwrap();
        let stats = flat(&channel_stats(&x).unwrap());
        let (v, c, hw) = (flat(&x), dims[1], dims[2] * dims[3]);
        for ch in 0..c {
            let values: Vec<f64> =
                (0..dims[0]).flat_map(|n| v[(n * c + ch) * hw..][..hw].to_vec()).collect();
            let m = values.len() as f64;
            let mean = values.iter().sum::<f64>() / m;
            let var = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / m;
            assert!((stats[ch] - mean).abs() < 1e-7 * mean, "mean {} vs {mean}", stats[ch]);
            assert!((stats[c + ch] - var).abs() < 1e-5 * var, "var {} vs {var}", stats[c + ch]);
        }
    }

    #[test]
    fn forward_matches_the_formula_in_both_regimes() {
        for (i, &dims) in SHAPES.iter().enumerate() {
            let (n, c, h, w) = dims;
            let x = (tensor(&[n, c, h, w], i as u64, 2.0) + 0.7).unwrap();
            let (affine, running) = params(c, 10 + i as u64);
            for batch in [true, false] {
                if batch && n * h * w < 2 {
                    continue;
                }
                let p: Vec<f64> = flat(&running).into_iter().chain(flat(&affine)).collect();
                let expected = formula(&flat(&x), dims, &p, batch);
                for relu in [false, true] {
                    let y = flat(&layer(&x, &affine, &running, batch, relu));
                    for (a, e) in y.iter().zip(&expected) {
                        let e = if relu { e.max(0.0) } else { *e };
                        assert!(
                            (a - e).abs() < 1e-12 * (1.0 + e.abs()),
                            "{dims:?} {batch}: {a} vs {e}"
                        );
                    }
                    let x32 = x.to_dtype(DType::F32).unwrap();
                    let (a32, r32) = (
                        affine.to_dtype(DType::F32).unwrap(),
                        running.to_dtype(DType::F32).unwrap(),
                    );
                    let y32 = flat(&layer(&x32, &a32, &r32, batch, relu));
                    for (a, e) in y32.iter().zip(&y) {
                        assert!((a - e).abs() < 1e-5 * (1.0 + e.abs()), "f32 {dims:?}: {a} vs {e}");
                    }
                }
            }
        }
    }

    /// ∂x, ∂γ, ∂β of L = Σ y ⊙ r against central finite differences in f64, with the batch
    /// statistics recomputed from the perturbed input (their gradient path included).
    #[test]
    fn gradients_match_finite_differences_in_both_regimes() {
        for (i, &(n, c, h, w)) in SHAPES.iter().enumerate() {
            let x = tensor(&[n, c, h, w], 20 + i as u64, 1.5);
            let (affine, running) = params(c, 30 + i as u64);
            let r = tensor(&[n, c, h, w], 40 + i as u64, 1.0);
            for batch in [true, false] {
                if batch && n * h * w < 2 {
                    continue;
                }
                for relu in [false, true] {
                    let loss = |x: &Tensor, a: &Tensor| {
                        let y = layer(x, a, &running, batch, relu);
                        (y * &r).unwrap().sum_all().unwrap()
                    };
                    let (xv, av) =
                        (Var::from_tensor(&x).unwrap(), Var::from_tensor(&affine).unwrap());
                    let grads = loss(xv.as_tensor(), av.as_tensor()).backward().unwrap();
                    let dx = flat(grads.get(xv.as_tensor()).unwrap());
                    let da = flat(grads.get(av.as_tensor()).unwrap());
                    // With γ and β untracked (an attack on a network in evaluation mode, which
                    // skips the (∂γ, ∂β) sums), the same ∂x.
                    let alone = loss(xv.as_tensor(), &affine).backward().unwrap();
                    assert_eq!(flat(alone.get(xv.as_tensor()).unwrap()), dx, "∂x alone");
                    let eps = 1e-6;
                    for (grad, of, is_x) in [(&dx, &x, true), (&da, &affine, false)] {
                        let base = flat(of);
                        for k in 0..base.len() {
                            let at = |d: f64| {
                                let mut v = base.clone();
                                v[k] += d;
                                let t =
                                    Tensor::from_vec(v, of.shape().clone(), &Device::Cpu).unwrap();
                                let l = if is_x { loss(&t, &affine) } else { loss(&x, &t) };
                                l.to_scalar::<f64>().unwrap()
                            };
                            let fd = (at(eps) - at(-eps)) / (2.0 * eps);
                            assert!(
                                (grad[k] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
                                "{:?} batch {batch} relu {relu} {}[{k}]: {} vs {fd}",
                                SHAPES[i],
                                if is_x { "∂x" } else { "∂(γ, β)" },
                                grad[k]
                            );
                        }
                    }
                }
            }
        }
    }

    /// PyTorch's ReLU passes no gradient where the output is exactly 0 (here γ = β = 0, as a
    /// zero-initialised residual branch starts): nothing reaches x, γ or β.
    #[test]
    fn the_fused_relu_stops_the_gradient_at_zero() {
        let x = Var::from_tensor(&tensor(&[2, 3, 4, 4], 1, 1.0)).unwrap();
        let affine =
            Var::from_tensor(&Tensor::zeros((2, 3), DType::F64, &Device::Cpu).unwrap()).unwrap();
        let stats = channel_stats(x.as_tensor()).unwrap();
        let y = normalise(x.as_tensor(), &stats, affine.as_tensor(), true, true).unwrap();
        let grads = y.sum_all().unwrap().backward().unwrap();
        assert!(flat(grads.get(x.as_tensor()).unwrap()).iter().all(|&g| g == 0.0));
        assert!(flat(grads.get(affine.as_tensor()).unwrap()).iter().all(|&g| g == 0.0));
    }

    /// The same bytes on 1 thread and on 2.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let x = tensor(&[8, 6, 9, 9], 3, 1.0).to_dtype(DType::F32).unwrap();
        let (affine, _) = params(6, 4);
        let affine = affine.to_dtype(DType::F32).unwrap();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let (xv, av) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&affine).unwrap());
                let y = layer(xv.as_tensor(), av.as_tensor(), &affine, true, true);
                let grads = (&y * &x).unwrap().sum_all().unwrap().backward().unwrap();
                let g = |v: &Var| flat(grads.get(v.as_tensor()).unwrap());
                (flat(&y), g(&xv), g(&av))
            })
        };
        assert_eq!(run(1), run(2));
    }
}
