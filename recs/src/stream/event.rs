//! The canonical event schema (version [`SCHEMA_VERSION`]): `watch`, `rate`, `reco_request`,
//! `reco_response`, and the millisecond UTC timestamp [`Ts`] they carry.
//!
//! Documented for producers in `docs/events.md`; machine-readable in `docs/events.schema.json`.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::util::time::{civil_from_days, days_from_civil, write_utc};

/// Version of the event schema. An event may carry `"v": 1`; a missing `v` means 1; any other
/// value is rejected (the event goes to the dead-letter output).
pub const SCHEMA_VERSION: u32 = 1;

/// A point in time: milliseconds since the Unix epoch, UTC.
///
/// In JSON it is written as an ISO 8601 string (`"2024-02-01T12:34:56Z"`, with `.mmm` when the
/// milliseconds are not zero) and read from such a string (optional fraction of any length,
/// truncated to milliseconds; optional `Z` or `±hh:mm` offset; no offset means UTC) or from a
/// number of seconds since the epoch (fractional allowed).
///
/// ```
/// use recs::stream::Ts;
/// let t = Ts::parse("2024-02-01T12:34:56.5").unwrap();
/// assert_eq!(t.0, 1_706_790_896_500);
/// assert_eq!(t.to_string(), "2024-02-01T12:34:56.500Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ts(pub i64);

/// Earliest and latest representable years of [`Ts`] text forms.
const YEAR_RANGE: std::ops::RangeInclusive<i64> = 0..=9999;

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 18 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |a, &c| a * 10 + i64::from(c - b'0')))
}

impl Ts {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff…][Z|±hh:mm]` (a space instead of `T` is accepted).
    /// Returns `None` on anything else, including impossible dates.
    pub fn parse(s: &str) -> Option<Ts> {
        let b = s.as_bytes();
        if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        if b[10] != b'T' && b[10] != b' ' {
            return None;
        }
        let y = digits(&b[0..4])?;
        let mo = digits(&b[5..7])?;
        let d = digits(&b[8..10])?;
        let h = digits(&b[11..13])?;
        let mi = digits(&b[14..16])?;
        let se = digits(&b[17..19])?;
        if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 {
            return None;
        }
        if se > 59 {
            return None;
        }
        let mut rest = &b[19..];
        let mut ms = 0;
        if let Some((&b'.', frac)) = rest.split_first() {
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            for (i, &c) in frac[..n.min(3)].iter().enumerate() {
                ms += i64::from(c - b'0') * [100, 10, 1][i];
            }
            rest = &frac[n..];
        }
        let offset_min = match rest {
            [] | [b'Z'] => 0,
            [sign @ (b'+' | b'-'), hh @ .., b':', m1, m2] if hh.len() == 2 => {
                let oh = digits(hh)?;
                let om = digits(&[*m1, *m2])?;
                if oh > 23 || om > 59 {
                    return None;
                }
                let o = oh * 60 + om;
                if *sign == b'-' {
                    -o
                } else {
                    o
                }
            }
            _ => return None,
        };
        let days = days_from_civil(y, mo, d);
        let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60;
        Some(Ts(secs * 1000 + ms))
    }

    /// From seconds since the epoch (fractional allowed); `None` when not finite or beyond the
    /// years 0–9999.
    pub fn from_secs_f64(secs: f64) -> Option<Ts> {
        let ms = (secs * 1000.0).floor();
        let ts = Ts(ms as i64);
        (ms.is_finite() && ts.in_text_range()).then_some(ts)
    }

    /// True when the timestamp falls within the years 0–9999 (writable as text).
    pub fn in_text_range(self) -> bool {
        let (y, _, _) = civil_from_days(self.0.div_euclid(86_400_000));
        YEAR_RANGE.contains(&y)
    }

    /// Writes `YYYY-MM-DDTHH:MM:SS[.mmm]` without a zone suffix (the course log-line form).
    pub fn write_plain(self, out: &mut impl fmt::Write) -> fmt::Result {
        write_utc(out, self.0, false)
    }
}

impl fmt::Display for Ts {
    /// ISO 8601 in UTC with a `Z` suffix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_plain(f)?;
        f.write_str("Z")
    }
}

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Ts;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO 8601 date-time string or seconds since the epoch")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ts, E> {
                Ts::parse(v).ok_or_else(|| E::custom(format!("bad timestamp `{v}`")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ts, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ts, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Ts, E> {
                Ts::from_secs_f64(v).ok_or_else(|| E::custom(format!("timestamp {v} out of range")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A movie id: kept as a string (course logs use slugs such as `the+matrix+1999`; MovieLens
/// uses integers). JSON accepts a string or a non-negative integer.
pub type MovieId = String;

pub(crate) fn movie_id<'de, D: Deserializer<'de>>(d: D) -> Result<MovieId, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = MovieId;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a movie id (string or integer)")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<MovieId, E> {
            Ok(v.to_owned())
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<MovieId, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<MovieId, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<MovieId, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(V)
}

pub(crate) fn movie_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<MovieId>, D::Error> {
    #[derive(Deserialize)]
    struct One(#[serde(deserialize_with = "movie_id")] MovieId);
    let v: Vec<One> = Vec::deserialize(d)?;
    Ok(v.into_iter().map(|o| o.0).collect())
}

/// A user watched one minute of a movie (`GET /data/m/<movie>/<minute>.mpg`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watch {
    /// When.
    pub ts: Ts,
    /// The user (non-negative).
    pub user_id: i64,
    /// The movie.
    #[serde(deserialize_with = "movie_id")]
    pub movie_id: MovieId,
    /// The minute of the movie streamed (0-based).
    pub minute: u32,
}

/// A user rated a movie (`GET /rate/<movie>=<rating>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// When.
    pub ts: Ts,
    /// The user (non-negative).
    pub user_id: i64,
    /// The movie.
    #[serde(deserialize_with = "movie_id")]
    pub movie_id: MovieId,
    /// The rating (1–5 by default, see [`crate::stream::Rules`]).
    pub rating: f32,
}

