//! The exposure log: every `/recommend` answer as a `reco_response` event of the project's
//! event schema ([`recs::stream::RecoResponse`]: request id, user, movies best first (rank =
//! position), model name and version, variant, provenance, time, latency), written off the
//! request path to size-capped rotating JSON-lines files and, with the `stream` build, to a
//! Kafka topic.
//!
//! A request only tries to put the event into each sink's bounded queue
//! ([`ExposureLog::log`] never blocks); when a queue is full the event is dropped for that
//! sink and counted (`recs_exposure_dropped_total{sink}`). Each sink has its own queue and
//! writer thread, so a broker that is down does not hold up the file. The log is what
//! `recs ingest` reads back and what the offline KPI ([`recs::stream::online_kpi`]) and the
//! A/B analysis (`recs experiment analyze`) join with later watch events.
//!
//! ```
//! use recs_server::exposure::{ExposureLog, ExposureLogConfig};
//! # let dir = tempfile::tempdir()?;
//! let config = ExposureLogConfig { file: Some(dir.path().join("exposures.jsonl")), ..Default::default() };
//! let log = ExposureLog::start(&config)?.expect("a sink is configured");
//! let event = recs::stream::parse_json(br#"{"type":"reco_response","ts":1,"request_id":"r1","user_id":7,"status":200,"latency_ms":2.5,"k":2,"movie_ids":["1193","661"]}"#)?;
//! assert!(log.log(event));
//! log.close(); // drains the queue
//! let text = std::fs::read_to_string(dir.path().join("exposures.jsonl"))?;
//! assert!(text.contains(r#""request_id":"r1""#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use recs::stream::Event;
use serde::{Deserialize, Serialize};

use crate::error::ServerError;

/// Where and how the exposure log is written. Off unless `file` or `kafka` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExposureLogConfig {
    /// JSON-lines file to append `reco_response` events to. When it would pass
    /// `max_file_bytes` it is renamed to `FILE.1` (older ones shift to `.2` … up to
    /// `keep_files`, the oldest is removed) and a new one is started. Default none.
    pub file: Option<PathBuf>,
    /// Largest size of one log file in bytes. Default 64 MiB; at least 1024.
    pub max_file_bytes: u64,
    /// Rotated files kept besides the current one. Default 5.
    pub keep_files: usize,
    /// Kafka bootstrap broker(s) `host:port[,host:port]` to produce the events to (needs the
    /// `stream` build). Default none.
    pub kafka: Option<String>,
    /// Kafka topic of the events (partition 0). Default `reco_responses`.
    pub kafka_topic: String,
    /// Events waiting for each sink's writer; more are dropped and counted. Default 10000;
    /// at least 1.
    pub queue: usize,
}

impl Default for ExposureLogConfig {
    fn default() -> Self {
        ExposureLogConfig {
            file: None,
            max_file_bytes: 64 << 20,
            keep_files: 5,
            kafka: None,
            kafka_topic: "reco_responses".into(),
            queue: 10_000,
        }
    }
}

impl ExposureLogConfig {
    /// True when a sink is configured.
    pub fn enabled(&self) -> bool {
        self.file.is_some() || self.kafka.is_some()
    }

    /// Checks the limits.
    ///
    /// # Errors
    /// [`ServerError::Config`] naming the field.
    pub fn check(&self) -> Result<(), ServerError> {
        if self.max_file_bytes < 1024 {
            return Err(ServerError::Config(format!(
                "exposure_log.max_file_bytes must be at least 1024, got {}",
                self.max_file_bytes
            )));
        }
        if self.queue == 0 {
            return Err(ServerError::Config(
                "exposure_log.queue must be at least 1".into(),
            ));
        }
        if self.kafka.is_some() && self.kafka_topic.trim().is_empty() {
            return Err(ServerError::Config(
                "exposure_log.kafka_topic must not be empty".into(),
            ));
        }
        #[cfg(not(feature = "stream"))]
        if self.kafka.is_some() {
            return Err(ServerError::Config(
                "exposure_log.kafka needs recs-server built with feature `stream`".into(),
            ));
        }
        Ok(())
    }
}

