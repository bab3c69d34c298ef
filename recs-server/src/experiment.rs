//! Experiment tracking: which user saw which recommendations under which variant, which of
//! them were later watched, and the latency of each arm; [`ExperimentTracker::report`] runs the
//! tests of [`crate::stats`] on them and, for canary and A/B rollouts, the decision of
//! [`recs::eval::experiment::analyze`] (ship B / keep A / keep running, with its rule).
//!
//! **KPI.** The watch rate of an arm is `watched / recommended`, where `recommended` counts
//! distinct (user, movie) pairs shown by the arm (showing the same movie to the same user twice
//! counts once) and `watched` counts those pairs followed by a watch event of that user for that
//! movie, at or after the time it was first shown. Cold-start answers and requests that force a
//! model (`?model=`) are not randomized, so they are left out of the KPI (they are still counted
//! in `requests` and `cold_start`). The unit is the recommended item; items shown to one user
//! are not independent, so treat p-values as approximate when few users dominate.
//!
//! **Memory.** At most `capacity` users are tracked (oldest evicted first) and at most
//! [`MAX_ITEMS_PER_USER`] movies per user; evicted exposures keep their counts but can no longer
//! be matched by later watch events.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

use recs::eval::experiment::{self as ab, Analysis, ArmStats, DecisionRule};

use crate::rollout::Rollout;
use crate::stats::{self, ProportionTest, Summary, WelchTest};

/// Most movies remembered per user and experiment.
pub const MAX_ITEMS_PER_USER: usize = 1000;

#[derive(Debug, Default, Clone)]
struct Arm {
    version: String,
    requests: u64,
    errors: u64,
    cold_start: u64,
    recommended: u64,
    watched: u64,
    latency_ms: Summary,
}

#[derive(Debug)]
struct Exposure {
    variant: &'static str,
    /// movie id → (first shown at, unix seconds; watched already).
    items: HashMap<i64, (f64, bool)>,
}

#[derive(Debug, Default)]
struct Inner {
    id: u64,
    started_unix: f64,
    rollout: Option<Rollout>,
    arms: BTreeMap<&'static str, Arm>,
    users: HashMap<i64, Exposure>,
    order: VecDeque<i64>,
    watch_events: u64,
    attributed: u64,
    shadow_latency_ms: Summary,
    shadow_overlap: Summary,
    shadow_errors: u64,
}

/// Collects exposures, watch events and latencies of the current experiment (one per rollout).
#[derive(Debug)]
pub struct ExperimentTracker {
    inner: Mutex<Inner>,
    capacity: usize,
}

/// Per-arm figures of an [`ExperimentReport`].
#[derive(Debug, Clone, Serialize)]
pub struct ArmReport {
    /// Variant label.
    pub variant: &'static str,
    /// Served version.
    pub version: String,
    /// Answers given (cold start included).
    pub requests: u64,
    /// Requests assigned to the arm that failed (scoring error or overload); not in `requests`.
    pub errors: u64,
    /// Of which cold-start answers.
    pub cold_start: u64,
    /// Distinct (user, movie) pairs recommended (the KPI denominator).
    pub recommended: u64,
    /// Of which later watched (the KPI numerator).
    pub watched: u64,
    /// `watched / recommended` (0 when nothing was recommended).
    pub watch_rate: f64,
    /// Wilson interval of the watch rate.
    pub watch_rate_ci: (f64, f64),
    /// Latency of the arm's requests in ms.
    pub latency_ms: LatencySummary,
}

/// Mean and standard deviation of a latency sample.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LatencySummary {
    /// Number of requests.
    pub n: u64,
    /// Mean in ms.
    pub mean: f64,
    /// Standard deviation in ms.
    pub sd: f64,
}

impl Arm {
    /// The counts the decision rule reads. Errors are failed requests on top of the answered
    /// ones, so the error rate is `errors / (requests + errors)`.
    fn ab_stats(&self) -> ArmStats {
        ArmStats {
            requests: self.requests + self.errors,
            errors: self.errors,
            recommended: self.recommended,
            watched: self.watched,
            latency_ms: self.latency_ms,
        }
    }
}

impl From<&Summary> for LatencySummary {
    fn from(s: &Summary) -> Self {
        LatencySummary {
            n: s.n,
            mean: s.mean,
            sd: s.variance().sqrt(),
        }
    }
}

/// Treatment against control, when the rollout has two arms.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Control variant (`stable` or `A`).
    pub control: &'static str,
    /// Treatment variant (`canary` or `B`).
    pub treatment: &'static str,
    /// Two-proportion z-test on the watch rate (`None` until both arms recommended something).
    pub watch_rate: Option<ProportionTest>,
    /// Welch t-test on latency in ms (`None` until both arms have two requests).
    pub latency_ms: Option<WelchTest>,
    /// The decision under the server's [`DecisionRule`] (alpha = 1 − confidence), with its
    /// tests; `None` only for a rule out of range.
    pub decision: Option<Analysis>,
}