/// A recommendation was asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoRequest {
    /// When.
    pub ts: Ts,
    /// Joins the request with its response.
    pub request_id: String,
    /// The user.
    pub user_id: i64,
    /// How many movies were asked for.
    pub k: u32,
}

/// A recommendation was answered (or failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoResponse {
    /// When.
    pub ts: Ts,
    /// Joins the response with its request. For course log lines (which carry none) it is
    /// `log-<ts ms>-<user_id>`.
    pub request_id: String,
    /// The user.
    pub user_id: i64,
    /// HTTP-like status code (200 = served).
    pub status: u16,
    /// Time to answer, in milliseconds.
    pub latency_ms: f64,
    /// How many movies were asked for (for log lines: how many were returned).
    pub k: u32,
    /// The recommended movies, best first.
    #[serde(deserialize_with = "movie_ids")]
    pub movie_ids: Vec<MovieId>,
    /// Model name (e.g. `als`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// Model version, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// Experiment variant (A/B arm), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Git commit of the serving code, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_sha: Option<String>,
    /// Id of the data snapshot the model was trained on, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_snapshot_id: Option<String>,
    /// The answering server (`host:port`), as course log lines give it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

/// One event of the stream. JSON form: an object with `"type"` (`watch`, `rate`,
/// `reco_request`, `reco_response`), an optional `"v"` ([`SCHEMA_VERSION`]) and the fields of
/// the variant's struct; unknown fields are rejected.
///
/// ```
/// use recs::stream::{Event, parse_json};
/// let e = parse_json(br#"{"type":"rate","ts":"2024-02-01T12:34:56Z","user_id":7,"movie_id":"the+matrix+1999","rating":4}"#)?;
/// let Event::Rate(r) = &e else { unreachable!() };
/// assert_eq!((r.user_id, r.movie_id.as_str(), r.rating), (7, "the+matrix+1999", 4.0));
/// assert_eq!(parse_json(serde_json::to_string(&e)?.as_bytes())?, e);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// See [`Watch`].
    Watch(Watch),
    /// See [`Rate`].
    Rate(Rate),
    /// See [`RecoRequest`].
    RecoRequest(RecoRequest),
    /// See [`RecoResponse`].
    RecoResponse(RecoResponse),
}

