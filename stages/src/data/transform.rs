//! Batches of images as f32 tensors [B, 3, R, R] in [0, 1], the way the authors' code feeds
//! the network. Grey images are broadcast to three channels.
//!
//! - Test: bilinear resize to R with PyTorch's `interpolate(mode="bilinear",
//!   align_corners=False)` semantics, no antialias ([`test_batch`]).
//! - Train ([`TrainTransform`]): the same resize, zero-pad and random-crop R, random horizontal
//!   flip, ColorJitter (brightness, contrast, saturation in a random order, torchvision's
//!   formulas), random rotation about the centre with nearest sampling and zero fill
//!   (torchvision's `RandomRotation` default), in that order.

use anyhow::{ensure, Result};
use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::dataset::Dataset;

/// The training augmentation's parameters; profiles scale them with the resolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainTransform {
    /// Output side R.
    pub size: usize,
    /// Zero padding on each side before the random R×R crop (0: no crop).
    pub pad: usize,
    /// Probability of a horizontal flip.
    pub flip_p: f64,
    /// ColorJitter strengths: factors are drawn uniformly from [max(0, 1 - s), 1 + s].
    pub brightness: f32,
    pub contrast: f32,
    pub saturation: f32,
    /// Rotation angle drawn uniformly from [-rotation_deg, rotation_deg] degrees.
    pub rotation_deg: f32,
}

impl TrainTransform {
    /// The authors' augmentation at side `size`: pad 4, flip 0.5, jitter 0.25 each, ±2°.
    pub fn authors(size: usize) -> TrainTransform {
        TrainTransform {
            size,
            pad: 4,
            flip_p: 0.5,
            brightness: 0.25,
            contrast: 0.25,
            saturation: 0.25,
            rotation_deg: 2.0,
        }
    }

    /// Augmented images `indices` of `ds` as [B, 3, R, R] on `device`; all randomness comes
    /// from `rng`, image by image in the order of `indices`.
    pub fn batch(
        &self,
        ds: &Dataset,
        indices: &[u32],
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<Tensor> {
        ensure!(
            (0.0..=1.0).contains(&self.flip_p),
            "train transform: flip_p {} is not a probability",
            self.flip_p
        );
        let strengths = [self.brightness, self.contrast, self.saturation, self.rotation_deg];
        ensure!(strengths.iter().all(|s| s.is_finite() && *s >= 0.0), "train transform: jitter strengths and rotation must be finite and non-negative, got {strengths:?}");
        // Every image's random choices first, in the order of `indices`: the images are then
        // made on any number of threads, and come out the same.
        let draws: Vec<Draw> = indices.iter().map(|_| self.draw(rng)).collect();
        build_batch(ds, indices, self.size, device, |k, img| self.apply(img, &draws[k]))
    }

    /// The random choices for one image, drawn in a fixed order.
    fn draw(&self, rng: &mut ChaCha8Rng) -> Draw {
        let top = rng.random_range(0..=2 * self.pad);
        let left = rng.random_range(0..=2 * self.pad);
        let flip = rng.random_bool(self.flip_p);
        let mut ops = [Jitter::Brightness, Jitter::Contrast, Jitter::Saturation];
        ops.shuffle(rng);
        let mut factor = |strength: f32| {
            if strength > 0.0 {
                rng.random_range((1.0 - strength).max(0.0)..=1.0 + strength)
            } else {
                1.0
            }
        };
        let factors = [factor(self.brightness), factor(self.contrast), factor(self.saturation)];
        let jitter = ops.map(|op| (op, factors[op as usize]));
        let angle_deg = if self.rotation_deg > 0.0 {
            rng.random_range(-self.rotation_deg..=self.rotation_deg)
        } else {
            0.0
        };
        Draw { top, left, flip, jitter, angle_deg }
    }

    /// Crop, flip, jitter and rotate one resized image ([3, R, R]) in place as `draw` says.
    fn apply(&self, img: &mut [f32], draw: &Draw) {
        let r = self.size;
        let mut out = pad_crop_flip(img, r, self.pad, draw.top, draw.left, draw.flip);
        for &(op, f) in &draw.jitter {
            if f != 1.0 {
                op.apply(&mut out, f);
            }
        }
        if draw.angle_deg != 0.0 {
            out = rotate_nearest(&out, r, draw.angle_deg);
        }
        img.copy_from_slice(&out);
    }
}

/// Images `indices` of `ds` resized to `size` (no augmentation) as [B, 3, size, size].
pub fn test_batch(ds: &Dataset, indices: &[u32], size: usize, device: &Device) -> Result<Tensor> {
    build_batch(ds, indices, size, device, |_, _| ())
}

/// Each image resized to [3, size, size] into its place in the batch, then changed there by
/// `each` (given that place). The images are made on rayon's threads, one task each: an image's
/// values depend on it and its place only, so the batch is the same on any number of threads.
fn build_batch(
    ds: &Dataset,
    indices: &[u32],
    size: usize,
    device: &Device,
    each: impl Fn(usize, &mut [f32]) + Sync,
) -> Result<Tensor> {
    ensure!(size > 0, "transform size must be positive");
    if let Some(&i) = indices.iter().find(|&&i| i as usize >= ds.len()) {
        anyhow::bail!("image index {i} outside dataset {:?} of {} images", ds.name, ds.len());
    }
    let (ys, xs) = (axis_weights(ds.height, size), axis_weights(ds.width, size));
    let mut buf = vec![0f32; indices.len() * 3 * size * size];
    buf.par_chunks_mut(3 * size * size).zip(indices).enumerate().for_each(|(k, (out, &i))| {
        resize(ds.image(i as usize), ds.channels, ds.height, ds.width, &ys, &xs, out);
        each(k, out);
    });
    Ok(Tensor::from_vec(buf, (indices.len(), 3, size, size), device)?)
}

/// For each output position along one axis: the two source positions and the weight of the
/// second, per PyTorch's bilinear `align_corners=False`: src = (dst + 0.5)·in/out − 0.5,
/// clamped below at 0, neighbours clamped at the last position.
fn axis_weights(input: usize, output: usize) -> Vec<(usize, usize, f32)> {
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|d| {
            let src = (scale * (d as f32 + 0.5) - 0.5).max(0.0);
            let i0 = (src as usize).min(input - 1);
            let i1 = (i0 + 1).min(input - 1);
            (i0, i1, (src - i0 as f32).clamp(0.0, 1.0))
        })
        .collect()
}

