//! Shared server state: where models come from ([`ModelSource`]), the id/title/history data
//! they are served with ([`Catalog`]), immutable loaded models ([`Snapshot`]) and the current
//! [`Deployment`], swapped atomically.
//!
//! A request clones the current `Arc<Deployment>` once under a short read lock and works on it
//! to the end, so a switch or rollout change in the middle of a request neither fails it nor
//! mixes two versions in one answer. Changes are serialized by an async admin lock: load (on the
//! blocking pool), verify, then replace the `Arc` under the write lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use recs::data::{Dataset, Interactions, ItemIdx, UserIdx, Vocab};
use recs::model::{AnyModel, RecOpts, Recommender, Scored};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::config::ServeConfig;
use crate::error::ApiError;
use crate::experiment::ExperimentTracker;
use crate::metrics::{Metrics, ResultLabels};
use crate::rollout::Rollout;

/// Where a model came from, returned in every answer's provenance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ModelMeta {
    /// Model name (e.g. `als`, `popularity`).
    pub name: String,
    /// Version id (e.g. `v1.2`).
    pub version: String,
    /// Git commit of the code that trained it, when recorded.
    pub git_sha: Option<String>,
    /// Id of the training data snapshot, when recorded.
    pub data_snapshot_id: Option<String>,
}

/// A model as loaded by a [`ModelSource`], before verification.
#[derive(Clone)]
pub struct LoadedModel {
    /// The model.
    pub model: Arc<dyn Recommender>,
    /// Its provenance.
    pub meta: ModelMeta,
    /// The id vocabularies and training interactions published with it (registry artifact
    /// `serving.bin`); `None` for versions published without them.
    pub serving: Option<Arc<recs::registry::ServingData>>,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("kind", &self.model.kind())
            .field("meta", &self.meta)
            .field("serving_data", &self.serving.is_some())
            .finish()
    }
}

/// Failures of a [`ModelSource`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// No such version (answered as 404).
    #[error("model version `{0}` not found")]
    NotFound(String),
    /// Reading or decoding failed.
    #[error(transparent)]
    Core(#[from] recs::Error),
}

impl From<SourceError> for ApiError {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::NotFound(v) => {
                ApiError::NotFound(format!("model version `{v}` not found"))
            }
            SourceError::Core(e) => ApiError::Core(e),
        }
    }
}

/// A version whose files fail verification (checksum, model header, metadata) is a bad
/// choice by the caller, answered 400 as documented, not a server fault (500).
fn damaged_is_bad_request(version: &str, e: SourceError) -> ApiError {
    use recs::registry::RegistryError as R;
    match e {
        SourceError::Core(
            ref core @ (recs::Error::Format(_)
            | recs::Error::Registry(
                R::Checksum { .. } | R::Corrupt { .. } | R::InvalidMeta(_),
            )),
        ) => ApiError::BadRequest(format!("version `{version}` cannot be served: {core}")),
        other => other.into(),
    }
}

/// Where versions are loaded from: the registry in production, memory or files in tests.
/// Methods block (disk, network); the server calls them on the blocking pool.
pub trait ModelSource: Send + Sync + 'static {
    /// Loads one version.
    ///
    /// # Errors
    /// [`SourceError::NotFound`] for an unknown version, else the loading error.
    fn load(&self, version: &str) -> Result<LoadedModel, SourceError>;
    /// The version the source marks as latest, if any.
    ///
    /// # Errors
    /// When the source cannot be read.
    fn latest(&self) -> Result<Option<String>, SourceError>;
    /// All versions, oldest first.
    ///
    /// # Errors
    /// When the source cannot be read.
    fn versions(&self) -> Result<Vec<String>, SourceError>;
}

/// An in-memory [`ModelSource`]: versions inserted by the program. For tests, examples and
/// embedding the server in a process that trains its own models.
///
/// ```
/// use recs_server::MemorySource;
/// use recs::model::{Fit, Popularity};
/// let src = MemorySource::new();
/// let model = Popularity::params().fit(&recs::data::Interactions::empty(1, 3))?;
/// src.insert("v1", model); // also becomes latest
/// assert_eq!(src.latest_version().as_deref(), Some("v1"));
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct MemorySource {
    inner: Mutex<Versions>,
}

/// The versions of a [`MemorySource`] and its latest pointer.
type Versions = (Vec<(String, LoadedModel)>, Option<String>);

impl MemorySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Versions> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds (or replaces) `version` and marks it latest; the model name is its kind.
    pub fn insert(&self, version: &str, model: impl Recommender + 'static) {
        let name = model.kind().to_string();
        self.insert_with_meta(
            Arc::new(model),
            ModelMeta {
                name,
                version: version.to_string(),
                git_sha: None,
                data_snapshot_id: None,
            },
        );
    }

    /// Adds (or replaces) a version with full provenance and marks it latest.
    pub fn insert_with_meta(&self, model: Arc<dyn Recommender>, meta: ModelMeta) {
        let mut g = self.lock();
        let version = meta.version.clone();
        g.0.retain(|(v, _)| *v != version);
        g.0.push((
            version.clone(),
            LoadedModel {
                model,
                meta,
                serving: None,
            },
        ));
        g.1 = Some(version);
    }

    /// Moves the latest pointer (`None` clears it).
    pub fn set_latest(&self, version: Option<&str>) {
        self.lock().1 = version.map(str::to_string);
    }

    /// The latest pointer.
    pub fn latest_version(&self) -> Option<String> {
        self.lock().1.clone()
    }
}

impl ModelSource for MemorySource {
    fn load(&self, version: &str) -> Result<LoadedModel, SourceError> {
        self.lock()
            .0
            .iter()
            .find(|(v, _)| v == version)
            .map(|(_, m)| m.clone())
            .ok_or_else(|| SourceError::NotFound(version.to_string()))
    }
    fn latest(&self) -> Result<Option<String>, SourceError> {
        Ok(self.latest_version())
    }
    fn versions(&self) -> Result<Vec<String>, SourceError> {
        Ok(self.lock().0.iter().map(|(v, _)| v.clone()).collect())
    }
}

/// A [`ModelSource`] over recs model files: `version → path`, read with
/// [`AnyModel::load`] on each load. The last version added is latest.
#[derive(Debug, Clone, Default)]
pub struct FileSource {
    files: Vec<(String, std::path::PathBuf)>,
}

impl FileSource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a version read from `path`.
    pub fn with(mut self, version: &str, path: impl Into<std::path::PathBuf>) -> Self {
        self.files.push((version.to_string(), path.into()));
        self
    }
}

