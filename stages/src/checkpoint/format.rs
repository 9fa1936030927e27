//! The layouts a source checkpoint can be in, as `pipeline.yaml` names them: a plain value that
//! the fetch, finetune and visualise stages pass along without reaching the loader.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointFormat {
    /// MadryLab `robustness` checkpoint: `{"model": state dict with `module.model.` prefixes}`.
    Madrylab,
    /// torchvision-layout weights (safetensors or a `.pth`).
    Torchvision,
}
