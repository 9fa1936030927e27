//! The parameters of a `prepare` node: written by the study's expansion (`study/expand.rs`), read
//! by the stage. Everything that can change the node's output is here (so it enters the key),
//! and nothing else.

use crate::study::config::{LocalFormat, Procedural};
use serde::{Deserialize, Serialize};

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
