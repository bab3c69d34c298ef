//! Generic delimited text (CSV, TSV, MovieLens `::`): one fast parser behind every rating loader.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::load::{parse_float, parse_int, parse_timestamp, show, trim, DatasetBuilder, Lines};
use super::{Dataset, LoadOptions, LoadReport};
use crate::{Error, Result};

/// What separates fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delimiter {
    /// One byte, such as `b','`, `b'\t'`, `b'|'`, `b';'`.
    Byte(u8),
    /// A string of several bytes, such as MovieLens' `"::"`.
    Str(String),
    /// Runs of spaces and tabs (leading and trailing ones ignored).
    Whitespace,
}

/// A column, by 0-based position or by its name in the header line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Column {
    /// 0-based position.
    Index(usize),
    /// Name in the header line (needs [`TextFormat::header`]).
    Name(String),
}

impl From<usize> for Column {
    fn from(i: usize) -> Self {
        Column::Index(i)
    }
}

impl From<&str> for Column {
    fn from(s: &str) -> Self {
        Column::Name(s.to_string())
    }
}

/// Which columns hold the user, item, rating and timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Columns {
    /// user, item, then rating and timestamp when present, by position: the first data line
    /// decides how many of the four there are (2 to 4); later lines must have as many fields.
    /// A first data line without 2 to 4 fields is an error even with
    /// [`LoadOptions::skip_bad_lines`], since the layout is unknown.
    Auto,
    /// Explicit columns. Without a rating column every value is 1.0 (implicit feedback); extra
    /// columns are ignored.
    Select {
        /// User id column.
        user: Column,
        /// Item id column.
        item: Column,
        /// Rating (value) column, if any.
        rating: Option<Column>,
        /// Unix timestamp (seconds) column, if any.
        timestamp: Option<Column>,
    },
}

/// A delimited text format: delimiter, header, quoting and columns.
///
/// Ids must be integers (they become [`Vocab`](super::Vocab) ids); ratings are decimal numbers;
/// timestamps are integer (or decimal) Unix seconds. Blank lines are ignored. With a quote byte,
/// a field may be enclosed in quotes (`"12"`, or `"a, b"` holding the delimiter); quoted fields
/// may not span lines.
///
/// ```
/// use recs::data::{Column, Columns, TextFormat, LoadOptions, load_delimited};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("plays.csv");
/// std::fs::write(&path, "ts,item,user\n100,7,1\n101,8,1\n102,7,2\n")?;
/// let format = TextFormat::csv().columns(Columns::Select {
///     user: "user".into(), item: "item".into(), rating: None, timestamp: Some("ts".into()),
/// });
/// let (data, _) = load_delimited(&path, &format, &LoadOptions::default())?;
/// assert_eq!(data.interactions.nnz(), 3);
/// assert_eq!(data.interactions.values(), &[1.0, 1.0, 1.0]); // implicit
/// assert_eq!(data.interactions.timestamps_of(0), Some(&[100, 101][..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextFormat {
    /// Field delimiter.
    pub delimiter: Delimiter,
    /// Whether the first line is a header (skipped; used to resolve [`Column::Name`]).
    pub header: bool,
    /// Quote byte for quoted fields (only with a [`Delimiter::Byte`]); `None` disables quoting.
    pub quote: Option<u8>,
    /// The columns to read.
    pub columns: Columns,
}

impl TextFormat {
    /// Comma-separated, with a header line, `"` quotes, [`Columns::Auto`].
    pub fn csv() -> Self {
        TextFormat {
            delimiter: Delimiter::Byte(b','),
            header: true,
            quote: Some(b'"'),
            columns: Columns::Auto,
        }
    }
    /// Tab-separated, no header, no quotes, [`Columns::Auto`] (also ML-100K `u.data`).
    pub fn tsv() -> Self {
        TextFormat {
            delimiter: Delimiter::Byte(b'\t'),
            header: false,
            quote: None,
            columns: Columns::Auto,
        }
    }
    /// MovieLens `ratings.dat`: `::`-separated, no header, [`Columns::Auto`].
    pub fn movielens() -> Self {
        TextFormat {
            delimiter: Delimiter::Str("::".into()),
            header: false,
            quote: None,
            columns: Columns::Auto,
        }
    }
    /// Sets the delimiter.
    pub fn delimiter(mut self, d: Delimiter) -> Self {
        self.delimiter = d;
        self
    }
    /// Sets whether there is a header line.
    pub fn header(mut self, header: bool) -> Self {
        self.header = header;
        self
    }
    /// Sets the quote byte (`None`: no quoting).
    pub fn quote(mut self, quote: Option<u8>) -> Self {
        self.quote = quote;
        self
    }
    /// Sets the columns.
    pub fn columns(mut self, columns: Columns) -> Self {
        self.columns = columns;
        self
    }
}

