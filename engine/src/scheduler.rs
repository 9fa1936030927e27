//! `run`: builds the targets' closure. The scheduler is the only one who decides: a node becomes
//! ready when all its inputs are built; the scheduler then prepares it completely (its key and
//! input artifacts, as a plain-data [`Job`]) and hands it to the session of the executor the
//! caller chose ([`RunOptions::executor`]: worker threads here, or Slurm job arrays), which
//! reuses or builds it through [`crate::build`]. Failures are
//! recorded with their log and block only dependents; a dependent that reads the failed node
//! as an optional input runs without it. Afterwards the published files and the lock file are
//! brought up to date.

use crate::build::{Builder, Reporter, Step};
use crate::dag::Dag;
use crate::executor::{Executor, Session};
use crate::job::{Job, JobInput};
use crate::key::{ContentHash, Key};
use crate::lockfile::{self, LockSettings};
use crate::progress::{Progress, ProgressMode};
use crate::publish;
use crate::record::BuildRecord;
use crate::remote::run::{LiveRemote, Wanted};
use crate::remote::transfer::PullOutcome;
use crate::remote::Remote;
use crate::stage::Registry;
use crate::store::Store;
use anyhow::{Context, Result};
use futures::channel::mpsc::UnboundedSender;
use serde::Serialize;
use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub struct RunOptions {
    /// The nodes to build (with everything they depend on); see [`Dag::resolve_targets`].
    pub targets: Vec<usize>,
    /// Where the jobs run: the caller's choice, e.g. `LocalExecutor { jobs }`.
    pub executor: Box<dyn Executor>,
    /// Which up-to-date nodes to recompute anyway.
    pub force: Force,
    /// Start no new node after the first failure.
    pub fail_fast: bool,
    pub progress: ProgressMode,
    /// The directory that `publish.to` paths and the lock file are relative to.
    pub project_root: PathBuf,
    pub lock: LockSettings,
    /// Pull a missing node from this remote before building it, and (with `push`) push what
    /// the run built.
    pub remote: Option<RemoteUse>,
}

/// How a run uses a remote cache.
#[derive(Debug, Clone)]
pub struct RemoteUse {
    pub remote: Arc<Remote>,
    /// Push what the run builds (never to a `read_only` remote).
    pub push: bool,
}

/// Which nodes `--force` recomputes although their artifacts are up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Force {
    #[default]
    Nothing,
    /// The target nodes themselves.
    Targets,
    /// The targets and everything they depend on.
    Closure,
}

