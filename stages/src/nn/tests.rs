//! Tests of the network, freezing, attacks and training steps against independent computations.

use std::collections::HashSet;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::loss::cross_entropy;
use candle_nn::VarBuilder;

use super::resnet::{tensor_specs, Part, Role};
use super::*;

fn tiny_config(stem: Stem, classes: usize) -> NetConfig {
    NetConfig { width: 2, stem, classes, normalizer: Some(Normalizer::IMAGENET) }
}

fn images(shape: (usize, usize, usize, usize), seed: u64, dtype: DType) -> Tensor {
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    let v = rng::uniform(&mut rng::rng(seed), n, 0.0, 1.0);
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap()
}

fn labels(n: usize, classes: u32) -> Tensor {
    Tensor::from_vec(
        (0..n as u32).map(|i| (i * 7 + 3) % classes).collect::<Vec<_>>(),
        n,
        &Device::Cpu,
    )
    .unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all().unwrap().to_dtype(DType::F64).unwrap().to_vec1().unwrap()
}

fn snapshot(net: &Network) -> Vec<(String, Role, Part, Vec<f64>)> {
    net.named_vars().map(|(s, v)| (s.name.clone(), s.role, s.part, values(v.as_tensor()))).collect()
}

fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

/// torchvision's resnet50().state_dict() keys, written out from its module tree.
fn torchvision_resnet50_keys() -> Vec<String> {
    let bn = |n: &str| {
        ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
            .map(|f| format!("{n}.{f}"))
    };
    let mut keys = vec!["conv1.weight".to_string()];
    keys.extend(bn("bn1"));
    for (layer, blocks) in [(1, 3), (2, 4), (3, 6), (4, 3)] {
        for b in 0..blocks {
            let n = format!("layer{layer}.{b}");
            for i in 1..=3 {
                keys.push(format!("{n}.conv{i}.weight"));
                keys.extend(bn(&format!("{n}.bn{i}")));
            }
            if b == 0 {
                keys.push(format!("{n}.downsample.0.weight"));
                keys.extend(bn(&format!("{n}.downsample.1")));
            }
        }
    }
    keys.extend(["fc.weight".to_string(), "fc.bias".to_string()]);
    keys
}

#[test]
fn resnet50_names_match_torchvision_state_dict() {
    let specs = tensor_specs(&NetConfig::resnet50(1000));
    let want = torchvision_resnet50_keys();
    assert_eq!(want.len(), 320, "torchvision's ResNet-50 state dict has 320 tensors");
    let counters: Vec<_> = want.iter().filter(|k| k.ends_with("num_batches_tracked")).collect();
    assert_eq!(counters.len(), 53, "53 BatchNorm layers");
    let held: Vec<&String> = want.iter().filter(|k| !k.ends_with("num_batches_tracked")).collect();
    let names: Vec<&String> = specs.iter().map(|s| &s.name).collect();
    assert_eq!(names, held, "same names in the same order");
    let params: Vec<_> = specs.iter().filter(|s| s.role == Role::Parameter).collect();
    assert_eq!(params.len(), 161);
    let elements: usize = params.iter().map(|s| s.shape.iter().product::<usize>()).sum();
    assert_eq!(elements, 25_557_032, "ResNet-50's published parameter count");
    let shape = |n: &str| specs.iter().find(|s| s.name == n).unwrap().shape.clone();
    assert_eq!(shape("conv1.weight"), [64, 3, 7, 7]);
    assert_eq!(shape("layer1.0.downsample.0.weight"), [256, 64, 1, 1]);
    assert_eq!(shape("layer2.0.conv2.weight"), [128, 128, 3, 3]);
    assert_eq!(shape("layer4.2.conv3.weight"), [2048, 512, 1, 1]);
    assert_eq!(shape("layer4.2.bn3.running_var"), [2048]);
    assert_eq!(shape("fc.weight"), [1000, 2048]);
}