/// Labels of the exposure counters: the sink (`file` or `kafka`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, prometheus_client::encoding::EncodeLabelSet)]
pub struct SinkLabels {
    /// `file` or `kafka`.
    pub sink: &'static str,
}

/// The exposure log's Prometheus series, per sink (registered whether or not a sink is on).
#[derive(Debug, Clone, Default)]
pub struct ExposureMetrics {
    /// Events taken by the sink's queue.
    pub queued: Family<SinkLabels, Counter>,
    /// Events dropped because the sink's queue was full (or the log closed).
    pub dropped: Family<SinkLabels, Counter>,
    /// Events written.
    pub written: Family<SinkLabels, Counter>,
    /// Events the sink failed to write (I/O error, broker unreachable).
    pub errors: Family<SinkLabels, Counter>,
}

impl ExposureMetrics {
    /// Registers the series (`recs_exposure_*`).
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "exposure_queued",
            "reco_response events queued for each exposure log sink",
            self.queued.clone(),
        );
        r.register(
            "exposure_dropped",
            "reco_response events an exposure log sink dropped because its queue was full",
            self.dropped.clone(),
        );
        r.register(
            "exposure_written",
            "reco_response events written by each exposure log sink",
            self.written.clone(),
        );
        r.register(
            "exposure_write_errors",
            "reco_response events an exposure log sink failed to write",
            self.errors.clone(),
        );
    }

    /// Creates every series of `sink` at 0, so that a dashboard sees them before any event.
    fn touch(&self, sink: &'static str) {
        let l = SinkLabels { sink };
        for f in [&self.queued, &self.dropped, &self.written, &self.errors] {
            let _ = f.get_or_create(&l);
        }
    }
}

/// One sink's queue.
#[derive(Debug)]
struct Queue {
    labels: SinkLabels,
    tx: SyncSender<Arc<Event>>,
}

/// A running exposure log: one bounded queue and one writer thread per sink, so that a slow
/// or unreachable sink (a broker down) fills and drops only its own queue.
#[derive(Debug)]
pub struct ExposureLog {
    queues: Mutex<Vec<Queue>>,
    writers: Mutex<Vec<JoinHandle<()>>>,
    metrics: ExposureMetrics,
}

impl ExposureLog {
    /// Starts the writer threads for `config`; `None` when no sink is configured.
    ///
    /// # Errors
    /// [`ServerError::Config`] for invalid limits, [`ServerError::Io`] when the log file
    /// cannot be opened.
    pub fn start(config: &ExposureLogConfig) -> Result<Option<Self>, ServerError> {
        Self::start_with(config, ExposureMetrics::default())
    }

    /// [`start`](Self::start) counting into `metrics` (the server's registered series).
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with(
        config: &ExposureLogConfig,
        metrics: ExposureMetrics,
    ) -> Result<Option<Self>, ServerError> {
        config.check()?;
        if !config.enabled() {
            return Ok(None);
        }
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        if let Some(path) = &config.file {
            sinks.push(Box::new(RotatingFile::open(
                path,
                config.max_file_bytes,
                config.keep_files,
            )?));
        }
        if let Some(brokers) = &config.kafka {
            sinks.push(Box::new(KafkaSink {
                brokers: brokers.split(',').map(|b| b.trim().to_string()).collect(),
                topic: config.kafka_topic.clone(),
                #[cfg(feature = "stream")]
                producer: None,
            }));
        }
        let log = ExposureLog {
            queues: Mutex::new(Vec::new()),
            writers: Mutex::new(Vec::new()),
            metrics,
        };
        for sink in sinks {
            let labels = SinkLabels { sink: sink.name() };
            log.metrics.touch(labels.sink);
            let (tx, rx) = std::sync::mpsc::sync_channel(config.queue);
            let m = log.metrics.clone();
            let writer = std::thread::Builder::new()
                .name(format!("exposure-{}", labels.sink))
                .spawn(move || write_loop(&rx, sink, &m))
                .map_err(|source| ServerError::Io {
                    context: "starting an exposure log thread".into(),
                    source,
                })?;
            lock(&log.writers).push(writer);
            lock(&log.queues).push(Queue { labels, tx });
        }
        Ok(Some(log))
    }

