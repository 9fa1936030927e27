//! Training subsets and batch order.
//!
//! [`make_mask`] is the authors' subset rule: shuffle all training indices with a generator
//! seeded by the subset's seed, then walk the shuffled list, taking any image while the free
//! slots exceed the number of classes still missing and, after that, only images of classes
//! still missing. The result has exactly `n` images and every class. It depends only on the
//! labels, `n` and the seed — never on a source model — so comparisons across sources are paired.

use anyhow::{bail, ensure, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::rng::derived_rng;

/// The study's seeds S_k = { 20000000 + 100000·i : i = 0..k-1 } (paper, eq. 9).
pub fn seeds(k: usize) -> Vec<u64> {
    (0..k as u64).map(|i| 20_000_000 + 100_000 * i).collect()
}

/// All indices 0..len in the order the subset walk visits them for `seed`.
fn shuffled(len: usize, seed: u64) -> Vec<u32> {
    let mut order: Vec<u32> = (0..len as u32).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order
}

/// The sorted indices of the `n`-image training subset for `seed` (see the module doc).
/// Errors when `n` exceeds the data, when `n` is below the number of classes, or when a
/// class has no image.
pub fn make_mask(labels: &[u32], classes: usize, n: usize, seed: u64) -> Result<Vec<u32>> {
    ensure!(
        n <= labels.len(),
        "subset of {n} images requested from a training set of {}",
        labels.len()
    );
    ensure!(n >= classes, "subset of {n} images cannot hold all {classes} classes");
    let mut present = vec![false; classes];
    for &l in labels {
        ensure!((l as usize) < classes, "label {l} outside 0..{classes}");
        present[l as usize] = true;
    }
    if let Some(c) = present.iter().position(|&p| !p) {
        bail!("class {c} has no training image, so no subset can hold every class");
    }
    let mut taken = vec![false; classes];
    let mut missing = classes;
    let mut chosen = Vec::with_capacity(n);
    for i in shuffled(labels.len(), seed) {
        if chosen.len() == n {
            break;
        }
        let c = labels[i as usize] as usize;
        if n - chosen.len() > missing || !taken[c] {
            chosen.push(i);
            if !taken[c] {
                taken[c] = true;
                missing -= 1;
            }
        }
    }
    // Every class has an image, so the walk always fills the subset (a class still missing
    // would have no image anywhere in the walked list).
    assert!(
        chosen.len() == n && missing == 0,
        "subset walk ended with {} of {n} images",
        chosen.len()
    );
    chosen.sort_unstable();
    Ok(chosen)
}

/// The order in which epoch `epoch` visits `indices`: a permutation seeded by (seed, epoch).
pub fn epoch_order(indices: &[u32], seed: u64, epoch: u64) -> Vec<u32> {
    let mut order = indices.to_vec();
    order.shuffle(&mut derived_rng("epoch-order", &[seed, epoch]));
    order
}

/// Epoch `epoch`'s batches of at most `batch` indices (the last, partial batch is kept).
pub fn epoch_batches(indices: &[u32], seed: u64, epoch: u64, batch: usize) -> Vec<Vec<u32>> {
    assert!(batch > 0, "batch size must be positive");
    epoch_order(indices, seed, epoch).chunks(batch).map(<[u32]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use std::collections::BTreeSet;

    /// The rule restated from its definition rather than as a walk: with f(t) = t + (classes
    /// missing from the first t shuffled images), which never decreases and moves from
    /// `classes` to N, the subset is the first t* images for the smallest t* with f(t*) = n,
    /// plus the first image of every class those t* images miss.
    fn reference(labels: &[u32], classes: usize, n: usize, seed: u64) -> BTreeSet<u32> {
        let order = shuffled(labels.len(), seed);
        let missing_after = |t: usize| {
            classes - order[..t].iter().map(|&i| labels[i as usize]).collect::<BTreeSet<_>>().len()
        };
        let t_star = (0..=order.len()).find(|&t| t + missing_after(t) == n).unwrap();
        let mut set: BTreeSet<u32> = order[..t_star].iter().copied().collect();
        let seen: BTreeSet<u32> = set.iter().map(|&i| labels[i as usize]).collect();
        for c in (0..classes as u32).filter(|c| !seen.contains(c)) {
            set.insert(*order.iter().find(|&&i| labels[i as usize] == c).unwrap());
        }
        set
    }

    #[test]
    fn seeds_follow_the_paper() {
        assert_eq!(seeds(3), vec![20_000_000, 20_100_000, 20_200_000]);
        assert!(seeds(0).is_empty());
    }

    #[test]
    fn subset_matches_the_rule_restated_over_many_random_label_sets() {
        let mut rng = derived_rng("test/subset", &[]);
        for case in 0..400u64 {
            let classes = rng.random_range(1..8usize);
            let len = rng.random_range(classes..60);
            // Skewed labels (some classes rare) make the "only missing classes" phase matter.
            let mut labels: Vec<u32> = (0..len)
                .map(|_| (rng.random_range(0..classes * classes) as f64).sqrt() as u32)
                .collect();
            labels[..classes].iter_mut().enumerate().for_each(|(c, l)| *l = c as u32);
            let n = rng.random_range(classes..=len);
            let seed = 1000 + case;
            let got = make_mask(&labels, classes, n, seed).unwrap();
            assert_eq!(got.len(), n, "case {case}");
            assert!(got.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats: case {case}");
            let have: BTreeSet<u32> = got.iter().map(|&i| labels[i as usize]).collect();
            assert_eq!(have.len(), classes, "every class: case {case}");
            assert_eq!(
                got.iter().copied().collect::<BTreeSet<_>>(),
                reference(&labels, classes, n, seed),
                "case {case}"
            );
        }
    }

    #[test]
    fn tight_subset_takes_one_image_per_class() {
        // n == classes: from the start only missing classes are taken.
        let labels: Vec<u32> = (0..500).map(|i| if i == 499 { 9 } else { i % 9 }).collect();
        let got = make_mask(&labels, 10, 10, 7).unwrap();
        let mut cls: Vec<u32> = got.iter().map(|&i| labels[i as usize]).collect();
        cls.sort_unstable();
        assert_eq!(cls, (0..10).collect::<Vec<_>>());
        assert!(got.contains(&499));
    }

    #[test]
    fn subset_is_deterministic_per_seed_and_differs_across_seeds() {
        let labels: Vec<u32> = (0..1000).map(|i| i % 10).collect();
        let a = make_mask(&labels, 10, 100, 20_000_000).unwrap();
        assert_eq!(a, make_mask(&labels, 10, 100, 20_000_000).unwrap());
        assert_ne!(a, make_mask(&labels, 10, 100, 20_100_000).unwrap());
        assert_eq!(make_mask(&labels, 10, 1000, 3).unwrap(), (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn subset_errors() {
        let labels = vec![0, 1, 1, 0, 1];
        assert!(format!("{:#}", make_mask(&labels, 2, 6, 0).unwrap_err())
            .contains("from a training set of 5"));
        assert!(format!("{:#}", make_mask(&labels, 3, 4, 0).unwrap_err())
            .contains("class 2 has no training image"));
        assert!(format!("{:#}", make_mask(&labels, 2, 1, 0).unwrap_err())
            .contains("cannot hold all 2 classes"));
        assert!(make_mask(&[0, 5], 2, 2, 0).is_err());
    }

    #[test]
    fn epoch_batches_permute_and_keep_the_partial_batch() {
        let idx: Vec<u32> = (100..110).collect();
        let b = epoch_batches(&idx, 5, 0, 4);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2]);
        let mut all: Vec<u32> = b.concat();
        assert_eq!(all, epoch_order(&idx, 5, 0));
        all.sort_unstable();
        assert_eq!(all, idx);
        assert_ne!(epoch_order(&idx, 5, 0), epoch_order(&idx, 5, 1));
        assert_ne!(epoch_order(&idx, 5, 0), epoch_order(&idx, 6, 0));
    }
}
