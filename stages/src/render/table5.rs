//! Table 5: mean test accuracy after fine-tuning 3 blocks, one row per target dataset × subset
//! size, one column per source; gaps in the grid are shown, never hidden.

use super::data::{self, DeltaRow, Stat, SummaryRow};
use super::paper;
use super::params::SourceLabel;
use super::RenderParams;
use crate::aggregate::columns as column;
use crate::subset::params::size_order;
use crate::threat::Constraint;
use anyhow::Result;
use polars::prelude::{col, lit};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// The paper's Table 5 fine-tunes this many blocks.
const BLOCKS: u32 = 3;

/// One entry of the table: a source at a dataset and subset size.
struct Entry<'a> {
    expected: u32,
    stat: Option<&'a SummaryRow>,
    paper: Option<f64>,
}

/// `table5.md` and `table5.csv` from the aggregate in `aggregate`.
pub fn render(params: &RenderParams, aggregate: &Path) -> Result<(String, String)> {
    let coverage = data::coverage(aggregate, data::blocks(BLOCKS))?;
    let statistic = params.statistic()?;
    let summary = data::summary(aggregate, data::at(statistic).and(data::blocks(BLOCKS)))?;
    let deltas = data::deltas(
        aggregate,
        data::at(statistic)
            .and(col(column::A_BLOCKS).eq(lit(BLOCKS)))
            .and(col(column::B_BLOCKS).eq(lit(BLOCKS))),
    )?;
    let paper = if params.comparable_to_paper { Some(paper::Table5::load()?) } else { None };

    // Rows in the order of `datasets`, then subset size.
    let mut rows: BTreeMap<(usize, u64), (&str, &str)> = BTreeMap::new();
    for c in &coverage {
        if let Some(d) = params.datasets.iter().position(|d| d.name == c.dataset) {
            rows.insert(
                (d, size_order(&c.size_label)?),
                (c.dataset.as_str(), c.size_label.as_str()),
            );
        }
    }

    let mut md = String::new();
    writeln!(md, "# Table 5: test accuracy after fine-tuning {BLOCKS} blocks\n")?;
    writeln!(md, "{}\n", params.provenance())?;
    writeln!(
        md,
        "Mean test accuracy (%) over seeds {}, ± the half-width of the 95% Student-t interval of \
         the mean (none with one seed). **Bold**: the row's best mean, and only where its paired \
         difference from every other source of the row (the same seeds, so the same training \
         subsets) has a 95% interval above zero. \"—\": no cell built; \"(k/n seeds)\": k of \
         the n expected seeds built. A header's \"(paper: …)\" names the radius of the paper's \
         source that a source stands for, where it is not its own.",
        statistic.phrase()
    )?;
    if paper.is_some() {
        writeln!(md, "Beside each value: the paper's Table 5 value and our difference from it.")?;
    }
    writeln!(md)?;
    write!(md, "| Dataset | Train images | Seeds |")?;
    for s in &params.sources {
        write!(md, " {} |", header(s)?)?;
    }
    write!(md, "\n| --- | ---: | ---: |")?;
    for _ in &params.sources {
        write!(md, " ---: |")?;
    }
    writeln!(md)?;

    let mut csv = String::from(
        "dataset,size_label,size,source,constraint,epsilon,paper_source,expected_seeds,n_seeds,mean,ci95",
    );
    csv.push_str(if paper.is_some() { ",paper,difference\n" } else { "\n" });

    for (&(d, _), &(dataset, size_label)) in &rows {
        let dataset_label = &params.datasets[d];
        let mut entries = Vec::new();
        for s in &params.sources {
            let expected = coverage
                .iter()
                .find(|c| c.source == s.name && c.dataset == dataset && c.size_label == size_label)
                .map_or(0, |c| c.expected_seeds);
            let stat = summary
                .iter()
                .find(|r| r.source == s.name && r.dataset == dataset && r.size_label == size_label);
            let paper_value = match (&paper, &dataset_label.paper, &s.paper) {
                (Some(t), Some(pd), Some(ps)) => t.value(pd, size_label, ps)?,
                _ => None,
            };
            entries.push(Entry { expected, stat, paper: paper_value });
        }
        let size = entries.iter().find_map(|e| e.stat.map(|r| r.size));
        let best = clear_best(&params.sources, &entries, &deltas, dataset);
        let seeds = entries.iter().map(|e| e.expected).max().unwrap_or(0);
        let size_text = match (size_label, size) {
            ("all", Some(n)) => format!("all ({n})"),
            _ => size_label.to_string(),
        };
        write!(md, "| {} | {size_text} | {seeds} |", dataset_label.label)?;
        for (s, e) in params.sources.iter().zip(&entries) {
            write!(md, " {} |", cell_text(e, best))?;
            let (n, mean, ci) = match e.stat {
                Some(r) => (r.stat.n.to_string(), num(Some(r.stat.mean)), num(r.stat.ci95)),
                None => ("0".into(), String::new(), String::new()),
            };
            write!(
                csv,
                "{dataset},{size_label},{},{},{},{},{},{},{n},{mean},{ci}",
                size.map_or(String::new(), |n| n.to_string()),
                s.name,
                constraint_name(s.constraint),
                s.epsilon,
                s.paper.as_deref().unwrap_or_default(),
                e.expected
            )?;
            if paper.is_some() {
                let diff = e.stat.zip(e.paper).map(|(r, p)| r.stat.mean - p);
                write!(csv, ",{},{}", num(e.paper), num(diff))?;
            }
            csv.push('\n');
        }
        writeln!(md)?;
    }
    Ok((md, csv))
}

