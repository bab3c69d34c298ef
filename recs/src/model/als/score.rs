//! The fitted [`Als`] model: its matrices, fold-in of new users and scoring (the shared
//! factor-model `Recommender`).

use serde::{Deserialize, Serialize};

use crate::data::ItemIdx;
use crate::model::factors::{dots_into, factor_accessors, FactorModel, FactorView};
use crate::model::{check_history, ParamGuard, Persist};
use crate::{Error, Result};

use super::fit::*;
use super::hyperparams::*;

/// A fitted ALS model: user and item factor matrices.
///
/// Scores are dot products of a user row and an item row of the stored matrices
/// ([`user_factors`](Self::user_factors), [`item_factors`](Self::item_factors), both
/// row-major with [`factor_width`](Self::factor_width) columns). For implicit feedback the
/// width is `k`. For explicit ratings it is `k + 2`: user rows are `[x_u, 1, μ + b_u]` and
/// item rows `[y_i, b_i, 1]`, so that the dot product is the predicted rating.
///
/// Users outside the fitted ones are folded in from their history (see
/// [`recalculate_user`](Self::recalculate_user)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AlsRepr")]
pub struct Als {
    pub(super) params: AlsValidParams,
    pub(super) n_users: usize,
    pub(super) n_items: usize,
    pub(super) width: usize,
    pub(super) users: Vec<f32>,
    pub(super) items: Vec<f32>,
    /// `YᵀY` of the item factors (`k × k`), for implicit fold-in; empty for explicit.
    pub(super) item_gram: Vec<f32>,
    /// Explicit mode: the global mean rating `μ` (0 for implicit).
    pub(super) mu: f32,
    /// Explicit mode: the rating assumed for history items when folding in without values.
    pub(super) fold_in_value: f32,
}

/// The serialized form of [`Als`], validated into it on load.
#[derive(Deserialize)]
pub(super) struct AlsRepr {
    pub(super) params: AlsValidParams,
    pub(super) n_users: usize,
    pub(super) n_items: usize,
    pub(super) width: usize,
    pub(super) users: Vec<f32>,
    pub(super) items: Vec<f32>,
    pub(super) item_gram: Vec<f32>,
    pub(super) mu: f32,
    pub(super) fold_in_value: f32,
}

impl TryFrom<AlsRepr> for Als {
    type Error = String;
    fn try_from(r: AlsRepr) -> std::result::Result<Self, String> {
        let params = AlsParams(r.params)
            .check()
            .map_err(|e| format!("als parameters: {e}"))?;
        let k = params.factors;
        let (width, gram_len) = match params.feedback {
            Feedback::Implicit => (k, k * k),
            Feedback::Explicit => (k + 2, 0),
        };
        let ok = r.width == width
            && Some(r.users.len()) == r.n_users.checked_mul(width)
            && Some(r.items.len()) == r.n_items.checked_mul(width)
            && r.item_gram.len() == gram_len
            && r.fold_in_value.is_finite()
            && r.mu.is_finite()
            && r.users
                .iter()
                .chain(&r.items)
                .chain(&r.item_gram)
                .all(|v| v.is_finite());
        if !ok {
            return Err("als factor matrices are inconsistent with their dimensions".into());
        }
        Ok(Als {
            params,
            n_users: r.n_users,
            n_items: r.n_items,
            width: r.width,
            users: r.users,
            items: r.items,
            item_gram: r.item_gram,
            mu: r.mu,
            fold_in_value: r.fold_in_value,
        })
    }
}

factor_accessors!(Als);

impl Als {
    /// Default parameters.
    pub fn params() -> AlsParams {
        AlsParams::default()
    }
    /// The parameters the model was fitted with.
    pub fn fitted_params(&self) -> &AlsValidParams {
        &self.params
    }
    /// Columns of [`user_factors`](Self::user_factors) and [`item_factors`](Self::item_factors)
    /// (`k`, or `k + 2` for explicit ratings; see [`Als`]).
    pub fn factor_width(&self) -> usize {
        self.width
    }

