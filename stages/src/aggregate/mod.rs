//! The `aggregate` stage: every fine-tuning cell's `metrics.json` into one study table, and the
//! statistics the reports draw from it, computed with Polars' lazy API.
//!
//! Outputs (each as `.parquet` and `.csv` with 4-decimal floats; rows in a fixed order):
//! - `cells`: one row per cell × evaluation epoch.
//! - `summary`: per (source, dataset, subset size, blocks) and `statistic`: at each evaluation
//!   epoch (`epoch`; `final` marks the last) and over each cell's best evaluation (`best`, no
//!   epoch): seeds, mean, sample std and the half-width of the 95% Student-t interval of the mean
//!   (null for one seed).
//! - `deltas`: paired differences A − B over seeds (subsets are shared across sources, so the
//!   same seed is the same training subset), at each epoch and between best evaluations,
//!   summarised the same way.
//! - `coverage`: per expected (source, dataset, size, blocks): expected and built seeds, and the
//!   built seeds that fitted their subset (`columns::FITTED`); and
//!   `missing.csv`: every expected cell that was not built.
//!
//! `frames.rs` builds the cell tables and the summary, `stats.rs` the intervals, `deltas.rs` the
//! paired differences, `tables.rs` writes them; `nodes.rs` is the expansion.

use crate::fingerprint::{sources, Code};
pub mod columns;
mod deltas;
mod frames;
pub mod params;
mod stats;
mod tables;

pub use deltas::{comparisons, Comparison};
pub use frames::aggregate;
pub use params::{AggregateParams, SourceSpec};
pub use stats::t975;
pub use tables::Tables;

use crate::kind::StageKind;
use anyhow::{Context, Result};
use pipeline_engine::StageContext;

use crate::finetune::metrics::{CellMetrics, IMAGES_PER_SECOND, TRAIN_SECONDS};

/// The `aggregate` stage. Inputs: one per built fine-tuning cell (any name), each holding
/// `metrics.json`.
pub struct Aggregate;

/// The files this stage's code is made of (its fingerprint; see `fingerprint.rs`).
pub const CODE: Code = Code {
    root: "aggregate/mod.rs",
    parts: &[
        sources![
            "aggregate/mod.rs",
            "aggregate/columns.rs",
            "aggregate/deltas.rs",
            "aggregate/frames.rs",
            "aggregate/params.rs",
            "aggregate/stats.rs",
            "aggregate/tables.rs",
            "finetune/cell.rs",
            "finetune/metrics.rs",
            "subset/params.rs",
            "threat.rs",
        ],
        crate::kind::SEAM,
    ],
};

impl StageKind for Aggregate {
    const KIND: &'static str = "aggregate";
    type Params = AggregateParams;
    const CODE: &'static Code = &CODE;

