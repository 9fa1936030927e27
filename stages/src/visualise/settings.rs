//! A profile's `figure1:` block: which sources Figure 1 compares, which coordinates of their
//! representation it maximises from which seed images, and the ascent's step and length. Read
//! apart from the rest of the profile (`study/apart.rs`), like `influence:`, so that it never
//! touches the schema every other stage's fingerprint covers.

use super::seeds::Pattern;
use crate::study::apart::Problem;
use crate::study::config::{Constraint, Profile};
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

impl Figure1Settings {
    /// What does not fit `profile`.
    pub fn check(&self, profile: &Profile) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |field, message: String| problems.push(Problem { field, message });
        let grid = &profile.grid.sources;
        let mut constraints = Vec::new();
        for name in &self.sources {
            match profile.sources.iter().find(|s| &s.name == name && grid.contains(name)) {
                None => problem(
                    "sources",
                    format!("`{name}` is not a source of the grid ({})", grid.join(", ")),
                ),
                Some(s) => constraints.push(s.constraint),
            }
        }
        if constraints.len() == self.sources.len()
            && !(constraints.contains(&Constraint::None)
                && constraints.iter().any(|c| *c != Constraint::None))
        {
            problem("sources", "name the natural source and at least one robust one".into());
        }
        let width = 32 * profile.network.width;
        if let Some(k) = self.coordinates.iter().find(|&&k| k >= width) {
            problem(
                "coordinates",
                format!("{k} is beyond the representation (32·width = {width} coordinates)"),
            );
        }
        if self.coordinates.is_empty() {
            problem("coordinates", "name at least one coordinate".into());
        }
        if self.patterns.is_empty() && self.noise == 0 {
            problem("patterns", "no seed images: name patterns or set noise".into());
        }
        if !(self.step > 0.0 && self.step.is_finite()) {
            problem("step", format!("{} is not a positive step", self.step));
        }
        if self.iterations == 0 {
            problem("iterations", "at least one step".into());
        }
        problems
    }
}
