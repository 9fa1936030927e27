//! The parameters of a `fetch` node: written by the study's expansion (`study/expand.rs`), read
//! by the stage. Everything that can change the node's output is here (so it enters the key),
//! and nothing else.

use crate::study::config::{FileHash, Revision};
use serde::{Deserialize, Serialize};

/// `fetch`: one file, from the hub or from this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FetchParams {
    Hub(HubFile),
    Local(LocalFile),
}

/// One file of a hub repository at a pinned revision (or, unpinned, at `main`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubFile {
    pub repo: String,
    pub repo_type: RepoType,
    pub revision: Revision,
    pub file: String,
    pub blake3: FileHash,
}

/// A file on this machine (a local source checkpoint): its absolute path, and the blake3 of its
/// content taken when the study was loaded (what makes an edited file change the node's key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalFile {
    pub path: std::path::PathBuf,
    pub blake3: String,
}

impl HubFile {
    /// Whether the revision or the content hash is not pinned yet.
    pub fn is_unpinned(&self) -> bool {
        self.revision.is_unpinned() || self.blake3.is_unpinned()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoType {
    Model,
    Dataset,
}
