//! The typed schema of `pipeline.yaml`. Every struct denies unknown fields, so a misspelt key is
//! an error that names the field, its line and the valid names.

pub use crate::nn::options::{FcInit, FrozenBn, Stem};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyFile {
    /// The profile `pipeline` uses when `--profile` is not given.
    pub default_profile: String,
    /// The project's shared artifact cache: a place, not a computation, so no profile's.
    #[serde(default)]
    pub remote: Option<pipeline_engine::RemoteSettings>,
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub description: String,
    /// True only where sources and targets are the paper's own (reports then show the paper's
    /// numbers beside ours).
    #[serde(default)]
    pub comparable_to_paper: bool,
    pub network: NetworkSettings,
    /// Source models, in the order reports show them.
    pub sources: Vec<Source>,
    /// Target datasets, in the order reports show them.
    pub datasets: Vec<DatasetSettings>,
    /// How sources with `origin: pretrain` are trained here.
    #[serde(default)]
    pub pretrain: Option<PretrainSettings>,
    pub finetune: FinetuneSettings,
    pub grid: Grid,
    #[serde(default)]
    pub reports: ReportSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSettings {
    /// Base planes of the ResNet-50 layout (64 is the real ResNet-50).
    pub width: usize,
    pub stem: Stem,
    /// Input resolution images are up-scaled to (bilinear).
    pub resolution: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Identifier used in node ids and reports, e.g. `l2_eps3`.
    pub name: String,
    /// Human label for figures, e.g. `ℓ2 ε=3`.
    pub label: String,
    pub constraint: Constraint,
    #[serde(default)]
    pub epsilon: Epsilon,
    pub origin: SourceOrigin,
    /// The source's column in the paper's tables (`natural`, `l2_eps3`, `linf_eps4`,
    /// `linf_eps8`), where it is the paper's model.
    #[serde(default)]
    pub paper: Option<String>,
    /// Required when `origin: hub`: the pinned checkpoint.
    #[serde(default)]
    pub hub: Option<HubCheckpoint>,
    /// Required when `origin: local`: a checkpoint file on this machine.
    #[serde(default)]
    pub local: Option<LocalCheckpoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Constraint {
    None,
    L2,
    Linf,
}

/// A radius written as a number (`3`, `0.5`) or a fraction (`4/255`); the label keeps the text
/// and is what is serialised, so parameters round-trip.
#[derive(Debug, Clone, PartialEq)]
pub struct Epsilon {
    pub value: f64,
    pub label: String,
}

impl Default for Epsilon {
    fn default() -> Self {
        Epsilon { value: 0.0, label: "0".into() }
    }
}

impl Serialize for Epsilon {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.label)
    }
}

impl<'de> Deserialize<'de> for Epsilon {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        let parse = |text: &str| -> Option<f64> {
            match text.split_once('/') {
                Some((n, d)) => Some(n.trim().parse::<f64>().ok()? / d.trim().parse::<f64>().ok()?),
                None => text.trim().parse().ok(),
            }
        };
        let (value, label) = match Raw::deserialize(d)? {
            Raw::Number(v) => (v, format!("{v}")),
            Raw::Text(t) => match parse(&t) {
                Some(v) => (v, t),
                None => {
                    return Err(serde::de::Error::custom(format!(
                        "epsilon `{t}` is neither a number nor a fraction like 4/255"
                    )))
                }
            },
        };
        if !(value.is_finite() && value >= 0.0) {
            return Err(serde::de::Error::custom("epsilon must be a finite number ≥ 0"));
        }
        Ok(Epsilon { value, label })
    }
}

/// Where a source model comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceOrigin {
    /// Trained here by the `pretrain` stage on the profile's source data.
    Pretrain,
    /// A checkpoint on the Hugging Face hub (the source's `hub` settings).
    Hub,
    /// A checkpoint file on this machine (the source's `local` settings).
    Local,
}

/// A source checkpoint in a local file, its path relative to `pipeline.yaml`'s folder (or
/// absolute). Its content is hashed when the study is loaded and enters the keys, as a local
/// dataset's does: an edited file makes everything built from it stale.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalCheckpoint {
    pub path: std::path::PathBuf,
    pub format: CheckpointFormat,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubCheckpoint {
    pub repo: String,
    /// A commit hash, never a branch name (or `unpinned`, see [`Pin`]).
    pub revision: Revision,
    pub file: String,
    /// blake3 of the file's bytes; checked after download (or `unpinned`).
    pub blake3: FileHash,
    pub format: CheckpointFormat,
    /// Set when the checkpoint stands in for the paper's own (shown in reports).
    #[serde(default)]
    pub stand_in: Option<String>,
}

