//! The layout of a `visualise` artifact, which the stage writes and Figure 1's render reads
//! (a file of its own, so that the render's fingerprint does not cover the stage's code).

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The seed images `[S, 3, R, R]`.
pub const SEEDS: &str = "seeds.npy";
/// The kept images `[S, K, 3, R, R]`: seed s ascended on coordinate k.
pub const IMAGES: &str = "images.npy";
/// The best objective so far `[iterations + 1, S·K]` (seed-major).
pub const TRACE: &str = "trace.npy";
pub const SUMMARY: &str = "summary.json";

/// What `summary.json` records; vectors are per (seed, coordinate), seed-major.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub source: String,
    /// Seed image names: the patterns, then `noise 1`, `noise 2`, …
    pub seeds: Vec<String>,
    pub coordinates: Vec<usize>,
    pub resolution: usize,
    pub step: f64,
    pub iterations: usize,
    pub start: Vec<f32>,
    pub best: Vec<f32>,
    pub best_iteration: Vec<usize>,
}

impl Summary {
    pub fn read(dir: &Path) -> Result<Summary> {
        let text = std::fs::read_to_string(dir.join(SUMMARY))?;
        Ok(serde_json::from_str(&text)?)
    }
}
