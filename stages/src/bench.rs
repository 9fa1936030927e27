//! `pipeline bench`: fine-tuning throughput of the mini network and of a full ResNet-50.
//!
//! For each network it times, in images per second, the training-mode forward pass alone and a
//! whole training step (forward, backward, SGD), once fine-tuning the last 3 blocks (the paper's
//! Table 5 setting) and, for the mini networks, once training every parameter (pre-training).
//! One warm-up iteration per measurement is excluded. Inputs are random [0, 1] images.
//!
//! `--network influence` instead times the influence study's linear algebra on random features,
//! at the mini profile's size and at the paper's (3,200 training and 10,000 test images, 2,048
//! features, 10 classes: a 20,490² Hessian, about 8 GB of memory at the peak).

use std::time::Instant;

use anyhow::Result;
use candle_core::{DType, Tensor};

use crate::nn::{self, FrozenBn, NetConfig, Network, Regime, Sgd, SgdConfig, Stem};

/// Which networks to time and how.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// `mini`, `resnet50` or `all`.
    pub network: String,
    pub batch: usize,
    pub iterations: usize,
    /// Print each training step's time per CPU kernel.
    pub ops: bool,
    /// The ResNet-50 rows: fine-tuning this many last blocks each (0: fc alone).
    pub blocks: Vec<usize>,
    /// The convolutions' arithmetic (anything but fp32 needs the project's CUDA kernels).
    pub precision: nn::precision::Precision,
}

/// On the CPU, the full ResNet-50 at 224×224 runs at most this batch and this many iterations
/// (a GPU runs what it is asked).
const RESNET50_MAX_BATCH: usize = 16;
const RESNET50_MAX_ITERATIONS: usize = 3;
const CLASSES: usize = 10;

struct Case {
    name: &'static str,
    config: NetConfig,
    side: usize,
    regimes: Vec<(String, Regime)>,
    batch: usize,
    iterations: usize,
}

pub fn run(opts: &BenchOptions) -> Result<()> {
    anyhow::ensure!(
        opts.batch > 0 && opts.iterations > 0,
        "bench needs a positive batch and iteration count"
    );
    let fine_tune_3 = ("3 blocks".to_string(), Regime::fine_tune(3, FrozenBn::Train)?);
    let all = ("all".to_string(), Regime::full());
    let device = nn::device()?;
    let (cap_batch, cap_iterations) = match device.is_cpu() {
        true => (RESNET50_MAX_BATCH, RESNET50_MAX_ITERATIONS),
        false => (usize::MAX, usize::MAX),
    };
    let resnet50_regimes = opts
        .blocks
        .iter()
        .map(|&b| Ok((format!("{b} blocks"), Regime::fine_tune(b, FrozenBn::Train)?)))
        .collect::<Result<Vec<_>>>()?;
    let mini = |name, width, side| Case {
        name,
        config: NetConfig { width, stem: Stem::Small, classes: CLASSES, normalizer: None },
        side,
        regimes: vec![fine_tune_3.clone(), all.clone()],
        batch: opts.batch,
        iterations: opts.iterations,
    };
    let resnet50 = Case {
        name: "resnet50",
        config: NetConfig::resnet50(CLASSES),
        side: 224,
        regimes: resnet50_regimes,
        batch: opts.batch.min(cap_batch),
        iterations: opts.iterations.min(cap_iterations),
    };
    match opts.network.as_str() {
        "influence" => return influence(),
        "data" => return data_pipeline(opts.batch, opts.iterations),
        _ => {}
    }
    let _precision = nn::precision::enter(opts.precision, &device)?;
    println!("precision: {}", opts.precision);
    let cases = match opts.network.as_str() {
        "mini" => vec![mini("mini w8", 8, 32), mini("mini w4", 4, 16)],
        "resnet50" => vec![resnet50],
        "all" => vec![mini("mini w8", 8, 32), mini("mini w4", 4, 16), resnet50],
        other => anyhow::bail!(
            "unknown bench network `{other}`: expected mini, resnet50, all, influence or data"
        ),
    };

    println!(
        "{:<10} {:>7} {:>9} {:>5} {:>5} {:>15} {:>18} {:>13}",
        "network",
        "input",
        "trains",
        "batch",
        "iters",
        "forward img/s",
        "train step img/s",
        "conv GFLOP/s"
    );
    for case in cases {
        let mut net = Network::new(case.config, 1, DType::F32, &device)?;
        net.reset_fc(CLASSES, nn::FcInit::Normal1, 2)?;
        let x = Tensor::rand(0f32, 1f32, (case.batch, 3, case.side, case.side), &device)?;
        let y = Tensor::from_vec(
            (0..case.batch as u32).map(|i| i % CLASSES as u32).collect::<Vec<_>>(),
            case.batch,
            &device,
        )?;
        for (label, regime) in &case.regimes {
            let (forward, step) = throughput(&net, regime, &x, &y, case.iterations)?;
            let gflops = match step.flops {
                0 => "-".to_string(), // not the CPU kernels (a GPU)
                f => format!("{:.1}", f as f64 / step.seconds / 1e9),
            };
            println!(
                "{:<10} {:>7} {:>9} {:>5} {:>5} {:>15.1} {:>18.1} {:>13}",
                case.name,
                format!("{0}x{0}", case.side),
                label,
                case.batch,
                case.iterations,
                forward.images_per_second,
                step.images_per_second,
                gflops
            );
            if opts.ops {
                kernel_profile(&net, regime, &x, &y, case.iterations)?;
            }
        }
    }
    Ok(())
}

