//! H⁻¹·R for the fc Hessian H: the damped solve (H + λI)⁻¹ (λ = n·weight decay, the fine-tuning
//! objective's own L2 term; Cholesky) or the pseudo-inverse keeping eigenvalues above a cut-off
//! (the paper's choice; a symmetric eigendecomposition). H is singular by construction (the
//! softmax ignores a shift shared by every class), so it is checked to be positive semi-definite
//! up to round-off, and a Hessian that is not is reported with its smallest eigenvalue rather than
//! clipped.

use anyhow::{bail, Result};
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use serde::{Deserialize, Serialize};

/// How the influence study inverts the Hessian.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase", deny_unknown_fields)]
pub enum Inverse {
    /// (H + n·wd·I)⁻¹, wd the fine-tuning weight decay: the Hessian of the objective SGD
    /// minimised, so leave-one-out retraining is what it predicts.
    Damped,
    /// Σ uᵢuᵢᵀ/sᵢ over the eigenpairs with sᵢ > `cutoff` (absolute): the paper's pseudo-inverse
    /// (1e-20 in the text, 5e-2 in the authors' code).
    Pinv { cutoff: f64 },
}

impl Inverse {
    /// The method's name, as in `pipeline.yaml`: `damped` or `pinv`.
    pub fn method(&self) -> &'static str {
        match self {
            Inverse::Damped => "damped",
            Inverse::Pinv { .. } => "pinv",
        }
    }

    /// One line for reports: what was inverted and how.
    pub fn describe(&self, damping: f64) -> String {
        match self {
            Inverse::Damped => {
                format!("damped solve (H + λI)⁻¹ with λ = n·weight decay = {damping}")
            }
            Inverse::Pinv { cutoff } => {
                format!("pseudo-inverse keeping eigenvalues above {cutoff} (absolute)")
            }
        }
    }
}

/// What the inversion found, for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InverseReport {
    pub description: String,
    /// Rows (and columns) of H: C·(d+1).
    pub dimension: usize,
    /// Eigenvalues above the cut-off (pseudo-inverse only).
    pub kept: Option<usize>,
    /// Extreme eigenvalues of H (pseudo-inverse only: the damped path never decomposes H).
    pub smallest_eigenvalue: Option<f64>,
    pub largest_eigenvalue: Option<f64>,
}

/// Eigenvalues above −tolerance count as round-off of a positive semi-definite matrix: a relative
/// 1e-9 of the trace (which bounds the largest eigenvalue of a PSD matrix).
fn tolerance(h: &Mat<f64>) -> f64 {
    1e-9 * (0..h.nrows()).map(|i| h[(i, i)].abs()).sum::<f64>().max(f64::MIN_POSITIVE)
}

fn not_psd(smallest: f64, largest: f64, tolerance: f64) -> anyhow::Error {
    anyhow::anyhow!(
        "the fc Hessian is not positive semi-definite: smallest eigenvalue {smallest:e} (largest \
         {largest:e}; round-off would stay above −{tolerance:e}); the features or probabilities \
         it was built from are wrong"
    )
}

fn eigen_failed(e: faer::linalg::evd::EvdError) -> anyhow::Error {
    anyhow::anyhow!("the eigendecomposition of the fc Hessian did not converge ({e:?})")
}

/// Adds `by` to the diagonal of `h`.
fn shift(h: &mut Mat<f64>, by: f64) {
    for i in 0..h.nrows() {
        h[(i, i)] += by;
    }
}

