//! The `visualise` stage (Figure 1): for one source network, each seed image ascended to
//! maximise each chosen coordinate of the penultimate representation (`ascent.rs`); the seed
//! images (`seeds.rs`), the kept images and the objective's course are the artifact.

pub mod artifact;
pub mod ascent;
pub mod figure1;
pub mod params;
pub mod seeds;
pub mod settings;

use crate::fingerprint::{sources, Code};
use crate::kind::StageKind;
use crate::npy::Array;
use anyhow::Result;
use artifact::{Summary, IMAGES, SEEDS, SUMMARY, TRACE};
use candle_core::{Device, Tensor};
use params::VisualiseParams;
use pipeline_engine::StageContext;

pub struct VisualiseStage;

/// The files this stage's code is made of (its fingerprint; see `fingerprint.rs`).
pub const CODE: Code = Code {
    root: "visualise/mod.rs",
    parts: &[
        sources![
            "visualise/mod.rs",
            "data/augment.rs",
            "fetch/artifact.rs",
            "finetune/params.rs",
            "npy.rs",
            "pretrain/model.rs",
            "source_model.rs",
            "visualise/artifact.rs",
            "visualise/ascent.rs",
            "visualise/params.rs",
            "visualise/seeds.rs",
        ],
        crate::kind::SEAM,
        crate::nn::NETWORK,
        crate::checkpoint::LOADING,
    ],
};

impl StageKind for VisualiseStage {
    const KIND: &'static str = "visualise";
    type Params = VisualiseParams;
    const CODE: &'static Code = &CODE;

    fn run(&self, ctx: &StageContext, p: VisualiseParams) -> Result<()> {
        let log = |line: &str| ctx.log(line);
        let net =
            crate::source_model::load(ctx.input("source")?, p.source_format, &p.network, &log)?;
        ctx.log(&format!("device: {}", crate::nn::device::describe(net.device())));
        let side = p.network.resolution;
        let mut names: Vec<String> = p.patterns.iter().map(|s| s.name().to_string()).collect();
        let mut images: Vec<Vec<f32>> = p.patterns.iter().map(|s| s.image(side)).collect();
        names.extend((1..=p.noise).map(|i| format!("noise {i}")));
        images.extend(seeds::noise(p.noise, side, p.noise_seed));
        let (s, k) = (images.len(), p.coordinates.len());
        // One batch: seed-major, each seed once per coordinate.
        let batch: Vec<f32> =
            images.iter().flat_map(|img| std::iter::repeat_n(img, k)).flatten().copied().collect();
        let coordinates: Vec<usize> = (0..s).flat_map(|_| p.coordinates.iter().copied()).collect();
        let x = Tensor::from_vec(batch, (s * k, 3, side, side), &Device::Cpu)?
            .to_device(net.device())?;
        let a = ascent::ascend(&net, &x, &coordinates, p.step, p.iterations, &|done, total| {
            ctx.progress(done, total)
        })?;
        let out = ctx.out_dir();
        Array::new(vec![s, 3, side, side], images.concat())?.write(&out.join(SEEDS))?;
        Array::new(vec![s, k, 3, side, side], a.best)?.write(&out.join(IMAGES))?;
        Array::new(vec![p.iterations + 1, s * k], a.trace)?.write(&out.join(TRACE))?;
        let summary = Summary {
            source: p.source,
            seeds: names,
            coordinates: p.coordinates,
            resolution: side,
            step: p.step,
            iterations: p.iterations,
            start: a.start,
            best: a.best_value,
            best_iteration: a.best_iteration,
        };
        std::fs::write(out.join(SUMMARY), serde_json::to_string_pretty(&summary)? + "\n")?;
        Ok(())
    }
}
