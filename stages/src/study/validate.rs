//! Checks a parsed profile for what the types cannot say: names that must exist or be unique,
//! schedules that must make sense. Each problem names its place in the file.

use crate::threat::Constraint;

use super::config::{DataOrigin, Profile, SourceOrigin};

use super::locate::Seg::{self, Index, Key};
use crate::subset::params::SubsetSize;
use std::collections::BTreeSet;

/// A problem at a path of the file (`profiles.mini.grid.datasets[2]`).
#[derive(Debug)]
pub struct Problem<'a> {
    pub path: Vec<Seg<'a>>,
    pub message: String,
}

/// The largest fine-tuning depth the ResNet-50 layout has: 3 + 4 + 6 + 3 bottleneck blocks.
const MAX_BLOCKS: usize = 16;

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['_', '.', '-'])
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Every number of profile `name` (its subtree `profile` of the parsed file) that is NaN or
/// infinite.
pub fn non_finite_numbers<'a>(name: &'a str, profile: &'a yaml_serde::Value) -> Vec<Problem<'a>> {
    fn walk<'a>(value: &'a yaml_serde::Value, path: &mut Vec<Seg<'a>>, out: &mut Vec<Problem<'a>>) {
        match value {
            yaml_serde::Value::Number(n) if n.as_f64().is_some_and(|f| !f.is_finite()) => {
                out.push(Problem {
                    path: path.clone(),
                    message: format!("`{n}` is not a finite number"),
                });
            }
            yaml_serde::Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Index(i));
                    walk(item, path, out);
                    path.pop();
                }
            }
            yaml_serde::Value::Mapping(map) => {
                for (key, item) in map {
                    if let Some(key) = key.as_str() {
                        path.push(Key(key));
                        walk(item, path, out);
                        path.pop();
                    }
                }
            }
            yaml_serde::Value::Tagged(tagged) => walk(&tagged.value, path, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(profile, &mut vec![Key("profiles"), Key(name)], &mut out);
    out
}

