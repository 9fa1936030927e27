//! The kernels of `kernels.cu`: compiled by NVRTC for the device's compute capability the first
//! time a device needs them (PTX of the NVRTC the process loads, which must not be newer than the
//! driver, as candle's), loaded once per device, and launched on candle's stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candle_core::cuda_backend::{CudaDevice, DeviceId};
use cudarc::driver::{CudaFunction, CudaModule, CudaSlice, CudaView, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions, Ptx};

use super::plan::{blocks, Split, SOURCE, THREADS};
use crate::nn::batchnorm::BN_EPS;

/// The kernels as PTX for `arch` (`compute_90`): also what `pipeline gpu-check --compile`
/// checks on a machine without a GPU.
pub fn compile(arch: &'static str) -> Result<String, String> {
    let options = CompileOptions { arch: Some(arch), ..Default::default() };
    compile_ptx_with_opts(SOURCE, options)
        .map(|ptx| ptx.to_src())
        .map_err(|e| format!("NVRTC, nn/cuda/kernels.cu for {arch}: {e:?}"))
}

/// Each device's loaded module.
static MODULES: Mutex<Option<HashMap<DeviceId, Arc<CudaModule>>>> = Mutex::new(None);

fn wrap(e: impl std::error::Error + Send + Sync + 'static) -> candle_core::Error {
    candle_core::Error::wrap(e)
}

fn function(device: &CudaDevice, name: &str) -> candle_core::Result<CudaFunction> {
    debug_assert!(super::KERNELS.contains(&name), "{name} is not in KERNELS");
    let mut modules = MODULES.lock().unwrap_or_else(|e| e.into_inner());
    let modules = modules.get_or_insert_with(HashMap::new);
    let module = match modules.get(&device.id()) {
        Some(module) => module.clone(),
        None => {
            let context = device.cuda_stream().context().clone();
            let (major, minor) = context.compute_capability().map_err(wrap)?;
            // NVRTC takes the architecture as a static string: one per device kind, once.
            let arch: &'static str = Box::leak(format!("compute_{major}{minor}").into_boxed_str());
            let ptx = compile(arch).map_err(candle_core::Error::msg)?;
            let module = context.load_module(Ptx::from_src(ptx)).map_err(wrap)?;
            modules.insert(device.id(), module.clone());
            module
        }
    };
    module.load_function(name).map_err(wrap)
}

fn grid(x: u32, y: u32) -> LaunchConfig {
    LaunchConfig { grid_dim: (x, y, 1), block_dim: (THREADS, 1, 1), shared_mem_bytes: 0 }
}

fn one_per_value(len: usize) -> candle_core::Result<LaunchConfig> {
    Ok(grid(blocks(len).map_err(candle_core::Error::msg)?, 1))
}

/// A fresh output of `len` values; every kernel here writes all of its output.
fn output<T: cudarc::driver::DeviceRepr>(
    device: &CudaDevice,
    len: usize,
) -> candle_core::Result<CudaSlice<T>> {
    // SAFETY: the launch that follows writes every element before anything reads it.
    unsafe { device.alloc::<T>(len.max(1)) }
}

/// An NCHW tensor's sizes as the kernels take them: channels, values per plane, values per
/// channel (N·H·W), values in all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Planes {
    pub(crate) c: usize,
    pub(crate) hw: usize,
    pub(crate) m: usize,
}

impl Planes {
    fn len(&self) -> usize {
        self.m * self.c
    }
    fn ints(&self) -> candle_core::Result<(i32, i32)> {
        let int = |v: usize| i32::try_from(v).map_err(|_| candle_core::Error::msg("past i32"));
        Ok((int(self.c)?, int(self.hw)?))
    }
}

