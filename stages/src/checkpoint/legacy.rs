//! `torch.save`'s legacy format, which torch wrote before 1.6 and writes still with
//! `_use_new_zipfile_serialization=False` (torchvision's `resnet50-19c8e357.pth`, the paper's
//! own robust models). The file is five pickles and then raw data, all little-endian:
//!
//! 1. the magic number 0x1950a86a20f9469cfc6c;
//! 2. the format's protocol version (1001);
//! 3. system information (`little_endian`, type sizes);
//! 4. the saved object, whose storages are persistent ids
//!    `("storage", torch.<T>Storage, key, location, element count, view)`;
//! 5. the storage keys in the order their data follows;
//!
//! then per storage its element count (8 bytes) and its raw bytes. A tensor is
//! `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)`, so a tensor may view
//! part of a storage, with any strides.
//!
//! Only the tensors of the state dict a caller asks for are interpreted; the rest of the object
//! (optimizer state, a schedule or arguments pickled by dill) is read and left alone.

use super::pickle::{self, Id, Pickle, Value};
use anyhow::{bail, ensure, Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, Read};
use std::path::Path;

/// 0x1950a86a20f9469cfc6c, as the little-endian bytes of the first pickle's `LONG1`.
pub const MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
/// The legacy format's own protocol version.
const PROTOCOL: i64 = 1001;

/// The element types of torch's storages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl Dtype {
    /// The dtype of storage class `torch.<name>` (`FloatStorage`, …).
    fn of_storage(class: &str) -> Option<Dtype> {
        let name = class.strip_prefix("torch.cuda.").or_else(|| class.strip_prefix("torch."))?;
        Some(match name {
            "DoubleStorage" => Dtype::F64,
            "FloatStorage" => Dtype::F32,
            "HalfStorage" => Dtype::F16,
            "BFloat16Storage" => Dtype::BF16,
            "LongStorage" => Dtype::I64,
            "IntStorage" => Dtype::I32,
            "ShortStorage" => Dtype::I16,
            "CharStorage" => Dtype::I8,
            "ByteStorage" => Dtype::U8,
            "BoolStorage" => Dtype::Bool,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 => 2,
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
        }
    }
}

/// A tensor copied out of its storage: contiguous, row-major, little-endian.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// What a persistent id names: part of a storage.
struct StorageRef {
    key: String,
    dtype: Dtype,
    /// Elements of the storage before the part named (an old storage view's offset).
    base: usize,
}

/// A legacy checkpoint, read whole.
pub struct Legacy {
    object: Pickle,
    /// Storage bytes by key.
    storages: HashMap<String, (Dtype, Vec<u8>)>,
    /// Why the storages after the last one read were not read, if they were not: an error only
    /// for a tensor that needs one of them.
    unread: Option<String>,
}

/// How many of a file's first bytes [`looks_legacy`] needs.
pub const PREFIX_LEN: usize = 4 + MAGIC.len();

/// Whether a file's first [`PREFIX_LEN`] bytes are those `torch.save` writes in the legacy
/// format: a pickle's `PROTO` (protocols 2 to 5), then `LONG1` of the 10-byte magic number. The
/// whole prefix is compared, not just the pickle's first byte: a safetensors file starts with
/// its header's length, whose first byte is 0x80 in one file of 256.
pub fn looks_legacy(first: &[u8]) -> bool {
    matches!(first, [0x80, 2..=5, 0x8a, 0x0a, magic @ ..] if magic == MAGIC)
}

