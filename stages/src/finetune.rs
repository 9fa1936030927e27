//! The `finetune` stage: one cell of the grid. Copy the source, re-initialise `fc` for the
//! target's classes, train `fc` and the last k bottleneck blocks on the cell's subset with the
//! paper's schedule, freeze the rest, and evaluate on the whole test split at Table 2's epochs.

use crate::aggregate::{CellMetrics, Eval, Timings};
use crate::checkpoint;
use crate::data::Dataset;
use crate::nn::{self, Regime, Sgd, SgdConfig};
use crate::study::params::{FinetuneParams, SourceFormat};
use crate::subset::Drawn;
use crate::training::{self, Epoch};
use anyhow::Result;
use pipeline_engine::{Stage, StageContext};
use serde::Serialize;
use std::time::Instant;

/// The file a cell's artifact holds.
pub const METRICS: &str = "metrics.json";

/// `metrics.json`: what the aggregate reads, plus the schedule and the training-loss curve.
#[derive(Debug, Serialize)]
pub struct Metrics {
    #[serde(flatten)]
    pub cell: CellMetrics,
    pub epochs: usize,
    /// Mean training loss of each epoch.
    pub train_loss: Vec<f64>,
    pub eval_seconds: f64,
}

pub struct Finetune;

impl Stage for Finetune {
    fn kind(&self) -> &'static str {
        "finetune"
    }

    fn fingerprint(&self) -> blake3::Hash {
        crate::fingerprint::of_sources(self.kind(), &training::SOURCES)
    }

    fn run(&self, ctx: &StageContext) -> Result<()> {
        let p: FinetuneParams = ctx.params_as()?;
        let t = &p.train;
        let mut net = match p.source_format {
            SourceFormat::Pretrained => crate::pretrain::load(ctx.input("source")?)?,
            SourceFormat::Checkpoint(format) => {
                let file = crate::fetch::fetched_file(ctx.input("source")?)?;
                let (net, report) = checkpoint::load(
                    &file,
                    format,
                    p.network.width,
                    p.network.stem,
                    &nn::device()?,
                )?;
                ctx.log(&format!("{}: {}", file.display(), report.summary()));
                net
            }
        };
        let data = ctx.input("data")?;
        let (train, test) =
            (Dataset::load(&data.join("train"))?, Dataset::load(&data.join("test"))?);
        let subset = Drawn::load(ctx.input("subset")?)?;

        net.reset_fc(train.classes, t.fc_init, p.seed)?;
        let regime = Regime::fine_tune(p.blocks, t.frozen_bn)?;
        let mut sgd = Sgd::new(
            net.trainable_vars(&regime),
            SgdConfig { lr: t.lr, momentum: t.momentum, weight_decay: t.weight_decay },
        );
        let transform = training::transform(&t.augment, p.network.resolution);
        let epoch = Epoch {
            data: &train,
            indices: &subset.indices,
            transform: &transform,
            batch: t.batch,
            seed: p.seed,
            purpose: "finetune",
            pgd: None,
        };
        let eval_at = nn::eval_epochs(p.epochs, p.eval_every);
        let (mut train_loss, mut evals) = (Vec::new(), Vec::new());
        let (mut train_seconds, mut eval_seconds) = (0.0, 0.0);
        for e in 0..p.epochs {
            let started = Instant::now();
            train_loss.push(epoch.run(
                &net,
                &mut sgd,
                &regime,
                e,
                nn::lr_at(e, t.lr, &p.lr_decay),
            )?);
            train_seconds += started.elapsed().as_secs_f64();
            if eval_at.contains(&(e + 1)) {
                let started = Instant::now();
                let r = training::evaluate(&net, &test, p.network.resolution, t.eval_batch, None)?;
                eval_seconds += started.elapsed().as_secs_f64();
                ctx.log(&format!(
                    "epoch {}: test accuracy {:.2}%, loss {:.4}",
                    e + 1,
                    100.0 * r.accuracy(),
                    r.mean_loss()
                ));
                evals.push(Eval {
                    epoch: e as u32 + 1,
                    accuracy: 100.0 * r.accuracy(),
                    loss: r.mean_loss(),
                });
            }
            ctx.progress(e as u64 + 1, p.epochs as u64);
        }
        let images = (subset.indices.len() * p.epochs) as f64;
        let metrics = Metrics {
            cell: CellMetrics {
                source: p.source.clone(),
                dataset: p.dataset.clone(),
                size: subset.indices.len() as u64,
                size_label: p.size_label.clone(),
                blocks: p.blocks as u32,
                seed: p.seed,
                evals,
                timings: Timings {
                    train_seconds,
                    images_per_second: images / train_seconds.max(1e-9),
                },
            },
            epochs: p.epochs,
            train_loss,
            eval_seconds,
        };
        std::fs::write(ctx.out_dir().join(METRICS), serde_json::to_vec_pretty(&metrics)?)?;
        Ok(())
    }
}
