//! Model specifications: a model name with parameters, as text (`ease:lambda=500`), parsed by
//! one [`FromStr`] that the CLI, the retraining config and the Python binding share.
//!
//! The keys are the names of the Rust builder methods (`Als::params().regularization(0.05)` is
//! `als:regularization=0.05`), which are also the Python keyword arguments. An unknown key is
//! an error that names the key and lists the valid ones. A value `auto` (where a model allows
//! it) is chosen on a validation split carved from the training data (see [`super::auto`]).
//!
//! A `blend` spec's keys are its members' names with their weights, and `MEMBER.KEY=VALUE`
//! sets a member's own parameter, checked by the member's own rules:
//! `blend:sasrec=1,transition=auto,transition.backward=0.25` (a weight `auto` is chosen on
//! validation; a member parameter needs the member's weight in the same spec).

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use super::auto::{self, AutoOptions};
use super::catalog::MODEL_NAMES;
use super::{
    Als, AlsParams, AnyModel, Blend, BlendParams, Bpr, Ease, EaseParams, Fit, ItemKnn, Ncf,
    NcfArch, ParamGuard, Popularity, SasRec, SideInfo, Transition,
};
use crate::data::Interactions;
use crate::{Error, Result};

/// One model and its parameters, such as `ease:lambda=500` or `als:factors=128,alpha=1`.
///
/// Text form: `NAME` or `NAME:KEY=VALUE[,KEY=VALUE...]`. A list of specs is separated by commas
/// too ([`ModelSpec::parse_list`]): a piece with `:` or without `=` starts a new model, a
/// `KEY=VALUE` piece belongs to the model before it.
///
/// ```
/// use recs::model::ModelSpec;
/// let spec: ModelSpec = "ease:lambda=500".parse()?;
/// assert_eq!(spec.name(), "ease");
/// assert_eq!(spec.get("lambda"), Some("500"));
/// let list = ModelSpec::parse_list("ease:lambda=500,dropout=0.1,als:factors=128,pop")?;
/// assert_eq!(list.len(), 3);
/// assert_eq!(list[0].to_string(), "ease:lambda=500,dropout=0.1");
/// let err = "als:reg=0.1".parse::<ModelSpec>().unwrap_err().to_string();
/// assert!(err.contains("`reg`") && err.contains("regularization"), "{err}");
/// // a blend: member weights (`auto`: chosen on validation) and member parameters
/// let list = ModelSpec::parse_list("blend:sasrec=1,transition=auto,transition.backward=0.25,pop")?;
/// assert_eq!(list[0].get("transition.backward"), Some("0.25"));
/// assert!("blend:pop=1,transition.backwards=1".parse::<ModelSpec>().is_err());
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelSpec {
    name: String,
    params: Vec<(String, String)>,
}

/// The keys each model accepts, by model name (aliases resolved by [`canonical_name`]).
fn keys_of(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "pop" => &["min_value"],
        "itemknn" => &["neighbors", "shrinkage", "binarize"],
        "als" => &[
            "factors",
            "regularization",
            "alpha",
            "iterations",
            "cg_steps",
            "seed",
            "reg_exponent",
        ],
        "bpr" => &[
            "factors",
            "learning_rate",
            "regularization",
            "iterations",
            "seed",
            "item_bias",
            "hogwild",
        ],
        "ease" => &["lambda", "dropout"],
        "gmf" | "mlp" | "neumf" => &[
            "factors",
            "learning_rate",
            "epochs",
            "batch_size",
            "negatives",
            "seed",
        ],
        // a blend's keys are its members' names, each with its weight (`blend:sasrec=1,transition=0.5`)
        "blend" => BLEND_MEMBER_KEYS.as_slice(),
        "fresh" => &[
            "lambda",
            "boost",
            "decay_years",
            "recency_boost",
            "recency_decay",
        ],
        "transition" => &[
            "window",
            "train_decay",
            "backward",
            "alpha",
            "beta",
            "history_len",
            "history_decay",
            "neighbors",
        ],
        "sasrec" => &[
            "blocks",
            "heads",
            "hidden",
            "max_len",
            "dropout",
            "epochs",
            "batch_size",
            "learning_rate",
            "negatives",
            "patience",
            "validation_users",
            "seed",
            "max_seconds",
        ],
        _ => return None,
    })
}