/// Reads the legacy checkpoint `path`.
pub fn read(path: &Path) -> Result<Legacy> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut r = BufReader::new(file);
    let magic = pickle::read(&mut r).context("reading the magic number")?;
    ensure!(
        magic.get(magic.root()) == &Value::BigInt(MAGIC.to_vec()),
        "a pickle, but not one torch.save wrote: its first value is not torch's magic number"
    );
    let protocol = pickle::read(&mut r).context("reading the protocol version")?;
    ensure!(
        protocol.int(protocol.root()) == Some(PROTOCOL),
        "legacy protocol version {:?}; this reader knows {PROTOCOL}",
        protocol.get(protocol.root())
    );
    let info = pickle::read(&mut r).context("reading the system information")?;
    let little = info.lookup(info.root(), "little_endian").map(|v| info.get(v).clone());
    ensure!(
        little == Some(Value::Bool(true)),
        "the checkpoint was written on a big-endian machine (little_endian: {little:?})"
    );
    let object = pickle::read(&mut r).context("reading the saved object")?;
    let keys = pickle::read(&mut r).context("reading the storage key list")?;
    let listed: Vec<String> = keys
        .tuple(keys.root())
        .context("the storage key list is not a list")?
        .iter()
        .map(|&k| keys.str(k).map(str::to_string).context("a storage key that is not a string"))
        .collect::<Result<_>>()?;

    // Each storage's type and size, from the first persistent id that names it (as torch
    // takes it). Ids that are not storages', and storages of a type this reader does not know,
    // are errors only for a tensor that needs them: they may sit in the optimizer's state.
    let mut named: HashMap<String, Result<(Dtype, usize), String>> = HashMap::new();
    for id in object.ids() {
        if let Value::Persistent(pid) = object.get(id) {
            if let Some(key) = storage_key(&object, *pid) {
                named.entry(key).or_insert_with(|| {
                    storage_ref(&object, *pid)
                        .map(|(r, numel)| (r.dtype, numel))
                        .map_err(|e| format!("{e:#}"))
                });
            }
        }
    }
    let mut storages = HashMap::new();
    let mut unread = None;
    for key in listed {
        // The data are back to back: a storage whose size is unknown ends the reading.
        let (dtype, numel) = match named.get(&key) {
            Some(Ok(known)) => *known,
            Some(Err(e)) => {
                unread = Some(format!("storage `{key}` could not be read past: {e}"));
                break;
            }
            None => {
                unread = Some(format!("storage `{key}` is listed, but no id in the file names it"));
                break;
            }
        };
        let mut count = [0u8; 8];
        r.read_exact(&mut count).with_context(|| {
            format!("storage `{key}`: the file ends before its size (truncated)")
        })?;
        let count = u64::from_le_bytes(count);
        ensure!(
            count == numel as u64,
            "storage `{key}` holds {count} elements, but its id says {numel}"
        );
        let n = numel.checked_mul(dtype.size()).context("a storage size that overflows")?;
        let mut bytes = Vec::new();
        (&mut r).take(n as u64).read_to_end(&mut bytes)?;
        ensure!(
            bytes.len() == n,
            "storage `{key}`: the file ends after {} of its {n} bytes (truncated)",
            bytes.len()
        );
        storages.insert(key, (dtype, bytes));
    }
    Ok(Legacy { object, storages, unread })
}

/// The key of a storage's persistent id `("storage", type, key, …)`, if `pid` is one.
fn storage_key(p: &Pickle, pid: Id) -> Option<String> {
    match p.tuple(pid)? {
        [tag, _, key, ..] if p.str(*tag) == Some("storage") => p.str(*key).map(str::to_string),
        _ => None,
    }
}

/// The storage a persistent id names, and the element count the id gives it.
fn storage_ref(p: &Pickle, pid: Id) -> Result<(StorageRef, usize)> {
    let fields =
        p.tuple(pid).with_context(|| format!("a persistent id that is {}", p.describe(pid)))?;
    ensure!(
        fields.len() >= 5 && p.str(fields[0]) == Some("storage"),
        "a persistent id that is not a storage's (\"storage\", type, key, location, size, view)"
    );
    let class = p.global(fields[1]).unwrap_or_else(|| p.describe(fields[1]));
    let dtype = Dtype::of_storage(&class)
        .with_context(|| format!("storage type {class} is not one of torch's storages"))?;
    let key = p.str(fields[2]).context("a storage key that is not a string")?.to_string();
    let numel = count(p, fields[4]).context("the storage's size")?;
    // An old storage view: (view key, offset, size) into the root storage `key`.
    let base = match fields.get(5).map(|&v| p.get(v)) {
        None | Some(Value::None) => 0,
        Some(Value::Tuple(view)) if view.len() == 3 => {
            count(p, view[1]).context("a view offset")?
        }
        Some(_) => bail!("storage `{key}`: a view that is not (key, offset, size)"),
    };
    Ok((StorageRef { key, dtype, base }, numel))
}

fn count(p: &Pickle, id: Id) -> Result<usize> {
    let i = p.int(id).with_context(|| format!("expected an integer, found {}", p.describe(id)))?;
    usize::try_from(i).with_context(|| format!("expected a count, found {i}"))
}

fn counts(p: &Pickle, id: Id) -> Result<Vec<usize>> {
    let items =
        p.tuple(id).with_context(|| format!("expected a tuple, found {}", p.describe(id)))?;
    items.iter().map(|&i| count(p, i)).collect()
}

impl Legacy {
    /// Top-level keys of the saved object, when it is a dict.
    pub fn top_level_keys(&self) -> Vec<String> {
        let p = &self.object;
        p.dict_items(p.root())
            .unwrap_or_default()
            .iter()
            .map(|(k, _)| p.str(*k).map(str::to_string).unwrap_or_else(|| p.describe(*k)))
            .collect()
    }

