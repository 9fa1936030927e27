//! Convolutions through cuDNN: forward, input gradient (backward data) and weight gradient
//! (backward filter) of an NCHW f32 convolution, each with the first deterministic algorithm of
//! cuDNN's heuristic ranking in the precision in force ([`super::plan::choose`]); in bf16 on
//! bfloat16 copies of the operands, into a bfloat16 result converted back (cuDNN's
//! pseudo-bfloat16 configuration: bfloat16 data, float sums). A convolution's
//! descriptors, algorithm and workspace size are made once per shape and pass
//! ([`ConvKey`]) on each thread (a cuDNN handle belongs to one thread at a time), and kept; the
//! workspace is one buffer per handle, grown to the largest a plan has needed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;

use candle_core::cuda_backend::{CudaDevice, DeviceId};
use cudarc::cudnn::{result, sys, CudnnError};
use cudarc::driver::{CudaSlice, CudaView, DevicePtr, DevicePtrMut, DeviceRepr};

use super::kernels::convert;
use super::plan::{choose, AlgoMath, Candidate, ConvKey, Pass};
use crate::nn::options::Precision;

fn wrap(e: CudnnError) -> candle_core::Error {
    candle_core::Error::wrap(e)
}

fn int(v: usize) -> candle_core::Result<i32> {
    i32::try_from(v).map_err(|_| candle_core::Error::msg(format!("cuDNN: {v} is past i32")))
}

fn ints(v: [usize; 4]) -> candle_core::Result<[i32; 4]> {
    Ok([int(v[0])?, int(v[1])?, int(v[2])?, int(v[3])?])
}

/// The type of a convolution's operands and result in cuDNN: bfloat16 in bf16, else float.
fn data(precision: Precision) -> sys::cudnnDataType_t {
    match precision {
        Precision::Bf16 => sys::cudnnDataType_t::CUDNN_DATA_BFLOAT16,
        Precision::Fp32 | Precision::Tf32 => sys::cudnnDataType_t::CUDNN_DATA_FLOAT,
    }
}

/// A tensor descriptor of an NCHW tensor.
struct Tensor4(sys::cudnnTensorDescriptor_t);

impl Tensor4 {
    fn new(dims: [usize; 4], data: sys::cudnnDataType_t) -> candle_core::Result<Self> {
        let desc = Tensor4(result::create_tensor_descriptor().map_err(wrap)?);
        let format = sys::cudnnTensorFormat_t::CUDNN_TENSOR_NCHW;
        // SAFETY: a descriptor just created.
        unsafe { result::set_tensor4d_descriptor(desc.0, format, data, ints(dims)?) }
            .map_err(wrap)?;
        Ok(desc)
    }
}

impl Drop for Tensor4 {
    fn drop(&mut self) {
        // SAFETY: created by this value, used by nothing after it.
        let _ = unsafe { result::destroy_tensor_descriptor(self.0) };
    }
}

/// A filter descriptor of a KCHW kernel.
struct Filter(sys::cudnnFilterDescriptor_t);

impl Filter {
    fn new(dims: [usize; 4], data: sys::cudnnDataType_t) -> candle_core::Result<Self> {
        let desc = Filter(result::create_filter_descriptor().map_err(wrap)?);
        let format = sys::cudnnTensorFormat_t::CUDNN_TENSOR_NCHW;
        // SAFETY: a descriptor just created.
        unsafe { result::set_filter4d_descriptor(desc.0, data, format, ints(dims)?) }
            .map_err(wrap)?;
        Ok(desc)
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        // SAFETY: created by this value, used by nothing after it.
        let _ = unsafe { result::destroy_filter_descriptor(self.0) };
    }
}

/// A 2-d cross-correlation's descriptor: float accumulation, in the math its precision allows.
struct Convolution(sys::cudnnConvolutionDescriptor_t);

