//! A profile's `statistics:` block: which evaluation of each fine-tuning cell the accuracy
//! reports use. A typed field of the profile; without the block, the paper's
//! choices.

use serde::{Deserialize, Serialize};

/// Which of a cell's evaluations a report uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Statistic {
    /// The last evaluation epoch.
    Last,
    /// The evaluation with the highest test accuracy (the earliest among equals).
    Best,
}

impl Statistic {
    /// How captions say it.
    pub fn phrase(self) -> &'static str {
        match self {
            Statistic::Last => "at each run's last evaluation epoch",
            Statistic::Best => "at each run's best evaluation epoch (highest test accuracy)",
        }
    }
}

/// The statistic of each accuracy report. The defaults are the paper's: Table 5 and Figure 2
/// report the last epoch; the authors' notebooks drew the depth and constraint figures (4, 5,
/// 10) from each run's best epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Statistics {
    pub table5: Statistic,
    pub figure2: Statistic,
    pub figure4: Statistic,
    pub figure5: Statistic,
    pub figure10: Statistic,
}

impl Default for Statistics {
    fn default() -> Self {
        Statistics {
            table5: Statistic::Last,
            figure2: Statistic::Last,
            figure4: Statistic::Best,
            figure5: Statistic::Best,
            figure10: Statistic::Best,
        }
    }
}
