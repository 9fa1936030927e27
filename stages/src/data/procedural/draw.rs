//! The random draws the generators share: uniform numbers, pixel noise, a contrasting colour pair
//! and jittered outlines.

use crate::data::raster;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Uniform in [lo, hi).
pub fn uni(rng: &mut ChaCha8Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

/// Uniform in [-1, 1), for noise.
pub fn noise(rng: &mut ChaCha8Rng) -> f32 {
    uni(rng, -1.0, 1.0)
}

/// A random saturated colour and a second one of clearly different hue and brightness, so a
/// two-colour texture stays visible.
pub fn colour_pair(rng: &mut ChaCha8Rng) -> ([f32; 3], [f32; 3]) {
    let h = rng.random::<f32>();
    let a = raster::hsv(h, uni(rng, 0.5, 1.0), uni(rng, 0.6, 1.0));
    let b = raster::hsv(h + uni(rng, 0.25, 0.75), uni(rng, 0.4, 1.0), uni(rng, 0.15, 0.45));
    if rng.random_bool(0.5) {
        (a, b)
    } else {
        (b, a)
    }
}

/// Jitter every point of a template by up to ±`amount` on each axis.
pub fn jitter(pts: &[(f32, f32)], amount: f32, rng: &mut ChaCha8Rng) -> Vec<(f32, f32)> {
    pts.iter().map(|&(x, y)| (x + amount * noise(rng), y + amount * noise(rng))).collect()
}
