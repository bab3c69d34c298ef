//! A linear blend of other models' standardized scores.
//!
//! For a user, each member `m` scores every item; the scores are standardized per user
//! (`z = (s − mean) / std` over the whole catalogue, `std = 0` gives all zeros), and the blend's
//! score is `Σ_m w_m · z_m`. Standardizing makes members with different score scales (EASE's
//! item-item sums, ALS's dot products) comparable without fitting anything on the test data.
//!
//! The default members and weights were chosen on a validation split carved from the ML-1M NCF
//! training data (see [`BlendParams::members`] and `docs/benchmarks.md`).

use serde::{Deserialize, Serialize};

use super::catalog::fit_named;
use super::{
    check_history, check_scores_len, Als, AlsParams, AnyModel, Ease, EaseParams, Fit, ParamGuard,
    Persist, Recommender,
};
use crate::data::{Interactions, ItemIdx, UserIdx};
use crate::util::ensure_non_negative;
use crate::{Error, Result};

/// Parameters of [`Blend`]. Build with [`Blend::params`].
///
/// ```
/// use recs::model::{Blend, Fit, RecOpts, Recommender};
/// use recs::data::{Interactions, Record};
/// let recs = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (3, 2)]
///     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
/// let train = Interactions::from_records(4, 3, &recs, Default::default())?;
/// let model = Blend::params().members(vec![("pop".into(), 1.0), ("itemknn".into(), 1.0)]).fit(&train)?;
/// let top = model.recommend(2, train.items_of(2), &RecOpts { k: 1, ..Default::default() })?;
/// assert_eq!(top[0].item, 1);
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlendParams(BlendValidParams);

/// Validated [`BlendParams`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlendValidParams {
    members: Vec<(String, f32)>,
    ease: EaseParams,
    als: AlsParams,
}

/// Default members of [`Blend`] and their weights.
pub const BLEND_DEFAULT_MEMBERS: &[(&str, f32)] = &[("ease", 1.0), ("als", 0.5)];

impl Default for BlendParams {
    fn default() -> Self {
        BlendParams(BlendValidParams {
            members: BLEND_DEFAULT_MEMBERS
                .iter()
                .map(|&(n, w)| (n.to_string(), w))
                .collect(),
            ease: Ease::params(),
            als: Als::params()
                .alpha(1.0)
                .factors(128)
                .reg_exponent(1.0)
                .regularization(0.01),
        })
    }
}

impl BlendParams {
    /// Members (model names as in [`fit_named`](super::fit_named); `ease` and `als` are fitted
    /// with [`ease`](Self::ease) and [`als`](Self::als), the others with their defaults) and
    /// their weights. Default [`BLEND_DEFAULT_MEMBERS`]: EASE 1.0 and ALS 0.5, chosen on the
    /// validation split (EASE + ALS-128 at ALS weight 0.25 / 0.5 / 1: full-ranking HR@10
    /// 0.1177 / 0.1174 / 0.1174, sampled HR@10 0.7599 / 0.7639 / 0.7643; EASE alone 0.1184 /
    /// 0.7536). At least one member; names other than `blend`; weights finite and ≥ 0, not
    /// all 0.
    ///
    /// As a model spec the members are the keys: `blend:sasrec=1,transition=0.05` is the
    /// next-watch blend (SASRec and item transitions), whose weight was chosen on the
    /// validation item of ML-1M users 1–2999 and Amazon Beauty (`examples/sasrec.rs`,
    /// docs/benchmarks.md "SASRec + `transition`"). A spec also sets a member's own parameters
    /// as `MEMBER.KEY=VALUE`, read as the member's own spec reads `KEY=VALUE`
    /// (`blend:sasrec=1,transition=0.05,transition.backward=0.25`; `ease` and `als` start
    /// from [`ease`](Self::ease) and [`als`](Self::als), the others from their defaults), and
    /// a weight `auto` is chosen on the validation split
    /// (`blend:sasrec=1,transition=auto`, see [`validation_split`](super::validation_split) and
    /// [`BLEND_WEIGHT_GRID`](super::BLEND_WEIGHT_GRID)).
    pub fn members(mut self, members: Vec<(String, f32)>) -> Self {
        self.0.members = members;
        self
    }
    /// Parameters of the `ease` member. Default [`Ease::params`] (λ = 1200).
    pub fn ease(mut self, params: EaseParams) -> Self {
        self.0.ease = params;
        self
    }
    /// Parameters of the `als` member. Default: [`Als::params`] with alpha 1, 128 factors,
    /// `reg_exponent` 1 (frequency-scaled, Rendle et al. 2022) and `regularization` 0.01,
    /// the best of the ALS grid on the validation split for sampled HR@10 (see
    /// `docs/benchmarks.md`); about twice the default ALS's training time.
    pub fn als(mut self, params: AlsParams) -> Self {
        self.0.als = params;
        self
    }
    /// Only the weights, in member order (keeps the member names). Same ranges as
    /// [`members`](Self::members); the count must match.
    pub fn weights(mut self, weights: Vec<f32>) -> Self {
        let names = self.0.members.iter().map(|(n, _)| n.clone());
        let n = self.0.members.len();
        let mut members: Vec<(String, f32)> = names.zip(weights.iter().copied()).collect();
        // a count mismatch is kept visible to `check` as a NaN weight or an extra unnamed member
        if weights.len() > n {
            members.extend(weights[n..].iter().map(|&w| (String::new(), w)));
        } else if weights.len() < n {
            members.extend(
                self.0.members[weights.len()..]
                    .iter()
                    .map(|(name, _)| (name.clone(), f32::NAN)),
            );
        }
        self.0.members = members;
        self
    }

