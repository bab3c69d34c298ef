//! The `recs` binary end to end: `recs demo` publishes and serves (real HTTP on 127.0.0.1), and
//! `recs serve` takes its admin token from `RECS_ADMIN_TOKEN`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use recs::model::{AnyModel, Fit, Popularity};
use recs::registry::{publish_model, LocalRegistry, NewVersion, Registry};

const BIN: &str = env!("CARGO_BIN_EXE_recs");

#[test]
fn demo_publishes_promotes_serves_and_switches() {
    let dir = tempfile::tempdir().expect("test value");
    let reg_dir = dir.path().join("reg");
    let out = Command::new(BIN)
        .args([
            "demo",
            "--users",
            "80",
            "--items",
            "50",
            "--interactions",
            "2000",
            "--models",
            "pop,als",
            "--quiet",
            "--registry",
        ])
        .arg(&reg_dir)
        .env_remove("RECS_ADMIN_TOKEN")
        .output()
        .expect("test value");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");

    // Two versions published, the latest pointer set to one of them.
    let reg = LocalRegistry::open(&reg_dir).expect("test value");
    let versions = reg.versions().expect("test value");
    assert_eq!(versions.len(), 2, "{versions:?}");
    let latest = reg
        .latest()
        .expect("test value")
        .expect("a promoted version");
    assert!(versions.contains(&latest));
    assert!(
        stdout.contains(&format!("{latest}")) && stdout.contains("promoted to latest"),
        "{stdout}"
    );

    // The requests: known user, cold start, health, refused and accepted switch, metrics.
    let status_of = |what: &str| -> String {
        let line = stdout
            .lines()
            .find(|l| l.ends_with(what))
            .unwrap_or_else(|| panic!("no line ending with `{what}` in:\n{stdout}"));
        line.split(" -> ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .expect("test value")
            .to_string()
    };
    assert_eq!(status_of("a known user"), "200");
    assert_eq!(
        status_of("an unknown user: cold start (popularity), not an error"),
        "200"
    );
    assert!(
        stdout.contains("cold_start true, strategy popularity"),
        "{stdout}"
    );
    assert!(
        stdout.contains("cold_start false, strategy model"),
        "{stdout}"
    );
    assert_eq!(status_of("health"), "200");
    assert_eq!(
        status_of("hot switch without the admin token: refused"),
        "401"
    );
    assert_eq!(status_of("hot switch with the admin token"), "200");
    assert_eq!(
        status_of("the same user, now served by the new version"),
        "200"
    );
    let other = versions.iter().find(|v| **v != latest).expect("test value");
    assert!(
        stdout.contains(&format!(" {other} (variant fixed")),
        "the switched-to version {other} served no answer:\n{stdout}"
    );
    assert!(
        stdout.contains("recs_model_switches_total"),
        "no metrics excerpt:\n{stdout}"
    );
    assert!(
        stdout.contains("server stopped (graceful shutdown)"),
        "{stdout}"
    );
}

fn request(addr: SocketAddr, path: &str, bearer: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("test value");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("test value");
    let auth = bearer.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("test value");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("test value");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("test value");
    (status, text)
}

#[test]
fn serve_reads_the_admin_token_from_the_environment() {
    let dir = tempfile::tempdir().expect("test value");
    let reg = LocalRegistry::open(dir.path()).expect("test value");
    let model: AnyModel = Popularity::params()
        .fit(&recs::data::Interactions::empty(2, 4))
        .expect("test value")
        .into();
    let meta = publish_model(&reg, &model, NewVersion::new("popularity")).expect("test value");
    reg.set_latest(&meta.version).expect("test value");

    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--registry"])
        .arg(dir.path())
        .env("RECS_ADMIN_TOKEN", "from-env-token")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("test value");
    let stderr = child.stderr.take().expect("test value");
    let mut lines = BufReader::new(stderr).lines();
    let addr: SocketAddr = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .expect("test value");
        if let Some(a) = line.split("listening on http://").nth(1) {
            break a.trim().parse().expect("test value");
        }
    };
    // Drain the rest of stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let mut ready = false;
    for _ in 0..200 {
        if request(addr, "/readyz", None).0 == 200 {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let admin = [
        request(addr, "/admin/versions", Some("from-env-token")),
        request(addr, "/admin/versions", Some("wrong")),
        request(addr, "/admin/versions", None),
    ];
    child.kill().expect("test value");
    let _ = child.wait();
    assert!(ready, "the server never became ready");
    assert_eq!(admin[0].0, 200, "{}", admin[0].1);
    assert!(admin[0].1.contains("v1.0"), "{}", admin[0].1);
    assert_eq!(admin[1].0, 401);
    assert_eq!(admin[2].0, 401);
}

/// `recs eval --times` gives the NCF split's training interactions their rating times, which
/// `fresh` weighs the history by.
#[test]
fn eval_fresh_weighs_recent_history_with_times() {
    let dir = tempfile::tempdir().expect("test value");
    let p = |n: &str| dir.path().join(n);
    // Items 0 and 2 go together (5 users), items 1 and 3 (4 users). User 0 rated 0, then 4,
    // then 1, and holds out 3: unweighted, item 0's partner 2 wins; weighted by recency, the
    // latest item 1's partner 3 does (16 · 4 > 11.05 · 5 with boost 15, decay 5).
    let mut train = String::from("0\t0\t5\n0\t1\t5\n0\t4\t5\n");
    for u in 1..=5 {
        train.push_str(&format!("{u}\t0\t5\n{u}\t2\t5\n"));
    }
    for u in 6..=9 {
        train.push_str(&format!("{u}\t1\t5\n{u}\t3\t5\n"));
    }
    std::fs::write(p("train"), train).expect("test value");
    std::fs::write(p("test"), "0\t3\t5\t400\n").expect("test value");
    let movies: String = (0..5)
        .map(|i| format!("{}::Film {i} (1999)::Drama\n", 10 + i))
        .collect();
    std::fs::write(p("movies.dat"), movies).expect("test value");
    let map: String = (0..5).map(|i| format!("{i}\t{}\n", 10 + i)).collect();
    std::fs::write(p("map.tsv"), format!("ncf\tmovie\n{map}")).expect("test value");
    // UserID 1 is NCF user 0; the held-out rating's time is in the file too and is not used
    std::fs::write(
        p("ratings.dat"),
        "1::10::5::100\n1::14::5::200\n1::11::5::300\n1::13::5::400\n",
    )
    .expect("test value");
    let path = |n: &str| p(n).display().to_string();
    let run = |extra: &[&str]| {
        // fresh's fixed defaults (λ 800, recency boost 15): `auto` would choose them on this
        // tiny fixture's own validation split
        let mut args = vec![
            "eval",
            "--quiet",
            "--k",
            "1",
            "--models",
            "fresh:lambda=800,recency_boost=15",
        ];
        let (train, test, movies, map) = (
            path("train"),
            path("test"),
            path("movies.dat"),
            path("map.tsv"),
        );
        args.extend(["--train", &train, "--test", &test, "--movies", &movies]);
        args.extend(["--item-map", &map]);
        args.extend(extra);
        Command::new(BIN).args(&args).output().expect("test value")
    };
    let hr = |out: &std::process::Output| {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
            .lines()
            .find(|l| l.starts_with("| fresh"))
            .and_then(|l| l.split('|').nth(3).map(|c| c.trim().to_string()))
            .unwrap_or_else(|| panic!("no fresh row in:\n{stdout}"))
    };
    assert_eq!(hr(&run(&[])), "0.0000");
    let times = path("ratings.dat");
    let timed = run(&["--times", &times]);
    assert_eq!(hr(&timed), "1.0000");
    let stderr = String::from_utf8_lossy(&timed.stderr);
    assert!(
        stderr.contains("3 of 21 training interactions have a time"),
        "{stderr}"
    );
    // a times file that matches nothing is an error, not a silent no-op
    std::fs::write(p("other.dat"), "99::10::5::100\n").expect("test value");
    let other = path("other.dat");
    let out = run(&["--times", &other]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("none of the training interactions"));
}

/// `recs eval --models fresh` reads release years through `--movies` and `--item-map`; without
/// them it stops with an error that says what is missing.
#[test]
fn eval_fresh_uses_movie_years_and_says_when_they_are_missing() {
    let dir = tempfile::tempdir().expect("test value");
    let p = |n: &str| dir.path().join(n);
    // 6 users; items 0 and 1 are liked by everyone else, item 2 (the 2000 release) by fewer
    let mut train = String::new();
    for u in 0..6 {
        for i in [0, 1, 3] {
            if u != 0 || i == 3 {
                train.push_str(&format!("{u}\t{i}\t5\n"));
            }
        }
        if u >= 3 {
            train.push_str(&format!("{u}\t2\t5\n"));
        }
    }
    std::fs::write(p("train"), train).expect("test value");
    std::fs::write(p("test"), "0\t2\t5\t100\n").expect("test value");
    std::fs::write(
        p("movies.dat"),
        "10::Old (1950)::Drama\n11::Older (1940)::Drama\n12::New (2000)::Drama\n13::Mid (1990)::Drama\n",
    )
    .expect("test value");
    std::fs::write(p("map.tsv"), "ncf\tmovie\n0\t10\n1\t11\n2\t12\n3\t13\n").expect("test value");
    let run = |extra: &[&str]| {
        Command::new(BIN)
            .args(["eval", "--quiet", "--k", "1", "--train"])
            .arg(p("train"))
            .arg("--test")
            .arg(p("test"))
            .args(extra)
            .output()
            .expect("test value")
    };
    let movies = p("movies.dat").display().to_string();
    let map = p("map.tsv").display().to_string();
    let out = run(&[
        "--models",
        // fresh's fixed defaults: `auto` would choose on the fixture's own validation split
        "pop,fresh:lambda=800,recency_boost=15",
        "--movies",
        &movies,
        "--item-map",
        &map,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // HR@1 (third column) of user 0's held-out new release: popularity ranks items 1 and 0
    // first (0.0000); fresh lifts the 2000 release to the top (1.0000)
    let hr = |model: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {model}")))
            .and_then(|l| l.split('|').nth(3).map(|c| c.trim().to_string()))
            .unwrap_or_else(|| panic!("no row for {model} in:\n{stdout}"))
    };
    assert_eq!(hr("pop"), "0.0000", "{stdout}");
    assert_eq!(hr("fresh"), "1.0000", "{stdout}");

    let out = run(&["--models", "fresh"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("years"), "{stderr}");
    // ids that match no movie: the error suggests --item-map
    let out = run(&["--models", "fresh", "--movies", &movies]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--item-map"), "{stderr}");
}

/// `recs eval --sequences` splits ordered histories leave-one-out by time: the published
/// protocol fits without each user's second-last item but scores with it in the history, and a
/// split meant for unordered data is refused.
#[test]
fn eval_sequences_splits_by_time() {
    let dir = tempfile::tempdir().expect("test value");
    let file = dir.path().join("beauty.txt");
    // Ten users walk the cycle 10→11→12→13→14→10 for four steps from different starts (so
    // every step of the cycle is in every fit), in file order; user 99 has two items only and
    // is never evaluated. The next item always follows the newest one, so `transition` hits at
    // k = 1 when the history it scores from ends with the item just before the held-out one.
    // Under seq-loo-published, the fit stops two items early: if the second-last item were
    // missing from the test history, the model would propose it (one step behind) and miss.
    let mut lines = String::new();
    for user in 1..=10 {
        for step in 0..4 {
            lines.push_str(&format!("{user} {}\n", 10 + (user + step) % 5));
        }
    }
    lines.push_str("99 10\n99 11\n");
    std::fs::write(&file, lines).expect("test value");
    let run = |extra: &[&str]| {
        let mut args = vec!["eval", "--quiet", "--k", "1", "--models", "transition"];
        args.push("--sequences");
        let path = file.display().to_string();
        let mut cmd = Command::new(BIN);
        cmd.args(&args).arg(path).args(extra);
        cmd.output().expect("test value")
    };
    let hr = |out: &std::process::Output| {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
            .lines()
            .find(|l| l.starts_with("| transition "))
            .and_then(|l| l.split('|').nth(3).map(|c| c.trim().to_string()))
            .unwrap_or_else(|| panic!("no transition row in:\n{stdout}"))
    };
    assert_eq!(hr(&run(&["--split", "seq-loo"])), "1.0000");
    assert_eq!(hr(&run(&["--split", "seq-loo-published"])), "1.0000");
    assert_eq!(hr(&run(&["--split", "seq-validation"])), "1.0000");
    let refused = run(&["--split", "random:0.2"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("expected seq-loo, seq-loo-published or seq-validation"),
        "{stderr}"
    );
}

/// A blend spec in `--models` with a member parameter and an `auto` weight: the comma list
/// keeps `transition=auto` and `transition.window=2` with the blend, the chosen weight is
/// printed like the other `auto` values, and a member parameter without its member's weight is
/// refused with the key named.
#[test]
fn eval_blend_spec_with_member_params_and_auto_weight() {
    let dir = tempfile::tempdir().expect("test value");
    let file = dir.path().join("walks.txt");
    // the cycle walks of `eval_sequences_splits_by_time`, five steps
    let mut lines = String::new();
    for user in 1..=10 {
        for step in 0..5 {
            lines.push_str(&format!("{user} {}\n", 10 + (user + step) % 5));
        }
    }
    std::fs::write(&file, lines).expect("test value");
    let run = |models: &str| {
        Command::new(BIN)
            .args(["eval", "--quiet", "--k", "1", "--models", models])
            .arg("--sequences")
            .arg(&file)
            .args(["--split", "seq-loo"])
            .output()
            .expect("test value")
    };
    let spec = "blend:pop=1,transition=auto,transition.window=2";
    let out = run(&format!("{spec},pop"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("auto blend.transition = "), "{stdout}");
    assert!(stdout.contains(&format!("| {spec} ")), "{stdout}");
    assert!(stdout.contains("| pop "), "{stdout}");
    let refused = run("blend:pop=1,transition.window=2");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("`transition.window` without `transition=WEIGHT`"),
        "{stderr}"
    );
}

/// `recs recommend` to Parquet: the same rows as its CSV output, raw ids, ranks from 1; a user
/// whose only item is 300 gets the two most popular items (100: 3 users, 200: 2).
#[cfg(feature = "stream")]
#[test]
fn recommend_writes_parquet_with_the_csv_rows() {
    let dir = tempfile::tempdir().expect("test value");
    let data = dir.path().join("ratings.csv");
    std::fs::write(
        &data,
        "userId,movieId,rating,timestamp\n10,100,5,1\n10,200,4,2\n20,100,3,3\n20,200,5,4\n\
         30,300,4,5\n40,100,2,6\n40,400,5,7\n",
    )
    .expect("test value");
    let run = |out: &std::path::Path| {
        let o = Command::new(BIN)
            .args(["recommend", "--model", "pop", "--k", "2", "--data"])
            .arg(&data)
            .args([
                "--columns",
                "user=userId,item=movieId,rating=rating,time=timestamp",
                "--out",
            ])
            .arg(out)
            .output()
            .expect("test value");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (pq, csv) = (dir.path().join("top.parquet"), dir.path().join("top.csv"));
    run(&pq);
    run(&csv);
    let rows = recs::model::read_lists_parquet(std::fs::read(&pq).expect("test value"), &pq)
        .expect("test value");
    let text = std::fs::read_to_string(&csv).expect("test value");
    let from_csv: Vec<(i64, u32, i64, f32)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse().expect("test value"),
                f[1].parse().expect("test value"),
                f[2].parse().expect("test value"),
                f[3].parse().expect("test value"),
            )
        })
        .collect();
    let from_pq: Vec<(i64, u32, i64, f32)> = (0..rows.len())
        .map(|k| (rows.user[k], rows.rank[k], rows.item[k], rows.score[k]))
        .collect();
    assert_eq!(from_pq, from_csv);
    let of_30: Vec<(u32, i64)> = from_pq
        .iter()
        .filter(|r| r.0 == 30)
        .map(|r| (r.1, r.2))
        .collect();
    assert_eq!(of_30, [(1, 100), (2, 200)]);
    assert!(!dir.path().join("top.parquet.tmp").exists());
}

/// `--models-file` is read through the library's bounded reader: an endless file is an error
/// naming it, not unbounded memory (the read stops at `recs::util::SMALL_FILE_MAX_BYTES`).
#[test]
#[cfg(unix)]
fn an_endless_models_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("test value");
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("train"), "0\t0\n0\t1\n1\t1\n").expect("test value");
    std::fs::write(p("test"), "0\t2\n").expect("test value");
    let out = Command::new(BIN)
        .args([
            "eval",
            "--quiet",
            "--models",
            "pop",
            "--models-file",
            "/dev/zero",
        ])
        .arg("--train")
        .arg(p("train"))
        .arg("--test")
        .arg(p("test"))
        .output()
        .expect("test value");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--models-file")
            && stderr.contains("/dev/zero")
            && stderr.contains(&recs::util::SMALL_FILE_MAX_BYTES.to_string()),
        "{stderr}"
    );
}

/// `--validation random:F` carves a fraction F of each user's training ratings for `auto`
/// (here 0.5 of two: one per user); a fraction outside (0, 1) or an unknown value is an error
/// naming the accepted forms.
#[test]
fn eval_validation_takes_a_random_fraction() {
    let dir = tempfile::tempdir().expect("test value");
    let p = |n: &str| dir.path().join(n).display().to_string();
    let mut train = String::new();
    for u in 0..8 {
        // two taste groups: items 0/1 and 2/3
        let (a, b) = if u % 2 == 0 { (0, 1) } else { (2, 3) };
        train.push_str(&format!("{u}\t{a}\t5\n{u}\t{b}\t5\n"));
    }
    std::fs::write(p("train"), train).expect("test value");
    std::fs::write(p("test"), "0\t4\t5\n").expect("test value");
    let run_folds = |validation: &str, folds: &str| {
        Command::new(BIN)
            .args([
                "eval",
                "--quiet",
                "--models",
                "ease",
                "--train",
                &p("train"),
            ])
            .args(["--test", &p("test"), "--validation", validation])
            .args(["--validation-folds", folds])
            .output()
            .expect("test value")
    };
    let run = |validation: &str| run_folds(validation, "5");
    // F = 0.5: two folds (of the default 5); one fold = the single hold-out
    for folds in ["5", "1"] {
        let ok = run_folds("random:0.5", folds);
        let stdout = String::from_utf8_lossy(&ok.stdout);
        assert!(
            ok.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        assert!(stdout.contains("auto ease.lambda"), "{stdout}");
    }
    let zero = run_folds("random:0.5", "0");
    assert!(!zero.status.success());
    let stderr = String::from_utf8_lossy(&zero.stderr);
    assert!(stderr.contains("--validation-folds"), "{stderr}");
    for bad in ["random:1.5", "random:x", "first"] {
        let out = run(bad);
        assert!(!out.status.success(), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("random:F with F in (0, 1)"),
            "{bad}: {stderr}"
        );
    }
}
