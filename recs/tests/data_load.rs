//! Loaders on small generated files: formats, gzip, errors naming file/line/field, skipping.

use std::io::Write;
use std::path::{Path, PathBuf};

use recs::data::{
    load, load_delimited, load_ml100k_items, load_ml100k_ratings, load_ml100k_users,
    load_movielens_ratings, load_movies, load_ncf, load_ncf_with, load_users, Column, Columns,
    Dataset, Delimiter, Duplicates, Format, LoadOptions, TextFormat,
};
use recs::Error;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

const ML: &str = "1::1193::5::978300760\n1::661::3::978302109\n2::661::4::978298413\n3::1193::2::978297000\n1::1193::4::978300800\n";

fn strict() -> LoadOptions {
    LoadOptions::default()
}

fn skipping() -> LoadOptions {
    LoadOptions {
        skip_bad_lines: true,
        ..LoadOptions::default()
    }
}

/// (user ext, item ext, value, timestamp) of every stored entry, sorted.
fn triples(d: &Dataset) -> Vec<(i64, i64, f32, Option<i64>)> {
    let mut v: Vec<_> = d
        .interactions
        .records()
        .map(|r| {
            (
                d.users.external(r.user).unwrap(),
                d.items.external(r.item).unwrap(),
                r.value,
                r.timestamp,
            )
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

#[test]
fn movielens_ratings_with_and_without_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "ratings.dat", ML.as_bytes());
    let (d, rep) = load_movielens_ratings(&p, &strict()).unwrap();
    assert_eq!(d.users.ids(), &[1, 2, 3]);
    assert_eq!(d.items.ids(), &[1193, 661]);
    assert_eq!(
        (rep.lines, rep.records, rep.skipped, rep.merged),
        (5, 5, 0, 1)
    );
    // (1, 1193) re-rated later: KeepLast keeps 4 at 978300800.
    assert_eq!(
        triples(&d),
        vec![
            (1, 661, 3.0, Some(978302109)),
            (1, 1193, 4.0, Some(978300800)),
            (2, 661, 4.0, Some(978298413)),
            (3, 1193, 2.0, Some(978297000)),
        ]
    );
    // Input order of entries: user 1 (idx 0) has items 0 (1193, last at line 5) and 1 (661, line 2).
    assert_eq!(d.order.as_deref(), Some(&[4, 1, 2, 3][..]));

    let p3 = write(dir.path(), "uir.dat", b"1::1193::5\n1::661::3\n");
    let (d3, _) = load_movielens_ratings(&p3, &strict()).unwrap();
    assert_eq!(d3.interactions.timestamps(), None);
    assert_eq!(d3.interactions.values_of(0), &[5.0, 3.0]);
}

#[test]
fn gzip_is_detected_by_magic_bytes_and_equals_plain() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "a.dat", ML.as_bytes());
    // A gzip file without the .gz suffix, and a multi-member gzip file.
    let gz = write(dir.path(), "b.dat", &gzip(ML.as_bytes()));
    let (first, second) = ML.split_at(ML.len() / 2);
    let mut multi = gzip(first.as_bytes());
    multi.extend(gzip(second.as_bytes()));
    let multi = write(dir.path(), "c.dat.gz", &multi);
    let (a, ra) = load_movielens_ratings(&plain, &strict()).unwrap();
    for p in [gz, multi] {
        let (b, rb) = load_movielens_ratings(&p, &strict()).unwrap();
        assert_eq!(a, b);
        assert_eq!((ra.lines, ra.records), (rb.lines, rb.records));
    }
}

#[test]
fn crlf_blank_lines_and_missing_final_newline() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "r.dat", b"1::2::3\r\n\r\n\n4::5::1");
    let (d, rep) = load_movielens_ratings(&p, &strict()).unwrap();
    assert_eq!(rep.lines, 4);
    assert_eq!(rep.records, 2);
    assert_eq!(triples(&d), vec![(1, 2, 3.0, None), (4, 5, 1.0, None)]);
}

