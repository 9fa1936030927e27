//! Records what the stages' code fingerprints need to know about the build (`fingerprint/`):
//! every registry crate the stages can link, with its locked version and its dependencies
//! (from `Cargo.lock`); how the workspace's manifests declare each crate the stages depend on
//! directly (the declaration's text, features included); the features of this crate the build
//! enables (but `cuda`, which only adds a device); and the compiler. A stage's fingerprint takes
//! the part of this its own code names, so that a dependency bump or a changed feature
//! (serde_json's `float_roundtrip` once changed how every `metrics.json` number parses) re-keys
//! exactly the stages it can change.
//!
//! The manifests are read line by line (a dependency is one line: `name = …` or
//! `name.workspace = true`); anything else there is an error, so nothing is skipped silently.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// A `[[package]]` of `Cargo.lock`.
struct Package {
    name: String,
    version: String,
    source: String,
    /// `name` or `name version`, as the lock spells them.
    dependencies: Vec<String>,
}

fn lock_packages(text: &str) -> Vec<Package> {
    let mut out: Vec<Package> = Vec::new();
    let mut in_deps = false;
    for line in text.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            out.push(Package {
                name: String::new(),
                version: String::new(),
                source: String::new(),
                dependencies: Vec::new(),
            });
            in_deps = false;
            continue;
        }
        let Some(p) = out.last_mut() else { continue };
        let value = |l: &str| l.split_once(" = ").map(|(_, v)| v.trim_matches('"').to_string());
        if in_deps {
            if line == "]" {
                in_deps = false;
            } else {
                p.dependencies.push(line.trim_end_matches(',').trim_matches('"').to_string());
            }
        } else if line.starts_with("name = ") {
            p.name = value(line).unwrap_or_default();
        } else if line.starts_with("version = ") {
            p.version = value(line).unwrap_or_default();
        } else if line.starts_with("source = ") {
            p.source = value(line).unwrap_or_default();
        } else if line == "dependencies = [" {
            in_deps = true;
        }
    }
    out
}

/// The `[section]` of a manifest as `(dependency name, its line)`.
fn declarations(manifest: &Path, section: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(manifest).unwrap_or_else(|e| {
        panic!("reading {}: {e}", manifest.display());
    });
    let mut out = Vec::new();
    let mut inside = false;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            inside = line == format!("[{section}]");
            continue;
        }
        if !inside || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, _)) = line.split_once('=') else {
            panic!("{}:{}: not a one-line dependency: {line}", manifest.display(), n + 1);
        };
        let name = key.trim().trim_end_matches(".workspace").trim_matches('"');
        out.push((name.to_string(), line.to_string()));
    }
    out
}

/// `[features]` of this crate: each feature's `crate/feature` settings.
fn features(manifest: &Path) -> Vec<(String, Vec<String>)> {
    declarations(manifest, "features")
        .into_iter()
        .map(|(name, line)| {
            let list = line.split_once('=').map(|(_, v)| v).unwrap_or("");
            let settings = list
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split(',')
                .map(|s| s.trim().trim_matches('"').to_string())
                .filter(|s| !s.is_empty())
                .collect();
            (name, settings)
        })
        .collect()
}

fn main() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here.parent().expect("the stages crate sits in the workspace");
    let (lock, manifest, workspace) =
        (root.join("Cargo.lock"), here.join("Cargo.toml"), root.join("Cargo.toml"));
    for path in [&lock, &manifest, &workspace] {
        println!("cargo:rerun-if-changed={}", path.display());
    }

    // Every registry package reachable from this crate (path crates carry no version to pin).
    let packages = lock_packages(&std::fs::read_to_string(&lock).expect("reading Cargo.lock"));
    let find = |spec: &str| -> usize {
        // `name`, `name version` or `name version (source)`.
        let mut words = spec.split(' ');
        let (name, version) = (words.next().unwrap_or(spec), words.next());
        let matching: Vec<usize> = (0..packages.len())
            .filter(|&i| {
                packages[i].name == name && version.is_none_or(|v| packages[i].version == v)
            })
            .collect();
        assert_eq!(matching.len(), 1, "Cargo.lock: `{spec}` names {} packages", matching.len());
        matching[0]
    };
    let start = find(env!("CARGO_PKG_NAME"));
    let (mut reached, mut todo) = (BTreeSet::new(), vec![start]);
    while let Some(i) = todo.pop() {
        if reached.insert(i) {
            todo.extend(packages[i].dependencies.iter().map(|d| find(d)));
        }
    }
    let index: BTreeMap<usize, usize> = reached.iter().enumerate().map(|(n, &i)| (i, n)).collect();

    // One record per line: `locked NAME VERSION SOURCE DEPENDENCIES` (indices into the locked
    // lines, comma-separated; `-` for none), `declared NAME LINE`, `enabled CRATE/FEATURE`,
    // `compiler TEXT`.
    let mut out = String::new();
    for &i in &reached {
        let p = &packages[i];
        let deps: Vec<String> =
            p.dependencies.iter().map(|d| index[&find(d)].to_string()).collect();
        let or_dash = |s: String| if s.is_empty() { "-".to_string() } else { s };
        writeln!(
            out,
            "locked {} {} {} {}",
            p.name,
            p.version,
            or_dash(p.source.clone()),
            or_dash(deps.join(","))
        )
        .unwrap();
    }
    let shared: BTreeMap<String, String> =
        declarations(&workspace, "workspace.dependencies").into_iter().collect();
    for (name, line) in declarations(&manifest, "dependencies") {
        let text = match shared.get(&name) {
            Some(shared) if line.contains(".workspace") => format!("{line} ({shared})"),
            _ => line,
        };
        writeln!(out, "declared {name} {text}").unwrap();
    }
    for (feature, settings) in features(&manifest) {
        // `cuda` adds a device to compute on, and the device is part of no key (nn/device.rs):
        // a CUDA build computes on the CPU exactly as a CPU build does, and a node built on a
        // GPU is the same node as one built on the CPU.
        if feature == "cuda" {
            continue;
        }
        let var = format!("CARGO_FEATURE_{}", feature.to_uppercase().replace('-', "_"));
        if std::env::var_os(var).is_some() {
            for setting in settings {
                writeln!(out, "enabled {setting}").unwrap();
            }
        }
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("-vV")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    let release = version.lines().find_map(|l| l.strip_prefix("release: ")).unwrap_or("unknown");
    let target = std::env::var("TARGET").unwrap_or_default();
    writeln!(out, "compiler rustc {release} {target}").unwrap();

    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("build_record.txt");
    std::fs::write(dest, out).unwrap();
}
