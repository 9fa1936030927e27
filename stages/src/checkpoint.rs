//! Loading a fetched source checkpoint into the ResNet-50-layout [`Network`].
//!
//! Two layouts ([`CheckpointFormat`]):
//! * `madrylab`: a zip-format `torch.save` of `{"model": state dict, …}` as MadryLab's
//!   `robustness` library writes it. The network's tensors are `module.model.<torchvision name>`;
//!   the input normaliser is `module.normalizer.new_mean` / `new_std` (shape [3, 1, 1]);
//!   `module.attacker.model.*` repeats the model for the library's attacker and is ignored
//!   knowingly (each must repeat a `module.model.` key).
//! * `torchvision`: bare torchvision names, in safetensors or a zip-format `.pth`; the inputs
//!   are normalised with ImageNet's mean and std, as torchvision's models expect.
//!
//! Every key is accounted for: network tensors are copied (through
//! [`Network::from_varbuilder`]), BatchNorm `num_batches_tracked` counters and the attacker's
//! duplicates are ignored, and anything else is listed as unused in the [`LoadReport`]. A
//! network tensor the checkpoint lacks, or one of another shape, is an error naming it.

use crate::nn::resnet::tensor_specs;
use crate::nn::{NetConfig, Network, Normalizer, Stem};
use crate::study::config::CheckpointFormat;
use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// MadryLab's prefix of the model's own tensors.
const MADRYLAB_MODEL: &str = "module.model";
/// MadryLab's prefix of the attacker's copy of the model.
const MADRYLAB_ATTACKER: &str = "module.attacker.model.";
/// MadryLab's input normaliser.
const MADRYLAB_MEAN: &str = "module.normalizer.new_mean";
const MADRYLAB_STD: &str = "module.normalizer.new_std";
/// BatchNorm's batch counter (unused: the network's BatchNorm momentum is fixed).
const COUNTER: &str = ".num_batches_tracked";

/// How the checkpoint's keys were used.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// Network tensors copied.
    pub copied: usize,
    /// Keys read for the input normaliser.
    pub normalizer_keys: usize,
    /// `module.attacker.model.*` duplicates ignored.
    pub attacker_duplicates: usize,
    /// `num_batches_tracked` counters ignored.
    pub counters: usize,
    /// Every other key, sorted.
    pub unused: Vec<String>,
    pub normalizer: Normalizer,
}

impl LoadReport {
    /// One paragraph for a node's log.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "checkpoint: {} network tensors copied, {} normaliser keys read (mean {:?}, std {:?}), \
             {} attacker duplicates and {} num_batches_tracked counters ignored, {} unused",
            self.copied,
            self.normalizer_keys,
            self.normalizer.mean,
            self.normalizer.std,
            self.attacker_duplicates,
            self.counters,
            self.unused.len()
        );
        if !self.unused.is_empty() {
            s.push_str(&format!(": {}", self.unused.join(", ")));
        }
        s
    }
}

/// A checkpoint's tensor shapes by key, and a reader of its tensors.
struct Contents {
    shapes: BTreeMap<String, Vec<usize>>,
    vb: VarBuilder<'static>,
}

/// Whether `path` is a zip archive (a PyTorch checkpoint) rather than safetensors.
fn is_zip(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 4];
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let n = f.read(&mut magic).with_context(|| format!("reading {}", path.display()))?;
    Ok(n == 4 && magic == *b"PK\x03\x04")
}

impl Contents {
    /// A zip-format PyTorch checkpoint; `key` selects the state dict inside a top-level dict.
    fn pth(path: &Path, key: Option<&str>, device: &Device) -> Result<Contents> {
        let pth = candle_core::pickle::PthTensors::new(path, key).with_context(|| {
            format!(
                "reading the PyTorch checkpoint {}{}",
                path.display(),
                key.map(|k| format!(" (state dict `{k}`)")).unwrap_or_default()
            )
        })?;
        let shapes = pth
            .tensor_infos()
            .iter()
            .map(|(k, info)| (k.clone(), info.layout.dims().to_vec()))
            .collect();
        Ok(Contents {
            shapes,
            vb: VarBuilder::from_backend(Box::new(pth), DType::F32, device.clone()),
        })
    }

    fn safetensors(path: &Path, device: &Device) -> Result<Contents> {
        let tensors = candle_core::safetensors::load(path, device)
            .with_context(|| format!("reading safetensors file {}", path.display()))?;
        let shapes = tensors.iter().map(|(k, t)| (k.clone(), t.dims().to_vec())).collect();
        Ok(Contents { shapes, vb: VarBuilder::from_tensors(tensors, DType::F32, device) })
    }

    fn shape(&self, key: &str) -> Result<&[usize]> {
        self.shapes.get(key).map(Vec::as_slice).with_context(|| {
            format!(
                "the checkpoint has no tensor `{key}` ({} keys, e.g. {})",
                self.shapes.len(),
                self.examples()
            )
        })
    }

