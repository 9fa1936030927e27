//! The checkpoint loader on real-format fixtures: a MadryLab-layout zip checkpoint and a bare
//! torchvision one of a width-2 ResNet-50 layout with logits of fixed inputs computed by an
//! independent numpy forward pass (`fixtures/make_checkpoint.py`), and the same weights saved by
//! PyTorch itself in the legacy (non-zip) format, MadryLab's with dill, with PyTorch's own
//! logits (`fixtures/make_legacy_checkpoint.py`).

use candle_core::{Device, Tensor};
use pipeline_stages::checkpoint::format::CheckpointFormat;
use pipeline_stages::checkpoint::load;
use pipeline_stages::nn::{Network, Normalizer, Stem};
use std::path::PathBuf;

/// Largest allowed |logit − reference| (logits are of order 1–5; float32 here, float64 there).
const TOLERANCE: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The error of a load that must fail, with its causes.
fn error<T>(r: anyhow::Result<T>) -> String {
    match r {
        Ok(_) => panic!("the load should have failed"),
        Err(e) => format!("{e:#}"),
    }
}

/// The reference input and logits.
fn reference() -> (Tensor, Vec<Vec<f32>>) {
    let t = candle_core::safetensors::load(fixture("reference.safetensors"), &Device::Cpu).unwrap();
    (t["input"].clone(), t["logits"].to_vec2::<f32>().unwrap())
}

