//! A node of the DAG: one invocation of a stage kind with parameters and named inputs.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One unit of work. Its id is derived from parameter values (never from list positions), so
/// adding a seed or a dataset leaves every other id alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// e.g. `finetune/l2_eps3/cifar10/n1600/b3/s20100000`
    pub id: String,
    /// The stage kind that computes it, e.g. `finetune`.
    pub kind: String,
    /// Parameters; canonicalised before hashing.
    pub params: serde_json::Value,
    /// Named inputs: the artifacts of other nodes this one reads.
    pub inputs: Vec<Input>,
    /// Files of the artifact that are copied into the project (reports) after a run.
    pub publish: Vec<Publish>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// The name the stage asks for (`source`, `subset`, or a cell id for many-input stages).
    pub name: String,
    /// The id of the node whose artifact is read.
    pub node: String,
    /// An optional input that fails (or is blocked) is left out instead of blocking this node,
    /// which then runs on the inputs that were built and is keyed on exactly those. For
    /// many-input stages such as an aggregate over cells, where a gap is reported, not fatal.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Publish {
    /// Path of the file inside the artifact.
    pub file: String,
    /// Destination relative to the project root, e.g. `reports/table5.md`.
    pub to: PathBuf,
}

impl Input {
    pub fn new(name: impl Into<String>, node: impl Into<String>) -> Self {
        Input { name: name.into(), node: node.into(), optional: false }
    }
    /// An input that may be left out when it cannot be built (see [`Input::optional`]).
    pub fn optional(name: impl Into<String>, node: impl Into<String>) -> Self {
        Input { optional: true, ..Input::new(name, node) }
    }
}

impl Publish {
    pub fn new(file: impl Into<String>, to: impl Into<PathBuf>) -> Self {
        Publish { file: file.into(), to: to.into() }
    }
}
