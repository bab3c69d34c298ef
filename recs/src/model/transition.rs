//! Transition: a fast sequence-aware model that trains in seconds.
//!
//! It counts, over every user's ordered training history, how often item `j` follows item `i`
//! within `window` steps, the `k`-th predecessor weighted `train_decay^(k-1)`; with weight
//! `backward` it also counts `j` *preceding* `i` (co-occurrence in the window, which helps when the
//! order is noisy). The counts are normalised by item popularity,
//! `w(i → j) = c(i → j) / (d_i^alpha · d_j^beta)` (`d` = number of users who took the item), and
//! each item keeps its `neighbors` strongest successors.
//!
//! A user's score for `j` sums the successors of their `history_len` most recent items, the
//! `k`-th newest weighted `history_decay^(k-1)`:
//! `score(j) = Σ_k history_decay^(k-1) · w(h_k → j)`.
//!
//! **Which order is the history in?** The [`Recommender`] interface passes a history as a set
//! of items (often sorted by index). The model stores each training user's ordered sequence;
//! for a known user, items of the given history that are not in that training sequence count as
//! the newest, in the order given (live events appended in arrival order); training items
//! missing from the given history are still used. An unknown user's history is taken in the
//! order given (oldest first), as is every history given to
//! [`Recommender::score_history_into`] / [`Recommender::recommend_history`] (no training user:
//! "what comes after these items?").

use std::collections::HashSet;
use std::ops::Bound;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{
    check_history, check_scores_len, top_k, Fit, ParamGuard, Persist, Recommender, Scored,
};
use crate::data::{Interactions, ItemIdx, Sequences, UserIdx};
use crate::util::{ensure_in, ensure_non_negative};
use crate::{Error, Result};

/// Parameters of [`Transition`]. Build with [`Transition::params`].
///
/// ```
/// use recs::data::{Interactions, Sequences};
/// use recs::model::{Fit, RecOpts, Recommender, Transition};
/// // three users watch 0 → 1 → 2; a fourth has watched 0 only
/// let seqs = Sequences::from_lists(3, &[vec![0, 1, 2], vec![0, 1, 2], vec![0, 1, 2], vec![0]])?;
/// let train = seqs.to_interactions()?;
/// let model = Transition::params().fit(&train)?;
/// let top = model.recommend(3, train.items_of(3), &RecOpts { k: 1, ..Default::default() })?;
/// assert_eq!(top[0].item, 1); // what follows 0
/// // a live event: the user then watched 1, so 2 comes next
/// let top = model.recommend(3, &[0, 1], &RecOpts { k: 1, ..Default::default() })?;
/// assert_eq!(top[0].item, 2);
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionParams(TransitionValidParams);

/// Validated [`TransitionParams`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionValidParams {
    window: usize,
    train_decay: f32,
    backward: f32,
    alpha: f32,
    beta: f32,
    history_len: usize,
    history_decay: f32,
    neighbors: usize,
}

/// Default `window` of [`TransitionParams`].
pub const TRANSITION_DEFAULT_WINDOW: usize = 10;

impl Default for TransitionParams {
    fn default() -> Self {
        TransitionParams(TransitionValidParams {
            window: TRANSITION_DEFAULT_WINDOW,
            train_decay: 0.5,
            backward: 0.0,
            alpha: 0.25,
            beta: 0.0,
            history_len: 10,
            history_decay: 0.5,
            neighbors: 500,
        })
    }
}

