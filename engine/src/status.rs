//! `pipeline status`: for every node a target needs, whether its artifact is up to date, stale,
//! missing, being built by another process, or failed, and why. It reads only metadata, build
//! records and file sizes (never file contents), so it stays fast on very large grids.

use crate::canonical::display_value;
use crate::dag::Dag;
use crate::key::{ContentHash, Key, KEY_VERSION};
use crate::lock;
use crate::record::{BuildRecord, InputRecord};
use crate::remote::Index;
use crate::stage::Registry;
use crate::store::{sanitise_id, Check, Depth, Store};
use anyhow::Result;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Nodes an executor has queued, by key: (task id, state), e.g. (`81_3`, `PENDING`).
pub type Queue = std::collections::HashMap<Key, (String, String)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    UpToDate,
    /// Built before, but something it depends on changed since.
    Stale,
    /// Never built.
    Missing,
    /// Another process holds its lock and is building it now (or its Slurm task is running).
    Running,
    /// Submitted to an executor's queue (a pending Slurm task), not started yet.
    Queued,
    /// The last attempt with the current key failed.
    Failed,
}

impl State {
    pub fn label(self) -> &'static str {
        match self {
            State::UpToDate => "up to date",
            State::Stale => "stale",
            State::Missing => "missing",
            State::Running => "running",
            State::Queued => "queued",
            State::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub id: String,
    pub kind: String,
    pub state: State,
    /// Why the node is not up to date (empty when it is).
    pub reasons: Vec<String>,
    /// The current key; `None` while an input is not built.
    pub key: Option<Key>,
    /// The artifact's content hash: the local one when up to date, else the remote's when the
    /// remote holds the key (one result only), which is what keys the nodes after it.
    pub content: Option<ContentHash>,
    /// The remote holds this node's artifact (see [`crate::remote`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub on_remote: bool,
    /// The log of a failed node.
    pub log: Option<PathBuf>,
    /// Up to date: the wall-clock seconds its stage ran (from the artifact's metadata).
    #[serde(skip)]
    pub seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct KindCounts {
    pub kind: String,
    pub up_to_date: usize,
    pub stale: usize,
    pub missing: usize,
    pub queued: usize,
    pub running: usize,
    pub failed: usize,
    /// Of the nodes not up to date, those the remote holds.
    pub on_remote: usize,
    /// Wall-clock seconds the up-to-date artifacts took to build, summed.
    pub build_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    pub target: String,
    pub up_to_date: bool,
    /// The nodes of this target's closure that are not up to date, in build order.
    pub out_of_date: Vec<NodeStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// Every target is up to date.
    pub up_to_date: bool,
    /// The remote that was asked which nodes it holds (its URL), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    pub kinds: Vec<KindCounts>,
    pub targets: Vec<TargetStatus>,
    pub failures: Vec<NodeStatus>,
}

/// What a remote holds, for status: its URL and its index.
pub type RemoteView<'a> = (&'a str, &'a Index);

/// The status of `targets`, each a label (as the user typed it) and the nodes it names; with
/// `remote`, which of the nodes not up to date the remote holds.
pub fn status(
    dag: &Dag,
    registry: &Registry,
    store: &Store,
    targets: &[(String, Vec<usize>)],
    queue: &Queue,
    remote: Option<RemoteView>,
) -> Result<StatusReport> {
    let all: Vec<usize> = targets.iter().flat_map(|(_, nodes)| nodes.iter().copied()).collect();
    let closure = dag.closure(&all);
    let statuses =
        analyse(dag, registry, store, &closure, queue, remote.map(|(_, index)| index))?.statuses;

    let mut kinds: Vec<KindCounts> = Vec::new();
    for &i in &closure {
        let s = statuses[i].as_ref().expect("analysed");
        let counts = match kinds.iter_mut().position(|k| k.kind == s.kind) {
            Some(p) => &mut kinds[p],
            None => {
                kinds.push(KindCounts { kind: s.kind.clone(), ..Default::default() });
                kinds.last_mut().expect("just pushed")
            }
        };
        counts.build_seconds += s.seconds;
        counts.on_remote += usize::from(s.on_remote);
        *match s.state {
            State::UpToDate => &mut counts.up_to_date,
            State::Stale => &mut counts.stale,
            State::Missing => &mut counts.missing,
            State::Queued => &mut counts.queued,
            State::Running => &mut counts.running,
            State::Failed => &mut counts.failed,
        } += 1;
    }
    let targets: Vec<TargetStatus> = targets
        .iter()
        .map(|(label, nodes)| {
            let out_of_date: Vec<NodeStatus> = dag
                .closure(nodes)
                .into_iter()
                .filter_map(|i| statuses[i].clone().filter(|s| s.state != State::UpToDate))
                .collect();
            TargetStatus { target: label.clone(), up_to_date: out_of_date.is_empty(), out_of_date }
        })
        .collect();
    let failures = closure
        .iter()
        .filter_map(|&i| statuses[i].clone().filter(|s| s.state == State::Failed))
        .collect();
    Ok(StatusReport {
        up_to_date: targets.iter().all(|t| t.up_to_date),
        remote: remote.map(|(url, _)| url.to_string()),
        kinds,
        targets,
        failures,
    })
}

/// What [`analyse`] found, indexed like the DAG.
pub(crate) struct Analysis {
    /// Nodes outside the closure are `None`.
    pub statuses: Vec<Option<NodeStatus>>,
    /// Failed, or waiting on a failed required input: optional inputs on these are left out
    /// of keys.
    pub unbuildable: Vec<bool>,
}

/// The status of every node in `closure` (a topologically ordered, input-closed node list). With `remote`, a node missing
/// here that the remote holds (with one content) is marked so, and keys the nodes after it.
pub(crate) fn analyse(
    dag: &Dag,
    registry: &Registry,
    store: &Store,
    closure: &[usize],
    queue: &Queue,
    remote: Option<&Index>,
) -> Result<Analysis> {
    let fingerprints = registry.fingerprints();
    let recorded = store.recorded()?;
    let mut content: Vec<Option<ContentHash>> = vec![None; dag.nodes().len()];
    let mut statuses: Vec<Option<NodeStatus>> = vec![None; dag.nodes().len()];
    // Failed, or waiting on a failed required input: optional inputs on these are left out.
    let mut unbuildable = vec![false; dag.nodes().len()];
    for &i in closure {
        let node = dag.node(i);
        let mut status = NodeStatus {
            id: node.id.clone(),
            kind: node.kind.clone(),
            state: State::Missing,
            reasons: Vec::new(),
            key: None,
            content: None,
            on_remote: false,
            log: None,
            seconds: 0.0,
        };
        let record = || match recorded.contains(&sanitise_id(&node.id)) {
            true => store.read_record(&node.id),
            false => Ok(None),
        };
        match dag.current_record(i, &fingerprints, &content, &unbuildable) {
            Some(now) => {
                status.key = Some(now.key);
                match store.check(&now.key, Depth::Sizes) {
                    Check::Valid(meta) => {
                        content[i] = Some(meta.content_hash);
                        status.content = Some(meta.content_hash);
                        status.state = State::UpToDate;
                        status.seconds = meta.seconds;
                    }
                    Check::Corrupt(why) => {
                        status.state = State::Stale;
                        status.reasons.push(format!("artifact is damaged ({why})"));
                    }
                    Check::Absent => {
                        if let Some((task, state)) = queue.get(&now.key) {
                            let running = state == "RUNNING";
                            status.state = if running { State::Running } else { State::Queued };
                            status.reasons.push(format!("slurm task {task} ({state})"));
                        } else if lock::is_held(&store.lock_path(&now.key))? {
                            status.state = State::Running;
                        } else if let Some(failure) = store.read_failure(&now.key)? {
                            status.state = State::Failed;
                            status.reasons.push(format!("failed: {}", failure.error.join(": ")));
                            status.log = Some(failure.log);
                        } else if let Some(old) = record()? {
                            status.state = State::Stale;
                            let code = (now.fingerprint.as_str(), &now.code);
                            status.reasons = changes(&old, code, &now.params, Some(&now.inputs));
                            if status.reasons.is_empty() {
                                status.reasons.push("artifact is missing from the store".into());
                            }
                        } else {
                            status.reasons.push("never built".into());
                        }
                    }
                }
                if status.state != State::UpToDate {
                    let held = remote.and_then(|index| index.get(&now.key)).map(Vec::as_slice);
                    match held {
                        Some(&[held]) => {
                            content[i] = Some(held);
                            status.content = Some(held);
                            status.on_remote = true;
                            status.reasons.push("the remote has it".into());
                        }
                        Some(held) if !held.is_empty() => status.reasons.push(format!(
                            "the remote holds {} different results for it (not pulled)",
                            held.len()
                        )),
                        _ => {}
                    }
                }
            }
            None => {
                unbuildable[i] = (node.inputs.iter().zip(dag.inputs_of(i)))
                    .any(|(input, &j)| !input.optional && unbuildable[j]);
                let fingerprint = &fingerprints[&node.kind];
                let hex = fingerprint.hash.to_hex().to_string();
                if let Some(old) = record()? {
                    status.state = State::Stale;
                    status.reasons = changes(&old, (&hex, &fingerprint.parts), &node.params, None);
                }
                status.reasons.push(waiting_reason(dag, i, &statuses));
            }
        }
        unbuildable[i] |= status.state == State::Failed;
        statuses[i] = Some(status);
    }
    Ok(Analysis { statuses, unbuildable })
}

/// "upstream X not built" / "waiting on upstream X (stale)", naming at most three inputs.
fn waiting_reason(dag: &Dag, i: usize, statuses: &[Option<NodeStatus>]) -> String {
    let pending: Vec<&NodeStatus> = dag
        .inputs_of(i)
        .iter()
        .filter_map(|&j| statuses[j].as_ref().filter(|s| s.state != State::UpToDate))
        .collect();
    let named: Vec<String> = pending
        .iter()
        .take(3)
        .map(|s| match s.state {
            State::Missing => format!("{} (not built)", s.id),
            state => format!("{} ({})", s.id, state.label()),
        })
        .collect();
    let more = pending.len().saturating_sub(named.len());
    let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
    if pending.iter().all(|s| s.state == State::Missing) {
        format!("upstream {}{tail} not built", named.join(", ").replace(" (not built)", ""))
    } else {
        format!("waiting on upstream {}{tail}", named.join(", "))
    }
}

/// What differs between the last build of a node and what it would be built from now: `code`
/// is the stage's fingerprint (hex) and its parts. `inputs` is `None` while some input is not
/// built (its content hash is unknown).
fn changes(
    old: &BuildRecord,
    code: (&str, &BTreeMap<String, String>),
    params: &Value,
    inputs: Option<&[InputRecord]>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if old.key_version != KEY_VERSION {
        reasons.push(format!("key format changed (v{} → v{KEY_VERSION})", old.key_version));
    }
    let (fingerprint, parts) = code;
    if old.fingerprint != fingerprint {
        let which = changed_parts(&old.code, parts);
        match which.is_empty() {
            true => reasons.push(format!("code of stage {} changed", old.kind)),
            false => reasons.push(format!("code of stage {} changed: {which}", old.kind)),
        }
    }
    reasons.extend(param_changes(&old.params, params));
    if let Some(inputs) = inputs {
        for input in inputs {
            match old.inputs.iter().find(|o| o.name == input.name) {
                Some(o) if o.content_hash == input.content_hash => {}
                Some(_) => reasons.push(format!("input {} changed", input.name)),
                None => reasons.push(format!("input {} added", input.name)),
            }
        }
        for o in &old.inputs {
            if !inputs.iter().any(|i| i.name == o.name) {
                reasons.push(format!("input {} removed", o.name));
            }
        }
    }
    reasons
}

/// The parts of a stage's code that differ between an old record's and now's (`render/table5.rs`;
/// a part that is new `(new)`, one that is gone `(gone)`), or nothing where the old record does
/// not say (one written before records held the parts).
fn changed_parts(before: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> String {
    if before.is_empty() {
        return String::new();
    }
    let mut named = Vec::new();
    for (part, hash) in now {
        match before.get(part) {
            Some(old) if old == hash => {}
            Some(_) => named.push(part.clone()),
            None => named.push(format!("{part} (new)")),
        }
    }
    named.extend(before.keys().filter(|p| !now.contains_key(*p)).map(|p| format!("{p} (gone)")));
    named.sort();
    named.join(", ")
}

/// Each parameter that differs between `before` and `after`, as `parameter train.lr: 0.1 →
/// 0.2` (dotted paths; arrays compared whole), or added, or removed.
pub fn param_changes(before: &Value, after: &Value) -> Vec<String> {
    let (before, after) = (flatten(before), flatten(after));
    let mut reasons = Vec::new();
    for (path, value) in &after {
        match before.get(path) {
            Some(prev) if prev == value => {}
            Some(prev) => reasons.push(format!("parameter {path}: {prev} → {value}")),
            None => reasons.push(format!("parameter {path} added: {value}")),
        }
    }
    for (path, prev) in &before {
        if !after.contains_key(path) {
            reasons.push(format!("parameter {path} removed (was {prev})"));
        }
    }
    reasons
}

/// Parameters as dotted paths to canonical leaf texts (arrays are leaves).
fn flatten(value: &Value) -> BTreeMap<String, String> {
    fn walk(value: &Value, path: String, out: &mut BTreeMap<String, String>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    walk(v, if path.is_empty() { k.clone() } else { format!("{path}.{k}") }, out);
                }
            }
            leaf => {
                out.insert(path, display_value(leaf));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(value, String::new(), &mut out);
    out
}

/// `42.1s`, `12m 05s`, `3h 02m`: a build time at a glance.
fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        _ if seconds < 60.0 => format!("{seconds:.1}s"),
        _ if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// How many out-of-date nodes the human form lists per target.
const SHOWN_PER_TARGET: usize = 20;

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The remote's column only when a remote was asked.
        let remote = |n: usize| match self.remote {
            Some(_) => format!(" {n:>9}"),
            None => String::new(),
        };
        let remote_head = if self.remote.is_some() { " on remote" } else { "" };
        writeln!(
            f,
            "{:<12} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>11}{remote_head}",
            "stage", "up to date", "stale", "missing", "queued", "running", "failed", "build time"
        )?;
        for k in &self.kinds {
            writeln!(
                f,
                "{:<12} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>11}{}",
                k.kind,
                k.up_to_date,
                k.stale,
                k.missing,
                k.queued,
                k.running,
                k.failed,
                duration(k.build_seconds),
                remote(k.on_remote)
            )?;
        }
        if let Some(url) = &self.remote {
            let held: usize = self.kinds.iter().map(|k| k.on_remote).sum();
            if held > 0 {
                writeln!(f, "\n{url} holds {held} of them: `pipeline pull` fetches them")?;
            } else {
                writeln!(f, "\n{url} holds none of them")?;
            }
        }
        for t in &self.targets {
            if t.up_to_date {
                writeln!(f, "\n{}: up to date", t.target)?;
                continue;
            }
            writeln!(f, "\n{}: {} node(s) out of date", t.target, t.out_of_date.len())?;
            for s in t.out_of_date.iter().take(SHOWN_PER_TARGET) {
                writeln!(f, "  {:<8} {}: {}", s.state.label(), s.id, s.reasons.join("; "))?;
            }
            if t.out_of_date.len() > SHOWN_PER_TARGET {
                writeln!(
                    f,
                    "  … and {} more (`--json` lists all)",
                    t.out_of_date.len() - SHOWN_PER_TARGET
                )?;
            }
        }
        if !self.failures.is_empty() {
            writeln!(f, "\nfailed nodes:")?;
            for s in &self.failures {
                let log = s.log.as_ref().map(|l| l.display().to_string()).unwrap_or_default();
                writeln!(f, "  {}  log: {log}", s.id)?;
            }
        }
        Ok(())
    }
}
