//! Building one job: the single code path every executor uses, whether the job runs in a thread
//! of `pipeline run` or in a Slurm task (`pipeline worker`). It recomputes the node's key from
//! this process's study and the input artifacts, reuses the artifact when one is stored (after
//! checking every file's hash), and otherwise takes the node's lock and runs the stage into a
//! temporary directory that the store commits. Failures (errors and panics) leave a failure
//! record and the node's log.

use crate::dag::Dag;
use crate::job::Job;
use crate::key::{ContentHash, Key};
use crate::lock::NodeLock;
use crate::record::BuildRecord;
use crate::stage::{Fingerprint, Registry, StageContext};
use crate::store::{read_meta, Check, Depth, FailureRecord, Store};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::{LineWriter, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What one attempt at a job came to (a Slurm task leaves it as `<i>.result.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Step {
    Built {
        /// The stage ran (rather than a stored artifact being reused).
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
    /// Another process holds the node's lock; try again later, waiting for it.
    Deferred,
}

/// Where a build reports what it does: a progress display, or a task's log on a cluster.
pub trait Reporter: Send + Sync {
    fn started(&self, id: &str);
    /// Progress reported from inside the stage (`ctx.progress`).
    fn progress(&self, id: &str, done: u64, total: u64);
    fn warn(&self, message: String);
}

/// Everything needed to build any node of one study.
pub struct Builder<'a> {
    pub dag: &'a Dag,
    pub registry: &'a Registry,
    pub store: &'a Store,
    pub fingerprints: HashMap<String, Fingerprint>,
}

impl<'a> Builder<'a> {
    pub fn new(dag: &'a Dag, registry: &'a Registry, store: &'a Store) -> Self {
        Builder { dag, registry, store, fingerprints: registry.fingerprints() }
    }

    /// Build `job` with `threads` threads. `wait`: a previous attempt found the node locked, so
    /// wait for the lock instead of deferring. Never fails: errors become [`Step::Failed`].
    pub fn build(
        &self,
        job: &Job,
        threads: usize,
        wait: bool,
        reporter: &Arc<dyn Reporter>,
    ) -> Step {
        self.attempt(job, threads, wait, reporter).unwrap_or_else(|e| Step::Failed {
            key: None,
            error: format!("{e:#}"),
            log: self.store.log_path(&job.node),
            seconds: 0.0,
        })
    }

    /// The build record of `job` as this process computes it: the node's parameters and stage
    /// fingerprint from its own study, the input content hashes from the stored inputs. Fails
    /// when the key differs from the submitted one.
    pub fn record(&self, job: &Job) -> Result<BuildRecord> {
        let i = self.dag.index_of(&job.node).with_context(|| {
            format!("node {} is not in this study (a different pipeline.yaml?)", job.node)
        })?;
        let n = self.dag.nodes().len();
        let mut content = vec![None; n];
        let mut unbuildable = vec![false; n];
        for (input, &j) in self.dag.node(i).inputs.iter().zip(self.dag.inputs_of(i)) {
            match job.inputs.iter().find(|given| given.name == input.name) {
                Some(given) => {
                    let meta = read_meta(&self.store.object_dir(&given.key))
                        .with_context(|| format!("reading input `{}`", input.name))?;
                    if meta.build.key != given.key {
                        bail!("the artifact of input `{}` names another key", input.name);
                    }
                    content[j] = Some(meta.content_hash);
                }
                None if input.optional => unbuildable[j] = true,
                None => bail!("the job for node {} lacks its input `{}`", job.node, input.name),
            }
        }
        let record = self
            .dag
            .current_record(i, &self.fingerprints, &content, &unbuildable)
            .expect("every input has a content hash or is left out");
        if record.key != job.key {
            bail!(
                "node {} has key {} here but was submitted as {}: the worker's pipeline binary \
                 or pipeline.yaml differs from the driver's",
                job.node,
                record.key,
                job.key
            );
        }
        Ok(record)
    }

    fn attempt(
        &self,
        job: &Job,
        threads: usize,
        wait: bool,
        reporter: &Arc<dyn Reporter>,
    ) -> Result<Step> {
        let record = self.record(job)?;
        let key = record.key;
        let mut warned = false;
        let mut reuse = || match self.store.check(&key, Depth::Hashes) {
            Check::Valid(meta) => Some(meta.content_hash),
            Check::Corrupt(why) => {
                if !std::mem::replace(&mut warned, true) {
                    reporter.warn(format!(
                        "artifact {} of node {} is damaged ({why}); recomputing it",
                        self.store.object_dir(&key).display(),
                        job.node
                    ));
                }
                None
            }
            Check::Absent => None,
        };
        let cached = |content| Ok(Step::Built { ran: false, key, content, seconds: 0.0 });
        if !job.force && !wait {
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
        if !job.force || wait {
            if let Some(content) = reuse() {
                return cached(content);
            }
        }
        self.run_stage(job, record, threads, reporter)
    }

    /// Run the node's stage into a temporary directory and commit it. Holds the node's lock.
    fn run_stage(
        &self,
        job: &Job,
        record: BuildRecord,
        threads: usize,
        reporter: &Arc<dyn Reporter>,
    ) -> Result<Step> {
        let i = self.dag.index_of(&job.node).expect("record() found it");
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
        let inputs = job
            .inputs
            .iter()
            .map(|input| (input.name.clone(), self.store.object_dir(&input.key)))
            .collect();
        let ctx = StageContext::new(
            node.id.clone(),
            node.params.clone(),
            inputs,
            tmp.clone(),
            threads,
            Box::new(write_log.clone()),
            Box::new({
                let (reporter, id) = (Arc::clone(reporter), node.id.clone());
                move |done, total| reporter.progress(&id, done, total)
            }),
        );
        reporter.started(&node.id);
        let start = Instant::now();
        // The stage's parallel work (rayon, and candle's kernels on it) runs on exactly the
        // threads this job was given, so that parallel jobs do not oversubscribe the cores.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|n| format!("stage-{n}"))
            .build()
            .context("starting the stage's threads")?;
        let result = catch_unwind(AssertUnwindSafe(|| pool.install(|| stage.run(&ctx))))
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
        drop(pool);
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
                    executor_state: None,
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
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
