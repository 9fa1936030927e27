//! `findings.md`: what the study says, in sentences a reviewer can quote. Per target and subset
//! size, the sign and interval of each robust source minus natural after fine-tuning 3 blocks,
//! beside the sign of the same difference in the paper's Table 5; the predictions written down
//! before the run (STUDY.md) and whether each held; how many cells fitted their subsets; and the
//! manipulation checks' outcome. A difference "holds" only where its paired 95% interval
//! excludes zero.

use super::data::{self, CoverageRow, DeltaRow, Stat, SummaryRow};
use super::paper;
use super::params::{DatasetLabel, SourceLabel};
use super::RenderParams;
use crate::aggregate::columns::{self as column, FITTED};
use crate::probe::checks::{self, Probed};
use crate::threat::Constraint;
use anyhow::Result;
use polars::prelude::{col, lit};
use std::fmt::Write;
use std::path::Path;

/// The fine-tuning depth of the findings (the paper's Table 5).
const BLOCKS: u32 = 3;

/// The paper's targets of natural images, near ImageNet; the others are far from it.
const NEAR: [&str; 2] = ["CIFAR-10", "CIFAR-100"];

/// A paired difference's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    Above,
    Below,
    Unclear,
}

fn sign(s: &Stat) -> Sign {
    match (s.ci95, s.interval()) {
        (Some(_), (lo, _)) if lo > 0.0 => Sign::Above,
        (Some(_), (_, hi)) if hi < 0.0 => Sign::Below,
        _ => Sign::Unclear,
    }
}

/// "+2.10 [+0.40, +3.80]", or "+2.10 (one seed)".
fn interval(s: &Stat) -> String {
    match s.ci95 {
        Some(_) => {
            let (lo, hi) = s.interval();
            format!("{:+.2} [{lo:+.2}, {hi:+.2}]", s.mean)
        }
        None => format!("{:+.2} (one seed)", s.mean),
    }
}

/// The study's paired differences at 3 blocks, read once.
struct Differences {
    rows: Vec<DeltaRow>,
}

impl Differences {
    /// `a − b` on `dataset` at `size` images.
    fn get(&self, a: &str, b: &str, dataset: &str, size: u64) -> Option<&Stat> {
        let found = self
            .rows
            .iter()
            .find(|d| d.a_source == a && d.b_source == b && d.dataset == dataset && d.size == size);
        found.map(|d| &d.stat)
    }
}

