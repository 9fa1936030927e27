//! Copies published files out of artifacts into the project (`publish.to`, e.g.
//! `reports/table5.md`), writing only files whose bytes differ, each atomically.

use crate::dag::Dag;
use crate::fsutil::write_if_changed;
use crate::key::Key;
use crate::store::Store;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Publish the files of `nodes` (built, with their keys in `keys`); returns the files written.
pub(crate) fn publish(
    dag: &Dag,
    store: &Store,
    root: &Path,
    nodes: &[usize],
    keys: &[Option<Key>],
) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for &i in nodes {
        let node = dag.node(i);
        let key = keys[i].expect("published nodes are built");
        for p in &node.publish {
            let from = store.object_dir(&key).join(&p.file);
            let bytes = std::fs::read(&from).with_context(|| {
                format!("reading {} to publish it for node {}", from.display(), node.id)
            })?;
            let to = root.join(&p.to);
            if write_if_changed(&to, &bytes)
                .with_context(|| format!("publishing {}", to.display()))?
            {
                written.push(to);
            }
        }
    }
    Ok(written)
}
