//! `reports/pipeline.lock`: for each published file, the key of the artifact it came from, and
//! for every node those artifacts were built from, its key and content hash. One sorted line per
//! entry and nothing that varies between hosts or runs, so a rerun that changes nothing changes
//! no byte, and a reviewer sees exactly which results moved.
//!
//! ```text
//! report <publish path> <node id> <key>
//! node <node id> <key> <content hash>
//! ```
//!
//! A run updates the entries of the reports it built and keeps the others (and the node lines
//! they reach); entries of files no node publishes any more are dropped.

use crate::dag::Dag;
use crate::fsutil::write_if_changed;
use crate::key::{ContentHash, Key};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

/// Where the lock file lives, relative to the project root.
pub const LOCK_FILE: &str = "reports/pipeline.lock";

const HEADER: &str = "# pipeline.lock: `report <publish path> <node id> <key>` for each published file; \
`node <node id> <key> <content hash>` for each artifact the reports were built from. Sorted; written by `pipeline run`.\n";

#[derive(Debug, Default, PartialEq)]
struct LockFile {
    /// publish path → (node id, key)
    reports: BTreeMap<String, (String, String)>,
    /// (node id, key, content hash)
    nodes: BTreeSet<(String, String, String)>,
}

/// Bring the lock file up to date after `built` publishing nodes were built with `keys` and
/// `content`. Returns whether the file changed.
pub(crate) fn update(
    dag: &Dag,
    root: &Path,
    built: &[usize],
    keys: &[Option<Key>],
    content: &[Option<ContentHash>],
) -> Result<bool> {
    let path = root.join(LOCK_FILE);
    let old = match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text).with_context(|| format!("reading {}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => LockFile::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut new = LockFile::default();
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
    new.nodes.extend(old.nodes.iter().filter(|(id, _, _)| kept_ids.contains(id.as_str())).cloned());
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
            new.nodes.insert((dag.node(j).id.clone(), key.to_string(), hash.to_string()));
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
    for (file, (id, key)) in &lock.reports {
        out.push_str(&format!("report {file} {id} {key}\n"));
    }
    for (id, key, hash) in &lock.nodes {
        out.push_str(&format!("node {id} {key} {hash}\n"));
    }
    out
}

fn parse(text: &str) -> Result<LockFile> {
    let mut lock = LockFile::default();
    for (n, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            [""] => {}
            [first, ..] if first.starts_with('#') => {}
            ["report", file, id, key] => {
                lock.reports.insert(file.to_string(), (id.to_string(), key.to_string()));
            }
            ["node", id, key, hash] => {
                lock.nodes.insert((id.to_string(), key.to_string(), hash.to_string()));
            }
            _ => bail!(
                "line {} is not understood: {line:?} (delete the file and rerun to rebuild it)",
                n + 1
            ),
        }
    }
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_then_parse_round_trips() {
        let mut lock = LockFile::default();
        lock.reports.insert("reports/t.md".into(), ("render/t".into(), "ab".into()));
        lock.nodes.insert(("render/t".into(), "ab".into(), "cd".into()));
        assert_eq!(parse(&render(&lock)).unwrap(), lock);
    }
}