/// Shadow-mode figures.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowReport {
    /// Shadow scoring latency in ms.
    pub latency_ms: LatencySummary,
    /// Mean share of the primary's items also returned by the shadow.
    pub mean_overlap: f64,
    /// Shadow scoring failures.
    pub errors: u64,
}

/// The state of the current experiment, as served by `GET /admin/experiment`.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentReport {
    /// Increases with every rollout change (equals the deployment generation).
    pub experiment_id: u64,
    /// When the rollout started (RFC 3339).
    pub started_at: String,
    /// The rollout measured.
    pub rollout: Option<Rollout>,
    /// One entry per variant.
    pub arms: Vec<ArmReport>,
    /// Tests of treatment against control (canary and A/B modes).
    pub comparison: Option<Comparison>,
    /// Shadow figures (shadow mode).
    pub shadow: Option<ShadowReport>,
    /// Watch events received during the experiment.
    pub watch_events: u64,
    /// Of which matched a recommendation.
    pub attributed_events: u64,
    /// Confidence level of every interval.
    pub confidence: f64,
}

impl ExperimentTracker {
    /// A tracker remembering at most `capacity` users.
    pub fn new(capacity: usize) -> Self {
        ExperimentTracker {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update of counters;
        // the counters stay usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a new experiment for `rollout` (drops all exposures).
    pub fn reset(&self, id: u64, rollout: Option<&Rollout>) {
        let mut g = self.lock();
        *g = Inner {
            id,
            started_unix: crate::unix_now(),
            rollout: rollout.cloned(),
            ..Inner::default()
        };
        if let Some(r) = rollout {
            for (variant, version) in r.variants() {
                g.arms.insert(
                    variant,
                    Arm {
                        version: version.to_string(),
                        ..Arm::default()
                    },
                );
            }
        }
    }

    /// Records an answer of `variant` to `user`, given under deployment `generation`. Only
    /// answers of the current experiment's generation count, so a request that started before a
    /// rollout change never lands in the new experiment.
    pub fn record_exposure(
        &self,
        generation: u64,
        user: i64,
        variant: &'static str,
        items: &[i64],
        latency_ms: f64,
        cold_start: bool,
    ) {
        let now = crate::unix_now();
        let mut g = self.lock();
        if g.id != generation {
            return;
        }
        let Some(arm) = g.arms.get_mut(variant) else {
            return;
        };
        arm.requests += 1;
        arm.latency_ms.push(latency_ms);
        if cold_start {
            arm.cold_start += 1;
            return;
        }
        let inner = &mut *g;
        if !inner.users.contains_key(&user) {
            while inner.users.len() >= self.capacity {
                match inner.order.pop_front() {
                    Some(old) => {
                        inner.users.remove(&old);
                    }
                    None => break,
                }
            }
            inner.order.push_back(user);
            inner.users.insert(
                user,
                Exposure {
                    variant,
                    items: HashMap::new(),
                },
            );
        }
        let Some(exp) = inner.users.get_mut(&user) else {
            return;
        };
        if exp.variant != variant {
            // Assignment is stable within an experiment; a mismatch means a forced variant.
            return;
        }
        let mut added = 0;
        for &item in items {
            if exp.items.len() >= MAX_ITEMS_PER_USER {
                break;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = exp.items.entry(item) {
                e.insert((now, false));
                added += 1;
            }
        }
        if let Some(arm) = inner.arms.get_mut(variant) {
            arm.recommended += added;
        }
    }

    /// Records a request of `variant` under deployment `generation` that failed after it was
    /// assigned (the error-rate guardrail of the decision).
    pub fn record_error(&self, generation: u64, variant: &'static str) {
        let mut g = self.lock();
        if g.id != generation {
            return;
        }
        if let Some(arm) = g.arms.get_mut(variant) {
            arm.errors += 1;
        }
    }

    /// Records that `user` watched `movie` at `at` (unix seconds; now when `None`).
    /// Returns true when it matched an earlier, not yet watched recommendation.
    pub fn record_watch(&self, user: i64, movie: i64, at: Option<f64>) -> bool {
        let at = at.unwrap_or_else(crate::unix_now);
        let mut g = self.lock();
        g.watch_events += 1;
        let variant = match g.users.get_mut(&user) {
            Some(exp) => match exp.items.get_mut(&movie) {
                Some((shown, watched)) if !*watched && at >= *shown => {
                    *watched = true;
                    exp.variant
                }
                _ => return false,
            },
            None => return false,
        };
        g.attributed += 1;
        if let Some(arm) = g.arms.get_mut(variant) {
            arm.watched += 1;
        }
        true
    }

    /// Records one shadow scoring (`overlap` in [0, 1], or `None` when it failed).
    pub fn record_shadow(&self, latency_ms: f64, overlap: Option<f64>) {
        let mut g = self.lock();
        match overlap {
            Some(o) => {
                g.shadow_latency_ms.push(latency_ms);
                g.shadow_overlap.push(o);
            }
            None => g.shadow_errors += 1,
        }
    }

    /// The current figures with tests at the given confidence level.
    pub fn report(&self, confidence: f64) -> ExperimentReport {
        self.report_with(&DecisionRule {
            alpha: 1.0 - confidence,
            ..DecisionRule::default()
        })
    }

    /// The current figures, with intervals at confidence `1 - rule.alpha` and the decision
    /// under `rule`.
    pub fn report_with(&self, rule: &DecisionRule) -> ExperimentReport {
        let rule = *rule;
        let confidence = 1.0 - rule.alpha;
        let g = self.lock();
        let arms: Vec<ArmReport> = g
            .arms
            .iter()
            .map(|(&variant, a)| ArmReport {
                variant,
                version: a.version.clone(),
                requests: a.requests,
                errors: a.errors,
                cold_start: a.cold_start,
                recommended: a.recommended,
                watched: a.watched,
                watch_rate: if a.recommended > 0 {
                    a.watched as f64 / a.recommended as f64
                } else {
                    0.0
                },
                watch_rate_ci: stats::wilson_interval(a.watched, a.recommended, confidence),
                latency_ms: (&a.latency_ms).into(),
            })
            .collect();
        let pair = match &g.rollout {
            Some(Rollout::Canary { .. }) => Some(("stable", "canary")),
            Some(Rollout::AbTest { .. }) => Some(("A", "B")),
            _ => None,
        };
        let comparison = pair.and_then(|(c, t)| {
            let (a, b) = (g.arms.get(c)?, g.arms.get(t)?);
            Some(Comparison {
                control: c,
                treatment: t,
                watch_rate: stats::two_proportion_z_test(
                    a.watched,
                    a.recommended,
                    b.watched,
                    b.recommended,
                    confidence,
                ),
                latency_ms: stats::welch_t_test(&a.latency_ms, &b.latency_ms, confidence),
                decision: ab::analyze(&a.ab_stats(), &b.ab_stats(), &rule).ok(),
            })
        });
        let shadow = match &g.rollout {
            Some(Rollout::Shadow { .. }) => Some(ShadowReport {
                latency_ms: (&g.shadow_latency_ms).into(),
                mean_overlap: g.shadow_overlap.mean,
                errors: g.shadow_errors,
            }),
            _ => None,
        };
        ExperimentReport {
            experiment_id: g.id,
            started_at: crate::rfc3339(g.started_unix),
            rollout: g.rollout.clone(),
            arms,
            comparison,
            shadow,
            watch_events: g.watch_events,
            attributed_events: g.attributed,
            confidence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ab() -> Rollout {
        Rollout::AbTest {
            a: "v1".into(),
            b: "v2".into(),
            percent_b: 50.0,
        }
    }

    #[test]
    fn counts_distinct_exposures_and_later_watches() {
        let t = ExperimentTracker::new(10);
        t.reset(1, Some(&ab()));
        t.record_exposure(1, 1, "A", &[10, 11, 12], 1.0, false);
        t.record_exposure(1, 1, "A", &[10, 13], 2.0, false); // 10 already shown
        t.record_exposure(1, 2, "B", &[10, 11], 3.0, false);
        t.record_exposure(1, 3, "B", &[], 4.0, true); // cold start: no exposure
        assert!(t.record_watch(1, 10, None));
        assert!(!t.record_watch(1, 10, None)); // counted once
        assert!(!t.record_watch(1, 99, None)); // not recommended
        assert!(!t.record_watch(2, 11, Some(0.0))); // watched before it was shown
        assert!(t.record_watch(2, 10, None));
        let r = t.report(0.95);
        let a = r
            .arms
            .iter()
            .find(|a| a.variant == "A")
            .expect("test value");
        let b = r
            .arms
            .iter()
            .find(|a| a.variant == "B")
            .expect("test value");
        assert_eq!((a.requests, a.recommended, a.watched), (2, 4, 1));
        assert_eq!(
            (b.requests, b.cold_start, b.recommended, b.watched),
            (2, 1, 2, 1)
        );
        assert_eq!((r.watch_events, r.attributed_events), (5, 2));
        let cmp = r.comparison.expect("test value");
        let z = cmp.watch_rate.expect("test value");
        assert!((z.p_a - 0.25).abs() < 1e-12 && (z.p_b - 0.5).abs() < 1e-12);
        assert!(cmp.latency_ms.is_some());
    }

    #[test]
    fn evicts_oldest_users_and_ignores_unknown_variants() {
        let t = ExperimentTracker::new(2);
        t.reset(1, Some(&ab()));
        t.record_exposure(1, 1, "A", &[1], 1.0, false);
        t.record_exposure(1, 2, "A", &[1], 1.0, false);
        t.record_exposure(1, 3, "A", &[1], 1.0, false);
        t.record_exposure(1, 4, "override", &[1], 1.0, false);
        t.record_exposure(2, 5, "A", &[1], 1.0, false); // older generation: ignored
        assert!(!t.record_watch(1, 1, None)); // evicted
        assert!(t.record_watch(3, 1, None));
        let r = t.report(0.95);
        assert_eq!(r.arms.len(), 2);
        assert_eq!(r.arms[0].recommended, 3);
        assert_eq!(r.arms[0].requests, 3);
    }
}
