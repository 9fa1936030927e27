//! `pipeline gpu-check`: what to run first on a new GPU machine or cluster node. Three checks,
//! one line each, exit 0 when all pass, 1 when one fails, 2 when there is no GPU to check:
//!
//! 1. `bench`: ResNet-50 at 224×224 fine-tuning its last 3 blocks + fc, images/s on the GPU.
//! 2. `step`: one ResNet-50 training step on the GPU against the same step on the CPU (same
//!    weights, same batch): the loss, and every parameter and running statistic after the SGD
//!    step (tolerances in `pipeline_stages::gpu_check`). Twice: every parameter training
//!    (pre-training), and the last 3 blocks with frozen BatchNorm in train mode (Table 5).
//! 3. `op`: each op the project implements on CUDA (`--cuda-kernels project`) against candle's
//!    own op on the GPU, on every ResNet-50 shape at 224×224: the output and every gradient
//!    within `check::FP32_TOLERANCE` (one line per op and shape); then each convolution again
//!    in TF32 and in bf16, within its [`tolerance`] of candle's fp32; and the conversion to
//!    bfloat16 bit for bit against the CPU's (`bf16`).
//! 4. `study`: the study in `gpu_check.yaml` (the paper's network, tiny procedural data, sources
//!    pre-trained here) built end to end on the GPU in a temporary folder, every report rendered.
//!
//! The bench, step and study checks run the ops `--cuda-kernels` names.
//! `--compile ARCH` instead only compiles the project's CUDA kernels, which needs no GPU.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use pipeline_engine::{Force, LocalExecutor, LockSettings, ProgressMode, RunOptions};
use pipeline_stages::gpu_check::{
    resnet50_throughput, step_agreement, LOSS_TOLERANCE, UPDATE_TOLERANCE,
};
#[cfg(feature = "cuda")]
use pipeline_stages::nn::cuda::check::bf16_rounding;
use pipeline_stages::nn::cuda::check::{compare, resnet50_cases, tolerance, OpCase};
use pipeline_stages::nn::device::{self as compute, CudaKernels, DeviceChoice};
use pipeline_stages::nn::precision::{self, Precision};
use pipeline_stages::nn::{FrozenBn, NetConfig, Regime};

use crate::Project;

const STUDY: &str = include_str!("gpu_check.yaml");
const BENCH_BATCH: usize = 16;
const BENCH_ITERATIONS: usize = 10;
const STEP_BATCH: usize = 8;

/// Compiles the project's CUDA kernels for `arch` and says how many entry points the PTX has.
pub fn compile(arch: &str) -> Result<ExitCode> {
    #[cfg(feature = "cuda")]
    {
        // NVRTC takes the architecture as a static string; this process compiles once.
        let arch: &'static str = Box::leak(arch.to_string().into_boxed_str());
        let ptx = pipeline_stages::nn::cuda::kernels::compile(arch).map_err(anyhow::Error::msg)?;
        let entries = ptx.matches(".entry ").count();
        println!("ok   compile: the project's CUDA kernels for {arch}: {entries} kernels, {} bytes of PTX", ptx.len());
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(feature = "cuda"))]
    bail!("gpu-check --compile {arch}: this pipeline binary was built without CUDA (build it with `--features cuda`)")
}