impl ModelSource for FileSource {
    fn load(&self, version: &str) -> Result<LoadedModel, SourceError> {
        let (_, path) = self
            .files
            .iter()
            .find(|(v, _)| v == version)
            .ok_or_else(|| SourceError::NotFound(version.to_string()))?;
        let model = AnyModel::load(path)?;
        Ok(LoadedModel {
            meta: ModelMeta {
                name: model.kind().to_string(),
                version: version.to_string(),
                git_sha: None,
                data_snapshot_id: None,
            },
            model: Arc::new(model),
            serving: None,
        })
    }
    fn latest(&self) -> Result<Option<String>, SourceError> {
        Ok(self.files.last().map(|(v, _)| v.clone()))
    }
    fn versions(&self) -> Result<Vec<String>, SourceError> {
        Ok(self.files.iter().map(|(v, _)| v.clone()).collect())
    }
}

/// The production [`ModelSource`]: a `recs` model registry. Versions are `vMAJOR.MINOR`;
/// loading checks the registry checksum, the model file's own header and checksum, and the kind
/// recorded in `meta.json` (`recs::registry::load_model`). Provenance (`git_sha`,
/// `data_snapshot`) comes from `meta.json`; the model name is its kind.
///
/// ```
/// use recs::model::{AnyModel, Fit, Popularity};
/// use recs::registry::{publish_model, LocalRegistry, NewVersion, Registry};
/// use recs_server::{ModelSource, RegistrySource};
/// # let dir = tempfile::tempdir()?;
/// let reg = LocalRegistry::open(dir.path())?;
/// let model: AnyModel = Popularity::params().fit(&recs::data::Interactions::empty(1, 3))?.into();
/// let meta = publish_model(&reg, &model, NewVersion::new("popularity"))?;
/// reg.set_latest(&meta.version)?;
/// let source = RegistrySource::new(reg);
/// assert_eq!(source.latest()?.as_deref(), Some("v1.0"));
/// assert_eq!(source.load("v1.0")?.meta.name, "popularity");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RegistrySource {
    registry: Box<dyn recs::registry::Registry>,
}

impl std::fmt::Debug for RegistrySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySource")
            .field("location", &self.registry.location())
            .finish()
    }
}

impl RegistrySource {
    /// Serves the versions of `registry`.
    pub fn new(registry: impl recs::registry::Registry + 'static) -> Self {
        RegistrySource {
            registry: Box::new(registry),
        }
    }

    /// Opens an existing local registry directory (unlike `LocalRegistry::open`, a missing
    /// directory is an error: a typo must not start an empty server).
    ///
    /// # Errors
    /// [`recs::Error::Io`] when `dir` is not a directory or cannot be opened.
    pub fn open_local(dir: &std::path::Path) -> recs::Result<Self> {
        if !dir.is_dir() {
            return Err(recs::Error::io(
                dir,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "model registry directory not found",
                ),
            ));
        }
        Ok(Self::new(recs::registry::LocalRegistry::open(dir)?))
    }
}

impl RegistrySource {
    /// The catalog of the latest version, built from the vocabularies and training
    /// interactions it was published with; `None` when no version is latest or it carries
    /// none (published before `serving.bin`). `recs serve` without `--data` starts with it.
    ///
    /// # Errors
    /// As [`recs::registry::load_serving_data`].
    pub fn latest_catalog(&self) -> recs::Result<Option<Catalog>> {
        let reg = self.registry.as_ref();
        let Some(v) = reg.latest()? else {
            return Ok(None);
        };
        Ok(recs::registry::load_serving_data(reg, &v)?
            .map(|d| Catalog::from_serving_data(&d, &v.to_string())))
    }
}

/// `NotFound` registry errors become [`SourceError::NotFound`].
fn registry_error(version: &str, e: recs::Error) -> SourceError {
    match e {
        recs::Error::Registry(recs::registry::RegistryError::NotFound(_)) => {
            SourceError::NotFound(version.to_string())
        }
        other => SourceError::Core(other),
    }
}

impl ModelSource for RegistrySource {
    fn load(&self, version: &str) -> Result<LoadedModel, SourceError> {
        let v = recs::registry::Version::parse(version)?;
        let reg = self.registry.as_ref();
        let meta = reg.meta(&v).map_err(|e| registry_error(version, e))?;
        let model = recs::registry::load_model(reg, &v).map_err(|e| registry_error(version, e))?;
        let serving = recs::registry::load_serving_data(reg, &v)
            .map_err(|e| registry_error(version, e))?
            .map(Arc::new);
        Ok(LoadedModel {
            model: Arc::new(model),
            serving,
            meta: ModelMeta {
                name: meta.kind,
                version: v.to_string(),
                git_sha: meta.git_sha,
                data_snapshot_id: meta.data_snapshot,
            },
        })
    }
    fn latest(&self) -> Result<Option<String>, SourceError> {
        Ok(self.registry.latest()?.map(|v| v.to_string()))
    }
    fn versions(&self) -> Result<Vec<String>, SourceError> {
        Ok(self
            .registry
            .versions()?
            .iter()
            .map(ToString::to_string)
            .collect())
    }
}

/// What models are served with: external id vocabularies, users' histories (to leave seen
/// movies out), movie titles and the popularity ranking for cold-start users.
///
/// Without vocabularies ([`Catalog::identity`]) ids are dense indices: user id `u` is model
/// user `u`, item `i` is movie id `i`.
///
/// ```
/// use recs_server::Catalog;
/// let c = Catalog::identity().with_titles([(1, "Toy Story (1995)".to_string())].into());
/// assert_eq!(c.title(1), Some("Toy Story (1995)"));
/// assert_eq!(c.user_index(5), Some(5));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    users: Option<Vocab>,
    items: Option<Vocab>,
    history: Option<Interactions>,
    titles: HashMap<i64, String>,
    popular: Arc<[Scored]>,
    /// Streamed movies per user (real-time fold-in, [`crate::foldin`]); `None` when off.
    live: Option<Arc<crate::foldin::LiveHistories>>,
    /// The registry version whose serving data built this catalog; `None` for `--data` (or
    /// no data). A version with other ids is refused by a `--data` catalog and gets a catalog
    /// of its own otherwise.
    from_version: Option<String>,
}

/// Longest cold-start list kept (answers never exceed `max_k` anyway).
const COLD_START_LEN: usize = 10_000;

impl Catalog {
    /// Dense ids, no history, no titles.
    pub fn identity() -> Self {
        Self::default()
    }

    /// The `recs drift` profile of the training interactions (external ids; values read as
    /// ratings unless all are 1), the reference of the drift gauges; `None` without data.
    pub fn training_profile(&self) -> Option<recs::stream::Profile> {
        let ds = Dataset {
            interactions: self.history.clone()?,
            users: self.users.clone()?,
            items: self.items.clone()?,
            order: None,
        };
        let explicit = ds.interactions.values().iter().any(|&v| v != 1.0);
        Some(recs::stream::Profile::from_dataset(&ds, explicit))
    }

