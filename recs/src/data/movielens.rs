//! MovieLens files: ratings (ML-1M `ratings.dat`, ML-100K `u.data`), movies (`movies.dat`,
//! `u.item`) and users (`users.dat`, `u.user`).
//!
//! The ML-1M and ML-100K text files are ISO-8859-1 (Latin-1), not UTF-8: titles such as
//! `Misérables, Les (1995)` are decoded byte by byte (every Latin-1 byte is the Unicode code
//! point of the same value), so no title is ever mangled or refused.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::load::{parse_int, show, trim, Lines};
use super::text::{load_delimited, split_fields, Delimiter, TextFormat};
use super::{Dataset, LoadOptions, LoadReport};
use crate::{Error, Result};

/// A movie: id, title (with the year, as in the file) and genres.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movie {
    /// MovieLens movie id (the external item id of the ratings).
    pub id: i64,
    /// Title, for example `Toy Story (1995)`.
    pub title: String,
    /// Genres, for example `["Animation", "Children's", "Comedy"]`.
    pub genres: Vec<String>,
}

impl Movie {
    /// The release year at the end of the title (`... (1995)`), when there is one.
    ///
    /// ```
    /// use recs::data::Movie;
    /// let m = Movie { id: 1, title: "Toy Story (1995)".into(), genres: vec![] };
    /// assert_eq!(m.year(), Some(1995));
    /// ```
    pub fn year(&self) -> Option<u16> {
        let t = self.title.trim_end();
        let inner = t.strip_suffix(')')?;
        let open = inner.rfind('(')?;
        let y = &inner[open + 1..];
        (y.len() == 4).then(|| y.parse().ok()).flatten()
    }
}

/// A user's demographics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// MovieLens user id (the external user id of the ratings).
    pub id: i64,
    /// `'M'` or `'F'`.
    pub gender: char,
    /// Age: in ML-1M the lower bound of the age group (1 = under 18, 18, 25, 35, 45, 50, 56);
    /// in ML-100K the age in years.
    pub age: u32,
    /// Occupation name (ML-1M codes are translated with the table of its README).
    pub occupation: String,
    /// Zip code, as written.
    pub zip: String,
}

/// ML-1M occupation codes 0..=20, from the ML-1M README.
pub const ML1M_OCCUPATIONS: [&str; 21] = [
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
];

/// ML-100K genre names in the order of the 19 flags of `u.item` (from `u.genre`).
pub const ML100K_GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// Loads MovieLens ratings in the `::` form: `UserID::MovieID::Rating::Timestamp` or
/// `UserID::MovieID::Rating` (the first line decides; all lines must agree). Gzip is read
/// transparently. Vocabularies map ids to indices in first-seen order.
///
/// # Errors
/// [`Error::Io`], [`Error::Parse`] (file, line, field) unless `opts.skip_bad_lines`,
/// [`Error::Data`] when there is no record.
///
/// ```
/// use recs::data::{load_movielens_ratings, LoadOptions};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("ratings.dat");
/// std::fs::write(&path, "1::1193::5\n1::661::3\n2::661::4\n")?;
/// let (data, report) = load_movielens_ratings(&path, &LoadOptions::default())?;
/// assert_eq!(data.items.ids(), &[1193, 661]);
/// assert_eq!(data.interactions.timestamps(), None);
/// assert_eq!(report.records, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_movielens_ratings(path: &Path, opts: &LoadOptions) -> Result<(Dataset, LoadReport)> {
    load_delimited(path, &TextFormat::movielens(), opts)
}

/// Loads ML-100K `u.data` (or `u1.base`, ...): tab-separated `user item rating timestamp`.
///
/// # Errors
/// As [`load_movielens_ratings`].
pub fn load_ml100k_ratings(path: &Path, opts: &LoadOptions) -> Result<(Dataset, LoadReport)> {
    load_delimited(path, &TextFormat::tsv(), opts)
}

/// Decodes ISO-8859-1 bytes: each byte is the code point of the same value.
pub fn latin1_to_string(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

fn perr(path: &Path, line: usize, field: &'static str, message: String) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        line,
        field,
        message,
    }
}

