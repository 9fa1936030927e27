//! The `probe` stage: the manipulation checks of one source model, on its own source set and
//! without any transfer. The paper's mechanism says adversarial training makes a network rely
//! on shape and low frequencies rather than texture and high frequencies; the probe measures
//! both: test accuracy on the source test split low-passed and high-passed (`filter.rs`), and
//! on cue-conflict images — a class's shape in another class's home texture — how often the
//! prediction follows the shape and how often the texture.

pub mod checks;
pub mod filter;
pub mod params;
pub mod report;
pub mod settings;

use crate::data::{cue_conflict, home_texture, Dataset};
use crate::fingerprint::{sources, Code};
use crate::kind::StageKind;
use crate::nn::Network;
use crate::training;
use anyhow::{Context, Result};
use params::ProbeParams;
use pipeline_engine::StageContext;
use report::{Conflict, ProbeReport, REPORT};

pub struct Probe;

/// The files this stage's code is made of (its fingerprint; see `fingerprint.rs`).
pub const CODE: Code = Code {
    root: "probe/mod.rs",
    parts: &[
        sources![
            "probe/mod.rs",
            "data/procedural/mod.rs",
            "data/procedural/digits.rs",
            "data/procedural/draw.rs",
            "data/procedural/garments.rs",
            "data/procedural/glyphs.rs",
            "data/procedural/objects.rs",
            "data/procedural/shapes.rs",
            "data/raster.rs",
            "fetch/artifact.rs",
            "finetune/params.rs",
            "prepare/params.rs",
            "pretrain/model.rs",
            "probe/filter.rs",
            "probe/params.rs",
            "probe/report.rs",
            "source_model.rs",
            "training.rs",
            // Of the training files, what evaluation reaches (not the schedule).
            "nn/freeze.rs",
            "nn/pgd.rs",
            "nn/sgd.rs",
            "nn/train.rs",
        ],
        crate::kind::SEAM,
        crate::nn::NETWORK,
        crate::checkpoint::LOADING,
        crate::data::TRAINING,
    ],
};

impl StageKind for Probe {
    const KIND: &'static str = "probe";
    type Params = ProbeParams;
    const CODE: &'static Code = &CODE;

    fn run(&self, ctx: &StageContext, p: ProbeParams) -> Result<()> {
        let log = |line: &str| ctx.log(line);
        let net =
            crate::source_model::load(ctx.input("source")?, p.source_format, &p.network, &log)?;
        let test = Dataset::load(&ctx.input("data")?.join("test"))?;
        let accuracy = |data: &Dataset| -> Result<f64> {
            let e = training::evaluate(&net, data, p.network.resolution, p.batch, None)?;
            Ok(100.0 * e.accuracy())
        };
        let clean = accuracy(&test)?;
        ctx.progress(1, 4);
        let low_pass = accuracy(&filter::low_pass(&test, p.sigma))?;
        ctx.progress(2, 4);
        let high_pass = accuracy(&filter::high_pass(&test, p.sigma))?;
        ctx.progress(3, 4);
        let classes = p.data.classes.context("the source set's generator names its classes")?;
        let (images, textures) =
            cue_conflict(classes, p.conflict_images, p.data.seed, p.data.native_size)?;
        let predicted = predictions(&net, &images, p.network.resolution, p.batch)?;
        let conflict = tally(&images.labels, &textures, &predicted);
        ctx.progress(4, 4);
        ctx.log(&format!(
            "clean {clean:.2}%, low-pass {low_pass:.2}%, high-pass {high_pass:.2}%; cue conflict: \
             {} shape, {} texture of {}",
            conflict.shape, conflict.texture, conflict.images
        ));
        let report =
            ProbeReport { source: p.source, sigma: p.sigma, clean, low_pass, high_pass, conflict };
        std::fs::write(ctx.out_dir().join(REPORT), serde_json::to_vec_pretty(&report)?)?;
        Ok(())
    }
}

/// The predicted class of every image of `data` (evaluation mode).
fn predictions(net: &Network, data: &Dataset, resolution: usize, batch: usize) -> Result<Vec<u32>> {
    let all: Vec<u32> = (0..data.len() as u32).collect();
    let mut out = Vec::with_capacity(data.len());
    for chunk in all.chunks(batch.max(1)) {
        let x = crate::data::transform::test_batch(data, chunk, resolution, net.device())?;
        out.extend(net.forward_eval(&x)?.argmax(1)?.to_vec1::<u32>()?);
    }
    Ok(out)
}

/// The cue-conflict decisions: a prediction follows the shape when it is the image's label
/// (its shape's class), the texture when the predicted class's home texture is the image's.
fn tally(shapes: &[u32], textures: &[u32], predicted: &[u32]) -> Conflict {
    let mut c = Conflict { images: shapes.len() as u64, shape: 0, texture: 0 };
    for ((&shape, &texture), &p) in shapes.iter().zip(textures).zip(predicted) {
        if p == shape {
            c.shape += 1;
        } else if home_texture(p as usize) == texture as usize {
            c.texture += 1;
        }
    }
    c
}

#[cfg(test)]
mod tests;
