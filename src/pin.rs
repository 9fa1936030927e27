//! Hub files left `unpinned` in `pipeline.yaml`: the warning `run` and `status` print, and
//! `pipeline pin`, which writes the commit and blake3 each fetched file resolved to (its
//! artifact's `pin.json`) back into `pipeline.yaml` in place. Only the `unpinned` words change:
//! every other byte of the file (comments, layout, anchors) is kept, and the file is replaced
//! by rename, so an interrupted `pin` leaves the old file or the new one, never half of one.

use anyhow::{bail, Context, Result};
use pipeline_engine::{node_key, Dag, Registry, Store};
use pipeline_stages::fetch::params::UNPINNED;
use pipeline_stages::fetch::params::{FetchParams, HubFile};
use pipeline_stages::fetch::{self, PinRecord};
use pipeline_stages::study::locate::{locate, Seg};
use pipeline_stages::study::Study;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// A fetch node whose file is not pinned, and what its artifact resolved, if it was fetched.
pub struct Unpinned {
    pub id: String,
    pub file: HubFile,
    pub pin: Option<PinRecord>,
}

/// The profile's fetch nodes with an `unpinned` revision or hash, in DAG order.
pub fn unpinned(dag: &Dag, registry: &Registry, store: &Store) -> Vec<Unpinned> {
    let Some(fetch) = registry.get("fetch") else {
        return vec![];
    };
    let fingerprint = fetch.fingerprint();
    let mut out = Vec::new();
    for (i, node) in dag.nodes().iter().enumerate() {
        if node.kind != "fetch" {
            continue;
        }
        let Ok(FetchParams::Hub(file)) = serde_json::from_value(node.params.clone()) else {
            continue;
        };
        if file.is_unpinned() {
            let key = node_key("fetch", &fingerprint, dag.canonical_params(i), &[]);
            let pin = PinRecord::read(&store.object_dir(&key));
            out.push(Unpinned { id: node.id.clone(), file, pin });
        }
    }
    out
}

/// Warns (on stderr) about the hub files `study`'s profile leaves `unpinned` (what `run` and
/// `status` say first).
pub fn warn(study: &Study, dag: &Dag, store: &Store) {
    let files = unpinned(dag, &study.registry, store);
    let profile = &study.profile;
    if files.is_empty() {
        return;
    }
    let lines: Vec<String> =
        files.iter().map(|u| fetch::unpinned_advice(&u.id, &u.file, u.pin.as_ref())).collect();
    let fetched = files.iter().filter(|u| u.pin.is_some()).count();
    eprintln!(
        "warning: profile `{profile}` leaves {} file(s) `unpinned`: they are fetched from `main` \
         and verified against nothing. `pipeline --profile {profile} run fetch` fetches them all; \
         `pipeline --profile {profile} pin` then writes what they resolved to into the study \
         file ({fetched} fetched so far):\n{}\n",
        files.len(),
        lines.join("\n")
    );
}

/// One `unpinned` word replaced.
#[derive(Debug, PartialEq)]
pub struct Change {
    pub line: usize,
    /// `profiles.paper.sources[1].hub.revision`.
    pub field: String,
    pub value: String,
}

/// What [`rewrite`] did: the new text, the changes, and the fields it could not write.
#[derive(Debug)]
pub struct Rewrite {
    pub text: String,
    pub changes: Vec<Change>,
    pub problems: Vec<String>,
}

/// Where fetch node `id` is pinned in `pipeline.yaml`, and with what.
struct Target<'a> {
    /// `sources` or `datasets`.
    list: &'static str,
    /// The entry's `name`.
    name: &'a str,
    /// (field of its `hub` block, value): the revision and the hash field.
    fields: [(String, String); 2],
}

fn target<'a>(id: &'a str, pin: &PinRecord) -> Option<Target<'a>> {
    let rest = id.strip_prefix("fetch/")?;
    let (list, name, hash_field) = match rest.strip_prefix("source/") {
        Some(source) => ("sources", source, "blake3".to_string()),
        None => {
            let (dataset, split) = rest.split_once('/')?;
            ("datasets", dataset, format!("{split}_blake3"))
        }
    };
    let fields = [("revision".into(), pin.revision.clone()), (hash_field, pin.blake3.clone())];
    Some(Target { list, name, fields })
}

