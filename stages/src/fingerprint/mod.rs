//! Code fingerprints: a stage's fingerprint is blake3 over the source text of the files that
//! make up its code — its own module and every module, schema and data file its code reaches —
//! plus the versions of the numeric crates it runs on. Each stage lists its files once, in a
//! [`Code`] built with [`sources!`]; a test proves every list equals the files the stage's module
//! really reaches (`closure.rs`), so a list can neither miss a file (stale results) nor hold one
//! the stage does not run (needless re-computation).

#[cfg(test)]
mod closure;

/// Versions of the crates whose numerics can change a stage's output.
const NUMERIC_CRATES: &str = "candle-core 0.11.1; candle-nn 0.11.1; polars 0.55; plotters 0.3.7";

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
        h.update(b"pipeline-stage-fingerprint-v2\0");
        h.update(kind.as_bytes());
        h.update(b"\0");
        h.update(NUMERIC_CRATES.as_bytes());
        for (path, text) in self.sources {
            // Length-prefix each field so that moving text between files changes the hash.
            for field in [path.as_bytes(), text.as_bytes()] {
                h.update(&(field.len() as u64).to_le_bytes());
                h.update(field);
            }
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
        assert_ne!(a, fp("render", &[("a.rs", "fn a() {}"), ("b.rs", "fn b() { }")]));
        assert_ne!(a, fp("render", &[("a.rs", "fn a() {}fn b() {}"), ("b.rs", "")]));
        assert_ne!(a, fp("render", &[("a.rs", "fn a() {}"), ("c.rs", "fn b() {}")]));
        assert_ne!(a, fp("aggregate", &[("a.rs", "fn a() {}"), ("b.rs", "fn b() {}")]));
        assert_eq!(a, fp("render", &[("a.rs", "fn a() {}"), ("b.rs", "fn b() {}")]));
    }

    #[test]
    fn every_stage_lists_exactly_the_files_its_code_reaches() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut problems = Vec::new();
        for (stage, code) in crate::study::stages() {
            let listed: BTreeSet<String> =
                code.sources.iter().map(|(p, _)| p.to_string()).collect();
            let reached = closure::closure(&src, &[code.root]);
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
