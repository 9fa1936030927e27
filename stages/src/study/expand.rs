//! Expands one profile of the study into the DAG's nodes. Ids are derived from parameter values
//! (`finetune/l2_eps3/cifar10/n1600/b3/s20100000`), never from list positions, so adding a seed
//! or a dataset leaves every other id and key alone. Subsets do not depend on the source, so every
//! source is fine-tuned on the same subsets (paired comparisons).

use super::config::{DataOrigin, DatasetSettings, Profile, Source, SourceOrigin, SubsetSize};
use crate::aggregate::{AggregateParams, SourceSpec};
use crate::data::seeds;
use crate::fetch::params::{FetchParams, RepoType};
use crate::finetune::cell::Cell;
use crate::finetune::params::{FinetuneParams, SourceFormat};
use crate::prepare::params::PrepareParams;
use crate::pretrain::params::PretrainParams;
use crate::render::{DatasetLabel, IndexEntry, RenderParams, Report, SourceLabel};
use crate::subset::params::SubsetParams;
use pipeline_engine::{Input, Node, Publish};
use serde::Serialize;
use std::collections::BTreeMap;

/// The id of the node that prepares the profile's source (pre-training) data.
pub const SOURCE_DATA: &str = "prepare/_source";

fn node(id: String, kind: &str, params: &impl Serialize, inputs: Vec<Input>) -> Node {
    Node {
        id,
        kind: kind.into(),
        params: serde_json::to_value(params).expect("parameters serialise"),
        inputs,
        publish: vec![],
    }
}