    fn run(&self, ctx: &StageContext, params: AggregateParams) -> Result<()> {
        let (mut metrics, mut train_seconds, mut images) = (Vec::new(), 0.0, 0.0);
        for (name, dir) in ctx.inputs() {
            let cell = CellMetrics::read(dir).with_context(|| format!("input `{name}`"))?;
            // Throughput comes from the cells' measurements, which the tables never hold: they
            // would make the aggregate's bytes depend on the machine's load. A cell without a
            // timing (its metadata unreadable) is left out of the throughput only.
            let measured = ctx.input_measurements(name).unwrap_or_default();
            if let Some(&seconds) = measured.get(TRAIN_SECONDS) {
                train_seconds += seconds;
                images += (cell.size as usize * cell.epochs) as f64;
            }
            metrics.push(cell);
        }
        if train_seconds > 0.0 {
            ctx.measure("cells_train_seconds", train_seconds);
            ctx.measure(IMAGES_PER_SECOND, images / train_seconds);
            ctx.log(&format!(
                "fine-tuning: {images:.0} training images in {train_seconds:.1} s of training \
                 time ({:.0} images/s)",
                images / train_seconds
            ));
        }
        let tables = aggregate(&params, &metrics)?;
        ctx.log(&format!(
            "{} cells built of {} expected; {} summary rows, {} delta rows",
            metrics.len(),
            params.expected.len(),
            tables.summary.height(),
            tables.deltas.height()
        ));
        tables.write(ctx.out_dir())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finetune::cell::Cell;
    use crate::finetune::metrics::Eval;
    use crate::threat::Constraint;
    use polars::prelude::*;
    use std::path::Path;

    fn cell(
        source: &str,
        dataset: &str,
        size_label: &str,
        blocks: u32,
        seed: u64,
        evals: &[(u32, f64)],
    ) -> CellMetrics {
        CellMetrics {
            cell: Cell {
                source: source.into(),
                dataset: dataset.into(),
                size_label: size_label.into(),
                blocks,
                seed,
            },
            size: size_label.parse().unwrap_or(50_000),
            evals: evals
                .iter()
                .map(|&(epoch, accuracy)| Eval { epoch, accuracy, loss: 1.0 })
                .collect(),
            epochs: 10,
            train_loss: vec![2.0, 1.0],
            train_accuracy: if seed.is_multiple_of(2) { 100.0 } else { 90.0 },
        }
    }

    fn source(name: &str, constraint: Constraint, epsilon: f64) -> SourceSpec {
        SourceSpec { name: name.into(), constraint, epsilon, untrained: false }
    }

    fn paper_sources() -> Vec<SourceSpec> {
        vec![
            source("natural", Constraint::None, 0.0),
            source("l2_eps3", Constraint::L2, 3.0),
            source("linf_eps4", Constraint::Linf, 4.0 / 255.0),
            source("linf_eps8", Constraint::Linf, 8.0 / 255.0),
        ]
    }

    fn expect(sources: &[&str], blocks: &[u32], seeds: &[u64]) -> Vec<Cell> {
        let mut out = Vec::new();
        for s in sources {
            for &b in blocks {
                for &seed in seeds {
                    out.push(Cell {
                        source: s.to_string(),
                        dataset: "cifar10".into(),
                        size_label: "100".into(),
                        blocks: b,
                        seed,
                    });
                }
            }
        }
        out
    }

    fn params(expected: Vec<Cell>) -> AggregateParams {
        AggregateParams {
            sources: paper_sources(),
            datasets: vec!["cifar10".into(), "svhn".into()],
            expected,
        }
    }

    fn f64s(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
        df.column(name).unwrap().f64().unwrap().iter().collect()
    }

    fn u32s(df: &DataFrame, name: &str) -> Vec<Option<u32>> {
        df.column(name).unwrap().u32().unwrap().iter().collect()
    }

    fn strs(df: &DataFrame, name: &str) -> Vec<String> {
        df.column(name)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect()
    }

    fn close(a: Option<f64>, b: f64, tol: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < tol)
    }

    #[test]
    fn t_quantile_matches_tables() {
        assert!((t975(3).unwrap() - 4.302653).abs() < 1e-6);
        assert!((t975(2).unwrap() - 12.706205).abs() < 1e-5);
        assert!((t975(21).unwrap() - 2.085963).abs() < 1e-6);
        assert_eq!(t975(1), None);
    }

    #[test]
    fn summary_matches_hand_computed_mean_std_and_t_interval() {
        let cells = [
            cell("natural", "cifar10", "100", 3, 1, &[(1, 10.0), (21, 70.0)]),
            cell("natural", "cifar10", "100", 3, 2, &[(1, 20.0), (21, 72.0)]),
            cell("natural", "cifar10", "100", 3, 3, &[(1, 30.0), (21, 74.0)]),
        ];
        let t = aggregate(&params(expect(&["natural"], &[3], &[1, 2, 3])), &cells).unwrap();
        assert_eq!(t.cells.height(), 6);
        let s = &t.summary;
        assert_eq!(s.height(), 3);
        // Row 1 is epoch 21 (rows sorted by epoch), the final one; row 2 the best evaluations
        // (here the final ones too).
        assert_eq!(u32s(s, "epoch"), vec![Some(1), Some(21), None]);
        assert_eq!(
            s.column("final").unwrap().bool().unwrap().iter().collect::<Vec<_>>(),
            vec![Some(false), Some(true), Some(false)]
        );
        assert_eq!(strs(s, "statistic"), ["epoch", "epoch", "best"]);
        assert_eq!(f64s(s, "mean")[2], f64s(s, "mean")[1]);
        assert_eq!(u32s(s, "n_seeds"), vec![Some(3); 3]);
        assert_eq!(u32s(s, "expected_seeds"), vec![Some(3); 3]);
        assert!(close(f64s(s, "mean")[1], 72.0, 1e-12));
        assert!(close(f64s(s, "std")[1], 2.0, 1e-12));
        assert!(close(f64s(s, "ci95")[1], 4.302653 * 2.0 / 3f64.sqrt(), 1e-5));
        assert!(close(f64s(s, "ci95")[1], 4.9683, 1e-4));
        // Epoch 1: 10, 20, 30 → mean 20, s = 10.
        assert!(close(f64s(s, "std")[0], 10.0, 1e-12));
    }

