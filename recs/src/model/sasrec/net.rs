//! The network: weights, the forward pass with its cache, the backward pass and the
//! cross-entropy loss over all items (or over a sampled set of columns).
//!
//! `x₀ = E[item] + P[position]` (dropout), then per block
//! `x ← x + Dropout(Attn(LN₁(x)))`, `x ← x + Dropout(W₂·Dropout(ReLU(W₁·LN₂(x))))`,
//! and `h = LN_f(x)`. The score of item `j` at a position is `h·E[j]`: the item embeddings are
//! shared by the input and the output layer (as in SASRec).

use faer::Par;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::attention::{self, Shape};
use super::layers::{
    apply_mask, gemm, layer_norm_backward, layer_norm_forward, linear_backward, linear_forward,
    par_for, relu, relu_backward, softmax_in_place, split_rows_mut, View,
};
use crate::data::rng::Rng;

/// Marks "no target" in [`Batch::targets`].
pub(crate) const NONE: u32 = u32::MAX;

/// The architecture of a network.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Arch {
    pub(crate) n_items: usize,
    pub(crate) hidden: usize,
    pub(crate) heads: usize,
    pub(crate) blocks: usize,
    pub(crate) max_len: usize,
}

/// One transformer block's weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Block {
    ln1_g: Vec<f32>,
    ln1_b: Vec<f32>,
    /// `d × 3d`: query, key and value projections side by side.
    w_qkv: Vec<f32>,
    b_qkv: Vec<f32>,
    w_o: Vec<f32>,
    b_o: Vec<f32>,
    ln2_g: Vec<f32>,
    ln2_b: Vec<f32>,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
}

/// All weights of a network (also used, zeroed, for gradients and Adam moments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Weights {
    /// `n_items × d` item embeddings (input and output).
    pub(crate) item: Vec<f32>,
    /// `max_len × d` positional embeddings; the last row is the newest position.
    pub(crate) pos: Vec<f32>,
    blocks: Vec<Block>,
    lnf_g: Vec<f32>,
    lnf_b: Vec<f32>,
}

fn xavier(rng: &mut Rng, n_in: usize, n_out: usize) -> Vec<f32> {
    let limit = (6.0 / (n_in + n_out) as f32).sqrt();
    (0..n_in * n_out)
        .map(|_| (rng.gen_f32() * 2.0 - 1.0) * limit)
        .collect()
}

fn normal(rng: &mut Rng, n: usize, std: f32) -> Vec<f32> {
    (0..n).map(|_| rng.gen_normal() as f32 * std).collect()
}

impl Weights {
    /// Random initial weights (embeddings `N(0, 1/d)`, projections Xavier-uniform, layer norms
    /// the identity).
    pub(crate) fn init(arch: &Arch, seed: u64) -> Self {
        let d = arch.hidden;
        let mut rng = Rng::stream(seed, 0x5a5);
        let std = 1.0 / (d as f32).sqrt();
        let item = normal(&mut rng, arch.n_items * d, std);
        let pos = normal(&mut rng, arch.max_len * d, std);
        let blocks = (0..arch.blocks)
            .map(|_| Block {
                ln1_g: vec![1.0; d],
                ln1_b: vec![0.0; d],
                w_qkv: xavier(&mut rng, d, 3 * d),
                b_qkv: vec![0.0; 3 * d],
                w_o: xavier(&mut rng, d, d),
                b_o: vec![0.0; d],
                ln2_g: vec![1.0; d],
                ln2_b: vec![0.0; d],
                w1: xavier(&mut rng, d, d),
                b1: vec![0.0; d],
                w2: xavier(&mut rng, d, d),
                b2: vec![0.0; d],
            })
            .collect();
        Weights {
            item,
            pos,
            blocks,
            lnf_g: vec![1.0; d],
            lnf_b: vec![0.0; d],
        }
    }

