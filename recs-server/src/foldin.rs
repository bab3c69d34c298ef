//! Real-time fold-in: rate/watch events (from Kafka, a tailed file or stdin, and optionally
//! `POST /events`) extend users' histories in a bounded in-memory store, and
//! `/recommend/{user}` scores from the extended history at once, without retraining.
//!
//! How a model uses the extended history: a user with streamed events is scored as a *new*
//! user from (training history ∪ streamed movies) through
//! [`Recommender::recommend_history`]: ALS and BPR re-solve the user's factor row from that
//! history with the item factors fixed, item-kNN and EASE score it directly, popularity filters
//! it. A model that cannot score a history alone (NCF) scores the known user with the extended
//! history as the seen set, and a user unknown to it gets the cold-start list; the streamed
//! movies are left out of every answer. The store ([`LiveHistories`]) and this rule
//! ([`recs::serve::recommend_live`]) are library code; this module holds the server's
//! configuration and event sources.
//!
//! Events count as an interaction whatever their value (a watch minute or any rating), as
//! `FoldIn` does for implicit models. Memory is bounded: at most `max_users` users (least
//! recently updated evicted first) with at most `max_items_per_user` streamed movies each
//! (oldest dropped first).
//!
//! ```
//! use recs_server::foldin::LiveHistories;
//! let live = LiveHistories::new(2, 10);
//! live.observe(1, 5);
//! live.observe(2, 7);
//! live.observe(3, 9); // evicts user 1, the least recently updated
//! assert_eq!(live.items(1), None);
//! assert_eq!(live.items(3), Some(vec![9]));
//! assert_eq!(live.len(), 2);
//! ```

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use recs::data::{ItemIdx, UserIdx};
use recs::model::{Recommender, Scored};
use recs::stream::{parse_line, Event, Line, LineReader, Rules, Validator};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ServerError};
use crate::state::{AppState, Catalog, Scoring};

/// Settings of the real-time fold-in (`live` in the server configuration).
///
/// ```
/// use recs_server::foldin::LiveConfig;
/// let c: LiveConfig = serde_json::from_str(r#"{"file": "events.log"}"#)?;
/// assert!(c.enabled());
/// assert_eq!(c.max_users, 100_000);
/// assert!(!LiveConfig::default().enabled());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// Kafka bootstrap broker(s) to read events from, `host:port[,host:port]` (needs the
    /// `stream` feature). Default none.
    pub kafka: Option<String>,
    /// Kafka topics (without the prefix). Default `["watch", "rate"]`.
    pub topics: Vec<String>,
    /// Per-team topic prefix. Default empty.
    pub prefix: String,
    /// Read each partition from the `earliest` record or only new ones (`latest`, default).
    pub from: String,
    /// A file to follow as `tail -f` does (from its start), or `-` for stdin (until EOF).
    /// Default none.
    pub file: Option<PathBuf>,
    /// Also fold in the watch events of `POST /events`. Default false.
    pub posted: bool,
    /// Most users tracked; the least recently updated is evicted. Default 100000; must be > 0.
    pub max_users: usize,
    /// Most streamed movies kept per user; the oldest is dropped. Default 1000; must be > 0.
    pub max_items_per_user: usize,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            kafka: None,
            topics: vec!["watch".into(), "rate".into()],
            prefix: String::new(),
            from: "latest".into(),
            file: None,
            posted: false,
            max_users: 100_000,
            max_items_per_user: 1000,
        }
    }
}

impl LiveConfig {
    /// True when any event source is configured.
    pub fn enabled(&self) -> bool {
        self.kafka.is_some() || self.file.is_some() || self.posted
    }

    /// Checks the documented ranges.
    ///
    /// # Errors
    /// [`ServerError::Config`] naming the field.
    pub fn check(&self) -> Result<(), ServerError> {
        let bad = |m: String| Err(ServerError::Config(m));
        if self.max_users == 0 || self.max_items_per_user == 0 {
            return bad("live.max_users and live.max_items_per_user must be > 0".into());
        }
        if self.from != "latest" && self.from != "earliest" {
            return bad(format!(
                "live.from must be `latest` or `earliest`, got `{}`",
                self.from
            ));
        }
        if self.kafka.is_some() && self.topics.is_empty() {
            return bad("live.topics must name at least one topic".into());
        }
        if self.kafka.is_some() && !cfg!(feature = "stream") {
            return bad("live.kafka needs recs-server built with the `stream` feature".into());
        }
        Ok(())
    }
}

/// The bounded live store and its counters live in the library ([`recs::serve`]); the server
/// re-exports them so its configuration and sources name one type.
pub use recs::serve::{LiveHistories, LiveStats};

