//! The `pretrain` stage: one source model trained here on the profile's source data — naturally,
//! or adversarially with PGD (paper section 3) — and its accuracy on the source test split,
//! clean and under each configured attack (the mini profile's Table 3).

pub mod model;
pub mod params;
pub mod report;

use crate::data::Dataset;
use crate::fingerprint::{sources, Code};
use crate::kind::StageKind;
use crate::nn::{self, NetConfig, Network, Normalizer, Pgd, Regime, Sgd, SgdConfig};
use crate::threat::Constraint;
use crate::training::{self, Epoch};
use anyhow::{Context, Result};
use candle_core::DType;
use model::{MODEL, NETWORK};
use params::PretrainParams;
use pipeline_engine::StageContext;
use report::{AttackReport, SourceReport, REPORT};
use std::time::Instant;

/// The PGD of a constraint, or `None` for natural training.
pub fn pgd(
    constraint: Constraint,
    eps: f64,
    steps: usize,
    step_factor: f64,
    random_start: bool,
) -> Result<Option<Pgd>> {
    let c = match constraint {
        Constraint::None => return Ok(None),
        Constraint::L2 => nn::Norm::L2,
        Constraint::Linf => nn::Norm::Linf,
    };
    Ok(Some(Pgd::new(c, eps, steps, step_factor, random_start)?))
}

/// Per-channel mean and standard deviation of a training split's pixels, in [0, 1]: the
/// source model's input normaliser (as ImageNet's statistics are for the paper's models).
fn normalizer(data: &Dataset) -> Normalizer {
    let plane = data.height * data.width;
    let (mut sum, mut sq) = ([0f64; 3], [0f64; 3]);
    for i in 0..data.len() {
        for (c, px) in data.image(i).chunks(plane).enumerate() {
            for &v in px {
                let v = v as f64 / 255.0;
                sum[c] += v;
                sq[c] += v * v;
            }
        }
    }
    let n = (data.len() * plane) as f64;
    let stat = |c: usize| {
        // Grey images feed all three input channels with the one plane.
        let c = if data.channels == 1 { 0 } else { c };
        let mean = sum[c] / n;
        (mean as f32, ((sq[c] / n - mean * mean).max(1e-12)).sqrt() as f32)
    };
    let s = [stat(0), stat(1), stat(2)];
    Normalizer { mean: s.map(|x| x.0), std: s.map(|x| x.1) }
}

pub struct Pretrain;

/// The files this stage's code is made of (its fingerprint; see `fingerprint.rs`).
pub const CODE: Code = Code {
    root: "pretrain/mod.rs",
    parts: &[
        sources![
            "pretrain/mod.rs",
            "prepare/params.rs",
            "pretrain/model.rs",
            "pretrain/params.rs",
            "pretrain/report.rs",
            "threat.rs",
            "training.rs",
        ],
        crate::kind::SEAM,
        crate::nn::NETWORK,
        crate::nn::TRAINING,
        crate::data::TRAINING,
    ],
};

impl StageKind for Pretrain {
    const KIND: &'static str = "pretrain";
    type Params = PretrainParams;
    const CODE: &'static Code = &CODE;

    fn run(&self, ctx: &StageContext, p: PretrainParams) -> Result<()> {
        let t = &p.train;
        let data = ctx.input("data")?;
        let (train, test) =
            (Dataset::load(&data.join("train"))?, Dataset::load(&data.join("test"))?);
        let config = NetConfig {
            width: p.network.width,
            stem: p.network.stem,
            classes: train.classes,
            normalizer: Some(normalizer(&train)),
        };
        let net = Network::new(config, t.seed, DType::F32, &nn::device()?)?;
        ctx.log(&format!("device: {}", nn::device::describe(net.device())));
        let _precision = nn::precision::enter(t.precision, net.device())?;
        if t.zero_init_residual {
            net.zero_init_residual()?;
        }
        let regime = Regime::full();
        let mut sgd = Sgd::new(
            regime.trainable_vars(&net),
            SgdConfig { lr: t.lr, momentum: t.momentum, weight_decay: t.weight_decay },
        );
        let indices: Vec<u32> = (0..train.len() as u32).collect();
        let transform = training::transform(&t.augment, p.network.resolution);
        let started = Instant::now();
        for e in 0..t.epochs {
            let eps = p.epsilon.value * t.pgd.radius_fraction(e);
            let adversary =
                pgd(p.constraint, eps, t.pgd.steps, t.pgd.step_factor, t.pgd.random_start)?;
            let epoch = Epoch {
                data: &train,
                indices: &indices,
                transform: &transform,
                batch: t.batch,
                seed: t.seed,
                purpose: "pretrain",
                pgd: adversary.as_ref(),
            };
            let loss = epoch.run(&net, &mut sgd, &regime, e, nn::lr_at(e, t.lr, &t.lr_decay))?;
            ctx.log(&format!("epoch {}: training loss {loss:.4}", e + 1));
            ctx.progress(e as u64 + 1, t.epochs as u64);
        }
        ctx.log(&format!("trained in {:.1} s", started.elapsed().as_secs_f64()));

        let res = p.network.resolution;
        let clean = training::evaluate(&net, &test, res, t.batch, None)?;
        let mut attacks = Vec::new();
        for a in &t.attacks {
            let attack = pgd(a.constraint, a.epsilon.value, a.steps, t.pgd.step_factor, false)?
                .context("an evaluation attack needs constraint l2 or linf")?;
            let e = training::evaluate(&net, &test, res, t.batch, Some((&attack, t.seed)))?;
            attacks.push(AttackReport {
                constraint: a.constraint,
                epsilon: a.epsilon.value,
                epsilon_label: a.epsilon.label.clone(),
                steps: a.steps,
                accuracy: 100.0 * e.accuracy(),
            });
        }
        ctx.log(&format!("source test accuracy {:.2}%", 100.0 * clean.accuracy()));
        let report = SourceReport {
            source: p.source.clone(),
            constraint: p.constraint,
            epsilon: p.epsilon.value,
            epsilon_label: p.epsilon.label.clone(),
            clean_accuracy: 100.0 * clean.accuracy(),
            attacks,
            stand_in: None,
        };
        let out = ctx.out_dir();
        net.save(&out.join(MODEL))?;
        std::fs::write(out.join(NETWORK), serde_json::to_vec_pretty(net.config())?)?;
        std::fs::write(out.join(REPORT), serde_json::to_vec_pretty(&report)?)?;
        Ok(())
    }
}
