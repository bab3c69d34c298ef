//! Optimizers: Adam (Kingma & Ba 2015) and plain SGD, for the dense weights and for single
//! embedding rows. Embedding rows are updated lazily: only the rows a mini-batch touched move,
//! and only their Adam moments decay (TensorFlow's `LazyAdam`), so a step costs O(batch), not
//! O(users + items).

use serde::{Deserialize, Serialize};

/// The optimizer of a training stage.
///
/// ```
/// use recs::model::{Ncf, NcfOptimizer};
/// let params = Ncf::params().optimizer(NcfOptimizer::Sgd).learning_rate(0.05);
/// # let _ = params;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum NcfOptimizer {
    /// Adam with β₁ = 0.9, β₂ = 0.999, ε = 1e-8 (the paper's choice for GMF, MLP and NeuMF
    /// without pre-training). Embedding rows use lazy Adam with the global step count for the
    /// bias correction.
    #[default]
    Adam,
    /// Plain stochastic gradient descent (the paper's choice for fine-tuning a pre-trained
    /// NeuMF, whose Adam moments are lost).
    Sgd,
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPS: f32 = 1e-8;

/// Which embedding table a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Users,
    Items,
}

/// Optimizer state: the step count and, for Adam, first and second moments of every parameter.
#[derive(Debug, Clone)]
pub(crate) struct Optim {
    kind: NcfOptimizer,
    lr: f32,
    l2: f32,
    t: i32,
    lr_t: f32,
    dense_m: Vec<f32>,
    dense_v: Vec<f32>,
    user_m: Vec<f32>,
    user_v: Vec<f32>,
    item_m: Vec<f32>,
    item_v: Vec<f32>,
}

impl Optim {
    /// State for `n_dense` dense parameters and embedding tables of `n_user` / `n_item` floats.
    pub(crate) fn new(
        kind: NcfOptimizer,
        lr: f32,
        l2: f32,
        n_dense: usize,
        n_user: usize,
        n_item: usize,
    ) -> Self {
        let zeros = |n: usize| match kind {
            NcfOptimizer::Adam => vec![0f32; n],
            NcfOptimizer::Sgd => Vec::new(),
        };
        Optim {
            kind,
            lr,
            l2,
            t: 0,
            lr_t: lr,
            dense_m: zeros(n_dense),
            dense_v: zeros(n_dense),
            user_m: zeros(n_user),
            user_v: zeros(n_user),
            item_m: zeros(n_item),
            item_v: zeros(n_item),
        }
    }

    /// Starts a new step (one mini-batch): advances the step count and Adam's bias correction.
    pub(crate) fn begin_step(&mut self) {
        self.t = self.t.saturating_add(1);
        self.lr_t = match self.kind {
            NcfOptimizer::Adam => {
                let t = self.t;
                self.lr * (1.0 - BETA2.powi(t)).sqrt() / (1.0 - BETA1.powi(t))
            }
            NcfOptimizer::Sgd => self.lr,
        };
    }

    /// Updates all dense parameters `p` with their gradient `g`.
    pub(crate) fn dense(&mut self, p: &mut [f32], g: &[f32]) {
        match self.kind {
            NcfOptimizer::Adam => adam(
                p,
                g,
                &mut self.dense_m,
                &mut self.dense_v,
                self.lr_t,
                self.l2,
            ),
            NcfOptimizer::Sgd => sgd(p, g, self.lr_t, self.l2),
        }
    }

    /// Updates one embedding row `p`, stored at float offset `start` of its table, with gradient `g`.
    pub(crate) fn row(&mut self, table: Table, start: usize, p: &mut [f32], g: &[f32]) {
        match self.kind {
            NcfOptimizer::Adam => {
                let (m, v) = match table {
                    Table::Users => (&mut self.user_m, &mut self.user_v),
                    Table::Items => (&mut self.item_m, &mut self.item_v),
                };
                let end = start + p.len();
                adam(
                    p,
                    g,
                    &mut m[start..end],
                    &mut v[start..end],
                    self.lr_t,
                    self.l2,
                );
            }
            NcfOptimizer::Sgd => sgd(p, g, self.lr_t, self.l2),
        }
    }
}

/// One Adam step with L2 folded into the gradient (`g + l2·p`), bias correction folded into `lr_t`.
fn adam(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], lr_t: f32, l2: f32) {
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
        let g = g + l2 * *p;
        *m = BETA1 * *m + (1.0 - BETA1) * g;
        *v = BETA2 * *v + (1.0 - BETA2) * g * g;
        *p -= lr_t * *m / (v.sqrt() + EPS);
    }
}

/// One SGD step with L2 folded into the gradient.
fn sgd(p: &mut [f32], g: &[f32], lr: f32, l2: f32) {
    for (p, &g) in p.iter_mut().zip(g) {
        *p -= lr * (g + l2 * *p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_adam_step_moves_by_lr_times_sign() {
        let mut o = Optim::new(NcfOptimizer::Adam, 0.01, 0.0, 3, 0, 0);
        let mut p = vec![1.0f32, -2.0, 0.5];
        o.begin_step();
        o.dense(&mut p, &[0.3, -4.0, 1e-3]);
        let want = [1.0 - 0.01, -2.0 + 0.01, 0.5 - 0.01];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn sgd_step_is_exact() {
        let mut o = Optim::new(NcfOptimizer::Sgd, 0.1, 0.5, 2, 4, 0);
        let mut p = vec![1.0f32, -2.0];
        o.begin_step();
        o.row(Table::Users, 2, &mut p, &[0.5, 1.0]);
        // p - lr (g + l2 p)
        assert!((p[0] - (1.0 - 0.1 * (0.5 + 0.5))).abs() < 1e-6);
        assert!((p[1] - (-2.0 - 0.1 * (1.0 - 1.0))).abs() < 1e-6);
    }

    #[test]
    fn both_optimizers_minimise_a_quadratic() {
        for (kind, lr) in [(NcfOptimizer::Adam, 0.05), (NcfOptimizer::Sgd, 0.1)] {
            let target = [3.0f32, -1.0, 0.25];
            let mut o = Optim::new(kind, lr, 0.0, 3, 0, 0);
            let mut p = vec![0f32; 3];
            for _ in 0..2000 {
                let g: Vec<f32> = p.iter().zip(target).map(|(p, t)| p - t).collect();
                o.begin_step();
                o.dense(&mut p, &g);
            }
            for (a, b) in p.iter().zip(target) {
                assert!((a - b).abs() < 1e-2, "{kind:?}: {a} vs {b}");
            }
        }
    }

    proptest! {
        #[test]
        fn row_updates_equal_dense_updates_on_that_slice(
            p in prop::collection::vec(-1.0f32..1.0, 8),
            grads in prop::collection::vec(prop::collection::vec(-1.0f32..1.0, 8), 1..5),
            l2 in 0.0f32..0.1,
            adam in any::<bool>(),
        ) {
            let kind = if adam { NcfOptimizer::Adam } else { NcfOptimizer::Sgd };
            // a table of two rows of 4; every step touches both rows
            let mut dense = Optim::new(kind, 0.01, l2, 8, 0, 0);
            let mut rows = Optim::new(kind, 0.01, l2, 0, 0, 8);
            let mut a = p.clone();
            let mut b = p.clone();
            for g in &grads {
                dense.begin_step();
                dense.dense(&mut a, g);
                rows.begin_step();
                for r in 0..2 {
                    rows.row(Table::Items, 4 * r, &mut b[4 * r..4 * r + 4], &g[4 * r..4 * r + 4]);
                }
            }
            prop_assert_eq!(a, b);
        }
    }
}
