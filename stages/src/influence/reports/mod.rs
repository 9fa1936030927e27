//! The influence study's reports (Section 6 of the paper), from the `influence` artifacts of the
//! natural and the robust source (and the untrained floor's): `figure6.svg` (each class's test
//! image beside its most helpful training image under each model), `figure7.svg` (the matrices as
//! heat maps), `figure8.svg` (how often the k-th most helpful training image shares the row's
//! class), all under the profile's first inverse, and `influence.md` (every inverse's numbers).

mod figure6;
mod figure7;
mod ranks;
pub mod rows;

use crate::influence::matrices::Influence;
use crate::render::figures::color;
use crate::render::plot::{self, Figure, Line, Panel, Point, XAxis, YAxis};
use crate::render::RenderParams;
use anyhow::{Context, Result};
use ranks::Ranks;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::Path;

pub use figure6::render as figure6;
pub use figure7::render as figure7;

/// Ranks k = 1…DEPTH in Figure 8 (the paper's 100).
const DEPTH: usize = 100;

/// The influence artifacts under one inverse: the two models', and the untrained floor's where
/// the study has one.
pub struct Pair {
    pub natural: Influence,
    pub robust: Influence,
    pub floor: Option<Influence>,
}

impl Pair {
    pub fn load(natural: &Path, robust: &Path, floor: Option<&Path>) -> Result<Pair> {
        let floor = floor.map(|f| Influence::load(f).context("the floor source's influence"));
        Ok(Pair {
            natural: Influence::load(natural).context("the natural source's influence")?,
            robust: Influence::load(robust).context("the robust source's influence")?,
            floor: floor.transpose()?,
        })
    }

    /// Each model with its source name: natural, robust, then the floor.
    fn models<'a>(&'a self, l: &'a InfluenceLabels) -> Vec<(&'a str, &'a Influence)> {
        let floor = l.floor.as_deref().zip(self.floor.as_ref());
        [(l.natural.as_str(), &self.natural), (l.robust.as_str(), &self.robust)]
            .into_iter()
            .chain(floor)
            .collect()
    }
}

/// What the influence reports say about the study (set by the study's wiring, in `RenderParams::block`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluenceLabels {
    /// Source names (as in `RenderParams::sources`) of the two models, and of the untrained
    /// floor where the study has one.
    pub natural: String,
    pub robust: String,
    pub floor: Option<String>,
    /// The inverses' methods (`pinv`, `damped`), in the profile's order: the first draws the
    /// figures. The inputs are named `<role>:<method>`.
    pub inverses: Vec<String>,
    /// The target dataset's label.
    pub dataset: String,
    /// The cell, in words: `400 training images, 3 fine-tuned blocks, seed 20000000`.
    pub cell: String,
    /// Figure 6: the seed that draws one test image per class.
    pub figure6_seed: u64,
}

/// The study's labels a report is told.
pub fn labels(p: &RenderParams) -> Result<InfluenceLabels> {
    let told = p.block.clone().context("an influence report needs the study's labels")?;
    serde_json::from_value(told).context("the influence study's labels")
}

/// Train rows and test rows of one model.
fn model_ranks(i: &Influence) -> (Ranks, Ranks) {
    let i = &i.splits;
    (
        ranks::ranks(&i.train, &i.train_labels, &i.train_labels, DEPTH),
        ranks::ranks(&i.test, &i.test_labels, &i.train_labels, DEPTH),
    )
}

/// `figure8.svg`: per rank, the share of rows whose k-th most helpful training image has the
/// row's class; training rows and test rows, natural against robust (and the floor).
pub fn figure8(p: &RenderParams, pair: &Pair) -> Result<String> {
    let l = labels(p)?;
    let models: Vec<(&str, (Ranks, Ranks))> =
        pair.models(&l).into_iter().map(|(name, i)| (name, model_ranks(i))).collect();
    let line = |source: &str, r: &Ranks| Line {
        color: color(p, source),
        points: r
            .by_rank
            .iter()
            .enumerate()
            .map(|(k, &y)| Point { x: k as f64 + 1.0, y, lo: y, hi: y })
            .collect(),
    };
    let chance = 100.0 / class_count(&pair.natural) as f64;
    let panel = |title: String, rows: fn(&(Ranks, Ranks)) -> &Ranks| Panel {
        title,
        x_label: "rank k of the training image (1 = most helpful)".into(),
        x_axis: XAxis::Linear,
        y_axis: YAxis::Share,
        lines: models.iter().map(|(name, r)| line(name, rows(r))).collect(),
        chance: Some(chance),
    };
    let figure = Figure {
        title: "Figure 8: does the k-th most helpful training image share the row's class?".into(),
        subtitle: format!(
            "{}, {}; {}; per rank, not cumulative; chance ≈ {chance:.0}%.\n{}\n{}",
            l.dataset,
            l.cell,
            pair.natural.summary.inverse.description,
            headline(p, &models[0].1 .1, &models[1].1 .1),
            p.provenance()
        ),
        legend: models
            .iter()
            .map(|(name, _)| (p.source_label(name).to_string(), color(p, name)))
            .collect(),
        columns: 2,
        cells: vec![
            vec![panel(
                format!("training images as rows ({})", pair.natural.splits.train_labels.len()),
                |r| &r.0,
            )],
            vec![panel(
                format!("test images as rows ({})", pair.natural.splits.test_labels.len()),
                |r| &r.1,
            )],
        ],
    };
    plot::svg(&figure)
}

