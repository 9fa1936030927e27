//! The precision a node's network computes in ([`Precision`]): set by the stage for the thread
//! that runs the node ([`enter`]), read by the CUDA convolutions when they choose cuDNN's math.
//!
//! Per thread, not per process, so that nodes of different precisions can run side by side in
//! one process (`--jobs`).

use std::cell::Cell;

use anyhow::{bail, Result};
use candle_core::Device;

use super::device::{cuda_kernels, CudaKernels};
pub use super::options::Precision;

thread_local! {
    static IN_FORCE: Cell<Precision> = const { Cell::new(Precision::Fp32) };
}

/// The precision the network computes in on this thread.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) fn in_force() -> Precision {
    IN_FORCE.with(|p| p.get())
}

/// `precision` in force on this thread until it is dropped (then the one before it again).
#[must_use = "the precision holds only while the scope lives"]
pub struct Scope {
    before: Precision,
}

impl Drop for Scope {
    fn drop(&mut self) {
        IN_FORCE.with(|p| p.set(self.before));
    }
}

/// Puts `precision` in force on this thread for a network on `device`, or says why it cannot
/// compute in it. Anything but fp32 takes the project's CUDA kernels: the CPU kernels and
/// candle's ops compute fp32 only, and a node must compute what its key says.
pub fn enter(precision: Precision, device: &Device) -> Result<Scope> {
    if !precision.is_fp32() {
        if !device.is_cuda() {
            bail!(
                "precision {precision} is computed on a GPU only, and this network is on the CPU \
                 (compute it with --device cuda --cuda-kernels project, or in fp32)"
            );
        }
        if cuda_kernels() != CudaKernels::Project {
            bail!(
                "precision {precision} is computed by the project's CUDA kernels only, and \
                 candle's ops compute fp32 (compute it with --cuda-kernels project, or in fp32)"
            );
        }
    }
    Ok(Scope { before: IN_FORCE.with(|p| p.replace(precision)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp32_holds_anywhere_and_a_scope_restores_the_precision_before_it() {
        assert_eq!(in_force(), Precision::Fp32);
        let scope = enter(Precision::Fp32, &Device::Cpu).unwrap();
        assert_eq!(in_force(), Precision::Fp32);
        drop(scope);
        // Set by hand as a CUDA stage would have it, then nested.
        let outer = Scope { before: IN_FORCE.with(|p| p.replace(Precision::Tf32)) };
        let inner = enter(Precision::Fp32, &Device::Cpu).unwrap();
        assert_eq!(in_force(), Precision::Fp32);
        drop(inner);
        assert_eq!(in_force(), Precision::Tf32);
        drop(outer);
        assert_eq!(in_force(), Precision::Fp32);
    }

    #[test]
    fn tf32_and_bf16_on_the_cpu_are_refused_with_what_to_do() {
        let err = enter(Precision::Bf16, &Device::Cpu).err().expect("refused").to_string();
        assert!(err.contains("precision bf16 is computed on a GPU only"), "{err}");
        let err = enter(Precision::Tf32, &Device::Cpu).err().expect("refused").to_string();
        assert!(err.contains("precision tf32 is computed on a GPU only"), "{err}");
        assert!(err.contains("--device cuda --cuda-kernels project"), "{err}");
        assert_eq!(in_force(), Precision::Fp32);
    }

    #[test]
    fn precision_parses_as_the_profile_and_the_command_line_spell_it() {
        for p in [Precision::Fp32, Precision::Tf32, Precision::Bf16] {
            assert_eq!(p.to_string().parse::<Precision>(), Ok(p));
            let yaml = serde_json::to_string(&p).unwrap();
            assert_eq!(yaml, format!("\"{p}\""));
        }
        assert!("fp16".parse::<Precision>().unwrap_err().contains("expected fp32, tf32 or bf16"));
    }
}