/// Bilinear resize of one u8 image [C, H, W] (C = 1 or 3) into `out`, [3, R, R] in [0, 1]
/// (grey broadcast).
fn resize(
    img: &[u8],
    channels: usize,
    h: usize,
    w: usize,
    ys: &[(usize, usize, f32)],
    xs: &[(usize, usize, f32)],
    out: &mut [f32],
) {
    let plane = ys.len() * xs.len();
    for (c, out) in out.chunks_mut(plane).take(channels).enumerate() {
        let src = &img[c * h * w..(c + 1) * h * w];
        let px = |y: usize, x: usize| src[y * w + x] as f32 / 255.0;
        for (row, &(y0, y1, ly)) in out.chunks_mut(xs.len()).zip(ys) {
            for (v, &(x0, x1, lx)) in row.iter_mut().zip(xs) {
                let top = (1.0 - lx) * px(y0, x0) + lx * px(y0, x1);
                let bottom = (1.0 - lx) * px(y1, x0) + lx * px(y1, x1);
                *v = (1.0 - ly) * top + ly * bottom;
            }
        }
    }
    if channels == 1 {
        out.copy_within(..plane, plane);
        out.copy_within(..plane, 2 * plane);
    }
}

/// One image's random choices.
#[derive(Clone, Debug)]
struct Draw {
    /// Crop offsets into the padded image, each in 0..=2·pad.
    top: usize,
    left: usize,
    flip: bool,
    /// Jitter operations in the order applied, with their factors.
    jitter: [(Jitter, f32); 3],
    angle_deg: f32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Jitter {
    Brightness = 0,
    Contrast = 1,
    Saturation = 2,
}

impl Jitter {
    /// torchvision's `adjust_*`: blend with black (brightness), with the mean of the grey
    /// image (contrast) or with the grey image (saturation), then clamp to [0, 1].
    fn apply(self, img: &mut [f32], f: f32) {
        let plane = img.len() / 3;
        let grey = |img: &[f32], p: usize| {
            0.2989 * img[p] + 0.587 * img[plane + p] + 0.114 * img[2 * plane + p]
        };
        let blend = |v: &mut f32, other: f32| *v = (f * *v + (1.0 - f) * other).clamp(0.0, 1.0);
        match self {
            Jitter::Brightness => img.iter_mut().for_each(|v| blend(v, 0.0)),
            Jitter::Contrast => {
                let mean = (0..plane).map(|p| grey(img, p)).sum::<f32>() / plane as f32;
                img.iter_mut().for_each(|v| blend(v, mean));
            }
            Jitter::Saturation => {
                for p in 0..plane {
                    let g = grey(img, p);
                    (0..3).for_each(|c| blend(&mut img[c * plane + p], g));
                }
            }
        }
    }
}

/// Zero-pad `pad` pixels, take the R×R crop at (top, left) of the padded image, then mirror
/// left-right when `flip`.
fn pad_crop_flip(
    img: &[f32],
    r: usize,
    pad: usize,
    top: usize,
    left: usize,
    flip: bool,
) -> Vec<f32> {
    let mut out = vec![0.0; img.len()];
    for c in 0..3 {
        for y in 0..r {
            let sy = (y + top).wrapping_sub(pad);
            if sy >= r {
                continue;
            }
            for x in 0..r {
                let sx = (if flip { r - 1 - x } else { x } + left).wrapping_sub(pad);
                if sx < r {
                    out[(c * r + y) * r + x] = img[(c * r + sy) * r + sx];
                }
            }
        }
    }
    out
}

/// Rotate counter-clockwise (as displayed, y down) by `angle_deg` about the image centre:
/// each output pixel takes the nearest source pixel, zero outside.
fn rotate_nearest(img: &[f32], r: usize, angle_deg: f32) -> Vec<f32> {
    let (s, c) = angle_deg.to_radians().sin_cos();
    let centre = (r as f32 - 1.0) / 2.0;
    let mut out = vec![0.0; img.len()];
    for y in 0..r {
        for x in 0..r {
            let (u, v) = (x as f32 - centre, y as f32 - centre);
            let sx = (c * u - s * v + centre).round();
            let sy = (s * u + c * v + centre).round();
            if sx >= 0.0 && sy >= 0.0 && (sx as usize) < r && (sy as usize) < r {
                for ch in 0..3 {
                    out[(ch * r + y) * r + x] = img[(ch * r + sy as usize) * r + sx as usize];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::derived_rng;

    fn grey_ds(h: usize, w: usize, px: Vec<u8>) -> Dataset {
        Dataset {
            name: "t".into(),
            classes: 1,
            channels: 1,
            height: h,
            width: w,
            labels: vec![0; px.len() / (h * w)],
            images: px,
            class_names: None,
        }
    }

    fn assert_close(got: &[f32], want: &[f32], tol: f32) {
        assert_eq!(got.len(), want.len());
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= tol,
                "element {k}: got {g}, want {w}\n got {got:?}\nwant {want:?}"
            );
        }
    }

    #[test]
    fn bilinear_2x2_to_4x4_matches_hand_computation() {
        // Sources along each axis (align_corners=False, scale 1/2): -0.25 -> 0, 0.25, 0.75,
        // 1.25 -> last pixel. So a row [a, b] becomes [a, .75a+.25b, .25a+.75b, b].
        let ds = grey_ds(2, 2, vec![0, 100, 200, 40]);
        let t = test_batch(&ds, &[0], 4, &Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[1, 3, 4, 4]);
        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        #[rustfmt::skip]
        let hand: Vec<f32> = [0.0, 25.0, 75.0, 100.0,
                              50.0, 58.75, 76.25, 85.0,
                              150.0, 126.25, 78.75, 55.0,
                              200.0, 160.0, 80.0, 40.0].iter().map(|v| v / 255.0).collect();
        for ch in 0..3 {
            assert_close(&v[ch * 16..(ch + 1) * 16], &hand, 1e-6);
        }
    }

    #[test]
    fn bilinear_3x3_to_2x2_matches_hand_computation() {
        // Scale 3/2: sources 0.25 and 1.75 on each axis.
        // A linear ramp 10x + 30y is reproduced exactly at those points.
        let ramp = grey_ds(3, 3, vec![0, 10, 20, 30, 40, 50, 60, 70, 80]);
        let v = test_batch(&ramp, &[0], 2, &Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_close(&v[..4], &[10.0 / 255.0, 25.0 / 255.0, 55.0 / 255.0, 70.0 / 255.0], 1e-6);
        // A centre spike of 255 reaches each output with weight 0.25 · 0.25.
        let spike = grey_ds(3, 3, vec![0, 0, 0, 0, 255, 0, 0, 0, 0]);
        let v = test_batch(&spike, &[0], 2, &Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_close(&v, &[0.0625; 12], 1e-6);
    }

    #[test]
    fn colour_images_keep_their_channels_and_same_size_is_identity() {
        let px: Vec<u8> = (0..12).map(|v| v * 20).collect(); // [3, 2, 2]
        let ds = Dataset {
            name: "c".into(),
            classes: 1,
            channels: 3,
            height: 2,
            width: 2,
            images: px.clone(),
            labels: vec![0],
            class_names: None,
        };
        let v = test_batch(&ds, &[0], 2, &Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_close(&v, &px.iter().map(|&p| p as f32 / 255.0).collect::<Vec<_>>(), 0.0);
        assert!(test_batch(&ds, &[1], 2, &Device::Cpu).is_err());
    }

    #[test]
    fn pad_crop_flip_geometry() {
        // 3x3 image 1..9 (one channel shown; all three are treated alike), pad 1.
        let img: Vec<f32> = (1..=9).map(|v| v as f32).cycle().take(27).collect();
        // Crop at (0, 2) of the padded 5x5: output(y, x) = img(y - 1, x + 1).
        let out = pad_crop_flip(&img, 3, 1, 0, 2, false);
        assert_eq!(&out[..9], &[0.0, 0.0, 0.0, 2.0, 3.0, 0.0, 5.0, 6.0, 0.0]);
        // The same crop mirrored left-right.
        let out = pad_crop_flip(&img, 3, 1, 0, 2, true);
        assert_eq!(&out[..9], &[0.0, 0.0, 0.0, 0.0, 3.0, 2.0, 0.0, 6.0, 5.0]);
        // The centred crop is the identity; the bottom-right one shifts up-left.
        assert_eq!(pad_crop_flip(&img, 3, 1, 1, 1, false), img);
        let out = pad_crop_flip(&img, 3, 1, 2, 2, false);
        assert_eq!(&out[18..], &[5.0, 6.0, 0.0, 8.0, 9.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn colour_jitter_matches_hand_values() {
        // Two pixels p = (.5, .2, .1) and q = (.9, .8, .3), planar.
        let mut img = vec![0.5, 0.9, 0.2, 0.8, 0.1, 0.3];
        // Saturation 1.5: grey(p) = .27825, grey(q) = .77281; v' = 1.5 v - .5 grey.
        Jitter::Saturation.apply(&mut img, 1.5);
        assert_close(&img, &[0.610875, 0.963595, 0.160875, 0.813595, 0.010875, 0.063595], 1e-6);
        // Brightness 1.2: v' = clamp(1.2 v); q's red clips at 1.
        Jitter::Brightness.apply(&mut img, 1.2);
        assert_close(&img, &[0.73305, 1.0, 0.19305, 0.976314, 0.01305, 0.076314], 1e-6);
        // Contrast 0.5: grey = (.3339167, .8806961), mean .6073064; v' = .5 v + .5 mean.
        Jitter::Contrast.apply(&mut img, 0.5);
        assert_close(
            &img,
            &[0.6701782, 0.8036532, 0.4001782, 0.7918102, 0.3101782, 0.3418102],
            1e-6,
        );
    }

    #[test]
    fn rotation_quarter_turn_is_counter_clockwise() {
        let img: Vec<f32> = (1..=9).map(|v| v as f32).cycle().take(27).collect();
        // 1 2 3      3 6 9
        // 4 5 6  ->  2 5 8   (counter-clockwise as displayed)
        // 7 8 9      1 4 7
        assert_eq!(
            &rotate_nearest(&img, 3, 90.0)[..9],
            &[3.0, 6.0, 9.0, 2.0, 5.0, 8.0, 1.0, 4.0, 7.0]
        );
        let even: Vec<f32> = (1..=16).map(|v| v as f32).cycle().take(48).collect();
        assert_eq!(&rotate_nearest(&even, 4, 90.0)[..4], &[4.0, 8.0, 12.0, 16.0]);
        assert_eq!(rotate_nearest(&img, 3, 0.0), img);
    }

    #[test]
    fn train_transform_applies_draws_in_order_and_is_seeded() {
        let t = TrainTransform {
            size: 3,
            pad: 1,
            flip_p: 0.5,
            brightness: 0.0,
            contrast: 0.0,
            saturation: 0.0,
            rotation_deg: 0.0,
        };
        let mut img: Vec<f32> = (1..=27).map(|v| v as f32 / 27.0).collect();
        let draw = Draw {
            top: 2,
            left: 0,
            flip: true,
            jitter: [(Jitter::Brightness, 0.5), (Jitter::Contrast, 1.0), (Jitter::Saturation, 1.0)],
            angle_deg: 0.0,
        };
        let want: Vec<f32> =
            pad_crop_flip(&img, 3, 1, 2, 0, true).iter().map(|v| v * 0.5).collect();
        t.apply(&mut img, &draw);
        assert_close(&img, &want, 1e-7);

        let ds = grey_ds(2, 2, vec![0, 100, 200, 40, 9, 8, 7, 6]);
        let a = TrainTransform::authors(4);
        let batch = |seed| {
            a.batch(&ds, &[1, 0], &mut derived_rng("t", &[seed]), &Device::Cpu)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let b0 = batch(0);
        assert_eq!(b0.len(), 2 * 3 * 16);
        assert!(b0.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(b0, batch(0));
        assert!((0..20).any(|s| batch(s) != b0));
        let bad = TrainTransform { flip_p: 1.5, ..a.clone() };
        assert!(bad.batch(&ds, &[0], &mut derived_rng("t", &[]), &Device::Cpu).is_err());
    }

    #[test]
    fn train_transform_with_every_augmentation_off_is_the_test_transform() {
        let off = TrainTransform {
            size: 5,
            pad: 0,
            flip_p: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            saturation: 0.0,
            rotation_deg: 0.0,
        };
        let ds = grey_ds(3, 3, (0..18).map(|v| v * 13).collect());
        let train = off.batch(&ds, &[1, 0], &mut derived_rng("off", &[]), &Device::Cpu).unwrap();
        let test = test_batch(&ds, &[1, 0], 5, &Device::Cpu).unwrap();
        let (a, b) = (
            train.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            test.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn draws_stay_within_their_ranges() {
        let t = TrainTransform::authors(8);
        let mut rng = derived_rng("draws", &[]);
        let (mut flips, mut orders) = (0, std::collections::BTreeSet::new());
        for _ in 0..2000 {
            let d = t.draw(&mut rng);
            assert!(d.top <= 8 && d.left <= 8 && d.angle_deg.abs() <= 2.0);
            assert!(d.jitter.iter().all(|&(_, f)| (0.75..=1.25).contains(&f)));
            flips += d.flip as usize;
            orders.insert(d.jitter.map(|(op, _)| op as u8));
        }
        assert!((850..1150).contains(&flips), "{flips}");
        assert_eq!(orders.len(), 6, "all orders of the three jitter operations occur");
    }

    /// A batch made on four threads is, bit for bit, its images made one at a time on one thread
    /// (batches of one image each, drawn from the same stream of random choices in turn).
    #[test]
    fn a_batch_on_many_threads_is_its_images_made_one_by_one() {
        let t = TrainTransform::authors(12);
        let mut ds = Dataset::empty("rgb", 3);
        (ds.channels, ds.height, ds.width) = (3, 5, 7);
        ds.images = (0..9 * 3 * 5 * 7).map(|v| (v * 37 % 256) as u8).collect();
        ds.labels = vec![0; 9];
        let indices = [4, 0, 8, 8, 2, 7, 1, 3, 6, 5, 0];
        let flat = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
        let mut rng = derived_rng("threads", &[]);
        let whole = pool(4).install(|| t.batch(&ds, &indices, &mut rng, &Device::Cpu).unwrap());
        let (mut rng, mut one_by_one) = (derived_rng("threads", &[]), Vec::new());
        for &i in &indices {
            let b = pool(1).install(|| t.batch(&ds, &[i], &mut rng, &Device::Cpu).unwrap());
            one_by_one.extend(flat(b));
        }
        let whole = flat(whole);
        assert_eq!(whole.len(), indices.len() * 3 * 12 * 12);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&whole), bits(&one_by_one));
        let test = pool(4).install(|| test_batch(&ds, &indices, 12, &Device::Cpu).unwrap());
        assert_ne!(flat(test), whole, "the augmentation took part");
    }
}
