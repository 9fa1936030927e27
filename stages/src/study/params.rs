//! The parameters of each stage's nodes: written by the study's expansion, read by the stages.
//! Everything that can change a node's output is here (so it enters the node's key), and nothing
//! else (so cosmetic edits do not invalidate work).

use super::config::{
    CheckpointFormat, Constraint, Epsilon, FileHash, Finetune, LocalFormat, Network, Pretrain,
    Procedural, Revision,
};
use serde::{Deserialize, Serialize};

/// `fetch`: one file of a hub repository at a pinned revision (or, unpinned, at `main`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchParams {
    pub repo: String,
    pub repo_type: RepoType,
    pub revision: Revision,
    pub file: String,
    pub blake3: FileHash,
}

impl FetchParams {
    /// Whether the revision or the content hash is not pinned yet.
    pub fn is_unpinned(&self) -> bool {
        self.revision.is_unpinned() || self.blake3.is_unpinned()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoType {
    Model,
    Dataset,
}

/// `prepare`: one dataset's train and test splits as tensor files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum PrepareParams {
    /// Generated from a seed; no inputs.
    Procedural(Procedural),
    /// Decoded from the Parquet files of inputs `train` and `test`.
    Parquet { image_column: String, label_column: String, classes: usize },
    /// Decoded from local files; no inputs.
    Local { format: LocalFormat, train: LocalFiles, test: LocalFiles, classes: usize },
}

/// One split's local files: absolute paths, and the blake3 digest of their content taken when
/// the study was loaded (what makes an edited file change the node's key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalFiles {
    pub paths: Vec<std::path::PathBuf>,
    pub blake3: String,
}

/// `subset`: the training indices of one (dataset, size, seed); input `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsetParams {
    /// Number of images; `None` takes the whole training split.
    pub size: Option<usize>,
    pub seed: u64,
}

/// `pretrain`: one source model trained here (naturally, or adversarially with PGD); input `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainParams {
    pub source: String,
    pub constraint: Constraint,
    pub epsilon: Epsilon,
    pub network: Network,
    pub train: Pretrain,
}

/// How a `finetune` node finds its source model in its `source` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// A `pretrain` artifact (`model.safetensors` with the network's own names).
    Pretrained,
    /// A fetched checkpoint in the given layout.
    Checkpoint(CheckpointFormat),
}

/// `finetune`: one cell of the grid; inputs `source`, `data`, `subset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneParams {
    pub source: String,
    pub source_format: SourceFormat,
    pub dataset: String,
    pub size_label: String,
    pub blocks: usize,
    pub seed: u64,
    pub network: Network,
    pub epochs: usize,
    pub eval_every: usize,
    /// 0-based epochs at which the learning rate is divided by 10.
    pub lr_decay: Vec<usize>,
    pub train: Finetune,
}
