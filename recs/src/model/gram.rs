//! The item-item Gram matrix `XᵀX` of a sparse users × items matrix: the kernel shared by
//! [`ItemKnn`](super::ItemKnn) (one row at a time, keeping only the top neighbours) and
//! [`Ease`](super::Ease) (the whole dense matrix).
//!
//! Row `i` of `XᵀX` is `Σ_{u ∋ i} x_ui · X[u, :]`: walk the users of item `i` (a row of the
//! transpose) and scatter their rows into a dense accumulator. Rows are independent, so rayon
//! splits over items and each thread owns one accumulator of `n_items` floats.

use rayon::prelude::*;

use crate::data::Interactions;

/// Adds row `i` of `XᵀX` into `acc` (`acc.len() == x.n_items()`), where `xt = x.transpose()`.
///
/// With `touched`, also records each column written for the first time (`acc[j]` was zero
/// before and `mark[j] != i`): callers scan only those instead of the whole row.
#[inline]
pub(crate) fn gram_row_into(
    x: &Interactions,
    xt: &Interactions,
    i: usize,
    acc: &mut [f32],
    touched: Option<(&mut Vec<u32>, &mut [u32])>,
) {
    let users = xt.items_of(i as u32);
    let weights = xt.values_of(i as u32);
    let indptr = x.indptr();
    let idx = x.indices();
    let val = x.values();
    match touched {
        None => {
            for (&u, &w) in users.iter().zip(weights) {
                let r = indptr[u as usize]..indptr[u as usize + 1];
                for (&j, &v) in idx[r.clone()].iter().zip(&val[r]) {
                    acc[j as usize] += w * v;
                }
            }
        }
        Some((list, mark)) => {
            let tag = i as u32;
            for (&u, &w) in users.iter().zip(weights) {
                let r = indptr[u as usize]..indptr[u as usize + 1];
                for (&j, &v) in idx[r.clone()].iter().zip(&val[r]) {
                    let j = j as usize;
                    if mark[j] != tag {
                        mark[j] = tag;
                        list.push(j as u32);
                    }
                    acc[j] += w * v;
                }
            }
        }
    }
}

/// Upper bound on the number of distinct columns of row `i` of `XᵀX`.
#[inline]
pub(crate) fn gram_row_work(x: &Interactions, xt: &Interactions, i: usize) -> usize {
    let indptr = x.indptr();
    xt.items_of(i as u32)
        .iter()
        .map(|&u| indptr[u as usize + 1] - indptr[u as usize])
        .sum()
}

/// The dense `n_items × n_items` Gram matrix `XᵀX` (symmetric, so row- and column-major alike).
///
/// Cost: `Σ_u |row u|²` multiply-adds, split over the rayon pool; memory: the output only.
///
/// ```
/// use recs::data::{Interactions, Record};
/// use recs::model::gram_dense;
/// let recs = [(0, 0), (0, 1), (1, 1)].map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
/// let x = Interactions::from_records(2, 2, &recs, Default::default())?;
/// assert_eq!(gram_dense(&x), vec![1.0, 1.0, 1.0, 2.0]);
/// # Ok::<(), recs::Error>(())
/// ```
pub fn gram_dense(x: &Interactions) -> Vec<f32> {
    let n = x.n_items();
    let mut g = vec![0f32; n * n];
    if n == 0 {
        return g;
    }
    let xt = x.transpose();
    g.par_chunks_mut(n)
        .enumerate()
        .for_each(|(i, row)| gram_row_into(x, &xt, i, row, None));
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Record;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn gram_matches_naive_product(recs in prop::collection::vec((0u32..7, 0u32..9, 1u8..6), 0..60)) {
            let r: Vec<Record> = recs.iter().map(|&(u, i, v)| Record { user: u, item: i, value: v as f32, timestamp: None }).collect();
            let x = Interactions::from_records(7, 9, &r, Default::default()).unwrap();
            let g = gram_dense(&x);
            let mut dense = vec![0f32; 7 * 9];
            for rec in x.records() {
                dense[rec.user as usize * 9 + rec.item as usize] = rec.value;
            }
            for i in 0..9 {
                for j in 0..9 {
                    let want: f32 = (0..7).map(|u| dense[u * 9 + i] * dense[u * 9 + j]).sum();
                    prop_assert_eq!(g[i * 9 + j], want);
                }
            }
            // the touched-list variant gives the same row and lists each nonzero column once
            let xt = x.transpose();
            let mut mark = vec![u32::MAX; 9];
            for i in 0..9 {
                let mut acc = vec![0f32; 9];
                let mut list = Vec::new();
                gram_row_into(&x, &xt, i, &mut acc, Some((&mut list, &mut mark)));
                prop_assert_eq!(&acc[..], &g[i * 9..(i + 1) * 9]);
                let mut sorted = list.clone();
                sorted.sort_unstable();
                sorted.dedup();
                prop_assert_eq!(sorted.len(), list.len());
                prop_assert!(list.len() <= gram_row_work(&x, &xt, i));
                for j in 0..9u32 {
                    prop_assert_eq!(acc[j as usize] != 0.0, list.contains(&j));
                }
            }
        }
    }
}
