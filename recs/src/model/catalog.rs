//! Models by name: how the CLI, the server's demo and retraining pick a model from a string.

use super::{
    Als, AnyModel, Blend, Bpr, Ease, Fit, Fresh, ItemKnn, Ncf, NcfArch, Popularity, SasRec,
    Transition,
};
use crate::data::Interactions;
use crate::{Error, Result};

/// The model names [`fit_named`] accepts, in the order `recs eval` lists them.
pub const MODEL_NAMES: &[&str] = &[
    "pop",
    "itemknn",
    "als",
    "bpr",
    "ease",
    "gmf",
    "mlp",
    "neumf",
    "blend",
    "fresh",
    "transition",
    "sasrec",
];

/// What some models need besides the interactions: item metadata.
///
/// ```
/// use recs::model::{fit_named_with, SideInfo};
/// let train = recs::data::Interactions::empty(2, 3);
/// let side = SideInfo { item_years: Some(vec![Some(1999), Some(2000), None]) };
/// let model = fit_named_with("fresh", &train, &side)?;
/// assert_eq!(recs::Recommender::kind(&model), "fresh");
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SideInfo {
    /// The release year of every item, by item index (see
    /// [`item_years`](crate::data::item_years)); needed by `fresh`.
    pub item_years: Option<Vec<Option<u16>>>,
}

/// Fits the model called `name` with its default parameters.
///
/// Names: `pop` (also `popularity`), `itemknn` (`item-knn`), `als`, `bpr`, `ease`, `gmf`, `mlp`, `neumf`, `blend`
/// (EASE + ALS, see [`Blend`]), `fresh` (EASE re-weighted towards new releases and recent history, see [`Fresh`];
/// it needs item years, so only [`fit_named_with`] can fit it), `transition` (a sequence model
/// that reads each user's order from the timestamps, see [`Transition`]), `sasrec` (a
/// self-attention next-item model, see [`SasRec`]; minutes to train).
///
/// ```
/// let train = recs::data::Interactions::empty(2, 5);
/// let model = recs::model::fit_named("pop", &train)?;
/// assert_eq!(recs::Recommender::kind(&model), "popularity");
/// assert!(recs::model::fit_named("nope", &train).is_err());
/// # Ok::<(), recs::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidParam`] for an unknown name, else as the model's `fit`.
pub fn fit_named(name: &str, train: &Interactions) -> Result<AnyModel> {
    fit_named_with(name, train, &SideInfo::default())
}

/// [`fit_named`] with item metadata for the models that use it.
///
/// # Errors
/// As [`fit_named`]; [`Error::InvalidParam`] when `fresh` has no item years.
pub fn fit_named_with(name: &str, train: &Interactions, side: &SideInfo) -> Result<AnyModel> {
    Ok(match name {
        "pop" | "popularity" => Popularity::params().fit(train)?.into(),
        "itemknn" | "item-knn" => ItemKnn::params().fit(train)?.into(),
        "als" => Als::params().fit(train)?.into(),
        "bpr" => Bpr::params().fit(train)?.into(),
        "ease" => Ease::params().fit(train)?.into(),
        // the defaults are tuned for NeuMF's fine-tuning; a standalone GMF or MLP trains like
        // NeuMF's pre-training stages (see `NcfParams`)
        "gmf" => Ncf::params()
            .arch(NcfArch::Gmf)
            .learning_rate(0.002)
            .epochs(6)
            .fit(train)?
            .into(),
        "mlp" => Ncf::params()
            .arch(NcfArch::Mlp)
            .learning_rate(0.002)
            .epochs(6)
            .fit(train)?
            .into(),
        "neumf" => Ncf::params().arch(NcfArch::NeuMf).fit(train)?.into(),
        "blend" => Blend::params().fit(train)?.into(),
        "fresh" => Fresh::params()
            .years(side.item_years.clone().unwrap_or_default())
            .fit(train)?
            .into(),
        "transition" => Transition::params().fit(train)?.into(),
        "sasrec" => SasRec::params().fit(train)?.into(),
        other => {
            return Err(Error::param(
                "model",
                "one of the names in recs::model::MODEL_NAMES",
                other,
            ))
        }
    })
}
