//! The `influence` stage (Section 6 of the paper): with a fine-tuned cell's penultimate features
//! fixed, the influence of each training image on each training and test image through the final
//! layer, g_iᵀ H⁻¹ g_j (see `matrices.rs` for the convention). Gradients and Hessian are closed
//! forms (`fc.rs`); the inverse is a damped Cholesky solve or a pseudo-inverse (`solve.rs`, faer).
//! Every product runs on one thread in a fixed order, so the bytes do not depend on the machine.

pub mod fc;
pub mod matrices;
pub mod params;
pub mod reports;
pub mod settings;
pub mod solve;

use crate::features::arrays::Features;
use crate::fingerprint::{sources, Code};
use crate::kind::StageKind;
use crate::npy::Array;
use crate::splits::Splits;
use anyhow::Result;
use faer::Mat;
use matrices::{Influence, Summary};
use params::InfluenceParams;
use pipeline_engine::StageContext;

pub struct InfluenceStage;

/// The files this stage's code is made of (its fingerprint; see `fingerprint.rs`).
pub const CODE: Code = Code {
    root: "influence/mod.rs",
    parts: &[
        sources![
            "influence/mod.rs",
            "features/arrays.rs",
            "influence/fc.rs",
            "influence/matrices.rs",
            "influence/params.rs",
            "influence/solve.rs",
            "npy.rs",
            "splits.rs",
        ],
        crate::kind::SEAM,
    ],
};

/// Test rows per block of the test matrix (bounds memory: one block's gradients are rows × P).
const TEST_BLOCK: usize = 512;

impl StageKind for InfluenceStage {
    const KIND: &'static str = "influence";
    type Params = InfluenceParams;
    const CODE: &'static Code = &CODE;

    fn run(&self, ctx: &StageContext, p: InfluenceParams) -> Result<()> {
        let f = Features::load(ctx.input("features")?)?;
        let influence = compute(&f, &p, &|done, total| ctx.progress(done, total))?;
        let s = &influence.summary;
        ctx.log(&format!("H is {0}×{0}; {1}", s.parameters, s.inverse.description));
        influence.write(ctx.out_dir())
    }
}

/// The influence matrices of the cell whose features are `f`, as `p` says; `progress(done, total)`
/// after each step.
pub fn compute(
    f: &Features,
    p: &InfluenceParams,
    progress: &dyn Fn(u64, u64),
) -> Result<Influence> {
    let s = &f.splits;
    let (n, m, d, classes) = (s.train.rows(), s.test.rows(), s.cols(), f.summary.classes);
    let theta = fc::theta(&f.fc_weight.data, &f.fc_bias, classes, d);
    let x = fc::inputs(&s.train.data, n, d);
    let probabilities = fc::probabilities(&x, &theta);
    let g = fc::gradients(&x, &probabilities, &s.train_labels);
    let h = fc::hessian(&x, &probabilities);
    let parameters = h.nrows();
    let damping = n as f64 * p.weight_decay;
    let steps = 2 + m.div_ceil(TEST_BLOCK) as u64;
    progress(1, steps);
    // Z = H⁻¹ Gᵀ (P × n), shared by both matrices.
    let (z, inverse) = solve::apply(h, &g.transpose().to_owned(), &p.inverse, damping)?;
    let train = row_major(&(&g * &z));
    progress(2, steps);
    let mut test = Vec::with_capacity(m * n);
    for (b, start) in (0..m).step_by(TEST_BLOCK).enumerate() {
        let rows = TEST_BLOCK.min(m - start);
        let xt = fc::inputs(&s.test.data[start * d..(start + rows) * d], rows, d);
        let labels = &s.test_labels[start..start + rows];
        let gt = fc::gradients(&xt, &fc::probabilities(&xt, &theta), labels);
        test.extend(row_major(&(&gt * &z)));
        progress(3 + b as u64, steps);
    }
    Ok(Influence {
        splits: Splits {
            train: Array::new(vec![n, n], train)?,
            test: Array::new(vec![m, n], test)?,
            train_labels: s.train_labels.clone(),
            test_labels: s.test_labels.clone(),
            train_indices: s.train_indices.clone(),
        },
        summary: Summary {
            source: p.source.clone(),
            dataset: p.dataset.clone(),
            train_images: n,
            test_images: m,
            parameters,
            damping,
            inverse,
            train: f.summary.train.clone(),
            test: f.summary.test.clone(),
        },
    })
}

/// A faer matrix's entries, row by row.
fn row_major(m: &Mat<f64>) -> Vec<f64> {
    (0..m.nrows()).flat_map(|i| (0..m.ncols()).map(move |j| m[(i, j)])).collect()
}