/// `findings.md` from the 3-block aggregate and, where the profile has them, the manipulation
/// checks' artifacts.
pub fn render(params: &RenderParams, aggregate: &Path, probed: &[Probed]) -> Result<String> {
    let statistic = params.statistic()?;
    let at = data::at(statistic)
        .and(col(column::A_BLOCKS).eq(lit(BLOCKS)))
        .and(col(column::B_BLOCKS).eq(lit(BLOCKS)));
    let diffs = Differences { rows: data::deltas(aggregate, at)? };
    let coverage = data::coverage(aggregate, data::blocks(BLOCKS))?;
    let summary = data::summary(aggregate, data::at(statistic).and(data::blocks(BLOCKS)))?;
    let natural = params.natural()?;
    let robust: Vec<&SourceLabel> =
        params.sources.iter().filter(|s| s.constraint != Constraint::None).collect();
    let floor = params.sources.iter().find(|s| s.untrained);
    let mut sizes: Vec<(u64, String)> = Vec::new();
    for d in &diffs.rows {
        if !sizes.iter().any(|(n, _)| *n == d.size) {
            sizes.push((d.size, size_label(&summary, d)));
        }
    }
    sizes.sort();
    let paper_table = paper::Table5::load()?;

    let mut md = String::new();
    writeln!(md, "# Findings\n")?;
    writeln!(md, "{}\n", params.provenance())?;
    writeln!(
        md,
        "Each robust source minus {} after fine-tuning {BLOCKS} blocks, {}: the mean of the \
         paired differences over seeds (each seed is one training subset, shared by the sources) \
         and its 95% Student-t interval. ▲ / ▼: the interval is above / below zero; ·: it \
         includes zero. \"paper\": the sign of the same difference in the paper's Table 5 (the \
         paper's source each one stands for, at the same number of training images), where the \
         paper has the cell. The predictions are those written down before the run (STUDY.md).",
        natural.label,
        statistic.phrase()
    )?;

    // The tables, one per target.
    let mut tally = [0usize; 3];
    let mut agree = (0usize, 0usize);
    for d in &params.datasets {
        writeln!(md, "\n## {} ({})\n", d.label, if near(d) { "near" } else { "far" })?;
        write!(md, "| Images |")?;
        for r in &robust {
            write!(md, " {} − {} | paper |", r.label, natural.label)?;
        }
        if let Some(f) = floor {
            write!(md, " {} − {} |", natural.label, f.label)?;
        }
        write!(md, "\n| ---: |")?;
        for _ in &robust {
            write!(md, " ---: | :---: |")?;
        }
        if floor.is_some() {
            write!(md, " ---: |")?;
        }
        writeln!(md)?;
        let here = sizes
            .iter()
            .filter(|(n, _)| diffs.rows.iter().any(|r| r.dataset == d.name && r.size == *n));
        for (size, label) in here {
            write!(md, "| {label} |")?;
            for r in &robust {
                let ours = diffs.get(&r.name, &natural.name, &d.name, *size);
                let theirs = paper_sign(&paper_table, d, label, r, natural)?;
                if let Some(s) = ours {
                    tally[sign(s) as usize] += 1;
                    if let (Some(p), Sign::Above | Sign::Below) = (theirs, sign(s)) {
                        agree.1 += 1;
                        agree.0 += usize::from((p > 0.0) == (sign(s) == Sign::Above));
                    }
                }
                write!(
                    md,
                    " {} | {} |",
                    ours.map_or("—".into(), |s| format!("{} {}", marker(s), interval(s))),
                    theirs.map_or("—", |p| if p > 0.0 { "+" } else { "−" })
                )?;
            }
            if let Some(f) = floor {
                let s = diffs.get(&natural.name, &f.name, &d.name, *size);
                write!(
                    md,
                    " {} |",
                    s.map_or("—".into(), |s| format!("{} {}", marker(s), interval(s)))
                )?;
            }
            writeln!(md)?;
        }
    }

    writeln!(md, "\n## What the numbers say\n")?;
    let cells = tally.iter().sum::<usize>();
    writeln!(
        md,
        "- Of the {cells} robust − {} differences above, {} are above zero, {} below zero and \
         {} include zero. Where ours excludes zero and the paper has the cell, its sign is the \
         paper's in {} of {}.",
        natural.label, tally[0], tally[1], tally[2], agree.0, agree.1
    )?;
    let (smallest, largest) = (sizes.first(), sizes.last());
    let l2 = robust.iter().find(|s| s.constraint == Constraint::L2);
    if let (Some(l2), Some((small, small_label))) = (l2, smallest) {
        let far: Vec<&DatasetLabel> = params.datasets.iter().filter(|d| !near(d)).collect();
        let held: Vec<(&DatasetLabel, Option<&Stat>)> =
            far.iter().map(|d| (*d, diffs.get(&l2.name, &natural.name, &d.name, *small))).collect();
        let all =
            !held.is_empty() && held.iter().all(|(_, s)| s.is_some_and(|s| sign(s) == Sign::Above));
        writeln!(
            md,
            "- **H2** ({} − {} > 0 at {small_label} images on each far target): {}. {}.",
            l2.label,
            natural.label,
            if all { "held" } else { "did not hold" },
            listed(&held)
        )?;
        if let Some((large, large_label)) = largest.filter(|(n, _)| n != small) {
            let shrank: Vec<&str> = params
                .datasets
                .iter()
                .filter(|d| {
                    let at = |n| diffs.get(&l2.name, &natural.name, &d.name, n).map(|s| s.mean);
                    matches!((at(*small), at(*large)), (Some(a), Some(b)) if b < a)
                })
                .map(|d| d.label.as_str())
                .collect();
            let needed = 3.min(params.datasets.len());
            writeln!(
                md,
                "- **H4** ({} − {} smaller at {large_label} images than at {small_label} on at \
                 least {needed} targets): {}; it is smaller on {} of {}{}.",
                l2.label,
                natural.label,
                if shrank.len() >= needed { "held" } else { "did not hold" },
                shrank.len(),
                params.datasets.len(),
                if shrank.is_empty() { String::new() } else { format!(" ({})", shrank.join(", ")) }
            )?;
        }
    }
    if let (Some(f), Some((small, small_label))) = (floor, smallest) {
        let trained: Vec<&SourceLabel> = params.sources.iter().filter(|s| !s.untrained).collect();
        let mut failed = Vec::new();
        for d in &params.datasets {
            for s in &trained {
                match diffs.get(&s.name, &f.name, &d.name, *small) {
                    Some(st) if sign(st) == Sign::Above => {}
                    st => failed.push(format!(
                        "{} on {} ({})",
                        s.label,
                        d.label,
                        st.map_or("not built".into(), interval)
                    )),
                }
            }
        }
        writeln!(
            md,
            "- **H3** (every pre-trained source beats {} at {small_label} images on every \
             target): {}{}.",
            f.label,
            if failed.is_empty() { "held" } else { "did not hold" },
            if failed.is_empty() {
                String::new()
            } else {
                format!("; not for {}", failed.join(", "))
            }
        )?;
    }
    writeln!(md, "- {}", fitted(&coverage, &sizes))?;
    match checks::natural_of(probed) {
        Some(nat) => {
            writeln!(md, "\n## The mechanism (the manipulation checks, checks.md)\n")?;
            for m in probed.iter().filter(|m| m.label.constraint != Constraint::None) {
                writeln!(md, "- {}", checks::mechanism(m, nat))?;
            }
            writeln!(md, "- {}", checks::hypotheses(probed, nat))?;
        }
        None => writeln!(md, "\nThis profile has no manipulation checks.")?,
    }
    Ok(md)
}

