//! The parameters of a `subset` node: written by the study's expansion (`study/expand.rs`), read
//! by the stage. Everything that can change the node's output is here (so it enters the key),
//! and nothing else.

use serde::{Deserialize, Serialize};

/// `subset`: the training indices of one (dataset, size, seed); input `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsetParams {
    /// Number of images; `None` takes the whole training split.
    pub size: Option<usize>,
    pub seed: u64,
}
