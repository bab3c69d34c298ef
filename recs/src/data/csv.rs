//! Common CSV/TSV exports: header detection, `user=...,item=...` column specs, and ml-latest's
//! `movies.csv` (quoted titles with commas).

use std::path::Path;

use super::load::{parse_int, show, Lines};
use super::movielens::Movie;
use super::text::{Column, Columns, Delimiter, TextFormat};
use crate::{Error, Result};

/// Splits one CSV line into fields: `"` quotes a field, `""` inside quotes is one quote.
/// Quoted fields may not span lines.
///
/// ```
/// use recs::data::csv_fields;
/// assert_eq!(csv_fields(br#"11,"American President, The (1995)",Comedy"#, b','),
///            ["11", "American President, The (1995)", "Comedy"]);
/// assert_eq!(csv_fields(br#"1,"Say ""Hi"" (2001)",x"#, b',')[1], r#"Say "Hi" (2001)"#);
/// ```
pub fn csv_fields(line: &[u8], delim: u8) -> Vec<String> {
    let mut out = Vec::new();
    let mut field: Vec<u8> = Vec::new();
    let mut quoted = false;
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if quoted {
            if b == b'"' {
                if line.get(i + 1) == Some(&b'"') {
                    field.push(b'"');
                    i += 1;
                } else {
                    quoted = false;
                }
            } else {
                field.push(b);
            }
        } else if b == b'"' && field.is_empty() {
            quoted = true;
        } else if b == delim {
            out.push(String::from_utf8_lossy(&field).into_owned());
            field.clear();
        } else if b != b'\r' {
            field.push(b);
        }
        i += 1;
    }
    out.push(String::from_utf8_lossy(&field).into_owned());
    out
}

/// Whether the first non-blank line of `path` is a header: true when its first or second
/// field (split by `format`'s delimiter) is not an integer, as in `userId,movieId,...`.
/// MovieLens and NCF files start with ids, so they are not taken for a header.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read.
pub fn detect_header(path: &Path, format: &TextFormat) -> Result<bool> {
    let mut lines = Lines::open(path)?;
    while let Some((_, line)) = lines.next_line()? {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let fields: Vec<Vec<u8>> = match &format.delimiter {
            Delimiter::Byte(d) => csv_fields(line, *d)
                .into_iter()
                .map(String::into_bytes)
                .collect(),
            Delimiter::Str(s) => String::from_utf8_lossy(line)
                .split(s.as_str())
                .map(|f| f.as_bytes().to_vec())
                .collect(),
            Delimiter::Whitespace => line
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty())
                .map(<[u8]>::to_vec)
                .collect(),
        };
        return Ok(fields
            .iter()
            .take(2)
            .any(|f| parse_int(super::load::trim(f)).is_none()));
    }
    Ok(false)
}

/// Parses a column spec `user=userId,item=movieId[,rating=rating][,time=timestamp]`; a value
/// is a header name or a 0-based position (`user=0,item=1`). `timestamp` is accepted for
/// `time`.
///
/// ```
/// use recs::data::{parse_columns, Column, Columns};
/// let c = parse_columns("user=userId,item=movieId,time=timestamp")?;
/// assert_eq!(c, Columns::Select { user: "userId".into(), item: "movieId".into(),
///     rating: None, timestamp: Some("timestamp".into()) });
/// assert!(parse_columns("user=a,film=b").unwrap_err().to_string().contains("film"));
/// # Ok::<(), recs::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidParam`] for an unknown key (naming it and the valid ones), a key given twice
/// or a missing `user` or `item`.
pub fn parse_columns(spec: &str) -> Result<Columns> {
    let (mut user, mut item, mut rating, mut time) = (None, None, None, None);
    for piece in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = piece
            .split_once('=')
            .ok_or_else(|| Error::param("columns", "KEY=COLUMN pieces", piece.to_string()))?;
        let v = v.trim();
        let col = match v.parse::<usize>() {
            Ok(i) => Column::Index(i),
            Err(_) => Column::Name(v.to_string()),
        };
        let slot = match k.trim() {
            "user" => &mut user,
            "item" => &mut item,
            "rating" => &mut rating,
            "time" | "timestamp" => &mut time,
            other => {
                return Err(Error::param(
                    "columns",
                    "keys user, item, rating, time",
                    format!("`{other}`"),
                ))
            }
        };
        if slot.replace(col).is_some() {
            return Err(Error::param("columns", "each key once", k.to_string()));
        }
    }
    match (user, item) {
        (Some(user), Some(item)) => Ok(Columns::Select {
            user,
            item,
            rating,
            timestamp: time,
        }),
        _ => Err(Error::param(
            "columns",
            "both user=COLUMN and item=COLUMN",
            spec.to_string(),
        )),
    }
}

