//! The `prepare` stage: one dataset's train and test splits as tensor files (`train/`, `test/`,
//! each a `data::Dataset` directory), generated from a seed or decoded from fetched Parquet.

mod images;
pub mod local;
pub mod params;
pub mod parquet;

use crate::data::{generate, Kind, Split};
use crate::fingerprint::{sources, Code};
use crate::kind::StageKind;
use anyhow::Result;
use params::PrepareParams;
use pipeline_engine::StageContext;

pub struct Prepare;

/// The files this stage's code is made of (its fingerprint; see `fingerprint.rs`).
pub const CODE: Code = Code {
    root: "prepare/mod.rs",
    parts: &[
        sources![
            "prepare/mod.rs",
            "data/dataset.rs",
            "data/procedural/digits.rs",
            "data/procedural/draw.rs",
            "data/procedural/garments.rs",
            "data/procedural/glyphs.rs",
            "data/procedural/mod.rs",
            "data/procedural/objects.rs",
            "data/procedural/shapes.rs",
            "data/raster.rs",
            "data/rng.rs",
            "fetch/artifact.rs",
            "file_hash.rs",
            "prepare/images.rs",
            "prepare/local.rs",
            "prepare/params.rs",
            "prepare/parquet.rs",
        ],
        crate::kind::SEAM,
    ],
};

impl StageKind for Prepare {
    const KIND: &'static str = "prepare";
    type Params = PrepareParams;
    const CODE: &'static Code = &CODE;

    fn run(&self, ctx: &StageContext, params: PrepareParams) -> Result<()> {
        let name = ctx.node_id().rsplit('/').next().unwrap_or(ctx.node_id()).to_string();
        for (split, which) in [("train", Split::Train), ("test", Split::Test)] {
            let data = match &params {
                PrepareParams::Procedural(p) => {
                    let n = if which == Split::Train { p.train } else { p.test };
                    let kind = Kind::parse(&p.generator, p.classes)?;
                    let mut d = generate(kind, which, n, p.seed, p.native_size, ctx.threads())?;
                    d.name = name.clone();
                    d
                }
                PrepareParams::Local { format, train, test, classes } => {
                    let files = if which == Split::Train { train } else { test };
                    local::read(*format, files, which, &name, *classes)?
                }
                PrepareParams::Parquet { image_column, label_column, classes } => {
                    let file = crate::fetch::fetched_file(ctx.input(split)?)?;
                    parquet::read(&file, &name, image_column, label_column, *classes)?
                }
            };
            ctx.log(&format!(
                "{split}: {} images of {}×{}×{}, {} classes",
                data.len(),
                data.channels,
                data.height,
                data.width,
                data.classes
            ));
            data.save(&ctx.out_dir().join(split))?;
        }
        Ok(())
    }
}
