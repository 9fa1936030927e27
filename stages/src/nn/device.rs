//! Which device the networks compute on.

use candle_core::Device;

/// The compute device: CUDA device 0 when built with the `cuda` feature and one is present,
/// otherwise the CPU.
pub fn device() -> anyhow::Result<Device> {
    #[cfg(feature = "cuda")]
    {
        Ok(Device::cuda_if_available(0)?)
    }
    #[cfg(not(feature = "cuda"))]
    {
        Ok(Device::Cpu)
    }
}
