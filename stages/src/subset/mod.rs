//! The `subset` stage: the training indices of one (dataset, size, seed) cell group, drawn with
//! the authors' rule (every class present, no repeats). It reads only the labels of its `data`
//! input, so every source model is fine-tuned on the same subsets.

pub mod drawn;
pub mod params;

use crate::data::{make_mask, Dataset};
use crate::fingerprint::{sources, Code};
use crate::kind::StageKind;
use anyhow::Result;
use drawn::{Drawn, FILE};
use params::SubsetParams;
use pipeline_engine::StageContext;

pub struct Subset;

/// The files this stage's code is made of (its fingerprint; see `fingerprint.rs`).
pub const CODE: Code = Code {
    root: "subset/mod.rs",
    parts: &[
        sources![
            "subset/mod.rs",
            "data/dataset.rs",
            "data/rng.rs",
            "data/subset.rs",
            "subset/drawn.rs",
            "subset/params.rs",
        ],
        crate::kind::SEAM,
    ],
};

impl StageKind for Subset {
    const KIND: &'static str = "subset";
    type Params = SubsetParams;
    const CODE: &'static Code = &CODE;

    fn run(&self, ctx: &StageContext, p: SubsetParams) -> Result<()> {
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