/// The largest absolute difference between `net`'s evaluation logits and the reference.
fn max_error(net: &Network) -> f32 {
    let (input, want) = reference();
    let got = net.forward_eval(&input).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!((got.len(), got[0].len()), (2, 10));
    got.iter().flatten().zip(want.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

#[test]
fn a_madrylab_checkpoint_loads_with_every_key_accounted_for_and_matches_the_numpy_logits() {
    let (net, report) = load(
        &fixture("madrylab_w2.ckpt"),
        CheckpointFormat::Madrylab,
        2,
        Stem::ImageNet,
        &Device::Cpu,
    )
    .unwrap();
    let tensors = net.named_vars().count();
    assert_eq!(report.copied, tensors);
    assert_eq!(net.config().classes, 10, "classes from fc.weight's rows");
    assert_eq!(report.normalizer_keys, 2);
    assert_eq!(report.normalizer, Normalizer::IMAGENET);
    // Every BatchNorm has a counter: 1 in the stem, 3 per block, 1 per downsample (4 of them).
    let batch_norms = 1 + 16 * 3 + 4;
    assert_eq!(report.counters, batch_norms);
    assert_eq!(
        report.attacker_duplicates,
        tensors + batch_norms,
        "the attacker repeats every model key"
    );
    assert_eq!(
        report.unused,
        vec!["module.attacker.normalize.new_mean", "module.attacker.normalize.new_std"]
    );
    let summary = report.summary();
    assert!(
        summary.contains("module.attacker.normalize.new_std") && summary.contains("2 unused"),
        "{summary}"
    );

    let err = max_error(&net);
    println!("madrylab: max |logit error| = {err:e}");
    assert!(err < TOLERANCE, "logits differ from the numpy reference by {err}");
}

#[test]
fn torchvision_pth_and_safetensors_load_with_imagenet_normalisation() {
    let (net, report) = load(
        &fixture("torchvision_w2.pth"),
        CheckpointFormat::Torchvision,
        2,
        Stem::ImageNet,
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(report.normalizer, Normalizer::IMAGENET);
    assert_eq!((report.attacker_duplicates, report.counters, report.unused.len()), (0, 53, 0));
    let err = max_error(&net);
    println!("torchvision .pth: max |logit error| = {err:e}");
    assert!(err < TOLERANCE, "{err}");

    // The same weights as torchvision-named safetensors (what Network::save writes).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    net.save(&path).unwrap();
    let (again, report) =
        load(&path, CheckpointFormat::Torchvision, 2, Stem::ImageNet, &Device::Cpu).unwrap();
    assert_eq!((report.copied, report.unused.len()), (net.named_vars().count(), 0));
    assert!(max_error(&again) < TOLERANCE);
}

#[test]
fn a_missing_or_misshapen_tensor_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (net, _) = load(
        &fixture("torchvision_w2.pth"),
        CheckpointFormat::Torchvision,
        2,
        Stem::ImageNet,
        &Device::Cpu,
    )
    .unwrap();
    let mut tensors: std::collections::HashMap<String, Tensor> =
        net.named_vars().map(|(spec, var)| (spec.name.clone(), var.as_detached_tensor())).collect();
    tensors.remove("layer4.2.bn3.running_var");
    let path = dir.path().join("partial.safetensors");
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let err = error(load(&path, CheckpointFormat::Torchvision, 2, Stem::ImageNet, &Device::Cpu));
    assert!(
        err.contains("`layer4.2.bn3.running_var` is missing") && err.contains("1 of the network's"),
        "{err}"
    );

    // The profile's network wider than the checkpoint: shapes named.
    let err = error(load(
        &fixture("madrylab_w2.ckpt"),
        CheckpointFormat::Madrylab,
        64,
        Stem::ImageNet,
        &Device::Cpu,
    ));
    assert!(
        err.contains(
            "`module.model.conv1.weight` has shape [2, 3, 7, 7], the network needs [64, 3, 7, 7]"
        ),
        "{err}"
    );

    // A torchvision file read as MadryLab: no `model` state dict.
    let err = error(load(
        &fixture("torchvision_w2.pth"),
        CheckpointFormat::Madrylab,
        2,
        Stem::ImageNet,
        &Device::Cpu,
    ));
    assert!(err.contains("state dict `model`"), "{err}");
}

/// Every tensor of a loaded network, by name, as bits.
fn bits(net: &Network) -> Vec<(String, Vec<u32>)> {
    net.named_vars()
        .map(|(spec, var)| {
            let t = var.as_detached_tensor().flatten_all().unwrap();
            (spec.name.clone(), t.to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect())
        })
        .collect()
}

/// The largest |logit − PyTorch's| on the legacy fixtures' own input.
fn max_error_against_pytorch(net: &Network) -> f32 {
    let t =
        candle_core::safetensors::load(fixture("torch_logits.safetensors"), &Device::Cpu).unwrap();
    let want = t["logits"].to_vec2::<f32>().unwrap();
    let got = net.forward_eval(&t["input"]).unwrap().to_vec2::<f32>().unwrap();
    got.iter().flatten().zip(want.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

#[test]
fn legacy_checkpoints_written_by_pytorch_load_bit_for_bit_as_the_zip_ones() {
    for (legacy, zip, format) in [
        ("madrylab_w2_legacy.ckpt", "madrylab_w2.ckpt", CheckpointFormat::Madrylab),
        ("torchvision_w2_legacy.pth", "torchvision_w2.pth", CheckpointFormat::Torchvision),
    ] {
        let (old, old_report) =
            load(&fixture(legacy), format, 2, Stem::ImageNet, &Device::Cpu).unwrap();
        let (new, new_report) =
            load(&fixture(zip), format, 2, Stem::ImageNet, &Device::Cpu).unwrap();
        // The same keys accounted for in the same way (the MadryLab one reads past an optimizer,
        // a dill-pickled lambda and argparse Namespaces).
        assert_eq!(old_report, new_report, "{legacy}");
        // Every tensor bit for bit, the views (fc.weight non-contiguous, fc.bias at an offset,
        // bn1's statistics sharing one storage) included.
        assert_eq!(bits(&old), bits(&new), "{legacy}");
        let err = max_error_against_pytorch(&old);
        println!("{legacy}: max |logit − PyTorch| = {err:e}");
        assert!(err < TOLERANCE, "{legacy}: logits differ from PyTorch's by {err}");
    }
}

#[test]
fn a_damaged_legacy_checkpoint_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(fixture("madrylab_w2_legacy.ckpt")).unwrap();
    let path = dir.path().join("damaged.ckpt");
    let load_error = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        error(load(&path, CheckpointFormat::Madrylab, 2, Stem::ImageNet, &Device::Cpu))
    };
    // Cut inside the object pickle, and inside the storages' data.
    let err = load_error(&whole[..whole.len() / 10]);
    assert!(err.contains("damaged.ckpt") && err.contains("truncated"), "{err}");
    let err = load_error(&whole[..whole.len() - 100]);
    assert!(err.contains("damaged.ckpt") && err.contains("truncated"), "{err}");
    // An opcode no pickle has, where the object pickle starts (after magic, version and system
    // information: the third STOP).
    let object = whole.iter().enumerate().filter(|(_, &b)| b == b'.').nth(2).unwrap().0 + 1;
    let mut bad = whole.clone();
    bad[object + 2] = 0xff;
    let err = load_error(&bad);
    assert!(err.contains("opcode 0xff") && err.contains("saved object"), "{err}");
}
