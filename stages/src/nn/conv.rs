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
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};

use super::batchnorm::PlaneNorm;
use super::cpu::{custom_op, kernels_for, par_uninit, CpuKernel, CpuOp, Elem};
use super::cuda::plan::{ConvKey, Pass};

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

/// `x` convolved with `w` as [`conv2d`] does, then evaluation-mode BatchNorm with `params`
/// [4, K] (rows μ, σ², γ, β) and ReLU if `relu`, applied to each output plane as it is
/// written: the same values as the two ops apart, without a pass over the output. Inference
/// only (no gradient), on the CPU.
pub fn conv2d_normalised(
    x: &Tensor,
    w: &Tensor,
    stride: usize,
    padding: usize,
    params: &Tensor,
    relu: bool,
) -> candle_core::Result<Tensor> {
    let op = Normalised { conv: Conv { stride, padding }, relu };
    x.contiguous()?.apply_op3_no_bwd(&w.contiguous()?, &params.contiguous()?, &op)
}

/// The sizes of one convolution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Geometry {
    pub(crate) n: usize,
    pub(crate) c: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) k: usize,
    pub(crate) kh: usize,
    pub(crate) kw: usize,
    pub(crate) stride: usize,
    pub(crate) padding: usize,
    pub(crate) oh: usize,
    pub(crate) ow: usize,
}

