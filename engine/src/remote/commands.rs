//! `pipeline push` and `pipeline pull`: every artifact of the targets' closure, many at once,
//! with a progress bar and a summary. Both start by listing what the remote holds; a pull keys
//! each node from its inputs' contents, local or remote, exactly as a run would, so it fetches
//! a whole closure into an empty store. Both resume: what is already there is skipped.

use super::client::{Index, Remote};
use super::transfer::{self, PullOutcome, PushOutcome};
use crate::dag::Dag;
use crate::key::ContentHash;
use crate::progress::{Progress, ProgressMode};
use crate::stage::Registry;
use crate::status::{analyse, Analysis, NodeStatus, State};
use crate::store::Store;
use anyhow::{bail, Result};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use std::fmt;
use std::time::Instant;

/// What a push or pull did, node by node where something did not go through.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TransferSummary {
    /// `push` or `pull`.
    pub direction: &'static str,
    /// Artifacts moved, and the bytes of their packs.
    pub moved: usize,
    pub bytes: u64,
    /// Already at the destination.
    pub already: usize,
    /// Nodes with nothing to move: not on the remote (pull), not built here (push).
    pub absent: Vec<String>,
    /// Nodes another process is building now (pull).
    pub busy: Vec<String>,
    /// Nodes whose key the remote holds with other content: (node, what differs).
    pub conflicts: Vec<(String, String)>,
    /// Nodes whose transfer failed: (node, why).
    pub failed: Vec<(String, String)>,
}

impl TransferSummary {
    /// Nothing failed and nothing conflicts.
    pub fn success(&self) -> bool {
        self.failed.is_empty() && self.conflicts.is_empty()
    }
}

/// Fetch every artifact of `targets`' closure that the store lacks and the remote holds.
pub fn pull(
    dag: &Dag,
    registry: &Registry,
    store: &Store,
    remote: &Remote,
    targets: &[usize],
    progress: ProgressMode,
) -> Result<TransferSummary> {
    let index = remote.block_on(remote.index())?;
    store.create_dirs()?;
    let closure = dag.closure(targets);
    let Analysis { statuses, unbuildable } =
        analyse(dag, registry, store, &closure, &Default::default(), Some(&index))?;
    let content: Vec<_> = statuses.iter().map(|s| s.as_ref().and_then(|s| s.content)).collect();
    let fingerprints = registry.fingerprints();
    let mut summary = TransferSummary { direction: "pull", ..Default::default() };
    let mut wanted = Vec::new();
    for &i in &closure {
        let s = statuses[i].as_ref().expect("analysed");
        if s.state == State::UpToDate {
            summary.already += 1;
        } else if let Some(record) = s
            .on_remote
            .then(|| dag.current_record(i, &fingerprints, &content, &unbuildable))
            .flatten()
        {
            wanted.push((s, record));
        } else {
            note_absent(s, &index, &mut summary);
        }
    }
    let results = transfer_all(remote, &wanted, progress, "pulled", |(s, record)| async move {
        let (key, content) = (s.key.expect("keyed"), s.content.expect("on the remote"));
        (s.id.clone(), transfer::pull(remote, store, &key, &content, record).await)
    });
    for (id, result) in results {
        match result {
            Ok(PullOutcome::Pulled(bytes)) => {
                summary.moved += 1;
                summary.bytes += bytes;
            }
            Ok(PullOutcome::AlreadyHere) => summary.already += 1,
            Ok(PullOutcome::Busy) => summary.busy.push(id),
            Err(e) => summary.failed.push((id, format!("{e:#}"))),
        }
    }
    Ok(summary)
}

