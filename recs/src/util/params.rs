//! Parameter validation shared by models and by the synthetic-data generator.

use std::fmt::Display;
use std::ops::{Bound, RangeBounds};

use crate::{Error, Result};

/// Parameter validation (linfa's `ParamGuard`): `XParams` checks into `XValidParams`.
pub trait ParamGuard {
    /// The validated parameters.
    type Checked;
    /// Checks by reference.
    ///
    /// # Errors
    /// [`Error::InvalidParam`](crate::Error::InvalidParam) naming the first parameter out of range.
    fn check_ref(&self) -> Result<&Self::Checked>;
    /// Checks and unwraps.
    ///
    /// # Errors
    /// As [`check_ref`](Self::check_ref).
    fn check(self) -> Result<Self::Checked>
    where
        Self: Sized;
}

/// The range `(0, 10]` (BPR's learning rate, NCF's initial standard deviation).
pub(crate) const ABOVE_ZERO_TO_TEN: (Bound<f32>, Bound<f32>) =
    (Bound::Excluded(0.0), Bound::Included(10.0));

/// `Ok` when `value` lies in `range`, else [`Error::InvalidParam`] naming `name` and saying
/// `expected`. NaN lies in no range, so a NaN parameter is refused too.
pub(crate) fn ensure_in<T, R>(
    name: &'static str,
    expected: &'static str,
    value: T,
    range: R,
) -> Result<()>
where
    T: PartialOrd + Display,
    R: RangeBounds<T>,
{
    if range.contains(&value) {
        Ok(())
    } else {
        Err(Error::param(name, expected, value))
    }
}

/// `Ok` for a finite number > 0, else [`Error::InvalidParam`] ("a finite number > 0").
pub(crate) fn ensure_positive<T: Into<f64> + Display + Copy>(
    name: &'static str,
    value: T,
) -> Result<()> {
    let v: f64 = value.into();
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::param(name, "a finite number > 0", value))
    }
}

/// `Ok` for a finite number >= 0, else [`Error::InvalidParam`] with `expected` (the callers'
/// messages differ only in how they write "≥").
pub(crate) fn ensure_non_negative<T: Into<f64> + Display + Copy>(
    name: &'static str,
    expected: &'static str,
    value: T,
) -> Result<()> {
    let v: f64 = value.into();
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(Error::param(name, expected, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(r: Result<()>) -> Option<&'static str> {
        match r {
            Err(Error::InvalidParam { name, .. }) => Some(name),
            _ => None,
        }
    }

    #[test]
    fn ranges_refuse_outside_values_and_nan() {
        assert!(ensure_in("k", "1..=3", 1usize, 1..=3).is_ok());
        assert!(ensure_in("k", "1..=3", 3usize, 1..=3).is_ok());
        assert_eq!(name_of(ensure_in("k", "1..=3", 4usize, 1..=3)), Some("k"));
        assert_eq!(name_of(ensure_in("k", "1..=3", 0usize, 1..=3)), Some("k"));
        assert_eq!(
            name_of(ensure_in("x", "[0, 1]", f32::NAN, 0.0..=1.0)),
            Some("x")
        );
        assert_eq!(
            name_of(ensure_in("x", "[0, 1)", 1.0f32, 0.0..1.0)),
            Some("x")
        );
    }

    #[test]
    fn signs_refuse_nan_and_infinity() {
        assert!(ensure_positive("lr", 1e-9f32).is_ok());
        for bad in [0.0f32, -1.0, f32::NAN, f32::INFINITY] {
            assert_eq!(name_of(ensure_positive("lr", bad)), Some("lr"));
        }
        assert!(ensure_non_negative("l2", ">= 0", 0.0f32).is_ok());
        for bad in [-1e-9f32, f32::NAN, f32::INFINITY] {
            assert_eq!(name_of(ensure_non_negative("l2", ">= 0", bad)), Some("l2"));
        }
    }
}
