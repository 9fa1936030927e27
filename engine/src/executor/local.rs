//! The local executor: `jobs` worker threads in this process, each job on an equal share of the
//! cores. A job whose node another process is building is put aside while other work is
//! ready, then waited for (its artifact is then reused).

use super::{Executor, Session};
use crate::build::{Builder, Reporter, Step};
use crate::error::{Fault, FaultContext};
use crate::job::Job;
use crate::progress::Progress;
use crate::store::Store;
use anyhow::{anyhow, Result};
use std::collections::VecDeque;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};

/// Worker threads of this process, building `jobs` nodes at once.
#[derive(Debug, Clone)]
pub struct LocalExecutor {
    /// Nodes built at the same time (at least 1); each gets `cpus() / jobs` threads.
    pub jobs: usize,
}

impl Executor for LocalExecutor {
    fn preflight(&self, _store: &Store) -> Result<()> {
        if self.jobs == 0 {
            return Err(anyhow!("--jobs must be at least 1")).fault(Fault::Input);
        }
        Ok(())
    }

    /// The threads stop when `drive` returns.
    fn session(
        &self,
        builder: &Builder,
        _progress: &Progress,
        reporter: Arc<dyn Reporter>,
        drive: &mut dyn FnMut(&mut dyn Session) -> Result<()>,
    ) -> Result<()> {
        let jobs = self.jobs;
        let threads = (super::cpus() / jobs).max(1);
        let queue = Queue { state: Mutex::default(), wake: Condvar::new() };
        let (done_tx, done_rx) = channel();
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                let (queue, done_tx, reporter) = (&queue, done_tx.clone(), Arc::clone(&reporter));
                scope.spawn(move || worker(builder, threads, queue, &done_tx, &reporter));
            }
            let mut session = Local { queue: &queue, done: done_rx };
            let result = drive(&mut session);
            queue.state.lock().expect("queue lock poisoned").closed = true;
            queue.wake.notify_all();
            result
        })
    }
}

#[derive(Default)]
struct QueueState {
    ready: VecDeque<(usize, Job)>,
    /// Jobs whose node another process holds; taken (and waited for) when nothing is ready.
    deferred: VecDeque<(usize, Job)>,
    closed: bool,
}

struct Queue {
    state: Mutex<QueueState>,
    wake: Condvar,
}

struct Local<'q> {
    queue: &'q Queue,
    done: Receiver<(usize, Step)>,
}

impl Session for Local<'_> {
    fn start(&mut self, index: usize, job: Job) -> Result<()> {
        self.queue.state.lock().expect("queue lock poisoned").ready.push_back((index, job));
        self.queue.wake.notify_one();
        Ok(())
    }

    fn wait(&mut self) -> Result<Vec<(usize, Step)>> {
        let first = self.done.recv().expect("a worker thread is alive while jobs are started");
        Ok(std::iter::once(first).chain(self.done.try_iter()).collect())
    }

    fn withdraw_queued(&mut self) -> Result<Vec<usize>> {
        let mut state = self.queue.state.lock().expect("queue lock poisoned");
        let ready = std::mem::take(&mut state.ready);
        Ok(ready.into_iter().map(|(i, _)| i).collect())
    }
}

fn worker(
    builder: &Builder,
    threads: usize,
    queue: &Queue,
    done: &Sender<(usize, Step)>,
    reporter: &Arc<dyn Reporter>,
) {
    loop {
        let (index, job, wait) = {
            let mut state = queue.state.lock().expect("queue lock poisoned");
            loop {
                if let Some((i, job)) = state.ready.pop_front() {
                    break (i, job, false);
                }
                if let Some((i, job)) = state.deferred.pop_front() {
                    break (i, job, true);
                }
                if state.closed {
                    return;
                }
                state = queue.wake.wait(state).expect("queue lock poisoned");
            }
        };
        match builder.build(&job, threads, wait, reporter) {
            Step::Deferred => {
                queue.state.lock().expect("queue lock poisoned").deferred.push_back((index, job));
                queue.wake.notify_all();
            }
            step => {
                let _ = done.send((index, step));
            }
        }
    }
}
