//! Validation of parsed events (ranges, known ids, timestamp sanity) and the dead-letter record
//! that an event which fails parsing or validation becomes.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::event::{Event, SourceKey, Ts};
use crate::{Error, Result};

/// Known ids. When a set is given, events naming an id outside it are invalid.
///
/// ```
/// use recs::stream::Catalog;
/// let c = Catalog::default().movies(["1", "the+matrix+1999"]).users([7]);
/// assert!(c.knows_movie("1") && !c.knows_movie("2"));
/// assert!(c.knows_user(7) && !c.knows_user(8));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    movies: Option<HashSet<String>>,
    users: Option<HashSet<i64>>,
}

impl Catalog {
    /// Restricts movie ids to `ids`.
    pub fn movies<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.movies = Some(ids.into_iter().map(Into::into).collect());
        self
    }
    /// Restricts user ids to `ids`.
    pub fn users(mut self, ids: impl IntoIterator<Item = i64>) -> Self {
        self.users = Some(ids.into_iter().collect());
        self
    }
    /// True when `id` is allowed (always, without a movie set).
    pub fn knows_movie(&self, id: &str) -> bool {
        self.movies.as_ref().is_none_or(|m| m.contains(id))
    }
    /// True when `id` is allowed (always, without a user set).
    pub fn knows_user(&self, id: i64) -> bool {
        self.users.as_ref().is_none_or(|u| u.contains(&id))
    }
}

/// Validation rules. Defaults: ratings 1–5, minutes 0–1000 (movies are under 17 h), k 1–1000,
/// latency 0–600 000 ms, status 100–599, timestamps from 1995-01-01 to one day after the
/// current clock, ids at most 256 bytes, no catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Smallest allowed rating.
    pub rating_min: f32,
    /// Largest allowed rating.
    pub rating_max: f32,
    /// Largest allowed `minute`.
    pub max_minute: u32,
    /// Largest allowed `k`.
    pub max_k: u32,
    /// Largest allowed `latency_ms`.
    pub max_latency_ms: f64,
    /// Earliest allowed timestamp.
    pub min_ts: Ts,
    /// How far past `now` a timestamp may be (clock skew), in milliseconds.
    pub max_future_ms: i64,
    /// The clock used for the future check; `None` reads the system clock once per
    /// [`Validator`].
    pub now: Option<Ts>,
    /// Longest allowed id (movie id, request id, model fields), in bytes.
    pub max_id_len: usize,
    /// Known users and movies.
    pub catalog: Catalog,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            rating_min: 1.0,
            rating_max: 5.0,
            max_minute: 1000,
            max_k: 1000,
            max_latency_ms: 600_000.0,
            min_ts: Ts(788_918_400_000), // 1995-01-01T00:00:00Z
            max_future_ms: 86_400_000,
            now: None,
            max_id_len: 256,
            catalog: Catalog::default(),
        }
    }
}

/// Checks events against [`Rules`].
///
/// ```
/// use recs::stream::{parse_log_line, Rules, Validator};
/// let v = Validator::new(Rules::default())?;
/// let ok = parse_log_line("2024-02-01T12:34:56,42,GET /rate/the+matrix+1999=4").unwrap();
/// let bad = parse_log_line("2024-02-01T12:34:56,42,GET /rate/the+matrix+1999=9").unwrap();
/// assert!(v.check(&ok).is_ok());
/// assert!(v.check(&bad).unwrap_err().contains("rating"));
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Validator {
    rules: Rules,
    max_ts: Ts,
}

impl Validator {
    /// Builds a validator.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] when a range is empty or not finite.
    pub fn new(rules: Rules) -> Result<Self> {
        if !(rules.rating_min.is_finite()
            && rules.rating_max.is_finite()
            && rules.rating_min <= rules.rating_max)
        {
            return Err(Error::param(
                "rating_min/rating_max",
                "finite with rating_min <= rating_max",
                format!("{}..{}", rules.rating_min, rules.rating_max),
            ));
        }
        if !(rules.max_latency_ms.is_finite() && rules.max_latency_ms >= 0.0) {
            return Err(Error::param(
                "max_latency_ms",
                "finite and >= 0",
                rules.max_latency_ms,
            ));
        }
        if rules.max_future_ms < 0 {
            return Err(Error::param("max_future_ms", ">= 0", rules.max_future_ms));
        }
        let now = rules.now.unwrap_or_else(|| {
            let d = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            Ts(d.as_millis() as i64)
        });
        let max_ts = Ts(now.0.saturating_add(rules.max_future_ms));
        Ok(Validator { rules, max_ts })
    }

