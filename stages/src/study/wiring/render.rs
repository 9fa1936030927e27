//! The `render` nodes: one per report of the grid ([`REPORTS`]) and of each block the profile
//! has (the reports its kinds own), publishing into the profile's reports folder, and the index.

use super::{grid_datasets, grid_sources, node};
use crate::data::Kind;
use crate::fetch::params::{Pin, Revision};
use crate::nn::options::Stem;
use crate::render::reports::{INDEX, REPORTS};
use crate::render::row::{Reads, ReportRow, Told};
use crate::render::{DatasetLabel, IndexEntry, RenderParams, ScheduleEntry, SourceLabel};
use crate::render::{Render, Statistics};
use crate::study::block::SourceModel;
use crate::study::block::Wired;
use crate::study::config::{DataOrigin, Profile, SourceOrigin};
use pipeline_engine::{Input, Node, Publish};

/// How the captions describe an `origin: scratch` source.
const UNTRAINED: &str = "untrained (the same initial weights, no pre-training: the floor)";

/// What of the grid the reports read.
pub struct Grid<'a> {
    /// Each report's statistic.
    pub statistics: &'a Statistics,
    /// The `pretrain` node of each source trained here.
    pub pretrained: &'a [&'a Node],
    /// The grid's source models.
    pub sources: &'a [SourceModel],
}

/// The render nodes of profile `name`, one per row of [`REPORTS`] and of the reports of each of
/// `blocks` (those the profile has), publishing into the folder `reports` (relative to the
/// project root), and the index.
pub fn nodes(
    name: &str,
    profile: &Profile,
    grid: &Grid,
    blocks: &[&dyn Wired],
    reports: &str,
) -> Vec<Node> {
    let base = RenderParams {
        report: INDEX.name.to_string(),
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
                untrained: s.origin == SourceOrigin::Scratch,
            })
            .collect(),
        datasets: grid_datasets(profile)
            .map(|d| DatasetLabel {
                name: d.name.clone(),
                label: d.label.clone(),
                paper: d.paper.clone(),
                classes: match d.origin() {
                    Some(DataOrigin::Procedural(p)) => {
                        Kind::parse(&p.generator, p.classes).ok().map(Kind::classes)
                    }
                    Some(DataOrigin::Hub(h)) => Some(h.classes),
                    Some(DataOrigin::Local(l)) => Some(l.classes),
                    None => None,
                },
            })
            .collect(),
        subset_size: None,
        statistic: None,
        reports: vec![],
        origins: origins(profile),
        finetune: None,
        schedule: vec![],
        blocks: vec![],
        block: None,
    };
    let mut nodes = Vec::new();
    let mut index_entries = Vec::new();
    let owned = blocks.iter().flat_map(|b| b.reports().rows);
    for row in REPORTS.iter().chain(owned) {
        let mut params = RenderParams { report: row.name.to_string(), ..base.clone() };
        for told in row.told {
            tell(&mut params, *told, profile);
        }
        params.statistic = row.statistic.map(|of| of(grid.statistics));
        let mut inputs = inputs(row.reads, profile, grid.pretrained);
        for block in blocks {
            inputs.extend(block.report(profile, grid.sources, row, &mut params));
        }
        nodes.push(published(
            node::<Render>(format!("render/{}", row.name), &params, inputs),
            row,
            reports,
        ));
        index_entries.push(IndexEntry {
            path: row.files[0].to_string(),
            description: row.description.to_string(),
        });
    }
    let params = RenderParams { reports: index_entries, ..base };
    nodes.push(published(
        node::<Render>(format!("render/{}", INDEX.name), &params, vec![]),
        &INDEX,
        reports,
    ));
    nodes
}

/// Node `n`, drawing `row`, with its files published under `reports`.
fn published(mut n: Node, row: &ReportRow, reports: &str) -> Node {
    n.publish = row.files.iter().map(|f| Publish::new(*f, format!("{reports}/{f}"))).collect();
    n
}

/// `params` told `what` of the profile.
fn tell(params: &mut RenderParams, what: Told, profile: &Profile) {
    match what {
        Told::Finetune => params.finetune = Some(profile.finetune.clone()),
        Told::Blocks => params.blocks = profile.grid.blocks.clone(),
        Told::Schedule => {
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
                .collect()
        }
        Told::SubsetSize => {
            let smallest = profile.grid.schedule.iter().map(|r| r.size).min().map(|s| s.label());
            params.subset_size = profile.reports.figure3_size.map(|n| n.to_string()).or(smallest)
        }
    }
}

/// The inputs of a report that reads `reads` of the grid.
fn inputs(reads: Reads, profile: &Profile, pretrained: &[&Node]) -> Vec<Input> {
    match reads {
        Reads::Aggregate => vec![Input::new("aggregate", super::aggregate::MAIN)],
        Reads::Depths => vec![Input::new("aggregate", super::aggregate::DEPTHS)],
        Reads::Sources => pretrained
            .iter()
            .map(|n| Input::new(format!("source:{}", n.id.trim_start_matches("pretrain/")), &n.id))
            .collect(),
        Reads::Datasets => grid_datasets(profile)
            .map(|d| Input::optional(format!("dataset:{}", d.name), super::prepare::id(&d.name)))
            .collect(),
        Reads::Nothing => vec![],
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
            (SourceOrigin::Scratch, _) => format!("{}: {UNTRAINED}", s.label),
            _ => "pre-trained here".to_string(),
        })
        .collect();
    let here = |s: &String| s == "pre-trained here" || s.ends_with(UNTRAINED);
    let sources = if sources.iter().all(here) {
        let untrained: Vec<&str> =
            sources.iter().filter_map(|s| s.strip_suffix(UNTRAINED)?.strip_suffix(": ")).collect();
        match untrained.as_slice() {
            [] => "sources pre-trained here on procedural images".to_string(),
            labels => format!(
                "sources pre-trained here on procedural images, and {} {UNTRAINED}",
                labels.join(", ")
            ),
        }
    } else {
        format!("sources: {}", sources.join(", "))
    };
    let n = &profile.network;
    let stem = match n.stem {
        Stem::ImageNet => "ImageNet stem",
        Stem::Small => "small stem",
        Stem::Strided => "strided stem",
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
        assert!(mini[2].contains("width 4") && mini[2].contains("32×32"), "{mini:?}");
        assert!(mini[1].contains("Scratch untrained"), "{mini:?}");
        let paper = origins("paper");
        assert!(
            paper[0].starts_with("data from ") && paper[0].contains("hub dataset `"),
            "{paper:?}"
        );
        assert!(paper[1].contains("hub model `"), "{paper:?}");
        assert!(paper[2].contains("the real ResNet-50 at 224×224"), "{paper:?}");
    }
}