    /// The tensors of the state dict: the saved object itself, or its entry `key`.
    pub fn state_dict(&self, key: Option<&str>) -> Result<BTreeMap<String, RawTensor>> {
        let p = &self.object;
        let dict = match key {
            None => p.root(),
            Some(k) => p.lookup(p.root(), k).with_context(|| {
                format!("no state dict `{k}`: the top-level keys are {:?}", self.top_level_keys())
            })?,
        };
        let items = p.dict_items(dict).with_context(|| {
            format!("the state dict is {}, not a dict of tensors", p.describe(dict))
        })?;
        let mut out = BTreeMap::new();
        for &(k, v) in items {
            let name =
                p.str(k).with_context(|| format!("a state-dict key that is {}", p.describe(k)))?;
            let tensor = self.tensor(v).with_context(|| format!("state-dict entry `{name}`"))?;
            out.insert(name.to_string(), tensor);
        }
        Ok(out)
    }

    /// The tensor value `id` rebuilds, copied out of its storage.
    fn tensor(&self, id: Id) -> Result<RawTensor> {
        let p = &self.object;
        let Value::Object { callable, args, .. } = p.get(id) else {
            bail!("{}, not a tensor", p.describe(id));
        };
        let function = p.global(*callable).unwrap_or_default();
        let args = p.tuple(*args).context("the rebuild call's arguments are not a tuple")?;
        match function.as_str() {
            "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {}
            "torch._utils._rebuild_parameter" if !args.is_empty() => return self.tensor(args[0]),
            _ => bail!("{}, not a tensor", p.describe(id)),
        }
        ensure!(args.len() >= 4, "{function} with {} arguments", args.len());
        let Value::Persistent(pid) = p.get(args[0]) else {
            bail!("a tensor whose storage is {}", p.describe(args[0]));
        };
        let (storage, _) = storage_ref(p, *pid)?;
        let offset = storage
            .base
            .checked_add(count(p, args[1]).context("the storage offset")?)
            .context("a storage offset that overflows")?;
        let shape = counts(p, args[2]).context("the tensor's size")?;
        let stride = counts(p, args[3]).context("the tensor's stride")?;
        ensure!(shape.len() == stride.len(), "size {shape:?} and stride {stride:?} differ in rank");
        let (dtype, bytes) =
            self.storages.get(&storage.key).with_context(|| match &self.unread {
                Some(why) => format!("its storage `{}` was not read: {why}", storage.key),
                None => format!("its storage `{}` is not in the file's storage list", storage.key),
            })?;
        let size = dtype.size();
        let held = bytes.len() / size;
        let overflow = || format!("a tensor of size {shape:?} and stride {stride:?} overflows");
        let numel =
            shape.iter().try_fold(1usize, |a, &n| a.checked_mul(n)).with_context(overflow)?;
        if numel > 0 {
            let last = shape
                .iter()
                .zip(&stride)
                .try_fold(offset, |a, (n, s)| (n - 1).checked_mul(*s)?.checked_add(a))
                .with_context(overflow)?;
            ensure!(
                last < held,
                "the tensor (size {shape:?}, stride {stride:?}, offset {offset}) reaches element \
                 {last} of storage `{}`, which holds {held}: a storage shorter than its tensors",
                storage.key
            );
        }
        Ok(RawTensor { dtype: *dtype, data: gather(bytes, size, offset, &shape, &stride), shape })
    }
}

