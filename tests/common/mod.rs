//! Helpers shared by the end-to-end tests of the `pipeline` binary: temporary projects holding
//! the repository's `pipeline.yaml`, running the binary, and reading what it printed and wrote.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// A fresh project holding the repository's `pipeline.yaml`.
pub fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo_file("pipeline.yaml"), dir.path().join("pipeline.yaml")).unwrap();
    dir
}

/// The binary in `dir`, on the smoke profile unless `args` name a profile.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pipeline"));
    c.current_dir(dir);
    if !args.contains(&"--profile") {
        c.args(["--profile", "smoke"]);
    }
    c.args(args);
    c
}

pub fn pipeline(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().unwrap()
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `pipeline run --json` with `args` (targets and flags) in `dir`, on the smoke profile.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    pipeline(dir, &[&["run", "--json"], args].concat())
}

/// Node ids by outcome (`ran`, `cached`, `failed`, `blocked`, `not_started`) from the summary
/// that `run --json` prints.
pub fn outcomes(out: &Output) -> BTreeMap<String, Vec<String>> {
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("run --json printed no JSON ({e}): {}", text(out)));
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for node in json["run"]["nodes"].as_array().expect("a node list") {
        let (id, outcome) = (node["id"].as_str().unwrap(), node["outcome"].as_str().unwrap());
        by.entry(outcome.to_string()).or_default().push(id.to_string());
    }
    by
}

/// The key the run summary gives for node `id`.
pub fn key_of(out: &Output, id: &str) -> String {
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nodes = json["run"]["nodes"].as_array().unwrap();
    let node = nodes.iter().find(|n| n["id"] == id).unwrap_or_else(|| panic!("no node {id}"));
    node["key"].as_str().unwrap().to_string()
}

pub fn ran(out: &Output) -> Vec<String> {
    outcomes(out).remove("ran").unwrap_or_default()
}

pub fn kinds(ids: &[String]) -> BTreeMap<String, usize> {
    let mut k = BTreeMap::new();
    for id in ids {
        *k.entry(id.split('/').next().unwrap().to_string()).or_default() += 1;
    }
    k
}

/// The smoke profile's reports folder (not the default profile's `reports/`).
pub const REPORTS: &str = "reports/smoke";

/// Every file in the smoke profile's reports folder, by name.
pub fn reports(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir.join(REPORTS))
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// How many nodes the profile has (`pipeline list --nodes`).
pub fn node_count(dir: &Path) -> usize {
    let out = pipeline(dir, &["list", "--nodes"]);
    assert!(out.status.success(), "{}", text(&out));
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    let nodes = listing.split("\nnodes:\n").nth(1).expect("a `nodes:` section");
    nodes.lines().take_while(|l| !l.trim().is_empty()).count()
}

/// A named scenario of a test binary that runs its own (`harness = false`).
pub type Scenario<W> = (&'static str, fn(&W));

/// The `main` of a test binary with `harness = false` whose scenarios share one expensive
/// `world` (a cluster, servers): lists them for `--list`, runs those whose names contain the
/// first argument, one after another, each reported like a libtest test, and exits 1 when one
/// failed. `world` is made only when a scenario is chosen, and dropped before the verdict.
pub fn run_scenarios<W: std::panic::RefUnwindSafe>(
    against: &str,
    scenarios: &[Scenario<W>],
    world: impl FnOnce() -> W,
) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in scenarios {
            println!("{name}: test");
        }
        return;
    }
    let filter = args.iter().find(|a| !a.starts_with('-'));
    let chosen: Vec<&Scenario<W>> = scenarios
        .iter()
        .filter(|(name, _)| filter.is_none_or(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} test(s) against {against}", chosen.len());
    if chosen.is_empty() {
        return;
    }
    let world = world();
    let mut failed = Vec::new();
    for (name, scenario) in chosen {
        let started = std::time::Instant::now();
        let result = std::panic::catch_unwind(|| scenario(&world));
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => println!("test {name} ... ok ({secs:.1} s)"),
            Err(_) => {
                println!("test {name} ... FAILED ({secs:.1} s)");
                failed.push(*name);
            }
        }
    }
    drop(world);
    if !failed.is_empty() {
        println!("\nfailures:\n    {}", failed.join("\n    "));
        std::process::exit(1);
    }
    println!("\ntest result: ok");
}
