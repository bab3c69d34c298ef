//! The drift [`Profile`] as JSON, stored with each published version ([`super::PROFILE_ARTIFACT`])
//! so that the next run can compare its data with the served version's.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::stream::Profile;
use crate::{Error, Result};

/// Version of the stored profile format.
const PROFILE_FORMAT: u32 = 1;

/// [`Profile`] with sorted maps (stable bytes for the same data).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    format: u32,
    rating_hist: Vec<u64>,
    user_activity: BTreeMap<i64, u64>,
    item_counts: BTreeMap<String, u64>,
    malformed: u64,
    out_of_range: u64,
    records: u64,
}

/// The profile as JSON (sorted keys: the same profile always gives the same bytes).
///
/// ```
/// use recs::retrain::{profile_from_json, profile_to_json};
/// let e = recs::stream::parse_log_line("2024-02-01T12:00:00,1,GET /rate/10=4")?;
/// let p = recs::stream::Profile::from_events([&e]);
/// let json = profile_to_json(&p)?;
/// assert_eq!(profile_from_json(json.as_bytes())?, p);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Serde`] when serialization fails.
pub fn profile_to_json(p: &Profile) -> Result<String> {
    let s = Stored {
        format: PROFILE_FORMAT,
        rating_hist: p.rating_hist.to_vec(),
        user_activity: p.user_activity.iter().map(|(k, v)| (*k, *v)).collect(),
        item_counts: p.item_counts.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        malformed: p.malformed,
        out_of_range: p.out_of_range,
        records: p.records,
    };
    serde_json::to_string(&s).map_err(|e| Error::Serde(e.to_string()))
}

/// Reads a profile written by [`profile_to_json`].
///
/// # Errors
/// [`Error::Serde`] for bad JSON, an unknown format or a histogram of the wrong length.
pub fn profile_from_json(bytes: &[u8]) -> Result<Profile> {
    let s: Stored =
        serde_json::from_slice(bytes).map_err(|e| Error::Serde(format!("data profile: {e}")))?;
    if s.format != PROFILE_FORMAT {
        return Err(Error::Serde(format!(
            "data profile: format {} (this build reads {PROFILE_FORMAT})",
            s.format
        )));
    }
    let mut p = Profile::default();
    if s.rating_hist.len() != p.rating_hist.len() {
        return Err(Error::Serde(format!(
            "data profile: {} rating bins, expected {}",
            s.rating_hist.len(),
            p.rating_hist.len()
        )));
    }
    p.rating_hist.copy_from_slice(&s.rating_hist);
    p.user_activity = s.user_activity.into_iter().collect::<HashMap<_, _>>();
    p.item_counts = s.item_counts.into_iter().collect::<HashMap<_, _>>();
    p.malformed = s.malformed;
    p.out_of_range = s.out_of_range;
    p.records = s.records;
    Ok(p)
}
