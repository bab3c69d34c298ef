//! UTC calendar arithmetic and the one RFC 3339 / ISO 8601 formatter of the crate (no `chrono`:
//! the registry, the event stream and the server only need UTC dates of Unix times).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Writes `YYYY-MM-DDTHH:MM:SS` of `unix_ms` (milliseconds since the epoch, UTC), then `.mmm`
/// when `always_millis` or when the milliseconds are not zero. No zone suffix.
pub(crate) fn write_utc(
    out: &mut impl fmt::Write,
    unix_ms: i64,
    always_millis: bool,
) -> fmt::Result {
    let days = unix_ms.div_euclid(86_400_000);
    let rem = unix_ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, ms) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    write!(out, "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}")?;
    if always_millis || ms != 0 {
        write!(out, ".{ms:03}")?;
    }
    Ok(())
}

/// RFC 3339 in UTC with milliseconds, e.g. `2023-11-14T22:13:20.999Z`, of `unix_ms`
/// milliseconds since the Unix epoch (negative before 1970).
///
/// ```
/// use recs::util::time::rfc3339_ms;
/// assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
/// assert_eq!(rfc3339_ms(1_700_000_000_999), "2023-11-14T22:13:20.999Z");
/// assert_eq!(rfc3339_ms(-1000), "1969-12-31T23:59:59.000Z");
/// ```
pub fn rfc3339_ms(unix_ms: i64) -> String {
    let mut s = String::with_capacity(24);
    // Writing into a String cannot fail.
    let _ = write_utc(&mut s, unix_ms, true);
    s.push('Z');
    s
}

/// The current time as RFC 3339 UTC with milliseconds, e.g. `2026-11-27T10:04:05.123Z`.
pub fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339_ms(d.as_secs() as i64 * 1000 + i64::from(d.subsec_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        // By hand: 951_782_400 s = 11_016 days = 2000-02-29 (a leap day); 978_300_760 s =
        // 11_322 days + 80_760 s = 2000-12-31 22:12:40.
        assert_eq!(rfc3339_ms(951_782_400_005), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339_ms(978_300_760_250), "2000-12-31T22:12:40.250Z");
        let mut plain = String::new();
        write_utc(&mut plain, 978_300_760_000, false).unwrap();
        assert_eq!(plain, "2000-12-31T22:12:40");
    }

    proptest! {
        #[test]
        fn civil_days_roundtrip(z in -800_000i64..3_000_000) {
            let (y, m, d) = civil_from_days(z);
            prop_assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            prop_assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}
