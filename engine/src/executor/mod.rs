//! Executors: where the scheduler's jobs run. The caller chooses one and hands it to
//! [`crate::scheduler::run`] (cargo's `Executor` seam): [`local::LocalExecutor`] (worker threads
//! of this process) or [`slurm::SlurmExecutor`] (job arrays). The scheduler decides what is
//! ready and records what finished; for the run, the executor opens a [`Session`], which only
//! runs jobs, through [`crate::build::Builder`].

pub(crate) mod local;
pub(crate) mod slurm;

use crate::build::{Builder, Reporter, Step};
use crate::job::Job;
use crate::progress::Progress;
use crate::store::Store;
use anyhow::Result;
use std::sync::Arc;

/// Where a run's jobs go, as the caller configured it.
pub trait Executor {
    /// Checks made before the run changes anything in the store (Slurm: its commands answer
    /// and the store is one the cluster's nodes can see).
    fn preflight(&self, store: &Store) -> Result<()>;
    /// Open a session over `builder` (showing what it does on `progress`, and builds through
    /// `reporter`), hand it to `drive`, and close it when `drive` returns: local threads stop,
    /// a Slurm driver says what it submitted.
    fn session(
        &self,
        builder: &Builder,
        progress: &Progress,
        reporter: Arc<dyn Reporter>,
        drive: &mut dyn FnMut(&mut dyn Session) -> Result<()>,
    ) -> Result<()>;
}

/// An executor open for one run: the scheduler starts each ready job once and waits for
/// results.
pub trait Session {
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
