//! The parameters of a `subset` node: written by the study's expansion (`study/expand.rs`), read
//! by the stage. Everything that can change the node's output is here (so it enters the key),
//! and nothing else.

use serde::{Deserialize, Deserializer, Serialize};

/// `subset`: the training indices of one (dataset, size, seed); input `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsetParams {
    /// Number of images; `None` takes the whole training split.
    pub size: Option<usize>,
    pub seed: u64,
}

/// A training-subset size: a number of images, or `all` of the training split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SubsetSize {
    Images(usize),
    All,
}

impl<'de> Deserialize<'de> for SubsetSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(usize),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(0) => Err(serde::de::Error::custom("subset size must be at least 1")),
            Raw::Number(n) => Ok(SubsetSize::Images(n)),
            Raw::Text(t) if t == "all" => Ok(SubsetSize::All),
            Raw::Text(t) => Err(serde::de::Error::custom(format!(
                "subset size `{t}`: expected a number of images or `all`"
            ))),
        }
    }
}

impl SubsetSize {
    /// The label used in ids and reports: `100` or `all`.
    pub fn label(&self) -> String {
        match self {
            SubsetSize::Images(n) => n.to_string(),
            SubsetSize::All => "all".into(),
        }
    }
}

/// Sort key of a subset-size label: its number, with `all` (the full training set) last.
pub fn size_order(label: &str) -> anyhow::Result<u64> {
    if label == "all" {
        return Ok(u64::MAX);
    }
    anyhow::Context::with_context(label.parse(), || {
        format!("subset size label `{label}` is neither a number nor `all`")
    })
}
