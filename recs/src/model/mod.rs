//! Models: the [`Recommender`] trait, its parameters machinery and one file per model.
//!
//! Parameters fit, models predict (as in linfa): `XParams: Fit<Model = X>` validates then trains,
//! and only the fitted `X` can recommend, so an unfitted model cannot be called.

mod als;
mod any;
mod auto;
mod batch;
mod blend;
mod bpr;
mod catalog;
mod ease;
mod factors;
mod fresh;
mod gram;
mod item_knn;
#[cfg(feature = "parquet")]
mod lists_parquet;
mod ncf;
mod persist;
mod popularity;
mod sasrec;
mod spec;
mod topk;
mod transition;

pub use als::{Als, AlsParams, AlsSolver, AlsValidParams, Feedback};
pub use any::AnyModel;
pub use auto::{
    als_regularization, ease_lambda, validation_folds, validation_recall, validation_recalls,
    validation_split, AutoOptions, LambdaPath, Validation, ALS_REGULARIZATION_GRID, AUTO_K,
    BLEND_WEIGHT_GRID, EASE_LAMBDA_GRID, FRESH_RECENCY_GRID,
};
pub use batch::recommend_in_chunks;
pub use blend::{standardize, Blend, BlendParams, BlendValidParams, BLEND_DEFAULT_MEMBERS};
pub use bpr::{Bpr, BprParams, BprValidParams};
pub use catalog::{fit_named, fit_named_with, SideInfo, MODEL_NAMES};
pub use ease::{Ease, EaseParams, EaseValidParams, DENSE_BATCH_DENSITY, EASE_DEFAULT_MAX_MEMORY};
pub use factors::gram;
pub use fresh::{
    Fresh, FreshParams, FreshValidParams, FRESH_DEFAULT_BOOST, FRESH_DEFAULT_DECAY_YEARS,
    FRESH_DEFAULT_EASE_LAMBDA,
};
pub use gram::gram_dense;
pub use item_knn::{ItemKnn, ItemKnnParams, ItemKnnValidParams, Weighting};
#[cfg(feature = "parquet")]
pub use lists_parquet::{read_lists_parquet, ListRows, ListsParquetWriter, ROW_GROUP_ROWS};
pub use ncf::{EpochStats, Ncf, NcfArch, NcfOptimizer, NcfParams, NcfValidParams};
pub use persist::{
    from_bytes, load, read_header, save, to_bytes, write_atomic, Header, Persist, FORMAT_VERSION,
    MAGIC, OLDEST_FORMAT_VERSION,
};
pub use popularity::{Popularity, PopularityParams};
pub use sasrec::{SasRec, SasRecEpoch, SasRecParams, SasRecValidParams};
pub use spec::{canonical_name, Fitted, ModelSpec};
pub use topk::{top_k, top_k_dense, Scored};
pub use transition::{
    Transition, TransitionParams, TransitionValidParams, TRANSITION_DEFAULT_WINDOW,
};

use rayon::prelude::*;

use crate::data::{Interactions, ItemIdx, UserIdx};
use crate::{Error, Result};

/// Options of a `recommend` call.
///
/// ```
/// use recs::model::RecOpts;
/// let opts = RecOpts { k: 20, ..RecOpts::default() };
/// assert!(opts.filter_seen);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RecOpts<'a> {
    /// Number of items to return. Default 10.
    pub k: usize,
    /// Leave out the items in the user's history. Default true.
    pub filter_seen: bool,
    /// Items never to return (deny-list).
    pub exclude: Option<&'a [ItemIdx]>,
    /// When set, only these items are ranked (allow-list).
    pub candidates: Option<&'a [ItemIdx]>,
}

impl Default for RecOpts<'_> {
    fn default() -> Self {
        RecOpts {
            k: 10,
            filter_seen: true,
            exclude: None,
            candidates: None,
        }
    }
}

/// A fitted recommender. Object-safe: evaluation, the server and the Python binding use it as
/// `dyn Recommender`.
///
/// A model scores items for a user given that user's history (their training items). Models
/// that learn per-user state (ALS) use it for known users. A user the model was not trained on
/// is scored through [`score_history_into`](Self::score_history_into) /
/// [`recommend_history`](Self::recommend_history), which say so explicitly. (Passing a user
/// index outside the model to `score_into`, as `UserIdx::MAX`, still folds the history in for
/// ALS and BPR; new code calls the history methods.)
pub trait Recommender: Send + Sync {
    /// Short kind name, also the tag in model files (`"popularity"`, `"als"`, ...).
    fn kind(&self) -> &'static str;