/// Where `iterations` training steps, then as many evaluation-mode forward passes (what
/// evaluating a test set runs), spend their time: each CPU kernel, then the rest.
fn kernel_profile(
    net: &Network,
    regime: &Regime,
    x: &Tensor,
    y: &Tensor,
    iterations: usize,
) -> Result<()> {
    let config = SgdConfig { lr: 0.01, momentum: 0.9, weight_decay: 5e-4 };
    let mut opt = Sgd::new(regime.trainable_vars(net), config);
    nn::train_step(net, &mut opt, regime, x, y)?;
    profile("training step", iterations, || nn::train_step(net, &mut opt, regime, x, y).map(drop))?;
    profile("evaluation forward", iterations, || net.forward_eval(x).map(drop))
}

/// `iterations` runs of `f` (after one untimed), and each CPU kernel's share of them.
fn profile(what: &str, iterations: usize, mut f: impl FnMut() -> Result<()>) -> Result<()> {
    f()?;
    nn::cpu::start_profile();
    let start = Instant::now();
    for _ in 0..iterations {
        f()?;
    }
    let run = start.elapsed().as_secs_f64() / iterations as f64;
    let kernels = nn::cpu::take_profile();
    let per_run = |seconds: f64| 1e3 * seconds / iterations as f64;
    println!("  {what}: {:.2} ms", 1e3 * run);
    let mut rows: Vec<_> = kernels.iter().collect();
    rows.sort_by(|a, b| b.1.seconds.total_cmp(&a.1.seconds));
    for (name, t) in rows {
        let ms = per_run(t.seconds);
        let calls = t.calls as f64 / iterations as f64;
        println!(
            "    {name:<36} {calls:>6.0} calls {ms:>9.2} ms {:>5.1}%",
            100.0 * ms / (1e3 * run)
        );
    }
    let rest = 1e3 * run - per_run(kernels.values().map(|t| t.seconds).sum());
    println!(
        "    {:<36} {:>12} {rest:>9.2} ms {:>5.1}%",
        "other (candle ops, autograd, SGD)",
        "",
        100.0 * rest / (1e3 * run)
    );
    Ok(())
}

/// The training-mode forward pass alone and a whole training step (forward, backward, SGD) of
/// `regime` on the batch `x`, `y`, timed.
pub fn throughput(
    net: &Network,
    regime: &Regime,
    x: &Tensor,
    y: &Tensor,
    iterations: usize,
) -> Result<(Timing, Timing)> {
    let batch = x.dim(0)?;
    // A GPU queues work: wait for it, or the forward pass would time only the queueing.
    let forward = images_per_second(batch, iterations, || {
        regime.forward(net, x)?;
        Ok(x.device().synchronize()?)
    })?;
    let config = SgdConfig { lr: 0.01, momentum: 0.9, weight_decay: 5e-4 };
    let mut opt = Sgd::new(regime.trainable_vars(net), config);
    let step = images_per_second(batch, iterations, || {
        nn::train_step(net, &mut opt, regime, x, y)?;
        Ok(())
    })?;
    Ok((forward, step))
}

/// A timed measurement: images per second, and the seconds and the CPU convolution kernels'
/// floating-point operations of the timed runs (0 where they did not run: on a GPU).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub images_per_second: f64,
    pub seconds: f64,
    pub flops: u64,
}

