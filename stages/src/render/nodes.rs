//! The `render` nodes: one per report of [`REPORTS`], publishing into the profile's reports
//! folder, and the index.

use super::{DatasetLabel, IndexEntry, RenderParams, Report, SourceLabel};
use crate::aggregate;
use crate::study::config::Profile;
use crate::study::expand::{grid_datasets, grid_sources, node};
use pipeline_engine::{Input, Node, Publish};

/// The reports: `(name, description)`; each is one `render` node.
pub const REPORTS: [(Report, &str); 7] = [
    (Report::Table5, "Final test accuracy after fine-tuning 3 blocks, per target dataset and subset size, for each source (mean ± 95% CI over seeds)."),
    (Report::Table3, "Each source model's accuracy on its own test data, clean and under PGD attack."),
    (Report::Figure2, "Accuracy against training-subset size per dataset (3 blocks), and robust − natural with its 95% CI."),
    (Report::Figure3, "Accuracy against fine-tuning epoch at one subset size (3 blocks)."),
    (Report::Figure4, "Effect of fine-tuning 0/1/3/9 blocks (ℓ2 source and natural), and the 3 − 1 blocks delta."),
    (Report::Figure5, "Constraint comparisons: ℓ∞ small − large ε, and ℓ2 − each ℓ∞ (3 blocks)."),
    (Report::Figure10, "As Figure 4, for the other robust sources."),
];

/// The render nodes of profile `name`, publishing into the folder `reports` (relative to the
/// project root); `pretrained` lists the `pretrain` node of each source trained here.
pub fn nodes(name: &str, profile: &Profile, reports: &str, pretrained: &[&Node]) -> Vec<Node> {
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
        reports: vec![],
    };
    let mut nodes = Vec::new();
    let mut index_entries = Vec::new();
    for (report, description) in REPORTS {
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
                vec![Input::new("aggregate", aggregate::nodes::DEPTHS)]
            }
            _ => vec![Input::new("aggregate", aggregate::nodes::MAIN)],
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
