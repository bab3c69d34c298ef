//! Exposure of **logged** answers: the `reco_response` events a server wrote (its exposure log,
//! `recs probe --events`, or a Kafka topic read back by `recs ingest`), instead of lists
//! recomputed from a model. This measures what users were actually shown, per served model
//! version and variant, with the definitions of the module above ([`Exposure`]).
//!
//! Logged movie ids are raw ids; they are mapped to catalogue indices through the item
//! vocabulary of the training data that defines popularity. An answer counts once (its first
//! `k` movies); answers with a status other than 200 or no movies are skipped and counted, and so
//! are movies outside the catalogue (a model trained on other data, or ids that are not
//! integers).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{exposure_of_counts, Exposure};
use crate::data::{Interactions, Vocab};
use crate::stream::{parse_line, Event, RecoResponse};
use crate::util::{Line, LineReader, MAX_LINE_BYTES};
use crate::{Error, Result};

/// Most distinct (model version, variant) groups kept; a log with more is refused rather than
/// growing one count vector per group without bound.
pub const MAX_LOGGED_GROUPS: usize = 256;

/// Exposure of one served (model version, variant) in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedGroup {
    /// `model_version` of the answers (empty when the events carry none).
    pub model_version: String,
    /// `variant` of the answers (empty when the events carry none).
    pub variant: String,
    /// The exposure metrics of this group's answers.
    pub exposure: Exposure,
}

/// One movie's exposure in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemExposure {
    /// Raw movie id.
    pub movie_id: i64,
    /// Answers that showed it (within their first `k`), all groups together.
    pub answers: u64,
}

/// What [`exposure_of_logged`] finds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedExposure {
    /// List length K (each answer's first K movies count).
    pub k: usize,
    /// Answers counted (status 200 with at least one movie).
    pub answers: u64,
    /// Answers skipped: a status other than 200, or no movie.
    pub skipped_answers: u64,
    /// Movie slots whose id is not in the catalogue (not counted anywhere else).
    pub unknown_movies: u64,
    /// All counted answers together.
    pub overall: Exposure,
    /// Per (model version, variant), sorted by version then variant.
    pub groups: Vec<LoggedGroup>,
    /// Per movie, every exposed movie, most exposed first (ties by id).
    pub items: Vec<ItemExposure>,
}

/// Counts logged answers one at a time (memory: one count per catalogue item and group,
/// whatever the length of the log). [`exposure_of_logged`] is this over an iterator.
///
/// ```
/// use recs::data::{Interactions, Record};
/// use recs::eval::fairness::LoggedExposureCounter;
/// use recs::stream::{parse_json, Event};
///
/// let recs = [(0, 0), (1, 0), (1, 1)]
///     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
/// let train = Interactions::from_records(2, 3, &recs, Default::default())?;
/// let items = vec![1193, 661, 914].into(); // raw movie ids of the indices 0, 1, 2
/// let mut counter = LoggedExposureCounter::new(&items, 2)?;
/// let line = br#"{"type":"reco_response","ts":"2026-12-06T08:00:00Z","request_id":"r1",
///   "user_id":7,"status":200,"latency_ms":3.0,"k":2,"movie_ids":[914,661],
///   "model_version":"v1.0","variant":"A"}"#;
/// let Ok(Event::RecoResponse(r)) = parse_json(line) else { panic!() };
/// counter.add(&r)?;
/// let e = counter.finish(&train)?;
/// assert_eq!((e.answers, e.overall.slots, e.overall.never_exposed), (1, 2, 1));
/// assert_eq!(e.groups[0].variant, "A");
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LoggedExposureCounter<'a> {
    items: &'a Vocab,
    k: usize,
    answers: u64,
    skipped_answers: u64,
    unknown_movies: u64,
    overall: (Vec<u64>, usize),
    groups: BTreeMap<(String, String), (Vec<u64>, usize)>,
}