/// A pinned identifier of `LEN` lower-case hex digits, or `unpinned`: not looked up yet. An
/// unpinned file is fetched from the repository's `main` and verified against nothing; the
/// `fetch` stage records what it resolved (`pin.json`) and `pipeline pin` writes it here. Anything else (a branch or tag such as `main`, a short hash) is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin<const LEN: usize> {
    Hex(String),
    Unpinned,
}

/// A commit hash (40 hex digits) or `unpinned`.
pub type Revision = Pin<40>;
/// A blake3 hash of a file's bytes (64 hex digits) or `unpinned`.
pub type FileHash = Pin<64>;

/// The word that marks a value as not pinned yet.
pub const UNPINNED: &str = "unpinned";

impl<const LEN: usize> Pin<LEN> {
    /// The text as written in `pipeline.yaml`: the hex digits or `unpinned`.
    pub fn as_str(&self) -> &str {
        match self {
            Pin::Hex(h) => h,
            Pin::Unpinned => UNPINNED,
        }
    }

    pub fn is_unpinned(&self) -> bool {
        *self == Pin::Unpinned
    }
}

impl<const LEN: usize> Serialize for Pin<LEN> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de, const LEN: usize> Deserialize<'de> for Pin<LEN> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == UNPINNED {
            return Ok(Pin::Unpinned);
        }
        if text.len() == LEN
            && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Ok(Pin::Hex(text));
        }
        let what = match LEN {
            40 => {
                "a revision must be a full commit hash (40 lower-case hex digits); branches and \
                   tags move, so they cannot pin a file"
            }
            _ => "a content hash must be a blake3 hash (64 lower-case hex digits)",
        };
        Err(serde::de::Error::custom(format!(
            "`{text}`: {what}. Write `{UNPINNED}` to fetch from `main` unverified; `pipeline \
             pin` then writes here what was fetched"
        )))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointFormat {
    /// MadryLab `robustness` checkpoint: `{"model": state dict with `module.model.` prefixes}`.
    Madrylab,
    /// torchvision-layout weights (safetensors or a `.pth`).
    Torchvision,
}

/// A target dataset: exactly one of `procedural`, `hub` and `local` says where its images come
/// from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSettings {
    /// Identifier used in node ids, e.g. `cifar10`.
    pub name: String,
    /// Display name, e.g. `CIFAR-10`.
    pub label: String,
    /// The dataset's name in the paper's tables (`CIFAR-10`), where it is the paper's dataset.
    #[serde(default)]
    pub paper: Option<String>,
    /// Generated by the `prepare` stage from a seed.
    #[serde(default)]
    pub procedural: Option<Procedural>,
    /// Parquet files of a Hugging Face dataset repository.
    #[serde(default)]
    pub hub: Option<HubDataset>,
    /// Files on this machine.
    #[serde(default)]
    pub local: Option<LocalDataset>,
}

/// Where a dataset's images come from (see [`Dataset::origin`]).
pub enum DataOrigin<'a> {
    Procedural(&'a Procedural),
    Hub(&'a HubDataset),
    Local(&'a LocalDataset),
}

impl DatasetSettings {
    /// The dataset's origin; `None` unless exactly one of `procedural`, `hub` and `local` is given.
    pub fn origin(&self) -> Option<DataOrigin<'_>> {
        match (&self.procedural, &self.hub, &self.local) {
            (Some(p), None, None) => Some(DataOrigin::Procedural(p)),
            (None, Some(h), None) => Some(DataOrigin::Hub(h)),
            (None, None, Some(l)) => Some(DataOrigin::Local(l)),
            _ => None,
        }
    }
}

/// A dataset in local files. Paths are relative to `pipeline.yaml`'s folder (or absolute); each
/// split is one path or a list. Their content is hashed when the study is loaded and enters the
/// `prepare` node's key, so editing a file rebuilds what depends on it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalDataset {
    pub format: LocalFormat,
    #[serde(deserialize_with = "one_or_many")]
    pub train: Vec<std::path::PathBuf>,
    #[serde(deserialize_with = "one_or_many")]
    pub test: Vec<std::path::PathBuf>,
    pub classes: usize,
}

