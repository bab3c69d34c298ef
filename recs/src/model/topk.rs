//! Top-k selection: the kernel behind every `recommend`.

use serde::{Deserialize, Serialize};

use crate::data::ItemIdx;

/// An item with its score, as returned by `recommend` and `similar_items`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// Dense item index.
    pub item: ItemIdx,
    /// Model score (higher is better; only the order is meaningful across models).
    pub score: f32,
}

/// Orders by score descending, then item ascending, so that results are deterministic.
#[inline]
fn better(a: &Scored, b: &Scored) -> std::cmp::Ordering {
    b.score.total_cmp(&a.score).then(a.item.cmp(&b.item))
}

/// The `k` best `(item, score)` pairs among `candidates`, best first; NaN scores are skipped.
///
/// Ties are broken by the smaller item index. Runs in O(n + k log k).
///
/// ```
/// use recs::model::top_k;
/// let scores = [0.1, 0.9, 0.5, 0.9];
/// let best = top_k((0..4u32).map(|i| (i, scores[i as usize])), 2);
/// assert_eq!(best.iter().map(|s| s.item).collect::<Vec<_>>(), vec![1, 3]);
/// ```
pub fn top_k(candidates: impl IntoIterator<Item = (ItemIdx, f32)>, k: usize) -> Vec<Scored> {
    if k == 0 {
        return Vec::new();
    }
    let mut buf: Vec<Scored> = Vec::new();
    // Keep a buffer of at most 2k; compact it with a selection whenever it fills. Amortised O(n).
    let cap = k.saturating_mul(2).max(16);
    for (item, score) in candidates {
        if score.is_nan() {
            continue;
        }
        buf.push(Scored { item, score });
        if buf.len() >= cap {
            buf.select_nth_unstable_by(k - 1, better);
            buf.truncate(k);
        }
    }
    if buf.len() > k {
        buf.select_nth_unstable_by(k - 1, better);
        buf.truncate(k);
    }
    buf.sort_unstable_by(better);
    buf
}

/// Top-k over a dense score vector, skipping items where `skip(item)` is true.
pub fn top_k_dense(scores: &[f32], k: usize, skip: impl Fn(ItemIdx) -> bool) -> Vec<Scored> {
    top_k(
        scores
            .iter()
            .enumerate()
            .map(|(i, &s)| (i as ItemIdx, s))
            .filter(|&(i, _)| !skip(i)),
        k,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn top_k_equals_sort_filter_truncate(scores in prop::collection::vec(-100i32..100, 0..300), k in 0usize..50) {
            let scores: Vec<f32> = scores.into_iter().map(|s| s as f32 / 7.0).collect();
            let got = top_k_dense(&scores, k, |i| i % 5 == 3);
            let mut want: Vec<Scored> = scores.iter().enumerate()
                .filter(|(i, _)| i % 5 != 3)
                .map(|(i, &s)| Scored { item: i as u32, score: s }).collect();
            want.sort_by(better);
            want.truncate(k);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn nan_scores_are_never_returned() {
        let got = top_k_dense(&[f32::NAN, 1.0, f32::NAN], 3, |_| false);
        assert_eq!(
            got,
            vec![Scored {
                item: 1,
                score: 1.0
            }]
        );
    }
}
