//! Ranked lists as Parquet (feature `parquet`): the long form `recs recommend` also writes as
//! CSV, one row per (user, rank), with the columns `user` Int64, `rank` UInt32 (1 = best),
//! `item` Int64 and `score` Float32 (raw user and item ids), snappy-compressed.
//!
//! [`ListsParquetWriter`] streams: each [`write`](ListsParquetWriter::write) call is buffered
//! and flushed as a row group of at most [`ROW_GROUP_ROWS`] rows, so memory depends on that
//! size, not on the number of users.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Int64Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::util::parquet_column as col;
use crate::{Error, Result};

/// Most rows per Parquet row group (the writer's buffer).
pub const ROW_GROUP_ROWS: usize = 1 << 20;

/// Rows of ranked lists, column by column (all four the same length).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListRows {
    /// Raw user ids.
    pub user: Vec<i64>,
    /// Rank in the user's list, 1 = best.
    pub rank: Vec<u32>,
    /// Raw item ids.
    pub item: Vec<i64>,
    /// The model's scores.
    pub score: Vec<f32>,
}

impl ListRows {
    /// Appends one row.
    pub fn push(&mut self, user: i64, rank: u32, item: i64, score: f32) {
        self.user.push(user);
        self.rank.push(rank);
        self.item.push(item);
        self.score.push(score);
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.user.len()
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.user.is_empty()
    }
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("user", DataType::Int64, false),
        Field::new("rank", DataType::UInt32, false),
        Field::new("item", DataType::Int64, false),
        Field::new("score", DataType::Float32, false),
    ]))
}

fn perr(e: impl std::fmt::Display) -> Error {
    Error::Format(format!("parquet: {e}"))
}

/// Writes ranked lists to Parquet, streaming (see the module docs).
///
/// ```
/// use recs::model::{read_lists_parquet, ListRows, ListsParquetWriter};
/// let mut rows = ListRows::default();
/// rows.push(7, 1, 1200, 0.9);
/// rows.push(7, 2, 31, 0.5);
/// let mut w = ListsParquetWriter::new(Vec::new())?;
/// w.write(&rows)?;
/// let bytes = w.finish()?;
/// assert_eq!(read_lists_parquet(bytes, std::path::Path::new("mem"))?, rows);
/// # Ok::<(), recs::Error>(())
/// ```
pub struct ListsParquetWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: SchemaRef,
}

impl<W: Write + Send> ListsParquetWriter<W> {
    /// A writer into `out` (a file, or a `Vec<u8>`).
    ///
    /// # Errors
    /// [`Error::Format`] when Parquet refuses the schema or the properties.
    pub fn new(out: W) -> Result<Self> {
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let schema = schema();
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props)).map_err(perr)?;
        Ok(ListsParquetWriter { writer, schema })
    }

    /// Appends `rows` (a full row group is flushed to the output as it fills).
    ///
    /// # Errors
    /// [`Error::Data`] when the columns differ in length; [`Error::Format`] on a write error.
    pub fn write(&mut self, rows: &ListRows) -> Result<()> {
        let n = rows.len();
        if [rows.rank.len(), rows.item.len(), rows.score.len()] != [n; 3] {
            return Err(Error::Data(format!(
                "list rows: columns of {n}, {}, {} and {} values",
                rows.rank.len(),
                rows.item.len(),
                rows.score.len()
            )));
        }
        if n == 0 {
            return Ok(());
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(rows.user.clone())),
            Arc::new(UInt32Array::from(rows.rank.clone())),
            Arc::new(Int64Array::from(rows.item.clone())),
            Arc::new(Float32Array::from(rows.score.clone())),
        ];
        let batch = RecordBatch::try_new(self.schema.clone(), cols).map_err(perr)?;
        self.writer.write(&batch).map_err(perr)
    }

    /// Writes the footer and returns the output.
    ///
    /// # Errors
    /// [`Error::Format`] on a write error.
    pub fn finish(self) -> Result<W> {
        self.writer.into_inner().map_err(perr)
    }
}

/// Reads a file [`ListsParquetWriter`] wrote (`bytes`; `path` only names it in errors).
///
/// # Errors
/// [`Error::Format`] when it is not Parquet or lacks a column of the right type.
pub fn read_lists_parquet(bytes: Vec<u8>, path: &Path) -> Result<ListRows> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| Error::Format(format!("{}: {e}", path.display())))?
        .build()
        .map_err(|e| Error::Format(format!("{}: {e}", path.display())))?;
    let mut out = ListRows::default();
    for b in reader {
        let b = b.map_err(|e| Error::Format(format!("{}: {e}", path.display())))?;
        out.user
            .extend(col::<Int64Array>(&b, "user", path)?.values().iter());
        out.rank
            .extend(col::<UInt32Array>(&b, "rank", path)?.values().iter());
        out.item
            .extend(col::<Int64Array>(&b, "item", path)?.values().iter());
        out.score
            .extend(col::<Float32Array>(&b, "score", path)?.values().iter());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_over_several_row_groups_and_refuses_ragged_rows() {
        let mut w = ListsParquetWriter::new(Vec::new()).unwrap();
        let mut all = ListRows::default();
        for chunk in 0..3i64 {
            let mut rows = ListRows::default();
            for u in 0..5i64 {
                for r in 1..=4u32 {
                    rows.push(100 * chunk + u, r, -(u * 10 + i64::from(r)), 1.0 / r as f32);
                }
            }
            w.write(&rows).unwrap();
            w.write(&ListRows::default()).unwrap();
            for k in 0..rows.len() {
                all.push(rows.user[k], rows.rank[k], rows.item[k], rows.score[k]);
            }
        }
        let bytes = w.finish().unwrap();
        assert_eq!(read_lists_parquet(bytes, Path::new("x")).unwrap(), all);
        let mut ragged = ListRows::default();
        ragged.push(1, 1, 1, 1.0);
        ragged.score.pop();
        let mut w = ListsParquetWriter::new(Vec::new()).unwrap();
        assert!(matches!(w.write(&ragged), Err(Error::Data(_))));
        assert!(matches!(
            read_lists_parquet(b"not parquet".to_vec(), Path::new("bad.parquet")),
            Err(Error::Format(m)) if m.contains("bad.parquet")
        ));
    }
}