    /// Builds the blend from models fitted elsewhere (e.g. with non-default parameters), with
    /// these parameters' weights in order. The member names are taken from the models.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] when the counts differ or a weight is out of range;
    /// [`Error::Data`] when the models score different item counts.
    pub fn fit_members(&self, models: Vec<AnyModel>) -> Result<Blend> {
        let p = self.check_ref()?;
        if models.len() != p.members.len() {
            return Err(Error::param(
                "members",
                "as many models as weights",
                models.len(),
            ));
        }
        let weights = p.members.iter().map(|&(_, w)| w).collect();
        Blend::new(p.clone(), models, weights)
    }
}

impl BlendValidParams {
    /// Members and weights.
    pub fn members(&self) -> &[(String, f32)] {
        &self.members
    }
    /// Parameters of the `ease` member.
    pub fn ease(&self) -> &EaseParams {
        &self.ease
    }
    /// Parameters of the `als` member.
    pub fn als(&self) -> &AlsParams {
        &self.als
    }
}

impl ParamGuard for BlendParams {
    type Checked = BlendValidParams;
    fn check_ref(&self) -> Result<&Self::Checked> {
        let p = &self.0;
        if p.members.is_empty() {
            return Err(Error::param("members", "at least one member", 0));
        }
        for (name, w) in &p.members {
            if name.is_empty() || name == "blend" {
                return Err(Error::param(
                    "members",
                    "model names other than `blend`",
                    format!("`{name}`"),
                ));
            }
            if name == "ease" {
                self.0.ease.check_ref()?;
            }
            if name == "als" {
                self.0.als.check_ref()?;
            }
            ensure_non_negative("weights", "finite numbers >= 0", *w)?;
        }
        if p.members.iter().all(|&(_, w)| w == 0.0) {
            return Err(Error::param("weights", "at least one weight > 0", 0.0));
        }
        Ok(p)
    }
    fn check(self) -> Result<Self::Checked> {
        self.check_ref()?;
        Ok(self.0)
    }
}

impl Fit for BlendParams {
    type Model = Blend;
    fn fit(&self, train: &Interactions) -> Result<Blend> {
        let p = self.check_ref()?;
        let models = p
            .members
            .iter()
            .filter(|&&(_, w)| w > 0.0)
            .map(|(name, _)| match name.as_str() {
                "ease" => Ok(p.ease.fit(train)?.into()),
                "als" => Ok(p.als.fit(train)?.into()),
                other => fit_named(other, train),
            })
            .collect::<Result<Vec<_>>>()?;
        let kept: Vec<(String, f32)> = p.members.iter().filter(|m| m.1 > 0.0).cloned().collect();
        let weights = kept.iter().map(|&(_, w)| w).collect();
        let params = BlendValidParams {
            members: kept,
            ..p.clone()
        };
        Blend::new(params, models, weights)
    }
}