fn parse_error(r: recs::Result<impl std::fmt::Debug>) -> (PathBuf, usize, &'static str, String) {
    match r {
        Err(Error::Parse {
            path,
            line,
            field,
            message,
        }) => (path, line, field, message),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn errors_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, usize, &str, &str); 6] = [
        ("1::2::5\n1::x::4\n", 2, "item", "`x`"),
        ("1::2::5\n\n-::3::4\n", 3, "user", "`-`"),
        ("1::2::5\n1::3::high\n", 2, "rating", "`high`"),
        ("1::2::5::10\n1::3::4::noon\n", 2, "timestamp", "`noon`"),
        ("1::2::5\n1::3::4::99\n", 2, "line", "expected 3 fields"),
        ("1::2::NaN\n", 1, "rating", "`NaN`"),
    ];
    for (k, (text, line, field, needle)) in cases.iter().enumerate() {
        let p = write(dir.path(), &format!("bad{k}.dat"), text.as_bytes());
        let r = load_movielens_ratings(&p, &strict());
        let shown = format!("{:?}", r.as_ref().err());
        let (path, l, f, msg) = parse_error(r);
        assert_eq!(path, p, "{shown}");
        assert_eq!((l, f), (*line, *field), "{shown}");
        assert!(msg.contains(needle), "{msg}");
        // The Display form carries all of it too.
        let e = load_movielens_ratings(&p, &strict())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("bad{k}.dat:{line}: field `{field}`")),
            "{e}"
        );
    }
    let p = write(dir.path(), "one.dat", b"17\n");
    let (_, line, field, msg) = parse_error(load_movielens_ratings(&p, &strict()));
    assert_eq!((line, field), (1, "line"));
    assert!(msg.contains("expected 2 to 4 fields"), "{msg}");
}

#[test]
fn skip_bad_lines_counts_and_reports_the_first_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("1::2::5\n");
    for k in 0..8 {
        text.push_str(&format!("1::bad{k}::5\n"));
    }
    text.push_str("2::2::4\n");
    let p = write(dir.path(), "r.dat", text.as_bytes());
    assert!(load_movielens_ratings(&p, &strict()).is_err());
    let (d, rep) = load_movielens_ratings(&p, &skipping()).unwrap();
    assert_eq!(d.interactions.nnz(), 2);
    assert_eq!((rep.lines, rep.records, rep.skipped), (10, 2, 8));
    assert_eq!(rep.errors.len(), recs::data::MAX_REPORTED_ERRORS);
    assert!(
        rep.errors[0].contains("r.dat:2: field `item`"),
        "{}",
        rep.errors[0]
    );
    assert!(rep.to_string().contains("8 skipped"));
}

#[test]
fn empty_or_all_bad_input_is_a_data_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "empty.dat", b"");
    assert!(matches!(
        load_movielens_ratings(&p, &strict()),
        Err(Error::Data(_))
    ));
    let p = write(dir.path(), "bad.dat", b"a::b::c\n");
    assert!(matches!(
        load_movielens_ratings(&p, &skipping()),
        Err(Error::Data(_))
    ));
    let missing = dir.path().join("nope.dat");
    assert!(matches!(
        load_movielens_ratings(&missing, &strict()),
        Err(Error::Io { .. })
    ));
    // Corrupt gzip: an I/O error naming the file.
    let mut gz = gzip(ML.as_bytes());
    let n = gz.len();
    gz.truncate(n / 2);
    let p = write(dir.path(), "cut.dat.gz", &gz);
    let e = load_movielens_ratings(&p, &strict()).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    assert!(e.to_string().contains("cut.dat.gz"));
    // Binary garbage.
    let p = write(dir.path(), "bin.dat", &[0u8, 159, 146, 150, 10, 255, 0]);
    assert!(load_movielens_ratings(&p, &strict()).is_err());
    assert!(load_movielens_ratings(&p, &skipping()).is_err());
}

#[test]
fn csv_with_named_columns_quotes_and_implicit_values() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "plays.csv",
        b"\"when\",title,item_id,user_id\n100,\"Heat, 1995\",7,1\n101,x,\"8\",1\n102,y,7,2\n",
    );
    let fmt = TextFormat::csv().columns(Columns::Select {
        user: "user_id".into(),
        item: "item_id".into(),
        rating: None,
        timestamp: Some("when".into()),
    });
    let (d, rep) = load_delimited(&p, &fmt, &strict()).unwrap();
    assert_eq!(rep.records, 3);
    assert_eq!(
        triples(&d),
        vec![
            (1, 7, 1.0, Some(100)),
            (1, 8, 1.0, Some(101)),
            (2, 7, 1.0, Some(102))
        ]
    );
    // A missing column is reported against the header line.
    let bad = TextFormat::csv().columns(Columns::Select {
        user: "user".into(),
        item: "item_id".into(),
        rating: None,
        timestamp: None,
    });
    let (_, line, field, msg) = parse_error(load_delimited(&p, &bad, &strict()));
    assert_eq!((line, field), (1, "user"));
    assert!(msg.contains("user_id"), "{msg}");
}

