//! Code fingerprints: a stage's fingerprint is blake3 over the code of the files that make up
//! its code — its own module and every module, schema and data file its code reaches — and over
//! what of the build that code links (`build_record.rs`: the crates it names and everything they
//! link, at their locked versions, their declared features, the enabled features of this crate,
//! the compiler). Rust files are hashed as tokens (`tokens.rs`), so a comment, a doc comment or
//! rustfmt's layout changes no fingerprint; data files as bytes. Each stage lists its files
//! once, in a [`Code`] built with [`sources!`]; a test proves every list equals the files the
//! stage's module really reaches (`closure.rs`, which refuses what it cannot follow), so a list
//! can neither miss a file (stale results) nor hold one the stage does not run (needless
//! re-computation).

#[cfg(test)]
mod acyclic;
mod build_record;
#[cfg(test)]
mod closure;
mod tokens;

/// The code of one stage kind: the module that defines it, and the files its code is made of
/// (paths relative to `stages/src/`, with their text).
pub struct Code {
    /// The stage's own module file, where the closure starts.
    pub root: &'static str,
    pub sources: &'static [(&'static str, &'static str)],
}

/// `sources!["finetune/mod.rs", "nn/sgd.rs"]`: each path (relative to `stages/src/`) with its
/// text, included at compile time.
macro_rules! sources {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/", $path)))),*]
    };
}
pub(crate) use sources;

impl Code {
    /// The fingerprint of stage `kind` made of this code.
    pub fn fingerprint(&self, kind: &str) -> blake3::Hash {
        let mut h = blake3::Hasher::new();
        // Length-prefix each field so that no two lists of fields hash alike.
        let mut field = |bytes: &[u8]| {
            h.update(&(bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(b"pipeline-stage-fingerprint-v3");
        field(kind.as_bytes());
        for line in build_record::this_build().linked_by(self.sources) {
            field(line.as_bytes());
        }
        for (path, text) in self.sources {
            let code = match path.ends_with(".rs") {
                true => tokens::code_hash(text),
                false => blake3::hash(text.as_bytes()),
            };
            field(path.as_bytes());
            field(code.as_bytes());
        }
        h.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    #[test]
    fn fingerprint_changes_with_any_source_and_with_file_boundaries() {
        let fp = |kind: &str, sources: &'static [(&'static str, &'static str)]| {
            Code { root: "a.rs", sources }.fingerprint(kind)
        };
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

    /// `code` with each Rust file's text passed through `edit`.
    fn edited(code: &Code, edit: &dyn Fn(&str, &str) -> String) -> Code {
        let sources: Vec<(&'static str, &'static str)> = code
            .sources
            .iter()
            .map(|&(path, text)| match path.ends_with(".rs") {
                true => (path, &*Box::leak(edit(path, text).into_boxed_str())),
                false => (path, text),
            })
            .collect();
        Code { root: code.root, sources: Box::leak(sources.into_boxed_slice()) }
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
        for (stage, code) in crate::study::stages() {
            let kind = stage.kind();
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
            let tabs = edited(code, &|_, text| rustfmt(text, "hard_tabs=true"));
            assert_eq!(tabs.fingerprint(kind), before, "stage {kind}: rustfmt's layout");
            let literal = |value: &'static str| {
                edited(code, &move |path, text| match path == code.root {
                    true => format!("{text}\nconst _PROBE: f64 = {value};\n"),
                    false => text.to_string(),
                })
                .fingerprint(kind)
            };
            assert_ne!(literal("0.5"), literal("0.25"), "stage {kind}: a literal");
        }
    }

    #[test]
    fn every_stage_lists_exactly_the_files_its_code_reaches() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut problems = Vec::new();
        for (stage, code) in crate::study::stages() {
            let listed: BTreeSet<String> =
                code.sources.iter().map(|(p, _)| p.to_string()).collect();
            let reached = match closure::closure(&src, &[code.root]) {
                Ok(reached) => reached,
                Err(unfollowed) => {
                    problems.push(format!("stage {}: {}", stage.kind(), unfollowed.join("; ")));
                    continue;
                }
            };
            let missing: Vec<&String> = reached.difference(&listed).collect();
            let extra: Vec<&String> = listed.difference(&reached).collect();
            if !missing.is_empty() || !extra.is_empty() {
                problems.push(format!(
                    "stage {}: not listed but reached: {missing:?}; listed but not reached: {extra:?}",
                    stage.kind()
                ));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
