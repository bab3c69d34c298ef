//! Helpers shared by the Parquet readers (the event snapshots in `stream`, the ranked lists in
//! `model`).

use std::path::Path;

use arrow_array::{Array, RecordBatch};

use crate::{Error, Result};

/// The column `name` of `b` as array type `T`, or [`Error::Format`] naming the file and the
/// column when it is missing or of another type.
pub(crate) fn parquet_column<'a, T: Array + 'static>(
    b: &'a RecordBatch,
    name: &str,
    path: &Path,
) -> Result<&'a T> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            Error::Format(format!(
                "{}: column `{name}` missing or of the wrong type",
                path.display()
            ))
        })
}
