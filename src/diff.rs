//! `pipeline diff [REV]`: the profile's reports in the working tree against those committed at a
//! git revision, printed as Markdown for a review comment: the Table 5 cells that moved, and the
//! nodes of the lock file that changed, each with the reason (stage code, a named parameter, an
//! input) and whether its result changed.

use anyhow::{bail, Context, Result};
use pipeline_engine::{param_changes, Dag, Fault, FaultContext, LockFile, LockedNode};
use pipeline_stages::render::table5::{self, CsvRow};
use pipeline_stages::study::{self, Study};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::Path;
use std::process::Command;

/// How many node ids a group of changed nodes names before "… and N more".
const IDS_SHOWN: usize = 3;

/// Print the comparison; returns whether anything moved.
pub fn print(
    root: &Path,
    config: &Path,
    study: &Study,
    dag: &Dag,
    lock_path: &Path,
    rev: &str,
) -> Result<bool> {
    let git = Git::at(root, rev)?;
    let new_text = std::fs::read_to_string(root.join(lock_path))
        .with_context(|| {
            format!(
                "the working tree has no {} (run `pipeline --profile {} run` first)",
                lock_path.display(),
                study.profile
            )
        })
        .fault(Fault::Input)?;
    let new = LockFile::parse(&new_text)
        .with_context(|| format!("reading {}", root.join(lock_path).display()))?;
    let mut out = String::new();
    let old = match git.show(lock_path)? {
        Some(text) => LockFile::parse(&text)
            .with_context(|| format!("reading {} at {rev}", lock_path.display()))?,
        None => {
            writeln!(out, "_{rev} has no `{}`: everything is new._\n", lock_path.display())?;
            LockFile::default()
        }
    };
    for (lock, place) in [(&old, rev), (&new, "the working tree")] {
        if let Some(p) = lock.profile.as_ref().filter(|p| **p != study.profile) {
            bail!(
                "the reports in {place} ({}) were built with profile `{p}`, not `{}`; compare \
                 them with `pipeline --profile {p} diff`",
                lock_path.display(),
                study.profile
            );
        }
    }

    writeln!(out, "## Reports: {rev} → working tree (profile `{}`)\n", study.profile)?;
    let csv = lock_path.with_file_name("table5.csv");
    let old_rows = git.show(&csv)?.map(|t| table5::read_csv(&t)).transpose()?;
    let new_rows = match std::fs::read_to_string(root.join(&csv)) {
        Ok(t) => Some(table5::read_csv(&t)?),
        Err(_) => None,
    };
    let table_moved = write_table5(&mut out, &csv, old_rows, new_rows)?;

    let old_params = match git.show(config_in_repo(root, config)?)? {
        Some(text) => match study::load_text(&text, config, Some(&study.profile)) {
            Ok(old) => Some(old.nodes.into_iter().map(|n| (n.id, n.params)).collect()),
            Err(e) => {
                writeln!(
                    out,
                    "_The study file at {rev} does not load with this version ({e:#}); \
                     parameters are not compared._\n"
                )?;
                None
            }
        },
        None => None,
    };
    let nodes_moved = write_nodes(&mut out, dag, &old, &new, old_params.as_ref())?;
    print!("{out}");
    Ok(table_moved || nodes_moved || old.reports != new.reports)
}

/// A git revision of the repository that holds the project.
struct Git<'a> {
    root: &'a Path,
    commit: String,
}

impl<'a> Git<'a> {
    fn at(root: &'a Path, rev: &str) -> Result<Git<'a>> {
        let inside = git(root, &["rev-parse", "--is-inside-work-tree"])
            .context("running git (is it installed?)")?;
        if !inside.status.success() {
            bail!(
                "{} is not in a git repository: `pipeline diff` compares with committed reports",
                root.display()
            );
        }
        let found = git(root, &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])?;
        if !found.status.success() {
            bail!("unknown git revision `{rev}`");
        }
        Ok(Git { root, commit: String::from_utf8_lossy(&found.stdout).trim().to_string() })
    }