impl TransitionParams {
    /// How many predecessors of each item count as its "sources" when training. Default 10;
    /// must be ≥ 1.
    ///
    /// The defaults (window 10, backward 0, alpha 0.25, beta 0) were chosen on the
    /// **validation item** of B1 (Amazon Beauty) and S1 (ML-1M users 1–2999), jointly over
    /// window × backward × alpha × beta (`cargo run -p recs-benches --example seq_grid --
    /// --product FILES`): B1 HR@10 / NDCG@10 0.0669 / 0.0432 (the issue's calibration model,
    /// window 10 and no normalisation, 0.0661 / 0.0426; the earlier defaults window 5, backward
    /// 0.5, alpha 0.5, beta 0.25 0.0619 / 0.0398); S1 0.2841 / 0.1671 (calibration 0.2784 /
    /// 0.1639; earlier defaults 0.2781 / 0.1613). docs/benchmarks.md has the rows.
    pub fn window(mut self, w: usize) -> Self {
        self.0.window = w;
        self
    }
    /// Weight ratio between the `k`-th and `(k+1)`-th predecessor. Default 0.5; in (0, 1].
    pub fn train_decay(mut self, d: f32) -> Self {
        self.0.train_decay = d;
        self
    }
    /// Weight of the reverse direction (j preceded i) relative to the forward one.
    /// finite and ≥ 0 (0 = pure transitions). Default 0.
    pub fn backward(mut self, b: f32) -> Self {
        self.0.backward = b;
        self
    }
    /// Exponent of the source item's popularity in the normalisation. Default 0.25; in [0, 2].
    pub fn alpha(mut self, a: f32) -> Self {
        self.0.alpha = a;
        self
    }
    /// Exponent of the target item's popularity in the normalisation. Default 0; in [0, 2].
    ///
    /// On the validation item (second-last, fit on all but the last two), with the earlier
    /// window 5 / backward 0.5 / alpha 0.5: S1 HR@10 / NDCG@10 0.2781 / 0.1613 at 0.25,
    /// 0.2781 / 0.1610 at 0, 0.2664 / 0.1541 at 0.5, 0.1010 / 0.0463 at 1; ML-100K 0.2025 /
    /// 0.1062 at 0.25, 0.2100 / 0.1112 at 0, 0.1792 / 0.0934 at 0.5. The joint search behind
    /// the current defaults is under [`window`](Self::window).
    pub fn beta(mut self, b: f32) -> Self {
        self.0.beta = b;
        self
    }
    /// How many of the user's newest items are scored from. Default 10; must be ≥ 1.
    pub fn history_len(mut self, n: usize) -> Self {
        self.0.history_len = n;
        self
    }
    /// Weight ratio between the `k`-th and `(k+1)`-th newest history item. Default 0.5; in (0, 1].
    pub fn history_decay(mut self, d: f32) -> Self {
        self.0.history_decay = d;
        self
    }
    /// Successors kept per item (memory is at most `items × neighbors`). Default 500; ≥ 1.
    pub fn neighbors(mut self, n: usize) -> Self {
        self.0.neighbors = n;
        self
    }
}

impl TransitionValidParams {
    /// Training window.
    pub fn window(&self) -> usize {
        self.window
    }
    /// Training decay.
    pub fn train_decay(&self) -> f32 {
        self.train_decay
    }
    /// Reverse-direction weight.
    pub fn backward(&self) -> f32 {
        self.backward
    }
    /// Source popularity exponent.
    pub fn alpha(&self) -> f32 {
        self.alpha
    }
    /// Target popularity exponent.
    pub fn beta(&self) -> f32 {
        self.beta
    }
    /// History items scored from.
    pub fn history_len(&self) -> usize {
        self.history_len
    }
    /// History decay.
    pub fn history_decay(&self) -> f32 {
        self.history_decay
    }
    /// Successors kept per item.
    pub fn neighbors(&self) -> usize {
        self.neighbors
    }
}