#[test]
fn positional_columns_whitespace_and_semicolons() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "r.txt", b"  5  a 10 4.5\n6 b 11 3\n");
    let fmt = TextFormat::tsv()
        .delimiter(Delimiter::Whitespace)
        .columns(Columns::Select {
            user: Column::Index(0),
            item: Column::Index(2),
            rating: Some(Column::Index(3)),
            timestamp: None,
        });
    let (d, _) = load_delimited(&p, &fmt, &strict()).unwrap();
    assert_eq!(triples(&d), vec![(5, 10, 4.5, None), (6, 11, 3.0, None)]);

    let p = write(dir.path(), "r.csv", b"u;i\n1;2\n3;4\n");
    let fmt = TextFormat::csv().delimiter(Delimiter::Byte(b';'));
    let (d, _) = load_delimited(&p, &fmt, &strict()).unwrap();
    assert_eq!(triples(&d), vec![(1, 2, 1.0, None), (3, 4, 1.0, None)]);
    // Too few fields for the chosen columns.
    let p = write(dir.path(), "short.txt", b"1 2 3 4\n1 2\n");
    let (_, line, field, _) = parse_error(load_delimited(&p, &fmt_ws(), &strict()));
    assert_eq!((line, field), (2, "line"));
}

fn fmt_ws() -> TextFormat {
    TextFormat::tsv()
        .delimiter(Delimiter::Whitespace)
        .columns(Columns::Select {
            user: Column::Index(0),
            item: Column::Index(1),
            rating: Some(Column::Index(3)),
            timestamp: None,
        })
}

#[test]
fn named_columns_without_header_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "r.tsv", b"1\t2\n");
    let fmt = TextFormat::tsv().columns(Columns::Select {
        user: "u".into(),
        item: "i".into(),
        rating: None,
        timestamp: None,
    });
    assert!(matches!(
        load_delimited(&p, &fmt, &strict()),
        Err(Error::Data(_))
    ));
}

#[test]
fn duplicates_rules_apply_to_loaded_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "plays.tsv",
        b"1\t5\t2\t30\n1\t5\t3\t10\n1\t5\t1\t20\n",
    );
    let get = |dups| {
        let opts = LoadOptions {
            duplicates: dups,
            ..LoadOptions::default()
        };
        load_delimited(&p, &TextFormat::tsv(), &opts).unwrap().0
    };
    // KeepLast = latest timestamp (30 → 2), not last line.
    assert_eq!(get(Duplicates::KeepLast).interactions.values(), &[2.0]);
    assert_eq!(get(Duplicates::KeepFirst).interactions.values(), &[2.0]);
    assert_eq!(get(Duplicates::Sum).interactions.values(), &[6.0]);
    assert_eq!(get(Duplicates::Max).interactions.values(), &[3.0]);
    assert_eq!(get(Duplicates::KeepFirst).order.as_deref(), Some(&[0][..]));
    assert_eq!(get(Duplicates::Sum).order.as_deref(), Some(&[2][..]));
}

#[test]
fn ml100k_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "u.data",
        b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n",
    );
    let (d, _) = load_ml100k_ratings(&p, &strict()).unwrap();
    assert_eq!(
        triples(&d),
        vec![
            (186, 302, 3.0, Some(891717742)),
            (196, 242, 3.0, Some(881250949))
        ]
    );
    // The generic entry point with a guessed format gives the same.
    let (g, _) = load(&p, &Format::guess(&p), &strict()).unwrap();
    assert_eq!(g, d);

    let mut item =
        b"1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
            .to_vec();
    item.extend_from_slice(
        b"2|Caf\xe9 (1993)|01-Jan-1993||http://y|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n",
    );
    let p = write(dir.path(), "u.item", &item);
    let m = load_ml100k_items(&p).unwrap();
    assert_eq!(m[0].genres, ["Animation", "Children's", "Comedy"]);
    assert_eq!(m[1].title, "Café (1993)");
    assert_eq!(m[1].genres, ["Drama"]);
    let p = write(dir.path(), "u.item2", b"1|T|d||u|0|0\n");
    let (_, line, field, _) = parse_error(load_ml100k_items(&p));
    assert_eq!((line, field), (1, "line"));

    let p = write(dir.path(), "u.user", b"1|24|M|technician|85711\n");
    let u = load_ml100k_users(&p).unwrap();
    assert_eq!(
        (u[0].id, u[0].age, u[0].gender, u[0].occupation.as_str()),
        (1, 24, 'M', "technician")
    );
}

#[test]
fn movies_and_users_latin1_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "movies.dat",
        b"570::Slingshot, The (K\xe5disbellan ) (1993)::Comedy|Drama\n1::Toy Story (1995)::Animation\n",
    );
    let m = load_movies(&p).unwrap();
    assert_eq!(m[0].title, "Slingshot, The (Kådisbellan ) (1993)");
    assert_eq!(m[0].year(), Some(1993));
    assert_eq!(m[1].genres, ["Animation"]);
    let p = write(dir.path(), "bad_movies.dat", b"1::A::B\nx::T::Drama\n");
    let (_, line, field, _) = parse_error(load_movies(&p));
    assert_eq!((line, field), (2, "movie id"));

    let p = write(
        dir.path(),
        "users.dat",
        b"1::F::1::10::48067\n2::X::56::16::70072\n",
    );
    let (_, line, field, msg) = parse_error(load_users(&p));
    assert_eq!((line, field), (2, "gender"));
    assert!(msg.contains("`X`"));
    let p = write(dir.path(), "users2.dat", b"1::F::1::21::48067\n");
    let (_, _, field, _) = parse_error(load_users(&p));
    assert_eq!(field, "occupation");
}

