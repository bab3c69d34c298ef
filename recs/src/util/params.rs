//! Parameter validation shared by models and by the synthetic-data generator.

use crate::Result;

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