    /// The vocabularies and interactions of a data set: known users get their seen movies
    /// filtered, unknown users the popularity ranking of these interactions.
    pub fn from_dataset(ds: Dataset) -> Self {
        let popular = popularity_ranking(&ds.interactions);
        Catalog {
            users: Some(ds.users),
            items: Some(ds.items),
            history: Some(ds.interactions),
            titles: HashMap::new(),
            popular,
            live: None,
            from_version: None,
        }
    }

    /// The catalog a registry version carries ([`recs::registry::ServingData`]): its id
    /// vocabularies, its training interactions as the seen items, their popularity as the
    /// cold-start list.
    pub fn from_serving_data(data: &recs::registry::ServingData, version: &str) -> Self {
        let ds = Dataset {
            interactions: data.seen().clone(),
            users: data.users().clone(),
            items: data.items().clone(),
            order: None,
        };
        Catalog {
            from_version: Some(version.to_string()),
            ..Catalog::from_dataset(ds)
        }
    }

    /// The version whose serving data built this catalog (`None` for `--data` or none).
    pub fn from_version(&self) -> Option<&str> {
        self.from_version.as_deref()
    }

    /// The catalog `data` (of `version`) is served with: `None` when it is this one (same
    /// ids), a catalog of its own (titles kept) when this one has no ids from `--data`.
    ///
    /// # Errors
    /// A message naming the first difference when this catalog comes from `--data` and its
    /// ids differ from the version's.
    fn for_version(
        &self,
        data: &recs::registry::ServingData,
        version: &str,
    ) -> Result<Option<Catalog>, String> {
        if let (Some(users), Some(items)) = (&self.users, &self.items) {
            match data.check_same_ids(users, items) {
                Ok(()) => return Ok(None),
                Err(recs::Error::Data(e)) if self.from_version.is_none() => {
                    return Err(format!(
                        "its ids do not match the data it is served with (--data): {e}; serve it \
                         with the data it was trained on, or without --data (the version carries \
                         its own vocabularies and seen items)"
                    ))
                }
                Err(_) => {}
            }
        }
        let mut own = Catalog::from_serving_data(data, version);
        own.titles = self.titles.clone();
        // Live histories hold item indices of this catalog: shared only when the items agree.
        if self.items.as_ref().is_some_and(|i| i == data.items()) {
            own.live = self.live.clone();
        }
        Ok(Some(own))
    }

    /// Turns on real-time fold-in with these live histories (see [`crate::foldin`]).
    pub fn with_live(mut self, live: Arc<crate::foldin::LiveHistories>) -> Self {
        self.live = Some(live);
        self
    }

    /// The live histories, when fold-in is on.
    pub fn live(&self) -> Option<&Arc<crate::foldin::LiveHistories>> {
        self.live.as_ref()
    }

    /// The model item of movie `id`, `None` for an unknown movie.
    pub fn item_index(&self, id: i64) -> Option<ItemIdx> {
        match &self.items {
            Some(v) => v.index(id),
            None => u32::try_from(id).ok(),
        }
    }

    /// Adds movie titles (`movie id → title`), returned in answers.
    pub fn with_titles(mut self, titles: HashMap<i64, String>) -> Self {
        self.titles = titles;
        self
    }

    /// Loads a catalog from an interaction file (format guessed from its name) and, optionally,
    /// a movie file (`u.item` read as ML-100K items, anything else as ML-1M `movies.dat`).
    /// Without `data`, the identity catalog (with titles when `movies` is given).
    ///
    /// # Errors
    /// The loaders' errors ([`recs::Error::Io`], [`recs::Error::Parse`], ...).
    pub fn load(
        data: Option<&std::path::Path>,
        movies: Option<&std::path::Path>,
    ) -> recs::Result<Self> {
        use recs::data::{load, load_movie_file, Format, LoadOptions};
        let catalog = match data {
            Some(p) => {
                Catalog::from_dataset(load(p, &Format::guess(p), &LoadOptions::default())?.0)
            }
            None => Catalog::identity(),
        };
        Ok(match movies {
            Some(p) => catalog.with_movies(&load_movie_file(p)?),
            None => catalog,
        })
    }

    /// Takes the movie titles of `other`.
    pub fn with_titles_of(mut self, other: &Catalog) -> Self {
        self.titles = other.titles.clone();
        self
    }

    /// Adds movie titles from MovieLens movies (as read by `recs::data::load_movies`).
    pub fn with_movies(self, movies: &[recs::data::Movie]) -> Self {
        self.with_titles(movies.iter().map(|m| (m.id, m.title.clone())).collect())
    }

    /// The model user of external user `id`, `None` for an unknown user.
    pub fn user_index(&self, id: i64) -> Option<UserIdx> {
        match &self.users {
            Some(v) => v.index(id),
            None => u32::try_from(id).ok(),
        }
    }

    /// The movie id of model item `idx`.
    pub fn item_id(&self, idx: ItemIdx) -> Option<i64> {
        match &self.items {
            Some(v) => v.external(idx),
            None => Some(i64::from(idx)),
        }
    }

    /// The seen items of a model user (empty without history).
    pub fn history(&self, user: UserIdx) -> &[ItemIdx] {
        match &self.history {
            Some(h) if (user as usize) < h.n_users() => h.items_of(user),
            _ => &[],
        }
    }

    /// The title of a movie, when titles are loaded.
    pub fn title(&self, movie_id: i64) -> Option<&str> {
        self.titles.get(&movie_id).map(String::as_str)
    }

    /// Number of items of the vocabulary, when there is one.
    pub fn n_items(&self) -> Option<usize> {
        self.items.as_ref().map(Vocab::len)
    }

    /// Number of movie titles loaded.
    pub fn n_titles(&self) -> usize {
        self.titles.len()
    }
}

/// Items by interaction count, most first (ties by index).
fn popularity_ranking(data: &Interactions) -> Arc<[Scored]> {
    let counts = data.item_counts();
    let mut order: Vec<Scored> = counts
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(i, &c)| Scored {
            item: i as ItemIdx,
            score: c as f32,
        })
        .collect();
    order.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
    order.truncate(COLD_START_LEN);
    order.into()
}

/// A loaded, verified, immutable model version.
pub struct Snapshot {
    /// The model.
    pub model: Arc<dyn Recommender>,
    /// Its provenance.
    pub meta: ModelMeta,
    /// When it was loaded (RFC 3339).
    pub loaded_at: String,
    /// The cold-start ranking used with this model.
    cold_start: Arc<[Scored]>,
    /// The version's own catalog (ids, seen items), when it carries serving data the server's
    /// catalog does not have; see [`Snapshot::catalog`].
    own_catalog: Option<Arc<Catalog>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("kind", &self.model.kind())
            .field("meta", &self.meta)
            .field("loaded_at", &self.loaded_at)
            .finish()
    }
}

