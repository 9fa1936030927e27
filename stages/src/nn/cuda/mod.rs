//! The project's ops on CUDA: the custom ops of the CPU kernels ([`super::conv`],
//! [`super::batchnorm`], [`super::residual`]) given CUDA implementations, behind
//! `--cuda-kernels project` ([`super::device::set_cuda_kernels`]); candle's own ops stay the
//! default on CUDA, and the oracle `pipeline gpu-check` compares these against.
//!
//! - convolution forward, input gradient (only when the input is tracked, as on the CPU) and
//!   weight gradient through cuDNN (`cudnn.rs`), with only deterministic algorithms, descriptors
//!   and algorithms cached per shape, and one workspace per cuDNN handle, kept and grown;
//! - BatchNorm (+ReLU) in both regimes, and the blocks' add + ReLU and its gradient mask, as the
//!   project's kernels (`kernels.cu`, compiled by NVRTC at first use, `kernels.rs`), with per-channel
//!   sums in a fixed order (no atomics) so that a rerun on the same GPU gives the same bytes;
//! - [`check`]: each op against candle's on ResNet-50's shapes (`pipeline gpu-check`);
//! - `plan.rs`: what they decide on the host (launch sizes, the split of each sum, the cache
//!   key, the choice among cuDNN's algorithms), tested without a GPU.
//!
//! They run f32 tensors; a custom op on other types on CUDA is an error naming it. In precision
//! bf16 a convolution converts its f32 operands to bfloat16 and its bfloat16 result back to f32
//! (`kernels.cu`'s `to_bf16`, `from_bf16`), so the network's tensors stay f32.

// Read by the CUDA build's code; the CPU build compiles and tests it.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) mod plan;

pub mod check;
#[cfg(feature = "cuda")]
pub(crate) mod cudnn;
#[cfg(feature = "cuda")]
pub mod kernels;

/// The kernels `kernels.cu` defines, each launched from `kernels.rs`.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) const KERNELS: [&str; 10] = [
    "bn_stats_partial",
    "bn_stats_finish",
    "bn_normalise",
    "bn_grad_partial",
    "bn_grad_finish",
    "bn_input_grad",
    "add_relu",
    "relu_mask",
    "to_bf16",
    "from_bf16",
];

#[cfg(feature = "cuda")]
pub(super) use op::{forward, CudaOp};

#[cfg(feature = "cuda")]
mod op {
    use candle_core::cuda_backend::cudarc::driver::{CudaSlice, CudaView};
    use candle_core::cuda_backend::CudaDevice;
    use candle_core::{CudaStorage, Layout, Shape};

    use super::super::cpu::CpuOp;

    /// A CPU kernel's op on CUDA: its output from its f32 operands (contiguous views), whose
    /// dimensions its [`CpuOp::at`] has checked.
    pub(in crate::nn) trait CudaOp: CpuOp {
        fn cuda(
            &self,
            dims: &[&[usize]],
            operands: &[CudaView<'_, f32>],
            device: &CudaDevice,
        ) -> candle_core::Result<CudaSlice<f32>>;
    }

    /// `op` on its CUDA operands: their shapes checked as on the CPU, then its CUDA kernels.
    pub(in crate::nn) fn forward<K: CudaOp>(
        op: &K,
        operands: &[(&CudaStorage, &Layout)],
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        let dims: Vec<&[usize]> = operands.iter().map(|(_, l)| l.dims()).collect();
        let (_, shape) = op.at(&dims)?;
        let views = operands
            .iter()
            .map(|(s, l)| {
                let Some((start, end)) = l.contiguous_offsets() else {
                    candle_core::bail!("{}: operands must be contiguous", K::NAME);
                };
                match s.as_cuda_slice::<f32>() {
                    Ok(slice) => Ok(slice.slice(start..end)),
                    Err(_) => candle_core::bail!("{}: the CUDA kernels take f32 operands", K::NAME),
                }
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let device = operands[0].0.device.clone();
        let out = op.cuda(&dims, &views, &device)?;
        Ok((CudaStorage::wrap_cuda_slice(out, device), shape))
    }
}
