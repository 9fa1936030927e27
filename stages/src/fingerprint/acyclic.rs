//! No import cycles (tests only): in `stages/src` and in `engine/src`, no module's file reaches
//! itself through the files whose items its code names (the closure reader's graph; `mod`
//! declarations and `#[cfg(test)]` code are not edges, test-only files not nodes). A cycle is
//! printed file by file.

use super::closure::{graph, modules};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// A cycle of `graph`, as its files in order with the first repeated at the end, if it has one.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit<'a>(
        file: &'a str,
        graph: &'a Graph,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|f| *f == file) {
            let mut cycle: Vec<String> = path[at..].iter().map(|f| f.to_string()).collect();
            cycle.push(file.to_string());
            return Some(cycle);
        }
        if done.contains(file) {
            return None;
        }
        path.push(file);
        for next in graph.get(file).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(file);
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|file| visit(file, graph, &mut Vec::new(), &mut done))
}

/// The first cycle among the files of `src`, or the constructs the reader refused.
fn first_cycle(src: &Path) -> Result<Option<Vec<String>>, Vec<String>> {
    let files = modules(src);
    let roots: Vec<&str> = files.iter().map(String::as_str).collect();
    Ok(cycle(&graph(src, &roots)?))
}

fn assert_acyclic(crate_dir: &str) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(crate_dir).join("src");
    match first_cycle(&src) {
        Ok(None) => {}
        Ok(Some(cycle)) => panic!("{crate_dir}/src has an import cycle: {}", cycle.join(" → ")),
        Err(refused) => panic!("{crate_dir}/src: {}", refused.join("; ")),
    }
}

#[test]
fn a_cycle_is_found_and_named_file_by_file() {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in [
        ("lib.rs", "pub mod a; pub mod b; pub mod c; pub mod d;"),
        ("a.rs", "use crate::b::B;\npub struct A;"),
        ("b.rs", "pub struct B;\nfn f() { crate::c::h() }"),
        ("c.rs", "pub fn h() { let _ = crate::a::A; }"),
        ("d.rs", "use crate::a::A;\n#[cfg(test)]\nmod tests { use crate::d::*; }"),
    ] {
        std::fs::write(dir.path().join(path), text).unwrap();
    }
    assert_eq!(first_cycle(dir.path()).unwrap().unwrap(), ["a.rs", "b.rs", "c.rs", "a.rs"]);
    // Without c's use of a, no cycle: d names a and nothing names d.
    std::fs::write(dir.path().join("c.rs"), "pub fn h() {}").unwrap();
    assert_eq!(first_cycle(dir.path()).unwrap(), None);
}

#[test]
fn the_stages_have_no_import_cycle() {
    assert_acyclic("stages");
}

#[test]
fn the_engine_has_no_import_cycle() {
    assert_acyclic("engine");
}