impl Snapshot {
    /// Verifies `loaded` against `catalog` and wraps it.
    ///
    /// Checks: the model's item count equals the catalog's (when the catalog has a vocabulary),
    /// the model has items, and a smoke recommendation returns finite scores of valid items.
    /// The cold-start ranking is the catalog's popularity, or the model's own scores when the
    /// catalog has no interactions and the model is a popularity model.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] describing the failed check.
    pub fn verify(loaded: LoadedModel, catalog: &Catalog) -> Result<Snapshot, ApiError> {
        let LoadedModel {
            model,
            meta,
            serving,
        } = loaded;
        let fail = |m: String| {
            Err(ApiError::BadRequest(format!(
                "model version `{}` failed verification: {m}",
                meta.version
            )))
        };
        let own_catalog = match serving {
            Some(data) => match catalog.for_version(&data, &meta.version) {
                Ok(own) => own.map(Arc::new),
                Err(m) => return fail(m),
            },
            None => None,
        };
        let catalog = own_catalog.as_deref().unwrap_or(catalog);
        let n = model.n_items();
        if n == 0 {
            return fail("the model has no items".into());
        }
        if let Some(expected) = catalog.n_items() {
            if expected != n {
                return fail(format!(
                    "the model scores {n} items but the catalog has {expected}"
                ));
            }
        }
        let user = (0..64u32)
            .find(|&u| !catalog.history(u).is_empty())
            .unwrap_or(0);
        let opts = RecOpts {
            k: 10.min(n),
            ..RecOpts::default()
        };
        match model.recommend(user, catalog.history(user), &opts) {
            Ok(top) => {
                if let Some(s) = top
                    .iter()
                    .find(|s| !s.score.is_finite() || s.item as usize >= n)
                {
                    return fail(format!(
                        "smoke test returned item {} score {}",
                        s.item, s.score
                    ));
                }
            }
            Err(recs::Error::UnknownUser(_)) => {}
            Err(e) => return fail(format!("smoke test failed: {e}")),
        }
        let cold_start = if !catalog.popular.is_empty() {
            catalog.popular.clone()
        } else if model.kind() == "popularity" {
            let mut buf = vec![0f32; n];
            match model.score_into(0, &[], &mut buf) {
                Ok(()) => {
                    let top = recs::model::top_k_dense(&buf, COLD_START_LEN.min(n), |_| false);
                    top.into()
                }
                Err(_) => Arc::from(Vec::new()),
            }
        } else {
            Arc::from(Vec::new())
        };
        Ok(Snapshot {
            model,
            meta,
            loaded_at: crate::rfc3339(crate::unix_now()),
            cold_start,
            own_catalog,
        })
    }

    /// The catalog this version answers with: its own (built from the serving data it was
    /// published with) when the server's has other ids or none, else the server's.
    pub fn catalog<'a>(&'a self, server: &'a Catalog) -> &'a Catalog {
        self.own_catalog.as_deref().unwrap_or(server)
    }

    /// Recommends for `user_id` (blocking; call on the blocking pool).
    ///
    /// Unknown users, and users the model cannot score ([`recs::Error::UnknownUser`]), get the
    /// popularity cold-start answer (`cold_start == true`).
    ///
    /// # Errors
    /// Model errors other than an unknown user.
    pub fn recommend(
        &self,
        catalog: &Catalog,
        user_id: i64,
        k: usize,
    ) -> Result<Scoring, ApiError> {
        let catalog = self.catalog(catalog);
        if let Some(live) = catalog.live().and_then(|l| l.items_in_order(user_id)) {
            let known = catalog.user_index(user_id);
            let base = known.map_or(&[][..], |u| catalog.history(u));
            let (m, cold) = (self.model.as_ref(), &self.cold_start);
            return crate::foldin::recommend_live(m, known, base, &live, k, cold);
        }
        if let Some(u) = catalog.user_index(user_id) {
            let history = catalog.history(u);
            if let Some(items) = model_list(self.model.as_ref(), u, history, k)? {
                return Ok(Scoring {
                    items,
                    cold_start: false,
                });
            }
        }
        Ok(Scoring {
            items: self.cold_start.iter().take(k).copied().collect(),
            cold_start: true,
        })
    }
}

/// Scores `shadow` for `user_id` and returns the share of the primary's answer (`primary`,
/// raw movie ids) that the shadow also returns. Compared by raw movie id, not by item index:
/// a shadow version that carries its own catalog (other ids, or the same ids in another order)
/// numbers its items differently from the primary.
///
/// # Errors
/// The shadow's scoring error.
pub(crate) fn shadow_overlap(
    shadow: &Snapshot,
    server: &Catalog,
    user_id: i64,
    k: usize,
    primary: &[i64],
) -> Result<f64, ApiError> {
    let scoring = shadow.recommend(server, user_id, k)?;
    if primary.is_empty() {
        return Ok(1.0);
    }
    let catalog = shadow.catalog(server);
    let same = scoring
        .items
        .iter()
        .filter_map(|s| catalog.item_id(s.item))
        .filter(|id| primary.contains(id))
        .count();
    Ok(same as f64 / primary.len() as f64)
}

/// The model's answer before ids are mapped back.
#[derive(Debug, Clone, PartialEq)]
pub struct Scoring {
    /// Model items, best first.
    pub items: Vec<Scored>,
    /// True when the popularity cold-start answer was used.
    pub cold_start: bool,
}

/// What is served right now: a rollout and its loaded versions. Never mutated; replaced whole.
#[derive(Debug, Default)]
pub struct Deployment {
    /// Increases by one on every change.
    pub generation: u64,
    /// `None` until the first model is loaded (not ready).
    pub rollout: Option<Rollout>,
    models: HashMap<String, Arc<Snapshot>>,
}

impl Deployment {
    /// The loaded snapshot of `version`.
    pub fn model(&self, version: &str) -> Option<&Arc<Snapshot>> {
        self.models.get(version)
    }

    /// Finds a loaded model by version, or by model name when exactly one loaded version has
    /// that name (for `?model=`).
    pub fn find(&self, name: &str) -> Option<&Arc<Snapshot>> {
        self.models.get(name).or_else(|| {
            let mut it = self.models.values().filter(|s| s.meta.name == name);
            match (it.next(), it.next()) {
                (Some(s), None) => Some(s),
                _ => None,
            }
        })
    }