    /// The same shapes, all zero.
    pub(crate) fn zeros_like(&self) -> Self {
        let mut z = self.clone();
        for t in z.tensors_mut() {
            t.iter_mut().for_each(|v| *v = 0.0);
        }
        z
    }

    /// Every tensor, in a fixed order.
    pub(crate) fn tensors_mut(&mut self) -> Vec<&mut Vec<f32>> {
        let mut out = vec![&mut self.item, &mut self.pos];
        for b in &mut self.blocks {
            out.extend([
                &mut b.ln1_g,
                &mut b.ln1_b,
                &mut b.w_qkv,
                &mut b.b_qkv,
                &mut b.w_o,
                &mut b.b_o,
                &mut b.ln2_g,
                &mut b.ln2_b,
                &mut b.w1,
                &mut b.b1,
                &mut b.w2,
                &mut b.b2,
            ]);
        }
        out.extend([&mut self.lnf_g, &mut self.lnf_b]);
        out
    }

    /// Whether the shapes agree with `arch` (a loaded file is checked before use).
    pub(crate) fn fits(&self, arch: &Arch) -> bool {
        let d = arch.hidden;
        let block_ok = |b: &Block| {
            [
                (&b.ln1_g, d),
                (&b.ln1_b, d),
                (&b.w_qkv, 3 * d * d),
                (&b.b_qkv, 3 * d),
                (&b.w_o, d * d),
                (&b.b_o, d),
                (&b.ln2_g, d),
                (&b.ln2_b, d),
                (&b.w1, d * d),
                (&b.b1, d),
                (&b.w2, d * d),
                (&b.b2, d),
            ]
            .iter()
            .all(|(v, n)| v.len() == *n)
        };
        d > 0
            && arch.heads > 0
            && d.is_multiple_of(arch.heads)
            && self.item.len() == arch.n_items * d
            && self.pos.len() == arch.max_len * d
            && self.blocks.len() == arch.blocks
            && self.blocks.iter().all(block_ok)
            && self.lnf_g.len() == d
            && self.lnf_b.len() == d
    }
}

/// A mini-batch of sequences packed back to back (no padding rows: every row is a real
/// position, so position-wise layers and attention do no wasted work on short sequences).
#[derive(Debug, Clone, Default)]
pub(crate) struct Batch {
    /// Number of sequences.
    pub(crate) b: usize,
    /// Length of the longest sequence.
    pub(crate) t: usize,
    /// Item at each row, sequence after sequence, oldest first within each.
    pub(crate) items: Vec<u32>,
    /// Sequence `s` occupies rows `offsets[s]..offsets[s + 1]`.
    pub(crate) offsets: Vec<usize>,
    /// Each row's distance from its sequence's newest position (0 for the newest): the
    /// positional embedding row is `max_len − 1 − back`.
    pub(crate) back: Vec<usize>,
    /// Item to predict at each row, [`NONE`] where there is none.
    pub(crate) targets: Vec<u32>,
}

impl Batch {
    /// A batch of the given input sequences (newest last); `targets` is empty (scoring) or one
    /// sequence per input of the same length.
    pub(crate) fn new(inputs: &[&[u32]], targets: &[&[u32]]) -> Self {
        let rows: usize = inputs.iter().map(|s| s.len()).sum();
        let mut items = Vec::with_capacity(rows);
        let mut tg = Vec::with_capacity(rows);
        let mut back = Vec::with_capacity(rows);
        let mut offsets = Vec::with_capacity(inputs.len() + 1);
        offsets.push(0);
        for (s, seq) in inputs.iter().enumerate() {
            items.extend_from_slice(seq);
            back.extend((0..seq.len()).rev());
            match targets.get(s) {
                Some(tgt) => tg.extend_from_slice(tgt),
                None => tg.extend(std::iter::repeat_n(NONE, seq.len())),
            }
            offsets.push(items.len());
        }
        Batch {
            b: inputs.len(),
            t: inputs.iter().map(|s| s.len()).max().unwrap_or(0),
            items,
            offsets,
            back,
            targets: tg,
        }
    }
}

