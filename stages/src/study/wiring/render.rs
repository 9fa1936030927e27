//! The `render` nodes: one per report of [`REPORTS`], publishing into the profile's reports
//! folder, and the index.

use super::{grid_datasets, grid_sources, node};
use crate::fetch::params::{Pin, Revision};
use crate::influence::settings::InfluenceSettings;
use crate::nn::options::Stem;
use crate::render::{
    DatasetLabel, IndexEntry, InfluenceLabels, RenderParams, Report, ScheduleEntry, SourceLabel,
    Statistics,
};
use crate::study::config::{DataOrigin, Profile, SourceOrigin};
use crate::visualise::settings::Figure1Settings;

use crate::render::Render;
use pipeline_engine::{Input, Node, Publish};

/// The reports: `(name, description)`; each is one `render` node.
pub const REPORTS: [(Report, &str); 11] = [
    (Report::Table5, "Test accuracy after fine-tuning 3 blocks, per target dataset and subset size, for each source (mean ± 95% CI over seeds; each run's last or best evaluation, as the caption says)."),
    (Report::Table3, "Each source model's accuracy on its own test data, clean and under PGD attack."),
    (Report::Figure2, "Accuracy against training-subset size per dataset (3 blocks), and robust − natural with its 95% CI."),
    (Report::Figure3, "Accuracy against fine-tuning epoch at one subset size (3 blocks)."),
    (Report::Figure4, "Effect of fine-tuning 0/1/3/9 blocks (ℓ2 source and natural), and the 3 − 1 blocks delta."),
    (Report::Figure5, "Constraint comparisons: ℓ∞ small − large ε, and ℓ2 − each ℓ∞ (3 blocks)."),
    (Report::Figure10, "As Figure 4, for the other robust sources."),
    (Report::Table1, "The fine-tuning hyper-parameters this profile ran with."),
    (Report::Table2, "Epochs, seeds, evaluation and learning-rate decay per training-subset size."),
    (Report::Table4, "The target datasets as prepared: images, classes and colour, counted in the data."),
    (Report::Figure9, "The fine-tuning set-ups: which blocks of the network train at each depth."),
];

/// Figure 1, for a profile with a `figure1:` block.
pub const FIGURE1_REPORT: (Report, &str) = (
    Report::Figure1,
    "Feature visualisation: images that maximise coordinates of each model's representation, from the same seeds.",
);

/// The studies beside the grid that a profile may have, each with reports of its own.
#[derive(Clone, Copy)]
pub struct Studies<'a> {
    pub influence: Option<&'a InfluenceSettings>,
    pub figure1: Option<&'a Figure1Settings>,
}

/// The influence study's reports, for a profile with an `influence:` block.
pub const INFLUENCE_REPORTS: [(Report, &str); 4] = [
    (Report::Figure6, "One test image per class and the training image each model ranks most helpful to it."),
    (Report::Figure7, "The influence matrices (training and test rows, natural and robust) as heat maps grouped by class."),
    (Report::Figure8, "How often the k-th most helpful training image shares the row's class, k = 1…100."),
    (Report::Influence, "The influence study's headline numbers, the Hessian inverse used and the models' accuracies."),
];

