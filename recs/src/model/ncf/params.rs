//! Hyper-parameters of [`Ncf`] and the `fit` entry points.

use serde::{Deserialize, Serialize};

use super::net::Net;
use super::optim::NcfOptimizer;
use super::train::{train_stage, Stage, TrainData};
use super::{EpochStats, Ncf, NcfArch};
use crate::data::Interactions;
use crate::model::{Fit, ParamGuard};
use crate::util::rng::Xoshiro256PlusPlus as Rng;
use crate::util::{ensure_in, ensure_non_negative, ensure_positive, ABOVE_ZERO_TO_TEN};
use crate::{Error, Result};

/// Parameters of [`Ncf`]. Build with [`Ncf::params`]; every setter documents its default and
/// range, and `fit` checks them first.
///
/// The defaults are a NeuMF with pre-training, chosen on a validation split of the ML-1M NCF
/// training data (`cargo bench -p recs --bench ncf -- val=1 …`: each user's held-out training
/// item against 99 sampled negatives, never the test items): GMF with 64 factors and the MLP
/// `[128, 64, 32, 16]`, each pre-trained for 6 epochs with Adam at 0.002 on mini-batches of
/// 1024 instances with 8 negatives per positive (validation HR@10 0.835 and 0.819), then NeuMF
/// fine-tuned for 1 epoch with Adam at 0.0004 (0.844; more epochs, SGD at 0.01 or 0.05, α = 0.7,
/// a decaying learning rate or pre-training at 0.003 all validated lower), with an L2 penalty
/// of 0.001 on the prediction layer. For a standalone GMF or MLP use the pre-training
/// settings: `.learning_rate(0.002).epochs(6)`.
///
/// ```
/// use recs::model::{Fit, Ncf, NcfArch, NcfOptimizer, ParamGuard};
/// let params = Ncf::params()
///     .arch(NcfArch::Mlp)
///     .mlp_layers(&[32, 16, 8])
///     .epochs(5)
///     .optimizer(NcfOptimizer::Adam);
/// assert!(params.check_ref().is_ok());
/// assert!(Ncf::params().mlp_layers(&[7, 4]).check_ref().is_err()); // odd embedding concat
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NcfParams(NcfValidParams);

/// Validated [`NcfParams`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NcfValidParams {
    arch: NcfArch,
    factors: usize,
    mlp_layers: Vec<usize>,
    learning_rate: f32,
    epochs: usize,
    batch_size: usize,
    negatives: usize,
    l2: f32,
    /// Absent from files written before it existed, which trained without it.
    #[serde(default)]
    output_l2: f32,
    #[serde(default = "one")]
    lr_final: f32,
    init_std: f32,
    optimizer: NcfOptimizer,
    seed: u64,
    pretrain_epochs: usize,
    pretrain_learning_rate: f32,
    pretrain_alpha: f32,
    early_stopping: usize,
}

impl Default for NcfParams {
    fn default() -> Self {
        NcfParams(NcfValidParams {
            arch: NcfArch::NeuMf,
            factors: 64,
            mlp_layers: vec![128, 64, 32, 16],
            learning_rate: 0.0004,
            epochs: 1,
            batch_size: 1024,
            negatives: 8,
            l2: 0.0,
            output_l2: 0.001,
            lr_final: 1.0,
            init_std: 0.01,
            optimizer: NcfOptimizer::Adam,
            seed: 42,
            pretrain_epochs: 6,
            pretrain_learning_rate: 0.002,
            pretrain_alpha: 0.5,
            early_stopping: 0,
        })
    }
}