    /// Loaded snapshots in rollout order.
    pub fn snapshots(&self) -> Vec<&Arc<Snapshot>> {
        match &self.rollout {
            Some(r) => r
                .versions()
                .iter()
                .filter_map(|v| self.models.get(*v))
                .collect(),
            None => Vec::new(),
        }
    }
}

/// The result of a switch or rollout change.
#[derive(Debug, Clone, Serialize)]
pub struct DeployOutcome {
    /// The rollout before.
    pub previous: Option<Rollout>,
    /// The rollout now.
    pub rollout: Rollout,
    /// The new generation.
    pub generation: u64,
    /// Versions that had to be loaded (others were already in memory).
    pub loaded: Vec<String>,
    /// Time spent loading and verifying, in ms.
    pub load_ms: f64,
}

struct Inner {
    config: ServeConfig,
    source: Arc<dyn ModelSource>,
    catalog: Arc<Catalog>,
    deployed: RwLock<Arc<Deployment>>,
    /// Serializes deployments (held across load + swap); holds the registry's latest pointer as
    /// last acted on, so a poll switches only when the pointer moves.
    admin: tokio::sync::Mutex<Option<String>>,
    metrics: Metrics,
    experiment: ExperimentTracker,
    scoring: Arc<Semaphore>,
    shadow: Arc<Semaphore>,
    started: std::time::Instant,
    request_seq: std::sync::atomic::AtomicU64,
    boot_id: u32,
    /// The exposure log, when configured.
    exposure: Option<crate::exposure::ExposureLog>,
}

/// The server state, cheap to clone (one `Arc`). Also the in-process API: switch, set the
/// rollout, record watch events, read the experiment.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("addr", &self.0.config.addr)
            .field("generation", &self.current().map(|d| d.generation).ok())
            .finish()
    }
}

impl AppState {
    /// State with nothing deployed yet (`/readyz` answers 503 until a switch or rollout).
    ///
    /// # Errors
    /// [`crate::ServerError::Config`] when `config` is out of range.
    pub fn new(
        config: ServeConfig,
        source: Arc<dyn ModelSource>,
        catalog: Catalog,
    ) -> Result<Self, crate::ServerError> {
        config.check()?;
        let metrics = Metrics::with_online_kpi(crate::metrics::OnlineKpi::new(
            config.kpi_window_secs,
            config.kpi_capacity,
        ));
        metrics.set_rollout(None, &[], 0);
        metrics.ops.set_build(&config.git_sha);
        metrics.ops.set_drift_reference(catalog.training_profile());
        let boot_id = {
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            crate::rollout::bucket(nanos as i64) ^ (std::process::id() << 14)
        };
        let exposure = crate::exposure::ExposureLog::start_with(
            &config.exposure_log,
            metrics.exposure.clone(),
        )?;
        Ok(AppState(Arc::new(Inner {
            exposure,
            experiment: ExperimentTracker::new(config.exposure_capacity),
            scoring: Arc::new(Semaphore::new(config.max_concurrent_scoring)),
            shadow: Arc::new(Semaphore::new(config.max_concurrent_scoring.div_ceil(4))),
            config,
            source,
            catalog: Arc::new(catalog),
            deployed: RwLock::new(Arc::new(Deployment::default())),
            admin: tokio::sync::Mutex::new(None),
            metrics,
            started: std::time::Instant::now(),
            request_seq: std::sync::atomic::AtomicU64::new(0),
            boot_id,
        })))
    }

    /// The configuration.
    pub fn config(&self) -> &ServeConfig {
        &self.0.config
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.0.catalog
    }

    /// The model source.
    pub fn source(&self) -> &Arc<dyn ModelSource> {
        &self.0.source
    }

    /// The experiment tracker.
    pub fn experiment(&self) -> &ExperimentTracker {
        &self.0.experiment
    }

    /// The exposure log, when one is configured.
    pub fn exposure(&self) -> Option<&crate::exposure::ExposureLog> {
        self.0.exposure.as_ref()
    }

    pub(crate) fn scoring_slots(&self) -> &Arc<Semaphore> {
        &self.0.scoring
    }

    pub(crate) fn shadow_slots(&self) -> &Arc<Semaphore> {
        &self.0.shadow
    }

    /// Seconds since the state was created.
    pub fn uptime(&self) -> Duration {
        self.0.started.elapsed()
    }

    /// A new request id, unique within this process and unlikely to repeat across restarts.
    pub fn next_request_id(&self) -> String {
        let n = self
            .0
            .request_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{:08x}-{n:012x}", self.0.boot_id)
    }

    /// The deployment in force (one `Arc` clone under a short read lock).
    ///
    /// # Errors
    /// [`ApiError::Internal`] if the lock is poisoned.
    pub fn current(&self) -> Result<Arc<Deployment>, ApiError> {
        self.0
            .deployed
            .read()
            .map(|g| Arc::clone(&g))
            .map_err(|_| ApiError::Internal("deployment lock poisoned".into()))
    }

    /// True when a model is loaded.
    pub fn is_ready(&self) -> bool {
        self.current().is_ok_and(|d| d.rollout.is_some())
    }

    /// Records a watch event (in-process form of `POST /events`); true when it matched an
    /// earlier recommendation of the current experiment.
    pub fn record_watch(&self, user_id: i64, movie_id: i64, at_unix: Option<f64>) -> bool {
        if self.0.config.live.posted {
            crate::foldin::observe_posted(&self.0.catalog, user_id, movie_id);
        }
        self.attribute_watch(user_id, movie_id, at_unix)
    }

    /// Joins a watch event (posted, or from the live event feed) with the recommendations
    /// served before it: the experiment's per-arm outcome and the online KPI. True when it
    /// matched a recommendation of the current experiment or of the KPI window.
    pub(crate) fn attribute_watch(
        &self,
        user_id: i64,
        movie_id: i64,
        at_unix: Option<f64>,
    ) -> bool {
        let at = at_unix.unwrap_or_else(crate::unix_now);
        let in_experiment = self.0.experiment.record_watch(user_id, movie_id, Some(at));
        let in_kpi = self.0.metrics.online.watched(user_id, movie_id, at);
        self.0.metrics.ops.observe_watch(user_id, movie_id, at);
        let hit = in_experiment || in_kpi;
        self.0
            .metrics
            .watch_events
            .get_or_create(&crate::metrics::AttributedLabels { attributed: hit })
            .inc();
        hit
    }

