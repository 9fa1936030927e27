//! The study: `pipeline.yaml`'s schema, its profiles, and the expansion of a profile into the
//! DAG's nodes (ids derived from parameter values), plus the registry of this study's stages.

pub mod block;
pub mod config;
pub mod expand;
#[cfg(test)]
mod fuzz;
pub mod locate;
pub mod validate;
pub mod wiring;

use crate::kind::Registered;
use crate::render::Reports;
use anyhow::{anyhow, bail, Context, Result};
use locate::Seg::Key;
use pipeline_engine::{Node, Registry};
use std::path::Path;

/// A loaded profile of the study: the nodes to schedule and the stages that compute them.
pub struct Study {
    /// The selected profile's name.
    pub profile: String,
    /// Every profile the file defines.
    pub profiles: Vec<String>,
    pub nodes: Vec<Node>,
    pub registry: Registry,
    /// Where this profile's reports and their lock file go, relative to the project root:
    /// `reports` for the default profile, `reports/<profile>` for the others, so that no
    /// profile overwrites another's reviewed results.
    pub reports_dir: String,
    /// The profile's `slurm:` block (defaults when it has none): used by `--executor slurm`.
    pub slurm: pipeline_engine::SlurmSettings,
    /// The study file's `remote:` block, if it has one: used by push, pull and `run --remote`.
    pub remote: Option<pipeline_engine::RemoteSettings>,
}

/// Read `config` (a `pipeline.yaml`) and expand `profile` (default: the file's `default_profile`).
/// Errors name the file, line, column and field.
pub fn load(config: &Path, profile: Option<&str>) -> Result<Study> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read the study file {}", config.display()))?;
    load_text(&text, config, profile)
}

