//! `pipeline gpu-check`'s per-op check: every op the project implements, on every shape
//! ResNet-50 at 224×224 gives it at a batch size, against candle's own op on the same device
//! and the same operands; the output and each gradient. On the CPU the same comparison is the
//! CPU kernels' (tested here on small shapes); on CUDA it is what makes `--cuda-kernels project`
//! trustworthy.
//!
//! Each result is ‖ours − candle's‖₂ / ‖candle's‖₂ over a tensor, for operands drawn from a seeded
//! N(0, 1) and the loss Σ y·r with r drawn the same way. Both sides compute in f32; they differ
//! in summation order (cuDNN's algorithms against candle's im2col GEMM; the kernels' fixed
//! per-channel split against candle's reductions), which leaves about 1e-6 per op:
//! [`FP32_TOLERANCE`] is two orders above that and far below what a wrong index gives (about 1).
//! In TF32 (the precision in force, [`super::super::precision`]) the project's convolutions
//! round their operands to TF32 and candle's stay fp32: [`tolerance`] says what each case is held to.

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};

use super::super::cpu::with_candle_ops;
use super::super::layers::{BatchNorm, BnMode};
use super::super::layout::{block_layout, EXPANSION};
use super::super::options::Precision;
use super::super::{conv, residual, rng};

/// The tolerance of each compared tensor in fp32 (no TF32 on either side).
pub const FP32_TOLERANCE: f64 = 1e-4;

/// The tolerance of a convolution's tensors in TF32 against candle's fp32. TF32 keeps 10 of
/// fp32's 23 mantissa bits: each operand moves by up to 2⁻¹¹ relative, which leaves about 3e-4
/// on ResNet-50's convolutions with operands rounded to nearest (the test below), up to twice
/// that truncated; ten times that and more. (And above [`FP32_TOLERANCE`]: an fp32 check of a
/// convolution that took TF32 kernels fails.)
pub const TF32_TOLERANCE: f64 = 5e-3;

/// What `case`'s tensors are held to in `precision`: TF32 changes the convolutions only.
pub fn tolerance(case: &OpCase, precision: Precision) -> f64 {
    match (case, precision) {
        (OpCase::Conv { .. }, Precision::Tf32) => TF32_TOLERANCE,
        _ => FP32_TOLERANCE,
    }
}

/// One op at one shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCase {
    /// x [N, C, H, W] convolved with w [K, C, KH, KW].
    Conv { x: [usize; 4], w: [usize; 4], stride: usize, padding: usize },
    /// BatchNorm in training mode (batch statistics, running ones updated) or evaluation mode,
    /// then ReLU if `relu`.
    BatchNorm { x: [usize; 4], batch: bool, relu: bool },
    /// ReLU(a + b), the blocks' output.
    AddRelu { x: [usize; 4] },
}

impl std::fmt::Display for OpCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpCase::Conv { x, w, stride, padding } => write!(
                f,
                "conv {}×{} stride {stride} padding {padding} {x:?} → {}",
                w[2], w[3], w[0]
            ),
            OpCase::BatchNorm { x, batch, relu } => write!(
                f,
                "batchnorm{} ({}) {x:?}",
                if *relu { "+relu" } else { "" },
                if *batch { "batch statistics" } else { "running statistics" }
            ),
            OpCase::AddRelu { x } => write!(f, "add+relu {x:?}"),
        }
    }
}

/// Every distinct op and shape of ResNet-50 (torchvision v1.5, [`block_layout`]) on `batch`
/// images of `side`×`side`: the stem's 7×7 stride-2 convolution and its BatchNorm + ReLU, each
/// block's three convolutions, their BatchNorms (with ReLU after the first two), the
/// downsample, and the add + ReLU; BatchNorm in both regimes.
pub fn resnet50_cases(batch: usize, side: usize) -> Vec<OpCase> {
    let mut cases = Vec::new();
    let mut push = |case: OpCase| {
        if !cases.contains(&case) {
            cases.push(case);
        }
    };
    let norm = |push: &mut dyn FnMut(OpCase), x: [usize; 4], relu: bool| {
        for batch in [true, false] {
            push(OpCase::BatchNorm { x, batch, relu });
        }
    };
    let conv_out =
        |h: usize, k: usize, stride: usize, padding: usize| (h + 2 * padding - k) / stride + 1;
    let stem = conv_out(side, 7, 2, 3);
    push(OpCase::Conv { x: [batch, 3, side, side], w: [64, 3, 7, 7], stride: 2, padding: 3 });
    norm(&mut push, [batch, 64, stem, stem], true);
    let mut h = conv_out(stem, 3, 2, 1); // the stem's max-pool
    for b in block_layout(64) {
        let (c, p, out) = (b.in_channels, b.planes, b.planes * EXPANSION);
        let oh = conv_out(h, 3, b.stride, 1);
        push(OpCase::Conv { x: [batch, c, h, h], w: [p, c, 1, 1], stride: 1, padding: 0 });
        norm(&mut push, [batch, p, h, h], true);
        push(OpCase::Conv { x: [batch, p, h, h], w: [p, p, 3, 3], stride: b.stride, padding: 1 });
        norm(&mut push, [batch, p, oh, oh], true);
        push(OpCase::Conv { x: [batch, p, oh, oh], w: [out, p, 1, 1], stride: 1, padding: 0 });
        norm(&mut push, [batch, out, oh, oh], false);
        if b.has_downsample() {
            push(OpCase::Conv {
                x: [batch, c, h, h],
                w: [out, c, 1, 1],
                stride: b.stride,
                padding: 0,
            });
        }
        push(OpCase::AddRelu { x: [batch, out, oh, oh] });
        h = oh;
    }
    cases
}

