//! Rollout policies and the stable user → variant assignment.
//!
//! A [`Rollout`] names the served versions and how requests are split between them. Every
//! request is assigned with [`Rollout::assign`], which hashes the user id with a fixed salt
//! ([`bucket`]), so a user always sees the same variant while the rollout is unchanged, and a
//! canary ramp (5 % → 10 % → 50 %) only ever adds users to the canary.

use serde::{Deserialize, Serialize};

/// Number of hash buckets: percentages are resolved to 0.01 %.
pub const BUCKETS: u32 = 10_000;

/// How requests are split between loaded model versions.
///
/// Serialized with a `mode` tag, as accepted by `POST /admin/rollout`:
/// ```
/// use recs_server::Rollout;
/// let r: Rollout = serde_json::from_str(
///     r#"{"mode":"canary","stable":"v1","canary":"v2","percent":10}"#)?;
/// assert_eq!(r.versions(), vec!["v1", "v2"]);
/// assert!(r.check().is_ok());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rollout {
    /// Every request goes to one version (variant `fixed`).
    Fixed {
        /// The served version.
        version: String,
    },
    /// `percent` % of users (by stable hash) get `canary`, the others `stable`.
    Canary {
        /// The version most users get (variant `stable`).
        stable: String,
        /// The version under test (variant `canary`).
        canary: String,
        /// Share of users on the canary, in [0, 100].
        percent: f64,
    },
    /// A/B test: users split between `a` and `b` (variants `A` and `B`).
    AbTest {
        /// Control version (variant `A`).
        a: String,
        /// Treatment version (variant `B`).
        b: String,
        /// Share of users on `b`, in [0, 100]. Default 50.
        #[serde(default = "half")]
        percent_b: f64,
    },
    /// `primary` answers every request; `shadow` scores the same request in the background
    /// for comparison (overlap and latency in the metrics), its answer never returned.
    Shadow {
        /// The version that answers (variant `primary`).
        primary: String,
        /// The version scored on the side.
        shadow: String,
    },
}

fn half() -> f64 {
    50.0
}

/// The outcome of [`Rollout::assign`] for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment<'a> {
    /// The variant label (`fixed`, `stable`, `canary`, `A`, `B`, `primary`).
    pub variant: &'static str,
    /// The version that answers.
    pub version: &'a str,
    /// A version to score in the background (shadow mode only).
    pub shadow: Option<&'a str>,
}

impl Rollout {
    /// The mode name as in the JSON tag and the `recs_rollout_mode` metric.
    pub fn mode(&self) -> &'static str {
        match self {
            Rollout::Fixed { .. } => "fixed",
            Rollout::Canary { .. } => "canary",
            Rollout::AbTest { .. } => "ab_test",
            Rollout::Shadow { .. } => "shadow",
        }
    }

    /// All modes, for metrics that report one gauge per mode.
    pub const MODES: [&'static str; 4] = ["fixed", "canary", "ab_test", "shadow"];

    /// The versions this rollout needs loaded, primary first.
    pub fn versions(&self) -> Vec<&str> {
        match self {
            Rollout::Fixed { version } => vec![version],
            Rollout::Canary { stable, canary, .. } => vec![stable, canary],
            Rollout::AbTest { a, b, .. } => vec![a, b],
            Rollout::Shadow { primary, shadow } => vec![primary, shadow],
        }
    }

    /// The share (in %) of users sent to the second version, when the mode splits traffic.
    pub fn split_percent(&self) -> Option<f64> {
        match self {
            Rollout::Canary { percent, .. } => Some(*percent),
            Rollout::AbTest { percent_b, .. } => Some(*percent_b),
            _ => None,
        }
    }

    /// The (variant, version) pairs this rollout serves.
    pub fn variants(&self) -> Vec<(&'static str, &str)> {
        match self {
            Rollout::Fixed { version } => vec![("fixed", version)],
            Rollout::Canary { stable, canary, .. } => vec![("stable", stable), ("canary", canary)],
            Rollout::AbTest { a, b, .. } => vec![("A", a), ("B", b)],
            Rollout::Shadow { primary, .. } => vec![("primary", primary)],
        }
    }

    /// Checks versions are non-empty and distinct and percentages within [0, 100].
    ///
    /// # Errors
    /// A message naming the bad field (answered as a 400).
    pub fn check(&self) -> Result<(), String> {
        let vs = self.versions();
        if let Some(v) = vs.iter().find(|v| v.trim().is_empty() || v.len() > 200) {
            return Err(format!(
                "version names must be 1..=200 characters, got `{v}`"
            ));
        }
        if vs.len() == 2 && vs[0] == vs[1] {
            return Err(format!(
                "mode `{}` needs two different versions, got `{}` twice",
                self.mode(),
                vs[0]
            ));
        }
        if let Some(p) = self.split_percent() {
            if !(0.0..=100.0).contains(&p) {
                return Err(format!("percentage must be in [0, 100], got {p}"));
            }
        }
        Ok(())
    }

    /// Picks the variant of `user_id` (stable: same user, same rollout → same answer).
    ///
    /// ```
    /// use recs_server::Rollout;
    /// let r = Rollout::Canary { stable: "v1".into(), canary: "v2".into(), percent: 100.0 };
    /// assert_eq!(r.assign(42).version, "v2");
    /// ```
    pub fn assign(&self, user_id: i64) -> Assignment<'_> {
        let b = bucket(user_id);
        let below = |percent: f64| f64::from(b) < percent * f64::from(BUCKETS) / 100.0;
        match self {
            Rollout::Fixed { version } => Assignment {
                variant: "fixed",
                version,
                shadow: None,
            },
            Rollout::Canary {
                stable,
                canary,
                percent,
            } => {
                if below(*percent) {
                    Assignment {
                        variant: "canary",
                        version: canary,
                        shadow: None,
                    }
                } else {
                    Assignment {
                        variant: "stable",
                        version: stable,
                        shadow: None,
                    }
                }
            }
            Rollout::AbTest { a, b, percent_b } => {
                if below(*percent_b) {
                    Assignment {
                        variant: "B",
                        version: b,
                        shadow: None,
                    }
                } else {
                    Assignment {
                        variant: "A",
                        version: a,
                        shadow: None,
                    }
                }
            }
            Rollout::Shadow { primary, shadow } => Assignment {
                variant: "primary",
                version: primary,
                shadow: Some(shadow),
            },
        }
    }
}