/// Every problem of profile `name` (empty when it is valid).
pub fn check<'a>(name: &'a str, p: &'a Profile) -> Vec<Problem<'a>> {
    let mut out = Vec::new();
    let at = |rest: &[Seg<'a>]| [&[Key("profiles"), Key(name)], rest].concat();
    let mut problem = |path: Vec<Seg<'a>>, message: String| out.push(Problem { path, message });
    if !valid_name(name) {
        // It names the profile's reports folder (`reports/<profile>`) and its store namespace.
        problem(
            vec![Key("profiles"), Key(name)],
            format!("profile name `{name}` must be letters, digits, `_`, `-` or `.`, not starting with `_`, `-` or `.`"),
        );
    }

    for (list, names) in [
        ("sources", p.sources.iter().map(|s| s.name.as_str()).collect::<Vec<_>>()),
        ("datasets", p.datasets.iter().map(|d| d.name.as_str()).collect()),
    ] {
        let mut seen = BTreeSet::new();
        for (i, n) in names.iter().enumerate() {
            if !valid_name(n) {
                problem(
                    at(&[Key(list), Index(i), Key("name")]),
                    format!("name `{n}` must be letters, digits, `_`, `-` or `.`, not starting with `_`, `-` or `.`"),
                );
            }
            if !seen.insert(*n) {
                problem(at(&[Key(list), Index(i), Key("name")]), format!("`{n}` is defined twice"));
            }
        }
    }

    let defined_sources: Vec<&str> = p.sources.iter().map(|s| s.name.as_str()).collect();
    let defined_datasets: Vec<&str> = p.datasets.iter().map(|d| d.name.as_str()).collect();
    for (list, used, defined) in [
        ("sources", &p.grid.sources, &defined_sources),
        ("datasets", &p.grid.datasets, &defined_datasets),
    ] {
        for (i, u) in used.iter().enumerate() {
            if !defined.contains(&u.as_str()) {
                problem(
                    at(&[Key("grid"), Key(list), Index(i)]),
                    format!(
                        "unknown {} `{u}`; defined {list}: {}",
                        &list[..list.len() - 1],
                        defined.join(", ")
                    ),
                );
            }
        }
        if used.is_empty() {
            problem(
                at(&[Key("grid"), Key(list)]),
                format!("the grid needs at least one of the {list}"),
            );
        }
    }

    for (i, s) in p.sources.iter().enumerate() {
        if (s.constraint == Constraint::None) != (s.epsilon.value == 0.0) {
            problem(
                at(&[Key("sources"), Index(i), Key("epsilon")]),
                "epsilon must be 0 exactly when the constraint is `none`".into(),
            );
        }
        for (origin, field, given) in [
            (SourceOrigin::Hub, "hub", s.hub.is_some()),
            (SourceOrigin::Local, "local", s.local.is_some()),
        ] {
            if given && s.origin != origin {
                problem(
                    at(&[Key("sources"), Index(i), Key(field)]),
                    format!(
                        "source `{}` has `{field}` settings, but its origin is not `{field}`",
                        s.name
                    ),
                );
            }
        }
        if s.origin == SourceOrigin::Local && s.local.is_none() {
            problem(
                at(&[Key("sources"), Index(i), Key("origin")]),
                format!("source `{}` comes from a local file, but has no `local` settings (path, format)", s.name),
            );
        }
        if s.origin == SourceOrigin::Hub && s.hub.is_none() {
            problem(
                at(&[Key("sources"), Index(i), Key("origin")]),
                format!("source `{}` comes from the hub, but has no `hub` settings (repo, revision, file, blake3, format)", s.name),
            );
        }
        if matches!(s.origin, SourceOrigin::Pretrain | SourceOrigin::Scratch)
            && p.pretrain.is_none()
        {
            problem(
                at(&[Key("sources"), Index(i), Key("origin")]),
                format!(
                    "source `{}` is initialised here, but the profile has no `pretrain` section",
                    s.name
                ),
            );
        }
        if s.origin == SourceOrigin::Scratch && s.constraint != Constraint::None {
            problem(
                at(&[Key("sources"), Index(i), Key("constraint")]),
                format!("source `{}` is never trained (`origin: scratch`), so its constraint must be `none`", s.name),
            );
        }
    }
    if let Some(pre) = &p.pretrain {
        let c = pre.pgd.step_factor;
        if !(c > 1.5 && c < 4.0) {
            problem(
                at(&[Key("pretrain"), Key("pgd"), Key("step_factor")]),
                format!("step_factor {c} is outside the paper's 1.5 < c < 4"),
            );
        }
        if pre.pgd.steps == 0 {
            problem(
                at(&[Key("pretrain"), Key("pgd"), Key("steps")]),
                "PGD needs at least 1 step".into(),
            );
        }
        check_decay(
            &mut problem,
            at(&[Key("pretrain"), Key("lr_decay")]),
            &pre.lr_decay,
            pre.epochs,
        );
    }

    for (i, d) in p.datasets.iter().enumerate() {
        if d.origin().is_none() {
            problem(
                at(&[Key("datasets"), Index(i)]),
                format!(
                    "dataset `{}` needs exactly one of `procedural`, `hub` and `local`",
                    d.name
                ),
            );
        }
    }
    for (i, b) in p.grid.blocks.iter().enumerate() {
        if *b > MAX_BLOCKS {
            problem(
                at(&[Key("grid"), Key("blocks"), Index(i)]),
                format!("{b} blocks: the ResNet-50 layout has {MAX_BLOCKS} bottleneck blocks"),
            );
        }
    }
    if !p.grid.blocks.contains(&3) {
        problem(
            at(&[Key("grid"), Key("blocks")]),
            "the grid needs 3 blocks: Table 5 and Figures 2, 3 and 5 are made at 3 blocks".into(),
        );
    }
    let mut sizes = BTreeSet::new();
    for (i, row) in p.grid.schedule.iter().enumerate() {
        let here = |k| at(&[Key("grid"), Key("schedule"), Index(i), Key(k)]);
        if !sizes.insert(row.size) {
            problem(here("size"), format!("subset size {} appears twice", row.size.label()));
        }
        for (k, v) in [("epochs", row.epochs), ("seeds", row.seeds), ("eval_every", row.eval_every)]
        {
            if v == 0 {
                problem(here(k), format!("{k} must be at least 1"));
            }
        }
        check_decay(&mut problem, here("lr_decay"), &row.lr_decay, row.epochs);
        for d in &p.datasets {
            if let (Some(DataOrigin::Procedural(g)), SubsetSize::Images(n)) = (d.origin(), row.size)
            {
                if n > g.train {
                    problem(
                        here("size"),
                        format!(
                            "subset size {n} is larger than dataset `{}`'s {} training images",
                            d.name, g.train
                        ),
                    );
                }
                // Every class must be in every subset (the authors' rule).
                if let Ok(kind) = crate::data::Kind::parse(&g.generator, g.classes) {
                    if n < kind.classes() {
                        problem(
                            here("size"),
                            format!(
                                "subset size {n} cannot hold all {} classes of dataset `{}`",
                                kind.classes(),
                                d.name
                            ),
                        );
                    }
                }
            }
        }
    }
    if let Some(n) = p.reports.figure3_size {
        if !sizes.contains(&SubsetSize::Images(n)) {
            let have: Vec<String> = sizes.iter().map(|s| s.label()).collect();
            problem(
                at(&[Key("reports"), Key("figure3_size")]),
                format!("{n} is not a subset size of the grid ({})", have.join(", ")),
            );
        }
    }
    out
}

fn check_decay<'a>(
    problem: &mut impl FnMut(Vec<Seg<'a>>, String),
    path: Vec<Seg<'a>>,
    decay: &[usize],
    epochs: usize,
) {
    if !decay.windows(2).all(|w| w[0] < w[1]) || decay.iter().any(|&e| e == 0 || e >= epochs) {
        problem(
            path,
            format!(
                "lr_decay epochs must be increasing and between 1 and {} (0-based epochs)",
                epochs.max(1) - 1
            ),
        );
    }
}

/// `profiles.mini.grid.datasets[2]`
pub fn dotted(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Key(k) if s.is_empty() => s.push_str(k),
            Key(k) => {
                s.push('.');
                s.push_str(k)
            }
            Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}