impl ParamGuard for TransitionParams {
    type Checked = TransitionValidParams;
    fn check_ref(&self) -> Result<&Self::Checked> {
        let p = &self.0;
        let unit = (Bound::Excluded(0.0), Bound::Included(1.0)); // (0, 1]
        ensure_in("window", "an integer ≥ 1", p.window, 1..)?;
        ensure_in("train_decay", "a number in (0, 1]", p.train_decay, unit)?;
        ensure_non_negative("backward", "a finite number ≥ 0", p.backward)?;
        ensure_in("alpha", "a number in [0, 2]", p.alpha, 0.0..=2.0)?;
        ensure_in("beta", "a number in [0, 2]", p.beta, 0.0..=2.0)?;
        ensure_in("history_len", "an integer ≥ 1", p.history_len, 1..)?;
        ensure_in("history_decay", "a number in (0, 1]", p.history_decay, unit)?;
        ensure_in("neighbors", "an integer ≥ 1", p.neighbors, 1..)?;
        Ok(p)
    }
    fn check(self) -> Result<Self::Checked> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// A fitted transition model: each item's strongest successors, the training users' ordered
/// histories, and item popularity (a tie-breaker and the answer for an empty history).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TransitionRaw")]
pub struct Transition {
    params: TransitionValidParams,
    /// Successors of item `i` are `successors[indptr[i]..indptr[i + 1]]`.
    indptr: Vec<usize>,
    successors: Vec<ItemIdx>,
    weights: Vec<f32>,
    /// Popularity scaled so that it never outweighs a real transition (see `fit`).
    tie_break: Vec<f32>,
    sequences: Sequences,
}

/// The serialized form, checked into [`Transition`] so that a crafted file cannot make scoring
/// index out of bounds.
#[derive(Deserialize)]
struct TransitionRaw {
    params: TransitionValidParams,
    indptr: Vec<usize>,
    successors: Vec<ItemIdx>,
    weights: Vec<f32>,
    tie_break: Vec<f32>,
    sequences: Sequences,
}

impl TryFrom<TransitionRaw> for Transition {
    type Error = String;
    fn try_from(r: TransitionRaw) -> std::result::Result<Self, String> {
        TransitionParams(r.params.clone())
            .check_ref()
            .map_err(|e| e.to_string())?;
        let n = r.indptr.len().checked_sub(1).ok_or("empty indptr")?;
        let monotone = r.indptr.first() == Some(&0) && r.indptr.windows(2).all(|w| w[0] <= w[1]);
        if !monotone
            || r.indptr[n] != r.successors.len()
            || r.successors.len() != r.weights.len()
            || r.tie_break.len() != n
            || r.sequences.n_items() != n
            || r.successors.iter().any(|&j| j as usize >= n)
        {
            return Err("inconsistent transition model arrays".into());
        }
        Ok(Transition {
            params: r.params,
            indptr: r.indptr,
            successors: r.successors,
            weights: r.weights,
            tie_break: r.tie_break,
            sequences: r.sequences,
        })
    }
}

impl Transition {
    /// Default parameters.
    pub fn params() -> TransitionParams {
        TransitionParams::default()
    }
    /// The parameters it was fitted with.
    pub fn fitted_params(&self) -> &TransitionValidParams {
        &self.params
    }
    /// The training users' ordered histories.
    pub fn sequences(&self) -> &Sequences {
        &self.sequences
    }
    /// The (successor, weight) lists of `item`, strongest first.
    pub fn successors_of(&self, item: ItemIdx) -> (&[ItemIdx], &[f32]) {
        let i = item as usize;
        if i + 1 >= self.indptr.len() {
            return (&[], &[]);
        }
        let r = self.indptr[i]..self.indptr[i + 1];
        (&self.successors[r.clone()], &self.weights[r])
    }