impl NcfParams {
    /// The network: GMF, MLP or NeuMF. Default [`NcfArch::NeuMf`].
    pub fn arch(mut self, arch: NcfArch) -> Self {
        self.0.arch = arch;
        self
    }
    /// GMF predictive factors (embedding width of the GMF part; unused by MLP).
    /// Default 64; must be in 1..=4096.
    pub fn factors(mut self, n: usize) -> Self {
        self.0.factors = n;
        self
    }
    /// MLP sizes: the first is the width of the concatenated user and item embeddings (each
    /// half of it), then one ReLU layer per further size (unused by GMF). Default
    /// `[128, 64, 32, 16]`; at least two sizes, each in 1..=4096, the first even.
    pub fn mlp_layers(mut self, sizes: &[usize]) -> Self {
        self.0.mlp_layers = sizes.to_vec();
        self
    }
    /// Learning rate of the (final) training stage: NeuMF's fine-tuning after pre-training,
    /// or the whole fit without it. Default 0.0004 (for fine-tuning; 0.002 suits a GMF, MLP or
    /// NeuMF trained from scratch); must be finite and > 0.
    pub fn learning_rate(mut self, lr: f32) -> Self {
        self.0.learning_rate = lr;
        self
    }
    /// Passes over the training positives (negatives are resampled every epoch). Default 1
    /// (NeuMF fine-tuning; 6 suits a GMF or MLP); 0 keeps the initialisation (useful to
    /// inspect a pre-trained NeuMF before fine-tuning).
    pub fn epochs(mut self, n: usize) -> Self {
        self.0.epochs = n;
        self
    }
    /// Training instances (positives and their negatives) per mini-batch, rounded to whole
    /// groups of one positive and its negatives. Default 1024; must be ≥ 1.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.0.batch_size = n;
        self
    }
    /// Sampled negatives per positive. Default 8; must be in 1..=1000.
    pub fn negatives(mut self, n: usize) -> Self {
        self.0.negatives = n;
        self
    }
    /// L2 penalty on the embeddings: every training instance (positive or negative) adds
    /// `l2/2·(‖p_u‖² + ‖q_i‖²)` to its loss, over all the embeddings it uses (so rows are
    /// regularised in proportion to their use, and only when a mini-batch touches them). Dense
    /// weights are not penalised. Default 0.0; must be finite and ≥ 0.
    pub fn l2(mut self, l2: f32) -> Self {
        self.0.l2 = l2;
        self
    }
    /// L2 penalty on the prediction layer's weights (not its bias): every mini-batch adds
    /// `output_l2/2·‖w‖²` to its mean loss, as a Keras `kernel_regularizer` would. It keeps
    /// the last layer from growing its logits to fit the training pairs (the NCF paper tunes
    /// regularisation; the embeddings and MLP layers stay unpenalised here). Default 0.001;
    /// must be finite and ≥ 0.
    pub fn output_l2(mut self, l2: f32) -> Self {
        self.0.output_l2 = l2;
        self
    }
    /// Learning-rate decay of every stage (pre-training included): the rate falls linearly
    /// over the stage's planned steps from its learning rate to this fraction of it. Adam's
    /// closed-form catch-up of untouched embedding rows uses the current step's rate for the
    /// skipped steps. Default 1.0 (constant); must be in [0, 1].
    pub fn lr_final(mut self, frac: f32) -> Self {
        self.0.lr_final = frac;
        self
    }
    /// Standard deviation of the normal initialisation of the embeddings. Default 0.01 (the
    /// paper's); must be finite and in (0, 10].
    pub fn init_std(mut self, std: f32) -> Self {
        self.0.init_std = std;
        self
    }
    /// Optimizer of the (final) training stage. Default [`NcfOptimizer::Adam`].
    pub fn optimizer(mut self, o: NcfOptimizer) -> Self {
        self.0.optimizer = o;
        self
    }
    /// Seed of initialisation, shuffling and negative sampling. Default 42.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
    /// NeuMF only: when > 0, first fit a GMF and an MLP (same sizes, Adam at
    /// [`pretrain_learning_rate`](Self::pretrain_learning_rate)) for this many epochs each, and
    /// start NeuMF from them as the paper does ([`fit_pretrained`](Self::fit_pretrained)).
    /// Default 6 (0: random initialisation).
    pub fn pretrain_epochs(mut self, n: usize) -> Self {
        self.0.pretrain_epochs = n;
        self
    }
    /// Adam learning rate of the GMF and MLP pre-training stages. Default 0.002; must be finite
    /// and > 0.
    pub fn pretrain_learning_rate(mut self, lr: f32) -> Self {
        self.0.pretrain_learning_rate = lr;
        self
    }
    /// Weight of the pre-trained GMF in NeuMF's prediction layer: `w = [α·w_gmf, (1−α)·w_mlp]`,
    /// `b = α·b_gmf + (1−α)·b_mlp`. Default 0.5 (the paper's); must be in [0, 1].
    pub fn pretrain_alpha(mut self, alpha: f32) -> Self {
        self.0.pretrain_alpha = alpha;
        self
    }
    /// Early stopping patience in epochs; 0 turns it off. When on, each user's latest training
    /// item (largest timestamp; a random one, seeded, without timestamps; users with ≥ 2 items)
    /// is held out,
    /// HR@10 against 99 sampled negatives is measured after every epoch, training stops after
    /// this many epochs without improvement and the best epoch's weights are kept. Default 0.
    pub fn early_stopping(mut self, patience: usize) -> Self {
        self.0.early_stopping = patience;
        self
    }

    /// Fits like [`Fit::fit`], calling `progress` after every epoch of every stage (for a
    /// progress bar or a loss log).
    ///
    /// ```
    /// use recs::model::{Ncf, NcfArch};
    /// # let recs: Vec<_> = (0..20u32).map(|k| recs::data::Record { user: k % 5, item: k % 7, value: 1.0, timestamp: None }).collect();
    /// # let train = recs::data::Interactions::from_records(5, 7, &recs, Default::default())?;
    /// let mut losses = Vec::new();
    /// let model = Ncf::params()
    ///     .arch(NcfArch::Gmf)
    ///     .epochs(3)
    ///     .fit_with_progress(&train, &mut |s| losses.push(s.loss))?;
    /// assert_eq!(losses.len(), 3);
    /// # Ok::<(), recs::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for parameters out of range, [`Error::Data`] for data without
    /// interactions, [`Error::Limit`] when the model would not fit in memory.
    pub fn fit_with_progress(
        &self,
        train: &Interactions,
        progress: &mut dyn FnMut(&EpochStats),
    ) -> Result<Ncf> {
        let p = self.check_ref()?;
        p.check_size(train)?;
        let data = TrainData::new(train, p.early_stopping > 0, p.seed)?;
        let net = match p.arch {
            NcfArch::NeuMf if p.pretrain_epochs > 0 => {
                let gmf = p.stage_net(NcfArch::Gmf, train, &data, progress);
                let mlp = p.stage_net(NcfArch::Mlp, train, &data, progress);
                let mut net = neumf_from(&gmf, &mlp, p.pretrain_alpha);
                train_stage(&mut net, &data, &p.stage(NcfArch::NeuMf), progress);
                net
            }
            arch => p.stage_net(arch, train, &data, progress),
        };
        Ok(Ncf { net })
    }

    /// Fits NeuMF starting from a fitted GMF and MLP, as the paper's pre-training: embeddings
    /// and MLP layers are copied, the prediction layers mixed by
    /// [`pretrain_alpha`](Self::pretrain_alpha); then NeuMF trains for `epochs` with
    /// `optimizer` (the paper uses SGD here, as Adam's moments are lost). The sizes come
    /// from `gmf` and `mlp`; `factors`, `mlp_layers` and `pretrain_epochs` are not used.
    ///
    /// ```
    /// use recs::model::{Fit, Ncf, NcfArch, NcfOptimizer, Recommender};
    /// # let recs: Vec<_> = (0..20u32).map(|k| recs::data::Record { user: k % 5, item: k % 7, value: 1.0, timestamp: None }).collect();
    /// # let train = recs::data::Interactions::from_records(5, 7, &recs, Default::default())?;
    /// let gmf = Ncf::params().arch(NcfArch::Gmf).epochs(2).fit(&train)?;
    /// let mlp = Ncf::params().arch(NcfArch::Mlp).mlp_layers(&[8, 4]).epochs(2).fit(&train)?;
    /// let neumf = Ncf::params()
    ///     .optimizer(NcfOptimizer::Sgd)
    ///     .epochs(1)
    ///     .fit_pretrained(&train, &gmf, &mlp, &mut |_| {})?;
    /// assert_eq!(neumf.arch(), NcfArch::NeuMf);
    /// assert_eq!(neumf.mlp_layers(), &[8, 4]);
    /// # Ok::<(), recs::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidParam`] when `arch` is not NeuMF or a parameter is out of range,
    /// [`Error::Data`] when `gmf` is not a GMF, `mlp` not an MLP, or either was fitted on
    /// another shape than `train`.
    pub fn fit_pretrained(
        &self,
        train: &Interactions,
        gmf: &Ncf,
        mlp: &Ncf,
        progress: &mut dyn FnMut(&EpochStats),
    ) -> Result<Ncf> {
        let p = self.check_ref()?;
        if p.arch != NcfArch::NeuMf {
            return Err(Error::param(
                "arch",
                "NeuMf for fit_pretrained",
                format!("{:?}", p.arch),
            ));
        }
        if gmf.arch() != NcfArch::Gmf || mlp.arch() != NcfArch::Mlp {
            return Err(Error::Data(format!(
                "fit_pretrained needs a GMF and an MLP, got {:?} and {:?}",
                gmf.arch(),
                mlp.arch()
            )));
        }
        for m in [gmf, mlp] {
            if m.net.n_users != train.n_users() || m.net.n_items != train.n_items() {
                return Err(Error::Data(format!(
                    "pre-trained {:?} has {} users × {} items, training data {} × {}",
                    m.arch(),
                    m.net.n_users,
                    m.net.n_items,
                    train.n_users(),
                    train.n_items()
                )));
            }
        }
        let data = TrainData::new(train, p.early_stopping > 0, p.seed)?;
        let mut net = neumf_from(&gmf.net, &mlp.net, p.pretrain_alpha);
        train_stage(&mut net, &data, &p.stage(NcfArch::NeuMf), progress);
        Ok(Ncf { net })
    }
}

