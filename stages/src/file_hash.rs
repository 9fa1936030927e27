//! blake3 of a file's bytes, streamed: how fetched and local data files are checked.

use anyhow::{Context, Result};
use std::path::Path;

/// blake3 of a file's bytes, read in a stream.
pub fn blake3_of_file(path: &Path) -> Result<blake3::Hash> {
    let mut h = blake3::Hasher::new();
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    h.update_reader(f).with_context(|| format!("reading {}", path.display()))?;
    Ok(h.finalize())
}
