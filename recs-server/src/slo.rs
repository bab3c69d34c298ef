//! Operations metrics you can alert on (`docs/monitoring.md`, `docs/prometheus/alerts.yml`):
//! build info and uptime, the SLO objectives the burn-rate rules divide by, the time of the
//! last deployment (stale-model alert), and drift gauges: the `recs drift` measures
//! ([`recs::stream::DriftReport`]) of a live window of watch events against the profile of the
//! data the served model was trained on.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `recs_build_info` | gauge (1) | `version`, `git_sha` |
//! | `recs_start_time_seconds` | gauge (Unix seconds) | |
//! | `recs_uptime_seconds` | gauge (updated at each scrape) | |
//! | `recs_slo_objective_ratio` | gauge | `slo` (`availability`, `latency`) |
//! | `recs_slo_latency_threshold_seconds` | gauge | |
//! | `recs_last_deploy_timestamp_seconds` | gauge (Unix seconds of the last rollout change) | |
//! | `recs_drift_value` | gauge (last computed measure) | `subject`, `measure` |
//! | `recs_drift_threshold` | gauge | `subject`, `measure` |
//! | `recs_drift_crossed` | gauge (0/1) | `subject`, `measure` |
//! | `recs_drift_window_events` | gauge (events in the live window) | |
//!
//! The burn rates themselves are Prometheus recording rules over `recs_http_requests_total` and
//! `recs_http_request_duration_seconds` (see `alerts.yml`), so they cover every window without
//! state in the server.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use recs::stream::{DriftReport, Event, Profile, Thresholds, Ts, Watch};

/// Availability objective of `/recommend`: share of requests answered without a 5xx.
pub const AVAILABILITY_OBJECTIVE: f64 = 0.999;
/// Latency objective of `/recommend`: share of requests answered within
/// [`LATENCY_THRESHOLD_SECS`].
pub const LATENCY_OBJECTIVE: f64 = 0.99;
/// The latency SLO threshold; a bucket bound of the request-duration histogram, so the rules
/// can read it exactly.
pub const LATENCY_THRESHOLD_SECS: f64 = 0.1;
/// Watch events kept in the live drift window (oldest dropped first).
pub const DRIFT_WINDOW_EVENTS: usize = 10_000;
/// Fewest live events before drift is measured (fewer would make every measure noise).
pub const DRIFT_MIN_EVENTS: usize = 100;

/// Labels of the build info gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// Crate version.
    pub version: &'static str,
    /// Git commit of the build.
    pub git_sha: String,
}

/// Labels of the SLO objective gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SloLabels {
    /// `availability` or `latency`.
    pub slo: &'static str,
}

/// Labels of a drift check.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabels {
    /// What is compared (`user_activity`, `item_popularity`, `new_users`, …).
    pub subject: String,
    /// The measure (`psi`, `kl`, `wasserstein`, `rate`, `ratio`).
    pub measure: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Debug, Default)]
struct DriftState {
    reference: Option<Profile>,
    window: VecDeque<Event>,
    /// Window changed since the gauges were last computed.
    dirty: bool,
}

/// The operations metrics; part of [`crate::metrics::Metrics`].
#[derive(Debug)]
pub struct OpsMetrics {
    build_info: Family<BuildLabels, Gauge>,
    start_time: FloatGauge,
    uptime: FloatGauge,
    slo_objective: Family<SloLabels, FloatGauge>,
    slo_latency_threshold: FloatGauge,
    last_deploy: FloatGauge,
    drift_value: Family<DriftLabels, FloatGauge>,
    drift_threshold: Family<DriftLabels, FloatGauge>,
    drift_crossed: Family<DriftLabels, Gauge>,
    drift_window: Gauge,
    thresholds: Thresholds,
    drift: Mutex<DriftState>,
}

impl Default for OpsMetrics {
    fn default() -> Self {
        let m = OpsMetrics {
            build_info: Family::default(),
            start_time: FloatGauge::default(),
            uptime: FloatGauge::default(),
            slo_objective: Family::default(),
            slo_latency_threshold: FloatGauge::default(),
            last_deploy: FloatGauge::default(),
            drift_value: Family::default(),
            drift_threshold: Family::default(),
            drift_crossed: Family::default(),
            drift_window: Gauge::default(),
            thresholds: Thresholds::default(),
            drift: Mutex::new(DriftState::default()),
        };
        m.start_time.set(crate::unix_now());
        m.slo_objective
            .get_or_create(&SloLabels {
                slo: "availability",
            })
            .set(AVAILABILITY_OBJECTIVE);
        m.slo_objective
            .get_or_create(&SloLabels { slo: "latency" })
            .set(LATENCY_OBJECTIVE);
        m.slo_latency_threshold.set(LATENCY_THRESHOLD_SECS);
        m
    }
}