/// NeuMF initialised from a GMF and an MLP: rows `[gmf | mlp]`, MLP layers copied, prediction
/// layer `[α·w_gmf, (1−α)·w_mlp]`, bias `α·b_gmf + (1−α)·b_mlp`.
fn neumf_from(gmf: &Net, mlp: &Net, alpha: f32) -> Net {
    let (f, e) = (gmf.factors, mlp.emb());
    let join = |a: &[f32], b: &[f32], n: usize| {
        let mut out = Vec::with_capacity(n * (f + e));
        for r in 0..n {
            out.extend_from_slice(&a[r * f..(r + 1) * f]);
            out.extend_from_slice(&b[r * e..(r + 1) * e]);
        }
        out
    };
    let users = join(&gmf.users, &mlp.users, gmf.n_users);
    let items = join(&gmf.items, &mlp.items, gmf.n_items);
    // mlp.dense = layers, then prediction weights (h_last) and bias; gmf.dense = f weights, bias
    let n_layers_dense = mlp.dense.len() - mlp.widths.last().copied().unwrap_or(0) - 1;
    let mut dense = mlp.dense[..n_layers_dense].to_vec();
    dense.extend(gmf.dense[..f].iter().map(|w| alpha * w));
    dense.extend(
        mlp.dense[n_layers_dense..mlp.dense.len() - 1]
            .iter()
            .map(|w| (1.0 - alpha) * w),
    );
    dense.push(alpha * gmf.dense[f] + (1.0 - alpha) * mlp.dense[mlp.dense.len() - 1]);
    Net {
        arch: NcfArch::NeuMf,
        n_users: gmf.n_users,
        n_items: gmf.n_items,
        factors: f,
        widths: mlp.widths.clone(),
        users,
        items,
        dense,
    }
}

