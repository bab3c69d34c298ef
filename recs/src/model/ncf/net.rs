//! The NCF network: parameters, forward pass and backward pass on a shard of a mini-batch.
//!
//! Parameters live in three flat buffers: a user table and an item table whose rows are
//! `[GMF factors | MLP embedding]`, and one dense buffer with, per MLP layer, `W (n_in×n_out,
//! row-major)` then `b`, followed by the prediction layer's weights and bias. One flat dense
//! buffer makes the gradient reduction across shards and the optimizer step single loops.
//!
//! A mini-batch is a list of *groups*: one user with a positive item and its sampled negatives.
//! The user's half of the first MLP layer (`p_u·W_u`) and the user's embedding gradient are
//! computed once per group, not once per instance; this is exactly the dense layer on the
//! concatenation `[p_u, q_i]`, only cheaper.

use serde::{Deserialize, Serialize};

use super::layers::{
    add_bias, bce_with_logits, col_sums, concat_backward, concat_forward, dense_backward,
    dense_forward, gather, gmf_backward, gmf_forward, mm, mm_nt, mm_tn, relu_backward,
    relu_forward,
};
use super::NcfArch;
use crate::util::rng::Xoshiro256PlusPlus as Rng;

/// Position of one dense layer in the flat dense buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LayerPos {
    pub w: usize,
    pub b: usize,
    pub n_in: usize,
    pub n_out: usize,
}

/// The parameters of a GMF, MLP or NeuMF network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Net {
    pub arch: NcfArch,
    pub n_users: usize,
    pub n_items: usize,
    /// GMF width (predictive factors); 0 for MLP.
    pub factors: usize,
    /// MLP sizes `[2·embedding, hidden…]`; empty for GMF.
    pub widths: Vec<usize>,
    /// `n_users × row()`.
    pub users: Vec<f32>,
    /// `n_items × row()`.
    pub items: Vec<f32>,
    /// MLP layers then the prediction layer.
    pub dense: Vec<f32>,
}

/// A shard of a mini-batch: `users[g]` owns instances `starts[g] - starts[0] .. starts[g + 1] -
/// starts[0]` of `items` (and of the labels).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Groups<'a> {
    pub users: &'a [u32],
    pub starts: &'a [usize],
    pub items: &'a [u32],
}

impl Groups<'_> {
    /// Local instance range of group `g`.
    fn range(&self, g: usize) -> std::ops::Range<usize> {
        self.starts[g] - self.starts[0]..self.starts[g + 1] - self.starts[0]
    }
}

/// Scratch buffers of one shard, reused across mini-batches; after `backward` they hold the
/// shard's gradients.
#[derive(Debug, Clone, Default)]
pub(crate) struct Work {
    gx: Vec<f32>,
    pu: Vec<f32>,
    qi: Vec<f32>,
    u1: Vec<f32>,
    pub(crate) acts: Vec<Vec<f32>>,
    h: Vec<f32>,
    /// Logits after `forward`, `∂L/∂z` after `backward`.
    pub(crate) z: Vec<f32>,
    dh: Vec<f32>,
    dacts: Vec<Vec<f32>>,
    /// Gradient of the dense buffer (same layout).
    pub(crate) dense_grad: Vec<f32>,
    /// Gradient of each group's user row (`groups × row`).
    pub(crate) ug: Vec<f32>,
    /// Gradient of each instance's item row (`instances × row`).
    pub(crate) ig: Vec<f32>,
}

/// Resizes `v` to `n` (contents are scratch) and returns it.
fn sized(v: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if v.len() < n {
        v.resize(n, 0.0);
    }
    &mut v[..n]
}

impl Net {
    /// Width of the MLP user (and item) embedding.
    pub(crate) fn emb(&self) -> usize {
        self.widths.first().map_or(0, |w| w / 2)
    }

    /// Width of a table row: GMF factors then MLP embedding.
    pub(crate) fn row(&self) -> usize {
        self.factors + self.emb()
    }

    /// Number of MLP dense layers.
    pub(crate) fn n_layers(&self) -> usize {
        self.widths.len().saturating_sub(1)
    }

    /// Positions of the MLP layers and of the prediction layer (last) in the dense buffer.
    pub(crate) fn layout(factors: usize, widths: &[usize]) -> (Vec<LayerPos>, usize) {
        let mut pos = Vec::with_capacity(widths.len());
        let mut off = 0;
        for w in widths.windows(2) {
            let (n_in, n_out) = (w[0], w[1]);
            pos.push(LayerPos {
                w: off,
                b: off + n_in * n_out,
                n_in,
                n_out,
            });
            off += n_in * n_out + n_out;
        }
        let n_in = factors
            + widths
                .last()
                .copied()
                .filter(|_| widths.len() > 1)
                .unwrap_or(0);
        pos.push(LayerPos {
            w: off,
            b: off + n_in,
            n_in,
            n_out: 1,
        });
        (pos, off + n_in + 1)
    }

