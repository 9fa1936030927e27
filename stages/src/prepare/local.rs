//! Datasets in local files, as an alternative to the hub for any target: MNIST-style IDX,
//! CIFAR binary batches, or a folder of class folders of PNG images (see [`LocalFormat`]).
//! IDX and CIFAR files are also read as they are distributed, `*-idx3-ubyte.gz` and
//! `cifar-10-binary.tar.gz` / `cifar-100-binary.tar.gz`: gzip and tar are decoded as the file is
//! read (only the decompressed images are held, as for any dataset), nothing is unpacked to disk, and the key holds the hash of the files as given. Compression is
//! told by the gzip magic bytes, never by the file name.
//!
//! Keys: the files' content must be part of the `prepare` node's key, or an edited file would
//! be served from a stale artifact. [`resolve`] runs when the study is loaded: it makes the
//! paths absolute and hashes their content (blake3 over every file, folders walked in sorted
//! order) into the node's parameters. [`read`] hashes again before decoding and refuses files
//! that changed in between, so an artifact always matches the key it is stored under. Paths
//! are part of the parameters too (the stage must find the files), so moving the project
//! re-runs these `prepare` nodes; identical output bytes then leave everything downstream
//! cached (early cutoff).

use super::params::{LocalFiles, PrepareParams};
use crate::data::{Dataset, Split};
use crate::file_hash::blake3_of_file;
use crate::prepare::params::{LocalDataset, LocalFormat};
use anyhow::{bail, ensure, Context, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The `prepare` parameters of a local dataset, paths relative to `root` (the folder of
/// `pipeline.yaml`), with their content hashed.
pub fn resolve(root: &Path, d: &LocalDataset) -> Result<PrepareParams> {
    let split = |paths: &[PathBuf], which: &str| -> Result<LocalFiles> {
        ensure!(!paths.is_empty(), "`{which}` names no files");
        let paths: Vec<PathBuf> = paths.iter().map(|p| root.join(p)).collect();
        Ok(LocalFiles {
            blake3: digest(&paths).with_context(|| format!("hashing its `{which}` files"))?,
            paths,
        })
    };
    Ok(PrepareParams::Local {
        format: d.format,
        train: split(&d.train, "train")?,
        test: split(&d.test, "test")?,
        classes: d.classes,
    })
}

/// Every file under `path` (itself when it is a file), sorted by path.
fn files_under(path: &Path) -> Result<Vec<PathBuf>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("{} cannot be read", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("listing {}", path.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    let mut files = Vec::new();
    for e in entries {
        files.extend(files_under(&e)?);
    }
    Ok(files)
}

/// blake3 over the (path relative to its root, file blake3) pairs of every file of `paths`.
fn digest(paths: &[PathBuf]) -> Result<String> {
    let mut h = blake3::Hasher::new();
    for root in paths {
        for file in files_under(root)? {
            let relative = file.strip_prefix(root).unwrap_or(&file).to_string_lossy().into_owned();
            h.update(&(relative.len() as u64).to_le_bytes());
            h.update(relative.as_bytes());
            h.update(blake3_of_file(&file)?.as_bytes());
        }
        h.update(b"\0end of path\0");
    }
    Ok(h.finalize().to_hex().to_string())
}

/// Decodes one split into a dataset named `name`, after checking the files still have the
/// content hashed into the node's key.
pub fn read(
    format: LocalFormat,
    files: &LocalFiles,
    split: Split,
    name: &str,
    classes: usize,
) -> Result<Dataset> {
    let now = digest(&files.paths)?;
    ensure!(
        now == files.blake3,
        "{} changed since the study was loaded (blake3 {now}, expected {}); run again",
        show(&files.paths),
        files.blake3
    );
    let mut out = Dataset::empty(name, classes);
    match format {
        LocalFormat::Idx => read_idx(&files.paths, &mut out)?,
        LocalFormat::Cifar => {
            for path in &files.paths {
                for file in files_under(path)?.into_iter().filter(|f| {
                    f.is_file() && (f == path || f.extension().is_some_and(|e| e == "bin"))
                }) {
                    match open(&file)? {
                        Opened::Gzip(archive) => {
                            for (member, records) in cifar_archive(&file, archive, split)? {
                                read_cifar(&records, &mut out).with_context(|| {
                                    format!("{} member {member}", file.display())
                                })?;
                            }
                        }
                        plain => read_cifar(&read_all(&file, plain)?, &mut out)
                            .with_context(|| file.display().to_string())?,
                    }
                }
            }
        }
        LocalFormat::Folder => {
            ensure!(
                files.paths.len() == 1,
                "the folder format takes one folder per split, got {}",
                show(&files.paths)
            );
            read_folder(&files.paths[0], &mut out)?;
        }
    }
    ensure!(!out.labels.is_empty(), "{} holds no images", show(&files.paths));
    if let Some(&bad) = out.labels.iter().find(|&&l| l as usize >= classes) {
        bail!(
            "{}: label {bad} is outside 0..{classes} (the dataset's `classes`)",
            show(&files.paths)
        );
    }
    out.validate()?;
    Ok(out)
}

fn show(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// A file opened for reading, decompressing it as it is read if it is gzip.
enum Opened {
    Gzip(Box<flate2::bufread::MultiGzDecoder<BufReader<std::fs::File>>>),
    Plain(BufReader<std::fs::File>),
}

/// Opens `path`; gzip is told by its magic bytes, never by the name.
fn open(path: &Path) -> Result<Opened> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let first = reader.fill_buf().with_context(|| format!("reading {}", path.display()))?;
    Ok(if first.starts_with(&GZIP_MAGIC) {
        Opened::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else {
        Opened::Plain(reader)
    })
}

/// A file's bytes, decompressed if it is gzip.
fn contents(path: &Path) -> Result<Vec<u8>> {
    read_all(path, open(path)?)
}

/// The rest of `opened` (the file at `path`), decompressed if it is gzip.
fn read_all(path: &Path, opened: Opened) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match opened {
        Opened::Gzip(mut gz) => gz
            .read_to_end(&mut out)
            .with_context(|| format!("{}: not a valid gzip stream", path.display()))?,
        Opened::Plain(mut f) => {
            f.read_to_end(&mut out).with_context(|| format!("reading {}", path.display()))?
        }
    };
    Ok(out)
}

/// Whether `path` is named like a gzip file (for the error when it is not one).
fn named_gz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz" || e == "tgz")
}

/// The members of a CIFAR `.tar.gz` that hold `split`, sorted by name: `data_batch_*.bin` or
/// `train.bin` for the training split, `test_batch.bin` or `test.bin` for the test split (the
/// names of the CIFAR-10 and CIFAR-100 binary distributions).
fn cifar_archive(path: &Path, gz: impl Read, split: Split) -> Result<Vec<(String, Vec<u8>)>> {
    let wanted = |name: &str| match split {
        Split::Train => {
            name == "train.bin" || (name.starts_with("data_batch_") && name.ends_with(".bin"))
        }
        Split::Test => name == "test.bin" || name == "test_batch.bin",
    };
    let mut archive = tar::Archive::new(gz);
    let (mut members, mut seen) = (Vec::new(), Vec::new());
    let entries =
        archive.entries().with_context(|| format!("{}: not a tar archive", path.display()))?;
    for entry in entries {
        let mut entry =
            entry.with_context(|| format!("{}: a corrupt tar archive", path.display()))?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let base = name.rsplit('/').next().unwrap_or(&name).to_string();
        if entry.header().entry_type().is_file() && wanted(&base) {
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .with_context(|| format!("{}: reading {name}", path.display()))?;
            members.push((name, data));
        } else {
            seen.push(name);
        }
    }
    ensure!(
        !members.is_empty(),
        "{}: the archive holds no {} members ({}); its members are: {}",
        path.display(),
        split.name(),
        match split {
            Split::Train => "data_batch_*.bin or train.bin",
            Split::Test => "test_batch.bin or test.bin",
        },
        seen.join(", ")
    );
    members.sort();
    Ok(members)
}

/// An IDX file's dimensions and data; `magic` is 0x801 (labels) or 0x803 (images). A gzip file
/// is decompressed as it is read.
fn idx(path: &Path) -> Result<(u32, Vec<usize>, Vec<u8>)> {
    let bytes = contents(path)?;
    let word = |i: usize| -> Option<u32> {
        Some(u32::from_be_bytes(bytes.get(4 * i..4 * i + 4)?.try_into().ok()?))
    };
    let magic =
        word(0).with_context(|| format!("{} is too short for an IDX header", path.display()))?;
    let rank = (magic & 0xff) as usize;
    ensure!(
        magic >> 8 == 0x08 && (1..=3).contains(&rank),
        "{}: magic {magic:#010x} is not an unsigned-byte IDX file (0x00000801 labels, 0x00000803 \
         images){}",
        path.display(),
        if named_gz(path) {
            ", and the file is not gzip-compressed although its name says so"
        } else {
            ""
        }
    );
    let dims: Vec<usize> = (1..=rank)
        .map(|i| word(i).map(|d| d as usize))
        .collect::<Option<_>>()
        .with_context(|| format!("{}: truncated IDX header", path.display()))?;
    let data = bytes[4 * (rank + 1)..].to_vec();
    ensure!(
        data.len() == dims.iter().product::<usize>(),
        "{}: {} data bytes, but the header says {dims:?}",
        path.display(),
        data.len()
    );
    Ok((magic, dims, data))
}

fn read_idx(paths: &[PathBuf], out: &mut Dataset) -> Result<()> {
    let (mut images, mut labels) = (None, None);
    for path in paths.iter().flat_map(|p| files_under(p).unwrap_or_else(|_| vec![p.clone()])) {
        match idx(&path)? {
            (0x803, dims, data) => images = Some((path, dims, data)),
            (0x801, _, data) => labels = Some(data),
            (magic, ..) => bail!(
                "{}: IDX magic {magic:#x} is neither images (0x803) nor labels (0x801)",
                path.display()
            ),
        }
    }
    let (Some((path, dims, data)), Some(labels)) = (images, labels) else {
        bail!(
            "the IDX format needs an images file (idx3) and a labels file (idx1); got {}",
            show(paths)
        );
    };
    ensure!(
        dims[0] == labels.len(),
        "{}: {} images but {} labels",
        path.display(),
        dims[0],
        labels.len()
    );
    (out.channels, out.height, out.width) = (1, dims[1], dims[2]);
    out.images = data;
    out.labels = labels.into_iter().map(u32::from).collect();
    Ok(())
}

/// CIFAR's record: label byte(s), then 3×32×32 planar RGB. CIFAR-100 files (`classes` 100)
/// carry a coarse and a fine label.
fn read_cifar(bytes: &[u8], out: &mut Dataset) -> Result<()> {
    const PIXELS: usize = 3 * 32 * 32;
    let label_bytes = if out.classes == 100 { 2 } else { 1 };
    let record = label_bytes + PIXELS;
    ensure!(
        !bytes.is_empty() && bytes.len().is_multiple_of(record),
        "{} bytes is not a whole number of {record}-byte CIFAR records",
        bytes.len()
    );
    (out.channels, out.height, out.width) = (3, 32, 32);
    for r in bytes.chunks(record) {
        out.labels.push(u32::from(r[label_bytes - 1]));
        out.images.extend_from_slice(&r[label_bytes..]);
    }
    Ok(())
}

fn read_folder(root: &Path, out: &mut Dataset) -> Result<()> {
    let mut classes: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("listing {}", root.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    classes.sort();
    ensure!(
        classes.len() == out.classes,
        "{} has {} class folders, but the dataset has `classes: {}`",
        root.display(),
        classes.len(),
        out.classes
    );
    for (label, dir) in classes.iter().enumerate() {
        for file in files_under(dir)? {
            let img = image::open(&file).with_context(|| format!("decoding {}", file.display()))?;
            super::images::append_image(out, &img)
                .with_context(|| format!("{}", file.display()))?;
            out.labels.push(label as u32);
        }
    }
    out.class_names = Some(
        classes
            .iter()
            .map(|d| d.file_name().unwrap_or_default().to_string_lossy().into_owned())
            .collect(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(format: LocalFormat, train: Vec<PathBuf>, classes: usize) -> LocalDataset {
        LocalDataset { format, train: train.clone(), test: train, classes }
    }

    /// Resolve, then read the train split.
    fn load(root: &Path, d: &LocalDataset) -> Result<Dataset> {
        let PrepareParams::Local { format, train, classes, .. } = resolve(root, d)? else {
            unreachable!()
        };
        read(format, &train, Split::Train, "t", classes)
    }

    fn idx_file(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = magic.to_be_bytes().to_vec();
        for d in dims {
            b.extend(d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn idx_images_and_labels_are_told_apart_by_their_headers() {
        let dir = tempfile::tempdir().unwrap();
        let pixels: Vec<u8> = (0..3 * 2 * 4).collect();
        std::fs::write(dir.path().join("labels-idx1-ubyte"), idx_file(0x801, &[3], &[2, 0, 1]))
            .unwrap();
        std::fs::write(dir.path().join("images-idx3-ubyte"), idx_file(0x803, &[3, 2, 4], &pixels))
            .unwrap();
        // Labels first in the list: order does not matter.
        let d = local(
            LocalFormat::Idx,
            vec!["labels-idx1-ubyte".into(), "images-idx3-ubyte".into()],
            3,
        );
        let data = load(dir.path(), &d).unwrap();
        assert_eq!((data.len(), data.channels, data.height, data.width), (3, 1, 2, 4));
        assert_eq!(data.labels, vec![2, 0, 1]);
        assert_eq!(data.image(1), &pixels[8..16]);

        std::fs::write(
            dir.path().join("images-idx3-ubyte"),
            idx_file(0x803, &[3, 2, 4], &pixels[1..]),
        )
        .unwrap();
        let err = format!("{:#}", load(dir.path(), &d).unwrap_err());
        assert!(err.contains("23 data bytes, but the header says [3, 2, 4]"), "{err}");
    }

    #[test]
    fn cifar_records_hold_a_label_byte_and_planar_rgb() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        for (label, fill) in [(7u8, 10u8), (3, 20)] {
            bytes.push(label);
            bytes.extend((0..3072).map(|i| fill.wrapping_add((i / 1024) as u8)));
        }
        std::fs::create_dir(dir.path().join("batches")).unwrap();
        std::fs::write(dir.path().join("batches/data_batch_1.bin"), &bytes).unwrap();
        std::fs::write(dir.path().join("batches/batches.meta.txt"), "not a batch").unwrap();
        let data =
            load(dir.path(), &local(LocalFormat::Cifar, vec!["batches".into()], 10)).unwrap();
        assert_eq!((data.len(), data.channels, data.height, data.width), (2, 3, 32, 32));
        assert_eq!(data.labels, vec![7, 3]);
        assert_eq!((data.image(1)[0], data.image(1)[1024], data.image(1)[2048]), (20, 21, 22));

        // CIFAR-100 layout: coarse then fine label; the fine one is used.
        let mut hundred = vec![1u8, 42];
        hundred.extend([0u8; 3072]);
        std::fs::write(dir.path().join("train.bin"), &hundred).unwrap();
        let data =
            load(dir.path(), &local(LocalFormat::Cifar, vec!["train.bin".into()], 100)).unwrap();
        assert_eq!(data.labels, vec![42]);
        let err = format!(
            "{:#}",
            load(dir.path(), &local(LocalFormat::Cifar, vec!["batches".into()], 5)).unwrap_err()
        );
        assert!(err.contains("label 7 is outside 0..5"), "{err}");
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// Both splits' datasets of `d`.
    fn both(root: &Path, d: &LocalDataset) -> Result<(Dataset, Dataset)> {
        let PrepareParams::Local { format, train, test, classes } = resolve(root, d)? else {
            unreachable!()
        };
        Ok((
            read(format, &train, Split::Train, "t", classes)?,
            read(format, &test, Split::Test, "t", classes)?,
        ))
    }

    #[test]
    fn gzip_compressed_idx_files_read_to_the_same_dataset_as_the_unpacked_ones() {
        let dir = tempfile::tempdir().unwrap();
        let pixels: Vec<u8> = (0..5 * 3 * 3).map(|i| (i * 7) as u8).collect();
        let labels = idx_file(0x801, &[5], &[4, 1, 0, 3, 2]);
        let images = idx_file(0x803, &[5, 3, 3], &pixels);
        for (name, bytes) in [("l-idx1-ubyte", &labels), ("i-idx3-ubyte", &images)] {
            std::fs::write(dir.path().join(name), bytes).unwrap();
            std::fs::write(dir.path().join(format!("{name}.gz")), gzip(bytes)).unwrap();
        }
        let plain = local(LocalFormat::Idx, vec!["i-idx3-ubyte".into(), "l-idx1-ubyte".into()], 5);
        let gz =
            local(LocalFormat::Idx, vec!["i-idx3-ubyte.gz".into(), "l-idx1-ubyte.gz".into()], 5);
        let (a, b) = (load(dir.path(), &plain).unwrap(), load(dir.path(), &gz).unwrap());
        assert_eq!((a.images, a.labels), (b.images.clone(), b.labels.clone()));
        assert_eq!(b.labels, vec![4, 1, 0, 3, 2]);
        // The key holds the hash of the files as given, not of what they decompress to.
        assert_ne!(resolve(dir.path(), &plain).unwrap(), resolve(dir.path(), &gz).unwrap());

        // Named .gz, but not gzip (nor IDX); gzip magic, then garbage.
        std::fs::write(dir.path().join("i-idx3-ubyte.gz"), b"<html>not found</html>").unwrap();
        let err = format!("{:#}", load(dir.path(), &gz).unwrap_err());
        assert!(err.contains("i-idx3-ubyte.gz") && err.contains("not gzip-compressed"), "{err}");
        std::fs::write(dir.path().join("i-idx3-ubyte.gz"), b"\x1f\x8b\x08garbage").unwrap();
        let err = format!("{:#}", load(dir.path(), &gz).unwrap_err());
        assert!(err.contains("i-idx3-ubyte.gz: not a valid gzip stream"), "{err}");
    }

    #[test]
    fn a_cifar_tar_gz_reads_each_split_from_its_members_as_the_unpacked_files() {
        let dir = tempfile::tempdir().unwrap();
        let batch = |labels: &[u8]| -> Vec<u8> {
            labels
                .iter()
                .flat_map(|&l| std::iter::once(l).chain((0..3072).map(move |i| (i as u8) ^ l)))
                .collect()
        };
        let members = [
            ("cifar-10-batches-bin/batches.meta.txt", b"airplane\n".to_vec()),
            ("cifar-10-batches-bin/data_batch_2.bin", batch(&[5, 6])),
            ("cifar-10-batches-bin/test_batch.bin", batch(&[9])),
            ("cifar-10-batches-bin/data_batch_1.bin", batch(&[1, 2, 3])),
        ];
        let mut tar = tar::Builder::new(Vec::new());
        std::fs::create_dir(dir.path().join("cifar-10-batches-bin")).unwrap();
        for (name, bytes) in &members {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, &bytes[..]).unwrap();
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        std::fs::write(dir.path().join("cifar-10-binary.tar.gz"), gzip(&tar.into_inner().unwrap()))
            .unwrap();
        let archive = LocalDataset {
            format: LocalFormat::Cifar,
            train: vec!["cifar-10-binary.tar.gz".into()],
            test: vec!["cifar-10-binary.tar.gz".into()],
            classes: 10,
        };
        let unpacked = LocalDataset {
            format: LocalFormat::Cifar,
            train: vec![
                "cifar-10-batches-bin/data_batch_1.bin".into(),
                "cifar-10-batches-bin/data_batch_2.bin".into(),
            ],
            test: vec!["cifar-10-batches-bin/test_batch.bin".into()],
            classes: 10,
        };
        let (train, test) = both(dir.path(), &archive).unwrap();
        let (train2, test2) = both(dir.path(), &unpacked).unwrap();
        assert_eq!(train.labels, vec![1, 2, 3, 5, 6], "members in name order, train ones only");
        assert_eq!(test.labels, vec![9]);
        assert_eq!((train.images, test.images), (train2.images, test2.images));

        // An archive without the split's members names what it holds.
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_cksum();
        tar.append_data(&mut header, "cifar/readme.html", &b"hi!"[..]).unwrap();
        std::fs::write(dir.path().join("cifar-10-binary.tar.gz"), gzip(&tar.into_inner().unwrap()))
            .unwrap();
        let err = format!("{:#}", both(dir.path(), &archive).unwrap_err());
        assert!(
            err.contains("holds no train members") && err.contains("cifar/readme.html"),
            "{err}"
        );
    }

    #[test]
    fn a_folder_of_class_folders_of_pngs() {
        let dir = tempfile::tempdir().unwrap();
        for (class, values) in [("cat", [5u8, 6]), ("dog", [7, 8])] {
            std::fs::create_dir_all(dir.path().join("train").join(class)).unwrap();
            for (i, v) in values.iter().enumerate() {
                let img = image::RgbImage::from_fn(3, 2, |x, _| image::Rgb([*v, x as u8, 0]));
                img.save(dir.path().join("train").join(class).join(format!("{i}.png"))).unwrap();
            }
        }
        let data = load(dir.path(), &local(LocalFormat::Folder, vec!["train".into()], 2)).unwrap();
        assert_eq!((data.len(), data.channels, data.height, data.width), (4, 3, 2, 3));
        assert_eq!(data.labels, vec![0, 0, 1, 1]);
        assert_eq!(data.class_names, Some(vec!["cat".to_string(), "dog".to_string()]));
        assert_eq!(&data.image(2)[..6], &[7; 6], "R plane of dog/0.png");
        let err = format!(
            "{:#}",
            load(dir.path(), &local(LocalFormat::Folder, vec!["train".into()], 3)).unwrap_err()
        );
        assert!(err.contains("2 class folders") && err.contains("classes: 3"), "{err}");
    }

    #[test]
    fn content_enters_the_parameters_and_a_file_changed_after_loading_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.bin");
        std::fs::write(&path, [1u8; 3073]).unwrap();
        let d = local(LocalFormat::Cifar, vec!["b.bin".into()], 10);
        let before = resolve(dir.path(), &d).unwrap();
        std::fs::write(&path, [2u8; 3073]).unwrap();
        let after = resolve(dir.path(), &d).unwrap();
        assert_ne!(before, after, "an edited file changes the node's parameters, so its key");
        let PrepareParams::Local { format, train, classes, .. } = before else { unreachable!() };
        let err = format!("{:#}", read(format, &train, Split::Train, "t", classes).unwrap_err());
        assert!(err.contains("changed since the study was loaded"), "{err}");
        let err = format!(
            "{:#}",
            resolve(dir.path(), &local(LocalFormat::Cifar, vec!["nope.bin".into()], 10))
                .unwrap_err()
        );
        assert!(err.contains("nope.bin cannot be read"), "{err}");
    }
}
