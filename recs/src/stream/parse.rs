//! Parsers: JSON events and the plain-text log lines of the movie-streaming course, and the
//! inverse formatter for log lines. No parser panics, whatever the input.
//!
//! Log-line forms (time `YYYY-MM-DDTHH:MM:SS[.fff]`, UTC):
//! - `<time>,<userid>,GET /data/m/<movieid>/<minute>.mpg` → [`Watch`]
//! - `<time>,<userid>,GET /rate/<movieid>=<rating>` → [`Rate`]
//! - `<time>,<userid>,recommendation request <server>, status <code>, result: <ids>, <ms> ms`
//!   → [`RecoResponse`] (ids separated by `, `; `request_id` = `log-<ts ms>-<userid>`,
//!   `k` = number of ids; for a non-200 status the result text is not a list and
//!   `movie_ids` is empty).

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::event::{Event, MovieId, Rate, RecoRequest, RecoResponse, Ts, Watch, SCHEMA_VERSION};

/// Why a line could not be turned into an [`Event`]. Its `Display` is the dead-letter reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Malformed JSON, a wrong type, a missing or unexpected field.
    #[error("json: {0}")]
    Json(String),
    /// A log line that matches none of the known forms.
    #[error("log line: {0}")]
    LogLine(String),
    /// The line is not UTF-8.
    #[error("not UTF-8")]
    Utf8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    v: Option<u32>,
    ts: Option<Ts>,
    user_id: Option<i64>,
    #[serde(default, deserialize_with = "opt_movie_id")]
    movie_id: Option<MovieId>,
    minute: Option<u32>,
    rating: Option<f32>,
    request_id: Option<String>,
    k: Option<u32>,
    status: Option<u16>,
    latency_ms: Option<f64>,
    #[serde(default, deserialize_with = "opt_movie_ids")]
    movie_ids: Option<Vec<MovieId>>,
    model_name: Option<String>,
    model_version: Option<String>,
    variant: Option<String>,
    git_sha: Option<String>,
    data_snapshot_id: Option<String>,
    server: Option<String>,
}

fn opt_movie_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<MovieId>, D::Error> {
    super::event::movie_id(d).map(Some)
}

fn opt_movie_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<MovieId>>, D::Error> {
    super::event::movie_ids(d).map(Some)
}

