//! The source files a module's code reaches, read from the text of `src/` (tests only): the
//! check that each stage's hand-kept fingerprint list is exactly what the stage runs.
//!
//! A file is reached when code in a reached file names an item it defines: through a `use` of
//! the crate's own modules (`crate::`, `super::`, `self::`, a child module, or a name imported
//! so), through such a path in code (`crate::pretrain::model::load(..)`), or through `include_str!` /
//! `include_bytes!`. `pub use` re-exports are followed only for the names that are asked for (or
//! that the file's own code uses), so a `mod.rs` that re-exports is not itself reached, and
//! neither are its other modules. Items
//! under `#[cfg(test)]` are skipped. A module reached only through a trait impl or a macro
//! defined elsewhere is not seen; the stages have none.
//!
//! It fails closed: a construct it does not follow in a reached file (a glob import of this
//! crate's modules, `#[path]`, `include!`, an `include_str!` of anything but a literal) is an
//! error naming the file and line, never skipped.

use super::tokens::{outside_test_items, tokens, Tok};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One name a `use` brings into scope: its binding, the path it names, and whether it is a
/// re-export (`pub use`).
#[derive(Debug, Clone)]
struct Import {
    name: String,
    path: Vec<String>,
    public: bool,
    line: usize,
}

/// What one source file declares and names.
#[derive(Debug, Default)]
struct FileInfo {
    children: BTreeSet<String>,
    imports: Vec<Import>,
    /// Paths written in code (outside `use`), as segments.
    code_paths: Vec<Vec<String>>,
    /// Every identifier written in code (outside `use`).
    idents: BTreeSet<String>,
    includes: Vec<String>,
    /// Constructs the reader does not follow, by line: the closure refuses the file.
    unfollowed: Vec<(usize, String)>,
}