/// Splits a line into field spans (start, end) into `out`. `Err` describes a quoting error.
pub(crate) fn split_fields(
    line: &[u8],
    delim: &Delimiter,
    quote: Option<u8>,
    out: &mut Vec<(usize, usize)>,
) -> std::result::Result<(), String> {
    out.clear();
    match delim {
        Delimiter::Byte(d) => {
            let d = *d;
            match quote {
                Some(q) if line.contains(&q) => split_quoted(line, d, q, out)?,
                _ => {
                    let mut start = 0;
                    for (i, &b) in line.iter().enumerate() {
                        if b == d {
                            out.push((start, i));
                            start = i + 1;
                        }
                    }
                    out.push((start, line.len()));
                }
            }
        }
        Delimiter::Str(s) => {
            let s = s.as_bytes();
            match s {
                [] => out.push((0, line.len())),
                [first, rest @ ..] => {
                    let mut start = 0;
                    let mut i = 0;
                    // Byte loops rather than `starts_with`, which calls memcmp for two bytes.
                    let matches_at = |i: usize| {
                        i + s.len() <= line.len()
                            && rest.iter().enumerate().all(|(k, &b)| line[i + 1 + k] == b)
                    };
                    while i < line.len() {
                        if line[i] == *first && matches_at(i) {
                            out.push((start, i));
                            i += s.len();
                            start = i;
                        } else {
                            i += 1;
                        }
                    }
                    out.push((start, line.len()));
                }
            }
        }
        Delimiter::Whitespace => {
            let mut i = 0;
            while i < line.len() {
                while i < line.len() && (line[i] == b' ' || line[i] == b'\t') {
                    i += 1;
                }
                let start = i;
                while i < line.len() && line[i] != b' ' && line[i] != b'\t' {
                    i += 1;
                }
                if i > start {
                    out.push((start, i));
                }
            }
        }
    }
    Ok(())
}

fn split_quoted(
    line: &[u8],
    d: u8,
    q: u8,
    out: &mut Vec<(usize, usize)>,
) -> std::result::Result<(), String> {
    let mut i = 0;
    loop {
        // Leading spaces before a quote are allowed.
        let mut j = i;
        while j < line.len() && line[j] == b' ' {
            j += 1;
        }
        if j < line.len() && line[j] == q {
            let start = j + 1;
            let mut k = start;
            loop {
                match line[k..].iter().position(|&b| b == q) {
                    None => {
                        return Err(format!(
                            "unterminated quote in field {} (quoted fields cannot span lines)",
                            out.len() + 1
                        ))
                    }
                    Some(p) => {
                        k += p;
                        if line.get(k + 1) == Some(&q) {
                            k += 2; // escaped quote
                        } else {
                            break;
                        }
                    }
                }
            }
            out.push((start, k));
            let mut after = k + 1;
            while after < line.len() && line[after] == b' ' {
                after += 1;
            }
            if after == line.len() {
                return Ok(());
            }
            if line[after] != d {
                return Err(format!(
                    "unexpected text after the closing quote of field {}",
                    out.len()
                ));
            }
            i = after + 1;
        } else {
            match line[i..].iter().position(|&b| b == d) {
                Some(p) => {
                    out.push((i, i + p));
                    i += p + 1;
                }
                None => {
                    out.push((i, line.len()));
                    return Ok(());
                }
            }
        }
    }
}

/// Resolved column positions.
#[derive(Debug, Clone, Copy)]
struct Plan {
    user: usize,
    item: usize,
    rating: Option<usize>,
    timestamp: Option<usize>,
    /// `Some(n)`: every line must have exactly n fields; `None`: at least `min_fields`.
    exact: Option<usize>,
    min_fields: usize,
}

impl Plan {
    fn auto(n_fields: usize) -> Plan {
        Plan {
            user: 0,
            item: 1,
            rating: (n_fields >= 3).then_some(2),
            timestamp: (n_fields >= 4).then_some(3),
            exact: Some(n_fields),
            min_fields: n_fields,
        }
    }
}

fn parse_err(path: &Path, line: usize, field: &'static str, message: String) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        line,
        field,
        message,
    }
}

