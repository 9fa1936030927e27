//! Decoded images appended to a dataset: what the local and Parquet readers share.

use crate::data::Dataset;
use anyhow::{ensure, Result};

/// Appends a decoded image to `out` as planar [C, H, W] pixels. The first image sets the size
/// and the channels (grey-scale stays one channel, anything else becomes RGB); every later one
/// must have the same size.
pub fn append_image(out: &mut Dataset, img: &image::DynamicImage) -> Result<()> {
    if out.labels.is_empty() && out.images.is_empty() {
        out.channels = if img.color().has_color() { 3 } else { 1 };
        (out.width, out.height) = (img.width() as usize, img.height() as usize);
    }
    ensure!(
        (img.width() as usize, img.height() as usize) == (out.width, out.height),
        "the image is {}×{}, the first image is {}×{}",
        img.width(),
        img.height(),
        out.width,
        out.height
    );
    if out.channels == 1 {
        out.images.extend_from_slice(img.to_luma8().as_raw());
    } else {
        let rgb = img.to_rgb8();
        for c in 0..3 {
            out.images.extend(rgb.as_raw().iter().skip(c).step_by(3));
        }
    }
    Ok(())
}
