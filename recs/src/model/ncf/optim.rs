//! Optimizers: Adam (Kingma & Ba 2015) and plain SGD, applied to slices of parameters so that
//! the update of one mini-batch can be split across threads.
//!
//! Embedding rows are updated lazily: only the rows a mini-batch touched move, and only their
//! Adam moments decay (TensorFlow's `LazyAdam`), so a step costs O(batch), not O(users + items).

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

/// The step counter of a stage; hands out the constants of each step.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    kind: NcfOptimizer,
    lr: f32,
    t: i32,
}

/// The constants of one optimizer step (one mini-batch).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    adam: bool,
    /// Learning rate with Adam's bias correction folded in.
    lr_t: f32,
}

impl Schedule {
    pub(crate) fn new(kind: NcfOptimizer, lr: f32) -> Self {
        Schedule { kind, lr, t: 0 }
    }

    /// Whether the optimizer keeps moments (Adam).
    pub(crate) fn has_moments(&self) -> bool {
        self.kind == NcfOptimizer::Adam
    }

    /// Advances the step count and returns the step's constants.
    pub(crate) fn next(&mut self) -> Step {
        self.t = self.t.saturating_add(1);
        let (adam, lr_t) = match self.kind {
            NcfOptimizer::Adam => {
                let t = self.t;
                (
                    true,
                    self.lr * (1.0 - BETA2.powi(t)).sqrt() / (1.0 - BETA1.powi(t)),
                )
            }
            NcfOptimizer::Sgd => (false, self.lr),
        };
        Step { adam, lr_t }
    }
}

/// Updates parameters `p` with gradient `scale·g`. For Adam, `m` and `v` are the
/// moments of `p` (same length); SGD ignores them.
pub(crate) fn update(
    step: Step,
    p: &mut [f32],
    g: &[f32],
    scale: f32,
    m: &mut [f32],
    v: &mut [f32],
) {
    let lr = step.lr_t;
    if step.adam {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
            let g = scale * g;
            *m = BETA1 * *m + (1.0 - BETA1) * g;
            *v = BETA2 * *v + (1.0 - BETA2) * g * g;
            *p -= lr * *m / (v.sqrt() + EPS);
        }
    } else {
        for (p, &g) in p.iter_mut().zip(g) {
            *p -= lr * scale * g;
        }
    }
}

/// [`update`] of one embedding row whose moments are stored together as `[m | v]` in `mv`
/// (one memory block per row: fewer cache misses than two tables).
pub(crate) fn update_row(step: Step, p: &mut [f32], g: &[f32], scale: f32, mv: &mut [f32]) {
    if step.adam {
        let (m, v) = mv.split_at_mut(p.len());
        update(step, p, g, scale, m, v);
    } else {
        update(step, p, g, scale, &mut [], &mut []);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_adam_step_moves_by_lr_times_sign() {
        let mut s = Schedule::new(NcfOptimizer::Adam, 0.01);
        let (mut m, mut v) = (vec![0f32; 3], vec![0f32; 3]);
        let mut p = vec![1.0f32, -2.0, 0.5];
        update(s.next(), &mut p, &[0.3, -4.0, 1e-3], 1.0, &mut m, &mut v);
        let want = [1.0 - 0.01, -2.0 + 0.01, 0.5 - 0.01];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn sgd_step_is_exact() {
        let mut s = Schedule::new(NcfOptimizer::Sgd, 0.1);
        assert!(!s.has_moments());
        let mut p = vec![1.0f32, -2.0];
        update_row(s.next(), &mut p, &[0.25, -0.5], 2.0, &mut []);
        // p - lr scale g
        assert!((p[0] - (1.0 - 0.1 * 0.5)).abs() < 1e-6);
        assert!((p[1] - (-2.0 + 0.1 * 1.0)).abs() < 1e-6);
    }

    #[test]
    fn both_optimizers_minimise_a_quadratic() {
        for (kind, lr) in [(NcfOptimizer::Adam, 0.05), (NcfOptimizer::Sgd, 0.1)] {
            let target = [3.0f32, -1.0, 0.25];
            let mut s = Schedule::new(kind, lr);
            let (mut m, mut v) = (vec![0f32; 3], vec![0f32; 3]);
            let mut p = vec![0f32; 3];
            for _ in 0..2000 {
                let g: Vec<f32> = p.iter().zip(target).map(|(p, t)| p - t).collect();
                update(s.next(), &mut p, &g, 1.0, &mut m, &mut v);
            }
            for (a, b) in p.iter().zip(target) {
                assert!((a - b).abs() < 1e-2, "{kind:?}: {a} vs {b}");
            }
        }
    }

    proptest! {
        #[test]
        fn row_updates_with_joint_moments_equal_plain_updates(
            p in prop::collection::vec(-1.0f32..1.0, 4),
            grads in prop::collection::vec(prop::collection::vec(-1.0f32..1.0, 4), 1..5),
            scale in 0.1f32..2.0,
        ) {
            let mut s1 = Schedule::new(NcfOptimizer::Adam, 0.01);
            let mut s2 = s1.clone();
            let (mut m, mut v, mut mv) = (vec![0f32; 4], vec![0f32; 4], vec![0f32; 8]);
            let mut a = p.clone();
            let mut b = p.clone();
            for g in &grads {
                update(s1.next(), &mut a, g, scale, &mut m, &mut v);
                update_row(s2.next(), &mut b, g, scale, &mut mv);
            }
            prop_assert_eq!(a, b);
            prop_assert_eq!(&mv[..4], &m[..]);
            prop_assert_eq!(&mv[4..], &v[..]);
        }
    }
}