/// The models a `blend` spec may name as members: every model of [`MODEL_NAMES`] but `blend`
/// itself and `fresh` (it needs item years, which a blend's members are not given).
static BLEND_MEMBER_KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    MODEL_NAMES
        .iter()
        .copied()
        .filter(|n| !matches!(*n, "blend" | "fresh"))
        .collect()
});

/// Checks a blend's member parameter `MEMBER.KEY=VALUE` with the member's own spec parser
/// (one rule: `blend:transition=1,transition.backward=0.25` takes what `transition:backward=0.25`
/// takes) and returns the key as stored, with the member's canonical name.
fn blend_member_key(member: &str, key: &str, value: &str) -> Result<String> {
    let name = canonical_name(member)
        .filter(|n| BLEND_MEMBER_KEYS.contains(n))
        .ok_or_else(|| {
            Error::param(
                "model spec key",
                "MEMBER.KEY with MEMBER a blend member",
                format!(
                    "`{}.{}` for `blend` (valid members: {})",
                    member.trim(),
                    key.trim(),
                    BLEND_MEMBER_KEYS.join(", ")
                ),
            )
        })?;
    let key = key.trim();
    ModelSpec::new(name)?.with(key, value)?;
    Ok(format!("{name}.{key}"))
}

/// The checks a blend spec needs once all its keys are in (a `KEY=VALUE` list is built a piece
/// at a time): every member parameter belongs to a member with a weight, and an `auto` weight
/// has a fixed weight > 0 beside it (the blend's scale: only the ratios of the weights matter,
/// so one fixed weight loses nothing and keeps the all-zero blend out of the search).
pub(super) fn check_blend_spec(spec: &ModelSpec) -> Result<()> {
    if spec.name != "blend" {
        return Ok(());
    }
    for (key, _) in &spec.params {
        if let Some((member, _)) = key.split_once('.') {
            if spec.get(member).is_none() {
                return Err(Error::param(
                    "model spec key",
                    "parameters only for members with a weight (`MEMBER=WEIGHT`)",
                    format!("`{key}` without `{member}=WEIGHT` in `{spec}`"),
                ));
            }
        }
    }
    let weights = blend_weights(spec)?;
    let has_auto = weights.iter().any(|(_, w)| w.is_none());
    if has_auto && !weights.iter().any(|(_, w)| w.is_some_and(|w| w > 0.0)) {
        return Err(Error::param(
            "model spec value",
            "a fixed weight > 0 beside `auto` weights (only the weights' ratios matter)",
            spec.to_string(),
        ));
    }
    Ok(())
}

/// A blend spec's members in spec order with their weights (`None` for `auto`).
pub(super) fn blend_weights(spec: &ModelSpec) -> Result<Vec<(String, Option<f32>)>> {
    spec.params
        .iter()
        .filter(|(k, _)| !k.contains('.'))
        .map(|(k, _)| {
            let w = if is_auto(spec, k) {
                None
            } else {
                num::<f32>(spec, k)?
            };
            Ok((k.clone(), w))
        })
        .collect()
}

/// The spec of blend member `member` from the blend spec's `MEMBER.KEY` parameters
/// (`blend:transition=1,transition.backward=0.25` → `transition:backward=0.25`).
pub(super) fn blend_member_spec(spec: &ModelSpec, member: &str) -> Result<ModelSpec> {
    let mut out = ModelSpec::new(member)?;
    for (key, value) in &spec.params {
        if let Some(k) = key
            .split_once('.')
            .filter(|(m, _)| *m == member)
            .map(|(_, k)| k)
        {
            out = out.with(k, value)?;
        }
    }
    Ok(out)
}

/// The keys that accept `auto`.
const AUTO_KEYS: &[(&str, &str)] = &[
    ("ease", "lambda"),
    ("als", "regularization"),
    ("fresh", "lambda"),
    ("fresh", "recency_boost"),
];

/// The name a model is known by in specs, reports and registries (`popularity` → `pop`,
/// `item-knn` → `itemknn`); `None` for an unknown name.
pub fn canonical_name(name: &str) -> Option<&'static str> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "pop" | "popularity" => "pop",
        "itemknn" | "item-knn" => "itemknn",
        "als" => "als",
        "bpr" => "bpr",
        "ease" => "ease",
        "gmf" => "gmf",
        "mlp" => "mlp",
        "neumf" => "neumf",
        "blend" => "blend",
        "fresh" => "fresh",
        "transition" => "transition",
        "sasrec" => "sasrec",
        _ => return None,
    })
}

