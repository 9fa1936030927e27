//! The aggregate's output tables and how they are written: Parquet (uncompressed, single-threaded,
//! so the bytes depend on the data only) and CSV with 4-decimal floats.

use anyhow::{Context, Result};
use polars::prelude::*;
use std::path::Path;

/// The aggregate's tables, each sorted and with its published columns only.
pub struct Tables {
    pub cells: DataFrame,
    pub summary: DataFrame,
    pub deltas: DataFrame,
    pub coverage: DataFrame,
    pub missing: DataFrame,
}

impl Tables {
    /// Write every table as Parquet and CSV (`missing` as CSV only) into `dir`.
    pub fn write(mut self, dir: &Path) -> Result<()> {
        for (name, df) in [
            ("cells", &mut self.cells),
            ("summary", &mut self.summary),
            ("deltas", &mut self.deltas),
            ("coverage", &mut self.coverage),
        ] {
            write_parquet(df, &dir.join(format!("{name}.parquet")))?;
            write_csv(df, &dir.join(format!("{name}.csv")))?;
        }
        write_csv(&mut self.missing, &dir.join("missing.csv"))
    }
}

pub(super) fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    // Uncompressed and single-threaded: the bytes depend on the data only.
    let written = ParquetWriter::new(file)
        .with_compression(ParquetCompression::Uncompressed)
        .set_parallel(false)
        .finish(df);
    Context::with_context(written, || format!("writing {}", path.display()))?;
    Ok(())
}

pub(super) fn write_csv(df: &mut DataFrame, path: &Path) -> Result<()> {
    let mut file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let written = CsvWriter::new(&mut file).with_float_precision(Some(4)).finish(df);
    Context::with_context(written, || format!("writing {}", path.display()))?;
    Ok(())
}