impl Geometry {
    pub(crate) fn new(
        x: &[usize],
        w: &[usize],
        stride: usize,
        padding: usize,
    ) -> candle_core::Result<Self> {
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

    /// What this convolution's `pass` is cached under on CUDA, in the precision in force on
    /// this thread.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub(crate) fn key(&self, pass: Pass) -> ConvKey {
        ConvKey {
            input: [self.n, self.c, self.h, self.w],
            kernel: [self.k, self.kh, self.kw],
            stride: self.stride,
            padding: self.padding,
            pass,
            precision: super::precision::in_force(),
        }
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
    fn tiles(&self) -> Vec<(usize, usize)> {
        let b = self.tile();
        (0..self.n).step_by(b).map(|first| (first, b.min(self.n - first))).collect()
    }
    /// `col` [CKK, B·P] of the `images` consecutive images in `x`: row (c, i, j), column
    /// (b, oh, ow) holds x[b, c, oh·s − p + i, ow·s − p + j], or 0 in the padding. Borrows `x`
    /// where that is already the matrix (one image, 1×1 at stride 1).
    fn columns<'a, T: Elem>(&self, x: &'a [T], images: usize) -> Cow<'a, [T]> {
        if images == 1 && self.pointwise() {
            return Cow::Borrowed(x);
        }
        let (p, width) = (self.pixels(), images * self.pixels());
        // Zeroed once (one memset): only the spans inside the input are written below.
        let mut col = vec![T::default(); self.taps() * width];
        for (row, col) in col.chunks_exact_mut(width).enumerate() {
            let images = x.chunks_exact(self.image_len()).zip(col.chunks_exact_mut(p));
            if let Some(s) = self.shifted(row) {
                for (image, col) in images {
                    col[s.to..][..s.len].copy_from_slice(&image[s.from..][..s.len]);
                    s.clear_wrapped(col, self.ow);
                }
                continue;
            }
            let spans = self.spans(row);
            for (image, col) in images {
                for (from, to, len) in spans.clone() {
                    let to = &mut col[to..][..len];
                    match self.stride {
                        1 => to.copy_from_slice(&image[from..][..len]),
                        s => {
                            // Whole strides but the last value's (the image may end there).
                            let (last, to) = to.split_last_mut().expect("spans are not empty");
                            let strides = image[from..].chunks_exact(s);
                            to.iter_mut().zip(strides).for_each(|(d, v)| *d = v[0]);
                            *last = image[from + to.len() * s];
                        }
                    }
                }
            }
        }
        Cow::Owned(col)
    }
    /// The adjoint of [`Geometry::columns`]: each entry of `col` [CKK, B·P] is added to the
    /// pixel of the images `x` it was read from.
    /// `col`'s entries that read the padding may be overwritten.
    fn add_columns<T: Elem>(&self, col: &mut [T], x: &mut [T]) {
        let (p, len) = (self.pixels(), self.image_len());
        let add = |(d, v): (&mut T, &T)| *d += *v;
        for (row, col) in col.chunks_exact_mut(x.len() / len * p).enumerate() {
            let images = x.chunks_exact_mut(len).zip(col.chunks_exact_mut(p));
            if let Some(s) = self.shifted(row) {
                // One block add, the wrapped columns (which read the padding) made 0 first.
                for (image, col) in images {
                    s.clear_wrapped(col, self.ow);
                    image[s.from..][..s.len].iter_mut().zip(&col[s.to..][..s.len]).for_each(add);
                }
                continue;
            }
            let spans = self.spans(row);
            for (image, col) in images {
                for (from, to, n) in spans.clone() {
                    let col = &col[to..][..n];
                    match self.stride {
                        1 => image[from..][..n].iter_mut().zip(col).for_each(add),
                        s => col.iter().enumerate().for_each(|(t, v)| image[from + t * s] += *v),
                    }
                }
            }
        }
    }
    /// For column row `row` (c, i, j) of one image, the span of each output line that reads
    /// inside the input: (`from`, `to`, `len`), `from` the offset in the image of its first
    /// input (the next ones `stride` apart), `to` that of its first output pixel in the row.
    fn spans(&self, row: usize) -> impl Iterator<Item = (usize, usize, usize)> + Clone {
        let (c, i, j) = (row / (self.kh * self.kw), row / self.kw % self.kh, row % self.kw);
        let (rows, cols) = (self.span(i, self.h, self.oh), self.span(j, self.w, self.ow));
        let rows = if cols.is_empty() { 0..0 } else { rows };
        let Geometry { h, w, stride, padding, ow, .. } = *self;
        rows.map(move |oh| {
            let line = (c * h + oh * stride + i - padding) * w;
            (line + cols.start * stride + j - padding, oh * ow + cols.start, cols.len())
        })
    }
    /// Column row `row` (c, i, j) of one image as one block copy, where the convolution keeps
    /// the plane's size at stride 1 (OW = W): then the row is the plane shifted by
    /// (i − p)·W + (j − p), except in the padding. `None` for other convolutions.
    fn shifted(&self, row: usize) -> Option<Shifted> {
        if self.stride != 1 || self.ow != self.w {
            return None;
        }
        let (c, i, j) = (row / (self.kh * self.kw), row / self.kw % self.kh, row % self.kw);
        let (rows, cols) = (self.span(i, self.h, self.oh), self.span(j, self.w, self.ow));
        if rows.is_empty() || cols.is_empty() {
            return Some(Shifted { from: 0, to: 0, len: 0, rows: 0..0, wrapped: 0..0 });
        }
        // From the first pixel inside the input to the last, lines included whole: the
        // columns a tap off the centre reads past a line's end (into the next line) are zeroed.
        let to = rows.start * self.ow + cols.start;
        let len = (rows.end - 1) * self.ow + cols.end - to;
        let from =
            (c * self.h + rows.start + i - self.padding) * self.w + cols.start + j - self.padding;
        let wrapped = if j < self.padding { 0..cols.start } else { cols.end..self.ow };
        Some(Shifted { from, to, len, rows, wrapped })
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

/// A column row of one image as a block copy ([`Geometry::shifted`]): `len` values from
/// offset `from` of the image to offset `to` of the row, then in each output line of `rows`
/// the columns `wrapped` set to 0.
struct Shifted {
    from: usize,
    to: usize,
    len: usize,
    rows: std::ops::Range<usize>,
    wrapped: std::ops::Range<usize>,
}

impl Shifted {
    /// Sets the wrapped columns of one image's column row (lines `ow` long) to 0, down each
    /// column: a short fill per line would be a call to memset.
    fn clear_wrapped<T: Elem>(&self, col: &mut [T], ow: usize) {
        for k in self.wrapped.clone() {
            let column = col[self.rows.start * ow + k..].iter_mut().step_by(ow);
            column.take(self.rows.len()).for_each(|v| *v = T::default());
        }
    }
}

/// One of the three computations on two operands, run in the operands' element type.
trait Kernel {
    const NAME: &'static str;
    /// Which product of the convolution it is (what its CUDA implementation runs).
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    const PASS: Pass;
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

#[cfg(feature = "cuda")]
impl<K: Kernel> super::cuda::CudaOp for K {
    fn cuda(
        &self,
        dims: &[&[usize]],
        operands: &[cudarc::driver::CudaView<'_, f32>],
        device: &candle_core::cuda_backend::CudaDevice,
    ) -> candle_core::Result<cudarc::driver::CudaSlice<f32>> {
        let g = self.geometry(dims[0], dims[1])?;
        super::cuda::cudnn::convolve(device, g.key(K::PASS), &operands[0], &operands[1])
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

/// A GEMM operand: its elements, row stride and column stride.
type Operand<'a, T> = (&'a [T], usize, usize);

/// dst [m, n] (row-major, contiguous) = lhs [m, k] · rhs [k, n] (+ dst if `accumulate`).
/// Single-threaded unless `threads` > 1.
fn matmul<T: Elem>(
    shape: (usize, usize, usize),
    dst: &mut [T],
    lhs: Operand<T>,
    rhs: Operand<T>,
    accumulate: bool,
    threads: usize,
) {
    assert_eq!(dst.len(), shape.0 * shape.1);
    // SAFETY: `dst` is initialised, of the asserted length, and not aliased.
    unsafe { gemm_into(shape, dst.as_mut_ptr(), lhs, rhs, accumulate, threads) }
}

/// [`matmul`] into memory not yet written (never accumulating): the product, initialised.
fn matmul_uninit<'a, T: Elem>(
    shape: (usize, usize, usize),
    dst: &'a mut [MaybeUninit<T>],
    lhs: Operand<T>,
    rhs: Operand<T>,
    threads: usize,
) -> &'a mut [T] {
    assert_eq!(dst.len(), shape.0 * shape.1);
    // SAFETY: `dst` has the asserted length and is not aliased; a GEMM that does not
    // accumulate writes every element of it without reading any.
    unsafe {
        gemm_into(shape, dst.as_mut_ptr().cast(), lhs, rhs, false, threads);
        dst.assume_init_mut()
    }
}

/// The `gemm` crate's GEMM, dst [m, n] at `dst`.
///
/// # Safety
/// `dst` must be valid for writing m·n elements (and reading them if `accumulate`), and not
/// alias the operands.
unsafe fn gemm_into<T: Elem>(
    (m, n, k): (usize, usize, usize),
    dst: *mut T,
    (lhs, lhs_rs, lhs_cs): Operand<T>,
    (rhs, rhs_rs, rhs_cs): Operand<T>,
    accumulate: bool,
    threads: usize,
) {
    let last = |rs: usize, cs: usize, rows: usize, cols: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    };
    assert!(lhs.len() >= last(lhs_rs, lhs_cs, m, k) && rhs.len() >= last(rhs_rs, rhs_cs, k, n));
    FLOPS.fetch_add(2 * (m * n * k) as u64, Ordering::Relaxed);
    let parallelism =
        if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    let alpha = if accumulate { T::ONE } else { T::default() };
    // SAFETY: the operands cover the m×k and k×n matrices at their strides (asserted above),
    // and `dst` the m×n one (the caller's promise).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
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
    const PASS: Pass = Pass::Forward;

    fn geometry(&self, x: &[usize], w: &[usize]) -> candle_core::Result<Geometry> {
        Geometry::new(x, w, self.stride, self.padding)
    }

    fn run<T: Elem>(&self, x: &[T], w: &[T], g: &Geometry) -> Vec<T> {
        convolve(x, w, g, |_, _| {})
    }

    fn output(&self, g: &Geometry) -> Shape {
        Shape::from((g.n, g.k, g.oh, g.ow))
    }
}

/// Y = W ⋆ x, then `finish(k, plane)` on each output plane of channel k as it is written.
fn convolve<T: Elem>(
    x: &[T],
    w: &[T],
    g: &Geometry,
    finish: impl Fn(usize, &mut [T]) + Sync,
) -> Vec<T> {
    let (p, len, tile) = (g.pixels(), g.output_len(), g.tile());
    let tiles = g.tiles();
    let threads = gemm_threads(tiles.len());
    let fill = |t: usize, y: &mut [MaybeUninit<T>]| {
        let (first, images) = tiles[t];
        let col = g.columns(&x[first * g.image_len()..][..images * g.image_len()], images);
        let shape = (g.k, images * p, g.taps());
        let (w, col) = ((w, g.taps(), 1), (&col[..], images * p, 1));
        if images == 1 {
            let y = matmul_uninit(shape, y, w, col, threads);
            y.chunks_exact_mut(p).enumerate().for_each(|(k, y)| finish(k, y));
            return;
        }
        // Y [K, B·P] → the B images' [K, P] blocks.
        let mut tile_y = vec![T::default(); g.k * images * p];
        matmul(shape, &mut tile_y, w, col, false, threads);
        for (b, y) in y.chunks_exact_mut(len).enumerate() {
            for (k, y) in y.chunks_exact_mut(p).enumerate() {
                finish(k, y.write_copy_of_slice(&tile_y[(k * images + b) * p..][..p]));
            }
        }
    };
    // SAFETY: `fill` writes all of each tile's output, by the GEMM or copied from the tile's.
    unsafe { par_uninit(g.n * len, tile * len, fill) }
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

/// The convolution and evaluation-mode BatchNorm: operands (x, w, [μ; σ²; γ; β]).
struct Normalised {
    conv: Conv,
    relu: bool,
}

impl CpuOp for Normalised {
    const NAME: &'static str = "pipeline-conv2d-batchnorm";
    fn at(&self, dims: &[&[usize]]) -> candle_core::Result<(impl CpuKernel, Shape)> {
        let g = self.conv.geometry(dims[0], dims[1])?;
        if dims[2] != [4, g.k] {
            candle_core::bail!("{}: parameters {:?}, expected [4, {}]", Self::NAME, dims[2], g.k);
        }
        Ok((NormalisedAt { relu: self.relu, g }, self.conv.output(&g)))
    }
}

struct NormalisedAt {
    relu: bool,
    g: Geometry,
}

impl CpuKernel for NormalisedAt {
    fn run<T: Elem>(&self, operands: &[&[T]]) -> Vec<T> {
        let norm = PlaneNorm::new(operands[2], self.relu);
        convolve(operands[0], operands[1], &self.g, |k, plane| norm.apply(k, plane))
    }
}

custom_op!(CustomOp3 for Normalised {});

#[cfg(feature = "cuda")]
impl super::cuda::CudaOp for Normalised {
    fn cuda(
        &self,
        dims: &[&[usize]],
        operands: &[cudarc::driver::CudaView<'_, f32>],
        device: &candle_core::cuda_backend::CudaDevice,
    ) -> candle_core::Result<cudarc::driver::CudaSlice<f32>> {
        use super::cuda::{cudnn, kernels};
        let g = self.conv.geometry(dims[0], dims[1])?;
        let y = cudnn::convolve(device, g.key(Pass::Forward), &operands[0], &operands[1])?;
        let planes = kernels::Planes { c: g.k, hw: g.pixels(), m: g.n * g.pixels() };
        kernels::normalise(device, &y.slice(..), &operands[2], planes, self.relu)
    }
}

/// ∂/∂x: operands (dy, w).
struct InputGrad {
    stride: usize,
    padding: usize,
    input: (usize, usize, usize, usize),
}

impl Kernel for InputGrad {
    const NAME: &'static str = "pipeline-conv2d-input-grad";
    const PASS: Pass = Pass::InputGrad;

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
        dx.par_chunks_mut(tile * g.image_len()).zip(g.tiles()).for_each(|(dx, (first, images))| {
            let dy = g.gathered(dy, first, images);
            // Wᵀ [CKK, K]: element (r, k) is w[k·CKK + r].
            let (wt, width) = ((w, 1, g.taps()), images * p);
            if images == 1 && g.pointwise() {
                return matmul((g.taps(), p, g.k), dx, wt, (&dy, p, 1), false, threads);
            }
            let mut dcol = vec![T::default(); g.taps() * width];
            matmul((g.taps(), width, g.k), &mut dcol, wt, (&dy, width, 1), false, threads);
            g.add_columns(&mut dcol, dx);
        });
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
    const PASS: Pass = Pass::WeightGrad;

    fn geometry(&self, x: &[usize], dy: &[usize]) -> candle_core::Result<Geometry> {
        let (k, c, kh, kw) = self.kernel;
        let g = Geometry::new(x, &[k, c, kh, kw], self.stride, self.padding)?;
        g.check_output(dy)?;
        Ok(g)
    }

    fn run<T: Elem>(&self, x: &[T], dy: &[T], g: &Geometry) -> Vec<T> {
        let (p, len) = (g.pixels(), g.k * g.taps());
        let tiles = g.tiles();
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

    /// Cases 7–9 are batches of several tiles (the last one short): 64, 9 and 4 output pixels
    /// per image make tiles of 4, 29 and 64 images. The last is a 5×5 "same" convolution,
    /// whose columns are block copies with two wrapped columns on each side.
    const CASES: [Case; 11] = [
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
        (3, 2, 6, 7, 3, 5, 1, 2),
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

    /// The fused convolution + evaluation-mode BatchNorm (+ ReLU) gives the bytes of the two ops
    /// apart, in f32 and f64, on every case (batches of one image and of several tiles); and
    /// the two ops apart are checked against the formula in `batchnorm`'s tests.
    #[test]
    fn fused_batchnorm_gives_the_bytes_of_the_ops_apart() {
        for (case, &(n, c, h, w, k, kernel, stride, padding)) in CASES.iter().enumerate() {
            let x = tensor((n, c, h, w), 50 + case as u64);
            let wt = tensor((k, c, kernel, kernel), 60 + case as u64);
            let mean = tensor((1, k, 1, 1), 70 + case as u64).reshape((1, k)).unwrap();
            let var =
                (tensor((1, k, 1, 1), 80 + case as u64).reshape((1, k)).unwrap().abs()).unwrap();
            let affine = tensor((2, k, 1, 1), 90 + case as u64).reshape((2, k)).unwrap();
            for dtype in [DType::F32, DType::F64] {
                let [x, wt, mean, var, affine] =
                    [&x, &wt, &mean, &var, &affine].map(|t| t.to_dtype(dtype).unwrap());
                let stats = Tensor::cat(&[&mean, &var], 0).unwrap();
                let params = Tensor::cat(&[&stats, &affine], 0).unwrap();
                for relu in [false, true] {
                    let apart = crate::nn::batchnorm::normalise(
                        &conv2d(&x, &wt, stride, padding).unwrap(),
                        &stats,
                        &affine,
                        false,
                        relu,
                    )
                    .unwrap();
                    let fused = conv2d_normalised(&x, &wt, stride, padding, &params, relu).unwrap();
                    assert_eq!(fused.dims(), apart.dims());
                    let bits = |t: &Tensor| flat(t).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&fused), bits(&apart), "case {case} {dtype:?} relu {relu}");
                }
            }
        }
    }

    /// No input gradient is computed for an input that nothing upstream trains.
    /// The key's output dimensions (what cuDNN's descriptors are made of) agree with the CPU
    /// kernels' geometry for odd and even sizes.
    #[test]
    fn the_cuda_key_has_the_geometry_of_the_convolution() {
        for (h, k, s, p) in [(7, 3, 2, 1), (8, 3, 2, 1), (5, 1, 1, 0), (9, 7, 2, 3), (3, 3, 1, 0)] {
            let g = Geometry::new(&[2, 4, h, h + 1], &[5, 4, k, k], s, p).unwrap();
            let key = g.key(Pass::InputGrad);
            assert_eq!(key.output(), [2, 5, g.oh, g.ow]);
            assert_eq!(key.filter(), [5, 4, k, k]);
            assert_eq!((key.input, key.stride, key.padding), ([2, 4, h, h + 1], s, p));
        }
    }

    #[test]
    fn an_untracked_input_gets_no_gradient() {
        let (x, w) = (tensor((1, 2, 5, 5), 4), Var::from_tensor(&tensor((3, 2, 3, 3), 5)).unwrap());
        let y = conv2d(&x, w.as_tensor(), 1, 1).unwrap();
        let grads = y.sum_all().unwrap().backward().unwrap();
        assert!(grads.get(&x).is_none());
        assert!(grads.get(w.as_tensor()).is_some());
    }
}
