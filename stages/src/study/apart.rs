//! Blocks of a profile that are read apart from the rest of it: `slurm:` (the engine's
//! [`pipeline_engine::SlurmSettings`]: how the cluster runs the study, never what it computes),
//! `influence:` (`influence/settings.rs`) and `figure1:` (`visualise/settings.rs`), owned by the
//! stage kinds they configure, so that adding or editing them never changes the schema file
//! every other stage's fingerprint covers. A block's lines are blanked out of the text the study schema reads, and parsed on
//! their own from a text where every other line is blank — both keep the file's line numbers, so
//! errors still point at `pipeline.yaml:line:column`. Anchors and aliases do not cross the
//! block's edge.

use super::locate::{locate, Seg};
use anyhow::{anyhow, Result};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

/// A field of a block that does not fit its profile, and why (from a block's `check`).
pub struct Problem {
    pub field: &'static str,
    pub message: String,
}

/// Each profile's block under one key (`None` when the key has no value), and the text without
/// them (for the study schema or the next block).
pub struct Split<T> {
    pub without_blocks: String,
    pub blocks: BTreeMap<String, Option<T>>,
}

/// Find and parse the `key:` block of every profile in `tree` (`text` as first parsed; `text`
/// itself may have other blocks blanked out already).
pub fn split<T: DeserializeOwned>(
    config: &Path,
    text: &str,
    tree: &yaml_serde::Value,
    key: &str,
) -> Result<Split<T>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks: Vec<(String, Range<usize>)> = Vec::new();
    if let Some(profiles) = tree.get("profiles").and_then(|p| p.as_mapping()) {
        for (name, profile) in profiles {
            let Some(name) = name.as_str() else { continue };
            if profile.get(key).is_none() {
                continue;
            }
            let path = [Seg::Key("profiles"), Seg::Key(name), Seg::Key(key)];
            let range = locate(text, &path)
                .and_then(|(line, _)| block(&lines, line - 1, key))
                .ok_or_else(|| {
                    // Point at the block's key if it can be found, else at the profile's, else
                    // at the start of the file.
                    let (line, column) =
                        locate(text, &path).or_else(|| locate(text, &path[..2])).unwrap_or((1, 1));
                    anyhow!(
                        "{}:{line}:{column}: cannot find the `{key}:` block of profile `{name}` \
                         (write it as a block mapping under the profile)",
                        config.display()
                    )
                })?;
            blocks.push((name.to_string(), range));
        }
    }
    let keep = |wanted: &dyn Fn(usize) -> bool| -> String {
        let mut out = String::with_capacity(text.len());
        for (i, line) in lines.iter().enumerate() {
            if wanted(i) {
                out.push_str(line);
            }
            out.push('\n');
        }
        out
    };
    let mut parsed = BTreeMap::new();
    for (name, range) in &blocks {
        let only_block = keep(&|i| range.contains(&i));
        let mut block: BTreeMap<String, Option<T>> =
            yaml_serde::from_str(&only_block).map_err(|e| {
                // Errors without a place of their own (a document marker inside the block, say)
                // point at the block's key.
                let (line, column) = match e.location() {
                    Some(l) => (l.line(), l.column()),
                    None => (
                        range.start + 1,
                        lines[range.start].len() - lines[range.start].trim_start().len() + 1,
                    ),
                };
                anyhow!("{}:{line}:{column}: profile `{name}`: {key}: {e}", config.display())
            })?;
        parsed.insert(name.clone(), block.remove(key).flatten());
    }
    let without_blocks = keep(&|i| !blocks.iter().any(|(_, r)| r.contains(&i)));
    Ok(Split { without_blocks, blocks: parsed })
}

/// The lines of the `key:` key at or above 0-based line `at` and everything indented under it.
fn block(lines: &[&str], at: usize, key: &str) -> Option<Range<usize>> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let is_content = |l: &str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    let start = (0..=at).rev().find(|&i| {
        let t = lines[i].trim_start();
        let rest = t.strip_prefix(key).and_then(|r| r.strip_prefix(':'));
        rest.is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t', '#']))
    })?;
    let key_indent = indent(lines[start]);
    let end = (start + 1..lines.len())
        .find(|&i| is_content(lines[i]) && indent(lines[i]) <= key_indent)
        .unwrap_or(lines.len());
    Some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline_engine::SlurmSettings;

    const TEXT: &str = "\
default_profile: a
profiles:
  a:
    description: x
    slurm:
      partition: gpu
      # a comment
      resources:
        finetune: { gpus: 1, mem: 16G }
    grid: 1
  b:
    description: y
";

    fn split_text(text: &str) -> Result<Split<SlurmSettings>> {
        let tree: yaml_serde::Value = yaml_serde::from_str(text)?;
        split(Path::new("pipeline.yaml"), text, &tree, "slurm")
    }

    #[test]
    fn the_block_is_read_alone_and_blanked_out_of_the_rest_keeping_line_numbers() {
        let s = split_text(TEXT).unwrap();
        let a = s.blocks["a"].as_ref().unwrap();
        assert_eq!(a.partition.as_deref(), Some("gpu"));
        assert_eq!(a.resources_of("finetune").gpus, Some(1));
        assert!(!s.blocks.contains_key("b"));
        assert_eq!(s.without_blocks.lines().count(), TEXT.lines().count());
        assert!(!s.without_blocks.contains("slurm") && !s.without_blocks.contains("gpu"));
        assert!(s.without_blocks.contains("    grid: 1\n  b:"), "{}", s.without_blocks);
    }

    #[test]
    fn a_bad_field_is_located_in_the_original_file() {
        let text = TEXT.replace("mem: 16G", "mem: lots");
        let err = format!("{:#}", split_text(&text).err().unwrap());
        assert!(err.starts_with("pipeline.yaml:9:"), "{err}");
        assert!(err.contains("memory `lots`"), "{err}");
        let text = TEXT.replace("partition: gpu", "partiton: gpu");
        let err = format!("{:#}", split_text(&text).err().unwrap());
        assert!(err.starts_with("pipeline.yaml:6:7"), "{err}");
        assert!(err.contains("unknown field `partiton`"), "{err}");
    }
}