impl RawEvent {
    fn into_event(self) -> Result<Event, String> {
        if let Some(v) = self.v {
            if v != SCHEMA_VERSION {
                return Err(format!(
                    "unsupported schema version {v}, expected {SCHEMA_VERSION}"
                ));
            }
        }
        let kind = self.kind.as_str();
        let miss = |f: &str| format!("missing field `{f}` for type `{kind}`");
        let extra = |f: &str| Err(format!("unexpected field `{f}` for type `{kind}`"));
        let ts = self.ts.ok_or_else(|| miss("ts"))?;
        let user_id = self.user_id.ok_or_else(|| miss("user_id"))?;
        let reco_only = [
            ("status", self.status.is_some()),
            ("latency_ms", self.latency_ms.is_some()),
            ("movie_ids", self.movie_ids.is_some()),
            ("model_name", self.model_name.is_some()),
            ("model_version", self.model_version.is_some()),
            ("variant", self.variant.is_some()),
            ("git_sha", self.git_sha.is_some()),
            ("data_snapshot_id", self.data_snapshot_id.is_some()),
            ("server", self.server.is_some()),
        ];
        match kind {
            "watch" | "rate" => {
                for (f, present) in reco_only.iter().chain(&[
                    ("request_id", self.request_id.is_some()),
                    ("k", self.k.is_some()),
                ]) {
                    if *present {
                        return extra(f);
                    }
                }
                let movie_id = self.movie_id.ok_or_else(|| miss("movie_id"))?;
                if kind == "watch" {
                    if self.rating.is_some() {
                        return extra("rating");
                    }
                    let minute = self.minute.ok_or_else(|| miss("minute"))?;
                    Ok(Event::Watch(Watch {
                        ts,
                        user_id,
                        movie_id,
                        minute,
                    }))
                } else {
                    if self.minute.is_some() {
                        return extra("minute");
                    }
                    let rating = self.rating.ok_or_else(|| miss("rating"))?;
                    Ok(Event::Rate(Rate {
                        ts,
                        user_id,
                        movie_id,
                        rating,
                    }))
                }
            }
            "reco_request" | "reco_response" => {
                for (f, present) in [
                    ("movie_id", self.movie_id.is_some()),
                    ("minute", self.minute.is_some()),
                    ("rating", self.rating.is_some()),
                ] {
                    if present {
                        return extra(f);
                    }
                }
                let request_id = self.request_id.ok_or_else(|| miss("request_id"))?;
                let k = self.k.ok_or_else(|| miss("k"))?;
                if kind == "reco_request" {
                    if let Some((f, _)) = reco_only.iter().find(|(_, p)| *p) {
                        return extra(f);
                    }
                    return Ok(Event::RecoRequest(RecoRequest {
                        ts,
                        request_id,
                        user_id,
                        k,
                    }));
                }
                Ok(Event::RecoResponse(RecoResponse {
                    ts,
                    request_id,
                    user_id,
                    status: self.status.ok_or_else(|| miss("status"))?,
                    latency_ms: self.latency_ms.ok_or_else(|| miss("latency_ms"))?,
                    k,
                    movie_ids: self.movie_ids.ok_or_else(|| miss("movie_ids"))?,
                    model_name: self.model_name,
                    model_version: self.model_version,
                    variant: self.variant,
                    git_sha: self.git_sha,
                    data_snapshot_id: self.data_snapshot_id,
                    server: self.server,
                }))
            }
            other => Err(format!(
                "unknown type `{other}`, expected watch, rate, reco_request or reco_response"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawEvent::deserialize(d)?
            .into_event()
            .map_err(de::Error::custom)
    }
}

/// Parses one JSON event.
///
/// # Errors
/// [`ParseError::Json`] with serde's message (malformed JSON, wrong types, missing or unknown
/// fields, unsupported `v`).
pub fn parse_json(bytes: &[u8]) -> Result<Event, ParseError> {
    serde_json::from_slice(bytes).map_err(|e| ParseError::Json(e.to_string()))
}

fn bad(msg: impl Into<String>) -> ParseError {
    ParseError::LogLine(msg.into())
}

fn parse_u<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, ParseError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!("{what}: expected digits, got `{s}`")));
    }
    s.parse()
        .map_err(|_| bad(format!("{what}: `{s}` out of range")))
}

