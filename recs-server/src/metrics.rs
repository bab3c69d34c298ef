//! Prometheus metrics (prometheus-client), exposed at `GET /metrics` in the OpenMetrics text
//! format, which Prometheus scrapes natively.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `recs_http_requests_total` | counter | `endpoint`, `status` |
//! | `recs_http_request_duration_seconds` | histogram | `endpoint` |
//! | `recs_http_requests_in_flight` | gauge | |
//! | `recs_recommend_duration_seconds` | histogram (scoring only) | `model_version`, `variant` |
//! | `recs_recommendations_total` | counter | `model_version`, `variant`, `cold_start` |
//! | `recs_model_switches_total` | counter | `result` (`ok`, `failed`, `conflict`) |
//! | `recs_model_info` | gauge (1 per served version) | `model_version`, `model_name`, `variant` |
//! | `recs_model_ready` | gauge (0/1) | |
//! | `recs_rollout_mode` | gauge (1 for the active mode) | `mode` |
//! | `recs_rollout_split_percent` | gauge | |
//! | `recs_rollout_generation` | gauge | |
//! | `recs_watch_events_total` | counter | `attributed` |
//! | `recs_shadow_overlap_ratio` | histogram | |
//! | `recs_shadow_errors_total` | counter | |
//! | `recs_registry_polls_total` | counter | `result` |
//! | `recs_online_recommendations_total` | counter (non-empty answers) | `model_version`, `variant` |
//! | `recs_online_watched_total` | counter (answers watched within the window) | `model_version`, `variant` |
//! | `recs_online_watch_rate` | gauge (`watched / recommendations`) | `model_version`, `variant` |
//! | `recs_http_connections_refused_total` | counter (answered 503 at accept, see [`crate::conn`]) | `reason` (`per_ip`, `overload`) |
//!
//! The three `recs_online_*` metrics are the online KPI of [`OnlineKpi`]. Build, uptime, SLO,
//! deployment and drift gauges are listed in [`crate::slo`].
//!
//! Latency histograms use sub-millisecond buckets (from 50 µs) because a popularity or ALS
//! answer is well under a millisecond.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use recs::stream::WatchAttribution;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use crate::rollout::Rollout;

/// Latency buckets in seconds: 50 µs … 5 s.
pub const LATENCY_BUCKETS: [f64; 17] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

fn ratio_histogram() -> Histogram {
    Histogram::new([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
}

/// Labels of the HTTP request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// Route name (a fixed set, never the raw path).
    pub endpoint: &'static str,
    /// HTTP status code.
    pub status: u16,
}

/// Labels with only the endpoint.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// Route name.
    pub endpoint: &'static str,
}

/// Labels per served model version and variant.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    /// Model version (registry version id).
    pub model_version: String,
    /// Variant label (`fixed`, `stable`, `canary`, `A`, `B`, `primary`, `override`).
    pub variant: &'static str,
}

/// Labels of the recommendation counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RecLabels {
    /// Model version.
    pub model_version: String,
    /// Variant label.
    pub variant: &'static str,
    /// `true` when the popularity cold-start answer was used.
    pub cold_start: bool,
}

/// Labels of the model info gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InfoLabels {
    /// Model version.
    pub model_version: String,
    /// Model name (kind).
    pub model_name: String,
    /// Variant label.
    pub variant: &'static str,
}

/// A single `result` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// Outcome name.
    pub result: &'static str,
}

/// A single `reason` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why (a fixed set of names).
    pub reason: &'static str,
}

/// A single `mode` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModeLabels {
    /// Rollout mode.
    pub mode: &'static str,
}

/// A single `attributed` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttributedLabels {
    /// Whether the watch event matched an earlier recommendation.
    pub attributed: bool,
}

type HistFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// All server metrics and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by endpoint and status.
    pub http_requests: Family<HttpLabels, Counter>,
    /// Whole-request latency by endpoint.
    pub http_duration: HistFamily<EndpointLabels>,
    /// Requests being handled.
    pub in_flight: Gauge,
    /// Scoring latency by version and variant.
    pub recommend_duration: HistFamily<ModelLabels>,
    /// Recommendation answers by version, variant and cold start.
    pub recommendations: Family<RecLabels, Counter>,
    /// Model switches and rollout changes by outcome.
    pub model_switches: Family<ResultLabels, Counter>,
    /// 1 for each served (version, variant).
    pub model_info: Family<InfoLabels, Gauge>,
    /// 1 when a model is loaded.
    pub ready: Gauge,
    /// 1 for the active rollout mode, 0 for the others.
    pub rollout_mode: Family<ModeLabels, Gauge>,
    /// Split percentage of canary / A/B rollouts (0 otherwise).
    pub rollout_split: Gauge<f64, AtomicU64>,
    /// Increases on every deployment change.
    pub rollout_generation: Gauge,
    /// Watch events received.
    pub watch_events: Family<AttributedLabels, Counter>,
    /// Overlap@k between primary and shadow answers.
    pub shadow_overlap: Histogram,
    /// Shadow scoring failures.
    pub shadow_errors: Counter,
    /// Registry polls by outcome.
    pub registry_polls: Family<ResultLabels, Counter>,
    /// Connections refused at accept, by [`crate::conn::Refusal::reason`].
    pub connections_refused: Family<ReasonLabels, Counter>,
    /// The online KPI (`recs_online_*`).
    pub online: OnlineKpi,
    /// Build, uptime, SLO, deployment and drift gauges ([`crate::slo`]).
    pub ops: crate::slo::OpsMetrics,
    /// The exposure log's counters (`recs_exposure_*`, see [`crate::exposure`]).
    pub exposure: crate::exposure::ExposureMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric under the `recs_` prefix, with the online KPI's
    /// defaults (a one-hour window, 100 000 pending answers).
    pub fn new() -> Self {
        Self::with_online_kpi(OnlineKpi::new(
            recs::stream::KPI_DEFAULT_WINDOW_SECS,
            100_000,
        ))
    }

    /// As [`Metrics::new`], with the given online KPI.
    pub fn with_online_kpi(online: OnlineKpi) -> Self {
        let mut registry = Registry::with_prefix("recs");
        let m = Metrics {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            in_flight: Gauge::default(),
            recommend_duration: Family::new_with_constructor(latency_histogram),
            recommendations: Family::default(),
            model_switches: Family::default(),
            model_info: Family::default(),
            ready: Gauge::default(),
            rollout_mode: Family::default(),
            rollout_split: Gauge::default(),
            rollout_generation: Gauge::default(),
            watch_events: Family::default(),
            shadow_overlap: ratio_histogram(),
            shadow_errors: Counter::default(),
            registry_polls: Family::default(),
            connections_refused: Family::default(),
            online,
            ops: crate::slo::OpsMetrics::default(),
            exposure: crate::exposure::ExposureMetrics::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "http_requests",
            "HTTP requests by endpoint and status code",
            m.http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "HTTP request latency in seconds, by endpoint",
            m.http_duration.clone(),
        );
        r.register(
            "http_requests_in_flight",
            "HTTP requests being handled",
            m.in_flight.clone(),
        );
        r.register(
            "recommend_duration_seconds",
            "Scoring latency of /recommend in seconds, by model version and variant",
            m.recommend_duration.clone(),
        );
        r.register(
            "recommendations",
            "Recommendation answers by model version, variant and cold start",
            m.recommendations.clone(),
        );
        r.register(
            "model_switches",
            "Model switches and rollout changes by outcome",
            m.model_switches.clone(),
        );
        r.register(
            "model_info",
            "Served model versions (value 1) by variant",
            m.model_info.clone(),
        );
        r.register(
            "model_ready",
            "1 when a model is loaded and requests are served",
            m.ready.clone(),
        );
        r.register(
            "rollout_mode",
            "1 for the active rollout mode, 0 for the others",
            m.rollout_mode.clone(),
        );
        r.register(
            "rollout_split_percent",
            "Share of users on the canary or B variant, in percent",
            m.rollout_split.clone(),
        );
        r.register(
            "rollout_generation",
            "Deployment generation, increased on every switch or rollout change",
            m.rollout_generation.clone(),
        );
        r.register(
            "watch_events",
            "Watch events received, by whether they match an earlier recommendation",
            m.watch_events.clone(),
        );
        r.register(
            "shadow_overlap_ratio",
            "Share of the primary's recommendations also returned by the shadow model",
            m.shadow_overlap.clone(),
        );
        r.register(
            "shadow_errors",
            "Shadow scoring failures",
            m.shadow_errors.clone(),
        );
        r.register(
            "registry_polls",
            "Polls of the registry's latest pointer, by outcome",
            m.registry_polls.clone(),
        );
        r.register(
            "http_connections_refused",
            "Connections answered 503 at accept and closed, by reason (per_ip: the per-address cap; overload: the total cap)",
            m.connections_refused.clone(),
        );
        r.register(
            "online_recommendations",
            "Non-empty recommendation answers, by model version and variant (online KPI denominator)",
            m.online.recommendations.clone(),
        );
        r.register(
            "online_watched",
            "Answers with a recommended movie watched by the user within the KPI window",
            m.online.watched.clone(),
        );
        r.register(
            "online_watch_rate",
            "Share of recommendation answers watched within the KPI window, by model version and variant",
            m.online.watch_rate.clone(),
        );
        m.ops.register(r);
        m.exposure.register(r);
        for mode in Rollout::MODES {
            m.rollout_mode.get_or_create(&ModeLabels { mode }).set(0);
        }
        // Both series exist from the start, so `rate()` and alerts see a 0 before the first
        // refusal rather than no series at all.
        for refusal in [crate::conn::Refusal::PerIp, crate::conn::Refusal::Total] {
            m.refused(refusal, 0);
        }
        Metrics { registry, ..m }
    }

    /// Counts `n` connections refused for `refusal`.
    pub fn refused(&self, refusal: crate::conn::Refusal, n: u64) {
        self.connections_refused
            .get_or_create(&ReasonLabels {
                reason: refusal.reason(),
            })
            .inc_by(n);
    }

    /// Records the rollout now in force (`None`: nothing loaded).
    pub fn set_rollout(
        &self,
        rollout: Option<&Rollout>,
        names: &[(String, String)],
        generation: u64,
    ) {
        self.ready.set(i64::from(rollout.is_some()));
        if rollout.is_some() {
            self.ops.deployed_now();
        }
        self.rollout_generation.set(generation as i64);
        for mode in Rollout::MODES {
            let on = rollout.is_some_and(|r| r.mode() == mode);
            self.rollout_mode
                .get_or_create(&ModeLabels { mode })
                .set(i64::from(on));
        }
        self.rollout_split
            .set(rollout.and_then(Rollout::split_percent).unwrap_or(0.0));
        self.model_info.clear();
        if let Some(r) = rollout {
            for (variant, version) in r.variants() {
                let model_name = names
                    .iter()
                    .find(|(v, _)| v == version)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default();
                self.model_info
                    .get_or_create(&InfoLabels {
                        model_version: version.to_string(),
                        model_name,
                        variant,
                    })
                    .set(1);
            }
            if let Rollout::Shadow { shadow, .. } = r {
                let model_name = names
                    .iter()
                    .find(|(v, _)| v == shadow)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default();
                self.model_info
                    .get_or_create(&InfoLabels {
                        model_version: shadow.clone(),
                        model_name,
                        variant: "shadow",
                    })
                    .set(1);
            }
        }
    }

    /// The OpenMetrics text exposition.
    ///
    /// # Errors
    /// Only if formatting fails (it writes to a `String`).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(8192);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// The online KPI: the share of recommendation answers watched within a window, per model
