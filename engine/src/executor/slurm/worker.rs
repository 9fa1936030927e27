//! The task side: `pipeline worker <submission>/jobs.json` builds the job at index
//! `$SLURM_ARRAY_TASK_ID` through the same [`Builder`] as a local run (same store, locks, atomic
//! commit, failure records and logs), with the CPUs Slurm gave it, and leaves its result in
//! `<index>.result.json` for the driver.

use crate::build::{Builder, Reporter, Step};
use crate::fsutil::write_atomic;
use crate::job::Job;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where task `index` of the submission whose jobs are in `jobs_file` leaves its result.
pub fn result_path(jobs_file: &Path, index: usize) -> PathBuf {
    jobs_file.with_file_name(format!("{index}.result.json"))
}

/// Build task `index` of `jobs_file`. `Ok(true)`: built or reused; `Ok(false)`: the stage
/// failed (recorded like a local failure). Errors (a key that does not match, a bad jobs file)
/// are returned before anything is built.
pub fn build_slurm_task(builder: &Builder, jobs_file: &Path, index: usize) -> Result<bool> {
    let text = std::fs::read(jobs_file)
        .with_context(|| format!("reading the jobs file {}", jobs_file.display()))?;
    let jobs: Vec<Job> = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a jobs file", jobs_file.display()))?;
    let Some(job) = jobs.get(index) else {
        bail!("{} has {} job(s), no index {index}", jobs_file.display(), jobs.len());
    };
    let threads = crate::executor::cpus();
    eprintln!(
        "pipeline worker: started_at_ms={} node {} (key {}), {threads} thread(s), host {}, \
         CUDA_VISIBLE_DEVICES={}",
        now_ms(),
        job.node,
        job.key,
        std::env::var("SLURMD_NODENAME").unwrap_or_else(|_| "?".into()),
        std::env::var("CUDA_VISIBLE_DEVICES").unwrap_or_else(|_| "(unset)".into()),
    );
    // Check the key before anything else: a different binary or study file builds nothing.
    builder.record(job)?;
    builder.store.create_dirs()?;
    let reporter: Arc<dyn Reporter> = Arc::new(LogReporter::default());
    let step = match builder.build(job, threads, false, &reporter) {
        Step::Deferred => builder.build(job, threads, true, &reporter),
        step => step,
    };
    let ok = matches!(step, Step::Built { .. });
    match &step {
        Step::Built { ran: true, seconds, .. } => eprintln!("built in {seconds:.1} s"),
        Step::Built { ran: false, .. } => eprintln!("already built; reused"),
        Step::Failed { error, log, .. } => eprintln!("failed: {error}\nlog: {}", log.display()),
        Step::Deferred => unreachable!("a waiting build is never deferred"),
    }
    write_atomic(&result_path(jobs_file, index), &serde_json::to_vec_pretty(&step)?)?;
    eprintln!("pipeline worker: finished_at_ms={}", now_ms());
    Ok(ok)
}

/// Milliseconds since the Unix epoch: task start and end times in the log, for throttle checks.
fn now_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// Progress of a task, as lines in its Slurm log (every tenth of the way).
#[derive(Default)]
struct LogReporter {
    last_tenth: AtomicU64,
}

impl Reporter for LogReporter {
    fn started(&self, id: &str) {
        eprintln!("started {id}");
    }
    fn progress(&self, _id: &str, done: u64, total: u64) {
        let tenth = (done * 10).checked_div(total).unwrap_or(0);
        if tenth > self.last_tenth.swap(tenth, Ordering::Relaxed) {
            eprintln!("progress {done}/{total}");
        }
    }
    fn warn(&self, message: String) {
        eprintln!("warning: {message}");
    }
}
