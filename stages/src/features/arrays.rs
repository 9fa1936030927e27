//! What a `features` artifact holds, for `influence` to read: the penultimate features (`fc`'s
//! input, eval mode) of the cell's training subset and of every test image, their labels, the
//! dataset index of each training row, and `fc` itself. `.npy` files, so anyone can read them.

use crate::npy::{read_vector, write_vector, Array};
use crate::splits::{read_summary, write_summary, Matrices, Splits};
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

const MATRICES: Matrices = Matrices { train: "train_features.npy", test: "test_features.npy" };
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

/// The arrays of a `features` artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Rows n × d (`train`) and m × d (`test`).
    pub splits: Splits<f32>,
    /// C × d.
    pub fc_weight: Array<f32>,
    pub fc_bias: Vec<f32>,
    pub summary: Summary,
}

impl Features {
    pub fn write(&self, dir: &Path) -> Result<()> {
        self.splits.write(dir, &MATRICES)?;
        self.fc_weight.write(&dir.join(FC_WEIGHT))?;
        write_vector(&dir.join(FC_BIAS), &self.fc_bias)?;
        write_summary(&dir.join(SUMMARY), &self.summary)
    }

    pub fn load(dir: &Path) -> Result<Features> {
        let f = Features {
            summary: read_summary(&dir.join(SUMMARY))?,
            splits: Splits::read(dir, &MATRICES)?,
            fc_weight: Array::read(&dir.join(FC_WEIGHT))?,
            fc_bias: read_vector(&dir.join(FC_BIAS))?,
        };
        let classes = f.summary.classes;
        ensure!(
            f.fc_weight.shape == [classes, f.splits.cols()] && f.fc_bias.len() == classes,
            "{}: the arrays' shapes disagree",
            dir.display()
        );
        Ok(f)
    }
}
