//! Top-k selection for factor models: the pruned exact top-k, blocked batch recommendation
//! and cosine item similarity.

use std::borrow::Cow;

use rayon::prelude::*;

use super::dense::scores_block;
use super::simd::dots_into;
use crate::data::{Interactions, ItemIdx, UserIdx};
use crate::model::{select, top_k, RecOpts, Scored};
use crate::{Error, Result};

/// Orders by score descending, then item ascending (the order of [`top_k`]).
#[inline]
fn better(a: &Scored, b: &Scored) -> std::cmp::Ordering {
    b.score.total_cmp(&a.score).then(a.item.cmp(&b.item))
}

/// [`top_k_dense`](crate::model::top_k_dense) without a filter, with the same result (proptested),
/// faster: once `k` items are kept, a candidate that does not beat the `k`-th is skipped with one
/// comparison. Items are visited in increasing order, so a later item that ties the `k`-th
/// score loses the tie and can be skipped too.
pub(crate) fn top_k_pruned(scores: &[f32], k: usize) -> Vec<Scored> {
    if k == 0 {
        return Vec::new();
    }
    let cap = k.saturating_mul(2).max(16);
    let mut buf: Vec<Scored> = Vec::with_capacity(cap.min(scores.len()) + 1);
    let mut threshold = f32::NEG_INFINITY;
    let mut pruning = false;
    for (i, &score) in scores.iter().enumerate() {
        // NaN (filtered) fails both comparisons and is skipped.
        if !(score > threshold || (!pruning && score == threshold)) {
            continue;
        }
        buf.push(Scored {
            item: i as ItemIdx,
            score,
        });
        if buf.len() >= cap {
            buf.select_nth_unstable_by(k - 1, better);
            buf.truncate(k);
            threshold = buf[k - 1].score;
            pruning = true;
        }
    }
    if buf.len() > k {
        buf.select_nth_unstable_by(k - 1, better);
        buf.truncate(k);
    }
    buf.sort_unstable_by(better);
    buf
}

/// [`select`] with the same result: filtered items are marked NaN and the top `k` taken by
/// [`top_k_pruned`] (`select` itself when `opts.candidates` restricts the ranking).
pub(crate) fn select_fast(
    scores: &mut [f32],
    history: &[ItemIdx],
    opts: &RecOpts<'_>,
) -> Result<Vec<Scored>> {
    if opts.candidates.is_some() {
        return select(scores, history, opts);
    }
    let filters = [
        if opts.filter_seen { history } else { &[] },
        opts.exclude.unwrap_or(&[]),
    ];
    for &i in filters.iter().flat_map(|f| f.iter()) {
        if let Some(s) = scores.get_mut(i as usize) {
            *s = f32::NAN;
        }
    }
    Ok(top_k_pruned(scores, opts.k))
}

/// Users per block of [`recommend_batch`] (one `BATCH × n_items` score buffer each).
const BATCH: usize = 64;

/// `recommend_batch` for a factor model: blocks of users are scored as one matrix product
/// `U_block · Vᵀ` (faer), then each row is filtered and selected by [`select_fast`] (the same
/// result as [`select`], which `recommend` uses by default). `row_for(user, history)` gives a user's factor row (or an error).
pub(crate) fn recommend_batch<'m>(
    items: &[f32],
    width: usize,
    users: &[UserIdx],
    data: &Interactions,
    opts: &RecOpts<'_>,
    row_for: impl Fn(UserIdx, &[ItemIdx]) -> Result<Cow<'m, [f32]>> + Sync,
) -> Result<Vec<Vec<Scored>>> {
    let n_items = items.len().checked_div(width).unwrap_or(0);
    crate::model::check_candidates(opts, n_items)?;
    // Per-thread buffers, reused across blocks: the block's user rows and its score matrix.
    let blocks: Vec<Result<Vec<Vec<Scored>>>> = users
        .par_chunks(BATCH)
        .map_init(
            || (Vec::new(), Vec::new()),
            |(u, scores): &mut (Vec<f32>, Vec<f32>), block| {
                u.clear();
                for &user in block {
                    u.extend_from_slice(&row_for(user, data.items_of(user))?);
                }
                scores.resize(block.len() * n_items, 0.0);
                scores_block(u, items, width, scores);
                block
                    .iter()
                    .zip(scores.chunks_exact_mut(n_items.max(1)))
                    .map(|(&user, row)| select_fast(row, data.items_of(user), opts))
                    .collect()
            },
        )
        .collect();
    let mut out = Vec::with_capacity(users.len());
    for b in blocks {
        out.extend(b?);
    }
    Ok(out)
}

/// The `k` items whose first `latent` columns have the highest cosine similarity with `item`'s,
/// excluding `item` itself. Items with a zero vector have similarity 0.
pub(crate) fn similar_by_cosine(
    items: &[f32],
    width: usize,
    latent: usize,
    item: ItemIdx,
    k: usize,
) -> Result<Vec<Scored>> {
    let n_items = items.len().checked_div(width).unwrap_or(0);
    if item as usize >= n_items {
        return Err(Error::UnknownItem(item as u64));
    }
    let lat: Vec<f32> = items
        .chunks_exact(width)
        .flat_map(|r| &r[..latent])
        .copied()
        .collect();
    let me = &lat[item as usize * latent..(item as usize + 1) * latent];
    let mut norms = vec![0f32; n_items];
    let mut sims = vec![0f32; n_items];
    for (n, r) in norms.iter_mut().zip(lat.chunks_exact(latent.max(1))) {
        *n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
    }
    dots_into(me, &lat, latent, &mut sims);
    let nme = norms[item as usize];
    Ok(top_k(
        sims.iter()
            .zip(&norms)
            .enumerate()
            .filter(|&(i, _)| i != item as usize)
            .map(|(i, (s, n))| {
                let denom = nme * n;
                (i as ItemIdx, if denom > 0.0 { s / denom } else { 0.0 })
            }),
        k,
    ))
}
