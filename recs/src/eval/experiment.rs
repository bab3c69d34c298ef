//! A/B decisions: turns the per-arm counts of an experiment into the tests of
//! [`crate::eval::stats`] and a [`Decision`] (ship B / keep A / keep running) under a stated,
//! **fixed-horizon** [`DecisionRule`].
//!
//! **The rule** (checked in this order; every step is reported in [`Analysis::reason`]):
//! 1. *Guardrails, at any time.* B is stopped (keep A) as soon as its error rate or its mean
//!    latency is worse than A's by more than the tolerance with confidence `1 - alpha`: the
//!    lower bound of the interval of `B - A` lies above the tolerance. Stopping early for harm
//!    only ever lowers the chance of shipping B, so it does not inflate the false-ship rate.
//! 2. *Planned horizon.* The sample per arm (distinct recommended (user, movie) pairs, the
//!    watch-rate denominator) needed to detect a relative lift of `min_detectable_lift` of the
//!    control watch rate with a two-sided test at level `alpha` and the given `power`:
//!    `n = (z₁₋α/₂·√(2·p̄(1−p̄)) + z_power·√(pA(1−pA) + pB(1−pB)))² / (pB − pA)²`, with
//!    `pB = pA·(1 + lift)` and `p̄ = (pA + pB)/2`, and at least `min_per_arm`. `pA` is
//!    `baseline_rate` when given, else the control's observed rate. Until both arms reach it the
//!    decision is keep running: the watch-rate test is **not** read before the horizon, since
//!    reading a fixed-horizon test repeatedly inflates its false-positive rate.
//! 3. *At the horizon.* Ship B when B's watch rate is higher with p-value `< alpha` and B's
//!    latency and error-rate point estimates are within their tolerances; otherwise keep A
//!    (B significantly worse, no significant difference, or a guardrail not shown safe).
//!
//! ```
//! use recs::eval::experiment::{analyze, ArmStats, Decision, DecisionRule};
//! let arm = |recommended, watched| ArmStats {
//!     requests: 5_000, recommended, watched, ..ArmStats::default()
//! };
//! let rule = DecisionRule::default();
//! // A 10 % watch rate against 13 % on 20 000 recommendations each: past the horizon, significant.
//! let a = analyze(&arm(20_000, 2_000), &arm(20_000, 2_600), &rule)?;
//! assert_eq!(a.decision, Decision::ShipB);
//! // The same rates on 500 recommendations each: too early to read the test.
//! let b = analyze(&arm(500, 50), &arm(500, 65), &rule)?;
//! assert_eq!(b.decision, Decision::KeepRunning);
//! # Ok::<(), recs::Error>(())
//! ```

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::stats::{self, ProportionTest, Summary, WelchTest};
use crate::stream::Event;
use crate::{Error, Result};

/// The counts of one experiment arm.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ArmStats {
    /// Requests answered or failed by this arm.
    pub requests: u64,
    /// Of which failed (status ≠ 200).
    pub errors: u64,
    /// Distinct (user, movie) pairs recommended (the watch-rate denominator).
    pub recommended: u64,
    /// Of which watched by that user at or after the first time it was shown.
    pub watched: u64,
    /// Latency of the arm's answers in ms.
    pub latency_ms: Summary,
}

/// The stated rule behind a [`Decision`]; see the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionRule {
    /// Significance level of every test and interval. Default 0.05.
    pub alpha: f64,
    /// Power of the watch-rate test at the planned horizon. Default 0.8.
    pub power: f64,
    /// Smallest relative watch-rate lift worth detecting (0.1 = +10 % of the control rate).
    /// Default 0.1.
    pub min_detectable_lift: f64,
    /// Control watch rate to plan the horizon with; the observed control rate when `None`.
    pub baseline_rate: Option<f64>,
    /// Smallest sample per arm (recommended pairs), whatever the plan says. Default 1000.
    pub min_per_arm: u64,
    /// Tolerated increase of B's mean latency over A's, in ms. Default 5.
    pub max_latency_increase_ms: f64,
    /// Tolerated increase of B's error rate over A's (absolute). Default 0.001.
    pub max_error_rate_increase: f64,
}

