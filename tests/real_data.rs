//! A study on real files, end to end through the `pipeline` binary: the target is the real
//! Fashion-MNIST as it is distributed (Debian's `dataset-fashion-mnist` package: the four
//! original `*-idx?-ubyte.gz` files, read as they are), and the source is a local checkpoint in
//! the legacy `torch.save` format that PyTorch itself wrote (`madrylab_w2_legacy.ckpt`, a
//! MadryLab-layout network of width 2 with random weights, saved with dill).
//!
//! The files are looked for in `FASHION_MNIST_DIR`, or where the Debian package puts them;
//! `.ci/run` installs the package.

mod common;

use common::{key_of, pipeline, text};
use pipeline_stages::data::Dataset;
use pipeline_stages::finetune::metrics::CellMetrics;
use std::path::{Path, PathBuf};

const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

fn fashion_mnist() -> PathBuf {
    let dir =
        std::env::var_os("FASHION_MNIST_DIR").map_or(PathBuf::from(DEBIAN_DIR), PathBuf::from);
    assert!(
        dir.join("train-images-idx3-ubyte.gz").is_file(),
        "the real Fashion-MNIST is not in {}: install Debian's package (`apt-get install \
         dataset-fashion-mnist`, as .ci/run does) or set FASHION_MNIST_DIR to a folder holding \
         its four .gz files",
        dir.display()
    );
    dir
}

/// The study: one local source, one real target; the cell built trains the last 9 blocks of the
/// width-2 network at 32×32 (the ImageNet stem leaves 8×8 to layer1).
fn study(data: &Path) -> String {
    let file = |name: &str| data.join(name).display().to_string();
    format!(
        "\
default_profile: real
profiles:
  real:
    description: The real Fashion-MNIST from a local legacy checkpoint.
    network: {{ width: 2, stem: imagenet, resolution: 32 }}
    sources:
      - {{ name: legacy, label: Legacy checkpoint, constraint: none, origin: local, local: {{ path: models/source.ckpt, format: madrylab }} }}
    datasets:
      - name: fmnist
        label: Fashion-MNIST
        local:
          format: idx
          train: [{}, {}]
          test: [{}, {}]
          classes: 10
    finetune:
      lr: 0.05
      momentum: 0.9
      weight_decay: 5.0e-4
      batch: 64
      eval_batch: 1000
      fc_init: pytorch_default
      augment: {{ pad: 2, flip: false, jitter: 0.0, rotation: 0.0 }}
    grid:
      sources: [legacy]
      datasets: [fmnist]
      blocks: [3, 9]
      schedule:
        - {{ size: 4000, epochs: 12, seeds: 1, eval_every: 4, lr_decay: [8] }}
",
        file("train-images-idx3-ubyte.gz"),
        file("train-labels-idx1-ubyte.gz"),
        file("t10k-images-idx3-ubyte.gz"),
        file("t10k-labels-idx1-ubyte.gz"),
    )
}

fn artifact(project: &Path, key: &str) -> PathBuf {
    project.join("artifacts/objects").join(key)
}

#[test]
fn a_cell_fine_tuned_from_a_legacy_checkpoint_on_the_real_fashion_mnist_ends_well_above_chance() {
    let data = fashion_mnist();
    let p = tempfile::tempdir().unwrap();
    std::fs::write(p.path().join("pipeline.yaml"), study(&data)).unwrap();
    std::fs::create_dir(p.path().join("models")).unwrap();
    let checkpoint = p.path().join("models/source.ckpt");
    std::fs::copy(common::repo_file("stages/tests/fixtures/madrylab_w2_legacy.ckpt"), &checkpoint)
        .unwrap();

    let cell = "finetune/legacy/fmnist/n4000/b9/s20000000";
    let out = pipeline(p.path(), &["--profile", "real", "run", "--json", cell]);
    assert!(out.status.success(), "{}", text(&out));

    // prepare read the .gz files as distributed: 60,000 + 10,000 grey 28×28 images, ten
    // balanced classes.
    let prepared = artifact(p.path(), &key_of(&out, "prepare/fmnist"));
    for (split, n) in [("train", 60_000), ("test", 10_000)] {
        let d = Dataset::load(&prepared.join(split)).unwrap();
        assert_eq!((d.len(), d.channels, d.height, d.width, d.classes), (n, 1, 28, 28, 10));
        for class in 0..10 {
            let count = d.labels.iter().filter(|&&l| l == class).count();
            assert_eq!(count, n / 10, "{split}: class {class}");
        }
    }

    let metrics = CellMetrics::read(&artifact(p.path(), &key_of(&out, cell))).unwrap();
    let last = metrics.evals.last().unwrap().accuracy;
    println!(
        "{cell}: test accuracies {:?}",
        metrics.evals.iter().map(|e| e.accuracy).collect::<Vec<_>>()
    );
    // Measured: 55.7% at the last evaluation (from random weights, 4,000 images, 12 epochs).
    assert!(last > 35.0, "test accuracy {last}% on the real Fashion-MNIST (chance 10%)");

    // The local source's content is part of the keys: an edited file makes its node and every
    // cell built from it stale.
    let mut bytes = std::fs::read(&checkpoint).unwrap();
    bytes.push(0);
    std::fs::write(&checkpoint, bytes).unwrap();
    let out = pipeline(p.path(), &["--profile", "real", "status", cell]);
    let status = text(&out);
    assert_eq!(out.status.code(), Some(1), "{status}");
    assert!(
        status.contains("fetch/source/legacy") && status.contains("parameter blake3"),
        "{status}"
    );
}
