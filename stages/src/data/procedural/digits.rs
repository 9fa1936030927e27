//! Digits 0–9 drawn as thick strokes from one set of skeleton templates.
//!
//! - mnist: grey hand-drawn digits on black: every control point jittered, strokes smoothed
//!   into curves, random stroke width, size, slant and tilt.
//! - svhn: colour house-number crops: a printed-looking digit (little jitter, straight
//!   segments) in a random colour on a contrasting gradient background, with neighbouring
//!   digits cut off at the left and right edges, and pixel noise.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::draw::{jitter, noise, uni};
use crate::data::raster::{ellipse, grey, hsv, smooth, Affine, Canvas, Paint, P};

/// The strokes of digit `d` in the unit box (y down).
fn skeleton(d: usize) -> Vec<Vec<P>> {
    match d {
        0 => vec![ellipse((0.5, 0.5), 0.26, 0.38, 16)],
        1 => vec![vec![(0.36, 0.24), (0.52, 0.1), (0.52, 0.9)]],
        2 => vec![vec![
            (0.27, 0.28),
            (0.38, 0.13),
            (0.55, 0.1),
            (0.7, 0.2),
            (0.72, 0.36),
            (0.26, 0.9),
            (0.78, 0.9),
        ]],
        3 => vec![vec![
            (0.27, 0.14),
            (0.7, 0.14),
            (0.45, 0.44),
            (0.7, 0.58),
            (0.7, 0.8),
            (0.5, 0.9),
            (0.26, 0.82),
        ]],
        4 => vec![vec![(0.62, 0.9), (0.62, 0.1), (0.22, 0.66), (0.8, 0.66)]],
        5 => vec![vec![
            (0.72, 0.12),
            (0.33, 0.12),
            (0.29, 0.46),
            (0.55, 0.4),
            (0.73, 0.57),
            (0.7, 0.82),
            (0.5, 0.9),
            (0.26, 0.83),
        ]],
        6 => vec![vec![
            (0.68, 0.12),
            (0.42, 0.28),
            (0.3, 0.58),
            (0.36, 0.85),
            (0.58, 0.88),
            (0.71, 0.7),
            (0.56, 0.53),
            (0.32, 0.62),
        ]],
        7 => vec![vec![(0.24, 0.12), (0.78, 0.12), (0.42, 0.9)]],
        8 => vec![ellipse((0.5, 0.3), 0.18, 0.19, 12), ellipse((0.5, 0.69), 0.23, 0.21, 12)],
        _ => vec![vec![
            (0.69, 0.38),
            (0.5, 0.5),
            (0.31, 0.38),
            (0.34, 0.16),
            (0.58, 0.11),
            (0.7, 0.3),
            (0.66, 0.9),
        ]],
    }
}

/// How a digit is drawn.
struct Style {
    /// Largest control-point jitter, in units of the glyph box.
    jitter: f32,
    /// Smooth strokes into curves (hand-drawn) or keep straight segments (printed).
    curved: bool,
    /// Stroke width in pixels.
    width: f32,
}

/// Draw digit `d` with its unit box centred at the origin of `place`.
fn draw_digit(
    canvas: &mut Canvas,
    d: usize,
    place: &Affine,
    style: &Style,
    paint: &Paint,
    rng: &mut ChaCha8Rng,
) {
    for stroke in skeleton(d) {
        let centred: Vec<P> = stroke.iter().map(|&(x, y)| (x - 0.5, y - 0.5)).collect();
        let pts = jitter(&centred, style.jitter, rng);
        let pts = if style.curved { smooth(&pts, 4) } else { pts };
        canvas.stroke(&place.apply_all(&pts), style.width, paint);
    }
}

pub fn render_mnist(d: usize, size: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let s = size as f32;
    let mut canvas = Canvas::new(size, size, &Paint::Solid([0.0; 3]));
    let h = s * uni(rng, 0.7, 0.9);
    let centre = (s / 2.0 + s * 0.06 * noise(rng), s / 2.0 + s * 0.06 * noise(rng));
    let place =
        Affine::place(centre, h * uni(rng, 0.85, 1.1), h, 0.25 * noise(rng), 0.2 * noise(rng));
    let style = Style { jitter: 0.045, curved: true, width: (s * uni(rng, 0.08, 0.13)).max(1.0) };
    draw_digit(&mut canvas, d, &place, &style, &Paint::Solid(grey(uni(rng, 0.75, 1.0))), rng);
    canvas.to_grey_u8()
}

pub fn render_svhn(d: usize, size: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let s = size as f32;
    let bg_value = uni(rng, 0.2, 0.9);
    let bg = hsv(rng.random(), uni(rng, 0.0, 0.8), bg_value);
    let bg2 = hsv(rng.random(), uni(rng, 0.0, 0.8), (bg_value + 0.15 * noise(rng)).clamp(0.0, 1.0));
    let background = Paint::Gradient {
        a: bg,
        b: bg2,
        length: s,
        angle: uni(rng, 0.0, 6.3),
        origin: (s / 2.0, s / 2.0),
    };
    let mut canvas = Canvas::new(size, size, &background);
    let fg_value = if bg_value > 0.55 { uni(rng, 0.05, 0.35) } else { uni(rng, 0.65, 1.0) };
    let ink = Paint::Solid(hsv(rng.random(), uni(rng, 0.0, 0.9), fg_value));
    let h = s * uni(rng, 0.55, 0.8);
    let (sx, shear, angle) = (h * uni(rng, 0.8, 1.05), 0.15 * noise(rng), 0.1 * noise(rng));
    let style = Style { jitter: 0.015, curved: false, width: (s * uni(rng, 0.09, 0.15)).max(1.0) };
    let centre = (s / 2.0 + s * 0.04 * noise(rng), s / 2.0 + s * 0.06 * noise(rng));
    // Neighbouring digits of the same house number, mostly outside the crop.
    let spacing = 0.95 * sx;
    for side in [-1.0, 1.0] {
        if rng.random_bool(0.7) {
            let at = (centre.0 + side * spacing, centre.1);
            let other = rng.random_range(0..10);
            draw_digit(
                &mut canvas,
                other,
                &Affine::place(at, sx, h, shear, angle),
                &style,
                &ink,
                rng,
            );
        }
    }
    draw_digit(&mut canvas, d, &Affine::place(centre, sx, h, shear, angle), &style, &ink, rng);
    canvas.add_noise(0.06, false, || noise(rng));
    canvas.to_rgb_u8()
}