#[test]
fn full_width_resnet50_runs_with_imagenet_stem() {
    let net = Network::new(NetConfig::resnet50(5), 1, DType::F32, &Device::Cpu).unwrap();
    let logits = net.forward_eval(&images((2, 3, 64, 64), 2, DType::F32)).unwrap();
    assert_eq!(logits.dims(), &[2, 5]);
    assert!(values(&logits).iter().all(|v| v.is_finite()));
}

/// Central finite differences of the training-mode loss against autograd for a sample of
/// parameters across the network.
fn check_parameter_gradients(stem: Stem, input: (usize, usize, usize, usize)) {
    let net = Network::new(tiny_config(stem, 3), 11, DType::F64, &Device::Cpu).unwrap();
    let x = images(input, 12, DType::F64);
    let y = labels(input.0, 3);
    let regime = Regime::full();
    let loss = || scalar(&cross_entropy(&regime.forward(&net, &x).unwrap(), &y).unwrap());
    let grads = cross_entropy(&regime.forward(&net, &x).unwrap(), &y).unwrap().backward().unwrap();
    let names = [
        "conv1.weight",
        "bn1.weight",
        "layer1.0.conv2.weight",
        "layer1.0.downsample.0.weight",
        "layer2.1.bn2.bias",
        "layer3.0.conv1.weight",
        "layer3.5.bn3.weight",
        "layer4.2.conv3.weight",
        "layer4.0.downsample.1.bias",
        "fc.weight",
        "fc.bias",
    ];
    // Tiny-width BatchNorm over few values makes the loss strongly curved (the central
    // difference error shrinks as h², measured): a small step keeps it well under tolerance.
    let h = 1e-7;
    for name in names {
        let (_, var) = net.named_vars().find(|(s, _)| s.name == name).unwrap();
        let g = values(grads.get(var.as_tensor()).unwrap());
        let base = values(var.as_tensor());
        for i in [0, base.len() / 2, base.len() - 1] {
            let at = |delta: f64| {
                let mut v = base.clone();
                v[i] += delta;
                var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap()).unwrap();
                loss()
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            at(0.0);
            assert!(
                (fd - g[i]).abs() <= 1e-6 + 1e-4 * g[i].abs(),
                "{stem:?} {name}[{i}]: finite difference {fd:e}, autograd {:e}",
                g[i]
            );
        }
    }
}

#[test]
fn parameter_gradients_match_finite_differences_small_stem() {
    check_parameter_gradients(Stem::Small, (4, 3, 8, 8));
}

#[test]
fn parameter_gradients_match_finite_differences_strided_stem() {
    check_parameter_gradients(Stem::Strided, (4, 3, 16, 16));
}

#[test]
fn parameter_gradients_match_finite_differences_imagenet_stem() {
    check_parameter_gradients(Stem::ImageNet, (4, 3, 32, 32));
}

/// The gradient PGD uses: evaluation mode, with respect to the input pixels.
#[test]
fn input_gradient_in_eval_mode_matches_finite_differences() {
    let net = Network::new(tiny_config(Stem::ImageNet, 4), 21, DType::F64, &Device::Cpu).unwrap();
    let x = images((2, 3, 16, 16), 22, DType::F64);
    let y = labels(2, 4);
    let xv = Var::from_tensor(&x).unwrap();
    let loss = |t: &Tensor| cross_entropy(&net.forward_eval(t).unwrap(), &y).unwrap();
    let g = values(loss(xv.as_tensor()).backward().unwrap().get(xv.as_tensor()).unwrap());
    let base = values(&x);
    let h = 1e-6;
    for i in (0..base.len()).step_by(97) {
        let at = |delta: f64| {
            let mut v = base.clone();
            v[i] += delta;
            scalar(&loss(&Tensor::from_vec(v, x.shape(), &Device::Cpu).unwrap()))
        };
        let fd = (at(h) - at(-h)) / (2.0 * h);
        assert!((fd - g[i]).abs() <= 1e-7 + 1e-4 * g[i].abs(), "pixel {i}: {fd:e} vs {:e}", g[i]);
    }
}