impl NcfValidParams {
    /// The network type.
    pub fn arch(&self) -> NcfArch {
        self.arch
    }
    /// GMF predictive factors.
    pub fn factors(&self) -> usize {
        self.factors
    }
    /// MLP sizes.
    pub fn mlp_layers(&self) -> &[usize] {
        &self.mlp_layers
    }
    /// Learning rate of the final stage.
    pub fn learning_rate(&self) -> f32 {
        self.learning_rate
    }
    /// Epochs of the final stage.
    pub fn epochs(&self) -> usize {
        self.epochs
    }
    /// Instances per mini-batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
    /// Negatives per positive.
    pub fn negatives(&self) -> usize {
        self.negatives
    }
    /// L2 penalty.
    pub fn l2(&self) -> f32 {
        self.l2
    }
    /// L2 penalty on the prediction layer's weights.
    pub fn output_l2(&self) -> f32 {
        self.output_l2
    }
    /// Final learning rate as a fraction of the initial one (linear decay).
    pub fn lr_final(&self) -> f32 {
        self.lr_final
    }
    /// Standard deviation of the embedding initialisation.
    pub fn init_std(&self) -> f32 {
        self.init_std
    }
    /// Optimizer of the final stage.
    pub fn optimizer(&self) -> NcfOptimizer {
        self.optimizer
    }
    /// Seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Pre-training epochs (NeuMF).
    pub fn pretrain_epochs(&self) -> usize {
        self.pretrain_epochs
    }
    /// Pre-training learning rate.
    pub fn pretrain_learning_rate(&self) -> f32 {
        self.pretrain_learning_rate
    }
    /// GMF weight when joining pre-trained models.
    pub fn pretrain_alpha(&self) -> f32 {
        self.pretrain_alpha
    }
    /// Early-stopping patience (0 = off).
    pub fn early_stopping(&self) -> usize {
        self.early_stopping
    }

