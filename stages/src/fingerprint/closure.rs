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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Punct(char),
    /// `::`
    Path,
}

/// Tokens of Rust source without comments; string literals keep their text, char literals and
/// lifetimes are dropped.
fn tokens(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied().unwrap_or('\0');
        if ch == '/' && next == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' || (ch == 'b' && next == '"') {
            i += if ch == 'b' { 2 } else { 1 };
            let mut text = String::new();
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                text.extend(c.get(i));
                i += 1;
            }
            out.push(Tok::Str(text));
            i += 1;
        } else if (ch == 'r' || ch == 'b') && (next == '#' || (next == '"' && ch == 'r'))
            || (ch == 'b' && next == 'r')
        {
            // Raw strings: r"…", r#"…"#, br"…".
            let mut j = i + 1 + usize::from(ch == 'b' && next == 'r');
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(Tok::Ident(ch.to_string()));
                i += 1;
                continue;
            }
            j += 1;
            let start = j;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
                    break;
                }
                j += 1;
            }
            out.push(Tok::Str(c[start..j.min(c.len())].iter().collect()));
            i = j + 1 + hashes;
        } else if ch == '\'' {
            if next == '\\' {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1; // a lifetime's quote; its name follows as an identifier
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else if ch == ':' && next == ':' {
            out.push(Tok::Path);
            i += 2;
        } else {
            if !ch.is_whitespace() {
                out.push(Tok::Punct(ch));
            }
            i += 1;
        }
    }
    out
}

/// Tokens with every `#[cfg(test)]` item removed.
fn without_test_items(toks: Vec<Tok>) -> Vec<Tok> {
    let cfg_test: Vec<Tok> = tokens("#[cfg(test)]");
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if toks[i..].starts_with(&cfg_test) {
            i += cfg_test.len();
            // Skip the item: to a `;` at depth 0, or to the end of its first `{ … }` block.
            let mut depth = 0;
            while i < toks.len() {
                match toks[i] {
                    Tok::Punct('{') => depth += 1,
                    Tok::Punct('}') => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    Tok::Punct(';') if depth == 0 => {
                        i += 1;
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
        } else {
            out.push(toks[i].clone());
            i += 1;
        }
    }
    out
}

/// One name a `use` brings into scope: its binding, the path it names, and whether it is a
/// re-export (`pub use`).
#[derive(Debug, Clone)]
struct Import {
    name: String,
    path: Vec<String>,
    public: bool,
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
}

fn ident(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

/// Expand a use-tree starting at `toks[*i]` under `prefix` into imports; stops after the tree.
fn use_tree(toks: &[Tok], i: &mut usize, prefix: Vec<String>, public: bool, out: &mut Vec<Import>) {
    let mut path = prefix;
    loop {
        match toks.get(*i) {
            Some(Tok::Ident(s)) if s == "self" && !path.is_empty() => {
                *i += 1;
                let name = path.last().cloned().unwrap_or_default();
                out.push(Import { name, path: path.clone(), public });
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
                out.push(Import { name, path, public });
                return;
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                out.push(Import { name: "*".into(), path, public });
                return;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                while !matches!(toks.get(*i), Some(Tok::Punct('}')) | None) {
                    use_tree(toks, i, path.clone(), public, out);
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
    let toks = without_test_items(tokens(src));
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
            use_tree(&toks, &mut i, Vec::new(), public, &mut info.imports);
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
            if let Some(Tok::Str(path)) = toks.get(i + 3) {
                info.includes.push(path.clone());
            }
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

/// The source files (relative to `src`) that the code of `roots` reaches, roots included.
pub fn closure(src: &Path, roots: &[&str]) -> BTreeSet<String> {
    let mut walk =
        Walk { src: src.to_path_buf(), files: BTreeMap::new(), reached: BTreeSet::new() };
    for root in roots {
        walk.reach(root.to_string());
    }
    walk.reached
}

struct Walk {
    src: PathBuf,
    files: BTreeMap<String, FileInfo>,
    reached: BTreeSet<String>,
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
        if !self.reached.insert(file.clone()) || !file.ends_with(".rs") {
            return;
        }
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
        for include in includes {
            let path = match dir.as_deref() {
                Some(d) if !d.is_empty() => format!("{d}/{include}"),
                _ => include,
            };
            self.reached.insert(normalise(&path));
        }
        for import in imports {
            if let Some(abs) = self.absolute(&file, &module, &import.path) {
                self.item(abs);
            }
        }
        for path in code_paths {
            if let Some(abs) = self.absolute(&file, &module, &path) {
                self.item(abs);
            }
        }
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
            closure(dir.path(), &["stage.rs"]),
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
        assert_eq!(closure(dir.path(), &["a.rs"]), set(&["a.rs", "b.rs", "helper.rs"]));
    }
}
