//! The source set (standing in for ImageNet): one textured shape on a noisy gradient
//! background, sometimes behind a small distractor shape. Class = shape × texture, so telling
//! classes apart needs the outline and the surface pattern together; position, size,
//! rotation and colours are random. Eight shapes (disk, triangle, square, star, ring, cross,
//! bar, arrow) × eight textures (solid, stripes, checker, dots, rings, gradient, speckle,
//! split) give up to 64 classes; class c has shape c mod 8 and texture c / 8.

use std::f32::consts::TAU;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::draw::{colour_pair, noise, uni};
use crate::data::raster::{hsv, Affine, Canvas, Paint, Rgb, P};

pub const MAX_CLASSES: usize = SHAPES.len() * TEXTURES.len();
const SHAPES: [&str; 8] = ["disk", "triangle", "square", "star", "ring", "cross", "bar", "arrow"];
const TEXTURES: [&str; 8] =
    ["solid", "stripes", "checker", "dots", "rings", "gradient", "speckle", "split"];

pub fn class_name(class: usize) -> String {
    format!("{}-{}", TEXTURES[class / SHAPES.len()], SHAPES[class % SHAPES.len()])
}

pub fn render(class: usize, size: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
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
    let radius = s * uni(rng, 0.24, 0.4);
    let centre = (s / 2.0 + s * 0.15 * noise(rng), s / 2.0 + s * 0.15 * noise(rng));
    let angle = uni(rng, 0.0, TAU);
    let (a, b) = colour_pair(rng);
    let paint = texture(class / SHAPES.len(), a, b, centre, radius, angle, rng);
    draw_shape(&mut canvas, class % SHAPES.len(), centre, radius, angle, &paint);
    canvas.add_noise(0.04, false, || noise(rng));
    canvas.to_rgb_u8()
}

/// Texture `t` in colours `a` and `b`, scaled to the object (at least 2 pixels per band, so
/// small images keep it), turned with the object.
fn texture(
    t: usize,
    a: Rgb,
    b: Rgb,
    origin: P,
    radius: f32,
    angle: f32,
    rng: &mut ChaCha8Rng,
) -> Paint {
    let period = (radius * uni(rng, 0.45, 0.7)).max(4.0);
    match t {
        0 => Paint::Solid(a),
        1 => Paint::Stripes { a, b, period, angle, origin },
        2 => Paint::Checker { a, b, cell: period / 2.0, angle, origin },
        3 => Paint::Dots { a, b, cell: period / 1.5, angle, origin },
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
        3 => canvas.polygon(&place(&star(5, 0.45)), paint),
        4 => canvas.ring(c, 0.55 * r, r, paint),
        5 => canvas.polygon(&place(&CROSS), paint),
        6 => canvas.polygon(&place(&[(-1.0, -0.3), (1.0, -0.3), (1.0, 0.3), (-1.0, 0.3)]), paint),
        _ => canvas.polygon(&place(&ARROW), paint),
    }
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
