//! 2-D convolution (no dilation, one group) on the CPU as im2col + GEMM over tiles of images,
//! forward and both gradients, as a candle custom op; on other devices candle's own `conv2d`.
//!
//! candle's CPU backward of `conv2d` takes the input gradient through `conv_transpose2d`, a
//! direct loop (one dot product per kernel tap, channel, image and pixel), and always computes
//! it, even for an input nothing upstream trains. Here images are taken in tiles of B
//! consecutive images (B·P ≥ [`TILE_PIXELS`] where the batch allows, P = OH·OW output pixels,
//! so that the deep layers' small planes still make wide GEMMs), and with CKK = C·KH·KW and
//! `col` [CKK, B·P] = im2col of the tile's images side by side:
//!
//! - forward: Y [K, B·P] = W [K, CKK] · col, copied into the NCHW output (a single image's
//!   GEMM writes there directly; a 1×1 stride-1 convolution goes image by image, reading xₙ
//!   itself as its matrix);
//! - input gradient (only when `x` is on a path to a trained parameter or input): ∂col =
//!   Wᵀ · ∂Y, then col2im into each image's ∂xₙ;
//! - weight gradient (only when `w` is tracked): ∂W = Σ_tiles ∂Y · colᵀ.
//!
//! The GEMMs are the `gemm` crate's (what candle's CPU matmul runs). Tiles are spread over
//! threads; the weight gradient's sum over tiles runs in [`WEIGHT_GRAD_GROUPS`] fixed groups
//! added in a fixed order, and the tile size depends on the shapes alone, so the results do not
//! depend on the thread count (tested).

use candle_core::{Shape, Tensor};
use rayon::prelude::*;
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use super::cpu::{custom_op, kernels_for, CpuKernel, CpuOp, Elem};

/// Floating-point operations the CPU kernels' GEMMs have done in this process (2 per
/// multiply-add): what `pipeline bench` divides by time.
static FLOPS: AtomicU64 = AtomicU64::new(0);

/// The count behind [`FLOPS`] so far.
pub fn flops() -> u64 {
    FLOPS.load(Ordering::Relaxed)
}

/// `x` [N, C, H, W] convolved with `w` [K, C, KH, KW], zero padding `padding` on every side.
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    stride: usize,
    padding: usize,
) -> candle_core::Result<Tensor> {
    if !kernels_for(x) {
        return x.conv2d(w, padding, stride, 1, 1);
    }
    x.contiguous()?.apply_op2(&w.contiguous()?, Conv { stride, padding })
}

/// The sizes of one convolution.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    k: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    padding: usize,
    oh: usize,
    ow: usize,
}

impl Geometry {
    fn new(x: &[usize], w: &[usize], stride: usize, padding: usize) -> candle_core::Result<Self> {
        let (&[n, c, h, wd], &[k, c2, kh, kw]) = (x, w) else {
            candle_core::bail!("conv2d needs 4-d input and kernel, got {x:?} and {w:?}");
        };
        if c != c2 || h + 2 * padding < kh || wd + 2 * padding < kw || stride == 0 {
            candle_core::bail!(
                "conv2d: input {x:?} and kernel {w:?} (stride {stride}, padding {padding}) do not fit"
            );
        }
        let (oh, ow) = ((h + 2 * padding - kh) / stride + 1, (wd + 2 * padding - kw) / stride + 1);
        Ok(Geometry { n, c, h, w: wd, k, kh, kw, stride, padding, oh, ow })
    }

    /// Fails unless `dims` are those of this convolution's output.
    fn check_output(&self, dims: &[usize]) -> candle_core::Result<()> {
        if dims != [self.n, self.k, self.oh, self.ow] {
            candle_core::bail!("conv2d gradient: {dims:?} is not the output shape of {self:?}");
        }
        Ok(())
    }