fn unknown_model(name: &str) -> Error {
    Error::param(
        "model",
        "one of pop, itemknn, als, bpr, ease, gmf, mlp, neumf, blend, fresh, transition, sasrec",
        name,
    )
}

impl ModelSpec {
    /// A spec of `name` with no parameters (every default).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for an unknown model name.
    pub fn new(name: &str) -> Result<ModelSpec> {
        let name = canonical_name(name).ok_or_else(|| unknown_model(name))?;
        Ok(ModelSpec {
            name: name.to_string(),
            params: Vec::new(),
        })
    }

    /// The spec with `key = value` added (replacing an earlier value of `key`).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a key the model does not have (the message lists the valid
    /// ones) or a value that does not parse.
    pub fn with(mut self, key: &str, value: &str) -> Result<ModelSpec> {
        let key = key.trim();
        let value = value.trim();
        if self.name == "blend" {
            if let Some((member, member_key)) = key.split_once('.') {
                let key = blend_member_key(member, member_key, value)?;
                self.params.retain(|(k, _)| *k != key);
                self.params.push((key, value.to_string()));
                return Ok(self);
            }
        }
        let valid = keys_of(&self.name).unwrap_or(&[]);
        if !valid.contains(&key) {
            return Err(Error::param(
                "model spec key",
                "a parameter of the model",
                format!(
                    "`{key}` for `{}` (valid keys: {})",
                    self.name,
                    if valid.is_empty() {
                        "none".to_string()
                    } else {
                        valid.join(", ")
                    }
                ),
            ));
        }
        check_value(&self.name, key, value)?;
        self.params.retain(|(k, _)| k != key);
        self.params.push((key.to_string(), value.to_string()));
        Ok(self)
    }

    /// The spec with `auto` for the parameters whose `auto` is the recommended default and
    /// that were not given: `ease:lambda` and, for `fresh`, `lambda` and `recency_boost`.
    /// (`recs eval` and `recs recommend` fit specs this way; [`fit_named`](super::fit_named)
    /// keeps the fixed defaults.) `auto` includes the fixed default in its grid, so on
    /// validation it is never worse than the fixed default.
    ///
    /// ```
    /// let s: recs::model::ModelSpec = "fresh:lambda=300".parse()?;
    /// assert_eq!(s.with_auto_defaults().to_string(), "fresh:lambda=300,recency_boost=auto");
    /// # Ok::<(), recs::Error>(())
    /// ```
    pub fn with_auto_defaults(mut self) -> ModelSpec {
        let keys: &[&str] = match self.name.as_str() {
            "ease" => &["lambda"],
            "fresh" => &["lambda", "recency_boost"],
            _ => &[],
        };
        for k in keys {
            if self.get(k).is_none() {
                self.params.push(((*k).to_string(), "auto".to_string()));
            }
        }
        self
    }

    /// The model name (canonical: `pop`, `itemknn`, `als`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameters given, in order.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The keys `name` accepts (the names of its builder methods).
    ///
    /// ```
    /// assert!(recs::model::ModelSpec::keys("ease")?.contains(&"lambda"));
    /// # Ok::<(), recs::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for an unknown model name.
    pub fn keys(name: &str) -> Result<&'static [&'static str]> {
        canonical_name(name)
            .and_then(keys_of)
            .ok_or_else(|| unknown_model(name))
    }

    /// Parses a comma-separated list of specs (`ease:lambda=500,dropout=0.1,als,pop`).
    ///
    /// # Errors
    /// As [`FromStr`]; an empty list or a `KEY=VALUE` before any model is an error.
    pub fn parse_list(s: &str) -> Result<Vec<ModelSpec>> {
        let mut out: Vec<ModelSpec> = Vec::new();
        for piece in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let starts_model = piece.contains(':') || !piece.contains('=');
            if starts_model {
                out.push(piece.parse()?);
            } else {
                let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
                let last = out.pop().ok_or_else(|| {
                    Error::param("model spec", "a model name before `KEY=VALUE`", piece)
                })?;
                out.push(last.with(k, v)?);
            }
        }
        if out.is_empty() {
            return Err(Error::param("models", "at least one model spec", "''"));
        }
        for spec in &out {
            check_blend_spec(spec)?;
        }
        Ok(out)
    }

    /// Fits the model on `train` with the defaults for `auto` values ([`AutoOptions::default`]).
    ///
    /// ```
    /// use recs::model::ModelSpec;
    /// let train = recs::data::Interactions::empty(3, 4);
    /// let spec: ModelSpec = "ease:lambda=250".parse()?;
    /// let fitted = spec.fit(&train, &Default::default())?;
    /// assert_eq!(recs::Recommender::kind(&fitted.model), "ease");
    /// # Ok::<(), recs::Error>(())
    /// ```
    ///
    /// # Errors
    /// As the model's `fit`; [`Error::InvalidParam`] when `fresh` has no item years.
    pub fn fit(&self, train: &Interactions, side: &SideInfo) -> Result<Fitted> {
        self.fit_with(train, side, &AutoOptions::default())
    }

    /// [`fit`](Self::fit) with the options of the `auto` searches.
    ///
    /// # Errors
    /// As [`fit`](Self::fit).
    pub fn fit_with(
        &self,
        train: &Interactions,
        side: &SideInfo,
        opts: &AutoOptions,
    ) -> Result<Fitted> {
        let mut chosen = Vec::new();
        let model = fit_spec(self, train, side, opts, &mut chosen)?;
        Ok(Fitted { model, chosen })
    }
}