/// Folds one event into the catalog's live histories: watch and rate events whose movie id
/// is a known integer movie; returns whether it was used.
pub fn observe_event(catalog: &Catalog, e: &Event) -> bool {
    let (user, movie) = match e {
        Event::Watch(w) => (w.user_id, &w.movie_id),
        Event::Rate(r) => (r.user_id, &r.movie_id),
        _ => return false,
    };
    let (Some(live), Ok(id)) = (catalog.live(), movie.parse::<i64>()) else {
        return false;
    };
    match catalog.item_index(id) {
        Some(item) => {
            live.observe(user, item);
            true
        }
        None => false,
    }
}

/// Folds in a watch event of `POST /events` (when `live.posted` is on).
pub(crate) fn observe_posted(catalog: &Catalog, user: i64, movie_id: i64) {
    if let (Some(live), Some(item)) = (catalog.live(), catalog.item_index(movie_id)) {
        live.observe(user, item);
    }
}

/// Scores `user_id` with streamed movies `live` (see the module docs and
/// [`recs::serve::recommend_live`], which holds the rule). Called by `Snapshot::recommend` when
/// the user has streamed events.
pub(crate) fn recommend_live(
    model: &dyn Recommender,
    known: Option<UserIdx>,
    base: &[ItemIdx],
    live: &[ItemIdx],
    k: usize,
    cold_start: &[Scored],
) -> Result<Scoring, ApiError> {
    let answer = recs::serve::recommend_live(model, known, base, live, k, cold_start)
        .map_err(ApiError::Core)?;
    Ok(Scoring {
        items: answer.items,
        cold_start: answer.cold_start,
    })
}

