//! Seeded host-side random numbers for weight initialisation and attack starts.
//!
//! Every random tensor in `nn` is drawn here, on the host, from a seeded ChaCha generator and then
//! moved to the compute device, so a seed gives the same values on CPU and CUDA.

use rand::{Rng as _, SeedableRng};

/// The generator used throughout `nn`.
pub type Rng = rand_chacha::ChaCha8Rng;

/// A generator seeded with `seed`.
pub fn rng(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// `n` draws from N(0, std²) (Box–Muller, one normal per pair of uniforms).
pub fn normal(rng: &mut Rng, n: usize, std: f64) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let u1 = 1.0 - rng.random::<f64>(); // in (0, 1]: ln is finite
            let u2 = rng.random::<f64>();
            std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        })
        .collect()
}

/// `n` draws from U[low, high).
pub fn uniform(rng: &mut Rng, n: usize, low: f64, high: f64) -> Vec<f64> {
    (0..n).map(|_| low + (high - low) * rng.random::<f64>()).collect()
}
