//! The artifact store on disk (`artifacts/`):
//!
//! ```text
//! objects/<key>/          complete artifacts: the stage's files plus .meta.json; appear only by rename
//! tmp/<key>.<pid>.<n>     outputs being written; removed when their node's lock is next taken
//! locks/<key>.lock        per-node advisory locks (see lock.rs)
//! nodes/<ns>/<id>.json    last successful build record of each node id (for status reasons)
//! failures/<key>.json     why the node with that key failed; its log is in logs/
//! logs/<ns>/<id>.log      the last log of each node that ran
//! slurm/<ns>/<array>/     a submitted Slurm array: jobs, script, task logs and results
//! ```
//!
//! `<ns>` is the store's namespace (the CLI uses the profile name), so studies that share a store
//! and a node id keep their own records and logs; artifacts are shared by key. Node ids become
//! file names through [`sanitise_id`].

use crate::error::{Fault, FaultContext};
use crate::fsutil::{hash_file, sync_dir, unique_suffix, write_atomic};
use crate::key::{content_hash, ContentHash, Key};
use crate::lock::NodeLock;
use crate::record::BuildRecord;
use anyhow::{anyhow, bail, Context, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Name of the metadata file inside each artifact directory.
pub const META_FILE: &str = ".meta.json";

/// `.meta.json`: the build record plus what the artifact holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(flatten)]
    pub build: BuildRecord,
    pub content_hash: ContentHash,
    pub files: Vec<FileRecord>,
    /// Wall-clock seconds the stage ran.
    pub seconds: f64,
    /// What the stage measured while it ran (timings, throughput): kept here, outside the
    /// hashed files, so that they never change a content hash or a downstream key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub measurements: Measurements,
    pub tool_version: String,
}

/// Named numbers a stage measured while it ran ([`crate::StageContext::measure`]).
pub type Measurements = BTreeMap<String, f64>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Relative path with `/` separators.
    pub path: String,
    pub size: u64,
    pub blake3: String,
}

/// Why a node failed, kept until the node with that key succeeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    pub node: String,
    pub key: Key,
    /// The error and its causes, outermost first.
    pub error: Vec<String>,
    pub log: PathBuf,
    pub seconds: f64,
    /// How the executor saw the attempt end when the stage itself did not report (a Slurm task
    /// that ran out of time or memory, or was cancelled), e.g. `TIMEOUT (slurm job 81_3)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_state: Option<String>,
}

/// How thoroughly [`Store::check`] verifies an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Every file exists with its recorded size (cheap; used by `status`).
    Sizes,
    /// Every file's blake3 matches (used before an artifact is reused or read).
    Hashes,
}

/// The state of the artifact for one key.
#[derive(Debug)]
pub enum Check {
    Absent,
    Valid(Box<Meta>),
    /// The artifact exists but does not match its metadata; the string says how.
    Corrupt(String),
}

pub struct Store {
    root: PathBuf,
    /// Sub-directory of `nodes/` and `logs/` (empty: none).
    namespace: String,
}

const DIRS: [&str; 6] = ["objects", "tmp", "locks", "nodes", "failures", "logs"];

