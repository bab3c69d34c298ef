//! The online KPI: how often recommendations are watched soon after they are served, per model
//! version and variant.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::event::Event;

/// KPI of one (model version, variant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiRow {
    /// `model_version` of the responses (`"unknown"` when absent).
    pub model_version: String,
    /// `variant` of the responses (`"unknown"` when absent).
    pub variant: String,
    /// Successful responses (status 200, at least one movie).
    pub responses: u64,
    /// Responses after which the user watched at least one recommended movie within the window.
    pub converted: u64,
    /// Recommended movies over all responses.
    pub recommended: u64,
    /// Recommended movies the user watched within the window.
    pub watched: u64,
    /// `converted / responses`: the share of recommendations (lists) watched.
    pub conversion: f64,
    /// `watched / recommended`: the share of recommended movies watched.
    pub item_share: f64,
}

/// Joins `reco_response` events with later `watch` events of the same user and movie: a
/// recommended movie counts as watched when a watch event has `resp.ts < watch.ts <=
/// resp.ts + window_ms`. Failed responses (status ≠ 200) and empty lists are not counted.
/// Rows are sorted by (model version, variant). A pure function of the events, in any order.
///
/// ```
/// use recs::stream::{online_kpi, parse_json};
/// let ev = [
///   r#"{"type":"reco_response","ts":100,"request_id":"a","user_id":1,"status":200,"latency_ms":3,"k":2,"movie_ids":["m1","m2"],"model_version":"v2","variant":"B"}"#,
///   r#"{"type":"watch","ts":160,"user_id":1,"movie_id":"m2","minute":0}"#,
///   r#"{"type":"watch","ts":99999,"user_id":1,"movie_id":"m1","minute":0}"#,
/// ].map(|j| parse_json(j.as_bytes()).unwrap());
/// let rows = online_kpi(&ev, 3_600_000);
/// assert_eq!((rows[0].responses, rows[0].converted, rows[0].watched), (1, 1, 1));
/// assert_eq!(rows[0].item_share, 0.5);
/// ```
pub fn online_kpi(events: &[Event], window_ms: i64) -> Vec<KpiRow> {
    let mut watches: HashMap<(i64, &str), Vec<i64>> = HashMap::new();
    for e in events {
        if let Event::Watch(w) = e {
            watches
                .entry((w.user_id, w.movie_id.as_str()))
                .or_default()
                .push(w.ts.0);
        }
    }
    for v in watches.values_mut() {
        v.sort_unstable();
    }
    let watched_in = |user: i64, movie: &str, from: i64| -> bool {
        watches.get(&(user, movie)).is_some_and(|ts| {
            let i = ts.partition_point(|&t| t <= from);
            ts.get(i)
                .is_some_and(|&t| t <= from.saturating_add(window_ms))
        })
    };
    let mut rows: BTreeMap<(String, String), KpiRow> = BTreeMap::new();
    for e in events {
        let Event::RecoResponse(r) = e else { continue };
        if r.status != 200 || r.movie_ids.is_empty() {
            continue;
        }
        let version = r.model_version.clone().unwrap_or_else(|| "unknown".into());
        let variant = r.variant.clone().unwrap_or_else(|| "unknown".into());
        let row = rows
            .entry((version.clone(), variant.clone()))
            .or_insert_with(|| KpiRow {
                model_version: version,
                variant,
                responses: 0,
                converted: 0,
                recommended: 0,
                watched: 0,
                conversion: 0.0,
                item_share: 0.0,
            });
        let hits = r
            .movie_ids
            .iter()
            .filter(|m| watched_in(r.user_id, m, r.ts.0))
            .count() as u64;
        row.responses += 1;
        row.recommended += r.movie_ids.len() as u64;
        row.watched += hits;
        row.converted += u64::from(hits > 0);
    }
    rows.into_values()
        .map(|mut r| {
            r.conversion = r.converted as f64 / r.responses as f64;
            r.item_share = r.watched as f64 / r.recommended as f64;
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{RecoResponse, Ts, Watch};

    fn resp(ts: i64, user: i64, ids: &[&str], version: &str, status: u16) -> Event {
        Event::RecoResponse(RecoResponse {
            ts: Ts(ts),
            request_id: format!("{ts}"),
            user_id: user,
            status,
            latency_ms: 1.0,
            k: ids.len() as u32,
            movie_ids: ids.iter().map(|s| s.to_string()).collect(),
            model_name: None,
            model_version: Some(version.into()),
            variant: None,
            git_sha: None,
            data_snapshot_id: None,
            server: None,
        })
    }
    fn watch(ts: i64, user: i64, m: &str) -> Event {
        Event::Watch(Watch {
            ts: Ts(ts),
            user_id: user,
            movie_id: m.into(),
            minute: 0,
        })
    }

    #[test]
    fn window_user_and_version_are_respected() {
        let ev = vec![
            watch(50, 1, "a"), // before the response: not counted
            resp(100, 1, &["a", "b"], "v1", 200),
            watch(200, 2, "a"),  // other user
            watch(1100, 1, "b"), // exactly at the window end: counted
            resp(100, 3, &["c"], "v2", 200),
            watch(1101, 3, "c"),             // just past the window
            resp(100, 4, &["d"], "v2", 503), // failed: ignored
            watch(150, 4, "d"),
        ];
        let rows = online_kpi(&ev, 1000);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].model_version, "v1");
        assert_eq!(
            (
                rows[0].responses,
                rows[0].converted,
                rows[0].recommended,
                rows[0].watched
            ),
            (1, 1, 2, 1)
        );
        assert_eq!(
            (rows[1].responses, rows[1].converted, rows[1].watched),
            (1, 0, 0)
        );
        assert_eq!(rows[1].conversion, 0.0);
        // Order of events does not matter.
        let mut rev = ev.clone();
        rev.reverse();
        assert_eq!(online_kpi(&rev, 1000), rows);
    }
}
