//! The two evaluators, their shared configuration and `fit_timed`.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::measure::measure;
use super::metrics::{metrics_for, Metric, MetricKind};
use super::report::Report;
use super::run::{measure_latency, run, Protocol};
use super::Evaluator;
use crate::data::{Interactions, Split};
use crate::model::{Fit, Recommender};
use crate::{Error, Result};

/// What an evaluator measures, shared by [`FullRanking`] and [`SampledCandidates`].
///
/// ```
/// use recs::eval::{EvalConfig, MetricKind};
/// let cfg = EvalConfig::default().ks([5, 10, 20]).metrics([MetricKind::Hr, MetricKind::Ndcg]);
/// assert_eq!(cfg.k_max(), 20);
/// assert_eq!(cfg.build_metrics(100).len(), 6);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Cut-offs. Default `[10]`; each must be >= 1.
    pub ks: Vec<usize>,
    /// Metrics measured at every cut-off. Default: all of [`MetricKind::ALL`]; not empty.
    pub metrics: Vec<MetricKind>,
    /// Test users whose single-user `recommend` call is timed. Default 500; 0 skips it.
    pub latency_users: usize,
    /// List length of the timed calls. Default 10; must be >= 1 when timing.
    pub latency_k: usize,
    /// Seed of the latency user sample. Default 0.
    pub latency_seed: u64,
    /// Keep per-user values in the report. Default false.
    pub per_user: bool,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            ks: vec![10],
            metrics: MetricKind::ALL.to_vec(),
            latency_users: 500,
            latency_k: 10,
            latency_seed: 0,
            per_user: false,
        }
    }
}

impl EvalConfig {
    /// Sets the cut-offs. Default `[10]`; each must be >= 1.
    pub fn ks(mut self, ks: impl IntoIterator<Item = usize>) -> Self {
        self.ks = ks.into_iter().collect();
        self
    }
    /// Sets the metrics. Default all; must not be empty.
    pub fn metrics(mut self, metrics: impl IntoIterator<Item = MetricKind>) -> Self {
        self.metrics = metrics.into_iter().collect();
        self
    }
    /// Sets how many users' `recommend` latency is sampled. Default 500; 0 skips it.
    pub fn latency_users(mut self, n: usize) -> Self {
        self.latency_users = n;
        self
    }
    /// Sets the list length of the timed calls. Default 10; >= 1.
    pub fn latency_k(mut self, k: usize) -> Self {
        self.latency_k = k;
        self
    }
    /// Sets the seed of the latency sample. Default 0.
    pub fn latency_seed(mut self, seed: u64) -> Self {
        self.latency_seed = seed;
        self
    }
    /// Keeps per-user values in the report. Default false.
    pub fn per_user(mut self, keep: bool) -> Self {
        self.per_user = keep;
        self
    }

    /// The largest cut-off (0 when `ks` is empty).
    pub fn k_max(&self) -> usize {
        self.ks.iter().copied().max().unwrap_or(0)
    }

    /// Every configured metric at every cut-off (see [`metrics_for`]).
    pub fn build_metrics(&self, n_items: usize) -> Vec<Box<dyn Metric>> {
        metrics_for(&self.metrics, &self.ks, n_items)
    }

    /// Checks the ranges documented on the setters.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the first field out of range.
    pub fn check(&self) -> Result<()> {
        if self.ks.is_empty() || self.ks.contains(&0) {
            return Err(Error::param(
                "ks",
                "a non-empty list of cut-offs >= 1",
                format!("{:?}", self.ks),
            ));
        }
        if self.metrics.is_empty() {
            return Err(Error::param("metrics", "at least one metric", "none"));
        }
        if self.latency_users > 0 && self.latency_k == 0 {
            return Err(Error::param("latency_k", "a list length >= 1", 0));
        }
        Ok(())
    }

    /// Evaluates under `protocol`: [`run`] to `k_max`, [`measure`], then latency sampling.
    /// This is the body of every [`Evaluator`] here.
    ///
    /// # Errors
    /// As [`check`](Self::check), [`run`] and [`measure`].
    pub fn evaluate(
        &self,
        protocol: &Protocol,
        model: &dyn Recommender,
        split: &Split,
    ) -> Result<Report> {
        self.check()?;
        let metrics = self.build_metrics(model.n_items());
        let r = run(model, split, protocol, self.k_max())?;
        let mut report = measure(&r, &split.test, &metrics)?;
        if !self.per_user {
            report.per_user = None;
        }
        if self.latency_users > 0 {
            report.timings.latency = measure_latency(
                model,
                split,
                self.latency_users,
                self.latency_k,
                self.latency_seed,
            )?;
        }
        Ok(report)
    }
}

macro_rules! config_setters {
    ($t:ty) => {
        impl $t {
            /// Replaces the whole configuration.
            pub fn config(mut self, config: EvalConfig) -> Self {
                self.config = config;
                self
            }
            /// See [`EvalConfig::ks`].
            pub fn ks(mut self, ks: impl IntoIterator<Item = usize>) -> Self {
                self.config = self.config.ks(ks);
                self
            }
            /// See [`EvalConfig::metrics`].
            pub fn metrics(mut self, metrics: impl IntoIterator<Item = MetricKind>) -> Self {
                self.config = self.config.metrics(metrics);
                self
            }
            /// See [`EvalConfig::latency_users`].
            pub fn latency_users(mut self, n: usize) -> Self {
                self.config = self.config.latency_users(n);
                self
            }
            /// See [`EvalConfig::per_user`].
            pub fn per_user(mut self, keep: bool) -> Self {
                self.config = self.config.per_user(keep);
                self
            }
        }
    };
}