impl OpsMetrics {
    /// Registers every family in `r` (already prefixed `recs`).
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "build_info",
            "Build of the running server (value 1)",
            self.build_info.clone(),
        );
        r.register(
            "start_time_seconds",
            "Unix time the server started",
            self.start_time.clone(),
        );
        r.register(
            "uptime_seconds",
            "Seconds since the server started",
            self.uptime.clone(),
        );
        r.register(
            "slo_objective_ratio",
            "SLO objective of /recommend: availability (non-5xx share) and latency (share within the threshold)",
            self.slo_objective.clone(),
        );
        r.register(
            "slo_latency_threshold_seconds",
            "Latency SLO threshold of /recommend",
            self.slo_latency_threshold.clone(),
        );
        r.register(
            "last_deploy_timestamp_seconds",
            "Unix time of the last rollout change (model switch, rollout, promotion)",
            self.last_deploy.clone(),
        );
        r.register(
            "drift_value",
            "recs drift measure of the live watch window against the training data",
            self.drift_value.clone(),
        );
        r.register(
            "drift_threshold",
            "Threshold of each drift measure (recs::stream::Thresholds defaults)",
            self.drift_threshold.clone(),
        );
        r.register(
            "drift_crossed",
            "1 when the drift measure exceeds its threshold",
            self.drift_crossed.clone(),
        );
        r.register(
            "drift_window_events",
            "Watch events in the live drift window",
            self.drift_window.clone(),
        );
    }

    /// Sets the build info (one series, value 1).
    pub fn set_build(&self, git_sha: &str) {
        self.build_info.clear();
        self.build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                git_sha: git_sha.to_string(),
            })
            .set(1);
    }

    /// Records a rollout change now.
    pub fn deployed_now(&self) {
        self.last_deploy.set(crate::unix_now());
    }

    /// The drift reference: the profile of the served model's training data (`None`: no
    /// drift gauges).
    pub fn set_drift_reference(&self, reference: Option<Profile>) {
        let mut d = self.lock();
        d.reference = reference;
        d.dirty = true;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DriftState> {
        // Poisoning only means a panic mid-update of a window; it stays usable.
        self.drift.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a watch event to the live window (bounded: the oldest event is dropped).
    pub fn observe_watch(&self, user_id: i64, movie_id: i64, at_unix: f64) {
        let e = Event::Watch(Watch {
            ts: Ts((at_unix * 1000.0) as i64),
            user_id,
            movie_id: movie_id.to_string(),
            minute: 0,
        });
        let mut d = self.lock();
        if d.window.len() >= DRIFT_WINDOW_EVENTS {
            d.window.pop_front();
        }
        d.window.push_back(e);
        d.dirty = true;
    }

    /// Updates the gauges that change by themselves (uptime) and recomputes drift when the
    /// window changed; called at each scrape. Drift costs one pass over the window and the
    /// reference's items (milliseconds for MovieLens-1M), and is skipped when nothing changed.
    pub fn refresh(&self, uptime_secs: f64) {
        self.uptime.set(uptime_secs);
        let mut d = self.lock();
        self.drift_window.set(d.window.len() as i64);
        if !d.dirty {
            return;
        }
        d.dirty = false;
        let report = match &d.reference {
            Some(reference) if d.window.len() >= DRIFT_MIN_EVENTS => {
                let live = Profile::from_events(d.window.iter());
                DriftReport::compare(reference, &live, &self.thresholds)
            }
            _ => {
                self.drift_value.clear();
                self.drift_threshold.clear();
                self.drift_crossed.clear();
                return;
            }
        };
        drop(d);
        for c in report.checks {
            let labels = DriftLabels {
                subject: c.subject,
                measure: c.measure,
            };
            match c.value {
                Some(v) => {
                    self.drift_value.get_or_create(&labels).set(v);
                }
                None => {
                    self.drift_value.remove(&labels);
                }
            }
            self.drift_threshold.get_or_create(&labels).set(c.threshold);
            self.drift_crossed
                .get_or_create(&labels)
                .set(i64::from(c.crossed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    fn text(m: &OpsMetrics) -> String {
        let mut r = Registry::with_prefix("recs");
        m.register(&mut r);
        let mut s = String::new();
        encode(&mut s, &r).expect("encodes");
        s
    }

    #[test]
    fn exposes_build_uptime_and_objectives() {
        let m = OpsMetrics::default();
        m.set_build("abc123");
        m.refresh(12.5);
        let t = text(&m);
        assert!(
            t.contains(r#"recs_build_info{version=""#) && t.contains(r#"git_sha="abc123"} 1"#),
            "{t}"
        );
        assert!(t.contains("recs_uptime_seconds 12.5"), "{t}");
        assert!(
            t.contains(r#"recs_slo_objective_ratio{slo="availability"} 0.999"#),
            "{t}"
        );
        assert!(t.contains("recs_slo_latency_threshold_seconds 0.1"), "{t}");
        // No reference: no drift series.
        assert!(!t.contains("recs_drift_value{"), "{t}");
    }

    #[test]
    fn drift_gauges_follow_the_live_window() {
        // Reference: 10 users watching movies 1..=10 evenly.
        let reference: Vec<Event> = (0..10)
            .flat_map(|u| {
                (1..=10).map(move |m| {
                    Event::Watch(Watch {
                        ts: Ts(0),
                        user_id: u,
                        movie_id: m.to_string(),
                        minute: 0,
                    })
                })
            })
            .collect();
        let m = OpsMetrics::default();
        m.set_drift_reference(Some(Profile::from_events(reference.iter())));
        // Too few live events: nothing measured yet.
        m.observe_watch(0, 1, 1.0);
        m.refresh(1.0);
        assert!(!text(&m).contains("recs_drift_crossed{"));
        // The same population: no new users or items, nothing crossed.
        for i in 0..200 {
            m.observe_watch(i % 10, 1 + i % 10, 2.0);
        }
        m.refresh(2.0);
        let t = text(&m);
        assert!(
            t.contains(r#"recs_drift_crossed{subject="new_users",measure="rate"} 0"#),
            "{t}"
        );
        assert!(t.contains("recs_drift_window_events 201"), "{t}");
        // Only unknown users on unknown movies: new users and items cross their thresholds.
        for i in 0..DRIFT_WINDOW_EVENTS as i64 {
            m.observe_watch(1000 + i, 5000 + i % 50, 3.0);
        }
        m.refresh(3.0);
        let t = text(&m);
        assert!(
            t.contains(r#"recs_drift_crossed{subject="new_users",measure="rate"} 1"#),
            "{t}"
        );
        assert!(
            t.contains(&format!("recs_drift_window_events {DRIFT_WINDOW_EVENTS}")),
            "window is bounded: {t}"
        );
    }
}
