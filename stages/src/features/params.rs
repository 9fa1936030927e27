//! The parameters of a `features` node (written by `features/nodes.rs`, read by the stage).

use serde::{Deserialize, Serialize};

/// `features`: the penultimate features of one fine-tuned cell; inputs `model` (a `finetune`
/// cell that kept its network), `data` (its dataset) and `subset` (its training images).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesParams {
    pub source: String,
    pub dataset: String,
    pub size_label: String,
    pub blocks: usize,
    pub seed: u64,
    /// Input resolution of the network (images are resized to it, no augmentation).
    pub resolution: usize,
    /// Images per forward pass (memory only: the features do not depend on it).
    pub batch: usize,
}
