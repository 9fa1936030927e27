//! Which device the networks compute on: chosen once per process (`--device`), then read by
//! every stage through [`device()`].
//!
//! The device is where a node is computed, not what it computes: it is not part of any key, so a
//! cell built on a GPU and one built on the CPU are the same node (their bytes may differ in the
//! last bits; each node's log says which device built it).

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use anyhow::{anyhow, Result};
use candle_core::Device;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// A GPU when this binary has CUDA and one is visible, otherwise the CPU.
    #[default]
    Auto,
    Cpu,
    /// The CUDA device with this ordinal among the visible ones.
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ordinal = |n: &str| {
            n.parse::<usize>().map_err(|_| format!("`{s}`: expected cuda:N with N a GPU number"))
        };
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => match s.strip_prefix("cuda:") {
                Some(n) => Ok(Self::Cuda(ordinal(n)?)),
                None => Err(format!("`{s}`: expected auto, cpu, cuda or cuda:N")),
            },
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// What this process can use, as far as the choice depends on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visible {
    /// The binary was built with the `cuda` feature.
    pub compiled: bool,
    /// Inside a Slurm task that was given no GPU (`SLURM_JOB_ID` set, `CUDA_VISIBLE_DEVICES`
    /// unset or empty): a GPU the node has but the task was not given is not ours.
    pub slurm_without_gpu: bool,
    /// How many GPUs the driver reports, or why it reports none.
    pub gpus: Result<usize, String>,
}

/// Where the choice lands: the CPU (with why, for `auto`) or a CUDA ordinal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Cpu(&'static str),
    Cuda(usize),
}

/// Resolves `choice` against what is visible. An explicit `cuda` that cannot be had is an error
/// naming what is missing; `auto` falls back to the CPU and says why.
pub fn resolve(choice: DeviceChoice, visible: &Visible) -> Result<Resolved, String> {
    match choice {
        DeviceChoice::Cpu => Ok(Resolved::Cpu("asked for")),
        DeviceChoice::Auto if !visible.compiled => Ok(Resolved::Cpu("this binary has no CUDA")),
        DeviceChoice::Auto if visible.slurm_without_gpu => {
            Ok(Resolved::Cpu("the Slurm task was given no GPU"))
        }
        DeviceChoice::Auto => match visible.gpus {
            Ok(n) if n > 0 => Ok(Resolved::Cuda(0)),
            _ => Ok(Resolved::Cpu("no GPU visible")),
        },
        DeviceChoice::Cuda(_) if !visible.compiled => Err(format!(
            "--device {choice}: this pipeline binary was built without CUDA (build it with \
             `--features cuda`, README \"Run on a GPU\")"
        )),
        DeviceChoice::Cuda(_) if visible.slurm_without_gpu => Err(format!(
            "--device {choice}: this Slurm task was given no GPU (CUDA_VISIBLE_DEVICES is empty; \
             give the stage kind `gpus:` in the profile's slurm resources)"
        )),
        DeviceChoice::Cuda(n) => match &visible.gpus {
            Ok(count) if n < *count => Ok(Resolved::Cuda(n)),
            Ok(count) => Err(format!("--device {choice}: {count} GPU(s) visible, no cuda:{n}")),
            Err(why) => Err(format!("--device {choice}: no GPU visible ({why})")),
        },
    }
}

/// This process's view: the binary's features, Slurm's environment, the driver's device count.
pub fn visible() -> Visible {
    let slurm_task = std::env::var_os("SLURM_JOB_ID").is_some();
    let cuda_visible = std::env::var("CUDA_VISIBLE_DEVICES").unwrap_or_default();
    Visible {
        compiled: cfg!(feature = "cuda"),
        slurm_without_gpu: slurm_task && cuda_visible.trim().is_empty(),
        gpus: gpu_count(),
    }
}

#[cfg(feature = "cuda")]
fn gpu_count() -> Result<usize, String> {
    use candle_core::cuda_backend::cudarc::driver::CudaContext;
    CudaContext::device_count().map(|n| n.max(0) as usize).map_err(|e| e.to_string())
}

#[cfg(not(feature = "cuda"))]
fn gpu_count() -> Result<usize, String> {
    Err("built without CUDA".into())
}

/// Which ops the network runs on CUDA (`--cuda-kernels`). Like the device, where and how a node
/// is computed, not what: part of no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CudaKernels {
    /// candle's own ops (the default until the project's are verified on a GPU).
    #[default]
    Candle,
    /// The project's ops ([`super::cuda`]): cuDNN convolutions and the project's kernels.
    Project,
}

impl FromStr for CudaKernels {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "candle" => Ok(Self::Candle),
            "project" => Ok(Self::Project),
            _ => Err(format!("`{s}`: expected candle or project")),
        }
    }
}

impl fmt::Display for CudaKernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Candle => "candle",
            Self::Project => "project",
        })
    }
}

static PROJECT_KERNELS: AtomicBool = AtomicBool::new(false);

/// Chooses the ops CUDA tensors run in from now on (`pipeline gpu-check` switches between them
/// to compare them).
pub fn set_cuda_kernels(kernels: CudaKernels) {
    PROJECT_KERNELS.store(kernels == CudaKernels::Project, Ordering::Relaxed);
}

/// The ops CUDA tensors run in.
pub fn cuda_kernels() -> CudaKernels {
    match PROJECT_KERNELS.load(Ordering::Relaxed) {
        true => CudaKernels::Project,
        false => CudaKernels::Candle,
    }
}

static SELECTED: OnceLock<(DeviceChoice, Device, String)> = OnceLock::new();