    /// Each cell's best evaluation (ties: the earliest epoch), then the mean over seeds; and the
    /// paired difference of two sources' best evaluations, whatever their epochs.
    #[test]
    fn best_evaluations_are_each_cells_highest_accuracy() {
        let cells = [
            cell("natural", "cifar10", "100", 3, 1, &[(1, 50.0), (6, 60.0), (10, 55.0)]),
            cell("natural", "cifar10", "100", 3, 2, &[(1, 40.0), (6, 45.0), (10, 45.0)]),
            cell("l2_eps3", "cifar10", "100", 3, 1, &[(1, 70.0), (6, 65.0), (10, 66.0)]),
            cell("l2_eps3", "cifar10", "100", 3, 2, &[(1, 30.0), (6, 35.0), (10, 52.0)]),
        ];
        let t = aggregate(&params(expect(&["natural", "l2_eps3"], &[3], &[1, 2])), &cells).unwrap();
        let best =
            t.summary.clone().lazy().filter(col("statistic").eq(lit("best"))).collect().unwrap();
        assert_eq!(strs(&best, "source"), ["natural", "l2_eps3"]);
        // natural: 60 (epoch 6) and 45 (epoch 6, not 10); l2: 70 (epoch 1) and 52 (epoch 10).
        assert!(close(f64s(&best, "mean")[0], 52.5, 1e-12));
        assert!(close(f64s(&best, "mean")[1], 61.0, 1e-12));
        assert!(close(f64s(&best, "std")[1], (2.0f64 * 81.0).sqrt(), 1e-12));
        let delta = t
            .deltas
            .clone()
            .lazy()
            .filter(col("statistic").eq(lit("best")).and(col("a_source").eq(lit("l2_eps3"))))
            .collect()
            .unwrap();
        // Pairs by seed: 70 − 60 = 10 and 52 − 45 = 7.
        assert_eq!(delta.height(), 1);
        assert!(close(f64s(&delta, "mean")[0], 8.5, 1e-12));
        assert_eq!(u32s(&delta, "n_pairs"), [Some(2)]);
        assert_eq!(u32s(&delta, "epoch"), [None]);
    }

    #[test]
    fn one_seed_has_no_interval() {
        let cells = [cell("natural", "cifar10", "100", 3, 1, &[(5, 61.5)])];
        let t = aggregate(&params(expect(&["natural"], &[3], &[1])), &cells).unwrap();
        // The epoch-5 row and the best row.
        assert_eq!(u32s(&t.summary, "n_seeds"), vec![Some(1); 2]);
        assert_eq!(f64s(&t.summary, "mean"), vec![Some(61.5); 2]);
        assert_eq!(f64s(&t.summary, "std"), vec![None; 2]);
        assert_eq!(f64s(&t.summary, "ci95"), vec![None; 2]);
    }

    #[test]
    fn missing_cells_are_counted_and_listed() {
        // natural: 2 of 3 seeds built; l2_eps3: none of 3.
        let cells = [
            cell("natural", "cifar10", "100", 3, 1, &[(1, 50.0)]),
            cell("natural", "cifar10", "100", 3, 3, &[(1, 54.0)]),
        ];
        let t =
            aggregate(&params(expect(&["natural", "l2_eps3"], &[3], &[1, 2, 3])), &cells).unwrap();
        let c = &t.coverage;
        assert_eq!(
            c.column("source").unwrap().str().unwrap().iter().collect::<Vec<_>>(),
            vec![Some("natural"), Some("l2_eps3")]
        );
        assert_eq!(u32s(c, "expected_seeds"), vec![Some(3), Some(3)]);
        assert_eq!(u32s(c, "built_seeds"), vec![Some(2), Some(0)]);
        assert_eq!(u32s(&t.summary, "n_seeds"), vec![Some(2); 2]);
        assert_eq!(u32s(&t.summary, "expected_seeds"), vec![Some(3); 2]);
        let m = &t.missing;
        assert_eq!(m.height(), 4);
        let seeds: Vec<_> = m.column("seed").unwrap().u64().unwrap().iter().flatten().collect();
        assert_eq!(seeds, vec![2, 1, 2, 3]);
    }

