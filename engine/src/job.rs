//! A job: one node, prepared completely by the scheduler, as plain data that an executor can run
//! in a thread of this process or hand to another process on another machine (a Slurm task
//! reads it from a file). Whoever runs it recomputes the node's key from its own study and the
//! input artifacts, and refuses to build when that key differs from the one submitted.

use crate::key::Key;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The node's id (the worker looks it up in its own DAG).
    pub node: String,
    /// The node's stage kind.
    pub kind: String,
    /// The key the scheduler computed.
    pub key: Key,
    /// The input artifacts, by input name. An optional input that could not be built is absent.
    pub inputs: Vec<JobInput>,
    /// Rebuild even when an artifact for the key exists (`--force`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobInput {
    pub name: String,
    pub key: Key,
}