fn delim_name(d: &Delimiter) -> String {
    match d {
        Delimiter::Byte(b'\t') => "tab".into(),
        Delimiter::Byte(b) => format!("`{}`", *b as char),
        Delimiter::Str(s) => format!("`{s}`"),
        Delimiter::Whitespace => "whitespace".into(),
    }
}

fn resolve(
    columns: &Columns,
    header: Option<&[(usize, usize)]>,
    header_line: &[u8],
    path: &Path,
) -> Result<Option<Plan>> {
    let (user, item, rating, timestamp) = match columns {
        Columns::Auto => return Ok(None),
        Columns::Select {
            user,
            item,
            rating,
            timestamp,
        } => (user, item, rating, timestamp),
    };
    let find = |c: &Column, field: &'static str| -> Result<usize> {
        match c {
            Column::Index(i) => Ok(*i),
            Column::Name(name) => {
                let Some(spans) = header else {
                    return Err(Error::Data(format!(
                        "column `{name}` is given by name but the format has no header line"
                    )));
                };
                let names: Vec<&[u8]> = spans
                    .iter()
                    .map(|&(s, e)| trim(&header_line[s..e]))
                    .collect();
                names
                    .iter()
                    .position(|n| *n == name.as_bytes())
                    .ok_or_else(|| {
                        let all: Vec<String> = names.iter().map(|n| show(n)).collect();
                        parse_err(
                            path,
                            1,
                            field,
                            format!(
                                "no column named `{name}` in the header; columns are: {}",
                                all.join(", ")
                            ),
                        )
                    })
            }
        }
    };
    let user = find(user, "user")?;
    let item = find(item, "item")?;
    let rating = rating.as_ref().map(|c| find(c, "rating")).transpose()?;
    let timestamp = timestamp
        .as_ref()
        .map(|c| find(c, "timestamp"))
        .transpose()?;
    let min_fields = [Some(user), Some(item), rating, timestamp]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0)
        + 1;
    Ok(Some(Plan {
        user,
        item,
        rating,
        timestamp,
        exact: None,
        min_fields,
    }))
}

/// One parsed row, in external ids.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Row {
    pub user: i64,
    pub item: i64,
    pub value: f32,
    pub timestamp: Option<i64>,
}

