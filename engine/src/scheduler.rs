//! `run`: builds the targets' closure with `jobs` worker threads. A node becomes ready when all
//! its inputs are built; a worker then reuses its artifact (after checking every file's hash) or
//! takes the node's lock and runs its stage into a temporary directory that the store commits.
//! A node locked by another process is put aside while other work is ready, then waited for and
//! reused. Failures (errors and panics) are recorded with their log and block only dependents;
//! a dependent that reads the failed node as an optional input runs without it.
//! Afterwards the published files and `reports/pipeline.lock` are brought up to date.

use crate::dag::Dag;
use crate::key::{ContentHash, Key};
use crate::lock::NodeLock;
use crate::lockfile::{self, LockSettings};
use crate::progress::{Progress, ProgressMode};
use crate::publish;
use crate::record::{current_record, BuildRecord};
use crate::stage::{Registry, StageContext};
use crate::store::{Check, Depth, FailureRecord, Store};
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{LineWriter, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The nodes to build (with everything they depend on); see [`Dag::resolve_targets`].
    pub targets: Vec<usize>,
    /// Nodes built at the same time (at least 1).
    pub jobs: usize,
    /// Which up-to-date nodes to recompute anyway.
    pub force: Force,
    /// Start no new node after the first failure.
    pub fail_fast: bool,
    pub progress: ProgressMode,
    /// The directory that `publish.to` paths and the lock file are relative to.
    pub project_root: PathBuf,
    pub lock: LockSettings,
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
    if opts.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
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
    let available = std::thread::available_parallelism().map_or(1, |p| p.get());
    let shared = Shared {
        dag,
        registry,
        store,
        fingerprints: registry.fingerprints(),
        progress: Arc::new(Progress::new(opts.progress, closure.len())),
        threads_per_node: (available / opts.jobs).max(1),
        fail_fast: opts.fail_fast,
        in_closure,
        forced,
        state: Mutex::new(Sched {
            ready,
            deferred: VecDeque::new(),
            pending,
            keys: vec![None; n],
            content: vec![None; n],
            unbuildable: vec![false; n],
            outcomes: vec![None; n],
            unfinished: closure.len(),
            stop: false,
            warnings: Vec::new(),
        }),
        wake: Condvar::new(),
    };
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.min(closure.len().max(1)) {
            scope.spawn(|| shared.worker());
        }
    });
    shared.progress.finish();
    let sched = shared.state.into_inner().expect("scheduler lock poisoned");

    let mut summary = RunSummary { warnings: sched.warnings, ..Default::default() };
    let mut built_publishers = Vec::new();
    for &i in &closure {
        let outcome = sched.outcomes[i].clone().unwrap_or_else(|| NodeOutcome {
            id: dag.node(i).id.clone(),
            outcome: Outcome::NotStarted,
            key: None,
            seconds: 0.0,
        });
        *match outcome.outcome {
            Outcome::Ran => &mut summary.executed,
            Outcome::Cached => &mut summary.cached,
            Outcome::Failed { .. } => &mut summary.failed,
            Outcome::Blocked { .. } => &mut summary.blocked,
            Outcome::NotStarted => &mut summary.not_started,
        } += 1;
        if matches!(outcome.outcome, Outcome::Ran | Outcome::Cached)
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
        &shared.fingerprints,
        &built_publishers,
        &sched.keys,
        &sched.content,
    )? {
        summary.published.push(opts.project_root.join(&opts.lock.path));
    }
    Ok(summary)
}

struct Shared<'a> {
    dag: &'a Dag,
    registry: &'a Registry,
    store: &'a Store,
    fingerprints: HashMap<String, blake3::Hash>,
    progress: Arc<Progress>,
    threads_per_node: usize,
    fail_fast: bool,
    in_closure: Vec<bool>,
    forced: Vec<bool>,
    state: Mutex<Sched>,
    wake: Condvar,
}

/// The scheduler's mutable state, indexed like the DAG.
struct Sched {
    ready: VecDeque<usize>,
    /// Ready nodes another process is building; taken (and waited for) when nothing else is ready.
    deferred: VecDeque<usize>,
    /// Inputs not yet built, per node.
    pending: Vec<usize>,
    keys: Vec<Option<Key>>,
    content: Vec<Option<ContentHash>>,
    /// Failed or blocked in this run: optional inputs on these are left out.
    unbuildable: Vec<bool>,
    outcomes: Vec<Option<NodeOutcome>>,
    /// Closure nodes without an outcome yet.
    unfinished: usize,
    /// Set by `--fail-fast` after a failure: workers start nothing new.
    stop: bool,
    warnings: Vec<String>,
}

