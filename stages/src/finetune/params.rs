//! The parameters of a `finetune` node: written by the study's expansion (`study/expand.rs`), read
//! by the stage. Everything that can change the node's output is here (so it enters the key),
//! and nothing else.

use crate::checkpoint::format::CheckpointFormat;

use crate::data::augment::Augment;
use crate::nn::options::NetworkSettings;
use crate::nn::options::{FcInit, FrozenBn, Precision};
use serde::{Deserialize, Serialize};

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
    pub network: NetworkSettings,
    pub epochs: usize,
    pub eval_every: usize,
    /// 0-based epochs at which the learning rate is divided by 10.
    pub lr_decay: Vec<usize>,
    pub train: FinetuneSettings,
    /// Keep the fine-tuned network (`model.safetensors`, `network.json`, as a `pretrain`
    /// artifact holds them): set only on the cells a later stage reads the weights of (the
    /// influence study), so the grid stores 2 networks, not thousands. Left out of the
    /// parameters when false, so the other cells' keys do not depend on the field.
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep_model: bool,
}

fn is_false(b: &bool) -> bool {
    !b
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
    /// The convolutions' arithmetic: `fp32` (the default, left out of the key), `tf32` or
    /// `bf16` ([`Precision`]).
    #[serde(default, skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
}