/// Upload every artifact of `targets`' closure that is built here and the remote lacks.
pub fn push(
    dag: &Dag,
    registry: &Registry,
    store: &Store,
    remote: &Remote,
    targets: &[usize],
    progress: ProgressMode,
) -> Result<TransferSummary> {
    if remote.settings.read_only {
        bail!("the remote {} is read-only (`read_only: true`): nothing is pushed", remote.url());
    }
    let index = remote.block_on(remote.index())?;
    let closure = dag.closure(targets);
    let statuses = analyse(dag, registry, store, &closure, &Default::default(), None)?.statuses;
    let mut summary = TransferSummary { direction: "push", ..Default::default() };
    let mut built = Vec::new();
    for &i in &closure {
        let s = statuses[i].as_ref().expect("analysed");
        if s.state == State::UpToDate {
            built.push(s);
        } else {
            summary.absent.push(s.id.clone());
        }
    }
    let index = &index;
    let results = transfer_all(remote, &built, progress, "pushed", |s| async move {
        let key = s.key.expect("an up-to-date node has a key");
        let known = index.get(&key).map(Vec::as_slice).unwrap_or_default();
        (s.id.clone(), transfer::push(remote, store, &key, known, false).await)
    });
    for (id, result) in results {
        match result {
            Ok(PushOutcome::Pushed(bytes)) => {
                summary.moved += 1;
                summary.bytes += bytes;
            }
            Ok(PushOutcome::AlreadyThere) => summary.already += 1,
            Ok(PushOutcome::Conflict { ours, theirs }) => {
                summary.conflicts.push((id, conflict(Some(ours), &theirs)));
            }
            Err(e) => summary.failed.push((id, format!("{e:#}"))),
        }
    }
    Ok(summary)
}

/// "built here with content A; the remote holds B": a nondeterministic stage, or a poisoned
/// remote. Nothing is replaced; the user decides.
pub fn conflict(ours: Option<ContentHash>, theirs: &[ContentHash]) -> String {
    let theirs: Vec<String> = theirs.iter().map(ToString::to_string).collect();
    let ours = ours.map(|c| c.to_string()).unwrap_or_else(|| "(unknown)".into());
    format!("built here with content {ours}; the remote holds {}", theirs.join(", "))
}

/// A node not pulled: a conflict when the remote holds several results for its key, else
/// absent (not on the remote, or not keyed because an input is not).
fn note_absent(s: &NodeStatus, index: &Index, summary: &mut TransferSummary) {
    let held = s.key.and_then(|key| index.get(&key)).map_or(0, Vec::len);
    if held > 1 {
        let why = format!("the remote holds {held} different results for this key (not pulled)");
        summary.conflicts.push((s.id.clone(), why));
    } else {
        summary.absent.push(s.id.clone());
    }
}

/// Run `transfer` on every item, the remote's number at once, with a progress bar: each
/// finished transfer is a line (`<node> pulled 0.2s`, or `failed`). Returns (node, result).
fn transfer_all<'a, T, R, F>(
    remote: &Remote,
    items: &'a [T],
    progress: ProgressMode,
    done: &str,
    transfer: impl Fn(&'a T) -> F,
) -> Vec<(String, Result<R>)>
where
    F: std::future::Future<Output = (String, Result<R>)>,
{
    let bar = &Progress::new(progress, items.len());
    let transfer = &transfer;
    let results = remote.block_on(
        stream::iter(items)
            .map(|item| async move {
                let start = Instant::now();
                let (id, result) = transfer(item).await;
                let what = if result.is_ok() { done } else { "failed" };
                bar.finished(&id, what, start.elapsed().as_secs_f64());
                (id, result)
            })
            .buffer_unordered(remote.settings.transfers)
            .collect::<Vec<_>>(),
    );
    bar.finish();
    results
}

impl fmt::Display for TransferSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (verb, absent) = match self.direction {
            "push" => ("pushed", "not built here"),
            _ => ("pulled", "not on the remote"),
        };
        writeln!(
            f,
            "{verb} {} artifact(s), {}; {} already there; {} {absent}; {} busy; {} conflicting; \
             {} failed",
            self.moved,
            human_bytes(self.bytes),
            self.already,
            self.absent.len(),
            self.busy.len(),
            self.conflicts.len(),
            self.failed.len()
        )?;
        for (id, why) in &self.conflicts {
            writeln!(f, "conflict: {id}: {why}")?;
        }
        for (id, why) in &self.failed {
            writeln!(f, "failed: {id}: {why}")?;
        }
        Ok(())
    }
}

/// `12.3 MB`: bytes at a glance.
pub fn human_bytes(n: u64) -> String {
    match n {
        _ if n < 1_000 => format!("{n} B"),
        _ if n < 1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        _ if n < 1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.2} GB", n as f64 / 1e9),
    }
}
