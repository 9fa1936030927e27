//! KMNIST-like cursive glyphs, grey on black. Each of the ten classes is a template of two to
//! four curvy strokes drawn at random once — from a fixed generator, the same for every seed
//! and split — and every image redraws its class's template with jittered control points,
//! its own stroke width, size, slant and tilt.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::draw::{jitter, noise, uni};
use crate::data::raster::{grey, smooth, Affine, Canvas, Paint, P};
use crate::data::rng::derived_rng;

/// Class `class`'s strokes: control points in the unit box, centred on the origin.
fn template(class: usize) -> Vec<Vec<P>> {
    let mut rng = derived_rng("procedural/kmnist/templates", &[class as u64]);
    let strokes = rng.random_range(2..=4);
    (0..strokes)
        .map(|_| {
            let points = rng.random_range(3..=5);
            (0..points).map(|_| (uni(&mut rng, -0.38, 0.38), uni(&mut rng, -0.4, 0.4))).collect()
        })
        .collect()
}

pub fn render(class: usize, size: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let s = size as f32;
    let mut canvas = Canvas::new(size, size, &Paint::Solid([0.0; 3]));
    let h = s * uni(rng, 0.75, 0.95);
    let centre = (s / 2.0 + s * 0.05 * noise(rng), s / 2.0 + s * 0.05 * noise(rng));
    let place =
        Affine::place(centre, h * uni(rng, 0.85, 1.1), h, 0.15 * noise(rng), 0.14 * noise(rng));
    let ink = Paint::Solid(grey(uni(rng, 0.7, 1.0)));
    let width = s * uni(rng, 0.06, 0.11);
    for stroke in template(class) {
        let pts = smooth(&jitter(&stroke, 0.05, rng), 5);
        canvas.stroke(&place.apply_all(&pts), (width * uni(rng, 0.8, 1.2)).max(1.0), &ink);
    }
    canvas.to_grey_u8()
}