/// What became of one attempt at a node.
enum Step {
    Built {
        ran: bool,
        key: Key,
        content: ContentHash,
        seconds: f64,
    },
    Failed {
        key: Option<Key>,
        error: String,
        log: PathBuf,
        seconds: f64,
    },
    /// Another process holds the node's lock; try again later (waiting for it).
    Deferred,
}

impl Shared<'_> {
    fn worker(&self) {
        loop {
            let (i, wait, record) = {
                let mut st = self.state.lock().expect("scheduler lock poisoned");
                let (i, wait) = loop {
                    if st.unfinished == 0 || st.stop {
                        return;
                    }
                    if let Some(i) = st.ready.pop_front() {
                        break (i, false);
                    }
                    if let Some(i) = st.deferred.pop_front() {
                        break (i, true);
                    }
                    st = self.wake.wait(st).expect("scheduler lock poisoned");
                };
                let record =
                    current_record(self.dag, i, &self.fingerprints, &st.content, &st.unbuildable)
                        .expect("a ready node has all inputs built");
                let inputs: Vec<(String, PathBuf)> = self
                    .dag
                    .node(i)
                    .inputs
                    .iter()
                    .zip(self.dag.inputs_of(i))
                    .filter(|&(input, &j)| !(input.optional && st.unbuildable[j]))
                    .map(|(input, &j)| {
                        let key = st.keys[j].expect("a ready node has all inputs built");
                        (input.name.clone(), self.store.object_dir(&key))
                    })
                    .collect();
                (i, wait, (record, inputs))
            };
            let step = self.attempt(i, record.0, record.1, wait).unwrap_or_else(|e| Step::Failed {
                key: None,
                error: format!("{e:#}"),
                log: self.store.log_path(&self.dag.node(i).id),
                seconds: 0.0,
            });
            self.apply(i, step);
        }
    }

    /// Reuse the node's artifact or build it; `wait` means a previous attempt found it locked.
    fn attempt(
        &self,
        i: usize,
        record: BuildRecord,
        inputs: Vec<(String, PathBuf)>,
        wait: bool,
    ) -> Result<Step> {
        let id = &self.dag.node(i).id;
        let key = record.key;
        let mut warned = false;
        let mut reuse = || match self.store.check(&key, Depth::Hashes) {
            Check::Valid(meta) => Some(meta.content_hash),
            Check::Corrupt(why) => {
                if !std::mem::replace(&mut warned, true) {
                    self.warn(format!(
                        "artifact {} of node {id} is damaged ({why}); recomputing it",
                        self.store.object_dir(&key).display()
                    ));
                }
                None
            }
            Check::Absent => None,
        };
        let cached = |content| Ok(Step::Built { ran: false, key, content, seconds: 0.0 });
        let forced = self.forced[i];
        if !forced && !wait {
            if let Some(content) = reuse() {
                return cached(content);
            }
        }
        let lock_path = self.store.lock_path(&key);
        let _lock = if wait {
            NodeLock::acquire(&lock_path)?
        } else {
            match NodeLock::try_acquire(&lock_path)? {
                Some(lock) => lock,
                None => return Ok(Step::Deferred),
            }
        };
        self.store.remove_stale_tmp(&key)?;
        // Another process may have built it while we checked or waited.
        if !forced || wait {
            if let Some(content) = reuse() {
                return cached(content);
            }
        }
        self.build(i, record, inputs)
    }

    /// Run the node's stage into a temporary directory and commit it. Holds the node's lock.
    fn build(&self, i: usize, record: BuildRecord, inputs: Vec<(String, PathBuf)>) -> Result<Step> {
        let node = self.dag.node(i);
        let stage = self.registry.get(&node.kind).expect("Dag::new checked stage kinds");
        let tmp = self.store.new_tmp(&record.key)?;
        let log_path = self.store.log_path(&node.id);
        let log = Arc::new(Mutex::new(LineWriter::new(
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?,
        )));
        let write_log = {
            let log = Arc::clone(&log);
            move |line: &str| {
                let _ = writeln!(log.lock().expect("log lock poisoned"), "{line}");
            }
        };
        let ctx = StageContext::new(
            node.id.clone(),
            node.params.clone(),
            inputs,
            tmp.clone(),
            self.threads_per_node,
            Box::new(write_log.clone()),
            Box::new({
                let (progress, id) = (Arc::clone(&self.progress), node.id.clone());
                move |done, total| progress.node_progress(&id, done, total)
            }),
        );
        self.progress.started(&node.id);
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| stage.run(&ctx)))
            .unwrap_or_else(|panic| Err(anyhow!("stage panicked: {}", panic_message(&*panic))))
            .with_context(|| format!("stage {} failed on node {}", node.kind, node.id))
            .and_then(|()| {
                for p in &node.publish {
                    if !tmp.join(&p.file).is_file() {
                        bail!(
                            "stage {} did not write `{}`, which node {} publishes",
                            node.kind,
                            p.file,
                            node.id
                        );
                    }
                }
                Ok(())
            });
        let seconds = start.elapsed().as_secs_f64();
        let result = result.and_then(|()| {
            self.store.commit(&tmp, record.clone(), seconds, ctx.take_measurements())
        });
        match result {
            Ok(meta) => {
                self.store.write_record(&record)?;
                self.store.remove_failure(&record.key)?;
                Ok(Step::Built { ran: true, key: record.key, content: meta.content_hash, seconds })
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
                for (n, cause) in chain.iter().enumerate() {
                    write_log(&format!(
                        "{}{cause}",
                        if n == 0 { "error: " } else { "caused by: " }
                    ));
                }
                self.store.write_failure(&FailureRecord {
                    node: node.id.clone(),
                    key: record.key,
                    error: chain,
                    log: log_path.clone(),
                    seconds,
                })?;
                Ok(Step::Failed {
                    key: Some(record.key),
                    error: format!("{e:#}"),
                    log: log_path,
                    seconds,
                })
            }
        }
    }

    /// Record a step's result and release what it unblocks.
    fn apply(&self, i: usize, step: Step) {
        let id = &self.dag.node(i).id;
        let mut st = self.state.lock().expect("scheduler lock poisoned");
        let (outcome, key, seconds) = match step {
            Step::Deferred => {
                st.deferred.push_back(i);
                drop(st);
                self.wake.notify_all();
                return;
            }
            Step::Built { ran, key, content, seconds } => {
                st.keys[i] = Some(key);
                st.content[i] = Some(content);
                for &d in self.dag.dependents_of(i) {
                    st.pending[d] -= 1;
                    if st.pending[d] == 0 && self.in_closure[d] {
                        st.ready.push_back(d);
                    }
                }
                (if ran { Outcome::Ran } else { Outcome::Cached }, Some(key), seconds)
            }
            Step::Failed { key, error, log, seconds } => {
                self.propagate_failure(&mut st, i);
                st.stop |= self.fail_fast;
                (Outcome::Failed { error, log }, key, seconds)
            }
        };
        let label = match &outcome {
            Outcome::Ran => "ran",
            Outcome::Cached => "cached",
            _ => "failed",
        };
        self.progress.finished(id, label, seconds);
        st.outcomes[i] = Some(NodeOutcome { id: id.clone(), outcome, key, seconds });
        st.unfinished -= 1;
        drop(st);
        self.wake.notify_all();
    }

    /// Node `i` failed. Every not-yet-finished closure node downstream of it is blocked by it,
    /// except where the path passes through an optional input: such a dependent loses that input
    /// and becomes ready once the rest are built.
    fn propagate_failure(&self, st: &mut Sched, i: usize) {
        let by = &self.dag.node(i).id;
        let mut stack = vec![i];
        while let Some(j) = stack.pop() {
            st.unbuildable[j] = true;
            let mut dependents = self.dag.dependents_of(j).to_vec();
            dependents.dedup(); // a node reading `j` under two names is listed twice, in a row
            for d in dependents {
                if !self.in_closure[d] || st.outcomes[d].is_some() {
                    continue;
                }
                let node = self.dag.node(d);
                let edges: Vec<bool> = (node.inputs.iter().zip(self.dag.inputs_of(d)))
                    .filter(|&(_, &k)| k == j)
                    .map(|(input, _)| input.optional)
                    .collect();
                if edges.iter().all(|&optional| optional) {
                    st.pending[d] -= edges.len();
                    if st.pending[d] == 0 {
                        st.ready.push_back(d);
                    }
                    continue;
                }
                self.progress.finished(&node.id, &format!("blocked by {by}"), 0.0);
                st.outcomes[d] = Some(NodeOutcome {
                    id: node.id.clone(),
                    outcome: Outcome::Blocked { by: by.clone() },
                    key: None,
                    seconds: 0.0,
                });
                st.unfinished -= 1;
                stack.push(d);
            }
        }
    }

    fn warn(&self, message: String) {
        self.progress.warn(&message);
        self.state.lock().expect("scheduler lock poisoned").warnings.push(message);
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