    #[test]
    fn cells_outside_the_expected_grid_or_twice_are_errors() {
        let p = params(expect(&["natural"], &[3], &[1]));
        let stray = [cell("natural", "cifar10", "100", 3, 2, &[(1, 50.0)])];
        assert!(aggregate(&p, &stray)
            .err()
            .unwrap()
            .to_string()
            .contains("not in the expected grid"));
        let twice = [
            cell("natural", "cifar10", "100", 3, 1, &[(1, 50.0)]),
            cell("natural", "cifar10", "100", 3, 1, &[(1, 51.0)]),
        ];
        assert!(aggregate(&p, &twice).err().unwrap().to_string().contains("twice"));
    }

    #[test]
    fn paired_deltas_match_hand_computation() {
        let nat = [70.0, 72.0, 74.0];
        let l2 = [75.0, 74.0, 80.0];
        let mut cells = Vec::new();
        for (i, seed) in [1u64, 2, 3].into_iter().enumerate() {
            cells.push(cell("natural", "cifar10", "100", 3, seed, &[(1, nat[i])]));
            cells.push(cell("l2_eps3", "cifar10", "100", 3, seed, &[(1, l2[i])]));
            // Blocks 1 of l2: 3 points lower on every seed.
            cells.push(cell("l2_eps3", "cifar10", "100", 1, seed, &[(1, l2[i] - 3.0)]));
        }
        // A natural seed-4 cell with no l2 partner must not enter the pairs.
        cells.push(cell("natural", "cifar10", "100", 3, 4, &[(1, 10.0)]));
        let mut exp = expect(&["natural", "l2_eps3"], &[3], &[1, 2, 3]);
        exp.extend(expect(&["l2_eps3"], &[1], &[1, 2, 3]));
        exp.extend(expect(&["natural"], &[3], &[4]));
        let t = aggregate(&params(exp), &cells).unwrap();
        // One evaluation per cell: the best rows repeat the epoch rows (checked, then left out).
        let of = |statistic: &str| {
            let rows = t.deltas.clone().lazy().filter(col("statistic").eq(lit(statistic)));
            let mut df = rows.collect().unwrap();
            let _ = df.drop_in_place("statistic").unwrap();
            let _ = df.drop_in_place("epoch").unwrap();
            let _ = df.drop_in_place("final").unwrap();
            df
        };
        assert_eq!(of("epoch"), of("best"));
        let d = &of("epoch");
        let labels: Vec<_> =
            d.column("comparison").unwrap().str().unwrap().iter().flatten().collect();
        assert_eq!(labels, vec!["l2_eps3 - natural", "blocks 3 - blocks 1"]);
        // Independent computation: diffs 5, 2, 6.
        let diffs = [5.0, 2.0, 6.0];
        let mean = diffs.iter().sum::<f64>() / 3.0;
        let s = (diffs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        assert_eq!(u32s(d, "n_pairs"), vec![Some(3), Some(3)]);
        assert!(close(f64s(d, "mean")[0], mean, 1e-12));
        assert!(close(f64s(d, "std")[0], s, 1e-12));
        assert!(close(f64s(d, "ci95")[0], 4.302653 * s / 3f64.sqrt(), 1e-5));
        // Blocks 3 − 1: exactly 3 on every seed, so no spread.
        assert!(close(f64s(d, "mean")[1], 3.0, 1e-12));
        assert!(close(f64s(d, "ci95")[1], 0.0, 1e-12));
        assert_eq!(u32s(d, "a_blocks"), vec![Some(3), Some(3)]);
        assert_eq!(u32s(d, "b_blocks"), vec![Some(3), Some(1)]);
    }

    #[test]
    fn comparisons_are_the_figures_pairs() {
        let got: Vec<String> =
            comparisons(&paper_sources()).iter().map(Comparison::label).collect();
        assert_eq!(
            got,
            vec![
                "l2_eps3 - natural",
                "linf_eps4 - natural",
                "linf_eps8 - natural",
                "linf_eps4 - linf_eps8",
                "l2_eps3 - linf_eps4",
                "l2_eps3 - linf_eps8",
                "blocks 3 - blocks 1",
            ]
        );
    }

    /// Runs the stage as the engine would, on inputs given in `order`.
    fn run_stage(
        p: &AggregateParams,
        cells: &[CellMetrics],
        order: &[usize],
        root: &Path,
    ) -> std::path::PathBuf {
        let mut inputs = Vec::new();
        for &i in order {
            let c = &cells[i];
            let dir = root.join(format!("in{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let evals: Vec<_> = c.evals.iter().map(|e| serde_json::json!({"epoch": e.epoch, "accuracy": e.accuracy, "loss": e.loss})).collect();
            let json = serde_json::json!({
                "source": c.cell.source, "dataset": c.cell.dataset, "size": c.size,
                "size_label": c.cell.size_label, "blocks": c.cell.blocks, "seed": c.cell.seed, "train_images": c.size, "epochs": 10, "evals": evals,
                "train_loss": [2.0, 1.0], "train_accuracy": c.train_accuracy,
            });
            std::fs::write(dir.join("metrics.json"), json.to_string()).unwrap();
            inputs.push((format!("finetune/{i}"), dir));
        }
        let out = root.join(format!("out{}", order[0]));
        std::fs::create_dir_all(&out).unwrap();
        let ctx = StageContext::new(
            "aggregate".into(),
            serde_json::to_value(p).unwrap(),
            inputs,
            out.clone(),
            1,
            Box::new(|_| {}),
            Box::new(|_, _| {}),
        );
        Aggregate.run(&ctx, ctx.params_as().unwrap()).unwrap();
        out
    }

    #[test]
    fn reruns_give_identical_bytes_whatever_the_input_order() {
        let mut cells = Vec::new();
        let mut exp = Vec::new();
        for s in ["natural", "l2_eps3", "linf_eps4", "linf_eps8"] {
            for d in ["svhn", "cifar10"] {
                for seed in 1..=3u64 {
                    let acc = 50.0 + seed as f64 * 1.37 + s.len() as f64 + d.len() as f64 / 3.0;
                    cells.push(cell(s, d, "200", 3, seed, &[(1, acc - 20.0), (11, acc)]));
                    exp.push(Cell {
                        source: s.into(),
                        dataset: d.into(),
                        size_label: "200".into(),
                        blocks: 3,
                        seed,
                    });
                }
            }
        }
        let p = AggregateParams {
            sources: paper_sources(),
            datasets: vec!["cifar10".into(), "svhn".into()],
            expected: exp,
        };
        let root = tempfile::tempdir().unwrap();
        let forward: Vec<usize> = (0..cells.len()).collect();
        let backward: Vec<usize> = forward.iter().rev().copied().collect();
        let a = run_stage(&p, &cells, &forward, root.path());
        let b = run_stage(&p, &cells, &backward, root.path());
        let names = ["cells", "summary", "deltas", "coverage"]
            .iter()
            .flat_map(|n| [format!("{n}.parquet"), format!("{n}.csv")])
            .chain(["missing.csv".to_string()]);
        for name in names {
            let (x, y) =
                (std::fs::read(a.join(&name)).unwrap(), std::fs::read(b.join(&name)).unwrap());
            assert!(!x.is_empty(), "{name} is empty");
            assert_eq!(x, y, "{name} differs between runs");
        }
        let csv = std::fs::read_to_string(a.join("summary.csv")).unwrap();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next().unwrap(),
            "source,dataset,size,size_label,blocks,statistic,epoch,final,n_seeds,expected_seeds,mean,std,ci95"
        );
        // Sources in parameter order, cifar10 before svhn, 4-decimal floats.
        assert!(
            lines.next().unwrap().starts_with("natural,cifar10,200,200,3,epoch,1,false,3,3,"),
            "{csv}"
        );
        assert!(csv.contains(",1.3700,"), "{csv}");
    }
}
