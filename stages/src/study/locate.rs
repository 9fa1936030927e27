//! Finds where a value sits in `pipeline.yaml`, so that errors found after parsing (a grid that
//! names an undefined dataset, a duplicate name) can point at a line and column like parse errors
//! do. It walks the block structure by indentation; flow sequences (`[a, b]`) are understood on
//! one line. A path it cannot follow all the way (one that goes on inside a flow mapping, say)
//! ends at the deepest place it found.

/// One step of a path: a mapping key or a sequence index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// A line of the file as the walker sees it: `- key: v` becomes a sequence marker at the dash's
/// indent followed by `key: v` two columns deeper.
#[derive(Debug)]
struct Line<'a> {
    number: usize,
    indent: usize,
    text: &'a str,
    item: bool,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let body = raw.split(" #").next().unwrap_or("").trim_end();
        let trimmed = body.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut indent = body.len() - trimmed.len();
        let mut rest = trimmed;
        while let Some(after) =
            rest.strip_prefix("- ").or(if rest == "-" { Some("") } else { None })
        {
            out.push(Line { number: i + 1, indent, text: "", item: true });
            let stripped = after.trim_start();
            indent += rest.len() - stripped.len();
            rest = stripped;
            if rest.is_empty() {
                break;
            }
        }
        if !rest.is_empty() {
            out.push(Line { number: i + 1, indent, text: rest, item: false });
        }
    }
    out
}

/// 1-based (line, column) of the value at `path`, or of the deepest key on the way that exists.
pub fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let all = lines(text);
    let mut range = 0..all.len();
    let mut parent_indent: Option<usize> = None;
    let mut found: Option<(usize, usize)> = None;
    let mut inline: Option<(usize, &str, usize)> = None; // (line, text after key, column of text)
    for seg in path {
        if let (Seg::Index(i), Some((line, value, col))) = (seg, inline) {
            return flow_item(value, *i).map(|c| (line, col + c)).or(found);
        }
        // A path that goes on inside a flow mapping (`- { size: 50 }`) or stops existing ends at
        // the deepest place found so far.
        let Some(child) =
            all[range.clone()].iter().find(|l| parent_indent.is_none_or(|p| l.indent > p))
        else {
            return found;
        };
        let level = child.indent;
        let at_level = |l: &Line| l.indent == level;
        let Some(hit) = (match seg {
            Seg::Key(k) => range
                .clone()
                .find(|&j| at_level(&all[j]) && !all[j].item && key_of(all[j].text) == Some(k)),
            Seg::Index(i) => range.clone().filter(|&j| at_level(&all[j]) && all[j].item).nth(*i),
        }) else {
            return found;
        };
        let line = &all[hit];
        found = Some((line.number, line.indent + 1));
        inline = match seg {
            Seg::Key(k) => {
                let value = line.text[k.len() + 1..].trim_start();
                // An anchor (`schedule: &rows`) names the value that follows it, on this line
                // or in the block below.
                let value = match value.strip_prefix('&') {
                    Some(anchored) => anchored.split_once(' ').map_or("", |(_, v)| v.trim_start()),
                    None => value,
                };
                let col = line.indent + line.text.len() - value.len() + 1;
                (!value.is_empty()).then_some((line.number, value, col))
            }
            Seg::Index(_) => None,
        };
        let end = (hit + 1..range.end).find(|&j| all[j].indent <= level).unwrap_or(range.end);
        range = hit + 1..end;
        // An item's own content starts on the marker's line, deeper than the dash.
        parent_indent = Some(level);
    }
    found
}

fn key_of(text: &str) -> Option<&str> {
    let (k, _) = text.split_once(':')?;
    let k = k.trim().trim_matches(|c| c == '"' || c == '\'');
    (!k.is_empty()).then_some(k)
}

/// 0-based column offset of item `i` of a one-line flow sequence `[a, b, c]`.
fn flow_item(value: &str, i: usize) -> Option<usize> {
    let inner = value.strip_prefix('[')?;
    let mut offset = 1;
    for (n, part) in inner.trim_end_matches(']').split(',').enumerate() {
        if n == i {
            return Some(offset + (part.len() - part.trim_start().len()));
        }
        offset += part.len() + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::Seg::{Index, Key};
    use super::*;

    const DOC: &str = "\
default_profile: mini
profiles:
  mini:
    sources:
      - name: natural
        label: Natural
      - name: l2_eps3   # robust
        label: L2
    grid:
      sources: [natural, l2_eps3, nope]
      datasets:
        - cifar10
        - svhn
  smoke:
    grid:
      blocks: [3]
";

    #[test]
    fn finds_keys_items_and_flow_items_by_indentation() {
        assert_eq!(locate(DOC, &[Key("default_profile")]), Some((1, 1)));
        assert_eq!(locate(DOC, &[Key("profiles"), Key("smoke")]), Some((14, 3)));
        assert_eq!(
            locate(DOC, &[Key("profiles"), Key("mini"), Key("sources"), Index(1)]),
            Some((7, 7))
        );
        assert_eq!(
            locate(DOC, &[Key("profiles"), Key("mini"), Key("sources"), Index(1), Key("label")]),
            Some((8, 9))
        );
        assert_eq!(
            locate(DOC, &[Key("profiles"), Key("mini"), Key("grid"), Key("sources"), Index(2)]),
            Some((10, 35))
        );
        assert_eq!(
            locate(DOC, &[Key("profiles"), Key("mini"), Key("grid"), Key("datasets"), Index(1)]),
            Some((13, 9))
        );
        // `blocks` under smoke, not a key of the same name elsewhere.
        assert_eq!(
            locate(DOC, &[Key("profiles"), Key("smoke"), Key("grid"), Key("blocks")]),
            Some((16, 7))
        );
    }

    #[test]
    fn a_path_that_is_not_there_ends_at_the_deepest_place_found() {
        assert_eq!(locate(DOC, &[Key("nope")]), None);
        assert_eq!(locate(DOC, &[Key("profiles"), Key("paper")]), Some((2, 1)));
        assert_eq!(
            locate(DOC, &[Key("profiles"), Key("mini"), Key("sources"), Index(5)]),
            Some((4, 5))
        );
        // A block behind an anchor, and a flow sequence behind one.
        let anchored =
            "grid:\n  schedule: &rows\n    - { size: 1 }\n    - { size: 2 }\n  blocks: &b [0, 3]\n";
        assert_eq!(locate(anchored, &[Key("grid"), Key("schedule"), Index(1)]), Some((4, 5)));
        assert_eq!(locate(anchored, &[Key("grid"), Key("blocks"), Index(1)]), Some((5, 18)));
        // Into a flow mapping on an item's line: that line.
        assert_eq!(
            locate(
                DOC,
                &[Key("profiles"), Key("mini"), Key("grid"), Key("datasets"), Index(0), Key("x")]
            ),
            Some((12, 9))
        );
    }
}
