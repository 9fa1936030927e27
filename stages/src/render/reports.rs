//! The reports, one row each: its name, the files it writes, the index's line for it, which part
//! of the study it belongs to, what it reads and is told, and how it is drawn. The study's wiring
//! makes one `render` node per row its profile has; the stage draws a node from its row. Adding a
//! report is adding a row (and the module that draws it).

use super::params::RenderParams;
use super::params::SourceLabel;
use super::settings::{Statistic, Statistics};
use super::{checks, figure1, figure9, figures, findings, index, influence, setup, table3, table5};
use anyhow::{bail, Context, Result};
use pipeline_engine::StageContext;
use std::path::Path;

/// One report.
pub struct ReportRow {
    /// As in `render/<name>`; the params' `report`.
    pub name: &'static str,
    /// The files its node writes, published under the profile's reports folder.
    pub files: &'static [&'static str],
    /// Its line in the index.
    pub description: &'static str,
    /// The part of the study it belongs to: drawn only where the profile has that part.
    pub part: Part,
    /// Its inputs.
    pub reads: Reads,
    /// What of the profile its params carry beyond the labels every report has.
    pub told: &'static [Told],
    /// The evaluation of each cell it reports, for the accuracy reports.
    pub statistic: Option<fn(&Statistics) -> Statistic>,
    /// Its files' texts, in the order of `files`.
    pub draw: fn(&RenderParams, &StageContext) -> Result<Vec<String>>,
}

/// The parts of a study that have reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The transfer grid (every profile).
    Grid,
    /// The influence study (a profile's `influence:` block).
    Influence,
    /// Figure 1's feature visualisation (a profile's `figure1:` block).
    Figure1,
    /// The manipulation checks of the sources (a profile's `probe:` block).
    Checks,
}

/// What a report's node reads; the names are those the draw functions ask `ctx.input` for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// `aggregate`: the grid's main aggregate.
    Aggregate,
    /// `aggregate`: the aggregate over every fine-tuning depth.
    Depths,
    /// `source:<name>`: the pretrain artifact of each source trained here.
    Sources,
    /// `dataset:<name>`, optional: each target as prepared.
    Datasets,
    /// `<role>:<method>`: the influence artifact of each studied source (`natural`, `robust`,
    /// `floor`) under each inverse.
    Influence,
    /// As `Influence`, and `data`: the influence dataset's images.
    InfluenceAndData,
    /// `visualise:<name>`: Figure 1's visualisation of each of its sources.
    Visualise,
    /// `source:<name>` and `probe:<name>`: the pretrain and probe artifacts of each source
    /// trained or initialised here.
    Probes,
    /// As `Aggregate`, and as `Probes` where the profile has manipulation checks.
    AggregateAndProbes,
    /// Nothing: drawn from the params alone.
    Nothing,
}

/// What of the profile a report's params carry, besides labels and origins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Told {
    /// `finetune`: the fine-tuning settings.
    Finetune,
    /// `schedule`: the grid's schedule.
    Schedule,
    /// `blocks`: the fine-tuning depths.
    Blocks,
    /// `subset_size`: the subset size whose curves are drawn.
    SubsetSize,
    /// `influence`: the influence study's labels.
    Influence,
}