    /// A freshly initialised network, as in the paper's Keras code: embeddings 𝒩(0, std²)
    /// (the paper: std 0.01), MLP layers Glorot-uniform, prediction layer LeCun-uniform,
    /// biases 0.
    pub(crate) fn new(
        arch: NcfArch,
        n_users: usize,
        n_items: usize,
        factors: usize,
        widths: &[usize],
        std: f32,
        rng: &mut Rng,
    ) -> Net {
        let factors = if arch == NcfArch::Mlp { 0 } else { factors };
        let widths = if arch == NcfArch::Gmf {
            Vec::new()
        } else {
            widths.to_vec()
        };
        let row = factors + widths.first().map_or(0, |w| w / 2);
        let mut emb = |n: usize| (0..n * row).map(|_| std * rng.normal()).collect::<Vec<_>>();
        let users = emb(n_users);
        let items = emb(n_items);
        let (pos, total) = Self::layout(factors, &widths);
        let mut dense = vec![0f32; total];
        let last = pos.len() - 1;
        for (l, p) in pos.iter().enumerate() {
            let limit = if l == last {
                (3.0 / p.n_in.max(1) as f32).sqrt()
            } else {
                (6.0 / (p.n_in + p.n_out) as f32).sqrt()
            };
            for w in &mut dense[p.w..p.b] {
                *w = rng.symmetric(limit);
            }
        }
        Net {
            arch,
            n_users,
            n_items,
            factors,
            widths,
            users,
            items,
            dense,
        }
    }