/// What the forward pass keeps of one block for the backward pass.
#[derive(Default)]
struct BlockCache {
    xhat1: Vec<f32>,
    inv1: Vec<f32>,
    a: Vec<f32>,
    qkv: Vec<f32>,
    probs: Vec<f32>,
    o: Vec<f32>,
    mask_att: Vec<f32>,
    xhat2: Vec<f32>,
    inv2: Vec<f32>,
    c: Vec<f32>,
    f: Vec<f32>,
    mask_f: Vec<f32>,
    mask_g: Vec<f32>,
}

/// The forward pass's result: final hidden states and what backward needs. Training keeps one
/// alive across steps ([`Workspace`]) so that its buffers are reused, not reallocated (fresh
/// allocations of this size cost page faults on every step).
#[derive(Default)]
pub(crate) struct Forward {
    /// `rows × d` final hidden states.
    pub(crate) h: Vec<f32>,
    mask_emb: Vec<f32>,
    blocks: Vec<BlockCache>,
    xhat_f: Vec<f32>,
    inv_f: Vec<f32>,
    /// The residual stream and a branch output (scratch).
    x: Vec<f32>,
    y: Vec<f32>,
}

/// Sets `v` to `n` zeros, reusing its allocation.
fn zeroed(v: &mut Vec<f32>, n: usize) {
    v.clear();
    v.resize(n, 0.0);
}

/// Inverted-dropout masks (`rows × d`) drawn per sequence from streams keyed by
/// `(key, layer, sequence)`, so that they do not depend on the thread count. Left empty when
/// `p = 0` or without a key.
fn dropout_mask(m: &mut Vec<f32>, p: f32, key: Option<u64>, layer: u64, batch: &Batch, d: usize) {
    m.clear();
    let Some(key) = key else {
        return;
    };
    if p <= 0.0 {
        return;
    }
    let keep = 1.0 / (1.0 - p);
    m.resize(batch.items.len() * d, 0.0);
    split_rows_mut(m, &batch.offsets, d)
        .into_par_iter()
        .enumerate()
        .for_each(|(s, m)| {
            let mut rng = Rng::stream(key ^ layer.wrapping_mul(0x9e37_79b9_7f4a_7c15), s as u64);
            for v in m {
                *v = if rng.gen_f32() < p { 0.0 } else { keep };
            }
        });
}

/// Runs the network over `batch`. `dropout_key` is `Some` in training (masks are drawn from
/// it) and `None` for scoring.
pub(crate) fn forward(
    w: &Weights,
    arch: &Arch,
    batch: &Batch,
    dropout: f32,
    dropout_key: Option<u64>,
) -> Forward {
    let mut f = Forward::default();
    forward_into(w, arch, batch, dropout, dropout_key, &mut f);
    f
}