    /// Number of items the model scores.
    fn n_items(&self) -> usize;

    /// Writes a score for every item into `out` (`out.len() == n_items()`).
    ///
    /// # Errors
    /// [`Error::UnknownUser`] when the model cannot score `user` (unknown and no history),
    /// [`Error::UnknownItem`] when `history` holds an item outside the model.
    fn score_into(&self, user: UserIdx, history: &[ItemIdx], out: &mut [f32]) -> Result<()>;

    /// Writes a score for every item for a user the model was not trained on, from that
    /// user's `history` alone (`out.len() == n_items()`): "recommend from a history for an
    /// unknown user". Models that ignore the user (popularity, item-kNN, EASE) score the
    /// history as [`score_into`](Self::score_into) does; ALS and BPR fold the history in
    /// (solve a user row with the item factors fixed); [`Fresh`] and [`Blend`] ask their base
    /// models. The provided method refuses: a model that needs a trained user (NCF) cannot.
    ///
    /// ```
    /// use recs::prelude::*;
    /// use recs::data::{Interactions, Record};
    ///
    /// let recs = [(0, 0), (0, 1), (1, 1), (2, 0), (2, 2)]
    ///     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
    /// let train = Interactions::from_records(3, 3, &recs, Default::default())?;
    /// let model = Popularity::params().fit(&train)?;
    /// let mut scores = vec![0.0; 3];
    /// model.score_history_into(&[2], &mut scores)?;
    /// assert!(scores[0] > scores[2]);
    /// # Ok::<(), recs::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the model cannot score without a trained user,
    /// [`Error::UnknownUser`] when a fold-in model gets an empty history (nothing to fold in),
    /// [`Error::UnknownItem`] when `history` holds an item outside the model.
    fn score_history_into(&self, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        let _ = (history, out);
        Err(Error::Unsupported(format!(
            "{} cannot score a history without a trained user",
            self.kind()
        )))
    }

    /// True when the model reads the **order** of a history (sequence models: [`Transition`],
    /// [`SasRec`]): callers must then pass histories oldest first, newest last, and a history
    /// sorted by item index means something else. Other models read a history as a set.
    ///
    /// ```
    /// use recs::prelude::*;
    /// use recs::data::{Interactions, Record};
    ///
    /// let recs = [(0, 0), (0, 1), (1, 1)]
    ///     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: Some(i as i64) });
    /// let train = Interactions::from_records(2, 2, &recs, Default::default())?;
    /// assert!(!Popularity::params().fit(&train)?.reads_order());
    /// assert!(recs::model::Transition::params().fit(&train)?.reads_order());
    /// # Ok::<(), recs::Error>(())
    /// ```
    fn reads_order(&self) -> bool {
        false
    }

    /// The top `opts.k` items for a user the model was not trained on, from their `history`
    /// alone (see [`score_history_into`](Self::score_history_into)), best first.
    ///
    /// # Errors
    /// As [`score_history_into`](Self::score_history_into); [`Error::UnknownItem`] for
    /// out-of-range candidates.
    fn recommend_history(&self, history: &[ItemIdx], opts: &RecOpts<'_>) -> Result<Vec<Scored>> {
        let n = self.n_items();
        check_candidates(opts, n)?;
        let mut buf = vec![0f32; n];
        self.score_history_into(history, &mut buf)?;
        select(&mut buf, history, opts)
    }

    /// Scores of the given `items` only. Models with a cheap per-item score override this.
    ///
    /// # Errors
    /// As [`score_into`](Self::score_into), plus [`Error::UnknownItem`] for an item out of range.
    fn score_items(
        &self,
        user: UserIdx,
        history: &[ItemIdx],
        items: &[ItemIdx],
    ) -> Result<Vec<f32>> {
        let n = self.n_items();
        check_items(items, n)?;
        let mut all = vec![0f32; n];
        self.score_into(user, history, &mut all)?;
        Ok(items.iter().map(|&i| all[i as usize]).collect())
    }

    /// The top `opts.k` items for `user`, best first.
    ///
    /// # Errors
    /// As [`score_into`](Self::score_into); [`Error::UnknownItem`] for out-of-range candidates.
    fn recommend(
        &self,
        user: UserIdx,
        history: &[ItemIdx],
        opts: &RecOpts<'_>,
    ) -> Result<Vec<Scored>> {
        let mut buf = vec![0f32; self.n_items()];
        recommend_with_buffer(self, user, history, opts, &mut buf)
    }