/// Runs `f` once to warm up, then `iterations` times, timed.
fn images_per_second(
    batch: usize,
    iterations: usize,
    mut f: impl FnMut() -> Result<()>,
) -> Result<Timing> {
    f()?;
    let (start, flops) = (Instant::now(), nn::conv::flops());
    for _ in 0..iterations {
        f()?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let flops = nn::conv::flops() - flops;
    Ok(Timing { images_per_second: (batch * iterations) as f64 / seconds, seconds, flops })
}

/// Images per second of the CPU data pipeline at the paper's input size: a batch of 32×32
/// images (CIFAR's size) resized to 224×224, with the authors' augmentation (pad-crop, flip,
/// colour jitter, rotation: what a fine-tuning step reads) and without (what evaluation reads),
/// as the tensors the network takes on the CPU. Whether it can feed a GPU: set against the train
/// step images/s of `bench --network resnet50`.
fn data_pipeline(batch: usize, iterations: usize) -> Result<()> {
    use crate::data::transform::{test_batch, TrainTransform};
    use rand::SeedableRng;
    let mut random = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut ds = crate::data::Dataset::empty("bench", CLASSES);
    (ds.channels, ds.height, ds.width) = (3, 32, 32);
    let count = batch.max(1) * 4;
    ds.images = (0..count * 3 * 32 * 32).map(|_| rand::Rng::random::<u8>(&mut random)).collect();
    ds.labels = (0..count as u32).map(|i| i % CLASSES as u32).collect();
    let transform = TrainTransform::authors(224);
    let batches: Vec<Vec<u32>> =
        (0..4).map(|b| (b * batch..(b + 1) * batch).map(|i| i as u32).collect()).collect();
    let time = |f: &mut dyn FnMut(&[u32]) -> Result<()>| -> Result<f64> {
        f(&batches[0])?;
        let start = Instant::now();
        for i in 0..iterations {
            f(&batches[i % batches.len()])?;
        }
        Ok((batch * iterations) as f64 / start.elapsed().as_secs_f64())
    };
    let cpu = candle_core::Device::Cpu;
    println!("CPU data pipeline, 32×32 → 224×224, batch {batch}, {iterations} batches:");
    println!("{:<8} {:>12} {:>12}", "threads", "train img/s", "test img/s");
    // On one thread, then on rayon's (one per core): a batch's images are made in parallel.
    let all = rayon::current_num_threads();
    for threads in if all > 1 { vec![1, all] } else { vec![1] } {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
        let (train, test) = pool.install(|| -> Result<(f64, f64)> {
            let train = time(&mut |ix| transform.batch(&ds, ix, &mut random, &cpu).map(drop))?;
            Ok((train, time(&mut |ix| test_batch(&ds, ix, 224, &cpu).map(drop))?))
        })?;
        println!("{threads:<8} {train:>12.1} {test:>12.1}");
    }
    println!("(train: resize + pad-crop, flip, jitter, rotation; test: resize)");
    Ok(())
}

/// Seconds for each step of `influence::compute` on random features of the given size: gradients
/// and Hessian, the damped factorisation and solve with the train × train matrix, the test matrix.
fn influence() -> Result<()> {
    use crate::features::arrays::{Features, Fit, Summary};
    use crate::influence::{params::InfluenceParams, solve::Inverse};
    use crate::npy::Array;
    use crate::splits::Splits;
    use rand::{Rng, SeedableRng};
    println!(
        "{:<6} {:>6} {:>6} {:>5} {:>8} {:>14} {:>16} {:>12}",
        "size", "train", "test", "d", "H side", "Hessian s", "solve+train s", "test s"
    );
    for (name, n, m, d) in [("mini", 400, 300, 128), ("paper", 3200, 10_000, 2048)] {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut draw = |count: usize| -> Vec<f32> {
            (0..count).map(|_| rng.random_range(0.0f32..1.0)).collect()
        };
        let labels = |count: usize| (0..count as u32).map(|i| i % CLASSES as u32).collect();
        let fit = Fit { accuracy: 0.0, loss: 0.0 };
        let f = Features {
            splits: Splits {
                train: Array::new(vec![n, d], draw(n * d))?,
                test: Array::new(vec![m, d], draw(m * d))?,
                train_labels: labels(n),
                test_labels: labels(m),
                train_indices: (0..n as u32).collect(),
            },
            fc_weight: Array::new(vec![CLASSES, d], draw(CLASSES * d))?,
            fc_bias: draw(CLASSES),
            summary: Summary {
                source: "random".into(),
                dataset: "random".into(),
                classes: CLASSES,
                train: fit.clone(),
                test: fit,
            },
        };
        let p = InfluenceParams {
            source: "random".into(),
            dataset: "random".into(),
            size_label: n.to_string(),
            blocks: 3,
            seed: 0,
            weight_decay: 5e-4,
            inverse: Inverse::Damped,
        };
        let marks = std::sync::Mutex::new(vec![Instant::now()]);
        crate::influence::compute(&f, &p, &|_, _| {
            marks.lock().expect("marks").push(Instant::now())
        })?;
        let marks = marks.into_inner().expect("marks");
        let at = |i: usize| marks[i].duration_since(marks[0]).as_secs_f64();
        let last = marks.len() - 1;
        println!(
            "{name:<6} {n:>6} {m:>6} {d:>5} {:>8} {:>14.1} {:>16.1} {:>12.1}",
            CLASSES * (d + 1),
            at(1),
            at(2) - at(1),
            at(last) - at(2)
        );
    }
    Ok(())
}
