//! NumPy's `.npy` format (version 1.0, little-endian, C order) for the arrays the influence study
//! writes, so that anyone can read them with `numpy.load`. The bytes depend only on the shape and
//! the values.

use anyhow::{bail, ensure, Context, Result};
use std::path::Path;

/// An element type `.npy` can hold.
pub trait Element: Copy {
    /// NumPy's type string (`<f8`).
    const DESCR: &'static str;
    const SIZE: usize;
    fn put(self, out: &mut Vec<u8>);
    fn get(bytes: &[u8]) -> Self;
}

macro_rules! element {
    ($t:ty, $descr:literal) => {
        impl Element for $t {
            const DESCR: &'static str = $descr;
            const SIZE: usize = std::mem::size_of::<$t>();
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().expect("element-sized slice"))
            }
        }
    };
}
element!(f64, "<f8");
element!(f32, "<f4");
element!(u32, "<u4");

const MAGIC: &[u8] = b"\x93NUMPY\x01\x00";

/// An array and its shape (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Array<T> {
    pub shape: Vec<usize>,
    pub data: Vec<T>,
}

impl<T: Element> Array<T> {
    pub fn new(shape: Vec<usize>, data: Vec<T>) -> Result<Self> {
        ensure!(
            shape.iter().product::<usize>() == data.len(),
            "an array of shape {shape:?} needs {} values, got {}",
            shape.iter().product::<usize>(),
            data.len()
        );
        Ok(Array { shape, data })
    }

    /// Rows of a 2-D array.
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// Columns of a 2-D array (1 for a vector).
    pub fn cols(&self) -> usize {
        self.shape.get(1).copied().unwrap_or(1)
    }

    /// Row `i` of a 2-D array.
    pub fn row(&self, i: usize) -> &[T] {
        let c = self.cols();
        &self.data[i * c..(i + 1) * c]
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let shape = match self.shape.as_slice() {
            [n] => format!("({n},)"),
            dims => {
                format!("({})", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
            }
        };
        let mut header =
            format!("{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}", T::DESCR);
        // Magic, version and length take 10 bytes; the header ends in '\n' and the data start
        // at a multiple of 64 bytes.
        let total = (10 + header.len() + 1).div_ceil(64) * 64;
        header.push_str(&" ".repeat(total - 10 - header.len() - 1));
        header.push('\n');
        let mut out = Vec::with_capacity(total + self.data.len() * T::SIZE);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        for &x in &self.data {
            x.put(&mut out);
        }
        std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
    }

    /// Reads an array this module wrote (or any C-order little-endian `.npy` of type `T`).
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let fail = |why: &str| {
            anyhow::anyhow!("{}: not a .npy file this tool reads: {why}", path.display())
        };
        if bytes.len() < 10 || &bytes[..8] != MAGIC {
            return Err(fail("no NumPy 1.0 magic"));
        }
        let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header =
            std::str::from_utf8(bytes.get(10..10 + len).ok_or_else(|| fail("short header"))?)
                .map_err(|_| fail("header is not text"))?;
        if !header.contains(&format!("'descr': '{}'", T::DESCR)) {
            return Err(fail(&format!("expected type {}: {header}", T::DESCR)));
        }
        if !header.contains("'fortran_order': False") {
            return Err(fail("Fortran order"));
        }
        let dims = header
            .split("'shape': (")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .ok_or_else(|| fail("no shape"))?;
        let shape = dims
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| d.parse::<usize>().map_err(|_| fail("bad shape")))
            .collect::<Result<Vec<_>>>()?;
        let body = &bytes[10 + len..];
        let count: usize = shape.iter().product();
        if body.len() != count * T::SIZE {
            bail!("{}: {} bytes of data for shape {shape:?}", path.display(), body.len());
        }
        let data = body.chunks_exact(T::SIZE).map(T::get).collect();
        Ok(Array { shape, data })
    }
}

/// Writes a vector as a 1-D array.
pub fn write_vector<T: Element>(path: &Path, values: &[T]) -> Result<()> {
    Array::new(vec![values.len()], values.to_vec())?.write(path)
}

/// Reads an array's values (a vector written by [`write_vector`], say).
pub fn read_vector<T: Element>(path: &Path) -> Result<Vec<T>> {
    Ok(Array::read(path)?.data)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The bytes of a `.npy` file as the format's specification (version 1.0) lays them out,
    /// spelled apart from the writer: the magic string `\x93NUMPY`, major and minor version 1 and
    /// 0, the header's length as a little-endian u16, the header (a Python dict literal, padded
    /// with spaces and ended by a newline so that the data start at a multiple of 64 bytes), then
    /// the data.
    pub(crate) fn as_the_spec_lays_out(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
        while (6 + 2 + 2 + header.len()) % 64 != 0 {
            header.insert(header.len() - 1, ' ');
        }
        let mut file = vec![0x93, b'N', b'U', b'M', b'P', b'Y', 1, 0];
        file.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
        file.extend_from_slice(header.as_bytes());
        file.extend_from_slice(data);
        file
    }

    #[test]
    fn the_writer_lays_files_out_as_the_spec_says() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        let written = |a: &dyn Fn(&Path)| {
            a(&path);
            std::fs::read(&path).unwrap()
        };
        let f = written(&|p| Array::new(vec![2, 1], vec![1.5f32, -2.0]).unwrap().write(p).unwrap());
        let mut data = 1.5f32.to_le_bytes().to_vec();
        data.extend((-2.0f32).to_le_bytes());
        assert_eq!(f, as_the_spec_lays_out("<f4", "(2, 1)", &data));
        // The header's length for a vector of three u32: 128 bytes in all, less the first 10.
        let v = written(&|p| write_vector(p, &[1u32, 2, 3]).unwrap());
        assert_eq!((v[8], v[9], v[127], v.len()), (118, 0, b'\n', 128 + 12));
        assert_eq!(v, as_the_spec_lays_out("<u4", "(3,)", &[1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]));
        // An empty vector, and more than two dimensions.
        let e = written(&|p| write_vector::<f64>(p, &[]).unwrap());
        assert_eq!(e, as_the_spec_lays_out("<f8", "(0,)", &[]));
        let long =
            written(&|p| Array::new(vec![1, 1, 1, 1], vec![7.0f64]).unwrap().write(p).unwrap());
        assert_eq!(long, as_the_spec_lays_out("<f8", "(1, 1, 1, 1)", &7.0f64.to_le_bytes()));
    }

    #[test]
    fn arrays_round_trip_and_the_header_is_numpys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        let a = Array::new(vec![2, 3], vec![1.0f64, -2.5, 3.0, 0.0, 1e-300, 7.0]).unwrap();
        a.write(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        // What numpy.save writes for this array, header byte for byte.
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
        assert_eq!(&bytes[10..10 + header.len()], header.as_bytes());
        assert_eq!((bytes.len() - 48) % 64, 0, "data start at a multiple of 64");
        assert_eq!(bytes[bytes.len() - 48 - 1], b'\n');
        assert_eq!(Array::<f64>::read(&path).unwrap(), a);
        let v = Array::new(vec![4], vec![1u32, 2, 3, 4]).unwrap();
        v.write(&path).unwrap();
        assert!(String::from_utf8_lossy(&std::fs::read(&path).unwrap()).contains("'shape': (4,)"));
        assert_eq!(Array::<u32>::read(&path).unwrap(), v);
        assert!(Array::<f64>::read(&path).unwrap_err().to_string().contains("expected type <f8"));
        assert!(Array::new(vec![2, 2], vec![1.0f32]).is_err());
    }
}
