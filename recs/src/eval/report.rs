//! The [`Report`] of an evaluation and its output formats (JSON, CSV, markdown).
//!
//! The formatting lives here so that `recs eval`, the server and the Python binding print the
//! same tables.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::run::{Latency, Protocol};
use crate::data::UserIdx;
use crate::{Error, Result};

/// The result of evaluating one model on one split: stored with the model as provenance,
/// printed by `recs eval`, returned to Python as columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Display name of the model in tables (defaults to its kind; see [`Report::with_name`]).
    pub name: String,
    /// The model's kind (`Recommender::kind`).
    pub model: String,
    /// The split's name.
    pub split: String,
    /// The protocol the lists were ranked under.
    pub protocol: Protocol,
    /// Length of the ranked lists.
    pub k_max: usize,
    /// Catalogue size.
    pub n_items: usize,
    /// Test users.
    pub n_users: usize,
    /// Test users the model could not score (they got each metric's default).
    pub n_missing: usize,
    /// Each metric's mean over test users (a global metric's value), by label.
    pub summary: BTreeMap<String, f64>,
    /// Per-user values of the per-list metrics, when kept.
    pub per_user: Option<PerUser>,
    /// Costs: training and evaluation time, model size, latency.
    pub timings: Timings,
}

/// Per-user metric values in columns (one entry per test user, in test-set order).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerUser {
    /// The test users.
    pub users: Vec<UserIdx>,
    /// Values by metric label, aligned with `users`; `None` where a user without a list has
    /// no default.
    pub columns: BTreeMap<String, Vec<Option<f64>>>,
}

/// What a model costs. The evaluator fills the evaluation fields; the caller who trained and
/// saved the model fills `train_seconds` and `model_size_bytes` (see [`Report::with_train_seconds`],
/// [`Report::with_model_size`] and [`fit_timed`](super::fit_timed)).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Seconds to fit the model, when known.
    pub train_seconds: Option<f64>,
    /// Seconds of [`run`](super::run) (all test users, parallel).
    pub run_seconds: f64,
    /// Seconds of [`measure`](super::measure).
    pub measure_seconds: f64,
    /// `run_seconds + measure_seconds` (latency sampling not included).
    pub eval_seconds: f64,
    /// Size of the saved model (`to_bytes().len()`), when known.
    pub model_size_bytes: Option<u64>,
    /// Single-user `recommend` latency, when measured.
    pub latency: Option<Latency>,
}

impl Report {
    /// The summary value of a metric label such as `"ndcg@10"`.
    pub fn get(&self, label: &str) -> Option<f64> {
        self.summary.get(label).copied()
    }

    /// The distinct cut-offs of the summary labels, ascending.
    pub fn ks(&self) -> Vec<usize> {
        let mut ks: Vec<usize> = self
            .summary
            .keys()
            .filter_map(|l| l.split_once('@')?.1.parse().ok())
            .collect();
        ks.sort_unstable();
        ks.dedup();
        ks
    }

    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Records the training time.
    pub fn with_train_seconds(mut self, seconds: f64) -> Self {
        self.timings.train_seconds = Some(seconds);
        self
    }

    /// Records the saved model's size in bytes.
    pub fn with_model_size(mut self, bytes: u64) -> Self {
        self.timings.model_size_bytes = Some(bytes);
        self
    }

