//! The trained network in a `pretrain` artifact, for `finetune` to start from: its weights
//! (torchvision names) and its shape.

use crate::nn::{self, NetConfig, Network};
use anyhow::{Context, Result};
use candle_core::DType;
use std::path::Path;

/// The weights (torchvision names) of a trained source.
pub const MODEL: &str = "model.safetensors";
/// The network's shape, to rebuild it for fine-tuning.
pub const NETWORK: &str = "network.json";

/// Rebuild a trained source from its artifact directory.
pub fn load(artifact: &Path) -> Result<Network> {
    let path = artifact.join(NETWORK);
    let config: NetConfig = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))?;
    Network::load(config, &artifact.join(MODEL), DType::F32, &nn::device()?)
}
