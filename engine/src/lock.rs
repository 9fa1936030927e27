//! Per-node advisory locks: `artifacts/locks/<key>.lock`, held while a node is built so that two
//! processes (or two threads with their own handles) never compute the same node at once. Locks
//! are released by the operating system when their holder dies, so a killed run leaves none.
//! Lock files are never deleted (deleting a lock file races with a process about to lock it).

use anyhow::{Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

/// An exclusive lock on one node key; released on drop.
pub struct NodeLock {
    _file: File,
}

impl NodeLock {
    /// Take the lock if nobody holds it; `None` when another holder has it.
    pub fn try_acquire(path: &Path) -> Result<Option<NodeLock>> {
        let file = open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(NodeLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }

    /// Wait until the lock is free, then take it.
    pub fn acquire(path: &Path) -> Result<NodeLock> {
        let file = open(path)?;
        file.lock().with_context(|| format!("locking {}", path.display()))?;
        Ok(NodeLock { _file: file })
    }
}

/// Whether someone holds the lock at `path` right now (a missing lock file means nobody does).
pub fn is_held(path: &Path) -> Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    Ok(NodeLock::try_acquire(path)?.is_none())
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening lock file {}", path.display()))
}
