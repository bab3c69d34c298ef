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
//!
//! Latency histograms use sub-millisecond buckets (from 50 µs) because a popularity or ALS
//! answer is well under a millisecond.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

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
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric under the `recs_` prefix.
    pub fn new() -> Self {
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
        for mode in Rollout::MODES {
            m.rollout_mode.get_or_create(&ModeLabels { mode }).set(0);
        }
        Metrics { registry, ..m }
    }

    /// Records the rollout now in force (`None`: nothing loaded).
    pub fn set_rollout(
        &self,
        rollout: Option<&Rollout>,
        names: &[(String, String)],
        generation: u64,
    ) {
        self.ready.set(i64::from(rollout.is_some()));
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
}
