//! Data for the study: the in-memory dataset and its tensor file (`dataset`), procedural
//! source and target sets for the offline profiles (`procedural`, drawn with `raster`),
//! batches with the authors' train and test transforms (`transform`), and the authors'
//! subset rule with seeded batch order (`subset`). Every random choice comes from a named,
//! seeded stream (`rng`).

use crate::fingerprint::{sources, Sources};

pub mod augment;
pub mod dataset;
pub mod procedural;
pub mod raster;
pub mod rng;
pub mod subset;
pub mod transform;

pub use dataset::Dataset;
pub use procedural::{cue_conflict, generate, home_texture, Kind, Split};
pub use rng::derived_rng;
pub use subset::{epoch_batches, epoch_order, make_mask, seeds};
pub use transform::{test_batch, TrainTransform};

/// The files of training batches: the dataset, the authors' transforms and augmentations, the
/// subset rule with its batch order, and their seeded streams; named once for the fingerprints
/// of the stages that train.
pub const TRAINING: Sources = sources![
    "data/mod.rs",
    "data/augment.rs",
    "data/dataset.rs",
    "data/rng.rs",
    "data/subset.rs",
    "data/transform.rs",
];
