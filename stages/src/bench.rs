//! `pipeline bench`: fine-tuning throughput of the mini network and of a full ResNet-50.

/// Which networks to time and how.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// `mini`, `resnet50` or `all`.
    pub network: String,
    pub batch: usize,
    pub iterations: usize,
}

pub fn run(opts: &BenchOptions) -> anyhow::Result<()> {
    let _ = opts;
    unimplemented!("bench is being written")
}