    /// Queues one event for every sink without blocking; false when some sink's queue was
    /// full or the log is closed (each such drop is counted for its sink).
    pub fn log(&self, event: Event) -> bool {
        let queues = lock(&self.queues);
        if queues.is_empty() {
            self.metrics
                .dropped
                .get_or_create(&SinkLabels { sink: "closed" })
                .inc();
            return false;
        }
        let event = Arc::new(event);
        let mut all = true;
        for q in queues.iter() {
            match q.tx.try_send(Arc::clone(&event)) {
                Ok(()) => {
                    self.metrics.queued.get_or_create(&q.labels).inc();
                }
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    self.metrics.dropped.get_or_create(&q.labels).inc();
                    all = false;
                }
            }
        }
        all
    }

    /// Stops taking events, writes what is queued and waits for the writers.
    pub fn close(&self) {
        lock(&self.queues).clear();
        for h in lock(&self.writers).drain(..) {
            let _ = h.join();
        }
    }

    /// The counters.
    pub fn metrics(&self) -> &ExposureMetrics {
        &self.metrics
    }
}

impl Drop for ExposureLog {
    fn drop(&mut self) {
        self.close();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means a thread panicked mid-push; the vector stays usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a writer thread puts its batches.
trait Sink: Send {
    /// `file` or `kafka` (the metrics label).
    fn name(&self) -> &'static str;
    /// Writes one batch of JSON lines (without newlines).
    fn write_batch(&mut self, lines: &[Vec<u8>]) -> Result<(), String>;
}

/// Most events written in one batch (one Kafka produce call, one file flush).
const BATCH: usize = 500;

fn write_loop(rx: &Receiver<Arc<Event>>, mut sink: Box<dyn Sink>, m: &ExposureMetrics) {
    let labels = SinkLabels { sink: sink.name() };
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    loop {
        // Wait for one event, then take what else is queued (up to BATCH) without waiting.
        let first = match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(e) => e,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        batch.clear();
        for e in std::iter::once(first).chain(rx.try_iter().take(BATCH - 1)) {
            match serde_json::to_vec(&*e) {
                Ok(line) => batch.push(line),
                Err(err) => {
                    tracing::warn!("exposure log: cannot encode an event: {err}");
                    m.errors.get_or_create(&labels).inc();
                }
            }
        }
        match sink.write_batch(&batch) {
            Ok(()) => {
                m.written.get_or_create(&labels).inc_by(batch.len() as u64);
            }
            Err(err) => {
                tracing::warn!("exposure log: {err}");
                m.errors.get_or_create(&labels).inc_by(batch.len() as u64);
            }
        }
    }
}

impl Sink for RotatingFile {
    fn name(&self) -> &'static str {
        "file"
    }
    fn write_batch(&mut self, lines: &[Vec<u8>]) -> Result<(), String> {
        self.write_lines(lines).map_err(|e| e.to_string())
    }
}

/// An append-only JSON-lines file that rotates when it would pass a size.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    keep: usize,
}

