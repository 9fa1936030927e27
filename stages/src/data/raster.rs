//! A tiny rasteriser for the procedural datasets: filled polygons, disks, rings and thick
//! strokes, painted with solid colours or simple textures, sampled once at each pixel centre
//! (no anti-aliasing, no fonts). Coordinates are in pixels: pixel (x, y) covers
//! [x, x+1) × [y, y+1) and is sampled at (x + 0.5, y + 0.5); y points down.

/// A point in pixel (or template) coordinates.
pub type P = (f32, f32);
/// A colour with channels in [0, 1].
pub type Rgb = [f32; 3];

/// A grey colour.
pub fn grey(v: f32) -> Rgb {
    [v, v, v]
}

/// Linear interpolation between two colours: `t = 0` gives `a`.
pub fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

/// A colour from hue in [0, 1), saturation and value (HSV).
pub fn hsv(h: f32, s: f32, v: f32) -> Rgb {
    let h6 = h.rem_euclid(1.0) * 6.0;
    let f = h6 - h6.floor();
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match h6 as u32 % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// A 2-D affine map `(x, y) -> (a x + b y + tx, c x + d y + ty)`, used to place templates.
#[derive(Clone, Copy, Debug)]
pub struct Affine {
    pub a: f32,
    pub b: f32,
    pub c: f32,
    pub d: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Affine {
    /// Scale by (sx, sy), shear x by `shear · y`, rotate by `angle` radians, then move the
    /// origin to `centre`: a template drawn about (0, 0) lands at `centre`.
    pub fn place(centre: P, sx: f32, sy: f32, shear: f32, angle: f32) -> Affine {
        let (s, c) = angle.sin_cos();
        // M = R · Shear · S, with Shear = [[1, shear], [0, 1]].
        let (m00, m01, m10, m11) = (sx, shear * sy, 0.0, sy);
        Affine {
            a: c * m00 - s * m10,
            b: c * m01 - s * m11,
            c: s * m00 + c * m10,
            d: s * m01 + c * m11,
            tx: centre.0,
            ty: centre.1,
        }
    }

    pub fn apply(&self, p: P) -> P {
        (self.a * p.0 + self.b * p.1 + self.tx, self.c * p.0 + self.d * p.1 + self.ty)
    }

    pub fn apply_all(&self, pts: &[P]) -> Vec<P> {
        pts.iter().map(|&p| self.apply(p)).collect()
    }

    /// The factor by which the map scales lengths (square root of the area factor).
    pub fn length_scale(&self) -> f32 {
        (self.a * self.d - self.b * self.c).abs().sqrt()
    }
}

/// How a filled region is coloured. Textures are defined in canvas pixels around `origin`
/// with an `angle`, so an object's texture can turn with the object.
#[derive(Clone, Copy, Debug)]
pub enum Paint {
    Solid(Rgb),
    /// Parallel stripes of width `period / 2` each.
    Stripes {
        a: Rgb,
        b: Rgb,
        period: f32,
        angle: f32,
        origin: P,
    },
    Checker {
        a: Rgb,
        b: Rgb,
        cell: f32,
        angle: f32,
        origin: P,
    },
    /// Dots of colour `b` on a grid of spacing `cell` over `a`.
    Dots {
        a: Rgb,
        b: Rgb,
        cell: f32,
        angle: f32,
        origin: P,
    },
    /// Concentric rings around `origin`.
    Rings {
        a: Rgb,
        b: Rgb,
        period: f32,
        origin: P,
    },
    /// Linear gradient from `a` to `b` over `length` pixels along `angle`, centred at `origin`.
    Gradient {
        a: Rgb,
        b: Rgb,
        length: f32,
        angle: f32,
        origin: P,
    },
    /// Per-pixel pseudo-random mix of `a` and `b` (deterministic in `salt` and position).
    Speckle {
        a: Rgb,
        b: Rgb,
        salt: u32,
    },
    /// `a` on one side of the line through `origin` at `angle`, `b` on the other.
    Split {
        a: Rgb,
        b: Rgb,
        angle: f32,
        origin: P,
    },
}

impl Paint {
    /// The colour at canvas point (x, y).
    pub fn at(&self, x: f32, y: f32) -> Rgb {
        // Coordinates along and across a direction, relative to an origin.
        let local = |origin: P, angle: f32| {
            let (s, c) = angle.sin_cos();
            let (dx, dy) = (x - origin.0, y - origin.1);
            (c * dx + s * dy, -s * dx + c * dy)
        };
        match *self {
            Paint::Solid(c) => c,
            Paint::Stripes { a, b, period, angle, origin } => {
                let (u, _) = local(origin, angle);
                if (u / period).rem_euclid(1.0) < 0.5 {
                    a
                } else {
                    b
                }
            }
            Paint::Checker { a, b, cell, angle, origin } => {
                let (u, v) = local(origin, angle);
                if ((u / cell).floor() + (v / cell).floor()).rem_euclid(2.0) < 1.0 {
                    a
                } else {
                    b
                }
            }
            Paint::Dots { a, b, cell, angle, origin } => {
                let (u, v) = local(origin, angle);
                let fu = (u / cell).rem_euclid(1.0) - 0.5;
                let fv = (v / cell).rem_euclid(1.0) - 0.5;
                if fu * fu + fv * fv < 0.09 {
                    b
                } else {
                    a
                }
            }
            Paint::Rings { a, b, period, origin } => {
                let r = ((x - origin.0).powi(2) + (y - origin.1).powi(2)).sqrt();
                if (r / period).rem_euclid(1.0) < 0.5 {
                    a
                } else {
                    b
                }
            }
            Paint::Gradient { a, b, length, angle, origin } => {
                let (u, _) = local(origin, angle);
                mix(a, b, (u / length + 0.5).clamp(0.0, 1.0))
            }
            Paint::Speckle { a, b, salt } => {
                let h = hash3(x.floor() as i32 as u32, y.floor() as i32 as u32, salt);
                mix(a, b, (h >> 8) as f32 / (1u32 << 24) as f32)
            }
            Paint::Split { a, b, angle, origin } => {
                if local(origin, angle).1 < 0.0 {
                    a
                } else {
                    b
                }
            }
        }
    }
}

/// A small integer hash (for speckle textures), well mixed in all bits.
fn hash3(x: u32, y: u32, salt: u32) -> u32 {
    let mut h =
        x.wrapping_mul(0x9E37_79B1) ^ y.wrapping_mul(0x85EB_CA77) ^ salt.wrapping_mul(0xC2B2_AE3D);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    h = h.wrapping_mul(0x297A_2D39);
    h ^ (h >> 15)
}

/// Points on a Catmull-Rom spline through `pts` (`per_segment` samples per segment), for
/// smooth hand-drawn strokes. Fewer than three points are returned unchanged.
pub fn smooth(pts: &[P], per_segment: usize) -> Vec<P> {
    if pts.len() < 3 {
        return pts.to_vec();
    }
    let n = pts.len();
    let get = |i: isize| pts[i.clamp(0, n as isize - 1) as usize];
    let mut out = Vec::with_capacity((n - 1) * per_segment + 1);
    for i in 0..n - 1 {
        let (p0, p1, p2, p3) =
            (get(i as isize - 1), get(i as isize), get(i as isize + 1), get(i as isize + 2));
        for k in 0..per_segment {
            let t = k as f32 / per_segment as f32;
            let (t2, t3) = (t * t, t * t * t);
            let f = |a: f32, b: f32, c: f32, d: f32| {
                0.5 * (2.0 * b
                    + (c - a) * t
                    + (2.0 * a - 5.0 * b + 4.0 * c - d) * t2
                    + (3.0 * b - a - 3.0 * c + d) * t3)
            };
            out.push((f(p0.0, p1.0, p2.0, p3.0), f(p0.1, p1.1, p2.1, p3.1)));
        }
    }
    out.push(pts[n - 1]);
    out
}

/// Points on an ellipse (closed: the first point is repeated at the end).
pub fn ellipse(centre: P, rx: f32, ry: f32, points: usize) -> Vec<P> {
    (0..=points)
        .map(|k| {
            let t = k as f32 / points as f32 * std::f32::consts::TAU;
            (centre.0 + rx * t.cos(), centre.1 + ry * t.sin())
        })
        .collect()
}

/// An RGB image under construction.
pub struct Canvas {
    width: usize,
    height: usize,
    px: Vec<Rgb>,
}

impl Canvas {
    /// A canvas filled with `paint`.
    pub fn new(width: usize, height: usize, paint: &Paint) -> Canvas {
        let mut c = Canvas { width, height, px: vec![[0.0; 3]; width * height] };
        c.fill_where((0.0, 0.0, width as f32, height as f32), |_, _| true, paint);
        c
    }

    /// Paint every pixel inside the box (x0, y0, x1, y1) whose centre satisfies `inside`.
    fn fill_where(
        &mut self,
        bbox: (f32, f32, f32, f32),
        inside: impl Fn(f32, f32) -> bool,
        paint: &Paint,
    ) {
        let (x0, y0, x1, y1) = bbox;
        let xs = (x0.floor().max(0.0) as usize, (x1.ceil().max(0.0) as usize).min(self.width));
        let ys = (y0.floor().max(0.0) as usize, (y1.ceil().max(0.0) as usize).min(self.height));
        for y in ys.0..ys.1 {
            for x in xs.0..xs.1 {
                let (cx, cy) = (x as f32 + 0.5, y as f32 + 0.5);
                if inside(cx, cy) {
                    self.px[y * self.width + x] = paint.at(cx, cy);
                }
            }
        }
    }

    /// Fill a polygon (even-odd rule; the closing edge is implied).
    pub fn polygon(&mut self, pts: &[P], paint: &Paint) {
        if pts.len() < 3 {
            return;
        }
        let bbox = pts.iter().fold((f32::MAX, f32::MAX, f32::MIN, f32::MIN), |b, p| {
            (b.0.min(p.0), b.1.min(p.1), b.2.max(p.0), b.3.max(p.1))
        });
        self.fill_where(bbox, |x, y| inside_polygon(pts, x, y), paint);
    }

    /// Fill the ring between radii `r_in` and `r_out` (a disk when `r_in` is 0).
    pub fn ring(&mut self, c: P, r_in: f32, r_out: f32, paint: &Paint) {
        let bbox = (c.0 - r_out, c.1 - r_out, c.0 + r_out, c.1 + r_out);
        let (lo, hi) = (r_in * r_in, r_out * r_out);
        self.fill_where(
            bbox,
            |x, y| {
                let d = (x - c.0).powi(2) + (y - c.1).powi(2);
                d >= lo && d <= hi
            },
            paint,
        );
    }

    pub fn disk(&mut self, c: P, r: f32, paint: &Paint) {
        self.ring(c, 0.0, r, paint);
    }

    /// A thick polyline: every pixel whose centre lies within `width / 2` of a segment.
    /// A single point gives a dot.
    pub fn stroke(&mut self, pts: &[P], width: f32, paint: &Paint) {
        let r = width / 2.0;
        let segments: Vec<(P, P)> = match pts.len() {
            0 => return,
            1 => vec![(pts[0], pts[0])],
            _ => pts.windows(2).map(|w| (w[0], w[1])).collect(),
        };
        for (p, q) in segments {
            let bbox = (p.0.min(q.0) - r, p.1.min(q.1) - r, p.0.max(q.0) + r, p.1.max(q.1) + r);
            self.fill_where(bbox, |x, y| dist2_to_segment((x, y), p, q) <= r * r, paint);
        }
    }

    /// Add `amplitude · u` to every channel, u uniform in [-1, 1) drawn from `noise`
    /// (one value per pixel, shared by its channels when `grey`).
    pub fn add_noise(&mut self, amplitude: f32, grey: bool, mut noise: impl FnMut() -> f32) {
        for p in &mut self.px {
            if grey {
                let u = amplitude * noise();
                p.iter_mut().for_each(|v| *v += u);
            } else {
                p.iter_mut().for_each(|v| *v += amplitude * noise());
            }
        }
    }

    /// Planar RGB bytes [3, H, W].
    pub fn to_rgb_u8(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(3 * self.px.len());
        for ch in 0..3 {
            out.extend(self.px.iter().map(|p| to_u8(p[ch])));
        }
        out
    }

    /// Grey bytes [1, H, W] (the first channel; grey datasets draw in grey).
    pub fn to_grey_u8(&self) -> Vec<u8> {
        self.px.iter().map(|p| to_u8(p[0])).collect()
    }
}

fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Even-odd point-in-polygon test.
fn inside_polygon(pts: &[P], x: f32, y: f32) -> bool {
    let mut inside = false;
    let mut j = pts.len() - 1;
    for i in 0..pts.len() {
        let (pi, pj) = (pts[i], pts[j]);
        if (pi.1 > y) != (pj.1 > y) && x < (pj.0 - pi.0) * (y - pi.1) / (pj.1 - pi.1) + pi.0 {
            inside = !inside;
        }
        j = i;
    }
    inside
}

fn dist2_to_segment(p: P, a: P, b: P) -> f32 {
    let (abx, aby) = (b.0 - a.0, b.1 - a.1);
    let len2 = abx * abx + aby * aby;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * abx + (p.1 - a.1) * aby) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (dx, dy) = (p.0 - a.0 - t * abx, p.1 - a.1 - t * aby);
    dx * dx + dy * dy
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Rgb = [1.0; 3];

    fn mask(c: &Canvas) -> Vec<u8> {
        c.to_grey_u8().iter().map(|&v| (v > 127) as u8).collect()
    }

    #[test]
    fn polygon_fills_pixels_whose_centres_are_inside() {
        let mut c = Canvas::new(4, 4, &Paint::Solid([0.0; 3]));
        // The square [1, 3] x [1, 3] covers exactly the centres 1.5 and 2.5.
        c.polygon(&[(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0)], &Paint::Solid(W));
        #[rustfmt::skip]
        let expected = [0, 0, 0, 0,
                        0, 1, 1, 0,
                        0, 1, 1, 0,
                        0, 0, 0, 0];
        assert_eq!(mask(&c), expected);
    }

    #[test]
    fn disk_and_stroke_cover_centres_within_radius() {
        let mut c = Canvas::new(5, 5, &Paint::Solid([0.0; 3]));
        c.disk((2.5, 2.5), 1.0, &Paint::Solid(W)); // centre pixel and its 4 neighbours
        #[rustfmt::skip]
        let plus = [0, 0, 0, 0, 0,
                    0, 0, 1, 0, 0,
                    0, 1, 1, 1, 0,
                    0, 0, 1, 0, 0,
                    0, 0, 0, 0, 0];
        assert_eq!(mask(&c), plus);
        let mut s = Canvas::new(5, 5, &Paint::Solid([0.0; 3]));
        s.stroke(&[(0.5, 0.5), (4.5, 0.5)], 0.8, &Paint::Solid(W)); // the top row only
        assert_eq!(&mask(&s)[..5], &[1; 5]);
        assert!(mask(&s)[5..].iter().all(|&v| v == 0));
    }

    #[test]
    fn affine_place_scales_then_rotates_then_moves() {
        let m = Affine::place((10.0, 20.0), 2.0, 3.0, 0.0, std::f32::consts::FRAC_PI_2);
        let (x, y) = m.apply((1.0, 1.0));
        // Scaled to (2, 3); a quarter turn (y down) sends (2, 3) to (-3, 2).
        assert!((x - 7.0).abs() < 1e-5 && (y - 22.0).abs() < 1e-5, "{x} {y}");
        assert!((m.length_scale() - 6f32.sqrt()).abs() < 1e-5);
    }

    #[test]
    fn hsv_primaries() {
        assert_eq!(hsv(0.0, 1.0, 1.0), [1.0, 0.0, 0.0]);
        assert_eq!(hsv(0.5, 1.0, 1.0), [0.0, 1.0, 1.0]);
        assert_eq!(hsv(0.75, 0.0, 0.5), [0.5, 0.5, 0.5]);
    }
}