/// The elements of a strided view, copied in row-major order.
fn gather(bytes: &[u8], size: usize, offset: usize, shape: &[usize], stride: &[usize]) -> Vec<u8> {
    let numel: usize = shape.iter().product();
    let mut out = Vec::with_capacity(numel * size);
    if numel == 0 {
        return out;
    }
    let contiguous = (0..shape.len())
        .all(|d| shape[d] == 1 || stride[d] == shape[d + 1..].iter().product::<usize>());
    if contiguous {
        out.extend_from_slice(&bytes[offset * size..(offset + numel) * size]);
        return out;
    }
    let mut index = vec![0usize; shape.len()];
    for _ in 0..numel {
        let at = offset + index.iter().zip(stride).map(|(i, s)| i * s).sum::<usize>();
        out.extend_from_slice(&bytes[at * size..(at + 1) * size]);
        // The next index, last dimension fastest.
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strided_view_is_gathered_in_row_major_order() {
        // A 2×3 storage of u8 0..6; its transpose (size [3, 2], stride [1, 3]).
        let bytes: Vec<u8> = (0..6).collect();
        assert_eq!(gather(&bytes, 1, 0, &[3, 2], &[1, 3]), vec![0, 3, 1, 4, 2, 5]);
        // The second row alone, from offset 3, contiguous.
        assert_eq!(gather(&bytes, 1, 3, &[3], &[1]), vec![3, 4, 5]);
        // Every other element, two bytes each.
        let wide: Vec<u8> = (0..12).collect();
        assert_eq!(gather(&wide, 2, 1, &[2], &[2]), vec![2, 3, 6, 7]);
        // A scalar, and a broadcast (stride 0) dimension.
        assert_eq!(gather(&bytes, 1, 4, &[], &[]), vec![4]);
        assert_eq!(gather(&bytes, 1, 2, &[3], &[0]), vec![2, 2, 2]);
    }

    /// A legacy file written opcode by opcode: the saved object `object` (one pickled value,
    /// without `PROTO` and `STOP`), then each storage `(key, element count, data)` in order.
    fn legacy_file_of(object: &[u8], storages: &[(&str, u64, Vec<u8>)]) -> tempfile::NamedTempFile {
        let mut b = vec![0x80, 0x02, 0x8a, 0x0a];
        b.extend(MAGIC);
        b.extend(b".\x80\x02M\xe9\x03.");
        b.extend(b"\x80\x02}(X\x0d\x00\x00\x00little_endian\x88u.");
        b.extend(b"\x80\x02");
        b.extend(object);
        b.extend(b".\x80\x02](");
        for (key, _, _) in storages {
            b.extend(string(key));
        }
        b.extend(b"e.");
        for (_, count, data) in storages {
            b.extend(count.to_le_bytes());
            b.extend(data);
        }
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), b).unwrap();
        f
    }

    /// `BINUNICODE` of `s`.
    fn string(s: &str) -> Vec<u8> {
        let mut b = vec![b'X'];
        b.extend((s.len() as u32).to_le_bytes());
        b.extend(s.as_bytes());
        b
    }

    /// `{"w": value}`, then storage "0" of `numel` floats 1.0, 2.0, … (none when `None`).
    fn legacy_file(value: &[u8], numel: Option<u64>) -> tempfile::NamedTempFile {
        let mut object = b"}(".to_vec();
        object.extend(string("w"));
        object.extend(value);
        object.push(b'u');
        let storages = match numel {
            None => vec![],
            Some(numel) => vec![("0", numel, floats(numel))],
        };
        legacy_file_of(&object, &storages)
    }

    fn floats(n: u64) -> Vec<u8> {
        (0..n).flat_map(|i| (i as f32 + 1.0).to_le_bytes()).collect()
    }

    /// `_rebuild_tensor_v2(storage "0" of `numel` floats, offset, (size,), (stride,), …)`.
    fn rebuild(numel: u8, offset: u8, size: u8, stride: u8) -> Vec<u8> {
        rebuild_of("FloatStorage", "0", numel, offset, size, stride)
    }

    /// `_rebuild_tensor_v2(storage `key` of type `torch.<class>`, …)`.
    fn rebuild_of(class: &str, key: &str, numel: u8, offset: u8, size: u8, stride: u8) -> Vec<u8> {
        let mut b = b"ctorch._utils\n_rebuild_tensor_v2\n((".to_vec();
        b.extend(string("storage"));
        b.extend(format!("ctorch\n{class}\n").as_bytes());
        b.extend(string(key));
        b.extend(string("cpu"));
        b.extend([
            b'K', numel, b'N', b't', b'Q', b'K', offset, b'K', size, 0x85, b'K', stride, 0x85,
        ]);
        b.extend(b"\x89ccollections\nOrderedDict\n)Rt\x52");
        b
    }

    fn tensors(f: &tempfile::NamedTempFile) -> Result<BTreeMap<String, RawTensor>> {
        read(f.path())?.state_dict(None)
    }

    #[test]
    fn a_tensor_is_read_from_its_storage_and_bad_ones_are_errors() {
        // Elements 2 and 4 of storage [1, 2, 3, 4, 5]: offset 1, stride 2.
        let t = tensors(&legacy_file(&rebuild(5, 1, 2, 2), Some(5))).unwrap().remove("w").unwrap();
        let values: Vec<f32> =
            t.data.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!((t.dtype, t.shape, values), (Dtype::F32, vec![2], vec![2.0, 4.0]));

        let err =
            format!("{:#}", tensors(&legacy_file(&rebuild(2, 0, 3, 1), Some(2))).unwrap_err());
        assert!(err.contains("a storage shorter than its tensors") && err.contains("`w`"), "{err}");
        let err =
            format!("{:#}", tensors(&legacy_file(&rebuild(3, 0, 3, 1), Some(2))).unwrap_err());
        assert!(err.contains("holds 2 elements, but its id says 3"), "{err}");
        // A state-dict value that is some other object: named, not rebuilt.
        let f = legacy_file(b"cdill._dill\n_create_function\n)R", None);
        let err = format!("{:#}", tensors(&f).unwrap_err());
        assert!(
            err.contains("`w`")
                && err.contains("a call of dill._dill._create_function, not a tensor"),
            "{err}"
        );
        // The file ends inside the storages' data.
        let f = legacy_file(&rebuild(5, 0, 5, 1), Some(5));
        let bytes = std::fs::read(f.path()).unwrap();
        std::fs::write(f.path(), &bytes[..bytes.len() - 3]).unwrap();
        let err = format!("{:#}", tensors(&f).unwrap_err());
        assert!(err.contains("ends after 17 of its 20 bytes (truncated)"), "{err}");
    }

    #[test]
    fn storages_the_state_dict_does_not_need_are_errors_only_when_needed() {
        // {"model": {"w": storage "0"}, "opt": {"x": storage "1" of an unknown type, "y":
        //  storage "0" named again with another size}, "late": {"v": storage "2", after "1"},
        //  "z": an id that is not a storage's}
        let mut object = b"}(".to_vec();
        let mut entry = |key: &str, value: &[u8]| {
            object.extend(string(key));
            object.extend(value);
        };
        entry("model", &[b"}(", &string("w")[..], &rebuild(5, 0, 5, 1), b"u"].concat());
        let x = rebuild_of("WeirdStorage", "1", 3, 0, 3, 1);
        let y = rebuild(99, 0, 5, 1);
        entry("opt", &[b"}(", &string("x")[..], &x, &string("y"), &y, b"u"].concat());
        let v = rebuild_of("FloatStorage", "2", 2, 0, 2, 1);
        entry("late", &[b"}(", &string("v")[..], &v, b"u"].concat());
        entry("z", &[b"(", &string("other")[..], b"K\x01tQ"].concat());
        object.push(b'u');
        let storages = [("0", 5, floats(5)), ("1", 3, vec![0; 7]), ("2", 2, floats(2))];
        let legacy = read(legacy_file_of(&object, &storages).path()).unwrap();
        // The first id of storage "0" gives its size; the later one does not matter.
        let model = legacy.state_dict(Some("model")).unwrap();
        assert_eq!(model["w"].data, floats(5));
        let unknown = "storage type torch.WeirdStorage is not one of torch's storages";
        let err = format!("{:#}", legacy.state_dict(Some("opt")).unwrap_err());
        assert!(err.contains("`x`") && err.contains(unknown), "{err}");
        // Storage "2" comes after the one of unknown size: it could not be found.
        let err = format!("{:#}", legacy.state_dict(Some("late")).unwrap_err());
        assert!(
            err.contains("`v`")
                && err.contains("its storage `2` was not read: storage `1` could not be read past")
                && err.contains(unknown),
            "{err}"
        );
    }

    #[test]
    fn the_legacy_prefix_is_told_whole() {
        let mut prefix = vec![0x80, 0x02, 0x8a, 0x0a];
        prefix.extend(MAGIC);
        assert_eq!(prefix.len(), PREFIX_LEN);
        assert!(looks_legacy(&prefix));
        // Protocol 1 (no PROTO in torch's files), a shorter read, one magic byte off.
        assert!(!looks_legacy(&[&[0x80, 0x01][..], &prefix[2..]].concat()));
        assert!(!looks_legacy(&prefix[..PREFIX_LEN - 1]));
        let mut off = prefix.clone();
        off[PREFIX_LEN - 1] ^= 1;
        assert!(!looks_legacy(&off));
        // A safetensors header of 128 + 256k bytes starts with 0x80.
        assert!(!looks_legacy(&384u64.to_le_bytes()));
    }

    #[test]
    fn storage_classes_map_to_dtypes() {
        assert_eq!(Dtype::of_storage("torch.FloatStorage"), Some(Dtype::F32));
        assert_eq!(Dtype::of_storage("torch.cuda.HalfStorage"), Some(Dtype::F16));
        assert_eq!(Dtype::of_storage("torch.LongStorage").map(Dtype::size), Some(8));
        assert_eq!(Dtype::of_storage("numpy.FloatStorage"), None);
    }
}