impl RotatingFile {
    /// Opens (appending to) `path`, rotating at `max_bytes`, keeping `keep` old files.
    ///
    /// # Errors
    /// [`ServerError::Io`] naming the file.
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> Result<Self, ServerError> {
        let file = open_append(path)?;
        let size = file
            .metadata()
            .map_err(|source| io_error(path, source))?
            .len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file,
            size,
            max_bytes,
            keep,
        })
    }

    /// The path of rotated file number `n` (`FILE.n`).
    pub fn rotated(path: &Path, n: usize) -> PathBuf {
        let mut s = path.as_os_str().to_owned();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    /// Appends `lines` (each followed by a newline), rotating first whenever the next line
    /// would pass the size cap (a line longer than the cap gets a file of its own). Each
    /// line is written whole with one call; the batch is flushed at the end.
    ///
    /// # Errors
    /// [`ServerError::Io`] naming the file.
    pub fn write_lines(&mut self, lines: &[Vec<u8>]) -> Result<(), ServerError> {
        for line in lines {
            let len = line.len() as u64 + 1;
            if self.size > 0 && self.size + len > self.max_bytes {
                self.rotate()?;
            }
            let mut buf = Vec::with_capacity(line.len() + 1);
            buf.extend_from_slice(line);
            buf.push(b'\n');
            self.file
                .write_all(&buf)
                .map_err(|source| io_error(&self.path, source))?;
            self.size += len;
        }
        self.file
            .flush()
            .map_err(|source| io_error(&self.path, source))
    }

    /// `FILE.(keep-1)` → `FILE.keep` …, `FILE` → `FILE.1` (renames, atomic each), then a
    /// new empty `FILE`. With `keep == 0` the full file is removed.
    fn rotate(&mut self) -> Result<(), ServerError> {
        self.file
            .sync_data()
            .map_err(|source| io_error(&self.path, source))?;
        if self.keep == 0 {
            std::fs::remove_file(&self.path).map_err(|source| io_error(&self.path, source))?;
        } else {
            for n in (1..self.keep).rev() {
                let from = Self::rotated(&self.path, n);
                if from.exists() {
                    let to = Self::rotated(&self.path, n + 1);
                    std::fs::rename(&from, &to).map_err(|source| io_error(&from, source))?;
                }
            }
            let first = Self::rotated(&self.path, 1);
            std::fs::rename(&self.path, &first).map_err(|source| io_error(&self.path, source))?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> Result<File, ServerError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| io_error(path, source))
}

fn io_error(path: &Path, source: std::io::Error) -> ServerError {
    ServerError::Io {
        context: format!("exposure log {}", path.display()),
        source,
    }
}

/// Produces batches to partition 0 of a topic.
#[derive(Debug)]
struct KafkaSink {
    #[cfg_attr(not(feature = "stream"), allow(dead_code))]
    brokers: Vec<String>,
    #[cfg_attr(not(feature = "stream"), allow(dead_code))]
    topic: String,
    /// Made on the first batch, in the writer thread; kept, so one connection serves every
    /// batch while the broker is up.
    #[cfg(feature = "stream")]
    producer: Option<recs::stream::kafka::Producer>,
}

impl Sink for KafkaSink {
    fn name(&self) -> &'static str {
        "kafka"
    }
    fn write_batch(&mut self, lines: &[Vec<u8>]) -> Result<(), String> {
        self.produce(lines)
    }
}

