//! `Dataset`: an in-memory image classification set (u8 pixels [N, C, H, W], u32 labels) and
//! its on-disk form, a directory holding
//!
//! - `data.safetensors`: `images` U8 [N, C, H, W] and `labels` U32 [N];
//! - `dataset.json`: name, classes, channels, height, width, n and optional class names.
//!
//! The same dataset always gives byte-identical files, so the engine's content hash of a
//! prepared dataset is stable.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

/// File holding the pixel and label tensors.
pub const TENSOR_FILE: &str = "data.safetensors";
/// File holding the dataset's description.
pub const META_FILE: &str = "dataset.json";

/// An image classification set held in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub name: String,
    pub classes: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Pixels, image after image, each [C, H, W] row-major.
    pub images: Vec<u8>,
    pub labels: Vec<u32>,
    /// Optional human-readable class names, one per class.
    pub class_names: Option<Vec<String>>,
}

/// The description written to `dataset.json`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    name: String,
    classes: usize,
    channels: usize,
    height: usize,
    width: usize,
    n: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    class_names: Option<Vec<String>>,
}

impl Dataset {
    /// An empty set to fill image by image; the first image added sets channels and size.
    pub fn empty(name: &str, classes: usize) -> Dataset {
        Dataset {
            name: name.to_string(),
            classes,
            channels: 0,
            height: 0,
            width: 0,
            images: Vec::new(),
            labels: Vec::new(),
            class_names: None,
        }
    }

