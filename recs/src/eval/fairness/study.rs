//! The fairness study: for each model, one full-ranking run of the test users, and from it the
//! summary metrics, the [exposure](super::exposure), the [quality by
//! group](super::quality_by_group) and (optionally) the [feedback loop](crate::eval::feedback).
//! `recs fairness`, `recs report` and the Python binding call [`study`]; they only parse
//! arguments and format the [`FairnessStudy`].

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{exposure, quality_by_group, Exposure, GroupQuality, UserGroups};
use crate::data::{Split, UserIdx, UserInfo};
use crate::eval::feedback::{simulate, FeedbackConfig, FeedbackReport};
use crate::eval::{measure, metrics_for, run, MetricKind, Protocol, Report};
use crate::model::{fit_named, Recommender, MODEL_NAMES};
use crate::{Error, Result};

/// What the study runs. Defaults: popularity only, K = 10, 4 activity bands, no feedback loop.
///
/// ```
/// use recs::eval::fairness::StudyConfig;
/// let c = StudyConfig { models: vec!["pop".into(), "ease".into()], ..StudyConfig::default() };
/// assert_eq!(c.k, 10);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StudyConfig {
    /// Models to train, by [`fit_named`] name.
    pub models: Vec<String>,
    /// List length K of the exposure and group metrics; ≥ 1.
    pub k: usize,
    /// Further cut-offs of the summary metrics (HR, NDCG); each ≥ 1. K is always included.
    pub ks: Vec<usize>,
    /// Activity bands (quantiles of the users' training counts); 0 skips them.
    pub activity_bands: usize,
    /// Feedback-loop settings; `None` skips the simulation.
    pub feedback: Option<FeedbackConfig>,
    /// Reference model whose top items define each user's taste set in the simulation (fitted
    /// once on the training data); `None` = acceptance by rank only.
    pub taste_model: Option<String>,
}

impl Default for StudyConfig {
    fn default() -> Self {
        StudyConfig {
            models: vec!["pop".into()],
            k: 10,
            ks: Vec::new(),
            activity_bands: 4,
            feedback: None,
            taste_model: None,
        }
    }
}

/// User attributes for quality by gender, age band and occupation: the records and what to
/// add to a data user id to find its record.
#[derive(Debug, Clone, Copy)]
pub struct Demographics<'a> {
    /// The user records (ML-1M `users.dat`).
    pub users: &'a [UserInfo],
    /// Added to the data's user id to find the record (1 for the NCF files, whose user is
    /// `UserID - 1`).
    pub id_offset: i64,
}

/// The results for one model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelFairness {
    /// The name given in [`StudyConfig::models`].
    pub name: String,
    /// The model's kind.
    pub kind: String,
    /// Seconds to fit on the training data.
    pub train_seconds: f64,
    /// Summary of the evaluation (HR and NDCG at every cut-off, full ranking).
    pub summary: BTreeMap<String, f64>,
    /// Exposure of the top-K lists of all test users.
    pub exposure: Exposure,
    /// HR@K and NDCG@K by group, for every attribute.
    pub groups: Vec<GroupQuality>,
    /// The feedback loop, when simulated.
    pub feedback: Option<FeedbackReport>,
}

/// Everything the study finds (what `recs fairness` writes to fairness.json).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FairnessStudy {
    /// The split's name.
    pub split: String,
    /// Training users.
    pub n_users: usize,
    /// Catalogue size.
    pub n_items: usize,
    /// Training interactions.
    pub n_interactions: usize,
    /// Test users (lists measured).
    pub n_test_users: usize,
    /// Protocol of the lists (always full ranking, training items excluded).
    pub protocol: String,
    /// List length of the exposure and group metrics.
    pub k: usize,
    /// Cut-offs of the summary metrics.
    pub ks: Vec<usize>,
    /// Attributes the users were grouped by, with the number of groups.
    pub attributes: BTreeMap<String, usize>,
    /// Feedback settings, when simulated.
    pub feedback: Option<FeedbackConfig>,
    /// One entry per model.
    pub models: Vec<ModelFairness>,
}

