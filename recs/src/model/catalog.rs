//! Models by name: how the CLI, the server's demo and retraining pick a model from a string.

use super::{AnyModel, ModelSpec};
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
/// (EASE + ALS, see [`Blend`](super::Blend)), `fresh` (EASE re-weighted towards new releases and recent history, see [`Fresh`](super::Fresh);
/// it needs item years, so only [`fit_named_with`] can fit it), `transition` (a sequence model
/// that reads each user's order from the timestamps, see [`Transition`](super::Transition)), `sasrec`
/// (a self-attention next-item model, see [`SasRec`](super::SasRec); minutes to train).
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
    // One rule for every model name: the spec parser (a bare name is every fixed default).
    let spec = ModelSpec::new(name).map_err(|_| {
        Error::param(
            "model",
            "one of the names in recs::model::MODEL_NAMES",
            name,
        )
    })?;
    Ok(spec.fit(train, side)?.model)
}