/// The two headline numbers of the test rows, natural then robust, with the paper's beside them
/// where the profile is comparable to the paper.
fn headline(p: &RenderParams, natural: &Ranks, robust: &Ranks) -> String {
    let paper = |measure| match p.comparable_to_paper {
        true => match (paper_value(measure, 2), paper_value(measure, 3)) {
            (Some(n), Some(r)) => format!(" (paper {n:.1} / {r:.1})"),
            _ => String::new(),
        },
        false => String::new(),
    };
    format!(
        "Test rows, natural / robust: top-1 of the row's class {:.1}% / {:.1}%{}; at least 3 of the top 5 {:.1}% / {:.1}%{}.",
        natural.top1,
        robust.top1,
        paper("top1_same_class"),
        natural.three_of_top5,
        robust.three_of_top5,
        paper("three_of_top5_same_class")
    )
}

fn class_count(i: &Influence) -> usize {
    let i = &i.splits;
    i.train_labels.iter().chain(&i.test_labels).max().map_or(1, |&c| c as usize + 1)
}

/// The paper's Figure 8 headline numbers (CIFAR-10 test rows), natural and robust.
const PAPER: &str = include_str!("../../../paper/influence.csv");

fn paper_value(measure: &str, column: usize) -> Option<f64> {
    PAPER
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f[0] == measure && f[1] == "test")
        .and_then(|f| f.get(column)?.parse().ok())
}

/// A statistic whose values for every model (the floor included) lie within this many points
/// of each other is called saturated: it cannot tell the sources apart.
const SATURATED: f64 = 1.0;

/// A statistic of `influence.md`'s tables beyond the accuracies: name, measure in the paper's
/// table (test rows only), and value from the train and test ranks.
type Statistic = (&'static str, Option<&'static str>, fn(&Ranks, &Ranks) -> f64);

const STATISTICS: [Statistic; 3] = [
    ("top-1 same class, test rows", Some("top1_same_class"), |_, test| test.top1),
    ("≥ 3 of top 5 same class, test rows", Some("three_of_top5_same_class"), |_, test| {
        test.three_of_top5
    }),
    ("top-1 same class, train rows", None, |train, _| train.top1),
];

/// `influence.md`: under each inverse, each model's accuracies and headline numbers, and which
/// statistics are saturated.
pub fn markdown(p: &RenderParams, pairs: &[(String, Pair)]) -> Result<String> {
    let l = labels(p)?;
    let (_, first) = pairs.first().context("the influence study names no inverse")?;
    let s = &first.natural.summary;
    let mut md = String::from("# Influence functions (Section 6, Figures 6–8)\n\n");
    let _ = writeln!(md, "{}\n", p.provenance());
    let _ = writeln!(
        md,
        "{}: {}. Influence of training image j on image i is g_iᵀ H⁻¹ g_j, with g an image's \
         loss gradient with respect to the final layer (weight and bias, {} parameters) and H the \
         Hessian of the summed training loss over the {} fine-tuning images, features fixed. \
         Positive means helpful: removing j would raise i's loss. Rankings are descending; \
         training rows keep their own image.\n",
        l.dataset, l.cell, s.parameters, s.train_images
    );
    let _ = writeln!(
        md,
        "Figures 6–8 use the first inverse below (the paper's is the pseudo-inverse); every \
         inverse's numbers follow."
    );
    if let Some(floor) = &l.floor {
        let _ = writeln!(
            md,
            "{} is the floor: the same cell fine-tuned from the untrained network, so what it \
             shows the labels and the fine-tuning produce without any pre-training.",
            p.source_label(floor)
        );
    }
    let comparable = p.comparable_to_paper;
    for (_, pair) in pairs {
        let inverse = &pair.natural.summary.inverse;
        let kept = inverse
            .kept
            .map_or(String::new(), |k| format!("; {k} of {} eigenvalues kept", inverse.dimension));
        let _ = writeln!(md, "\n## Inverse: {}{kept}\n", inverse.description);
        md.push_str("| source | test accuracy (%) | train accuracy (%) |");
        for (name, paper, _) in STATISTICS {
            md.push_str(&format!(" {name} (%) |"));
            if comparable && paper.is_some() {
                md.push_str(" paper |");
            }
        }
        md.push_str("\n| --- | ---: | ---: |");
        for (_, paper, _) in STATISTICS {
            md.push_str(if comparable && paper.is_some() { " ---: | ---: |" } else { " ---: |" });
        }
        md.push('\n');
        let models = pair.models(&l);
        let mut values = vec![Vec::new(); STATISTICS.len()];
        for (column, (name, model)) in models.iter().enumerate() {
            let (train, test) = model_ranks(model);
            let _ = write!(
                md,
                "| {} | {:.2} | {:.2} |",
                p.source_label(name),
                model.summary.test.accuracy,
                model.summary.train.accuracy
            );
            for (k, (_, paper, value)) in STATISTICS.iter().enumerate() {
                let v = value(&train, &test);
                values[k].push(v);
                let _ = write!(md, " {v:.2} |");
                if let (true, Some(measure)) = (comparable, paper) {
                    // The paper's columns are natural and robust; the floor has none.
                    match (column < 2).then(|| paper_value(measure, 2 + column)).flatten() {
                        Some(v) => md.push_str(&format!(" {v:.2} |")),
                        None => md.push_str(" — |"),
                    }
                }
            }
            md.push('\n');
        }
        let _ = writeln!(md, "\n{}", saturation(&values, l.floor.is_some()));
        if l.floor.is_some() {
            let _ = writeln!(md, "\n{}", against_floor(&values));
        }
    }
    let _ = writeln!(
        md,
        "\n{} test images and {} training images; chance that a random training image shares \
         the row's class ≈ {:.0}%.",
        s.test_images,
        s.train_images,
        100.0 / class_count(&first.natural) as f64
    );
    Ok(md)
}

