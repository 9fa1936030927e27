//! The `prepare` stage: one dataset's train and test splits as tensor files (`train/`, `test/`,
//! each a `data::Dataset` directory), generated from a seed or decoded from fetched Parquet.

pub mod parquet;

use crate::data::{generate, Kind, Split};
use crate::study::params::PrepareParams;
use anyhow::Result;
use pipeline_engine::{Stage, StageContext};

pub struct Prepare;

impl Stage for Prepare {
    fn kind(&self) -> &'static str {
        "prepare"
    }

    fn fingerprint(&self) -> blake3::Hash {
        crate::fingerprint::of_sources(
            self.kind(),
            &[
                include_str!("mod.rs"),
                include_str!("parquet.rs"),
                include_str!("../fetch.rs"),
                include_str!("../data/dataset.rs"),
                include_str!("../data/raster.rs"),
                include_str!("../data/rng.rs"),
                include_str!("../data/procedural/mod.rs"),
                include_str!("../data/procedural/shapes.rs"),
                include_str!("../data/procedural/objects.rs"),
                include_str!("../data/procedural/digits.rs"),
                include_str!("../data/procedural/garments.rs"),
                include_str!("../data/procedural/glyphs.rs"),
            ],
        )
    }

    fn run(&self, ctx: &StageContext) -> Result<()> {
        let name = ctx.node_id().rsplit('/').next().unwrap_or(ctx.node_id()).to_string();
        let params: PrepareParams = ctx.params_as()?;
        for (split, which) in [("train", Split::Train), ("test", Split::Test)] {
            let data = match &params {
                PrepareParams::Procedural(p) => {
                    let n = if which == Split::Train { p.train } else { p.test };
                    let kind = Kind::parse(&p.generator, p.classes)?;
                    let mut d = generate(kind, which, n, p.seed, p.native_size, ctx.threads())?;
                    d.name = name.clone();
                    d
                }
                PrepareParams::Parquet { image_column, label_column, classes } => {
                    let file = crate::fetch::fetched_file(ctx.input(split)?)?;
                    parquet::read(&file, &name, image_column, label_column, *classes)?
                }
            };
            ctx.log(&format!("{split}: {} images of {}×{}×{}, {} classes", data.len(), data.channels, data.height, data.width, data.classes));
            data.save(&ctx.out_dir().join(split))?;
        }
        Ok(())
    }
}
