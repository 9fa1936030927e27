//! `probe.json`, the file a `probe` node's artifact holds: written by the stage, read by the
//! manipulation-check report.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The file name inside a probe's artifact.
pub const REPORT: &str = "probe.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub source: String,
    /// The Gaussian's standard deviation in pixels.
    pub sigma: f64,
    /// Test accuracy in percent on the source test split: as it is, low-passed, high-passed.
    pub clean: f64,
    pub low_pass: f64,
    pub high_pass: f64,
    pub conflict: Conflict,
}

/// How the cue-conflict images were classified.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub images: u64,
    /// Predictions of the shape's class.
    pub shape: u64,
    /// Predictions of a class whose home texture the image wears.
    pub texture: u64,
}

impl Conflict {
    /// The share of cue decisions that follow the shape: shape / (shape + texture), as Geirhos
    /// et al.'s shape bias; `None` when no prediction followed either cue.
    pub fn shape_bias(&self) -> Option<f64> {
        let decided = self.shape + self.texture;
        (decided > 0).then(|| self.shape as f64 / decided as f64)
    }
}

impl ProbeReport {
    pub fn read(dir: &Path) -> anyhow::Result<ProbeReport> {
        use anyhow::Context;
        let path = dir.join(REPORT);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}