impl Convolution {
    fn new(key: &ConvKey) -> candle_core::Result<Self> {
        let desc = Convolution(result::create_convolution_descriptor().map_err(wrap)?);
        let (p, s) = (int(key.padding)?, int(key.stride)?);
        let mode = sys::cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION;
        // Set explicitly in fp32 too: cuDNN's default math takes TF32 kernels for float data.
        let math = match AlgoMath::allowed(key.precision) {
            AlgoMath::Fma => sys::cudnnMathType_t::CUDNN_FMA_MATH,
            _ => sys::cudnnMathType_t::CUDNN_TENSOR_OP_MATH,
        };
        // SAFETY: a descriptor just created.
        unsafe {
            result::set_convolution2d_descriptor(
                desc.0,
                p,
                p,
                s,
                s,
                1,
                1,
                mode,
                sys::cudnnDataType_t::CUDNN_DATA_FLOAT,
            )
            .map_err(wrap)?;
            result::set_convolution_math_type(desc.0, math).map_err(wrap)?;
        }
        Ok(desc)
    }
}

impl Drop for Convolution {
    fn drop(&mut self) {
        // SAFETY: created by this value, used by nothing after it.
        let _ = unsafe { result::destroy_convolution_descriptor(self.0) };
    }
}

/// The algorithm a plan runs, typed by its pass.
#[derive(Clone, Copy)]
enum Algo {
    Forward(sys::cudnnConvolutionFwdAlgo_t),
    Data(sys::cudnnConvolutionBwdDataAlgo_t),
    Filter(sys::cudnnConvolutionBwdFilterAlgo_t),
}

/// One convolution's descriptors, algorithm and workspace bytes.
struct Plan {
    x: Tensor4,
    w: Filter,
    y: Tensor4,
    conv: Convolution,
    algo: Algo,
    workspace: usize,
}

fn algo_math(m: sys::cudnnMathType_t) -> AlgoMath {
    match m {
        sys::cudnnMathType_t::CUDNN_DEFAULT_MATH => AlgoMath::Default,
        sys::cudnnMathType_t::CUDNN_FMA_MATH => AlgoMath::Fma,
        sys::cudnnMathType_t::CUDNN_TENSOR_OP_MATH => AlgoMath::TensorOp,
        _ => AlgoMath::TensorOpConversion,
    }
}

/// An entry of cuDNN's ranked list for one pass (`cudnnConvolution*AlgoPerf_t`).
trait Perf: Copy {
    type Algo: Copy;
    /// How many algorithms the pass has (`CUDNN_CONVOLUTION_*_ALGO_COUNT`).
    const COUNT: usize;
    fn algo(&self) -> Self::Algo;
    fn candidate(&self) -> Candidate;
}

macro_rules! perf {
    ($perf:ty, $algo:ty, $count:expr) => {
        impl Perf for $perf {
            type Algo = $algo;
            const COUNT: usize = $count;
            fn algo(&self) -> $algo {
                self.algo
            }
            fn candidate(&self) -> Candidate {
                Candidate {
                    algo: self.algo as u32,
                    supported: self.status == sys::cudnnStatus_t::CUDNN_STATUS_SUCCESS,
                    deterministic: self.determinism == sys::cudnnDeterminism_t::CUDNN_DETERMINISTIC,
                    math: algo_math(self.mathType),
                    memory: self.memory,
                }
            }
        }
    };
}
perf!(sys::cudnnConvolutionFwdAlgoPerf_t, sys::cudnnConvolutionFwdAlgo_t, 8);
perf!(sys::cudnnConvolutionBwdDataAlgoPerf_t, sys::cudnnConvolutionBwdDataAlgo_t, 6);
perf!(sys::cudnnConvolutionBwdFilterAlgoPerf_t, sys::cudnnConvolutionBwdFilterAlgo_t, 7);

/// The algorithm [`choose`] takes from the ranking `heuristics` writes (entries, their count
/// asked, the count returned).
fn best<P: Perf>(
    key: &ConvKey,
    heuristics: impl FnOnce(*mut P, i32, &mut i32) -> Result<(), CudnnError>,
) -> candle_core::Result<P::Algo> {
    // SAFETY: every field of the perf structs is an integer, a float or an enum whose 0 is a
    // variant; cuDNN overwrites the entries it returns, and only those are read.
    let mut perf: Vec<P> = vec![unsafe { std::mem::zeroed() }; P::COUNT];
    let mut returned = 0;
    heuristics(perf.as_mut_ptr(), P::COUNT as i32, &mut returned).map_err(wrap)?;
    let perf = &perf[..(returned.max(0) as usize).min(P::COUNT)];
    let ranked: Vec<Candidate> = perf.iter().map(P::candidate).collect();
    let chosen = choose(&ranked, key.precision)
        .map_err(|e| candle_core::Error::msg(format!("conv2d {key:?}: {e}")))?;
    Ok(perf.iter().find(|p| p.candidate().algo == chosen.algo).expect("chosen from perf").algo())
}