/// A model fitted from a [`ModelSpec`], with the values chosen for its `auto` parameters.
#[derive(Debug, Clone)]
pub struct Fitted {
    /// The model.
    pub model: AnyModel,
    /// Each `auto` parameter and the value chosen on validation (as text), plus the
    /// validation score of each candidate value (`KEY@VALUE` = Recall@20 on validation).
    pub chosen: Vec<(String, String)>,
}

fn check_value(model: &str, key: &str, value: &str) -> Result<()> {
    if value.eq_ignore_ascii_case("auto") {
        // a blend's member weights (`blend:sasrec=1,transition=auto`, see `auto::fit_blend`)
        return if AUTO_KEYS.contains(&(model, key)) || model == "blend" {
            Ok(())
        } else {
            Err(Error::param(
                "model spec value",
                "a number (`auto` is accepted by ease:lambda, als:regularization, \
                 fresh:lambda, fresh:recency_boost and a blend's member weights)",
                format!("{model}:{key}={value}"),
            ))
        };
    }
    let ok = match key {
        "binarize" | "item_bias" | "hogwild" => value.parse::<bool>().is_ok(),
        "factors" | "iterations" | "cg_steps" | "seed" | "neighbors" | "epochs" | "batch_size"
        | "negatives" => value.parse::<u64>().is_ok(),
        _ => value.parse::<f32>().is_ok_and(f32::is_finite),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::param(
            "model spec value",
            "a value of the parameter's type (integer, finite number or true/false)",
            format!("{model}:{key}={value}"),
        ))
    }
}

impl FromStr for ModelSpec {
    type Err = Error;
    /// `NAME` or `NAME:KEY=VALUE[,KEY=VALUE...]`.
    fn from_str(s: &str) -> Result<Self> {
        let (name, rest) = s.trim().split_once(':').unwrap_or((s.trim(), ""));
        let mut spec = ModelSpec::new(name)?;
        for piece in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = piece.split_once('=').ok_or_else(|| {
                Error::param("model spec", "KEY=VALUE after `NAME:`", piece.to_string())
            })?;
            spec = spec.with(k, v)?;
        }
        check_blend_spec(&spec)?;
        Ok(spec)
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (i, (k, v)) in self.params.iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { ':' } else { ',' })?;
        }
        Ok(())
    }
}

// Values were checked by `with`, so the parses below only fail for a spec built by hand with
// bad text, which cannot happen through the public API; they still return errors, not panics.
fn num<T: FromStr>(spec: &ModelSpec, key: &str) -> Result<Option<T>> {
    match spec.get(key) {
        None => Ok(None),
        Some(v) => v.parse::<T>().map(Some).map_err(|_| {
            Error::param(
                "model spec value",
                "a number",
                format!("{spec} ({key}={v})"),
            )
        }),
    }
}

fn is_auto(spec: &ModelSpec, key: &str) -> bool {
    spec.get(key)
        .is_some_and(|v| v.eq_ignore_ascii_case("auto"))
}