    /// The text of `path` (relative to the project root) at the revision; `None` when absent.
    fn show(&self, path: &Path) -> Result<Option<String>> {
        let spec = format!("{}:./{}", self.commit, path.to_string_lossy().replace('\\', "/"));
        let shown = git(self.root, &["show", &spec])?;
        Ok(shown.status.success().then(|| String::from_utf8_lossy(&shown.stdout).into_owned()))
    }
}

fn git(root: &Path, args: &[&str]) -> Result<std::process::Output> {
    Ok(Command::new("git").arg("-C").arg(root).args(args).output()?)
}

/// `config` relative to the project root (where git paths start).
fn config_in_repo<'c>(root: &Path, config: &'c Path) -> Result<&'c Path> {
    if let Ok(rel) = config.strip_prefix(root) {
        return Ok(rel);
    }
    config.file_name().map(Path::new).with_context(|| format!("{} names no file", config.display()))
}

type CellId = (String, String, String);

fn cell_id(r: &CsvRow) -> CellId {
    (r.dataset.clone(), r.size_label.clone(), r.source.clone())
}

/// `72.31 ± 1.20 (3)`: mean, interval half-width and seeds as Table 5 has them.
fn stat(r: &CsvRow) -> String {
    match (r.mean, r.ci95) {
        (Some(m), Some(h)) => format!("{m:.2} ± {h:.2} ({})", r.n_seeds),
        (Some(m), None) => format!("{m:.2} ({})", r.n_seeds),
        _ => "—".to_string(),
    }
}

/// The Table 5 section; returns whether a cell moved, appeared or disappeared.
fn write_table5(
    out: &mut String,
    csv: &Path,
    old: Option<Vec<CsvRow>>,
    new: Option<Vec<CsvRow>>,
) -> Result<bool> {
    writeln!(out, "### Table 5 (`{}`)\n", csv.display())?;
    let index = |rows: Option<Vec<CsvRow>>| -> BTreeMap<CellId, CsvRow> {
        rows.unwrap_or_default().into_iter().map(|r| (cell_id(&r), r)).collect()
    };
    let (old, new) = (index(old), index(new));
    let mut moved = Vec::new();
    for (id, n) in &new {
        if let Some(o) = old.get(id) {
            if (o.mean, o.ci95, o.n_seeds) != (n.mean, n.ci95, n.n_seeds) {
                moved.push((o, n));
            }
        }
    }
    let added: Vec<&CellId> = new.keys().filter(|id| !old.contains_key(*id)).collect();
    let removed: Vec<&CellId> = old.keys().filter(|id| !new.contains_key(*id)).collect();
    if moved.is_empty() && added.is_empty() && removed.is_empty() {
        writeln!(out, "No cell moved ({} cells).\n", new.len())?;
        return Ok(false);
    }
    writeln!(out, "{} of {} cells moved.\n", moved.len(), new.len())?;
    if !moved.is_empty() {
        writeln!(
            out,
            "| Dataset | Size | Source | Before | After | Change | Outside the old 95% CI |"
        )?;
        writeln!(out, "| --- | ---: | --- | ---: | ---: | ---: | :---: |")?;
        for (o, n) in &moved {
            let change = o.mean.zip(n.mean).map(|(a, b)| b - a);
            let outside = match (change, o.ci95) {
                (Some(d), Some(h)) => if d.abs() > h { "**yes**" } else { "no" }.to_string(),
                (Some(_), None) => "no interval".to_string(),
                _ => String::new(),
            };
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {outside} |",
                n.dataset,
                n.size_label,
                n.source,
                stat(o),
                stat(n),
                change.map_or(String::new(), |d| format!("{d:+.2}"))
            )?;
        }
        writeln!(out)?;
    }
    for (what, ids) in [("Added", &added), ("Removed", &removed)] {
        if !ids.is_empty() {
            let names: Vec<String> = ids.iter().map(|(d, n, s)| format!("{d} {n} {s}")).collect();
            writeln!(out, "{what}: {}.\n", names.join("; "))?;
        }
    }
    Ok(true)
}

