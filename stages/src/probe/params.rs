//! The parameters of a `probe` node: everything that can change its `probe.json`.

use crate::finetune::params::SourceFormat;
use crate::nn::options::NetworkSettings;
use crate::prepare::params::Procedural;
use serde::{Deserialize, Serialize};

/// `probe`: the manipulation checks of one source model on its own source set; inputs `source`
/// (the model) and `data` (the prepared source set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeParams {
    pub source: String,
    pub source_format: SourceFormat,
    pub network: NetworkSettings,
    /// The source set, whose generator draws the cue-conflict images.
    pub data: Procedural,
    /// The Gaussian's standard deviation in pixels.
    pub sigma: f64,
    pub conflict_images: usize,
    pub batch: usize,
}