    /// Pretty JSON.
    ///
    /// # Errors
    /// [`Error::Serde`] when a value cannot be written (a non-finite number is written as `null`
    /// by serde_json and then fails to read back).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Serde(e.to_string()))
    }

    /// Reads a report written by [`to_json`](Self::to_json).
    ///
    /// # Errors
    /// [`Error::Serde`] for malformed JSON.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::Serde(e.to_string()))
    }

    /// One header line and one data line: identity, every summary metric (label order), then
    /// costs. Reports with the same metrics concatenate into one table (skip later headers).
    pub fn to_csv(&self) -> String {
        let mut head: Vec<String> = ["name", "model", "split", "protocol", "users", "missing"]
            .map(String::from)
            .to_vec();
        let mut row = vec![
            self.name.clone(),
            self.model.clone(),
            self.split.clone(),
            self.protocol.to_string(),
            self.n_users.to_string(),
            self.n_missing.to_string(),
        ];
        for (label, v) in &self.summary {
            head.push(label.clone());
            row.push(format!("{v}"));
        }
        let t = &self.timings;
        let lat = t.latency.as_ref();
        for (h, v) in [
            ("train_seconds", t.train_seconds),
            ("eval_seconds", Some(t.eval_seconds)),
            ("model_size_bytes", t.model_size_bytes.map(|b| b as f64)),
            ("p50_ms", lat.map(|l| l.p50_ms)),
            ("p95_ms", lat.map(|l| l.p95_ms)),
        ] {
            head.push(h.into());
            row.push(v.map(|v| format!("{v}")).unwrap_or_default());
        }
        format!("{}\n{}\n", csv_line(&head), csv_line(&row))
    }

    /// Per-user values as CSV (`user,<labels>`), when kept.
    pub fn per_user_csv(&self) -> Option<String> {
        let pu = self.per_user.as_ref()?;
        let mut head = vec!["user".to_string()];
        head.extend(pu.columns.keys().cloned());
        let mut out = csv_line(&head);
        out.push('\n');
        for (row, u) in pu.users.iter().enumerate() {
            let mut line = vec![u.to_string()];
            line.extend(pu.columns.values().map(|c| {
                c.get(row)
                    .copied()
                    .flatten()
                    .map(|v| format!("{v}"))
                    .unwrap_or_default()
            }));
            out.push_str(&csv_line(&line));
            out.push('\n');
        }
        Some(out)
    }

    /// A markdown summary: a title line, a metric/value table and the costs.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "**{}** ({}) on `{}`, protocol `{}`: {} users ({} without a list), {} items\n\n",
            self.name,
            self.model,
            self.split,
            self.protocol,
            self.n_users,
            self.n_missing,
            self.n_items
        );
        let rows: Vec<Vec<String>> = self
            .summary
            .iter()
            .map(|(l, v)| vec![l.clone(), format!("{v:.4}")])
            .collect();
        out.push_str(&markdown_table(&["metric", "value"], &rows));
        let t = &self.timings;
        let _ = write!(
            out,
            "\ntrain {} s, eval {:.3} s, size {} MB",
            fmt_opt(t.train_seconds, 2),
            t.eval_seconds,
            fmt_opt(t.model_size_bytes.map(|b| b as f64 / 1e6), 2)
        );
        if let Some(l) = &t.latency {
            let _ = write!(
                out,
                ", latency p50 {:.3} ms / p95 {:.3} ms ({} users, k={})",
                l.p50_ms, l.p95_ms, l.users, l.k
            );
        }
        out.push('\n');
        out
    }
}

/// One line of the model comparison table printed by `recs eval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    /// Display name of the model.
    pub model: String,
    /// Cut-off.
    pub k: usize,
    /// `hr@k`, when measured.
    pub hr: Option<f64>,
    /// `ndcg@k`, when measured.
    pub ndcg: Option<f64>,
    /// Training seconds, when known.
    pub train_seconds: Option<f64>,
    /// Model size in MB (10^6 bytes), when known.
    pub size_mb: Option<f64>,
    /// Median single-user latency, ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile single-user latency, ms.
    pub p95_ms: Option<f64>,
}

/// The column names of [`table_markdown`] and [`table_csv`].
pub const TABLE_COLUMNS: [&str; 8] = [
    "model",
    "k",
    "HR@K",
    "NDCG@K",
    "train_seconds",
    "size_MB",
    "p50_ms",
    "p95_ms",
];