/// Full-ranking evaluation: every item is a candidate, training items excluded by default.
/// See [`Protocol::FullRanking`] (and its pessimistic tie rule).
///
/// ```
/// use recs::prelude::*;
/// use recs::data::{Interactions, Record, Split, TestCase, TestSet, Vocab};
/// use recs::eval::FullRanking;
/// let recs = [(0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2)]
///     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
/// let train = Interactions::from_records(3, 4, &recs, Default::default())?;
/// let cases = vec![TestCase { user: 0, items: vec![1], negatives: None }];
/// let split = Split { name: "toy".into(), train, test: TestSet { cases }, users: Vocab::identity(3), items: Vocab::identity(4) };
/// let model = Popularity::params().fit(&split.train)?;
/// // user 0 has seen item 0; item 1 is the most popular of the rest
/// let report = FullRanking::new().ks([1, 2]).evaluate(&model, &split)?;
/// assert_eq!(report.get("hr@1"), Some(1.0));
/// assert_eq!(report.get("precision@2"), Some(0.5));
/// assert!(report.timings.latency.is_some());
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FullRanking {
    /// Leave out each user's training items. Default true.
    pub exclude_train: bool,
    /// What to measure.
    pub config: EvalConfig,
}

impl Default for FullRanking {
    fn default() -> Self {
        FullRanking {
            exclude_train: true,
            config: EvalConfig::default(),
        }
    }
}

impl FullRanking {
    /// Training items excluded, default [`EvalConfig`].
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets whether training items are excluded. Default true.
    pub fn exclude_train(mut self, exclude: bool) -> Self {
        self.exclude_train = exclude;
        self
    }
    /// The protocol this evaluator runs.
    pub fn protocol(&self) -> Protocol {
        Protocol::FullRanking {
            exclude_train: self.exclude_train,
        }
    }
}

config_setters!(FullRanking);

impl Evaluator for FullRanking {
    fn evaluate(&self, model: &dyn Recommender, split: &Split) -> Result<Report> {
        self.config.evaluate(&self.protocol(), model, split)
    }
}

/// Sampled-candidates evaluation (NCF style): held-out items ranked among each test case's
/// negatives, or `n` sampled ones. See [`Protocol::SampledCandidates`] (and its pessimistic
/// tie rule).
///
/// ```
/// use recs::prelude::*;
/// use recs::data::{Interactions, Record, Split, TestCase, TestSet, Vocab};
/// use recs::eval::SampledCandidates;
/// let recs = [(0, 0), (1, 0), (1, 1), (2, 1), (2, 2)]
///     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
/// let train = Interactions::from_records(3, 4, &recs, Default::default())?;
/// // counts: item 0: 2, item 1: 2, item 2: 1, item 3: 0
/// let cases = vec![TestCase { user: 0, items: vec![2], negatives: Some(vec![1, 3]) }];
/// let split = Split { name: "toy".into(), train, test: TestSet { cases }, users: Vocab::identity(3), items: Vocab::identity(4) };
/// let model = Popularity::params().fit(&split.train)?;
/// let report = SampledCandidates::new(99, 0).ks([1, 2]).evaluate(&model, &split)?;
/// assert_eq!(report.get("hr@1"), Some(0.0)); // item 1 is more popular
/// assert_eq!(report.get("mrr@2"), Some(0.5));
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampledCandidates {
    /// Negatives sampled for a test case that has none. Must be >= 1.
    pub n: usize,
    /// Seed of the negative sampler.
    pub seed: u64,
    /// What to measure.
    pub config: EvalConfig,
}

impl SampledCandidates {
    /// `n` negatives (used when a test case has none of its own), sampled with `seed`.
    pub fn new(n: usize, seed: u64) -> Self {
        SampledCandidates {
            n,
            seed,
            config: EvalConfig::default(),
        }
    }
    /// The protocol this evaluator runs.
    pub fn protocol(&self) -> Protocol {
        Protocol::SampledCandidates {
            n: self.n,
            seed: self.seed,
        }
    }
}

config_setters!(SampledCandidates);

impl Evaluator for SampledCandidates {
    fn evaluate(&self, model: &dyn Recommender, split: &Split) -> Result<Report> {
        self.config.evaluate(&self.protocol(), model, split)
    }
}

impl Protocol {
    /// The evaluator of this protocol with `config` (for callers that pick the protocol at run
    /// time, such as `recs eval --protocol sampled:99`).
    pub fn evaluator(self, config: EvalConfig) -> Box<dyn Evaluator + Send + Sync> {
        match self {
            Protocol::FullRanking { exclude_train } => Box::new(FullRanking {
                exclude_train,
                config,
            }),
            Protocol::SampledCandidates { n, seed } => {
                Box::new(SampledCandidates { n, seed, config })
            }
        }
    }
}

/// Fits `params` on `train` and returns the model with the wall-clock seconds it took, for
/// [`Report::with_train_seconds`].
///
/// ```
/// use recs::prelude::*;
/// let (model, seconds) = recs::eval::fit_timed(&Popularity::params(), &Interactions::empty(2, 3))?;
/// assert_eq!(model.n_items(), 3);
/// assert!(seconds >= 0.0);
/// # Ok::<(), recs::Error>(())
/// ```
///
/// # Errors
/// As [`Fit::fit`].
pub fn fit_timed<P: Fit + ?Sized>(params: &P, train: &Interactions) -> Result<(P::Model, f64)> {
    let start = Instant::now();
    let model = params.fit(train)?;
    Ok((model, start.elapsed().as_secs_f64()))
}