/// One compared tensor: what it is, and ‖ours − candle's‖ / ‖candle's‖.
#[derive(Debug, Clone)]
pub struct Compared {
    pub what: &'static str,
    pub relative: f64,
}

fn draw(dims: &[usize], seed: u64, device: &Device) -> Result<Tensor> {
    let n = dims.iter().product();
    let v = rng::normal(&mut rng::rng(seed), n, 1.0);
    Ok(Tensor::from_vec(v, dims, &Device::Cpu)?.to_dtype(DType::F32)?.to_device(device)?)
}

fn values(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?)
}

fn relative(ours: &[f64], theirs: &[f64]) -> f64 {
    let diff: f64 = ours.iter().zip(theirs).map(|(a, b)| (a - b) * (a - b)).sum();
    let norm: f64 = theirs.iter().map(|b| b * b).sum();
    match norm {
        0.0 if diff == 0.0 => 0.0,
        0.0 => f64::INFINITY,
        _ => (diff / norm).sqrt(),
    }
}

/// The tensors one side computes for `case`, by name: the output, then each gradient (and the
/// updated running statistics of BatchNorm in training mode).
fn run(case: OpCase, device: &Device, seed: u64) -> Result<Vec<(&'static str, Vec<f64>)>> {
    let var = |dims: &[usize], s: u64| -> Result<Var> {
        Ok(Var::from_tensor(&draw(dims, seed + s, device)?)?)
    };
    let mut out = Vec::new();
    let (y, inputs): (Tensor, Vec<(&'static str, Var)>) = match case {
        OpCase::Conv { x, w, stride, padding } => {
            let (x, w) = (var(&x, 1)?, var(&w, 2)?);
            let y = conv::conv2d(x.as_tensor(), w.as_tensor(), stride, padding)?;
            (y, vec![("∂x", x), ("∂w", w)])
        }
        OpCase::BatchNorm { x, batch, relu } => {
            let c = x[1];
            let (xv, weight, bias) = (var(&x, 1)?, var(&[c], 2)?, var(&[c], 3)?);
            let layer = BatchNorm {
                weight: weight.as_tensor().clone(),
                bias: bias.as_tensor().clone(),
                running_mean: var(&[c], 4)?,
                running_var: Var::from_tensor(&draw(&[c], seed + 5, device)?.abs()?)?,
            };
            let mode = if batch { BnMode::Batch } else { BnMode::Running };
            let y = layer.forward(xv.as_tensor(), mode, true, relu)?;
            out.push(("running mean", values(layer.running_mean.as_tensor())?));
            out.push(("running variance", values(layer.running_var.as_tensor())?));
            (y, vec![("∂x", xv), ("∂γ", weight), ("∂β", bias)])
        }
        OpCase::AddRelu { x } => {
            let (a, b) = (var(&x, 1)?, var(&x, 2)?);
            let y = residual::add_relu(a.as_tensor(), b.as_tensor())?;
            (y, vec![("∂a", a), ("∂b", b)])
        }
    };
    let r = draw(y.dims(), seed + 9, device)?;
    let grads = (&y * &r)?.sum_all()?.backward()?;
    out.insert(0, ("y", values(&y)?));
    for (what, v) in inputs {
        let g = grads.get(v.as_tensor()).ok_or_else(|| anyhow::anyhow!("{case}: no {what}"))?;
        out.push((what, values(g)?));
    }
    Ok(out)
}

/// `case` on `device` in the project's ops against candle's, tensor by tensor. The caller chooses
/// that the project's ops run on the device (on CUDA, `--cuda-kernels project`).
pub fn compare(case: OpCase, device: &Device, seed: u64) -> Result<Vec<Compared>> {
    let ours = run(case, device, seed)?;
    let theirs = with_candle_ops(|| run(case, device, seed))?;
    Ok(ours
        .iter()
        .zip(&theirs)
        .map(|((what, a), (_, b))| Compared { what, relative: relative(a, b) })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resnet50_has_its_distinct_op_shapes() {
        let cases = resnet50_cases(2, 224);
        let convs: Vec<_> = cases.iter().filter(|c| matches!(c, OpCase::Conv { .. })).collect();
        // The stem; per layer the first block's 1×1 in and its downsample, the other blocks'
        // 1×1 in, the 3×3 (the first block's differs where it strides: layers 2–4) and the 1×1
        // out, but layer1's downsample (64 → 256 at 56×56, stride 1) is its 1×1 out's shape:
        // 1 + 4 + 3·6.
        assert_eq!(
            cases[0],
            OpCase::Conv { x: [2, 3, 224, 224], w: [64, 3, 7, 7], stride: 2, padding: 3 }
        );
        assert!(cases.contains(&OpCase::AddRelu { x: [2, 2048, 7, 7] }));
        assert!(cases.contains(&OpCase::Conv {
            x: [2, 128, 56, 56],
            w: [128, 128, 3, 3],
            stride: 2,
            padding: 1
        }));
        assert!(cases.contains(&OpCase::Conv {
            x: [2, 1024, 14, 14],
            w: [2048, 1024, 1, 1],
            stride: 2,
            padding: 0
        }));
        assert!(cases.contains(&OpCase::BatchNorm {
            x: [2, 64, 112, 112],
            batch: false,
            relu: true
        }));
        let distinct: std::collections::HashSet<_> = cases.iter().collect();
        assert_eq!(distinct.len(), cases.len());
        assert_eq!(convs.len(), 23);
        // BatchNorm: the stem's; layer1's 64-plane one (with ReLU) and its 256-plane one; per
        // later layer the first block's bn1 at the input's side, the planes at the output's side,
        // and the expanded one: 1 + 2 + 3·3 shapes, each in both regimes. add + ReLU: one per layer.
        let count = |f: fn(&OpCase) -> bool| cases.iter().filter(|c| f(c)).count();
        assert_eq!(count(|c| matches!(c, OpCase::BatchNorm { .. })), 24);
        assert_eq!(count(|c| matches!(c, OpCase::AddRelu { .. })), 4);
    }

    /// The check itself, on the CPU: the CPU kernels against candle's CPU ops on small shapes
    /// pass, and a wrong result would not (the same tensors against a perturbed copy).
    #[test]
    fn the_cpu_kernels_pass_the_check_on_small_shapes() {
        for case in resnet50_cases(2, 32).into_iter().step_by(5) {
            for c in compare(case, &Device::Cpu, 7).unwrap() {
                assert!(c.relative <= FP32_TOLERANCE, "{case} {}: {:e}", c.what, c.relative);
            }
        }
        assert!(relative(&[1.0, 2.0], &[1.0, 2.1]) > 1e-2);
        assert_eq!(relative(&[0.0], &[0.0]), 0.0);
        assert!(relative(&[1.0], &[0.0]).is_infinite());
    }

    /// fp32 rounded to TF32 (10 mantissa bits, to nearest), as tensor cores take it.
    fn tf32(v: f32) -> f32 {
        f32::from_bits((v.to_bits() + 0x1000) & !0x1fff)
    }

    /// TF32's tolerance against what TF32 does: convolutions of operands rounded to TF32 (on the
    /// CPU, summed in f32) against the same operands unrounded, on ResNet-50's convolution
    /// shapes, land under it, and above fp32's (so the fp32 check fails a convolution that
    /// took TF32 kernels).
    #[test]
    fn tf32_operands_stay_within_the_tf32_tolerance_and_beyond_the_fp32_one() {
        assert_eq!(tf32(1.0 + 2f32.powi(-11)), 1.0 + 2f32.powi(-10));
        assert_eq!(tf32(1.0 + 2f32.powi(-12)), 1.0);
        let convs = resnet50_cases(2, 32).into_iter().filter(|c| matches!(c, OpCase::Conv { .. }));
        for (i, case) in convs.enumerate().step_by(4) {
            let OpCase::Conv { x, w, stride, padding } = case else { unreachable!() };
            let (x, w) = (
                draw(&x, 11 + i as u64, &Device::Cpu).unwrap(),
                draw(&w, 12, &Device::Cpu).unwrap(),
            );
            let round = |t: &Tensor| {
                let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
                let v: Vec<f32> = v.into_iter().map(tf32).collect();
                Tensor::from_vec(v, t.dims(), &Device::Cpu).unwrap()
            };
            let exact = conv::conv2d(&x, &w, stride, padding).unwrap();
            let rounded = conv::conv2d(&round(&x), &round(&w), stride, padding).unwrap();
            let r = relative(&values(&rounded).unwrap(), &values(&exact).unwrap());
            assert!(
                r <= tolerance(&case, Precision::Tf32) / 10.0 && r > 2.0 * FP32_TOLERANCE,
                "{case}: {r:e}"
            );
        }
        let bn = OpCase::BatchNorm { x: [2, 8, 4, 4], batch: true, relu: true };
        assert_eq!(tolerance(&bn, Precision::Tf32), FP32_TOLERANCE);
    }
}