/// Chooses this process's device once, before any stage runs. Returns a line that says which
/// device and why (`cpu (auto: this binary has no CUDA)`, `cuda:0 (auto)`). An impossible
/// explicit choice is an error, and so is a second, different choice.
pub fn select(choice: DeviceChoice) -> Result<String> {
    if let Some((chosen, _, line)) = SELECTED.get() {
        anyhow::ensure!(*chosen == choice, "the device was already chosen: {line}");
        return Ok(line.clone());
    }
    let resolved = resolve(choice, &visible()).map_err(|e| anyhow!(e))?;
    let (device, line) = match resolved {
        Resolved::Cpu(why) if choice == DeviceChoice::Auto => {
            (Device::Cpu, format!("cpu (auto: {why})"))
        }
        Resolved::Cpu(_) => (Device::Cpu, "cpu".to_string()),
        Resolved::Cuda(n) => {
            let device = Device::new_cuda(n).map_err(|e| anyhow!("--device {choice}: {e}"))?;
            let how = if choice == DeviceChoice::Auto { " (auto)" } else { "" };
            (device, format!("cuda:{n}{how}"))
        }
    };
    let (_, _, line) = SELECTED.get_or_init(|| (choice, device, line));
    Ok(line.clone())
}

/// The compute device: the one [`select`] chose, or `auto`'s choice when nothing was selected
/// (tests, library use).
pub fn device() -> Result<Device> {
    if SELECTED.get().is_none() {
        select(DeviceChoice::Auto)?;
    }
    Ok(SELECTED.get().map(|(_, device, _)| device.clone()).expect("selected above"))
}

/// `cpu` or `cuda:N`, for logs.
pub fn describe(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible(compiled: bool, slurm_without_gpu: bool, gpus: Result<usize, &str>) -> Visible {
        Visible { compiled, slurm_without_gpu, gpus: gpus.map_err(str::to_string) }
    }

    #[test]
    fn parses_and_prints_every_choice() {
        for (text, choice) in [
            ("auto", DeviceChoice::Auto),
            ("cpu", DeviceChoice::Cpu),
            ("cuda:0", DeviceChoice::Cuda(0)),
            ("cuda:3", DeviceChoice::Cuda(3)),
        ] {
            assert_eq!(text.parse::<DeviceChoice>().unwrap(), choice);
            assert_eq!(choice.to_string(), text);
        }
        assert_eq!("cuda".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(0));
        for bad in ["gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", ""] {
            let err = bad.parse::<DeviceChoice>().unwrap_err();
            assert!(err.contains(&format!("`{bad}`")), "{bad}: {err}");
        }
    }

    #[test]
    fn auto_takes_a_gpu_only_when_built_with_cuda_and_one_is_visible() {
        let auto = |v| resolve(DeviceChoice::Auto, &v).unwrap();
        assert_eq!(
            auto(visible(false, false, Err("built without CUDA"))),
            Resolved::Cpu("this binary has no CUDA")
        );
        assert_eq!(auto(visible(true, false, Ok(0))), Resolved::Cpu("no GPU visible"));
        assert_eq!(
            auto(visible(true, false, Err("CUDA_ERROR_NO_DEVICE"))),
            Resolved::Cpu("no GPU visible")
        );
        assert_eq!(auto(visible(true, false, Ok(2))), Resolved::Cuda(0));
        // Inside a Slurm task, CUDA_VISIBLE_DEVICES decides: a GPU the task was not given is
        // not taken even when the driver shows it.
        assert_eq!(
            auto(visible(true, true, Ok(2))),
            Resolved::Cpu("the Slurm task was given no GPU")
        );
    }

    #[test]
    fn the_cuda_kernels_parse_and_print() {
        for k in [CudaKernels::Candle, CudaKernels::Project] {
            assert_eq!(k.to_string().parse::<CudaKernels>().unwrap(), k);
        }
        assert_eq!(CudaKernels::default(), CudaKernels::Candle);
        assert!("cudnn".parse::<CudaKernels>().unwrap_err().contains("candle or project"));
    }

    #[test]
    fn cpu_is_always_possible() {
        for v in [visible(false, false, Err("x")), visible(true, true, Ok(4))] {
            assert_eq!(resolve(DeviceChoice::Cpu, &v).unwrap(), Resolved::Cpu("asked for"));
        }
    }

    #[test]
    fn an_impossible_cuda_choice_is_a_one_line_error_naming_what_is_missing() {
        let err = |choice, v| resolve(choice, &v).unwrap_err();
        let no_cuda = err(DeviceChoice::Cuda(0), visible(false, false, Err("built without CUDA")));
        assert!(
            no_cuda.contains("built without CUDA") && no_cuda.contains("--features cuda"),
            "{no_cuda}"
        );
        let no_gpu = err(DeviceChoice::Cuda(0), visible(true, false, Err("CUDA_ERROR_NO_DEVICE")));
        assert!(no_gpu.contains("no GPU visible (CUDA_ERROR_NO_DEVICE)"), "{no_gpu}");
        let too_few = err(DeviceChoice::Cuda(2), visible(true, false, Ok(2)));
        assert!(too_few.contains("2 GPU(s) visible, no cuda:2"), "{too_few}");
        let slurm = err(DeviceChoice::Cuda(0), visible(true, true, Ok(1)));
        assert!(slurm.contains("given no GPU"), "{slurm}");
        for e in [no_cuda, no_gpu, too_few, slurm] {
            assert!(!e.contains('\n'), "{e}");
        }
        assert_eq!(
            resolve(DeviceChoice::Cuda(1), &visible(true, false, Ok(2))).unwrap(),
            Resolved::Cuda(1)
        );
    }
}
