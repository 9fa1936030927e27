//! `metrics.json`, the file a fine-tuning cell's artifact holds: written by `finetune`, read by
//! `aggregate`. Only results that are a function of the cell's key belong here; timings go to
//! the engine's measurements (`train_seconds`, `eval_seconds`, `images_per_second`), so a re-run
//! that reproduces the numbers reproduces the bytes.

use super::cell::Cell;
use serde::{Deserialize, Serialize};

/// The file name inside a cell's artifact.
pub const METRICS: &str = "metrics.json";

/// The names of the measurements a cell records (see `StageContext::measure`).
pub const TRAIN_SECONDS: &str = "train_seconds";
pub const EVAL_SECONDS: &str = "eval_seconds";
pub const IMAGES_PER_SECOND: &str = "images_per_second";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellMetrics {
    #[serde(flatten)]
    pub cell: Cell,
    /// Training images actually used.
    pub size: u64,
    /// Test-set evaluations, in epoch order.
    pub evals: Vec<Eval>,
    pub epochs: usize,
    /// Mean training loss of each epoch.
    pub train_loss: Vec<f64>,
    /// Accuracy in percent on the cell's own training subset after the last epoch, without
    /// augmentation: whether fine-tuning fitted the subset.
    pub train_accuracy: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Eval {
    pub epoch: u32,
    /// Test accuracy in percent.
    pub accuracy: f64,
    pub loss: f64,
}

impl CellMetrics {
    pub fn read(dir: &std::path::Path) -> anyhow::Result<CellMetrics> {
        use anyhow::Context;
        let path = dir.join(METRICS);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn write(&self, dir: &std::path::Path) -> anyhow::Result<()> {
        Ok(std::fs::write(dir.join(METRICS), serde_json::to_vec_pretty(self)?)?)
    }
}