/// Parses one course log line (see the module docs for the forms).
///
/// ```
/// use recs::stream::{parse_log_line, Event};
/// let e = parse_log_line("2024-02-01T12:34:56,42,GET /data/m/the+matrix+1999/17.mpg")?;
/// let Event::Watch(w) = e else { unreachable!() };
/// assert_eq!((w.user_id, w.movie_id.as_str(), w.minute), (42, "the+matrix+1999", 17));
/// # Ok::<(), recs::stream::ParseError>(())
/// ```
///
/// # Errors
/// [`ParseError::LogLine`] saying which part did not match.
pub fn parse_log_line(line: &str) -> Result<Event, ParseError> {
    let line = line.trim_end_matches(['\r', '\n']);
    let (time, rest) = line
        .split_once(',')
        .ok_or_else(|| bad("expected `<time>,<userid>,<request>`"))?;
    let (user, req) = rest
        .split_once(',')
        .ok_or_else(|| bad("expected `<time>,<userid>,<request>`"))?;
    let ts = Ts::parse(time).ok_or_else(|| bad(format!("bad time `{time}`")))?;
    let user_id: i64 = parse_u(user, "userid")?;
    if let Some(path) = req.strip_prefix("GET /data/m/") {
        let (movie, file) = path
            .rsplit_once('/')
            .ok_or_else(|| bad("expected `/data/m/<movieid>/<minute>.mpg`"))?;
        let minute = file
            .strip_suffix(".mpg")
            .ok_or_else(|| bad("expected `<minute>.mpg`"))?;
        if movie.is_empty() {
            return Err(bad("empty movie id"));
        }
        return Ok(Event::Watch(Watch {
            ts,
            user_id,
            movie_id: movie.to_owned(),
            minute: parse_u(minute, "minute")?,
        }));
    }
    if let Some(path) = req.strip_prefix("GET /rate/") {
        let (movie, rating) = path
            .rsplit_once('=')
            .ok_or_else(|| bad("expected `/rate/<movieid>=<rating>`"))?;
        if movie.is_empty() {
            return Err(bad("empty movie id"));
        }
        let rating: f32 = rating
            .parse()
            .map_err(|_| bad(format!("rating: expected a number, got `{rating}`")))?;
        return Ok(Event::Rate(Rate {
            ts,
            user_id,
            movie_id: movie.to_owned(),
            rating,
        }));
    }
    if let Some(body) = req.strip_prefix("recommendation request ") {
        let (server, after) = body
            .split_once(", status ")
            .ok_or_else(|| bad("expected `, status <code>`"))?;
        let (code, after) = after
            .split_once(", result: ")
            .ok_or_else(|| bad("expected `, result: <ids>`"))?;
        let status: u16 = parse_u(code, "status")?;
        let after = after
            .strip_suffix(" ms")
            .ok_or_else(|| bad("expected `, <ms> ms` at the end"))?;
        let (result, ms) = match after.rsplit_once(", ") {
            Some((r, ms)) => (r, ms),
            None => ("", after),
        };
        let latency_ms: f64 = ms
            .parse()
            .map_err(|_| bad(format!("latency: expected a number, got `{ms}`")))?;
        let movie_ids: Vec<MovieId> = if status == 200 && !result.is_empty() {
            result.split(", ").map(str::to_owned).collect()
        } else {
            Vec::new()
        };
        return Ok(Event::RecoResponse(RecoResponse {
            ts,
            request_id: format!("log-{}-{user_id}", ts.0),
            user_id,
            status,
            latency_ms,
            k: movie_ids.len() as u32,
            movie_ids,
            model_name: None,
            model_version: None,
            variant: None,
            git_sha: None,
            data_snapshot_id: None,
            server: Some(server.to_owned()),
        }));
    }
    Err(bad(
        "unknown request, expected `GET /data/m/..`, `GET /rate/..` or `recommendation request ..`",
    ))
}

/// Formats an event as a course log line; `None` for events that have no log-line form
/// (`reco_request`, or a `reco_response` without `server`).
///
/// ```
/// use recs::stream::{format_log_line, parse_log_line};
/// let line = "2024-02-01T12:34:56.250,42,GET /rate/the+matrix+1999=4";
/// assert_eq!(format_log_line(&parse_log_line(line)?).as_deref(), Some(line));
/// # Ok::<(), recs::stream::ParseError>(())
/// ```
pub fn format_log_line(e: &Event) -> Option<String> {
    use std::fmt::Write;
    let mut s = String::with_capacity(96);
    e.ts().write_plain(&mut s).ok()?;
    write!(s, ",{},", e.user_id()).ok()?;
    match e {
        Event::Watch(w) => write!(s, "GET /data/m/{}/{}.mpg", w.movie_id, w.minute).ok()?,
        Event::Rate(r) => write!(s, "GET /rate/{}={}", r.movie_id, r.rating).ok()?,
        Event::RecoRequest(_) => return None,
        Event::RecoResponse(r) => {
            let server = r.server.as_deref()?;
            write!(
                s,
                "recommendation request {server}, status {}, result: ",
                r.status
            )
            .ok()?;
            s.push_str(&r.movie_ids.join(", "));
            write!(s, ", {} ms", r.latency_ms).ok()?;
        }
    }
    Some(s)
}

