//! `source.json` in a `pretrain` artifact: the source's accuracy, clean and under attack, as
//! Table 3 reads it.

use crate::threat::Constraint;
use serde::{Deserialize, Serialize};

/// What the source reports about itself (read by Table 3).
pub const REPORT: &str = "source.json";

/// `source.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SourceReport {
    pub source: String,
    pub constraint: Constraint,
    pub epsilon: f64,
    pub epsilon_label: String,
    /// Accuracy (%) on the source test split.
    pub clean_accuracy: f64,
    pub attacks: Vec<AttackReport>,
    /// Set when the model stands in for the paper's own checkpoint.
    pub stand_in: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AttackReport {
    pub constraint: Constraint,
    pub epsilon: f64,
    pub epsilon_label: String,
    pub steps: usize,
    /// Accuracy (%) on the attacked source test split.
    pub accuracy: f64,
}
