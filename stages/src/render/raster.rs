//! Pixels that are data (images, heat maps) as a PNG inside the SVG: `<image>` with a data URI,
//! drawn without smoothing. The PNG encoder's output depends only on the pixels, so the bytes
//! are the same on every machine.

use anyhow::{Context, Result};
use base64::Engine;
use image::{codecs::png::PngEncoder, ExtendedColorType, ImageEncoder};

/// An RGB image, row by row.
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<[u8; 3]>,
}

/// `<image>` showing `img` at (x, y) scaled to w × h. The PNG itself is enlarged by the largest
/// whole factor that fits (each pixel a square of equal pixels), so viewers that smooth scaled
/// images, ignoring `image-rendering`, still show sharp pixels.
pub fn image(img: &Rgb, x: f64, y: f64, w: f64, h: f64) -> Result<String> {
    let k = ((w / img.width as f64).min(h / img.height as f64).floor() as usize).max(1);
    let (width, height) = (img.width * k, img.height * k);
    let mut bytes = Vec::with_capacity(width * height * 3);
    for r in 0..height {
        for c in 0..width {
            bytes.extend_from_slice(&img.pixels[(r / k) * img.width + c / k]);
        }
    }
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&bytes, width as u32, height as u32, ExtendedColorType::Rgb8)
        .context("encoding a PNG")?;
    let data = base64::engine::general_purpose::STANDARD.encode(&png);
    Ok(format!(
        r#"<image x="{x}" y="{y}" width="{w}" height="{h}" preserveAspectRatio="none" style="image-rendering:pixelated" href="data:image/png;base64,{data}"/>"#
    ))
}