impl KafkaSink {
    /// Sends through the kept [`recs::stream::kafka::Producer`]: one connection for all
    /// batches; after a failed batch (counted in `recs_exposure_write_errors_total`) the next
    /// one reconnects. A broker that does not answer fails a batch after the connect timeout
    /// (10 s) while the queue fills and its overflow is counted as drops.
    #[cfg(feature = "stream")]
    fn produce(&mut self, lines: &[Vec<u8>]) -> Result<(), String> {
        let producer = match &mut self.producer {
            Some(p) => p,
            empty => empty.insert(
                recs::stream::kafka::Producer::new(&self.brokers, &self.topic, 0)
                    .map_err(|e| format!("kafka topic {}: {e}", self.topic))?,
            ),
        };
        producer
            .send(lines)
            .map(|_| ())
            .map_err(|e| format!("kafka topic {}: {e}", self.topic))
    }
    #[cfg(not(feature = "stream"))]
    fn produce(&mut self, _lines: &[Vec<u8>]) -> Result<(), String> {
        Err("kafka needs recs-server built with feature `stream`".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recs::stream::{RecoResponse, Ts};

    fn event(i: usize) -> Event {
        Event::RecoResponse(RecoResponse {
            ts: Ts(1_700_000_000_000 + i as i64),
            request_id: format!("r{i}"),
            user_id: i as i64,
            status: 200,
            latency_ms: 1.0,
            k: 2,
            movie_ids: vec!["1".into(), "2".into()],
            model_name: Some("als".into()),
            model_version: Some("v1.0".into()),
            variant: Some("A".into()),
            git_sha: None,
            data_snapshot_id: None,
            server: None,
        })
    }

    fn lines_of(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    #[test]
    fn rotates_at_the_cap_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        let mut f = RotatingFile::open(&path, 1024, 2).unwrap();
        let lines: Vec<Vec<u8>> = (0..100).map(|i| format!("{i:099}").into_bytes()).collect();
        // 100 lines of 100 bytes with a cap of 1024: 10 per file, 10 files written in all
        for chunk in lines.chunks(7) {
            f.write_lines(chunk).unwrap();
        }
        let cur = lines_of(&path);
        let one = lines_of(&RotatingFile::rotated(&path, 1));
        let two = lines_of(&RotatingFile::rotated(&path, 2));
        assert_eq!((cur.len(), one.len(), two.len()), (10, 10, 10));
        assert!(!RotatingFile::rotated(&path, 3).exists());
        // newest last, nothing lost or reordered within what is kept
        let kept: Vec<String> = two.into_iter().chain(one).chain(cur).collect();
        let expected: Vec<String> = (70..100).map(|i| format!("{i:099}")).collect();
        assert_eq!(kept, expected);
        for p in [path.clone(), RotatingFile::rotated(&path, 1)] {
            assert!(std::fs::metadata(p).unwrap().len() <= 1024);
        }
    }

    #[test]
    fn reopening_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        RotatingFile::open(&path, 4096, 1)
            .unwrap()
            .write_lines(&[b"a".to_vec()])
            .unwrap();
        RotatingFile::open(&path, 4096, 1)
            .unwrap()
            .write_lines(&[b"b".to_vec()])
            .unwrap();
        assert_eq!(lines_of(&path), ["a", "b"]);
    }

    #[test]
    fn events_round_trip_through_the_schema_parser() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        let config = ExposureLogConfig {
            file: Some(path.clone()),
            ..Default::default()
        };
        let log = ExposureLog::start(&config).unwrap().unwrap();
        for i in 0..20 {
            assert!(log.log(event(i)));
        }
        log.close();
        assert!(!log.log(event(99)), "a closed log takes nothing");
        let back: Vec<Event> = lines_of(&path)
            .iter()
            .map(|l| recs::stream::parse_json(l.as_bytes()).unwrap())
            .collect();
        assert_eq!(back, (0..20).map(event).collect::<Vec<_>>());
        let file = SinkLabels { sink: "file" };
        let m = log.metrics();
        assert_eq!(m.queued.get_or_create(&file).get(), 20);
        assert_eq!(m.written.get_or_create(&file).get(), 20);
        assert_eq!(m.dropped.get_or_create(&file).get(), 0);
        assert_eq!(
            m.dropped
                .get_or_create(&SinkLabels { sink: "closed" })
                .get(),
            1
        );
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        // No writers: a queue of 3 nobody reads, and a second sink with room for all.
        let (full_tx, _full_rx) = std::sync::mpsc::sync_channel(3);
        let (roomy_tx, roomy_rx) = std::sync::mpsc::sync_channel(100);
        let (slow, fast) = (SinkLabels { sink: "kafka" }, SinkLabels { sink: "file" });
        let log = ExposureLog {
            queues: Mutex::new(vec![
                Queue {
                    labels: slow.clone(),
                    tx: full_tx,
                },
                Queue {
                    labels: fast.clone(),
                    tx: roomy_tx,
                },
            ]),
            writers: Mutex::new(Vec::new()),
            metrics: ExposureMetrics::default(),
        };
        let complete = (0..10).filter(|&i| log.log(event(i))).count();
        assert_eq!(complete, 3);
        let m = log.metrics();
        assert_eq!(m.dropped.get_or_create(&slow).get(), 7);
        assert_eq!(m.queued.get_or_create(&slow).get(), 3);
        // the other sink lost nothing
        assert_eq!(m.dropped.get_or_create(&fast).get(), 0);
        assert_eq!(roomy_rx.try_iter().count(), 10);
    }

    #[test]
    fn config_limits_are_checked() {
        let bad = |c: ExposureLogConfig| c.check().is_err();
        assert!(bad(ExposureLogConfig {
            max_file_bytes: 10,
            ..Default::default()
        }));
        assert!(bad(ExposureLogConfig {
            queue: 0,
            ..Default::default()
        }));
        assert!(ExposureLog::start(&ExposureLogConfig::default())
            .unwrap()
            .is_none());
    }
}
