//! Talking to Slurm: `sbatch`, `squeue`, `sacct`, `scancel` and `scontrol`, each run as a command
//! with a time limit, and their output parsed. One `squeue` call answers for every task of every
//! array a run (or `pipeline status`) cares about.

use crate::error::{Fault, FaultContext};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a Slurm command may take before the controller counts as not answering.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Prefix of the job names of every array this tool submits: `pipeline:<submission>`.
pub const SLURM_JOB_NAME_PREFIX: &str = "pipeline:";

/// One array task as `squeue` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedTask {
    /// The array's job id (what `sbatch` printed).
    pub job: String,
    pub task: usize,
    /// Slurm's state name, e.g. `PENDING`, `RUNNING`, `TIMEOUT`.
    pub state: String,
    /// Why a pending task waits (`Priority`, `Resources`, `PartitionConfig`, …).
    pub reason: String,
}

impl QueuedTask {
    /// The task's id as Slurm writes it, `81_3`.
    pub fn id(&self) -> String {
        format!("{}_{}", self.job, self.task)
    }
}

/// Whether a Slurm state is final (the task will not run on).
pub fn is_final(state: &str) -> bool {
    matches!(
        state,
        "COMPLETED"
            | "FAILED"
            | "CANCELLED"
            | "TIMEOUT"
            | "OUT_OF_MEMORY"
            | "NODE_FAIL"
            | "PREEMPTED"
            | "BOOT_FAIL"
            | "DEADLINE"
    )
}

/// States in which Slurm ended a task from outside (not the stage's own failure); `--retries`
/// resubmits these.
pub fn is_slurm_failure(state: &str) -> bool {
    is_final(state) && !matches!(state, "COMPLETED" | "FAILED")
}

/// Pending reasons that no amount of waiting resolves: the request exceeds what the partition,
/// account or QOS allows (Slurm keeps such jobs pending forever unless `EnforcePartLimits`).
pub fn never_runs(state: &str, reason: &str) -> bool {
    state == "PENDING"
        && matches!(
            reason,
            "PartitionConfig"
                | "BadConstraints"
                | "PartitionNodeLimit"
                | "PartitionTimeLimit"
                | "InvalidAccount"
                | "InvalidQOS"
        )
}

/// Run a Slurm command; its stdout, or an error with its own message on stderr, marked as a
/// cluster fault.
pub fn command(program: &str, args: &[&str]) -> Result<String> {
    run_command(program, args).fault(Fault::Cluster)
}

fn run_command(program: &str, args: &[&str]) -> Result<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run `{program}`"))?;
    let (mut out, mut err) =
        (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!("`{program}` did not answer within {} s", COMMAND_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    if !status.success() {
        // Some commands say why on stdout (`scontrol ping`: "… is DOWN").
        let message = if stderr.trim().is_empty() { stdout.trim() } else { stderr.trim() };
        bail!(
            "`{program} {}` failed ({status}): {}",
            args.join(" "),
            if message.is_empty() { "no message" } else { message }
        );
    }
    Ok(stdout)
}

/// Whether `program` is an executable file on `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(program)))
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Every array task of this user whose job name starts with [`SLURM_JOB_NAME_PREFIX`], by submission
/// name (the part after the prefix): pending, running, and those that ended in the last minutes
/// (`MinJobAge`).
pub fn list() -> Result<HashMap<String, Vec<QueuedTask>>> {
    let out = command(
        "squeue",
        &["--me", "--array", "--states=all", "--noheader", "--format=%i|%T|%r|%j"],
    )?;
    Ok(parse_squeue(&out))
}

fn parse_squeue(out: &str) -> HashMap<String, Vec<QueuedTask>> {
    let mut by_name: HashMap<String, Vec<QueuedTask>> = HashMap::new();
    for line in out.lines() {
        let mut fields = line.trim().splitn(4, '|');
        let (Some(id), Some(state), Some(reason), Some(name)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some(submission) = name.strip_prefix(SLURM_JOB_NAME_PREFIX) else { continue };
        let Some((job, task)) = id.split_once('_') else { continue };
        let Ok(task) = task.parse() else { continue };
        by_name.entry(submission.to_string()).or_default().push(QueuedTask {
            job: job.to_string(),
            task,
            state: state.to_string(),
            reason: reason.to_string(),
        });
    }
    by_name
}

/// The final states of `tasks` (`81_3`) from the accounting database; `None` when accounting
/// is not available. Tasks it does not know are left out.
pub fn accounting(tasks: &[String]) -> Option<HashMap<String, String>> {
    if tasks.is_empty() {
        return Some(HashMap::new());
    }
    let jobs = tasks.join(",");
    let out = command(
        "sacct",
        &["--noheader", "--parsable2", "--allocations", "--format=JobID,State", "--jobs", &jobs],
    )
    .ok()?;
    Some(parse_sacct(&out))
}

fn parse_sacct(out: &str) -> HashMap<String, String> {
    out.lines()
        .filter_map(|line| {
            let (id, state) = line.trim().split_once('|')?;
            // `CANCELLED by 0` → `CANCELLED`.
            let state = state.split_whitespace().next()?;
            Some((id.to_string(), state.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_are_grouped_by_submission_and_others_ignored() {
        let out = "81_0|COMPLETED|None|pipeline:a\n81_1|RUNNING|None|pipeline:a\n\
                   82_4|PENDING|Priority|pipeline:b\n90|RUNNING|None|someone-else\n\
                   91_2|PENDING|None|other\n";
        let q = parse_squeue(out);
        assert_eq!(q.len(), 2);
        assert_eq!(
            q["a"],
            vec![
                QueuedTask {
                    job: "81".into(),
                    task: 0,
                    state: "COMPLETED".into(),
                    reason: "None".into()
                },
                QueuedTask {
                    job: "81".into(),
                    task: 1,
                    state: "RUNNING".into(),
                    reason: "None".into()
                },
            ]
        );
        assert_eq!(q["b"][0].id(), "82_4");
        assert_eq!(q["b"][0].reason, "Priority");
    }

    #[test]
    fn sacct_states_drop_the_canceller() {
        let s = parse_sacct("81_0|COMPLETED\n81_1|CANCELLED by 0\n81_2|TIMEOUT\n");
        assert_eq!(s["81_1"], "CANCELLED");
        assert_eq!(s["81_2"], "TIMEOUT");
    }

    #[test]
    fn slurm_failures_are_the_final_states_the_stage_did_not_choose() {
        for s in ["TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "CANCELLED"] {
            assert!(is_slurm_failure(s), "{s}");
        }
        for s in ["COMPLETED", "FAILED", "RUNNING", "PENDING", "COMPLETING"] {
            assert!(!is_slurm_failure(s), "{s}");
        }
        assert!(!is_final("COMPLETING"));
        assert!(never_runs("PENDING", "PartitionConfig"));
        assert!(!never_runs("PENDING", "Resources") && !never_runs("RUNNING", "PartitionConfig"));
    }
}
