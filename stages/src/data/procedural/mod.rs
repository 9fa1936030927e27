//! Procedural datasets for the offline profiles: a many-class source set standing in for
//! ImageNet and six targets with the character of their paper counterparts. Image `i` of a
//! split depends only on (kind, split, seed, i) — its label is `i mod classes` and its pixels
//! come from a generator derived from those four — so generation is order-independent and
//! the train and test splits are independent draws.
//!
//! Each kind lives in its own module: `shapes` (source), `objects` (cifar10, cifar100),
//! `digits` (svhn, mnist), `garments` (fmnist), `glyphs` (kmnist).

mod digits;
mod draw;
mod garments;
mod glyphs;
mod objects;
mod shapes;

pub use shapes::home_texture;

use anyhow::{bail, ensure, Context, Result};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::dataset::Dataset;
use super::rng::derived_rng;

/// Which procedural dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Colour shapes; class = shape, texture a weaker independent cue (at most 16 classes).
    Source {
        classes: usize,
    },
    Cifar10,
    Cifar100,
    Svhn,
    Mnist,
    Fmnist,
    Kmnist,
}

/// Which split: independent draws of the same distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Test,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

impl Kind {
    /// The generator named `generator` (`source`, `cifar10`, `cifar100`, `svhn`, `mnist`,
    /// `fmnist`, `kmnist`). `classes` is required for `source` (2..=16); for the targets it
    /// may be given but must match their fixed count.
    pub fn parse(generator: &str, classes: Option<usize>) -> Result<Kind> {
        let kind = match generator {
            "source" => {
                let classes = classes.context("the `source` generator needs `classes` (2..=16)")?;
                Kind::Source { classes }
            }
            "cifar10" => Kind::Cifar10,
            "cifar100" => Kind::Cifar100,
            "svhn" => Kind::Svhn,
            "mnist" => Kind::Mnist,
            "fmnist" => Kind::Fmnist,
            "kmnist" => Kind::Kmnist,
            other => bail!("unknown procedural generator `{other}`; expected one of source, cifar10, cifar100, svhn, mnist, fmnist, kmnist"),
        };
        if let Some(c) = classes {
            ensure!(
                c == kind.classes(),
                "the `{generator}` generator makes {} classes; `classes: {c}` does not match",
                kind.classes()
            );
        }
        kind.check()?;
        Ok(kind)
    }

    /// Errors when a `Source` asks for a class count outside 2..=16.
    fn check(self) -> Result<()> {
        if let Kind::Source { classes } = self {
            ensure!(
                (2..=shapes::MAX_CLASSES).contains(&classes),
                "the `source` generator makes 2..={} classes, not {classes}",
                shapes::MAX_CLASSES
            );
        }
        Ok(())
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Source { .. } => "source",
            Kind::Cifar10 => "cifar10",
            Kind::Cifar100 => "cifar100",
            Kind::Svhn => "svhn",
            Kind::Mnist => "mnist",
            Kind::Fmnist => "fmnist",
            Kind::Kmnist => "kmnist",
        }
    }

    pub fn classes(self) -> usize {
        match self {
            Kind::Source { classes } => classes,
            Kind::Cifar100 => 100,
            _ => 10,
        }
    }

    /// 3 for colour kinds, 1 for grey.
    pub fn channels(self) -> usize {
        match self {
            Kind::Mnist | Kind::Fmnist | Kind::Kmnist => 1,
            _ => 3,
        }
    }

    pub fn class_names(self) -> Vec<String> {
        let c = self.classes();
        match self {
            Kind::Source { .. } => (0..c).map(shapes::class_name).collect(),
            Kind::Cifar10 | Kind::Cifar100 => {
                (0..c).map(|k| objects::class_name(self == Kind::Cifar100, k)).collect()
            }
            Kind::Fmnist => garments::NAMES.iter().map(|s| s.to_string()).collect(),
            Kind::Kmnist => (0..c).map(|k| format!("glyph{k}")).collect(),
            Kind::Svhn | Kind::Mnist => (0..c).map(|k| k.to_string()).collect(),
        }
    }

    /// Draw one image of class `class` at `size`×`size`: bytes [C, size, size].
    fn render(self, class: usize, size: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
        match self {
            Kind::Source { .. } => shapes::render(class, size, rng),
            Kind::Cifar10 => objects::render(class, None, size, rng),
            Kind::Cifar100 => objects::render(class / 10, Some(class % 10), size, rng),
            Kind::Svhn => digits::render_svhn(class, size, rng),
            Kind::Mnist => digits::render_mnist(class, size, rng),
            Kind::Fmnist => garments::render(class, size, rng),
            Kind::Kmnist => glyphs::render(class, size, rng),
        }
    }
}

