//! The seam between the engine and the science: a stage is a pure function from its parameters
//! and input artifacts (directories) to the files it writes in its output directory.

use crate::store::{read_meta, Measurements};
use anyhow::{anyhow, Context, Result};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub trait Stage: Send + Sync {
    /// The stage kind nodes name, e.g. `finetune`.
    fn kind(&self) -> &'static str;
    /// blake3 over the source text of the code that makes up this stage (see ARCHITECTURE.md).
    fn fingerprint(&self) -> blake3::Hash;
    /// What the fingerprint is over, one short hash per part (a file's path, `(build)` for what
    /// the code links), so that `status` can say which part made a node stale; empty where a
    /// stage does not say.
    fn code_parts(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
    /// Compute the artifact: read `ctx.input(..)`, write files under `ctx.out_dir()`.
    fn run(&self, ctx: &StageContext) -> Result<()>;
}

/// The stages a study provides, by kind.
#[derive(Default, Clone)]
pub struct Registry {
    stages: BTreeMap<String, Arc<dyn Stage>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(&mut self, stage: Arc<dyn Stage>) -> &mut Self {
        self.stages.insert(stage.kind().to_string(), stage);
        self
    }
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn Stage>> {
        self.stages.get(kind)
    }
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.stages.keys().map(String::as_str)
    }
    /// Each stage's code fingerprint and its parts, computed once.
    pub fn fingerprints(&self) -> HashMap<String, Fingerprint> {
        let of = |stage: &Arc<dyn Stage>| Fingerprint {
            hash: stage.fingerprint(),
            parts: stage.code_parts(),
        };
        self.stages.iter().map(|(kind, stage)| (kind.clone(), of(stage))).collect()
    }
}

/// A stage's code fingerprint, and what it is over part by part ([`Stage::code_parts`]).
#[derive(Debug, Clone)]
pub struct Fingerprint {
    pub hash: blake3::Hash,
    pub parts: BTreeMap<String, String>,
}

/// Everything a running stage may see. Built by the engine for each node it runs.
pub struct StageContext {
    node_id: String,
    params: serde_json::Value,
    inputs: Vec<(String, PathBuf)>,
    out_dir: PathBuf,
    threads: usize,
    log: Box<dyn Fn(&str) + Send + Sync>,
    progress: Box<dyn Fn(u64, u64) + Send + Sync>,
    measurements: Mutex<Measurements>,
}

impl StageContext {
    pub fn new(
        node_id: String,
        params: serde_json::Value,
        inputs: Vec<(String, PathBuf)>,
        out_dir: PathBuf,
        threads: usize,
        log: Box<dyn Fn(&str) + Send + Sync>,
        progress: Box<dyn Fn(u64, u64) + Send + Sync>,
    ) -> Self {
        StageContext {
            node_id,
            params,
            inputs,
            out_dir,
            threads,
            log,
            progress,
            measurements: Mutex::default(),
        }
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }
    pub fn params(&self) -> &serde_json::Value {
        &self.params
    }
    /// The parameters as a typed struct.
    pub fn params_as<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.params.clone())
            .with_context(|| format!("parameters of node {}", self.node_id))
    }
    /// The read-only directory of the named input's artifact.
    pub fn input(&self, name: &str) -> Result<&Path> {
        self.inputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.as_path())
            .ok_or_else(|| anyhow!("node {} has no input named `{name}`", self.node_id))
    }
    pub fn inputs(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.inputs.iter().map(|(n, p)| (n.as_str(), p.as_path()))
    }
    /// An empty directory; everything written here becomes the artifact.
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }
    pub fn threads(&self) -> usize {
        self.threads
    }
    pub fn log(&self, msg: &str) {
        (self.log)(msg)
    }
    pub fn progress(&self, done: u64, total: u64) {
        (self.progress)(done, total)
    }
    /// Record a number measured while running (a timing, a throughput). It is kept in the
    /// artifact's metadata, outside its hashed files: it never changes a key, and outputs must
    /// not depend on it. Shown by `pipeline status --json`; readable downstream through
    /// [`StageContext::input_measurements`].
    pub fn measure(&self, name: &str, value: f64) {
        self.measurements.lock().expect("measurements lock poisoned").insert(name.into(), value);
    }
    /// What the stage of the named input measured when it was built.
    pub fn input_measurements(&self, name: &str) -> Result<Measurements> {
        Ok(read_meta(self.input(name)?)?.measurements)
    }
    /// Everything [`StageContext::measure`] recorded (taken by the engine after the run).
    pub(crate) fn take_measurements(&self) -> Measurements {
        std::mem::take(&mut self.measurements.lock().expect("measurements lock poisoned"))
    }
}
