//! Figure 1's seed images: procedural patterns that no dataset of the project draws (rings,
//! checkerboard, diagonal waves, colour gradient) and Gaussian noise N(0.5, 0.05²) as the
//! paper's, all made at the network's resolution in [0, 1], channel-major RGB.

use crate::nn::rng;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// Concentric rings, each channel at its own phase.
    Rings,
    /// A 4 × 4 checkerboard of orange and teal.
    Checker,
    /// Diagonal sine waves, each channel at its own frequency.
    Waves,
    /// Red rising left to right, green top to bottom, blue constant.
    Gradient,
}

impl Pattern {
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Rings => "rings",
            Pattern::Checker => "checker",
            Pattern::Waves => "waves",
            Pattern::Gradient => "gradient",
        }
    }

    /// The pattern at `side` × `side`, `[3, side, side]` flattened.
    pub fn image(self, side: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; 3 * side * side];
        let s = side as f64;
        for c in 0..3 {
            for r in 0..side {
                for q in 0..side {
                    let (y, x) = ((r as f64 + 0.5) / s, (q as f64 + 0.5) / s);
                    let v = match self {
                        Pattern::Rings => {
                            let d = ((x - 0.5).powi(2) + (y - 0.5).powi(2)).sqrt();
                            0.5 + 0.5 * (2.0 * PI * 4.0 * d + c as f64 * 2.0 * PI / 3.0).cos()
                        }
                        Pattern::Checker => {
                            let on = ((x * 4.0) as usize + (y * 4.0) as usize).is_multiple_of(2);
                            let colour = if on { [0.95, 0.55, 0.1] } else { [0.1, 0.6, 0.65] };
                            colour[c]
                        }
                        Pattern::Waves => {
                            let f = [2.0, 3.0, 5.0][c];
                            0.5 + 0.5 * (2.0 * PI * f * (x + y) / 2.0).sin()
                        }
                        Pattern::Gradient => [x, y, 0.5][c],
                    };
                    out[(c * side + r) * side + q] = v as f32;
                }
            }
        }
        out
    }
}

/// `count` images of N(0.5, 0.05²) noise clamped to [0, 1], `[3, side, side]` each, from `seed`.
pub fn noise(count: usize, side: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = rng::rng(seed);
    (0..count)
        .map(|_| {
            let v = rng::normal(&mut rng, 3 * side * side, 0.05);
            v.into_iter().map(|z| (0.5 + z).clamp(0.0, 1.0) as f32).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_images_in_the_unit_range_and_differ() {
        let all = [Pattern::Rings, Pattern::Checker, Pattern::Waves, Pattern::Gradient];
        let images: Vec<Vec<f32>> = all.iter().map(|p| p.image(16)).collect();
        for (p, img) in all.iter().zip(&images) {
            assert_eq!(img.len(), 3 * 16 * 16);
            assert!(img.iter().all(|v| (0.0..=1.0).contains(v)), "{}", p.name());
            let mean = img.iter().sum::<f32>() / img.len() as f32;
            assert!(img.iter().any(|v| (v - mean).abs() > 0.2), "{} has structure", p.name());
        }
        for i in 0..images.len() {
            for j in 0..i {
                assert_ne!(images[i], images[j]);
            }
        }
        let noise = noise(2, 16, 3);
        let all: Vec<f32> = noise.concat();
        let mean = all.iter().sum::<f32>() / all.len() as f32;
        let sd = (all.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / all.len() as f32).sqrt();
        assert!((mean - 0.5).abs() < 0.01 && (sd - 0.05).abs() < 0.005, "{mean} {sd}");
        assert_ne!(noise[0], noise[1]);
    }
}
