//! CIFAR-like scenes: one object (car, house, tree, boat, plane, flower, fish, mushroom,
//! snowman, rocket) built from a few coloured parts, on a sky-and-ground background, at a
//! random position, size, slight tilt and left-right orientation, with random part colours.
//!
//! - cifar10: class = object; the object's width-to-height stretch (0.7–1.3) and whether its
//!   main part is striped are random.
//! - cifar100: class = object × the main part's hue (5 bands a fifth of the colour wheel apart,
//!   ±0.04) × plain or striped main part: fine classes within each object's superclass, as
//!   CIFAR-100 has, that differ in colour and surface. (A first version told them apart by 5
//!   width-to-height ratios 15 % apart, which 16×16 pixels barely show: every source fine-tuned
//!   on 100–400 images stayed at chance, so the target measured nothing.)

use std::f32::consts::FRAC_PI_2;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::draw::{colour_pair, noise, uni};
use crate::data::raster::{ellipse, hsv, mix, Affine, Canvas, Paint, P};

/// One part of an object template, in object coordinates (about [-1, 1]², y down).
enum Part {
    Poly(&'static [P]),
    Ellipse(P, f32, f32),
    Line(&'static [P], f32),
}

/// Object templates: name and parts, back to front; the first part is the main one.
const OBJECTS: [(&str, &[Part]); 10] = [
    (
        "car",
        &[
            Part::Poly(&[(-0.95, 0.0), (0.95, 0.0), (0.95, 0.45), (-0.95, 0.45)]),
            Part::Poly(&[(-0.5, 0.0), (-0.3, -0.4), (0.35, -0.4), (0.55, 0.0)]),
            Part::Ellipse((-0.55, 0.45), 0.22, 0.22),
            Part::Ellipse((0.55, 0.45), 0.22, 0.22),
        ],
    ),
    (
        "house",
        &[
            Part::Poly(&[(-0.6, -0.1), (0.6, -0.1), (0.6, 0.85), (-0.6, 0.85)]),
            Part::Poly(&[(-0.85, -0.1), (0.0, -0.85), (0.85, -0.1)]),
            Part::Poly(&[(-0.15, 0.4), (0.15, 0.4), (0.15, 0.85), (-0.15, 0.85)]),
        ],
    ),
    (
        "tree",
        &[
            Part::Ellipse((0.0, -0.3), 0.6, 0.6),
            Part::Poly(&[(-0.12, 0.2), (0.12, 0.2), (0.15, 0.9), (-0.15, 0.9)]),
        ],
    ),
    (
        "boat",
        &[
            Part::Poly(&[(-0.95, 0.35), (0.95, 0.35), (0.6, 0.75), (-0.6, 0.75)]),
            Part::Line(&[(0.0, 0.35), (0.0, -0.85)], 0.08),
            Part::Poly(&[(0.05, -0.8), (0.05, 0.25), (0.7, 0.25)]),
        ],
    ),
    (
        "plane",
        &[
            Part::Poly(&[(-0.95, -0.08), (0.75, -0.12), (0.98, 0.0), (0.75, 0.12), (-0.95, 0.08)]),
            Part::Poly(&[(-0.1, -0.1), (0.25, -0.1), (-0.25, -0.8), (-0.45, -0.8)]),
            Part::Poly(&[(-0.1, 0.1), (0.25, 0.1), (-0.25, 0.8), (-0.45, 0.8)]),
            Part::Poly(&[(-0.95, -0.05), (-0.7, -0.05), (-0.85, -0.4), (-0.98, -0.4)]),
        ],
    ),
    (
        "flower",
        &[
            Part::Poly(&[
                (0.6, -0.25),
                (0.33, -0.06),
                (0.3, 0.27),
                (0.0, 0.13),
                (-0.3, 0.27),
                (-0.33, -0.06),
                (-0.6, -0.25),
                (-0.33, -0.44),
                (-0.3, -0.77),
                (0.0, -0.63),
                (0.3, -0.77),
                (0.33, -0.44),
            ]),
            Part::Line(&[(0.0, 0.3), (0.05, 0.95)], 0.1),
            Part::Ellipse((0.0, -0.25), 0.22, 0.22),
        ],
    ),
    (
        "fish",
        &[
            Part::Ellipse((0.1, 0.0), 0.65, 0.38),
            Part::Poly(&[(-0.45, 0.0), (-0.95, -0.4), (-0.95, 0.4)]),
            Part::Ellipse((0.45, -0.1), 0.08, 0.08),
        ],
    ),
    (
        "mushroom",
        &[
            Part::Poly(&[
                (-0.85, 0.0),
                (-0.7, -0.4),
                (-0.35, -0.65),
                (0.0, -0.72),
                (0.35, -0.65),
                (0.7, -0.4),
                (0.85, 0.0),
            ]),
            Part::Poly(&[(-0.2, 0.0), (0.2, 0.0), (0.25, 0.85), (-0.25, 0.85)]),
        ],
    ),
    (
        "snowman",
        &[
            Part::Ellipse((0.0, 0.5), 0.42, 0.42),
            Part::Ellipse((0.0, -0.05), 0.3, 0.3),
            Part::Ellipse((0.0, -0.5), 0.22, 0.22),
        ],
    ),
    (
        "rocket",
        &[
            Part::Poly(&[(-0.22, -0.5), (0.22, -0.5), (0.22, 0.6), (-0.22, 0.6)]),
            Part::Poly(&[(-0.22, -0.5), (0.0, -0.95), (0.22, -0.5)]),
            Part::Poly(&[(-0.22, 0.2), (-0.5, 0.75), (-0.22, 0.6)]),
            Part::Poly(&[(0.22, 0.2), (0.5, 0.75), (0.22, 0.6)]),
        ],
    ),
];

/// The cifar100 main-part hue bands: centre hue and name.
const HUES: [(f32, &str); 5] =
    [(0.0, "red"), (0.2, "lime"), (0.4, "green"), (0.6, "azure"), (0.8, "violet")];

pub fn class_name(fine: bool, class: usize) -> String {
    if !fine {
        return OBJECTS[class].0.to_string();
    }
    let (object, variant) = (class / 10, class % 10);
    let surface = if variant >= HUES.len() { "striped" } else { "plain" };
    format!("{}-{}-{surface}", OBJECTS[object].0, HUES[variant % HUES.len()].1)
}

/// Object `object`; `variant` (0..10, cifar100) fixes the main part's hue band and surface,
/// `None` (cifar10) draws colours and surface at random.
pub fn render(object: usize, variant: Option<usize>, size: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let s = size as f32;
    let stretch = uni(rng, 0.7, 1.3);
    let ((a, b), striped) = match variant {
        Some(v) => {
            let hue = HUES[v % HUES.len()].0 + uni(rng, -0.04, 0.04);
            let bright = hsv(hue, uni(rng, 0.6, 1.0), uni(rng, 0.6, 1.0));
            let dark = hsv(hue + uni(rng, 0.25, 0.75), uni(rng, 0.4, 1.0), uni(rng, 0.15, 0.45));
            ((bright, dark), v >= HUES.len())
        }
        None => (colour_pair(rng), rng.random_bool(0.5)),
    };
    // Sky: a vertical gradient; ground: a speckled band below a random horizon.
    let sky = Paint::Gradient {
        a: hsv(uni(rng, 0.5, 0.7), uni(rng, 0.1, 0.6), uni(rng, 0.6, 1.0)),
        b: hsv(rng.random(), uni(rng, 0.0, 0.4), uni(rng, 0.5, 1.0)),
        length: s,
        angle: FRAC_PI_2,
        origin: (s / 2.0, s / 2.0),
    };
    let mut canvas = Canvas::new(size, size, &sky);
    let ground = hsv(rng.random(), uni(rng, 0.2, 0.8), uni(rng, 0.2, 0.7));
    let horizon = s * uni(rng, 0.45, 0.85);
    let tilt = s * 0.1 * noise(rng);
    canvas.polygon(
        &[(0.0, horizon - tilt), (s, horizon + tilt), (s, s), (0.0, s)],
        &Paint::Speckle { a: ground, b: mix(ground, [0.0; 3], 0.3), salt: rng.random() },
    );

    let r = s * uni(rng, 0.28, 0.42);
    let centre = (s / 2.0 + s * 0.12 * noise(rng), s / 2.0 + s * 0.12 * noise(rng));
    let flip = if rng.random_bool(0.5) { -1.0 } else { 1.0 };
    let m = Affine::place(centre, flip * r * stretch, r, 0.0, 0.25 * noise(rng));
    let main = if striped {
        Paint::Stripes {
            a,
            b,
            period: (r * 0.4).max(4.0),
            angle: uni(rng, 0.0, 3.2),
            origin: centre,
        }
    } else {
        Paint::Solid(a)
    };
    for (k, part) in OBJECTS[object].1.iter().enumerate() {
        let paint = if k == 0 {
            main
        } else {
            Paint::Solid(hsv(rng.random(), uni(rng, 0.3, 1.0), uni(rng, 0.2, 1.0)))
        };
        match *part {
            Part::Poly(pts) => canvas.polygon(&m.apply_all(pts), &paint),
            Part::Ellipse(c, rx, ry) => {
                canvas.polygon(&m.apply_all(&ellipse(c, rx, ry, 24)), &paint)
            }
            Part::Line(pts, w) => {
                canvas.stroke(&m.apply_all(pts), (w * m.length_scale()).max(1.0), &paint)
            }
        }
    }
    canvas.add_noise(0.04, false, || noise(rng));
    canvas.to_rgb_u8()
}
