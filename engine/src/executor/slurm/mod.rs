//! The Slurm executor. Ready jobs are submitted as job arrays, one per stage kind and set of
//! resources (at most `max_array` tasks each); task `i` runs `pipeline worker <dir>/jobs.json`
//! and builds the `i`-th job ([`worker`]). Each submission has a directory in the store,
//! `slurm/<profile>/<submission>/` (`jobs.json`, `submit.sh`, `job_id`, each task's `<i>.log`
//! and `<i>.result.json`), and the array's job name is `pipeline:<submission>`: so a driver
//! started again finds its queued and running tasks with one `squeue` and adopts them instead
//! of submitting them twice. `job_id` is written once `sbatch` has accepted the array: a
//! directory without it was prepared by a driver killed before (or while) it submitted, and a
//! later driver submits its jobs again unless `squeue` lists its name. The driver looks at the
//! queue with one `squeue` per poll, and asks `sacct` only about tasks that left the queue
//! without a result.

pub(crate) mod queue;
mod script;
pub(crate) mod settings;
pub(crate) mod worker;

use super::{Executor, Session};
use crate::build::{Builder, Reporter, Step};
use crate::error::{Fault, FaultContext};
use crate::fsutil::write_atomic;
use crate::job::Job;
use crate::key::Key;
use crate::progress::Progress;
use crate::store::{Check, Depth, FailureRecord, Store};
use anyhow::{anyhow, bail, Context, Result};
use queue::QueuedTask;
use script::ArraySpec;
use settings::{Resources, SlurmSettings};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Polls a task may stay out of `squeue` without a result while `sacct` catches up (it lags
/// the queue by a few seconds).
const MISSING_POLLS: u32 = 3;

/// How a run uses Slurm: the executor that submits its jobs as job arrays.
#[derive(Debug, Clone)]
pub struct SlurmExecutor {
    pub settings: SlurmSettings,
    /// The command that starts a worker of this study (binary and global options); the script
    /// appends `worker <jobs.json>`.
    pub worker: Vec<String>,
    /// The directory tasks start in (`--chdir`): the driver's, so that relative paths in the
    /// worker command and the study resolve as they did for the driver.
    pub workdir: PathBuf,
    /// Resubmit a task that Slurm ended (TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED,
    /// CANCELLED) up to this many times. Stage errors are never retried.
    pub retries: u32,
    /// On interrupt, leave the submitted tasks running instead of cancelling them.
    pub detach: bool,
    /// Set (by a signal handler) when the user interrupts the run.
    pub interrupted: &'static AtomicBool,
    /// Accept a store on a file system that only this machine sees (a one-machine cluster).
    pub allow_local_store: bool,
}

impl Executor for SlurmExecutor {
    /// Check, before the run touches anything, that Slurm can be used: its commands are on
    /// `PATH`, the controller answers, and the store is on a file system the cluster's nodes can
    /// share.
    fn preflight(&self, store: &Store) -> Result<()> {
        for program in ["sbatch", "squeue", "scancel", "scontrol"] {
            if !queue::on_path(program) {
                return Err(anyhow!(
                    "--executor slurm: `{program}` is not on PATH (install Slurm's client \
                     commands, or run on a machine of the cluster)"
                ))
                .fault(Fault::Cluster);
            }
        }
        let ping = queue::command("scontrol", &["ping"]).unwrap_or_else(|e| format!("{e:#}"));
        if !ping.contains("is UP") {
            let why = ping.lines().next().unwrap_or("no answer").trim().to_string();
            return Err(anyhow!("--executor slurm: the Slurm controller does not answer ({why})"))
                .fault(Fault::Cluster);
        }
        if !self.allow_local_store {
            if let Some(why) = local_only(store.root()) {
                return Err(anyhow!(
                    "--executor slurm: the artifact store {} {why}, which other machines of the \
                     cluster cannot see. Put it on a shared file system (--store DIR), or pass \
                     --allow-local-store when the whole cluster is this machine",
                    store.root().display()
                ))
                .fault(Fault::Input);
            }
        }
        Ok(())
    }

    /// A driver that submits ready jobs as arrays and follows the queue; when `drive` returns,
    /// it says how many arrays it submitted.
    fn session(
        &self,
        builder: &Builder,
        progress: &Progress,
        _reporter: Arc<dyn Reporter>,
        drive: &mut dyn FnMut(&mut dyn Session) -> Result<()>,
    ) -> Result<()> {
        let mut session = Slurm::new(self, builder, progress)?;
        drive(&mut session)?;
        session.finish();
        Ok(())
    }
}

/// Why `path` is on a file system only this machine sees, when that can be told: under a
/// temporary directory, or on a memory file system.
fn local_only(path: &Path) -> Option<String> {
    let mut existing = std::path::absolute(path).ok()?;
    while !existing.exists() {
        existing = existing.parent()?.to_path_buf();
    }
    let real = existing.canonicalize().ok()?;
    for tmp in ["/tmp", "/var/tmp", "/dev/shm", "/run"] {
        if real.starts_with(tmp) {
            return Some(format!("is under {tmp}"));
        }
    }
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    let (mount, fs) = mounts
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (_, mount, fs) = (f.next()?, f.next()?, f.next()?);
            real.starts_with(mount).then(|| (mount.to_string(), fs.to_string()))
        })
        .max_by_key(|(mount, _)| mount.len())?;
    matches!(fs.as_str(), "tmpfs" | "ramfs")
        .then(|| format!("is on a {fs} file system (mounted at {mount})"))
}

