//! The `finetune` stage: one cell of the grid. Copy the source, re-initialise `fc` for the
//! target's classes, train `fc` and the last k bottleneck blocks on the cell's subset with the
//! paper's schedule, freeze the rest, and evaluate on the whole test split at Table 2's epochs.
//! A cell whose weights a later stage reads (`keep_model`) also keeps the fine-tuned network.

pub mod cell;
pub mod metrics;
pub mod params;

use crate::data::Dataset;
use crate::fingerprint::{sources, Code};
use crate::kind::StageKind;
use crate::nn::{self, Regime, Sgd, SgdConfig};
use crate::subset::drawn::Drawn;
use crate::training::{self, Epoch};
use anyhow::Result;
use cell::Cell;
use metrics::{CellMetrics, Eval, EVAL_SECONDS, IMAGES_PER_SECOND, TRAIN_SECONDS};
use params::FinetuneParams;
use pipeline_engine::StageContext;
use std::time::Instant;

pub struct Finetune;

/// The files this stage's code is made of (its fingerprint; see `fingerprint.rs`).
pub const CODE: Code = Code {
    root: "finetune/mod.rs",
    parts: &[
        sources![
            "finetune/mod.rs",
            "fetch/artifact.rs",
            "finetune/cell.rs",
            "finetune/metrics.rs",
            "finetune/params.rs",
            "pretrain/model.rs",
            "source_model.rs",
            "subset/drawn.rs",
            "training.rs",
        ],
        crate::kind::SEAM,
        crate::nn::NETWORK,
        crate::nn::TRAINING,
        crate::checkpoint::LOADING,
        crate::data::TRAINING,
    ],
};

impl StageKind for Finetune {
    const KIND: &'static str = "finetune";
    type Params = FinetuneParams;
    const CODE: &'static Code = &CODE;

    fn run(&self, ctx: &StageContext, p: FinetuneParams) -> Result<()> {
        let t = &p.train;
        let log = |line: &str| ctx.log(line);
        let mut net =
            crate::source_model::load(ctx.input("source")?, p.source_format, &p.network, &log)?;
        let data = ctx.input("data")?;
        let (train, test) =
            (Dataset::load(&data.join("train"))?, Dataset::load(&data.join("test"))?);
        let subset = Drawn::load(ctx.input("subset")?)?;

        ctx.log(&format!("device: {}", nn::device::describe(net.device())));
        let _precision = nn::precision::enter(t.precision, net.device())?;
        net.reset_fc(train.classes, t.fc_init, p.seed)?;
        let regime = Regime::fine_tune(p.blocks, t.frozen_bn)?;
        let mut sgd = Sgd::new(
            regime.trainable_vars(&net),
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
        // How well the cell fits its own subset (un-augmented, as the test split is evaluated):
        // the convergence criterion the reports count.
        let fitted = training::evaluate(
            &net,
            &train.select(&subset.indices),
            p.network.resolution,
            t.eval_batch,
            None,
        )?;
        let images = (subset.indices.len() * p.epochs) as f64;
        ctx.measure(TRAIN_SECONDS, train_seconds);
        ctx.measure(EVAL_SECONDS, eval_seconds);
        ctx.measure(IMAGES_PER_SECOND, images / train_seconds.max(1e-9));
        if p.keep_model {
            use crate::pretrain::model::{MODEL, NETWORK};
            net.save(&ctx.out_dir().join(MODEL))?;
            std::fs::write(ctx.out_dir().join(NETWORK), serde_json::to_vec_pretty(net.config())?)?;
        }
        CellMetrics {
            cell: Cell {
                source: p.source.clone(),
                dataset: p.dataset.clone(),
                size_label: p.size_label.clone(),
                blocks: p.blocks as u32,
                seed: p.seed,
            },
            size: subset.indices.len() as u64,
            evals,
            epochs: p.epochs,
            train_loss,
            train_accuracy: 100.0 * fitted.accuracy(),
        }
        .write(ctx.out_dir())
    }
}
