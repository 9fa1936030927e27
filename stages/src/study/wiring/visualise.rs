//! Figure 1's nodes: one `visualise` node per source the profile's `figure1:` block names; the
//! block must name sources of the grid and coordinates of its network.

use crate::study::block::SourceModel;
use super::{grid_sources, node};
use crate::kind::{stage, Registered};
use crate::fingerprint::{sources, Code};
use crate::render::row::ReportRow;
use crate::render::{RenderParams, Reports, REPORT_ROW};
use crate::study::block::{Block, Problem};
use crate::study::config::Profile;
use crate::threat::Constraint;
use crate::visualise::params::VisualiseParams;
use crate::visualise::settings::Figure1Settings;
use crate::visualise::VisualiseStage;
use pipeline_engine::{Input, Node};

/// `visualise/<source>`.
pub fn id(source: &str) -> String {
    format!("visualise/{source}")
}

/// The `figure1:` block: Figure 1's feature visualisation.
pub struct Figure1Block;

impl Block for Figure1Block {
    const KEY: &'static str = "figure1";
    type Settings = Figure1Settings;
    const REPORTS: Reports = Reports {
        rows: crate::visualise::figure1::ROWS,
        code: &Code {
            root: "visualise/figure1.rs",
            parts: &[
                sources![
                    "visualise/figure1.rs",
                    "npy.rs",
                    "render/raster.rs",
                    "render/svg.rs",
                    "visualise/artifact.rs",
                ],
                REPORT_ROW,
            ],
        },
    };

    fn stages() -> Vec<Registered> {
        vec![stage(VisualiseStage)]
    }

    fn check(s: &Figure1Settings, profile: &Profile) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |field, message: String| problems.push(Problem { field, message });
        let grid = &profile.grid.sources;
        let mut constraints = Vec::new();
        for name in &s.sources {
            match grid_sources(profile).find(|s| &s.name == name) {
                None => problem(
                    "sources",
                    format!("`{name}` is not a source of the grid ({})", grid.join(", ")),
                ),
                Some(s) => constraints.push(s.constraint),
            }
        }
        if constraints.len() == s.sources.len()
            && !(constraints.contains(&Constraint::None)
                && constraints.iter().any(|c| *c != Constraint::None))
        {
            problem("sources", "name the natural source and at least one robust one".into());
        }
        let width = 32 * profile.network.width;
        if let Some(k) = s.coordinates.iter().find(|&&k| k >= width) {
            problem(
                "coordinates",
                format!("{k} is beyond the representation (32·width = {width} coordinates)"),
            );
        }
        if s.coordinates.is_empty() {
            problem("coordinates", "name at least one coordinate".into());
        }
        if s.patterns.is_empty() && s.noise == 0 {
            problem("patterns", "no seed images: name patterns or set noise".into());
        }
        if !(s.step > 0.0 && s.step.is_finite()) {
            problem("step", format!("{} is not a positive step", s.step));
        }
        if s.iterations == 0 {
            problem("iterations", "at least one step".into());
        }
        problems
    }

    /// The `visualise` node of each source of `settings`; `sources` are the grid's source models.
    fn nodes(settings: &Figure1Settings, profile: &Profile, sources: &[SourceModel]) -> Vec<Node> {
        settings
            .sources
            .iter()
            .filter_map(|name| sources.iter().find(|s| &s.name == name))
            .map(|s| {
                let params = VisualiseParams {
                    source: s.name.clone(),
                    source_format: s.format,
                    network: profile.network.clone(),
                    coordinates: settings.coordinates.clone(),
                    patterns: settings.patterns.clone(),
                    noise: settings.noise,
                    noise_seed: settings.noise_seed,
                    step: settings.step,
                    iterations: settings.iterations,
                };
                node::<VisualiseStage>(id(&s.name), &params, vec![Input::new("source", &s.node)])
            })
            .collect()
    }

    /// Figure 1 reads the visualisation of each of its sources (`visualise:<name>`).
    fn report(
        settings: &Figure1Settings,
        _: &Profile,
        _: &[SourceModel],
        row: &ReportRow,
        _: &mut RenderParams,
    ) -> Vec<Input> {
        if !Self::owns(row) {
            return vec![];
        }
        settings.sources.iter().map(|s| Input::new(format!("visualise:{s}"), id(s))).collect()
    }
}
