//! The `pipeline` command: parses flags and wires the study (`pipeline_stages`) to the engine
//! (`pipeline_engine`). Exit codes (the table in `Cli`'s doc, which `--help` prints): 0 done or
//! up to date, 1 a node failed or work remains, 2 bad input, 3 an I/O fault, 4 a cluster
//! fault, 130 interrupted; [`failure`] maps an error to its code.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use pipeline_engine::{
    build_slurm_task, cpus, human_bytes, slurm_queued, Builder, Dag, Executor, Fault, FaultContext,
    Force, LocalExecutor, LockSettings, ProgressMode, Registry, Remote, RemoteUse, RunOptions,
    RunSummary, SlurmExecutor, Store, TransferSummary, LOCK_FILE,
};
use pipeline_stages::nn::device::{self as compute, CudaKernels, DeviceChoice};
use pipeline_stages::nn::precision::Precision;
use pipeline_stages::study::{self, Study};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

mod diff;
mod gpu_check;
mod pin;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Reproduce "Adversarially-Trained Deep Nets Transfer Better" as a DAG of content-hashed stages.
///
/// Every artifact is stored under a key made from exactly what produced it (stage code,
/// parameters, input contents), so a run recomputes only what an edit touched. Reports land in
/// reports/ with reports/pipeline.lock recording the artifacts they came from.
///
/// Exit codes: 0 when everything asked for is built or up to date; 1 when a node failed or
/// (status, --dry-run) work remains; 2 on bad input (a flag, target, profile or study file) or
/// an error of no other cause; 3 on an I/O fault (the store, reports or lock file cannot be read
/// or written); 4 on a cluster fault (Slurm's commands missing or failing, its controller not
/// answering); 130 when interrupted.
#[derive(Parser)]
#[command(name = "pipeline", version)]
struct Cli {
    /// The study file. Its directory is the project root: artifacts/ and reports/ live there.
    #[arg(long, global = true, value_name = "PATH", default_value = "pipeline.yaml")]
    config: PathBuf,
    /// Which profile of the study to use [default: the study's default, mini].
    #[arg(long, global = true, value_name = "NAME")]
    profile: Option<String>,
    /// The artifact store [default: <project root>/artifacts]. Several machines may share one.
    #[arg(long, global = true, value_name = "DIR")]
    store: Option<PathBuf>,
    /// Where networks compute: auto (a GPU when this binary has CUDA and one is visible; in a
    /// Slurm task, only one the task was given), cpu, cuda (cuda:0) or cuda:N. Not part of any
    /// key: a node built on a GPU is the same node as one built on the CPU.
    #[arg(long, global = true, value_name = "DEVICE", default_value = "auto")]
    device: DeviceChoice,
    /// Which ops the networks run on CUDA: candle (candle's own ops) or project (the project's:
    /// cuDNN convolutions with deterministic algorithms, its own BatchNorm and residual kernels;
    /// README "Run on a GPU"). Not part of any key; no effect on the CPU.
    #[arg(long, global = true, value_name = "OPS", default_value = "candle")]
    cuda_kernels: CudaKernels,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build targets and everything they depend on, reusing every artifact that is up to date.
    ///
    /// TARGETS are reports (reports/table5, building reports/table5.md, .csv, …), stage kinds
    /// (finetune: all its nodes) or node ids. Without targets, every report is built. Built
    /// reports are copied into the project only when their bytes changed.
    Run(RunArgs),
    /// Show which nodes are up to date, stale, missing, running or failed, and why.
    ///
    /// Prints counts per stage kind, then for each target the nodes that are out of date with
    /// the reason (code of a stage changed, a parameter changed, an input changed, never built,
    /// waiting on an upstream node), then failed nodes with their logs. Exit code 0 when the
    /// targets are up to date, 1 when work remains.
    Status(StatusArgs),
    /// List the targets: reports and the files they publish, stage kinds, and node ids.
    List(ListArgs),
    /// Upload the targets' built artifacts to the remote cache (the study file's `remote:`).
    ///
    /// Every artifact of the targets' closure that is built here and that the remote lacks is
    /// uploaded: its files as one pack named by its content (skipped when the remote has it),
    /// then its record. A push cut short leaves nothing half-visible; run it again to resume.
    /// A key the remote holds with other content (a nondeterministic stage) is reported, never
    /// replaced. Credentials come from the AWS environment variables or profiles. Exit code 0
    /// all pushed or already there, 1 some failed or conflict, 2 on an error (no remote, bad
    /// credentials, missing bucket, remote unreachable, read-only remote).
    Push(TransferArgs),
    /// Download the targets' artifacts from the remote cache into the store.
    ///
    /// Keys every node of the targets' closure from its inputs' contents, local or on the
    /// remote, as a run would, and fetches each the store lacks and the remote holds. Every
    /// download is checked (sizes, each file's blake3, paths) before it enters the store; a
    /// damaged one is discarded and counted. Nodes the remote lacks are left for `run`. Exit
    /// code 0 nothing failed, 1 some download failed or conflicts, 2 on an error.
    Pull(TransferArgs),
    /// Time fine-tuning throughput (forward + backward + SGD step) of the networks.
    Bench(BenchArgs),
    /// Compare the profile's reports with those committed at a git revision, as Markdown.
    ///
    /// Prints the Table 5 cells whose mean or 95% interval moved (old → new, the difference,
    /// and whether the new mean lies outside the old interval), cells added or removed, and the
    /// nodes of pipeline.lock that changed with the reason: code of a stage, a parameter (named,
    /// with old and new values), or an input. Paste it into a review. Exit code 0 when nothing
    /// moved, 1 when something did, 2 on an error (not a git repository, unknown revision,
    /// reports of another profile).
    Diff(DiffArgs),
    /// Write the commit and blake3 of every fetched `unpinned` hub file into the study file.
    ///
    /// Hub files written `unpinned` in pipeline.yaml are fetched from the repository's `main`
    /// and verified against nothing; their fetch artifacts record what they resolved to. This
    /// replaces each such `unpinned` of the profile by that commit or hash, in place: comments,
    /// layout and every other byte are kept, and the file is replaced atomically. It prints each
    /// change (file:line: field: unpinned → value). Fetch first (`pipeline --profile paper run
    /// fetch`). Exit code 0 when nothing is left unpinned, 1 when some files are not fetched yet
    /// (or could not be written), 2 on an error.
    Pin,
    /// Check a GPU machine: ResNet-50 throughput on the GPU, one training step on the GPU
    /// against the same step on the CPU, and a tiny study at the paper's network size built end
    /// to end on the GPU.
    ///
    /// Prints one line per check (ok or FAIL, with the figures and tolerances). Run it first on
    /// a new machine or cluster node. Needs a binary built with `--features cuda`; --device
    /// picks the GPU (default cuda:0). Exit code 0 all passed, 1 a check failed, 2 no GPU to
    /// check.
    GpuCheck(GpuCheckArgs),
    /// Build one job of a Slurm array (what `run --executor slurm` submits; not for typing).
    ///
    /// Reads JOBS_FILE, takes the job at --index (default: $SLURM_ARRAY_TASK_ID), recomputes the
    /// node's key from this study and refuses to run when it differs from the submitted one.
    /// Exit code 0 built or reused, 1 the stage failed (recorded as in a local run), 2 error.
    #[command(hide = true)]
    Worker(WorkerArgs),
}

