//! Build records: what a node is built from (key, stage kind and fingerprint, parameters, and
//! the content hashes of its inputs), as written on disk. The engine writes one into each
//! artifact's `.meta.json` and keeps the last one per node id, so `status` can say what changed
//! since. The record a node would be built from now is computed beside the graph
//! ([`crate::dag::Dag::current_record`]); this file holds only the format.

use crate::key::{ContentHash, Key};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    pub key_version: u32,
    pub key: Key,
    pub node: String,
    pub kind: String,
    /// The stage's code fingerprint (hex).
    pub fingerprint: String,
    /// What the fingerprint is over, part by part (a file's path, or `(build)`), each a short
    /// hash: how `status` names the part that changed. Empty in older records.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub code: BTreeMap<String, String>,
    pub params: serde_json::Value,
    pub inputs: Vec<InputRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRecord {
    pub name: String,
    pub node: String,
    pub content_hash: ContentHash,
}