/// A mean as printed (two decimals), for finding the row's best without float ties.
fn hundredths(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

/// The row's best mean (in hundredths) if it is clearly the best: its paired difference from
/// every other source with a mean in the row has a 95% interval above zero; `None` otherwise.
fn clear_best(
    sources: &[SourceLabel],
    entries: &[Entry],
    deltas: &[DeltaRow],
    dataset: &str,
) -> Option<i64> {
    let stats: Vec<(&str, &SummaryRow)> =
        sources.iter().zip(entries).filter_map(|(s, e)| Some((s.name.as_str(), e.stat?))).collect();
    let (best, row) = stats.iter().max_by_key(|(_, r)| hundredths(r.stat.mean))?;
    let above_zero = |other: &str| {
        deltas.iter().filter(|d| d.dataset == dataset && d.size == row.size).any(|d| {
            match (d.stat.ci95, (d.a_source.as_str(), d.b_source.as_str())) {
                (Some(ci), (a, b)) if (a, b) == (*best, other) => d.stat.mean - ci > 0.0,
                (Some(ci), (a, b)) if (a, b) == (other, *best) => d.stat.mean + ci < 0.0,
                _ => false,
            }
        })
    };
    let clear = stats.iter().filter(|(name, _)| name != best).all(|(other, _)| above_zero(other));
    clear.then(|| hundredths(row.stat.mean))
}

/// A source's column header: its label, and the paper's radius where it stands for a paper
/// source of another radius.
fn header(s: &SourceLabel) -> Result<String> {
    let paper = match &s.paper {
        Some(column) => paper::epsilon(column)?,
        None => None,
    };
    Ok(match paper {
        Some(e) if e != s.epsilon && e != "0" => format!("{} (paper: ε={e})", s.label),
        _ => s.label.clone(),
    })
}

/// A constraint as `pipeline.yaml` spells it.
pub fn constraint_name(c: Constraint) -> &'static str {
    match c {
        Constraint::None => "none",
        Constraint::L2 => "l2",
        Constraint::Linf => "linf",
    }
}

fn num(x: Option<f64>) -> String {
    x.map_or(String::new(), |v| format!("{v:.4}"))
}

/// "mean ± ci", bold when it is the row's best, with missing seeds and the paper's value noted.
fn cell_text(e: &Entry, best: Option<i64>) -> String {
    let Some(r) = e.stat else {
        return match e.paper {
            Some(p) => format!("— · paper {}", pct(p)),
            None => "—".to_string(),
        };
    };
    let Stat { n, mean, ci95 } = r.stat;
    let mut text = match ci95 {
        Some(h) => format!("{} ± {}", pct(mean), pct(h)),
        None => pct(mean),
    };
    if best == Some(hundredths(mean)) {
        text = format!("**{text}**");
    }
    if n < e.expected {
        write!(text, " ({n}/{} seeds)", e.expected).expect("writing to a String");
    }
    if let Some(p) = e.paper {
        write!(text, " · paper {} ({:+.2})", pct(p), mean - p).expect("writing to a String");
    }
    text
}

/// One row of `table5.csv` read back (by `pipeline diff`): one source at one dataset and size.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvRow {
    pub dataset: String,
    pub size_label: String,
    pub source: String,
    pub n_seeds: u32,
    /// `None` where no cell was built.
    pub mean: Option<f64>,
    pub ci95: Option<f64>,
}

/// The rows of a `table5.csv` written by [`render`] (any version with these columns).
pub fn read_csv(text: &str) -> Result<Vec<CsvRow>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| anyhow::anyhow!("table5.csv has no column `{name}`"))
    };
    let [dataset, size_label, source, n_seeds, mean, ci95] =
        ["dataset", "size_label", "source", "n_seeds", "mean", "ci95"].map(column);
    let (dataset, size_label, source, n_seeds, mean, ci95) =
        (dataset?, size_label?, source?, n_seeds?, mean?, ci95?);
    let number = |field: &str| -> Result<Option<f64>> {
        Ok(if field.is_empty() { None } else { Some(field.parse()?) })
    };
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        let field = |i: usize| {
            fields.get(i).copied().ok_or_else(|| {
                anyhow::anyhow!("table5.csv line {}: too few fields: {line:?}", n + 2)
            })
        };
        rows.push(CsvRow {
            dataset: field(dataset)?.to_string(),
            size_label: field(size_label)?.to_string(),
            source: field(source)?.to_string(),
            n_seeds: field(n_seeds)?.parse()?,
            mean: number(field(mean)?)?,
            ci95: number(field(ci95)?)?,
        });
    }
    Ok(rows)
}

/// Accuracy (percent) as the tables print it.
pub fn pct(x: f64) -> String {
    format!("{x:.2}")
}