fn fit_spec(
    spec: &ModelSpec,
    train: &Interactions,
    side: &SideInfo,
    opts: &AutoOptions,
    chosen: &mut Vec<(String, String)>,
) -> Result<AnyModel> {
    macro_rules! set {
        ($p:ident, $key:literal, $ty:ty, $method:ident) => {
            if let Some(v) = num::<$ty>(spec, $key)? {
                $p = $p.$method(v);
            }
        };
    }
    Ok(match spec.name() {
        "pop" => {
            let mut p = Popularity::params();
            set!(p, "min_value", f32, min_value);
            p.fit(train)?.into()
        }
        "itemknn" => {
            let mut p = ItemKnn::params();
            set!(p, "neighbors", usize, neighbors);
            set!(p, "shrinkage", f32, shrinkage);
            set!(p, "binarize", bool, binarize);
            p.fit(train)?.into()
        }
        "als" => fit_als(spec, Als::params(), train, opts, chosen)?.1,
        "bpr" => {
            let mut p = Bpr::params();
            set!(p, "factors", usize, factors);
            set!(p, "learning_rate", f32, learning_rate);
            set!(p, "regularization", f32, regularization);
            set!(p, "iterations", usize, iterations);
            set!(p, "seed", u64, seed);
            set!(p, "item_bias", bool, item_bias);
            set!(p, "hogwild", bool, hogwild);
            p.fit(train)?.into()
        }
        "ease" => fit_ease(spec, Ease::params(), train, opts, chosen)?.1,
        "gmf" | "mlp" | "neumf" => {
            // the defaults are tuned for NeuMF's fine-tuning; a standalone GMF or MLP trains
            // like NeuMF's pre-training stages (see `NcfParams`)
            let mut p = match spec.name() {
                "gmf" => Ncf::params()
                    .arch(NcfArch::Gmf)
                    .learning_rate(0.002)
                    .epochs(6),
                "mlp" => Ncf::params()
                    .arch(NcfArch::Mlp)
                    .learning_rate(0.002)
                    .epochs(6),
                _ => Ncf::params().arch(NcfArch::NeuMf),
            };
            set!(p, "factors", usize, factors);
            set!(p, "learning_rate", f32, learning_rate);
            set!(p, "epochs", usize, epochs);
            set!(p, "batch_size", usize, batch_size);
            set!(p, "negatives", usize, negatives);
            set!(p, "seed", u64, seed);
            p.fit(train)?.into()
        }
        "blend" if spec.params().is_empty() => Blend::params().fit(train)?.into(),
        "blend" => auto::fit_blend(spec, train, side, opts, chosen)?.into(),
        "fresh" => auto::fit_fresh(spec, train, side, opts, chosen)?.into(),
        "transition" => {
            let mut p = Transition::params();
            set!(p, "window", usize, window);
            set!(p, "train_decay", f32, train_decay);
            set!(p, "backward", f32, backward);
            set!(p, "alpha", f32, alpha);
            set!(p, "beta", f32, beta);
            set!(p, "history_len", usize, history_len);
            set!(p, "history_decay", f32, history_decay);
            set!(p, "neighbors", usize, neighbors);
            p.fit(train)?.into()
        }
        "sasrec" => {
            let mut p = SasRec::params();
            set!(p, "blocks", usize, blocks);
            set!(p, "heads", usize, heads);
            set!(p, "hidden", usize, hidden);
            set!(p, "max_len", usize, max_len);
            set!(p, "dropout", f32, dropout);
            set!(p, "epochs", usize, epochs);
            set!(p, "batch_size", usize, batch_size);
            set!(p, "learning_rate", f32, learning_rate);
            set!(p, "negatives", usize, negatives);
            set!(p, "patience", usize, patience);
            set!(p, "validation_users", usize, validation_users);
            set!(p, "seed", u64, seed);
            set!(p, "max_seconds", f64, max_seconds);
            p.fit(train)?.into()
        }
        other => return Err(unknown_model(other)),
    })
}

/// EASE with `spec`'s keys set on `p` (`lambda=auto` chosen on validation); returns the
/// parameters used and the model.
fn fit_ease(
    spec: &ModelSpec,
    mut p: EaseParams,
    train: &Interactions,
    opts: &AutoOptions,
    chosen: &mut Vec<(String, String)>,
) -> Result<(EaseParams, AnyModel)> {
    if let Some(v) = num::<f32>(spec, "dropout")? {
        p = p.dropout(v);
    }
    if is_auto(spec, "lambda") {
        let (lambda, scores) = auto::ease_lambda(&p, train, opts)?;
        chosen.push(("ease.lambda".into(), lambda.to_string()));
        chosen.extend(scores);
        p = p.lambda(lambda);
    } else if let Some(v) = num::<f32>(spec, "lambda")? {
        p = p.lambda(v);
    }
    let model = p.fit(train)?.into();
    Ok((p, model))
}

