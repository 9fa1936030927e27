//! An artifact's arrays per split, as `features` and `influence` write them: a matrix whose rows
//! are the training images and one whose rows are the test images, the labels of both, and the
//! dataset index of each training row (`.npy`, so anyone can read them), beside a JSON summary.

use crate::npy::{read_vector, write_vector, Array, Element};
use anyhow::{ensure, Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

const TRAIN_LABELS: &str = "train_labels.npy";
const TEST_LABELS: &str = "test_labels.npy";
const TRAIN_INDICES: &str = "train_indices.npy";

/// The file names of an artifact's two matrices (`train_features.npy`, `test_features.npy`).
pub struct Matrices {
    pub train: &'static str,
    pub test: &'static str,
}

/// Row i of `train` is dataset image `train_indices[i]`, of class `train_labels[i]`; row i of
/// `test` is test image i, of class `test_labels[i]`. Both matrices have the same columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Splits<T> {
    /// n × k.
    pub train: Array<T>,
    /// m × k.
    pub test: Array<T>,
    pub train_labels: Vec<u32>,
    pub test_labels: Vec<u32>,
    pub train_indices: Vec<u32>,
}

impl<T: Element> Splits<T> {
    /// Write the matrices under the names `matrices` gives, the labels and indices beside them.
    pub fn write(&self, dir: &Path, matrices: &Matrices) -> Result<()> {
        self.train.write(&dir.join(matrices.train))?;
        self.test.write(&dir.join(matrices.test))?;
        write_vector(&dir.join(TRAIN_LABELS), &self.train_labels)?;
        write_vector(&dir.join(TEST_LABELS), &self.test_labels)?;
        write_vector(&dir.join(TRAIN_INDICES), &self.train_indices)
    }

    /// Read what [`Splits::write`] wrote, refusing matrices whose rows disagree with the labels
    /// and indices or whose columns disagree with each other.
    pub fn read(dir: &Path, matrices: &Matrices) -> Result<Self> {
        let s = Splits {
            train: Array::read(&dir.join(matrices.train))?,
            test: Array::read(&dir.join(matrices.test))?,
            train_labels: read_vector(&dir.join(TRAIN_LABELS))?,
            test_labels: read_vector(&dir.join(TEST_LABELS))?,
            train_indices: read_vector(&dir.join(TRAIN_INDICES))?,
        };
        let k = s.cols();
        ensure!(
            s.train.shape == [s.train_labels.len(), k]
                && s.test.shape == [s.test_labels.len(), k]
                && s.train_indices.len() == s.train_labels.len(),
            "{}: the arrays' shapes disagree",
            dir.display()
        );
        Ok(s)
    }

    /// Columns of both matrices.
    pub fn cols(&self) -> usize {
        self.train.cols()
    }
}

/// Write an artifact's summary as pretty JSON.
pub fn write_summary<S: Serialize>(path: &Path, summary: &S) -> Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(summary)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Read a summary [`write_summary`] wrote.
pub fn read_summary<S: DeserializeOwned>(path: &Path) -> Result<S> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::tests::as_the_spec_lays_out;

    const MATRICES: Matrices = Matrices { train: "a_train.npy", test: "a_test.npy" };

    fn le<T: Copy, const N: usize>(values: &[T], bytes: fn(T) -> [u8; N]) -> Vec<u8> {
        values.iter().flat_map(|&v| bytes(v)).collect()
    }

    #[test]
    fn splits_are_five_npy_files_as_the_spec_lays_them_out_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = Splits {
            train: Array::new(vec![3, 2], vec![1.0f64, -2.5, 0.0, 1e-300, 7.0, 0.125]).unwrap(),
            test: Array::new(vec![1, 2], vec![3.0f64, -0.0]).unwrap(),
            train_labels: vec![0, 2, 1],
            test_labels: vec![1],
            train_indices: vec![9, 4, 7],
        };
        s.write(dir.path(), &MATRICES).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let expected = [
            (
                "a_test.npy",
                as_the_spec_lays_out("<f8", "(1, 2)", &le(&s.test.data, f64::to_le_bytes)),
            ),
            (
                "a_train.npy",
                as_the_spec_lays_out("<f8", "(3, 2)", &le(&s.train.data, f64::to_le_bytes)),
            ),
            (
                "test_labels.npy",
                as_the_spec_lays_out("<u4", "(1,)", &le(&[1u32], u32::to_le_bytes)),
            ),
            (
                "train_indices.npy",
                as_the_spec_lays_out("<u4", "(3,)", &le(&[9u32, 4, 7], u32::to_le_bytes)),
            ),
            (
                "train_labels.npy",
                as_the_spec_lays_out("<u4", "(3,)", &le(&[0u32, 2, 1], u32::to_le_bytes)),
            ),
        ];
        assert_eq!(names, expected.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>());
        for (name, bytes) in &expected {
            assert_eq!(&std::fs::read(dir.path().join(name)).unwrap(), bytes, "{name}");
        }
        assert_eq!(Splits::<f64>::read(dir.path(), &MATRICES).unwrap(), s);

        write_vector(&dir.path().join(TRAIN_INDICES), &[9u32, 4]).unwrap();
        let e = Splits::<f64>::read(dir.path(), &MATRICES).unwrap_err().to_string();
        assert!(e.contains("the arrays' shapes disagree"), "{e}");
        Array::new(vec![1, 3], vec![3.0f64, 0.0, 1.0])
            .unwrap()
            .write(&dir.path().join("a_test.npy"))
            .unwrap();
        write_vector(&dir.path().join(TRAIN_INDICES), &[9u32, 4, 7]).unwrap();
        assert!(Splits::<f64>::read(dir.path(), &MATRICES).is_err(), "columns disagree");
    }

    #[test]
    fn a_summary_is_pretty_json_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        write_summary(&path, &serde_json::json!({"b": 1, "a": [0.5]})).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\n  \"a\": [\n    0.5\n  ],\n  \"b\": 1\n}"
        );
        assert_eq!(read_summary::<serde_json::Value>(&path).unwrap()["a"][0], 0.5);
        std::fs::write(&path, "{").unwrap();
        assert!(read_summary::<serde_json::Value>(&path)
            .unwrap_err()
            .to_string()
            .contains("parsing"));
    }
}