    fn pixels(&self) -> usize {
        self.oh * self.ow
    }
    /// Whether colₙ is xₙ itself (a 1×1 convolution at stride 1 without padding).
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.padding == 0
    }
    fn image_len(&self) -> usize {
        self.c * self.h * self.w
    }
    fn output_len(&self) -> usize {
        self.k * self.pixels()
    }
    fn taps(&self) -> usize {
        self.c * self.kh * self.kw
    }
    /// Images per tile: the fewest whose output pixels reach [`TILE_PIXELS`], at most the
    /// batch; one for a 1×1 stride-1 convolution, whose GEMMs read and write the images in
    /// place (a tile would copy both, which costs more than the narrow GEMMs it widens).
    fn tile(&self) -> usize {
        match self.pointwise() {
            true => 1,
            false => TILE_PIXELS.div_ceil(self.pixels()).clamp(1, self.n.max(1)),
        }
    }
    /// The tiles: (first image, images).
    fn tiles(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let b = self.tile();
        (0..self.n).step_by(b).map(move |first| (first, b.min(self.n - first)))
    }
    /// `col` [CKK, B·P] of the `images` consecutive images in `x`: row (c, i, j), column
    /// (b, oh, ow) holds x[b, c, oh·s − p + i, ow·s − p + j], or 0 in the padding. Borrows `x`
    /// where that is already the matrix (one image, 1×1 at stride 1).
    fn columns<'a, T: Elem>(&self, x: &'a [T], images: usize) -> Cow<'a, [T]> {
        if images == 1 && self.pointwise() {
            return Cow::Borrowed(x);
        }
        let width = images * self.pixels();
        let mut col = Vec::with_capacity(self.taps() * width);
        for row in 0..self.taps() {
            let (c, i, j) = (row / (self.kh * self.kw), row / self.kw % self.kh, row % self.kw);
            let (rows, cols) = (self.span(i, self.h, self.oh), self.span(j, self.w, self.ow));
            for b in 0..images {
                let plane = &x[(b * self.c + c) * self.h * self.w..][..self.h * self.w];
                for oh in 0..self.oh {
                    if !rows.contains(&oh) {
                        col.extend(std::iter::repeat_n(T::default(), self.ow));
                        continue;
                    }
                    if cols.is_empty() {
                        col.extend(std::iter::repeat_n(T::default(), self.ow));
                        continue;
                    }
                    let line = &plane[(oh * self.stride + i - self.padding) * self.w..][..self.w];
                    col.extend(std::iter::repeat_n(T::default(), cols.start));
                    let first = cols.start * self.stride + j - self.padding;
                    match self.stride {
                        1 => col.extend_from_slice(&line[first..][..cols.len()]),
                        s => col.extend(line[first..].iter().step_by(s).take(cols.len())),
                    }
                    col.extend(std::iter::repeat_n(T::default(), self.ow - cols.end));
                }
            }
            debug_assert_eq!(col.len(), (row + 1) * width);
        }
        Cow::Owned(col)
    }
    /// The adjoint of [`Geometry::columns`] for one image: row r of its columns is
    /// `col[r·row_len..][..P]`; each entry is added to the pixel of `x` it was read from.
    fn add_columns<T: Elem>(&self, col: &[T], row_len: usize, x: &mut [T]) {
        let p = self.pixels();
        for row in 0..self.taps() {
            let (c, i, j) = (row / (self.kh * self.kw), row / self.kw % self.kh, row % self.kw);
            let (rows, cols) = (self.span(i, self.h, self.oh), self.span(j, self.w, self.ow));
            let plane = &mut x[c * self.h * self.w..][..self.h * self.w];
            let from = &col[row * row_len..][..p];
            if cols.is_empty() {
                continue;
            }
            for oh in rows {
                let line = &mut plane[(oh * self.stride + i - self.padding) * self.w..][..self.w];
                let first = cols.start * self.stride + j - self.padding;
                let values = &from[oh * self.ow + cols.start..oh * self.ow + cols.end];
                let add = |(d, v): (&mut T, &T)| *d += *v;
                match self.stride {
                    1 => line[first..].iter_mut().zip(values).for_each(add),
                    s => line[first..].iter_mut().step_by(s).zip(values).for_each(add),
                }
            }
        }
    }
    /// The output gradient of `images` images from `first` as one [K, B·P] matrix (borrowed
    /// for one image).
    fn gathered<'a, T: Elem>(&self, dy: &'a [T], first: usize, images: usize) -> Cow<'a, [T]> {
        let (p, len) = (self.pixels(), self.output_len());
        let dy = &dy[first * len..][..images * len];
        if images == 1 {
            return Cow::Borrowed(dy);
        }
        let mut tile = Vec::with_capacity(dy.len());
        for k in 0..self.k {
            for b in 0..images {
                tile.extend_from_slice(&dy[b * len + k * p..][..p]);
            }
        }
        Cow::Owned(tile)
    }
    /// The outputs (of `out`) whose kernel tap `i` reads inside an axis of `size` inputs: those
    /// o with 0 ≤ o·stride + i − padding < size.
    fn span(&self, i: usize, size: usize, out: usize) -> std::ops::Range<usize> {
        let lo = self.padding.saturating_sub(i).div_ceil(self.stride);
        let hi = match (size + self.padding).checked_sub(i + 1) {
            Some(last) => (last / self.stride + 1).min(out),
            None => 0,
        };
        lo.min(hi)..hi
    }
}