impl<'a> LoggedExposureCounter<'a> {
    /// A counter over the catalogue `items` (raw movie id → index), counting each answer's
    /// first `k` movies.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for `k == 0`.
    pub fn new(items: &'a Vocab, k: usize) -> Result<Self> {
        if k == 0 {
            return Err(Error::param("k", "a list length >= 1", 0));
        }
        Ok(LoggedExposureCounter {
            items,
            k,
            answers: 0,
            skipped_answers: 0,
            unknown_movies: 0,
            overall: (vec![0; items.len()], 0),
            groups: BTreeMap::new(),
        })
    }

    /// Counts one logged answer.
    ///
    /// # Errors
    /// [`Error::Data`] when it would be the group number [`MAX_LOGGED_GROUPS`] + 1.
    pub fn add(&mut self, response: &RecoResponse) -> Result<()> {
        if response.status != 200 || response.movie_ids.is_empty() {
            self.skipped_answers += 1;
            return Ok(());
        }
        let key = (
            response.model_version.clone().unwrap_or_default(),
            response.variant.clone().unwrap_or_default(),
        );
        if !self.groups.contains_key(&key) && self.groups.len() >= MAX_LOGGED_GROUPS {
            return Err(Error::Data(format!(
                "the log holds more than {MAX_LOGGED_GROUPS} (model version, variant) groups; \
                 analyse a shorter period"
            )));
        }
        let n_items = self.items.len();
        let group = self
            .groups
            .entry(key)
            .or_insert_with(|| (vec![0; n_items], 0));
        self.answers += 1;
        self.overall.1 += 1;
        group.1 += 1;
        for id in response.movie_ids.iter().take(self.k) {
            match id.parse::<i64>().ok().and_then(|raw| self.items.index(raw)) {
                Some(i) => {
                    self.overall.0[i as usize] += 1;
                    group.0[i as usize] += 1;
                }
                None => self.unknown_movies += 1,
            }
        }
        Ok(())
    }

    /// Counts the `reco_response` events of a log file (JSON lines or course log lines, gzip
    /// or plain; lines read with the [`MAX_LINE_BYTES`] limit, so memory stays bounded); other
    /// events are passed over. Returns the number of lines skipped as invalid.
    ///
    /// # Errors
    /// I/O errors naming the file; without `skip_bad_lines`, the first line that is too long
    /// or does not parse, as `FILE:LINE: …`; as [`add`](Self::add).
    pub fn add_file(&mut self, path: &Path, skip_bad_lines: bool) -> Result<u64> {
        let reader = std::io::BufReader::with_capacity(1 << 16, crate::data::open(path)?);
        let mut lines = LineReader::new(reader, MAX_LINE_BYTES);
        let (mut n, mut skipped) = (0u64, 0u64);
        let bad = |n: u64, why: String| Error::Data(format!("{}:{n}: {why}", path.display()));
        while let Some(line) = lines.next_line().map_err(|e| Error::io(path, e))? {
            n += 1;
            let bytes = match line {
                Line::Text { bytes, .. } => bytes.trim_ascii(),
                Line::TooLong { .. } if skip_bad_lines => {
                    skipped += 1;
                    continue;
                }
                Line::TooLong { len, .. } => {
                    return Err(bad(
                        n,
                        format!("line too long ({len} bytes, limit {MAX_LINE_BYTES})"),
                    ))
                }
            };
            if bytes.is_empty() {
                continue;
            }
            match parse_line(bytes) {
                Ok(Event::RecoResponse(r)) => self.add(&r)?,
                Ok(_) => {}
                Err(_) if skip_bad_lines => skipped += 1,
                Err(e) => return Err(bad(n, e.to_string())),
            }
        }
        Ok(skipped)
    }