#[derive(Args)]
struct WorkerArgs {
    jobs_file: PathBuf,
    /// The job's index in JOBS_FILE [default: $SLURM_ARRAY_TASK_ID].
    #[arg(long)]
    index: Option<usize>,
}

#[derive(Args)]
struct GpuCheckArgs {
    /// Keep the study's temporary folder (artifacts, logs, reports) even when it passes.
    #[arg(long)]
    keep: bool,
    /// Only compile the project's CUDA kernels with NVRTC for ARCH (compute_90: H100, H200;
    /// compute_80: A100) and report; needs no GPU (what CI checks).
    #[arg(long, value_name = "ARCH")]
    compile: Option<String>,
    /// Images per op in the per-op check (each project op against candle's on every ResNet-50
    /// shape at 224×224).
    #[arg(long, default_value_t = 8)]
    op_batch: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExecutorKind {
    /// Worker threads of this process.
    Local,
    /// Job arrays on a Slurm cluster (the profile's `slurm:` block says where and with what).
    Slurm,
}

#[derive(Args)]
struct DiffArgs {
    /// The git revision to compare with.
    #[arg(default_value = "HEAD")]
    rev: String,
}

#[derive(Args)]
struct RunArgs {
    /// Reports, stage kinds or node ids (default: every report).
    targets: Vec<String>,
    /// List the nodes that would run and why; run nothing, write nothing.
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Nodes to build at the same time [default: available cores].
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// Recompute the given targets even if their artifacts are up to date (not their inputs:
    /// those are reused when up to date; see --force-all).
    #[arg(long, conflicts_with = "force_all")]
    force: bool,
    /// Recompute the given targets and everything they depend on, even if up to date. Early
    /// cutoff still applies downstream: an input that comes out byte-identical invalidates
    /// nothing.
    #[arg(long)]
    force_all: bool,
    /// Print the run summary as JSON on stdout (per node: outcome, key, seconds), or with
    /// --dry-run the plan.
    #[arg(long)]
    json: bool,
    /// Stop starting new nodes after the first failure.
    #[arg(long, conflicts_with = "keep_going")]
    fail_fast: bool,
    /// Keep building everything that does not depend on a failed node (the default).
    #[arg(long)]
    keep_going: bool,
    /// No progress bar or per-node lines; only the final summary.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Where nodes are built: here, or as job arrays on a Slurm cluster. With slurm the driver
    /// submits nodes as they become ready and follows the queue; a driver started again adopts
    /// the tasks an earlier one left queued or running. --dry-run prints the sbatch scripts.
    #[arg(long, value_enum, default_value_t = ExecutorKind::Local)]
    executor: ExecutorKind,
    /// Slurm: resubmit a task that Slurm ended (TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED,
    /// CANCELLED) up to N times. A stage's own error is never retried.
    #[arg(long, value_name = "N", default_value_t = 0)]
    retries: u32,
    /// Slurm: on Ctrl-C leave the submitted tasks queued and running (a later run adopts them)
    /// instead of cancelling them.
    #[arg(long)]
    detach: bool,
    /// Slurm: accept an artifact store that only this machine sees (under /tmp, on tmpfs), for
    /// a cluster that is this one machine.
    #[arg(long)]
    allow_local_store: bool,
    /// Use the remote cache (the study file's `remote:`): fetch a missing node from it before
    /// building it, and push what this run built (`--remote=pull`: fetch only). With Slurm the
    /// driver does both, so tasks need no credentials. A remote that cannot be reached costs a
    /// warning and a local build.
    #[arg(
        long,
        value_enum,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "sync",
        value_name = "MODE"
    )]
    remote: Option<RemoteMode>,
}