/// Per-channel sums over [`Split`] parts: `partial` writes [C, parts, 2] doubles, `finish`
/// adds them in order into a [2, C] float output.
fn channel_sums(
    device: &CudaDevice,
    p: Planes,
    partial: impl FnOnce(&mut CudaSlice<f64>, Split, LaunchConfig) -> candle_core::Result<()>,
    finish: impl FnOnce(
        &CudaSlice<f64>,
        &mut CudaSlice<f32>,
        u32,
        LaunchConfig,
    ) -> candle_core::Result<()>,
) -> candle_core::Result<CudaSlice<f32>> {
    // An empty tensor is refused here, as by every launch, rather than summed to NaN.
    blocks(p.len()).map_err(candle_core::Error::msg)?;
    let split = Split::of(p.m);
    let channels = u32::try_from(p.c).ok().filter(|&c| c <= 65_535);
    let channels = channels.ok_or_else(|| candle_core::Error::msg("more than 65,535 channels"))?;
    let mut sums = output::<f64>(device, p.c * split.parts as usize * 2)?;
    partial(&mut sums, split, grid(split.parts, channels))?;
    let mut out = output::<f32>(device, 2 * p.c)?;
    finish(&sums, &mut out, split.parts, grid(channels.div_ceil(THREADS), 1))?;
    Ok(out)
}

/// (μ, σ²) [2, C] of `x`.
pub(crate) fn stats(
    device: &CudaDevice,
    x: &CudaView<'_, f32>,
    p: Planes,
) -> candle_core::Result<CudaSlice<f32>> {
    let (c, hw) = p.ints()?;
    let stream = device.cuda_stream();
    channel_sums(
        device,
        p,
        |sums, split, config| {
            let f = function(device, "bn_stats_partial")?;
            let mut b = stream.launch_builder(&f);
            b.arg(x).arg(sums).arg(&c).arg(&hw).arg(&p.m).arg(&split.chunk);
            unsafe { b.launch(config) }.map(drop).map_err(wrap)
        },
        |sums, out, parts, config| {
            let f = function(device, "bn_stats_finish")?;
            let parts = parts as i32;
            let mut b = stream.launch_builder(&f);
            b.arg(x).arg(sums).arg(out).arg(&c).arg(&hw).arg(&p.m).arg(&parts);
            unsafe { b.launch(config) }.map(drop).map_err(wrap)
        },
    )
}

/// γ·(x − μ)/√(σ² + ε) + β, then ReLU if `relu`; `params` [4, C] (μ, σ², γ, β).
pub(crate) fn normalise(
    device: &CudaDevice,
    x: &CudaView<'_, f32>,
    params: &CudaView<'_, f32>,
    p: Planes,
    relu: bool,
) -> candle_core::Result<CudaSlice<f32>> {
    let (c, hw) = p.ints()?;
    let (len, relu) = (p.len(), i32::from(relu));
    let mut y = output::<f32>(device, len)?;
    let f = function(device, "bn_normalise")?;
    let stream = device.cuda_stream();
    let mut b = stream.launch_builder(&f);
    b.arg(x).arg(params).arg(&mut y).arg(&c).arg(&hw).arg(&len).arg(&BN_EPS).arg(&relu);
    unsafe { b.launch(one_per_value(len)?) }.map_err(wrap)?;
    Ok(y)
}

/// (∂γ, ∂β) [2, C] from x, the output gradient g and `params` [4, C].
pub(crate) fn grad_sums(
    device: &CudaDevice,
    x: &CudaView<'_, f32>,
    g: &CudaView<'_, f32>,
    params: &CudaView<'_, f32>,
    p: Planes,
    relu: bool,
) -> candle_core::Result<CudaSlice<f32>> {
    let (c, hw) = p.ints()?;
    let relu = i32::from(relu);
    let stream = device.cuda_stream();
    channel_sums(
        device,
        p,
        |sums, split, config| {
            let f = function(device, "bn_grad_partial")?;
            let mut b = stream.launch_builder(&f);
            b.arg(x).arg(g).arg(params).arg(sums).arg(&c).arg(&hw).arg(&p.m);
            b.arg(&split.chunk).arg(&BN_EPS).arg(&relu);
            unsafe { b.launch(config) }.map(drop).map_err(wrap)
        },
        |sums, out, parts, config| {
            let f = function(device, "bn_grad_finish")?;
            let parts = parts as i32;
            let mut b = stream.launch_builder(&f);
            b.arg(params).arg(sums).arg(out).arg(&c).arg(&parts).arg(&BN_EPS);
            unsafe { b.launch(config) }.map(drop).map_err(wrap)
        },
    )
}

