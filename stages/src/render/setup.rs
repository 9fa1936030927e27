//! Tables 1, 2 and 4: what was run — the fine-tuning hyper-parameters, the schedule and seeds
//! per subset size, and the target datasets as they were actually prepared (measured from the
//! prepared data, not copied from the profile). On a profile comparable to the paper, the
//! paper's values stand beside ours.

use super::{DatasetLabel, RenderParams};
use crate::data::augment::Augment;
use crate::data::Dataset;
use crate::nn::options::{FcInit, FrozenBn};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;

const SCHEDULE: &str = include_str!("../../paper/schedule.csv");
const DATASETS: &str = include_str!("../../paper/datasets.csv");

/// The paper's Table 1 (fine-tuning hyper-parameters of every run), as the paper states them.
const PAPER_TABLE1: [(&str, &str); 9] = [
    ("optimiser", "SGD"),
    ("learning rate", "0.1"),
    ("momentum", "0.9"),
    ("weight decay", "5e-4"),
    ("batch size", "128"),
    ("learning-rate decay", "÷10 at 1/3 and 2/3 of the epochs"),
    ("adversarial fine-tuning", "none"),
    ("frozen BatchNorm layers", "train mode (the authors' code)"),
    ("new fc initialisation", "N(0, 1) (the authors' code)"),
];

/// `| a | b |` from cells.
fn row(cells: &[String]) -> String {
    format!("| {} |\n", cells.join(" | "))
}

fn header(md: &mut String, title: &str, p: &RenderParams, columns: &[&str]) {
    let _ = writeln!(md, "# {title}\n\n{}\n", p.provenance());
    md.push_str(&row(&columns.iter().map(|c| c.to_string()).collect::<Vec<_>>()));
    md.push_str(&row(&vec!["---".to_string(); columns.len()]));
}

/// Table 1: the fine-tuning hyper-parameters.
pub fn table1(p: &RenderParams) -> Result<String> {
    let f = p.finetune.as_ref().context("Table 1 needs the profile's fine-tuning settings")?;
    let a = &f.augment;
    let ours = [
        "SGD".to_string(),
        f.lr.to_string(),
        f.momentum.to_string(),
        f.weight_decay.to_string(),
        f.batch.to_string(),
        "÷10 at the epochs of Table 2".to_string(),
        "none".to_string(),
        match f.frozen_bn {
            FrozenBn::Train => "train mode (batch statistics)".to_string(),
            FrozenBn::Eval => "eval mode (running statistics)".to_string(),
        },
        match f.fc_init {
            FcInit::Normal1 => "N(0, 1)".to_string(),
            FcInit::PytorchDefault => "PyTorch's default (uniform)".to_string(),
        },
    ];
    let mut md = String::new();
    let paper = p.comparable_to_paper;
    let columns: &[&str] =
        if paper { &["setting", "this run", "paper"] } else { &["setting", "this run"] };
    header(&mut md, "Table 1: fine-tuning hyper-parameters", p, columns);
    for ((name, theirs), ours) in PAPER_TABLE1.iter().zip(ours) {
        let mut cells = vec![name.to_string(), ours];
        if paper {
            cells.push(theirs.to_string());
        }
        md.push_str(&row(&cells));
    }
    let mut cells = vec!["augmentation".to_string(), augmentation(a)];
    if paper {
        cells.push("random crop and rotation".into());
    }
    md.push_str(&row(&cells));
    let _ = writeln!(md, "\nEvaluation batch: {} images (no effect on results).", f.eval_batch);
    Ok(md)
}