/// The render nodes of profile `name`, publishing into the folder `reports` (relative to the
/// project root); `pretrained` lists the `pretrain` node of each source trained here. With an
/// influence study or a Figure 1, their reports too.
pub fn nodes(
    name: &str,
    profile: &Profile,
    studies: Studies,
    statistics: &Statistics,
    reports: &str,
    pretrained: &[&Node],
) -> Vec<Node> {
    let smallest = profile.grid.schedule.iter().map(|r| r.size).min().map(|s| s.label());
    let base = RenderParams {
        report: Report::Index,
        profile: name.to_string(),
        comparable_to_paper: profile.comparable_to_paper,
        sources: grid_sources(profile)
            .map(|s| SourceLabel {
                name: s.name.clone(),
                label: s.label.clone(),
                constraint: s.constraint,
                paper: s.paper.clone(),
                epsilon: s.epsilon.label.clone(),
                stand_in: s.hub.as_ref().and_then(|h| h.stand_in.clone()),
            })
            .collect(),
        datasets: grid_datasets(profile)
            .map(|d| DatasetLabel {
                name: d.name.clone(),
                label: d.label.clone(),
                paper: d.paper.clone(),
            })
            .collect(),
        subset_size: None,
        statistic: None,
        reports: vec![],
        origins: origins(profile),
        finetune: None,
        schedule: vec![],
        blocks: vec![],
        influence: None,
    };
    let mut nodes = Vec::new();
    let mut index_entries = Vec::new();
    let Studies { influence, figure1 } = studies;
    let studied = influence.map_or(&[][..], |_| &INFLUENCE_REPORTS[..]);
    let figure1_report = figure1.map(|_| FIGURE1_REPORT);
    for &(report, description) in REPORTS.iter().chain(studied).chain(figure1_report.iter()) {
        let files = report.files();
        let mut params = RenderParams { report, ..base.clone() };
        let inputs = match report {
            Report::Table3 => pretrained
                .iter()
                .map(|n| {
                    Input::new(format!("source:{}", n.id.trim_start_matches("pretrain/")), &n.id)
                })
                .collect(),
            Report::Figure4 | Report::Figure10 => {
                vec![Input::new("aggregate", super::aggregate::DEPTHS)]
            }
            Report::Table1 | Report::Table2 | Report::Figure9 => vec![],
            Report::Figure6 | Report::Figure7 | Report::Figure8 | Report::Influence => {
                let s = influence.expect("influence reports only with an influence study");
                let [natural, robust] = s.cells();
                let mut inputs = vec![
                    Input::new("natural", super::influence::id(&natural)),
                    Input::new("robust", super::influence::id(&robust)),
                ];
                if report == Report::Figure6 {
                    inputs.push(Input::new("data", super::prepare::id(&s.dataset)));
                }
                params.influence = Some(influence_labels(profile, s));
                inputs
            }
            Report::Figure1 => {
                let settings = figure1.expect("Figure 1 only with a figure1 block");
                let id = |s: &String| super::visualise::id(s);
                settings
                    .sources
                    .iter()
                    .map(|s| Input::new(format!("visualise:{s}"), id(s)))
                    .collect()
            }
            Report::Table4 => grid_datasets(profile)
                .map(|d| {
                    Input::optional(format!("dataset:{}", d.name), super::prepare::id(&d.name))
                })
                .collect(),
            _ => vec![Input::new("aggregate", super::aggregate::MAIN)],
        };
        match report {
            Report::Table1 => params.finetune = Some(profile.finetune.clone()),
            Report::Figure9 => params.blocks = profile.grid.blocks.clone(),
            Report::Table2 => {
                params.blocks = profile.grid.blocks.clone();
                params.schedule = profile
                    .grid
                    .schedule
                    .iter()
                    .map(|r| ScheduleEntry {
                        size: r.size.label(),
                        epochs: r.epochs,
                        seeds: r.seeds,
                        eval_every: r.eval_every,
                        lr_decay: r.lr_decay.clone(),
                    })
                    .collect();
            }
            _ => {}
        }
        params.statistic = match report {
            Report::Table5 => Some(statistics.table5),
            Report::Figure2 => Some(statistics.figure2),
            Report::Figure4 => Some(statistics.figure4),
            Report::Figure5 => Some(statistics.figure5),
            Report::Figure10 => Some(statistics.figure10),
            _ => None,
        };
        if report == Report::Figure3 {
            params.subset_size =
                profile.reports.figure3_size.map(|n| n.to_string()).or(smallest.clone());
        }
        let mut n = node::<Render>(format!("render/{}", report.name()), &params, inputs);
        n.publish = files.iter().map(|f| Publish::new(*f, format!("{reports}/{f}"))).collect();
        index_entries
            .push(IndexEntry { path: files[0].to_string(), description: description.to_string() });
        nodes.push(n);
    }
    let params = RenderParams { reports: index_entries, ..base };
    let mut index = node::<Render>("render/index".into(), &params, vec![]);
    let readme = Report::Index.files()[0];
    index.publish = vec![Publish::new(readme, format!("{reports}/{readme}"))];
    nodes.push(index);
    nodes
}

