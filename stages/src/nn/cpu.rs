//! What the project's CPU kernels ([`super::conv`], [`super::batchnorm`], [`super::residual`])
//! share: the element types they run in, reading a candle operand as a slice, and the choice
//! between them and candle's own ops.
//!
//! The kernels run on the CPU, and on CUDA where `--cuda-kernels project` asks (their CUDA
//! implementations are [`super::cuda`]'s); elsewhere the network uses candle's ops, and tests
//! can ask for candle's ops on the CPU too, as the oracle the kernels are checked against.

use std::collections::BTreeMap;
use std::mem::MaybeUninit;
use std::sync::Mutex;
use std::time::Instant;

use candle_core::{CpuStorage, DType, Layout, Shape, Tensor};

use super::device::CudaKernels;
use rayon::prelude::*;

/// Whether `t`'s computation runs in the project's kernels (else in candle's own ops): on the
/// CPU always (but for the tests' oracle), on CUDA for f32 tensors under `--cuda-kernels
/// project` ([`super::cuda`]).
pub(super) fn kernels_for(t: &Tensor) -> bool {
    if candle_oracle() {
        return false;
    }
    match t.device() {
        d if d.is_cpu() => true,
        d if d.is_cuda() => {
            super::device::cuda_kernels() == CudaKernels::Project && t.dtype() == DType::F32
        }
        _ => false,
    }
}

thread_local! {
    /// Run candle's own ops on this thread ([`with_candle_ops`]).
    static CANDLE_OPS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn candle_oracle() -> bool {
    CANDLE_OPS.with(|c| c.get())
}

/// `f` with candle's own ops on this thread, on every device: the oracle the project's kernels
/// are checked against (the tests on the CPU, `pipeline gpu-check` on CUDA).
pub fn with_candle_ops<R>(f: impl FnOnce() -> R) -> R {
    let before = CANDLE_OPS.with(|c| c.replace(true));
    let out = f();
    CANDLE_OPS.with(|c| c.set(before));
    out
}

/// The element types the kernels run in.
pub(super) trait Elem:
    Copy
    + Default
    + Send
    + Sync
    + 'static
    + PartialOrd
    + std::ops::AddAssign
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
{
    const ONE: Self;
    fn slice(s: &CpuStorage) -> Option<&[Self]>;
    fn storage(v: Vec<Self>) -> CpuStorage;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

macro_rules! elem {
    ($t:ty, $variant:ident) => {
        impl Elem for $t {
            const ONE: Self = 1.0;
            fn slice(s: &CpuStorage) -> Option<&[Self]> {
                match s {
                    CpuStorage::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn storage(v: Vec<Self>) -> CpuStorage {
                CpuStorage::$variant(v)
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
        }
    };
}
elem!(f32, F32);
elem!(f64, F64);

/// A kernel's output of `len` elements, written by `fill` in parallel chunks of `chunk` (the
/// last one short; `fill` gets the chunk's index) without being zeroed first: on the mini
/// network's evaluation batches, zeroing every fresh output cost as much as writing it.
///
/// # Safety
/// `fill` must initialise every element of each chunk it is given.
pub(super) unsafe fn par_uninit<T: Send>(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync,
) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(i, c)| fill(i, c));
    // SAFETY: `fill` initialised the `len` elements (the caller's promise).
    unsafe { v.set_len(len) };
    v
}

/// The contiguous elements a layout views; `op` names the kernel in errors.
fn elements<'a, T: Elem>(s: &'a CpuStorage, l: &Layout, op: &str) -> candle_core::Result<&'a [T]> {
    let Some((start, end)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: operands must be contiguous");
    };
    let Some(v) = T::slice(s) else { candle_core::bail!("{op}: f32 or f64 operands of one type") };
    Ok(&v[start..end])
}

/// A kernel over same-typed operand slices, producing its output's elements.
pub(super) trait CpuKernel {
    fn run<T: Elem>(&self, operands: &[&[T]]) -> Vec<T>;
}

impl<K: CpuKernel> CpuKernel for &K {
    fn run<T: Elem>(&self, operands: &[&[T]]) -> Vec<T> {
        (*self).run(operands)
    }
}

/// A CPU kernel as a candle custom op: its name, and what it runs for operands of given
/// dimensions.
pub(super) trait CpuOp {
    const NAME: &'static str;
    /// The kernel for operands of these dimensions and its output's shape, or an error where
    /// the operands do not fit.
    fn at(&self, dims: &[&[usize]]) -> candle_core::Result<(impl CpuKernel, Shape)>;
}

/// `op` on its CPU operands: their shapes checked, then its kernel.
pub(super) fn forward<K: CpuOp>(
    op: &K,
    operands: &[(&CpuStorage, &Layout)],
) -> candle_core::Result<(CpuStorage, Shape)> {
    let dims: Vec<&[usize]> = operands.iter().map(|(_, l)| l.dims()).collect();
    let (kernel, shape) = op.at(&dims)?;
    Ok((apply(&kernel, K::NAME, operands)?, shape))
}

/// `impl candle_core::CustomOpN for T` from `T`'s [`CpuOp`] (its name and `cpu_fwd`) and, in a
/// CUDA build, its `CudaOp` (`cuda_fwd`), with
/// the items given (a `bwd`): `custom_op!(CustomOp2 for T { fn bwd(…) {…} })`.
macro_rules! custom_op {
    (@impl $op:ident for $t:ty, ($($s:ident, $l:ident),+) { $($items:tt)* }) => {
        impl candle_core::$op for $t {
            fn name(&self) -> &'static str {
                <$t as super::cpu::CpuOp>::NAME
            }

            fn cpu_fwd(
                &self,
                $($s: &candle_core::CpuStorage, $l: &candle_core::Layout),+
            ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
                super::cpu::forward(self, &[$(($s, $l)),+])
            }

            #[cfg(feature = "cuda")]
            fn cuda_fwd(
                &self,
                $($s: &candle_core::CudaStorage, $l: &candle_core::Layout),+
            ) -> candle_core::Result<(candle_core::CudaStorage, candle_core::Shape)> {
                super::cuda::forward(self, &[$(($s, $l)),+])
            }

            $($items)*
        }
    };
    (CustomOp1 for $t:ty { $($items:tt)* }) => {
        super::cpu::custom_op!(@impl CustomOp1 for $t, (s1, l1) { $($items)* });
    };
    (CustomOp2 for $t:ty { $($items:tt)* }) => {
        super::cpu::custom_op!(@impl CustomOp2 for $t, (s1, l1, s2, l2) { $($items)* });
    };
    (CustomOp3 for $t:ty { $($items:tt)* }) => {
        super::cpu::custom_op!(@impl CustomOp3 for $t, (s1, l1, s2, l2, s3, l3) { $($items)* });
    };
}
pub(super) use custom_op;

