//! Kafka source (feature `kafka`), on `rskafka` 0.6: a pure-Rust client, chosen over rdkafka
//! because it builds without a C toolchain step and because offsets are kept in the snapshot
//! manifest anyway (the manifest write commits batch and offsets together), so broker-side
//! consumer groups are not needed.
//!
//! **Group mechanism: static partition assignment.** Process `member` of `members` consumes
//! exactly the partitions `p` with `p % members == member` of every topic; all members write
//! into one snapshot directory, each with its own manifest. Each partition thus has exactly one
//! writer, and together the members write every event exactly once. A member starts each
//! partition at the highest next offset committed by any manifest in the directory, so members
//! can be re-numbered (stop all, restart with a new `members`) without re-reading.
//!
//! The library API is blocking: a current-thread tokio runtime lives inside each call.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;

use super::event::SourceKey;
use super::ingest::{IngestConfig, IngestSummary, Ingestor};
use super::snapshot::SnapshotSet;
use crate::{Error, Result};

/// Kafka consumer settings.
///
/// ```
/// use recs::stream::kafka::KafkaConfig;
/// let k = KafkaConfig::new("127.0.0.1:9092", ["events"]).prefix("team20-").member(1, 2);
/// assert_eq!(k.full_topics(), ["team20-events"]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    /// Topic names, without the prefix.
    pub topics: Vec<String>,
    /// Per-team prefix put before every topic name. Default empty.
    pub prefix: String,
    /// This process's index in the group, `0..members`. Default 0.
    pub member: u32,
    /// Number of processes in the group. Default 1.
    pub members: u32,
    /// Stop after no new record arrived for this long; `None` runs until an error. Default
    /// `None`.
    pub idle_exit: Option<Duration>,
    /// Commit a partial batch when it is this old. Default 1 s.
    pub flush_interval: Duration,
    /// Largest fetch per partition request, in bytes. Default 4 MiB.
    pub fetch_max_bytes: i32,
    /// How long the broker may wait for data on a fetch, in ms. Default 100.
    pub max_wait_ms: i32,
}

impl KafkaConfig {
    /// Defaults for one broker and some topics.
    pub fn new<S: Into<String>>(broker: &str, topics: impl IntoIterator<Item = S>) -> Self {
        KafkaConfig {
            brokers: broker.split(',').map(|s| s.trim().to_owned()).collect(),
            topics: topics.into_iter().map(Into::into).collect(),
            prefix: String::new(),
            member: 0,
            members: 1,
            idle_exit: None,
            flush_interval: Duration::from_secs(1),
            fetch_max_bytes: 4 << 20,
            max_wait_ms: 100,
        }
    }
    /// Sets the topic prefix.
    pub fn prefix(mut self, p: impl Into<String>) -> Self {
        self.prefix = p.into();
        self
    }
    /// Sets this process's place in the group.
    pub fn member(mut self, member: u32, members: u32) -> Self {
        self.member = member;
        self.members = members;
        self
    }
    /// Sets the idle exit.
    pub fn idle_exit(mut self, d: Option<Duration>) -> Self {
        self.idle_exit = d;
        self
    }
    /// The topics with the prefix.
    pub fn full_topics(&self) -> Vec<String> {
        prefixed(&self.prefix, &self.topics)
    }
    fn check(&self) -> Result<()> {
        if self.members == 0 || self.member >= self.members {
            return Err(Error::param(
                "member",
                "0 <= member < members",
                format!("{} of {}", self.member, self.members),
            ));
        }
        if self.brokers.is_empty() || self.brokers.iter().any(String::is_empty) {
            return Err(Error::param(
                "brokers",
                "host:port[,host:port…]",
                self.brokers.join(","),
            ));
        }
        if self.topics.is_empty() {
            return Err(Error::param("topics", "at least one topic", "none"));
        }
        if self.fetch_max_bytes < 1 || self.max_wait_ms < 0 {
            return Err(Error::param(
                "fetch_max_bytes/max_wait_ms",
                ">= 1 / >= 0",
                format!("{}/{}", self.fetch_max_bytes, self.max_wait_ms),
            ));
        }
        Ok(())
    }
}

/// The partitions a member consumes: `p % members == member`.
///
/// ```
/// use recs::stream::kafka::assigned_partitions;
/// assert_eq!(assigned_partitions(&[0, 1, 2, 3, 4], 1, 2), [1, 3]);
/// ```
pub fn assigned_partitions(partitions: &[i32], member: u32, members: u32) -> Vec<i32> {
    partitions
        .iter()
        .copied()
        .filter(|&p| members > 0 && p.rem_euclid(members as i32) == member as i32)
        .collect()
}

