//! Packs: an artifact's files as one object, their bytes one after the other in the order of
//! their paths (the record's file list says where each ends). The same content always makes
//! the same pack, whatever order a record lists its files in, so a pack is named by the
//! artifact's content hash.
//!
//! Nothing read from the remote is trusted: [`check_record`] validates a record before any of
//! it is used (its key, its content hash recomputed from its file list, and every path), and an
//! [`Unpacker`] checks each file's size and blake3 as the bytes stream in.

use crate::key::{content_hash, ContentHash, Key};
use crate::store::{FileRecord, Meta, META_FILE};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Refuse a record that is not the artifact of `key` with content `content`, or whose paths
/// would write outside the artifact's directory.
pub fn check_record(meta: &Meta, key: &Key, content: &ContentHash) -> Result<()> {
    if meta.build.key != *key {
        bail!("the record names key {}", meta.build.key);
    }
    if meta.content_hash != *content {
        bail!("the record names content {}", meta.content_hash);
    }
    let mut paths = BTreeSet::new();
    let mut hashes = Vec::with_capacity(meta.files.len());
    for file in &meta.files {
        check_path(&file.path)?;
        if !paths.insert(file.path.as_str()) {
            bail!("the record lists `{}` twice", file.path);
        }
        let hash = blake3::Hash::from_hex(&file.blake3)
            .with_context(|| format!("the record's blake3 of `{}` is not a hash", file.path))?;
        hashes.push((file.path.as_str(), hash));
    }
    // A file that is also another file's directory (`a` and `a/b`) cannot be written.
    for path in &paths {
        let mut dir = *path;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if paths.contains(parent) {
                bail!("the record lists `{parent}` as a file and as a directory");
            }
            dir = parent;
        }
    }
    if content_hash(hashes.iter().map(|(p, h)| (*p, h))) != *content {
        bail!("the record's files do not hash to its content hash");
    }
    Ok(())
}

/// A relative path of `/`-separated names, none of them empty, `.` or `..`, and not the
/// engine's own metadata file.
fn check_path(path: &str) -> Result<()> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains(['\\', '\0'])
        || path.split('/').any(|part| part.is_empty() || part == "." || part == "..")
        || path == META_FILE;
    if bad {
        bail!("the record lists the path {path:?}, which is not a file inside an artifact");
    }
    Ok(())
}

/// The pack's size: the sum of the files' sizes (`None` if it overflows).
pub fn pack_size(files: &[FileRecord]) -> Option<u64> {
    files.iter().try_fold(0u64, |sum, f| sum.checked_add(f.size))
}

/// The files in pack order.
fn in_pack_order(meta: &Meta) -> Vec<FileRecord> {
    let mut files = meta.files.clone();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// Reads the files of an artifact directory as its pack, checking each file's size and blake3
/// against its metadata as it goes (a damaged local artifact is never pushed).
pub struct PackReader<'a> {
    dir: &'a Path,
    files: Vec<FileRecord>,
    next: usize,
    current: Option<(File, blake3::Hasher, u64)>,
}

impl<'a> PackReader<'a> {
    pub fn new(dir: &'a Path, meta: &Meta) -> Self {
        PackReader { dir, files: in_pack_order(meta), next: 0, current: None }
    }

    /// Up to `max` more bytes of the pack; empty at the end.
    pub fn chunk(&mut self, max: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(max.min(1 << 20));
        while out.len() < max {
            if self.current.is_none() {
                let Some(file) = self.files.get(self.next) else { break };
                let path = self.dir.join(&file.path);
                let f = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
                self.current = Some((f, blake3::Hasher::new(), 0));
            }
            let record = &self.files[self.next];
            let (f, hasher, read) = self.current.as_mut().expect("opened above");
            let want = (max - out.len()).min((record.size - *read).min(1 << 20) as usize);
            let start = out.len();
            out.resize(start + want, 0);
            f.read_exact(&mut out[start..])
                .with_context(|| format!("reading {} (shorter than recorded?)", record.path))?;
            hasher.update(&out[start..]);
            *read += want as u64;
            if *read == record.size {
                let mut rest = [0u8; 1];
                let longer = f.read(&mut rest)? > 0;
                if longer || hasher.finalize().to_hex().as_str() != record.blake3 {
                    bail!("the local file {} no longer matches its metadata", record.path);
                }
                self.current = None;
                self.next += 1;
            }
        }
        Ok(out)
    }
}