fn near(d: &DatasetLabel) -> bool {
    d.paper.as_deref().is_some_and(|p| NEAR.contains(&p))
}

fn marker(s: &Stat) -> &'static str {
    match sign(s) {
        Sign::Above => "▲",
        Sign::Below => "▼",
        Sign::Unclear => "·",
    }
}

/// The subset's name for a delta row's size (`100`, `all`), from the summary.
fn size_label(summary: &[SummaryRow], d: &DeltaRow) -> String {
    summary
        .iter()
        .find(|r| r.dataset == d.dataset && r.size == d.size)
        .map_or(d.size.to_string(), |r| r.size_label.clone())
}

/// The paper's robust − natural at this cell of its Table 5, if it has it.
fn paper_sign(
    table: &paper::Table5,
    d: &DatasetLabel,
    size_label: &str,
    robust: &SourceLabel,
    natural: &SourceLabel,
) -> Result<Option<f64>> {
    let (Some(dataset), Some(r), Some(n)) = (&d.paper, &robust.paper, &natural.paper) else {
        return Ok(None);
    };
    Ok(table
        .value(dataset, size_label, r)?
        .zip(table.value(dataset, size_label, n)?)
        .map(|(a, b)| a - b))
}

/// "on SVHN +2.10 [+0.40, +3.80], on FMNIST …".
fn listed(items: &[(&DatasetLabel, Option<&Stat>)]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|(d, s)| format!("{}: {}", d.label, s.map_or("not built".into(), interval)))
        .collect();
    if parts.is_empty() {
        "The profile has no far target".into()
    } else {
        parts.join("; ")
    }
}

/// The fitting criterion's count, overall and per size.
fn fitted(coverage: &[CoverageRow], sizes: &[(u64, String)]) -> String {
    let count = |rows: &mut dyn Iterator<Item = &CoverageRow>| {
        rows.fold((0, 0), |(f, b), c| (f + c.fitted_seeds, b + c.built_seeds))
    };
    let (f, b) = count(&mut coverage.iter());
    let per_size: Vec<String> = sizes
        .iter()
        .map(|(_, label)| {
            let (f, b) = count(&mut coverage.iter().filter(|c| &c.size_label == label));
            format!("{f} of {b} at {label} images")
        })
        .collect();
    format!(
        "Fitting: {f} of the {b} built {BLOCKS}-block cells ({:.0}%) reached at least {FITTED:.0}% \
         accuracy on their own training subset after the last epoch ({}).",
        if b > 0 { 100.0 * f as f64 / b as f64 } else { 0.0 },
        per_size.join(", ")
    )
}