impl Default for DecisionRule {
    fn default() -> Self {
        DecisionRule {
            alpha: 0.05,
            power: 0.8,
            min_detectable_lift: 0.1,
            baseline_rate: None,
            min_per_arm: 1000,
            max_latency_increase_ms: 5.0,
            max_error_rate_increase: 0.001,
        }
    }
}

impl DecisionRule {
    /// Checks every field is in range.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the first field out of range.
    pub fn check(&self) -> Result<()> {
        let open01 = |v: f64| v > 0.0 && v < 1.0;
        if !open01(self.alpha) {
            return Err(Error::param("alpha", "in (0, 1)", self.alpha));
        }
        if !open01(self.power) {
            return Err(Error::param("power", "in (0, 1)", self.power));
        }
        if !(self.min_detectable_lift > 0.0 && self.min_detectable_lift.is_finite()) {
            return Err(Error::param(
                "min_detectable_lift",
                "a finite number > 0",
                self.min_detectable_lift,
            ));
        }
        if let Some(b) = self.baseline_rate {
            if !open01(b) {
                return Err(Error::param("baseline_rate", "in (0, 1)", b));
            }
        }
        if !(self.max_latency_increase_ms >= 0.0 && self.max_latency_increase_ms.is_finite()) {
            return Err(Error::param(
                "max_latency_increase_ms",
                "a finite number >= 0",
                self.max_latency_increase_ms,
            ));
        }
        if !(0.0..1.0).contains(&self.max_error_rate_increase) {
            return Err(Error::param(
                "max_error_rate_increase",
                "in [0, 1)",
                self.max_error_rate_increase,
            ));
        }
        Ok(())
    }

    /// Recommended pairs needed per arm to detect the lift from control rate `p_a` (see the
    /// module documentation); `None` when the lift cannot be planned (`p_a` is 0, or
    /// `p_a·(1 + lift)` reaches 1).
    ///
    /// ```
    /// use recs::eval::experiment::DecisionRule;
    /// // 10 % → 11 %, alpha 0.05, power 0.8: 14 751 per arm (by hand in the unit tests).
    /// assert_eq!(DecisionRule::default().required_per_arm(0.1), Some(14_751));
    /// ```
    pub fn required_per_arm(&self, p_a: f64) -> Option<u64> {
        let p_b = p_a * (1.0 + self.min_detectable_lift);
        if !(p_a > 0.0 && p_b < 1.0) {
            return None;
        }
        let z_alpha = stats::normal_quantile(1.0 - self.alpha / 2.0);
        let z_power = stats::normal_quantile(self.power);
        let p_bar = 0.5 * (p_a + p_b);
        let root = z_alpha * (2.0 * p_bar * (1.0 - p_bar)).sqrt()
            + z_power * (p_a * (1.0 - p_a) + p_b * (1.0 - p_b)).sqrt();
        let n = (root / (p_b - p_a)).powi(2).ceil();
        Some((n as u64).max(self.min_per_arm))
    }
}

/// What to do with the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Promote the treatment (B).
    ShipB,
    /// Keep the control (A) and end the experiment.
    KeepA,
    /// Not enough data yet: keep collecting.
    KeepRunning,
}

impl Decision {
    /// The snake-case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::ShipB => "ship_b",
            Decision::KeepA => "keep_a",
            Decision::KeepRunning => "keep_running",
        }
    }
}

/// The tests and the decision of [`analyze`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// What to do.
    pub decision: Decision,
    /// Why, in words (which step of the rule decided).
    pub reason: String,
    /// The rule applied.
    pub rule: DecisionRule,
    /// Planned sample per arm (`None` until the control has a watch rate to plan with).
    pub required_per_arm: Option<u64>,
    /// Two-proportion z-test of the watch rate, B against A.
    pub watch_rate: Option<ProportionTest>,
    /// Two-proportion z-test of the error rate (errors / requests), B against A.
    pub error_rate: Option<ProportionTest>,
    /// Welch t-test of the latency in ms, B against A.
    pub latency_ms: Option<WelchTest>,
}

