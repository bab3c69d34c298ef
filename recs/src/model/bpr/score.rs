//! The fitted [`Bpr`] model: its factor matrices, accessors, file form and the shared
//! factor-model `Recommender`.

use serde::{Deserialize, Serialize};

use super::hyperparams::{BprParams, BprValidParams};
use crate::model::factors::{factor_accessors, FactorModel, FactorView};
use crate::model::{ItemIdx, ParamGuard, Persist};
use crate::Result;

/// A fitted BPR-MF model.
///
/// User rows are `[x_u, 1]` and item rows `[y_i, b_i]` (or `x_u` and `y_i` without item
/// bias), row-major with [`factor_width`](Self::factor_width) columns, so that a score is a
/// dot product. Users outside the fitted ones are folded in from their history by SGD on their
/// own factors, the item factors fixed (see [`recalculate_user`](Self::recalculate_user)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BprRepr")]
pub struct Bpr {
    pub(super) params: BprValidParams,
    pub(super) n_users: usize,
    pub(super) n_items: usize,
    pub(super) width: usize,
    pub(super) users: Vec<f32>,
    pub(super) items: Vec<f32>,
}

#[derive(Deserialize)]
struct BprRepr {
    params: BprValidParams,
    n_users: usize,
    n_items: usize,
    width: usize,
    users: Vec<f32>,
    items: Vec<f32>,
}

impl TryFrom<BprRepr> for Bpr {
    type Error = String;
    fn try_from(r: BprRepr) -> std::result::Result<Self, String> {
        let params = BprParams(r.params)
            .check()
            .map_err(|e| format!("bpr parameters: {e}"))?;
        let width = params.factors + usize::from(params.item_bias);
        let ok = r.width == width
            && Some(r.users.len()) == r.n_users.checked_mul(width)
            && Some(r.items.len()) == r.n_items.checked_mul(width)
            && r.users.iter().chain(&r.items).all(|v| v.is_finite());
        if !ok {
            return Err("bpr factor matrices are inconsistent with their dimensions".into());
        }
        Ok(Bpr {
            params,
            n_users: r.n_users,
            n_items: r.n_items,
            width,
            users: r.users,
            items: r.items,
        })
    }
}

factor_accessors!(Bpr);

impl Bpr {
    /// Default parameters.
    pub fn params() -> BprParams {
        BprParams::default()
    }
    /// The parameters the model was fitted with.
    pub fn fitted_params(&self) -> &BprValidParams {
        &self.params
    }
    /// Columns of the factor matrices: `k + 1` with item bias, else `k` (see [`Bpr`]).
    pub fn factor_width(&self) -> usize {
        self.width
    }
}

/// The shared factor-model `Recommender` (see `factors::FactorModel`).
impl FactorModel for Bpr {
    fn view(&self) -> FactorView<'_> {
        self.factor_view()
    }
    /// [`Bpr::recalculate_user`].
    fn fold_in(&self, history: &[ItemIdx]) -> Result<Vec<f32>> {
        self.recalculate_user(history)
    }
}

impl Persist for Bpr {
    const KIND: &'static str = "bpr";
}