/// One of the three computations on two operands, run in the operands' element type.
trait Kernel {
    const NAME: &'static str;
    /// The convolution's sizes, from the operands' shapes.
    fn geometry(&self, a: &[usize], b: &[usize]) -> candle_core::Result<Geometry>;
    fn run<T: Elem>(&self, a: &[T], b: &[T], g: &Geometry) -> Vec<T>;
    fn output(&self, g: &Geometry) -> Shape;
}

impl<K: Kernel> CpuOp for K {
    const NAME: &'static str = K::NAME;
    fn at(&self, dims: &[&[usize]]) -> candle_core::Result<(impl CpuKernel, Shape)> {
        let g = self.geometry(dims[0], dims[1])?;
        Ok((AtSize { kernel: self, g }, self.output(&g)))
    }
}

/// A kernel with the sizes it runs at.
struct AtSize<'a, K> {
    kernel: &'a K,
    g: Geometry,
}

impl<K: Kernel> CpuKernel for AtSize<'_, K> {
    fn run<T: Elem>(&self, operands: &[&[T]]) -> Vec<T> {
        self.kernel.run(operands[0], operands[1], &self.g)
    }
}

/// Output pixels a tile of images should reach: below this, the GEMMs of the deep layers'
/// small planes (down to 2×2 at the mini network's last stage) are too narrow to run well.
const TILE_PIXELS: usize = 256;

/// Tiles are split into this many groups (fewer for smaller batches) for the weight gradient's
/// sum: a constant, not the thread count, so the sum's order never depends on the machine.
const WEIGHT_GRAD_GROUPS: usize = 8;

/// dst [m, n] (row-major, contiguous) = lhs [m, k] · rhs [k, n] (+ dst if `accumulate`), each
/// operand given by its (row stride, column stride). Single-threaded unless `threads` > 1.
fn matmul<T: Elem>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [T],
    (lhs, lhs_rs, lhs_cs): (&[T], usize, usize),
    (rhs, rhs_rs, rhs_cs): (&[T], usize, usize),
    accumulate: bool,
    threads: usize,
) {
    assert!(dst.len() == m * n && lhs.len() >= m * k && rhs.len() >= k * n);
    FLOPS.fetch_add(2 * (m * n * k) as u64, Ordering::Relaxed);
    let parallelism =
        if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    let alpha = if accumulate { T::ONE } else { T::default() };
    // SAFETY: the pointers cover the m×k, k×n and m×n matrices at the given strides (asserted
    // above for the contiguous layouts the callers pass), and `dst` is not aliased.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            alpha,
            T::ONE,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Threads each GEMM may use: all of them when there are fewer images than threads to spread
/// (the GEMM splits its output, never a sum), else one, the images being spread instead.
fn gemm_threads(images: usize) -> usize {
    let threads = rayon::current_num_threads();
    if images < threads {
        threads
    } else {
        1
    }
}

struct Conv {
    stride: usize,
    padding: usize,
}

impl Kernel for Conv {
    const NAME: &'static str = "pipeline-conv2d";

    fn geometry(&self, x: &[usize], w: &[usize]) -> candle_core::Result<Geometry> {
        Geometry::new(x, w, self.stride, self.padding)
    }

    fn run<T: Elem>(&self, x: &[T], w: &[T], g: &Geometry) -> Vec<T> {
        let (p, len, tile) = (g.pixels(), g.output_len(), g.tile());
        let threads = gemm_threads(g.n.div_ceil(tile));
        let mut y = vec![T::default(); g.n * len];
        y.par_chunks_mut(tile * len).zip(g.tiles().collect::<Vec<_>>()).for_each(
            |(y, (first, images))| {
                let col = g.columns(&x[first * g.image_len()..][..images * g.image_len()], images);
                let product = |dst: &mut [T]| {
                    let shape = (g.k, images * p, g.taps());
                    matmul(shape, dst, (w, g.taps(), 1), (&col, images * p, 1), false, threads);
                };
                if images == 1 {
                    return product(y);
                }
                // Y [K, B·P] → the B images' [K, P] blocks.
                let mut tile_y = vec![T::default(); g.k * images * p];
                product(&mut tile_y);
                for (b, y) in y.chunks_exact_mut(len).enumerate() {
                    for (k, y) in y.chunks_exact_mut(p).enumerate() {
                        y.copy_from_slice(&tile_y[(k * images + b) * p..][..p]);
                    }
                }
            },
        );
        y
    }

    fn output(&self, g: &Geometry) -> Shape {
        Shape::from((g.n, g.k, g.oh, g.ow))
    }
}

custom_op!(CustomOp2 for Conv {
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (stride, padding) = (self.stride, self.padding);
        let dx = match x.track_op() {
            true => {
                Some(grad.apply_op2_no_bwd(w, &InputGrad { stride, padding, input: x.dims4()? })?)
            }
            false => None,
        };
        let dw = match w.track_op() {
            true => Some(
                x.apply_op2_no_bwd(&grad, &WeightGrad { stride, padding, kernel: w.dims4()? })?,
            ),
            false => None,
        };
        Ok((dx, dw))
    }
});