impl Store {
    /// The store rooted at `root`, usually `<project>/artifacts`. Nothing is created until a
    /// run needs it, so `status` and `--dry-run` leave the disk untouched.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        if root.exists() && !root.is_dir() {
            return Err(anyhow!("artifact store {} exists but is not a directory", root.display()))
                .fault(Fault::Io);
        }
        Ok(Store { root, namespace: String::new() })
    }

    /// The same store, keeping build records and logs under `nodes/<namespace>/` and
    /// `logs/<namespace>/` (artifacts, locks and failure records are shared by key).
    pub fn namespaced(self, namespace: &str) -> Store {
        Store { namespace: sanitise_id(namespace), ..self }
    }

    /// Create the store's directories (done by `run`).
    pub fn create_dirs(&self) -> Result<()> {
        for dir in DIRS {
            let path = self.root.join(dir);
            fs::create_dir_all(&path)
                .with_context(|| format!("creating artifact store directory {}", path.display()))?;
        }
        let logs = self.root.join("logs").join(&self.namespace);
        fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn object_dir(&self, key: &Key) -> PathBuf {
        self.root.join("objects").join(key.to_string())
    }
    pub fn lock_path(&self, key: &Key) -> PathBuf {
        self.root.join("locks").join(format!("{key}.lock"))
    }
    /// `<root>/<executor>/<namespace>/`: where an executor keeps its own files (Slurm: one
    /// directory per submitted array, with the tasks' logs).
    pub fn executor_dir(&self, executor: &str) -> PathBuf {
        self.root.join(executor).join(&self.namespace)
    }
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.root.join("logs").join(&self.namespace).join(format!("{}.log", sanitise_id(id)))
    }
    fn record_path(&self, id: &str) -> PathBuf {
        self.root.join("nodes").join(&self.namespace).join(format!("{}.json", sanitise_id(id)))
    }
    fn failure_path(&self, key: &Key) -> PathBuf {
        self.root.join("failures").join(format!("{key}.json"))
    }
    fn tmp_root(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Whether the artifact for `key` exists and matches its metadata, to `depth`.
    pub fn check(&self, key: &Key, depth: Depth) -> Check {
        let dir = self.object_dir(key);
        let meta: Meta = match read_json(&dir.join(META_FILE)) {
            Ok(Some(meta)) => meta,
            Ok(None) if !dir.exists() => return Check::Absent,
            Ok(None) => return Check::Corrupt(format!("{META_FILE} is missing")),
            Err(e) => return Check::Corrupt(format!("{e:#}")),
        };
        if meta.build.key != *key {
            return Check::Corrupt(format!("{META_FILE} names key {}", meta.build.key));
        }
        for file in &meta.files {
            let path = dir.join(&file.path);
            let problem = match depth {
                Depth::Sizes => match fs::metadata(&path) {
                    Ok(m) if m.len() == file.size => None,
                    Ok(m) => Some(format!("is {} bytes, expected {}", m.len(), file.size)),
                    Err(e) => Some(e.to_string()),
                },
                Depth::Hashes => match hash_file(&path) {
                    Ok((hash, _)) if hash.to_hex().as_str() == file.blake3 => None,
                    Ok(_) => Some("content does not match its recorded blake3".to_string()),
                    Err(e) => Some(format!("{e:#}")),
                },
            };
            if let Some(problem) = problem {
                return Check::Corrupt(format!("file {}: {problem}", file.path));
            }
        }
        Check::Valid(Box::new(meta))
    }

    /// A fresh, empty directory for building the artifact of `key`.
    pub fn new_tmp(&self, key: &Key) -> Result<PathBuf> {
        let dir = self.tmp_root().join(format!("{key}.{}", unique_suffix()));
        fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// Remove leftovers of earlier attempts at `key`. Call only while holding its node lock.
    pub fn remove_stale_tmp(&self, key: &Key) -> Result<()> {
        let prefix = format!("{key}.");
        for entry in read_dir_names(&self.tmp_root())? {
            if entry.starts_with(&prefix) {
                remove_any(&self.tmp_root().join(entry))?;
            }
        }
        Ok(())
    }

    /// Remove the leftovers of interrupted runs whose node nobody is building now.
    pub fn sweep_tmp(&self) -> Result<()> {
        let keys: BTreeSet<Key> = read_dir_names(&self.tmp_root())?
            .iter()
            .filter_map(|name| name.split('.').next()?.parse().ok())
            .collect();
        for key in keys {
            if let Some(_lock) = NodeLock::try_acquire(&self.lock_path(&key))? {
                self.remove_stale_tmp(&key)?;
            }
        }
        Ok(())
    }

    /// Turn the finished output in `tmp` into the artifact of `build.key`: hash and fsync every
    /// file, write `.meta.json`, fsync, then rename into `objects/` (replacing a corrupt or forced
    /// older artifact). Call only while holding the node lock.
    pub fn commit(
        &self,
        tmp: &Path,
        build: BuildRecord,
        seconds: f64,
        measurements: Measurements,
    ) -> Result<Meta> {
        let mut files = Vec::new();
        let mut dirs = vec![tmp.to_path_buf()];
        collect_files(tmp, "", &mut files, &mut dirs)?;
        if files.iter().any(|(rel, _)| rel == META_FILE) {
            bail!("the stage wrote a file named {META_FILE}, which the engine reserves");
        }
        let mut records = Vec::with_capacity(files.len());
        let mut hashes = Vec::with_capacity(files.len());
        for (rel, abs) in &files {
            let (hash, size) = hash_file(abs)?;
            File::open(abs)?.sync_all().with_context(|| format!("fsync {}", abs.display()))?;
            records.push(FileRecord { path: rel.clone(), size, blake3: hash.to_hex().to_string() });
            hashes.push((rel.as_str(), hash));
        }
        let meta = Meta {
            content_hash: content_hash(hashes.iter().map(|(p, h)| (*p, h))),
            build,
            files: records,
            seconds,
            measurements,
            tool_version: concat!("pipeline-engine ", env!("CARGO_PKG_VERSION")).to_string(),
        };
        self.install(tmp, &meta, &dirs)?;
        Ok(meta)
    }

    /// Make the complete files in `tmp` (with `dirs`, every directory in it, `tmp` first) the
    /// artifact that `meta` describes: write `.meta.json`, fsync, then rename into `objects/`,
    /// replacing a corrupt or forced older artifact. Call only while holding the node lock.
    pub fn install(&self, tmp: &Path, meta: &Meta, dirs: &[PathBuf]) -> Result<()> {
        let meta_path = tmp.join(META_FILE);
        fs::write(&meta_path, serde_json::to_vec_pretty(meta)?)
            .with_context(|| format!("writing {}", meta_path.display()))?;
        File::open(&meta_path)?.sync_all()?;
        for dir in dirs.iter().rev() {
            sync_dir(dir).with_context(|| format!("fsync {}", dir.display()))?;
        }
        let dest = self.object_dir(&meta.build.key);
        let old = dest
            .exists()
            .then(|| self.tmp_root().join(format!("{}.{}.old", meta.build.key, unique_suffix())));
        if let Some(old) = &old {
            fs::rename(&dest, old).with_context(|| format!("moving aside {}", dest.display()))?;
        }
        fs::rename(tmp, &dest)
            .with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))?;
        sync_dir(&self.root.join("objects"))?;
        if let Some(old) = &old {
            remove_any(old)?;
        }
        Ok(())
    }

    /// The node ids that have a build record, as file names ([`sanitise_id`]): one directory
    /// listing, so that `status` opens only the records that exist.
    pub fn recorded(&self) -> Result<HashSet<String>> {
        let dir = self.root.join("nodes").join(&self.namespace);
        match fs::read_dir(&dir) {
            Ok(entries) => Ok(entries
                .filter_map(|e| {
                    e.ok()?.file_name().to_str()?.strip_suffix(".json").map(String::from)
                })
                .collect()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(HashSet::new()),
            Err(e) => Err(e).with_context(|| format!("listing {}", dir.display())),
        }
    }

    pub fn read_record(&self, id: &str) -> Result<Option<BuildRecord>> {
        read_json(&self.record_path(id))
    }
    pub fn write_record(&self, record: &BuildRecord) -> Result<()> {
        write_atomic(&self.record_path(&record.node), &serde_json::to_vec_pretty(record)?)
    }

    pub fn read_failure(&self, key: &Key) -> Result<Option<FailureRecord>> {
        read_json(&self.failure_path(key))
    }
    pub fn write_failure(&self, failure: &FailureRecord) -> Result<()> {
        write_atomic(&self.failure_path(&failure.key), &serde_json::to_vec_pretty(failure)?)
    }
    pub fn remove_failure(&self, key: &Key) -> Result<()> {
        match fs::remove_file(self.failure_path(key)) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e).context("removing failure record"),
            _ => Ok(()),
        }
    }
}

