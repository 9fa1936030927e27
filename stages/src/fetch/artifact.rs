//! What a `fetch` artifact holds, for the stages that read it: the fetched file (under its own
//! name) and, for a file fetched `unpinned`, [`PIN_FILE`] with what it resolved to.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The record an unpinned fetch leaves in its artifact.
pub const PIN_FILE: &str = "pin.json";

/// `pin.json`: what an unpinned file resolved to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinRecord {
    pub repo: String,
    pub file: String,
    /// The commit `main` pointed at.
    pub revision: String,
    /// blake3 of the fetched bytes.
    pub blake3: String,
}

impl PinRecord {
    /// Reads the record of a fetched artifact, if it has one.
    pub fn read(artifact: &Path) -> Option<PinRecord> {
        serde_json::from_slice(&std::fs::read(artifact.join(PIN_FILE)).ok()?).ok()
    }
}

/// The fetched file in a `fetch` artifact (the one file besides [`PIN_FILE`] and metadata).
pub fn fetched_file(artifact: &Path) -> Result<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(artifact)
        .with_context(|| format!("listing {}", artifact.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && name != PIN_FILE
        })
        .map(|e| e.path())
        .collect();
    match files.len() {
        1 => Ok(files.remove(0)),
        n => bail!("{} should hold one fetched file, but holds {n}", artifact.display()),
    }
}

/// The name a fetched file has inside its artifact: its last path component.
pub fn file_name(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file)
}