    /// Loads a version on the blocking pool and verifies it, reusing `current`'s copy when
    /// that version is already served.
    async fn load(
        &self,
        current: &Deployment,
        version: &str,
    ) -> Result<(Arc<Snapshot>, bool), ApiError> {
        if let Some(s) = current.model(version) {
            return Ok((Arc::clone(s), false));
        }
        let source = Arc::clone(&self.0.source);
        let catalog = Arc::clone(&self.0.catalog);
        let v = version.to_string();
        let snap = tokio::task::spawn_blocking(move || -> Result<Snapshot, ApiError> {
            let loaded = source.load(&v).map_err(|e| damaged_is_bad_request(&v, e))?;
            Snapshot::verify(loaded, &catalog)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("model loading task failed: {e}")))??;
        Ok((Arc::new(snap), true))
    }

    /// Switches to serving `version` alone (rollout `fixed`): load, verify, swap.
    ///
    /// With `if_current`, the switch happens only when the rollout is `fixed` on that version
    /// (optimistic concurrency for deploy scripts).
    ///
    /// # Errors
    /// 404 for an unknown version, 400 when verification fails, 409 when `if_current` does not
    /// match, 500 for other loading failures.
    pub async fn switch(
        &self,
        version: &str,
        if_current: Option<&str>,
    ) -> Result<DeployOutcome, ApiError> {
        let rollout = Rollout::Fixed {
            version: version.to_string(),
        };
        self.deploy(rollout, |cur| match if_current {
            None => Ok(()),
            Some(expected) => match &cur.rollout {
                Some(Rollout::Fixed { version }) if version == expected => Ok(()),
                other => Err(ApiError::Conflict(format!(
                    "if_current is `{expected}` but the deployment is {}",
                    describe(other.as_ref())
                ))),
            },
        })
        .await
    }

    /// Installs a rollout, loading the versions it needs. With `if_generation`, only when the
    /// deployment generation still equals it.
    ///
    /// # Errors
    /// 400 for an invalid rollout or failed verification, 404 for an unknown version, 409 on a
    /// generation mismatch.
    pub async fn set_rollout(
        &self,
        rollout: Rollout,
        if_generation: Option<u64>,
    ) -> Result<DeployOutcome, ApiError> {
        rollout.check().map_err(ApiError::BadRequest)?;
        self.deploy(rollout, |cur| match if_generation {
            Some(g) if g != cur.generation => Err(ApiError::Conflict(format!(
                "if_generation is {g} but the deployment generation is {}",
                cur.generation
            ))),
            _ => Ok(()),
        })
        .await
    }

    async fn deploy(
        &self,
        rollout: Rollout,
        precondition: impl FnOnce(&Deployment) -> Result<(), ApiError>,
    ) -> Result<DeployOutcome, ApiError> {
        let result = self.deploy_inner(rollout, precondition).await;
        let label = match &result {
            Ok(_) => "ok",
            Err(ApiError::Conflict(_)) => "conflict",
            Err(_) => "failed",
        };
        self.0
            .metrics
            .model_switches
            .get_or_create(&ResultLabels { result: label })
            .inc();
        match &result {
            Ok(o) => crate::log(&format!(
                "deployed generation {}: {} (loaded {:?} in {:.1} ms)",
                o.generation,
                describe(Some(&o.rollout)),
                o.loaded,
                o.load_ms
            )),
            Err(e) => tracing::warn!("deployment refused: {e}"),
        }
        result
    }

    async fn deploy_inner(
        &self,
        rollout: Rollout,
        precondition: impl FnOnce(&Deployment) -> Result<(), ApiError>,
    ) -> Result<DeployOutcome, ApiError> {
        let _admin = self.0.admin.lock().await;
        let cur = self.current()?;
        precondition(&cur)?;
        let t0 = std::time::Instant::now();
        let mut models = HashMap::new();
        let mut loaded = Vec::new();
        for v in rollout.versions() {
            let (snap, fresh) = self.load(&cur, v).await?;
            if fresh {
                loaded.push(v.to_string());
            }
            models.insert(v.to_string(), snap);
        }
        let load_ms = t0.elapsed().as_secs_f64() * 1e3;
        let next = Arc::new(Deployment {
            generation: cur.generation + 1,
            rollout: Some(rollout.clone()),
            models,
        });
        let names: Vec<(String, String)> = next
            .models
            .iter()
            .map(|(v, s)| (v.clone(), s.meta.name.clone()))
            .collect();
        // Reset the experiment before the swap so no exposure of the new rollout is lost.
        self.0.experiment.reset(next.generation, Some(&rollout));
        {
            let mut w = self
                .0
                .deployed
                .write()
                .map_err(|_| ApiError::Internal("deployment lock poisoned".into()))?;
            *w = Arc::clone(&next);
        }
        self.0
            .metrics
            .set_rollout(Some(&rollout), &names, next.generation);
        Ok(DeployOutcome {
            previous: cur.rollout.clone(),
            rollout,
            generation: next.generation,
            loaded,
            load_ms,
        })
    }

    /// Deploys the configured initial version, or the source's latest.
    ///
    /// # Errors
    /// [`crate::ServerError::Model`] when there is no version to load or it fails.
    pub async fn load_initial(&self) -> Result<DeployOutcome, crate::ServerError> {
        let version = match &self.0.config.initial_version {
            Some(v) => v.clone(),
            None => self
                .latest()
                .await
                .map_err(|e| crate::ServerError::Model(e.to_string()))?
                .ok_or_else(|| {
                    crate::ServerError::Model(
                        "the model source has no latest version and no initial version is configured"
                            .into(),
                    )
                })?,
        };
        let out = self
            .switch(&version, None)
            .await
            .map_err(|e| crate::ServerError::Model(e.to_string()))?;
        let latest = self.latest().await.ok().flatten();
        *self.0.admin.lock().await = latest;
        Ok(out)
    }

    /// The source's latest version (on the blocking pool).
    async fn latest(&self) -> Result<Option<String>, ApiError> {
        let source = Arc::clone(&self.0.source);
        tokio::task::spawn_blocking(move || source.latest())
            .await
            .map_err(|e| ApiError::Internal(format!("registry task failed: {e}")))?
            .map_err(ApiError::from)
    }

    /// The source's versions and latest pointer (on the blocking pool).
    ///
    /// # Errors
    /// When the source cannot be read.
    pub async fn available_versions(&self) -> Result<(Vec<String>, Option<String>), ApiError> {
        let source = Arc::clone(&self.0.source);
        tokio::task::spawn_blocking(move || {
            Ok::<_, SourceError>((source.versions()?, source.latest()?))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("registry task failed: {e}")))?
        .map_err(ApiError::from)
    }

