//! The probe's manipulations against independent computations: the filters' effect on a
//! pattern's spectrum through a plain discrete Fourier transform, and the cue-conflict tally
//! and shape bias on hand-made decisions.

use super::filter::{high_pass, low_pass};
use super::report::Conflict;
use super::tally;
use crate::data::Dataset;
use std::f64::consts::TAU;

const SIDE: usize = 16;

/// A one-image grey dataset of `SIDE`×`SIDE` pixels `f(x, y)`.
fn image(f: impl Fn(usize, usize) -> f64) -> Dataset {
    let pixels = (0..SIDE * SIDE).map(|i| f(i % SIDE, i / SIDE).round() as u8).collect();
    Dataset {
        name: "pattern".into(),
        classes: 1,
        channels: 1,
        height: SIDE,
        width: SIDE,
        images: pixels,
        labels: vec![0],
        class_names: None,
    }
}

/// The energy of the image's spectrum at frequencies other than zero (its variance times the
/// pixel count, by Parseval), from a direct 2-D DFT.
fn ac_energy(ds: &Dataset) -> f64 {
    let px: Vec<f64> = ds.images.iter().map(|&v| v as f64).collect();
    let mut energy = 0.0;
    for (u, v) in (0..SIDE).flat_map(|u| (0..SIDE).map(move |v| (u, v))) {
        if (u, v) == (0, 0) {
            continue;
        }
        let (mut re, mut im) = (0.0, 0.0);
        for (i, p) in px.iter().enumerate() {
            let (x, y) = ((i % SIDE) as f64, (i / SIDE) as f64);
            let phase = TAU * (u as f64 * x + v as f64 * y) / SIDE as f64;
            re += p * phase.cos();
            im -= p * phase.sin();
        }
        energy += re * re + im * im;
    }
    energy / (SIDE * SIDE) as f64
}

#[test]
fn a_low_pass_removes_a_checkerboard_and_keeps_a_slow_wave() {
    let checker = image(|x, y| if (x + y) % 2 == 0 { 200.0 } else { 50.0 });
    let wave = image(|x, _| 128.0 + 100.0 * (TAU * x as f64 / SIDE as f64).cos());
    for sigma in [1.0, 1.5] {
        let kept = |ds: &Dataset| ac_energy(&low_pass(ds, sigma)) / ac_energy(ds);
        // The checkerboard is the highest frequency a grid holds: a Gaussian of σ ≥ 1 pixel
        // passes exp(−2π²σ²·0.5²) ≈ 0.7% of its amplitude (the rounding to bytes adds a little).
        assert!(kept(&checker) < 0.01, "σ {sigma}: the checkerboard kept {:.4}", kept(&checker));
        // One cycle over the image passes exp(−2π²σ²/16²)² of its energy in the plane (0.93 at
        // σ = 1.5); the edge extension costs a little more.
        let expected = (-2.0 * (std::f64::consts::PI * sigma / SIDE as f64).powi(2) * 2.0).exp();
        assert!(
            (kept(&wave) - expected).abs() < 0.08,
            "σ {sigma}: the slow wave kept {:.3}, expected about {expected:.3}",
            kept(&wave)
        );
    }
}

#[test]
fn a_high_pass_is_the_residual_around_mid_grey() {
    let flat = image(|_, _| 77.0);
    assert!(high_pass(&flat, 1.5).images.iter().all(|&v| v == 128), "a flat image has no detail");
    let checker = image(|x, y| if (x + y) % 2 == 0 { 180.0 } else { 80.0 });
    let (low, high) = (low_pass(&checker, 1.5), high_pass(&checker, 1.5));
    for i in 0..SIDE * SIDE {
        let sum = low.images[i] as i32 + high.images[i] as i32 - 128;
        assert!((sum - checker.images[i] as i32).abs() <= 1, "pixel {i}: {sum}");
    }
    // The high-pass keeps nearly all of the checkerboard's energy.
    assert!(ac_energy(&high) / ac_energy(&checker) > 0.95);
}

#[test]
fn cue_conflict_decisions_follow_shape_texture_or_neither() {
    // Home textures are class mod 8: class 9 wears texture 1 at home.
    let shapes = [0, 0, 0, 3, 3];
    let textures = [1, 1, 1, 5, 5];
    let predicted = [0, 9, 2, 3, 13];
    let c = tally(&shapes, &textures, &predicted);
    assert_eq!(c, Conflict { images: 5, shape: 2, texture: 2 });
    assert_eq!(c.shape_bias(), Some(0.5));
    assert_eq!(Conflict { images: 4, shape: 3, texture: 1 }.shape_bias(), Some(0.75));
    assert_eq!(Conflict { images: 4, shape: 0, texture: 0 }.shape_bias(), None);
}