#[derive(Args)]
struct StatusArgs {
    /// Reports, stage kinds or node ids (default: every report).
    targets: Vec<String>,
    /// Print the full report as JSON (every out-of-date node with its reasons).
    #[arg(long)]
    json: bool,
    /// Do not ask the remote cache which missing nodes it holds.
    #[arg(long)]
    no_remote: bool,
}

#[derive(Args)]
struct TransferArgs {
    /// Reports, stage kinds or node ids (default: every report).
    targets: Vec<String>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bar or per-node lines; only the summary.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// What `run --remote` does with the remote cache.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RemoteMode {
    /// Pull a missing node before building it, and push what the run built.
    Sync,
    /// Pull only (what a `read_only: true` remote does anyway).
    Pull,
}

#[derive(Args)]
struct ListArgs {
    /// Also print every node id.
    #[arg(long)]
    nodes: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// Which network to time (`influence`: the influence study's linear algebra instead, at the
    /// mini and the paper sizes; `data`: the CPU data pipeline's images/s at 224×224).
    #[arg(long, default_value = "mini", value_parser = ["mini", "resnet50", "all", "influence", "data"])]
    network: String,
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Timed steps (after a warm-up step).
    #[arg(long, default_value_t = 20)]
    iterations: usize,
    /// After each training-step row, where the step's time goes: each CPU kernel's calls and
    /// milliseconds per step, and the rest (candle's own ops, autograd, the SGD update).
    #[arg(long)]
    ops: bool,
    /// The ResNet-50 rows: fine-tuning this many last blocks each (0: fc alone), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "3")]
    blocks: Vec<usize>,
    /// The convolutions' arithmetic, as a profile's `precision`: fp32, tf32 (TF32 tensor cores)
    /// or bf16 (bfloat16 tensor cores); tf32 and bf16 on a GPU with `--cuda-kernels project` only.
    #[arg(long, default_value = "fp32")]
    precision: Precision,
}

