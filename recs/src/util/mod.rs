//! Small building blocks shared by every layer (`data`, `model`, `eval`, `stream`, `registry`):
//! the seeded random generators, UTC time formatting, atomic file writes, bounded reads of
//! small files, the bounded line reader and the parameter-check trait. This module imports
//! nothing from the rest of the crate, so any module may use it without creating a layering
//! cycle (see `docs/architecture.md`).

mod fs;
mod lines;
mod params;
#[cfg(feature = "parquet")]
mod parquet;
pub mod rng;
pub mod time;

pub use fs::{read_small_file, read_small_text, write_atomic, SMALL_FILE_MAX_BYTES};
pub use lines::{Line, LineReader, MAX_LINE_BYTES};
pub use params::ParamGuard;
pub(crate) use params::{ensure_in, ensure_non_negative, ensure_positive, ABOVE_ZERO_TO_TEN};
#[cfg(feature = "parquet")]
pub(crate) use parquet::parquet_column;