/// Runs the study on `split`: fits each model, runs it once under full ranking to
/// `max(ks, k)`, and derives the summary, the exposure, the group metrics and (with a feedback
/// config) the feedback loop from that run. `progress` receives one line per step.
///
/// ```
/// use recs::data::{Interactions, Record, Split, TestCase, TestSet, Vocab};
/// use recs::eval::fairness::{study, StudyConfig};
///
/// let recs = [(0, 0), (1, 0), (1, 1), (2, 0), (2, 2), (3, 1)]
///     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
/// let train = Interactions::from_records(4, 5, &recs, Default::default())?;
/// let cases = (0..4).map(|user| TestCase { user, items: vec![4], negatives: None }).collect();
/// let split = Split { name: "toy".into(), train, test: TestSet { cases },
///     users: Vocab::identity(4), items: Vocab::identity(5) };
/// let config = StudyConfig { k: 1, activity_bands: 2, ..StudyConfig::default() };
/// let s = study(&split, &config, None, &mut |_| {})?;
/// assert_eq!(s.models[0].exposure.never_exposed, 2);
/// assert_eq!(s.attributes["activity"], 2);
/// # Ok::<(), recs::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidParam`] for no model, a zero cut-off or bad feedback settings,
/// [`Error::Data`] when demographics are given but match no test user, and any error of
/// fitting, ranking or measuring.
pub fn study(
    split: &Split,
    config: &StudyConfig,
    demographics: Option<Demographics<'_>>,
    progress: &mut dyn FnMut(&str),
) -> Result<FairnessStudy> {
    if config.models.is_empty() {
        return Err(Error::param(
            "models",
            "at least one model name",
            format!("none (choose from {})", MODEL_NAMES.join(", ")),
        ));
    }
    if config.k == 0 || config.ks.contains(&0) {
        return Err(Error::param("k", "cut-offs >= 1", 0));
    }
    let mut all_ks: Vec<usize> = config.ks.iter().copied().chain([config.k]).collect();
    all_ks.sort_unstable();
    all_ks.dedup();
    let k_max = all_ks.iter().copied().max().unwrap_or(config.k);

    let mut groupings: Vec<UserGroups> = Vec::new();
    if let Some(d) = demographics {
        for g in UserGroups::demographics(d.users, &split.users, d.id_offset) {
            let assigned = split
                .test
                .cases
                .iter()
                .filter(|c| g.of_user.get(c.user as usize).copied().flatten().is_some())
                .count();
            if assigned == 0 {
                return Err(Error::Data(format!(
                    "no test user matched a user record for {} (user-id offset {})",
                    g.attribute, d.id_offset
                )));
            }
            groupings.push(g);
        }
    }
    let test_users: Vec<UserIdx> = split.test.cases.iter().map(|c| c.user).collect();
    if config.activity_bands > 0 {
        groupings.push(UserGroups::activity(
            &split.train,
            &test_users,
            config.activity_bands,
        )?);
    }
    if let Some(c) = &config.feedback {
        c.check()?;
    }
    let oracle = match (&config.feedback, &config.taste_model) {
        (Some(_), Some(name)) => {
            progress(&format!("fitting taste model {name}"));
            Some(fit_named(name, &split.train)?)
        }
        _ => None,
    };

    let protocol = Protocol::FullRanking {
        exclude_train: true,
    };
    let metrics = metrics_for(
        &[MetricKind::Hr, MetricKind::Ndcg],
        &all_ks,
        split.train.n_items(),
    );
    let mut models = Vec::with_capacity(config.models.len());
    for name in &config.models {
        progress(&format!("training {name}"));
        let start = Instant::now();
        let model = fit_named(name, &split.train)?;
        let train_seconds = start.elapsed().as_secs_f64();
        progress(&format!("{name}: trained in {train_seconds:.2} s; ranking"));
        let r = run(model.as_recommender(), split, &protocol, k_max)?;
        let report: Report = measure(&r, &split.test, &metrics)?;
        let exp = exposure(&r, &split.train, config.k)?;
        let mut groups = Vec::new();
        for g in &groupings {
            for m in ["hr", "ndcg"] {
                groups.push(quality_by_group(&report, g, &format!("{m}@{}", config.k))?);
            }
        }
        let feedback = match &config.feedback {
            Some(c) => {
                progress(&format!("{name}: feedback loop, {} rounds", c.rounds));
                let oracle_ref = oracle.as_ref().map(|o| o.as_recommender());
                Some(simulate(
                    |d| fit_named(name, d),
                    &split.train,
                    oracle_ref,
                    c,
                )?)
            }
            None => None,
        };
        models.push(ModelFairness {
            name: name.clone(),
            kind: model.kind().to_string(),
            train_seconds,
            summary: report.summary.clone(),
            exposure: exp,
            groups,
            feedback,
        });
    }
    Ok(FairnessStudy {
        split: split.name.clone(),
        n_users: split.train.n_users(),
        n_items: split.train.n_items(),
        n_interactions: split.train.nnz(),
        n_test_users: split.test.len(),
        protocol: protocol.to_string(),
        k: config.k,
        ks: all_ks,
        attributes: groupings
            .iter()
            .map(|g| (g.attribute.clone(), g.names.len()))
            .collect(),
        feedback: config.feedback.clone(),
        models,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Interactions, TestCase, TestSet, Vocab};

    fn split() -> Split {
        let train =
            Interactions::from_pairs(4, 5, &[(0, 0), (1, 0), (1, 1), (2, 0), (2, 2), (3, 1)]);
        let cases = (0..4)
            .map(|user| TestCase {
                user,
                items: vec![4],
                negatives: None,
            })
            .collect();
        Split {
            name: "toy".into(),
            train,
            test: TestSet { cases },
            users: Vocab::identity(4),
            items: Vocab::identity(5),
        }
    }

    #[test]
    fn refuses_empty_models_and_zero_cutoffs() {
        let s = split();
        let none = StudyConfig {
            models: vec![],
            ..StudyConfig::default()
        };
        assert!(study(&s, &none, None, &mut |_| {}).is_err());
        let zero = StudyConfig {
            ks: vec![0],
            ..StudyConfig::default()
        };
        assert!(study(&s, &zero, None, &mut |_| {}).is_err());
    }

    #[test]
    fn cutoffs_are_merged_and_progress_is_reported() {
        let config = StudyConfig {
            k: 2,
            ks: vec![3, 2, 1],
            activity_bands: 2,
            ..StudyConfig::default()
        };
        let mut lines = Vec::new();
        let out =
            study(&split(), &config, None, &mut |l| lines.push(l.to_string())).expect("study");
        assert_eq!(out.ks, vec![1, 2, 3]);
        assert_eq!(out.models.len(), 1);
        assert!(out.models[0].summary.contains_key("hr@3"));
        // HR@2 and NDCG@2 for the one activity attribute.
        assert_eq!(out.models[0].groups.len(), 2);
        assert_eq!(lines[0], "training pop");
        // By hand: training counts 3, 2, 1, 0, 0 for items 0..4; the test item is 4 for every
        // user. Never first (HR@1 = 0). In the top 3 of the unseen items: users 1 (unseen 2, 3,
        // 4) and 2 (unseen 1, 3, 4) have it; users 0 and 3 have 3 other unseen items before or
        // tied with it (a tie counts against the test item), so HR@3 = 2/4.
        assert_eq!(out.models[0].summary["hr@1"], 0.0);
        assert_eq!(out.models[0].summary["hr@3"], 0.5);
    }
}