#[test]
fn trainable_vars_are_fc_plus_the_last_k_blocks() {
    let net = Network::new(tiny_config(Stem::Small, 3), 1, DType::F32, &Device::Cpu).unwrap();
    let names = |regime: Regime| -> HashSet<String> {
        let ids: HashSet<_> =
            regime.trainable_vars(&net).iter().map(|v| v.as_tensor().id()).collect();
        net.named_vars()
            .filter(|(_, v)| ids.contains(&v.as_tensor().id()))
            .map(|(s, _)| s.name.clone())
            .collect()
    };
    let under = |prefixes: &[&str]| -> HashSet<String> {
        net.named_vars()
            .filter(|(s, _)| {
                s.role == Role::Parameter && prefixes.iter().any(|p| s.name.starts_with(p))
            })
            .map(|(s, _)| s.name.clone())
            .collect()
    };
    let ft = |k| Regime::fine_tune(k, FrozenBn::Train).unwrap();
    assert_eq!(names(ft(0)), under(&["fc."]));
    assert_eq!(names(ft(1)), under(&["fc.", "layer4.2."]));
    assert_eq!(names(ft(3)), under(&["fc.", "layer4."]));
    assert_eq!(names(ft(9)), under(&["fc.", "layer4.", "layer3."]));
    assert_eq!(names(Regime::full()).len(), 161);
    // Counts by hand: a block has 3 convs + 3 BatchNorms (weight, bias) = 9 parameters, a first
    // block 3 more for its downsample; fc has 2.
    assert_eq!(names(ft(1)).len(), 2 + 9);
    assert_eq!(names(ft(3)).len(), 2 + 12 + 2 * 9);
    assert_eq!(names(ft(9)).len(), 2 + (12 + 2 * 9) + (12 + 5 * 9));
    assert!(names(ft(9)).iter().all(|n| !n.contains("running")));
    assert!(Regime::fine_tune(17, FrozenBn::Train).is_err());
}

/// Fine-tune 3 blocks for a few steps and compare every tensor before and after.
fn fine_tune_changes(frozen_bn: FrozenBn) {
    let mut net = Network::new(tiny_config(Stem::Small, 10), 31, DType::F64, &Device::Cpu).unwrap();
    net.reset_fc(3, FcInit::Normal1, 32).unwrap();
    let regime = Regime::fine_tune(3, frozen_bn).unwrap();
    let before = snapshot(&net);
    let mut opt = Sgd::new(
        regime.trainable_vars(&net),
        SgdConfig { lr: 0.1, momentum: 0.9, weight_decay: 5e-4 },
    );
    for step in 0..3 {
        let loss = train_step(
            &net,
            &mut opt,
            &regime,
            &images((4, 3, 8, 8), 40 + step, DType::F32),
            &labels(4, 3),
        );
        assert!(loss.unwrap().is_finite());
    }
    let after = snapshot(&net);
    for ((name, role, part, old), (_, _, _, new)) in before.iter().zip(&after) {
        let trainable_part = matches!(part, Part::Fc | Part::Block(13..=15));
        let should_change = match role {
            Role::Parameter => trainable_part,
            Role::RunningStat => trainable_part || frozen_bn == FrozenBn::Train,
        };
        if should_change {
            assert_ne!(old, new, "{name} should have changed ({frozen_bn:?})");
        } else {
            assert_eq!(old, new, "{name} should be bit-identical ({frozen_bn:?})");
        }
    }
}

#[test]
fn fine_tuning_3_blocks_with_frozen_bn_train_updates_frozen_running_stats() {
    fine_tune_changes(FrozenBn::Train);
}

#[test]
fn fine_tuning_3_blocks_with_frozen_bn_eval_keeps_frozen_running_stats() {
    fine_tune_changes(FrozenBn::Eval);
}