/// The source set's cue-conflict probe (`n` images at `size`×`size` of a `classes`-class
/// source set): image i has the shape of class i mod `classes` and, always, the home texture
/// of another class, cycling through the others' textures. Returns the images, labelled by
/// their shape, and each image's texture (a prediction follows the texture when its class's
/// [`home_texture`] is that texture).
pub fn cue_conflict(
    classes: usize,
    n: usize,
    seed: u64,
    size: usize,
) -> Result<(Dataset, Vec<u32>)> {
    let kind = Kind::Source { classes };
    kind.check()?;
    // The textures that are some class's home texture.
    let homes: Vec<usize> = (0..classes.min(shapes::TEXTURES.len())).collect();
    let mut images = Vec::with_capacity(n * 3 * size * size);
    let (mut labels, mut textures) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let shape = i % classes;
        let others: Vec<usize> =
            homes.iter().copied().filter(|&t| t != home_texture(shape)).collect();
        let texture = others[(i / classes) % others.len()];
        let mut rng =
            derived_rng("procedural/source/cue-conflict", &[seed, classes as u64, i as u64]);
        images.extend(shapes::render_conflict(shape, texture, size, &mut rng));
        labels.push(shape as u32);
        textures.push(texture as u32);
    }
    let ds = Dataset {
        name: "source-cue-conflict".to_string(),
        classes,
        channels: 3,
        height: size,
        width: size,
        images,
        labels,
        class_names: Some(kind.class_names()),
    };
    ds.validate()?;
    Ok((ds, textures))
}

