//! Fake stages and a small study shape for the engine's tests. A fake stage writes `out.txt`
//! holding its `value` parameter and its inputs' `out.txt`, so other parameters (like `salt`)
//! change the key but not the bytes. It fails on `fail: true`, panics on `panic: true`, sleeps
//! `sleep_ms`, waits while the file `wait_while_exists` exists, and counts its executions per
//! node id.

#![allow(dead_code)] // each test file uses a different part of this module

use anyhow::{bail, Result};
use pipeline_engine::{
    Dag, Force, Input, LocalExecutor, LockSettings, Node, ProgressMode, Publish, Registry,
    RunOptions, RunSummary, Stage, StageContext, Store,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub type Counts = Arc<Mutex<HashMap<String, usize>>>;

pub struct FakeStage {
    pub kind: &'static str,
    pub code: String,
    pub counts: Counts,
}

impl Stage for FakeStage {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn fingerprint(&self) -> blake3::Hash {
        blake3::hash(self.code.as_bytes())
    }
    /// A code written as files, `a.rs=text;b.rs=text`, has those parts; any other has none.
    fn code_parts(&self) -> BTreeMap<String, String> {
        let files = self.code.split(';').filter_map(|file| file.split_once('='));
        files
            .map(|(path, text)| (path.to_string(), blake3::hash(text.as_bytes()).to_string()))
            .collect()
    }
    fn run(&self, ctx: &StageContext) -> Result<()> {
        *self.counts.lock().unwrap().entry(ctx.node_id().to_string()).or_default() += 1;
        let params = ctx.params();
        ctx.log(&format!("running {}", ctx.node_id()));
        if let Some(ms) = params.get("sleep_ms").and_then(Value::as_u64) {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        if let Some(path) = params.get("wait_while_exists").and_then(Value::as_str) {
            while Path::new(path).exists() {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        if params.get("fail") == Some(&json!(true)) {
            bail!("told to fail");
        }
        if params.get("panic") == Some(&json!(true)) {
            panic!("told to panic");
        }
        let mut text = format!("{}={}\n", self.kind, params.get("value").unwrap_or(&Value::Null));
        let mut inputs: Vec<(&str, &Path)> = ctx.inputs().collect();
        inputs.sort();
        for &(name, dir) in &inputs {
            text.push_str(&format!("[{name}] {}", std::fs::read_to_string(dir.join("out.txt"))?));
        }
        ctx.progress(1, 1);
        // A measurement that differs on every run, as a timing does; the outputs ignore it.
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
        ctx.measure("started_ns", started.subsec_nanos() as f64);
        if let Some((name, _)) = inputs.first() {
            let upstream = ctx.input_measurements(name)?;
            ctx.measure("first_input_started_ns", upstream["started_ns"]);
        }
        std::fs::write(ctx.out_dir().join("out.txt"), text)?;
        Ok(())
    }
}

pub const KINDS: [&str; 5] = ["fetch", "prepare", "train", "aggregate", "render"];

/// A registry of fake stages; `code` overrides a kind's fingerprint text.
pub fn registry(counts: &Counts, code: &[(&str, &str)]) -> Registry {
    let mut r = Registry::new();
    for kind in KINDS {
        let code = code.iter().find(|(k, _)| *k == kind).map_or("v1", |(_, c)| c);
        r.add(Arc::new(FakeStage { kind, code: code.to_string(), counts: counts.clone() }));
    }
    r
}

pub fn node(id: &str, kind: &str, params: Value, inputs: &[(&str, &str)]) -> Node {
    Node {
        id: id.into(),
        kind: kind.into(),
        params,
        inputs: inputs.iter().map(|(n, i)| Input::new(*n, *i)).collect(),
        publish: vec![],
    }
}

/// fetch/{a,b} → prepare/{a,b} → train/{a,b}/s{1,2} → aggregate → render/{t1,t2} (published).
pub fn study() -> Vec<Node> {
    let mut nodes = Vec::new();
    for (d, v) in [("a", 1), ("b", 2)] {
        nodes.push(node(&format!("fetch/{d}"), "fetch", json!({"value": v}), &[]));
        nodes.push(node(
            &format!("prepare/{d}"),
            "prepare",
            json!({"value": v}),
            &[("raw", &format!("fetch/{d}"))],
        ));
        for s in [1, 2] {
            nodes.push(node(
                &format!("train/{d}/s{s}"),
                "train",
                json!({"value": s, "lr": 0.1}),
                &[("data", &format!("prepare/{d}"))],
            ));
        }
    }
    let cells: Vec<(String, String)> =
        nodes.iter().filter(|n| n.kind == "train").map(|n| (n.id.clone(), n.id.clone())).collect();
    let cells: Vec<(&str, &str)> = cells.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    nodes.push(node("aggregate", "aggregate", json!({"value": 0}), &cells));
    for t in ["t1", "t2"] {
        let mut n =
            node(&format!("render/{t}"), "render", json!({"value": t}), &[("table", "aggregate")]);
        n.publish = vec![Publish::new("out.txt", format!("reports/{t}.md"))];
        nodes.push(n);
    }
    nodes
}

pub fn set_param(nodes: &mut [Node], id: &str, name: &str, value: Value) {
    let n = nodes.iter_mut().find(|n| n.id == id).expect("node exists");
    n.params[name] = value;
}

/// Make every input of node `id` optional.
pub fn make_inputs_optional(nodes: &mut [Node], id: &str) {
    let n = nodes.iter_mut().find(|n| n.id == id).expect("node exists");
    n.inputs.iter_mut().for_each(|input| input.optional = true);
}

/// A project directory with its store at `artifacts/`.
pub struct Project {
    _dir: Option<tempfile::TempDir>,
    root: PathBuf,
    pub counts: Counts,
}

impl Project {
    /// A project in a fresh temporary directory, removed on drop.
    pub fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        Project { root: dir.path().to_path_buf(), _dir: Some(dir), counts: Counts::default() }
    }
    /// A project in an existing directory, left in place on drop.
    pub fn at(root: &Path) -> Project {
        Project { _dir: None, root: root.to_path_buf(), counts: Counts::default() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn store(&self) -> Store {
        Store::open(self.root().join("artifacts")).unwrap()
    }
    pub fn registry(&self) -> Registry {
        registry(&self.counts, &[])
    }
    pub fn options(&self, dag: &Dag, targets: &[&str]) -> RunOptions {
        let targets: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
        RunOptions {
            targets: dag.resolve_targets(&targets).unwrap(),
            executor: Box::new(LocalExecutor { jobs: 2 }),
            force: Force::Nothing,
            fail_fast: false,
            progress: ProgressMode::Lines,
            project_root: self.root().to_path_buf(),
            lock: LockSettings { path: "reports/pipeline.lock".into(), profile: "test".into() },
            remote: None,
        }
    }
    /// Run `targets` of `nodes` with `registry`; returns the summary.
    pub fn run_with(&self, nodes: &[Node], registry: &Registry, targets: &[&str]) -> RunSummary {
        let dag = Dag::new(nodes.to_vec(), registry).unwrap();
        pipeline_engine::run(&dag, registry, &self.store(), &self.options(&dag, targets)).unwrap()
    }
    pub fn run(&self, nodes: &[Node], targets: &[&str]) -> RunSummary {
        self.run_with(nodes, &self.registry(), targets)
    }
    /// Executions per node id since the last call.
    pub fn take_counts(&self) -> HashMap<String, usize> {
        std::mem::take(&mut *self.counts.lock().unwrap())
    }
    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.root().join(rel)).unwrap()
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }
}

/// Sorted ids of nodes the counts say ran.
pub fn ran(counts: &HashMap<String, usize>) -> Vec<String> {
    let mut ids: Vec<String> = counts.keys().cloned().collect();
    ids.sort();
    ids
}
