//! What an `influence` artifact holds, for the reports to read: the influence of every training
//! image on every training image and on every test image (`.npy`, f64), the labels of the rows
//! and columns, the dataset index of each training image, and a summary.
//!
//! Convention: entry (i, j) = g_iᵀ H⁻¹ g_j, with g the gradient of an image's loss with respect to
//! `fc` and H the Hessian of the summed training loss (damped or pseudo-inverted). Positive means
//! training image j is *helpful* to image i: removing j would raise i's loss by about that much.
//! Rows are the influenced images (training image i, or test image i), columns the training
//! images; rankings are descending. The train × train matrix keeps its diagonal.

use super::solve::InverseReport;
use crate::features::arrays::Fit;
use crate::splits::{read_summary, write_summary, Matrices, Splits};
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

const MATRICES: Matrices = Matrices { train: "influence_train.npy", test: "influence_test.npy" };
const SUMMARY: &str = "influence.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub source: String,
    pub dataset: String,
    pub train_images: usize,
    pub test_images: usize,
    /// Parameters of `fc`, C·(d+1): the Hessian's size.
    pub parameters: usize,
    /// λ of the damped solve: n · weight decay.
    pub damping: f64,
    pub inverse: InverseReport,
    /// The fine-tuned model on its training subset and on the test split.
    pub train: Fit,
    pub test: Fit,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Influence {
    /// Rows n × n (`train`: column j = training image j) and m × n (`test`).
    pub splits: Splits<f64>,
    pub summary: Summary,
}

impl Influence {
    pub fn write(&self, dir: &Path) -> Result<()> {
        self.splits.write(dir, &MATRICES)?;
        write_summary(&dir.join(SUMMARY), &self.summary)
    }

    pub fn load(dir: &Path) -> Result<Influence> {
        let i = Influence {
            summary: read_summary(&dir.join(SUMMARY))?,
            splits: Splits::read(dir, &MATRICES)?,
        };
        ensure!(
            i.splits.cols() == i.splits.train.rows(),
            "{}: the arrays' shapes disagree",
            dir.display()
        );
        Ok(i)
    }
}