/// A fitted blend: the member models and their weights.
#[derive(Debug, Clone)]
pub struct Blend {
    params: BlendValidParams,
    members: Vec<AnyModel>,
    weights: Vec<f32>,
    n_items: usize,
}

/// Serialized form: members as recs model files.
#[derive(Serialize, Deserialize)]
struct BlendRaw {
    params: BlendValidParams,
    members: Vec<Vec<u8>>,
    weights: Vec<f32>,
}

impl Serialize for Blend {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let members = self
            .members
            .iter()
            .map(AnyModel::to_bytes)
            .collect::<Result<Vec<_>>>()
            .map_err(serde::ser::Error::custom)?;
        BlendRaw {
            params: self.params.clone(),
            members,
            weights: self.weights.clone(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Blend {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = BlendRaw::deserialize(d)?;
        let members = raw
            .members
            .iter()
            .map(|b| AnyModel::from_bytes(b))
            .collect::<Result<Vec<_>>>()
            .map_err(serde::de::Error::custom)?;
        Blend::new(raw.params, members, raw.weights).map_err(serde::de::Error::custom)
    }
}

impl Blend {
    /// Default parameters.
    pub fn params() -> BlendParams {
        BlendParams::default()
    }
    fn new(params: BlendValidParams, members: Vec<AnyModel>, weights: Vec<f32>) -> Result<Blend> {
        let n_items = members.first().map_or(0, |m| m.n_items());
        if members.is_empty() || members.len() != weights.len() {
            return Err(Error::Data(format!(
                "blend has {} members and {} weights",
                members.len(),
                weights.len()
            )));
        }
        if let Some(m) = members.iter().find(|m| m.n_items() != n_items) {
            return Err(Error::Data(format!(
                "blend members score {} and {} items",
                n_items,
                m.n_items()
            )));
        }
        if members.iter().any(|m| matches!(m, AnyModel::Blend(_))) {
            return Err(Error::Data("a blend cannot contain a blend".into()));
        }
        Ok(Blend {
            params,
            members,
            weights,
            n_items,
        })
    }
    /// The parameters the model was built with.
    pub fn fitted_params(&self) -> &BlendValidParams {
        &self.params
    }
    /// The member models, in order.
    pub fn members(&self) -> &[AnyModel] {
        &self.members
    }
    /// The members' weights, in order.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }
}

/// Standardizes `s` in place (mean 0, standard deviation 1; all zeros when constant): the
/// per-user rule by which [`Blend`] makes its members' scores comparable.
///
/// ```
/// let mut s = [1.0f32, 3.0];
/// recs::model::standardize(&mut s);
/// assert_eq!(s, [-1.0, 1.0]);
/// # let mut c = [2.0f32, 2.0];
/// # recs::model::standardize(&mut c);
/// # assert_eq!(c, [0.0, 0.0]);
/// ```
pub fn standardize(s: &mut [f32]) {
    let n = s.len().max(1) as f64;
    let mean = s.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = s
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n;
    let sd = var.sqrt();
    let inv = if sd > 0.0 && sd.is_finite() {
        1.0 / sd
    } else {
        0.0
    };
    for x in s.iter_mut() {
        *x = ((f64::from(*x) - mean) * inv) as f32;
    }
}

impl Recommender for Blend {
    fn kind(&self) -> &'static str {
        Self::KIND
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn score_into(&self, user: UserIdx, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        check_history(history, self.n_items)?;
        if out.len() != self.n_items {
            return Err(Error::Data(format!(
                "score buffer has {} entries, expected {}",
                out.len(),
                self.n_items
            )));
        }
        out.fill(0.0);
        let mut buf = vec![0f32; self.n_items];
        for (m, &w) in self.members.iter().zip(&self.weights) {
            m.score_into(user, history, &mut buf)?;
            standardize(&mut buf);
            for (o, &b) in out.iter_mut().zip(&buf) {
                *o += w * b;
            }
        }
        Ok(())
    }
    /// True when any member reads the order, so callers pass ordered histories.
    fn reads_order(&self) -> bool {
        self.members.iter().any(|m| m.reads_order())
    }
    /// The members' history scores, blended as in [`score_into`](Recommender::score_into);
    /// refused when a member cannot score a history alone.
    fn score_history_into(&self, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        check_history(history, self.n_items)?;
        check_scores_len(out, self.n_items)?;
        out.fill(0.0);
        let mut buf = vec![0f32; self.n_items];
        for (m, &w) in self.members.iter().zip(&self.weights) {
            m.score_history_into(history, &mut buf)?;
            standardize(&mut buf);
            for (o, &b) in out.iter_mut().zip(&buf) {
                *o += w * b;
            }
        }
        Ok(())
    }
}

impl Persist for Blend {
    const KIND: &'static str = "blend";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Record;
    use crate::model::{from_bytes, to_bytes, Ease, Popularity, RecOpts};
    use proptest::prelude::*;

    #[test]
    fn autotraits() {
        fn has<T: Send + Sync + Unpin>() {}
        has::<BlendParams>();
        has::<Blend>();
    }

    #[test]
    fn rejects_bad_members() {
        let t = Interactions::empty(2, 3);
        let bad = |p: BlendParams| matches!(p.fit(&t), Err(Error::InvalidParam { .. }));
        assert!(bad(Blend::params().members(vec![])));
        assert!(bad(Blend::params().members(vec![("blend".into(), 1.0)])));
        assert!(bad(Blend::params().members(vec![("pop".into(), -1.0)])));
        assert!(bad(Blend::params().members(vec![("pop".into(), 0.0)])));
        assert!(bad(Blend::params().weights(vec![1.0])));
        assert!(bad(Blend::params().weights(vec![1.0, 1.0, 1.0])));
        // an unknown name passes the guard and fails in `fit_named`
        assert!(Blend::params()
            .members(vec![("nope".into(), 1.0)])
            .fit(&t)
            .is_err());
    }

    #[test]
    fn standardize_hand_case() {
        let mut s = [1.0, 3.0];
        standardize(&mut s);
        assert_eq!(s, [-1.0, 1.0]);
        let mut c = [2.0; 3];
        standardize(&mut c);
        assert_eq!(c, [0.0; 3]);
    }

    proptest! {
        #[test]
        fn single_member_keeps_order_and_round_trips(
            pairs in prop::collection::vec((0u32..6, 0u32..12), 1..80),
            exclude in prop::collection::vec(0u32..12, 0..4),
            k in 1usize..15,
            w in 0.1f32..5.0,
        ) {
            let recs: Vec<Record> = pairs.iter().map(|&(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None }).collect();
            let train = Interactions::from_records(6, 12, &recs, Default::default()).unwrap();
            let ease = Ease::params().lambda(1.0).fit(&train).unwrap();
            let pop = Popularity::params().fit(&train).unwrap();
            let blend = Blend::params()
                .members(vec![("ease".into(), w), ("pop".into(), 0.5)])
                .fit_members(vec![ease.clone().into(), pop.into()])
                .unwrap();
            let back: Blend = from_bytes(&to_bytes(&blend).unwrap()).unwrap();
            let opts = RecOpts { k, exclude: Some(&exclude), ..RecOpts::default() };
            for u in 0..6u32 {
                let h = train.items_of(u);
                let top = blend.recommend(u, h, &opts).unwrap();
                prop_assert!(top.len() <= k);
                for s in &top {
                    prop_assert!(!h.contains(&s.item));
                    prop_assert!(!exclude.contains(&s.item));
                    prop_assert!(s.score.is_finite());
                }
                prop_assert_eq!(back.recommend(u, h, &opts).unwrap(), top);
                // a one-member blend ranks like its member (standardizing is monotone)
                let solo = Blend::params().members(vec![("ease".into(), w)]).fit_members(vec![ease.clone().into()]).unwrap();
                let a: Vec<f32> = solo.score_items(u, h, &[0, 1, 2, 3]).unwrap();
                let b: Vec<f32> = ease.score_items(u, h, &[0, 1, 2, 3]).unwrap();
                for i in 0..4 { for j in 0..4 {
                    if b[i] > b[j] + 1e-4 { prop_assert!(a[i] >= a[j]); }
                }}
            }
        }
    }
}
