//! Executors: where the scheduler's jobs run. The scheduler decides what is ready and records
//! what finished; an executor only runs jobs, through [`crate::build::Builder`]. Local worker
//! threads ([`local`]) and Slurm job arrays ([`slurm`]) are the two implementations.

pub mod local;
pub mod slurm;

use crate::build::Step;
use crate::job::Job;
use anyhow::Result;

/// Runs jobs; the scheduler starts each ready job once and waits for results.
pub trait Executor {
    /// Take job `index` (the node's index in the DAG) to run.
    fn start(&mut self, index: usize, job: Job) -> Result<()>;
    /// Block until at least one started job has finished and return the finished ones. Called
    /// only while some started job has not been returned.
    fn wait(&mut self) -> Result<Vec<(usize, Step)>>;
    /// Withdraw the started jobs that have not begun running (`--fail-fast` after a failure);
    /// returns their indices. Running ones still finish and are returned by `wait`.
    fn withdraw_queued(&mut self) -> Result<Vec<usize>>;
}

/// The CPUs this process may use: `SLURM_CPUS_PER_TASK` inside a Slurm allocation (a task, or
/// `pipeline run` under `salloc`), else every core.
pub fn cpus() -> usize {
    std::env::var("SLURM_CPUS_PER_TASK")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