    /// Solves a user's factor row from their history with the item factors fixed (exactly,
    /// by Cholesky), as `implicit`'s `recalculate_user`. The row has
    /// [`factor_width`](Self::factor_width) entries and can be passed to
    /// [`score_factors_into`](Self::score_factors_into).
    ///
    /// `values` are the interaction values aligned with `items`; `None` means 1.0 each for
    /// implicit feedback and the largest training rating for explicit ratings (the history is
    /// taken as liked items).
    ///
    /// ```
    /// use recs::model::{Als, Fit};
    /// # let recs = [(0, 0), (0, 1), (1, 1), (1, 2)].map(|(u, i)| recs::data::Record { user: u, item: i, value: 1.0, timestamp: None });
    /// # let train = recs::data::Interactions::from_records(2, 3, &recs, Default::default())?;
    /// let model = Als::params().factors(2).fit(&train)?;
    /// let row = model.recalculate_user(&[0, 1], None)?;
    /// let mut scores = vec![0.0; 3];
    /// model.score_factors_into(&row, &mut scores)?;
    /// # Ok::<(), recs::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownItem`] for an item outside the model, [`Error::Data`] when `values`
    /// has another length or holds a non-finite (or, for implicit feedback, negative) value,
    /// [`Error::Numerical`] when the normal equations cannot be factored.
    pub fn recalculate_user(&self, items: &[ItemIdx], values: Option<&[f32]>) -> Result<Vec<f32>> {
        check_history(items, self.n_items)?;
        let ones;
        let vals = match values {
            Some(v) => {
                if v.len() != items.len() {
                    return Err(Error::Data(format!(
                        "{} values for {} items",
                        v.len(),
                        items.len()
                    )));
                }
                let implicit = self.params.feedback == Feedback::Implicit;
                if let Some(bad) = v.iter().find(|x| !x.is_finite() || (implicit && **x < 0.0)) {
                    return Err(Error::Data(format!(
                        "interaction values must be finite{}, got {bad}",
                        if implicit { " and >= 0" } else { "" }
                    )));
                }
                v
            }
            None => {
                let fill = match self.params.feedback {
                    Feedback::Implicit => 1.0,
                    Feedback::Explicit => self.fold_in_value,
                };
                ones = vec![fill; items.len()];
                &ones[..]
            }
        };
        let k = self.params.factors;
        match self.params.feedback {
            Feedback::Implicit => {
                let side = Side {
                    fixed: &self.items,
                    d: k,
                    gram: Some(&self.item_gram),
                    weights: Weights::Implicit {
                        alpha: self.params.alpha,
                    },
                    reg: self.params.regularization,
                    nu: self.params.reg_exponent,
                    n_fixed: self.n_items,
                };
                let mut x = vec![0f32; k];
                exact_row(&side, items, vals, &mut x, &mut Scratch::new(k))?;
                Ok(x)
            }
            Feedback::Explicit => {
                // Gather `[y_i, 1]` rows and `b_i` of the history items.
                let w = self.width;
                let mut fixed = Vec::with_capacity(items.len() * (k + 1));
                let mut bias = Vec::with_capacity(items.len());
                for &i in items {
                    let row = &self.items[i as usize * w..(i as usize + 1) * w];
                    fixed.extend_from_slice(&row[..k]);
                    fixed.push(1.0);
                    bias.push(row[k]);
                }
                let idx: Vec<u32> = (0..items.len() as u32).collect();
                let side = Side {
                    fixed: &fixed,
                    d: k + 1,
                    gram: None,
                    weights: Weights::Explicit {
                        mu: self.mu(),
                        bias: &bias,
                    },
                    reg: self.params.regularization,
                    nu: self.params.reg_exponent,
                    n_fixed: items.len(),
                };
                let mut xb = vec![0f32; k + 1];
                exact_row(&side, &idx, vals, &mut xb, &mut Scratch::new(k + 1))?;
                let mut row = xb[..k].to_vec();
                row.push(1.0);
                row.push(self.mu() + xb[k]);
                Ok(row)
            }
        }
    }

    /// Scores of every item for a user factor row (from
    /// [`recalculate_user`](Self::recalculate_user) or [`user_factors`](Self::user_factors)).
    ///
    /// # Errors
    /// [`Error::Data`] when `factors` or `out` has the wrong length.
    pub fn score_factors_into(&self, factors: &[f32], out: &mut [f32]) -> Result<()> {
        if factors.len() != self.width || out.len() != self.n_items {
            return Err(Error::Data(format!(
                "expected {} factors and {} scores, got {} and {}",
                self.width,
                self.n_items,
                factors.len(),
                out.len()
            )));
        }
        dots_into(factors, &self.items, self.width, out);
        Ok(())
    }

    /// Global mean rating (explicit mode; 0 for implicit).
    pub(super) fn mu(&self) -> f32 {
        self.mu
    }
}

// ---------------------------------------------------------------------------------------------
// Recommending: the shared factor-model `Recommender` (see `factors::FactorModel`)

impl FactorModel for Als {
    fn view(&self) -> FactorView<'_> {
        self.factor_view()
    }
    /// [`Als::recalculate_user`] with the default values.
    fn fold_in(&self, history: &[ItemIdx]) -> Result<Vec<f32>> {
        self.recalculate_user(history, None)
    }
}

impl Persist for Als {
    const KIND: &'static str = "als";
}