/// [`forward`] into the buffers of `f` (a previous step's; every buffer is rewritten).
pub(crate) fn forward_into(
    w: &Weights,
    arch: &Arch,
    batch: &Batch,
    dropout: f32,
    dropout_key: Option<u64>,
    f: &mut Forward,
) {
    let d = arch.hidden;
    let (b, t) = (batch.b, batch.t);
    let n = batch.items.len();
    let Forward {
        h,
        mask_emb,
        blocks: caches,
        xhat_f,
        inv_f,
        x,
        y,
    } = f;
    zeroed(x, n * d);
    for ((&item, &back), row) in batch
        .items
        .iter()
        .zip(&batch.back)
        .zip(x.chunks_exact_mut(d))
    {
        let e = &w.item[item as usize * d..][..d];
        let p = &w.pos[(arch.max_len - 1 - back) * d..][..d];
        for c in 0..d {
            row[c] = e[c] + p[c];
        }
    }
    dropout_mask(mask_emb, dropout, dropout_key, 1, batch, d);
    apply_mask(x, mask_emb);
    let sh = Shape {
        t,
        d,
        heads: arch.heads,
    };
    caches.resize_with(w.blocks.len(), BlockCache::default);
    for (l, (blk, cc)) in w.blocks.iter().zip(caches.iter_mut()).enumerate() {
        zeroed(&mut cc.xhat1, n * d);
        zeroed(&mut cc.inv1, n);
        zeroed(&mut cc.a, n * d);
        zeroed(&mut cc.qkv, n * 3 * d);
        zeroed(&mut cc.probs, b * arch.heads * t * t);
        zeroed(&mut cc.o, n * d);
        zeroed(&mut cc.xhat2, n * d);
        zeroed(&mut cc.inv2, n);
        zeroed(&mut cc.c, n * d);
        zeroed(&mut cc.f, n * d);
        let layer = 2 + 3 * l as u64;
        layer_norm_forward(
            x,
            &blk.ln1_g,
            &blk.ln1_b,
            &mut cc.a,
            &mut cc.xhat1,
            &mut cc.inv1,
        );
        linear_forward(&cc.a, &blk.w_qkv, &blk.b_qkv, &mut cc.qkv, d);
        attention::forward(sh, &cc.qkv, &batch.offsets, &mut cc.o, &mut cc.probs);
        zeroed(y, n * d);
        linear_forward(&cc.o, &blk.w_o, &blk.b_o, y, d);
        dropout_mask(&mut cc.mask_att, dropout, dropout_key, layer, batch, d);
        apply_mask(y, &cc.mask_att);
        for (xm, &yv) in x.iter_mut().zip(y.iter()) {
            *xm += yv;
        }
        // x is now the block's middle (after the attention residual)
        layer_norm_forward(
            x,
            &blk.ln2_g,
            &blk.ln2_b,
            &mut cc.c,
            &mut cc.xhat2,
            &mut cc.inv2,
        );
        linear_forward(&cc.c, &blk.w1, &blk.b1, &mut cc.f, d);
        relu(&mut cc.f);
        dropout_mask(&mut cc.mask_f, dropout, dropout_key, layer + 1, batch, d);
        apply_mask(&mut cc.f, &cc.mask_f);
        zeroed(y, n * d);
        linear_forward(&cc.f, &blk.w2, &blk.b2, y, d);
        dropout_mask(&mut cc.mask_g, dropout, dropout_key, layer + 2, batch, d);
        apply_mask(y, &cc.mask_g);
        for (xm, &gv) in x.iter_mut().zip(y.iter()) {
            *xm += gv;
        }
    }
    zeroed(h, n * d);
    zeroed(xhat_f, n * d);
    zeroed(inv_f, n);
    layer_norm_forward(x, &w.lnf_g, &w.lnf_b, h, xhat_f, inv_f);
}