/// ∂/∂x: operands (dy, w).
struct InputGrad {
    stride: usize,
    padding: usize,
    input: (usize, usize, usize, usize),
}

impl Kernel for InputGrad {
    const NAME: &'static str = "pipeline-conv2d-input-grad";

    fn geometry(&self, dy: &[usize], w: &[usize]) -> candle_core::Result<Geometry> {
        let (n, c, h, wd) = self.input;
        let g = Geometry::new(&[n, c, h, wd], w, self.stride, self.padding)?;
        g.check_output(dy)?;
        Ok(g)
    }

    fn run<T: Elem>(&self, dy: &[T], w: &[T], g: &Geometry) -> Vec<T> {
        let (p, tile) = (g.pixels(), g.tile());
        let threads = gemm_threads(g.n.div_ceil(tile));
        let mut dx = vec![T::default(); g.n * g.image_len()];
        dx.par_chunks_mut(tile * g.image_len()).zip(g.tiles().collect::<Vec<_>>()).for_each(
            |(dx, (first, images))| {
                let dy = g.gathered(dy, first, images);
                // Wᵀ [CKK, K]: element (r, k) is w[k·CKK + r].
                let (wt, width) = ((w, 1, g.taps()), images * p);
                if images == 1 && g.pointwise() {
                    return matmul((g.taps(), p, g.k), dx, wt, (&dy, p, 1), false, threads);
                }
                let mut dcol = vec![T::default(); g.taps() * width];
                matmul((g.taps(), width, g.k), &mut dcol, wt, (&dy, width, 1), false, threads);
                for (b, dx) in dx.chunks_exact_mut(g.image_len()).enumerate() {
                    g.add_columns(&dcol[b * p..], width, dx);
                }
            },
        );
        dx
    }

    fn output(&self, _: &Geometry) -> Shape {
        Shape::from(self.input)
    }
}

custom_op!(CustomOp2 for InputGrad {});

/// ∂/∂w: operands (x, dy).
struct WeightGrad {
    stride: usize,
    padding: usize,
    kernel: (usize, usize, usize, usize),
}

impl Kernel for WeightGrad {
    const NAME: &'static str = "pipeline-conv2d-weight-grad";

    fn geometry(&self, x: &[usize], dy: &[usize]) -> candle_core::Result<Geometry> {
        let (k, c, kh, kw) = self.kernel;
        let g = Geometry::new(x, &[k, c, kh, kw], self.stride, self.padding)?;
        g.check_output(dy)?;
        Ok(g)
    }

    fn run<T: Elem>(&self, x: &[T], dy: &[T], g: &Geometry) -> Vec<T> {
        let (p, len) = (g.pixels(), g.k * g.taps());
        let tiles: Vec<(usize, usize)> = g.tiles().collect();
        let groups = tiles.len().min(WEIGHT_GRAD_GROUPS);
        let threads = gemm_threads(groups);
        // Group i sums tiles i, i + groups, …; the groups' sums are added in order.
        let partial = |group: usize| {
            let mut dw = vec![T::default(); len];
            for (t, &(first, images)) in tiles.iter().enumerate().skip(group).step_by(groups) {
                let col = g.columns(&x[first * g.image_len()..][..images * g.image_len()], images);
                let dy = g.gathered(dy, first, images);
                // colᵀ [B·P, CKK]: element (q, r) is col[r·B·P + q].
                let width = images * p;
                let shape = (g.k, g.taps(), width);
                matmul(shape, &mut dw, (&dy, width, 1), (&col, 1, width), t != group, threads);
            }
            dw
        };
        let mut partials = (0..groups).into_par_iter().map(partial).collect::<Vec<_>>().into_iter();
        let mut dw = partials.next().unwrap_or_else(|| vec![T::default(); len]);
        for part in partials {
            for (d, v) in dw.iter_mut().zip(part) {
                *d += v;
            }
        }
        dw
    }