/// The four event types, for counts and file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// [`Watch`].
    Watch,
    /// [`Rate`].
    Rate,
    /// [`RecoRequest`].
    RecoRequest,
    /// [`RecoResponse`].
    RecoResponse,
}

impl EventKind {
    /// All kinds, in file order.
    pub const ALL: [EventKind; 4] = [
        EventKind::Watch,
        EventKind::Rate,
        EventKind::RecoRequest,
        EventKind::RecoResponse,
    ];
    /// The JSON `type` tag.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Watch => "watch",
            EventKind::Rate => "rate",
            EventKind::RecoRequest => "reco_request",
            EventKind::RecoResponse => "reco_response",
        }
    }
}

impl Event {
    /// The event's type.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Watch(_) => EventKind::Watch,
            Event::Rate(_) => EventKind::Rate,
            Event::RecoRequest(_) => EventKind::RecoRequest,
            Event::RecoResponse(_) => EventKind::RecoResponse,
        }
    }
    /// When it happened.
    pub fn ts(&self) -> Ts {
        match self {
            Event::Watch(e) => e.ts,
            Event::Rate(e) => e.ts,
            Event::RecoRequest(e) => e.ts,
            Event::RecoResponse(e) => e.ts,
        }
    }
    /// The user it concerns.
    pub fn user_id(&self) -> i64 {
        match self {
            Event::Watch(e) => e.user_id,
            Event::Rate(e) => e.user_id,
            Event::RecoRequest(e) => e.user_id,
            Event::RecoResponse(e) => e.user_id,
        }
    }
}

/// Where an event came from: a Kafka (topic, partition, offset), or for files the file's
/// source name, partition 0 and the 0-based line number. Snapshots are deduplicated by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceKey {
    /// Kafka topic, or `file:<name>` for files and stdin.
    pub topic: String,
    /// Kafka partition (0 for files).
    pub partition: i32,
    /// Kafka offset, or 0-based line number.
    pub offset: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_roundtrip_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for z in [-800_000, -1, 0, 1, 59, 60, 11_016, 19_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(Ts::parse("1970-01-01T00:00:00").unwrap(), Ts(0));
        assert_eq!(
            Ts::parse("2000-02-29T00:00:01.9999").unwrap(),
            Ts(951_782_401_999)
        );
        assert_eq!(Ts::parse("1970-01-01T01:00:00+01:00").unwrap(), Ts(0));
        assert_eq!(Ts::parse("1970-01-01 00:00:00Z").unwrap(), Ts(0));
        for bad in [
            "2001-02-29T00:00:00",
            "2024-13-01T00:00:00",
            "2024-01-01T24:00:00",
            "x",
            "2024-01-01T00:00:00.",
            "2024-01-01T00:00:00+1:00",
            "2024-01-01T00:00:00junk",
        ] {
            assert_eq!(Ts::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn ts_json_forms() {
        let t: Ts = serde_json::from_str("\"2024-02-01T12:34:56Z\"").unwrap();
        assert_eq!(t.0, 1_706_790_896_000);
        let n: Ts = serde_json::from_str("1706790896.25").unwrap();
        assert_eq!(n.0, 1_706_790_896_250);
        assert!(serde_json::from_str::<Ts>("1e300").is_err());
        assert!(serde_json::from_str::<Ts>("true").is_err());
    }

    #[test]
    fn autotraits() {
        fn has<T: Send + Sync + Unpin>() {}
        has::<Event>();
        has::<SourceKey>();
    }
}
