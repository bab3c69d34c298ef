//! Feedback-loop simulation: does a model narrow the catalogue when it is retrained on what it
//! recommended?
//!
//! [`simulate`] repeats, for `rounds` rounds: fit the model on the current data; recommend the
//! top K (unseen items) to every user; measure the lists' [`Exposure`] against the current
//! data; simulate which recommended items each user consumes; append them to the data.
//!
//! **User model** (documented, deliberately simple). User `u` looks at their list top-down and
//! examines the item at rank `r` (1-based) with probability `1 / log2(r + 1)`, the position
//! discount of DCG (1 at the top, 0.5 at rank 3, 0.29 at rank 10). An examined item is
//! accepted with probability [`p_liked`](FeedbackConfig::p_liked) when it is in the user's
//! *taste set*, else [`p_other`](FeedbackConfig::p_other). The taste set stands in for the
//! user's true relevance: the [`taste_k`](FeedbackConfig::taste_k) items that a reference
//! model (the `oracle`, fitted once by the caller on the initial data) ranks highest for the
//! user among the items they had not consumed. Without an oracle no item is in a taste set,
//! so acceptance depends on rank alone (pure exposure-driven consumption). Accepted items are
//! appended with the mean value of the initial data (1.0 for implicit data) and, when the data
//! has timestamps, the latest timestamp plus the round number.
//!
//! Every random draw comes from a generator seeded by `(seed, round, user)`, one draw per
//! list position, so a simulation is deterministic whatever the thread count.
//!
//! ```
//! use recs::data::synth::SynthParams;
//! use recs::eval::feedback::{simulate, FeedbackConfig};
//! use recs::model::{Fit, Popularity};
//!
//! let data = SynthParams::new(100, 40, 800).seed(3).generate()?.interactions;
//! let config = FeedbackConfig::default().rounds(3).k(5);
//! let report = simulate(|d| Popularity::params().fit(d), &data, None, &config)?;
//! assert_eq!(report.rounds.len(), 3);
//! // popularity feeds on itself: consumption concentrates on the head
//! assert!(report.rounds[2].data_gini > report.initial_data_gini);
//! # Ok::<(), recs::Error>(())
//! ```

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::fairness::{exposure_of_lists, gini, Exposure};
use crate::data::rng::Rng;
use crate::data::{Interactions, ItemIdx, Record, UserIdx};
use crate::model::{RecOpts, Recommender};
use crate::{Error, Result};

/// Settings of a [`simulate`] run (see the module docs for the user model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackConfig {
    /// Rounds (fit, recommend, consume). Default 5; must be >= 1.
    pub rounds: usize,
    /// List length shown to each user. Default 10; must be >= 1.
    pub k: usize,
    /// Acceptance probability of an examined item in the user's taste set. Default 0.9; in [0, 1].
    pub p_liked: f64,
    /// Acceptance probability of any other examined item. Default 0.2; in [0, 1].
    pub p_other: f64,
    /// Size of each user's taste set (with an oracle). Default 50; must be >= 1.
    pub taste_k: usize,
    /// Seed of the consumption draws. Default 0.
    pub seed: u64,
}

impl Default for FeedbackConfig {
    fn default() -> Self {
        FeedbackConfig {
            rounds: 5,
            k: 10,
            p_liked: 0.9,
            p_other: 0.2,
            taste_k: 50,
            seed: 0,
        }
    }
}