#[test]
fn reset_fc_draws_standard_normal_weights_and_zero_bias() {
    let mut net = Network::new(
        NetConfig { width: 4, ..tiny_config(Stem::Small, 7) },
        1,
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    net.reset_fc(10, FcInit::Normal1, 5).unwrap();
    assert_eq!(net.config().classes, 10);
    let get = |net: &Network, n: &str| {
        values(net.named_vars().find(|(s, _)| s.name == n).unwrap().1.as_tensor())
    };
    let w = get(&net, "fc.weight");
    assert_eq!(w.len(), 10 * 128);
    let mean = w.iter().sum::<f64>() / w.len() as f64;
    let std = (w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / w.len() as f64).sqrt();
    assert!(mean.abs() < 0.1 && (std - 1.0).abs() < 0.06, "mean {mean}, std {std}");
    assert!(get(&net, "fc.bias").iter().all(|&b| b == 0.0));
    assert_eq!(net.forward_eval(&images((2, 3, 8, 8), 1, DType::F32)).unwrap().dims(), &[2, 10]);
    let mut again = Network::new(
        NetConfig { width: 4, ..tiny_config(Stem::Small, 7) },
        1,
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    again.reset_fc(10, FcInit::Normal1, 5).unwrap();
    assert_eq!(get(&again, "fc.weight"), w, "same seed, same classifier");
    again.reset_fc(10, FcInit::PytorchDefault, 6).unwrap();
    let bound = 1.0 / 128f64.sqrt();
    assert!(get(&again, "fc.weight").iter().all(|v| v.abs() <= bound));
    assert!(get(&again, "fc.bias").iter().any(|&b| b != 0.0));
}

/// A network whose running statistics have seen data, so evaluation mode is meaningful.
fn settled_network() -> Network {
    let net = Network::new(
        NetConfig { width: 4, ..tiny_config(Stem::Small, 10) },
        51,
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    for i in 0..20 {
        Regime::full().forward(&net, &images((16, 3, 8, 8), 100 + i, DType::F32)).unwrap();
    }
    net
}

#[test]
fn pgd_stays_in_the_ball_and_beats_random_noise() {
    let net = settled_network();
    let x = images((16, 3, 8, 8), 52, DType::F32);
    let y = labels(16, 10);
    let mean_loss = |t: &Tensor| scalar(&cross_entropy(&net.forward_eval(t).unwrap(), &y).unwrap());
    let clean = mean_loss(&x);
    let stats_before: Vec<_> =
        snapshot(&net).into_iter().filter(|(_, r, _, _)| *r == Role::RunningStat).collect();
    for (constraint, eps) in [(Norm::L2, 0.5), (Norm::Linf, 8.0 / 255.0)] {
        for random_start in [false, true] {
            let pgd = Pgd::new(constraint, eps, 10, DEFAULT_STEP_FACTOR, random_start).unwrap();
            let adv = pgd.attack(&net, &x, &y, &mut rng::rng(53)).unwrap();
            let delta = (&adv - &x).unwrap();
            assert!(values(&adv).iter().all(|&v| (0.0..=1.0).contains(&v)), "pixels in [0, 1]");
            let (noise, size) = match constraint {
                Norm::L2 => {
                    let norms = values(&pgd::per_example_l2(&delta).unwrap());
                    assert!(norms.iter().all(|&n| n <= eps + 1e-5), "{norms:?}");
                    let g = Tensor::from_vec(
                        rng::normal(&mut rng::rng(54), x.elem_count(), 1.0),
                        x.shape(),
                        &Device::Cpu,
                    )
                    .unwrap()
                    .to_dtype(DType::F32)
                    .unwrap();
                    let g = g.broadcast_div(&pgd::per_example_l2(&g).unwrap()).unwrap();
                    ((g * eps).unwrap(), norms.iter().sum::<f64>() / 16.0)
                }
                Norm::Linf => {
                    let max = values(&delta).iter().fold(0f64, |m, v| m.max(v.abs()));
                    assert!(max <= eps + 1e-5, "{max}");
                    let signs = rng::uniform(&mut rng::rng(54), x.elem_count(), -1.0, 1.0);
                    let signs = Tensor::from_vec(signs, x.shape(), &Device::Cpu)
                        .unwrap()
                        .to_dtype(DType::F32)
                        .unwrap();
                    ((signs.sign().unwrap() * eps).unwrap(), max)
                }
            };
            assert!(size > 0.5 * eps, "{constraint:?}: the attack moved ({size})");
            let noisy = mean_loss(&(&x + noise).unwrap().clamp(0.0, 1.0).unwrap());
            let attacked = mean_loss(&adv);
            assert!(
                attacked > noisy && attacked > clean,
                "{constraint:?} random start {random_start}: attacked {attacked}, noise {noisy}, clean {clean}"
            );
        }
    }
    let stats_after: Vec<_> =
        snapshot(&net).into_iter().filter(|(_, r, _, _)| *r == Role::RunningStat).collect();
    assert_eq!(stats_before, stats_after, "attacks run in evaluation mode and change nothing");
}

#[test]
fn pgd_validates_its_step_factor() {
    for c in [1.0, 1.5, 4.0, 5.0, f64::NAN] {
        assert!(Pgd::new(Norm::L2, 3.0, 20, c, false).is_err(), "c = {c}");
    }
    assert!(Pgd::new(Norm::Linf, 4.0 / 255.0, 0, 2.5, false).is_err());
    assert!(Pgd::new(Norm::Linf, -1.0, 20, 2.5, false).is_err());
    let pgd = Pgd::new(Norm::L2, 3.0, 20, 2.5, false).unwrap();
    assert!((pgd.step_size() - 0.375).abs() < 1e-15);
}

#[test]
fn same_seed_gives_identical_training_and_attacks() {
    let run = |seed: u64| {
        let net =
            Network::new(tiny_config(Stem::ImageNet, 3), seed, DType::F32, &Device::Cpu).unwrap();
        let regime = Regime::full();
        let mut opt = Sgd::new(
            regime.trainable_vars(&net),
            SgdConfig { lr: 0.05, momentum: 0.9, weight_decay: 5e-4 },
        );
        let pgd = Pgd::new(Norm::Linf, 4.0 / 255.0, 3, 2.5, true).unwrap();
        let mut rng = rng::rng(seed + 1);
        let (x, y) = (images((4, 3, 32, 32), 61, DType::F32), labels(4, 3));
        let mut losses = Vec::new();
        for _ in 0..2 {
            losses.push(
                adversarial_train_step(&net, &mut opt, &regime, &pgd, &x, &y, &mut rng).unwrap(),
            );
        }
        (losses, values(&net.forward_eval(&x).unwrap()))
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7).1, run(8).1);
}

#[test]
fn save_and_load_round_trip_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(Stem::ImageNet, 3);
    let net = Network::new(config, 71, DType::F32, &Device::Cpu).unwrap();
    Regime::full().forward(&net, &images((2, 3, 32, 32), 72, DType::F32)).unwrap(); // move running stats
    let (a, b) = (dir.path().join("a.safetensors"), dir.path().join("b.safetensors"));
    net.save(&a).unwrap();
    let loaded = Network::load(config, &a, DType::F32, &Device::Cpu).unwrap();
    loaded.save(&b).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let x = images((2, 3, 32, 32), 73, DType::F32);
    assert_eq!(values(&net.forward_eval(&x).unwrap()), values(&loaded.forward_eval(&x).unwrap()));

    // A prefixed checkpoint (MadryLab's `module.model.`) loads through a VarBuilder prefix.
    let prefixed = candle_core::safetensors::load(&a, &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (format!("module.model.{k}"), v))
        .collect();
    let vb = VarBuilder::from_tensors(prefixed, DType::F64, &Device::Cpu);
    let wide = Network::from_varbuilder(config, &vb.pp("module.model")).unwrap();
    assert_eq!(wide.dtype(), DType::F64);

    let wrong = NetConfig { width: 4, ..config };
    let err = format!("{:#}", Network::load(wrong, &a, DType::F32, &Device::Cpu).err().unwrap());
    assert!(err.contains("conv1.weight"), "{err}");
}

#[test]
fn zero_init_residual_zeroes_exactly_the_last_batchnorm_scale_of_every_bottleneck() {
    let net = Network::new(tiny_config(Stem::Small, 3), 5, DType::F32, &Device::Cpu).unwrap();
    let before = snapshot(&net);
    net.zero_init_residual().unwrap();
    let after = snapshot(&net);
    let mut zeroed = 0;
    for ((name, _, _, old), (_, _, _, new)) in before.iter().zip(&after) {
        // layer1.0.bn3.weight … layer4.2.bn3.weight: one per bottleneck.
        if name.ends_with(".bn3.weight") {
            assert!(new.iter().all(|v| *v == 0.0), "{name} is not zero");
            assert!(old.iter().all(|v| *v == 1.0), "{name} started at torchvision's 1");
            zeroed += 1;
        } else {
            assert_eq!(old, new, "{name} must not change");
        }
    }
    assert_eq!(zeroed, 16, "3 + 4 + 6 + 3 bottlenecks");
}

#[test]
fn features_are_fcs_input_and_the_head_is_the_affine_map_on_them() {
    let config = tiny_config(Stem::Small, 5);
    let net = Network::new(config, 81, DType::F64, &Device::Cpu).unwrap();
    let x = images((3, 3, 16, 16), 82, DType::F64);
    let h = net.features_eval(&x).unwrap();
    assert_eq!(h.dims(), &[3, 32 * config.width], "32·width pooled features");
    // The logits, computed here in f64 from fc's tensors: h · Wᵀ + b.
    let named = |name: &str| {
        let (_, var) = net.named_vars().find(|(s, _)| s.name == name).unwrap();
        values(var.as_tensor())
    };
    let (w, b, feats) = (named("fc.weight"), named("fc.bias"), values(&h));
    let f = 32 * config.width;
    let logits = values(&net.forward_eval(&x).unwrap());
    for n in 0..3 {
        for k in 0..5 {
            let expected = b[k] + (0..f).map(|j| feats[n * f + j] * w[k * f + j]).sum::<f64>();
            assert!((logits[n * 5 + k] - expected).abs() < 1e-9, "image {n}, class {k}");
        }
    }
    assert_eq!(values(&net.head_eval(&h).unwrap()), logits);
}

/// A whole training step, pre-training (every parameter) and fine-tuning (3 blocks, frozen
/// BatchNorm in train and in eval mode), with the project's CPU kernels against candle's ops
/// (the previous implementation) on the same weights and batch, in f64: the loss and every
/// parameter and running statistic after the SGD step agree to 1e-10 (relative to the tensor's
/// largest value), and so do the evaluation-mode logits after it (fused convolution and
/// BatchNorm against candle's ops).
#[test]
fn a_training_step_matches_the_candle_op_network() {
    use crate::nn::cpu::with_candle_ops;
    for stem in [Stem::Small, Stem::ImageNet] {
        let fine_tune = |bn| Regime::fine_tune(3, bn).unwrap();
        for regime in [Regime::full(), fine_tune(FrozenBn::Train), fine_tune(FrozenBn::Eval)] {
            let step = || {
                let mut net =
                    Network::new(tiny_config(stem, 5), 41, DType::F64, &Device::Cpu).unwrap();
                net.reset_fc(5, FcInit::Normal1, 42).unwrap();
                let side = if stem == Stem::Small { 8 } else { 32 };
                let (x, y) = (images((4, 3, side, side), 43, DType::F64), labels(4, 5));
                let config = SgdConfig { lr: 0.1, momentum: 0.9, weight_decay: 5e-4 };
                let mut opt = Sgd::new(regime.trainable_vars(&net), config);
                let loss = train_step(&net, &mut opt, &regime, &x, &y).unwrap();
                let logits = values(&net.forward_eval(&x).unwrap());
                (loss, snapshot(&net), logits)
            };
            let ((loss, ours, logits), (loss0, oracle, logits0)) = (step(), with_candle_ops(step));
            assert!((loss - loss0).abs() < 1e-12 * loss0.abs(), "{loss} vs {loss0}");
            let scale = logits0.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
            for (a, b) in logits.iter().zip(&logits0) {
                assert!((a - b).abs() <= 1e-10 * scale, "{stem:?} logits: {a} vs {b}");
            }
            for ((name, _, _, a), (_, _, _, b)) in ours.iter().zip(&oracle) {
                let scale = b.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
                let worst = a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
                assert!(worst <= 1e-10 * scale, "{stem:?} {name}: {worst:e} of {scale:e}");
            }
        }
    }
}
