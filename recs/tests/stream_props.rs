//! Property tests of the stream parsers: JSON round trip, log-line format/parse round trip,
//! and no panic on arbitrary input.

use proptest::prelude::*;
use recs::stream::{
    format_log_line, parse_json, parse_line, parse_log_line, Event, Rate, RecoRequest,
    RecoResponse, Ts, Watch,
};

/// Milliseconds within years 1970–2200.
fn ts() -> impl Strategy<Value = Ts> {
    (0i64..7_258_118_400_000).prop_map(Ts)
}

fn slug() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9+]{0,24}"
}

fn opt_str() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[ -~]{1,12}")
}

fn any_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (ts(), 0i64..i64::MAX, "\\PC{1,20}", any::<u32>()).prop_map(
            |(ts, user_id, movie_id, minute)| {
                Event::Watch(Watch {
                    ts,
                    user_id,
                    movie_id,
                    minute,
                })
            }
        ),
        (
            ts(),
            any::<i64>(),
            "\\PC{1,20}",
            any::<f32>().prop_filter("finite", |r| r.is_finite())
        )
            .prop_map(|(ts, user_id, movie_id, rating)| Event::Rate(Rate {
                ts,
                user_id,
                movie_id,
                rating
            })),
        (ts(), "\\PC{0,20}", any::<i64>(), any::<u32>()).prop_map(
            |(ts, request_id, user_id, k)| {
                Event::RecoRequest(RecoRequest {
                    ts,
                    request_id,
                    user_id,
                    k,
                })
            }
        ),
        (
            (
                ts(),
                "\\PC{0,20}",
                any::<i64>(),
                any::<u16>(),
                0.0f64..1e6,
                any::<u32>()
            ),
            proptest::collection::vec("\\PC{0,8}", 0..5),
            (
                opt_str(),
                opt_str(),
                opt_str(),
                opt_str(),
                opt_str(),
                opt_str()
            ),
        )
            .prop_map(
                |((ts, request_id, user_id, status, latency_ms, k), movie_ids, o)| {
                    Event::RecoResponse(RecoResponse {
                        ts,
                        request_id,
                        user_id,
                        status,
                        latency_ms,
                        k,
                        movie_ids,
                        model_name: o.0,
                        model_version: o.1,
                        variant: o.2,
                        git_sha: o.3,
                        data_snapshot_id: o.4,
                        server: o.5,
                    })
                }
            ),
    ]
}

/// Events that have a log-line form.
fn log_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (ts(), 0i64..i64::MAX, slug(), any::<u32>()).prop_map(|(ts, user_id, movie_id, minute)| {
            Event::Watch(Watch {
                ts,
                user_id,
                movie_id,
                minute,
            })
        }),
        (ts(), 0i64..i64::MAX, slug(), (0u32..=50)).prop_map(|(ts, user_id, movie_id, r)| {
            Event::Rate(Rate {
                ts,
                user_id,
                movie_id,
                rating: r as f32 / 10.0,
            })
        }),
        (
            ts(),
            0i64..1_000_000_000,
            "[a-z0-9.:-]{1,30}",
            proptest::collection::vec(slug(), 1..8),
            0u32..100_000
        )
            .prop_map(|(ts, user_id, server, movie_ids, ms)| {
                Event::RecoResponse(RecoResponse {
                    ts,
                    request_id: format!("log-{}-{user_id}", ts.0),
                    user_id,
                    status: 200,
                    latency_ms: f64::from(ms) / 4.0,
                    k: movie_ids.len() as u32,
                    movie_ids,
                    model_name: None,
                    model_version: None,
                    variant: None,
                    git_sha: None,
                    data_snapshot_id: None,
                    server: Some(server),
                })
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn json_roundtrip(e in any_event()) {
        let json = serde_json::to_string(&e).unwrap();
        prop_assert_eq!(parse_json(json.as_bytes()).unwrap(), e.clone());
        prop_assert_eq!(parse_line(json.as_bytes()).unwrap(), e);
    }

    #[test]
    fn log_line_roundtrip(e in log_event()) {
        let line = format_log_line(&e).unwrap();
        prop_assert_eq!(parse_log_line(&line).unwrap(), e.clone());
        let again = format_log_line(&parse_line(line.as_bytes()).unwrap()).unwrap();
        prop_assert_eq!(again, line);
    }

    #[test]
    fn ts_text_roundtrip(t in ts()) {
        prop_assert_eq!(Ts::parse(&t.to_string()), Some(t));
    }

    #[test]
    fn never_panics_on_strings(s in "\\PC{0,200}") {
        let _ = parse_log_line(&s);
        let _ = parse_line(s.as_bytes());
        let _ = Ts::parse(&s);
    }

    #[test]
    fn never_panics_on_bytes(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_line(&b);
        let _ = parse_json(&b);
    }

    #[test]
    fn never_panics_on_near_misses(
        prefix in prop_oneof![
            Just("2024-02-01T12:34:56,1,GET /data/m/"),
            Just("2024-02-01T12:34:56,1,GET /rate/"),
            Just("2024-02-01T12:34:56,1,recommendation request "),
            Just("2024-02-31T25:61:61.,"),
            Just("{\"type\":\"reco_response\",\"ts\":"),
        ],
        tail in "[ -~]{0,80}",
    ) {
        let s = format!("{prefix}{tail}");
        let _ = parse_line(s.as_bytes());
    }
}
