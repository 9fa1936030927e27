//! The influence study's reports (Section 6 of the paper), from the `influence` artifacts of the
//! natural and the robust source: `figure6.svg` (each class's test image beside its most helpful
//! training image under each model), `figure7.svg` (the matrices as heat maps), `figure8.svg`
//! (how often the k-th most helpful training image shares the row's class) and `influence.md`.

mod figure6;
mod figure7;
mod ranks;

use super::figures::color;
use super::plot::{self, Figure, Line, Panel, Point, XAxis, YAxis};
use super::{InfluenceLabels, RenderParams};
use crate::influence::matrices::Influence;
use anyhow::{Context, Result};
use ranks::Ranks;
use std::fmt::Write;
use std::path::Path;

pub use figure6::render as figure6;
pub use figure7::render as figure7;

/// Ranks k = 1…DEPTH in Figure 8 (the paper's 100).
const DEPTH: usize = 100;

/// The two models' influence artifacts.
pub struct Pair {
    pub natural: Influence,
    pub robust: Influence,
}

impl Pair {
    pub fn load(natural: &Path, robust: &Path) -> Result<Pair> {
        Ok(Pair {
            natural: Influence::load(natural).context("the natural source's influence")?,
            robust: Influence::load(robust).context("the robust source's influence")?,
        })
    }

    fn models(&self) -> [&Influence; 2] {
        [&self.natural, &self.robust]
    }
}

fn labels(p: &RenderParams) -> Result<&InfluenceLabels> {
    p.influence.as_ref().context("an influence report needs the study's labels")
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
/// row's class; training rows and test rows, natural against robust.
pub fn figure8(p: &RenderParams, pair: &Pair) -> Result<String> {
    let l = labels(p)?;
    let [natural, robust] = pair.models().map(model_ranks);
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
    let panel = |title: String, n: &Ranks, r: &Ranks| Panel {
        title,
        x_label: "rank k of the training image (1 = most helpful)".into(),
        x_axis: XAxis::Linear,
        y_axis: YAxis::Share,
        lines: vec![line(&l.natural, n), line(&l.robust, r)],
        chance: Some(chance),
    };
    let figure = Figure {
        title: "Figure 8: does the k-th most helpful training image share the row's class?".into(),
        subtitle: format!(
            "{}, {}; per rank, not cumulative; chance ≈ {chance:.0}%.\n{}\n{}",
            l.dataset,
            l.cell,
            headline(p, &natural.1, &robust.1),
            p.provenance()
        ),
        legend: vec![
            (p.source_label(&l.natural).to_string(), color(p, &l.natural)),
            (p.source_label(&l.robust).to_string(), color(p, &l.robust)),
        ],
        columns: 2,
        cells: vec![
            vec![panel(
                format!("training images as rows ({})", pair.natural.splits.train_labels.len()),
                &natural.0,
                &robust.0,
            )],
            vec![panel(
                format!("test images as rows ({})", pair.natural.splits.test_labels.len()),
                &natural.1,
                &robust.1,
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

/// `influence.md`: the headline numbers, the inverse used and the models' accuracies.
pub fn markdown(p: &RenderParams, pair: &Pair) -> Result<String> {
    let l = labels(p)?;
    let s = &pair.natural.summary;
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
    let _ = writeln!(md, "Inverse: {}.\n", s.inverse.description);
    let comparable = p.comparable_to_paper;
    let header = if comparable {
        "| source | test accuracy (%) | train accuracy (%) | top-1 same class, test rows (%) | paper | ≥ 3 of top 5 same class, test rows (%) | paper | top-1 same class, train rows (%) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    } else {
        "| source | test accuracy (%) | train accuracy (%) | top-1 same class, test rows (%) | ≥ 3 of top 5 same class, test rows (%) | top-1 same class, train rows (%) |\n| --- | ---: | ---: | ---: | ---: | ---: |\n"
    };
    md.push_str(header);
    for (column, (name, model)) in
        [(&l.natural, &pair.natural), (&l.robust, &pair.robust)].into_iter().enumerate()
    {
        let (train, test) = model_ranks(model);
        let paper = |measure| match paper_value(measure, 2 + column) {
            Some(v) => format!(" {v:.2} |"),
            None => " — |".into(),
        };
        let (paper_top1, paper_three) = match comparable {
            true => (paper("top1_same_class"), paper("three_of_top5_same_class")),
            false => (String::new(), String::new()),
        };
        let _ = writeln!(
            md,
            "| {} | {:.2} | {:.2} | {:.2} |{paper_top1} {:.2} |{paper_three} {:.2} |",
            p.source_label(name),
            model.summary.test.accuracy,
            model.summary.train.accuracy,
            test.top1,
            test.three_of_top5,
            train.top1,
        );
    }
    let _ = writeln!(
        md,
        "\n{} test images and {} training images; chance that a random training image shares \
         the row's class ≈ {:.0}%.",
        s.test_images,
        s.train_images,
        100.0 / class_count(&pair.natural) as f64
    );
    Ok(md)
}