/// Generate `n` images of `kind`'s `split` at `size`×`size` from `seed`, using up to
/// `threads` threads (the bytes do not depend on `threads`).
pub fn generate(
    kind: Kind,
    split: Split,
    n: usize,
    seed: u64,
    size: usize,
    threads: usize,
) -> Result<Dataset> {
    kind.check()?;
    let classes = kind.classes();
    ensure!(size >= 8, "procedural images must be at least 8 pixels wide (asked for {size})");
    let purpose = format!("procedural/{}/{}", kind.name(), split.name());
    let labels: Vec<u32> = (0..n).map(|i| (i % classes) as u32).collect();
    let image_len = kind.channels() * size * size;
    let mut images = vec![0u8; n * image_len];
    let per_thread = n.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for (chunk_no, chunk) in images.chunks_mut(per_thread * image_len).enumerate() {
            let (purpose, labels) = (&purpose, &labels);
            s.spawn(move || {
                for (k, out) in chunk.chunks_mut(image_len).enumerate() {
                    let i = chunk_no * per_thread + k;
                    let mut rng = derived_rng(purpose, &[seed, classes as u64, i as u64]);
                    out.copy_from_slice(&kind.render(labels[i] as usize, size, &mut rng));
                }
            });
        }
    });
    let ds = Dataset {
        name: kind.name().to_string(),
        classes,
        channels: kind.channels(),
        height: size,
        width: size,
        images,
        labels,
        class_names: Some(kind.class_names()),
    };
    ds.validate()?;
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const ALL: [Kind; 7] = [
        Kind::Source { classes: 16 },
        Kind::Cifar10,
        Kind::Cifar100,
        Kind::Svhn,
        Kind::Mnist,
        Kind::Fmnist,
        Kind::Kmnist,
    ];

    #[test]
    fn generation_is_deterministic_and_independent_of_threads_and_count() {
        for kind in ALL {
            let a = generate(kind, Split::Train, 64, 5, 16, 1).unwrap();
            let b = generate(kind, Split::Train, 64, 5, 16, 3).unwrap();
            assert_eq!(a, b, "{kind:?}");
            // Image i depends only on (kind, split, seed, i): a shorter draw is a prefix.
            let c = generate(kind, Split::Train, 20, 5, 16, 2).unwrap();
            assert_eq!(&a.images[..c.images.len()], &c.images[..], "{kind:?}");
            assert_ne!(
                a,
                generate(kind, Split::Train, 64, 6, 16, 1).unwrap(),
                "{kind:?}: seed matters"
            );
        }
    }

    #[test]
    fn shapes_ranges_and_every_class_present() {
        for kind in ALL {
            for size in [8, 14, 16, 28, 32] {
                let n = 2 * kind.classes();
                let ds = generate(kind, Split::Test, n, 1, size, 2).unwrap();
                assert_eq!(
                    (ds.len(), ds.channels, ds.height, ds.width),
                    (n, kind.channels(), size, size)
                );
                let present: HashSet<u32> = ds.labels.iter().copied().collect();
                assert_eq!(present.len(), kind.classes(), "{kind:?}");
                assert_eq!(ds.class_names.as_ref().unwrap().len(), kind.classes());
                // Images use a real range of intensities (not blank, not saturated).
                for i in 0..n {
                    let img = ds.image(i);
                    let (lo, hi) = (img.iter().min().unwrap(), img.iter().max().unwrap());
                    assert!(hi - lo >= 60, "{kind:?} size {size} image {i}: range {lo}..{hi}");
                }
            }
        }
    }

    #[test]
    fn cue_conflict_images_pair_every_shape_with_every_other_home_texture() {
        let (classes, size) = (16, 32);
        let n = classes * 7 * 2;
        let (ds, textures) = cue_conflict(classes, n, 1, size).unwrap();
        assert_eq!((ds.len(), ds.channels, ds.height), (n, 3, size));
        let mut pairs = std::collections::BTreeMap::new();
        for (i, (&shape, &texture)) in ds.labels.iter().zip(&textures).enumerate() {
            assert_eq!(shape as usize, i % classes);
            assert!(texture < 8 && texture as usize != home_texture(shape as usize));
            *pairs.entry((shape, texture)).or_insert(0) += 1;
        }
        // 16 shapes × the 7 other textures, each twice.
        assert_eq!(pairs.len(), classes * 7);
        assert!(pairs.values().all(|&k| k == 2), "{pairs:?}");
        // With 3 classes only their 3 home textures conflict.
        let (ds, textures) = cue_conflict(3, 6, 1, 16).unwrap();
        assert_eq!(ds.labels, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(textures, vec![1, 0, 0, 2, 2, 1]);
    }

    #[test]
    fn train_and_test_are_disjoint_draws() {
        for kind in ALL {
            let train = generate(kind, Split::Train, 500, 3, 16, 2).unwrap();
            let test = generate(kind, Split::Test, 500, 3, 16, 2).unwrap();
            let seen: HashSet<&[u8]> = (0..train.len()).map(|i| train.image(i)).collect();
            assert!(
                (0..test.len()).all(|i| !seen.contains(test.image(i))),
                "{kind:?}: a test image repeats a training image"
            );
            assert_eq!(seen.len(), train.len(), "{kind:?}: repeated training images");
        }
    }

    /// Accuracy on `kind`'s test split of a nearest-class-mean classifier on `feature`,
    /// fitted on its train split (16×16, at least 40 images per class and 1000 in all), and
    /// the number of test images.
    fn nearest_mean_accuracy(
        kind: Kind,
        feature: impl Fn(&Dataset, usize) -> Vec<f64>,
    ) -> (f64, usize) {
        let classes = kind.classes();
        let per_class = (1000 / classes).max(40);
        let n = per_class * classes;
        let (train, test) = (
            generate(kind, Split::Train, n, 9, 16, 2).unwrap(),
            generate(kind, Split::Test, n, 9, 16, 2).unwrap(),
        );
        let mut means: Vec<Vec<f64>> = vec![Vec::new(); classes];
        for i in 0..n {
            let (f, m) = (feature(&train, i), &mut means[train.labels[i] as usize]);
            m.resize(f.len(), 0.0);
            m.iter_mut().zip(f).for_each(|(m, f)| *m += f / per_class as f64);
        }
        let correct = (0..n)
            .filter(|&i| {
                let f = feature(&test, i);
                let d = |m: &Vec<f64>| m.iter().zip(&f).map(|(m, f)| (m - f).powi(2)).sum::<f64>();
                (0..classes).min_by(|&a, &b| d(&means[a]).total_cmp(&d(&means[b]))).unwrap()
                    == test.labels[i] as usize
            })
            .count();
        (correct as f64 / n as f64, n)
    }

    fn raw_pixels(ds: &Dataset, i: usize) -> Vec<f64> {
        ds.image(i).iter().map(|&p| p as f64).collect()
    }

    /// The grey image's power spectrum averaged over rings of equal frequency (log, shares of
    /// the total): unchanged by moving or turning the content, and blind to its colours.
    fn radial_spectrum(ds: &Dataset, i: usize) -> Vec<f64> {
        let (s, img) = (ds.width, ds.image(i));
        let plane = s * s;
        let grey: Vec<f64> = (0..plane)
            .map(|p| (0..ds.channels).map(|c| img[c * plane + p] as f64).sum::<f64>())
            .collect();
        let mean = grey.iter().sum::<f64>() / plane as f64;
        let tau = std::f64::consts::TAU;
        // Separable DFT: rows, then columns.
        let mut rows = vec![(0.0, 0.0); plane];
        for y in 0..s {
            for u in 0..s {
                rows[y * s + u] = (0..s).fold((0.0, 0.0), |(re, im), x| {
                    let (g, t) = (grey[y * s + x] - mean, tau * (u * x) as f64 / s as f64);
                    (re + g * t.cos(), im - g * t.sin())
                });
            }
        }
        let mut bins = vec![0.0; s];
        for v in 0..s {
            for u in 0..s {
                let (re, im) = (0..s).fold((0.0, 0.0), |(re, im), y| {
                    let ((a, b), t) = (rows[y * s + u], tau * (v * y) as f64 / s as f64);
                    (re + a * t.cos() + b * t.sin(), im + b * t.cos() - a * t.sin())
                });
                let (fu, fv) = (u.min(s - u) as f64, v.min(s - v) as f64);
                bins[((fu * fu + fv * fv).sqrt().round() as usize).min(s - 1)] += re * re + im * im;
            }
        }
        let total: f64 = bins.iter().sum::<f64>() + 1e-9;
        bins.iter().map(|b| (b / total + 1e-6).ln()).collect()
    }

    /// Labels go with the pictures: a nearest-class-mean classifier, on raw pixels or on a
    /// description that ignores position, rotation and colour (whichever is better), beats
    /// chance by more than four binomial standard deviations. (A weak classifier: the point
    /// is "clearly not chance", not how hard the data is.)
    #[test]
    fn labels_are_recognisable_above_chance() {
        for kind in ALL {
            let ((pixels, n), (spectrum, _)) = (
                nearest_mean_accuracy(kind, raw_pixels),
                nearest_mean_accuracy(kind, radial_spectrum),
            );
            let chance = 1.0 / kind.classes() as f64;
            let z = (pixels.max(spectrum) - chance) / (chance * (1.0 - chance) / n as f64).sqrt();
            assert!(z > 4.0, "{kind:?}: nearest-mean accuracy {pixels:.3} on pixels, {spectrum:.3} on spectra; chance {chance:.3} (z = {z:.1})");
        }
    }

    /// The grey targets are aligned like their paper counterparts, so even their average
    /// images separate the classes; the source's objects turn and move freely, so its classes
    /// are not given away by where pixels are and must come from shape and texture.
    #[test]
    fn class_mean_images_separate_grey_targets_but_not_the_source() {
        for kind in [Kind::Mnist, Kind::Fmnist, Kind::Kmnist] {
            let (acc, _) = nearest_mean_accuracy(kind, raw_pixels);
            assert!(acc > 0.5, "{kind:?}: nearest-mean accuracy on pixels {acc:.3}");
        }
        let (acc, _) = nearest_mean_accuracy(Kind::Source { classes: 16 }, raw_pixels);
        assert!(acc < 2.0 / 16.0, "source: nearest-mean accuracy on pixels {acc:.3}");
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(generate(Kind::Source { classes: 1 }, Split::Train, 10, 0, 16, 1).is_err());
        assert!(generate(Kind::Source { classes: 17 }, Split::Train, 10, 0, 16, 1).is_err());
        assert!(generate(Kind::Mnist, Split::Train, 10, 0, 4, 1).is_err());
    }

    #[test]
    fn kinds_parse_from_generator_names() {
        assert_eq!(Kind::parse("source", Some(12)).unwrap(), Kind::Source { classes: 12 });
        assert_eq!(Kind::parse("fmnist", None).unwrap(), Kind::Fmnist);
        assert_eq!(Kind::parse("cifar100", Some(100)).unwrap(), Kind::Cifar100);
        for kind in ALL {
            assert_eq!(Kind::parse(kind.name(), Some(kind.classes())).unwrap(), kind);
        }
        let err = |g: &str, c: Option<usize>| format!("{:#}", Kind::parse(g, c).unwrap_err());
        assert!(err("source", None).contains("needs `classes`"));
        assert!(err("source", Some(17)).contains("2..=16"));
        assert!(err("mnist", Some(12)).contains("makes 10 classes"));
        assert!(err("imagenet", None).contains("unknown procedural generator `imagenet`"));
    }

    /// Contact sheets for looking at the data (run with `--ignored`): one PNG per kind and
    /// size in `$TMPDIR/pipeline-procedural-samples`, one row per class (at most 20), 12
    /// images a row, each pixel drawn as a `zoom`×`zoom` block.
    #[test]
    #[ignore]
    fn write_contact_sheets() {
        let dir = std::env::temp_dir().join("pipeline-procedural-samples");
        std::fs::create_dir_all(&dir).unwrap();
        for size in [16, 32] {
            let zoom = 96 / size;
            for kind in ALL {
                let (rows, classes) = (kind.classes().min(20), kind.classes());
                let ds = generate(kind, Split::Train, 12 * classes, 0, size, 2).unwrap();
                let side = (size * zoom) as u32;
                let mut sheet = image::RgbImage::new(12 * side, rows as u32 * side);
                for (x, y, p) in sheet.enumerate_pixels_mut() {
                    let (row, col) = ((y / side) as usize, (x / side) as usize);
                    let img = ds.image(col * classes + row);
                    let (px, py) = ((x % side) as usize / zoom, (y % side) as usize / zoom);
                    let at = |c: usize| img[(c.min(ds.channels - 1) * size + py) * size + px];
                    *p = image::Rgb([at(0), at(1), at(2)]);
                }
                sheet.save(dir.join(format!("{}-{size}.png", kind.name()))).unwrap();
            }
        }
    }

    /// Timing (run with `--ignored --nocapture`): 10,000 images per kind at 32 and 16 pixels.
    #[test]
    #[ignore]
    fn time_generation() {
        for size in [32, 16] {
            for kind in ALL {
                let t = std::time::Instant::now();
                generate(kind, Split::Train, 10_000, 0, size, 1).unwrap();
                println!(
                    "{:>8} {size}x{size}: 10000 images in {:.2} s (1 thread)",
                    kind.name(),
                    t.elapsed().as_secs_f64()
                );
            }
        }
    }
}