/// ALS with `spec`'s keys set on `p` (`regularization=auto` chosen on validation); returns
/// the parameters used and the model.
fn fit_als(
    spec: &ModelSpec,
    mut p: AlsParams,
    train: &Interactions,
    opts: &AutoOptions,
    chosen: &mut Vec<(String, String)>,
) -> Result<(AlsParams, AnyModel)> {
    macro_rules! set {
        ($key:literal, $ty:ty, $method:ident) => {
            if let Some(v) = num::<$ty>(spec, $key)? {
                p = p.$method(v);
            }
        };
    }
    set!("factors", usize, factors);
    set!("alpha", f32, alpha);
    set!("iterations", usize, iterations);
    set!("cg_steps", usize, cg_steps);
    set!("seed", u64, seed);
    set!("reg_exponent", f32, reg_exponent);
    if is_auto(spec, "regularization") {
        let (reg, scores) = auto::als_regularization(&p, train, opts)?;
        chosen.push(("als.regularization".into(), reg.to_string()));
        chosen.extend(scores);
        p = p.regularization(reg);
    } else {
        set!("regularization", f32, regularization);
    }
    let model = p.fit(train)?.into();
    Ok((p, model))
}

/// Fits blend member `member` (a spec from [`blend_member_spec`]). `ease` and `als` start from
/// the blend's own member parameters ([`BlendParams::ease`], [`BlendParams::als`]: a blend's
/// ALS is tuned for blending) and record the parameters used in `blend`; the others start
/// from their defaults, as their own spec would.
pub(super) fn fit_blend_member(
    member: &ModelSpec,
    blend: &mut BlendParams,
    train: &Interactions,
    side: &SideInfo,
    opts: &AutoOptions,
    chosen: &mut Vec<(String, String)>,
) -> Result<AnyModel> {
    match member.name() {
        "ease" => {
            let base = blend.check_ref()?.ease().clone();
            let (p, model) = fit_ease(member, base, train, opts, chosen)?;
            *blend = blend.clone().ease(p);
            Ok(model)
        }
        "als" => {
            let base = blend.check_ref()?.als().clone();
            let (p, model) = fit_als(member, base, train, opts, chosen)?;
            *blend = blend.clone().als(p);
            Ok(model)
        }
        _ => fit_spec(member, train, side, opts, chosen),
    }
}

/// The parameters of a `fresh` spec other than the `auto` ones, applied to `p`.
pub(super) fn fresh_fixed(
    spec: &ModelSpec,
    mut p: super::FreshParams,
) -> Result<super::FreshParams> {
    macro_rules! set {
        ($key:literal, $method:ident) => {
            if let Some(v) = num::<f32>(spec, $key)? {
                p = p.$method(v);
            }
        };
    }
    set!("boost", boost);
    set!("decay_years", decay_years);
    set!("recency_decay", recency_decay);
    if !is_auto(spec, "recency_boost") {
        set!("recency_boost", recency_boost);
    }
    if !is_auto(spec, "lambda") {
        if let Some(l) = num::<f32>(spec, "lambda")? {
            p = p.ease(Ease::params().lambda(l));
        }
    }
    Ok(p)
}

