//! The online KPI: how often recommendations are watched soon after they are served, per model
//! version and variant.
//!
//! One attribution rule ([`watch_attributed`]: a watch counts for an answer served at or before
//! it, at most the window earlier) and one default window ([`KPI_DEFAULT_WINDOW_SECS`]) serve
//! three callers: [`online_kpi`] over a logged event stream (offline), [`WatchAttribution`]
//! incrementally as answers and watches arrive (`recs serve`'s `recs_online_*` metrics), and
//! the A/B experiment tracker (with an unbounded window, `f64::INFINITY`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use super::event::Event;

/// Default attribution window of the KPI: one hour.
pub const KPI_DEFAULT_WINDOW_SECS: f64 = 3600.0;

/// The attribution rule: a watch at `watched_at` counts for an answer served at `served_at`
/// when `served_at <= watched_at <= served_at + window_secs` (any one time unit; the server
/// uses unix seconds, the event log milliseconds). A window of `f64::INFINITY` attributes every
/// later watch (the experiment tracker's rule).
///
/// ```
/// use recs::stream::watch_attributed;
/// assert!(watch_attributed(100.0, 100.0, 60.0)); // same instant: counted
/// assert!(watch_attributed(100.0, 160.0, 60.0)); // window end: counted
/// assert!(!watch_attributed(100.0, 160.5, 60.0));
/// assert!(!watch_attributed(100.0, 99.0, f64::INFINITY)); // before the answer
/// ```
pub fn watch_attributed(served_at: f64, watched_at: f64, window_secs: f64) -> bool {
    served_at <= watched_at && watched_at <= served_at + window_secs
}

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
/// recommended movie counts as watched when a watch event has `resp.ts <= watch.ts <=
/// resp.ts + window_ms` ([`watch_attributed`]; before the rule was shared, a watch in the same
/// millisecond as the response was not counted). Failed responses (status ≠ 200) and empty lists are not counted.
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
    // Millisecond times up to 2^53 are exact in f64.
    let watched_in = |user: i64, movie: &str, from: i64| -> bool {
        watches.get(&(user, movie)).is_some_and(|ts| {
            // The first watch at or after the answer is the one the window can hold.
            let i = ts.partition_point(|&t| t < from);
            ts.get(i)
                .is_some_and(|&t| watch_attributed(from as f64, t as f64, window_ms as f64))
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

/// An answer waiting for a watch.
#[derive(Debug, Clone)]
struct Pending<A> {
    served: f64,
    arm: A,
    items: Vec<i64>,
    watched: bool,
}

/// Answers and answers watched of one arm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpiCounts {
    /// Non-empty answers served.
    pub answers: u64,
    /// Answers watched within the window (each at most once).
    pub watched: u64,
}

impl KpiCounts {
    /// `watched / answers`; 0 before any answer.
    pub fn rate(&self) -> f64 {
        if self.answers > 0 {
            self.watched as f64 / self.answers as f64
        } else {
            0.0
        }
    }
}

/// The KPI computed as answers and watches arrive: the share of answers watched within the
/// window ([`watch_attributed`]), per arm `A` (for example a model version and variant).
/// [`served`](Self::served) records each non-empty answer; [`watched`](Self::watched) joins a
/// watch with the same user's pending answers that list the movie. An answer counts as watched
/// once, however many of its movies are watched; this is the `conversion` of [`online_kpi`]
/// over the same events.
///
/// Memory is bounded: at most `capacity` answers wait for a watch (the oldest is evicted
/// first), and answers older than the window are dropped as the clock passes them. An evicted
/// answer keeps its count in the denominator but can no longer be matched. Not synchronised:
/// share it behind a lock.
///
/// ```
/// use recs::stream::WatchAttribution;
/// let mut kpi = WatchAttribution::new(600.0, 1000);
/// kpi.served("A", 7, &[10, 11], 1000.0);
/// kpi.served("A", 8, &[10], 1000.0);
/// assert_eq!(kpi.watched(7, 11, 1100.0, 1100.0), vec!["A"]);
/// assert!(kpi.watched(7, 10, 1200.0, 1200.0).is_empty()); // that answer already counted
/// assert!(kpi.watched(8, 10, 1700.0, 1700.0).is_empty()); // after the window
/// assert_eq!(kpi.counts(&"A").map(|c| c.rate()), Some(0.5));
/// ```
#[derive(Debug, Clone)]
pub struct WatchAttribution<A> {
    window_secs: f64,
    capacity: usize,
    /// Per user, their pending answers, oldest first.
    users: HashMap<i64, VecDeque<Pending<A>>>,
    /// Every pending answer's (served at, user), oldest first: eviction order.
    order: VecDeque<(f64, i64)>,
    counts: HashMap<A, KpiCounts>,
}

impl<A: Clone + Eq + Hash> WatchAttribution<A> {
    /// A KPI with a window of `window_secs`, remembering at most `capacity` answers (at least
    /// 1).
    pub fn new(window_secs: f64, capacity: usize) -> Self {
        WatchAttribution {
            window_secs,
            capacity: capacity.max(1),
            users: HashMap::new(),
            order: VecDeque::new(),
            counts: HashMap::new(),
        }
    }

    /// The attribution window.
    pub fn window_secs(&self) -> f64 {
        self.window_secs
    }

    fn pop_oldest(&mut self) {
        if let Some((_, user)) = self.order.pop_front() {
            if let Some(q) = self.users.get_mut(&user) {
                q.pop_front();
                if q.is_empty() {
                    self.users.remove(&user);
                }
            }
        }
    }

    /// Drops answers that no watch at or after `now` can match any more.
    fn expire(&mut self, now: f64) {
        while self
            .order
            .front()
            .is_some_and(|&(served, _)| served + self.window_secs < now)
        {
            self.pop_oldest();
        }
    }

    /// Records an answer of `arm` to `user` listing `items`, served at `at`; returns whether
    /// it was counted (empty answers are not).
    pub fn served(&mut self, arm: A, user: i64, items: &[i64], at: f64) -> bool {
        if items.is_empty() {
            return false;
        }
        self.expire(at);
        while self.order.len() >= self.capacity {
            self.pop_oldest();
        }
        self.order.push_back((at, user));
        self.users.entry(user).or_default().push_back(Pending {
            served: at,
            arm: arm.clone(),
            items: items.to_vec(),
            watched: false,
        });
        self.counts.entry(arm).or_default().answers += 1;
        true
    }

    /// Joins a watch of `movie` by `user` at `at` with the user's pending answers that list
    /// the movie, were not watched yet and [attribute](watch_attributed) it; returns the arms
    /// of the answers it matched. `now` is the clock: answers too old for a watch at `now`
    /// are dropped first (pass `at.min(wall clock)` when event times may lag).
    pub fn watched(&mut self, user: i64, movie: i64, at: f64, now: f64) -> Vec<A> {
        self.expire(now);
        let window = self.window_secs;
        let Some(q) = self.users.get_mut(&user) else {
            return Vec::new();
        };
        let mut hit = Vec::new();
        for p in q.iter_mut() {
            if !p.watched && watch_attributed(p.served, at, window) && p.items.contains(&movie) {
                p.watched = true;
                hit.push(p.arm.clone());
            }
        }
        for arm in &hit {
            self.counts.entry(arm.clone()).or_default().watched += 1;
        }
        hit
    }

    /// Counts of `arm` (`None` before its first answer).
    pub fn counts(&self, arm: &A) -> Option<KpiCounts> {
        self.counts.get(arm).copied()
    }

    /// Counts of every arm seen.
    pub fn all_counts(&self) -> impl Iterator<Item = (&A, &KpiCounts)> {
        self.counts.iter()
    }

    /// Answers waiting for a watch.
    pub fn pending(&self) -> usize {
        self.order.len()
    }
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

    #[test]
    fn a_watch_in_the_same_instant_counts() {
        let ev = vec![resp(100, 1, &["a"], "v1", 200), watch(100, 1, "a")];
        assert_eq!(online_kpi(&ev, 10)[0].converted, 1);
    }

    #[test]
    fn attribution_is_bounded_and_counts_each_answer_once() {
        let mut k = WatchAttribution::new(1e9, 3);
        for u in 0..5 {
            k.served("A", u, &[1], 0.0);
        }
        assert_eq!(k.pending(), 3);
        // Users 0 and 1 were evicted: their watches no longer match, but still count.
        assert!(k.watched(0, 1, 1.0, 1.0).is_empty());
        assert_eq!(k.watched(4, 1, 1.0, 1.0), vec!["A"]);
        assert!(k.watched(4, 1, 2.0, 2.0).is_empty());
        assert_eq!(
            k.counts(&"A"),
            Some(KpiCounts {
                answers: 5,
                watched: 1
            })
        );
        assert!(!k.served("A", 9, &[], 3.0));
    }

    proptest::proptest! {
        /// The incremental KPI and the offline one agree on the conversion of any event log
        /// replayed in time order (capacity large enough to keep every answer).
        #[test]
        fn incremental_matches_offline(
            log in proptest::collection::vec((0i64..3, 0i64..4, 0i64..50, proptest::bool::ANY), 1..60),
            window in 0i64..20,
        ) {
            let mut ev = Vec::new();
            for (n, &(user, movie, ts, is_resp)) in log.iter().enumerate() {
                let m = movie.to_string();
                ev.push(if is_resp {
                    let mut r = resp(ts, user, &[m.as_str()], "v", 200);
                    if let Event::RecoResponse(r) = &mut r {
                        r.request_id = n.to_string();
                    }
                    r
                } else {
                    watch(ts, user, &m)
                });
            }
            // Replay by time; at equal times answers first (a watch at the same instant counts).
            let mut order: Vec<&Event> = ev.iter().collect();
            order.sort_by_key(|e| match e {
                Event::RecoResponse(r) => (r.ts.0, 0),
                Event::Watch(w) => (w.ts.0, 1),
                _ => (0, 2),
            });
            let mut inc = WatchAttribution::new(window as f64, 10_000);
            for e in order {
                match e {
                    Event::RecoResponse(r) => {
                        let items: Vec<i64> = r.movie_ids.iter().filter_map(|m| m.parse().ok()).collect();
                        inc.served("v", r.user_id, &items, r.ts.0 as f64);
                    }
                    Event::Watch(w) => {
                        let t = w.ts.0 as f64;
                        inc.watched(w.user_id, w.movie_id.parse().unwrap_or(-1), t, t);
                    }
                    _ => {}
                }
            }
            let offline = online_kpi(&ev, window);
            let answers = inc.counts(&"v").map_or(0, |c| c.answers);
            proptest::prop_assert_eq!(offline.first().map_or(0, |r| r.responses), answers);
            // Offline counts a response converted when any watch falls in its window; the
            // incremental join credits each watch to every matching pending answer, so the
            // counts agree.
            proptest::prop_assert_eq!(
                offline.first().map_or(0, |r| r.converted),
                inc.counts(&"v").map_or(0, |c| c.watched)
            );
        }
    }
}