/// The sentence on which statistics (values per model, in `STATISTICS`' order) are saturated.
fn saturation(values: &[Vec<f64>], with_floor: bool) -> String {
    let every =
        if with_floor { "every model, the untrained floor included," } else { "both models" };
    let saturated: Vec<String> = STATISTICS
        .iter()
        .zip(values)
        .filter_map(|((name, _, _), v)| {
            let (lo, hi) = v
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            (hi - lo <= SATURATED).then(|| format!("{name} ({lo:.2}–{hi:.2}%)"))
        })
        .collect();
    match saturated.is_empty() {
        true => format!(
            "No statistic is saturated: in each, the models lie more than {SATURATED} point apart."
        ),
        false => format!(
            "Saturated, {every} within {SATURATED} point: {}. These do not tell the sources apart.",
            saturated.join("; ")
        ),
    }
}

/// The sentence on which statistics the untrained floor (the third value of each) reaches, within
/// a point, or passes, for both trained models: there the share arises without pre-training.
fn against_floor(values: &[Vec<f64>]) -> String {
    let reached: Vec<String> = STATISTICS
        .iter()
        .zip(values)
        .filter(|(_, v)| v[2] + SATURATED >= v[0].max(v[1]))
        .map(|((name, _, _), v)| {
            format!("{name} (floor {:.2}%, natural {:.2}%, robust {:.2}%)", v[2], v[0], v[1])
        })
        .collect();
    match reached.is_empty() {
        true => "The floor stays below both trained models in every statistic.".into(),
        false => format!(
            "The untrained floor matches (within {SATURATED} point) or passes both trained models \
             in {}: what it shows arises without any pre-training, from the labels and the \
             fine-tuning alone, so there it does not measure what pre-training put in the features.",
            reached.join("; ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::{against_floor, saturation};

    #[test]
    fn a_statistic_the_floor_reaches_is_named_with_the_three_values() {
        let values = [vec![90.5, 94.8, 100.0], vec![92.3, 95.3, 50.0], vec![98.5, 99.0, 98.2]];
        let s = against_floor(&values);
        assert!(
            s.contains("in top-1 same class, test rows (floor 100.00%, natural 90.50%, robust 94.80%); top-1 same class, train rows (floor 98.20%"),
            "{s}"
        );
        assert!(!s.contains("top 5"), "{s}");
        let below = [vec![90.0, 95.0, 10.0], vec![90.0, 95.0, 10.0], vec![90.0, 95.0, 93.9]];
        assert_eq!(
            against_floor(&below),
            "The floor stays below both trained models in every statistic."
        );
    }

    #[test]
    fn a_statistic_within_a_point_for_every_model_is_called_saturated_and_only_that_one() {
        // Per statistic (top-1 test, 3 of 5 test, top-1 train): natural, robust, floor.
        let values = [vec![95.6, 98.0, 96.0], vec![97.5, 98.9, 10.0], vec![99.75, 99.75, 99.0]];
        let s = saturation(&values, true);
        assert!(s.starts_with("Saturated, every model, the untrained floor included,"), "{s}");
        assert!(s.contains(": top-1 same class, train rows (99.00–99.75%)."), "{s}");
        assert!(!s.contains("test rows"), "{s}");
        let s = saturation(&[vec![1.0, 2.5], vec![3.0, 1.0], vec![50.0, 60.0]], false);
        assert!(s.starts_with("No statistic is saturated"), "{s}");
        assert!(saturation(&[vec![1.0, 2.0], vec![0.0, 9.0], vec![0.0, 9.0]], false)
            .contains("both models within 1 point: top-1 same class, test rows (1.00–2.00%)"));
    }
}
