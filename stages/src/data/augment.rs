//! The training augmentation a profile asks for (`augment:` of `pretrain` and `finetune`): plain
//! values, turned into a transform by `training::transform`.

use serde::{Deserialize, Serialize};

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