impl FeedbackConfig {
    /// Sets the number of rounds. Default 5; >= 1.
    pub fn rounds(mut self, rounds: usize) -> Self {
        self.rounds = rounds;
        self
    }
    /// Sets the list length. Default 10; >= 1.
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }
    /// Sets the acceptance probability of liked items. Default 0.9; in [0, 1].
    pub fn p_liked(mut self, p: f64) -> Self {
        self.p_liked = p;
        self
    }
    /// Sets the acceptance probability of other items. Default 0.2; in [0, 1].
    pub fn p_other(mut self, p: f64) -> Self {
        self.p_other = p;
        self
    }
    /// Sets the taste-set size. Default 50; >= 1.
    pub fn taste_k(mut self, k: usize) -> Self {
        self.taste_k = k;
        self
    }
    /// Sets the seed. Default 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Checks the documented ranges.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the first field out of range.
    pub fn check(&self) -> Result<()> {
        if self.rounds == 0 {
            return Err(Error::param("rounds", "a number of rounds >= 1", 0));
        }
        if self.k == 0 {
            return Err(Error::param("k", "a list length >= 1", 0));
        }
        if self.taste_k == 0 {
            return Err(Error::param("taste_k", "a taste-set size >= 1", 0));
        }
        for (name, p) in [("p_liked", self.p_liked), ("p_other", self.p_other)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::param(name, "a probability in [0, 1]", p));
            }
        }
        Ok(())
    }
}

/// What happened in one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundStats {
    /// Round number, from 1.
    pub round: usize,
    /// Interactions the model was fitted on.
    pub interactions: usize,
    /// Recommended items the users accepted (appended to the data).
    pub accepted: usize,
    /// Of those, items in the user's taste set.
    pub accepted_liked: usize,
    /// Exposure of the round's lists, against the data the model was fitted on.
    pub exposure: Exposure,
    /// Gini of the items' interaction counts after the accepted items were appended.
    pub data_gini: f64,
}

/// The outcome of [`simulate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackReport {
    /// The model's kind.
    pub model: String,
    /// The settings.
    pub config: FeedbackConfig,
    /// Whether a taste oracle was used.
    pub oracle: Option<String>,
    /// Gini of the items' interaction counts in the initial data.
    pub initial_data_gini: f64,
    /// One entry per round.
    pub rounds: Vec<RoundStats>,
}

fn item_gini(data: &Interactions) -> f64 {
    let counts: Vec<f64> = data.item_counts().iter().map(|&c| f64::from(c)).collect();
    gini(&counts)
}

