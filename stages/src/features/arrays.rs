//! What a `features` artifact holds, for `influence` to read: the penultimate features (`fc`'s
//! input, eval mode) of the cell's training subset and of every test image, their labels, the
//! dataset index of each training row, and `fc` itself. `.npy` files, so anyone can read them.

use crate::npy::{read_vector, write_vector, Array};
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

const TRAIN: &str = "train_features.npy";
const TEST: &str = "test_features.npy";
const TRAIN_LABELS: &str = "train_labels.npy";
const TEST_LABELS: &str = "test_labels.npy";
const TRAIN_INDICES: &str = "train_indices.npy";
const FC_WEIGHT: &str = "fc_weight.npy";
const FC_BIAS: &str = "fc_bias.npy";
const SUMMARY: &str = "features.json";

/// The model's own accuracy and mean loss on the rows (eval mode), in percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    pub accuracy: f64,
    pub loss: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub source: String,
    pub dataset: String,
    pub classes: usize,
    pub train: Fit,
    pub test: Fit,
}

/// The arrays of a `features` artifact. Row i of `train` is dataset image `train_indices[i]`;
/// row i of `test` is test image i.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// n × d.
    pub train: Array<f32>,
    /// m × d.
    pub test: Array<f32>,
    pub train_labels: Vec<u32>,
    pub test_labels: Vec<u32>,
    pub train_indices: Vec<u32>,
    /// C × d.
    pub fc_weight: Array<f32>,
    pub fc_bias: Vec<f32>,
    pub summary: Summary,
}

impl Features {
    pub fn write(&self, dir: &Path) -> Result<()> {
        self.train.write(&dir.join(TRAIN))?;
        self.test.write(&dir.join(TEST))?;
        write_vector(&dir.join(TRAIN_LABELS), &self.train_labels)?;
        write_vector(&dir.join(TEST_LABELS), &self.test_labels)?;
        write_vector(&dir.join(TRAIN_INDICES), &self.train_indices)?;
        self.fc_weight.write(&dir.join(FC_WEIGHT))?;
        write_vector(&dir.join(FC_BIAS), &self.fc_bias)?;
        std::fs::write(dir.join(SUMMARY), serde_json::to_vec_pretty(&self.summary)?)?;
        Ok(())
    }

    pub fn load(dir: &Path) -> Result<Features> {
        let summary_path = dir.join(SUMMARY);
        let summary: Summary = serde_json::from_slice(
            &std::fs::read(&summary_path)
                .with_context(|| format!("reading {}", summary_path.display()))?,
        )
        .with_context(|| format!("parsing {}", summary_path.display()))?;
        let f = Features {
            train: Array::read(&dir.join(TRAIN))?,
            test: Array::read(&dir.join(TEST))?,
            train_labels: read_vector(&dir.join(TRAIN_LABELS))?,
            test_labels: read_vector(&dir.join(TEST_LABELS))?,
            train_indices: read_vector(&dir.join(TRAIN_INDICES))?,
            fc_weight: Array::read(&dir.join(FC_WEIGHT))?,
            fc_bias: read_vector(&dir.join(FC_BIAS))?,
            summary,
        };
        let d = f.train.cols();
        ensure!(
            f.test.cols() == d
                && f.fc_weight.cols() == d
                && f.fc_weight.rows() == f.summary.classes
                && f.fc_bias.len() == f.summary.classes
                && f.train_labels.len() == f.train.rows()
                && f.train_indices.len() == f.train.rows()
                && f.test_labels.len() == f.test.rows(),
            "{}: the arrays' shapes disagree",
            dir.display()
        );
        Ok(f)
    }
}