/// H⁻¹·rhs (`rhs`: P × k) as `inverse` says, with `damping` = λ for the damped solve. Takes H by
/// value and works in place: at the paper's size H is 3.4 GB, and at most one factor of its size
/// exists beside it.
pub fn apply(
    mut h: Mat<f64>,
    rhs: &Mat<f64>,
    inverse: &Inverse,
    damping: f64,
) -> Result<(Mat<f64>, InverseReport)> {
    let (p, tol) = (h.nrows(), tolerance(&h));
    if h.ncols() != p || rhs.nrows() != p {
        bail!("H is {}×{} and the right-hand side has {} rows", p, h.ncols(), rhs.nrows());
    }
    if (0..p).any(|i| (0..p).any(|j| !h[(i, j)].is_finite())) {
        bail!("the fc Hessian has non-finite entries");
    }
    let description = inverse.describe(damping);
    match inverse {
        Inverse::Damped => {
            if !(damping > 0.0 && damping.is_finite()) {
                bail!("the damped solve needs a positive damping (n·weight decay), got {damping}");
            }
            // PSD up to round-off iff H + tol·I has a Cholesky factor; only when it has none are
            // the eigenvalues computed, to say by how much.
            shift(&mut h, tol);
            if h.llt(Side::Lower).is_err() {
                shift(&mut h, -tol);
                let s = h.self_adjoint_eigenvalues(Side::Lower).map_err(eigen_failed)?;
                return Err(not_psd(s[0], s[p - 1], tol));
            }
            shift(&mut h, damping - tol);
            let llt = h.llt(Side::Lower).map_err(|e| {
                anyhow::anyhow!("Cholesky of H + λI failed ({e:?}) although H is PSD")
            })?;
            drop(h);
            let z = llt.solve(rhs);
            let report = InverseReport {
                description,
                dimension: p,
                kept: None,
                smallest_eigenvalue: None,
                largest_eigenvalue: None,
            };
            Ok((z, report))
        }
        Inverse::Pinv { cutoff } => {
            let eig = h.self_adjoint_eigen(Side::Lower).map_err(eigen_failed)?;
            drop(h);
            let s: Vec<f64> = (0..p).map(|i| eig.S()[i]).collect();
            let (smallest, largest) = (s[0], s[p - 1]);
            if smallest < -tol {
                return Err(not_psd(smallest, largest, tol));
            }
            // U diag(1/s or 0) Uᵀ rhs: eigenpairs at or below the cut-off contribute nothing.
            let u = eig.U();
            let mut projected = u.transpose() * rhs;
            for (i, &value) in s.iter().enumerate() {
                let scale = if value > *cutoff { 1.0 / value } else { 0.0 };
                for col in 0..projected.ncols() {
                    projected[(i, col)] *= scale;
                }
            }
            let z = u * &projected;
            let report = InverseReport {
                description,
                dimension: p,
                kept: Some(s.iter().filter(|&&v| v > *cutoff).count()),
                smallest_eigenvalue: Some(smallest),
                largest_eigenvalue: Some(largest),
            };
            Ok((z, report))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matrix_with_a_negative_eigenvalue_is_refused_with_it_by_both_methods() {
        // Eigenvalues 3, 1 and −0.5 (in the basis rotated by 45° in the first two coordinates).
        let h = Mat::from_fn(3, 3, |i, j| match (i, j) {
            (0, 0) | (1, 1) => 2.0,
            (0, 1) | (1, 0) => 1.0,
            (2, 2) => -0.5,
            _ => 0.0,
        });
        let rhs = Mat::from_fn(3, 1, |i, _| i as f64);
        for inverse in [Inverse::Damped, Inverse::Pinv { cutoff: 1e-6 }] {
            let err = apply(h.clone(), &rhs, &inverse, 1.0).unwrap_err().to_string();
            assert!(err.contains("not positive semi-definite: smallest eigenvalue -5e-1"), "{err}");
        }
    }

    #[test]
    fn round_off_below_zero_is_accepted_and_the_null_space_dropped_by_the_pseudo_inverse() {
        // diag(4, 1, −1e-14): PSD up to round-off; the cut-off drops the third direction.
        let h = Mat::from_fn(3, 3, |i, j| if i != j { 0.0 } else { [4.0, 1.0, -1e-14][i] });
        let rhs = Mat::from_fn(3, 1, |_, _| 1.0);
        let (z, report) = apply(h.clone(), &rhs, &Inverse::Pinv { cutoff: 1e-3 }, 0.0).unwrap();
        assert_eq!(report.kept, Some(2));
        let want = [0.25, 1.0, 0.0];
        assert!((0..3).all(|i| (z[(i, 0)] - want[i]).abs() < 1e-12), "{z:?}");
        let (z, _) = apply(h.clone(), &rhs, &Inverse::Damped, 1.0).unwrap();
        let want = [0.2, 0.5, 1.0 / (1.0 - 1e-14)];
        assert!((0..3).all(|i| (z[(i, 0)] - want[i]).abs() < 1e-12), "{z:?}");
        assert!(apply(h, &rhs, &Inverse::Damped, 0.0)
            .unwrap_err()
            .to_string()
            .contains("positive damping"));
    }
}