impl Plan {
    fn new(handle: sys::cudnnHandle_t, key: ConvKey) -> candle_core::Result<Plan> {
        let d = data(key.precision);
        let (x, w, y) = (
            Tensor4::new(key.input, d)?,
            Filter::new(key.filter(), d)?,
            Tensor4::new(key.output(), d)?,
        );
        let conv = Convolution::new(&key)?;
        let (h, c) = (handle, conv.0);
        // SAFETY (each call): the handle and the descriptors are alive; the heuristics write at
        // most the count asked.
        let (algo, workspace) = match key.pass {
            Pass::Forward => {
                let algo = best(&key, |p, n, r| unsafe {
                    result::get_convolution_forward_algorithm(h, x.0, w.0, c, y.0, n, r, p)
                })?;
                let bytes = unsafe {
                    result::get_convolution_forward_workspace_size(h, x.0, w.0, c, y.0, algo)
                };
                (Algo::Forward(algo), bytes)
            }
            Pass::InputGrad => {
                let algo = best(&key, |p, n, r| unsafe {
                    result::get_convolution_backward_data_algorithm(h, w.0, y.0, c, x.0, n, r, p)
                })?;
                let bytes = unsafe {
                    result::get_convolution_backward_data_workspace_size(h, w.0, y.0, c, x.0, algo)
                };
                (Algo::Data(algo), bytes)
            }
            Pass::WeightGrad => {
                let algo = best(&key, |p, n, r| unsafe {
                    result::get_convolution_backward_filter_algorithm(h, x.0, y.0, c, w.0, n, r, p)
                })?;
                let bytes = unsafe {
                    result::get_convolution_backward_filter_workspace_size(
                        h, x.0, y.0, c, w.0, algo,
                    )
                };
                (Algo::Filter(algo), bytes)
            }
        };
        Ok(Plan { x, w, y, conv, algo, workspace: workspace.map_err(wrap)? })
    }
}

/// A thread's cuDNN handle on one device, its plans, and the workspace they share: kept from call
/// to call (no allocation per convolution; up to [`super::plan::WORKSPACE_LIMIT`] held per
/// thread until it ends), and safe to share because every call on the handle is queued in order
/// on the thread's own stream (candle's device runs each thread on CUDA's per-thread stream).
struct Handle {
    raw: sys::cudnnHandle_t,
    plans: HashMap<ConvKey, Plan>,
    workspace: Option<CudaSlice<u8>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.plans.clear();
        // SAFETY: created for this value; its plans, which use it, are gone.
        let _ = unsafe { result::destroy_handle(self.raw) };
    }
}

thread_local! {
    static HANDLES: RefCell<HashMap<DeviceId, Handle>> = RefCell::new(HashMap::new());
}

