//! The `subset` stage: the training indices of one (dataset, size, seed) cell group, drawn with
//! the authors' rule (every class present, no repeats). It reads only the labels of its `data`
//! input, so every source model is fine-tuned on the same subsets.

use crate::data::{make_mask, Dataset};
use crate::study::params::SubsetParams;
use anyhow::{Context, Result};
use pipeline_engine::{Stage, StageContext};
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

pub struct Subset;

impl Stage for Subset {
    fn kind(&self) -> &'static str {
        "subset"
    }

    fn fingerprint(&self) -> blake3::Hash {
        crate::fingerprint::of_sources(
            self.kind(),
            &[
                include_str!("subset.rs"),
                include_str!("data/subset.rs"),
                include_str!("data/rng.rs"),
            ],
        )
    }

    fn run(&self, ctx: &StageContext) -> Result<()> {
        let p: SubsetParams = ctx.params_as()?;
        let train = Dataset::load(&ctx.input("data")?.join("train"))?;
        let indices = match p.size {
            Some(n) => make_mask(&train.labels, train.classes, n, p.seed)?,
            None => (0..train.len() as u32).collect(),
        };
        ctx.log(&format!("{} of {} training images", indices.len(), train.len()));
        let drawn = Drawn { seed: p.seed, indices };
        std::fs::write(ctx.out_dir().join(FILE), serde_json::to_vec(&drawn)?)?;
        Ok(())
    }
}
