//! A source checkpoint from a local file (`origin: local`). As for a local dataset, the file's
//! content must be part of the key: [`resolve`] runs when the study is loaded and hashes the
//! file into the node's parameters, and [`copy_into`] hashes it again while copying it into the
//! artifact, refusing a file that changed in between. The artifact holds a copy, never a link:
//! the user's file may be edited in place later, the store's must not change.

use super::params::LocalFile;
use crate::fetch::params::LocalCheckpoint;
use crate::file_hash::blake3_of_file;
use anyhow::{ensure, Context, Result};
use std::io::{Read, Write};
use std::path::Path;

/// The `fetch` parameters of a local checkpoint, its path relative to `root` (the folder of
/// `pipeline.yaml`), with its content hashed.
pub fn resolve(root: &Path, c: &LocalCheckpoint) -> Result<LocalFile> {
    let path = root.join(&c.path);
    ensure!(path.is_file(), "{} is not a file that can be read", path.display());
    let blake3 = blake3_of_file(&path)?.to_hex().to_string();
    Ok(LocalFile { path, blake3 })
}

/// Copies the file into `dir` as `checkpoint` with the file's extension, hashing what is copied;
/// returns the copy. Not under its own name: one such as `pin.json` or `.model.pt` would be
/// taken for the artifact's own files.
pub fn copy_into(f: &LocalFile, dir: &Path) -> Result<std::path::PathBuf> {
    let dest =
        dir.join(Path::new("checkpoint").with_extension(f.path.extension().unwrap_or_default()));
    let mut from = std::fs::File::open(&f.path)
        .with_context(|| format!("opening the local checkpoint {}", f.path.display()))?;
    let mut to = std::fs::File::create(&dest)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = from.read(&mut buf).with_context(|| format!("reading {}", f.path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
    }
    let now = hasher.finalize().to_hex().to_string();
    ensure!(
        now == f.blake3,
        "{} changed since the study was loaded (blake3 {now}, expected {}); run again",
        f.path.display(),
        f.blake3
    );
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::format::CheckpointFormat;

    #[test]
    fn the_content_enters_the_parameters_and_a_file_changed_after_loading_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.pt"), b"weights, version 1").unwrap();
        let c = LocalCheckpoint { path: "model.pt".into(), format: CheckpointFormat::Madrylab };
        let before = resolve(dir.path(), &c).unwrap();
        assert_eq!(before.path, dir.path().join("model.pt"));
        assert_eq!(before.blake3, blake3::hash(b"weights, version 1").to_hex().to_string());

        let out = tempfile::tempdir().unwrap();
        let copy = copy_into(&before, out.path()).unwrap();
        assert_eq!(copy, out.path().join("checkpoint.pt"));
        assert_eq!(std::fs::read(copy).unwrap(), b"weights, version 1");

        std::fs::write(dir.path().join("model.pt"), b"weights, version 2").unwrap();
        assert_ne!(resolve(dir.path(), &c).unwrap(), before, "an edit changes the key");
        let err =
            format!("{:#}", copy_into(&before, tempfile::tempdir().unwrap().path()).unwrap_err());
        assert!(err.contains("changed since the study was loaded"), "{err}");

        // A name the artifact's readers would skip is stored as the one fetched file.
        std::fs::write(dir.path().join("pin.json"), b"weights").unwrap();
        let c = LocalCheckpoint { path: "pin.json".into(), format: CheckpointFormat::Madrylab };
        let out = tempfile::tempdir().unwrap();
        copy_into(&resolve(dir.path(), &c).unwrap(), out.path()).unwrap();
        assert_eq!(
            crate::fetch::fetched_file(out.path()).unwrap(),
            out.path().join("checkpoint.json")
        );

        let missing =
            LocalCheckpoint { path: "nope.pt".into(), format: CheckpointFormat::Madrylab };
        let err = format!("{:#}", resolve(dir.path(), &missing).unwrap_err());
        assert!(err.contains("nope.pt is not a file"), "{err}");
    }
}
