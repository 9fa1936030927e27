//! What a `subset` artifact holds: the drawn training indices, for `finetune` to read.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The file a subset artifact holds.
pub const FILE: &str = "subset.json";

/// A drawn subset: sorted indices into the training split.
#[derive(Debug, Serialize, Deserialize)]
pub struct Drawn {
    pub seed: u64,
    pub indices: Vec<u32>,
}

impl Drawn {
    pub fn load(artifact: &Path) -> Result<Drawn> {
        let path = artifact.join(FILE);
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))
    }
}