impl SlurmExecutor {
    /// The scripts a run would submit for these (kind, node id) pairs, without submitting anything
    /// (`run --dry-run --executor slurm`). Arrays are grouped as a run groups them; a real run
    /// submits each node only once its inputs are built.
    pub fn dry_run(&self, store: &Store, nodes: &[(&str, &str)]) -> String {
        let mut groups: BTreeMap<(Resources, &str), Vec<&str>> = BTreeMap::new();
        for &(kind, id) in nodes {
            groups.entry((self.settings.resources_of(kind), kind)).or_default().push(id);
        }
        let mut out = String::new();
        let mut n = 0;
        for ((resources, kind), ids) in &groups {
            for chunk in ids.chunks(self.settings.max_array as usize) {
                n += 1;
                let name = format!("dry-run-{n}-{kind}");
                let dir = submissions_dir(store).join(&name);
                let spec =
                    ArraySpec { name: &name, kind, tasks: chunk.len(), resources, dir: &dir };
                out.push_str(&format!(
                    "# array {n}: {} {kind} node(s), {} … {}\n",
                    chunk.len(),
                    chunk[0],
                    chunk[chunk.len() - 1]
                ));
                out.push_str(&script::script(&spec, &self.settings, &self.worker, &self.workdir));
                out.push('\n');
            }
        }
        out.push_str(&format!("{} node(s) in {n} array(s)\n", nodes.len()));
        if let Some(throttle) = self.settings.throttle {
            out.push_str(&format!(
                "throttle {throttle}: a run keeps at most {throttle} task(s) queued or running and \
                 submits the rest, in arrays, as those finish\n"
            ));
        }
        out
    }
}

/// `<store>/slurm/<namespace>/`, absolute (tasks may start elsewhere): one directory per
/// submitted array.
fn submissions_dir(store: &Store) -> PathBuf {
    let dir = store.executor_dir("slurm");
    std::path::absolute(&dir).unwrap_or(dir)
}

/// What `pipeline status` shows of the tasks in the queue: key → (Slurm task id, state) for every
/// node of this store's namespace that is queued or running. One `squeue` call; empty when
/// nothing was ever submitted from this store.
pub fn slurm_queued(store: &Store) -> Result<HashMap<Key, (String, String)>> {
    let dir = submissions_dir(store);
    if !dir.is_dir() || !queue::on_path("squeue") {
        return Ok(HashMap::new());
    }
    Ok(live_tasks(&dir)?.into_iter().map(|(_, job, t)| (job.key, (t.id(), t.state))).collect())
}