/// Reads every row of a delimited file into `sink`. A sink error `(field, message)` is reported
/// like a parse error of that line (skipped with `skip_bad_lines`).
pub(crate) fn read_rows(
    path: &Path,
    format: &TextFormat,
    opts: &LoadOptions,
    mut sink: impl FnMut(Row) -> std::result::Result<(), (&'static str, String)>,
) -> Result<LoadReport> {
    if format.quote.is_some() && !matches!(format.delimiter, Delimiter::Byte(_)) {
        return Err(Error::Data(
            "quoting needs a one-byte delimiter; set quote to None".into(),
        ));
    }
    if matches!(&format.delimiter, Delimiter::Str(s) if s.is_empty()) {
        return Err(Error::Data("the delimiter must not be empty".into()));
    }
    let mut report = LoadReport::for_path(path);
    let mut lines = Lines::open(path)?;
    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(8);
    let mut plan: Option<Plan> = None;
    let mut header_done = !format.header;
    if header_done {
        plan = resolve(&format.columns, None, b"", path)?;
    }
    while let Some((ln, line)) = lines.next_line()? {
        report.lines += 1;
        if trim(line).is_empty() {
            continue;
        }
        if let Err(msg) = split_fields(line, &format.delimiter, format.quote, &mut spans) {
            report.bad_line(opts, parse_err(path, ln, "line", msg))?;
            continue;
        }
        if !header_done {
            header_done = true;
            plan = resolve(&format.columns, Some(&spans), line, path)?;
            continue;
        }
        let p = match plan {
            Some(p) => p,
            None => {
                let n = spans.len();
                if !(2..=4).contains(&n) {
                    return Err(parse_err(
                        path,
                        ln,
                        "line",
                        format!(
                            "expected 2 to 4 fields (user, item, rating, timestamp) separated by {}, got {n}",
                            delim_name(&format.delimiter)
                        ),
                    ));
                }
                let p = Plan::auto(n);
                plan = Some(p);
                p
            }
        };
        match parse_row(line, &spans, &p, &format.delimiter) {
            Ok(row) => match sink(row) {
                Ok(()) => report.records += 1,
                Err((field, msg)) => report.bad_line(opts, parse_err(path, ln, field, msg))?,
            },
            Err((field, msg)) => report.bad_line(opts, parse_err(path, ln, field, msg))?,
        }
    }
    Ok(report)
}

#[inline]
fn parse_row(
    line: &[u8],
    spans: &[(usize, usize)],
    p: &Plan,
    delim: &Delimiter,
) -> std::result::Result<Row, (&'static str, String)> {
    let n = spans.len();
    match p.exact {
        Some(e) if n != e => {
            return Err((
                "line",
                format!(
                    "expected {e} fields separated by {} (as on the first line), got {n}",
                    delim_name(delim)
                ),
            ))
        }
        None if n < p.min_fields => {
            return Err((
                "line",
                format!(
                    "expected at least {} fields separated by {}, got {n}",
                    p.min_fields,
                    delim_name(delim)
                ),
            ))
        }
        _ => {}
    }
    let field = |i: usize| &line[spans[i].0..spans[i].1];
    let user = field(p.user);
    let user = parse_int(user).ok_or_else(|| {
        (
            "user",
            format!("expected an integer id, got `{}`", show(user)),
        )
    })?;
    let item = field(p.item);
    let item = parse_int(item).ok_or_else(|| {
        (
            "item",
            format!("expected an integer id, got `{}`", show(item)),
        )
    })?;
    let value = match p.rating {
        None => 1.0,
        Some(c) => {
            let f = field(c);
            parse_float(f).ok_or_else(|| {
                (
                    "rating",
                    format!("expected a finite number, got `{}`", show(f)),
                )
            })?
        }
    };
    let timestamp = match p.timestamp {
        None => None,
        Some(c) => {
            let f = field(c);
            Some(parse_timestamp(f).ok_or_else(|| {
                (
                    "timestamp",
                    format!("expected Unix seconds (an integer), got `{}`", show(f)),
                )
            })?)
        }
    };
    Ok(Row {
        user,
        item,
        value,
        timestamp,
    })
}

/// Loads a delimited interaction file into a [`Dataset`] (gzip read transparently).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Parse`] naming file, line and field for
/// the first bad line unless [`LoadOptions::skip_bad_lines`] (a missing named column is always
/// an error); [`Error::Data`] when the file holds no record or the format is inconsistent.
pub fn load_delimited(
    path: &Path,
    format: &TextFormat,
    opts: &LoadOptions,
) -> Result<(Dataset, LoadReport)> {
    let mut b = DatasetBuilder::new();
    let mut report = read_rows(path, format, opts, |r| {
        b.push(r.user, r.item, r.value, r.timestamp)
    })?;
    if report.records == 0 {
        return Err(Error::Data(format!(
            "{}: no records read ({} lines, {} skipped)",
            path.display(),
            report.lines,
            report.skipped
        )));
    }
    let (data, merged) = b.finish(opts.duplicates)?;
    report.merged = merged;
    Ok((data, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str, d: Delimiter, q: Option<u8>) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        split_fields(line.as_bytes(), &d, q, &mut out)?;
        Ok(out.iter().map(|&(s, e)| line[s..e].to_string()).collect())
    }

    #[test]
    fn splits_by_byte_string_and_whitespace() {
        assert_eq!(
            split("a,b,,c", Delimiter::Byte(b','), None).unwrap(),
            ["a", "b", "", "c"]
        );
        assert_eq!(
            split("1::2::3", Delimiter::Str("::".into()), None).unwrap(),
            ["1", "2", "3"]
        );
        assert_eq!(
            split("1:2::3:", Delimiter::Str("::".into()), None).unwrap(),
            ["1:2", "3:"]
        );
        assert_eq!(
            split("  1 \t 2  3 ", Delimiter::Whitespace, None).unwrap(),
            ["1", "2", "3"]
        );
    }

    #[test]
    fn splits_quoted_fields() {
        assert_eq!(
            split(r#""1","a, b",3"#, Delimiter::Byte(b','), Some(b'"')).unwrap(),
            ["1", "a, b", "3"]
        );
        assert_eq!(
            split(r#"1,"say ""hi""",x"#, Delimiter::Byte(b','), Some(b'"')).unwrap(),
            ["1", r#"say ""hi"""#, "x"]
        );
        assert_eq!(
            split(r#"1, "2""#, Delimiter::Byte(b','), Some(b'"')).unwrap(),
            ["1", "2"]
        );
        assert!(split(r#"1,"open"#, Delimiter::Byte(b','), Some(b'"')).is_err());
        assert!(split(r#"1,"a"b,2"#, Delimiter::Byte(b','), Some(b'"')).is_err());
    }
}