/// Backpropagates `dh` (gradient of the loss with respect to [`Forward::h`]) and adds every
/// weight's gradient to `grad`.
pub(crate) fn backward(
    w: &Weights,
    arch: &Arch,
    batch: &Batch,
    fwd: &Forward,
    dh: &[f32],
    grad: &mut Weights,
    bufs: &mut [Vec<f32>; 5],
) {
    let d = arch.hidden;
    let (b, t) = (batch.b, batch.t);
    let n = batch.items.len();
    let sh = Shape {
        t,
        d,
        heads: arch.heads,
    };
    let [dx, tmp, tmp2, dqkv, scratch] = bufs;
    zeroed(dx, n * d);
    zeroed(tmp, n * d);
    zeroed(tmp2, n * d);
    zeroed(dqkv, n * 3 * d);
    zeroed(scratch, b * t * t);
    let (dx, tmp, tmp2, dqkv, scratch) = (
        &mut dx[..],
        &mut tmp[..],
        &mut tmp2[..],
        &mut dqkv[..],
        &mut scratch[..],
    );
    layer_norm_backward(
        dh,
        &fwd.xhat_f,
        &fwd.inv_f,
        &w.lnf_g,
        &mut grad.lnf_g,
        &mut grad.lnf_b,
        dx,
        false,
    );
    for (l, blk) in w.blocks.iter().enumerate().rev() {
        let cc = &fwd.blocks[l];
        let gb = &mut grad.blocks[l];
        // FFN branch: dx is the gradient at the block output = at the middle (residual)
        tmp.copy_from_slice(dx);
        apply_mask(tmp, &cc.mask_g);
        linear_backward(
            &cc.f,
            &blk.w2,
            tmp,
            &mut gb.w2,
            &mut gb.b2,
            Some(&mut *tmp2),
            d,
        );
        apply_mask(tmp2, &cc.mask_f);
        relu_backward(&cc.f, tmp2);
        linear_backward(
            &cc.c,
            &blk.w1,
            tmp2,
            &mut gb.w1,
            &mut gb.b1,
            Some(&mut *tmp),
            d,
        );
        layer_norm_backward(
            tmp,
            &cc.xhat2,
            &cc.inv2,
            &blk.ln2_g,
            &mut gb.ln2_g,
            &mut gb.ln2_b,
            dx,
            true,
        );
        // attention branch: dx is now the gradient at the middle = at the block input
        tmp.copy_from_slice(dx);
        apply_mask(tmp, &cc.mask_att);
        linear_backward(
            &cc.o,
            &blk.w_o,
            tmp,
            &mut gb.w_o,
            &mut gb.b_o,
            Some(&mut *tmp2),
            d,
        );
        attention::backward(sh, &cc.qkv, &cc.probs, &batch.offsets, tmp2, dqkv, scratch);
        linear_backward(
            &cc.a,
            &blk.w_qkv,
            dqkv,
            &mut gb.w_qkv,
            &mut gb.b_qkv,
            Some(&mut *tmp),
            d,
        );
        layer_norm_backward(
            tmp,
            &cc.xhat1,
            &cc.inv1,
            &blk.ln1_g,
            &mut gb.ln1_g,
            &mut gb.ln1_b,
            dx,
            true,
        );
    }
    apply_mask(dx, &fwd.mask_emb);
    for ((&item, &back), row) in batch.items.iter().zip(&batch.back).zip(dx.chunks_exact(d)) {
        let ge = &mut grad.item[item as usize * d..][..d];
        for c in 0..d {
            ge[c] += row[c];
        }
        let gp = &mut grad.pos[(arch.max_len - 1 - back) * d..][..d];
        for c in 0..d {
            gp[c] += row[c];
        }
    }
}

/// Logits a row group computes at once (~1 MB, rows of the item count): small enough that a
/// chunk's logits stay in the core's L2 cache from the product that writes them through the
/// softmax to the two products that read them.
const CHUNK_FLOATS: usize = 1 << 18;
/// But at least this many rows a chunk: each chunk streams the whole output matrix through the
/// cache twice, so with big catalogues (Beauty: 54,542 items, 4 rows in 2¹⁸ logits) the
/// products would wait on memory; 32 rows keep them compute-bound.
const MIN_CHUNK_ROWS: usize = 32;
/// Row groups of the output layer. Each group runs its chunks one after another on one thread
/// (products without inner parallelism, so no barrier waits on a loaded machine) into its own
/// gradient of the output embeddings; those are summed in group order, so the result does not
/// depend on the thread count. More groups than threads lets rayon balance them.
const GROUPS: usize = 8;
/// Bound of the groups' output-embedding gradients together (64 MB): fewer groups for big
/// catalogues.
const GROUP_GRAD_FLOATS: usize = 1 << 24;