/// Every task of this store's submissions (under `dir`) that Slurm has not ended, with its
/// submission directory and job: one `squeue` call.
fn live_tasks(dir: &Path) -> Result<Vec<(PathBuf, Job, QueuedTask)>> {
    let mut out = Vec::new();
    for (name, tasks) in queue::list()? {
        let submission = dir.join(&name);
        let Ok(jobs) = read_jobs(&submission) else { continue };
        for t in tasks.into_iter().filter(|t| !queue::is_final(&t.state)) {
            if let Some(job) = jobs.get(t.task) {
                out.push((submission.clone(), job.clone(), t));
            }
        }
    }
    Ok(out)
}

fn read_jobs(dir: &Path) -> Result<Vec<Job>> {
    let path = dir.join("jobs.json");
    let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("{} is not valid", path.display()))
}

/// A ready job waiting to be submitted: the node's index, the job, and which attempt it will be.
type Unsubmitted = (usize, Job, u32);

/// A task in the queue, submitted by this driver or adopted from an earlier one.
struct Task {
    index: usize,
    job: Job,
    /// Submissions of this job so far in this run (1 for the first).
    attempts: u32,
    submission: PathBuf,
    /// The array's job id and this task's index in it.
    array_job: String,
    task: usize,
    state: String,
    /// Polls since the task was last seen in the queue without a result.
    missing: u32,
}

impl Task {
    fn slurm_id(&self) -> String {
        format!("{}_{}", self.array_job, self.task)
    }
    fn log(&self) -> PathBuf {
        self.submission.join(format!("{}.log", self.task))
    }
}

struct Slurm<'a> {
    run: &'a SlurmExecutor,
    builder: &'a Builder<'a>,
    progress: &'a Progress,
    dir: PathBuf,
    /// Ready jobs not yet submitted, with the attempt they will be.
    unsubmitted: Vec<Unsubmitted>,
    tasks: Vec<Task>,
    finished: Vec<(usize, Step)>,
    /// Tasks of earlier drivers still in the queue, by key.
    adoptable: HashMap<Key, Task>,
    /// Whether `sacct` answers (None: not asked yet).
    accounting: Option<bool>,
    submitted_arrays: usize,
    /// `sbatch --test-only`'s verdict per (kind, resources), asked once per run.
    feasible: HashMap<(String, Resources), Result<(), String>>,
    counts: Counts,
}

#[derive(Default, PartialEq, Clone, Copy)]
struct Counts {
    done: usize,
    failed: usize,
}

impl<'a> Slurm<'a> {
    /// A driver over `builder`'s store; finds the tasks earlier drivers left in the queue.
    fn new(
        run: &'a SlurmExecutor,
        builder: &'a Builder<'a>,
        progress: &'a Progress,
    ) -> Result<Self> {
        let dir = submissions_dir(builder.store);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let adoptable: HashMap<Key, Task> = live_tasks(&dir)?
            .into_iter()
            .map(|(submission, job, t)| {
                let task = Task {
                    index: usize::MAX, // set when the scheduler starts this job
                    job,
                    attempts: 1,
                    submission,
                    array_job: t.job,
                    task: t.task,
                    state: t.state,
                    missing: 0,
                };
                (task.job.key, task)
            })
            .collect();
        if !adoptable.is_empty() {
            progress.warn(&format!(
                "adopting {} task(s) that an earlier run left in the Slurm queue",
                adoptable.len()
            ));
        }
        Ok(Slurm {
            run,
            builder,
            progress,
            dir,
            unsubmitted: Vec::new(),
            tasks: Vec::new(),
            finished: Vec::new(),
            adoptable,
            accounting: None,
            submitted_arrays: 0,
            feasible: HashMap::new(),
            counts: Counts::default(),
        })
    }

    /// After the run: say how many arrays were submitted.
    fn finish(&self) {
        if self.submitted_arrays > 0 {
            self.progress.note(&format!(
                "slurm: {} array(s) submitted; task logs under {}",
                self.submitted_arrays,
                self.dir.display()
            ));
        }
    }