/// ∂x from x, g and `params` [6, C] (μ, σ², γ, β, ∂γ, ∂β); `batch`: through batch statistics.
pub(crate) fn input_grad(
    device: &CudaDevice,
    x: &CudaView<'_, f32>,
    g: &CudaView<'_, f32>,
    params: &CudaView<'_, f32>,
    p: Planes,
    batch: bool,
    relu: bool,
) -> candle_core::Result<CudaSlice<f32>> {
    let (c, hw) = p.ints()?;
    let (len, batch, relu) = (p.len(), i32::from(batch), i32::from(relu));
    let mut dx = output::<f32>(device, len)?;
    let f = function(device, "bn_input_grad")?;
    let stream = device.cuda_stream();
    let mut b = stream.launch_builder(&f);
    b.arg(x).arg(g).arg(params).arg(&mut dx).arg(&c).arg(&hw).arg(&len).arg(&p.m);
    b.arg(&BN_EPS).arg(&batch).arg(&relu);
    unsafe { b.launch(one_per_value(len)?) }.map_err(wrap)?;
    Ok(dx)
}

/// The operands one after another, as one buffer.
pub(crate) fn concat(
    device: &CudaDevice,
    parts: &[&CudaView<'_, f32>],
) -> candle_core::Result<CudaSlice<f32>> {
    let mut out = output::<f32>(device, parts.iter().map(|p| p.len()).sum())?;
    let mut start = 0;
    for part in parts {
        device.memcpy_dtod(*part, &mut out.slice_mut(start..start + part.len()))?;
        start += part.len();
    }
    Ok(out)
}

/// An element-wise kernel of two operands of `len` values: `add_relu` (ReLU(a + b)) or
/// `relu_mask` (a where b > 0).
pub(crate) fn elementwise(
    device: &CudaDevice,
    name: &'static str,
    a: &CudaView<'_, f32>,
    b: &CudaView<'_, f32>,
) -> candle_core::Result<CudaSlice<f32>> {
    let len = a.len();
    let mut out = output::<f32>(device, len)?;
    let f = function(device, name)?;
    let stream = device.cuda_stream();
    let mut builder = stream.launch_builder(&f);
    builder.arg(a).arg(b).arg(&mut out).arg(&len);
    unsafe { builder.launch(one_per_value(len)?) }.map_err(wrap)?;
    Ok(out)
}

/// `x` converted element by element by `name`: `to_bf16` (f32 to bfloat16's bits, rounded to
/// nearest even as `half::bf16::from_f32`, a NaN kept with its sign and the top bits of its
/// payload, where CUDA's `__float2bfloat16_rn` would give the canonical 0x7fff) or `from_bf16`
/// (back, exactly).
pub(crate) fn convert<A, B>(
    device: &CudaDevice,
    name: &'static str,
    x: &CudaView<'_, A>,
) -> candle_core::Result<CudaSlice<B>>
where
    A: cudarc::driver::DeviceRepr,
    B: cudarc::driver::DeviceRepr,
{
    let len = x.len();
    let mut out = output::<B>(device, len)?;
    let f = function(device, name)?;
    let stream = device.cuda_stream();
    let mut builder = stream.launch_builder(&f);
    builder.arg(x).arg(&mut out).arg(&len);
    unsafe { builder.launch(one_per_value(len)?) }.map_err(wrap)?;
    Ok(out)
}