/// As [`load`], from the text of a study file (for example one at another git revision); paths
/// in it are relative to `config`'s directory, which errors name as the file.
pub fn load_text(text: &str, config: &Path, profile: Option<&str>) -> Result<Study> {
    // A YAML error as `pipeline.yaml:12:7: …`.
    let located = |e: yaml_serde::Error| {
        let at = e.location().map(|l| format!(":{}:{}", l.line(), l.column())).unwrap_or_default();
        anyhow!("{}{at}: {e}", config.display())
    };
    let tree: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| {
        // Some texts fail as plain YAML without a place ("more than one document") where the
        // schema finds a located error first: report that one.
        match yaml_serde::from_str::<config::StudyFile>(text) {
            Err(schema) if e.location().is_none() && schema.location().is_some() => located(schema),
            _ => located(e),
        }
    })?;
    // A profile's key that is neither its field nor a block's, before the schema's errors (a
    // misspelt `grid` is that, not a missing one).
    let blocks = wiring::blocks();
    if let Some((path, message)) = unknown_keys(&tree, &blocks) {
        let path: Vec<locate::Seg> = path.iter().map(|k| Key(k.as_str())).collect();
        bail!("{}{}: {message}", position(config, text, &path), validate::dotted(&path));
    }
    let mut file: config::StudyFile = yaml_serde::from_str(text).map_err(located)?;
    for block in &blocks {
        block.parse(text, &mut file.profiles).map_err(located)?;
    }
    let profiles: Vec<String> = file.profiles.keys().cloned().collect();
    let name = profile.unwrap_or(&file.default_profile);
    let Some(chosen) = file.profiles.get(name) else {
        let (what, place) = match profile {
            Some(_) => ("profile", String::new()),
            None => {
                ("default_profile", position(config, text, &[locate::Seg::Key("default_profile")]))
            }
        };
        bail!(
            "{place}unknown {what} `{name}`; {} defines these profiles: {}",
            config.display(),
            profiles.join(", ")
        );
    };
    // Non-finite numbers (`.nan`, `.inf`, `1e999`) would reach the nodes' parameters as `null`
    // and fail every node that reads them, long after loading: refuse them here.
    let mut problems = validate::non_finite_numbers(name, &tree["profiles"][name]);
    problems.extend(validate::check(name, chosen));
    for block in &blocks {
        problems.extend(block.check(chosen).into_iter().map(|p| validate::Problem {
            path: vec![Key("profiles"), Key(name), Key(block.key()), Key(p.field)],
            message: p.message,
        }));
    }
    if !problems.is_empty() {
        let lines: Vec<String> = problems
            .iter()
            .map(|p| {
                format!(
                    "{}{}: {}",
                    position(config, text, &p.path),
                    validate::dotted(&p.path),
                    p.message
                )
            })
            .collect();
        bail!(
            "{} has {} problem(s) in profile `{name}`:\n{}",
            config.display(),
            lines.len(),
            lines.join("\n")
        );
    }
    // Local datasets and sources: hash their files now, so that their content is part of the
    // keys.
    let root = config.parent().unwrap_or(Path::new(""));
    let mut local = expand::LocalFiles::default();
    for d in wiring::grid_datasets(chosen) {
        if let Some(config::DataOrigin::Local(l)) = d.origin() {
            let params = crate::prepare::local::resolve(root, l).with_context(|| {
                format!("{}: local dataset `{}` of profile `{name}`", config.display(), d.name)
            })?;
            local.datasets.insert(d.name.clone(), params);
        }
    }
    for s in wiring::grid_sources(chosen) {
        if let Some(c) = &s.local {
            let file = crate::fetch::local::resolve(root, c).with_context(|| {
                format!("{}: local source `{}` of profile `{name}`", config.display(), s.name)
            })?;
            local.sources.insert(s.name.clone(), file);
        }
    }
    let reports_dir = if name == file.default_profile {
        "reports".to_string()
    } else {
        format!("reports/{name}")
    };
    let nodes = expand::nodes(name, chosen, &local, &reports_dir);
    let registry = registry();
    let slurm = chosen.slurm.clone().unwrap_or_default();
    if let Some(kind) = slurm.resources.keys().find(|kind| registry.get(kind).is_none()) {
        let path = [Key("profiles"), Key(name), Key("slurm"), Key("resources"), Key(kind)];
        bail!(
            "{}profiles.{name}.slurm.resources: no stage kind is called `{kind}`; the kinds are {}",
            position(config, text, &path),
            registry.kinds().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(Study {
        profile: name.to_string(),
        profiles,
        nodes,
        registry,
        reports_dir,
        slurm,
        remote: file.remote.clone(),
    })
}

/// The first key of a profile in `tree` that is neither a field of [`config::Profile`] nor one
/// of `blocks`: its path and the error.
fn unknown_keys(
    tree: &yaml_serde::Value,
    blocks: &[&dyn block::Wired],
) -> Option<([String; 3], String)> {
    // A key as written: `mini`, or `2024` for a key that is not a string.
    let text = |key: &yaml_serde::Value| match key.as_str() {
        Some(s) => s.to_string(),
        None => yaml_serde::to_string(key).unwrap_or_default().trim().to_string(),
    };
    let fields = config::profile_fields();
    let known: Vec<&str> = fields.iter().copied().chain(blocks.iter().map(|b| b.key())).collect();
    let profiles = tree.get("profiles")?.as_mapping()?;
    for (name, profile) in profiles {
        let Some(profile) = profile.as_mapping() else { continue };
        for key in profile.keys().map(text) {
            if !known.contains(&key.as_str()) {
                let expected: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                let message =
                    format!("unknown field `{key}`, expected one of {}", expected.join(", "));
                return Some((["profiles".into(), text(name), key], message));
            }
        }
    }
    None
}

/// `pipeline.yaml:12:7: ` for a path, or just the file when the path cannot be found.
fn position(config: &Path, text: &str, path: &[locate::Seg]) -> String {
    match locate::locate(text, path) {
        Some((line, col)) => format!("{}:{line}:{col}: ", config.display()),
        None => format!("{}: ", config.display()),
    }
}

/// Every stage kind of this study with the code it is made of: the one list that the registry
/// and the tests over stage kinds read. The grid's kinds are listed here; a block's come with it
/// (`wiring::blocks`), and so do the reports its kinds own, which the render stage draws.
pub fn stages() -> Vec<Registered> {
    use crate::kind::stage;
    use crate::{aggregate, fetch, finetune, prepare, pretrain, render, subset};
    let blocks = wiring::blocks();
    let owned: Vec<&Reports> = blocks.iter().map(|b| b.reports()).collect();
    let mut stages = vec![
        stage(fetch::Fetch),
        stage(prepare::Prepare),
        stage(subset::Subset),
        stage(pretrain::Pretrain),
        stage(finetune::Finetune),
        stage(aggregate::Aggregate),
        stage(render::Render::new(&owned)),
    ];
    stages.extend(blocks.iter().flat_map(|b| b.stages()));
    stages
}

/// The stages of this study, by kind.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    for (stage, _) in stages() {
        r.add(stage);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn project_file() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipeline.yaml")
    }

    fn write_temp(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn stage_kinds_are_unique_and_each_has_nodes_in_a_profile() {
        let kinds: Vec<&str> = stages().iter().map(|(stage, _)| stage.kind()).collect();
        let unique: std::collections::BTreeSet<&str> = kinds.iter().copied().collect();
        assert_eq!(unique.len(), kinds.len(), "{kinds:?}");
        let study = load(&project_file(), Some("paper")).unwrap();
        let mini = load(&project_file(), Some("mini")).unwrap();
        for kind in kinds {
            let used = |s: &Study| s.nodes.iter().any(|n| n.kind == kind);
            assert!(used(&study) || used(&mini), "no profile has a `{kind}` node");
        }
    }

    #[test]
    fn every_profile_of_the_project_file_loads_with_unique_ids() {
        let names = load(&project_file(), None).unwrap().profiles;
        for name in names {
            let study = load(&project_file(), Some(&name)).unwrap();
            let mut ids: Vec<&str> = study.nodes.iter().map(|n| n.id.as_str()).collect();
            let total = ids.len();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), total, "duplicate ids in profile {name}");
        }
    }

    #[test]
    fn mini_has_one_finetune_node_per_cell_of_the_grid() {
        let study = load(&project_file(), Some("mini")).unwrap();
        let finetune = study.nodes.iter().filter(|n| n.kind == "finetune").count();
        // 4 sources × 4 datasets × 4 depths × 5 seeds at each of the three sizes.
        assert_eq!(finetune, 4 * 4 * 4 * 15);
        let subsets = study.nodes.iter().filter(|n| n.kind == "subset").count();
        assert_eq!(subsets, 4 * 15, "subsets are shared by sources and depths");
    }

    #[test]
    fn each_block_is_its_key_of_the_profile_and_brings_its_kinds_and_reports() {
        let text = std::fs::read_to_string(project_file()).unwrap();
        let tree: yaml_serde::Value = yaml_serde::from_str(&text).unwrap();
        let load_tree = |tree: &yaml_serde::Value| {
            let text = yaml_serde::to_string(tree).unwrap();
            load_text(&text, &project_file(), Some("mini")).unwrap().nodes
        };
        let ids = |nodes: &[Node]| -> Vec<String> { nodes.iter().map(|n| n.id.clone()).collect() };
        let full = load_tree(&tree);
        for block in wiring::blocks() {
            // Without its key, the nodes of its kinds and of its reports are gone, the others
            // kept.
            let mut without = tree.clone();
            let profile = without["profiles"]["mini"].as_mapping_mut().unwrap();
            assert!(profile.remove(block.key()).is_some(), "mini has no `{}:`", block.key());
            let fewer = ids(&load_tree(&without));
            let gone: Vec<&Node> = full.iter().filter(|n| !fewer.contains(&n.id)).collect();
            let kinds: Vec<&str> = block.stages().iter().map(|(s, _)| s.kind()).collect();
            let reports: Vec<String> =
                block.reports().rows.iter().map(|r| format!("render/{}", r.name)).collect();
            assert!(!reports.is_empty(), "`{}` owns no report", block.key());
            let (own, drawn): (Vec<&Node>, Vec<&Node>) =
                gone.iter().partition(|n| kinds.contains(&n.kind.as_str()));
            assert!(!own.is_empty(), "`{}` adds no node", block.key());
            assert_eq!(
                ids(&drawn.into_iter().cloned().collect::<Vec<_>>()),
                reports,
                "`{}`",
                block.key()
            );
            assert!(fewer.iter().all(|id| full.iter().any(|n| &n.id == id)));
        }
    }

    /// The mini profile's `influence:` block with `from` replaced by `to`: the error, and the
    /// place it must name (the line of `to`, the column of its field).
    fn influence_error(from: &str, to: &str) -> (String, String) {
        block_error("influence", from, to)
    }

    /// As [`influence_error`], for the mini profile's `block:` block.
    fn block_error(block: &str, from: &str, to: &str) -> (String, String) {
        let text = std::fs::read_to_string(project_file()).unwrap();
        let start = text.find(&format!("    {block}:\n")).unwrap();
        let at = start + text[start..].find(from).unwrap();
        let text = format!("{}{to}{}", &text[..at], &text[at + from.len()..]);
        let f = write_temp(&text);
        let line = text[..at].lines().count() + 1;
        let column = to.len() - to.trim_start().len() + 1;
        let err = format!("{:#}", load(f.path(), None).err().unwrap());
        (err, format!("{}:{line}:{column}: profiles.mini.{block}.", f.path().display()))
    }

    #[test]
    fn an_influence_block_naming_what_the_grid_lacks_is_refused_with_its_place() {
        for (from, to, says) in [
            (
                "      dataset: cifar10",
                "      dataset: imagenet",
                "`imagenet` is not a dataset of the grid",
            ),
            (
                "      robust: l2_eps0.375",
                "      robust: l2_eps9",
                "`l2_eps9` is not a source of the grid",
            ),
            (
                "      robust: l2_eps0.375",
                "      robust: natural",
                "`natural` is naturally trained",
            ),
            (
                "      natural: natural",
                "      natural: linf_eps4",
                "`linf_eps4` is adversarially trained",
            ),
            (
                "      size: 400",
                "      size: 300",
                "300 is not a subset size of the grid (100, 200, 400)",
            ),
            ("      blocks: 3", "      blocks: 2", "2 is not a depth of the grid"),
            (
                "      seed: 20000000",
                "      seed: 20500000",
                "size 400 has seeds 20000000, 20100000, 20200000, 20300000, 20400000, not 20500000",
            ),
            ("      floor: scratch", "      floor: natural", "`natural` is pre-trained"),
            (
                "      floor: scratch",
                "      floor: nothing",
                "`nothing` is not a source of the grid",
            ),
            (
                "      inverses: [{ method: pinv, cutoff: 0.05 }, { method: damped }]",
                "      inverses: [{ method: pinv, cutoff: 0.05 }, { method: pinv, cutoff: 1 }]",
                "`pinv` is named twice",
            ),
            (
                "      inverses: [{ method: pinv, cutoff: 0.05 }, { method: damped }]",
                "      inverses: []",
                "name at least one inverse",
            ),
        ] {
            let (err, place) = influence_error(from, to);
            let field = to.trim_start().split(':').next().unwrap();
            assert!(
                err.contains(&format!("{place}{field}: {says}")),
                "{err}\nwanted {place}{field}: {says}"
            );
        }
        // A field the block does not have, and a bad inverse, are the schema's errors, located.
        let (err, place) = influence_error("      figure6_seed: 0", "      figure6_sed: 0");
        let file_line = place.split(": profiles").next().unwrap();
        assert!(err.contains(file_line) && err.contains("unknown field `figure6_sed`"), "{err}");
        let (err, _) = influence_error("{ method: damped }", "{ method: lu }");
        assert!(err.contains("unknown variant `lu`"), "{err}");
    }

    #[test]
    fn a_figure1_block_that_does_not_fit_the_profile_is_refused_with_its_place() {
        for (from, to, says) in [
            (
                "      sources: [natural, l2_eps0.375]",
                "      sources: [natural, l2_eps9]",
                "`l2_eps9` is not a source of the grid",
            ),
            (
                "      sources: [natural, l2_eps0.375]",
                "      sources: [l2_eps0.375, linf_eps4]",
                "name the natural source and at least one robust one",
            ),
            (
                "      coordinates: [16, 34, 65]",
                "      coordinates: [16, 128]",
                "128 is beyond the representation (32·width = 128 coordinates)",
            ),
            ("      step: 0.286", "      step: -1", "-1 is not a positive step"),
            ("      iterations: 1000", "      iterations: 0", "at least one step"),
        ] {
            let (err, place) = block_error("figure1", from, to);
            let field = to.trim_start().split(':').next().unwrap();
            assert!(
                err.contains(&format!("{place}{field}: {says}")),
                "{err}\nwanted {place}{field}: {says}"
            );
        }
        let (err, place) = block_error(
            "figure1",
            "      patterns: [rings, checker,",
            "      patterns: [rings, chequer,",
        );
        let file_line = place.rsplitn(3, ':').nth(2).unwrap();
        assert!(err.contains(file_line) && err.contains("unknown variant `chequer`"), "{err}");
    }

    /// `precision` enters the fine-tuning and pre-training nodes' parameters (so their keys)
    /// only where a profile names one other than fp32; one that is not built is refused at its
    /// line with the ones there are.
    #[test]
    fn precision_moves_the_training_keys_only_where_named_and_an_unknown_one_is_refused() {
        let text = std::fs::read_to_string(project_file()).unwrap();
        let named = |precision: &str| {
            let finetune = "    finetune: &mini_finetune\n";
            let pretrain = "    pretrain: &mini_pretrain\n";
            let text = text
                .replacen(finetune, &format!("{finetune}      precision: {precision}\n"), 1)
                .replacen(pretrain, &format!("{pretrain}      precision: {precision}\n"), 1);
            let f = write_temp(&text);
            let line = text.lines().position(|l| l.contains("precision:")).unwrap() + 1;
            (
                load(f.path(), Some("mini")).map(|s| s.nodes),
                format!("{}:{line}:", f.path().display()),
            )
        };
        let plain = load(&project_file(), Some("mini")).unwrap().nodes;
        let params = |nodes: &[Node], kind: &str| -> Vec<serde_json::Value> {
            nodes.iter().filter(|n| n.kind == kind).map(|n| n.params.clone()).collect()
        };
        let fp32 = named("fp32").0.unwrap();
        for kind in ["finetune", "pretrain"] {
            assert!(!params(&plain, kind).is_empty(), "{kind}");
            assert_eq!(params(&fp32, kind), params(&plain, kind), "{kind}");
            for precision in ["tf32", "bf16"] {
                let named = params(&named(precision).0.unwrap(), kind);
                assert_eq!(named.len(), params(&plain, kind).len(), "{kind} {precision}");
                for p in named {
                    assert_eq!(p["train"]["precision"], precision, "{kind}: {p}");
                }
            }
        }
        let (err, place) = named("fp16");
        let err = format!("{:#}", err.err().unwrap());
        assert!(
            err.contains(&place)
                && err.contains("unknown variant `fp16`, expected one of `fp32`, `tf32`, `bf16`"),
            "{err}\nwanted {place}"
        );
    }

    #[test]
    fn figure3_at_a_size_the_grid_lacks_is_refused_with_its_place() {
        let text = std::fs::read_to_string(project_file()).unwrap().replacen(
            "reports: { figure3_size: 3200 }",
            "reports: { figure3_size: 3000 }",
            1,
        );
        let f = write_temp(&text);
        let line = text.lines().position(|l| l.contains("figure3_size: 3000")).unwrap() + 1;
        let err = format!("{:#}", load(f.path(), Some("paper")).err().unwrap());
        let want = format!("{}:{line}:", f.path().display());
        assert!(
            err.contains(&want)
                && err.contains("profiles.paper.reports.figure3_size: 3000 is not a subset size"),
            "{err}"
        );
    }

    /// A report statistic that is neither last nor best, or one for a report that has none, is
    /// refused at its place in the file; a valid block reaches the render nodes.
    #[test]
    fn a_bad_report_statistic_is_refused_with_its_place() {
        for (bad, says) in [
            ("figure4: median", "unknown variant `median`, expected `last` or `best`"),
            ("figure7: best", "unknown field `figure7`"),
        ] {
            let text = std::fs::read_to_string(project_file()).unwrap().replacen(
                "    reports: { figure3_size: 3200 }\n",
                &format!("    reports: {{ figure3_size: 3200 }}\n    statistics:\n      {bad}\n"),
                1,
            );
            let f = write_temp(&text);
            let line = text.lines().position(|l| l.contains(bad)).unwrap() + 1;
            let err = format!("{:#}", load(f.path(), Some("paper")).err().unwrap());
            let want = format!("{}:{line}:", f.path().display());
            assert!(err.contains(&want) && err.contains(says), "{err}");
        }
        let statistic = |block: &str, report: &str| {
            let text = std::fs::read_to_string(project_file()).unwrap().replacen(
                "    reports: { figure3_size: 3200 }\n",
                &format!("    reports: {{ figure3_size: 3200 }}\n{block}"),
                1,
            );
            let study = load(write_temp(&text).path(), Some("paper")).unwrap();
            let node = study.nodes.iter().find(|n| n.id == format!("render/{report}")).unwrap();
            node.params["statistic"].as_str().unwrap().to_string()
        };
        assert_eq!(statistic("    statistics:\n      table5: best\n", "table5"), "best");
        assert_eq!(statistic("", "table5"), "last");
        assert_eq!(statistic("", "figure4"), "best");
    }

    #[test]
    fn the_influence_block_keeps_the_networks_of_exactly_its_cells_and_inverts_each_both_ways() {
        let study = load(&project_file(), Some("mini")).unwrap();
        let mut kept: Vec<&str> = study
            .nodes
            .iter()
            .filter(|n| n.kind == "finetune" && n.params.get("keep_model").is_some())
            .map(|n| n.id.as_str())
            .collect();
        kept.sort();
        assert_eq!(
            kept,
            [
                "finetune/l2_eps0.375/cifar10/n400/b3/s20000000",
                "finetune/natural/cifar10/n400/b3/s20000000",
                "finetune/scratch/cifar10/n400/b3/s20000000",
            ]
        );
        let mut features: Vec<&str> = study
            .nodes
            .iter()
            .filter(|n| n.kind == "features")
            .flat_map(|n| n.inputs.iter().filter(|i| i.name == "model").map(|i| i.node.as_str()))
            .collect();
        features.sort();
        assert_eq!(features, kept);
        let mut influence: Vec<(&str, &str)> = study
            .nodes
            .iter()
            .filter(|n| n.kind == "influence")
            .map(|n| (n.id.as_str(), n.params["inverse"]["method"].as_str().unwrap()))
            .collect();
        influence.sort();
        assert_eq!(influence.len(), 6, "{influence:?}");
        for (id, method) in influence {
            assert!(id.ends_with(&format!("/s20000000/{method}")), "{id}");
        }
        // The figures and influence.md read every source under every inverse.
        let md = study.nodes.iter().find(|n| n.id == "render/influence").unwrap();
        let mut names: Vec<&str> = md.inputs.iter().map(|i| i.name.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "floor:damped",
                "floor:pinv",
                "natural:damped",
                "natural:pinv",
                "robust:damped",
                "robust:pinv"
            ]
        );
    }

    #[test]
    fn an_unknown_profile_lists_the_profiles() {
        let err = load(&project_file(), Some("nope")).err().unwrap().to_string();
        assert!(err.contains("unknown profile `nope`"), "{err}");
        assert!(err.contains("mini") && err.contains("smoke"), "{err}");
    }

    #[test]
    fn a_misspelt_key_of_a_profile_or_its_block_names_its_place_and_the_valid_keys() {
        let text = std::fs::read_to_string(project_file()).unwrap();
        // A profile's own key and a block's key are both known, a misspelt one is neither.
        for (from, to, want) in [
            (
                "    probe: &mini_probe",
                "    probes: &mini_probe",
                ["unknown field `probes`", "`probe`", "`grid`"],
            ),
            ("    grid:\n", "    gird:\n", ["unknown field `gird`", "`grid`", "`figure1`"]),
            (
                "    grid:\n",
                "    2024: 1\n    grid:\n",
                ["unknown field `2024`", "`grid`", "`probe`"],
            ),
        ] {
            let at = text.find(from).unwrap();
            let text = format!("{}{to}{}", &text[..at], &text[at + from.len()..]);
            let f = write_temp(&text);
            let line = text[..at].lines().count() + 1;
            let err = format!("{:#}", load(f.path(), None).err().unwrap());
            assert!(err.contains(&format!("{}:{line}:5: ", f.path().display())), "{err}");
            assert!(want.iter().all(|w| err.contains(w)), "{err}");
        }
        // A block's own fields are located by the parse like every other's.
        let text = text.replacen("      conflict_images:", "      conflict_imagez:", 1);
        let f = write_temp(&text);
        let line = text.lines().position(|l| l.contains("conflict_imagez")).unwrap() + 1;
        let err = format!("{:#}", load(f.path(), None).err().unwrap());
        assert!(err.contains(&format!("{}:{line}:", f.path().display())), "{err}");
        assert!(err.contains("unknown field `conflict_imagez`"), "{err}");
    }

    #[test]
    fn a_misspelt_field_names_file_line_column_and_the_valid_fields() {
        let text = std::fs::read_to_string(project_file()).unwrap().replacen(
            "      eval_batch: 500",
            "      eval_bach: 500",
            1,
        );
        let f = write_temp(&text);
        let line = text.lines().position(|l| l.contains("eval_bach")).unwrap() + 1;
        let err = format!("{:#}", load(f.path(), None).err().unwrap());
        assert!(err.contains(&format!("{}:{line}:", f.path().display())), "{err}");
        assert!(err.contains("unknown field `eval_bach`") && err.contains("eval_batch"), "{err}");
    }

    #[test]
    fn a_subset_smaller_than_a_datasets_class_count_is_refused_where_it_is_written() {
        let text = std::fs::read_to_string(project_file()).unwrap().replacen(
            "- { size: 100, epochs: 40, seeds: 5",
            "- { size: 8, epochs: 40, seeds: 5",
            1,
        );
        let f = write_temp(&text);
        let line = text.lines().position(|l| l.contains("size: 8, epochs: 40")).unwrap() + 1;
        let err = format!("{:#}", load(f.path(), Some("mini")).err().unwrap());
        assert!(err.contains(&format!(":{line}:")), "{err}");
        assert!(
            err.contains("subset size 8 cannot hold all 10 classes of dataset `cifar10`"),
            "{err}"
        );
    }

    #[test]
    fn a_number_that_is_not_finite_is_refused_where_it_is_written() {
        let text = std::fs::read_to_string(project_file()).unwrap();
        let smoke = text.find("  smoke:").unwrap();
        let at = smoke + text[smoke..].find("      momentum: 0.9").unwrap();
        let bad = format!("{}      momentum: .nan{}", &text[..at], &text[at + 19..]);
        let f = write_temp(&bad);
        let line = bad.lines().position(|l| l.contains("momentum: .nan")).unwrap() + 1;
        let err = format!("{:#}", load(f.path(), Some("smoke")).err().unwrap());
        assert!(err.contains(&format!(":{line}:")), "{err}");
        assert!(
            err.contains("profiles.smoke.pretrain.momentum: `.nan` is not a finite number"),
            "{err}"
        );
    }

    #[test]
    fn a_grid_naming_an_undefined_dataset_says_which_and_where() {
        let text = std::fs::read_to_string(project_file()).unwrap().replacen(
            "datasets: [cifar10, svhn, fmnist",
            "datasets: [cifar11, svhn, fmnist",
            1,
        );
        let f = write_temp(&text);
        let line = text.lines().position(|l| l.contains("cifar11")).unwrap() + 1;
        let err = format!("{:#}", load(f.path(), Some("mini")).err().unwrap());
        assert!(err.contains(&format!(":{line}:")), "{err}");
        assert!(err.contains("profiles.mini.grid.datasets[0]: unknown dataset `cifar11`"), "{err}");
        assert!(err.contains("cifar10, svhn"), "lists the defined datasets: {err}");
    }

    #[test]
    fn a_branch_name_as_revision_is_an_error_at_its_line_and_column() {
        let text = std::fs::read_to_string(project_file()).unwrap();
        let bad = text.replacen(
            "repo: timm/resnet50.tv_in1k, revision: aa6c2d36d56bc0209040c02b5a7b7d7bf11d57b8",
            "repo: timm/resnet50.tv_in1k, revision: main",
            1,
        );
        assert_ne!(bad, text);
        let f = write_temp(&bad);
        let line = bad.lines().position(|l| l.contains("revision: main")).unwrap() + 1;
        let err = format!("{:#}", load(f.path(), Some("paper")).err().unwrap());
        assert!(err.contains(&format!("{}:{line}:", f.path().display())), "{err}");
        assert!(
            err.contains("`main`")
                && err.contains("40 lower-case hex digits")
                && err.contains("unpinned"),
            "{err}"
        );

        let bad = text.replacen("blake3: unpinned", "blake3: abc123", 1);
        let err = format!("{:#}", load(write_temp(&bad).path(), Some("paper")).err().unwrap());
        assert!(err.contains("`abc123`") && err.contains("64 lower-case hex digits"), "{err}");

        // The paper's natural source: its revision pinned, its blake3 not seen yet.
        let study = load(&project_file(), Some("paper")).unwrap();
        let fetch = study.nodes.iter().find(|n| n.id == "fetch/source/natural").unwrap();
        assert_eq!(fetch.params["revision"], "aa6c2d36d56bc0209040c02b5a7b7d7bf11d57b8");
        assert_eq!(fetch.params["blake3"], "unpinned");
    }
}
