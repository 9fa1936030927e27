//! The parameters of a `prepare` node: written by the study's expansion (`study/expand.rs`), read
//! by the stage. Everything that can change the node's output is here (so it enters the key),
//! and nothing else.

use serde::{Deserialize, Deserializer, Serialize};

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Procedural {
    /// Which generator: `source`, `cifar10`, `cifar100`, `svhn`, `mnist`, `fmnist`, `kmnist`.
    pub generator: String,
    /// Class count (only the `source` generator lets it vary).
    #[serde(default)]
    pub classes: Option<usize>,
    pub train: usize,
    pub test: usize,
    /// Side of the generated images in pixels.
    pub native_size: usize,
    pub seed: u64,
}

/// A dataset in local files. Paths are relative to `pipeline.yaml`'s folder (or absolute); each
/// split is one path or a list. Their content is hashed when the study is loaded and enters the
/// `prepare` node's key, so editing a file rebuilds what depends on it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalDataset {
    pub format: LocalFormat,
    #[serde(deserialize_with = "one_or_many")]
    pub train: Vec<std::path::PathBuf>,
    #[serde(deserialize_with = "one_or_many")]
    pub test: Vec<std::path::PathBuf>,
    pub classes: usize,
}

/// The layouts of [`LocalDataset`] files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalFormat {
    /// MNIST-style IDX: an images file (`idx3-ubyte`, magic 0x803) and a labels file
    /// (`idx1-ubyte`, magic 0x801), told apart by their headers; plain or gzip-compressed
    /// (`*-idx3-ubyte.gz`, as MNIST, Fashion-MNIST and KMNIST are distributed).
    Idx,
    /// CIFAR binary batches (files, folders of `.bin` files, or the `.tar.gz` archives they are
    /// distributed in): records of a label byte and 3072 planar RGB bytes; with `classes: 100`,
    /// CIFAR-100's coarse and fine label bytes (the fine label is used).
    Cifar,
    /// A folder of class folders of PNG images; classes in sorted folder-name order.
    Folder,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<std::path::PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(std::path::PathBuf),
        Many(Vec<std::path::PathBuf>),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::One(p) => vec![p],
        Raw::Many(v) => v,
    })
}
