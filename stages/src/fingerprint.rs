//! Code fingerprints: a stage's fingerprint is blake3 over the source text of the files that
//! make up its code, listed explicitly by the stage with `include_str!`, plus the versions of the
//! numeric crates it runs on. Editing one stage's files invalidates that stage and its dependents.

/// Versions of the crates whose numerics can change a stage's output.
const NUMERIC_CRATES: &str = "candle-core 0.11.1; candle-nn 0.11.1; polars 0.55; plotters 0.3.7";

/// Fingerprint of a stage made of `sources` (each an `include_str!` of one file).
pub fn of_sources(kind: &str, sources: &[&str]) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"pipeline-stage-fingerprint-v1\0");
    h.update(kind.as_bytes());
    h.update(b"\0");
    h.update(NUMERIC_CRATES.as_bytes());
    for s in sources {
        // Length-prefix each file so that moving text between files changes the hash.
        h.update(&(s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    }
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_changes_with_any_source_and_with_file_boundaries() {
        let a = of_sources("render", &["fn a() {}", "fn b() {}"]);
        assert_ne!(a, of_sources("render", &["fn a() {}", "fn b() { }"]));
        assert_ne!(a, of_sources("render", &["fn a() {}fn b() {}"]));
        assert_ne!(a, of_sources("aggregate", &["fn a() {}", "fn b() {}"]));
        assert_eq!(a, of_sources("render", &["fn a() {}", "fn b() {}"]));
    }
}