/// Parses one input line of either form: JSON when it starts with `{` (after blanks), a course
/// log line otherwise.
///
/// # Errors
/// See [`parse_json`] and [`parse_log_line`]; [`ParseError::Utf8`] for a non-UTF-8 log line.
pub fn parse_line(bytes: &[u8]) -> Result<Event, ParseError> {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    if bytes.get(start) == Some(&b'{') {
        parse_json(&bytes[start..])
    } else {
        let s = std::str::from_utf8(bytes).map_err(|_| ParseError::Utf8)?;
        parse_log_line(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn course_examples() {
        let e = parse_log_line(
            "2022-02-17T08:10:18.577,178036,recommendation request 17645-team20.isri.cmu.edu:8082, status 200, result: 2001+a+space+odyssey+1968, the+matrix+1999, 12, 135 ms",
        )
        .unwrap();
        let Event::RecoResponse(r) = e else { panic!() };
        assert_eq!(r.status, 200);
        assert_eq!(
            r.movie_ids,
            ["2001+a+space+odyssey+1968", "the+matrix+1999", "12"]
        );
        assert_eq!(r.k, 3);
        assert_eq!(r.latency_ms, 135.0);
        assert_eq!(r.server.as_deref(), Some("17645-team20.isri.cmu.edu:8082"));
        assert_eq!(r.request_id, format!("log-{}-178036", r.ts.0));
        let e = parse_log_line("2022-02-17T08:10:18,1,recommendation request s:1, status 500, result: java.net.ConnectException: Connection refused, 3 ms").unwrap();
        let Event::RecoResponse(r) = e else { panic!() };
        assert!(r.movie_ids.is_empty());
        assert_eq!(r.status, 500);
    }

    #[test]
    fn rejects_with_reasons() {
        for (line, needle) in [
            ("", "expected"),
            ("2022-02-17T08:10:18,x,GET /rate/a=4", "userid"),
            ("2022-02-30T08:10:18,1,GET /rate/a=4", "bad time"),
            ("2022-02-17T08:10:18,1,GET /rate/a=four", "rating"),
            ("2022-02-17T08:10:18,1,GET /data/m/a/x.mpg", "minute"),
            ("2022-02-17T08:10:18,1,GET /data/m//3.mpg", "empty movie"),
            ("2022-02-17T08:10:18,1,POST /x", "unknown request"),
        ] {
            let e = parse_log_line(line).unwrap_err().to_string();
            assert!(e.contains(needle), "{line}: {e}");
        }
    }

    #[test]
    fn json_field_checks() {
        let ok = br#"{"type":"watch","v":1,"ts":1700000000,"user_id":1,"movie_id":12,"minute":3}"#;
        assert!(matches!(parse_json(ok), Ok(Event::Watch(w)) if w.movie_id == "12"));
        for (j, needle) in [
            (
                r#"{"type":"watch","ts":1,"user_id":1,"movie_id":"a"}"#,
                "missing field `minute`",
            ),
            (
                r#"{"type":"watch","ts":1,"user_id":1,"movie_id":"a","minute":1,"rating":3}"#,
                "unexpected field `rating`",
            ),
            (
                r#"{"type":"rate","ts":1,"user_id":1,"movie_id":"a","rating":3,"v":2}"#,
                "schema version",
            ),
            (
                r#"{"type":"rate","ts":1,"user_id":1,"movie_id":"a","rating":3,"zzz":2}"#,
                "unknown field",
            ),
            (r#"{"type":"click","ts":1,"user_id":1}"#, "unknown type"),
            (
                r#"{"type":"rate","ts":1,"user_id":"u","movie_id":"a","rating":3}"#,
                "invalid type",
            ),
            (
                r#"{"type":"reco_request","ts":1,"user_id":1,"request_id":"r","k":3,"status":200}"#,
                "unexpected field `status`",
            ),
            (r#"{"type":"rate""#, "EOF"),
        ] {
            let e = parse_json(j.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(needle), "{j}: {e}");
        }
    }

    #[test]
    fn parse_line_dispatches() {
        assert!(matches!(
            parse_line(
                b"  {\"type\":\"rate\",\"ts\":1,\"user_id\":1,\"movie_id\":\"a\",\"rating\":3}"
            ),
            Ok(Event::Rate(_))
        ));
        assert!(matches!(
            parse_line(b"2022-02-17T08:10:18,1,GET /rate/a=4\r\n"),
            Ok(Event::Rate(_))
        ));
        assert_eq!(parse_line(b"\xff\xfe"), Err(ParseError::Utf8));
    }
}