pub(super) fn fresh_auto_keys(spec: &ModelSpec) -> (bool, bool) {
    (is_auto(spec, "lambda"), is_auto(spec, "recency_boost"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_aliases() {
        let s: ModelSpec = "Popularity".parse().unwrap();
        assert_eq!(s.to_string(), "pop");
        let s: ModelSpec = " als : factors=128 , alpha = 1 ".parse().unwrap();
        assert_eq!(s.to_string(), "als:factors=128,alpha=1");
        assert_eq!(s.to_string().parse::<ModelSpec>().unwrap(), s);
    }

    #[test]
    fn errors_name_the_key_and_the_valid_ones() {
        let e = "ease:lamda=3".parse::<ModelSpec>().unwrap_err().to_string();
        assert!(
            e.contains("`lamda`") && e.contains("lambda, dropout"),
            "{e}"
        );
        let e = "blend:x=1".parse::<ModelSpec>().unwrap_err().to_string();
        assert!(e.contains("`x`") && e.contains("transition, sasrec"), "{e}");
        // `fresh` needs item years, which a blend's members are not given
        let e = "blend:fresh=1"
            .parse::<ModelSpec>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("`fresh`"), "{e}");
        let e = "blend:ease=much"
            .parse::<ModelSpec>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("blend:ease=much"), "{e}");
        let e = "nope".parse::<ModelSpec>().unwrap_err().to_string();
        assert!(e.contains("nope") && e.contains("ease"), "{e}");
        let e = "als:factors=many"
            .parse::<ModelSpec>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("als:factors=many"), "{e}");
        let e = "als:factors=auto"
            .parse::<ModelSpec>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("auto"), "{e}");
        assert!("ease:lambda".parse::<ModelSpec>().is_err());
        assert!("ease:lambda=NaN".parse::<ModelSpec>().is_err());
        assert!(ModelSpec::parse_list("lambda=3,ease").is_err());
        assert!(ModelSpec::parse_list(" , ").is_err());
    }

    #[test]
    fn lists_attach_keys_to_the_model_before() {
        let l =
            ModelSpec::parse_list("ease:lambda=auto,dropout=0.2,als,itemknn:neighbors=20").unwrap();
        let shown: Vec<String> = l.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "ease:lambda=auto,dropout=0.2",
                "als",
                "itemknn:neighbors=20"
            ]
        );
    }

    #[test]
    fn a_fixed_value_reaches_the_fitted_model() {
        let recs: Vec<crate::data::Record> = (0..20u32)
            .map(|k| crate::data::Record {
                user: k % 5,
                item: (k * 7) % 6,
                value: 1.0,
                timestamp: None,
            })
            .collect();
        let train = Interactions::from_records(5, 6, &recs, Default::default()).unwrap();
        let fitted = "ease:lambda=37"
            .parse::<ModelSpec>()
            .unwrap()
            .fit(&train, &SideInfo::default())
            .unwrap();
        match fitted.model {
            AnyModel::Ease(e) => assert_eq!(e.fitted_params().lambda(), 37.0),
            other => panic!("expected EASE, got {}", crate::Recommender::kind(&other)),
        }
        assert!(fitted.chosen.is_empty());
    }

    #[test]
    fn blend_member_params_parse_with_the_members_own_rules() {
        let text = "blend:sasrec=1,transition=0.05,transition.backward=0.25,sasrec.dropout=0.5";
        let s: ModelSpec = text.parse().unwrap();
        assert_eq!(s.get("transition.backward"), Some("0.25"));
        // Display (the provenance string) shows the member params and parses back
        assert_eq!(s.to_string(), text);
        assert_eq!(s.to_string().parse::<ModelSpec>().unwrap(), s);
        assert_eq!(
            blend_member_spec(&s, "transition").unwrap().to_string(),
            "transition:backward=0.25"
        );
        // the `--models` list attaches dotted keys to the blend before them; aliases resolve
        let l = ModelSpec::parse_list(
            "blend:pop=1,transition=auto,popularity.min_value=2,transition.window=3,ease",
        )
        .unwrap();
        let shown: Vec<String> = l.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "blend:pop=1,transition=auto,pop.min_value=2,transition.window=3",
                "ease"
            ]
        );
        // a member's own `auto` keys stay `auto`
        assert!("blend:ease=1,ease.lambda=auto".parse::<ModelSpec>().is_ok());
        let err = |t: &str| t.parse::<ModelSpec>().unwrap_err().to_string();
        let e = err("blend:pop=1,nope.x=1");
        assert!(
            e.contains("`nope.x`") && e.contains("transition, sasrec"),
            "{e}"
        );
        let e = err("blend:transition=1,transition.backwards=1");
        assert!(
            e.contains("`backwards`") && e.contains("window, train_decay, backward"),
            "{e}"
        );
        let e = err("blend:transition=1,transition.backward=much");
        assert!(e.contains("transition:backward=much"), "{e}");
        let e = err("blend:transition=1,transition.backward=auto");
        assert!(e.contains("auto"), "{e}");
        assert!(err("blend:fresh=1,fresh.lambda=3").contains("`fresh"));
        assert!(err("blend:pop=1,blend.pop=1").contains("`blend.pop`"));
        assert!(err("blend:pop=1,transition.window.x=1").contains("`window.x`"));
        // a param for a member without a weight, in either order of the pieces
        let e = err("blend:pop=1,transition.backward=0.25");
        assert!(
            e.contains("`transition.backward` without `transition=WEIGHT`"),
            "{e}"
        );
        let e = ModelSpec::parse_list("blend:pop=1,transition.backward=0.25,ease")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`transition.backward`"), "{e}");
        assert!("blend:transition.backward=0.25,transition=1"
            .parse::<ModelSpec>()
            .is_ok());
        // `auto` weights need a fixed weight > 0 beside them (the blend's scale)
        for bad in ["blend:pop=auto", "blend:pop=0,transition=auto"] {
            assert!(err(bad).contains("fixed weight"), "{bad}");
        }
    }

    /// A member param gives the member its own spec would, score for score.
    #[test]
    fn a_member_param_fits_the_member_its_own_spec_would() {
        let recs: Vec<crate::data::Record> = (0..60u32)
            .map(|k| crate::data::Record {
                user: k % 8,
                item: (k * 7 + k / 8) % 9,
                value: 1.0,
                timestamp: Some(k as i64),
            })
            .collect();
        let train = Interactions::from_records(8, 9, &recs, Default::default()).unwrap();
        let side = SideInfo::default();
        let fit = |t: &str| t.parse::<ModelSpec>().unwrap().fit(&train, &side).unwrap();
        let blend = fit("blend:transition=1,pop=0.5,transition.backward=0.5,transition.window=1");
        let member = fit("transition:backward=0.5,window=1").model;
        let by_hand = Blend::params()
            .members(vec![("transition".into(), 1.0), ("pop".into(), 0.5)])
            .fit_members(vec![member, fit("pop").model])
            .unwrap();
        let plain = fit("blend:transition=1,pop=0.5");
        let (mut a, mut b, mut c) = (vec![0f32; 9], vec![0f32; 9], vec![0f32; 9]);
        let mut differs = false;
        for u in 0..8 {
            let h = train.items_of(u);
            crate::Recommender::score_into(&blend.model, u, h, &mut a).unwrap();
            crate::Recommender::score_into(&by_hand, u, h, &mut b).unwrap();
            crate::Recommender::score_into(&plain.model, u, h, &mut c).unwrap();
            assert_eq!(a, b, "user {u}");
            differs |= a != c;
        }
        // the params reached the member: the blend of the default transition scores otherwise
        assert!(differs);
        // `ease` and `als` members start from the blend's own member params
        let AnyModel::Blend(b) = fit("blend:ease=1,als=0.5,ease.lambda=7,als.factors=4").model
        else {
            panic!("expected a blend")
        };
        assert_eq!(b.fitted_params().ease().check_ref().unwrap().lambda(), 7.0);
        let als = b.fitted_params().als().check_ref().unwrap();
        assert_eq!((als.factors(), als.alpha()), (4, 1.0));
        match &b.members()[0] {
            AnyModel::Ease(e) => assert_eq!(e.fitted_params().lambda(), 7.0),
            other => panic!("expected EASE, got {}", crate::Recommender::kind(other)),
        }
    }

    #[test]
    fn a_blend_spec_names_its_members_and_weights() {
        let recs: Vec<crate::data::Record> = (0..40u32)
            .map(|k| crate::data::Record {
                user: k % 8,
                item: (k * 7 + k / 8) % 6,
                value: 1.0,
                timestamp: Some(k as i64),
            })
            .collect();
        let train = Interactions::from_records(8, 6, &recs, Default::default()).unwrap();
        let spec: ModelSpec = "blend:pop=0.5,itemknn=1,transition=0".parse().unwrap();
        let fitted = spec.fit(&train, &SideInfo::default()).unwrap();
        let by_hand = Blend::params()
            .members(vec![("pop".into(), 0.5), ("itemknn".into(), 1.0)])
            .fit(&train)
            .unwrap();
        let (mut a, mut b) = (vec![0f32; 6], vec![0f32; 6]);
        for u in 0..8 {
            crate::Recommender::score_into(&fitted.model, u, train.items_of(u), &mut a).unwrap();
            crate::Recommender::score_into(&by_hand, u, train.items_of(u), &mut b).unwrap();
            assert_eq!(a, b, "user {u}");
        }
        // a zero-weight member is not fitted, and a blend of a sequence model reads order
        assert!(!crate::Recommender::reads_order(&fitted.model));
        let seq: ModelSpec = "blend:pop=1,transition=1".parse().unwrap();
        let fitted = seq.fit(&train, &SideInfo::default()).unwrap();
        assert!(crate::Recommender::reads_order(&fitted.model));
        // weights are checked when fitted: negative, or all zero
        for bad in ["blend:pop=-1", "blend:pop=0,ease=0"] {
            let e = bad
                .parse::<ModelSpec>()
                .unwrap()
                .fit(&train, &SideInfo::default());
            assert!(e.is_err(), "{bad}");
        }
    }
}