/// The running event sources; dropping it asks them to stop (a Kafka source stops within a
/// fetch round, a file source within 50 ms; stdin stops at its end).
#[derive(Debug)]
pub struct LiveSources {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl LiveSources {
    /// Number of source threads started.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// True when no source runs.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }
}

impl Drop for LiveSources {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Turns on the live histories in `catalog` when `config` enables fold-in.
pub fn attach(catalog: Catalog, config: &LiveConfig) -> Catalog {
    if config.enabled() {
        catalog.with_live(Arc::new(LiveHistories::new(
            config.max_users,
            config.max_items_per_user,
        )))
    } else {
        catalog
    }
}

/// Starts the configured event sources on their own threads, feeding `state`'s catalog
/// (which must have been [`attach`]ed).
///
/// # Errors
/// [`ServerError::Config`] for bad settings or a file that cannot be opened.
pub fn start(state: &AppState, config: &LiveConfig) -> Result<LiveSources, ServerError> {
    config.check()?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    if !config.enabled() {
        return Ok(LiveSources { stop, threads });
    }
    if state.catalog().live().is_none() {
        return Err(ServerError::Config(
            "live fold-in: the catalog has no live histories (call foldin::attach)".into(),
        ));
    }
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map_err(|source| ServerError::Io {
                context: format!("starting thread {name}"),
                source,
            })
    };
    if let Some(path) = &config.file {
        let reader: Box<dyn BufRead + Send> = if path.as_os_str() == "-" {
            Box::new(std::io::BufReader::new(std::io::stdin()))
        } else {
            let f = std::fs::File::open(path).map_err(|source| ServerError::Io {
                context: format!("opening live event file {}", path.display()),
                source,
            })?;
            Box::new(std::io::BufReader::new(f))
        };
        let follow = path.as_os_str() != "-";
        let (st, stop) = (state.clone(), Arc::clone(&stop));
        let label = path.display().to_string();
        threads.push(spawn(
            "recs-live-file",
            Box::new(move || {
                let n = read_lines(&st, reader, follow, &stop);
                crate::log(&format!(
                    "live events from {label}: stopped after {n} lines"
                ));
            }),
        )?);
        crate::log(&format!("live fold-in: following {}", path.display()));
    }
    if let Some(broker) = &config.kafka {
        threads.push(spawn_kafka(state, config, broker, &stop, &spawn)?);
    }
    if config.posted {
        crate::log("live fold-in: POST /events watch events are folded in");
    }
    Ok(LiveSources { stop, threads })
}

/// Validator with a fresh clock (its future-timestamp bound is fixed at creation).
struct FreshValidator {
    v: Option<Validator>,
    made: Instant,
}

impl FreshValidator {
    fn new() -> Self {
        FreshValidator {
            v: Validator::new(Rules::default()).ok(),
            made: Instant::now(),
        }
    }
    fn ok(&mut self, e: &Event) -> bool {
        if self.made.elapsed() > Duration::from_secs(3600) {
            *self = FreshValidator::new();
        }
        self.v.as_ref().is_some_and(|v| v.check(e).is_ok())
    }
}

/// Parses, validates and folds in one raw record; bad records are skipped (the ingest
/// pipeline, not the server, keeps dead letters). A watch event of an integer movie id is also
/// joined with the recommendations served before it (experiment outcome and online KPI).
fn handle(st: &AppState, v: &mut FreshValidator, raw: &[u8]) -> bool {
    // The same record limit for every source (Kafka payloads are whole messages, bounded by
    // the broker's `message.max.bytes`; a longer one is skipped like a long line).
    if raw.len() > MAX_LIVE_LINE_BYTES {
        return false;
    }
    match parse_line(raw) {
        Ok(e) if v.ok(&e) => {
            if let Event::Watch(w) = &e {
                if let Ok(movie) = w.movie_id.parse::<i64>() {
                    st.attribute_watch(w.user_id, movie, Some(w.ts.0 as f64 / 1000.0));
                }
            }
            observe_event(st.catalog(), &e)
        }
        _ => false,
    }
}

/// Longest live event line accepted, in bytes (the ingest default, `IngestConfig`): a longer
/// line is skipped to its end without being held in memory, logged with its byte offset.
pub const MAX_LIVE_LINE_BYTES: usize = 1 << 20;

/// Reads lines until EOF (`follow == false`) or until `stop` (following the file's growth).
/// Memory is bounded by [`MAX_LIVE_LINE_BYTES`] whatever is appended to the file.
fn read_lines(
    st: &AppState,
    reader: Box<dyn BufRead + Send>,
    follow: bool,
    stop: &AtomicBool,
) -> u64 {
    let mut v = FreshValidator::new();
    let mut reader = LineReader::new(reader, MAX_LIVE_LINE_BYTES).follow(follow);
    let mut lines = 0u64;
    while !stop.load(Ordering::Relaxed) {
        match reader.next_line() {
            Ok(None) if !follow => break,
            // The end of the file so far (a partial last line is kept for the next call).
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Ok(Some(Line::Text { bytes, .. })) => {
                if !bytes.is_empty() {
                    handle(st, &mut v, bytes);
                }
                lines += 1;
            }
            Ok(Some(Line::TooLong { offset, len, .. })) => {
                crate::log(&format!(
                    "live events: skipped a line too long ({len} bytes at byte offset {offset}, limit {MAX_LIVE_LINE_BYTES})"
                ));
                lines += 1;
            }
            Err(e) => {
                crate::log(&format!("live events: read failed: {e}"));
                break;
            }
        }
    }
    lines
}

/// Starts a named thread.
type Spawn =
    dyn Fn(&str, Box<dyn FnOnce() + Send>) -> Result<std::thread::JoinHandle<()>, ServerError>;

#[cfg(feature = "stream")]
fn spawn_kafka(
    state: &AppState,
    config: &LiveConfig,
    broker: &str,
    stop: &Arc<AtomicBool>,
    spawn: &Spawn,
) -> Result<std::thread::JoinHandle<()>, ServerError> {
    use recs::stream::kafka::{tail, KafkaConfig, TailFrom};
    let kafka = KafkaConfig::new(broker, config.topics.iter().cloned()).prefix(&config.prefix);
    let from = if config.from == "earliest" {
        TailFrom::Earliest
    } else {
        TailFrom::Latest
    };
    let (st, stop) = (state.clone(), Arc::clone(stop));
    crate::log(&format!(
        "live fold-in: kafka {broker} topics {}",
        kafka.full_topics().join(",")
    ));
    spawn(
        "recs-live-kafka",
        Box::new(move || {
            let mut v = FreshValidator::new();
            while !stop.load(Ordering::Relaxed) {
                let r = tail(&kafka, from, &stop, |_, raw| {
                    handle(&st, &mut v, raw);
                });
                match r {
                    Ok(_) => break,
                    Err(e) => {
                        crate::log(&format!(
                            "live events from kafka failed: {e}; retrying in 1 s"
                        ));
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
        }),
    )
}

#[cfg(not(feature = "stream"))]
fn spawn_kafka(
    _state: &AppState,
    _config: &LiveConfig,
    _broker: &str,
    _stop: &Arc<AtomicBool>,
    _spawn: &Spawn,
) -> Result<std::thread::JoinHandle<()>, ServerError> {
    Err(ServerError::Config(
        "live.kafka needs recs-server built with the `stream` feature".into(),
    ))
}
