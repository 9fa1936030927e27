//! The influence study's nodes for a profile with an `influence:` block: for the natural, the
//! robust and the floor source's cell, its features and its influence matrices under each
//! inverse. The cells themselves are the grid's `finetune` nodes, told to keep their networks
//! ([`Block::kept`]). The block must name a cell of the grid.

use crate::study::block::SourceModel;
use super::{grid_sources, node};
use crate::data::subset::seeds;
use crate::finetune::cell::Cell;
use crate::influence::params::InfluenceParams;
use crate::influence::settings::InfluenceSettings;
use crate::influence::solve::Inverse;
use crate::features::FeaturesStage;
use crate::influence::reports::InfluenceLabels;
use crate::influence::InfluenceStage;
use crate::kind::{stage, Registered};
use crate::fingerprint::{sources, Code};
use crate::render::row::ReportRow;
use crate::render::{RenderParams, Reports, REPORT_ROW};
use crate::study::block::{Block, Problem};
use crate::study::config::{Profile, SourceOrigin};
use crate::threat::Constraint;
use pipeline_engine::{Input, Node};

/// `influence/<source>/<dataset>/n<size>/b<blocks>/s<seed>/<method>`.
pub fn id(cell: &Cell, inverse: &Inverse) -> String {
    format!("{}/{}", cell.id().replacen("finetune/", "influence/", 1), inverse.method())
}

/// The `influence:` block: the influence study (Section 6 of the paper).
pub struct InfluenceBlock;

impl Block for InfluenceBlock {
    const KEY: &'static str = "influence";
    type Settings = InfluenceSettings;
    const REPORTS: Reports = Reports {
        rows: crate::influence::reports::rows::ROWS,
        code: &Code {
            root: "influence/reports/rows.rs",
            parts: &[
                sources![
                    "influence/reports/rows.rs",
                    "../paper/influence.csv",
                    "aggregate/columns.rs",
                    "data/dataset.rs",
                    "data/rng.rs",
                    "features/arrays.rs",
                    "influence/matrices.rs",
                    "influence/reports/figure6.rs",
                    "influence/reports/figure7.rs",
                    "influence/reports/mod.rs",
                    "influence/reports/ranks.rs",
                    "influence/solve.rs",
                    "npy.rs",
                    "render/data.rs",
                    "render/figures.rs",
                    "render/plot.rs",
                    "render/raster.rs",
                    "render/svg.rs",
                    "splits.rs",
                ],
                REPORT_ROW,
            ],
        },
    };

    fn stages() -> Vec<Registered> {
        vec![stage(FeaturesStage), stage(InfluenceStage)]
    }

    /// The networks of the natural, robust and floor cells: the features are theirs.
    fn kept(settings: &InfluenceSettings) -> Vec<Cell> {
        settings.cells().into_iter().map(|(_, cell)| cell).collect()
    }

