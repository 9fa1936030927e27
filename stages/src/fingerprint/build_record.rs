//! What `build.rs` recorded about this build, and the part of it a stage's code can depend on:
//! the crates its files name, every crate those link (with the versions `Cargo.lock` pins), how
//! the manifests declare the named ones (features included), the features of this crate the
//! build enables for them, and the compiler. Path crates (the engine) are not followed: they
//! run stages and compute none of their outputs, and their code is in no fingerprint either.

use super::tokens::{tokens, Tok};
use std::collections::BTreeSet;

/// The record `build.rs` wrote: one line per `locked`, `declared`, `enabled` and `compiler`.
const RECORD: &str = include_str!(concat!(env!("OUT_DIR"), "/build_record.txt"));

/// A registry crate as `Cargo.lock` pins it.
struct Locked<'a> {
    name: &'a str,
    version: &'a str,
    source: &'a str,
    /// Indices into the record's locked crates.
    dependencies: Vec<usize>,
}

/// The parsed record.
pub struct BuildRecord<'a> {
    locked: Vec<Locked<'a>>,
    /// (crate, its declaration in the manifests)
    declared: Vec<(&'a str, &'a str)>,
    /// `crate/feature` settings of this crate's enabled features.
    enabled: Vec<&'a str>,
    compiler: &'a str,
}

/// This build's record.
pub fn this_build() -> BuildRecord<'static> {
    parse(RECORD)
}

fn parse(text: &str) -> BuildRecord<'_> {
    let mut r = BuildRecord { locked: vec![], declared: vec![], enabled: vec![], compiler: "" };
    for line in text.lines() {
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        match kind {
            "locked" => {
                let f: Vec<&str> = rest.split(' ').collect();
                let dependencies = match f.get(3) {
                    Some(&"-") | None => vec![],
                    Some(list) => list.split(',').filter_map(|i| i.parse().ok()).collect(),
                };
                r.locked.push(Locked {
                    name: f[0],
                    version: f.get(1).copied().unwrap_or(""),
                    source: f.get(2).copied().unwrap_or(""),
                    dependencies,
                });
            }
            "declared" => r.declared.push(rest.split_once(' ').unwrap_or((rest, ""))),
            "enabled" => r.enabled.push(rest),
            "compiler" => r.compiler = rest,
            _ => panic!("build record: an unknown line `{line}`"),
        }
    }
    r
}

impl BuildRecord<'_> {
    /// The lines of the record the code of `sources` (paths and texts) can depend on, in a
    /// fixed order. A crate counts as named when any identifier of a Rust file is its name (a
    /// variable of the same name only adds a crate: it never drops one).
    pub fn linked_by(&self, sources: &[(&str, &str)]) -> Vec<String> {
        let mut idents = BTreeSet::new();
        for (path, text) in sources {
            if path.ends_with(".rs") {
                for (tok, _) in tokens(text) {
                    if let Tok::Ident(word) = tok {
                        idents.insert(word);
                    }
                }
            }
        }
        let named: Vec<&str> = self
            .declared
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| idents.contains(&name.replace('-', "_")))
            .collect();
        // The direct dependencies of this crate of those names, and all they link.
        let me = self.locked.iter().position(|l| l.name == env!("CARGO_PKG_NAME"));
        let direct = me.map(|i| self.locked[i].dependencies.clone()).unwrap_or_default();
        let mut todo: Vec<usize> =
            direct.into_iter().filter(|&i| named.contains(&self.locked[i].name)).collect();
        // Path crates (the engine) are left out with what they link: they run stages, they
        // compute none of their outputs.
        let mut reached = BTreeSet::new();
        while let Some(i) = todo.pop() {
            if self.locked[i].source != "-" && reached.insert(i) {
                todo.extend(&self.locked[i].dependencies);
            }
        }
        let linked: BTreeSet<&str> = reached.iter().map(|&i| self.locked[i].name).collect();
        let mut lines: Vec<String> = reached
            .iter()
            .map(|&i| {
                let l = &self.locked[i];
                format!("crate {} {} {}", l.name, l.version, l.source)
            })
            .collect();
        lines.sort();
        for (name, text) in &self.declared {
            if named.contains(name) {
                lines.push(format!("declared {name} {text}"));
            }
        }
        for setting in &self.enabled {
            let krate = setting.split('/').next().unwrap_or(setting);
            if linked.contains(krate) {
                lines.push(format!("enabled {setting}"));
            }
        }
        lines.push(format!("compiler {}", self.compiler));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = "\
locked pipeline-stages 0.1.0 - 1,3,5
locked candle-core 0.11.1 registry+x 2
locked half 2.6.0 registry+x -
locked serde_json 1.0.1 registry+x 4
locked memchr 2.7.0 registry+x -
locked pipeline-engine 0.1.0 - 6
locked indicatif 0.18.0 registry+x -
declared pipeline-engine pipeline-engine = { path = \"../engine\" }
declared candle-core candle-core = \"0.11.1\"
declared serde_json serde_json.workspace = true (serde_json = { version = \"1\", features = [\"float_roundtrip\"] })
enabled candle-core/cuda
compiler rustc 1.90.0 x86_64-unknown-linux-gnu
";

    #[test]
    fn a_stage_depends_on_the_crates_its_code_names_and_all_they_link() {
        let r = parse(RECORD);
        let candle = r.linked_by(&[("nn/a.rs", "use candle_core::Tensor; // serde_json")]);
        assert_eq!(
            candle,
            vec![
                "crate candle-core 0.11.1 registry+x",
                "crate half 2.6.0 registry+x",
                "declared candle-core candle-core = \"0.11.1\"",
                "enabled candle-core/cuda",
                "compiler rustc 1.90.0 x86_64-unknown-linux-gnu",
            ]
        );
        let json = r.linked_by(&[("a.rs", "fn f() { serde_json::from_str::<u8>(\"1\"); }")]);
        assert!(json.contains(&"crate memchr 2.7.0 registry+x".to_string()), "{json:?}");
        assert!(json.iter().any(|l| l.contains("float_roundtrip")), "{json:?}");
        assert!(!json.iter().any(|l| l.contains("candle")), "{json:?}");
        // A data file naming a crate links nothing; the engine's crates are not the stages'.
        assert_eq!(r.linked_by(&[("t.csv", "candle_core")]).len(), 1);
        let engine = r.linked_by(&[("a.rs", "use pipeline_engine::Stage;")]);
        assert!(!engine.iter().any(|l| l.starts_with("crate")), "{engine:?}");
    }

    #[test]
    fn this_build_names_the_crates_the_stages_declare() {
        let r = this_build();
        assert!(r.compiler.starts_with("rustc "), "{}", r.compiler);
        for krate in ["candle-core", "serde_json", "faer", "gemm", "statrs", "rand_chacha", "image"]
        {
            assert!(r.declared.iter().any(|(n, _)| *n == krate), "{krate} is not declared");
        }
        let serde_json = r.declared.iter().find(|(n, _)| *n == "serde_json").unwrap().1;
        assert!(serde_json.contains("float_roundtrip"), "{serde_json}");
    }
}