/// The stable hash bucket of a user id, in `0..BUCKETS`.
///
/// FNV-1a over the id's little-endian bytes and a fixed salt, then a splitmix64 finaliser: it
/// does not depend on the process (unlike `std`'s `RandomState`), so every replica and every
/// restart agrees.
///
/// ```
/// use recs_server::rollout::{bucket, BUCKETS};
/// assert_eq!(bucket(7), bucket(7));
/// assert!(bucket(7) < BUCKETS);
/// ```
pub fn bucket(user_id: i64) -> u32 {
    const SALT: &[u8] = b"recs-rollout-v1";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in SALT.iter().chain(user_id.to_le_bytes().iter()) {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (recs::util::rng::mix64(h) % u64::from(BUCKETS)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Pinned buckets: users must keep their arm when the hash's splitmix64 finaliser moves to
    // the shared `recs::util::rng`. Reference: an independent Python FNV-1a + finaliser.
    #[test]
    fn pinned_buckets() {
        let got: Vec<u32> = [0, 7, -1, 123_456_789].map(bucket).to_vec();
        assert_eq!(got, [2731, 2576, 2704, 899]);
    }

    fn canary(p: f64) -> Rollout {
        Rollout::Canary {
            stable: "v1".into(),
            canary: "v2".into(),
            percent: p,
        }
    }

    #[test]
    fn json_round_trip_and_default_split() {
        let r: Rollout =
            serde_json::from_str(r#"{"mode":"ab_test","a":"x","b":"y"}"#).expect("test value");
        assert_eq!(r.split_percent(), Some(50.0));
        let back: Rollout = serde_json::from_str(&serde_json::to_string(&r).expect("test value"))
            .expect("test value");
        assert_eq!(back, r);
        assert!(serde_json::from_str::<Rollout>(r#"{"mode":"fixed"}"#).is_err());
        assert!(
            serde_json::from_str::<Rollout>(r#"{"mode":"fixed","version":"a","x":1}"#).is_err()
        );
    }

    #[test]
    fn check_rejects_bad_rollouts() {
        assert!(canary(101.0).check().is_err());
        assert!(canary(-1.0).check().is_err());
        assert!(canary(f64::NAN).check().is_err());
        assert!(canary(0.0).check().is_ok());
        let same = Rollout::Shadow {
            primary: "v".into(),
            shadow: "v".into(),
        };
        assert!(same.check().is_err());
        assert!(Rollout::Fixed {
            version: " ".into()
        }
        .check()
        .is_err());
    }

    #[test]
    fn canary_share_is_close_to_percentage() {
        for p in [1.0, 10.0, 25.0, 50.0, 90.0] {
            let r = canary(p);
            let n = 50_000;
            let hits = (0..n).filter(|&u| r.assign(u).variant == "canary").count();
            let share = hits as f64 / n as f64 * 100.0;
            // Binomial sd at 50% is ~0.22 points; allow ~5 sd.
            assert!((share - p).abs() < 1.2, "p={p} share={share}");
        }
    }

    proptest! {
        #[test]
        fn assignment_is_stable_and_ramp_is_monotone(user in any::<i64>(), p in 0.0f64..100.0, q in 0.0f64..100.0) {
            let (lo, hi) = if p <= q { (p, q) } else { (q, p) };
            let (r1, r2) = (canary(lo), canary(lo));
            prop_assert_eq!(r1.assign(user), r2.assign(user));
            if canary(lo).assign(user).variant == "canary" {
                prop_assert_eq!(canary(hi).assign(user).variant, "canary");
            }
            prop_assert_eq!(canary(0.0).assign(user).variant, "stable");
            prop_assert_eq!(canary(100.0).assign(user).variant, "canary");
        }
    }
}