/// Analyzes control `a` against treatment `b` under `rule`; see the [module documentation](self).
///
/// # Errors
/// [`Error::InvalidParam`] for a rule out of range; [`Error::Data`] when an arm counts more
/// watched than recommended pairs or more errors than requests.
pub fn analyze(a: &ArmStats, b: &ArmStats, rule: &DecisionRule) -> Result<Analysis> {
    rule.check()?;
    for (name, arm) in [("A", a), ("B", b)] {
        if arm.watched > arm.recommended || arm.errors > arm.requests {
            return Err(Error::Data(format!(
                "arm {name}: watched ({}) must not exceed recommended ({}) nor errors ({}) requests ({})",
                arm.watched, arm.recommended, arm.errors, arm.requests
            )));
        }
    }
    let confidence = 1.0 - rule.alpha;
    let watch_rate = stats::two_proportion_z_test(
        a.watched,
        a.recommended,
        b.watched,
        b.recommended,
        confidence,
    );
    let error_rate =
        stats::two_proportion_z_test(a.errors, a.requests, b.errors, b.requests, confidence);
    let latency_ms = stats::welch_t_test(&a.latency_ms, &b.latency_ms, confidence);
    let p_a = rule.baseline_rate.or_else(|| {
        (a.recommended > 0 && a.watched > 0).then(|| a.watched as f64 / a.recommended as f64)
    });
    let required_per_arm = p_a.and_then(|p| rule.required_per_arm(p));
    let done = |decision, reason: String| Analysis {
        decision,
        reason,
        rule: *rule,
        required_per_arm,
        watch_rate,
        error_rate,
        latency_ms,
    };

    // 1. Guardrails: significant harm beyond the tolerance stops B at any time.
    if let Some(e) = error_rate.filter(|e| e.ci_low > rule.max_error_rate_increase) {
        return Ok(done(
            Decision::KeepA,
            format!(
                "guardrail: B's error rate exceeds A's by {:.4} (interval from {:.4}), more than the tolerated {}",
                e.diff, e.ci_low, rule.max_error_rate_increase
            ),
        ));
    }
    if let Some(l) = latency_ms.filter(|l| l.ci_low > rule.max_latency_increase_ms) {
        return Ok(done(
            Decision::KeepA,
            format!(
                "guardrail: B's mean latency exceeds A's by {:.2} ms (interval from {:.2} ms), more than the tolerated {} ms",
                l.diff, l.ci_low, rule.max_latency_increase_ms
            ),
        ));
    }
    // 2. The planned horizon.
    let Some(required) = required_per_arm else {
        return Ok(done(
            Decision::KeepRunning,
            "the control has no watched recommendation yet, so the horizon cannot be planned \
             (set baseline_rate to plan it in advance)"
                .into(),
        ));
    };
    let reached = a.recommended.min(b.recommended);
    if reached < required {
        return Ok(done(
            Decision::KeepRunning,
            format!(
                "fixed horizon not reached: {} and {} recommended pairs of the {required} per arm \
                 planned for a {:.0} % lift at power {}",
                a.recommended,
                b.recommended,
                rule.min_detectable_lift * 100.0,
                rule.power
            ),
        ));
    }
    // 3. At the horizon.
    let Some(w) = watch_rate else {
        // Unreachable in practice: `reached >= required >= 1` makes both denominators positive.
        return Ok(done(Decision::KeepRunning, "no watch-rate test".into()));
    };
    if w.p_value >= rule.alpha {
        return Ok(done(
            Decision::KeepA,
            format!(
                "horizon reached, no significant watch-rate difference (B - A = {:+.4}, p = {:.3} >= {})",
                w.diff, w.p_value, rule.alpha
            ),
        ));
    }
    if w.diff < 0.0 {
        return Ok(done(
            Decision::KeepA,
            format!(
                "horizon reached, B's watch rate is significantly lower (B - A = {:+.4}, p = {:.3})",
                w.diff, w.p_value
            ),
        ));
    }
    if let Some(l) = latency_ms.filter(|l| l.diff > rule.max_latency_increase_ms) {
        return Ok(done(
            Decision::KeepA,
            format!(
                "B wins on watch rate but its latency is {:.2} ms higher, over the tolerated {} ms",
                l.diff, rule.max_latency_increase_ms
            ),
        ));
    }
    if let Some(e) = error_rate.filter(|e| e.diff > rule.max_error_rate_increase) {
        return Ok(done(
            Decision::KeepA,
            format!(
                "B wins on watch rate but its error rate is {:.4} higher, over the tolerated {}",
                e.diff, rule.max_error_rate_increase
            ),
        ));
    }
    Ok(done(
        Decision::ShipB,
        format!(
            "horizon reached, B's watch rate is significantly higher (B - A = {:+.4}, p = {:.2e} < {}), guardrails hold",
            w.diff, w.p_value, rule.alpha
        ),
    ))
}

