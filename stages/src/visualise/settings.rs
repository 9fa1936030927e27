//! A profile's `figure1:` block: which sources Figure 1 compares, which coordinates of their
//! representation it maximises from which seed images, and the ascent's step and length. A typed
//! field of the profile; `study/wiring/visualise.rs` checks it against the grid and the network.

use super::seeds::Pattern;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure1Settings {
    /// Sources of the grid, in the figure's column order: a natural one and at least one robust.
    pub sources: Vec<String>,
    /// Coordinates of the penultimate representation (0 ≤ k < 32·width).
    pub coordinates: Vec<usize>,
    /// Out-of-distribution seed images, then `noise` images of N(0.5, 0.05²).
    pub patterns: Vec<Pattern>,
    pub noise: usize,
    pub noise_seed: u64,
    /// L2 length of a step in [0, 1] pixel units at the profile's resolution.
    pub step: f64,
    pub iterations: usize,
}