/// One pass of a convolution on `device` (the pass and shapes `key` holds): `a` and `b` are
/// (x, w) forward, (∂y, w) for the input gradient, (x, ∂y) for the weight gradient; the result
/// is y, ∂x or ∂w. In bf16 the operands are rounded to bfloat16 copies and the bfloat16 result is
/// converted back.
pub(crate) fn convolve(
    device: &CudaDevice,
    key: ConvKey,
    a: &CudaView<'_, f32>,
    b: &CudaView<'_, f32>,
) -> candle_core::Result<CudaSlice<f32>> {
    HANDLES.with(|handles| {
        let mut handles = handles.borrow_mut();
        let handle = match handles.entry(device.id()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let raw = result::create_handle().map_err(wrap)?;
                let handle = e.insert(Handle { raw, plans: HashMap::new(), workspace: None });
                // SAFETY: a handle just created, and candle's stream, which outlives it.
                unsafe { result::set_stream(raw, device.cuda_stream().cu_stream() as _) }
                    .map_err(wrap)?;
                handle
            }
        };
        let Handle { raw, plans, workspace } = handle;
        let raw = *raw;
        let plan = match plans.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(Plan::new(raw, key)?),
        };
        if plan.workspace > workspace.as_ref().map_or(0, |w| w.len()) {
            // SAFETY: cuDNN's scratch space, never read before the algorithm writes it.
            *workspace = Some(unsafe { device.alloc::<u8>(plan.workspace) }?);
        }
        let workspace = workspace.as_mut().filter(|_| plan.workspace > 0);
        let len = match key.pass {
            Pass::Forward => key.output().iter().product(),
            Pass::InputGrad => key.input.iter().product(),
            Pass::WeightGrad => key.filter().iter().product::<usize>(),
        };
        match key.precision {
            Precision::Bf16 => {
                let a = convert::<f32, u16>(device, "to_bf16", a)?;
                let b = convert::<f32, u16>(device, "to_bf16", b)?;
                let out = queue(device, raw, plan, workspace, &a.as_view(), &b.as_view(), len)?;
                convert::<u16, f32>(device, "from_bf16", &out.as_view())
            }
            Precision::Fp32 | Precision::Tf32 => queue(device, raw, plan, workspace, a, b, len),
        }
    })
}

/// `plan`'s convolution of `a` and `b` (of the type its descriptors say) queued on candle's
/// stream, into a new buffer of `len` values, with `workspace` (at least the plan's bytes; none
/// where it needs none).
fn queue<T: DeviceRepr>(
    device: &CudaDevice,
    raw: sys::cudnnHandle_t,
    plan: &Plan,
    workspace: Option<&mut CudaSlice<u8>>,
    a: &CudaView<'_, T>,
    b: &CudaView<'_, T>,
    len: usize,
) -> candle_core::Result<CudaSlice<T>> {
    let stream = device.cuda_stream();
    // SAFETY: cuDNN writes all of it (beta = 0).
    let mut out = unsafe { device.alloc::<T>(len.max(1)) }?;
    let (one, zero) = (1.0f32, 0.0f32);
    let (alpha, beta) = (&one as *const f32 as *const c_void, &zero as *const f32 as *const c_void);
    let (a, _a) = a.device_ptr(&stream);
    let (b, _b) = b.device_ptr(&stream);
    let (o, _o) = out.device_ptr_mut(&stream);
    let (ws, _ws) = workspace.map(|w| w.device_ptr_mut(&stream)).unzip();
    let ws = ws.map_or(std::ptr::null_mut(), |p| p as *mut c_void);
    let (a, b, o) = (a as *const c_void, b as *const c_void, o as *mut c_void);
    let (h, p) = (raw, plan);
    // SAFETY: the descriptors describe these buffers (their shapes checked by the op, their type
    // by `convolve`), all on `stream`, alive until the calls have been queued on it; the
    // workspace holds at least the plan's bytes; alpha and beta are floats for float and
    // bfloat16 data alike.
    unsafe {
        match p.algo {
            Algo::Forward(algo) => result::convolution_forward(
                h,
                alpha,
                p.x.0,
                a,
                p.w.0,
                b,
                p.conv.0,
                algo,
                ws,
                p.workspace,
                beta,
                p.y.0,
                o,
            ),
            Algo::Data(algo) => result::convolution_backward_data(
                h,
                alpha,
                p.w.0,
                b,
                p.y.0,
                a,
                p.conv.0,
                algo,
                ws,
                p.workspace,
                beta,
                p.x.0,
                o,
            ),
            Algo::Filter(algo) => result::convolution_backward_filter(
                h,
                alpha,
                p.x.0,
                a,
                p.y.0,
                b,
                p.conv.0,
                algo,
                ws,
                p.workspace,
                beta,
                p.w.0,
                o,
            ),
        }
    }
    .map_err(wrap)?;
    drop((_a, _b, _o, _ws));
    Ok(out)
}
