//! The `fetch` nodes a profile needs: one per file of a hub dataset, one per hub or local
//! checkpoint.

use super::node;
use crate::fetch::params::FileHash;
use crate::fetch::params::{FetchParams, HubFile, LocalFile, RepoType};
use crate::fetch::Fetch;
use crate::study::config::{HubCheckpoint, HubDataset, Source};
use pipeline_engine::Node;

/// `fetch/<dataset>/<split>`: one split's Parquet file of a hub dataset.
pub fn dataset_file(
    dataset: &str,
    split: &str,
    hub: &HubDataset,
    file: &str,
    blake3: &FileHash,
) -> Node {
    let params = FetchParams::Hub(HubFile {
        repo: hub.repo.clone(),
        repo_type: RepoType::Dataset,
        revision: hub.revision.clone(),
        file: file.to_string(),
        blake3: blake3.clone(),
    });
    node::<Fetch>(format!("fetch/{dataset}/{split}"), &params, vec![])
}

/// `fetch/source/<source>`: a source model's checkpoint.
pub fn checkpoint(source: &Source, hub: &HubCheckpoint) -> Node {
    let params = FetchParams::Hub(HubFile {
        repo: hub.repo.clone(),
        repo_type: RepoType::Model,
        revision: hub.revision.clone(),
        file: hub.file.clone(),
        blake3: hub.blake3.clone(),
    });
    node::<Fetch>(checkpoint_id(source), &params, vec![])
}

/// `fetch/source/<source>`: a source model's checkpoint from a local file (hashed on loading).
pub fn local_checkpoint(source: &Source, file: &LocalFile) -> Node {
    node::<Fetch>(checkpoint_id(source), &FetchParams::Local(file.clone()), vec![])
}

fn checkpoint_id(source: &Source) -> String {
    format!("fetch/source/{}", source.name)
}