    fn check(s: &InfluenceSettings, profile: &Profile) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |field, message: String| problems.push(Problem { field, message });
        let grid = &profile.grid;
        if !grid.datasets.contains(&s.dataset) {
            problem(
                "dataset",
                format!(
                    "`{}` is not a dataset of the grid ({})",
                    s.dataset,
                    grid.datasets.join(", ")
                ),
            );
        }
        let of_grid = |name: &String| grid_sources(profile).find(|s| &s.name == name);
        for (field, name, natural) in [("natural", &s.natural, true), ("robust", &s.robust, false)]
        {
            match of_grid(name) {
                None => problem(
                    field,
                    format!("`{name}` is not a source of the grid ({})", grid.sources.join(", ")),
                ),
                Some(s) if natural && s.constraint != Constraint::None => problem(
                    field,
                    format!("`{name}` is adversarially trained; name the natural source"),
                ),
                Some(s) if !natural && s.constraint == Constraint::None => {
                    problem(field, format!("`{name}` is naturally trained; name a robust source"))
                }
                Some(_) => {}
            }
        }
        match grid.schedule.iter().find(|r| r.size == s.size) {
            None => {
                let sizes: Vec<String> = grid.schedule.iter().map(|r| r.size.label()).collect();
                problem(
                    "size",
                    format!(
                        "{} is not a subset size of the grid ({})",
                        s.size.label(),
                        sizes.join(", ")
                    ),
                );
            }
            Some(row) if !seeds(row.seeds).contains(&s.seed) => {
                let have: Vec<String> = seeds(row.seeds).iter().map(u64::to_string).collect();
                problem(
                    "seed",
                    format!(
                        "size {} has seeds {}, not {}",
                        s.size.label(),
                        have.join(", "),
                        s.seed
                    ),
                );
            }
            Some(_) => {}
        }
        if !grid.blocks.contains(&s.blocks) {
            problem(
                "blocks",
                format!("{} is not a depth of the grid ({:?})", s.blocks, grid.blocks),
            );
        }
        if s.inverses.is_empty() {
            problem("inverses", "name at least one inverse (the first draws Figures 6–8)".into());
        }
        for (k, inverse) in s.inverses.iter().enumerate() {
            if s.inverses[..k].iter().any(|i| i.method() == inverse.method()) {
                problem(
                    "inverses",
                    format!("`{}` is named twice; one of each method", inverse.method()),
                );
            }
            if let Inverse::Pinv { cutoff } = inverse {
                if !(*cutoff >= 0.0 && cutoff.is_finite()) {
                    problem(
                        "inverses",
                        format!("the cut-off must be a finite number ≥ 0, got {cutoff}"),
                    );
                }
            }
            // Non-finite numbers are refused before this check runs.
            if profile.finetune.weight_decay <= 0.0 && *inverse == Inverse::Damped {
                problem(
                    "inverses",
                    "the damped solve needs a positive fine-tuning weight decay".into(),
                );
            }
        }
        if let Some(floor) = &s.floor {
            match of_grid(floor) {
                None => problem(
                    "floor",
                    format!("`{floor}` is not a source of the grid ({})", grid.sources.join(", ")),
                ),
                Some(s) if s.origin != SourceOrigin::Scratch => problem(
                    "floor",
                    format!(
                        "`{floor}` is pre-trained; the floor is a source with `origin: scratch`"
                    ),
                ),
                Some(_) => {}
            }
        }
        problems
    }

    /// The `features` node of each studied source and its `influence` node under each inverse.
    fn nodes(settings: &InfluenceSettings, profile: &Profile, _: &[SourceModel]) -> Vec<Node> {
        let mut nodes = Vec::new();
        for (_, cell) in settings.cells() {
            let features = super::features::node_for(&cell, profile);
            for inverse in &settings.inverses {
                let params = InfluenceParams {
                    source: cell.source.clone(),
                    dataset: cell.dataset.clone(),
                    size_label: cell.size_label.clone(),
                    blocks: cell.blocks as usize,
                    seed: cell.seed,
                    weight_decay: profile.finetune.weight_decay,
                    inverse: inverse.clone(),
                };
                let inputs = vec![Input::new("features", &features.id)];
                nodes.push(node::<InfluenceStage>(id(&cell, inverse), &params, inputs));
            }
            nodes.push(features);
        }
        nodes
    }

    /// Its own reports read each studied source's artifact under each inverse
    /// (`<role>:<method>`), Figure 6 the dataset's images too, and are told the study's labels.
    fn report(
        s: &InfluenceSettings,
        profile: &Profile,
        _: &[SourceModel],
        row: &ReportRow,
        params: &mut RenderParams,
    ) -> Vec<Input> {
        if !Self::owns(row) {
            return vec![];
        }
        let labels = serde_json::to_value(labels(profile, s)).expect("labels serialise");
        params.block = Some(labels);
        let mut inputs: Vec<Input> = s
            .cells()
            .into_iter()
            .flat_map(|(role, cell)| {
                s.inverses.iter().map(move |inverse| {
                    Input::new(format!("{role}:{}", inverse.method()), id(&cell, inverse))
                })
            })
            .collect();
        if row.name == "figure6" {
            inputs.push(Input::new("data", super::prepare::id(&s.dataset)));
        }
        inputs
    }
}

/// What the influence reports say about the study.
fn labels(profile: &Profile, s: &InfluenceSettings) -> InfluenceLabels {
    let dataset = profile.datasets.iter().find(|d| d.name == s.dataset);
    let images = match s.size.label().as_str() {
        "all" => "all training images".to_string(),
        n => format!("{n} training images"),
    };
    InfluenceLabels {
        natural: s.natural.clone(),
        robust: s.robust.clone(),
        floor: s.floor.clone(),
        inverses: s.inverses.iter().map(|i| i.method().to_string()).collect(),
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