/// Every report but the index, in the index's order.
pub const REPORTS: &[ReportRow] = &[
    ReportRow {
        name: "findings",
        files: &["findings.md"],
        description: "What the study says: robust − natural per target and size beside the paper's sign, which of the predictions written before the run held, how many cells fitted their subsets, and the manipulation checks' outcome.",
        part: Part::Grid,
        reads: Reads::AggregateAndProbes,
        told: &[],
        statistic: Some(|s| s.table5),
        draw: |p, ctx| {
            let probed = checks::load(&probed(p, ctx))?;
            Ok(vec![findings::render(p, ctx.input("aggregate")?, &probed)?])
        },
    },
    ReportRow {
        name: "table5",
        files: &["table5.md", "table5.csv"],
        description: "Test accuracy after fine-tuning 3 blocks, per target dataset and subset size, for each source (mean ± 95% CI over seeds; each run's last or best evaluation, as the caption says).",
        part: Part::Grid,
        reads: Reads::Aggregate,
        told: &[],
        statistic: Some(|s| s.table5),
        draw: |p, ctx| {
            let (md, csv) = table5::render(p, ctx.input("aggregate")?)?;
            Ok(vec![md, csv])
        },
    },
    ReportRow {
        name: "table3",
        files: &["table3.md"],
        description: "Each source model's accuracy on its own test data, clean and under PGD attack.",
        part: Part::Grid,
        reads: Reads::Sources,
        told: &[],
        statistic: None,
        draw: |p, ctx| {
            // Sources pre-trained here have an input; fetched checkpoints have none.
            let dirs: Vec<Option<&Path>> =
                p.sources.iter().map(|s| ctx.input(&format!("source:{}", s.name)).ok()).collect();
            Ok(vec![table3::render(p, &dirs)?])
        },
    },
    ReportRow {
        name: "checks",
        files: &["checks.md"],
        description: "Manipulation checks on the source set, before any transfer: accuracy on low- and high-passed images, shape bias on cue-conflict images, PGD at each source's own radius, and the radius rule.",
        part: Part::Checks,
        reads: Reads::Probes,
        told: &[],
        statistic: None,
        draw: |p, ctx| Ok(vec![checks::render(p, &checks::load(&probed(p, ctx))?)?]),
    },
    ReportRow {
        name: "figure2",
        files: &["figure2.svg"],
        description: "Accuracy against training-subset size per dataset (3 blocks), and robust − natural with its 95% CI.",
        part: Part::Grid,
        reads: Reads::Aggregate,
        told: &[],
        statistic: Some(|s| s.figure2),
        draw: |p, ctx| Ok(vec![figures::svg(figures::figure2, p, ctx.input("aggregate")?)?]),
    },
    ReportRow {
        name: "figure3",
        files: &["figure3.svg"],
        description: "Accuracy against fine-tuning epoch at one subset size (3 blocks).",
        part: Part::Grid,
        reads: Reads::Aggregate,
        told: &[Told::SubsetSize],
        statistic: None,
        draw: |p, ctx| Ok(vec![figures::svg(figures::figure3, p, ctx.input("aggregate")?)?]),
    },
    ReportRow {
        name: "figure4",
        files: &["figure4.svg"],
        description: "Effect of fine-tuning 0/1/3/9 blocks (ℓ2 source and natural), and the 3 − 1 blocks delta.",
        part: Part::Grid,
        reads: Reads::Depths,
        told: &[],
        statistic: Some(|s| s.figure4),
        draw: |p, ctx| Ok(vec![figures::svg(figures::figure4, p, ctx.input("aggregate")?)?]),
    },
    ReportRow {
        name: "figure5",
        files: &["figure5.svg"],
        description: "Constraint comparisons: ℓ∞ small − large ε, and ℓ2 − each ℓ∞ (3 blocks).",
        part: Part::Grid,
        reads: Reads::Aggregate,
        told: &[],
        statistic: Some(|s| s.figure5),
        draw: |p, ctx| Ok(vec![figures::svg(figures::figure5, p, ctx.input("aggregate")?)?]),
    },
    ReportRow {
        name: "figure10",
        files: &["figure10.svg"],
        description: "As Figure 4, for the other robust sources.",
        part: Part::Grid,
        reads: Reads::Depths,
        told: &[],
        statistic: Some(|s| s.figure10),
        draw: |p, ctx| Ok(vec![figures::svg(figures::figure10, p, ctx.input("aggregate")?)?]),
    },
    ReportRow {
        name: "table1",
        files: &["table1.md"],
        description: "The fine-tuning hyper-parameters this profile ran with.",
        part: Part::Grid,
        reads: Reads::Nothing,
        told: &[Told::Finetune],
        statistic: None,
        draw: |p, _| Ok(vec![setup::table1(p)?]),
    },
    ReportRow {
        name: "table2",
        files: &["table2.md"],
        description: "Epochs, seeds, evaluation and learning-rate decay per training-subset size.",
        part: Part::Grid,
        reads: Reads::Nothing,
        told: &[Told::Blocks, Told::Schedule],
        statistic: None,
        draw: |p, _| Ok(vec![setup::table2(p)?]),
    },
    ReportRow {
        name: "table4",
        files: &["table4.md"],
        description: "The target datasets as prepared: images, classes and colour, counted in the data.",
        part: Part::Grid,
        reads: Reads::Datasets,
        told: &[],
        statistic: None,
        draw: |p, ctx| {
            // An optional input: a dataset that failed to prepare is a row marked so.
            let prepared: Vec<_> =
                p.datasets.iter().map(|d| (d, ctx.input(&format!("dataset:{}", d.name)).ok())).collect();
            Ok(vec![setup::table4(p, &prepared)?])
        },
    },
    ReportRow {
        name: "figure9",
        files: &["figure9.svg"],
        description: "The fine-tuning set-ups: which blocks of the network train at each depth.",
        part: Part::Grid,
        reads: Reads::Nothing,
        told: &[Told::Blocks],
        statistic: None,
        draw: |p, _| Ok(vec![figure9::render(p)?]),
    },
    ReportRow {
        name: "figure6",
        files: &["figure6.svg"],
        description: "One test image per class and the training image each model ranks most helpful to it.",
        part: Part::Influence,
        reads: Reads::InfluenceAndData,
        told: &[Told::Influence],
        statistic: None,
        draw: |p, ctx| Ok(vec![influence::figure6(p, &figures_pair(p, ctx)?, ctx.input("data")?)?]),
    },
    ReportRow {
        name: "figure7",
        files: &["figure7.svg"],
        description: "The influence matrices (training and test rows, natural and robust) as heat maps grouped by class.",
        part: Part::Influence,
        reads: Reads::Influence,
        told: &[Told::Influence],
        statistic: None,
        draw: |p, ctx| Ok(vec![influence::figure7(p, &figures_pair(p, ctx)?)?]),
    },
    ReportRow {
        name: "figure8",
        files: &["figure8.svg"],
        description: "How often the k-th most helpful training image shares the row's class, k = 1…100.",
        part: Part::Influence,
        reads: Reads::Influence,
        told: &[Told::Influence],
        statistic: None,
        draw: |p, ctx| Ok(vec![influence::figure8(p, &figures_pair(p, ctx)?)?]),
    },
    ReportRow {
        name: "influence",
        files: &["influence.md"],
        description: "The influence study's headline numbers under each Hessian inverse, for both models and the untrained floor, which statistics are saturated, and the models' accuracies.",
        part: Part::Influence,
        reads: Reads::Influence,
        told: &[Told::Influence],
        statistic: None,
        draw: |p, ctx| Ok(vec![influence::markdown(p, &pairs(p, ctx)?)?]),
    },
    ReportRow {
        name: "figure1",
        files: &["figure1.svg"],
        description: "Feature visualisation: images that maximise coordinates of each model's representation, from the same seeds.",
        part: Part::Figure1,
        reads: Reads::Visualise,
        told: &[],
        statistic: None,
        draw: |p, ctx| {
            let dirs: Vec<(&str, &Path)> = p
                .sources
                .iter()
                .filter_map(|s| Some((s.name.as_str(), ctx.input(&format!("visualise:{}", s.name)).ok()?)))
                .collect();
            Ok(vec![figure1::render(p, &dirs)?])
        },
    },
];