fn id_field(path: &Path, line: usize, field: &'static str, b: &[u8]) -> Result<i64> {
    parse_int(b).ok_or_else(|| {
        perr(
            path,
            line,
            field,
            format!("expected an integer id, got `{}`", show(b)),
        )
    })
}

/// Reads the non-blank lines of a small metadata file, split by `delim`.
fn for_each_record(
    path: &Path,
    delim: &Delimiter,
    mut f: impl FnMut(usize, &[u8], &[(usize, usize)]) -> Result<()>,
) -> Result<()> {
    let mut lines = Lines::open(path)?;
    let mut spans = Vec::new();
    while let Some((ln, line)) = lines.next_line()? {
        if trim(line).is_empty() {
            continue;
        }
        split_fields(line, delim, None, &mut spans).map_err(|m| perr(path, ln, "line", m))?;
        f(ln, line, &spans)?;
    }
    Ok(())
}

/// Loads ML-1M `movies.dat`: `MovieID::Title::Genre|Genre|...`, Latin-1 encoded.
///
/// The title is everything between the first and the last `::`.
///
/// # Errors
/// [`Error::Io`]; [`Error::Parse`] naming line and field for a line with fewer than three fields
/// or a non-integer id.
///
/// ```
/// use recs::data::load_movies;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("movies.dat");
/// std::fs::write(&path, b"73::Mis\xe9rables, Les (1995)::Drama|Musical\n")?;
/// let movies = load_movies(&path)?;
/// assert_eq!(movies[0].title, "Misérables, Les (1995)");
/// assert_eq!(movies[0].genres, ["Drama", "Musical"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_movies(path: &Path) -> Result<Vec<Movie>> {
    let mut out = Vec::new();
    for_each_record(path, &Delimiter::Str("::".into()), |ln, line, s| {
        if s.len() < 3 {
            return Err(perr(
                path,
                ln,
                "line",
                format!(
                    "expected 3 fields `MovieID::Title::Genres`, got {}",
                    s.len()
                ),
            ));
        }
        let id = id_field(path, ln, "movie id", &line[s[0].0..s[0].1])?;
        let last = s[s.len() - 1];
        let title = latin1_to_string(trim(&line[s[1].0..s[s.len() - 2].1]));
        let genres = trim(&line[last.0..last.1])
            .split(|&b| b == b'|')
            .filter(|g| !g.is_empty())
            .map(latin1_to_string)
            .collect();
        out.push(Movie { id, title, genres });
        Ok(())
    })?;
    Ok(out)
}

/// Loads a movie file by its name: ML-100K `u.item` (or a name starting with it, such as
/// `u.item.gz`: [`load_ml100k_items`]), a `.csv` (or `.csv.gz`) as ml-latest `movies.csv`
/// ([`load_movies_csv`](super::load_movies_csv)), anything else as ML-1M `movies.dat`
/// ([`load_movies`]).
///
/// # Errors
/// As the loader chosen.
pub fn load_movie_file(path: &Path) -> Result<Vec<Movie>> {
    if path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("u.item"))
    {
        load_ml100k_items(path)
    } else if path.file_name().is_some_and(|n| {
        let n = n.to_string_lossy().to_ascii_lowercase();
        n.ends_with(".csv") || n.ends_with(".csv.gz")
    }) {
        super::load_movies_csv(path)
    } else {
        load_movies(path)
    }
}

/// Loads an item id map: tab-separated `dataset_item_id\tMovieID` lines after a header line,
/// such as the NCF split's `item_id_map.tsv` (its item ids are not MovieLens ids).
///
/// ```
/// use recs::data::load_id_map;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("item_id_map.tsv");
/// std::fs::write(&path, "ncf_item_id\tmovie_id\n0\t1193\n1\t661\n")?;
/// let map = load_id_map(&path)?;
/// assert_eq!(map[&1], 661);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Io`]; [`Error::Parse`] naming line and field for a line without two integer
/// fields or an id given twice.
pub fn load_id_map(path: &Path) -> Result<std::collections::HashMap<i64, i64>> {
    let mut out = std::collections::HashMap::new();
    let mut header = true;
    for_each_record(path, &Delimiter::Byte(b'\t'), |ln, line, s| {
        if std::mem::take(&mut header) {
            return Ok(());
        }
        if s.len() != 2 {
            return Err(perr(
                path,
                ln,
                "line",
                format!("expected 2 tab-separated ids, got {} fields", s.len()),
            ));
        }
        let from = id_field(path, ln, "item id", &line[s[0].0..s[0].1])?;
        let to = id_field(path, ln, "movie id", &line[s[1].0..s[1].1])?;
        if out.insert(from, to).is_some() {
            return Err(perr(
                path,
                ln,
                "item id",
                format!("item {from} is mapped twice"),
            ));
        }
        Ok(())
    })?;
    Ok(out)
}