/// Mean softmax cross-entropy of the targets of `batch` over the columns `cols` (all items
/// when `None`; a sampled set that contains every target otherwise). Writes `dh` (the gradient
/// with respect to `h`) and adds the output layer's gradient to `grad_item`. Returns the loss
/// and the number of predicted positions.
///
/// Per chunk of rows: logits `H·Eᵀ`, the softmax turned in place into the gradient of the mean
/// loss with respect to the logits (`softmax − one-hot`, over the rows), then `dH = G·E` and
/// `dE += Gᵀ·H`; the memory is bounded by [`CHUNK_FLOATS`] and [`GROUP_GRAD_FLOATS`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn cross_entropy(
    w: &Weights,
    arch: &Arch,
    batch: &Batch,
    h: &[f32],
    cols: Option<&[u32]>,
    dh: &mut [f32],
    grad_item: &mut [f32],
    bufs: &mut [Vec<f32>; 4],
) -> (f64, usize) {
    let d = arch.hidden;
    let rows: Vec<usize> = (0..batch.targets.len())
        .filter(|&r| batch.targets[r] != NONE)
        .collect();
    dh.iter_mut().for_each(|v| *v = 0.0);
    if rows.is_empty() || d == 0 {
        return (0.0, 0);
    }
    // the output matrix: all item embeddings, or the sampled rows gathered
    let (emb, n_cols, col_of): (std::borrow::Cow<'_, [f32]>, usize, Vec<u32>) = match cols {
        None => (
            std::borrow::Cow::Borrowed(&w.item[..]),
            arch.n_items,
            Vec::new(),
        ),
        Some(c) => {
            let mut g = Vec::with_capacity(c.len() * d);
            let mut col_of = vec![NONE; arch.n_items];
            for (k, &i) in c.iter().enumerate() {
                g.extend_from_slice(&w.item[i as usize * d..][..d]);
                col_of[i as usize] = k as u32;
            }
            (std::borrow::Cow::Owned(g), c.len(), col_of)
        }
    };
    if n_cols == 0 {
        return (0.0, 0);
    }
    let target_col = |r: usize| {
        let t = batch.targets[r];
        if cols.is_none() {
            t as usize
        } else {
            col_of[t as usize] as usize
        }
    };
    let n_rows = rows.len();
    let chunk = (CHUNK_FLOATS / n_cols).max(MIN_CHUNK_ROWS).min(n_rows);
    let max_groups = (GROUP_GRAD_FLOATS / (n_cols * d)).clamp(1, GROUPS);
    let per_group = n_rows.div_ceil(max_groups);
    let groups = n_rows.div_ceil(per_group);
    let [hr, dhr, demb, logits] = bufs;
    hr.clear();
    hr.extend(
        rows.iter()
            .flat_map(|&r| h[r * d..(r + 1) * d].iter().copied()),
    );
    zeroed(dhr, n_rows * d);
    zeroed(demb, groups * n_cols * d);
    zeroed(logits, groups * chunk * n_cols);
    let mut losses = vec![0f64; n_rows];
    let inv_rows = 1.0 / n_rows as f32;
    let embv = View::new(&emb, n_cols, d);
    hr.par_chunks(per_group * d)
        .zip(dhr.par_chunks_mut(per_group * d))
        .zip(losses.par_chunks_mut(per_group))
        .zip(demb.par_chunks_mut(n_cols * d))
        .zip(logits.par_chunks_mut(chunk * n_cols))
        .enumerate()
        .for_each(|(g, ((((hg, dhg), loss_g), demb_g), logits_g))| {
            let first = g * per_group;
            for c0 in (0..loss_g.len()).step_by(chunk) {
                let m = chunk.min(loss_g.len() - c0);
                let lg = &mut logits_g[..m * n_cols];
                let hv = View::new(&hg[c0 * d..(c0 + m) * d], m, d);
                gemm(lg, n_cols, hv, false, embv, true, false, Par::Seq);
                for (k, (row, loss)) in lg
                    .chunks_exact_mut(n_cols)
                    .zip(&mut loss_g[c0..c0 + m])
                    .enumerate()
                {
                    let tc = target_col(rows[first + c0 + k]);
                    // row ← softmax / n_rows: the gradient of the mean loss, but for the target
                    softmax_in_place(row, 1.0, inv_rows);
                    *loss = -((row[tc] / inv_rows) as f64).ln();
                    row[tc] -= inv_rows;
                }
                let lgv = View::new(lg, m, n_cols);
                gemm(
                    &mut dhg[c0 * d..(c0 + m) * d],
                    d,
                    lgv,
                    false,
                    embv,
                    false,
                    false,
                    Par::Seq,
                );
                gemm(demb_g, d, lgv, true, hv, false, true, Par::Seq);
            }
        });
    for (k, &r) in rows.iter().enumerate() {
        dh[r * d..(r + 1) * d].copy_from_slice(&dhr[k * d..(k + 1) * d]);
    }
    // the groups' gradients, summed in group order (per item row, in parallel over rows)
    let demb = &demb[..];
    let add_groups = |k: usize, g_row: &mut [f32]| {
        for grp in 0..groups {
            let src = &demb[grp * n_cols * d + k * d..][..d];
            for (g, v) in g_row.iter_mut().zip(src) {
                *g += v;
            }
        }
    };
    match cols {
        None => grad_item
            .par_chunks_mut(d)
            .with_min_len(256)
            .enumerate()
            .for_each(|(k, g_row)| add_groups(k, g_row)),
        Some(c) => {
            for (k, &i) in c.iter().enumerate() {
                add_groups(k, &mut grad_item[i as usize * d..][..d]);
            }
        }
    }
    (losses.iter().sum::<f64>() / n_rows as f64, n_rows)
}