/// What the influence reports say about the study.
fn influence_labels(profile: &Profile, s: &InfluenceSettings) -> InfluenceLabels {
    let dataset = profile.datasets.iter().find(|d| d.name == s.dataset);
    let images = match s.size.label().as_str() {
        "all" => "all training images".to_string(),
        n => format!("{n} training images"),
    };
    InfluenceLabels {
        natural: s.natural.clone(),
        robust: s.robust.clone(),
        dataset: dataset.map_or(s.dataset.clone(), |d| d.label.clone()),
        cell: format!(
            "{images}, {} fine-tuned block{}, seed {}",
            s.blocks,
            if s.blocks == 1 { "" } else { "s" },
            s.seed
        ),
        figure6_seed: s.figure6_seed,
    }
}

/// Where the profile's data, sources and network come from, one clause each, for captions.
fn origins(profile: &Profile) -> Vec<String> {
    let at = |revision: &Revision| match revision {
        Pin::Hex(commit) => format!("at {}", &commit[..12.min(commit.len())]),
        Pin::Unpinned => "at `main` (unpinned)".to_string(),
    };
    let datasets: Vec<String> = grid_datasets(profile)
        .map(|d| match d.origin() {
            Some(DataOrigin::Procedural(_)) => "procedural".to_string(),
            Some(DataOrigin::Hub(h)) => {
                format!("{}: hub dataset `{}` {}", d.label, h.repo, at(&h.revision))
            }
            Some(DataOrigin::Local(_)) => format!("{}: local files", d.label),
            None => format!("{}: unknown", d.label),
        })
        .collect();
    let data = if datasets.iter().all(|d| d == "procedural") {
        "procedural data made by this project".to_string()
    } else {
        format!(
            "data from {}",
            datasets.join(", ").replace("procedural", "procedural (made by this project)")
        )
    };
    let sources: Vec<String> = grid_sources(profile)
        .map(|s| match (&s.origin, &s.hub) {
            (SourceOrigin::Hub, Some(h)) => {
                let stand_in = h
                    .stand_in
                    .as_ref()
                    .map(|why| format!(", a stand-in: {why}"))
                    .unwrap_or_default();
                format!("{}: hub model `{}` {}{stand_in}", s.label, h.repo, at(&h.revision))
            }
            (SourceOrigin::Local, _) => {
                let file = s.local.as_ref().map(|c| c.path.display().to_string());
                format!("{}: local checkpoint `{}`", s.label, file.unwrap_or_default())
            }
            _ => "pre-trained here".to_string(),
        })
        .collect();
    let sources = if sources.iter().all(|s| s == "pre-trained here") {
        "sources pre-trained here on procedural images".to_string()
    } else {
        format!("sources: {}", sources.join(", "))
    };
    let n = &profile.network;
    let stem = match n.stem {
        Stem::ImageNet => "ImageNet stem",
        Stem::Small => "small stem",
    };
    let network = match n.width {
        64 => format!("the real ResNet-50 at {0}×{0}, {stem}", n.resolution),
        w => format!(
            "a ResNet-50 layout of width {w} (64 is the real one) at {0}×{0}, {stem}",
            n.resolution
        ),
    };
    vec![data, sources, network]
}

#[cfg(test)]
mod tests {
    use crate::render::RenderParams;
    use std::path::Path;

    /// The caption clauses of profile `name` of the project's own `pipeline.yaml`.
    fn origins(name: &str) -> Vec<String> {
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipeline.yaml");
        let study = crate::study::load(&config, Some(name)).unwrap();
        let node = study.nodes.iter().find(|n| n.id == "render/table5").unwrap();
        serde_json::from_value::<RenderParams>(node.params.clone()).unwrap().origins
    }

    #[test]
    fn captions_name_the_origin_of_data_sources_and_network() {
        let mini = origins("mini");
        assert_eq!(mini[0], "procedural data made by this project");
        assert!(mini[2].contains("width 4") && mini[2].contains("16×16"), "{mini:?}");
        let paper = origins("paper");
        assert!(
            paper[0].starts_with("data from ") && paper[0].contains("hub dataset `"),
            "{paper:?}"
        );
        assert!(paper[1].contains("hub model `"), "{paper:?}");
        assert!(paper[2].contains("the real ResNet-50 at 224×224"), "{paper:?}");
    }
}
