//! A model of any kind, for code that loads models it did not train (registry, server, CLI).

use super::persist::{decode_body, read_header, to_bytes};
use super::{
    Als, Blend, Bpr, Ease, Fresh, ItemKnn, Ncf, Persist, Popularity, Recommender, SasRec,
    Transition,
};
use crate::{Error, Result};

/// One of the recs models, chosen at run time from a model file's kind tag.
///
/// ```
/// use recs::model::{AnyModel, Fit, Popularity, Recommender};
/// let model: AnyModel = Popularity::params().fit(&recs::data::Interactions::empty(2, 4))?.into();
/// let back = AnyModel::from_bytes(&model.to_bytes()?)?;
/// assert_eq!(back.kind(), "popularity");
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AnyModel {
    /// [`Popularity`].
    Popularity(Popularity),
    /// [`ItemKnn`].
    ItemKnn(ItemKnn),
    /// [`Ease`].
    Ease(Ease),
    /// [`Als`].
    Als(Als),
    /// [`Bpr`].
    Bpr(Bpr),
    /// [`Ncf`] (GMF, MLP or NeuMF).
    Ncf(Ncf),
    /// [`Blend`] of other models.
    Blend(Blend),
    /// [`Fresh`]: another model re-weighted towards new releases (and, over EASE, the user's recent history).
    Fresh(Fresh),
    /// [`Transition`]: decayed, popularity-normalised item transitions over ordered histories.
    Transition(Transition),
    /// [`SasRec`]: a causal self-attention next-item model.
    SasRec(SasRec),
}

/// Calls `$body` with `$m` bound to the inner model of each variant.
macro_rules! each_model {
    ($self:expr, $m:ident => $body:expr) => {
        match $self {
            AnyModel::Popularity($m) => $body,
            AnyModel::ItemKnn($m) => $body,
            AnyModel::Ease($m) => $body,
            AnyModel::Als($m) => $body,
            AnyModel::Bpr($m) => $body,
            AnyModel::Ncf($m) => $body,
            AnyModel::Blend($m) => $body,
            AnyModel::Fresh($m) => $body,
            AnyModel::Transition($m) => $body,
            AnyModel::SasRec($m) => $body,
        }
    };
}

impl AnyModel {
    /// Reads a model file of any kind.
    ///
    /// # Errors
    /// [`Error::Format`] for a damaged file or an unknown kind.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let h = read_header(bytes)?;
        Ok(match h.kind {
            Popularity::KIND => AnyModel::Popularity(decode_body(&h)?),
            ItemKnn::KIND => AnyModel::ItemKnn(decode_body(&h)?),
            Ease::KIND => AnyModel::Ease(decode_body(&h)?),
            Als::KIND => AnyModel::Als(decode_body(&h)?),
            Bpr::KIND => AnyModel::Bpr(decode_body(&h)?),
            Ncf::KIND => AnyModel::Ncf(decode_body(&h)?),
            Blend::KIND => AnyModel::Blend(decode_body(&h)?),
            Fresh::KIND => AnyModel::Fresh(decode_body(&h)?),
            Transition::KIND => AnyModel::Transition(decode_body(&h)?),
            SasRec::KIND => AnyModel::SasRec(decode_body(&h)?),
            other => return Err(Error::Format(format!("unknown model kind `{other}`"))),
        })
    }

    /// Writes the model in the recs file format.
    ///
    /// # Errors
    /// [`Error::Serde`].
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        each_model!(self, m => to_bytes(m))
    }

    /// Reads a model file from disk.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Format`].
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes)
    }

    /// Writes the model file atomically.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Serde`].
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        super::write_atomic(path.as_ref(), &self.to_bytes()?)
    }

    /// The model as a trait object.
    pub fn as_recommender(&self) -> &dyn Recommender {
        each_model!(self, m => m)
    }
}

