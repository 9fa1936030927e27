//! Fashion-MNIST-like grey silhouettes on black: ten garment outlines (the Fashion-MNIST
//! classes) with jittered corners, random proportions, a random grey level, sometimes a
//! fabric pattern, and class details drawn in a darker grey (coat opening, shirt collar and
//! buttons, sandal straps, sneaker sole, bag handle).

use std::f32::consts::PI;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::draw::{jitter, noise, uni};
use crate::data::raster::{grey, Affine, Canvas, Paint, P};

pub const NAMES: [&str; 10] = [
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
];

const TSHIRT: &[P] = &[
    (0.3, 0.15),
    (0.42, 0.12),
    (0.5, 0.18),
    (0.58, 0.12),
    (0.7, 0.15),
    (0.92, 0.32),
    (0.82, 0.45),
    (0.72, 0.38),
    (0.72, 0.9),
    (0.28, 0.9),
    (0.28, 0.38),
    (0.18, 0.45),
    (0.08, 0.32),
];
const TROUSER: &[P] = &[
    (0.3, 0.08),
    (0.7, 0.08),
    (0.74, 0.92),
    (0.56, 0.92),
    (0.5, 0.35),
    (0.44, 0.92),
    (0.26, 0.92),
];
/// Long sleeves: pullover, coat (longer) and shirt share it.
const LONG_SLEEVES: &[P] = &[
    (0.3, 0.12),
    (0.42, 0.1),
    (0.5, 0.16),
    (0.58, 0.1),
    (0.7, 0.12),
    (0.86, 0.3),
    (0.95, 0.85),
    (0.82, 0.87),
    (0.74, 0.45),
    (0.72, 0.9),
    (0.28, 0.9),
    (0.26, 0.45),
    (0.18, 0.87),
    (0.05, 0.85),
    (0.14, 0.3),
];
const DRESS: &[P] = &[
    (0.4, 0.08),
    (0.6, 0.08),
    (0.62, 0.3),
    (0.58, 0.42),
    (0.8, 0.92),
    (0.2, 0.92),
    (0.42, 0.42),
    (0.38, 0.3),
];
const SANDAL_SOLE: &[P] = &[(0.05, 0.72), (0.95, 0.7), (0.95, 0.8), (0.05, 0.8)];
const SNEAKER: &[P] = &[
    (0.05, 0.5),
    (0.42, 0.48),
    (0.58, 0.32),
    (0.75, 0.36),
    (0.95, 0.58),
    (0.95, 0.78),
    (0.05, 0.78),
];
const BAG: &[P] = &[(0.15, 0.38), (0.85, 0.38), (0.88, 0.9), (0.12, 0.9)];
const BOOT: &[P] = &[
    (0.3, 0.1),
    (0.62, 0.1),
    (0.64, 0.5),
    (0.92, 0.64),
    (0.95, 0.86),
    (0.08, 0.86),
    (0.1, 0.6),
    (0.28, 0.5),
];

pub fn render(class: usize, size: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let s = size as f32;
    let mut canvas = Canvas::new(size, size, &Paint::Solid([0.0; 3]));
    let centre = (s / 2.0 + s * 0.04 * noise(rng), s / 2.0 + s * 0.04 * noise(rng));
    let place = Affine::place(
        centre,
        s * uni(rng, 0.85, 1.05),
        s * uni(rng, 0.85, 1.05),
        0.0,
        0.07 * noise(rng),
    );
    // Template points are in the unit box; centre them on the placement's origin.
    let at = |pts: &[P], rng: &mut ChaCha8Rng| {
        let centred: Vec<P> = pts.iter().map(|&(x, y)| (x - 0.5, y - 0.5)).collect();
        place.apply_all(&jitter(&centred, 0.025, rng))
    };
    let tone = uni(rng, 0.35, 1.0);
    let body = if rng.random_bool(0.4) {
        let (period, angle) = ((s * uni(rng, 0.12, 0.25)).max(3.0), uni(rng, 0.0, 3.2));
        Paint::Stripes {
            a: grey(tone),
            b: grey(tone * uni(rng, 0.5, 0.8)),
            period,
            angle,
            origin: centre,
        }
    } else {
        Paint::Solid(grey(tone))
    };
    let detail = Paint::Solid(grey(tone * 0.35));
    let line = (s * 0.06).max(1.0);
    match class {
        0 => canvas.polygon(&at(TSHIRT, rng), &body),
        1 => canvas.polygon(&at(TROUSER, rng), &body),
        2 => canvas.polygon(&at(LONG_SLEEVES, rng), &body),
        3 => canvas.polygon(&at(DRESS, rng), &body),
        4 => {
            let longer: Vec<P> =
                LONG_SLEEVES.iter().map(|&(x, y)| (x, if y > 0.8 { 0.97 } else { y })).collect();
            canvas.polygon(&at(&longer, rng), &body);
            canvas.stroke(&at(&[(0.5, 0.18), (0.5, 0.97)], rng), line, &detail);
        }
        5 => {
            canvas.polygon(&at(SANDAL_SOLE, rng), &body);
            for strap in [
                [(0.15, 0.72), (0.35, 0.45)],
                [(0.4, 0.72), (0.55, 0.42)],
                [(0.62, 0.71), (0.85, 0.5)],
            ] {
                canvas.stroke(&at(&strap, rng), (s * 0.08).max(1.0), &body);
            }
        }
        6 => {
            canvas.polygon(&at(LONG_SLEEVES, rng), &body);
            canvas.stroke(&at(&[(0.4, 0.12), (0.5, 0.3), (0.6, 0.12)], rng), line, &detail);
            for y in [0.42, 0.58, 0.74] {
                canvas.stroke(&at(&[(0.5, y)], rng), line * 1.3, &detail);
            }
        }
        7 => {
            canvas.polygon(&at(SNEAKER, rng), &body);
            canvas.stroke(
                &at(&[(0.06, 0.74), (0.94, 0.74)], rng),
                line,
                &Paint::Solid(grey((tone + 0.4).min(1.0))),
            );
        }
        8 => {
            canvas.polygon(&at(BAG, rng), &body);
            let handle: Vec<P> = (0..=8)
                .map(|k| {
                    let t = PI * (1.0 + k as f32 / 8.0);
                    (0.5 + 0.22 * t.cos(), 0.38 + 0.25 * t.sin())
                })
                .collect();
            canvas.stroke(&at(&handle, rng), line, &body);
        }
        _ => canvas.polygon(&at(BOOT, rng), &body),
    }
    canvas.add_noise(0.03, true, || noise(rng));
    canvas.to_grey_u8()
}