fn ident(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

/// Expand a use-tree starting at `toks[*i]` under `prefix` into imports; stops after the tree.
fn use_tree(
    toks: &[Tok],
    i: &mut usize,
    prefix: Vec<String>,
    public: bool,
    line: usize,
    out: &mut Vec<Import>,
) {
    let mut path = prefix;
    loop {
        match toks.get(*i) {
            Some(Tok::Ident(s)) if s == "self" && !path.is_empty() => {
                *i += 1;
                let name = path.last().cloned().unwrap_or_default();
                out.push(Import { name, path: path.clone(), public, line });
                return;
            }
            Some(Tok::Ident(s)) => {
                path.push(s.clone());
                *i += 1;
                if toks.get(*i) == Some(&Tok::Path) {
                    *i += 1;
                    continue;
                }
                let mut name = s.clone();
                if ident(toks.get(*i)) == Some("as") {
                    name = ident(toks.get(*i + 1)).unwrap_or("_").to_string();
                    *i += 2;
                }
                out.push(Import { name, path, public, line });
                return;
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                out.push(Import { name: "*".into(), path, public, line });
                return;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                while !matches!(toks.get(*i), Some(Tok::Punct('}')) | None) {
                    use_tree(toks, i, path.clone(), public, line, out);
                    if toks.get(*i) == Some(&Tok::Punct(',')) {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            _ => return,
        }
    }
}

fn scan(src: &str) -> FileInfo {
    let all = tokens(src);
    let kept = outside_test_items(&all.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>());
    let toks: Vec<Tok> = kept.iter().map(|&k| all[k].0.clone()).collect();
    let lines: Vec<usize> = kept.iter().map(|&k| all[k].1).collect();
    let mut info = FileInfo::default();
    let mut i = 0;
    while i < toks.len() {
        let word = ident(toks.get(i));
        if word == Some("use") {
            // `pub use`, `pub(crate) use`, … re-export; a plain `use` imports for this file.
            let public = (i >= 1 && ident(toks.get(i - 1)) == Some("pub"))
                || (i >= 4 && ident(toks.get(i - 4)) == Some("pub"));
            i += 1;
            if toks.get(i) == Some(&Tok::Path) {
                i += 1;
            }
            let line = lines[i];
            use_tree(&toks, &mut i, Vec::new(), public, line, &mut info.imports);
            continue;
        }
        if word == Some("mod") {
            if let (Some(name), Some(Tok::Punct(';'))) = (ident(toks.get(i + 1)), toks.get(i + 2)) {
                info.children.insert(name.to_string());
                i += 3;
                continue;
            }
        }
        if matches!(word, Some("include_str" | "include_bytes")) {
            // `include_str!(concat!(env!("OUT_DIR"), …))`: what `build.rs` generated (the build
            // record), data each fingerprint hashes itself; `env!("CARGO_MANIFEST_DIR")`: the
            // `sources!` macro, whose files are the lists this reader checks.
            let generated = ident(toks.get(i + 3)) == Some("concat")
                && ident(toks.get(i + 6)) == Some("env")
                && matches!(
                    toks.get(i + 9).and_then(Tok::plain_str),
                    Some("OUT_DIR" | "CARGO_MANIFEST_DIR")
                );
            match toks.get(i + 3).and_then(Tok::plain_str) {
                _ if generated => {}
                Some(path) if toks.get(i + 4) == Some(&Tok::Punct(')')) => {
                    info.includes.push(path.to_string())
                }
                _ => info.unfollowed.push((
                    lines[i],
                    format!("{} of something but a plain string literal", word.unwrap_or("")),
                )),
            }
        }
        if word == Some("include") && toks.get(i + 1) == Some(&Tok::Punct('!')) {
            info.unfollowed.push((lines[i], "include! (the included code is not read)".into()));
        }
        if toks.get(i) == Some(&Tok::Punct('#'))
            && toks.get(i + 1) == Some(&Tok::Punct('['))
            && ident(toks.get(i + 2)) == Some("path")
        {
            info.unfollowed.push((lines[i], "a #[path] module (its file is not found)".into()));
        }
        if let Some(first) = word {
            info.idents.insert(first.to_string());
            let preceded_by_path = i >= 1 && toks[i - 1] == Tok::Path;
            if !preceded_by_path && toks.get(i + 1) == Some(&Tok::Path) {
                let mut path = vec![first.to_string()];
                let mut j = i + 1;
                while toks.get(j) == Some(&Tok::Path) {
                    match ident(toks.get(j + 1)) {
                        Some(s) => path.push(s.to_string()),
                        None => break,
                    }
                    j += 2;
                }
                info.code_paths.push(path);
                i = j;
                continue;
            }
        }
        i += 1;
    }
    info
}

/// The source files (relative to `src`) that the code of `roots` reaches, roots included; or,
/// failing closed, every construct in a reached file that the reader does not follow, as
/// `file:line: what`.
pub fn closure(src: &Path, roots: &[&str]) -> Result<BTreeSet<String>, Vec<String>> {
    walk(src, roots).map(|walk| walk.reached)
}

/// Who names whom: for each file the code of `roots` reaches, the files its own code names
/// items of directly (a file's own name left out), with the same failures as [`closure`].
pub fn graph(
    src: &Path,
    roots: &[&str],
) -> Result<BTreeMap<String, BTreeSet<String>>, Vec<String>> {
    walk(src, roots).map(|walk| walk.edges)
}

/// The files of the crate's modules outside `#[cfg(test)]`: `lib.rs` and down its `mod`
/// declarations.
pub fn modules(src: &Path) -> Vec<String> {
    let mut walk = Walk::new(src);
    let (mut files, mut todo) = (Vec::new(), vec!["lib.rs".to_string()]);
    while let Some(file) = todo.pop() {
        let module = module_of(&file);
        let children: Vec<String> = walk.info(&file).children.iter().cloned().collect();
        for child in children {
            todo.extend(walk.module_file(&[module.clone(), vec![child]].concat()));
        }
        files.push(file);
    }
    files.sort();
    files
}

fn walk(src: &Path, roots: &[&str]) -> Result<Walk, Vec<String>> {
    let mut walk = Walk::new(src);
    for root in roots {
        walk.reach(root.to_string());
    }
    match walk.unfollowed.is_empty() {
        true => Ok(walk),
        false => Err(std::mem::take(&mut walk.unfollowed)),
    }
}

struct Walk {
    src: PathBuf,
    files: BTreeMap<String, FileInfo>,
    reached: BTreeSet<String>,
    unfollowed: Vec<String>,
    /// The files being read, innermost last: the last one is what names the next file reached.
    reading: Vec<String>,
    edges: BTreeMap<String, BTreeSet<String>>,
}

/// The module path of a source file: `nn/sgd.rs` → `[nn, sgd]`, `nn/mod.rs` → `[nn]`.
fn module_of(file: &str) -> Vec<String> {
    let stem = file.trim_end_matches(".rs");
    let mut segs: Vec<String> = stem.split('/').map(str::to_string).collect();
    if matches!(segs.last().map(String::as_str), Some("mod" | "lib")) {
        segs.pop();
    }
    segs
}

/// Lexically normalise `a/b/../c` to `a/c` (paths may climb out of `src/` with `..`).
fn normalise(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "." | "" => {}
            ".." if out.last().is_some_and(|p| *p != "..") => {
                out.pop();
            }
            p => out.push(p),
        }
    }
    out.join("/")
}

impl Walk {
    fn new(src: &Path) -> Walk {
        Walk {
            src: src.to_path_buf(),
            files: BTreeMap::new(),
            reached: BTreeSet::new(),
            unfollowed: Vec::new(),
            reading: Vec::new(),
            edges: BTreeMap::new(),
        }
    }

    fn info(&mut self, file: &str) -> &FileInfo {
        if !self.files.contains_key(file) {
            let text = std::fs::read_to_string(self.src.join(file)).unwrap_or_default();
            self.files.insert(file.to_string(), scan(&text));
        }
        &self.files[file]
    }

    /// The file of module `segs`, if it exists.
    fn module_file(&self, segs: &[String]) -> Option<String> {
        if segs.is_empty() {
            return Some("lib.rs".into());
        }
        let base = segs.join("/");
        [format!("{base}.rs"), format!("{base}/mod.rs")]
            .into_iter()
            .find(|f| self.src.join(f).is_file())
    }

    /// Include `file` and everything its own code reaches.
    fn reach(&mut self, file: String) {
        if let Some(from) = self.reading.last().filter(|from| **from != file) {
            self.edges.entry(from.clone()).or_default().insert(file.clone());
        }
        if !self.reached.insert(file.clone()) || !file.ends_with(".rs") {
            return;
        }
        self.reading.push(file.clone());
        self.read(&file);
        self.reading.pop();
    }

    /// Reach everything the code of `file` names.
    fn read(&mut self, file: &str) {
        let file = file.to_string();
        let module = module_of(&file);
        let dir = Path::new(&file).parent().map(|d| d.to_string_lossy().into_owned());
        let info = self.info(&file);
        // A plain `use` is for this file's code; a `pub use` counts only where the file's own
        // code names it too (otherwise it only re-exports, followed when asked for).
        let imports: Vec<Import> = info
            .imports
            .iter()
            .filter(|u| !u.public || info.idents.contains(&u.name))
            .cloned()
            .collect();
        let code_paths = info.code_paths.clone();
        let includes = info.includes.clone();
        let mut unfollowed: Vec<String> =
            info.unfollowed.iter().map(|(line, what)| format!("{file}:{line}: {what}")).collect();
        for include in includes {
            let path = match dir.as_deref() {
                Some(d) if !d.is_empty() => format!("{d}/{include}"),
                _ => include,
            };
            self.reached.insert(normalise(&path));
        }
        for import in imports {
            if let Some(abs) = self.absolute(&file, &module, &import.path) {
                if import.name == "*" {
                    // Which of the module's names the file's code uses is not worked out.
                    unfollowed.push(format!(
                        "{file}:{}: a glob import of this crate's `{}::*` (import the names)",
                        import.line,
                        import.path.join("::")
                    ));
                    continue;
                }
                self.item(abs);
            }
        }
        for path in code_paths {
            if let Some(abs) = self.absolute(&file, &module, &path) {
                self.item(abs);
            }
        }
        self.unfollowed.extend(unfollowed);
    }

    /// `path` as written in `file` (module `module`) as an absolute path in this crate, or
    /// `None` when it names something outside it (std, another crate, a local item).
    fn absolute(&mut self, file: &str, module: &[String], path: &[String]) -> Option<Vec<String>> {
        let (first, rest) = path.split_first()?;
        let mut base: Vec<String> = match first.as_str() {
            "crate" => vec![],
            "self" => module.to_vec(),
            "super" => module[..module.len().checked_sub(1)?].to_vec(),
            name if self.info(file).children.contains(name) => {
                [module, std::slice::from_ref(first)].concat()
            }
            name => {
                let import = self.info(file).imports.iter().find(|u| u.name == name).cloned()?;
                if import.path.first().map(String::as_str) == Some(name) {
                    return None; // `use candle_core;` and the like
                }
                let abs = self.absolute(file, module, &import.path)?;
                return Some([abs, rest.to_vec()].concat());
            }
        };
        let mut rest = rest;
        while rest.first().map(String::as_str) == Some("super") {
            base.pop();
            rest = &rest[1..];
        }
        Some([base, rest.to_vec()].concat())
    }

    /// Reach the definition of the item (or module) at absolute path `path`.
    fn item(&mut self, path: Vec<String>) {
        // The longest prefix that is a module with a file; the rest names an item in it.
        let Some((n, file)) =
            (1..=path.len()).rev().find_map(|n| Some((n, self.module_file(&path[..n])?)))
        else {
            return;
        };
        let Some(name) = path.get(n) else {
            // The module itself (`use crate::nn::{self}`: its items are named later), unless the
            // parent re-exports an item of that name (`nn::device`, the function `device` of
            // module `nn/device.rs`, through `pub use device::device`).
            if let Some(parent) = self.module_file(&path[..n - 1]) {
                let last = &path[n - 1];
                let module = module_of(&parent);
                let export = self.info(&parent).imports.iter().find(|u| &u.name == last).cloned();
                if let Some(abs) = export.and_then(|e| self.absolute(&parent, &module, &e.path)) {
                    if abs != path {
                        self.item(abs);
                    }
                }
            }
            return;
        };
        let module = module_of(&file);
        let export = self.info(&file).imports.iter().find(|u| &u.name == name).cloned();
        if let Some(export) = export {
            if let Some(abs) = self.absolute(&file, &module, &export.path) {
                let target = [abs, path[n + 1..].to_vec()].concat();
                if target != path {
                    self.item(target);
                    return;
                }
            }
        }
        if self.info(&file).children.contains(name) {
            return; // a child module named without an item
        }
        self.reach(file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn set(files: &[&str]) -> BTreeSet<String> {
        files.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn follows_uses_code_paths_reexports_and_includes_and_skips_tests() {
        let dir = tree(&[
            ("lib.rs", "pub mod stage; pub mod nn; pub mod data; mod unused;"),
            (
                "stage.rs",
                "use crate::nn::{self, Sgd};\n\
                 // crate::unused::f() in a comment\n\
                 const S: &str = \"crate::unused::g()\";\n\
                 fn run() { nn::lr_at(1); let _ = crate::data::load(); Sgd::new(); nn::device(); }\n\
                 #[cfg(test)]\nmod tests { use crate::unused::*; }",
            ),
            ("nn/mod.rs", "pub mod sgd; pub mod schedule; pub mod pgd; pub mod device;\npub use sgd::Sgd;\npub use schedule::lr_at;\npub use pgd::Pgd;\npub use device::device;"),
            ("nn/device.rs", "pub fn device() {}"),
            ("nn/sgd.rs", "pub struct Sgd; use super::schedule::lr_at;"),
            ("nn/schedule.rs", "pub fn lr_at(_: u32) {}"),
            ("nn/pgd.rs", "pub struct Pgd;"),
            ("data.rs", "pub fn load() { let _ = include_str!(\"../paper/t.csv\"); }"),
            ("unused.rs", "pub fn f() {} pub fn g() {}"),
        ]);
        assert_eq!(
            closure(dir.path(), &["stage.rs"]).unwrap(),
            set(&[
                "stage.rs",
                "nn/sgd.rs",
                "nn/schedule.rs",
                "nn/device.rs",
                "data.rs",
                "../paper/t.csv"
            ])
        );
    }

    #[test]
    fn a_module_reached_through_an_unlisted_path_is_found() {
        // The closure finds what a hand-kept list would miss: `helper.rs`, reached only through
        // a path in code two files away.
        let dir = tree(&[
            ("lib.rs", "pub mod a; pub mod b; pub mod helper;"),
            ("a.rs", "use crate::b::B;\npub fn a() -> B { B::make() }"),
            ("b.rs", "pub struct B;\nimpl B { pub fn make() -> B { crate::helper::h(); B } }"),
            ("helper.rs", "pub fn h() {}"),
        ]);
        assert_eq!(closure(dir.path(), &["a.rs"]).unwrap(), set(&["a.rs", "b.rs", "helper.rs"]));
    }

    #[test]
    fn constructs_the_reader_does_not_follow_are_refused_with_their_line() {
        let dir = tree(&[
            ("lib.rs", "pub mod a; pub mod b; pub mod c;"),
            (
                "a.rs",
                "use crate::b::*;\nuse polars::prelude::*;\n#[path = \"x.rs\"]\nmod x;\n\
                 fn f() { include!(\"gen.rs\"); let _ = include_str!(concat!(\"t\", \".csv\")); }\n\
                 fn g() { crate::c::h() }",
            ),
            ("b.rs", "pub fn b() {}"),
            ("c.rs", "pub fn h() {}\n#[cfg(test)]\nmod tests { use crate::b::*; }"),
        ]);
        let refused = closure(dir.path(), &["a.rs"]).unwrap_err();
        assert_eq!(
            refused,
            vec![
                "a.rs:3: a #[path] module (its file is not found)",
                "a.rs:5: include! (the included code is not read)",
                "a.rs:5: include_str of something but a plain string literal",
                "a.rs:1: a glob import of this crate's `crate::b::*` (import the names)",
            ]
        );
        // Glob imports of other crates, and anything under #[cfg(test)], are fine.
        let dir = tree(&[
            ("lib.rs", "pub mod a; pub mod c;"),
            ("a.rs", "use polars::prelude::*;\nfn g() { crate::c::h() }"),
            ("c.rs", "pub fn h() {}\n#[cfg(test)]\nmod tests { use super::*; }"),
        ]);
        assert_eq!(closure(dir.path(), &["a.rs"]).unwrap(), set(&["a.rs", "c.rs"]));
    }
}
