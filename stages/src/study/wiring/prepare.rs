//! The `prepare` nodes a profile needs: one per target dataset of the grid (with the `fetch`
//! nodes of a hub dataset), and the source data when a source is pre-trained here.

use super::{grid_datasets, node};
use crate::prepare::params::PrepareParams;
use crate::prepare::Prepare;
use crate::pretrain::params::PretrainSettings;
use crate::study::config::{DataOrigin, Profile};
use pipeline_engine::{Input, Node};
use std::collections::BTreeMap;

/// The id of the node that prepares the profile's source (pre-training) data.
pub const SOURCE_DATA: &str = "prepare/_source";

/// `prepare/<dataset>`.
pub fn id(dataset: &str) -> String {
    format!("prepare/{dataset}")
}

/// The target datasets' nodes. `local` holds the parameters of the profile's local datasets by
/// name (their files hashed by [`crate::prepare::local::resolve`]).
pub fn targets(profile: &Profile, local: &BTreeMap<String, PrepareParams>) -> Vec<Node> {
    let mut nodes = Vec::new();
    for d in grid_datasets(profile) {
        match d.origin().expect("validated: one origin") {
            DataOrigin::Procedural(p) => nodes.push(node::<Prepare>(
                id(&d.name),
                &PrepareParams::Procedural(p.clone()),
                vec![],
            )),
            DataOrigin::Hub(h) => {
                let mut inputs = vec![];
                for (split, file, blake3) in [
                    ("train", &h.train_file, &h.train_blake3),
                    ("test", &h.test_file, &h.test_blake3),
                ] {
                    let fetch = super::fetch::dataset_file(&d.name, split, h, file, blake3);
                    inputs.push(Input::new(split, &fetch.id));
                    nodes.push(fetch);
                }
                let params = PrepareParams::Parquet {
                    image_column: h.image_column.clone(),
                    label_column: h.label_column.clone(),
                    classes: h.classes,
                };
                nodes.push(node::<Prepare>(id(&d.name), &params, inputs));
            }
            DataOrigin::Local(_) => {
                let params = local.get(&d.name).expect("resolved: every local dataset of the grid");
                nodes.push(node::<Prepare>(id(&d.name), params, vec![]));
            }
        }
    }
    nodes
}

/// The source data that pre-training reads ([`SOURCE_DATA`]).
pub fn source_data(train: &PretrainSettings) -> Node {
    node::<Prepare>(SOURCE_DATA.into(), &PrepareParams::Procedural(train.data.clone()), vec![])
}
