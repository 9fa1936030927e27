//! The frequency manipulations of the probe: a Gaussian low-pass of each image, and the
//! high-pass residual (the image minus its low-pass, around mid-grey), as Geirhos et al. and
//! Yin et al. filter images to ask which frequencies a network relies on. Channels are filtered
//! apart; the image's border is extended by its edge pixels.

use crate::data::Dataset;

/// The normalised Gaussian kernel of standard deviation `sigma`, radius ⌈3σ⌉.
fn kernel(sigma: f64) -> Vec<f64> {
    let radius = (3.0 * sigma).ceil() as i64;
    let weights: Vec<f64> =
        (-radius..=radius).map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = weights.iter().sum();
    weights.into_iter().map(|w| w / total).collect()
}

/// One plane of `side`×`side` values blurred along rows, then along columns.
fn blur_plane(plane: &[f64], side: usize, kernel: &[f64]) -> Vec<f64> {
    let radius = (kernel.len() / 2) as i64;
    let at = |i: i64| i.clamp(0, side as i64 - 1) as usize;
    let mut rows = vec![0.0; plane.len()];
    for y in 0..side {
        for x in 0..side {
            rows[y * side + x] = kernel
                .iter()
                .enumerate()
                .map(|(k, w)| w * plane[y * side + at(x as i64 + k as i64 - radius)])
                .sum();
        }
    }
    let mut out = vec![0.0; plane.len()];
    for y in 0..side {
        for x in 0..side {
            out[y * side + x] = kernel
                .iter()
                .enumerate()
                .map(|(k, w)| w * rows[at(y as i64 + k as i64 - radius) * side + x])
                .sum();
        }
    }
    out
}

/// Every image of `data` with each plane replaced by `f(plane, its low-pass)`, rounded to bytes.
fn map_planes(data: &Dataset, sigma: f64, f: impl Fn(f64, f64) -> f64) -> Dataset {
    assert_eq!(data.height, data.width, "the probe filters square images");
    let (side, kernel) = (data.width, kernel(sigma));
    let mut images = Vec::with_capacity(data.images.len());
    for plane in data.images.chunks(side * side) {
        let values: Vec<f64> = plane.iter().map(|&v| v as f64).collect();
        let low = blur_plane(&values, side, &kernel);
        images.extend(
            values.iter().zip(&low).map(|(&v, &l)| f(v, l).round().clamp(0.0, 255.0) as u8),
        );
    }
    data.with_images(images, data.labels.clone())
}

/// `data` low-passed: each plane convolved with the Gaussian of standard deviation `sigma`.
pub fn low_pass(data: &Dataset, sigma: f64) -> Dataset {
    map_planes(data, sigma, |_, low| low)
}

/// `data` high-passed: each plane minus its low-pass, plus mid-grey (128).
pub fn high_pass(data: &Dataset, sigma: f64) -> Dataset {
    map_planes(data, sigma, |v, low| v - low + 128.0)
}