    /// Settings of the stage training `arch`: pre-training stages use Adam at the pre-training
    /// rate and their own seed streams.
    fn stage(&self, arch: NcfArch) -> Stage {
        let pretraining = self.arch == NcfArch::NeuMf && arch != NcfArch::NeuMf;
        Stage {
            arch,
            epochs: if pretraining {
                self.pretrain_epochs
            } else {
                self.epochs
            },
            lr: if pretraining {
                self.pretrain_learning_rate
            } else {
                self.learning_rate
            },
            optimizer: if pretraining {
                NcfOptimizer::Adam
            } else {
                self.optimizer
            },
            batch_size: self.batch_size,
            negatives: self.negatives,
            l2: self.l2,
            output_l2: self.output_l2,
            lr_final: self.lr_final,
            seed: self.seed ^ stage_tag(arch),
            patience: self.early_stopping,
        }
    }

    /// A freshly initialised network of type `arch`, trained for its stage.
    fn stage_net(
        &self,
        arch: NcfArch,
        train: &Interactions,
        data: &TrainData<'_>,
        progress: &mut dyn FnMut(&EpochStats),
    ) -> Net {
        let mut rng = Rng::new(self.seed, stage_tag(arch));
        let mut net = Net::new(
            arch,
            train.n_users(),
            train.n_items(),
            self.factors,
            &self.mlp_layers,
            self.init_std,
            &mut rng,
        );
        train_stage(&mut net, data, &self.stage(arch), progress);
        net
    }

    /// Refuses models whose parameters and optimizer state would not fit in memory.
    fn check_size(&self, train: &Interactions) -> Result<()> {
        const MAX_FLOATS: usize = 1 << 31;
        let row = self.factors + self.mlp_layers.first().map_or(0, |w| w / 2);
        let floats = (train.n_users() + train.n_items())
            .checked_mul(row)
            .and_then(|n| n.checked_mul(4)); // parameters, two Adam moments, gradients
        match floats {
            Some(n) if n <= MAX_FLOATS => Ok(()),
            _ => Err(Error::Limit(format!(
                "NCF tables of {} rows × {row} floats exceed {MAX_FLOATS} floats with optimizer state",
                train.n_users() + train.n_items()
            ))),
        }
    }
}

/// Serde default of fields whose neutral value is 1.
fn one() -> f32 {
    1.0
}

fn stage_tag(arch: NcfArch) -> u64 {
    match arch {
        NcfArch::Gmf => 0x1000,
        NcfArch::Mlp => 0x2000,
        NcfArch::NeuMf => 0x3000,
    }
}

const MAX_WIDTH: usize = 4096;

impl ParamGuard for NcfParams {
    type Checked = NcfValidParams;

    fn check_ref(&self) -> Result<&Self::Checked> {
        let p = &self.0;
        if p.arch != NcfArch::Mlp && !(1..=MAX_WIDTH).contains(&p.factors) {
            return Err(Error::param("factors", "1..=4096", p.factors));
        }
        if p.arch != NcfArch::Gmf
            && (p.mlp_layers.len() < 2
                || !p.mlp_layers[0].is_multiple_of(2)
                || p.mlp_layers.iter().any(|w| !(1..=MAX_WIDTH).contains(w)))
        {
            return Err(Error::param(
                "mlp_layers",
                "at least two sizes in 1..=4096, the first even",
                format!("{:?}", p.mlp_layers),
            ));
        }
        ensure_positive("learning_rate", p.learning_rate)?;
        ensure_in("batch_size", ">= 1", p.batch_size, 1..)?;
        ensure_in("negatives", "1..=1000", p.negatives, 1..=1000)?;
        ensure_non_negative("l2", "a finite number >= 0", p.l2)?;
        ensure_non_negative("output_l2", "a finite number >= 0", p.output_l2)?;
        ensure_in("lr_final", "a number in [0, 1]", p.lr_final, 0.0..=1.0)?;
        ensure_in(
            "init_std",
            "a number in (0, 10]",
            p.init_std,
            ABOVE_ZERO_TO_TEN,
        )?;
        ensure_positive("pretrain_learning_rate", p.pretrain_learning_rate)?;
        ensure_in(
            "pretrain_alpha",
            "a number in [0, 1]",
            p.pretrain_alpha,
            0.0..=1.0,
        )?;
        Ok(p)
    }

    fn check(self) -> Result<Self::Checked> {
        self.check_ref()?;
        Ok(self.0)
    }
}

impl Fit for NcfParams {
    type Model = Ncf;
    fn fit(&self, train: &Interactions) -> Result<Ncf> {
        self.fit_with_progress(train, &mut |_| {})
    }
}