fn kerr(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: what.into(),
        source: std::io::Error::other(e.to_string()),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("tokio runtime", e))
}

/// How long connecting to the bootstrap brokers may take, retries included.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connects to the bootstrap brokers. rskafka retries a failed connection with exponential
/// backoff (0.1 s, ×3 each time) but, left alone, forever: an unreachable broker would hang
/// `recs ingest` silently. The retries are cut at [`CONNECT_TIMEOUT`] with an error that says
/// what was tried.
async fn connect(brokers: &[String]) -> Result<Client> {
    let what = format!("kafka {}", brokers.join(","));
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        ClientBuilder::new(brokers.to_vec()).build(),
    )
    .await
    {
        Ok(client) => client.map_err(|e| kerr(&what, e)),
        Err(_) => Err(kerr(
            &what,
            format!(
                "no broker answered within {} s (connection retried with backoff); check that \
                 the broker runs and that the address is its advertised host:port",
                CONNECT_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// Consumes the assigned partitions of the configured topics into snapshots until
/// `idle_exit` (or forever). Safe to kill at any time: a restart resumes at the committed
/// offsets, so nothing is lost or written twice.
///
/// # Errors
/// [`Error::InvalidParam`] for bad settings or a topic missing on the broker, [`Error::Io`]
/// for broker or disk failures (committed batches stay committed).
pub fn ingest_kafka(kafka: &KafkaConfig, config: &IngestConfig) -> Result<IngestSummary> {
    kafka.check()?;
    let mut ing = Ingestor::open(config)?;
    // Offsets committed by any member (re-numbered groups do not re-read).
    let mut start: HashMap<(String, i32), i64> = HashMap::new();
    for m in SnapshotSet::open(&config.dir)?.manifests() {
        for (topic, parts) in &m.offsets {
            for (&p, &o) in parts {
                let s = start.entry((topic.clone(), p)).or_insert(0);
                *s = (*s).max(o);
            }
        }
    }
    runtime()?.block_on(async {
        let client = connect(&kafka.brokers).await?;
        let listed = client
            .list_topics()
            .await
            .map_err(|e| kerr("kafka list_topics", e))?;
        let mut parts: Vec<(PartitionClient, String, i32, i64)> = Vec::new();
        for topic in kafka.full_topics() {
            let Some(t) = listed.iter().find(|t| t.name == topic) else {
                return Err(Error::param(
                    "topics",
                    "topics that exist on the broker",
                    topic,
                ));
            };
            let all: Vec<i32> = t.partitions.iter().copied().collect();
            for p in assigned_partitions(&all, kafka.member, kafka.members) {
                let pc = client
                    .partition_client(topic.clone(), p, UnknownTopicHandling::Retry)
                    .await
                    .map_err(|e| kerr(&format!("kafka {topic}/{p}"), e))?;
                let committed = ing.next_offset(&topic, p);
                let from = committed.max(start.get(&(topic.clone(), p)).copied().unwrap_or(0));
                let earliest = pc
                    .get_offset(OffsetAt::Earliest)
                    .await
                    .map_err(|e| kerr(&format!("kafka {topic}/{p}"), e))?;
                parts.push((pc, topic.clone(), p, from.max(earliest)));
            }
        }
        let mut last_record = Instant::now();
        let mut last_flush = Instant::now();
        loop {
            let mut got = 0usize;
            for (pc, topic, p, next) in parts.iter_mut() {
                let (records, _hw) = pc
                    .fetch_records(*next, 1..kafka.fetch_max_bytes, kafka.max_wait_ms)
                    .await
                    .map_err(|e| kerr(&format!("kafka fetch {topic}/{p}@{next}"), e))?;
                for r in records {
                    if r.offset < *next {
                        continue; // a fetch may start inside an earlier record batch
                    }
                    let key = SourceKey {
                        topic: topic.clone(),
                        partition: *p,
                        offset: r.offset,
                    };
                    ing.push(key, r.record.value.as_deref().unwrap_or_default())?;
                    *next = r.offset + 1;
                    got += 1;
                }
            }
            let now = Instant::now();
            if got > 0 {
                last_record = now;
            }
            if ing.buffered() > 0 && (got == 0 || now - last_flush >= kafka.flush_interval) {
                ing.flush()?;
                last_flush = now;
            }
            if got == 0 {
                if kafka.idle_exit.is_some_and(|d| now - last_record >= d) {
                    break;
                }
                if parts.is_empty() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        Ok(())
    })?;
    ing.finish()
}

/// Where [`tail`] starts in each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailFrom {
    /// The oldest record the broker still holds.
    Earliest,
    /// After the newest record (only records produced from now on).
    Latest,
}

/// Follows the assigned partitions of the configured topics (no snapshot, no offsets kept),
/// calling `on_record` with each record's key and value, until `stop` is set (checked after
/// every fetch round, so within about `max_wait_ms` per partition) or `idle_exit` passes
/// without a record. Returns the number of records seen. The server's real-time fold-in
/// reads rate/watch events this way.
///
/// # Errors
/// As [`ingest_kafka`] (bad settings, missing topic, broker failures).
pub fn tail(
    kafka: &KafkaConfig,
    from: TailFrom,
    stop: &std::sync::atomic::AtomicBool,
    mut on_record: impl FnMut(&SourceKey, &[u8]),
) -> Result<u64> {
    use std::sync::atomic::Ordering;
    kafka.check()?;
    runtime()?.block_on(async {
        let client = connect(&kafka.brokers).await?;
        let listed = client
            .list_topics()
            .await
            .map_err(|e| kerr("kafka list_topics", e))?;
        let at = match from {
            TailFrom::Earliest => OffsetAt::Earliest,
            TailFrom::Latest => OffsetAt::Latest,
        };
        let mut parts: Vec<(PartitionClient, String, i32, i64)> = Vec::new();
        for topic in kafka.full_topics() {
            let Some(t) = listed.iter().find(|t| t.name == topic) else {
                return Err(Error::param(
                    "topics",
                    "topics that exist on the broker",
                    topic,
                ));
            };
            let all: Vec<i32> = t.partitions.iter().copied().collect();
            for p in assigned_partitions(&all, kafka.member, kafka.members) {
                let pc = client
                    .partition_client(topic.clone(), p, UnknownTopicHandling::Retry)
                    .await
                    .map_err(|e| kerr(&format!("kafka {topic}/{p}"), e))?;
                let mut start = pc
                    .get_offset(at)
                    .await
                    .map_err(|e| kerr(&format!("kafka {topic}/{p}"), e))?;
                if from == TailFrom::Latest {
                    // Some brokers (tansu 0.6) answer `Latest` with the last batch's base
                    // offset; the high watermark of a fetch is the next offset to be written.
                    let (_, hw) = pc
                        .fetch_records(start, 1..kafka.fetch_max_bytes, kafka.max_wait_ms)
                        .await
                        .map_err(|e| kerr(&format!("kafka fetch {topic}/{p}@{start}"), e))?;
                    start = start.max(hw);
                }
                parts.push((pc, topic.clone(), p, start));
            }
        }
        let mut seen = 0u64;
        let mut last_record = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let mut got = 0u64;
            for (pc, topic, p, next) in parts.iter_mut() {
                let (records, _hw) = pc
                    .fetch_records(*next, 1..kafka.fetch_max_bytes, kafka.max_wait_ms)
                    .await
                    .map_err(|e| kerr(&format!("kafka fetch {topic}/{p}@{next}"), e))?;
                for r in records {
                    if r.offset < *next {
                        continue;
                    }
                    let key = SourceKey {
                        topic: topic.clone(),
                        partition: *p,
                        offset: r.offset,
                    };
                    on_record(&key, r.record.value.as_deref().unwrap_or_default());
                    *next = r.offset + 1;
                    got += 1;
                }
            }
            seen += got;
            let now = Instant::now();
            if got > 0 {
                last_record = now;
            } else {
                if kafka.idle_exit.is_some_and(|d| now - last_record >= d) {
                    break;
                }
                if parts.is_empty() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        Ok(seen)
    })
}

/// Produces `values` (one message each) to one partition; returns their offsets. For tests and
/// for replaying a log file into a topic. Connects for this call only; a long-lived writer
/// keeps a [`Producer`].
///
/// # Errors
/// [`Error::Io`] when the broker refuses.
pub fn produce(
    brokers: &[String],
    topic: &str,
    partition: i32,
    values: &[Vec<u8>],
) -> Result<Vec<i64>> {
    Producer::new(brokers, topic, partition)?.send(values)
}

/// Most records sent in one produce request.
const PRODUCE_CHUNK: usize = 500;

/// A producer to one partition that keeps its connection between calls: it connects on the
/// first [`send`](Producer::send) and reuses the connection until a send fails, then the next
/// send connects again (so a broker restart costs one failed batch, not a stuck producer).
/// Blocking, like the rest of this module: it owns a current-thread tokio runtime.
///
/// ```no_run
/// use recs::stream::kafka::Producer;
/// let mut p = Producer::new(&["127.0.0.1:9092".to_string()], "reco_responses", 0)?;
/// for batch in [vec![b"{}".to_vec()], vec![b"{}".to_vec(), b"{}".to_vec()]] {
///     p.send(&batch)?; // one connection for both batches
/// }
/// assert_eq!(p.connects(), 1);
/// # Ok::<(), recs::Error>(())
/// ```
pub struct Producer {
    brokers: Vec<String>,
    topic: String,
    partition: i32,
    runtime: tokio::runtime::Runtime,
    client: Option<PartitionClient>,
    connects: u64,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("connected", &self.client.is_some())
            .field("connects", &self.connects)
            .finish()
    }
}

impl Producer {
    /// A producer for `topic`/`partition` on `brokers`; does not connect yet.
    ///
    /// # Errors
    /// [`Error::Io`] when the tokio runtime cannot be built.
    pub fn new(brokers: &[String], topic: &str, partition: i32) -> Result<Self> {
        Ok(Producer {
            brokers: brokers.to_vec(),
            topic: topic.to_owned(),
            partition,
            runtime: runtime()?,
            client: None,
            connects: 0,
        })
    }

    /// Connections opened so far (1 while the broker stays up).
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// Produces `values` (one message each, in chunks of 500 per request) and returns their
    /// offsets, connecting first if there is no connection. After an error the connection is
    /// dropped and the next call connects again; records of the failed call may be partly
    /// written (at-least-once).
    ///
    /// # Errors
    /// [`Error::Io`] when no broker answers within [`CONNECT_TIMEOUT`] or the broker refuses.
    pub fn send(&mut self, values: &[Vec<u8>]) -> Result<Vec<i64>> {
        let Producer {
            brokers,
            topic,
            partition,
            runtime,
            client,
            connects,
        } = self;
        let result = runtime.block_on(async {
            if client.is_none() {
                *connects += 1;
                let c = connect(brokers).await?;
                let pc = c
                    .partition_client(topic.clone(), *partition, UnknownTopicHandling::Retry)
                    .await
                    .map_err(|e| kerr(&format!("kafka {topic}/{partition}"), e))?;
                *client = Some(pc);
            }
            let Some(pc) = client.as_ref() else {
                return Ok(Vec::new());
            };
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let timestamp =
                rskafka::chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
            let mut offsets = Vec::with_capacity(values.len());
            for chunk in values.chunks(PRODUCE_CHUNK) {
                let records = chunk
                    .iter()
                    .map(|v| Record {
                        key: None,
                        value: Some(v.clone()),
                        headers: Default::default(),
                        timestamp,
                    })
                    .collect();
                offsets.extend(
                    pc.produce(records, Compression::NoCompression)
                        .await
                        .map_err(|e| kerr(&format!("kafka produce {topic}/{partition}"), e))?,
                );
            }
            Ok(offsets)
        });
        if result.is_err() {
            self.client = None;
        }
        result
    }
}

/// The partitions of a topic on the broker.
///
/// # Errors
/// [`Error::Io`] when the broker cannot be reached; [`Error::InvalidParam`] for a missing
/// topic.
pub fn partitions(brokers: &[String], topic: &str) -> Result<Vec<i32>> {
    runtime()?.block_on(async {
        let client = connect(brokers).await?;
        let listed = client
            .list_topics()
            .await
            .map_err(|e| kerr("kafka list_topics", e))?;
        listed
            .into_iter()
            .find(|t| t.name == topic)
            .map(|t| t.partitions.into_iter().collect())
            .ok_or_else(|| Error::param("topic", "a topic that exists on the broker", topic))
    })
}

/// The broker-side topic names: the team prefix before each name (both Kafka sources).
pub(crate) fn prefixed(prefix: &str, topics: &[String]) -> Vec<String> {
    topics.iter().map(|t| format!("{prefix}{t}")).collect()
}