/// The buffers of a training step, kept across steps.
#[derive(Default)]
pub(crate) struct Workspace {
    fwd: Forward,
    dh: Vec<f32>,
    back: [Vec<f32>; 5],
    ce: [Vec<f32>; 4],
}

/// Loss and gradients of one batch (the whole step but the update).
#[cfg(test)]
pub(crate) fn loss_and_grad(
    w: &Weights,
    arch: &Arch,
    batch: &Batch,
    cols: Option<&[u32]>,
    dropout: f32,
    dropout_key: Option<u64>,
    grad: &mut Weights,
) -> f64 {
    let mut ws = Workspace::default();
    loss_and_grad_in(w, arch, batch, cols, dropout, dropout_key, grad, &mut ws)
}

/// [`loss_and_grad`] reusing the buffers of `ws`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn loss_and_grad_in(
    w: &Weights,
    arch: &Arch,
    batch: &Batch,
    cols: Option<&[u32]>,
    dropout: f32,
    dropout_key: Option<u64>,
    grad: &mut Weights,
    ws: &mut Workspace,
) -> f64 {
    forward_into(w, arch, batch, dropout, dropout_key, &mut ws.fwd);
    zeroed(&mut ws.dh, ws.fwd.h.len());
    let (loss, rows) = cross_entropy(
        w,
        arch,
        batch,
        &ws.fwd.h,
        cols,
        &mut ws.dh,
        &mut grad.item,
        &mut ws.ce,
    );
    if rows > 0 {
        backward(w, arch, batch, &ws.fwd, &ws.dh, grad, &mut ws.back);
    }
    loss
}

/// Scores of every item after the given sequence (newest last, at most `max_len` long, not
/// empty): `h_last · Eᵀ`, written into `out`.
pub(crate) fn score_sequence(w: &Weights, arch: &Arch, seq: &[u32], out: &mut [f32]) {
    let t = seq.len();
    let batch = Batch::new(&[seq], &[]);
    let fwd = forward(w, arch, &batch, 0.0, None);
    let d = arch.hidden;
    let last = &fwd.h[(t - 1) * d..t * d];
    gemm(
        out,
        arch.n_items,
        View::new(last, 1, d),
        false,
        View::new(&w.item, arch.n_items, d),
        true,
        false,
        par_for(arch.n_items * d),
    );
}