/// A file name for a node id: `[A-Za-z0-9._-]` kept, `/` becomes `+`, anything else `%XX`.
/// Distinct ids give distinct names.
pub fn sanitise_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'_' | b'-' => out.push(b as char),
            b'/' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The metadata of the artifact in directory `dir` (an input a stage reads), unchecked.
pub fn read_meta(dir: &Path) -> Result<Meta> {
    read_json(&dir.join(META_FILE))?
        .with_context(|| format!("{} has no {META_FILE}", dir.display()))
}

/// Read and parse a JSON file; `None` when it does not exist.
fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("{} is not valid", path.display())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn read_dir_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        if let Some(name) = entry?.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

fn remove_any(path: &Path) -> Result<()> {
    let result = if path.is_dir() { fs::remove_dir_all(path) } else { fs::remove_file(path) };
    match result {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Every regular file under `dir` as (relative `/` path, absolute path), and every directory.
fn collect_files(
    dir: &Path,
    prefix: &str,
    files: &mut Vec<(String, PathBuf)>,
    dirs: &mut Vec<PathBuf>,
) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            bail!("output file name {:?} in {} is not UTF-8", entry.file_name(), dir.display())
        };
        let rel = if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            dirs.push(entry.path());
            collect_files(&entry.path(), &rel, files, dirs)?;
        } else if kind.is_file() {
            files.push((rel, entry.path()));
        } else {
            bail!("output {rel} is neither a file nor a directory (symlinks are not allowed)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::sanitise_id;

    #[test]
    fn sanitised_ids_are_file_names_and_distinct() {
        assert_eq!(sanitise_id("finetune/l2_eps3/cifar10/n1600"), "finetune+l2_eps3+cifar10+n1600");
        assert_eq!(sanitise_id("a+b c"), "a%2Bb%20c");
        assert_ne!(sanitise_id("a/b"), sanitise_id("a+b"));
    }
}
