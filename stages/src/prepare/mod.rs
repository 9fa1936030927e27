//! The `prepare` stage: one dataset's train and test splits as tensor files (`train/`, `test/`,
//! each a `data::Dataset` directory), generated from a seed or decoded from fetched Parquet.

pub mod local;
pub mod nodes;
pub mod params;
pub mod parquet;

use crate::data::{generate, Dataset, Kind, Split};
use crate::fingerprint::{sources, Code};
use anyhow::{ensure, Result};
use params::PrepareParams;
use pipeline_engine::{Stage, StageContext};

pub struct Prepare;

/// The files this stage's code is made of (its fingerprint; see `fingerprint.rs`).
pub const CODE: Code = Code {
    root: "prepare/mod.rs",
    sources: sources![
        "prepare/mod.rs",
        "data/dataset.rs",
        "data/procedural/digits.rs",
        "data/procedural/garments.rs",
        "data/procedural/glyphs.rs",
        "data/procedural/mod.rs",
        "data/procedural/objects.rs",
        "data/procedural/shapes.rs",
        "data/raster.rs",
        "data/rng.rs",
        "fetch/artifact.rs",
        "file_hash.rs",
        "fingerprint/build_record.rs",
        "fingerprint/mod.rs",
        "fingerprint/tokens.rs",
        "prepare/local.rs",
        "prepare/params.rs",
        "prepare/parquet.rs",
    ],
};

impl Stage for Prepare {
    fn kind(&self) -> &'static str {
        "prepare"
    }

    fn fingerprint(&self) -> blake3::Hash {
        CODE.fingerprint(self.kind())
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

/// Appends a decoded image to `out` as planar [C, H, W] pixels. The first image sets the size
/// and the channels (grey-scale stays one channel, anything else becomes RGB); every later one
/// must have the same size.
pub(crate) fn append_image(out: &mut Dataset, img: &image::DynamicImage) -> Result<()> {
    if out.labels.is_empty() && out.images.is_empty() {
        out.channels = if img.color().has_color() { 3 } else { 1 };
        (out.width, out.height) = (img.width() as usize, img.height() as usize);
    }
    ensure!(
        (img.width() as usize, img.height() as usize) == (out.width, out.height),
        "the image is {}×{}, the first image is {}×{}",
        img.width(),
        img.height(),
        out.width,
        out.height
    );
    if out.channels == 1 {
        out.images.extend_from_slice(img.to_luma8().as_raw());
    } else {
        let rgb = img.to_rgb8();
        for c in 0..3 {
            out.images.extend(rgb.as_raw().iter().skip(c).step_by(3));
        }
    }
    Ok(())
}
