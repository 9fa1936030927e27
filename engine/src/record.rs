//! Build records: what a node is built from (key, stage kind and fingerprint, parameters, and
//! the content hashes of its inputs). The engine writes one into each artifact's `.meta.json`
//! and keeps the last one per node id, so `status` can say what changed since.

use crate::dag::Dag;
use crate::key::{node_key, ContentHash, Key, KEY_VERSION};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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

/// The record node `i` would be built from now, given the content hashes of built nodes and
/// which nodes cannot be built (a failure upstream), both indexed like the DAG. Optional inputs
/// that cannot be built are left out of the record and so of the key. `None` while some other
/// input has no known content hash.
pub fn current_record(
    dag: &Dag,
    i: usize,
    fingerprints: &HashMap<String, blake3::Hash>,
    content: &[Option<ContentHash>],
    unbuildable: &[bool],
) -> Option<BuildRecord> {
    let node = dag.node(i);
    let mut inputs = Vec::with_capacity(node.inputs.len());
    for (input, &j) in node.inputs.iter().zip(dag.inputs_of(i)) {
        if input.optional && unbuildable[j] {
            continue;
        }
        inputs.push(InputRecord {
            name: input.name.clone(),
            node: input.node.clone(),
            content_hash: content[j]?,
        });
    }
    let fingerprint = fingerprints[&node.kind];
    let pairs: Vec<(&str, ContentHash)> =
        inputs.iter().map(|r| (r.name.as_str(), r.content_hash)).collect();
    Some(BuildRecord {
        key_version: KEY_VERSION,
        key: node_key(&node.kind, &fingerprint, dag.canonical_params(i), &pairs),
        node: node.id.clone(),
        kind: node.kind.clone(),
        fingerprint: fingerprint.to_hex().to_string(),
        params: node.params.clone(),
        inputs,
    })
}