/// The fetch, prepare, pretrain, subset and fine-tune nodes of `profile`, and its cells in
/// grid order (sources × datasets × sizes × blocks × seeds). Assumes a validated profile.
/// `local` holds the `prepare` parameters of the profile's local datasets by name (their files
/// hashed by [`crate::prepare::local::resolve`]).
pub fn science_nodes(
    profile: &Profile,
    local: &BTreeMap<String, PrepareParams>,
) -> (Vec<Node>, Vec<Cell>) {
    let mut nodes = Vec::new();

    // Target data: generated here, or fetched Parquet decoded by `prepare`.
    for d in &profile.datasets {
        if !profile.grid.datasets.contains(&d.name) {
            continue;
        }
        match d.origin().expect("validated: one origin") {
            DataOrigin::Procedural(p) => nodes.push(node(
                format!("prepare/{}", d.name),
                "prepare",
                &PrepareParams::Procedural(p.clone()),
                vec![],
            )),
            DataOrigin::Hub(h) => {
                let mut inputs = vec![];
                for (split, file, blake3) in [
                    ("train", &h.train_file, &h.train_blake3),
                    ("test", &h.test_file, &h.test_blake3),
                ] {
                    let id = format!("fetch/{}/{split}", d.name);
                    let params = FetchParams {
                        repo: h.repo.clone(),
                        repo_type: RepoType::Dataset,
                        revision: h.revision.clone(),
                        file: file.clone(),
                        blake3: blake3.clone(),
                    };
                    nodes.push(node(id.clone(), "fetch", &params, vec![]));
                    inputs.push(Input::new(split, id));
                }
                let params = PrepareParams::Parquet {
                    image_column: h.image_column.clone(),
                    label_column: h.label_column.clone(),
                    classes: h.classes,
                };
                nodes.push(node(format!("prepare/{}", d.name), "prepare", &params, inputs));
            }
            DataOrigin::Local(_) => {
                let params = local.get(&d.name).expect("resolved: every local dataset of the grid");
                nodes.push(node(format!("prepare/{}", d.name), "prepare", params, vec![]));
            }
        }
    }

    // Source models: trained here, or fetched checkpoints.
    let mut source_inputs = Vec::new();
    let grid_sources = profile.sources.iter().filter(|s| profile.grid.sources.contains(&s.name));
    for s in grid_sources {
        match &s.origin {
            SourceOrigin::Pretrain => {
                let train = profile.pretrain.clone().expect("validated: pretrain settings exist");
                if !nodes.iter().any(|n| n.id == SOURCE_DATA) {
                    let data = PrepareParams::Procedural(train.data.clone());
                    nodes.push(node(SOURCE_DATA.into(), "prepare", &data, vec![]));
                }
                let id = format!("pretrain/{}", s.name);
                let params = PretrainParams {
                    source: s.name.clone(),
                    constraint: s.constraint,
                    epsilon: s.epsilon.clone(),
                    network: profile.network.clone(),
                    train,
                };
                nodes.push(node(
                    id.clone(),
                    "pretrain",
                    &params,
                    vec![Input::new("data", SOURCE_DATA)],
                ));
                source_inputs.push((s.name.clone(), id, SourceFormat::Pretrained));
            }
            SourceOrigin::Hub => {
                let h = s.hub.as_ref().expect("validated: hub settings exist");
                let id = format!("fetch/source/{}", s.name);
                let params = FetchParams {
                    repo: h.repo.clone(),
                    repo_type: RepoType::Model,
                    revision: h.revision.clone(),
                    file: h.file.clone(),
                    blake3: h.blake3.clone(),
                };
                nodes.push(node(id.clone(), "fetch", &params, vec![]));
                source_inputs.push((s.name.clone(), id, SourceFormat::Checkpoint(h.format)));
            }
        }
    }

    // Subsets, shared by every source and depth; then one fine-tuning node per cell.
    let mut cells = Vec::new();
    let datasets = profile.datasets.iter().filter(|d| profile.grid.datasets.contains(&d.name));
    for d in datasets {
        let data_id = format!("prepare/{}", d.name);
        for row in &profile.grid.schedule {
            let size_label = row.size.label();
            for seed in seeds(row.seeds) {
                let subset_id = format!("subset/{}/n{size_label}/s{seed}", d.name);
                let size = match row.size {
                    SubsetSize::Images(n) => Some(n),
                    SubsetSize::All => None,
                };
                let params = SubsetParams { size, seed };
                nodes.push(node(subset_id, "subset", &params, vec![Input::new("data", &data_id)]));
            }
        }
    }
    for (source, source_id, source_format) in &source_inputs {
        for d in profile.datasets.iter().filter(|d| profile.grid.datasets.contains(&d.name)) {
            for row in &profile.grid.schedule {
                for &blocks in &profile.grid.blocks {
                    for seed in seeds(row.seeds) {
                        let cell = Cell {
                            source: source.clone(),
                            dataset: d.name.clone(),
                            size_label: row.size.label(),
                            blocks: blocks as u32,
                            seed,
                        };
                        let params = FinetuneParams {
                            source: source.clone(),
                            source_format: *source_format,
                            dataset: d.name.clone(),
                            size_label: cell.size_label.clone(),
                            blocks,
                            seed,
                            network: profile.network.clone(),
                            epochs: row.epochs,
                            eval_every: row.eval_every,
                            lr_decay: row.lr_decay.clone(),
                            train: profile.finetune.clone(),
                        };
                        let inputs = vec![
                            Input::new("source", source_id),
                            Input::new("data", format!("prepare/{}", d.name)),
                            Input::new(
                                "subset",
                                format!("subset/{}/n{}/s{seed}", d.name, cell.size_label),
                            ),
                        ];
                        nodes.push(node(cell.id(), "finetune", &params, inputs));
                        cells.push(cell);
                    }
                }
            }
        }
    }
    (nodes, cells)
}

/// The reports: `(name, description)`; each is one `render` node publishing into the profile's
/// reports folder.
pub const REPORTS: [(Report, &str); 7] = [
    (Report::Table5, "Final test accuracy after fine-tuning 3 blocks, per target dataset and subset size, for each source (mean ± 95% CI over seeds)."),
    (Report::Table3, "Each source model's accuracy on its own test data, clean and under PGD attack."),
    (Report::Figure2, "Accuracy against training-subset size per dataset (3 blocks), and robust − natural with its 95% CI."),
    (Report::Figure3, "Accuracy against fine-tuning epoch at one subset size (3 blocks)."),
    (Report::Figure4, "Effect of fine-tuning 0/1/3/9 blocks (ℓ2 source and natural), and the 3 − 1 blocks delta."),
    (Report::Figure5, "Constraint comparisons: ℓ∞ small − large ε, and ℓ2 − each ℓ∞ (3 blocks)."),
    (Report::Figure10, "As Figure 4, for the other robust sources."),
];

