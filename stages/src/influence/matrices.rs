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
use crate::npy::{read_vector, write_vector, Array};
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

const TRAIN: &str = "influence_train.npy";
const TEST: &str = "influence_test.npy";
const TRAIN_LABELS: &str = "train_labels.npy";
const TEST_LABELS: &str = "test_labels.npy";
const TRAIN_INDICES: &str = "train_indices.npy";
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
    /// n × n: row i = training image i, column j = training image j.
    pub train: Array<f64>,
    /// m × n: row i = test image i.
    pub test: Array<f64>,
    pub train_labels: Vec<u32>,
    pub test_labels: Vec<u32>,
    /// Dataset index of each training row (and column).
    pub train_indices: Vec<u32>,
    pub summary: Summary,
}

impl Influence {
    pub fn write(&self, dir: &Path) -> Result<()> {
        self.train.write(&dir.join(TRAIN))?;
        self.test.write(&dir.join(TEST))?;
        write_vector(&dir.join(TRAIN_LABELS), &self.train_labels)?;
        write_vector(&dir.join(TEST_LABELS), &self.test_labels)?;
        write_vector(&dir.join(TRAIN_INDICES), &self.train_indices)?;
        std::fs::write(dir.join(SUMMARY), serde_json::to_vec_pretty(&self.summary)?)?;
        Ok(())
    }

    pub fn load(dir: &Path) -> Result<Influence> {
        let path = dir.join(SUMMARY);
        let summary: Summary = serde_json::from_slice(
            &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("parsing {}", path.display()))?;
        let i = Influence {
            train: Array::read(&dir.join(TRAIN))?,
            test: Array::read(&dir.join(TEST))?,
            train_labels: read_vector(&dir.join(TRAIN_LABELS))?,
            test_labels: read_vector(&dir.join(TEST_LABELS))?,
            train_indices: read_vector(&dir.join(TRAIN_INDICES))?,
            summary,
        };
        let n = i.train_labels.len();
        ensure!(
            i.train.shape == [n, n]
                && i.test.shape == [i.test_labels.len(), n]
                && i.train_indices.len() == n,
            "{}: the arrays' shapes disagree",
            dir.display()
        );
        Ok(i)
    }
}
