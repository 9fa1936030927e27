//! One artifact each way between the local store and the remote.
//!
//! A pull holds the node's lock, as a build does: the record is checked, the pack streams into
//! a temporary directory with every file's size and blake3 checked on the way, and only then is
//! the directory renamed into the store. A push uploads the pack (unless the remote has it) and
//! then the record, so a push cut anywhere leaves at most an unreferenced pack.

use super::client::{Remote, Written};
use super::pack::{check_record, pack_size, PackReader, Unpacker};
use crate::key::{ContentHash, Key};
use crate::lock::NodeLock;
use crate::record::BuildRecord;
use crate::store::{read_meta, Check, Depth, Meta, Store};
use anyhow::{bail, Context, Result};
use futures::StreamExt;

/// How pulling one artifact went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullOutcome {
    /// Downloaded and stored: this many bytes of pack.
    Pulled(u64),
    /// The store had it already (another process may have built or pulled it meanwhile).
    AlreadyHere,
    /// Another process holds the node's lock: it is building the node now.
    Busy,
}

/// Pull the artifact of `key` with `content` into `store`, recording `record` (what this
/// study builds the node from) as the node's last build, as a local build would.
pub async fn pull(
    remote: &Remote,
    store: &Store,
    key: &Key,
    content: &ContentHash,
    record: &BuildRecord,
) -> Result<PullOutcome> {
    let Some(_lock) = NodeLock::try_acquire(&store.lock_path(key))? else {
        return Ok(PullOutcome::Busy);
    };
    if let Check::Valid(_) = store.check(key, Depth::Sizes) {
        return Ok(PullOutcome::AlreadyHere);
    }
    store.remove_stale_tmp(key)?;
    let bytes = remote.get_record(key, content).await?;
    let meta: Meta = serde_json::from_slice(&bytes).context("the record is not valid")?;
    check_record(&meta, key, content)?;
    let tmp = store.new_tmp(key)?;
    let result = async {
        let expected = pack_size(&meta.files).context("the record's sizes overflow")?;
        let (size, mut stream) = remote.get_pack(content).await?;
        if size != expected {
            bail!("the pack is {size} bytes, its record says {expected}");
        }
        let mut unpacker = Unpacker::new(&tmp, &meta)?;
        while let Some(chunk) = stream.next().await {
            unpacker.feed(&chunk?)?;
        }
        let dirs = unpacker.dirs.clone();
        unpacker.finish()?;
        store.install(&tmp, &meta, &dirs)?;
        store.write_record(record)?;
        Ok(expected)
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result.map(PullOutcome::Pulled)
}

/// How pushing one artifact went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Uploaded: this many bytes of pack (0: the remote had the pack, only the record was new).
    Pushed(u64),
    /// The remote had this record already.
    AlreadyThere,
    /// The remote holds other content (`theirs`) for this key than the local artifact's
    /// (`ours`): nothing was replaced.
    Conflict { ours: ContentHash, theirs: Vec<ContentHash> },
}

/// Push the artifact of `key` from `store`. `known`: the contents the remote's index lists for
/// the key. `repair`: upload the pack even if the remote has one of the right size (a pull
/// found that one damaged).
pub async fn push(
    remote: &Remote,
    store: &Store,
    key: &Key,
    known: &[ContentHash],
    repair: bool,
) -> Result<PushOutcome> {
    let dir = store.object_dir(key);
    let meta = read_meta(&dir)?;
    let content = meta.content_hash;
    let others = |contents: &[ContentHash]| -> Vec<ContentHash> {
        contents.iter().filter(|&&c| c != content).copied().collect()
    };
    if !others(known).is_empty() {
        return Ok(PushOutcome::Conflict { ours: content, theirs: others(known) });
    }
    if known.contains(&content) && !repair {
        return Ok(PushOutcome::AlreadyThere);
    }
    let size = pack_size(&meta.files).context("the artifact's sizes overflow")?;
    let mut moved = 0;
    if repair || remote.pack_size(&content).await? != Some(size) {
        let mut reader = PackReader::new(&dir, &meta);
        remote.put_pack(&content, size, |max| reader.chunk(max)).await?;
        moved = size;
    }
    let record = serde_json::to_vec_pretty(&meta)?;
    let written = remote.put_record(key, &content, record).await?;
    // Another machine may have pushed other content for the key meanwhile: say so now. And a
    // server that answered "already there" to a write that raced another must show it.
    let now = remote.records_of(key).await?;
    if !now.contains(&content) {
        bail!("the record written for {key} is not listed on the remote");
    }
    if !others(&now).is_empty() {
        return Ok(PushOutcome::Conflict { ours: content, theirs: others(&now) });
    }
    Ok(match written {
        Written::AlreadyThere if moved == 0 => PushOutcome::AlreadyThere,
        _ => PushOutcome::Pushed(moved),
    })
}