/// The aggregate of the 3-block cells (Table 5, Figures 2, 3, 5).
pub const AGGREGATE_MAIN: &str = "aggregate/blocks3";
/// The aggregate of every depth (Figures 4, 10).
pub const AGGREGATE_DEPTH: &str = "aggregate/depths";

/// The aggregate and render nodes of `profile`, given its cells and science nodes; the reports
/// publish into the folder `reports` (relative to the project root).
pub fn report_nodes(
    name: &str,
    profile: &Profile,
    reports: &str,
    cells: &[Cell],
    science: &[Node],
) -> Vec<Node> {
    let grid_sources: Vec<&Source> =
        profile.sources.iter().filter(|s| profile.grid.sources.contains(&s.name)).collect();
    let grid_datasets: Vec<&DatasetSettings> =
        profile.datasets.iter().filter(|d| profile.grid.datasets.contains(&d.name)).collect();
    let aggregate = |id: &str, keep: &dyn Fn(&Cell) -> bool| {
        let cells: Vec<&Cell> = cells.iter().filter(|c| keep(c)).collect();
        let params = AggregateParams {
            sources: grid_sources
                .iter()
                .map(|s| SourceSpec {
                    name: s.name.clone(),
                    constraint: s.constraint,
                    epsilon: s.epsilon.value,
                })
                .collect(),
            datasets: grid_datasets.iter().map(|d| d.name.clone()).collect(),
            expected: cells.iter().map(|&c| c.clone()).collect(),
        };
        // Optional: a failed cell is a gap the reports mark, not a reason to render nothing.
        let inputs = cells.iter().map(|c| Input::optional(c.id(), c.id())).collect();
        node(id.into(), "aggregate", &params, inputs)
    };
    let mut nodes =
        vec![aggregate(AGGREGATE_MAIN, &|c| c.blocks == 3), aggregate(AGGREGATE_DEPTH, &|_| true)];

    let smallest = profile.grid.schedule.iter().map(|r| r.size).min().map(|s| s.label());
    let base = RenderParams {
        report: Report::Index,
        profile: name.to_string(),
        comparable_to_paper: profile.comparable_to_paper,
        sources: grid_sources
            .iter()
            .map(|s| SourceLabel {
                name: s.name.clone(),
                label: s.label.clone(),
                constraint: s.constraint,
                paper: s.paper.clone(),
            })
            .collect(),
        datasets: grid_datasets
            .iter()
            .map(|d| DatasetLabel {
                name: d.name.clone(),
                label: d.label.clone(),
                paper: d.paper.clone(),
            })
            .collect(),
        subset_size: None,
        reports: vec![],
    };
    let mut index_entries = Vec::new();
    for (report, description) in REPORTS {
        let files = report.files();
        let mut params = RenderParams { report, ..base.clone() };
        let inputs = match report {
            Report::Table3 => science
                .iter()
                .filter(|n| n.kind == "pretrain")
                .map(|n| {
                    Input::new(format!("source:{}", n.id.trim_start_matches("pretrain/")), &n.id)
                })
                .collect(),
            Report::Figure4 | Report::Figure10 => vec![Input::new("aggregate", AGGREGATE_DEPTH)],
            _ => vec![Input::new("aggregate", AGGREGATE_MAIN)],
        };
        if report == Report::Figure3 {
            params.subset_size =
                profile.reports.figure3_size.map(|n| n.to_string()).or(smallest.clone());
        }
        let mut n = node(format!("render/{}", report.name()), "render", &params, inputs);
        n.publish = files.iter().map(|f| Publish::new(*f, format!("{reports}/{f}"))).collect();
        index_entries
            .push(IndexEntry { path: files[0].to_string(), description: description.to_string() });
        nodes.push(n);
    }
    let params = RenderParams { reports: index_entries, ..base };
    let mut index = node("render/index".into(), "render", &params, vec![]);
    let readme = Report::Index.files()[0];
    index.publish = vec![Publish::new(readme, format!("{reports}/{readme}"))];
    nodes.push(index);
    nodes
}
