//! The final fully connected layer's loss, per-image gradients and Hessian in closed form, with
//! the penultimate features fixed (what the influence study needs; nothing needs double
//! backward).
//!
//! Parameters θ are `fc`'s weight with its bias as a last column, C × (d+1), flattened row by row:
//! θ[c·(d+1) + k]. Image j has input x_j = [h_j; 1], probabilities p_j = softmax(θ x_j) and loss
//! ℓ_j = −log p_j[y_j]. Then
//!
//! - ∇ℓ_j = (p_j − e_{y_j}) ⊗ x_j, and
//! - ∇²ℓ_j = (diag p_j − p_j p_jᵀ) ⊗ x_j x_jᵀ,
//!
//! so the Hessian over n images is built as C(C+1)/2 blocks Xᵀ diag(a) X (one GEMM each), never
//! by P = C(d+1) backward passes.

use faer::Mat;

/// Inputs [h; 1] of every image, n × (d+1), in f64.
pub fn inputs(features: &[f32], n: usize, d: usize) -> Mat<f64> {
    Mat::from_fn(n, d + 1, |j, k| if k < d { features[j * d + k] as f64 } else { 1.0 })
}

/// θ (C × (d+1)) from `fc`'s weight (C × d, row-major) and bias (C).
pub fn theta(weight: &[f32], bias: &[f32], classes: usize, d: usize) -> Mat<f64> {
    Mat::from_fn(
        classes,
        d + 1,
        |c, k| {
            if k < d {
                weight[c * d + k] as f64
            } else {
                bias[c] as f64
            }
        },
    )
}

/// Softmax probabilities p_j of every image, n × C.
pub fn probabilities(x: &Mat<f64>, theta: &Mat<f64>) -> Mat<f64> {
    let mut p = x * theta.transpose();
    for j in 0..p.nrows() {
        let max = (0..p.ncols()).map(|c| p[(j, c)]).fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for c in 0..p.ncols() {
            p[(j, c)] = (p[(j, c)] - max).exp();
            sum += p[(j, c)];
        }
        for c in 0..p.ncols() {
            p[(j, c)] /= sum;
        }
    }
    p
}

/// The cross-entropy loss of every image.
pub fn losses(p: &Mat<f64>, labels: &[u32]) -> Vec<f64> {
    labels.iter().enumerate().map(|(j, &y)| -p[(j, y as usize)].ln()).collect()
}

/// The gradient of every image's loss with respect to θ, one row per image (n × P).
pub fn gradients(x: &Mat<f64>, p: &Mat<f64>, labels: &[u32]) -> Mat<f64> {
    let (classes, width) = (p.ncols(), x.ncols());
    Mat::from_fn(x.nrows(), classes * width, |j, i| {
        let (c, k) = (i / width, i % width);
        let residual = p[(j, c)] - if labels[j] as usize == c { 1.0 } else { 0.0 };
        residual * x[(j, k)]
    })
}

/// The Hessian of the summed loss Σ_j ℓ_j with respect to θ (P × P, symmetric).
pub fn hessian(x: &Mat<f64>, p: &Mat<f64>) -> Mat<f64> {
    let (n, classes, width) = (x.nrows(), p.ncols(), x.ncols());
    let mut h = Mat::<f64>::zeros(classes * width, classes * width);
    for c in 0..classes {
        for c2 in c..classes {
            // a_j = (diag p_j − p_j p_jᵀ)[c, c2]
            let weighted = Mat::from_fn(n, width, |j, k| {
                let a = if c == c2 { p[(j, c)] } else { 0.0 } - p[(j, c)] * p[(j, c2)];
                a * x[(j, k)]
            });
            let block = x.transpose() * &weighted;
            h.submatrix_mut(c * width, c2 * width, width, width).copy_from(&block);
            if c != c2 {
                h.submatrix_mut(c2 * width, c * width, width, width).copy_from(block.transpose());
            }
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small problem: 7 images, 3 features, 4 classes, arbitrary but fixed values.
    fn problem() -> (Mat<f64>, Mat<f64>, Vec<u32>) {
        let (n, d, classes) = (7, 3, 4);
        let features: Vec<f32> =
            (0..n * d).map(|i| ((i as f32 * 0.37).sin() * 1.5) + 0.1 * i as f32 / 7.0).collect();
        let weight: Vec<f32> = (0..classes * d).map(|i| (i as f32 * 0.91).cos() * 0.8).collect();
        let bias: Vec<f32> = (0..classes).map(|c| 0.2 * c as f32 - 0.3).collect();
        let labels = vec![0, 1, 2, 3, 1, 0, 2];
        (inputs(&features, n, d), theta(&weight, &bias, classes, d), labels)
    }

    fn total_loss(x: &Mat<f64>, theta: &Mat<f64>, labels: &[u32]) -> f64 {
        losses(&probabilities(x, theta), labels).iter().sum()
    }

    fn shifted(theta: &Mat<f64>, i: usize, by: f64) -> Mat<f64> {
        let mut t = theta.clone();
        let width = t.ncols();
        t[(i / width, i % width)] += by;
        t
    }

    #[test]
    fn gradients_match_central_differences_of_the_loss() {
        let (x, theta, labels) = problem();
        let g = gradients(&x, &probabilities(&x, &theta), &labels);
        let eps = 1e-6;
        for j in 0..x.nrows() {
            let (xj, yj) = (x.subrows(j, 1).to_owned(), &labels[j..j + 1]);
            for i in 0..g.ncols() {
                let fd = (total_loss(&xj, &shifted(&theta, i, eps), yj)
                    - total_loss(&xj, &shifted(&theta, i, -eps), yj))
                    / (2.0 * eps);
                assert!(
                    (fd - g[(j, i)]).abs() < 1e-8,
                    "image {j} parameter {i}: {fd} vs {}",
                    g[(j, i)]
                );
            }
        }
    }

    #[test]
    fn the_hessian_matches_central_differences_of_the_summed_gradient() {
        let (x, theta, labels) = problem();
        let h = hessian(&x, &probabilities(&x, &theta));
        let summed = |t: &Mat<f64>| {
            let g = gradients(&x, &probabilities(&x, t), &labels);
            (0..g.ncols())
                .map(|i| (0..g.nrows()).map(|j| g[(j, i)]).sum::<f64>())
                .collect::<Vec<_>>()
        };
        let eps = 1e-6;
        for i in 0..h.ncols() {
            let (up, down) = (summed(&shifted(&theta, i, eps)), summed(&shifted(&theta, i, -eps)));
            for r in 0..h.nrows() {
                let fd = (up[r] - down[r]) / (2.0 * eps);
                assert!((fd - h[(r, i)]).abs() < 1e-7, "H[{r},{i}]: {fd} vs {}", h[(r, i)]);
            }
        }
        // Shifting every class's row of θ by one vector leaves the softmax unchanged: H is
        // singular along those d+1 directions.
        let width = x.ncols();
        for k in 0..width {
            let v = Mat::from_fn(h.ncols(), 1, |i, _| if i % width == k { 1.0 } else { 0.0 });
            let hv = &h * &v;
            assert!((0..hv.nrows()).all(|r| hv[(r, 0)].abs() < 1e-12));
        }
    }
}