impl Force {
    /// The nodes to recompute among `closure`, for these `targets`.
    pub fn nodes<'a>(self, targets: &'a [usize], closure: &'a [usize]) -> &'a [usize] {
        match self {
            Force::Nothing => &[],
            Force::Targets => targets,
            Force::Closure => closure,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The stage ran and its artifact was stored.
    Ran,
    /// A stored artifact was reused.
    Cached,
    /// The artifact was fetched from the remote.
    Pulled,
    Failed {
        error: String,
        log: PathBuf,
    },
    /// Not run because an input failed.
    Blocked {
        by: String,
    },
    /// Not run because `--fail-fast` stopped the run.
    NotStarted,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeOutcome {
    pub id: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub key: Option<Key>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    pub executed: usize,
    pub cached: usize,
    pub pulled: usize,
    /// Bytes of the pulled artifacts' packs.
    pub pulled_bytes: u64,
    /// Artifacts this run built and pushed, and their bytes.
    pub pushed: usize,
    pub pushed_bytes: u64,
    pub failed: usize,
    pub blocked: usize,
    pub not_started: usize,
    /// Every node of the closure, in build order.
    pub nodes: Vec<NodeOutcome>,
    /// Damaged artifacts that were recomputed, and similar.
    pub warnings: Vec<String>,
    /// Files under the project root that this run rewrote (reports, lock file).
    pub published: Vec<PathBuf>,
}

impl RunSummary {
    /// Every node of the closure is built.
    pub fn success(&self) -> bool {
        self.failed + self.blocked + self.not_started == 0
    }
}

/// Build `opts.targets` and their dependencies, then publish what they publish.
pub fn run(dag: &Dag, registry: &Registry, store: &Store, opts: &RunOptions) -> Result<RunSummary> {
    // Before anything in the store changes: a missing sbatch or a controller that does not
    // answer ends the run here.
    opts.executor.preflight(store)?;
    store.create_dirs()?;
    store.sweep_tmp().context("cleaning up after interrupted runs")?;
    let closure = dag.closure(&opts.targets);
    let n = dag.nodes().len();
    let mut in_closure = vec![false; n];
    let mut forced = vec![false; n];
    for &i in &closure {
        in_closure[i] = true;
    }
    for &i in opts.force.nodes(&opts.targets, &closure) {
        forced[i] = true;
    }
    let pending: Vec<usize> = (0..n).map(|i| dag.inputs_of(i).len()).collect();
    let ready: VecDeque<usize> = closure.iter().copied().filter(|&i| pending[i] == 0).collect();
    let reporter = Arc::new(ProgressReporter {
        progress: Progress::new(opts.progress, closure.len()),
        warnings: Mutex::default(),
    });
    let builder = Builder::new(dag, registry, store);
    let remote =
        opts.remote.as_ref().and_then(|using| match using.remote.block_on(using.remote.index()) {
            Ok(index) => Some(LiveRemote {
                remote: &using.remote,
                index,
                push: using.push && !using.remote.settings.read_only,
                failures: Default::default(),
            }),
            Err(e) => {
                reporter.warn(format!("the remote is unavailable ({e:#}); building locally"));
                None
            }
        });
    let (push_queue, pushes) = futures::channel::mpsc::unbounded();
    let mut sched = Sched {
        dag,
        builder: &builder,
        progress: &reporter.progress,
        fail_fast: opts.fail_fast,
        in_closure,
        forced,
        ready,
        pending,
        keys: vec![None; n],
        content: vec![None; n],
        unbuildable: vec![false; n],
        outcomes: vec![None; n],
        stop: false,
        remote: remote.as_ref(),
        reporter: &reporter,
        pulled: vec![None; n],
        damaged: HashSet::new(),
        push_queue,
    };
    // What the run builds is pushed while it goes on, by a thread of its own, which ends when
    // the queue closes: on every way out of the scope, a panic included (the scope waits for it).
    let closer = CloseOnDrop(sched.push_queue.clone());
    let pushed = std::thread::scope(|scope| -> Result<(usize, u64)> {
        let _closer = closer;
        let pusher = remote.as_ref().filter(|r| r.push).map(|live| {
            let reporter = reporter.clone();
            scope.spawn(move || live.push_all(store, pushes, &*reporter))
        });
        let driven =
            opts.executor.session(&builder, &reporter.progress, reporter.clone(), &mut |session| {
                sched.drive(session)
            });
        sched.push_queue.close_channel();
        driven?;
        if pusher.is_some() {
            reporter.progress.note("pushing what this run built to the remote");
        }
        Ok(pusher.map(|p| p.join().expect("the pusher does not panic")).unwrap_or_default())
    })?;
    reporter.progress.finish();

    let warnings = std::mem::take(&mut *reporter.warnings.lock().expect("warnings lock"));
    let mut summary = RunSummary { warnings, ..Default::default() };
    (summary.pushed, summary.pushed_bytes) = pushed;
    let mut built_publishers = Vec::new();
    for &i in &closure {
        let outcome = sched.outcomes[i].clone().unwrap_or_else(|| NodeOutcome {
            id: dag.node(i).id.clone(),
            outcome: Outcome::NotStarted,
            key: None,
            seconds: 0.0,
        });
        summary.pulled_bytes += sched.pulled[i].unwrap_or(0);
        *match outcome.outcome {
            Outcome::Ran => &mut summary.executed,
            Outcome::Cached => &mut summary.cached,
            Outcome::Pulled => &mut summary.pulled,
            Outcome::Failed { .. } => &mut summary.failed,
            Outcome::Blocked { .. } => &mut summary.blocked,
            Outcome::NotStarted => &mut summary.not_started,
        } += 1;
        if matches!(outcome.outcome, Outcome::Ran | Outcome::Cached | Outcome::Pulled)
            && !dag.node(i).publish.is_empty()
        {
            built_publishers.push(i);
        }
        summary.nodes.push(outcome);
    }
    summary.published =
        publish::publish(dag, store, &opts.project_root, &built_publishers, &sched.keys)?;
    if lockfile::update(
        dag,
        &opts.project_root,
        &opts.lock,
        &builder.fingerprints,
        &built_publishers,
        &sched.keys,
        &sched.content,
    )? {
        summary.published.push(opts.project_root.join(&opts.lock.path));
    }
    Ok(summary)
}

/// Closes the push queue when dropped.
struct CloseOnDrop(UnboundedSender<(String, Key, bool)>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close_channel();
    }
}

/// Shows builds on the run's progress display and keeps warnings for the summary.
struct ProgressReporter {
    progress: Progress,
    warnings: Mutex<Vec<String>>,
}

impl Reporter for ProgressReporter {
    fn started(&self, id: &str) {
        self.progress.started(id);
    }
    fn progress(&self, id: &str, done: u64, total: u64) {
        self.progress.node_progress(id, done, total);
    }
    fn warn(&self, message: String) {
        self.progress.warn(&message);
        self.warnings.lock().expect("warnings lock").push(message);
    }
}

/// The scheduler's state, indexed like the DAG.
struct Sched<'a> {
    dag: &'a Dag,
    builder: &'a Builder<'a>,
    progress: &'a Progress,
    fail_fast: bool,
    in_closure: Vec<bool>,
    forced: Vec<bool>,
    ready: VecDeque<usize>,
    /// Inputs not yet built, per node.
    pending: Vec<usize>,
    keys: Vec<Option<Key>>,
    content: Vec<Option<ContentHash>>,
    /// Failed or blocked in this run: optional inputs on these are left out.
    unbuildable: Vec<bool>,
    outcomes: Vec<Option<NodeOutcome>>,
    /// Set by `--fail-fast` after a failure: nothing new starts.
    stop: bool,
    remote: Option<&'a LiveRemote<'a>>,
    /// Warnings, kept for the run's summary.
    reporter: &'a ProgressReporter,
    /// Bytes pulled from the remote per node (`None`: not pulled).
    pulled: Vec<Option<u64>>,
    /// Keys whose remote artifact failed to download: their pack is uploaded again if built.
    damaged: HashSet<Key>,
    /// Nodes built by this run, for the pusher: (node id, key, repair the remote's pack).
    push_queue: UnboundedSender<(String, Key, bool)>,
}

impl Sched<'_> {
    /// Start every ready job, wait for results, repeat until nothing is running.
    fn drive(&mut self, session: &mut dyn Session) -> Result<()> {
        let mut running = 0usize;
        loop {
            let mut pulls = Vec::new();
            while !self.stop {
                let Some(i) = self.ready.pop_front() else { break };
                let job = self.job(i);
                match self.remote.and_then(|r| r.holds(self.builder.store, &job)) {
                    Some(content) => pulls.push((i, job, content)),
                    None => {
                        session.start(i, job)?;
                        running += 1;
                    }
                }
            }
            if !pulls.is_empty() {
                // What is not pulled (failed, or another process has the lock) is built.
                for (i, job, step) in self.pull(pulls) {
                    match step {
                        Some(step) => self.apply(i, step),
                        None => {
                            session.start(i, job)?;
                            running += 1;
                        }
                    }
                }
                continue;
            }
            if running == 0 {
                return Ok(());
            }
            for (i, step) in session.wait()? {
                running -= 1;
                self.apply(i, step);
            }
            if self.stop {
                running -= session.withdraw_queued()?.len();
            }
        }
    }

