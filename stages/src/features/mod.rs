//! The `features` stage: the penultimate features of a fine-tuned cell's network (eval mode, no
//! augmentation) on its training subset and on the whole test split, and its `fc` layer — what the
//! influence study differentiates, with the features fixed.

pub mod arrays;
pub mod params;

use crate::data::transform::test_batch;
use crate::data::Dataset;
use crate::fingerprint::{sources, Code};
use crate::kind::StageKind;
use crate::nn::Network;
use crate::npy::Array;
use crate::splits::Splits;
use crate::subset::drawn::Drawn;
use anyhow::{bail, Result};
use arrays::{Features, Fit, Summary};
use candle_core::{DType, Tensor, D};
use params::FeaturesParams;
use pipeline_engine::StageContext;

pub struct FeaturesStage;

/// The files this stage's code is made of (its fingerprint; see `fingerprint.rs`).
pub const CODE: Code = Code {
    root: "features/mod.rs",
    parts: &[
        sources![
            "features/mod.rs",
            "data/dataset.rs",
            "data/transform.rs",
            "features/arrays.rs",
            "features/params.rs",
            "npy.rs",
            "pretrain/model.rs",
            "splits.rs",
            "subset/drawn.rs",
        ],
        crate::kind::SEAM,
        crate::nn::NETWORK,
    ],
};

impl StageKind for FeaturesStage {
    const KIND: &'static str = "features";
    type Params = FeaturesParams;
    const CODE: &'static Code = &CODE;

    fn run(&self, ctx: &StageContext, p: FeaturesParams) -> Result<()> {
        let net = crate::pretrain::model::load(ctx.input("model")?)?;
        ctx.log(&format!("device: {}", crate::nn::device::describe(net.device())));
        let data = ctx.input("data")?;
        let (train, test) =
            (Dataset::load(&data.join("train"))?, Dataset::load(&data.join("test"))?);
        if net.config().classes != train.classes {
            bail!(
                "the model at input `model` has {} classes, dataset `{}` {}",
                net.config().classes,
                p.dataset,
                train.classes
            );
        }
        let subset = Drawn::load(ctx.input("subset")?)?;
        let all_test: Vec<u32> = (0..test.len() as u32).collect();
        let total = (subset.indices.len() + all_test.len()) as u64;
        let mut done = 0;
        let mut pass = |ds: &Dataset, indices: &[u32]| -> Result<(Vec<f32>, Fit)> {
            let (mut features, mut correct, mut loss) = (Vec::new(), 0usize, 0.0f64);
            for chunk in indices.chunks(p.batch.max(1)) {
                let x = test_batch(ds, chunk, p.resolution, net.device())?;
                let h = net.features_eval(&x)?.detach();
                let fit = fit(&net, &h, ds, chunk)?;
                correct += fit.0;
                loss += fit.1;
                features.extend(h.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?);
                done += chunk.len() as u64;
                ctx.progress(done, total);
            }
            let n = indices.len().max(1) as f64;
            Ok((features, Fit { accuracy: 100.0 * correct as f64 / n, loss: loss / n }))
        };
        let (train_features, train_fit) = pass(&train, &subset.indices)?;
        let (test_features, test_fit) = pass(&test, &all_test)?;
        let d = train_features.len() / subset.indices.len().max(1);
        let var = |name: &str| -> Result<Vec<f32>> {
            match net.named_vars().find(|(spec, _)| spec.name == name) {
                Some((_, v)) => Ok(v.as_tensor().to_dtype(DType::F32)?.flatten_all()?.to_vec1()?),
                None => bail!("the network has no `{name}`"),
            }
        };
        ctx.log(&format!(
            "{d} features; train accuracy {:.2}%, test accuracy {:.2}%",
            train_fit.accuracy, test_fit.accuracy
        ));
        let labels =
            |ds: &Dataset, idx: &[u32]| idx.iter().map(|&i| ds.labels[i as usize]).collect();
        Features {
            splits: Splits {
                train: Array::new(vec![subset.indices.len(), d], train_features)?,
                test: Array::new(vec![all_test.len(), d], test_features)?,
                train_labels: labels(&train, &subset.indices),
                test_labels: labels(&test, &all_test),
                train_indices: subset.indices.clone(),
            },
            fc_weight: Array::new(vec![train.classes, d], var("fc.weight")?)?,
            fc_bias: var("fc.bias")?,
            summary: Summary {
                source: p.source,
                dataset: p.dataset,
                classes: train.classes,
                train: train_fit,
                test: test_fit,
            },
        }
        .write(ctx.out_dir())
    }
}

/// Correct predictions and summed cross-entropy of the head on features `h` of images `chunk`.
fn fit(net: &Network, h: &Tensor, ds: &Dataset, chunk: &[u32]) -> Result<(usize, f64)> {
    let logits = net.head_eval(h)?.to_dtype(DType::F64)?;
    let labels: Vec<u32> = chunk.iter().map(|&i| ds.labels[i as usize]).collect();
    let y = Tensor::from_vec(labels.clone(), chunk.len(), net.device())?;
    let log_p = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let picked = log_p.gather(&y.unsqueeze(1)?, 1)?.flatten_all()?.to_vec1::<f64>()?;
    let predicted = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
    let correct = predicted.iter().zip(&labels).filter(|(p, y)| p == y).count();
    Ok((correct, -picked.iter().sum::<f64>()))
}
