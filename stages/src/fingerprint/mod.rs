//! Code fingerprints: a stage's fingerprint is blake3 over the code of the files that make up
//! its code — its own module and every module, schema and data file its code reaches — and over
//! what of the build that code links (`build_record.rs`: the crates it names and everything they
//! link, at their locked versions, their declared features, the enabled features of this crate,
//! the compiler). Rust files are hashed as tokens (`tokens.rs`), so a comment, a doc comment or
//! rustfmt's layout changes no fingerprint; data files as bytes. Each stage lists its files in a
//! [`Code`]: its own in a [`sources!`] list, and the shared ones by composing the lists that name
//! them once (`nn::NETWORK`, `kind::SEAM`, …). A test proves that the parts of every stage, each
//! file in one part only, together equal the files the stage's module really reaches
//! (`closure.rs`, which refuses what it cannot follow), so a stage can neither miss a file (stale
//! results) nor hold one it does not run (needless re-computation).

#[cfg(test)]
mod acyclic;
mod build_record;
#[cfg(test)]
mod closure;
mod tokens;

use std::collections::BTreeMap;

/// Source files, each path (relative to `stages/src/`) with its text: what [`sources!`] makes.
pub type Sources = &'static [(&'static str, &'static str)];

/// The code of one stage kind, or of the reports a kind owns: the module that defines it, and the
/// files its code is made of.
pub struct Code {
    /// The stage's own module file, where the closure starts.
    pub root: &'static str,
    /// The files, in parts: the stage's own list and the shared lists it composes
    /// (`&[sources![…], crate::nn::NETWORK]`); each file in one part only.
    pub parts: &'static [Sources],
}

/// `sources!["finetune/mod.rs", "nn/sgd.rs"]`: each path (relative to `stages/src/`) with its
/// text, included at compile time: a [`Sources`].
macro_rules! sources {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/", $path)))),*]
    };
}
pub(crate) use sources;

/// Every file of every part of `codes` once, in path order: how the parts are split or ordered,
/// or split between codes, changes no fingerprint.
fn files(codes: &[&Code]) -> Vec<(&'static str, &'static str)> {
    let parts = codes.iter().flat_map(|code| code.parts.iter());
    let files: BTreeMap<&'static str, &'static str> =
        parts.flat_map(|part| part.iter().copied()).collect();
    files.into_iter().collect()
}

/// The fingerprint of stage `kind` made of `codes` (a file in several of them counts once).
pub fn fingerprint(codes: &[&Code], kind: &str) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    // Length-prefix each field so that no two lists of fields hash alike.
    let mut field = |bytes: &[u8]| {
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(b"pipeline-stage-fingerprint-v4");
    field(kind.as_bytes());
    let files = files(codes);
    for line in build_record::this_build().linked_by(&files) {
        field(line.as_bytes());
    }
    for (path, text) in files {
        field(path.as_bytes());
        field(file_hash(path, text).as_bytes());
    }
    h.finalize()
}

/// What the fingerprint of `codes` is over, part by part: each file's hash by its path, and
/// `(build)`, the hash of what the code links (16 hex digits each), so that `pipeline status`
/// can say which file made a node stale.
pub fn parts(codes: &[&Code]) -> BTreeMap<String, String> {
    let short = |h: blake3::Hash| h.to_hex()[..16].to_string();
    let files = files(codes);
    let build = build_record::this_build().linked_by(&files).join("\n");
    let mut parts: BTreeMap<String, String> =
        files.iter().map(|(path, text)| (path.to_string(), short(file_hash(path, text)))).collect();
    parts.insert("(build)".into(), short(blake3::hash(build.as_bytes())));
    parts
}