    /// The record node `i`, whose inputs are all built or unbuildable-and-optional, is built
    /// from.
    fn record(&self, i: usize) -> BuildRecord {
        self.dag
            .current_record(i, &self.builder.fingerprints, &self.content, &self.unbuildable)
            .expect("a ready node has all inputs built")
    }

    /// Node `i`, whose inputs are all built or unbuildable-and-optional, as a job.
    fn job(&self, i: usize) -> Job {
        let record = self.record(i);
        let node = self.dag.node(i);
        let inputs = (node.inputs.iter().zip(self.dag.inputs_of(i)))
            .filter(|&(input, &j)| !(input.optional && self.unbuildable[j]))
            .map(|(input, &j)| JobInput {
                name: input.name.clone(),
                key: self.keys[j].expect("a ready node has all inputs built"),
            })
            .collect();
        Job {
            node: node.id.clone(),
            kind: node.kind.clone(),
            key: record.key,
            inputs,
            force: self.forced[i],
        }
    }

    /// Record a job's result and release what it unblocks.
    fn apply(&mut self, i: usize, step: Step) {
        let id = self.dag.node(i).id.clone();
        let (outcome, key, seconds) = match step {
            Step::Deferred => unreachable!("executors retry deferred jobs themselves"),
            Step::Built { ran, key, content, seconds } => {
                if ran {
                    self.after_build(&id, key, content);
                }
                self.keys[i] = Some(key);
                self.content[i] = Some(content);
                for &d in self.dag.dependents_of(i) {
                    self.pending[d] -= 1;
                    if self.pending[d] == 0 && self.in_closure[d] {
                        self.ready.push_back(d);
                    }
                }
                let outcome = match (ran, self.pulled[i].is_some()) {
                    (true, _) => Outcome::Ran,
                    (false, true) => Outcome::Pulled,
                    (false, false) => Outcome::Cached,
                };
                (outcome, Some(key), seconds)
            }
            Step::Failed { key, error, log, seconds } => {
                self.propagate_failure(i);
                self.stop |= self.fail_fast;
                (Outcome::Failed { error, log }, key, seconds)
            }
        };
        let label = match &outcome {
            Outcome::Ran => "ran",
            Outcome::Cached => "cached",
            Outcome::Pulled => "pulled",
            _ => "failed",
        };
        self.progress.finished(&id, label, seconds);
        self.outcomes[i] = Some(NodeOutcome { id, outcome, key, seconds });
    }

