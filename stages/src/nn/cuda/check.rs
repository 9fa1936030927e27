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
//! In TF32 or bf16 (the precision in force, [`super::super::precision`]) the project's
//! convolutions round their operands (in bf16 their results too) and candle's stay fp32:
//! [`tolerance`] says what each case is held to. [`bf16_rounding`] checks the conversion to
//! bfloat16 itself, bit for bit.

use std::collections::HashMap;

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

/// The tolerance of a convolution's tensors in bf16 against candle's fp32. Bfloat16 keeps 8
/// significant bits: operands and result each move by up to 2⁻⁸ relative, which leaves about
/// 3e-3 on ResNet-50's convolutions (the test below); ten times that.
pub const BF16_TOLERANCE: f64 = 3e-2;

/// What `case`'s tensors are held to in `precision`: TF32 and bf16 change the convolutions only.
pub fn tolerance(case: &OpCase, precision: Precision) -> f64 {
    match (case, precision) {
        (OpCase::Conv { .. }, Precision::Tf32) => TF32_TOLERANCE,
        (OpCase::Conv { .. }, Precision::Bf16) => BF16_TOLERANCE,
        _ => FP32_TOLERANCE,
    }
}

/// What the conversion to bfloat16 is checked on: ties to either side, the smallest and largest
/// normals, subnormals, both zeros and infinities, a NaN, a value past bfloat16's largest, and
/// seeded N(0, 1) draws scaled from 1e-38 to 1e38.
pub fn bf16_probes() -> Vec<f32> {
    let mut v = vec![
        1.0 + 2f32.powi(-8),       // a tie: to 1 (even)
        1.0 + 3.0 * 2f32.powi(-8), // a tie: up, to 1 + 2⁻⁶ (even)
        -(1.0 + 2f32.powi(-8)),
        1.0 + 2f32.powi(-8) + 2f32.powi(-20), // past the tie: up
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::from_bits(1),
        f32::from_bits(0x0000_8000), // a subnormal tie
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::from_bits(0x7f80_0001), // a signalling NaN: quieted
        f32::from_bits(0xffc0_0001), // a negative NaN with a payload below bfloat16's bits
        f32::from_bits(0x7fa0_0000), // a signalling NaN with a payload bfloat16 keeps
        3.4e38,                      // rounds past bfloat16's largest, to infinity
    ];
    let draws = rng::normal(&mut rng::rng(3), 4096, 1.0);
    for (i, d) in draws.into_iter().enumerate() {
        v.push((d * 10f64.powi(i as i32 % 77 - 38)) as f32);
    }
    v
}

/// A value whose conversion to bfloat16 and back differs: the value, and the bits of ours and of
/// candle's.
#[cfg(feature = "cuda")]
pub type Bf16Difference = (f32, u32, u32);

/// The project's conversion of [`bf16_probes`] to bfloat16 and back on `device` against candle's
/// on the CPU (the half crate's, to nearest even): how many values, and those that differ.
#[cfg(feature = "cuda")]
pub fn bf16_rounding(device: &Device) -> Result<(usize, Vec<Bf16Difference>)> {
    use super::kernels::convert;
    let Device::Cuda(cuda) = device else { anyhow::bail!("the bf16 conversion is CUDA's") };
    let probes = bf16_probes();
    let x = cuda.clone_htod(&probes)?;
    let bits = convert::<f32, u16>(cuda, "to_bf16", &x.as_view())?;
    let ours = cuda.clone_dtoh(&convert::<u16, f32>(cuda, "from_bf16", &bits.as_view())?)?;
    let theirs = Tensor::new(probes.as_slice(), &Device::Cpu)?
        .to_dtype(DType::BF16)?
        .to_dtype(DType::F32)?
        .to_vec1::<f32>()?;
    let differ = probes
        .iter()
        .zip(ours.iter().zip(&theirs))
        .filter(|(_, (a, b))| a.to_bits() != b.to_bits())
        .map(|(v, (a, b))| (*v, a.to_bits(), b.to_bits()))
        .collect();
    Ok((probes.len(), differ))
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

/// One case's operands, each drawn (on the host, the check's slowest part) once for both sides:
/// operand `s` is N(0, 1) from seed `seed + s`. Each side makes its own variables of them.
struct Operands<'a> {
    seed: u64,
    device: &'a Device,
    drawn: HashMap<u64, Tensor>,
}