    /// Submit what is ready, as arrays grouped by stage kind and resources, within the
    /// throttle.
    fn submit(&mut self) -> Result<()> {
        let settings = &self.run.settings;
        let mut room =
            settings.throttle.map_or(usize::MAX, |t| (t as usize).saturating_sub(self.tasks.len()));
        if room == 0 || self.unsubmitted.is_empty() {
            return Ok(());
        }
        let mut groups: BTreeMap<(Resources, String), Vec<Unsubmitted>> = BTreeMap::new();
        let mut waiting = Vec::new();
        for (index, job, attempt) in std::mem::take(&mut self.unsubmitted) {
            if room == 0 {
                waiting.push((index, job, attempt));
                continue;
            }
            room -= 1;
            let resources = settings.resources_of(&job.kind);
            groups.entry((resources, job.kind.clone())).or_default().push((index, job, attempt));
        }
        self.unsubmitted = waiting;
        for ((resources, kind), jobs) in groups {
            for chunk in jobs.chunks(settings.max_array as usize) {
                self.submit_array(&kind, &resources, chunk)?;
            }
        }
        Ok(())
    }

    fn submit_array(
        &mut self,
        kind: &str,
        resources: &Resources,
        jobs: &[Unsubmitted],
    ) -> Result<()> {
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let name = format!("{stamp}-{}-{}-{kind}", std::process::id(), self.submitted_arrays);
        let dir = self.dir.join(&name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let list: Vec<&Job> = jobs.iter().map(|(_, job, _)| job).collect();
        write_atomic(&dir.join("jobs.json"), &serde_json::to_vec_pretty(&list)?)?;
        let spec = ArraySpec { name: &name, kind, tasks: jobs.len(), resources, dir: &dir };
        let script_path = dir.join("submit.sh");
        write_atomic(
            &script_path,
            script::script(&spec, &self.run.settings, &self.run.worker, &self.run.workdir)
                .as_bytes(),
        )?;
        let script_arg = script_path.display().to_string();
        // Slurm accepts, and then keeps pending forever, some requests no node can meet (more
        // CPUs than a node has): ask it first, once per kind and resources.
        let verdict = self
            .feasible
            .entry((kind.to_string(), resources.clone()))
            .or_insert_with(|| {
                queue::command("sbatch", &["--test-only", &script_arg])
                    .map(drop)
                    .map_err(|e| format!("{e:#}"))
            })
            .clone();
        let submitted = verdict
            .map_err(anyhow::Error::msg)
            .and_then(|()| queue::command("sbatch", &["--parsable", &script_arg]));
        match submitted {
            Ok(out) => {
                let job_id = out.trim().split(';').next().unwrap_or_default().to_string();
                write_atomic(&dir.join("job_id"), job_id.as_bytes())?;
                self.submitted_arrays += 1;
                for (task, (index, job, attempts)) in jobs.iter().enumerate() {
                    self.tasks.push(Task {
                        index: *index,
                        job: job.clone(),
                        attempts: *attempts,
                        submission: dir.clone(),
                        array_job: job_id.clone(),
                        task,
                        state: "PENDING".into(),
                        missing: 0,
                    });
                }
            }
            // The cluster refused the array (a resource it cannot give, a bad partition):
            // its nodes fail with sbatch's own words; the rest of the run goes on.
            Err(e) => {
                let error = format!("{e:#}");
                for (index, job, _) in jobs {
                    self.fail(*index, job, vec![error.clone()], script_path.clone(), None)?;
                }
            }
        }
        Ok(())
    }

    /// Record a failure the stage could not record itself, and hand it back to the scheduler.
    fn fail(
        &mut self,
        index: usize,
        job: &Job,
        error: Vec<String>,
        log: PathBuf,
        executor_state: Option<String>,
    ) -> Result<()> {
        self.builder.store.write_failure(&FailureRecord {
            node: job.node.clone(),
            key: job.key,
            error: error.clone(),
            log: log.clone(),
            seconds: 0.0,
            executor_state,
        })?;
        self.counts.failed += 1;
        let step = Step::Failed { key: Some(job.key), error: error.join(": "), log, seconds: 0.0 };
        self.finished.push((index, step));
        Ok(())
    }

    /// One look at the queue: collect finished tasks, retry or fail those Slurm ended.
    fn poll(&mut self) -> Result<()> {
        let listed = queue::list()?;
        let mut states: HashMap<(String, usize), (String, String)> = HashMap::new();
        for tasks in listed.into_values() {
            for QueuedTask { job, task, state, reason } in tasks {
                states.insert((job, task), (state, reason));
            }
        }
        let mut stuck: Vec<(Task, String)> = Vec::new();
        let mut ended: Vec<(Task, String)> = Vec::new();
        let mut missing: Vec<Task> = Vec::new();
        for mut task in std::mem::take(&mut self.tasks) {
            if self.take_result(&task) {
                continue;
            }
            match states.remove(&(task.array_job.clone(), task.task)) {
                Some((state, _)) if queue::is_final(&state) => ended.push((task, state)),
                Some((state, reason)) if queue::never_runs(&state, &reason) => {
                    stuck.push((task, reason))
                }
                Some((state, _)) => {
                    if state == "RUNNING" && task.state != "RUNNING" {
                        self.progress.started(&task.job.node);
                    }
                    task.state = state;
                    task.missing = 0;
                    self.tasks.push(task);
                }
                None => missing.push(task),
            }
        }
        if !missing.is_empty() {
            let ids: Vec<String> = missing.iter().map(Task::slurm_id).collect();
            let known = match self.accounting {
                Some(false) => None,
                _ => queue::accounting(&ids),
            };
            self.accounting = Some(known.is_some());
            let known = known.unwrap_or_default();
            for mut task in missing {
                match known.get(&task.slurm_id()) {
                    Some(state) if queue::is_final(state) => ended.push((task, state.clone())),
                    _ if task.missing < MISSING_POLLS => {
                        task.missing += 1;
                        self.tasks.push(task);
                    }
                    _ => ended.push((task, "UNKNOWN".into())),
                }
            }
        }
        for (task, state) in ended {
            self.ended_without_result(task, &state)?;
        }
        if !stuck.is_empty() {
            let ids: Vec<String> = stuck.iter().map(|(t, _)| t.slurm_id()).collect();
            let args: Vec<&str> = ids.iter().map(String::as_str).collect();
            queue::command("scancel", &args)?;
            for (task, reason) in stuck {
                let id = task.slurm_id();
                let error = format!(
                    "Slurm will never start task {id}: it is pending for `{reason}` (the \
                     request exceeds what the partition, account or QOS allows); cancelled it"
                );
                let state = Some(format!("PENDING {reason} (slurm task {id})"));
                self.fail(task.index, &task.job, vec![error], task.log(), state)?;
            }
        }
        Ok(())
    }

    /// Hand back the result the task's worker left, if it left one.
    fn take_result(&mut self, task: &Task) -> bool {
        let path = worker::result_path(&task.submission.join("jobs.json"), task.task);
        let Some(step) = read_result(&path, &task.job.key) else { return false };
        self.counts.done += usize::from(matches!(step, Step::Built { .. }));
        self.counts.failed += usize::from(matches!(step, Step::Failed { .. }));
        self.finished.push((task.index, step));
        true
    }

    /// A task left the queue (or reached a final state) without writing its result.
    fn ended_without_result(&mut self, task: Task, state: &str) -> Result<()> {
        // The worker may have finished just after we looked for its result.
        if self.take_result(&task) {
            return Ok(());
        }
        let id = task.slurm_id();
        if queue::is_slurm_failure(state) && task.attempts <= self.run.retries {
            self.progress.warn(&format!(
                "{}: Slurm task {id} ended {state}; submitting it again (attempt {} of {})",
                task.job.node,
                task.attempts + 1,
                self.run.retries + 1
            ));
            self.unsubmitted.push((task.index, task.job, task.attempts + 1));
            return Ok(());
        }
        let log = task.log();
        let error = match state {
            "UNKNOWN" => format!(
                "Slurm task {id} left the queue without a result and its final state is \
                 unknown (accounting is off or has no record of it)"
            ),
            "FAILED" | "COMPLETED" => format!(
                "Slurm task {id} ended {state} before building the node (see its log: a \
                 worker whose key differs from the driver's refuses to run)"
            ),
            _ => format!("Slurm ended task {id}: {state}"),
        };
        let tail = log_tail(&log);
        let mut chain = vec![error];
        if !tail.is_empty() {
            chain.push(format!("the task's log ends: {tail}"));
        }
        self.fail(task.index, &task.job, chain, log, Some(format!("{state} (slurm task {id})")))
    }

    fn show_counts(&self) {
        let running = self.tasks.iter().filter(|t| t.state == "RUNNING").count();
        let queued = self.tasks.len() - running + self.unsubmitted.len();
        self.progress.note(&format!(
            "slurm: {queued} queued, {running} running, {} done, {} failed",
            self.counts.done, self.counts.failed
        ));
    }

    /// Sleep until the next poll, waking early on an interrupt.
    fn sleep(&self) -> Result<()> {
        let end =
            std::time::Instant::now() + Duration::from_secs_f64(self.run.settings.poll_seconds);
        while std::time::Instant::now() < end {
            if self.run.interrupted.load(Ordering::Relaxed) {
                return self.interrupt();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Ctrl-C: cancel every task this driver watches (unless `--detach`), say which, and stop.
    fn interrupt(&self) -> Result<()> {
        let mut arrays: Vec<&str> = self.tasks.iter().map(|t| t.array_job.as_str()).collect();
        arrays.sort_unstable();
        arrays.dedup();
        let n = self.tasks.len();
        if self.run.detach || arrays.is_empty() {
            bail!(
                "interrupted; {n} task(s) left in Slurm (jobs {}): `pipeline run --executor \
                 slurm` adopts them",
                arrays.join(", ")
            );
        }
        let cancelled = queue::command("scancel", &arrays);
        let ids = arrays.join(", ");
        match cancelled {
            Ok(_) => bail!("interrupted; cancelled {n} task(s) in Slurm (jobs {ids})"),
            Err(e) => bail!("interrupted; cancelling jobs {ids} failed: {e:#}"),
        }
    }
}

/// The step a worker left at `path`, when it is there and is about `key`.
fn read_result(path: &Path, key: &Key) -> Option<Step> {
    let step: Step = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    match &step {
        Step::Built { key: k, .. } if k == key => Some(step),
        Step::Failed { .. } => Some(step),
        _ => None,
    }
}

/// The last non-empty line of a task's log.
fn log_tail(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.lines().rev().find(|l| !l.trim().is_empty()).map(str::to_string))
        .unwrap_or_default()
}

impl Session for Slurm<'_> {
    fn start(&mut self, index: usize, job: Job) -> Result<()> {
        if !job.force {
            if let Check::Valid(meta) = self.builder.store.check(&job.key, Depth::Hashes) {
                let step = Step::Built {
                    ran: false,
                    key: job.key,
                    content: meta.content_hash,
                    seconds: 0.0,
                };
                self.finished.push((index, step));
                return Ok(());
            }
        }
        if let Some(mut task) = self.adoptable.remove(&job.key) {
            task.index = index;
            self.tasks.push(task);
            return Ok(());
        }
        self.unsubmitted.push((index, job, 1));
        Ok(())
    }

    fn wait(&mut self) -> Result<Vec<(usize, Step)>> {
        loop {
            self.submit()?;
            if !self.finished.is_empty() {
                self.show_counts();
                return Ok(std::mem::take(&mut self.finished));
            }
            self.sleep()?;
            self.poll()?;
            self.show_counts();
        }
    }

    fn withdraw_queued(&mut self) -> Result<Vec<usize>> {
        let mut withdrawn: Vec<usize> = self.unsubmitted.drain(..).map(|(i, _, _)| i).collect();
        let (pending, keep): (Vec<Task>, Vec<Task>) =
            std::mem::take(&mut self.tasks).into_iter().partition(|t| t.state == "PENDING");
        self.tasks = keep;
        if !pending.is_empty() {
            let ids: Vec<String> = pending.iter().map(Task::slurm_id).collect();
            let args: Vec<&str> = ids.iter().map(String::as_str).collect();
            queue::command("scancel", &args)?;
            withdrawn.extend(pending.iter().map(|t| t.index));
        }
        Ok(withdrawn)
    }
}
