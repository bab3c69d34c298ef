//! Parquet event files (feature `parquet`): the CSV columns with Arrow types (`topic` Utf8,
//! `partition` Int32, `offset` Int64, `ts_ms` Int64 (ms since the epoch, UTC), `user_id` Int64,
//! `movie_id`/`request_id` Utf8, `minute`/`k` UInt32, `rating` Float32, `status` UInt16,
//! `latency_ms` Float64, `movie_ids` Utf8 holding a JSON array, provenance fields nullable
//! Utf8), snappy-compressed, one row group per batch.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    UInt16Array, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::event::{Event, EventKind, Rate, RecoRequest, RecoResponse, SourceKey, Ts, Watch};
use crate::util::parquet_column as col;
use crate::{Error, Result};

enum Col {
    Str(Vec<Option<String>>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Col {
    fn data_type(&self) -> DataType {
        match self {
            Col::Str(_) => DataType::Utf8,
            Col::I32(_) => DataType::Int32,
            Col::I64(_) => DataType::Int64,
            Col::U16(_) => DataType::UInt16,
            Col::U32(_) => DataType::UInt32,
            Col::F32(_) => DataType::Float32,
            Col::F64(_) => DataType::Float64,
        }
    }
    fn into_array(self) -> ArrayRef {
        match self {
            Col::Str(v) => Arc::new(StringArray::from(v)),
            Col::I32(v) => Arc::new(Int32Array::from(v)),
            Col::I64(v) => Arc::new(Int64Array::from(v)),
            Col::U16(v) => Arc::new(UInt16Array::from(v)),
            Col::U32(v) => Arc::new(UInt32Array::from(v)),
            Col::F32(v) => Arc::new(Float32Array::from(v)),
            Col::F64(v) => Arc::new(Float64Array::from(v)),
        }
    }
}

fn names(kind: EventKind) -> Vec<&'static str> {
    super::snapshot::csv_header(kind).split(',').collect()
}

fn perr(e: impl std::fmt::Display) -> Error {
    Error::Format(format!("parquet: {e}"))
}

/// Encodes events of one kind as a Parquet file.
pub(crate) fn write(kind: EventKind, rows: &[&(SourceKey, Event)]) -> Result<Vec<u8>> {
    let n = rows.len();
    let s = || Col::Str(Vec::with_capacity(n));
    let mut cols: Vec<Col> = vec![
        s(),
        Col::I32(Vec::with_capacity(n)),
        Col::I64(Vec::with_capacity(n)),
        Col::I64(Vec::with_capacity(n)),
    ];
    cols.extend(match kind {
        EventKind::Watch => vec![Col::I64(vec![]), s(), Col::U32(vec![])],
        EventKind::Rate => vec![Col::I64(vec![]), s(), Col::F32(vec![])],
        EventKind::RecoRequest => vec![s(), Col::I64(vec![]), Col::U32(vec![])],
        EventKind::RecoResponse => vec![
            s(),
            Col::I64(vec![]),
            Col::U16(vec![]),
            Col::F64(vec![]),
            Col::U32(vec![]),
            s(),
            s(),
            s(),
            s(),
            s(),
            s(),
            s(),
        ],
    });
    macro_rules! push {
        ($i:expr, $variant:ident, $v:expr) => {
            if let Col::$variant(c) = &mut cols[$i] {
                c.push($v);
            }
        };
    }
    for (k, e) in rows.iter().map(|r| (&r.0, &r.1)) {
        push!(0, Str, Some(k.topic.clone()));
        push!(1, I32, k.partition);
        push!(2, I64, k.offset);
        push!(3, I64, e.ts().0);
        match e {
            Event::Watch(w) => {
                push!(4, I64, w.user_id);
                push!(5, Str, Some(w.movie_id.clone()));
                push!(6, U32, w.minute);
            }
            Event::Rate(r) => {
                push!(4, I64, r.user_id);
                push!(5, Str, Some(r.movie_id.clone()));
                push!(6, F32, r.rating);
            }
            Event::RecoRequest(q) => {
                push!(4, Str, Some(q.request_id.clone()));
                push!(5, I64, q.user_id);
                push!(6, U32, q.k);
            }
            Event::RecoResponse(p) => {
                push!(4, Str, Some(p.request_id.clone()));
                push!(5, I64, p.user_id);
                push!(6, U16, p.status);
                push!(7, F64, p.latency_ms);
                push!(8, U32, p.k);
                let ids =
                    serde_json::to_string(&p.movie_ids).map_err(|e| Error::Serde(e.to_string()))?;
                push!(9, Str, Some(ids));
                for (i, v) in [
                    &p.model_name,
                    &p.model_version,
                    &p.variant,
                    &p.git_sha,
                    &p.data_snapshot_id,
                    &p.server,
                ]
                .into_iter()
                .enumerate()
                {
                    push!(10 + i, Str, v.clone());
                }
            }
        }
    }
    let fields: Vec<Field> = names(kind)
        .iter()
        .zip(&cols)
        .map(|(name, c)| {
            Field::new(
                *name,
                c.data_type(),
                matches!(c, Col::Str(_))
                    && !matches!(*name, "topic" | "movie_id" | "request_id" | "movie_ids"),
            )
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(
        schema.clone(),
        cols.into_iter().map(Col::into_array).collect(),
    )
    .map_err(perr)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, schema, Some(props)).map_err(perr)?;
    w.write(&batch).map_err(perr)?;
    w.close().map_err(perr)?;
    Ok(out)
}

fn opt(a: &StringArray, i: usize) -> Option<String> {
    (!a.is_null(i)).then(|| a.value(i).to_owned())
}

/// Decodes a Parquet event file of one kind.
pub(crate) fn read(
    kind: EventKind,
    bytes: Vec<u8>,
    path: &Path,
) -> Result<Vec<(SourceKey, Event)>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(perr)?
        .build()
        .map_err(perr)?;
    let mut out = Vec::new();
    for b in reader {
        let b = b.map_err(perr)?;
        let topic = col::<StringArray>(&b, "topic", path)?;
        let part = col::<Int32Array>(&b, "partition", path)?;
        let off = col::<Int64Array>(&b, "offset", path)?;
        let ts = col::<Int64Array>(&b, "ts_ms", path)?;
        let user = col::<Int64Array>(&b, "user_id", path)?;
        for i in 0..b.num_rows() {
            let key = SourceKey {
                topic: topic.value(i).to_owned(),
                partition: part.value(i),
                offset: off.value(i),
            };
            let (ts, user_id) = (Ts(ts.value(i)), user.value(i));
            let e = match kind {
                EventKind::Watch => Event::Watch(Watch {
                    ts,
                    user_id,
                    movie_id: col::<StringArray>(&b, "movie_id", path)?
                        .value(i)
                        .to_owned(),
                    minute: col::<UInt32Array>(&b, "minute", path)?.value(i),
                }),
                EventKind::Rate => Event::Rate(Rate {
                    ts,
                    user_id,
                    movie_id: col::<StringArray>(&b, "movie_id", path)?
                        .value(i)
                        .to_owned(),
                    rating: col::<Float32Array>(&b, "rating", path)?.value(i),
                }),
                EventKind::RecoRequest => Event::RecoRequest(RecoRequest {
                    ts,
                    request_id: col::<StringArray>(&b, "request_id", path)?
                        .value(i)
                        .to_owned(),
                    user_id,
                    k: col::<UInt32Array>(&b, "k", path)?.value(i),
                }),
                EventKind::RecoResponse => {
                    let s = |name| col::<StringArray>(&b, name, path);
                    Event::RecoResponse(RecoResponse {
                        ts,
                        request_id: s("request_id")?.value(i).to_owned(),
                        user_id,
                        status: col::<UInt16Array>(&b, "status", path)?.value(i),
                        latency_ms: col::<Float64Array>(&b, "latency_ms", path)?.value(i),
                        k: col::<UInt32Array>(&b, "k", path)?.value(i),
                        movie_ids: serde_json::from_str(s("movie_ids")?.value(i))
                            .map_err(|e| Error::Serde(e.to_string()))?,
                        model_name: opt(s("model_name")?, i),
                        model_version: opt(s("model_version")?, i),
                        variant: opt(s("variant")?, i),
                        git_sha: opt(s("git_sha")?, i),
                        data_snapshot_id: opt(s("data_snapshot_id")?, i),
                        server: opt(s("server")?, i),
                    })
                }
            };
            out.push((key, e));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{ingest_reader, IngestConfig, Rules, SnapshotFormat, SnapshotSet};

    #[test]
    fn parquet_snapshot_roundtrip() {
        let lines = [
            "2024-02-01T12:00:00,1,GET /data/m/the+matrix+1999/0.mpg",
            "2024-02-01T12:00:02,2,GET /rate/heat+1995=3.5",
            r#"{"type":"reco_request","ts":"2024-02-01T12:00:04Z","request_id":"q1","user_id":3,"k":2}"#,
            r#"{"type":"reco_response","ts":"2024-02-01T12:00:05Z","request_id":"q1","user_id":3,"status":200,"latency_ms":7.25,"k":2,"movie_ids":["heat+1995","up,2009"],"model_version":"v1"}"#,
            "junk",
        ];
        let text = lines.join("\n");
        let rules = Rules {
            now: Ts::parse("2024-03-01T00:00:00"),
            ..Rules::default()
        };
        let csv = tempfile::tempdir().unwrap();
        let pq = tempfile::tempdir().unwrap();
        ingest_reader(
            "x",
            text.as_bytes(),
            &IngestConfig::new(csv.path()).rules(rules.clone()),
        )
        .unwrap();
        ingest_reader(
            "x",
            text.as_bytes(),
            &IngestConfig::new(pq.path())
                .rules(rules)
                .format(SnapshotFormat::Parquet),
        )
        .unwrap();
        let a = SnapshotSet::open(csv.path()).unwrap();
        let b = SnapshotSet::open(pq.path()).unwrap();
        b.verify().unwrap();
        assert_eq!(a.events().unwrap(), b.events().unwrap());
        assert_eq!(b.events().unwrap().len(), 4);
        assert!(b.manifests()[0].batches[0]
            .files
            .iter()
            .any(|f| f.name.ends_with("-rate.parquet")));
        assert_eq!(a.dead_letters().unwrap(), b.dead_letters().unwrap());
    }
}