/// Per-variant [`ArmStats`] from logged events: `reco_response` events give requests, errors
/// (status ≠ 200) and latency per `variant` (responses without one are skipped), and the
/// (user, movie) pairs of successful answers; a `watch` event of that user and movie at or after
/// the first time the pair was shown (by any arm: the user's first arm owns the pair) counts it
/// watched once. The same attribution rule as the server's experiment tracker. Events may come
/// in any order.
///
/// ```
/// use recs::eval::experiment::arms_from_events;
/// use recs::stream::parse_json;
/// let ev = [
///   r#"{"type":"reco_response","ts":100,"request_id":"a","user_id":1,"status":200,"latency_ms":3,"k":2,"movie_ids":["m1","m2"],"variant":"B"}"#,
///   r#"{"type":"reco_response","ts":120,"request_id":"b","user_id":2,"status":500,"latency_ms":9,"k":2,"movie_ids":[],"variant":"A"}"#,
///   r#"{"type":"watch","ts":160,"user_id":1,"movie_id":"m2","minute":0}"#,
///   r#"{"type":"watch","ts":50,"user_id":1,"movie_id":"m1","minute":0}"#,
/// ].map(|j| parse_json(j.as_bytes()).expect("valid event"));
/// let arms = arms_from_events(&ev);
/// assert_eq!((arms["B"].recommended, arms["B"].watched), (2, 1)); // m1 was watched before
/// assert_eq!((arms["A"].requests, arms["A"].errors), (1, 1));
/// ```
pub fn arms_from_events(events: &[Event]) -> BTreeMap<String, ArmStats> {
    let mut arms: BTreeMap<String, ArmStats> = BTreeMap::new();
    // (user, movie) → (variant, first shown at ms). Responses in time order so "first" holds.
    let mut shown: HashMap<(i64, &str), (&str, i64)> = HashMap::new();
    let mut responses: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::RecoResponse(r) => r.variant.as_deref().map(|v| (r, v)),
            _ => None,
        })
        .collect();
    responses.sort_by_key(|(r, _)| r.ts.0);
    for (r, variant) in responses {
        let arm = arms.entry(variant.to_string()).or_default();
        arm.requests += 1;
        arm.latency_ms.push(r.latency_ms);
        if r.status != 200 {
            arm.errors += 1;
            continue;
        }
        for m in &r.movie_ids {
            if let std::collections::hash_map::Entry::Vacant(e) =
                shown.entry((r.user_id, m.as_str()))
            {
                e.insert((variant, r.ts.0));
                arm.recommended += 1;
            }
        }
    }
    let mut watched: std::collections::HashSet<(i64, &str)> = Default::default();
    for e in events {
        if let Event::Watch(w) = e {
            let key = (w.user_id, w.movie_id.as_str());
            if let Some(&(variant, at)) = shown.get(&key) {
                if w.ts.0 >= at && watched.insert(key) {
                    if let Some(arm) = arms.get_mut(variant) {
                        arm.watched += 1;
                    }
                }
            }
        }
    }
    arms
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arm(recommended: u64, watched: u64) -> ArmStats {
        ArmStats {
            requests: 1000,
            recommended,
            watched,
            ..ArmStats::default()
        }
    }

    #[test]
    fn required_sample_matches_hand_computation() {
        // pA = 0.10, pB = 0.11, p̄ = 0.105, z(0.975) = 1.959964, z(0.8) = 0.841621:
        // √(2·0.105·0.895) = 0.433532, √(0.09 + 0.0979) = 0.433474,
        // (1.959964·0.433532 + 0.841621·0.433474)² / 0.01² = 1.214525² / 1e-4 = 14750.7 → 14751.
        let rule = DecisionRule::default();
        assert_eq!(rule.required_per_arm(0.1), Some(14_751));
        assert_eq!(rule.required_per_arm(0.0), None);
        assert_eq!(rule.required_per_arm(0.95), None); // 0.95 · 1.1 ≥ 1
        let floor = DecisionRule {
            min_per_arm: 50_000,
            ..rule
        };
        assert_eq!(floor.required_per_arm(0.1), Some(50_000));
    }

    #[test]
    fn decisions_follow_the_rule() {
        let rule = DecisionRule::default();
        // Before the horizon: keep running even with a large observed difference.
        let early = analyze(&arm(2000, 200), &arm(2000, 300), &rule).expect("valid");
        assert_eq!(early.decision, Decision::KeepRunning, "{}", early.reason);
        // At the horizon, B better → ship; B worse → keep A; equal → keep A.
        let n = 20_000;
        let ship = analyze(&arm(n, 2000), &arm(n, 2400), &rule).expect("valid");
        assert_eq!(ship.decision, Decision::ShipB, "{}", ship.reason);
        let worse = analyze(&arm(n, 2400), &arm(n, 2000), &rule).expect("valid");
        assert_eq!(worse.decision, Decision::KeepA, "{}", worse.reason);
        let flat = analyze(&arm(n, 2000), &arm(n, 2010), &rule).expect("valid");
        assert_eq!(flat.decision, Decision::KeepA, "{}", flat.reason);
        assert!(flat.reason.contains("no significant"), "{}", flat.reason);
        // No watches in A yet: cannot plan.
        let blind = analyze(&arm(n, 0), &arm(n, 10), &rule).expect("valid");
        assert_eq!(blind.decision, Decision::KeepRunning);
    }

    #[test]
    fn guardrails_stop_b_early() {
        let rule = DecisionRule::default();
        let mut b = arm(100, 20);
        b.latency_ms = (0..200).map(|i| 50.0 + f64::from(i % 5)).collect();
        let mut a = arm(100, 10);
        a.latency_ms = (0..200).map(|i| 10.0 + f64::from(i % 5)).collect();
        let slow = analyze(&a, &b, &rule).expect("valid");
        assert_eq!(slow.decision, Decision::KeepA);
        assert!(slow.reason.contains("latency"), "{}", slow.reason);

        let (mut a, mut b) = (arm(100, 10), arm(100, 20));
        a.errors = 0;
        b.errors = 200;
        let failing = analyze(&a, &b, &rule).expect("valid");
        assert_eq!(failing.decision, Decision::KeepA);
        assert!(failing.reason.contains("error rate"), "{}", failing.reason);
        // A winner on watch rate with a latency point estimate over the tolerance is kept out.
        let n = 20_000;
        let (mut a, mut b) = (arm(n, 2000), arm(n, 2400));
        a.latency_ms = [10.0, 10.0, 40.0].into_iter().collect();
        b.latency_ms = [10.0, 30.0, 40.0].into_iter().collect();
        let noisy = analyze(&a, &b, &rule).expect("valid");
        assert_eq!(noisy.decision, Decision::KeepA, "{}", noisy.reason);
    }

    #[test]
    fn bad_input_is_refused() {
        let rule = DecisionRule {
            alpha: 1.5,
            ..DecisionRule::default()
        };
        assert!(analyze(&arm(10, 1), &arm(10, 1), &rule).is_err());
        let ok = DecisionRule::default();
        assert!(analyze(&arm(10, 11), &arm(10, 1), &ok).is_err());
    }

    proptest! {
        /// Never ships B when B's observed watch rate is not above A's, and never decides
        /// before the planned horizon unless a guardrail fires (none can here: no latency or
        /// errors).
        #[test]
        fn never_ships_a_non_improvement(na in 1u64..40_000, ha in 0u64..8_000, nb in 1u64..40_000, hb in 0u64..8_000) {
            let (a, b) = (arm(na, ha.min(na)), arm(nb, hb.min(nb)));
            let r = analyze(&a, &b, &DecisionRule::default()).expect("valid");
            let (pa, pb) = (a.watched as f64 / na as f64, b.watched as f64 / nb as f64);
            if r.decision == Decision::ShipB {
                prop_assert!(pb > pa);
            }
            if let Some(req) = r.required_per_arm {
                if na.min(nb) < req {
                    prop_assert_eq!(r.decision, Decision::KeepRunning);
                }
            }
        }
    }
}