/// The layouts of [`LocalDataset`] files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalFormat {
    /// MNIST-style IDX: an images file (`idx3-ubyte`, magic 0x803) and a labels file
    /// (`idx1-ubyte`, magic 0x801), told apart by their headers; plain or gzip-compressed
    /// (`*-idx3-ubyte.gz`, as MNIST, Fashion-MNIST and KMNIST are distributed).
    Idx,
    /// CIFAR binary batches (files, folders of `.bin` files, or the `.tar.gz` archives they are
    /// distributed in): records of a label byte and 3072 planar RGB bytes; with `classes: 100`,
    /// CIFAR-100's coarse and fine label bytes (the fine label is used).
    Cifar,
    /// A folder of class folders of PNG images; classes in sorted folder-name order.
    Folder,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<std::path::PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(std::path::PathBuf),
        Many(Vec<std::path::PathBuf>),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::One(p) => vec![p],
        Raw::Many(v) => v,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Procedural {
    /// Which generator: `source`, `cifar10`, `cifar100`, `svhn`, `mnist`, `fmnist`, `kmnist`.
    pub generator: String,
    /// Class count (only the `source` generator lets it vary).
    #[serde(default)]
    pub classes: Option<usize>,
    pub train: usize,
    pub test: usize,
    /// Side of the generated images in pixels.
    pub native_size: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubDataset {
    pub repo: String,
    pub revision: Revision,
    pub train_file: String,
    pub train_blake3: FileHash,
    pub test_file: String,
    pub test_blake3: FileHash,
    pub image_column: String,
    pub label_column: String,
    pub classes: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainSettings {
    /// The source data the sources are trained on (the stand-in for ImageNet).
    pub data: Procedural,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// 0-based epochs at which the learning rate is divided by 10.
    pub lr_decay: Vec<usize>,
    pub seed: u64,
    /// PGD used for adversarial training (paper section 3).
    pub pgd: PgdSettings,
    /// Attacks every source is evaluated under (the mini Table 3).
    pub attacks: Vec<Attack>,
    pub augment: Augment,
    /// Start every bottleneck as the identity (zero last BatchNorm scale), which keeps
    /// training from scratch stable in narrow networks.
    #[serde(default)]
    pub zero_init_residual: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgdSettings {
    pub steps: usize,
    /// Step size is step_factor·ε/steps; the paper has 1.5 < c < 4.
    pub step_factor: f64,
    #[serde(default)]
    pub random_start: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attack {
    pub constraint: Constraint,
    pub epsilon: Epsilon,
    pub steps: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneSettings {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub batch: usize,
    /// Batch size for test-set evaluation (no effect on results other than speed).
    pub eval_batch: usize,
    /// Frozen BatchNorm layers: `train` (the default, the authors' code: batch statistics,
    /// running statistics keep updating) or `eval`.
    #[serde(default)]
    pub frozen_bn: FrozenBn,
    /// New fc layer's initialisation: `normal1` (the default, N(0,1) as in the authors' code)
    /// or `pytorch_default`.
    #[serde(default)]
    pub fc_init: FcInit,
    pub augment: Augment,
}

/// Training augmentation (the authors' transform, scaled to the profile's resolution).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Augment {
    /// Zero padding before the random crop, in pixels at the network resolution.
    pub pad: usize,
    pub flip: bool,
    /// ColorJitter strength for brightness, contrast and saturation.
    pub jitter: f64,
    /// Maximum rotation in degrees (±).
    pub rotation: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    /// Names from `sources` to fine-tune from.
    pub sources: Vec<String>,
    /// Names from `datasets` to fine-tune on.
    pub datasets: Vec<String>,
    /// Fine-tuning depths: the last k bottleneck blocks plus a new fc (0, 1, 3, 9).
    pub blocks: Vec<usize>,
    /// One row per training-subset size (the paper's Table 2, scaled).
    pub schedule: Vec<ScheduleRow>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRow {
    pub size: SubsetSize,
    pub epochs: usize,
    pub seeds: usize,
    pub eval_every: usize,
    /// 0-based epochs at which the learning rate is divided by 10.
    pub lr_decay: Vec<usize>,
}

/// A training-subset size: a number of images, or `all` of the training split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SubsetSize {
    Images(usize),
    All,
}

impl<'de> Deserialize<'de> for SubsetSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(usize),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(0) => Err(serde::de::Error::custom("subset size must be at least 1")),
            Raw::Number(n) => Ok(SubsetSize::Images(n)),
            Raw::Text(t) if t == "all" => Ok(SubsetSize::All),
            Raw::Text(t) => Err(serde::de::Error::custom(format!(
                "subset size `{t}`: expected a number of images or `all`"
            ))),
        }
    }
}

impl SubsetSize {
    /// The label used in ids and reports: `100` or `all`.
    pub fn label(&self) -> String {
        match self {
            SubsetSize::Images(n) => n.to_string(),
            SubsetSize::All => "all".into(),
        }
    }
}

/// Sort key of a subset-size label: its number, with `all` (the full training set) last.
pub fn size_order(label: &str) -> anyhow::Result<u64> {
    if label == "all" {
        return Ok(u64::MAX);
    }
    anyhow::Context::with_context(label.parse(), || {
        format!("subset size label `{label}` is neither a number nor `all`")
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// Subset size of the accuracy-per-epoch figure (figure 3); default: the smallest.
    #[serde(default)]
    pub figure3_size: Option<usize>,
}