/// The nodes section; returns whether any node of the lock file changed.
fn write_nodes(
    out: &mut String,
    dag: &Dag,
    old: &LockFile,
    new: &LockFile,
    old_params: Option<&BTreeMap<String, serde_json::Value>>,
) -> Result<bool> {
    let by_id = |lock: &LockFile| -> BTreeMap<String, Vec<LockedNode>> {
        let mut m: BTreeMap<String, Vec<LockedNode>> = BTreeMap::new();
        for n in &lock.nodes {
            m.entry(n.id.clone()).or_default().push(n.clone());
        }
        m
    };
    let (old_ids, new_ids) = (by_id(old), by_id(new));
    let content = |m: &BTreeMap<String, Vec<LockedNode>>, id: &str| {
        m.get(id).map(|v| v.iter().map(|n| n.content.clone()).collect::<BTreeSet<_>>())
    };
    // (kind, reasons, result) → ids
    let mut groups: BTreeMap<(String, String, &str), Vec<&str>> = BTreeMap::new();
    let mut unchanged = 0;
    for (id, now) in &new_ids {
        let Some(before) = old_ids.get(id) else { continue };
        let keys = |v: &[LockedNode]| v.iter().map(|n| n.key.clone()).collect::<BTreeSet<_>>();
        if keys(before) == keys(now) {
            unchanged += 1;
            continue;
        }
        let kind = dag.index_of(id).map_or_else(
            || id.split('/').next().unwrap_or(id).to_string(),
            |i| dag.node(i).kind.clone(),
        );
        let mut reasons = Vec::new();
        let fingerprints = |v: &[LockedNode]| -> Option<BTreeSet<String>> {
            v.iter().map(|n| n.fingerprint.clone()).collect()
        };
        if let (Some(a), Some(b)) = (fingerprints(before), fingerprints(now)) {
            if a != b {
                reasons.push(format!("code of stage {kind} changed"));
            }
        }
        if let (Some(i), Some(params)) = (dag.index_of(id), old_params) {
            match params.get(id.as_str()) {
                Some(p) => reasons.extend(param_changes(p, &dag.node(i).params)),
                None => reasons.push("not in the study at that revision".to_string()),
            }
        }
        if let Some(i) = dag.index_of(id) {
            let inputs: BTreeSet<&str> =
                dag.inputs_of(i).iter().map(|&j| dag.node(j).id.as_str()).collect();
            let changed: Vec<&str> = inputs
                .into_iter()
                .filter(|input| content(&old_ids, input) != content(&new_ids, input))
                .collect();
            match changed.as_slice() {
                [] => {}
                [one] => reasons.push(format!("input {one} changed")),
                many => reasons.push(format!("{} inputs changed", many.len())),
            }
        }
        if reasons.is_empty() {
            reasons.push("key changed (code or parameters not recorded at that revision)".into());
        }
        let result = if content(&old_ids, id) == content(&new_ids, id) {
            "same result"
        } else {
            "result changed"
        };
        groups.entry((kind, reasons.join("; "), result)).or_default().push(id);
    }
    let added: Vec<&String> = new_ids.keys().filter(|id| !old_ids.contains_key(*id)).collect();
    let removed: Vec<&String> = old_ids.keys().filter(|id| !new_ids.contains_key(*id)).collect();
    let changed: usize = groups.values().map(Vec::len).sum();
    writeln!(out, "### Nodes (`pipeline.lock`)\n")?;
    writeln!(
        out,
        "{changed} changed, {} added, {} removed, {unchanged} unchanged.\n",
        added.len(),
        removed.len()
    )?;
    for ((kind, why, result), ids) in &groups {
        writeln!(out, "- **{kind}** × {}: {why} — {result}: {}", ids.len(), some_ids(ids))?;
    }
    for (what, ids) in [("added", &added), ("removed", &removed)] {
        if !ids.is_empty() {
            let ids: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
            writeln!(out, "- {} {what}: {}", ids.len(), some_ids(&ids))?;
        }
    }
    Ok(changed + added.len() + removed.len() > 0)
}

/// "`a`, `b`, `c` and 4 more"
fn some_ids(ids: &[&str]) -> String {
    let shown: Vec<String> = ids.iter().take(IDS_SHOWN).map(|id| format!("`{id}`")).collect();
    match ids.len().saturating_sub(IDS_SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}