/// The time of every rating in a MovieLens ratings file with timestamps
/// (`UserID::MovieID::Rating::Timestamp`, e.g. ML-1M `ratings.dat`; gzip is read
/// transparently), by (UserID, MovieID).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("ratings.dat");
/// std::fs::write(&path, "1::1193::5::978300760\n2::661::3::978302109\n")?;
/// let times = recs::data::load_rating_times(&path)?;
/// assert_eq!(times[&(2, 661)], 978302109);
/// std::fs::write(&path, "1::1193::5\n")?;
/// assert!(recs::data::load_rating_times(&path).is_err()); // no timestamps
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`load_movielens_ratings`]; [`Error::Data`] when the file has no timestamps.
pub fn load_rating_times(path: &Path) -> Result<std::collections::HashMap<(i64, i64), i64>> {
    let (data, _) = load_movielens_ratings(path, &super::LoadOptions::default())?;
    if data.interactions.timestamps().is_none() {
        return Err(Error::Data(format!(
            "{}: no timestamps (expected UserID::MovieID::Rating::Timestamp lines)",
            path.display()
        )));
    }
    let (users, items) = (data.users.ids(), data.items.ids());
    Ok(data
        .interactions
        .records()
        .filter_map(|r| {
            let t = r.timestamp?;
            Some(((users[r.user as usize], items[r.item as usize]), t))
        })
        .collect())
}

/// `train` with the time of each interaction looked up in `times` (see
/// [`load_rating_times`]) under `(user_id(user), movie_id(item))`; also returns how many were
/// found. An interaction without a time gets `i64::MIN`: older than every known one.
///
/// # Errors
/// None in practice; [`Error::Data`] only if the lookup produced a wrong count.
///
/// ```
/// use recs::data::{with_rating_times, Interactions};
/// let train = Interactions::from_csr(2, vec![0, 2], vec![0, 1], vec![1.0; 2], None)?;
/// let times = [((1, 10), 500)].into_iter().collect();
/// // user index u is UserID u + 1; item index i is MovieID 10 * (i + 1)
/// let (timed, found) =
///     with_rating_times(&train, &times, |u| Some(u as i64 + 1), |i| Some(10 * (i as i64 + 1)))?;
/// assert_eq!((timed.timestamps(), found), (Some(&[500, i64::MIN][..]), 1));
/// # Ok::<(), recs::Error>(())
/// ```
pub fn with_rating_times(
    train: &super::Interactions,
    times: &std::collections::HashMap<(i64, i64), i64>,
    user_id: impl Fn(super::UserIdx) -> Option<i64>,
    movie_id: impl Fn(super::ItemIdx) -> Option<i64>,
) -> Result<(super::Interactions, usize)> {
    let mut found = 0;
    let mut stamps = Vec::with_capacity(train.nnz());
    for u in 0..train.n_users() as super::UserIdx {
        let user = user_id(u);
        for &i in train.items_of(u) {
            let t = user
                .zip(movie_id(i))
                .and_then(|key| times.get(&key).copied());
            found += usize::from(t.is_some());
            stamps.push(t.unwrap_or(i64::MIN));
        }
    }
    Ok((train.clone().with_timestamps(stamps)?, found))
}