    /// The exposure metrics, with popularity from `train` (whose item indices are those of
    /// the vocabulary given to [`new`](Self::new)).
    ///
    /// # Errors
    /// [`Error::Data`] when `train` has another catalogue size than the vocabulary or no
    /// interaction.
    pub fn finish(self, train: &Interactions) -> Result<LoggedExposure> {
        if train.n_items() != self.items.len() {
            return Err(Error::Data(format!(
                "the item vocabulary has {} movies but the training data {}",
                self.items.len(),
                train.n_items()
            )));
        }
        let k = self.k;
        let overall = exposure_of_counts(&self.overall.0, self.overall.1, train, k)?;
        let mut items: Vec<ItemExposure> = self
            .overall
            .0
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .filter_map(|(i, &n)| {
                self.items.external(i as u32).map(|movie_id| ItemExposure {
                    movie_id,
                    answers: n,
                })
            })
            .collect();
        items.sort_by(|a, b| b.answers.cmp(&a.answers).then(a.movie_id.cmp(&b.movie_id)));
        let groups = self
            .groups
            .into_iter()
            .map(|((model_version, variant), (counts, n))| {
                Ok(LoggedGroup {
                    model_version,
                    variant,
                    exposure: exposure_of_counts(&counts, n, train, k)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(LoggedExposure {
            k,
            answers: self.answers,
            skipped_answers: self.skipped_answers,
            unknown_movies: self.unknown_movies,
            overall,
            groups,
            items,
        })
    }
}

/// Exposure of the logged answers `responses` over the catalogue `items` (raw movie id →
/// index of `train`), each answer's first `k` movies, overall, per (model version, variant)
/// and per movie. See [`LoggedExposureCounter`] for an example.
///
/// # Errors
/// As [`LoggedExposureCounter::new`], [`add`](LoggedExposureCounter::add) and
/// [`finish`](LoggedExposureCounter::finish).
pub fn exposure_of_logged<'r>(
    responses: impl IntoIterator<Item = &'r RecoResponse>,
    items: &Vocab,
    train: &Interactions,
    k: usize,
) -> Result<LoggedExposure> {
    let mut counter = LoggedExposureCounter::new(items, k)?;
    for r in responses {
        counter.add(r)?;
    }
    counter.finish(train)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Record;
    use crate::eval::fairness::exposure_of_lists;
    use crate::stream::{parse_line, Event, Ts};

    fn response(
        user: i64,
        status: u16,
        ids: &[&str],
        version: &str,
        variant: &str,
    ) -> RecoResponse {
        RecoResponse {
            ts: Ts(1_765_000_000_000),
            request_id: format!("r-{user}"),
            user_id: user,
            status,
            latency_ms: 1.0,
            k: ids.len() as u32,
            movie_ids: ids.iter().map(|s| s.to_string()).collect(),
            model_name: Some("pop".into()),
            model_version: Some(version.into()),
            variant: Some(variant.into()),
            git_sha: None,
            data_snapshot_id: None,
            server: None,
        }
    }

    /// 3 users, movies 100..=104 at indices 0..5; movie 100 seen by all, 101 by two.
    fn train() -> (Interactions, Vocab) {
        let recs = [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 2)].map(|(u, i)| Record {
            user: u,
            item: i,
            value: 1.0,
            timestamp: None,
        });
        let train = Interactions::from_records(3, 5, &recs, Default::default()).unwrap();
        (train, vec![100, 101, 102, 103, 104].into())
    }

    #[test]
    fn a_generated_log_is_counted_per_item_and_group() {
        let (train, items) = train();
        // A small log as the server writes it: JSON lines, read back through the event parser.
        let log = [
            response(1, 200, &["103", "104", "100"], "v1.0", "A"),
            response(2, 200, &["103", "101"], "v1.0", "A"),
            response(3, 200, &["104", "999", "x"], "v2.0", "B"),
            response(4, 503, &[], "v2.0", "B"),
            response(5, 200, &[], "v2.0", "B"),
        ];
        let text: String = log
            .iter()
            .map(|r| serde_json::to_string(&Event::RecoResponse(r.clone())).unwrap() + "\n")
            .collect();
        let parsed: Vec<RecoResponse> = text
            .lines()
            .map(|l| match parse_line(l.as_bytes()) {
                Ok(Event::RecoResponse(r)) => r,
                other => panic!("not a reco_response: {other:?}"),
            })
            .collect();
        let e = exposure_of_logged(&parsed, &items, &train, 2).unwrap();
        // Counted by hand, first 2 movies of each answer: A: 103, 104 | 103, 101; B: 104,
        // 999 (unknown). Skipped: the 503 and the empty answer; "x" is past k.
        assert_eq!((e.answers, e.skipped_answers, e.unknown_movies), (3, 2, 1));
        assert_eq!(e.overall.slots, 5);
        assert_eq!(e.overall.n_lists, 3);
        assert_eq!(e.overall.never_exposed, 2); // 100 and 102
        let per_item: Vec<(i64, u64)> = e.items.iter().map(|i| (i.movie_id, i.answers)).collect();
        assert_eq!(per_item, [(103, 2), (104, 2), (101, 1)]);
        let groups: Vec<(&str, &str, u64, usize)> = e
            .groups
            .iter()
            .map(|g| {
                let x = &g.exposure;
                (
                    g.model_version.as_str(),
                    g.variant.as_str(),
                    x.slots,
                    x.n_lists,
                )
            })
            .collect();
        assert_eq!(groups, [("v1.0", "A", 4, 2), ("v2.0", "B", 1, 1)]);
        // The same lists as indices give the same metrics through the list path.
        let lists: [&[u32]; 3] = [&[3, 4], &[3, 1], &[4]];
        let direct = exposure_of_lists(lists, &train, 2).unwrap();
        assert_eq!(e.overall, direct);
        let long_tail = e.groups[0].exposure.long_tail_share;
        // Group A shows 103, 104 (never consumed: tail) 3 times and 101 once; the head
        // holding 80 % of the 6 interactions is {100, 101} (3 + 2 = 5 >= 4.8).
        assert!((long_tail - 0.75).abs() < 1e-12, "{long_tail}");
    }

    #[test]
    fn log_files_are_read_gzip_or_plain_with_bad_lines_named_or_skipped() {
        use std::io::Write;
        let (train, items) = train();
        let dir = tempfile::tempdir().unwrap();
        let line =
            |r: &RecoResponse| serde_json::to_string(&Event::RecoResponse(r.clone())).unwrap();
        let watch = r#"{"type":"watch","ts":"2026-12-06T08:00:00Z","user_id":1,"movie_id":"103","minute":1}"#;
        let plain = dir.path().join("exposure.log");
        std::fs::write(
            &plain,
            format!(
                "{}\n{watch}\n\n{}\n",
                line(&response(1, 200, &["103", "104"], "v1.0", "A")),
                line(&response(2, 200, &["101"], "v1.0", "A"))
            ),
        )
        .unwrap();
        let gz = dir.path().join("exposure.log.1.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        writeln!(enc, "{}", line(&response(3, 200, &["104"], "v2.0", "B"))).unwrap();
        writeln!(enc, "{{not json").unwrap();
        enc.finish().unwrap();

        let mut c = LoggedExposureCounter::new(&items, 10).unwrap();
        assert_eq!(c.add_file(&plain, false).unwrap(), 0);
        let err = c.clone().add_file(&gz, false).unwrap_err().to_string();
        assert!(err.contains("exposure.log.1.gz:2:"), "{err}");
        assert_eq!(c.add_file(&gz, true).unwrap(), 1);
        let e = c.finish(&train).unwrap();
        assert_eq!((e.answers, e.overall.slots), (3, 4));
        let per_item: Vec<(i64, u64)> = e.items.iter().map(|i| (i.movie_id, i.answers)).collect();
        assert_eq!(per_item, [(104, 2), (101, 1), (103, 1)]);
    }

    #[test]
    fn refuses_a_zero_k_and_a_vocabulary_of_another_size() {
        let (train, items) = train();
        assert!(LoggedExposureCounter::new(&items, 0).is_err());
        let short: Vocab = vec![100, 101].into();
        let err = exposure_of_logged(&[], &short, &train, 3).unwrap_err();
        assert!(
            err.to_string().contains("2 movies but the training data 5"),
            "{err}"
        );
    }

    #[test]
    fn too_many_groups_are_refused_not_grown() {
        let (_, items) = train();
        let mut c = LoggedExposureCounter::new(&items, 1).unwrap();
        for g in 0..MAX_LOGGED_GROUPS {
            c.add(&response(1, 200, &["100"], &format!("v{g}"), "A"))
                .unwrap();
        }
        assert!(c.add(&response(1, 200, &["100"], "v0", "A")).is_ok());
        let err = c.add(&response(1, 200, &["100"], "new", "A")).unwrap_err();
        assert!(err.to_string().contains("more than 256"), "{err}");
    }
}
