//! A source network as a stage reads it from its `source` input: a `pretrain` artifact, or a
//! fetched checkpoint in a known layout (read onto the compute device).

use crate::finetune::params::SourceFormat;
use crate::nn::options::NetworkSettings;
use crate::nn::{self, Network};
use anyhow::Result;
use std::path::Path;

/// The network in `input` as `format` says; a checkpoint's conversion summary goes to `log`.
pub fn load(
    input: &Path,
    format: SourceFormat,
    network: &NetworkSettings,
    log: &dyn Fn(&str),
) -> Result<Network> {
    match format {
        SourceFormat::Pretrained => crate::pretrain::model::load(input),
        SourceFormat::Checkpoint(format) => {
            let file = crate::fetch::fetched_file(input)?;
            let (net, report) = crate::checkpoint::load(
                &file,
                format,
                network.width,
                network.stem,
                &nn::device()?,
            )?;
            log(&format!("{}: {}", file.display(), report.summary()));
            Ok(net)
        }
    }
}