    /// Checks the shapes of a deserialized network.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let gmf = self.arch != NcfArch::Mlp;
        let mlp = self.arch != NcfArch::Gmf;
        if gmf != (self.factors > 0) {
            return Err(format!("{:?} with {} GMF factors", self.arch, self.factors));
        }
        if mlp && (self.widths.len() < 2 || !self.widths[0].is_multiple_of(2)) {
            return Err(format!("{:?} with MLP sizes {:?}", self.arch, self.widths));
        }
        if (!mlp && !self.widths.is_empty()) || self.widths.contains(&0) {
            return Err(format!("{:?} with MLP sizes {:?}", self.arch, self.widths));
        }
        let row = self.row();
        let n_dense = Self::layout(self.factors, &self.widths).1;
        let shapes = [
            (
                "user table",
                self.users.len(),
                self.n_users.checked_mul(row),
            ),
            (
                "item table",
                self.items.len(),
                self.n_items.checked_mul(row),
            ),
            ("dense weights", self.dense.len(), Some(n_dense)),
        ];
        for (what, got, want) in shapes {
            if Some(got) != want {
                return Err(format!("{what} has {got} values, expected {want:?}"));
            }
        }
        if [&self.users, &self.items, &self.dense]
            .iter()
            .any(|v| v.iter().any(|x| !x.is_finite()))
        {
            return Err("non-finite parameter".into());
        }
        Ok(())
    }

    /// Forward pass: the logits of every instance land in `w.z`.
    pub(crate) fn forward(&self, g: &Groups<'_>, w: &mut Work) {
        let n_g = g.users.len();
        let n_s = g.items.len();
        let (f, e, row) = (self.factors, self.emb(), self.row());
        let (pos, _) = Self::layout(f, &self.widths);
        let n_l = self.n_layers();
        // GMF: element-wise products
        let gx = sized(&mut w.gx, n_s * f);
        if f > 0 {
            for (gi, &u) in g.users.iter().enumerate() {
                let p = &self.users[u as usize * row..u as usize * row + f];
                for s in g.range(gi) {
                    let i = g.items[s] as usize;
                    gmf_forward(
                        p,
                        &self.items[i * row..i * row + f],
                        &mut gx[s * f..(s + 1) * f],
                    );
                }
            }
        }
        // MLP tower
        let mut h_last = 0;
        if e > 0 && n_l > 0 {
            w.acts.resize_with(n_l, Vec::new);
            let pu = sized(&mut w.pu, n_g * e);
            gather(&self.users, row, f, e, g.users, pu);
            let qi = sized(&mut w.qi, n_s * e);
            gather(&self.items, row, f, e, g.items, qi);
            let l0 = pos[0];
            let h1 = l0.n_out;
            let (wu, wi) = self.dense[l0.w..l0.b].split_at(e * h1);
            let u1 = sized(&mut w.u1, n_g * h1);
            mm(u1, pu, wu, n_g, e, h1, false);
            let a1 = sized(&mut w.acts[0], n_s * h1);
            mm(a1, qi, wi, n_s, e, h1, false);
            for gi in 0..n_g {
                let uu = &u1[gi * h1..(gi + 1) * h1];
                for s in g.range(gi) {
                    for (a, &b) in a1[s * h1..(s + 1) * h1].iter_mut().zip(uu) {
                        *a += b;
                    }
                }
            }
            add_bias(a1, &self.dense[l0.b..l0.b + h1]);
            relu_forward(a1);
            for l in 1..n_l {
                let p = pos[l];
                let (done, rest) = w.acts.split_at_mut(l);
                let y = sized(&mut rest[0], n_s * p.n_out);
                dense_forward(
                    &done[l - 1][..n_s * p.n_in],
                    &self.dense[p.w..p.b],
                    &self.dense[p.b..p.b + p.n_out],
                    n_s,
                    p.n_in,
                    p.n_out,
                    y,
                );
                relu_forward(y);
            }
            h_last = pos[n_l - 1].n_out;
        }
        // NeuMF: concatenate, then the prediction layer
        let out = pos[n_l];
        let h = sized(&mut w.h, n_s * out.n_in);
        let mlp_out: &[f32] = if h_last > 0 {
            &w.acts[n_l - 1][..n_s * h_last]
        } else {
            &[]
        };
        concat_forward(&gx[..n_s * f], f, mlp_out, h_last, h);
        let z = sized(&mut w.z, n_s);
        dense_forward(
            h,
            &self.dense[out.w..out.b],
            &self.dense[out.b..out.b + 1],
            n_s,
            out.n_in,
            1,
            z,
        );
    }

    /// Backward pass after [`forward`](Self::forward) on the same groups: loss is the sum of
    /// the instances' BCE times `scale` (`1 / batch size` for the batch mean). Returns the
    /// unscaled BCE sum; leaves the gradients in `w.dense_grad`, `w.ug`, `w.ig`.
    pub(crate) fn backward(&self, g: &Groups<'_>, labels: &[f32], scale: f32, w: &mut Work) -> f64 {
        let n_g = g.users.len();
        let n_s = g.items.len();
        let (f, e, row) = (self.factors, self.emb(), self.row());
        let (pos, n_dense) = Self::layout(f, &self.widths);
        let n_l = self.n_layers();
        let mut loss = 0f64;
        let dz = sized(&mut w.z, n_s);
        for (z, &y) in dz.iter_mut().zip(labels) {
            let (l, d) = bce_with_logits(*z, y);
            loss += l as f64;
            *z = d * scale;
        }
        let dg = sized(&mut w.dense_grad, n_dense);
        // prediction layer
        let out = pos[n_l];
        let dh = sized(&mut w.dh, n_s * out.n_in);
        let (dw_out, db_out) = dg[out.w..out.b + 1].split_at_mut(out.n_in);
        dense_backward(
            &w.h[..n_s * out.n_in],
            &self.dense[out.w..out.b],
            dz,
            n_s,
            out.n_in,
            1,
            dw_out,
            db_out,
            Some(dh),
        );
        // split the concatenation: GMF part into gx (no longer needed), MLP part into dacts
        let h_last = if e > 0 && n_l > 0 {
            pos[n_l - 1].n_out
        } else {
            0
        };
        w.dacts.resize_with(n_l, Vec::new);
        let dgx = sized(&mut w.gx, n_s * f);
        let dmlp: &mut [f32] = if h_last > 0 {
            sized(&mut w.dacts[n_l - 1], n_s * h_last)
        } else {
            &mut []
        };
        concat_backward(dh, f, h_last, dgx, dmlp);
        let ug = sized(&mut w.ug, n_g * row);
        ug.fill(0.0);
        let ig = sized(&mut w.ig, n_s * row);
        // GMF backward
        if f > 0 {
            for (gi, &u) in g.users.iter().enumerate() {
                let p = &self.users[u as usize * row..u as usize * row + f];
                let dp = &mut ug[gi * row..gi * row + f];
                for s in g.range(gi) {
                    let i = g.items[s] as usize;
                    gmf_backward(
                        p,
                        &self.items[i * row..i * row + f],
                        &dgx[s * f..(s + 1) * f],
                        dp,
                        &mut ig[s * row..s * row + f],
                    );
                }
            }
        }
        if h_last == 0 {
            return loss;
        }
        // MLP backward, top layer down to layer 2
        relu_backward(
            &w.acts[n_l - 1][..n_s * h_last],
            &mut w.dacts[n_l - 1][..n_s * h_last],
        );
        for l in (1..n_l).rev() {
            let p = pos[l];
            let (lo, hi) = w.dacts.split_at_mut(l);
            let dx = sized(&mut lo[l - 1], n_s * p.n_in);
            let (dw, db) = dg[p.w..p.b + p.n_out].split_at_mut(p.n_in * p.n_out);
            dense_backward(
                &w.acts[l - 1][..n_s * p.n_in],
                &self.dense[p.w..p.b],
                &hi[0][..n_s * p.n_out],
                n_s,
                p.n_in,
                p.n_out,
                dw,
                db,
                Some(dx),
            );
            relu_backward(&w.acts[l - 1][..n_s * p.n_in], dx);
        }
        // layer 1, split into its item half (per instance) and user half (per group)
        let l0 = pos[0];
        let h1 = l0.n_out;
        let d1 = &w.dacts[0][..n_s * h1];
        let (wu, wi) = self.dense[l0.w..l0.b].split_at(e * h1);
        let (dw1, db1) = dg[l0.w..l0.b + h1].split_at_mut(2 * e * h1);
        let (dwu, dwi) = dw1.split_at_mut(e * h1);
        mm_tn(dwi, &w.qi[..n_s * e], d1, n_s, e, h1, false);
        col_sums(d1, h1, db1);
        mm_nt(&mut ig[f..], row, d1, wi, n_s, h1, e);
        let du1 = sized(&mut w.u1, n_g * h1);
        du1.fill(0.0);
        for gi in 0..n_g {
            let du = &mut du1[gi * h1..(gi + 1) * h1];
            for s in g.range(gi) {
                for (a, &b) in du.iter_mut().zip(&d1[s * h1..(s + 1) * h1]) {
                    *a += b;
                }
            }
        }
        mm_tn(dwu, &w.pu[..n_g * e], du1, n_g, e, h1, false);
        mm_nt(&mut ug[f..], row, du1, wu, n_g, h1, e);
        loss
    }

    /// Logits of `items` for `user` (forward only), written to `out`.
    pub(crate) fn predict(&self, user: u32, items: &[u32], out: &mut [f32], w: &mut Work) {
        const CHUNK: usize = 1024;
        for (chunk, o) in items.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            let starts = [0, chunk.len()];
            let g = Groups {
                users: std::slice::from_ref(&user),
                starts: &starts,
                items: chunk,
            };
            self.forward(&g, w);
            o.copy_from_slice(&w.z[..chunk.len()]);
        }
    }

    /// Logit of one pair, for tests.
    #[cfg(test)]
    pub(crate) fn logit(&self, user: u32, item: u32) -> f32 {
        let mut out = [0f32];
        self.predict(user, &[item], &mut out, &mut Work::default());
        out[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng::Xoshiro256PlusPlus as Rng;
    use proptest::prelude::*;

    /// Mean BCE of a batch, and the ReLU sign pattern (to skip finite differences across a kink).
    fn loss_and_mask(net: &Net, g: &Groups<'_>, labels: &[f32]) -> (f64, Vec<bool>) {
        let mut w = Work::default();
        net.forward(g, &mut w);
        let loss = w.z[..labels.len()]
            .iter()
            .zip(labels)
            .map(|(&z, &y)| bce_with_logits(z, y).0 as f64)
            .sum::<f64>()
            / labels.len() as f64;
        let mask = w.acts.iter().flatten().map(|&a| a > 0.0).collect();
        (loss, mask)
    }

    fn arch_strategy() -> impl Strategy<Value = NcfArch> {
        prop_oneof![Just(NcfArch::Gmf), Just(NcfArch::Mlp), Just(NcfArch::NeuMf)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// The whole network (embeddings, GMF product, MLP tower with the split first layer,
        /// concatenation, prediction layer, sigmoid + BCE) against finite differences of the loss.
        #[test]
        fn network_gradient_matches_finite_differences(
            arch in arch_strategy(),
            seed in any::<u64>(),
            factors in 1usize..4,
            hidden in prop::collection::vec(1usize..5, 1..3),
            emb in 1usize..4,
            groups in prop::collection::vec((0u32..3, prop::collection::vec((0u32..5, any::<bool>()), 1..4)), 1..4),
        ) {
            let mut widths = vec![2 * emb];
            widths.extend(&hidden);
            let mut rng = Rng::new(seed, 0);
            let mut net = Net::new(arch, 3, 5, factors, &widths, 0.01, &mut rng);
            // larger values than the 0.01 init, so the check is not dominated by rounding
            for v in net.users.iter_mut().chain(net.items.iter_mut()) {
                *v = rng.symmetric(1.0);
            }
            for v in net.dense.iter_mut() {
                *v = rng.symmetric(1.0);
            }
            let users: Vec<u32> = groups.iter().map(|g| g.0).collect();
            let mut starts = vec![0usize];
            let mut items = Vec::new();
            let mut labels = Vec::new();
            for (_, inst) in &groups {
                for &(i, pos) in inst {
                    items.push(i);
                    labels.push(if pos { 1.0 } else { 0.0 });
                }
                starts.push(items.len());
            }
            let g = Groups { users: &users, starts: &starts, items: &items };
            let mut w = Work::default();
            net.forward(&g, &mut w);
            net.backward(&g, &labels, 1.0 / labels.len() as f32, &mut w);
            // dense embedding gradients from the per-group / per-instance rows
            let row = net.row();
            let mut du = vec![0f32; net.users.len()];
            for (gi, &u) in users.iter().enumerate() {
                for c in 0..row {
                    du[u as usize * row + c] += w.ug[gi * row + c];
                }
            }
            let mut di = vec![0f32; net.items.len()];
            for (s, &i) in items.iter().enumerate() {
                for c in 0..row {
                    di[i as usize * row + c] += w.ig[s * row + c];
                }
            }
            let (_, base_mask) = loss_and_mask(&net, &g, &labels);
            let h = 1e-3f32;
            let mut checked = 0;
            for which in 0..3 {
                let (n, grad): (usize, &[f32]) = match which {
                    0 => (net.users.len(), &du),
                    1 => (net.items.len(), &di),
                    _ => (net.dense.len(), &w.dense_grad[..net.dense.len()]),
                };
                for k in 0..n {
                    let eval = |delta: f32| {
                        let mut m = net.clone();
                        let v = match which { 0 => &mut m.users, 1 => &mut m.items, _ => &mut m.dense };
                        v[k] += delta;
                        loss_and_mask(&m, &g, &labels)
                    };
                    let (up, mu) = eval(h);
                    let (down, md) = eval(-h);
                    if mu != base_mask || md != base_mask {
                        continue; // the step crosses a ReLU kink
                    }
                    checked += 1;
                    let num = (up - down) / (2.0 * h as f64);
                    let ana = grad[k] as f64;
                    prop_assert!(
                        (num - ana).abs() <= 2e-3 + 2e-2 * num.abs().max(ana.abs()),
                        "{arch:?} table {which} param {k}: analytic {ana}, numeric {num}"
                    );
                }
            }
            prop_assert!(checked > 0);
        }
    }

    #[test]
    fn layout_counts_every_parameter() {
        let (pos, total) = Net::layout(8, &[64, 32, 16, 8]);
        assert_eq!(pos.len(), 4);
        assert_eq!(total, 64 * 32 + 32 + 32 * 16 + 16 + 16 * 8 + 8 + 16 + 1);
        assert_eq!(pos[3].n_in, 16);
        let (pos, total) = Net::layout(8, &[]);
        assert_eq!((pos.len(), total), (1, 9));
        let (_, total) = Net::layout(0, &[4, 2]);
        assert_eq!(total, 4 * 2 + 2 + 2 + 1);
    }

    #[test]
    fn predict_matches_single_pair_logits_and_validate_catches_bad_shapes() {
        let mut rng = Rng::new(1, 0);
        let net = Net::new(
            NcfArch::NeuMf,
            4,
            3000,
            32,
            &[64, 32, 16, 8],
            0.01,
            &mut rng,
        );
        let items: Vec<u32> = (0..3000).rev().collect();
        let mut out = vec![0f32; items.len()];
        net.predict(2, &items, &mut out, &mut Work::default());
        for k in 0..items.len() {
            assert_eq!(out[k], net.logit(2, items[k]), "item {k}");
        }
        assert!(net.validate().is_ok());
        let mut bad = net.clone();
        bad.dense.pop();
        assert!(bad.validate().is_err());
        let mut bad = net.clone();
        bad.factors = 0;
        assert!(bad.validate().is_err());
        let mut bad = net;
        bad.users[0] = f32::NAN;
        assert!(bad.validate().is_err());
    }
}