    /// One poll of the latest pointer: when it moved since the last poll (or startup) and the
    /// rollout is `fixed` (or nothing is served), switch to it. Experiments (canary, A/B,
    /// shadow) are never interrupted, and a manual rollback stays until the pointer moves again.
    ///
    /// Returns what happened: `switched`, `unchanged`, `skipped` (experiment running), `empty`,
    /// or an error.
    ///
    /// # Errors
    /// When the source cannot be read or the new version fails to load.
    pub async fn follow_latest_once(&self) -> Result<&'static str, ApiError> {
        let result = self.follow_inner().await;
        let label = match &result {
            Ok(s) => *s,
            Err(_) => "error",
        };
        self.0
            .metrics
            .registry_polls
            .get_or_create(&ResultLabels { result: label })
            .inc();
        result
    }

    async fn follow_inner(&self) -> Result<&'static str, ApiError> {
        let Some(latest) = self.latest().await? else {
            return Ok("empty");
        };
        {
            let seen = self.0.admin.lock().await;
            if seen.as_deref() == Some(latest.as_str()) && self.is_ready() {
                return Ok("unchanged");
            }
        }
        let cur = self.current()?;
        let expected = match &cur.rollout {
            None => None,
            Some(Rollout::Fixed { version }) => Some(version.clone()),
            Some(_) => return Ok("skipped"),
        };
        let out = match &expected {
            Some(v) if *v == latest => {
                *self.0.admin.lock().await = Some(latest);
                return Ok("unchanged");
            }
            Some(v) => self.switch(&latest, Some(v)).await,
            None => self.switch(&latest, None).await,
        };
        match out {
            Ok(_) => {
                *self.0.admin.lock().await = Some(latest);
                Ok("switched")
            }
            Err(ApiError::Conflict(_)) => Ok("skipped"),
            Err(e) => Err(e),
        }
    }
}

fn describe(r: Option<&Rollout>) -> String {
    match r {
        None => "empty (nothing loaded)".into(),
        Some(Rollout::Fixed { version }) => format!("fixed on `{version}`"),
        Some(Rollout::Canary {
            stable,
            canary,
            percent,
        }) => format!("canary `{canary}` at {percent}% over `{stable}`"),
        Some(Rollout::AbTest { a, b, percent_b }) => {
            format!("A/B `{a}` vs `{b}` ({percent_b}% on B)")
        }
        Some(Rollout::Shadow { primary, shadow }) => {
            format!("`{primary}` shadowed by `{shadow}`")
        }
    }
}

/// Keeps `Vec<Scored>` items unique (a defensive check used by tests).
/// The model's top `k` for `user` with `history` excluded, or `None` when the model does not
/// know the user (the caller falls back to a cold-start answer). Other model errors are errors.
pub(crate) fn model_list(
    model: &dyn Recommender,
    user: UserIdx,
    history: &[ItemIdx],
    k: usize,
) -> Result<Option<Vec<Scored>>, ApiError> {
    let opts = RecOpts {
        k,
        ..RecOpts::default()
    };
    match model.recommend(user, history, &opts) {
        Ok(items) => Ok(Some(items)),
        Err(recs::Error::UnknownUser(_)) => Ok(None),
        Err(e) => Err(ApiError::Core(e)),
    }
}

#[cfg(test)]
fn unique(items: &[Scored]) -> bool {
    let mut seen = std::collections::HashSet::new();
    items.iter().all(|s| seen.insert(s.item))
}

#[cfg(test)]
mod tests {
    use super::*;
    use recs::data::Record;
    use recs::model::{Fit, Popularity};

    fn data() -> Interactions {
        let recs: Vec<Record> = [(0, 0), (0, 1), (1, 1), (2, 1), (2, 2), (3, 3)]
            .iter()
            .map(|&(u, i)| Record {
                user: u,
                item: i,
                value: 1.0,
                timestamp: None,
            })
            .collect();
        Interactions::from_records(4, 4, &recs, Default::default()).expect("test value")
    }

    fn loaded(version: &str) -> LoadedModel {
        LoadedModel {
            model: Arc::new(Popularity::params().fit(&data()).expect("test value")),
            meta: ModelMeta {
                name: "popularity".into(),
                version: version.into(),
                ..ModelMeta::default()
            },
            serving: None,
        }
    }

    #[test]
    fn known_user_filters_history_and_unknown_gets_cold_start() {
        let ds = Dataset {
            interactions: data(),
            users: Vocab::from(vec![10, 11, 12, 13]),
            items: Vocab::from(vec![100, 101, 102, 103]),
            order: None,
        };
        let catalog = Catalog::from_dataset(ds);
        let snap = Snapshot::verify(loaded("v1"), &catalog).expect("test value");
        let known = snap.recommend(&catalog, 10, 10).expect("test value");
        assert!(!known.cold_start);
        assert!(known.items.iter().all(|s| s.item != 0 && s.item != 1));
        let cold = snap.recommend(&catalog, 999, 2).expect("test value");
        assert!(cold.cold_start);
        assert_eq!(cold.items.len(), 2);
        assert_eq!(cold.items[0].item, 1); // the most popular item
        assert!(unique(&cold.items));
        assert_eq!(catalog.item_id(1), Some(101));
    }