/// version and variant. [`OnlineKpi::served`] records each non-empty answer the server gives;
/// [`OnlineKpi::watched`] joins a watch event (from `POST /events` or the live event feed) with
/// the same user's answers served at most `window` seconds before it that list the movie. An
/// answer counts as watched once, however many of its movies are watched; this is the
/// `conversion` of the offline [`recs::stream::online_kpi`] over the response log. The join,
/// its window rule and its bounds are the library's [`WatchAttribution`]; this type adds the
/// Prometheus series.
///
/// Memory is bounded: at most `capacity` answers wait for a watch (the oldest is evicted
/// first), and answers older than the window are dropped as the clock passes them. An evicted
/// answer keeps its count in the denominator but can no longer be matched.
///
/// ```
/// use recs_server::metrics::{ModelLabels, OnlineKpi};
/// let kpi = OnlineKpi::new(600.0, 1000);
/// let arm = ModelLabels { model_version: "v1.0".into(), variant: "A" };
/// kpi.served(arm.clone(), 7, &[10, 11], 1000.0);
/// kpi.served(arm.clone(), 8, &[10], 1000.0);
/// assert!(kpi.watched(7, 11, 1100.0));
/// assert!(!kpi.watched(7, 10, 1200.0)); // that answer already counted
/// assert!(!kpi.watched(8, 10, 1700.0)); // after the window
/// assert_eq!(kpi.rate(&arm), Some(0.5));
/// ```
#[derive(Debug)]
pub struct OnlineKpi {
    state: Mutex<WatchAttribution<ModelLabels>>,
    /// Non-empty answers per arm.
    pub recommendations: Family<ModelLabels, Counter>,
    /// Answers watched within the window per arm.
    pub watched: Family<ModelLabels, Counter>,
    /// `watched / recommendations` per arm.
    pub watch_rate: Family<ModelLabels, Gauge<f64, AtomicU64>>,
}

