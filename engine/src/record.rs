//! Build records: what a node is built from (key, stage kind and fingerprint, parameters, and
//! the content hashes of its inputs), as written on disk. The engine writes one into each
//! artifact's `.meta.json` and keeps the last one per node id, so `status` can say what changed
//! since. The record a node would be built from now is computed beside the graph
//! ([`crate::dag::Dag::current_record`]); this file holds only the format.

use crate::key::{ContentHash, Key};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    pub key_version: u32,
    pub key: Key,
    pub node: String,
    pub kind: String,
    /// The stage's code fingerprint (hex).
    pub fingerprint: String,
    pub params: serde_json::Value,
    pub inputs: Vec<InputRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRecord {
    pub name: String,
    pub node: String,
    pub content_hash: ContentHash,
}
