//! `reports/pipeline.lock`: for each published file, the key of the artifact it came from, and
//! for every node those artifacts were built from, its key and content hash. One sorted line per
//! entry and nothing that varies between hosts or runs, so a rerun that changes nothing changes
//! no byte, and a reviewer sees exactly which results moved.
//!
//! ```text
//! profile <name>
//! report <publish path> <node id> <key>
//! node <node id> <key> <content hash> <stage fingerprint, first 16 hex digits>
//! ```
//!
//! The profile line says which study variant the reports belong to; the fingerprint lets
//! `pipeline diff` tell a change of stage code from a change of parameters or inputs. A run
//! updates the entries of the reports it built and keeps the others (and the node lines they
//! reach); entries of files no node publishes any more are dropped. Lock files written before
//! the profile line and the fingerprint column still parse (both unknown).

use crate::dag::Dag;
use crate::fsutil::write_if_changed;
use crate::key::{ContentHash, Key};
use crate::stage::Fingerprint;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The lock file's name in a reports folder.
pub const LOCK_FILE: &str = "pipeline.lock";

const HEADER: &str = "# pipeline.lock: `report <publish path> <node id> <key>` for each published file; \
`node <node id> <key> <content hash> <stage fingerprint>` for each artifact the reports were built from. Sorted; written by `pipeline run`.\n";

/// How many hex digits of a stage fingerprint the lock keeps (enough to tell versions apart).
const FINGERPRINT_DIGITS: usize = 16;

/// Where a run keeps its lock file and what it writes into its header.
#[derive(Debug, Clone)]
pub struct LockSettings {
    /// Path relative to the project root, e.g. `reports/pipeline.lock`.
    pub path: PathBuf,
    /// The study variant the reports belong to (the profile name).
    pub profile: String,
}

/// A parsed lock file.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LockFile {
    /// The profile the reports were built with (`None` in lock files older than the field).
    pub profile: Option<String>,
    /// publish path → (node id, key)
    pub reports: BTreeMap<String, (String, String)>,
    /// Every node the reports were built from. A partial run can leave two entries for one
    /// id: the key one report was built from, and the newer key another was rebuilt from; never
    /// two for one key (the run's content replaces the old lock's).
    pub nodes: BTreeSet<LockedNode>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LockedNode {
    pub id: String,
    pub key: String,
    pub content: String,
    /// The first digits of the stage's code fingerprint (`None` in older lock files).
    pub fingerprint: Option<String>,
}

/// Bring the lock file up to date after `built` publishing nodes were built with `keys` and
/// `content` by stages with `fingerprints`. Returns whether the file changed.
pub(crate) fn update(
    dag: &Dag,
    root: &Path,
    settings: &LockSettings,
    fingerprints: &HashMap<String, Fingerprint>,
    built: &[usize],
    keys: &[Option<Key>],
    content: &[Option<ContentHash>],
) -> Result<bool> {
    let path = root.join(&settings.path);
    let old = match std::fs::read_to_string(&path) {
        Ok(text) => {
            LockFile::parse(&text).with_context(|| format!("reading {}", path.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => LockFile::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut new = LockFile { profile: Some(settings.profile.clone()), ..LockFile::default() };
    // Reports this run did not build keep their entries while their node still publishes them.
    let mut kept_nodes = Vec::new();
    for (file, (id, key)) in &old.reports {
        let Some(i) = dag.index_of(id) else { continue };
        let still_published = dag.node(i).publish.iter().any(|p| path_text(&p.to) == *file);
        if still_published && !built.contains(&i) {
            new.reports.insert(file.clone(), (id.clone(), key.clone()));
            kept_nodes.push(i);
        }
    }
    let kept_ids: HashSet<&str> =
        dag.closure(&kept_nodes).into_iter().map(|i| dag.node(i).id.as_str()).collect();
    new.nodes.extend(old.nodes.iter().filter(|n| kept_ids.contains(n.id.as_str())).cloned());
    for &i in built {
        let node = dag.node(i);
        let key = keys[i].expect("built nodes have keys").to_string();
        for p in &node.publish {
            new.reports.insert(path_text(&p.to), (node.id.clone(), key.clone()));
        }
    }
    // What the built reports were made from: their inputs, transitively, less the optional
    // inputs that could not be built and were left out.
    let mut stack = built.to_vec();
    let mut seen = HashSet::new();
    while let Some(j) = stack.pop() {
        let (Some(key), Some(hash)) = (keys[j], content[j]) else {
            continue;
        };
        if seen.insert(j) {
            let node = dag.node(j);
            let fingerprint = fingerprints[&node.kind].hash.to_hex();
            // What this run holds under the key replaces what the old lock said it held: one
            // node, one line per key (a fresh store can rebuild a key with other bytes).
            let key = key.to_string();
            new.nodes.retain(|n| n.id != node.id || n.key != key);
            new.nodes.insert(LockedNode {
                id: node.id.clone(),
                key,
                content: hash.to_string(),
                fingerprint: Some(fingerprint[..FINGERPRINT_DIGITS].to_string()),
            });
            stack.extend_from_slice(dag.inputs_of(j));
        }
    }
    if new.reports.is_empty() && !path.exists() {
        return Ok(false);
    }
    write_if_changed(&path, render(&new).as_bytes())
}

fn path_text(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

fn render(lock: &LockFile) -> String {
    let mut out = String::from(HEADER);
    if let Some(profile) = &lock.profile {
        out.push_str(&format!("profile {profile}\n"));
    }
    for (file, (id, key)) in &lock.reports {
        out.push_str(&format!("report {file} {id} {key}\n"));
    }
    for n in &lock.nodes {
        out.push_str(&format!("node {} {} {}", n.id, n.key, n.content));
        if let Some(fingerprint) = &n.fingerprint {
            out.push_str(&format!(" {fingerprint}"));
        }
        out.push('\n');
    }
    out
}

impl LockFile {
    /// Parse the text of a lock file (this version's or an older one).
    pub fn parse(text: &str) -> Result<LockFile> {
        let mut lock = LockFile::default();
        for (n, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split(' ').collect();
            let node = |id: &str, key: &str, content: &str, fingerprint: Option<&str>| LockedNode {
                id: id.to_string(),
                key: key.to_string(),
                content: content.to_string(),
                fingerprint: fingerprint.map(str::to_string),
            };
            match fields.as_slice() {
                [""] => {}
                [first, ..] if first.starts_with('#') => {}
                ["profile", name] => lock.profile = Some(name.to_string()),
                ["report", file, id, key] => {
                    lock.reports.insert(file.to_string(), (id.to_string(), key.to_string()));
                }
                ["node", id, key, hash] => {
                    lock.nodes.insert(node(id, key, hash, None));
                }
                ["node", id, key, hash, fingerprint] => {
                    lock.nodes.insert(node(id, key, hash, Some(fingerprint)));
                }
                _ => bail!(
                    "line {} is not understood: {line:?} (delete the file and rerun to rebuild it)",
                    n + 1
                ),
            }
        }
        Ok(lock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_then_parse_round_trips() {
        let mut lock = LockFile { profile: Some("mini".into()), ..LockFile::default() };
        lock.reports.insert("reports/t.md".into(), ("render/t".into(), "ab".into()));
        let node = LockedNode {
            id: "render/old".into(),
            key: "ab".into(),
            content: "cd".into(),
            fingerprint: None,
        };
        lock.nodes.insert(node.clone());
        lock.nodes.insert(LockedNode {
            id: "render/t".into(),
            fingerprint: Some("ef".into()),
            ..node
        });
        assert_eq!(LockFile::parse(&render(&lock)).unwrap(), lock);
    }
}