    /// The rules in force.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    fn id(&self, what: &str, id: &str) -> Result<(), String> {
        if id.is_empty() {
            return Err(format!("{what}: empty"));
        }
        if id.len() > self.rules.max_id_len {
            return Err(format!(
                "{what}: {} bytes, expected at most {}",
                id.len(),
                self.rules.max_id_len
            ));
        }
        if id.chars().any(char::is_control) {
            return Err(format!("{what}: contains a control character"));
        }
        Ok(())
    }

    fn movie(&self, id: &str) -> Result<(), String> {
        self.id("movie_id", id)?;
        if !self.rules.catalog.knows_movie(id) {
            return Err(format!("movie_id: unknown movie `{id}`"));
        }
        Ok(())
    }

    /// Checks one event.
    ///
    /// # Errors
    /// The reason, as one line naming the field, the expectation and the value.
    pub fn check(&self, e: &Event) -> Result<(), String> {
        let r = &self.rules;
        let ts = e.ts();
        if ts < r.min_ts || ts > self.max_ts {
            return Err(format!(
                "ts: {} outside {}..={}",
                ts.0, r.min_ts, self.max_ts
            ));
        }
        let user = e.user_id();
        if user < 0 {
            return Err(format!("user_id: expected >= 0, got {user}"));
        }
        if !r.catalog.knows_user(user) {
            return Err(format!("user_id: unknown user {user}"));
        }
        match e {
            Event::Watch(w) => {
                self.movie(&w.movie_id)?;
                if w.minute > r.max_minute {
                    return Err(format!(
                        "minute: expected 0..={}, got {}",
                        r.max_minute, w.minute
                    ));
                }
            }
            Event::Rate(x) => {
                self.movie(&x.movie_id)?;
                if !(x.rating >= r.rating_min && x.rating <= r.rating_max) {
                    return Err(format!(
                        "rating: expected {}..={}, got {}",
                        r.rating_min, r.rating_max, x.rating
                    ));
                }
            }
            Event::RecoRequest(q) => {
                self.id("request_id", &q.request_id)?;
                if q.k == 0 || q.k > r.max_k {
                    return Err(format!("k: expected 1..={}, got {}", r.max_k, q.k));
                }
            }
            Event::RecoResponse(p) => {
                self.id("request_id", &p.request_id)?;
                if !(100..=599).contains(&p.status) {
                    return Err(format!("status: expected 100..=599, got {}", p.status));
                }
                if !(p.latency_ms >= 0.0 && p.latency_ms <= r.max_latency_ms) {
                    return Err(format!(
                        "latency_ms: expected 0..={}, got {}",
                        r.max_latency_ms, p.latency_ms
                    ));
                }
                if p.k > r.max_k {
                    return Err(format!("k: expected 0..={}, got {}", r.max_k, p.k));
                }
                if p.movie_ids.len() > p.k as usize {
                    return Err(format!(
                        "movie_ids: {} movies for k = {}",
                        p.movie_ids.len(),
                        p.k
                    ));
                }
                for m in &p.movie_ids {
                    self.movie(m)?;
                }
                for (f, v) in [
                    ("model_name", &p.model_name),
                    ("model_version", &p.model_version),
                    ("variant", &p.variant),
                    ("git_sha", &p.git_sha),
                    ("data_snapshot_id", &p.data_snapshot_id),
                    ("server", &p.server),
                ] {
                    if let Some(v) = v {
                        self.id(f, v)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// An input that could not be ingested: where it came from, why, and the raw bytes (lossy UTF-8).
/// Written as one JSON line per record in a batch's dead-letter file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Where it came from.
    #[serde(flatten)]
    pub key: SourceKey,
    /// `parse: …` or `invalid: …`.
    pub reason: String,
    /// The raw input.
    pub raw: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_log_line;

    fn v() -> Validator {
        Validator::new(Rules {
            now: Some(Ts(1_800_000_000_000)),
            catalog: Catalog::default().movies(["m1", "m2"]),
            ..Rules::default()
        })
        .unwrap()
    }

    #[test]
    fn each_rule_fires() {
        let v = v();
        for (line, needle) in [
            ("1990-01-01T00:00:00,1,GET /rate/m1=4", "ts:"),
            ("2040-01-01T00:00:00,1,GET /rate/m1=4", "ts:"),
            ("2024-01-01T00:00:00,1,GET /rate/m3=4", "unknown movie"),
            ("2024-01-01T00:00:00,1,GET /rate/m1=0", "rating"),
            ("2024-01-01T00:00:00,1,GET /rate/m1=NaN", "rating"),
            ("2024-01-01T00:00:00,1,GET /data/m/m1/5000.mpg", "minute"),
            (
                "2024-01-01T00:00:00,1,recommendation request s, status 700, result: m1, 3 ms",
                "status",
            ),
            (
                "2024-01-01T00:00:00,1,recommendation request s, status 200, result: m1, m9, 3 ms",
                "unknown movie",
            ),
            (
                "2024-01-01T00:00:00,1,recommendation request s, status 200, result: m1, 1e9 ms",
                "latency",
            ),
        ] {
            let e = parse_log_line(line).unwrap();
            let err = v.check(&e).unwrap_err();
            assert!(err.contains(needle), "{line}: {err}");
        }
        let ok = parse_log_line("2024-01-01T00:00:00,1,GET /data/m/m2/5.mpg").unwrap();
        assert_eq!(v.check(&ok), Ok(()));
    }

    #[test]
    fn rejects_bad_rules() {
        let r = Rules {
            rating_min: 5.0,
            rating_max: 1.0,
            ..Rules::default()
        };
        assert!(matches!(Validator::new(r), Err(Error::InvalidParam { .. })));
        let r = Rules {
            max_future_ms: -1,
            ..Rules::default()
        };
        assert!(Validator::new(r).is_err());
    }
}
