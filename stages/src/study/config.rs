//! The typed schema of `pipeline.yaml`. Every struct denies unknown fields (a profile's own keys
//! are checked by the loader, which knows the blocks), so a misspelt key is an error that names
//! the field, its line and the valid names. Value types that
//! stage code runs on are imported from the modules that own them; what is defined here is the
//! study's wiring: profiles, their sources and datasets, and the grid.

use crate::checkpoint::format::CheckpointFormat;
use crate::fetch::params::LocalCheckpoint;
use crate::fetch::params::{FileHash, Revision};
use crate::finetune::params::FinetuneSettings;
use crate::nn::options::NetworkSettings;
use crate::prepare::params::{LocalDataset, Procedural};
use crate::pretrain::params::PretrainSettings;
use crate::render::Statistics;
use crate::subset::params::SubsetSize;
use crate::threat::{Constraint, Epsilon};
use pipeline_engine::SlurmSettings;
use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

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

/// One profile. Its own fields are these; its optional blocks (`influence:`, `figure1:`,
/// `probe:`, …) are the study's blocks' (`study/block.rs`), parsed apart into [`Blocks`]. Serde
/// passes over a key it does not know here, so the loader refuses a key that is neither a
/// field ([`profile_fields`]) nor a block's.
#[derive(Debug, Clone, Deserialize)]
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
    /// Which evaluation of each cell the accuracy reports use (default: the paper's).
    #[serde(default, deserialize_with = "block")]
    pub statistics: Option<Statistics>,
    /// How `--executor slurm` runs the profile on a cluster: never what it computes, so no
    /// node's parameters hold it.
    #[serde(default, deserialize_with = "block")]
    pub slurm: Option<SlurmSettings>,
    /// The profile's optional blocks, by key (filled by the loader).
    #[serde(skip)]
    pub blocks: Blocks,
}

/// A profile's optional blocks by key, each its block's settings type.
#[derive(Clone, Default)]
pub struct Blocks(BTreeMap<&'static str, Arc<dyn Any + Send + Sync>>);

impl Blocks {
    pub fn get(&self, key: &str) -> Option<&(dyn Any + Send + Sync)> {
        self.0.get(key).map(|b| &**b)
    }
    pub fn insert(&mut self, key: &'static str, settings: Arc<dyn Any + Send + Sync>) {
        self.0.insert(key, settings);
    }
}

impl fmt::Debug for Blocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// The names of [`Profile`]'s own fields, as its derived `Deserialize` asks for them.
pub fn profile_fields() -> &'static [&'static str] {
    fields::<Profile>()
}

/// The field names struct `T`'s derived `Deserialize` passes to `deserialize_struct`.
fn fields<T: DeserializeOwned>() -> &'static [&'static str] {
    /// A deserializer that only listens for the field names.
    struct Fields<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Fields<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("fields read"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Fields(&mut fields));
    fields
}

/// The error of a block's key with no value.
pub const EMPTY_BLOCK: &str = "the block is empty; see the mini profile for its fields";

/// A profile's optional block: absent is `None`, but a key with no value is an error (at its
/// place in the file), since it is more likely a block left unfinished than one meant away.
fn block<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    match Option::<T>::deserialize(d)? {
        Some(block) => Ok(Some(block)),
        None => Err(serde::de::Error::custom(EMPTY_BLOCK)),
    }
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

/// Where a source model comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceOrigin {
    /// Trained here by the `pretrain` stage on the profile's source data.
    Pretrain,
    /// The same network as the pre-trained sources start from (the `pretrain` section's seed,
    /// initialisation and input normaliser), trained not at all: the floor that shows what
    /// pre-training adds.
    Scratch,
    /// A checkpoint on the Hugging Face hub (the source's `hub` settings).
    Hub,
    /// A checkpoint file on this machine (the source's `local` settings).
    Local,
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// Subset size of the accuracy-per-epoch figure (figure 3); default: the smallest.
    #[serde(default)]
    pub figure3_size: Option<usize>,
}