/// One row per report and cut-off `k` (the report's [`ks`](Report::ks)), in input order.
pub fn table_rows(reports: &[Report]) -> Vec<TableRow> {
    reports
        .iter()
        .flat_map(|r| {
            let t = &r.timings;
            r.ks().into_iter().map(move |k| TableRow {
                model: r.name.clone(),
                k,
                hr: r.get(&format!("hr@{k}")),
                ndcg: r.get(&format!("ndcg@{k}")),
                train_seconds: t.train_seconds,
                size_mb: t.model_size_bytes.map(|b| b as f64 / 1e6),
                p50_ms: t.latency.map(|l| l.p50_ms),
                p95_ms: t.latency.map(|l| l.p95_ms),
            })
        })
        .collect()
}

fn row_cells(r: &TableRow) -> Vec<String> {
    vec![
        r.model.clone(),
        r.k.to_string(),
        fmt_opt(r.hr, 4),
        fmt_opt(r.ndcg, 4),
        fmt_opt(r.train_seconds, 2),
        fmt_opt(r.size_mb, 2),
        fmt_opt(r.p50_ms, 3),
        fmt_opt(r.p95_ms, 3),
    ]
}

/// The model comparison table (columns [`TABLE_COLUMNS`]) in markdown; `-` marks unknowns.
///
/// ```
/// # use recs::prelude::*;
/// # use recs::data::{Interactions, Record, Split, TestCase, TestSet, Vocab};
/// # let recs = [(0, 0), (1, 0), (1, 1)].map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
/// # let train = Interactions::from_records(2, 3, &recs, Default::default())?;
/// # let cases = vec![TestCase { user: 0, items: vec![1], negatives: None }];
/// # let split = Split { name: "toy".into(), train, test: TestSet { cases }, users: Vocab::identity(2), items: Vocab::identity(3) };
/// use recs::eval::{table_markdown, FullRanking};
/// let model = Popularity::params().fit(&split.train)?;
/// let report = FullRanking::new().ks([1]).latency_users(0).evaluate(&model, &split)?;
/// let table = table_markdown(&[report.with_name("pop")]);
/// assert!(table.starts_with("| model | k   | HR@K   | NDCG@K |"));
/// assert!(table.contains("| pop   |   1 | 1.0000 | 1.0000 |"));
/// # Ok::<(), recs::Error>(())
/// ```
pub fn table_markdown(reports: &[Report]) -> String {
    let rows: Vec<Vec<String>> = table_rows(reports).iter().map(row_cells).collect();
    markdown_table(&TABLE_COLUMNS, &rows)
}

/// The model comparison table (columns [`TABLE_COLUMNS`]) as CSV; unknowns are empty.
pub fn table_csv(reports: &[Report]) -> String {
    let mut out = csv_line(&TABLE_COLUMNS);
    out.push('\n');
    for r in table_rows(reports) {
        let cells: Vec<String> = row_cells(&r)
            .into_iter()
            .map(|c| if c == "-" { String::new() } else { c })
            .collect();
        out.push_str(&csv_line(&cells));
        out.push('\n');
    }
    out
}

fn fmt_opt(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) => format!("{v:.decimals$}"),
        None => "-".to_string(),
    }
}

/// A markdown table with padded columns; columns whose cells all look numeric align right.
pub fn markdown_table<S: AsRef<str>>(header: &[S], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let cell = |r: &Vec<String>, c: usize| r.get(c).map_or("", String::as_str).replace('|', "\\|");
    let mut width: Vec<usize> = header
        .iter()
        .map(|h| h.as_ref().chars().count().max(3))
        .collect();
    let mut numeric = vec![true; n];
    for r in rows {
        for c in 0..n {
            let s = cell(r, c);
            width[c] = width[c].max(s.chars().count());
            numeric[c] &= s == "-" || s.parse::<f64>().is_ok();
        }
    }
    let pad = |s: &str, c: usize| {
        let fill = width[c].saturating_sub(s.chars().count());
        if numeric[c] && !rows.is_empty() {
            format!("{}{s}", " ".repeat(fill))
        } else {
            format!("{s}{}", " ".repeat(fill))
        }
    };
    let mut out = String::new();
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    out.push_str(&line(
        (0..n)
            .map(|c| format!("{:w$}", header[c].as_ref(), w = width[c]))
            .collect(),
    ));
    out.push_str(&line(
        (0..n)
            .map(|c| {
                if numeric[c] && !rows.is_empty() {
                    format!("{}:", "-".repeat(width[c] - 1))
                } else {
                    "-".repeat(width[c])
                }
            })
            .collect(),
    ));
    for r in rows {
        out.push_str(&line((0..n).map(|c| pad(&cell(r, c), c)).collect()));
    }
    out
}

