//! The paper's published numbers, carried as data (`stages/paper/*.csv`, copied from the paper's
//! Tables 3 and 5) so that paper-profile reports can print them beside ours.

use anyhow::{Context, Result};
use polars::prelude::{CsvReadOptions, DataFrame, SerReader};
use std::io::Cursor;

const TABLE5: &str = include_str!("../../paper/table5.csv");
const SOURCES: &str = include_str!("../../paper/sources.csv");

fn read(name: &str, text: &'static str) -> Result<DataFrame> {
    let read = CsvReadOptions::default()
        .with_has_header(true)
        .into_reader_with_file_handle(Cursor::new(text))
        .finish();
    Context::with_context(read, || format!("reading the paper's {name}"))
}

/// The paper's Table 5 (mean test accuracy after fine-tuning 3 blocks).
pub struct Table5 {
    df: DataFrame,
}

impl Table5 {
    pub fn load() -> Result<Self> {
        Ok(Table5 { df: read("table5.csv", TABLE5)? })
    }

    /// The paper's value for `dataset` (its Table 5 name), subset `size_label` and `source`
    /// (its column name). `all` is the paper's largest subset of that dataset, its full training set.
    pub fn value(&self, dataset: &str, size_label: &str, source: &str) -> Result<Option<f64>> {
        let names = self.df.column("dataset")?.str()?;
        let sizes = self.df.column("train_images")?.i64()?;
        let Ok(values) = self.df.column(source) else {
            return Ok(None);
        };
        let values = values.f64()?;
        let rows = (0..self.df.height()).filter(|&i| names.get(i) == Some(dataset));
        let row = if size_label == "all" {
            rows.max_by_key(|&i| sizes.get(i))
        } else {
            let size: i64 = match size_label.parse() {
                Ok(n) => n,
                Err(_) => return Ok(None),
            };
            rows.into_iter().find(|&i| sizes.get(i) == Some(size))
        };
        Ok(row.and_then(|i| values.get(i)))
    }
}

/// The paper's ImageNet top-1 accuracy of a source model (its Table 3), by its name there.
pub fn imagenet_top1(source: &str) -> Result<Option<f64>> {
    let df = read("sources.csv", SOURCES)?;
    let names = df.column("name")?.str()?;
    let top1 = df.column("imagenet_top1")?.f64()?;
    Ok((0..df.height()).find(|&i| names.get(i) == Some(source)).and_then(|i| top1.get(i)))
}

/// The radius of a paper source, as its data spell it (`3`, `4/255`; `0` for natural).
pub fn epsilon(source: &str) -> Result<Option<String>> {
    let df = read("sources.csv", SOURCES)?;
    let (names, eps) = (df.column("name")?.str()?, df.column("epsilon")?.str()?);
    Ok((0..df.height())
        .find(|&i| names.get(i) == Some(source))
        .and_then(|i| eps.get(i).map(str::to_string)))
}

/// The paper's adversarially trained sources: each one's name there and its constraint as
/// `pipeline.yaml` spells it (`l2`, `linf`), in its tables' order.
pub fn robust_sources() -> Result<Vec<(String, String)>> {
    let df = read("sources.csv", SOURCES)?;
    let (names, constraints) = (df.column("name")?.str()?, df.column("constraint")?.str()?);
    Ok((0..df.height())
        .filter_map(|i| Some((names.get(i)?.to_string(), constraints.get(i)?.to_string())))
        .filter(|(_, c)| c != "none")
        .collect())
}