/// Writes a pack's bytes, as they arrive, into the files of an artifact directory, checking
/// each file's size and blake3 against the (already checked) record.
pub struct Unpacker {
    dir: PathBuf,
    files: Vec<FileRecord>,
    next: usize,
    current: Option<(File, blake3::Hasher, u64)>,
    /// Every directory created, deepest last (for fsync before the rename into the store).
    pub dirs: Vec<PathBuf>,
}

impl Unpacker {
    pub fn new(dir: &Path, meta: &Meta) -> Result<Unpacker> {
        let mut unpacker = Unpacker {
            dir: dir.to_path_buf(),
            files: in_pack_order(meta),
            next: 0,
            current: None,
            dirs: vec![dir.to_path_buf()],
        };
        unpacker.open_empty_files()?;
        Ok(unpacker)
    }

    /// Write the next bytes of the pack.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            if self.current.is_none() {
                if self.next == self.files.len() {
                    bail!("the pack is longer than its record says");
                }
                self.current = Some((self.create(self.next)?, blake3::Hasher::new(), 0));
            }
            let record = &self.files[self.next];
            let (f, hasher, written) = self.current.as_mut().expect("opened above");
            let take = ((record.size - *written).min(bytes.len() as u64)) as usize;
            f.write_all(&bytes[..take])?;
            hasher.update(&bytes[..take]);
            *written += take as u64;
            bytes = &bytes[take..];
            if *written == record.size {
                self.close_current()?;
                self.open_empty_files()?;
            }
        }
        Ok(())
    }

    /// The pack has ended: every file must be complete.
    pub fn finish(self) -> Result<()> {
        if self.current.is_some() || self.next < self.files.len() {
            bail!("the pack is shorter than its record says");
        }
        Ok(())
    }

    fn create(&mut self, index: usize) -> Result<File> {
        let path = self.dir.join(&self.files[index].path);
        let parent = path.parent().expect("inside the artifact directory");
        if !parent.exists() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
            let mut dir = parent;
            let mut new = Vec::new();
            while dir != self.dir && !self.dirs.iter().any(|d| d == dir) {
                new.push(dir.to_path_buf());
                dir = dir.parent().expect("below the artifact directory");
            }
            self.dirs.extend(new.into_iter().rev());
        }
        File::create(&path).with_context(|| format!("creating {}", path.display()))
    }

    fn close_current(&mut self) -> Result<()> {
        let (f, hasher, _) = self.current.take().expect("a file is open");
        let record = &self.files[self.next];
        if hasher.finalize().to_hex().as_str() != record.blake3 {
            bail!("`{}` in the pack does not match its recorded blake3", record.path);
        }
        f.sync_all().with_context(|| format!("fsync {}", record.path))?;
        self.next += 1;
        Ok(())
    }

    /// Empty files take no bytes of the pack: create them as soon as they are next.
    fn open_empty_files(&mut self) -> Result<()> {
        while self.next < self.files.len() && self.files[self.next].size == 0 {
            self.current = Some((self.create(self.next)?, blake3::Hasher::new(), 0));
            self.close_current()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::BuildRecord;

    fn artifact(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Meta) {
        let dir = tempfile::tempdir().unwrap();
        let mut records = Vec::new();
        for (path, bytes) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, bytes).unwrap();
            let blake3 = blake3::hash(bytes).to_hex().to_string();
            records.push(FileRecord { path: path.to_string(), size: bytes.len() as u64, blake3 });
        }
        let hashes: Vec<(String, blake3::Hash)> = records
            .iter()
            .map(|r| (r.path.clone(), blake3::Hash::from_hex(&r.blake3).unwrap()))
            .collect();
        let meta = Meta {
            build: BuildRecord {
                key_version: 1,
                key: Key::from(blake3::hash(b"key")),
                node: "n".into(),
                kind: "k".into(),
                fingerprint: String::new(),
                code: Default::default(),
                params: serde_json::Value::Null,
                inputs: vec![],
            },
            content_hash: content_hash(hashes.iter().map(|(p, h)| (p.as_str(), h))),
            files: records,
            seconds: 0.0,
            measurements: Default::default(),
            tool_version: String::new(),
        };
        (dir, meta)
    }

    fn pack(dir: &Path, meta: &Meta, chunk: usize) -> Result<Vec<u8>> {
        let mut reader = PackReader::new(dir, meta);
        let mut out = Vec::new();
        loop {
            let bytes = reader.chunk(chunk)?;
            if bytes.is_empty() {
                return Ok(out);
            }
            out.extend(bytes);
        }
    }

    const FILES: &[(&str, &[u8])] =
        &[("a.json", b"{\"x\": 1}"), ("empty", b""), ("sub/dir/b.bin", &[7u8; 3000]), ("z", b"z")];

    #[test]
    fn a_pack_is_the_files_in_path_order_and_unpacks_to_them() {
        let (dir, mut meta) = artifact(FILES);
        check_record(&meta, &meta.build.key, &meta.content_hash).unwrap();
        let bytes = pack(dir.path(), &meta, 1000).unwrap();
        let expected: Vec<u8> = FILES.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        assert_eq!(bytes, expected);
        // A record listing the same files in another order makes the same pack.
        meta.files.reverse();
        assert_eq!(pack(dir.path(), &meta, 7).unwrap(), expected);
        assert_eq!(pack_size(&meta.files), Some(expected.len() as u64));
        for split in [1, 7, 4096] {
            let out = tempfile::tempdir().unwrap();
            let mut unpacker = Unpacker::new(out.path(), &meta).unwrap();
            for piece in bytes.chunks(split) {
                unpacker.feed(piece).unwrap();
            }
            unpacker.finish().unwrap();
            for (path, content) in FILES {
                assert_eq!(std::fs::read(out.path().join(path)).unwrap(), *content, "{path}");
            }
        }
    }

    #[test]
    fn a_flipped_short_or_long_pack_is_refused() {
        let (dir, meta) = artifact(FILES);
        let bytes = pack(dir.path(), &meta, 1 << 20).unwrap();
        let unpack = |bytes: &[u8]| -> Result<()> {
            let out = tempfile::tempdir().unwrap();
            let mut unpacker = Unpacker::new(out.path(), &meta)?;
            unpacker.feed(bytes)?;
            unpacker.finish()
        };
        let mut flipped = bytes.clone();
        flipped[100] ^= 1;
        let e = unpack(&flipped).unwrap_err().to_string();
        assert!(e.contains("`sub/dir/b.bin` in the pack does not match"), "{e}");
        let e = unpack(&bytes[..bytes.len() - 1]).unwrap_err().to_string();
        assert!(e.contains("shorter"), "{e}");
        let e = unpack(&[&bytes[..], b"!"].concat()).unwrap_err().to_string();
        assert!(e.contains("longer"), "{e}");
    }

    #[test]
    fn a_local_file_changed_since_its_metadata_is_not_packed() {
        let (dir, meta) = artifact(FILES);
        std::fs::write(dir.path().join("z"), b"y").unwrap();
        assert!(pack(dir.path(), &meta, 64).unwrap_err().to_string().contains("no longer matches"));
        std::fs::write(dir.path().join("z"), b"zz").unwrap();
        assert!(pack(dir.path(), &meta, 64).unwrap_err().to_string().contains("no longer matches"));
    }

    #[test]
    fn records_that_would_write_elsewhere_or_lie_are_refused() {
        let (_dir, meta) = artifact(FILES);
        let (key, content) = (meta.build.key, meta.content_hash);
        let with_path = |path: &str| {
            let mut m = meta.clone();
            m.files[0].path = path.into();
            m
        };
        for path in ["../x", "/etc/passwd", "a/./b", "a//b", "a\\b", "", ".meta.json", "sub"] {
            let e = check_record(&with_path(path), &key, &content).unwrap_err().to_string();
            assert!(e.contains("the record lists"), "{path:?}: {e}");
        }
        let mut m = meta.clone();
        m.files[3].blake3 = blake3::hash(b"other").to_hex().to_string();
        let e = check_record(&m, &key, &content).unwrap_err().to_string();
        assert!(e.contains("do not hash to its content hash"), "{e}");
        let other = Key::from(blake3::hash(b"other"));
        assert!(check_record(&meta, &other, &content).is_err());
        assert!(check_record(&meta, &key, &ContentHash::from(blake3::hash(b"x"))).is_err());
    }
}
