//! The fine-tuning schedule of the paper's Table 2: step learning-rate decay and the epochs at
//! which the test split is evaluated.

/// Factor applied to the learning rate at each decay epoch (Table 1: "divided by 10").
pub const LR_DECAY_FACTOR: f64 = 0.1;

/// Learning rate during the 0-based epoch `epoch0`: `base · 0.1^(number of decay epochs ≤ epoch0)`.
///
/// With 100 epochs and decays `[33, 66]`: epochs 0..=32 use `base`, 33..=65 `base/10`,
/// 66..=99 `base/100` (PyTorch's `MultiStepLR` stepped once per epoch).
pub fn lr_at(epoch0: usize, base: f64, decay_epochs: &[usize]) -> f64 {
    decay_epochs.iter().filter(|&&d| d <= epoch0).fold(base, |lr, _| lr * LR_DECAY_FACTOR)
}

/// The 1-based epochs after which the test split is evaluated: 1, 1+every, 1+2·every, … and
/// always the last epoch (100 epochs every 20 → 1, 21, 41, 61, 81, 100).
///
/// # Panics
/// If `epochs` or `every` is zero (the study configuration rejects both).
pub fn eval_epochs(epochs: usize, every: usize) -> Vec<usize> {
    assert!(epochs > 0 && every > 0, "eval_epochs needs epochs > 0 and every > 0");
    let mut out: Vec<usize> = (1..=epochs).step_by(every).collect();
    if out.last() != Some(&epochs) {
        out.push(epochs);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs()
    }

    /// Table 2, rows with 100 epochs (n ≤ 1600): decays at 33 and 66.
    #[test]
    fn lr_steps_at_table2_decay_epochs_for_100_epochs() {
        let d = [33, 66];
        for e in 0..=32 {
            assert!(close(lr_at(e, 0.1, &d), 0.1), "epoch {e}");
        }
        for e in 33..=65 {
            assert!(close(lr_at(e, 0.1, &d), 0.01), "epoch {e}");
        }
        for e in 66..=99 {
            assert!(close(lr_at(e, 0.1, &d), 0.001), "epoch {e}");
        }
    }

    /// Table 2, rows with 150 epochs (n ≥ 3200): decays at 50 and 100.
    #[test]
    fn lr_steps_at_table2_decay_epochs_for_150_epochs() {
        let d = [50, 100];
        assert!(close(lr_at(0, 0.1, &d), 0.1));
        assert!(close(lr_at(49, 0.1, &d), 0.1));
        assert!(close(lr_at(50, 0.1, &d), 0.01));
        assert!(close(lr_at(99, 0.1, &d), 0.01));
        assert!(close(lr_at(100, 0.1, &d), 0.001));
        assert!(close(lr_at(149, 0.1, &d), 0.001));
        assert!(close(lr_at(7, 0.05, &[]), 0.05));
    }

    #[test]
    fn eval_epochs_follow_table2_frequencies() {
        assert_eq!(eval_epochs(100, 20), vec![1, 21, 41, 61, 81, 100]);
        assert_eq!(
            eval_epochs(150, 10),
            vec![1, 11, 21, 31, 41, 51, 61, 71, 81, 91, 101, 111, 121, 131, 141, 150]
        );
        assert_eq!(eval_epochs(5, 1), vec![1, 2, 3, 4, 5]);
        assert_eq!(eval_epochs(1, 20), vec![1]);
        assert_eq!(eval_epochs(21, 20), vec![1, 21]);
    }
}