    /// The user's items oldest → newest as the model reads them (see the module docs), cut to
    /// the newest `history_len`.
    pub fn ordered_history(&self, user: UserIdx, history: &[ItemIdx]) -> Vec<ItemIdx> {
        let stored = self.sequences.get(user);
        let mut order: Vec<ItemIdx> = stored.to_vec();
        if !history.is_empty() {
            let known: HashSet<ItemIdx> = stored.iter().copied().collect();
            let mut added = HashSet::new();
            order.extend(
                history
                    .iter()
                    .copied()
                    .filter(|i| !known.contains(i) && added.insert(*i)),
            );
        }
        let cut = order.len().saturating_sub(self.params.history_len);
        order.drain(..cut);
        order
    }
}

impl Transition {
    /// `score(j) = tie_break(j) + Σ_k history_decay^(k-1) · w(h_k → j)` over `ordered`
    /// (oldest → newest, already cut to `history_len`).
    fn score_ordered(&self, ordered: &[ItemIdx], out: &mut [f32]) {
        out.copy_from_slice(&self.tie_break);
        let mut w = 1.0f32;
        for &i in ordered.iter().rev() {
            let (succ, ws) = self.successors_of(i);
            for (&j, &v) in succ.iter().zip(ws) {
                out[j as usize] += w * v;
            }
            w *= self.params.history_decay;
        }
    }
}

impl Fit for TransitionParams {
    type Model = Transition;
    fn fit(&self, train: &Interactions) -> Result<Transition> {
        let p = self.check_ref()?.clone();
        let n = train.n_items();
        let sequences = Sequences::from_interactions(train)?;
        let degree: Vec<f32> = train.item_counts().iter().map(|&c| c as f32).collect();

        // Pass 1: how many (source → target) pairs each source has; pass 2 fills them.
        let decay: Vec<f32> = (0..p.window)
            .map(|k| p.train_decay.powi(k as i32))
            .collect();
        let mut count = vec![0usize; n + 1];
        let both = p.backward > 0.0;
        let for_pairs = |f: &mut dyn FnMut(usize, ItemIdx, f32)| {
            for u in 0..sequences.n_users() {
                let s = sequences.get(u as UserIdx);
                for t in 1..s.len() {
                    for k in 1..=p.window.min(t) {
                        let (src, dst, w) = (s[t - k], s[t], decay[k - 1]);
                        f(src as usize, dst, w);
                        if both {
                            f(dst as usize, src, w * p.backward);
                        }
                    }
                }
            }
        };
        for_pairs(&mut |src, _, _| count[src + 1] += 1);
        for i in 0..n {
            count[i + 1] += count[i];
        }
        let total = count[n];
        let mut next = count.clone();
        let mut targets = vec![0 as ItemIdx; total];
        let mut pair_w = vec![0f32; total];
        for_pairs(&mut |src, dst, w| {
            targets[next[src]] = dst;
            pair_w[next[src]] = w;
            next[src] += 1;
        });

        // Per source: sum the pairs into a dense scratch, normalise, keep the strongest.
        let keep = p.neighbors;
        let rows: Vec<Vec<Scored>> = (0..n)
            .into_par_iter()
            .map_init(
                || (vec![0f32; n], Vec::<ItemIdx>::new()),
                |(acc, touched), i| {
                    touched.clear();
                    for k in count[i]..count[i + 1] {
                        let j = targets[k];
                        if acc[j as usize] == 0.0 {
                            touched.push(j);
                        }
                        acc[j as usize] += pair_w[k];
                    }
                    let di = degree[i].max(1.0).powf(p.alpha);
                    let row = top_k(
                        touched.iter().map(|&j| {
                            let dj = degree[j as usize].max(1.0).powf(p.beta);
                            // an item never follows itself usefully: it is always seen
                            let w = if j as usize == i {
                                f32::NAN
                            } else {
                                acc[j as usize] / (di * dj)
                            };
                            (j, w)
                        }),
                        keep,
                    );
                    touched.iter().for_each(|&j| acc[j as usize] = 0.0);
                    row
                },
            )
            .collect();
        let total: usize = rows.iter().map(Vec::len).sum();
        let mut indptr = Vec::with_capacity(n + 1);
        let mut successors = Vec::with_capacity(total);
        let mut weights = Vec::with_capacity(total);
        indptr.push(0);
        for row in rows {
            for s in row {
                successors.push(s.item);
                weights.push(s.score);
            }
            indptr.push(successors.len());
        }
        // Popularity breaks ties (and answers an empty history) without ever outranking a real
        // transition: scaled below the smallest history-weighted weight.
        let min_w = weights
            .iter()
            .copied()
            .fold(f32::INFINITY, f32::min)
            .min(1.0);
        let floor = min_w * p.history_decay.powi(p.history_len as i32) * 1e-3;
        let max_d = degree.iter().copied().fold(1.0f32, f32::max);
        let tie_break = degree.iter().map(|&d| floor * d / max_d).collect();
        Ok(Transition {
            params: p,
            indptr,
            successors,
            weights,
            tie_break,
            sequences,
        })
    }
}

impl Recommender for Transition {
    fn kind(&self) -> &'static str {
        Self::KIND
    }
    fn n_items(&self) -> usize {
        self.indptr.len() - 1
    }
    fn score_into(&self, user: UserIdx, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        let n = self.n_items();
        check_history(history, n)?;
        check_scores_len(out, n)?;
        self.score_ordered(&self.ordered_history(user, history), out);
        Ok(())
    }
    /// Scores a user the model was not trained on from `history` taken **in the order given**
    /// (oldest first, newest last), cut to the newest `history_len` items: the live "what
    /// next after these items?" question.
    fn score_history_into(&self, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        let n = self.n_items();
        check_history(history, n)?;
        check_scores_len(out, n)?;
        let mut seen = HashSet::new();
        // a repeated item counts at its newest position
        let mut order: Vec<ItemIdx> = history
            .iter()
            .rev()
            .copied()
            .filter(|i| seen.insert(*i))
            .take(self.params.history_len)
            .collect();
        order.reverse();
        self.score_ordered(&order, out);
        Ok(())
    }
    fn reads_order(&self) -> bool {
        true
    }
    /// Items that most often follow or accompany `item`, strongest first.
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        if item as usize >= self.n_items() {
            return Err(Error::UnknownItem(item as u64));
        }
        let (succ, ws) = self.successors_of(item);
        Ok(succ
            .iter()
            .zip(ws)
            .take(k)
            .map(|(&item, &score)| Scored { item, score })
            .collect())
    }
}

