//! The `fetch` nodes a profile needs: one per file of a hub dataset, one per hub checkpoint.

use super::params::{FetchParams, RepoType};
use crate::study::config::{FileHash, HubCheckpoint, HubDataset, Source};
use crate::study::expand::node;
use pipeline_engine::Node;

/// `fetch/<dataset>/<split>`: one split's Parquet file of a hub dataset.
pub fn dataset_file(
    dataset: &str,
    split: &str,
    hub: &HubDataset,
    file: &str,
    blake3: &FileHash,
) -> Node {
    let params = FetchParams {
        repo: hub.repo.clone(),
        repo_type: RepoType::Dataset,
        revision: hub.revision.clone(),
        file: file.to_string(),
        blake3: blake3.clone(),
    };
    node(format!("fetch/{dataset}/{split}"), "fetch", &params, vec![])
}

/// `fetch/source/<source>`: a source model's checkpoint.
pub fn checkpoint(source: &Source, hub: &HubCheckpoint) -> Node {
    let params = FetchParams {
        repo: hub.repo.clone(),
        repo_type: RepoType::Model,
        revision: hub.revision.clone(),
        file: hub.file.clone(),
        blake3: hub.blake3.clone(),
    };
    node(format!("fetch/source/{}", source.name), "fetch", &params, vec![])
}