fn main() -> ExitCode {
    // Like other command-line tools, end quietly when the reader of stdout goes away
    // (`pipeline status | head`) instead of panicking on the failed write.
    #[cfg(unix)]
    // SAFETY: sets the signal disposition once, before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // candle asks for its thread count before every matrix product and, unless
    // RAYON_NUM_THREADS is set, re-reads /proc/cpuinfo each time: measured on the mini network,
    // setting it makes fine-tuning 3.3 times faster. Set before any thread starts.
    // Inside a Slurm task, the cores are the CPUs it was given.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", cpus().to_string());
    }
    // The project's CPU kernels thread through each node's own rayon pool. candle's remaining
    // element-wise ops would use its barrier pool instead: one per process, shared (under a
    // lock) by every node building at once, its workers spinning for about a millisecond
    // after each op on cores the kernels need. On the calling thread they cost less (measured
    // with `pipeline bench`: train steps 5–45% faster on the mini networks).
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    let cli = Cli::parse();
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            let (code, fault) = failure(&e);
            eprintln!("error: {fault}{e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(code)
        }
    }
}

/// The exit code of a command that failed with `error`, and how its message names the fault:
/// the one place faults become exit codes (the table in `Cli`'s doc).
fn failure(error: &anyhow::Error) -> (u8, &'static str) {
    match Fault::of(error) {
        Fault::Input => (2, ""),
        Fault::Io => (3, "I/O fault: "),
        Fault::Cluster => (4, "cluster fault: "),
    }
}

/// A loaded study with its validated DAG and where its files go.
struct Project {
    root: PathBuf,
    study: Study,
    dag: Dag,
    store: Store,
}

impl Project {
    fn load(cli: &Cli) -> Result<Project> {
        Project::open(&cli.config, cli.profile.as_deref(), cli.store.clone())
    }

    /// The study at `config`, its `profile` (or the default one) and the store (or
    /// `artifacts/` beside the study file).
    fn open(config: &Path, profile: Option<&str>, store: Option<PathBuf>) -> Result<Project> {
        let mut study = study::load(config, profile)
            .with_context(|| format!("loading the study from {}", config.display()))
            .fault(Fault::Input)?;
        let dag = Dag::new(std::mem::take(&mut study.nodes), &study.registry)
            .with_context(|| format!("profile `{}` does not form a valid DAG", study.profile))?;
        let root = match config.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let store = Store::open(store.unwrap_or_else(|| root.join("artifacts")))?
            .namespaced(&study.profile);
        Ok(Project { root, study, dag, store })
    }

    /// A client for the study file's `remote:` block.
    fn remote(&self) -> Result<Remote> {
        let Some(settings) = &self.study.remote else {
            bail!(
                "the study file has no `remote:` block; add one at its top level, e.g. `remote: \
                 {{ url: s3://bucket/prefix, endpoint: https://s3.example.org }}`"
            )
        };
        Remote::open(settings)
    }