    /// Pull `pulls` (ready nodes the remote holds), many at once. Returns each with the step it
    /// came to, or `None` when it is to be built after all (the pull failed: a warning; or
    /// another process holds its lock, or has just stored it: the executor sees to that).
    fn pull(&mut self, pulls: Vec<(usize, Job, ContentHash)>) -> Vec<(usize, Job, Option<Step>)> {
        let live = self.remote.expect("pulls only with a remote");
        let wanted: Vec<Wanted> = pulls
            .iter()
            .map(|(i, job, content)| (job.node.clone(), job.key, *content, self.record(*i)))
            .collect();
        for (id, ..) in &wanted {
            self.reporter.started(id);
        }
        let start = Instant::now();
        let results = live.pull_all(self.builder.store, &wanted);
        let seconds = start.elapsed().as_secs_f64() / pulls.len() as f64;
        let mut out = Vec::with_capacity(pulls.len());
        for ((i, job, content), result) in pulls.into_iter().zip(results) {
            let step = match result {
                Ok(PullOutcome::Pulled(bytes)) => {
                    self.pulled[i] = Some(bytes);
                    Some(Step::Built { ran: false, key: job.key, content, seconds })
                }
                Ok(PullOutcome::AlreadyHere | PullOutcome::Busy) => None,
                Err(e) => {
                    self.damaged.insert(job.key);
                    self.reporter.warn(format!("pulling {} failed ({e:#}); building it", job.node));
                    live.failed(self.reporter);
                    None
                }
            };
            out.push((i, job, step));
        }
        out
    }

    /// The run built node `id`: queue it for the pusher, or (pulling only) say when the remote
    /// holds another result for its key.
    fn after_build(&self, id: &str, key: Key, content: ContentHash) {
        let Some(live) = self.remote else { return };
        if live.push {
            let repair = self.damaged.contains(&key);
            // The pusher ends only after the channel is closed, below `drive`.
            let _ = self.push_queue.unbounded_send((id.to_string(), key, repair));
        } else if let Some(conflict) = live.conflict(&key, content) {
            self.reporter.warn(format!("node {id}: {conflict}"));
        }
    }

    /// Node `i` failed. Every not-yet-finished closure node downstream of it is blocked by it,
    /// except where the path passes through an optional input: such a dependent loses that input
    /// and becomes ready once the rest are built.
    fn propagate_failure(&mut self, i: usize) {
        let by = &self.dag.node(i).id;
        let mut stack = vec![i];
        while let Some(j) = stack.pop() {
            self.unbuildable[j] = true;
            let mut dependents = self.dag.dependents_of(j).to_vec();
            dependents.dedup(); // a node reading `j` under two names is listed twice, in a row
            for d in dependents {
                if !self.in_closure[d] || self.outcomes[d].is_some() {
                    continue;
                }
                let node = self.dag.node(d);
                let edges: Vec<bool> = (node.inputs.iter().zip(self.dag.inputs_of(d)))
                    .filter(|&(_, &k)| k == j)
                    .map(|(input, _)| input.optional)
                    .collect();
                if edges.iter().all(|&optional| optional) {
                    self.pending[d] -= edges.len();
                    if self.pending[d] == 0 {
                        self.ready.push_back(d);
                    }
                    continue;
                }
                self.progress.finished(&node.id, &format!("blocked by {by}"), 0.0);
                self.outcomes[d] = Some(NodeOutcome {
                    id: node.id.clone(),
                    outcome: Outcome::Blocked { by: by.clone() },
                    key: None,
                    seconds: 0.0,
                });
                stack.push(d);
            }
        }
    }
}