    /// Recommends for many users in parallel (rayon); `data` supplies each user's history.
    ///
    /// # Errors
    /// The first error of any user.
    fn recommend_batch(
        &self,
        users: &[UserIdx],
        data: &Interactions,
        opts: &RecOpts<'_>,
    ) -> Result<Vec<Vec<Scored>>> {
        users
            .par_iter()
            .map_init(
                || vec![0f32; self.n_items()],
                |buf, &u| recommend_with_buffer(self, u, data.items_of(u), opts, buf),
            )
            .collect()
    }

    /// The `k` items most similar to `item`, excluding itself.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for models without an item-similarity notion,
    /// [`Error::UnknownItem`] when `item` is out of range.
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        let _ = (item, k);
        Err(Error::Unsupported(format!(
            "{} has no item similarity",
            self.kind()
        )))
    }
}

/// The shared body of `recommend`: score all items into `buf`, then filter and select.
///
/// Public so that models overriding [`Recommender::recommend_batch`] filter the same way.
///
/// # Errors
/// As [`Recommender::recommend`].
pub fn recommend_with_buffer<R: Recommender + ?Sized>(
    model: &R,
    user: UserIdx,
    history: &[ItemIdx],
    opts: &RecOpts<'_>,
    buf: &mut [f32],
) -> Result<Vec<Scored>> {
    check_candidates(opts, model.n_items())?;
    model.score_into(user, history, buf)?;
    select(buf, history, opts)
}

/// Applies the filters of `opts` to a full score vector and returns the top k.
/// Marks filtered items in `scores` with NaN (the vector is scratch afterwards).
pub fn select(scores: &mut [f32], history: &[ItemIdx], opts: &RecOpts<'_>) -> Result<Vec<Scored>> {
    let n = scores.len();
    if opts.filter_seen {
        for &i in history {
            if let Some(s) = scores.get_mut(i as usize) {
                *s = f32::NAN;
            }
        }
    }
    if let Some(ex) = opts.exclude {
        for &i in ex {
            if let Some(s) = scores.get_mut(i as usize) {
                *s = f32::NAN;
            }
        }
    }
    Ok(match opts.candidates {
        Some(c) => {
            let mut seen = std::collections::HashSet::with_capacity(c.len());
            top_k(
                c.iter()
                    .filter(|&&i| (i as usize) < n && seen.insert(i))
                    .map(|&i| (i, scores[i as usize])),
                opts.k,
            )
        }
        None => top_k_dense(scores, opts.k, |_| false),
    })
}

/// Fits a model: implemented by a parameters struct, returns the fitted model.
pub trait Fit {
    /// The fitted model type.
    type Model: Recommender;
    /// Validates the parameters, then trains on `train`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for parameters out of range, [`Error::Data`] for unusable data.
    fn fit(&self, train: &Interactions) -> Result<Self::Model>;
}

/// Parameter validation (linfa's `ParamGuard`), shared with `data::synth`: it lives in the
/// neutral [`crate::util`] so that `data` needs nothing from `model`.
pub use crate::util::ParamGuard;

/// Checks that a score buffer has one entry per item of the model.
pub(crate) fn check_scores_len(out: &[f32], n_items: usize) -> Result<()> {
    if out.len() == n_items {
        Ok(())
    } else {
        Err(Error::Data(format!(
            "score buffer has {} entries, the model has {n_items} items",
            out.len()
        )))
    }
}

/// Checks that a user index is inside the model (for models without fold-in).
pub(crate) fn check_history(history: &[ItemIdx], n_items: usize) -> Result<()> {
    check_items(history, n_items)
}

/// [`Error::UnknownItem`] naming the first of `items` outside a model of `n_items` items: the
/// one range rule for histories, candidate lists and item lists.
pub(crate) fn check_items(items: &[ItemIdx], n_items: usize) -> Result<()> {
    match items.iter().find(|&&i| i as usize >= n_items) {
        Some(&bad) => Err(Error::UnknownItem(bad as u64)),
        None => Ok(()),
    }
}

/// [`check_items`] for `opts.candidates`, when there are any.
pub(crate) fn check_candidates(opts: &RecOpts<'_>, n_items: usize) -> Result<()> {
    opts.candidates.map_or(Ok(()), |c| check_items(c, n_items))
}