/// The release year of every item of `items` (by item index), from the movies' titles;
/// `None` for an item without a movie or a year. With `id_map`, an item id is first
/// translated to a MovieID (see [`load_id_map`]).
///
/// ```
/// use recs::data::{item_years, Movie, Vocab};
/// let mut items = Vocab::new();
/// items.index_or_insert(2);
/// items.index_or_insert(1);
/// items.index_or_insert(7);
/// let movies = [
///     Movie { id: 1, title: "Toy Story (1995)".into(), genres: vec![] },
///     Movie { id: 2, title: "Memento (2000)".into(), genres: vec![] },
/// ];
/// assert_eq!(item_years(&items, &movies, None), [Some(2000), Some(1995), None]);
/// ```
pub fn item_years(
    items: &super::Vocab,
    movies: &[Movie],
    id_map: Option<&std::collections::HashMap<i64, i64>>,
) -> Vec<Option<u16>> {
    let year: std::collections::HashMap<i64, Option<u16>> =
        movies.iter().map(|m| (m.id, m.year())).collect();
    items
        .ids()
        .iter()
        .map(|id| {
            let movie = match id_map {
                Some(map) => *map.get(id)?,
                None => *id,
            };
            year.get(&movie).copied().flatten()
        })
        .collect()
}

/// Loads ML-100K `u.item`: `id|title|release date|video release date|IMDb URL|` then 19 genre
/// flags (see [`ML100K_GENRES`]), Latin-1 encoded.
///
/// # Errors
/// [`Error::Io`]; [`Error::Parse`] for a line without 24 fields, a bad id or a flag other than
/// 0/1.
pub fn load_ml100k_items(path: &Path) -> Result<Vec<Movie>> {
    let mut out = Vec::new();
    for_each_record(path, &Delimiter::Byte(b'|'), |ln, line, s| {
        if s.len() != 5 + ML100K_GENRES.len() {
            return Err(perr(
                path,
                ln,
                "line",
                format!("expected 24 `|`-separated fields, got {}", s.len()),
            ));
        }
        let f = |i: usize| &line[s[i].0..s[i].1];
        let id = id_field(path, ln, "movie id", f(0))?;
        let title = latin1_to_string(trim(f(1)));
        let mut genres = Vec::new();
        for (g, name) in ML100K_GENRES.iter().enumerate() {
            match trim(f(5 + g)) {
                b"1" => genres.push(name.to_string()),
                b"0" => {}
                other => {
                    return Err(perr(
                        path,
                        ln,
                        "genre",
                        format!("genre flag `{name}` must be 0 or 1, got `{}`", show(other)),
                    ))
                }
            }
        }
        out.push(Movie { id, title, genres });
        Ok(())
    })?;
    Ok(out)
}

fn gender(path: &Path, ln: usize, b: &[u8]) -> Result<char> {
    match trim(b) {
        b"M" => Ok('M'),
        b"F" => Ok('F'),
        other => Err(perr(
            path,
            ln,
            "gender",
            format!("expected `M` or `F`, got `{}`", show(other)),
        )),
    }
}

fn small_int(path: &Path, ln: usize, field: &'static str, b: &[u8]) -> Result<u32> {
    parse_int(b)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| {
            perr(
                path,
                ln,
                field,
                format!("expected a non-negative integer, got `{}`", show(b)),
            )
        })
}

/// Loads ML-1M `users.dat`: `UserID::Gender::Age::Occupation::Zip-code`.
///
/// # Errors
/// [`Error::Io`]; [`Error::Parse`] naming line and field (5 fields, integer id, `M`/`F`,
/// age, occupation code 0..=20).
///
/// ```
/// use recs::data::load_users;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("users.dat");
/// std::fs::write(&path, "1::F::1::10::48067\n2::M::56::16::70072\n")?;
/// let users = load_users(&path)?;
/// assert_eq!(users[1].occupation, "self-employed");
/// assert_eq!((users[0].gender, users[0].age), ('F', 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_users(path: &Path) -> Result<Vec<UserInfo>> {
    let mut out = Vec::new();
    for_each_record(path, &Delimiter::Str("::".into()), |ln, line, s| {
        if s.len() != 5 {
            return Err(perr(
                path,
                ln,
                "line",
                format!(
                    "expected 5 fields `UserID::Gender::Age::Occupation::Zip`, got {}",
                    s.len()
                ),
            ));
        }
        let f = |i: usize| &line[s[i].0..s[i].1];
        let id = id_field(path, ln, "user id", f(0))?;
        let gender = gender(path, ln, f(1))?;
        let age = small_int(path, ln, "age", f(2))?;
        let code = small_int(path, ln, "occupation", f(3))?;
        let occupation = ML1M_OCCUPATIONS
            .get(code as usize)
            .ok_or_else(|| {
                perr(
                    path,
                    ln,
                    "occupation",
                    format!("expected an occupation code 0..=20, got {code}"),
                )
            })?
            .to_string();
        let zip = latin1_to_string(trim(f(4)));
        out.push(UserInfo {
            id,
            gender,
            age,
            occupation,
            zip,
        });
        Ok(())
    })?;
    Ok(out)
}