/// The top `k` unseen items of every user (an empty list for users the model cannot score).
fn lists_of(model: &dyn Recommender, data: &Interactions, k: usize) -> Result<Vec<Vec<ItemIdx>>> {
    let opts = RecOpts {
        k,
        ..RecOpts::default()
    };
    (0..data.n_users() as UserIdx)
        .into_par_iter()
        .map(|u| match model.recommend(u, data.items_of(u), &opts) {
            Ok(l) => Ok(l.into_iter().map(|s| s.item).collect()),
            Err(Error::UnknownUser(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        })
        .collect()
}

/// Runs the feedback loop: `fit` is called once per round on the current data (for example
/// `|d| Als::params().fit(d)` or `|d| recs::model::fit_named("ease", d)`); `oracle`, when
/// given, defines the users' taste sets from `data` (see the module docs).
///
/// # Errors
/// [`Error::InvalidParam`] for a bad `config`; [`Error::Data`] when a fitted model or the oracle
/// scores a different number of items than `data` has, or `data` has no interaction; any
/// error of `fit` or of a model other than [`Error::UnknownUser`].
pub fn simulate<M, F>(
    mut fit: F,
    data: &Interactions,
    oracle: Option<&dyn Recommender>,
    config: &FeedbackConfig,
) -> Result<FeedbackReport>
where
    M: Recommender,
    F: FnMut(&Interactions) -> Result<M>,
{
    config.check()?;
    if data.nnz() == 0 {
        return Err(Error::Data("the feedback loop needs interactions".into()));
    }
    let (n_users, n_items) = (data.n_users(), data.n_items());
    let check_items = |m: &dyn Recommender, what: &str| {
        if m.n_items() == n_items {
            Ok(())
        } else {
            Err(Error::Data(format!(
                "the {what} scores {} items but the data has {n_items}",
                m.n_items()
            )))
        }
    };
    let taste: Vec<Vec<ItemIdx>> = match oracle {
        Some(o) => {
            check_items(o, "oracle")?;
            let mut t = lists_of(o, data, config.taste_k)?;
            t.iter_mut().for_each(|l| l.sort_unstable());
            t
        }
        None => vec![Vec::new(); n_users],
    };
    let value =
        (data.values().iter().map(|&v| f64::from(v)).sum::<f64>() / data.nnz() as f64) as f32;
    let last_ts = data.timestamps().and_then(|t| t.iter().copied().max());

    let mut current = data.clone();
    let mut rounds = Vec::with_capacity(config.rounds);
    let mut kind = String::new();
    for round in 1..=config.rounds {
        let model = fit(&current)?;
        check_items(&model, "model")?;
        kind = model.kind().to_string();
        let lists = lists_of(&model, &current, config.k)?;
        let exposure = exposure_of_lists(lists.iter().map(Vec::as_slice), &current, config.k)?;
        let accepted: Vec<Vec<(ItemIdx, bool)>> = lists
            .par_iter()
            .enumerate()
            .map(|(u, list)| {
                let mut rng = Rng::stream(config.seed, ((round as u64) << 32) | u as u64);
                list.iter()
                    .enumerate()
                    .filter_map(|(r, &item)| {
                        let examine = 1.0 / ((r + 2) as f64).log2();
                        let liked = taste[u].binary_search(&item).is_ok();
                        let p = if liked {
                            config.p_liked
                        } else {
                            config.p_other
                        };
                        (rng.gen_f64() < examine * p).then_some((item, liked))
                    })
                    .collect()
            })
            .collect();
        let n_accepted: usize = accepted.iter().map(Vec::len).sum();
        let n_liked = accepted.iter().flatten().filter(|(_, l)| *l).count();
        let timestamp = last_ts.map(|t| t + round as i64);
        let mut records: Vec<Record> = Vec::with_capacity(current.nnz() + n_accepted);
        records.extend(current.records());
        for (u, items) in accepted.iter().enumerate() {
            records.extend(items.iter().map(|&(item, _)| Record {
                user: u as UserIdx,
                item,
                value,
                timestamp,
            }));
        }
        let interactions = current.nnz();
        current = Interactions::from_records(n_users, n_items, &records, Default::default())?;
        rounds.push(RoundStats {
            round,
            interactions,
            accepted: n_accepted,
            accepted_liked: n_liked,
            exposure,
            data_gini: item_gini(&current),
        });
    }
    Ok(FeedbackReport {
        model: kind,
        config: config.clone(),
        oracle: oracle.map(|o| o.kind().to_string()),
        initial_data_gini: item_gini(data),
        rounds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::SynthParams;
    use crate::model::{Fit, ItemKnn, Popularity};

    fn data() -> Interactions {
        SynthParams::new(300, 400, 4000)
            .seed(11)
            .generate()
            .unwrap()
            .interactions
    }

    /// Scores items by a hash of (user, item): lists independent of popularity.
    struct Scatter(usize);
    impl Recommender for Scatter {
        fn kind(&self) -> &'static str {
            "scatter"
        }
        fn n_items(&self) -> usize {
            self.0
        }
        fn score_into(&self, user: UserIdx, _h: &[ItemIdx], out: &mut [f32]) -> Result<()> {
            for (i, o) in out.iter_mut().enumerate() {
                let mut r = Rng::stream(u64::from(user), i as u64);
                *o = r.gen_f32();
            }
            Ok(())
        }
    }

    #[test]
    fn has_r_rounds_and_is_deterministic() {
        let d = data();
        let config = FeedbackConfig::default().rounds(4).k(5).seed(9);
        let fit = |x: &Interactions| Popularity::params().fit(x);
        let a = simulate(fit, &d, None, &config).unwrap();
        let b = simulate(fit, &d, None, &config).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.rounds.len(), 4);
        assert_eq!(a.model, "popularity");
        assert_eq!(
            a.rounds.iter().map(|r| r.round).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        // each round fits on the previous round's data plus what was accepted
        for w in a.rounds.windows(2) {
            assert_eq!(w[1].interactions, w[0].interactions + w[0].accepted);
        }
        assert!(a
            .rounds
            .iter()
            .all(|r| r.accepted > 0 && r.accepted_liked == 0));
        let other = simulate(fit, &d, None, &config.clone().seed(10)).unwrap();
        assert_ne!(a, other, "the seed drives the consumption draws");
    }

    #[test]
    fn popularity_feedback_narrows_the_catalogue() {
        let d = data();
        let config = FeedbackConfig::default().rounds(5).k(5).p_other(0.5);
        let pop = simulate(
            |x: &Interactions| Popularity::params().fit(x),
            &d,
            None,
            &config,
        )
        .unwrap();
        let knn = simulate(
            |x: &Interactions| ItemKnn::params().fit(x),
            &d,
            None,
            &config,
        )
        .unwrap();
        let scatter = simulate(|_: &Interactions| Ok(Scatter(400)), &d, None, &config).unwrap();
        // popularity-only feedback: consumption concentrates every round ...
        let mut before = pop.initial_data_gini;
        for r in &pop.rounds {
            assert!(
                r.data_gini > before,
                "round {}: {} <= {before}",
                r.round,
                r.data_gini
            );
            before = r.data_gini;
        }
        // ... far more than under a personalised model ...
        let rise = |r: &FeedbackReport| r.rounds[4].data_gini - r.initial_data_gini;
        assert!(rise(&pop) > 2.0 * rise(&knn).max(0.0));
        // ... while lists independent of popularity spread it out
        assert!(scatter.rounds[4].data_gini < scatter.initial_data_gini);
        // and popularity exposes less of the catalogue than a personalised model, every round
        for (p, k) in pop.rounds.iter().zip(&knn.rounds) {
            assert!(p.exposure.coverage < k.exposure.coverage);
            assert!(p.exposure.gini > k.exposure.gini);
            assert!(p.exposure.popularity_bias > k.exposure.popularity_bias);
        }
    }

    #[test]
    fn oracle_taste_sets_raise_acceptance() {
        let d = data();
        let oracle = ItemKnn::params().fit(&d).unwrap();
        let config = FeedbackConfig::default()
            .rounds(2)
            .k(10)
            .taste_k(10)
            .p_other(0.0);
        let fit = |x: &Interactions| ItemKnn::params().fit(x);
        let with = simulate(fit, &d, Some(&oracle), &config).unwrap();
        let without = simulate(fit, &d, None, &config).unwrap();
        assert_eq!(with.oracle.as_deref(), Some(oracle.kind()));
        // with p_other = 0 only taste-set items are ever accepted
        assert!(with.rounds[0].accepted > 0);
        assert!(with.rounds.iter().all(|r| r.accepted == r.accepted_liked));
        assert!(without.rounds.iter().all(|r| r.accepted == 0));
    }

    #[test]
    fn rejects_bad_config_and_mismatched_models() {
        let d = data();
        let fit = |x: &Interactions| Popularity::params().fit(x);
        for bad in [
            FeedbackConfig::default().rounds(0),
            FeedbackConfig::default().k(0),
            FeedbackConfig::default().taste_k(0),
            FeedbackConfig::default().p_liked(1.5),
            FeedbackConfig::default().p_other(-0.1),
        ] {
            assert!(matches!(
                simulate(fit, &d, None, &bad),
                Err(Error::InvalidParam { .. })
            ));
        }
        let wrong = simulate(
            |_: &Interactions| Ok(Scatter(7)),
            &d,
            None,
            &FeedbackConfig::default(),
        );
        assert!(matches!(wrong, Err(Error::Data(_))));
        assert!(simulate(
            fit,
            &Interactions::empty(3, 3),
            None,
            &FeedbackConfig::default()
        )
        .is_err());
    }
}
