//! Decoding a Hugging Face image dataset stored as Parquet: an image column that is a struct
//! `{bytes: PNG/JPEG bytes, path}` and an integer label column (names are per-dataset settings).

use crate::data::Dataset;
use anyhow::{bail, ensure, Context, Result};
use polars::prelude::{DataType, ParquetReader, SerReader};
use std::path::Path;

/// Read `path` into a dataset named `name` with `classes` classes. Grey-scale images stay one
/// channel; anything else becomes RGB. Every image must have the first image's size.
pub fn read(
    path: &Path,
    name: &str,
    image_column: &str,
    label_column: &str,
    classes: usize,
) -> Result<Dataset> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let df = ParquetReader::new(file)
        .finish()
        .with_context(|| format!("reading Parquet file {}", path.display()))?;
    let column = |c: &str| {
        df.column(c).with_context(|| {
            let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
            format!("{}: no column `{c}`; its columns are {}", path.display(), names.join(", "))
        })
    };
    let images = column(image_column)?
        .struct_()
        .with_context(|| format!("column `{image_column}` is not an image struct {{bytes, path}}"))?
        .field_by_name("bytes")
        .with_context(|| format!("column `{image_column}` has no `bytes` field"))?;
    let labels = column(label_column)?
        .cast(&DataType::Int64)
        .with_context(|| format!("label column `{label_column}` is not an integer column"))?;
    let (images, labels) = (images.binary()?, labels.i64()?);

    let mut out = Dataset::empty(name, classes);
    for (row, (bytes, label)) in images.iter().zip(labels.iter()).enumerate() {
        let (Some(bytes), Some(label)) = (bytes, label) else {
            bail!("{}: row {row} has no image or no label", path.display());
        };
        ensure!(
            (0..classes as i64).contains(&label),
            "{}: row {row} has label {label}, outside 0..{classes}",
            path.display()
        );
        let img = image::load_from_memory(bytes)
            .with_context(|| format!("{}: row {row}: cannot decode the image", path.display()))?;
        super::images::append_image(&mut out, &img)
            .with_context(|| format!("{}: row {row}", path.display()))?;
        out.labels.push(label as u32);
    }
    ensure!(!out.labels.is_empty(), "{}: no rows", path.display());
    out.validate()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    /// A Parquet file laid out like the hub's image datasets, written with Polars.
    pub fn write_fixture(path: &Path, images: &[image::DynamicImage], labels: &[i64]) {
        let bytes: Vec<Vec<u8>> = images
            .iter()
            .map(|img| {
                let mut buf = std::io::Cursor::new(Vec::new());
                img.write_to(&mut buf, image::ImageFormat::Png).unwrap();
                buf.into_inner()
            })
            .collect();
        let paths: Vec<String> = (0..images.len()).map(|i| format!("{i}.png")).collect();
        let bytes =
            Series::new("bytes".into(), bytes.iter().map(|b| b.as_slice()).collect::<Vec<_>>());
        let paths = Series::new("path".into(), paths);
        let img = StructChunked::from_series("img".into(), images.len(), [bytes, paths].iter())
            .unwrap()
            .into_series();
        let mut df = DataFrame::new(
            images.len(),
            vec![img.into(), Series::new("label".into(), labels).into()],
        )
        .unwrap();
        ParquetWriter::new(std::fs::File::create(path).unwrap()).finish(&mut df).unwrap();
    }

    #[test]
    fn decodes_colour_and_grey_images_into_planar_pixels_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        let colour: Vec<_> = (0..3u8)
            .map(|i| {
                image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(2, 2, |x, y| {
                    image::Rgb([i, x as u8 * 10, y as u8 * 20])
                }))
            })
            .collect();
        let p = dir.path().join("c.parquet");
        write_fixture(&p, &colour, &[2, 0, 1]);
        let d = read(&p, "c", "img", "label", 3).unwrap();
        assert_eq!((d.channels, d.height, d.width, d.len()), (3, 2, 2, 3));
        assert_eq!(d.labels, vec![2, 0, 1]);
        // Image 1: R plane all 1, G plane x·10, B plane y·20.
        assert_eq!(d.image(1), &[1, 1, 1, 1, 0, 10, 0, 10, 0, 0, 20, 20]);

        let grey =
            vec![image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(3, 1, |x, _| {
                image::Luma([x as u8 * 100])
            }))];
        let p = dir.path().join("g.parquet");
        write_fixture(&p, &grey, &[0]);
        let d = read(&p, "g", "img", "label", 10).unwrap();
        assert_eq!((d.channels, d.height, d.width), (1, 1, 3));
        assert_eq!(d.image(0), &[0, 100, 200]);
    }

    #[test]
    fn bad_columns_and_labels_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let img = vec![image::DynamicImage::ImageLuma8(image::GrayImage::new(2, 2))];
        let p = dir.path().join("x.parquet");
        write_fixture(&p, &img, &[5]);
        let err = format!("{:#}", read(&p, "x", "image", "label", 10).unwrap_err());
        assert!(err.contains("no column `image`") && err.contains("img, label"), "{err}");
        let err = format!("{:#}", read(&p, "x", "img", "label", 3).unwrap_err());
        assert!(err.contains("label 5, outside 0..3"), "{err}");
    }
}