/// Loads ML-100K `u.user`: `user id|age|gender|occupation|zip code`.
///
/// # Errors
/// [`Error::Io`]; [`Error::Parse`] naming line and field.
pub fn load_ml100k_users(path: &Path) -> Result<Vec<UserInfo>> {
    let mut out = Vec::new();
    for_each_record(path, &Delimiter::Byte(b'|'), |ln, line, s| {
        if s.len() != 5 {
            return Err(perr(
                path,
                ln,
                "line",
                format!(
                    "expected 5 fields `id|age|gender|occupation|zip`, got {}",
                    s.len()
                ),
            ));
        }
        let f = |i: usize| &line[s[i].0..s[i].1];
        out.push(UserInfo {
            id: id_field(path, ln, "user id", f(0))?,
            age: small_int(path, ln, "age", f(1))?,
            gender: gender(path, ln, f(2))?,
            occupation: latin1_to_string(trim(f(3))),
            zip: latin1_to_string(trim(f(4))),
        });
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_map_errors_name_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.tsv");
        let err = |text: &str| {
            std::fs::write(&path, text).unwrap();
            match load_id_map(&path) {
                Err(Error::Parse { line, field, .. }) => (line, field),
                other => panic!("expected a parse error, got {other:?}"),
            }
        };
        assert_eq!(err("a\tb\n0\t5\n1\tx\n"), (3, "movie id"));
        assert_eq!(err("a\tb\n0\t5\n0\t6\n"), (3, "item id"));
        assert_eq!(err("a\tb\n0\t5\t9\n"), (2, "line"));
        std::fs::write(&path, "header only\n").unwrap();
        assert!(load_id_map(&path).unwrap().is_empty());
    }

    #[test]
    fn item_years_through_a_map() {
        let mut items = super::super::Vocab::new();
        for id in [0, 1, 2] {
            items.index_or_insert(id);
        }
        let movies = [
            Movie {
                id: 10,
                title: "A (1999)".into(),
                genres: vec![],
            },
            Movie {
                id: 11,
                title: "B".into(),
                genres: vec![],
            },
        ];
        let map: std::collections::HashMap<i64, i64> = [(0, 11), (1, 10)].into_iter().collect();
        // item 0 -> movie 11 without a year, item 1 -> 1999, item 2 unmapped
        assert_eq!(
            item_years(&items, &movies, Some(&map)),
            [None, Some(1999), None]
        );
        assert_eq!(item_years(&items, &movies, None), [None, None, None]);
    }

    #[test]
    fn latin1_decodes_every_byte() {
        let bytes: Vec<u8> = (0u8..=255).collect();
        let s = latin1_to_string(&bytes);
        assert_eq!(s.chars().count(), 256);
        assert!(s.chars().zip(0u32..).all(|(c, i)| c as u32 == i));
    }

    #[test]
    fn year_parsing() {
        let m = |t: &str| Movie {
            id: 0,
            title: t.into(),
            genres: vec![],
        };
        assert_eq!(m("Heat (1995)").year(), Some(1995));
        assert_eq!(m("Slingshot, The (Kådisbellan ) (1993)").year(), Some(1993));
        assert_eq!(m("No year").year(), None);
        assert_eq!(m("Odd (abc)").year(), None);
    }
}
