//! A profile's `probe:` block: the manipulation checks of its sources (the `probe` stage), which
//! measure on the source side, without any transfer, what the paper's mechanism says robust
//! training changes. A typed field of the profile.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSettings {
    /// Standard deviation in pixels (at the source data's native size) of the Gaussian that
    /// low-passes the source test images; the high-pass images are the residual.
    pub sigma: f64,
    /// Cue-conflict images (each class's shape in the other classes' home textures).
    pub conflict_images: usize,
}