impl Operands<'_> {
    fn get(&mut self, dims: &[usize], s: u64) -> Result<Tensor> {
        if let Some(t) = self.drawn.get(&s) {
            anyhow::ensure!(
                t.dims() == dims,
                "operand {s} drawn as {:?}, asked as {dims:?}",
                t.dims()
            );
            return Ok(t.clone());
        }
        let t = draw(dims, self.seed + s, self.device)?;
        self.drawn.insert(s, t.clone());
        Ok(t)
    }
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
fn run(case: OpCase, operands: &mut Operands) -> Result<Vec<(&'static str, Vec<f64>)>> {
    // A copy (`Var::from_tensor` of a tensor that is no variable copies it): BatchNorm updates
    // its running statistics in place, and each side has its own.
    let mut var =
        |dims: &[usize], s: u64| -> Result<Var> { Ok(Var::from_tensor(&operands.get(dims, s)?)?) };
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
                running_var: Var::from_tensor(&var(&[c], 5)?.as_tensor().abs()?)?,
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
    let r = operands.get(y.dims(), 9)?;
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
    let mut operands = Operands { seed, device, drawn: HashMap::new() };
    let ours = run(case, &mut operands)?;
    let theirs = with_candle_ops(|| run(case, &mut operands))?;
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

    /// `t` with each value rounded by `f`.
    fn rounded(t: &Tensor, f: impl Fn(f32) -> f32) -> Tensor {
        let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        Tensor::from_vec(v.into_iter().map(f).collect(), t.dims(), &Device::Cpu).unwrap()
    }

    /// fp32 rounded to bfloat16 (7 mantissa bits, to nearest even) by candle's conversion.
    fn bf16(t: &Tensor) -> Tensor {
        t.to_dtype(DType::BF16).unwrap().to_dtype(DType::F32).unwrap()
    }

    /// TF32's and bf16's tolerances against what each does: convolutions of operands rounded to
    /// TF32 (in bf16 to bfloat16, and the result too; on the CPU, summed in f32) against the same
    /// operands unrounded, on ResNet-50's convolution shapes, land five times under them, and
    /// above fp32's (so the fp32 check fails a convolution that took TF32 or bf16 kernels).
    #[test]
    fn rounded_operands_stay_within_their_precisions_tolerance_and_beyond_the_fp32_one() {
        assert_eq!(tf32(1.0 + 2f32.powi(-11)), 1.0 + 2f32.powi(-10));
        assert_eq!(tf32(1.0 + 2f32.powi(-12)), 1.0);
        let convs = resnet50_cases(2, 32).into_iter().filter(|c| matches!(c, OpCase::Conv { .. }));
        let mut worst = [0f64; 2];
        for (i, case) in convs.enumerate().step_by(4) {
            let OpCase::Conv { x, w, stride, padding } = case else { unreachable!() };
            let (x, w) = (
                draw(&x, 11 + i as u64, &Device::Cpu).unwrap(),
                draw(&w, 12, &Device::Cpu).unwrap(),
            );
            let exact = values(&conv::conv2d(&x, &w, stride, padding).unwrap()).unwrap();
            let in_tf32 = conv::conv2d(&rounded(&x, tf32), &rounded(&w, tf32), stride, padding);
            let in_bf16 = bf16(&conv::conv2d(&bf16(&x), &bf16(&w), stride, padding).unwrap());
            for (k, (y, precision)) in
                [(in_tf32.unwrap(), Precision::Tf32), (in_bf16, Precision::Bf16)]
                    .into_iter()
                    .enumerate()
            {
                let r = relative(&values(&y).unwrap(), &exact);
                assert!(
                    r <= tolerance(&case, precision) / 5.0 && r > 2.0 * FP32_TOLERANCE,
                    "{case} {precision}: {r:e}"
                );
                worst[k] = worst[k].max(r);
            }
        }
        eprintln!("largest relative error: tf32 {:.1e}, bf16 {:.1e}", worst[0], worst[1]);
        let bn = OpCase::BatchNorm { x: [2, 8, 4, 4], batch: true, relu: true };
        for precision in [Precision::Tf32, Precision::Bf16] {
            assert_eq!(tolerance(&bn, precision), FP32_TOLERANCE);
        }
    }

    /// The probes of the bf16 conversion hold what they are there for: candle's conversion on
    /// them rounds ties to even, overflows to infinity and keeps a NaN (what the CUDA kernel is
    /// compared against, bit for bit, by `gpu-check`).
    #[test]
    fn the_bf16_probes_hold_ties_overflow_and_a_nan() {
        let probes = bf16_probes();
        let t = bf16(&Tensor::new(probes.as_slice(), &Device::Cpu).unwrap());
        let r: Vec<f32> = t.to_vec1().unwrap();
        assert_eq!(r[0], 1.0);
        assert_eq!(r[1], 1.0 + 2f32.powi(-6));
        assert_eq!(r[2], -1.0);
        assert_eq!(r[3], 1.0 + 2f32.powi(-7));
        assert_eq!(r[5], f32::INFINITY);
        assert!(r[12..16].iter().all(|v| v.is_nan()));
        assert_eq!(r[16], f32::INFINITY);
        assert!(probes.len() > 4096 && probes.iter().any(|v| v.abs() > 1e30 && v.is_finite()));
    }
}