impl Persist for Transition {
    const KIND: &'static str = "transition";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{from_bytes, to_bytes, RecOpts};
    use proptest::prelude::*;

    fn train_of(n_items: usize, lists: &[Vec<ItemIdx>]) -> Interactions {
        Sequences::from_lists(n_items, lists)
            .unwrap()
            .to_interactions()
            .unwrap()
    }

    #[test]
    fn hand_worked_scores() {
        // users: 0→1→2 and 0→2. window 2, train_decay 0.5, backward 0, alpha = beta = 0.
        // counts: 0→1: 1; 1→2: 1; 0→2: 0.5 (2nd predecessor) + 1 (user 1) = 1.5.
        let train = train_of(3, &[vec![0, 1, 2], vec![0, 2]]);
        let m = Transition::params()
            .window(2)
            .backward(0.0)
            .alpha(0.0)
            .beta(0.0)
            .history_decay(0.5)
            .fit(&train)
            .unwrap();
        assert_eq!(m.successors_of(0), (&[2, 1][..], &[1.5, 1.0][..]));
        assert_eq!(m.successors_of(1), (&[2][..], &[1.0][..]));
        // an unknown user who watched 1 then 0: score(j) = w(0→j) + 0.5 · w(1→j)
        let mut out = vec![0f32; 3];
        m.score_into(9, &[1, 0], &mut out).unwrap();
        assert!((out[2] - (1.5 + 0.5)).abs() < 1e-4, "{out:?}");
        assert!((out[1] - 1.0).abs() < 1e-4, "{out:?}");
        // with alpha = beta = 1: 0→2 is 1.5 / (d0 · d2) = 1.5 / (2 · 2), 0→1 is 1 / (2 · 1)
        let m = Transition::params()
            .window(2)
            .backward(0.0)
            .alpha(1.0)
            .beta(1.0)
            .fit(&train)
            .unwrap();
        assert_eq!(m.successors_of(0), (&[1, 2][..], &[0.5, 0.375][..]));
    }

    #[test]
    fn backward_counts_the_reverse_direction() {
        let train = train_of(2, &[vec![0, 1]]);
        let m = Transition::params()
            .backward(0.25)
            .alpha(0.0)
            .beta(0.0)
            .fit(&train)
            .unwrap();
        assert_eq!(m.successors_of(1), (&[0][..], &[0.25][..]));
    }

    #[test]
    fn known_user_new_items_count_as_newest_in_given_order() {
        // user 0 trained on 0 → 1. Live events 3 then 2 (given in that order, unsorted).
        let train = train_of(5, &[vec![0, 1], vec![3, 4], vec![2, 0]]);
        let m = Transition::params().fit(&train).unwrap();
        assert_eq!(m.ordered_history(0, &[0, 1, 3, 2]), [0, 1, 3, 2]);
        // given history order does not matter for the known training items
        assert_eq!(m.ordered_history(0, &[1, 0]), [0, 1]);
        assert_eq!(m.ordered_history(0, &[]), [0, 1]);
        // unknown user: the order given
        assert_eq!(m.ordered_history(7, &[4, 2]), [4, 2]);
        // a watch event changes the answer: after 3 comes 4
        let opts = RecOpts {
            k: 1,
            ..Default::default()
        };
        let before = m.recommend(0, &[0, 1], &opts).unwrap();
        let after = m.recommend(0, &[0, 1, 3], &opts).unwrap();
        assert_ne!(before[0].item, 4);
        assert_eq!(after[0].item, 4);
    }