/// `text` with the `unpinned` revisions and hashes of the fetched `files` of `profile`
/// replaced by what they resolved to.
pub fn rewrite(text: &str, profile: &str, files: &[Unpinned]) -> Result<Rewrite> {
    let tree: yaml_serde::Value = yaml_serde::from_str(text).context("parsing the study file")?;
    // What each entry (a source, a dataset) needs written, by field, with the nodes asking.
    // A dataset's train and test files share its revision, and must agree on it.
    type Entry = (&'static str, usize);
    let mut wanted: BTreeMap<Entry, BTreeMap<String, (String, String)>> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut refused: Vec<Entry> = Vec::new();
    for u in files {
        let Some(pin) = &u.pin else { continue };
        let Some(Target { list, name, fields }) = target(&u.id, pin) else { continue };
        let entries = tree["profiles"][profile][list].as_sequence();
        let Some(index) =
            entries.and_then(|e| e.iter().position(|v| v["name"].as_str() == Some(name)))
        else {
            problems.push(format!("{}: no entry `{name}` under profiles.{profile}.{list}", u.id));
            continue;
        };
        let hub = &tree["profiles"][profile][list][index]["hub"];
        let entry = wanted.entry((list, index)).or_default();
        for (field, value) in fields {
            if hub[field.as_str()].as_str() != Some(UNPINNED) {
                continue;
            }
            match entry.get(&field) {
                Some((other, by)) if *other != value => {
                    problems.push(format!(
                        "{} and {by} were fetched at different commits of `main` ({value} and \
                         {other}); neither is pinned: fetch both again (`pipeline --profile \
                         {profile} run {} {by} --force`) and pin again",
                        u.id, u.id
                    ));
                    refused.push((list, index));
                }
                _ => {
                    entry.insert(field, (value, u.id.clone()));
                }
            }
        }
    }
    let wanted = wanted.into_iter().filter(|(entry, _)| !refused.contains(entry)).flat_map(
        |((list, index), fields)| {
            fields.into_iter().map(move |(field, (value, _))| ((list, index, field), value))
        },
    );
    // Replace from the end of the file backwards, so earlier offsets stay valid.
    let mut spans = Vec::new();
    for ((list, index, field), value) in wanted {
        let path = [
            Seg::Key("profiles"),
            Seg::Key(profile),
            Seg::Key(list),
            Seg::Index(index),
            Seg::Key("hub"),
            Seg::Key(&field),
        ];
        let dotted = format!("profiles.{profile}.{list}[{index}].hub.{field}");
        match value_span(text, &path, &field) {
            Some((line, span)) => spans.push((span, line, dotted, value)),
            None => problems.push(format!(
                "{dotted}: its `{UNPINNED}` could not be found on one line; write {value} there \
                 by hand"
            )),
        }
    }
    spans.sort_by_key(|(span, ..)| std::cmp::Reverse(span.start));
    // Two fields found at one place would write one value over the other: neither is written.
    let overlap =
        |a: &std::ops::Range<usize>, b: &std::ops::Range<usize>| a.start < b.end && b.start < a.end;
    let clashes: Vec<bool> = (0..spans.len())
        .map(|i| (0..spans.len()).any(|j| j != i && overlap(&spans[i].0, &spans[j].0)))
        .collect();
    let mut kept = Vec::new();
    for ((span, line, dotted, value), clash) in spans.into_iter().zip(clashes) {
        if clash {
            problems.push(format!(
                "{dotted}: found where another field was; write {value} there by hand"
            ));
        } else {
            kept.push((span, line, dotted, value));
        }
    }
    let spans = kept;
    let mut out = text.to_string();
    let mut changes = Vec::new();
    for (span, line, field, value) in spans {
        out.replace_range(span, &value);
        changes.push(Change { line, field, value });
    }
    changes.reverse();
    Ok(Rewrite { text: out, changes, problems })
}

/// The 1-based line and byte range of the `unpinned` value of `field` at `path`: after the
/// column where `locate` finds the key (block style) or the key of the flow mapping that holds
/// it (`hub: { … }`), and before that mapping's `}` or the line's comment.
fn value_span(text: &str, path: &[Seg], field: &str) -> Option<(usize, std::ops::Range<usize>)> {
    let (line, column) = locate(text, path)?;
    let start: usize = text.split_inclusive('\n').take(line - 1).map(str::len).sum();
    let start = start + column - 1;
    let body = text[start..].split('\n').next()?;
    let body = &body[..body.find(" #").unwrap_or(body.len())];
    let body = &body[..body.find('}').unwrap_or(body.len())];
    let delimiter =
        |c: Option<char>| c.is_none_or(|c| matches!(c, ' ' | '{' | ',' | '}' | '\t' | '\r'));
    let needle = format!("{field}:");
    let mut from = 0;
    while let Some(at) = body[from..].find(&needle).map(|i| from + i) {
        from = at + needle.len();
        if !delimiter(body[..at].chars().next_back()) {
            continue;
        }
        let value_at = from + (body[from..].len() - body[from..].trim_start().len());
        let after = &body[value_at..];
        if after.starts_with(UNPINNED) && delimiter(after[UNPINNED.len()..].chars().next()) {
            return Some((line, start + value_at..start + value_at + UNPINNED.len()));
        }
    }
    None
}

/// `pipeline pin`: rewrites `config` for `profile` and prints what changed. Ok(true) when
/// nothing is left unpinned.
pub fn pin(config: &Path, profile: &str, files: &[Unpinned]) -> Result<bool> {
    let text =
        std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    if files.is_empty() {
        println!("profile `{profile}` pins every hub file: nothing to do");
        return Ok(true);
    }
    let r = rewrite(&text, profile, files)?;
    for p in &r.problems {
        eprintln!("warning: {p}");
    }
    if r.changes.is_empty() {
        let fetched = files.iter().filter(|u| u.pin.is_some()).count();
        println!(
            "nothing pinned: {} file(s) are `unpinned` and {fetched} of them fetched; `pipeline \
             --profile {profile} run fetch` fetches them. {} is unchanged",
            files.len(),
            config.display()
        );
        return Ok(false);
    }
    // The new file must still be a valid study with the same profile before it replaces the old.
    pipeline_stages::study::load_text(&r.text, config, Some(profile))
        .context("the rewritten study file does not load; it was not written")?;
    replace(config, &r.text)?;
    for c in &r.changes {
        println!("{}:{}: {}: {UNPINNED} → {}", config.display(), c.line, c.field, c.value);
    }
    let left: Vec<&str> = files.iter().filter(|u| u.pin.is_none()).map(|u| u.id.as_str()).collect();
    println!(
        "pinned {} value(s) in {}; {} file(s) still unpinned{}",
        r.changes.len(),
        config.display(),
        left.len(),
        if left.is_empty() {
            String::new()
        } else {
            format!(" (not fetched yet: {})", left.join(", "))
        }
    );
    Ok(left.is_empty() && r.problems.is_empty())
}

/// Replaces `path` by `text` atomically: a temporary file beside it, synced, then renamed.
fn replace(path: &Path, text: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().context("the study file has no name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}.pin-{}", std::process::id()));
    let result = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        bail!("writing {}: {e:#}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline_stages::fetch::params::Pin;
    use pipeline_stages::fetch::params::RepoType;

    const STUDY: &str = "\
profiles:
  paper:
    sources:
      - name: natural   # the natural one
        hub: { repo: a/b, revision: unpinned, file: m.safetensors, blake3: unpinned, format: torchvision }
      - name: robust
        hub:
          repo: c/d
          revision: unpinned       # a comment
          file: r.ckpt
          blake3: unpinned
          format: madrylab
    datasets:
      - name: mnist
        hub: { repo: e/f, revision: unpinned, train_file: t.parquet, train_blake3: unpinned, test_file: s.parquet, test_blake3: unpinned }
";

    fn file(repo: &str) -> HubFile {
        HubFile {
            repo: repo.into(),
            repo_type: RepoType::Model,
            revision: Pin::Unpinned,
            file: "f".into(),
            blake3: Pin::Unpinned,
        }
    }

    fn fetched(id: &str, revision: &str, blake3: &str) -> Unpinned {
        let pin = PinRecord {
            repo: "r".into(),
            file: "f".into(),
            revision: revision.into(),
            blake3: blake3.into(),
        };
        Unpinned { id: id.into(), file: file("r"), pin: Some(pin) }
    }

    #[test]
    fn only_the_unpinned_words_change_in_block_and_flow_style() {
        let c = "c".repeat(40);
        let files = vec![
            fetched("fetch/source/natural", &"a".repeat(40), &"1".repeat(64)),
            fetched("fetch/source/robust", &"b".repeat(40), &"2".repeat(64)),
            fetched("fetch/mnist/train", &c, &"3".repeat(64)),
            fetched("fetch/mnist/test", &c, &"4".repeat(64)),
        ];
        let r = rewrite(STUDY, "paper", &files).unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        let want = STUDY
            .replacen("revision: unpinned", &format!("revision: {}", "a".repeat(40)), 1)
            .replacen("blake3: unpinned", &format!("blake3: {}", "1".repeat(64)), 1)
            .replacen("revision: unpinned", &format!("revision: {}", "b".repeat(40)), 1)
            .replacen("blake3: unpinned", &format!("blake3: {}", "2".repeat(64)), 1)
            .replacen("revision: unpinned", &format!("revision: {c}"), 1)
            .replacen("train_blake3: unpinned", &format!("train_blake3: {}", "3".repeat(64)), 1)
            .replacen("test_blake3: unpinned", &format!("test_blake3: {}", "4".repeat(64)), 1);
        assert_eq!(r.text, want);
        assert!(!r.text.contains(UNPINNED));
        let lines: Vec<(usize, &str)> =
            r.changes.iter().map(|c| (c.line, c.field.as_str())).collect();
        assert_eq!(
            lines,
            vec![
                (5, "profiles.paper.sources[0].hub.revision"),
                (5, "profiles.paper.sources[0].hub.blake3"),
                (9, "profiles.paper.sources[1].hub.revision"),
                (11, "profiles.paper.sources[1].hub.blake3"),
                (15, "profiles.paper.datasets[0].hub.revision"),
                (15, "profiles.paper.datasets[0].hub.train_blake3"),
                (15, "profiles.paper.datasets[0].hub.test_blake3"),
            ]
        );
    }

    #[test]
    fn crlf_line_ends_are_kept() {
        let crlf = STUDY.replace('\n', "\r\n");
        let files = vec![fetched("fetch/source/robust", &"b".repeat(40), &"2".repeat(64))];
        let r = rewrite(&crlf, "paper", &files).unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        let want = crlf
            .replacen(
                "revision: unpinned       #",
                &format!("revision: {}       #", "b".repeat(40)),
                1,
            )
            .replacen("blake3: unpinned\r", &format!("blake3: {}\r", "2".repeat(64)), 1);
        assert_eq!(r.text, want);
    }

    #[test]
    fn unfetched_files_are_left_alone_and_disagreeing_splits_are_refused() {
        let mut files = vec![fetched("fetch/source/natural", &"a".repeat(40), &"1".repeat(64))];
        files[0].pin = None;
        let r = rewrite(STUDY, "paper", &files).unwrap();
        assert_eq!((r.text.as_str(), r.changes.len()), (STUDY, 0));

        let files = vec![
            fetched("fetch/mnist/train", &"c".repeat(40), &"3".repeat(64)),
            fetched("fetch/mnist/test", &"d".repeat(40), &"4".repeat(64)),
        ];
        let r = rewrite(STUDY, "paper", &files).unwrap();
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert!(r.problems[0].contains("different commits"), "{}", r.problems[0]);
        assert_eq!(
            (r.text.as_str(), r.changes.len()),
            (STUDY, 0),
            "nothing of a dataset whose splits disagree is written"
        );
    }
}
