//! The parameters of a `fetch` node: written by the study's expansion (`study/expand.rs`), read
//! by the stage. Everything that can change the node's output is here (so it enters the key),
//! and nothing else.

use crate::checkpoint::format::CheckpointFormat;
use serde::{Deserialize, Deserializer, Serialize};

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

/// A pinned identifier of `LEN` lower-case hex digits, or `unpinned`: not looked up yet. An
/// unpinned file is fetched from the repository's `main` and verified against nothing; the
/// `fetch` stage records what it resolved (`pin.json`) and `pipeline pin` writes it here. Anything else (a branch or tag such as `main`, a short hash) is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin<const LEN: usize> {
    Hex(String),
    Unpinned,
}

/// A commit hash (40 hex digits) or `unpinned`.
pub type Revision = Pin<40>;
/// A blake3 hash of a file's bytes (64 hex digits) or `unpinned`.
pub type FileHash = Pin<64>;

/// The word that marks a value as not pinned yet.
pub const UNPINNED: &str = "unpinned";

impl<const LEN: usize> Pin<LEN> {
    /// The text as written in `pipeline.yaml`: the hex digits or `unpinned`.
    pub fn as_str(&self) -> &str {
        match self {
            Pin::Hex(h) => h,
            Pin::Unpinned => UNPINNED,
        }
    }

    pub fn is_unpinned(&self) -> bool {
        *self == Pin::Unpinned
    }
}

impl<const LEN: usize> Serialize for Pin<LEN> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de, const LEN: usize> Deserialize<'de> for Pin<LEN> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == UNPINNED {
            return Ok(Pin::Unpinned);
        }
        if text.len() == LEN
            && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Ok(Pin::Hex(text));
        }
        let what = match LEN {
            40 => {
                "a revision must be a full commit hash (40 lower-case hex digits); branches and \
                   tags move, so they cannot pin a file"
            }
            _ => "a content hash must be a blake3 hash (64 lower-case hex digits)",
        };
        Err(serde::de::Error::custom(format!(
            "`{text}`: {what}. Write `{UNPINNED}` to fetch from `main` unverified; `pipeline \
             pin` then writes here what was fetched"
        )))
    }
}

/// A source checkpoint in a local file, its path relative to `pipeline.yaml`'s folder (or
/// absolute). Its content is hashed when the study is loaded and enters the keys, as a local
/// dataset's does: an edited file makes everything built from it stale.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalCheckpoint {
    pub path: std::path::PathBuf,
    pub format: CheckpointFormat,
}