impl OnlineKpi {
    /// A KPI with a window of `window_secs` seconds, remembering at most `capacity` answers
    /// (at least 1).
    pub fn new(window_secs: f64, capacity: usize) -> Self {
        OnlineKpi {
            state: Mutex::new(WatchAttribution::new(window_secs, capacity)),
            recommendations: Family::default(),
            watched: Family::default(),
            watch_rate: Family::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WatchAttribution<ModelLabels>> {
        // A poisoned lock only means another thread panicked mid-update; counts stay usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, g: &WatchAttribution<ModelLabels>, arm: &ModelLabels) {
        if let Some(counts) = g.counts(arm) {
            self.watch_rate.get_or_create(arm).set(counts.rate());
        }
    }

    /// Records an answer of `arm` to `user` listing `items`, served at `at` (unix seconds).
    /// Empty answers are not counted.
    pub fn served(&self, arm: ModelLabels, user: i64, items: &[i64], at: f64) {
        let mut g = self.lock();
        if !g.served(arm.clone(), user, items, at) {
            return;
        }
        if g.counts(&arm).is_some_and(|c| c.answers == 1) {
            // The watched series exists (at 0) from the arm's first answer, so ratios in
            // PromQL work.
            self.watched.get_or_create(&arm).inc_by(0);
        }
        self.recommendations.get_or_create(&arm).inc();
        self.publish(&g, &arm);
    }

    /// Joins a watch of `movie` by `user` at `at` (unix seconds) with the user's pending
    /// answers served in `[at - window, at]` that list the movie and were not watched yet;
    /// returns whether one matched. Answers too old for this watch are dropped first (and
    /// for any later one: event times from a lagging feed are at most the wall clock).
    pub fn watched(&self, user: i64, movie: i64, at: f64) -> bool {
        let mut g = self.lock();
        let hit = g.watched(user, movie, at, at.min(crate::unix_now()));
        for arm in &hit {
            self.watched.get_or_create(arm).inc();
            self.publish(&g, arm);
        }
        !hit.is_empty()
    }

    /// The current watch rate of `arm` (`None` before its first answer).
    pub fn rate(&self, arm: &ModelLabels) -> Option<f64> {
        self.lock().counts(arm).map(|c| c.rate())
    }

    /// Answers waiting for a watch.
    pub fn pending(&self) -> usize {
        self.lock().pending()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_registered_names() {
        let m = Metrics::new();
        m.http_requests
            .get_or_create(&HttpLabels {
                endpoint: "recommend",
                status: 200,
            })
            .inc();
        m.set_rollout(
            Some(&Rollout::Fixed {
                version: "v1".into(),
            }),
            &[("v1".into(), "popularity".into())],
            3,
        );
        let text = m.encode().expect("test value");
        assert!(text.contains("recs_http_requests_total{endpoint=\"recommend\",status=\"200\"} 1"));
        assert!(text.contains("recs_rollout_mode{mode=\"fixed\"} 1"));
        assert!(text.contains("recs_rollout_mode{mode=\"canary\"} 0"));
        assert!(text.contains("recs_model_ready 1"));
        assert!(text.contains(
            "recs_model_info{model_version=\"v1\",model_name=\"popularity\",variant=\"fixed\"} 1"
        ));
        assert!(text.ends_with("# EOF\n"));
    }

    fn arm(v: &str, variant: &'static str) -> ModelLabels {
        ModelLabels {
            model_version: v.into(),
            variant,
        }
    }

    #[test]
    fn online_kpi_joins_watches_per_arm_within_the_window() {
        let m = Metrics::with_online_kpi(OnlineKpi::new(100.0, 10));
        let k = &m.online;
        let (a, b) = (arm("v1", "A"), arm("v2", "B"));
        k.served(a.clone(), 1, &[10, 11], 1000.0);
        k.served(a.clone(), 2, &[10], 1000.0);
        k.served(a.clone(), 3, &[12], 1000.0);
        k.served(b.clone(), 4, &[10, 13], 1000.0);
        k.served(b.clone(), 5, &[], 1000.0); // empty: not counted
        assert!(k.watched(1, 10, 1050.0));
        assert!(!k.watched(1, 11, 1060.0), "one answer counts once");
        assert!(!k.watched(2, 11, 1050.0), "not recommended to user 2");
        assert!(!k.watched(3, 12, 999.0), "before it was served");
        assert!(k.watched(4, 13, 1100.0));
        assert!(!k.watched(3, 12, 1100.5), "after the window");
        assert_eq!(k.pending(), 0, "every answer is past the window now");
        assert!(!k.watched(9, 10, 1050.0), "unknown user");
        assert_eq!(k.rate(&a), Some(1.0 / 3.0));
        assert_eq!(k.rate(&b), Some(1.0));
        let text = m.encode().expect("test value");
        assert!(text
            .contains("recs_online_recommendations_total{model_version=\"v1\",variant=\"A\"} 3"));
        assert!(text.contains("recs_online_watched_total{model_version=\"v2\",variant=\"B\"} 1"));
        assert!(text.contains("recs_online_watch_rate{model_version=\"v2\",variant=\"B\"} 1.0"));
    }

    #[test]
    fn online_kpi_memory_is_bounded() {
        let k = OnlineKpi::new(1e9, 3);
        let a = arm("v1", "A");
        for user in 0..10 {
            k.served(a.clone(), user, &[1], 1000.0 + user as f64);
        }
        assert_eq!(k.pending(), 3);
        assert!(!k.watched(0, 1, 2000.0), "evicted: the oldest go first");
        assert!(k.watched(9, 1, 2000.0));
        assert_eq!(
            k.rate(&a),
            Some(0.1),
            "evicted answers stay in the denominator"
        );
    }
}