/// The transforms `a` turns on, in the order they apply; "none" when it turns on none.
fn augmentation(a: &Augment) -> String {
    let mut parts = vec![];
    if a.pad > 0 {
        parts.push(format!("random crop after {} px padding", a.pad));
    }
    if a.flip {
        parts.push("horizontal flip".into());
    }
    if a.jitter > 0.0 {
        parts.push(format!("colour jitter {}", a.jitter));
    }
    if a.rotation > 0.0 {
        parts.push(format!("rotation ±{}°", a.rotation));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// One row of the paper's Table 2, by its subset-size label.
fn paper_schedule() -> Vec<Vec<String>> {
    SCHEDULE.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
}

/// Table 2: epochs, seeds, evaluation and learning-rate decay per subset size.
pub fn table2(p: &RenderParams) -> Result<String> {
    let paper = p.comparable_to_paper;
    let theirs = paper_schedule();
    let mut columns =
        vec!["train images", "epochs", "seeds", "evaluated every", "lr ÷10 after epoch"];
    if paper {
        columns.extend(["paper: epochs", "paper: seeds", "paper: every", "paper: ÷10 at"]);
    }
    let mut md = String::new();
    header(&mut md, "Table 2: schedule and seeds per training-subset size", p, &columns);
    for s in &p.schedule {
        let decay: Vec<String> = s.lr_decay.iter().map(ToString::to_string).collect();
        let mut cells = vec![
            s.size.clone(),
            s.epochs.to_string(),
            s.seeds.to_string(),
            format!("{} epoch(s)", s.eval_every),
            if decay.is_empty() { "never".into() } else { decay.join(", ") },
        ];
        if paper {
            match theirs.iter().find(|r| r[0] == s.size) {
                Some(r) => cells.extend([1, 2, 3, 4].map(|i| r[i].replace('/', ", "))),
                None => cells.extend(std::iter::repeat_n("—".to_string(), 4)),
            }
        }
        md.push_str(&row(&cells));
    }
    let seeds: Vec<String> = (0..3).map(|i| (20_000_000 + 100_000 * i).to_string()).collect();
    let _ = writeln!(
        md,
        "\nSeeds are {}, … (20000000 + 100000·i). Fine-tuned blocks: {}. Learning-rate decay epochs \
         count from 0: the rate is divided by 10 once that many epochs are done.",
        seeds.join(", "),
        p.blocks.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    );
    Ok(md)
}

/// What Table 4 shows of one prepared split.
struct Measured {
    images: usize,
    classes_present: usize,
    classes: usize,
    channels: usize,
    size: (usize, usize),
}

fn measure(dir: &Path) -> Result<Measured> {
    let d = Dataset::load(dir)?;
    let present: BTreeSet<u32> = d.labels.iter().copied().collect();
    Ok(Measured {
        images: d.len(),
        classes_present: present.len(),
        classes: d.classes,
        channels: d.channels,
        size: (d.height, d.width),
    })
}

fn colour(channels: usize) -> &'static str {
    if channels == 1 {
        "grayscale"
    } else {
        "colour"
    }
}

/// Table 4: each target dataset as prepared, measured from its `prepare` artifact (`train/` and
/// `test/`); `None`: the dataset failed to prepare, and its row says so.
pub fn table4(p: &RenderParams, prepared: &[(&DatasetLabel, Option<&Path>)]) -> Result<String> {
    let paper = p.comparable_to_paper;
    let theirs: Vec<Vec<&str>> = DATASETS.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let mut columns =
        vec!["dataset", "train images", "test images", "classes", "images", "stored size"];
    if paper {
        columns.extend(["paper: train", "paper: test", "paper: classes", "paper: images"]);
    }
    let mut md = String::new();
    header(&mut md, "Table 4: target datasets as prepared", p, &columns);
    for (label, dir) in prepared {
        let Some(dir) = dir else {
            let mut cells = vec![label.label.clone(), "— (not prepared: see its log)".into()];
            cells.extend(std::iter::repeat_n("—".to_string(), columns.len() - 2));
            md.push_str(&row(&cells));
            continue;
        };
        let train =
            measure(&dir.join("train")).with_context(|| format!("{}: train", label.name))?;
        let test = measure(&dir.join("test")).with_context(|| format!("{}: test", label.name))?;
        let classes = if train.classes_present == train.classes {
            train.classes.to_string()
        } else {
            format!("{} ({} in the training split)", train.classes, train.classes_present)
        };
        let mut cells = vec![
            label.label.clone(),
            train.images.to_string(),
            test.images.to_string(),
            classes,
            colour(train.channels).to_string(),
            format!("{}×{}", train.size.0, train.size.1),
        ];
        if paper {
            let name = label.paper.as_deref().unwrap_or(&label.label);
            match theirs.iter().find(|r| r[0] == name) {
                Some(r) => cells.extend([r[1], r[2], r[3], r[4]].map(|c| {
                    if c == "color" {
                        "colour".to_string()
                    } else {
                        c.to_string()
                    }
                })),
                None => cells.extend(std::iter::repeat_n("—".to_string(), 4)),
            }
        }
        md.push_str(&row(&cells));
    }
    md.push_str(
        "\nCounted in the prepared data that fine-tuning reads; images are up-scaled to the \
         network's resolution when used.\n",
    );
    Ok(md)
}