    fn examples(&self) -> String {
        self.shapes.keys().take(3).cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Loads `path` in `format` as a network of base width `width` with `stem`; `fc` keeps the
/// checkpoint's classifier (its rows are the class count).
pub fn load(
    path: &Path,
    format: CheckpointFormat,
    width: usize,
    stem: Stem,
    device: &Device,
) -> Result<(Network, LoadReport)> {
    let zip = is_zip(path)?;
    let (contents, prefix) = match format {
        CheckpointFormat::Madrylab => {
            ensure!(
                zip,
                "{} is not a zip-format PyTorch checkpoint. MadryLab checkpoints must be saved by \
                 torch ≥ 1.6 (legacy pickles cannot be read here); re-save it with \
                 torch.save(torch.load(old), new)",
                path.display()
            );
            (Contents::pth(path, Some("model"), device)?, format!("{MADRYLAB_MODEL}."))
        }
        CheckpointFormat::Torchvision if zip => (Contents::pth(path, None, device)?, String::new()),
        CheckpointFormat::Torchvision => (Contents::safetensors(path, device)?, String::new()),
    };
    let context = || format!("loading {} as a {format:?} checkpoint", path.display());
    let classes =
        *contents.shape(&format!("{prefix}fc.weight")).with_context(context)?.first().unwrap_or(&0);
    let mut config = NetConfig { width, stem, classes, normalizer: None };

    // Every network tensor must be there, with the network's shape.
    let mut problems = Vec::new();
    let specs = tensor_specs(&config);
    for spec in &specs {
        let key = format!("{prefix}{}", spec.name);
        match contents.shapes.get(&key) {
            None => problems.push(format!("`{key}` is missing")),
            Some(shape) if *shape != spec.shape => problems
                .push(format!("`{key}` has shape {shape:?}, the network needs {:?}", spec.shape)),
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        bail!(
            "{}: {} of the network's {} tensors do not fit (a ResNet-50 layout of width {width} with \
             the {stem:?} stem and {classes} classes, keys prefixed `{prefix}`): {}",
            context(),
            problems.len(),
            specs.len(),
            problems.join("; ")
        );
    }

    let (normalizer, normalizer_keys) = match format {
        CheckpointFormat::Madrylab => {
            let channel = |key: &str| -> Result<[f32; 3]> {
                contents.shape(key)?;
                let v = contents.vb.get((3, 1, 1), key)?.flatten_all()?.to_vec1::<f32>()?;
                Ok([v[0], v[1], v[2]])
            };
            let n = Normalizer { mean: channel(MADRYLAB_MEAN)?, std: channel(MADRYLAB_STD)? };
            ensure!(
                n.std.iter().all(|&s| s > 0.0),
                "{}: normaliser std {:?} is not positive",
                context(),
                n.std
            );
            (n, 2)
        }
        CheckpointFormat::Torchvision => (Normalizer::IMAGENET, 0),
    };
    config.normalizer = Some(normalizer);
    let network = match prefix.strip_suffix('.') {
        Some(p) => Network::from_varbuilder(config, &contents.vb.pp(p)),
        None => Network::from_varbuilder(config, &contents.vb),
    }
    .with_context(context)?;

    // Account for every other key.
    let used: std::collections::BTreeSet<String> =
        specs.iter().map(|s| format!("{prefix}{}", s.name)).collect();
    let mut report = LoadReport {
        copied: used.len(),
        normalizer_keys,
        attacker_duplicates: 0,
        counters: 0,
        unused: Vec::new(),
        normalizer,
    };
    for key in contents.shapes.keys() {
        let is_normalizer =
            format == CheckpointFormat::Madrylab && (key == MADRYLAB_MEAN || key == MADRYLAB_STD);
        if used.contains(key) || is_normalizer {
            continue;
        }
        let duplicate = format == CheckpointFormat::Madrylab
            && key
                .strip_prefix(MADRYLAB_ATTACKER)
                .is_some_and(|rest| contents.shapes.contains_key(&format!("{prefix}{rest}")));
        if duplicate {
            report.attacker_duplicates += 1;
        } else if key.starts_with(&prefix) && key.ends_with(COUNTER) {
            report.counters += 1;
        } else {
            report.unused.push(key.clone());
        }
    }
    Ok((network, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_neither_zip_nor_safetensors_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("legacy.ckpt");
        std::fs::write(&p, b"\x80\x02legacy pickle").unwrap();
        let err = format!(
            "{:#}",
            load(&p, CheckpointFormat::Madrylab, 2, Stem::ImageNet, &Device::Cpu).err().unwrap()
        );
        assert!(err.contains("not a zip-format PyTorch checkpoint"), "{err}");
        let err = format!(
            "{:#}",
            load(&p, CheckpointFormat::Torchvision, 2, Stem::ImageNet, &Device::Cpu).err().unwrap()
        );
        assert!(err.contains("reading safetensors file"), "{err}");
    }
}