    #[test]
    fn empty_history_gets_popular_items_and_bad_input_is_an_error() {
        let train = train_of(3, &[vec![2], vec![2, 1]]);
        let m = Transition::params().fit(&train).unwrap();
        let top = m.recommend(9, &[], &RecOpts::default()).unwrap();
        assert_eq!(top[0].item, 2);
        assert!(m.recommend(0, &[5], &RecOpts::default()).is_err());
        assert!(Transition::params().window(0).fit(&train).is_err());
        assert!(Transition::params().history_decay(0.0).fit(&train).is_err());
        assert!(Transition::params()
            .fit(&Interactions::from_pairs(1, 2, &[(0, 1)]))
            .is_err());
    }

    #[test]
    fn save_load_round_trip_and_damaged_file() {
        let train = train_of(4, &[vec![0, 1, 2], vec![3, 1], vec![2, 0, 3]]);
        let m = Transition::params().fit(&train).unwrap();
        let bytes = to_bytes(&m).unwrap();
        let back: Transition = from_bytes(&bytes).unwrap();
        assert_eq!(back, m);
        let mut bad = m.clone();
        bad.successors[0] = 99;
        assert!(from_bytes::<Transition>(&to_bytes(&bad).unwrap()).is_err());
    }

    #[test]
    fn history_without_a_user_is_read_in_the_given_order() {
        // 0 → 1 and 2 → 3: the newest item decides the top answer
        let train = train_of(4, &[vec![0, 1], vec![0, 1], vec![2, 3]]);
        let m = Transition::params().backward(0.0).fit(&train).unwrap();
        let opts = RecOpts {
            k: 1,
            ..Default::default()
        };
        assert_eq!(m.recommend_history(&[2, 0], &opts).unwrap()[0].item, 1);
        assert_eq!(m.recommend_history(&[0, 2], &opts).unwrap()[0].item, 3);
        // a repeated item counts at its newest position: [0, 2, 0] reads as 2 then 0
        assert_eq!(m.recommend_history(&[0, 2, 0], &opts).unwrap()[0].item, 1);
        // history_len 1: only the newest item is read
        let m1 = Transition::params().history_len(1).fit(&train).unwrap();
        let (mut a, mut b) = (vec![0f32; 4], vec![0f32; 4]);
        m1.score_history_into(&[2, 0], &mut a).unwrap();
        m1.score_history_into(&[0], &mut b).unwrap();
        assert_eq!(a, b);
        // the same scores as an unknown user with that history
        let (mut c, mut d) = (vec![0f32; 4], vec![0f32; 4]);
        m.score_history_into(&[2, 0], &mut c).unwrap();
        m.score_into(99, &[2, 0], &mut d).unwrap();
        assert_eq!(c, d);
        assert!(m.score_history_into(&[7], &mut c).is_err());
    }

    fn sequences() -> impl Strategy<Value = Vec<Vec<ItemIdx>>> {
        prop::collection::vec(
            prop::collection::vec(0u32..12, 0..8).prop_map(|v| {
                let mut seen = HashSet::new();
                v.into_iter().filter(|i| seen.insert(*i)).collect()
            }),
            1..8,
        )
    }

    proptest! {
        #[test]
        fn never_recommends_the_history(lists in sequences(), user in 0u32..10) {
            let train = train_of(12, &lists);
            let m = Transition::params().fit(&train).unwrap();
            let hist = train.items_of(user).to_vec();
            let top = m.recommend(user, &hist, &RecOpts { k: 12, ..Default::default() }).unwrap();
            prop_assert!(top.iter().all(|s| !hist.contains(&s.item)));
        }

        #[test]
        fn with_history_len_1_only_the_newest_item_matters(
            lists in sequences(), mut hist in prop::collection::vec(0u32..12, 2..6)
        ) {
            let mut seen = HashSet::new();
            hist.retain(|i| seen.insert(*i));
            let train = train_of(12, &lists);
            let m = Transition::params().history_len(1).fit(&train).unwrap();
            let mut a = vec![0f32; 12];
            m.score_into(99, &hist, &mut a).unwrap();
            // permute everything but the newest item
            let last = hist.len() - 1;
            hist[..last].reverse();
            let mut b = vec![0f32; 12];
            m.score_into(99, &hist, &mut b).unwrap();
            prop_assert_eq!(a, b);
        }
    }
}
