//! Figure 8's counts: how often the training images ranked most influential on a row share the
//! row's class. Rankings are descending (most helpful first), ties broken by the lower training
//! index, and the train × train rows keep their own image (the authors' convention).

use crate::npy::Array;

/// A row's columns from most to least influential (ties: the lower column first). Figure 6's
/// "most helpful" image is the first.
pub fn ranked(row: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    order
}

/// Whether the k-th ranked column of each row has the row's class, k = 1…`depth` (at most the
/// number of columns): one vector per row.
fn same_class(matrix: &Array<f64>, rows: &[u32], columns: &[u32], depth: usize) -> Vec<Vec<bool>> {
    (0..matrix.rows())
        .map(|i| {
            ranked(matrix.row(i)).into_iter().take(depth).map(|j| columns[j] == rows[i]).collect()
        })
        .collect()
}

/// The percentages Figure 8 and `influence.md` show for one matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranks {
    /// Per rank k = 1…: percent of rows whose k-th most influential training image has the row's
    /// class (per rank, not cumulative).
    pub by_rank: Vec<f64>,
    /// Percent of rows whose top-ranked image has the row's class.
    pub top1: f64,
    /// Percent of rows with at least 3 of their top 5 of the row's class.
    pub three_of_top5: f64,
}

/// `matrix` (rows × training images) with the rows' and the columns' labels.
pub fn ranks(matrix: &Array<f64>, rows: &[u32], columns: &[u32], depth: usize) -> Ranks {
    let depth = depth.min(matrix.cols());
    let same = same_class(matrix, rows, columns, depth.max(5.min(matrix.cols())));
    let n = same.len().max(1) as f64;
    let percent = |count: usize| 100.0 * count as f64 / n;
    let by_rank = (0..depth).map(|k| percent(same.iter().filter(|r| r[k]).count())).collect();
    let top1 = percent(same.iter().filter(|r| r.first() == Some(&true)).count());
    let three_of_top5 =
        percent(same.iter().filter(|r| r.iter().take(5).filter(|&&s| s).count() >= 3).count());
    Ranks { by_rank, top1, three_of_top5 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_a_hand_made_matrix() {
        // 3 rows (classes 0, 1, 0) × 6 training images (classes 0, 0, 1, 1, 2, 0).
        let columns = [0, 0, 1, 1, 2, 0];
        let rows = [0, 1, 0];
        #[rustfmt::skip]
        let m = Array::new(vec![3, 6], vec![
            // ranked: 1 (c0), 0 (c0), 5 (c0), 2 (c1), 4 (c2), 3 (c1) → same: T T T F F F
            0.5, 0.9, 0.1, -0.2, 0.0, 0.3,
            // ranked: 4 (c2), 3 (c1), 2 (c1), 0 (c0), 1 (c0), 5 (c0) → same: F T T F F F
            -1.0, -2.0, 0.5, 0.7, 0.8, -3.0,
            // a tie between 2 and 3 goes to 2: ranked 2 (c1), 3 (c1), 0, 1, 4, 5 → F F T T F T
            0.2, 0.1, 0.4, 0.4, 0.0, -0.1,
        ]).unwrap();
        let r = ranks(&m, &rows, &columns, 100);
        let third = 100.0 / 3.0;
        let want = [third, 2.0 * third, 3.0 * third, third, 0.0, third];
        assert_eq!(r.by_rank.len(), 6);
        for (got, want) in r.by_rank.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{:?}", r.by_rank);
        }
        assert!((r.top1 - third).abs() < 1e-12);
        // Top 5 same-class counts: 3, 2, 2 → one row of three has at least 3.
        assert!((r.three_of_top5 - third).abs() < 1e-12);
        assert_eq!(ranks(&m, &rows, &columns, 2).by_rank.len(), 2);
    }
}