/// A file's hash as the fingerprint takes it: a Rust file's tokens, any other file's bytes.
fn file_hash(path: &str, text: &str) -> blake3::Hash {
    match path.ends_with(".rs") {
        true => tokens::code_hash(text),
        false => blake3::hash(text.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    /// A code of the given parts, for the tests' lifetime.
    fn code(root: &'static str, parts: Vec<Sources>) -> Code {
        Code { root, parts: Box::leak(parts.into_boxed_slice()) }
    }

    impl Code {
        fn fingerprint(&self, kind: &str) -> blake3::Hash {
            fingerprint(&[self], kind)
        }
        fn parts(&self) -> BTreeMap<String, String> {
            parts(&[self])
        }
        fn files(&self) -> Vec<(&'static str, &'static str)> {
            files(&[self])
        }
    }

    #[test]
    fn codes_composed_are_their_files_once() {
        let (a, b, ab): (Sources, Sources, Sources) = (
            &[("a.rs", "fn a() {}")],
            &[("b.rs", "fn b() {}")],
            &[("a.rs", "fn a() {}"), ("b.rs", "fn b() {}")],
        );
        let (one, two, both) =
            (code("a.rs", vec![a]), code("b.rs", vec![b]), code("a.rs", vec![ab]));
        assert_eq!(fingerprint(&[&one, &two], "render"), both.fingerprint("render"));
        assert_eq!(fingerprint(&[&both, &two], "render"), both.fingerprint("render"));
        assert_ne!(fingerprint(&[&one], "render"), both.fingerprint("render"));
        assert_eq!(parts(&[&one, &two]), both.parts());
        let names: Vec<String> = both.parts().into_keys().collect();
        assert_eq!(names, ["(build)", "a.rs", "b.rs"]);
    }

    #[test]
    fn fingerprint_changes_with_any_source_and_with_file_boundaries() {
        let fp = |kind: &str, sources: Sources| code("a.rs", vec![sources]).fingerprint(kind);
        let a = fp("render", &[("a.rs", "fn a() {}"), ("b.rs", "fn b() {}")]);
        assert_ne!(a, fp("render", &[("a.rs", "fn a() {}"), ("b.rs", "fn b() { 1 }")]));
        assert_eq!(a, fp("render", &[("a.rs", "fn a() {}"), ("b.rs", "/// B.\nfn b() {\n}\n")]));
        assert_ne!(a, fp("render", &[("a.rs", "fn a() {}"), ("b.csv", "fn b() {}")]));
        assert_ne!(
            fp("render", &[("t.csv", "a,b")]),
            fp("render", &[("t.csv", "a, b")]),
            "data files are bytes"
        );
        assert_ne!(a, fp("render", &[("a.rs", "fn a() {}fn b() {}"), ("b.rs", "")]));
        assert_ne!(a, fp("render", &[("a.rs", "fn a() {}"), ("c.rs", "fn b() {}")]));
        assert_ne!(a, fp("aggregate", &[("a.rs", "fn a() {}"), ("b.rs", "fn b() {}")]));
        assert_eq!(a, fp("render", &[("a.rs", "fn a() {}"), ("b.rs", "fn b() {}")]));
    }

    #[test]
    fn the_fingerprint_hashes_each_file_once_however_the_parts_split_and_order_them() {
        let (a, b, c): (Sources, Sources, Sources) =
            (&[("a.rs", "fn a() {}")], &[("b.rs", "fn b() {}")], &[("c.csv", "c")]);
        let whole =
            code("a.rs", vec![&[("c.csv", "c"), ("a.rs", "fn a() {}"), ("b.rs", "fn b() {}")]]);
        let fp = whole.fingerprint("render");
        assert_eq!(code("a.rs", vec![a, b, c]).fingerprint("render"), fp);
        assert_eq!(code("a.rs", vec![c, b, a]).fingerprint("render"), fp);
        assert_eq!(code("a.rs", vec![a, b, c, b]).fingerprint("render"), fp, "a file twice");
        assert_ne!(code("a.rs", vec![a, c]).fingerprint("render"), fp);
        let paths: Vec<&str> = whole.files().iter().map(|(p, _)| *p).collect();
        assert_eq!(paths, ["a.rs", "b.rs", "c.csv"]);
    }

    /// `code` with each Rust file's text passed through `edit`.
    fn edited(code: &Code, edit: &dyn Fn(&str, &str) -> String) -> Code {
        let sources: Vec<(&'static str, &'static str)> = code
            .files()
            .into_iter()
            .map(|(path, text)| match path.ends_with(".rs") {
                true => (path, &*Box::leak(edit(path, text).into_boxed_str())),
                false => (path, text),
            })
            .collect();
        self::code(code.root, vec![Box::leak(sources.into_boxed_slice())])
    }

    /// `text` as rustfmt lays it out with `options`.
    fn rustfmt(text: &str, options: &str) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new("rustfmt")
            .args(["--edition", "2021", "--emit", "stdout", "--config", options])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("rustfmt (the toolchain's) runs");
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "rustfmt failed");
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn comments_and_layout_leave_every_stage_fingerprint_and_a_changed_literal_moves_it() {
        let codes = crate::study::stages()
            .into_iter()
            .flat_map(|(stage, codes)| codes.into_iter().map(move |code| (stage.kind(), code)));
        for (kind, code) in codes {
            let before = code.fingerprint(kind);
            // Doc comments dropped, a comment line added, and tabs for indentation by rustfmt.
            let commented = edited(code, &|_, text| {
                let kept = text.lines().filter(|l| {
                    let l = l.trim_start();
                    !l.starts_with("///") && !l.starts_with("//!")
                });
                let body: Vec<&str> = kept.collect();
                format!("// Reviewed.\n{}\n", body.join("\n"))
            });
            assert_eq!(commented.fingerprint(kind), before, "stage {kind}: comments");
            assert_eq!(commented.parts(), code.parts(), "stage {kind}: comments, file by file");
            let tabs = edited(code, &|_, text| rustfmt(text, "hard_tabs=true"));
            assert_eq!(tabs.fingerprint(kind), before, "stage {kind}: rustfmt's layout");
            let literal = |value: &'static str| {
                edited(code, &move |path, text| match path == code.root {
                    true => format!("{text}\nconst _PROBE: f64 = {value};\n"),
                    false => text.to_string(),
                })
            };
            let (half, quarter) = (literal("0.5"), literal("0.25"));
            assert_ne!(
                half.fingerprint(kind),
                quarter.fingerprint(kind),
                "stage {kind}: a literal"
            );
            // `pipeline status` names the file: the edited root is the one part that moved.
            let (now, was) = (half.parts(), code.parts());
            let moved: Vec<&String> = now.keys().filter(|p| now[*p] != was[*p]).collect();
            assert_eq!(moved, [code.root], "stage {kind}: the part that moved");
        }
    }

    /// What is wrong with the parts of `code` for a stage whose code reaches `reached`: a file
    /// listed twice (in two parts, or twice in one), and the difference between the union of the
    /// parts and `reached`.
    fn listing_problems(code: &Code, reached: &BTreeSet<String>) -> Vec<String> {
        let mut listed = BTreeSet::new();
        let mut twice = BTreeSet::new();
        for (path, _) in code.parts.iter().flat_map(|part| part.iter()) {
            if !listed.insert(path.to_string()) {
                twice.insert(path.to_string());
            }
        }
        let missing: Vec<&String> = reached.difference(&listed).collect();
        let extra: Vec<&String> = listed.difference(reached).collect();
        let mut problems = Vec::new();
        if !twice.is_empty() {
            problems.push(format!("listed more than once: {twice:?}"));
        }
        if !missing.is_empty() || !extra.is_empty() {
            problems.push(format!(
                "not listed but reached: {missing:?}; listed but not reached: {extra:?}"
            ));
        }
        problems
    }

    #[test]
    fn every_stage_lists_exactly_the_files_its_code_reaches() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut problems = Vec::new();
        // Each code of a stage (its own, and the reports' it is given) on its own.
        for (stage, codes) in crate::study::stages() {
            for code in codes {
                let at = format!("stage {} ({})", stage.kind(), code.root);
                match closure::closure(&src, &[code.root]) {
                    Ok(reached) => problems.extend(
                        listing_problems(code, &reached).into_iter().map(|p| format!("{at}: {p}")),
                    ),
                    Err(unfollowed) => problems.push(format!("{at}: {}", unfollowed.join("; "))),
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn a_listing_with_a_file_in_two_parts_or_one_too_many_or_few_is_refused() {
        let reached: BTreeSet<String> = ["a.rs", "b.rs"].map(String::from).into();
        let (a, b, ab): (Sources, Sources, Sources) =
            (&[("a.rs", "")], &[("b.rs", "")], &[("a.rs", ""), ("b.rs", "")]);
        assert!(listing_problems(&code("a.rs", vec![a, b]), &reached).is_empty());
        let twice = listing_problems(&code("a.rs", vec![ab, b]), &reached);
        assert_eq!(twice, [r#"listed more than once: {"b.rs"}"#]);
        let few = listing_problems(&code("a.rs", vec![a]), &reached);
        assert_eq!(few, [r#"not listed but reached: ["b.rs"]; listed but not reached: []"#]);
        let many = listing_problems(&code("a.rs", vec![ab, &[("c.rs", "")]]), &reached);
        assert_eq!(many, [r#"not listed but reached: []; listed but not reached: ["c.rs"]"#]);
    }
}