pub fn run(choice: DeviceChoice, keep: bool, op_batch: usize) -> Result<ExitCode> {
    let choice = match choice {
        DeviceChoice::Auto => DeviceChoice::Cuda(0),
        DeviceChoice::Cpu => bail!("gpu-check checks a GPU: --device cpu leaves nothing to check"),
        cuda => cuda,
    };
    println!("device: {}", compute::select(choice)?);
    println!("cuda kernels: {}", compute::cuda_kernels());
    let device = compute::device()?;
    let mut failed = 0;
    let mut report = |name: &str, result: Result<(bool, String)>| {
        let (ok, line) = result.unwrap_or_else(|e| (false, format!("{e:#}")));
        failed += usize::from(!ok);
        println!("{} {name}: {line}", if ok { "ok  " } else { "FAIL" });
    };

    report(
        "bench",
        resnet50_throughput(&device, BENCH_BATCH, BENCH_ITERATIONS).map(|(forward, step)| {
            let line = format!(
                "ResNet-50 224×224, last 3 blocks + fc, batch {BENCH_BATCH}: {step:.1} images/s \
                 per training step ({forward:.1} forward)"
            );
            (true, line)
        }),
    );
    for (what, regime) in [
        ("every parameter trains", Regime::full()),
        ("last 3 blocks, frozen BatchNorm in train mode", Regime::fine_tune(3, FrozenBn::Train)?),
    ] {
        let agreement = step_agreement(&device, NetConfig::resnet50(10), 224, STEP_BATCH, &regime);
        report(
            "step",
            agreement.map(|a| {
                let line = format!(
                    "ResNet-50 training step ({what}), GPU against CPU: loss {:.6} / {:.6} \
                     (tolerance {LOSS_TOLERANCE:e} relative); {} tensors, largest update \
                     difference {:.1e} at {} (tolerance {UPDATE_TOLERANCE:e}){}",
                    a.loss_device,
                    a.loss_cpu,
                    a.tensors,
                    a.worst.0,
                    a.worst.1,
                    match a.failures.len() {
                        0 => String::new(),
                        n => format!("; {n} over it: {:?}", a.failures),
                    }
                );
                (a.ok(), line)
            }),
        );
    }
    // Each op of the project's against candle's (fp32), whatever --cuda-kernels says for the
    // rest: in fp32 every op, in TF32 and bf16 the convolutions (the rest computes fp32 in all).
    let kernels = compute::cuda_kernels();
    compute::set_cuda_kernels(CudaKernels::Project);
    #[cfg(feature = "cuda")]
    report(
        "bf16",
        bf16_rounding(&device).map(|(n, differ)| {
            let line = format!(
                "the project's conversion of {n} floats to bfloat16 and back against the CPU's \
                 (to nearest even): {} differ{}",
                differ.len(),
                match differ.first() {
                    Some((v, ours, cpu)) => format!(", first {v:e}: {ours:#010x} / {cpu:#010x}"),
                    None => String::new(),
                }
            );
            (differ.is_empty(), line)
        }),
    );
    for precision in [Precision::Fp32, Precision::Tf32, Precision::Bf16] {
        let _precision = precision::enter(precision, &device)?;
        let cases = resnet50_cases(op_batch, 224).into_iter().enumerate();
        let checked = |c: &OpCase| precision.is_fp32() || matches!(c, OpCase::Conv { .. });
        for (i, case) in cases.filter(|(_, c)| checked(c)) {
            let tolerance = tolerance(&case, precision);
            report(
                "op",
                compare(case, &device, 100 + i as u64).map(|compared| {
                    let ok = compared.iter().all(|c| c.relative <= tolerance);
                    let figures: Vec<String> =
                        compared.iter().map(|c| format!("{} {:.1e}", c.what, c.relative)).collect();
                    let line = format!(
                        "{case}, {precision}, project against candle's fp32 (tolerance \
                         {tolerance:e} relative): {}",
                        figures.join(", ")
                    );
                    (ok, line)
                }),
            );
        }
    }
    compute::set_cuda_kernels(kernels);
    report("study", study(keep));
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Builds every report of the gpu-check study in a fresh temporary folder; the folder is
/// removed afterwards unless `keep` (or the build failed: then its logs are worth reading).
fn study(keep: bool) -> Result<(bool, String)> {
    let dir = std::env::temp_dir().join(format!("pipeline-gpu-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let config = dir.join("pipeline.yaml");
    std::fs::write(&config, STUDY).with_context(|| format!("writing {}", config.display()))?;
    let started = Instant::now();
    let (ok, line) = build_all(&config)?;
    let line = format!("{line} in {:.0} s", started.elapsed().as_secs_f64());
    if ok && !keep {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        Ok((ok, line))
    } else {
        Ok((ok, format!("{line}; its files, logs included: {}", dir.display())))
    }
}

fn build_all(config: &Path) -> Result<(bool, String)> {
    let p = Project::open(config, None, None)?;
    let options = RunOptions {
        targets: p.dag.resolve_targets(&[])?,
        executor: Box::new(LocalExecutor { jobs: 1 }),
        force: Force::Nothing,
        fail_fast: false,
        progress: ProgressMode::Hidden,
        project_root: p.root.clone(),
        lock: LockSettings { path: p.lock_path(), profile: p.study.profile.clone() },
        remote: None,
    };
    let summary = pipeline_engine::run(&p.dag, &p.study.registry, &p.store, &options)?;
    let table5: PathBuf = p.root.join(&p.study.reports_dir).join("table5.md");
    let mut line = format!(
        "the paper's network through every stage ({} nodes: {} built, {} failed, {} blocked)",
        summary.nodes.len(),
        summary.executed,
        summary.failed,
        summary.blocked
    );
    if let Some(failure) = summary.nodes.iter().find_map(|n| match &n.outcome {
        pipeline_engine::Outcome::Failed { error, .. } => Some(format!("{}: {error}", n.id)),
        _ => None,
    }) {
        line.push_str(&format!("; first failure {failure}"));
    }
    Ok((summary.success() && table5.is_file(), line))
}