impl Recommender for AnyModel {
    fn kind(&self) -> &'static str {
        self.as_recommender().kind()
    }
    fn n_items(&self) -> usize {
        self.as_recommender().n_items()
    }
    fn score_into(&self, user: u32, history: &[u32], out: &mut [f32]) -> Result<()> {
        self.as_recommender().score_into(user, history, out)
    }
    fn score_history_into(&self, history: &[u32], out: &mut [f32]) -> Result<()> {
        self.as_recommender().score_history_into(history, out)
    }
    fn reads_order(&self) -> bool {
        self.as_recommender().reads_order()
    }
    fn score_items(&self, user: u32, history: &[u32], items: &[u32]) -> Result<Vec<f32>> {
        self.as_recommender().score_items(user, history, items)
    }
    fn recommend(
        &self,
        user: u32,
        history: &[u32],
        opts: &super::RecOpts<'_>,
    ) -> Result<Vec<super::Scored>> {
        self.as_recommender().recommend(user, history, opts)
    }
    fn recommend_batch(
        &self,
        users: &[u32],
        data: &crate::data::Interactions,
        opts: &super::RecOpts<'_>,
    ) -> Result<Vec<Vec<super::Scored>>> {
        self.as_recommender().recommend_batch(users, data, opts)
    }
    fn similar_items(&self, item: u32, k: usize) -> Result<Vec<super::Scored>> {
        self.as_recommender().similar_items(item, k)
    }
}

impl From<Popularity> for AnyModel {
    fn from(m: Popularity) -> Self {
        AnyModel::Popularity(m)
    }
}

impl From<ItemKnn> for AnyModel {
    fn from(m: ItemKnn) -> Self {
        AnyModel::ItemKnn(m)
    }
}

impl From<Ease> for AnyModel {
    fn from(m: Ease) -> Self {
        AnyModel::Ease(m)
    }
}

impl From<Als> for AnyModel {
    fn from(m: Als) -> Self {
        AnyModel::Als(m)
    }
}

impl From<Bpr> for AnyModel {
    fn from(m: Bpr) -> Self {
        AnyModel::Bpr(m)
    }
}

impl From<Ncf> for AnyModel {
    fn from(m: Ncf) -> Self {
        AnyModel::Ncf(m)
    }
}

impl From<Blend> for AnyModel {
    fn from(m: Blend) -> Self {
        AnyModel::Blend(m)
    }
}

impl From<Fresh> for AnyModel {
    fn from(m: Fresh) -> Self {
        AnyModel::Fresh(m)
    }
}

impl From<Transition> for AnyModel {
    fn from(m: Transition) -> Self {
        AnyModel::Transition(m)
    }
}

impl From<SasRec> for AnyModel {
    fn from(m: SasRec) -> Self {
        AnyModel::SasRec(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Sequences;
    use crate::model::{Fit, RecOpts};

    #[test]
    fn sasrec_scores_a_history_without_a_trained_user() {
        // every user walks the cycle 0 → 1 → 2 → 3 → 0 from a different start
        let lists: Vec<Vec<u32>> = (0..8u32)
            .map(|u| (0..3).map(|k| (u + k) % 4).collect())
            .collect();
        let train = Sequences::from_lists(4, &lists)
            .unwrap()
            .to_interactions()
            .unwrap();
        let sasrec = SasRec::params()
            .hidden(8)
            .epochs(1)
            .patience(0)
            .fit(&train)
            .unwrap();
        let any = AnyModel::from(sasrec.clone());
        let opts = RecOpts {
            k: 4,
            ..Default::default()
        };
        let top = any.recommend_history(&[0, 1], &opts).unwrap();
        assert_eq!(top.len(), 2);
        assert!(top.iter().all(|s| s.item >= 2));
        // the same scores as the model's own unknown-user path
        let (mut a, mut b) = (vec![0f32; 4], vec![0f32; 4]);
        any.score_history_into(&[0, 1], &mut a).unwrap();
        sasrec.score_into(u32::MAX, &[0, 1], &mut b).unwrap();
        assert_eq!(a, b);
        // an item outside the model is an error, not a panic
        assert!(any.score_history_into(&[9], &mut a).is_err());
    }
}
