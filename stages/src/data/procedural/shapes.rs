//! The source set (standing in for ImageNet): one textured shape on a noisy gradient
//! background, sometimes behind a small distractor shape. The class is the shape (sixteen
//! outlines); the surface texture is a second, weaker cue drawn independently of the outline:
//! each class has a home texture (class mod 8), which an image of it wears with probability
//! [`HOME_TEXTURE`] and otherwise one of the eight at random. Texture is therefore never a
//! class's only cue, and a network may lean on either. Position, size, rotation and colours are
//! random. [`render_conflict`] draws the cue-conflict probe: one class's shape in another
//! class's home texture.

use std::f32::consts::{PI, TAU};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::draw::{colour_pair, noise, uni};
use crate::data::raster::{hsv, Affine, Canvas, Paint, Rgb, P};

pub const MAX_CLASSES: usize = SHAPES.len();
const SHAPES: [&str; 16] = [
    "disk",
    "triangle",
    "square",
    "pentagon",
    "star",
    "four-star",
    "ring",
    "cross",
    "bar",
    "arrow",
    "tee",
    "ell",
    "chevron",
    "half-disk",
    "bowtie",
    "trapezoid",
];
pub const TEXTURES: [&str; 8] =
    ["solid", "stripes", "checker", "dots", "rings", "gradient", "speckle", "split"];
/// How often an image wears its class's home texture (otherwise a uniformly drawn one).
pub const HOME_TEXTURE: f64 = 0.75;

pub fn class_name(class: usize) -> String {
    SHAPES[class].to_string()
}

/// The texture a class's images wear most often.
pub fn home_texture(class: usize) -> usize {
    class % TEXTURES.len()
}

/// An image of class `class`: its shape, in its home texture with probability [`HOME_TEXTURE`].
pub fn render(class: usize, size: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let texture = if rng.random_bool(HOME_TEXTURE) {
        home_texture(class)
    } else {
        rng.random_range(0..TEXTURES.len())
    };
    draw(class, texture, size, rng)
}

/// A cue-conflict image: the shape of class `shape` in texture `texture` (always, so with
/// `texture` another class's home texture the two cues name different classes).
pub fn render_conflict(shape: usize, texture: usize, size: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    draw(shape, texture, size, rng)
}

fn draw(shape: usize, texture_no: usize, size: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let s = size as f32;
    let (bg0, bg1) = (
        hsv(rng.random(), uni(rng, 0.0, 0.6), uni(rng, 0.2, 0.9)),
        hsv(rng.random(), uni(rng, 0.0, 0.6), uni(rng, 0.2, 0.9)),
    );
    let background = Paint::Gradient {
        a: bg0,
        b: bg1,
        length: s,
        angle: uni(rng, 0.0, TAU),
        origin: (s / 2.0, s / 2.0),
    };
    let mut canvas = Canvas::new(size, size, &background);
    if rng.random_bool(0.5) {
        // A small solid distractor of any shape, which the main object may cover.
        let at = (uni(rng, 0.0, s), uni(rng, 0.0, s));
        let paint = Paint::Solid(hsv(rng.random(), uni(rng, 0.3, 1.0), uni(rng, 0.3, 1.0)));
        draw_shape(
            &mut canvas,
            rng.random_range(0..SHAPES.len()),
            at,
            s * uni(rng, 0.08, 0.15),
            uni(rng, 0.0, TAU),
            &paint,
        );
    }
    let radius = s * uni(rng, 0.26, 0.4);
    let centre = (s / 2.0 + s * 0.12 * noise(rng), s / 2.0 + s * 0.12 * noise(rng));
    let angle = uni(rng, 0.0, TAU);
    let (a, b) = colour_pair(rng);
    let paint = texture(texture_no, a, b, centre, radius, angle, size, rng);
    draw_shape(&mut canvas, shape, centre, radius, angle, &paint);
    canvas.add_noise(0.04, false, || noise(rng));
    canvas.to_rgb_u8()
}

/// Texture `t` in colours `a` and `b`, turned with the object. The patterned ones are fine:
/// a period of 2.5–4 pixels at 32×32 (scaled with the image, at least 2 pixels), the detail
/// that a low-pass filter removes and a small perturbation can mask.
#[allow(clippy::too_many_arguments)]
fn texture(
    t: usize,
    a: Rgb,
    b: Rgb,
    origin: P,
    radius: f32,
    angle: f32,
    size: usize,
    rng: &mut ChaCha8Rng,
) -> Paint {
    let period = (uni(rng, 2.5, 4.0) * size as f32 / 32.0).max(2.0);
    match t {
        0 => Paint::Solid(a),
        1 => Paint::Stripes { a, b, period, angle, origin },
        2 => Paint::Checker { a, b, cell: period / 2.0, angle, origin },
        3 => Paint::Dots { a, b, cell: period, angle, origin },
        4 => Paint::Rings { a, b, period, origin },
        5 => Paint::Gradient { a, b, length: 2.0 * radius, angle, origin },
        6 => Paint::Speckle { a, b, salt: rng.random() },
        _ => Paint::Split { a, b, angle, origin },
    }
}