    #[test]
    fn loads_catalog_from_files() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let ratings = dir.path().join("ratings.dat");
        std::fs::write(&ratings, "7::1193::5\n7::661::3\n8::661::4\n")?;
        let movies = dir.path().join("movies.dat");
        std::fs::write(
            &movies,
            b"661::James and the Giant Peach (1996)::Animation\n",
        )?;
        let c = Catalog::load(Some(&ratings), Some(&movies))?;
        assert_eq!((c.n_items(), c.n_titles()), (Some(2), 1));
        assert_eq!(c.user_index(8), Some(1));
        assert_eq!(c.history(0), &[0, 1]);
        assert_eq!(c.title(661), Some("James and the Giant Peach (1996)"));
        assert_eq!(c.popular[0].item, 1); // 661, seen twice
        assert!(Catalog::load(Some(&dir.path().join("missing.dat")), None).is_err());
        Ok(())
    }

    #[test]
    fn versions_with_serving_data_bring_their_ids_or_must_match_data() {
        // data(): 4 users × 4 items; publish it under raw ids
        let serving = Arc::new(
            recs::registry::ServingData::new(
                vec![101, 102, 103, 104].into(),
                vec![11, 22, 33, 44].into(),
                data(),
            )
            .expect("test value"),
        );
        let with_data = |v: &str| LoadedModel {
            serving: Some(Arc::clone(&serving)),
            ..loaded(v)
        };
        // No --data: the version's own catalog, titles of the server's kept.
        let server = Catalog::identity().with_titles([(22, "Two".to_string())].into());
        let snap = Snapshot::verify(with_data("v1"), &server).expect("verifies");
        let own = snap.catalog(&server);
        assert_eq!(own.user_index(103), Some(2));
        assert_eq!(own.item_id(1), Some(22));
        assert_eq!(own.title(22), Some("Two"));
        assert_eq!(own.history(0), &[0, 1]);
        let s = snap.recommend(&server, 101, 4).expect("answer");
        assert!(!s.cold_start);
        assert!(
            s.items.iter().all(|x| x.item != 0 && x.item != 1),
            "seen left out"
        );
        assert!(snap.recommend(&server, 5, 2).expect("answer").cold_start);
        // The server started from this version: same ids, its catalog is shared.
        let started = Catalog::from_serving_data(&serving, "v1");
        let snap = Snapshot::verify(with_data("v2"), &started).expect("verifies");
        assert!(std::ptr::eq(snap.catalog(&started), &started));
        // --data with other ids: refused, naming the difference.
        let other = Dataset {
            interactions: data(),
            users: vec![101, 102, 103, 104].into(),
            items: vec![11, 33, 22, 44].into(),
            order: None,
        };
        let err = Snapshot::verify(with_data("v3"), &Catalog::from_dataset(other)).unwrap_err();
        assert_eq!(err.status(), 400);
        let msg = err.to_string();
        assert!(
            msg.contains("do not match the data it is served with"),
            "{msg}"
        );
        assert!(
            msg.contains("item index 1 is id 22 in the model but id 33"),
            "{msg}"
        );
    }

    #[test]
    fn shadow_overlap_compares_raw_ids_across_catalogs() {
        // The primary numbers movies 11, 22, 33, 44 as 0..4; the shadow carries the same
        // interactions under the item order 22, 33, 44, 11 (index i of the primary is
        // (i + 3) % 4 in the shadow).
        let users: Vocab = vec![101, 102, 103, 104].into();
        let primary_data = Arc::new(
            recs::registry::ServingData::new(users.clone(), vec![11, 22, 33, 44].into(), data())
                .expect("test value"),
        );
        let rotated: Vec<Record> = data()
            .records()
            .map(|r| Record {
                item: (r.item + 3) % 4,
                ..r
            })
            .collect();
        let rotated =
            Interactions::from_records(4, 4, &rotated, Default::default()).expect("test value");
        let shadow_data = Arc::new(
            recs::registry::ServingData::new(users, vec![22, 33, 44, 11].into(), rotated.clone())
                .expect("test value"),
        );
        let server = Catalog::from_serving_data(&primary_data, "v1");
        let primary = Snapshot::verify(
            LoadedModel {
                serving: Some(primary_data),
                ..loaded("v1")
            },
            &server,
        )
        .expect("verifies");
        let shadow = Snapshot::verify(
            LoadedModel {
                model: Arc::new(Popularity::params().fit(&rotated).expect("test value")),
                serving: Some(shadow_data),
                ..loaded("v2")
            },
            &server,
        )
        .expect("verifies with its own catalog");
        // User 103 saw 22 and 33: both versions answer {11, 44}, as indices {0, 3} and {3, 2}.
        let answer = primary.recommend(&server, 103, 2).expect("answer");
        let ids: Vec<i64> = answer
            .items
            .iter()
            .map(|s| server.item_id(s.item).expect("in catalog"))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [11, 44]);
        let overlap = shadow_overlap(&shadow, &server, 103, 2, &ids).expect("scores");
        assert_eq!(overlap, 1.0, "same movies, other indices");
        // And a primary answer the shadow does not give is counted as a miss.
        let overlap = shadow_overlap(&shadow, &server, 103, 2, &[11, 22]).expect("scores");
        assert_eq!(overlap, 0.5);
    }

    #[test]
    fn verify_rejects_mismatched_catalog() {
        let ds = Dataset {
            interactions: Interactions::empty(1, 7),
            users: Vocab::identity(1),
            items: Vocab::identity(7),
            order: None,
        };
        let err = Snapshot::verify(loaded("v1"), &Catalog::from_dataset(ds)).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains("catalog has 7"));
    }

    #[test]
    fn identity_catalog_uses_popularity_model_for_cold_start() {
        let snap = Snapshot::verify(loaded("v1"), &Catalog::identity()).expect("test value");
        let cold = snap
            .recommend(&Catalog::identity(), -5, 3)
            .expect("test value");
        assert!(cold.cold_start);
        assert_eq!(cold.items[0].item, 1);
    }

    #[tokio::test]
    async fn switch_conflict_and_generations() {
        let src = Arc::new(MemorySource::new());
        src.insert_with_meta(loaded("v1").model, loaded("v1").meta);
        src.insert_with_meta(loaded("v2").model, loaded("v2").meta);
        let st =
            AppState::new(ServeConfig::default(), src, Catalog::identity()).expect("test value");
        assert!(!st.is_ready());
        st.switch("v1", None).await.expect("test value");
        assert!(st.is_ready());
        let e = st.switch("v2", Some("v0")).await.unwrap_err();
        assert_eq!(e.status(), 409);
        let e = st.switch("nope", None).await.unwrap_err();
        assert_eq!(e.status(), 404);
        let o = st.switch("v2", Some("v1")).await.expect("test value");
        assert_eq!(o.generation, 2);
        let e = st
            .set_rollout(
                Rollout::Canary {
                    stable: "v1".into(),
                    canary: "v2".into(),
                    percent: 5.0,
                },
                Some(1),
            )
            .await
            .unwrap_err();
        assert_eq!(e.status(), 409);
        let o = st
            .set_rollout(
                Rollout::Canary {
                    stable: "v1".into(),
                    canary: "v2".into(),
                    percent: 5.0,
                },
                Some(2),
            )
            .await
            .expect("test value");
        assert_eq!(o.loaded, vec!["v1".to_string()]); // v2 reused
        assert_eq!(
            st.follow_latest_once().await.expect("test value"),
            "skipped"
        );
    }

    #[tokio::test]
    async fn follows_latest_pointer_but_keeps_rollbacks() {
        let src = Arc::new(MemorySource::new());
        src.insert_with_meta(loaded("v1").model, loaded("v1").meta);
        let st = AppState::new(ServeConfig::default(), src.clone(), Catalog::identity())
            .expect("test value");
        st.load_initial().await.expect("test value");
        assert_eq!(
            st.follow_latest_once().await.expect("test value"),
            "unchanged"
        );
        src.insert_with_meta(loaded("v2").model, loaded("v2").meta);
        assert_eq!(
            st.follow_latest_once().await.expect("test value"),
            "switched"
        );
        assert_eq!(
            st.current().expect("test value").rollout,
            Some(Rollout::Fixed {
                version: "v2".into()
            })
        );
        st.switch("v1", None).await.expect("test value"); // manual rollback
        assert_eq!(
            st.follow_latest_once().await.expect("test value"),
            "unchanged"
        );
        assert_eq!(
            st.current().expect("test value").rollout,
            Some(Rollout::Fixed {
                version: "v1".into()
            })
        );
    }
}
