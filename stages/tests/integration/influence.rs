//! The influence study's numerics: `influence::compute` against the independent numpy computation
//! of `fixtures/make_influence.py` (damped solve and pseudo-inverse), and the Koh & Liang check —
//! with the features fixed the damped fc problem is strongly convex, so removing a training image
//! and re-optimising must change a test image's loss by what the influence predicts.

use faer::Mat;
use pipeline_stages::features::arrays::{Features, Fit, Summary};
use pipeline_stages::influence::params::InfluenceParams;
use pipeline_stages::influence::solve::{self, Inverse};
use pipeline_stages::influence::{compute, fc};
use pipeline_stages::npy::Array;
use pipeline_stages::splits::Splits;
use std::path::PathBuf;

fn fixture<T: pipeline_stages::npy::Element>(name: &str) -> Array<T> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/influence");
    Array::read(&dir.join(format!("{name}.npy"))).unwrap()
}

fn fixture_features() -> Features {
    let train: Array<f32> = fixture("train_features");
    let fit = Fit { accuracy: 0.0, loss: 0.0 };
    Features {
        splits: Splits {
            train_indices: (0..train.rows() as u32).collect(),
            train,
            test: fixture("test_features"),
            train_labels: fixture("train_labels").data,
            test_labels: fixture("test_labels").data,
        },
        fc_weight: fixture("fc_weight"),
        fc_bias: fixture("fc_bias").data,
        summary: Summary {
            source: "s".into(),
            dataset: "d".into(),
            classes: 4,
            train: fit.clone(),
            test: fit,
        },
    }
}

fn params(inverse: Inverse) -> InfluenceParams {
    InfluenceParams {
        source: "s".into(),
        dataset: "d".into(),
        size_label: "30".into(),
        blocks: 3,
        seed: 0,
        weight_decay: 0.01,
        inverse,
    }
}

/// max |a − b| / max |b|.
fn relative_error(a: &Array<f64>, b: &Array<f64>) -> f64 {
    assert_eq!(a.shape, b.shape);
    let scale = b.data.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    a.data.iter().zip(&b.data).fold(0.0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

#[test]
fn influence_matrices_match_numpys_damped_solve_and_pseudo_inverse() {
    let f = fixture_features();
    let damped = compute(&f, &params(Inverse::Damped), &|_, _| {}).unwrap();
    assert_eq!(damped.summary.damping, 30.0 * 0.01);
    assert_eq!(damped.summary.parameters, 4 * 6);
    assert!(relative_error(&damped.splits.train, &fixture("damped_train")) < 1e-9);
    assert!(relative_error(&damped.splits.test, &fixture("damped_test")) < 1e-9);
    let pinv = compute(&f, &params(Inverse::Pinv { cutoff: 1e-3 }), &|_, _| {}).unwrap();
    assert_eq!(pinv.summary.inverse.kept, Some(fixture::<u32>("pinv_kept").data[0] as usize));
    assert!(relative_error(&pinv.splits.train, &fixture("pinv_train")) < 1e-8);
    assert!(relative_error(&pinv.splits.test, &fixture("pinv_test")) < 1e-8);
    // The rows and columns keep their images.
    assert_eq!(damped.splits.train_labels, f.splits.train_labels);
    assert_eq!(damped.splits.test_labels, f.splits.test_labels);
}

/// The damped objective Σ ℓ_j(θ) + λ/2 ‖θ‖² over the rows of `x` that `keep`, minimised by
/// Newton's method from `start` to a gradient below 1e-12.
fn fit(
    x: &Mat<f64>,
    labels: &[u32],
    keep: &dyn Fn(usize) -> bool,
    lambda: f64,
    start: &Mat<f64>,
) -> Mat<f64> {
    let rows: Vec<usize> = (0..x.nrows()).filter(|&j| keep(j)).collect();
    let xs = Mat::from_fn(rows.len(), x.ncols(), |r, k| x[(rows[r], k)]);
    let ys: Vec<u32> = rows.iter().map(|&j| labels[j]).collect();
    let (classes, width) = (start.nrows(), start.ncols());
    let mut theta = start.clone();
    for _ in 0..50 {
        let p = fc::probabilities(&xs, &theta);
        let g = fc::gradients(&xs, &p, &ys);
        let grad = Mat::from_fn(classes * width, 1, |i, _| {
            (0..g.nrows()).map(|j| g[(j, i)]).sum::<f64>() + lambda * theta[(i / width, i % width)]
        });
        let norm = (0..grad.nrows()).fold(0.0f64, |m, i| m.max(grad[(i, 0)].abs()));
        if norm < 1e-12 {
            return theta;
        }
        let (step, _) =
            solve::apply(fc::hessian(&xs, &p), &grad, &Inverse::Damped, lambda).unwrap();
        for i in 0..classes * width {
            theta[(i / width, i % width)] -= step[(i, 0)];
        }
    }
    panic!("Newton did not converge");
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn leave_one_out_retraining_changes_test_losses_as_the_influence_predicts() {
    // 300 training images, 8 features, 5 overlapping classes (so the fit is not separable and
    // images matter), and 5 test images.
    use rand::{Rng, SeedableRng};
    let (n, d, classes) = (300, 8, 5);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let centres: Vec<f64> = (0..classes * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut draw = |count: usize| {
        let labels: Vec<u32> = (0..count).map(|j| (j % classes) as u32).collect();
        let features: Vec<f32> = (0..count * d)
            .map(|i| {
                (centres[labels[i / d] as usize * d + i % d] + rng.random_range(-1.5..1.5)) as f32
            })
            .collect();
        (fc::inputs(&features, count, d), labels)
    };
    let (x, labels) = draw(n);
    let (xt, test_labels) = draw(5);
    let lambda = n as f64 * 0.01;
    let zero = Mat::<f64>::zeros(classes, d + 1);
    let optimum = fit(&x, &labels, &|_| true, lambda, &zero);

    // Predicted: I(i, j) = g_iᵀ (H + λI)⁻¹ g_j at the optimum.
    let p = fc::probabilities(&x, &optimum);
    let g = fc::gradients(&x, &p, &labels);
    let (z, _) =
        solve::apply(fc::hessian(&x, &p), &g.transpose().to_owned(), &Inverse::Damped, lambda)
            .unwrap();
    let gt = fc::gradients(&xt, &fc::probabilities(&xt, &optimum), &test_labels);
    let predicted = &gt * &z;

    let loss = |theta: &Mat<f64>| fc::losses(&fc::probabilities(&xt, theta), &test_labels);
    let before = loss(&optimum);
    let (mut want, mut got) = (Vec::new(), Vec::new());
    for j in 0..n {
        let without = fit(&x, &labels, &|k| k != j, lambda, &optimum);
        let after = loss(&without);
        for i in 0..xt.nrows() {
            got.push(after[i] - before[i]);
            want.push(predicted[(i, j)]);
        }
    }
    let r = pearson(&want, &got);
    // Positive influence (helpful) must mean the loss rises when the image is removed: the
    // least-squares slope of actual on predicted is close to +1.
    let slope = want.iter().zip(&got).map(|(a, b)| a * b).sum::<f64>()
        / want.iter().map(|a| a * a).sum::<f64>();
    println!("leave-one-out: {} pairs, Pearson r = {r:.4}, slope {slope:.3}", want.len());
    assert!(r >= 0.95, "Pearson r = {r}");
    assert!((0.8..1.25).contains(&slope), "slope {slope}");
}
