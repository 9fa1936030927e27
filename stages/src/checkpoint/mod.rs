//! Loading a source checkpoint into the ResNet-50-layout [`Network`].
//!
//! Two layouts ([`CheckpointFormat`]):
//! * `madrylab`: a `torch.save` of `{"model": state dict, …}` as MadryLab's `robustness`
//!   library writes it. The network's tensors are `module.model.<torchvision name>`; the input
//!   normaliser is `module.normalizer.new_mean` / `new_std` (shape [3, 1, 1]);
//!   `module.attacker.model.*` repeats the model for the library's attacker and is ignored
//!   knowingly (each must repeat a `module.model.` key). The rest of the object (optimizer,
//!   schedule, arguments) is never interpreted.
//! * `torchvision`: bare torchvision names, in safetensors or a `.pth`; the inputs are
//!   normalised with ImageNet's mean and std, as torchvision's models expect.
//!
//! Either layout may be in either of `torch.save`'s containers, told apart by the file's first
//! bytes, never its name ([`Container`]): the zip format (torch ≥ 1.6, read by candle) or the
//! legacy one (`legacy.rs`, on the project's own pickle reader `pickle.rs`).
//!
//! Every key is accounted for: network tensors are copied (through
//! [`Network::from_varbuilder`]), BatchNorm `num_batches_tracked` counters and the attacker's
//! duplicates are ignored, and anything else is listed as unused in the [`LoadReport`]. A
//! network tensor the checkpoint lacks, or one of another shape, is an error naming it.

pub mod format;
mod legacy;
mod pickle;

use crate::checkpoint::format::CheckpointFormat;
use crate::fingerprint::{sources, Sources};
use crate::nn::resnet::tensor_specs;
use crate::nn::{NetConfig, Network, Normalizer, Stem};
use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// MadryLab's prefix of the model's own tensors.
/// The files of loading a checkpoint (with `nn::NETWORK`, the network it loads into), named
/// once for the fingerprints of the stages that load one.
pub const LOADING: Sources = sources![
    "checkpoint/mod.rs",
    "checkpoint/format.rs",
    "checkpoint/legacy.rs",
    "checkpoint/pickle.rs",
];

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

/// The container a checkpoint file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    /// `torch.save`'s zip format (torch ≥ 1.6).
    Zip,
    /// `torch.save`'s legacy format: pickles, then raw storages.
    Legacy,
    /// A safetensors file (or anything else: the safetensors reader says what is wrong).
    Other,
}

impl Container {
    /// Told from the file's first bytes.
    fn of(path: &Path) -> Result<Container> {
        let mut first = Vec::with_capacity(legacy::PREFIX_LEN);
        let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        f.take(legacy::PREFIX_LEN as u64)
            .read_to_end(&mut first)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(match first.as_slice() {
            [b'P', b'K', 3, 4, ..] => Container::Zip,
            b if legacy::looks_legacy(b) => Container::Legacy,
            _ => Container::Other,
        })
    }
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

    /// A legacy-format PyTorch checkpoint; `key` selects the state dict inside a top-level dict.
    fn legacy(path: &Path, key: Option<&str>, device: &Device) -> Result<Contents> {
        let context = || {
            format!(
                "reading the legacy PyTorch checkpoint {}{}",
                path.display(),
                key.map(|k| format!(" (state dict `{k}`)")).unwrap_or_default()
            )
        };
        let raw = legacy::read(path).and_then(|l| l.state_dict(key)).with_context(context)?;
        let mut shapes = BTreeMap::new();
        let mut tensors = std::collections::HashMap::new();
        for (name, t) in raw {
            // Integer and boolean tensors other than i64 and u8 are never network tensors: only
            // their shapes are needed, to account for them.
            let dtype = match t.dtype {
                legacy::Dtype::F64 => Some(DType::F64),
                legacy::Dtype::F32 => Some(DType::F32),
                legacy::Dtype::F16 => Some(DType::F16),
                legacy::Dtype::BF16 => Some(DType::BF16),
                legacy::Dtype::I64 => Some(DType::I64),
                legacy::Dtype::U8 => Some(DType::U8),
                _ => None,
            };
            if let Some(dtype) = dtype {
                let tensor = candle_core::Tensor::from_raw_buffer(&t.data, dtype, &t.shape, device)
                    .with_context(|| format!("`{name}` as a tensor"))
                    .with_context(context)?;
                tensors.insert(name.clone(), tensor);
            }
            shapes.insert(name, t.shape);
        }
        Ok(Contents { shapes, vb: VarBuilder::from_tensors(tensors, DType::F32, device) })
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
    let container = Container::of(path)?;
    let (key, prefix) = match format {
        CheckpointFormat::Madrylab => (Some("model"), format!("{MADRYLAB_MODEL}.")),
        CheckpointFormat::Torchvision => (None, String::new()),
    };
    let contents = match (container, format) {
        (Container::Zip, _) => Contents::pth(path, key, device)?,
        (Container::Legacy, _) => Contents::legacy(path, key, device)?,
        (Container::Other, CheckpointFormat::Torchvision) => Contents::safetensors(path, device)?,
        (Container::Other, CheckpointFormat::Madrylab) => bail!(
            "{} is not a PyTorch checkpoint: its first bytes are neither a zip archive's \
             (torch ≥ 1.6) nor the legacy format's (a pickle of torch's magic number)",
            path.display()
        ),
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
    fn the_container_is_told_by_the_first_bytes_and_unknown_ones_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("model.pth");
        let err = |format| {
            format!("{:#}", load(&p, format, 2, Stem::ImageNet, &Device::Cpu).err().unwrap())
        };
        std::fs::write(&p, b"\x00\x01not a checkpoint").unwrap();
        assert_eq!(Container::of(&p).unwrap(), Container::Other);
        assert!(err(CheckpointFormat::Madrylab).contains("is not a PyTorch checkpoint"));
        assert!(err(CheckpointFormat::Torchvision).contains("reading safetensors file"));
        // A pickle, but not torch's: the magic number is missing.
        std::fs::write(&p, b"\x80\x02K\x05.").unwrap();
        assert_eq!(Container::of(&p).unwrap(), Container::Other);
        let e = err(CheckpointFormat::Madrylab);
        assert!(e.contains("is not a PyTorch checkpoint") && e.contains("magic number"), "{e}");
        // torch's prefix: PROTO 2, LONG1 of 10 bytes, the magic number.
        let mut prefix = vec![0x80, 0x02, 0x8a, 0x0a];
        prefix.extend(legacy::MAGIC);
        std::fs::write(&p, &prefix).unwrap();
        assert_eq!(Container::of(&p).unwrap(), Container::Legacy);
        std::fs::write(&p, b"PK\x03\x04").unwrap();
        assert_eq!(Container::of(&p).unwrap(), Container::Zip);
    }

    #[test]
    fn a_safetensors_file_whose_header_length_starts_like_a_pickle_is_read_as_safetensors() {
        // A header of 128 bytes: the file's first byte is 0x80, as a pickle's is.
        let header = r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
        let mut bytes = 128u64.to_le_bytes().to_vec();
        bytes.extend(format!("{header:<128}").as_bytes());
        bytes.extend(2.5f32.to_le_bytes());
        assert_eq!(bytes[0], 0x80);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("model.safetensors");
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(Container::of(&p).unwrap(), Container::Other);
        let contents = Contents::safetensors(&p, &Device::Cpu).unwrap();
        assert_eq!(contents.shape("w").unwrap(), &[1]);
    }
}