    /// The profile's lock file, relative to the project root.
    fn lock_path(&self) -> PathBuf {
        Path::new(&self.study.reports_dir).join(LOCK_FILE)
    }
}

fn dispatch(cli: &Cli) -> Result<ExitCode> {
    compute::set_cuda_kernels(cli.cuda_kernels);
    match &cli.command {
        Command::Run(args) => {
            let p = Project::load(cli)?;
            pin::warn(&p.study, &p.dag, &p.store);
            let code = run(cli, &p, args);
            exit_without_freeing(p);
            code
        }
        Command::Status(args) => {
            let p = Project::load(cli)?;
            pin::warn(&p.study, &p.dag, &p.store);
            let code = status(&p, args);
            exit_without_freeing(p);
            code
        }
        Command::List(args) => list(&Project::load(cli)?, args),
        Command::Push(args) => transfer(&Project::load(cli)?, args, pipeline_engine::push),
        Command::Pull(args) => transfer(&Project::load(cli)?, args, pipeline_engine::pull),
        Command::Pin => {
            let p = Project::load(cli)?;
            let files = pin::unpinned(&p.dag, &p.study.registry, &p.store);
            Ok(exit(pin::pin(&cli.config, &p.study.profile, &files)?))
        }
        Command::Diff(args) => {
            let p = Project::load(cli)?;
            let moved =
                diff::print(&p.root, &cli.config, &p.study, &p.dag, &p.lock_path(), &args.rev)?;
            Ok(exit(!moved))
        }
        Command::Worker(args) => {
            let p = Project::load(cli)?;
            eprintln!("device: {}", compute::select(cli.device)?);
            let builder = Builder::new(&p.dag, &p.study.registry, &p.store);
            let index = match args.index {
                Some(i) => i,
                None => std::env::var("SLURM_ARRAY_TASK_ID")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .context("no --index and no SLURM_ARRAY_TASK_ID: which job to build?")?,
            };
            let built = build_slurm_task(&builder, &args.jobs_file, index)?;
            Ok(exit(built))
        }
        Command::GpuCheck(args) => match &args.compile {
            Some(arch) => gpu_check::compile(arch),
            None => gpu_check::run(cli.device, args.keep, args.op_batch),
        },
        Command::Bench(args) => {
            println!("device: {}", compute::select(cli.device)?);
            pipeline_stages::bench::run(&pipeline_stages::bench::BenchOptions {
                network: args.network.clone(),
                batch: args.batch,
                iterations: args.iterations,
                ops: args.ops,
                blocks: args.blocks.clone(),
                precision: args.precision,
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The process ends after this: let the OS reclaim the study at once instead of freeing the
/// paper grid's 13,000 nodes one by one (a tenth of `status`'s time on that profile).
fn exit_without_freeing(p: Project) {
    std::mem::forget(p);
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn run(cli: &Cli, p: &Project, args: &RunArgs) -> Result<ExitCode> {
    let targets = p.dag.resolve_targets(&args.targets)?;
    let force = match (args.force, args.force_all) {
        (_, true) => Force::Closure,
        (true, false) => Force::Targets,
        (false, false) => Force::Nothing,
    };
    let slurm = match args.executor {
        ExecutorKind::Local => None,
        ExecutorKind::Slurm => Some(slurm_executor(cli, p, args)?),
    };
    // A local run computes here; a Slurm driver only submits, and its tasks choose (below).
    if !args.dry_run && args.executor == ExecutorKind::Local {
        let device = compute::select(cli.device)?;
        if !args.quiet {
            eprintln!("device: {device}");
        }
    }
    if args.dry_run {
        let plan = pipeline_engine::plan(&p.dag, &p.study.registry, &p.store, &targets, force)?;
        if let Some(slurm) = &slurm {
            let nodes: Vec<(&str, &str)> =
                plan.would_run.iter().map(|s| (s.kind.as_str(), s.id.as_str())).collect();
            print!("{}", slurm.dry_run(&p.store, &nodes));
        } else if args.json {
            let json = serde_json::json!({ "profile": p.study.profile, "plan": plan });
            println!("{}", serde_json::to_string_pretty(&json)?);
        } else {
            print!("{plan}");
        }
        return Ok(exit(plan.would_run.is_empty()));
    }
    let executor: Box<dyn Executor> = match slurm {
        Some(slurm) => Box::new(slurm),
        None => Box::new(LocalExecutor {
            jobs: match args.jobs {
                Some(n) => n as usize,
                None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            },
        }),
    };
    // A remote that cannot even be configured (no credentials) costs a warning, as one that
    // cannot be reached does.
    let remote = args.remote.and_then(|mode| match p.remote() {
        Ok(remote) => Some(RemoteUse { remote: Arc::new(remote), push: mode == RemoteMode::Sync }),
        Err(e) => {
            eprintln!("warning: not using the remote: {e:#}");
            None
        }
    });
    let options = RunOptions {
        targets,
        executor,
        force,
        fail_fast: args.fail_fast,
        progress: if args.quiet { ProgressMode::Hidden } else { ProgressMode::Auto },
        project_root: p.root.clone(),
        lock: LockSettings { path: p.lock_path(), profile: p.study.profile.clone() },
        remote,
    };
    let summary = match pipeline_engine::run(&p.dag, &p.study.registry, &p.store, &options) {
        Err(e) if INTERRUPTED.load(Ordering::Relaxed) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(130));
        }
        result => result?,
    };
    print_summary(&p.study.profile, &summary);
    if args.json {
        let json = serde_json::json!({ "profile": p.study.profile, "run": summary });
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(exit(summary.success()))
}

/// Set when Ctrl-C (or SIGTERM) reaches a Slurm driver, which then cancels what it submitted.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// How this run uses Slurm: the profile's `slurm:` block and the flags. Tasks run this same
/// binary in this same directory with the study file, profile and store spelt as they were here,
/// so that they resolve every path (local datasets included) exactly as this process did.
fn slurm_executor(cli: &Cli, p: &Project, args: &RunArgs) -> Result<SlurmExecutor> {
    let exe = std::env::current_exe().context("finding this program's path for the tasks")?;
    let workdir = std::env::current_dir().context("reading the current directory")?;
    let mut worker: Vec<String> = vec![
        exe.display().to_string(),
        "--config".into(),
        cli.config.display().to_string(),
        "--profile".into(),
        p.study.profile.clone(),
    ];
    if let Some(store) = &cli.store {
        worker.extend(["--store".into(), store.display().to_string()]);
    }
    worker.extend(["--device".into(), cli.device.to_string()]);
    worker.extend(["--cuda-kernels".into(), cli.cuda_kernels.to_string()]);
    if !args.dry_run {
        // SAFETY: sets signal dispositions before the run starts any thread; the handler only
        // stores to an atomic.
        unsafe {
            libc::signal(libc::SIGINT, on_interrupt as *const () as libc::sighandler_t);
            libc::signal(libc::SIGTERM, on_interrupt as *const () as libc::sighandler_t);
        }
    }
    Ok(SlurmExecutor {
        settings: p.study.slurm.clone(),
        worker,
        workdir,
        retries: args.retries,
        detach: args.detach,
        interrupted: &INTERRUPTED,
        allow_local_store: args.allow_local_store,
    })
}

fn print_summary(profile: &str, s: &RunSummary) {
    let pulled = match s.pulled {
        0 => String::new(),
        n => format!(", {n} pulled ({})", human_bytes(s.pulled_bytes)),
    };
    eprintln!(
        "profile {profile}: {} node(s): {} ran, {} cached{pulled}, {} failed, {} blocked, {} not \
         started",
        s.nodes.len(),
        s.executed,
        s.cached,
        s.failed,
        s.blocked,
        s.not_started
    );
    if s.pushed > 0 {
        eprintln!(
            "pushed {} artifact(s) to the remote ({})",
            s.pushed,
            human_bytes(s.pushed_bytes)
        );
    }
    for file in &s.published {
        eprintln!("updated {}", file.display());
    }
    for node in &s.nodes {
        if let pipeline_engine::Outcome::Failed { error, log } = &node.outcome {
            eprintln!("failed: {}\n  {error}\n  log: {}", node.id, log.display());
        }
    }
}

fn status(p: &Project, args: &StatusArgs) -> Result<ExitCode> {
    let targets: Vec<(String, Vec<usize>)> = if args.targets.is_empty() {
        vec![("all reports".to_string(), p.dag.resolve_targets(&[])?)]
    } else {
        args.targets
            .iter()
            .map(|t| Ok((t.clone(), p.dag.resolve_targets(std::slice::from_ref(t))?)))
            .collect::<Result<_>>()?
    };
    // Tasks this store has in a Slurm queue (one squeue call; nothing when none were submitted).
    let queue = slurm_queued(&p.store).unwrap_or_else(|e| {
        eprintln!("warning: cannot read the Slurm queue: {e:#}");
        Default::default()
    });
    // Which missing nodes the remote holds: one listing, or a warning when it does not answer.
    let remote = match (&p.study.remote, args.no_remote) {
        (Some(_), false) => match p.remote().and_then(|r| Ok((r.block_on(r.index())?, r))) {
            Ok((index, remote)) => Some((remote.url().to_string(), index)),
            Err(e) => {
                eprintln!("warning: cannot ask the remote what it holds: {e:#}");
                None
            }
        },
        _ => None,
    };
    let view = remote.as_ref().map(|(url, index)| (url.as_str(), index));
    let report =
        pipeline_engine::status(&p.dag, &p.study.registry, &p.store, &targets, &queue, view)?;
    if args.json {
        let json = serde_json::json!({ "profile": p.study.profile, "status": report });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("profile {}\n", p.study.profile);
        print!("{report}");
    }
    Ok(exit(report.up_to_date))
}

/// The signature of `pipeline_engine::push` and `pull`.
type Transfer =
    fn(&Dag, &Registry, &Store, &Remote, &[usize], ProgressMode) -> Result<TransferSummary>;

/// `push` or `pull` of the targets' closure; the summary on stderr (or as JSON on stdout).
fn transfer(p: &Project, args: &TransferArgs, how: Transfer) -> Result<ExitCode> {
    let targets = p.dag.resolve_targets(&args.targets)?;
    let remote = p.remote()?;
    let progress = if args.quiet { ProgressMode::Hidden } else { ProgressMode::Auto };
    let summary = how(&p.dag, &p.study.registry, &p.store, &remote, &targets, progress)?;
    eprint!("{}: {summary}", remote.url());
    if args.json {
        let json = serde_json::json!({ "profile": p.study.profile, "remote": remote.url(), "summary": summary });
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(exit(summary.success()))
}

fn list(p: &Project, args: &ListArgs) -> Result<ExitCode> {
    println!("profile {} (profiles: {})", p.study.profile, p.study.profiles.join(", "));
    println!("\nreports:");
    for (report, nodes) in p.dag.reports() {
        let files: Vec<String> = nodes
            .iter()
            .flat_map(|&i| &p.dag.node(i).publish)
            .map(|publish| publish.to.display().to_string())
            .filter(|to| Path::new(to).with_extension("").to_string_lossy() == report)
            .collect();
        println!("  {report}  ({})", files.join(", "));
    }
    println!("\nstage kinds:");
    for kind in p.dag.kinds() {
        let count = p.dag.nodes().iter().filter(|n| n.kind == kind).count();
        println!("  {kind}  ({count} node(s))");
    }
    if args.nodes {
        println!("\nnodes:");
        for node in p.dag.nodes() {
            println!("  {}", node.id);
        }
    } else {
        println!("\nnode ids are targets too (`pipeline list --nodes` prints them)");
    }
    Ok(ExitCode::SUCCESS)
}