    /// Check that sizes and labels are consistent; every constructor and `load` calls this.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.channels == 1 || self.channels == 3,
            "dataset {:?}: {} channels; expected 1 (grey) or 3 (colour)",
            self.name,
            self.channels
        );
        ensure!(
            self.height > 0 && self.width > 0,
            "dataset {:?}: empty image size {}x{}",
            self.name,
            self.height,
            self.width
        );
        ensure!(self.classes > 0, "dataset {:?}: zero classes", self.name);
        let expected = self.labels.len() * self.image_len();
        ensure!(
            self.images.len() == expected,
            "dataset {:?}: {} pixel bytes for {} images of {}x{}x{}; expected {expected}",
            self.name,
            self.images.len(),
            self.labels.len(),
            self.channels,
            self.height,
            self.width
        );
        if let Some((i, &l)) =
            self.labels.iter().enumerate().find(|(_, &l)| l as usize >= self.classes)
        {
            bail!("dataset {:?}: image {i} has label {l}, outside 0..{}", self.name, self.classes);
        }
        if let Some(names) = &self.class_names {
            ensure!(
                names.len() == self.classes,
                "dataset {:?}: {} class names for {} classes",
                self.name,
                names.len(),
                self.classes
            );
        }
        Ok(())
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image (C·H·W).
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The pixels of image `i`, [C, H, W] row-major.
    pub fn image(&self, i: usize) -> &[u8] {
        let l = self.image_len();
        &self.images[i * l..(i + 1) * l]
    }

    /// The images at `indices`, in that order, as a dataset of their own.
    pub fn select(&self, indices: &[u32]) -> Dataset {
        let mut images = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            images.extend_from_slice(self.image(i as usize));
        }
        self.with_images(images, indices.iter().map(|&i| self.labels[i as usize]).collect())
    }

    /// A dataset of the same name, classes and image size holding `images` labelled `labels`.
    pub fn with_images(&self, images: Vec<u8>, labels: Vec<u32>) -> Dataset {
        Dataset {
            name: self.name.clone(),
            classes: self.classes,
            channels: self.channels,
            height: self.height,
            width: self.width,
            images,
            labels,
            class_names: self.class_names.clone(),
        }
    }

    /// Write `data.safetensors` and `dataset.json` into `dir` (created if missing).
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.validate()?;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating dataset directory {}", dir.display()))?;
        let n = self.len();
        let images = Tensor::from_slice(
            &self.images,
            (n, self.channels, self.height, self.width),
            &Device::Cpu,
        )?;
        let labels = Tensor::from_slice(&self.labels, n, &Device::Cpu)?;
        let tensors =
            HashMap::from([("images".to_string(), images), ("labels".to_string(), labels)]);
        let path = dir.join(TENSOR_FILE);
        candle_core::safetensors::save(&tensors, &path)
            .with_context(|| format!("writing {}", path.display()))?;
        let meta = Meta {
            name: self.name.clone(),
            classes: self.classes,
            channels: self.channels,
            height: self.height,
            width: self.width,
            n,
            class_names: self.class_names.clone(),
        };
        let mut json = serde_json::to_vec_pretty(&meta)?;
        json.push(b'\n');
        let path = dir.join(META_FILE);
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))
    }

    /// Read a dataset written by [`Dataset::save`], checking that the tensors agree with
    /// `dataset.json` and that every label is below the number of classes.
    pub fn load(dir: &Path) -> Result<Dataset> {
        let meta_path = dir.join(META_FILE);
        let text = std::fs::read_to_string(&meta_path).with_context(|| {
            format!(
                "reading {} (is {} a prepared dataset directory?)",
                meta_path.display(),
                dir.display()
            )
        })?;
        let meta: Meta = serde_json::from_str(&text)
            .with_context(|| format!("parsing {}", meta_path.display()))?;
        let path = dir.join(TENSOR_FILE);
        let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut take = |name: &str, dtype: DType, dims: &[usize]| -> Result<Tensor> {
            let t = tensors
                .remove(name)
                .with_context(|| format!("{}: no tensor {name:?}", path.display()))?;
            ensure!(
                t.dtype() == dtype,
                "{}: tensor {name:?} is {:?}; expected {dtype:?}",
                path.display(),
                t.dtype()
            );
            ensure!(
                t.dims() == dims,
                "{}: tensor {name:?} has shape {:?}; {} says {dims:?}",
                path.display(),
                t.dims(),
                META_FILE
            );
            Ok(t)
        };
        let images = take("images", DType::U8, &[meta.n, meta.channels, meta.height, meta.width])?;
        let labels = take("labels", DType::U32, &[meta.n])?;
        let ds = Dataset {
            name: meta.name,
            classes: meta.classes,
            channels: meta.channels,
            height: meta.height,
            width: meta.width,
            images: images.flatten_all()?.to_vec1::<u8>()?,
            labels: labels.to_vec1::<u32>()?,
            class_names: meta.class_names,
        };
        ds.validate().with_context(|| format!("invalid dataset in {}", dir.display()))?;
        Ok(ds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        Dataset {
            name: "tiny".into(),
            classes: 3,
            channels: 1,
            height: 2,
            width: 3,
            images: (0..24).collect(),
            labels: vec![2, 0, 1, 2],
            class_names: Some(vec!["a".into(), "b".into(), "c".into()]),
        }
    }

    #[test]
    fn save_load_round_trip_and_identical_bytes() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let ds = tiny();
        ds.save(a.path()).unwrap();
        ds.save(b.path()).unwrap();
        for f in [TENSOR_FILE, META_FILE] {
            assert_eq!(
                std::fs::read(a.path().join(f)).unwrap(),
                std::fs::read(b.path().join(f)).unwrap(),
                "{f}"
            );
        }
        assert_eq!(Dataset::load(a.path()).unwrap(), ds);
        assert_eq!(ds.image(1), &[6, 7, 8, 9, 10, 11]);
    }

    #[test]
    fn load_rejects_labels_out_of_range_and_shape_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let ds = tiny();
        ds.save(dir.path()).unwrap();
        // Claim fewer classes in dataset.json than the labels use.
        let meta = std::fs::read_to_string(dir.path().join(META_FILE)).unwrap();
        std::fs::write(
            dir.path().join(META_FILE),
            meta.replace("\"classes\": 3", "\"classes\": 2").replace(",\n    \"c\"", ""),
        )
        .unwrap();
        let err = format!("{:#}", Dataset::load(dir.path()).unwrap_err());
        assert!(err.contains("label 2, outside 0..2"), "{err}");
        // Claim a different image count than the tensors hold.
        ds.save(dir.path()).unwrap();
        std::fs::write(dir.path().join(META_FILE), meta.replace("\"n\": 4", "\"n\": 5")).unwrap();
        let err = format!("{:#}", Dataset::load(dir.path()).unwrap_err());
        assert!(err.contains("has shape [4, 1, 2, 3]"), "{err}");
    }

    #[test]
    fn validate_rejects_wrong_pixel_count_and_channels() {
        let mut ds = tiny();
        ds.images.pop();
        assert!(ds.validate().is_err());
        let mut ds = tiny();
        ds.channels = 2;
        ds.images = vec![0; 48];
        assert!(ds.validate().is_err());
    }
}