/// `kernel` (named `op`) on contiguous CPU operands of one float type (the first operand's), in
/// that type.
fn apply<K: CpuKernel>(
    kernel: &K,
    op: &'static str,
    operands: &[(&CpuStorage, &Layout)],
) -> candle_core::Result<CpuStorage> {
    let start = profiling().then(Instant::now);
    fn slices<'a, T: Elem>(
        operands: &[(&'a CpuStorage, &Layout)],
        op: &str,
    ) -> candle_core::Result<Vec<&'a [T]>> {
        operands.iter().map(|(s, l)| elements(s, l, op)).collect()
    }
    let out = match operands.first().is_some_and(|(s, _)| matches!(s, CpuStorage::F32(_))) {
        true => f32::storage(kernel.run(&slices::<f32>(operands, op)?)),
        false => f64::storage(kernel.run(&slices::<f64>(operands, op)?)),
    };
    if let Some(start) = start {
        let mut profile = PROFILE.lock().unwrap_or_else(|e| e.into_inner());
        let entry = profile.get_or_insert_with(BTreeMap::new).entry(op).or_default();
        entry.calls += 1;
        entry.seconds += start.elapsed().as_secs_f64();
    }
    Ok(out)
}

/// One kernel's share of a profile.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelTime {
    pub calls: u64,
    pub seconds: f64,
}

/// Time per kernel since [`start_profile`]; `None` when not profiling.
static PROFILE: Mutex<Option<BTreeMap<&'static str, KernelTime>>> = Mutex::new(None);

fn profiling() -> bool {
    PROFILE.lock().unwrap_or_else(|e| e.into_inner()).is_some()
}

/// Starts (or restarts) timing every CPU kernel call in this process (`pipeline bench --ops`).
pub fn start_profile() {
    *PROFILE.lock().unwrap_or_else(|e| e.into_inner()) = Some(BTreeMap::new());
}

/// The kernels' times since [`start_profile`], by kernel name; profiling stops.
pub fn take_profile() -> BTreeMap<&'static str, KernelTime> {
    PROFILE.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default()
}