/// Loads ml-latest / ml-25m / ml-32m `movies.csv`: a header `movieId,title,genres`, then one
/// movie per line, titles quoted when they hold a comma (UTF-8).
///
/// ```
/// use recs::data::load_movies_csv;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("movies.csv");
/// std::fs::write(&path, "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n\
///     11,\"American President, The (1995)\",Comedy|Drama|Romance\n")?;
/// let movies = load_movies_csv(&path)?;
/// assert_eq!(movies[1].title, "American President, The (1995)");
/// assert_eq!(movies[1].year(), Some(1995));
/// assert_eq!(movies[0].genres, ["Adventure", "Animation"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Io`]; [`Error::Parse`] naming file, line and field for a line without three
/// fields or with a movie id that is not an integer.
pub fn load_movies_csv(path: &Path) -> Result<Vec<Movie>> {
    let mut lines = Lines::open(path)?;
    let mut out = Vec::new();
    let mut first = true;
    while let Some((ln, line)) = lines.next_line()? {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let f = csv_fields(line, b',');
        let is_header = first && parse_int(f[0].trim().as_bytes()).is_none();
        first = false;
        if is_header {
            continue;
        }
        let perr = |field: &'static str, message: String| Error::Parse {
            path: path.to_path_buf(),
            line: ln,
            field,
            message,
        };
        if f.len() < 3 {
            return Err(perr(
                "line",
                format!("expected 3 fields `movieId,title,genres`, got {}", f.len()),
            ));
        }
        let id = parse_int(f[0].trim().as_bytes()).ok_or_else(|| {
            perr(
                "movieId",
                format!("expected an integer id, got `{}`", show(f[0].as_bytes())),
            )
        })?;
        // a title with an unquoted comma spreads over several fields: rejoin them
        let title = f[1..f.len() - 1].join(",").trim().to_string();
        let genres = f[f.len() - 1]
            .split('|')
            .map(str::trim)
            .filter(|g| !g.is_empty() && *g != "(no genres listed)")
            .map(str::to_string)
            .collect();
        out.push(Movie { id, title, genres });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_detection_on_fixtures() {
        let dir = tempfile::tempdir().unwrap();
        let with = dir.path().join("ratings.csv");
        std::fs::write(
            &with,
            "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n",
        )
        .unwrap();
        let without = dir.path().join("ratings.tsv");
        std::fs::write(&without, "\n196\t242\t3\t881250949\n").unwrap();
        let quoted = dir.path().join("q.csv");
        std::fs::write(&quoted, "\"1\",\"31\",\"2.5\"\n").unwrap();
        assert!(detect_header(&with, &TextFormat::csv()).unwrap());
        assert!(!detect_header(&without, &TextFormat::tsv()).unwrap());
        assert!(!detect_header(&quoted, &TextFormat::csv()).unwrap());
    }

    #[test]
    fn movies_csv_errors_name_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("movies.csv");
        std::fs::write(
            &path,
            "movieId,title,genres\n1,Toy Story (1995),A\nx,B (1990),C\n",
        )
        .unwrap();
        let e = load_movies_csv(&path).unwrap_err().to_string();
        assert!(e.contains(":3:") && e.contains("movieId"), "{e}");
        std::fs::write(&path, "movieId,title,genres\n1\n").unwrap();
        let e = load_movies_csv(&path).unwrap_err().to_string();
        assert!(e.contains(":2:") && e.contains("3 fields"), "{e}");
    }
}
