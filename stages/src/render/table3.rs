//! Table 3: each source model's accuracy on its own (source) test data, clean and under PGD
//! attack, from the pretrain artifacts' `source.json`; the paper's ImageNet top-1 beside it on the
//! paper profile; hub stand-ins for the paper's checkpoints marked. A source fetched from the hub
//! (the paper profile's) has no pretrain artifact: its row comes from `pipeline.yaml` (its
//! training constraint and, for a stand-in, what it stands in for), its accuracies are not
//! measured here.

use super::table5::pct;
use super::{paper, RenderParams};
use crate::pretrain::report::{AttackReport, SourceReport, REPORT};
use crate::threat::Constraint;
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::Path;

impl AttackReport {
    fn heading(&self) -> String {
        format!("PGD-{} {} {}", self.steps, constraint_name(self.constraint), self.epsilon_label)
    }
}

fn constraint_name(c: Constraint) -> &'static str {
    match c {
        Constraint::None => "natural",
        Constraint::L2 => "l2",
        Constraint::Linf => "l-inf",
    }
}

/// `table3.md` from the pretrain artifact directory of each source (`None`: fetched from the hub),
/// in `params.sources` order.
pub fn render(params: &RenderParams, dirs: &[Option<&Path>]) -> Result<String> {
    // Measured: the pretrain artifact's report; `None` for a fetched source.
    let mut reports: Vec<Option<SourceReport>> = Vec::new();
    for (s, dir) in params.sources.iter().zip(dirs) {
        reports.push(match dir {
            Some(dir) => {
                let path = dir.join(REPORT);
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {} (source {})", path.display(), s.name))?;
                Some(
                    serde_json::from_str(&text)
                        .with_context(|| format!("parsing {}", path.display()))?,
                )
            }
            None => None,
        });
    }
    // Attack columns: every (constraint, ε, steps) any source was attacked with, first seen first.
    let mut headings: Vec<String> = Vec::new();
    for a in reports.iter().flatten().flat_map(|r| &r.attacks) {
        if !headings.contains(&a.heading()) {
            headings.push(a.heading());
        }
    }

    let mut md = String::new();
    writeln!(md, "# Table 3: source models\n")?;
    writeln!(md, "{}\n", params.provenance())?;
    writeln!(
        md,
        "Top-1 accuracy (%) of each source model on its source test data: clean, and under the PGD attacks \
         listed (steps, constraint, radius)."
    )?;
    if params.comparable_to_paper {
        writeln!(md, "The paper's ImageNet top-1 (its Table 3) stands beside ours.")?;
    }
    write!(md, "\n| Source | Adversarial training | Clean |")?;
    for h in &headings {
        write!(md, " {h} |")?;
    }
    if params.comparable_to_paper {
        write!(md, " Paper top-1 |")?;
    }
    write!(md, " Note |\n| --- | --- | ---: |")?;
    for _ in &headings {
        write!(md, " ---: |")?;
    }
    if params.comparable_to_paper {
        write!(md, " ---: |")?;
    }
    writeln!(md, " --- |")?;

    for (s, r) in params.sources.iter().zip(&reports) {
        // What the source measured about itself, else what `pipeline.yaml` says.
        let epsilon = r.as_ref().map_or(&s.epsilon, |r| &r.epsilon_label);
        let training = match s.constraint {
            Constraint::None => "none".to_string(),
            c => format!("{} ε = {epsilon}", constraint_name(c)),
        };
        let clean = r.as_ref().map_or("—".to_string(), |r| pct(r.clean_accuracy));
        write!(md, "| {} | {training} | {clean} |", s.label)?;
        for h in &headings {
            let acc = r
                .iter()
                .flat_map(|r| &r.attacks)
                .find(|a| &a.heading() == h)
                .map_or("—".to_string(), |a| pct(a.accuracy));
            write!(md, " {acc} |")?;
        }
        if params.comparable_to_paper {
            let top1 = match &s.paper {
                Some(p) => paper::imagenet_top1(p)?.map_or("—".to_string(), pct),
                None => "—".to_string(),
            };
            write!(md, " {top1} |")?;
        }
        let mut notes = Vec::new();
        if let Some(why) = s.stand_in.as_ref().or(r.as_ref().and_then(|r| r.stand_in.as_ref())) {
            notes.push(format!("stand-in: {}", why.replace('|', "\\|")));
        }
        if r.is_none() {
            notes.push("fetched from the hub; not evaluated here".to_string());
        }
        if s.untrained {
            notes.push("never trained: the floor (its initial weights)".to_string());
        }
        writeln!(md, " {} |", notes.join("; "))?;
    }
    Ok(md)
}
