//! Table 3: each source model's accuracy on its own (source) test data, clean and under PGD
//! attack, from the pretrain artifacts' `source.json`; the paper's ImageNet top-1 beside it on the
//! paper profile; hub stand-ins for the paper's checkpoints marked.

use super::{paper, pct, RenderParams};
use crate::pretrain::report::{AttackReport, SourceReport, REPORT};
use crate::study::config::Constraint;
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

/// `table3.md` from the pretrain artifact directory of each source, in `params.sources` order.
pub fn render(params: &RenderParams, dirs: &[(&str, &Path)]) -> Result<String> {
    let mut reports = Vec::new();
    for (name, dir) in dirs {
        let path = dir.join(REPORT);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (source {name})", path.display()))?;
        let report: SourceReport =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        reports.push(report);
    }
    // Attack columns: every (constraint, ε, steps) any source was attacked with, first seen first.
    let mut headings: Vec<String> = Vec::new();
    for a in reports.iter().flat_map(|r| &r.attacks) {
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
        let training = match r.constraint {
            Constraint::None => "none".to_string(),
            c => format!("{} ε = {}", constraint_name(c), r.epsilon_label),
        };
        write!(md, "| {} | {training} | {} |", s.label, pct(r.clean_accuracy))?;
        for h in &headings {
            let acc = r
                .attacks
                .iter()
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
        let note = r
            .stand_in
            .as_deref()
            .map_or(String::new(), |n| format!("stand-in: {}", n.replace('|', "\\|")));
        writeln!(md, " {note} |")?;
    }
    Ok(md)
}