    fn output(&self, _: &Geometry) -> Shape {
        Shape::from(self.kernel)
    }
}

custom_op!(CustomOp2 for WeightGrad {});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::rng;
    use candle_core::{DType, Device, Var};

    /// (n, c, h, w, k, kernel, stride, padding): what ResNet-50 uses (1×1, 3×3 at stride 1 and
    /// 2 with padding, 7×7 stride 2, 1×1 stride-2 shortcuts), odd sizes, batch 1.
    type Case = (usize, usize, usize, usize, usize, usize, usize, usize);

    /// The last three are batches of several tiles (the last one short): 64, 9 and 4 output
    /// pixels per image make tiles of 4, 29 and 64 images.
    const CASES: [Case; 10] = [
        (2, 3, 5, 6, 4, 1, 1, 0),
        (2, 3, 7, 5, 2, 3, 1, 1),
        (1, 2, 9, 7, 3, 3, 2, 1),
        (2, 3, 11, 13, 2, 7, 2, 3),
        (3, 4, 6, 6, 5, 1, 2, 0),
        (1, 1, 4, 4, 1, 3, 1, 0),
        (2, 5, 3, 3, 2, 3, 2, 1),
        (10, 2, 8, 8, 3, 3, 1, 1),
        (40, 3, 6, 6, 2, 1, 2, 0),
        (70, 2, 4, 4, 3, 3, 2, 1),
    ];

    fn tensor(shape: (usize, usize, usize, usize), seed: u64) -> Tensor {
        let count = shape.0 * shape.1 * shape.2 * shape.3;
        Tensor::from_vec(rng::normal(&mut rng::rng(seed), count, 1.0), shape, &Device::Cpu).unwrap()
    }

    fn flat(t: &Tensor) -> Vec<f64> {
        t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap()
    }

    /// L = Σ y ⊙ r for a fixed random r, and its gradients to x and w, by `conv`.
    fn loss_and_grads(
        conv: &dyn Fn(&Tensor, &Tensor) -> Tensor,
        x: &Tensor,
        w: &Tensor,
        seed: u64,
    ) -> (Vec<f64>, f64, Vec<f64>, Vec<f64>) {
        let (xv, wv) = (Var::from_tensor(x).unwrap(), Var::from_tensor(w).unwrap());
        let y = conv(xv.as_tensor(), wv.as_tensor());
        let r = tensor(y.dims4().unwrap(), seed).to_dtype(y.dtype()).unwrap();
        let loss = (&y * &r).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        let value = loss.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap();
        let g = |v: &Var| flat(grads.get(v.as_tensor()).unwrap());
        (flat(&y), value, g(&xv), g(&wv))
    }

    fn close(a: &[f64], b: &[f64], tolerance: f64, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tolerance * scale, "{what}[{i}]: {x} vs {y}");
        }
    }

    /// Forward and both gradients against candle's own conv2d (the previous implementation)
    /// in f64 and f32, and against central finite differences in f64.
    #[test]
    fn matches_candle_and_finite_differences() {
        for (case, &(n, c, h, w, k, kernel, stride, padding)) in CASES.iter().enumerate() {
            let what = format!("case {case}: {:?}", CASES[case]);
            let x = tensor((n, c, h, w), 10 + case as u64);
            let wt = tensor((k, c, kernel, kernel), 20 + case as u64);
            let ours = |x: &Tensor, w: &Tensor| conv2d(x, w, stride, padding).unwrap();
            let candle = |x: &Tensor, w: &Tensor| x.conv2d(w, padding, stride, 1, 1).unwrap();
            let (y, loss, dx, dw) = loss_and_grads(&ours, &x, &wt, 30);
            let (y0, loss0, dx0, dw0) = loss_and_grads(&candle, &x, &wt, 30);
            close(&y, &y0, 1e-12, &format!("{what} forward"));
            close(&dx, &dx0, 1e-12, &format!("{what} ∂x"));
            close(&dw, &dw0, 1e-12, &format!("{what} ∂w"));
            assert!((loss - loss0).abs() < 1e-10 * loss0.abs().max(1.0));
            let f32s = |t: &Tensor| t.to_dtype(DType::F32).unwrap();
            let (y32, _, dx32, dw32) = loss_and_grads(&ours, &f32s(&x), &f32s(&wt), 30);
            close(&y32, &y0, 1e-5, &format!("{what} f32 forward"));
            close(&dx32, &dx0, 1e-5, &format!("{what} f32 ∂x"));
            close(&dw32, &dw0, 1e-5, &format!("{what} f32 ∂w"));

            finite_differences(CASES[case], &x, &wt, &dx, &dw);
        }
    }

    /// Central finite differences in f64 of L = Σ conv(x, w) ⊙ r on a sample of entries of x
    /// and w, against the gradients `dx` and `dw`.
    fn finite_differences(
        (n, _, h, w, k, kernel, stride, padding): (
            usize,
            usize,
            usize,
            usize,
            usize,
            usize,
            usize,
            usize,
        ),
        x: &Tensor,
        wt: &Tensor,
        dx: &[f64],
        dw: &[f64],
    ) {
        let side = |s: usize| (s + 2 * padding - kernel) / stride + 1;
        let r = tensor((n, k, side(h), side(w)), 30);
        let at = |x: &Tensor, w: &Tensor| -> f64 {
            let y = conv2d(x, w, stride, padding).unwrap();
            (y * &r).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap()
        };
        let eps = 1e-6;
        for (grad, of, is_x) in [(dx, x, true), (dw, wt, false)] {
            let base = flat(of);
            for i in (0..base.len()).step_by(base.len() / 7 + 1) {
                let shifted = |d: f64| {
                    let mut v = base.clone();
                    v[i] += d;
                    let t = Tensor::from_vec(v, of.shape().clone(), &Device::Cpu).unwrap();
                    if is_x {
                        at(&t, wt)
                    } else {
                        at(x, &t)
                    }
                };
                let fd = (shifted(eps) - shifted(-eps)) / (2.0 * eps);
                let name = if is_x { "∂x" } else { "∂w" };
                assert!(
                    (grad[i] - fd).abs() < 1e-7 * (1.0 + fd.abs()),
                    "{name}[{i}]: {} vs {fd}",
                    grad[i]
                );
            }
        }
    }

    /// Height and width of different parity at stride 2, where candle's own backward fails
    /// (its transposed convolution pads both sides alike): finite differences only.
    #[test]
    fn a_non_square_input_of_mixed_parity_gets_its_gradients() {
        let case = (1, 2, 9, 8, 3, 3, 2, 1);
        let (x, wt) = (tensor((1, 2, 9, 8), 41), tensor((3, 2, 3, 3), 42));
        let ours = |x: &Tensor, w: &Tensor| conv2d(x, w, 2, 1).unwrap();
        let (y, _, dx, dw) = loss_and_grads(&ours, &x, &wt, 30);
        assert_eq!(y.len(), 3 * 5 * 4);
        finite_differences(case, &x, &wt, &dx, &dw);
    }

    /// The same bytes on 1 thread and on 2: no sum is split between threads.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        // 36 output pixels per image: tiles of 8 images, 3 of them.
        let (x, w) = (tensor((20, 8, 12, 12), 1), tensor((16, 8, 3, 3), 2));
        let x = x.to_dtype(DType::F32).unwrap();
        let w = w.to_dtype(DType::F32).unwrap();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let conv = |x: &Tensor, w: &Tensor| conv2d(x, w, 2, 1).unwrap();
                loss_and_grads(&conv, &x, &w, 3)
            })
        };
        let (one, two) = (run(1), run(2));
        assert_eq!(one.0, two.0);
        assert_eq!(one.2, two.2);
        assert_eq!(one.3, two.3);
    }

    /// No input gradient is computed for an input that nothing upstream trains.
    #[test]
    fn an_untracked_input_gets_no_gradient() {
        let (x, w) = (tensor((1, 2, 5, 5), 4), Var::from_tensor(&tensor((3, 2, 3, 3), 5)).unwrap());
        let y = conv2d(&x, w.as_tensor(), 1, 1).unwrap();
        let grads = y.sum_all().unwrap().backward().unwrap();
        assert!(grads.get(&x).is_none());
        assert!(grads.get(w.as_tensor()).is_some());
    }
}
