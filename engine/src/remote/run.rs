//! A remote as `run --remote` uses it: the index listed once when the run starts, pulls of the
//! ready nodes it holds (the scheduler's, before it hands a node to an executor, so Slurm tasks
//! need no credentials), and a pusher that uploads what the run builds while it goes on. Every
//! failure here is a warning; the node is then built, or stays built, locally.

use super::client::{Index, Remote};
use super::commands::conflict;
use super::transfer::{self, PullOutcome, PushOutcome};
use crate::build::Reporter;
use crate::job::Job;
use crate::key::{ContentHash, Key};
use crate::record::BuildRecord;
use crate::store::{Check, Depth, Store};
use anyhow::Result;
use futures::channel::mpsc::UnboundedReceiver;
use futures::stream::{self, StreamExt};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A remote that answered when the run started.
pub struct LiveRemote<'a> {
    pub remote: &'a Remote,
    pub index: Index,
    /// Push what the run builds.
    pub push: bool,
    /// Transfers that failed: after [`GIVE_UP`] the run stops using the remote, so that one
    /// that dies or stalls after answering costs a few timeouts, not one per node.
    pub failures: AtomicUsize,
}

/// Failed transfers after which a run stops using the remote.
pub const GIVE_UP: usize = 3;

/// One node to pull: its id, key, the content the remote holds, and this study's record of it.
pub type Wanted = (String, Key, ContentHash, BuildRecord);

impl LiveRemote<'_> {
    /// The content to pull for `job`, when the remote holds exactly one result for its key and
    /// the store has none (a forced job is built, not pulled).
    pub fn holds(&self, store: &Store, job: &Job) -> Option<ContentHash> {
        if self.given_up() {
            return None;
        }
        match self.index.get(&job.key).map(Vec::as_slice) {
            Some(&[content]) if !job.force => match store.check(&job.key, Depth::Sizes) {
                Check::Valid(_) => None,
                _ => Some(content),
            },
            _ => None,
        }
    }

    fn given_up(&self) -> bool {
        self.failures.load(Ordering::Relaxed) >= GIVE_UP
    }

    /// Count a failed transfer; the one that reaches [`GIVE_UP`] says that the run goes on
    /// without the remote.
    pub fn failed(&self, reporter: &dyn Reporter) {
        if self.failures.fetch_add(1, Ordering::Relaxed) + 1 == GIVE_UP {
            reporter.warn(format!(
                "{GIVE_UP} transfers with {} failed: this run goes on without it",
                self.remote.url()
            ));
        }
    }

    /// Pull `wanted`, many at once; one result each, in order.
    pub fn pull_all(&self, store: &Store, wanted: &[Wanted]) -> Vec<Result<PullOutcome>> {
        let remote = self.remote;
        remote.block_on(
            stream::iter(wanted)
                .map(|(_, key, content, record)| {
                    transfer::pull(remote, store, key, content, record)
                })
                .buffered(remote.settings.transfers)
                .collect(),
        )
    }

    /// A node this run built with `content` whose key the remote holds with other content.
    pub fn conflict(&self, key: &Key, content: ContentHash) -> Option<String> {
        let theirs: Vec<ContentHash> =
            self.index.get(key)?.iter().filter(|&&c| c != content).copied().collect();
        (!theirs.is_empty()).then(|| conflict(Some(content), &theirs))
    }

    /// Push every (node id, key, repair) that arrives until the channel closes; returns the
    /// artifacts and bytes pushed. Failures and conflicts are warnings.
    pub fn push_all(
        &self,
        store: &Store,
        queue: UnboundedReceiver<(String, Key, bool)>,
        reporter: &dyn Reporter,
    ) -> (usize, u64) {
        let remote = self.remote;
        let index = &self.index;
        remote.block_on(
            queue
                .map(|(id, key, repair)| async move {
                    if self.given_up() {
                        return (id, Ok(PushOutcome::AlreadyThere));
                    }
                    let known = index.get(&key).map(Vec::as_slice).unwrap_or_default();
                    (id, transfer::push(remote, store, &key, known, repair).await)
                })
                .buffer_unordered(remote.settings.transfers)
                .fold((0, 0), |(n, total), (id, result)| async move {
                    match result {
                        Ok(PushOutcome::Pushed(b)) => return (n + 1, total + b),
                        Ok(PushOutcome::AlreadyThere) => {}
                        Ok(PushOutcome::Conflict { ours, theirs }) => reporter.warn(format!(
                            "node {id}: {}; not replaced",
                            conflict(Some(ours), &theirs)
                        )),
                        Err(e) => {
                            reporter.warn(format!("pushing {id} failed: {e:#}"));
                            self.failed(reporter);
                        }
                    }
                    (n, total)
                }),
        )
    }
}
