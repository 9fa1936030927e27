//! The manipulation checks' nodes: one `probe` node per source of the grid trained or
//! initialised here, when the profile has a `probe:` block (which needs a profile whose sources
//! are trained on the source set).

use crate::study::block::SourceModel;
use super::node;
use super::prepare::SOURCE_DATA;
use crate::finetune::params::SourceFormat;
use crate::probe::params::ProbeParams;
use crate::probe::settings::ProbeSettings;
use crate::kind::{stage, Registered};
use crate::probe::Probe;
use crate::fingerprint::{sources, Code};
use crate::render::row::ReportRow;
use crate::render::{RenderParams, Reports, REPORT_ROW};
use crate::study::block::{Block, Problem};
use crate::study::config::Profile;
use pipeline_engine::{Input, Node};

/// Images per evaluation batch.
const BATCH: usize = 500;

/// `probe/<source>`.
pub fn id(source: &str) -> String {
    format!("probe/{source}")
}

/// The `probe:` block: the manipulation checks of the sources trained here.
pub struct ProbeBlock;

impl Block for ProbeBlock {
    const KEY: &'static str = "probe";
    type Settings = ProbeSettings;
    const REPORTS: Reports = Reports {
        rows: crate::probe::checks::ROWS,
        code: &Code {
            root: "probe/checks.rs",
            parts: &[
                sources![
                    "probe/checks.rs",
                    "../paper/sources.csv",
                    "../paper/table5.csv",
                    "aggregate/columns.rs",
                    "pretrain/report.rs",
                    "probe/report.rs",
                    "render/data.rs",
                    "render/paper.rs",
                    "render/table5.rs",
                    "subset/params.rs",
                ],
                REPORT_ROW,
            ],
        },
    };

    fn stages() -> Vec<Registered> {
        vec![stage(Probe)]
    }

    fn check(s: &ProbeSettings, profile: &Profile) -> Vec<Problem> {
        let mut problems = Vec::new();
        if !(s.sigma.is_finite() && s.sigma > 0.0) {
            problems.push(Problem {
                field: "sigma",
                message: "the filter's σ must be positive".into(),
            });
        }
        let generator = profile.pretrain.as_ref().map(|p| p.data.generator.as_str());
        if generator != Some("source") {
            problems.push(Problem {
                field: "conflict_images",
                message: "the cue-conflict images are drawn from the profile's source set: the `pretrain` section must use the `source` generator".into(),
            });
        } else if s.conflict_images == 0 {
            problems
                .push(Problem { field: "conflict_images", message: "at least one image".into() });
        }
        problems
    }

    /// The `probe` node of each source model of `sources` made here (the probe draws from the
    /// profile's source set).
    fn nodes(settings: &ProbeSettings, profile: &Profile, sources: &[SourceModel]) -> Vec<Node> {
        let data = &profile.pretrain.as_ref().expect("validated: a probe needs pretrain data").data;
        sources
            .iter()
            .filter(|s| s.format == SourceFormat::Pretrained)
            .map(|s| {
                let params = ProbeParams {
                    source: s.name.clone(),
                    source_format: s.format,
                    network: profile.network.clone(),
                    data: data.clone(),
                    sigma: settings.sigma,
                    conflict_images: settings.conflict_images,
                    batch: BATCH,
                };
                let inputs = vec![Input::new("source", &s.node), Input::new("data", SOURCE_DATA)];
                node::<Probe>(id(&s.name), &params, inputs)
            })
            .collect()
    }

    /// `checks.md` and `findings.md` read the pretrain and probe artifacts of each source made
    /// here (`source:<name>`, `probe:<name>`).
    fn report(
        _: &ProbeSettings,
        _: &Profile,
        sources: &[SourceModel],
        row: &ReportRow,
        _: &mut RenderParams,
    ) -> Vec<Input> {
        // `findings.md` reports the checks' outcome beside the transfer's.
        if !(Self::owns(row) || row.name == "findings") {
            return vec![];
        }
        sources
            .iter()
            .filter(|s| s.format == SourceFormat::Pretrained)
            .flat_map(|s| {
                [
                    Input::new(format!("source:{}", s.name), &s.node),
                    Input::new(format!("probe:{}", s.name), id(&s.name)),
                ]
            })
            .collect()
    }
}