#[test]
fn from_external_equals_loading_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "r.dat", ML.as_bytes());
    let (loaded, _) = load_movielens_ratings(&p, &strict()).unwrap();
    let built = Dataset::from_external(
        &[1, 1, 2, 3, 1],
        &[1193, 661, 661, 1193, 1193],
        Some(&[5.0, 3.0, 4.0, 2.0, 4.0]),
        Some(&[978300760, 978302109, 978298413, 978297000, 978300800]),
        Duplicates::KeepLast,
    )
    .unwrap();
    assert_eq!(loaded, built);
}

fn ncf_files(dir: &Path, negatives: &str) -> (PathBuf, PathBuf, PathBuf) {
    (
        write(dir, "train", b"0\t0\t5\n0\t1\t3\n1\t1\t4\n2\t0\t1\n"),
        write(dir, "test", b"0\t2\t4\t100\n1\t0\t5\t200\n"),
        write(dir, "neg", negatives.as_bytes()),
    )
}

#[test]
fn ncf_loads_and_fixes_the_negatives_quirk() {
    let dir = tempfile::tempdir().unwrap();
    let (tr, te, ng) = ncf_files(dir.path(), "(0,2)\t3\t2\t1\n(1,0)\t4\t3\n");
    let (s, rep) = load_ncf_with(&tr, &te, Some(&ng), &strict()).unwrap();
    assert_eq!(s.train.nnz(), 4);
    assert_eq!((s.train.n_users(), s.train.n_items()), (3, 5)); // item 4 only among negatives
    assert_eq!((s.users.len(), s.items.len()), (3, 5));
    assert_eq!(s.test.cases.len(), 2);
    assert_eq!(s.test.cases[0].items, [2]);
    assert_eq!(s.test.cases[0].negatives.as_deref(), Some(&[3, 1][..]));
    assert_eq!(s.test.cases[1].negatives.as_deref(), Some(&[4, 3][..]));
    assert_eq!(rep.notes.len(), 1, "{rep}");
    assert!(rep.notes[0].contains("in 1 lines"), "{}", rep.notes[0]);
    // Without negatives: full-catalogue cases.
    let s = load_ncf(&tr, &te, None).unwrap();
    assert!(s.test.cases.iter().all(|c| c.negatives.is_none()));
    assert_eq!(s.items.len(), 3);
}

#[test]
fn ncf_negatives_must_match_the_test_file() {
    let dir = tempfile::tempdir().unwrap();
    let (tr, te, ng) = ncf_files(dir.path(), "(0,2)\t3\n(1,1)\t4\n");
    let (path, line, field, msg) = parse_error(load_ncf(&tr, &te, Some(&ng)));
    assert_eq!((path, line, field), (ng, 2, "(user,item)"));
    assert!(msg.contains("not in the test file"), "{msg}");

    let (tr, te, ng) = ncf_files(dir.path(), "(0,2)\t3\n");
    let e = load_ncf(&tr, &te, Some(&ng)).unwrap_err();
    assert!(matches!(e, Error::Data(_)), "{e}");
    assert!(e.to_string().contains("no negatives line"), "{e}");

    let (tr, te, ng) = ncf_files(dir.path(), "(0,2)\t3\n(1,0)\t3\n(0,2)\t1\n");
    let (_, line, _, msg) = parse_error(load_ncf(&tr, &te, Some(&ng)));
    assert_eq!(line, 3);
    assert!(msg.contains("second negatives line"), "{msg}");

    let (tr, te, ng) = ncf_files(dir.path(), "0,2\t3\n");
    let (_, line, field, _) = parse_error(load_ncf(&tr, &te, Some(&ng)));
    assert_eq!((line, field), (1, "(user,item)"));

    let (tr, te, ng) = ncf_files(dir.path(), "(0,2)\t3\tx\n");
    let (_, _, field, _) = parse_error(load_ncf(&tr, &te, Some(&ng)));
    assert_eq!(field, "negative");

    let tr = write(dir.path(), "train_neg", b"0\t-1\t5\n");
    let (_, line, field, msg) = parse_error(load_ncf(&tr, &te, None));
    assert_eq!((line, field), (1, "item"));
    assert!(msg.contains("-1"), "{msg}");
}