/// Draw shape `k` centred at `c` with outer radius `r`, turned by `angle`.
fn draw_shape(canvas: &mut Canvas, k: usize, c: P, r: f32, angle: f32, paint: &Paint) {
    let place = |pts: &[P]| Affine::place(c, r, r, 0.0, angle).apply_all(pts);
    match k {
        0 => canvas.disk(c, r, paint),
        1 => canvas.polygon(&place(&star(3, 1.0)), paint),
        2 => canvas.polygon(&place(&star(4, 1.0)), paint),
        3 => canvas.polygon(&place(&star(5, 1.0)), paint),
        4 => canvas.polygon(&place(&star(5, 0.45)), paint),
        5 => canvas.polygon(&place(&star(4, 0.4)), paint),
        6 => canvas.ring(c, 0.55 * r, r, paint),
        7 => canvas.polygon(&place(&CROSS), paint),
        8 => canvas.polygon(&place(&[(-1.0, -0.3), (1.0, -0.3), (1.0, 0.3), (-1.0, 0.3)]), paint),
        9 => canvas.polygon(&place(&ARROW), paint),
        10 => canvas.polygon(&place(&TEE), paint),
        11 => canvas.polygon(&place(&ELL), paint),
        12 => canvas.polygon(&place(&CHEVRON), paint),
        13 => canvas.polygon(&place(&half_disk()), paint),
        14 => canvas.polygon(&place(&BOWTIE), paint),
        _ => canvas.polygon(&place(&TRAPEZOID), paint),
    }
}

/// The upper half of the unit disk, moved down so that its area is centred.
fn half_disk() -> Vec<P> {
    (0..=16).map(|k| k as f32 / 16.0 * PI).map(|t| (t.cos(), 0.4 - t.sin())).collect()
}

/// A regular `points`-gon (inner = 1) or a star with inner radius `inner`, outer radius 1.
fn star(points: usize, inner: f32) -> Vec<P> {
    let corners = if inner >= 1.0 { points } else { 2 * points };
    (0..corners)
        .map(|k| {
            let t = k as f32 / corners as f32 * TAU;
            let r = if k % 2 == 1 && inner < 1.0 { inner } else { 1.0 };
            (r * t.cos(), r * t.sin())
        })
        .collect()
}

const CROSS: [P; 12] = [
    (-0.3, -1.0),
    (0.3, -1.0),
    (0.3, -0.3),
    (1.0, -0.3),
    (1.0, 0.3),
    (0.3, 0.3),
    (0.3, 1.0),
    (-0.3, 1.0),
    (-0.3, 0.3),
    (-1.0, 0.3),
    (-1.0, -0.3),
    (-0.3, -0.3),
];
const ARROW: [P; 7] =
    [(-1.0, -0.25), (0.2, -0.25), (0.2, -0.7), (1.0, 0.0), (0.2, 0.7), (0.2, 0.25), (-1.0, 0.25)];
const TEE: [P; 8] = [
    (-1.0, -1.0),
    (1.0, -1.0),
    (1.0, -0.45),
    (0.28, -0.45),
    (0.28, 1.0),
    (-0.28, 1.0),
    (-0.28, -0.45),
    (-1.0, -0.45),
];
const ELL: [P; 6] =
    [(-0.8, -1.0), (-0.25, -1.0), (-0.25, 0.45), (0.8, 0.45), (0.8, 1.0), (-0.8, 1.0)];
const CHEVRON: [P; 6] =
    [(-1.0, -0.7), (-0.5, -0.7), (0.0, 0.1), (0.5, -0.7), (1.0, -0.7), (0.0, 0.8)];
const BOWTIE: [P; 6] =
    [(-1.0, -1.0), (1.0, -1.0), (0.15, 0.0), (1.0, 1.0), (-1.0, 1.0), (-0.15, 0.0)];
const TRAPEZOID: [P; 4] = [(-1.0, 0.55), (1.0, 0.55), (0.45, -0.55), (-0.45, -0.55)];
