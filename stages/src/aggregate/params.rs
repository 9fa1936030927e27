//! The parameters of an `aggregate` node: the grid it expects and how its sources are shown.
//! Written by the study's wiring, read by the stage.

use crate::finetune::cell::Cell;
use crate::threat::Constraint;
use serde::{Deserialize, Serialize};

/// A source model, in display order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    pub name: String,
    pub constraint: Constraint,
    /// Radius of the adversary's ball (0 for natural training); orders the l-inf comparisons.
    pub epsilon: f64,
    /// Never trained (`origin: scratch`): the floor the others are compared with, not a natural
    /// source.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub untrained: bool,
}

/// Parameters of the `aggregate` node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateParams {
    /// Sources in display order.
    pub sources: Vec<SourceSpec>,
    /// Target dataset names in display order.
    pub datasets: Vec<String>,
    /// The full grid; cells absent from the inputs are reported as missing.
    pub expected: Vec<Cell>,
}