/// The index of the reports a profile has (its params list them).
pub const INDEX: ReportRow = ReportRow {
    name: "index",
    files: &["README.md"],
    description: "The index of reports.",
    part: Part::Grid,
    reads: Reads::Nothing,
    told: &[],
    statistic: None,
    draw: |p, _| Ok(vec![index::render(p)]),
};

/// The row of report `name`.
pub fn report(name: &str) -> Result<&'static ReportRow> {
    match REPORTS.iter().chain([&INDEX]).find(|r| r.name == name) {
        Some(row) => Ok(row),
        None => {
            let known: Vec<&str> = REPORTS.iter().chain([&INDEX]).map(|r| r.name).collect();
            bail!("unknown report `{name}`; the reports are {}", known.join(", "))
        }
    }
}

/// The pretrain and probe artifact folders of each source with both (`source:<name>`,
/// `probe:<name>`).
fn probed<'a>(
    p: &'a RenderParams,
    ctx: &'a StageContext,
) -> Vec<(&'a SourceLabel, &'a Path, &'a Path)> {
    let input = |kind: &str, name: &str| ctx.input(&format!("{kind}:{name}")).ok();
    p.sources
        .iter()
        .filter_map(|s| Some((s, input("source", &s.name)?, input("probe", &s.name)?)))
        .collect()
}

/// The influence study's artifacts under the inverse `method` (inputs `<role>:<method>`).
fn pair(p: &RenderParams, ctx: &StageContext, method: &str) -> Result<influence::Pair> {
    let input = |role: &str| ctx.input(&format!("{role}:{method}"));
    let floor = influence::labels(p)?.floor.as_ref().map(|_| input("floor")).transpose()?;
    influence::Pair::load(input("natural")?, input("robust")?, floor)
}

/// Under the first inverse: the one the figures are drawn from.
fn figures_pair(p: &RenderParams, ctx: &StageContext) -> Result<influence::Pair> {
    let first = influence::labels(p)?.inverses.first();
    pair(p, ctx, first.context("the influence study names no inverse")?)
}

/// Under each inverse, in the profile's order.
fn pairs(p: &RenderParams, ctx: &StageContext) -> Result<Vec<(String, influence::Pair)>> {
    let methods = &influence::labels(p)?.inverses;
    methods.iter().map(|m| Ok((m.clone(), pair(p, ctx, m)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_report_has_its_own_name_and_files_and_an_unknown_one_is_refused() {
        let rows: Vec<&ReportRow> = REPORTS.iter().chain([&INDEX]).collect();
        let names: HashSet<&str> = rows.iter().map(|r| r.name).collect();
        assert_eq!(names.len(), rows.len(), "two reports share a name");
        let files: Vec<&str> = rows.iter().flat_map(|r| r.files.iter().copied()).collect();
        assert_eq!(files.iter().collect::<HashSet<_>>().len(), files.len(), "two share a file");
        assert!(rows.iter().all(|r| !r.files.is_empty() && !r.description.is_empty()));
        assert_eq!(report("figure10").unwrap().files, ["figure10.svg"]);
        let err = report("table6").err().expect("no report table6").to_string();
        assert!(err.contains("unknown report `table6`") && err.contains("table5"), "{err}");
    }
}
