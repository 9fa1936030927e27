//! One cell of the fine-tuning grid: which source is fine-tuned on which dataset, at which subset
//! size, how many blocks deep, with which seed. The one cell type: the expansion names its node
//! with [`Cell::id`], the aggregate lists the expected cells, and `metrics.json` carries it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cell {
    pub source: String,
    pub dataset: String,
    /// `100` or `all`.
    pub size_label: String,
    /// Bottleneck blocks fine-tuned (with `fc`).
    pub blocks: u32,
    pub seed: u64,
}

impl Cell {
    /// The cell's node id: `finetune/l2_eps3/cifar10/n1600/b3/s20100000`.
    pub fn id(&self) -> String {
        format!(
            "finetune/{}/{}/n{}/b{}/s{}",
            self.source, self.dataset, self.size_label, self.blocks, self.seed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_ids_are_made_of_parameter_values() {
        let c = Cell {
            source: "l2_eps3".into(),
            dataset: "cifar10".into(),
            size_label: "1600".into(),
            blocks: 3,
            seed: 20_100_000,
        };
        assert_eq!(c.id(), "finetune/l2_eps3/cifar10/n1600/b3/s20100000");
    }
}