fn csv_line<S: AsRef<str>>(cells: &[S]) -> String {
    cells
        .iter()
        .map(|c| {
            let c = c.as_ref();
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &str) -> Report {
        Report {
            name: name.into(),
            model: "popularity".into(),
            split: "toy".into(),
            protocol: Protocol::default(),
            k_max: 10,
            n_items: 100,
            n_users: 3,
            n_missing: 0,
            summary: [
                ("hr@10", 0.5),
                ("ndcg@10", 0.25),
                ("hr@5", 0.25),
                ("mrr@5", 0.1),
            ]
            .map(|(l, v)| (l.to_string(), v))
            .into(),
            per_user: None,
            timings: Timings {
                eval_seconds: 0.5,
                ..Timings::default()
            },
        }
    }

    #[test]
    fn ks_come_from_labels() {
        assert_eq!(report("a").ks(), [5, 10]);
    }

    #[test]
    fn comparison_table_has_one_row_per_model_and_k() {
        let a = report("a, the first")
            .with_train_seconds(1.5)
            .with_model_size(2_500_000);
        let mut b = report("b");
        b.timings.latency = Some(Latency {
            users: 3,
            k: 10,
            p50_ms: 0.125,
            p95_ms: 0.5,
            mean_ms: 0.2,
            max_ms: 0.6,
        });
        let rows = table_rows(&[a.clone(), b.clone()]);
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].k, 5);
        assert_eq!(rows[0].ndcg, None);
        assert_eq!(rows[1].size_mb, Some(2.5));
        let md = table_markdown(&[a.clone(), b.clone()]);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 6);
        assert!(lines[0].starts_with("| model "));
        assert!(lines[1].contains("---:"));
        assert_eq!(
            lines[3],
            "| a, the first |  10 | 0.5000 | 0.2500 |          1.50 |    2.50 |      - |      - |"
        );
        assert!(lines[5].ends_with("|  0.125 |  0.500 |"), "{}", lines[5]);
        let csv = table_csv(&[a, b]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "model,k,HR@K,NDCG@K,train_seconds,size_MB,p50_ms,p95_ms"
        );
        assert_eq!(lines[1], "\"a, the first\",5,0.2500,,1.50,2.50,,");
        assert_eq!(lines[4], "b,10,0.5000,0.2500,,,0.125,0.500");
    }

    #[test]
    fn single_report_formats() {
        let r = report("p");
        let csv = r.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "name,model,split,protocol,users,missing,hr@10,hr@5,mrr@5,ndcg@10,train_seconds,eval_seconds,model_size_bytes,p50_ms,p95_ms");
        assert_eq!(
            lines[1],
            "p,popularity,toy,full,3,0,0.5,0.25,0.1,0.25,,0.5,,,"
        );
        let md = r.to_markdown();
        assert!(md.contains("| ndcg@10 | 0.2500 |"), "{md}");
        assert!(md.contains("train - s, eval 0.500 s, size - MB"), "{md}");
        assert_eq!(r.per_user_csv(), None);
        let mut r = r;
        r.per_user = Some(PerUser {
            users: vec![4, 7],
            columns: [("hr@10".to_string(), vec![Some(1.0), None])].into(),
        });
        assert_eq!(r.per_user_csv().unwrap(), "user,hr@10\n4,1\n7,\n");
    }

    #[test]
    fn json_round_trip() {
        let mut r = report("x");
        r.per_user = Some(PerUser {
            users: vec![1],
            columns: [("hr@10".to_string(), vec![Some(0.0)])].into(),
        });
        assert_eq!(Report::from_json(&r.to_json().unwrap()).unwrap(), r);
        assert!(matches!(Report::from_json("{"), Err(Error::Serde(_))));
    }
}
