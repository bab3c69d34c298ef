//! `recs fairness`: exposure of each model's top-K lists, quality by user group and (with
//! `--rounds`) the feedback-loop simulation, written as JSON, markdown and SVG plots.
//!
//! The analysis itself ([`analyse`]) is shared with `recs report`.

use std::path::{Path, PathBuf};

use clap::Args;
use recs::data::{self, Format, LoadOptions, Split};
use recs::eval::fairness::{study, Demographics, GroupQuality, StudyConfig};
use recs::eval::feedback::FeedbackConfig;
use recs::util::write_atomic;
use recs::Error;

use crate::report::plot::{self, GapRow, LineOpts, Series};

/// Errors of a command: printed as one line by `main`.
pub(crate) type CmdResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Where the interactions come from.
#[derive(Debug, Clone, Args)]
pub(crate) struct InputArgs {
    /// A ratings file (MovieLens ratings.dat, ML-100K u.data, CSV/TSV; .gz ok), split
    /// leave-last-out.
    #[arg(long, conflicts_with_all = ["train", "test"])]
    pub(crate) data: Option<PathBuf>,
    /// Pre-split NCF training file (user\titem\trating[\tts]), with --test.
    #[arg(long, requires = "test")]
    pub(crate) train: Option<PathBuf>,
    /// Pre-split NCF test file (one held-out item per user), with --train.
    #[arg(long, requires = "train")]
    pub(crate) test: Option<PathBuf>,
}

impl InputArgs {
    /// True when some input was given.
    pub(crate) fn given(&self) -> bool {
        self.data.is_some() || self.train.is_some()
    }

    /// Loads and splits the input; the flag says whether the ids are NCF ids.
    pub(crate) fn load(&self) -> CmdResult<(Split, bool)> {
        match (&self.data, &self.train, &self.test) {
            (Some(path), _, _) => {
                let (d, _) = data::load(path, &Format::guess(path), &LoadOptions::default())?;
                Ok((data::split::leave_last_out(&d)?, false))
            }
            (None, Some(train), Some(test)) => Ok((data::load_ncf(train, test, None)?, true)),
            _ => Err("give --data FILE, or --train FILE --test FILE".into()),
        }
    }
}

/// Arguments of `recs fairness`.
#[derive(Debug, Clone, Args)]
pub(crate) struct FairnessArgs {
    #[command(flatten)]
    pub(crate) input: InputArgs,
    #[command(flatten)]
    pub(crate) analysis: AnalysisArgs,
    /// Output directory (created): fairness.json, fairness.md and SVG plots.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Logged answers to measure as well: files of `reco_response` events (the server's
    /// `--exposure-log` files, `recs probe --events` files; JSON lines, gzip ok). Their movie
    /// ids are raw ids, matched against --data's movies (popularity from its training part);
    /// written to logged_exposure.json, per model version and variant.
    #[arg(long, num_args = 1..)]
    pub(crate) exposures: Vec<PathBuf>,
    /// Skip (and count) lines of --exposures files that do not parse, instead of stopping.
    #[arg(long)]
    pub(crate) skip_bad_lines: bool,
}

/// What to analyse (shared by `recs fairness` and `recs report`).
#[derive(Debug, Clone, Args)]
pub(crate) struct AnalysisArgs {
    /// Models to train, comma-separated (see `recs eval`).
    #[arg(long, value_delimiter = ',', default_value = "pop")]
    pub(crate) models: Vec<String>,
    /// ML-1M users.dat, for quality by gender, age band and occupation.
    #[arg(long)]
    pub(crate) users: Option<PathBuf>,
    /// Added to the data's user id to find the user in --users. Default: 1 for the NCF files
    /// (--train/--test; NCF user = UserID - 1), 0 for --data.
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) user_id_offset: Option<i64>,
    /// List length K of the exposure and group metrics.
    #[arg(long, default_value_t = 10)]
    pub(crate) k: usize,
    /// Activity bands (quantiles of the users' training counts).
    #[arg(long, default_value_t = 4)]
    pub(crate) activity_bands: usize,
    /// Feedback-loop rounds; 0 skips the simulation.
    #[arg(long, default_value_t = 0)]
    pub(crate) rounds: usize,
    /// Reference model whose top --taste-k items define each user's taste set in the
    /// simulation (fitted once on the training data); none = acceptance by rank only.
    #[arg(long)]
    pub(crate) taste_model: Option<String>,
    /// Taste-set size.
    #[arg(long, default_value_t = 50)]
    pub(crate) taste_k: usize,
    /// Acceptance probability of an examined taste-set item.
    #[arg(long, default_value_t = 0.9)]
    pub(crate) p_liked: f64,
    /// Acceptance probability of any other examined item.
    #[arg(long, default_value_t = 0.2)]
    pub(crate) p_other: f64,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

/// Everything `recs fairness` writes to fairness.json (the library's study result).
pub(crate) use recs::eval::fairness::FairnessStudy as FairnessOutput;

fn progress(quiet: bool, msg: &str) {
    if !quiet {
        tracing::info!("{msg}");
    }
}

/// Runs the library's fairness study ([`recs::eval::fairness::study`]) with the arguments:
/// loads `--users` (the error names the file) and reports progress unless quiet.
pub(crate) fn analyse(
    split: &Split,
    ncf_ids: bool,
    args: &AnalysisArgs,
    ks: &[usize],
) -> CmdResult<FairnessOutput> {
    let feedback = (args.rounds > 0).then(|| {
        FeedbackConfig::default()
            .rounds(args.rounds)
            .k(args.k)
            .taste_k(args.taste_k)
            .p_liked(args.p_liked)
            .p_other(args.p_other)
            .seed(args.seed)
    });
    let config = StudyConfig {
        models: args.models.clone(),
        k: args.k,
        ks: ks.to_vec(),
        activity_bands: args.activity_bands,
        feedback,
        taste_model: args.taste_model.clone(),
    };
    let info = match &args.users {
        Some(path) => Some((path, data::load_users(path)?)),
        None => None,
    };
    let offset = args.user_id_offset.unwrap_or(i64::from(ncf_ids));
    let demographics = info.as_ref().map(|(_, users)| Demographics {
        users,
        id_offset: offset,
    });
    let quiet = args.quiet;
    study(split, &config, demographics, &mut |msg| {
        progress(quiet, msg)
    })
    .map_err(|e| match (&e, &info) {
        (Error::Data(m), Some((path, _))) if m.starts_with("no test user matched") => {
            format!("{m} in {}; check --user-id-offset", path.display()).into()
        }
        _ => e.into(),
    })
}

fn f4(v: f64) -> String {
    // + 0.0 turns -0.0 into 0.0
    format!("{:.4}", v + 0.0)
}

/// Markdown tables: exposure, groups (per attribute), feedback rounds.
pub(crate) fn markdown(out: &FairnessOutput) -> String {
    let k = out.k;
    let mut s = format!(
        "Split `{}`: {} users, {} items, {} training interactions, {} test users; lists of K = {k}, protocol `{}`.\n\n",
        out.split, out.n_users, out.n_items, out.n_interactions, out.n_test_users, out.protocol
    );
    s.push_str("### Exposure\n\n");
    let rows: Vec<Vec<String>> = out
        .models
        .iter()
        .map(|m| {
            let e = &m.exposure;
            vec![
                m.name.clone(),
                m.summary
                    .get(&format!("hr@{k}"))
                    .map_or("-".into(), |v| f4(*v)),
                m.summary
                    .get(&format!("ndcg@{k}"))
                    .map_or("-".into(), |v| f4(*v)),
                f4(e.coverage),
                e.never_exposed.to_string(),
                f4(e.gini),
                f4(e.top10_share),
                f4(e.long_tail_share),
                f4(e.mean_pop_recommended),
                f4(e.mean_pop_consumed),
                format!("{:.2}", e.popularity_bias),
            ]
        })
        .collect();
    s.push_str(&recs::eval::markdown_table(
        &[
            "model",
            &format!("HR@{k}"),
            &format!("NDCG@{k}"),
            "coverage",
            "never exposed",
            "Gini",
            "top-10% share",
            "long-tail share",
            "mean pop. rec.",
            "mean pop. consumed",
            "pop. bias",
        ],
        &rows,
    ));
    let mut attributes: Vec<&str> = Vec::new();
    for m in &out.models {
        for g in &m.groups {
            if !attributes.contains(&g.attribute.as_str()) {
                attributes.push(&g.attribute);
            }
        }
    }
    for attr in attributes {
        for metric in [format!("hr@{k}"), format!("ndcg@{k}")] {
            let _ = std::fmt::Write::write_fmt(
                &mut s,
                format_args!("\n### {metric} by {attr} (gap to the overall value, 95% CI)\n\n"),
            );
            let per_model: Vec<&GroupQuality> = out
                .models
                .iter()
                .filter_map(|m| {
                    m.groups
                        .iter()
                        .find(|g| g.attribute == attr && g.metric == metric)
                })
                .collect();
            let Some(first) = per_model.first() else {
                continue;
            };
            let mut head = vec!["group".to_string(), "users".to_string()];
            head.extend(out.models.iter().map(|m| m.name.clone()));
            let mut rows: Vec<Vec<String>> = vec![{
                let mut r = vec!["(all)".to_string(), first.n_users.to_string()];
                r.extend(per_model.iter().map(|q| f4(q.overall)));
                r
            }];
            for (i, g) in first.groups.iter().enumerate() {
                let mut r = vec![g.group.clone(), g.n_users.to_string()];
                for q in &per_model {
                    r.push(match q.groups.get(i) {
                        Some(st) => match st.gap_ci95 {
                            Some([lo, hi]) => {
                                format!("{} ({:+.4} [{:+.4}, {:+.4}])", f4(st.mean), st.gap, lo, hi)
                            }
                            None => format!("{} ({:+.4})", f4(st.mean), st.gap),
                        },
                        None => "-".into(),
                    });
                }
                rows.push(r);
            }
            let head_refs: Vec<&str> = head.iter().map(String::as_str).collect();
            s.push_str(&recs::eval::markdown_table(&head_refs, &rows));
        }
    }
    if out.models.iter().any(|m| m.feedback.is_some()) {
        s.push_str("\n### Feedback loop (per round: coverage / Gini / popularity bias / data Gini / accepted)\n\n");
        let mut rows = Vec::new();
        for m in &out.models {
            if let Some(f) = &m.feedback {
                for r in &f.rounds {
                    rows.push(vec![
                        m.name.clone(),
                        r.round.to_string(),
                        r.interactions.to_string(),
                        f4(r.exposure.coverage),
                        f4(r.exposure.gini),
                        format!("{:.2}", r.exposure.popularity_bias),
                        f4(r.data_gini),
                        r.accepted.to_string(),
                        r.accepted_liked.to_string(),
                    ]);
                }
            }
        }
        s.push_str(&recs::eval::markdown_table(
            &[
                "model",
                "round",
                "interactions",
                "coverage",
                "Gini",
                "pop. bias",
                "data Gini",
                "accepted",
                "of which liked",
            ],
            &rows,
        ));
    }
    s
}

/// The Lorenz curves of all models.
pub(crate) fn lorenz_svg(out: &FairnessOutput) -> String {
    let series: Vec<Series> = out
        .models
        .iter()
        .map(|m| Series {
            name: format!("{} (Gini {:.3})", m.name, m.exposure.gini),
            points: m.exposure.lorenz.iter().map(|p| (p[0], p[1])).collect(),
        })
        .collect();
    plot::line_chart(
        &format!("Exposure Lorenz curve, top-{} lists", out.k),
        "share of items (least exposed first)",
        "share of exposure",
        &series,
        &LineOpts {
            x: Some((0.0, 1.0)),
            y: Some((0.0, 1.0)),
            diagonal: true,
            markers: false,
        },
    )
}

/// One line per model of a per-round feedback quantity, or `None` without feedback.
pub(crate) fn feedback_svg(
    out: &FairnessOutput,
    what: &str,
    get: impl Fn(&recs::eval::feedback::RoundStats) -> f64,
) -> Option<String> {
    let series: Vec<Series> = out
        .models
        .iter()
        .filter_map(|m| {
            m.feedback.as_ref().map(|f| Series {
                name: m.name.clone(),
                points: f.rounds.iter().map(|r| (r.round as f64, get(r))).collect(),
            })
        })
        .collect();
    (!series.is_empty()).then(|| {
        plot::line_chart(
            &format!("Feedback loop: {what} per round"),
            "round",
            what,
            &series,
            &LineOpts {
                markers: true,
                ..LineOpts::default()
            },
        )
    })
}

/// Gap charts of `metric` by `attribute`, one row per (group, model).
pub(crate) fn gaps_svg(out: &FairnessOutput, attribute: &str, metric: &str) -> Option<String> {
    let mut rows = Vec::new();
    for (s, m) in out.models.iter().enumerate() {
        if let Some(q) = m
            .groups
            .iter()
            .find(|g| g.attribute == attribute && g.metric == metric)
        {
            for g in &q.groups {
                rows.push((g.group.clone(), s, g.gap, g.gap_ci95));
            }
        }
    }
    if rows.is_empty() {
        return None;
    }
    // group rows of the same group together, models in order
    let order: Vec<String> = {
        let mut o: Vec<String> = Vec::new();
        for r in &rows {
            if !o.contains(&r.0) {
                o.push(r.0.clone());
            }
        }
        o
    };
    rows.sort_by_key(|r| (order.iter().position(|g| *g == r.0), r.1));
    let rows: Vec<GapRow> = rows
        .into_iter()
        .map(|(label, series, value, ci)| GapRow {
            label,
            series,
            value,
            ci,
        })
        .collect();
    let names: Vec<String> = out.models.iter().map(|m| m.name.clone()).collect();
    Some(plot::gap_chart(
        &format!("{metric} by {attribute}: gap to overall (95% CI)"),
        &format!("{metric} of the group minus {metric} of all users"),
        &rows,
        &names,
    ))
}

fn write_file(path: &Path, text: &str) -> CmdResult {
    write_atomic(path, text.as_bytes())?;
    tracing::info!("wrote {}", path.display());
    Ok(())
}

/// `recs fairness`.
pub(crate) fn fairness(args: FairnessArgs) -> CmdResult {
    let (split, ncf) = args.input.load()?;
    let out = analyse(&split, ncf, &args.analysis, &[args.analysis.k])?;
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    let json = serde_json::to_string_pretty(&out).map_err(|e| Error::Serde(e.to_string()))?;
    write_file(&args.out.join("fairness.json"), &json)?;
    let md = markdown(&out);
    write_file(&args.out.join("fairness.md"), &md)?;
    write_file(&args.out.join("lorenz.svg"), &lorenz_svg(&out))?;
    for (file, what, get) in feedback_plots() {
        if let Some(svg) = feedback_svg(&out, what, get) {
            write_file(&args.out.join(file), &svg)?;
        }
    }
    for attr in out.attributes.keys() {
        let metric = format!("ndcg@{}", out.k);
        if let Some(svg) = gaps_svg(&out, attr, &metric) {
            write_file(&args.out.join(format!("gaps_{attr}.svg")), &svg)?;
        }
    }
    println!("{md}");
    if !args.exposures.is_empty() {
        let logged = logged_exposure(&split, &args)?;
        let json =
            serde_json::to_string_pretty(&logged).map_err(|e| Error::Serde(e.to_string()))?;
        write_file(&args.out.join("logged_exposure.json"), &json)?;
        println!("{}", logged_markdown(&logged));
    }
    Ok(())
}

/// The exposure of the answers logged in `--exposures`, over the split's catalogue.
fn logged_exposure(
    split: &Split,
    args: &FairnessArgs,
) -> CmdResult<recs::eval::fairness::LoggedExposure> {
    let mut counter =
        recs::eval::fairness::LoggedExposureCounter::new(&split.items, args.analysis.k)?;
    for path in &args.exposures {
        let skipped = counter.add_file(path, args.skip_bad_lines)?;
        if skipped > 0 {
            tracing::warn!("{}: skipped {skipped} invalid line(s)", path.display());
        }
    }
    let logged = counter.finish(&split.train)?;
    if logged.unknown_movies > 0 {
        tracing::warn!(
            "{} logged movie(s) are not in the data's catalogue (served from other data?)",
            logged.unknown_movies
        );
    }
    Ok(logged)
}

/// The logged exposure as a markdown table, one row per (model version, variant).
fn logged_markdown(l: &recs::eval::fairness::LoggedExposure) -> String {
    let mut md = format!(
        "## Logged exposure (top {}): {} answers, {} skipped, {} movies outside the catalogue\n\n\
         | model version | variant | answers | coverage | Gini | top-10 % share | long-tail share | popularity bias |\n\
         |---|---|--:|--:|--:|--:|--:|--:|\n",
        l.k, l.answers, l.skipped_answers, l.unknown_movies
    );
    let rows = l
        .groups
        .iter()
        .map(|g| (g.model_version.as_str(), g.variant.as_str(), &g.exposure))
        .chain([("all", "", &l.overall)]);
    for (version, variant, e) in rows {
        md.push_str(&format!(
            "| {version} | {variant} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.3} |\n",
            e.n_lists, e.coverage, e.gini, e.top10_share, e.long_tail_share, e.popularity_bias
        ));
    }
    md
}

type RoundGetter = fn(&recs::eval::feedback::RoundStats) -> f64;

/// The per-round feedback plots: file name, quantity, getter.
pub(crate) fn feedback_plots() -> [(&'static str, &'static str, RoundGetter); 4] {
    [
        ("feedback_coverage.svg", "coverage", |r| r.exposure.coverage),
        ("feedback_gini.svg", "exposure Gini", |r| r.exposure.gini),
        ("feedback_popularity_bias.svg", "popularity bias", |r| {
            r.exposure.popularity_bias
        }),
        (
            "feedback_data_gini.svg",
            "Gini of the data's item counts",
            |r| r.data_gini,
        ),
    ]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        args: FairnessArgs,
    }

    /// A small ML-1M-shaped ratings file and users.dat in `dir`.
    pub(crate) fn write_synthetic(dir: &Path) -> (PathBuf, PathBuf) {
        let d = recs::data::synth::SynthParams::new(60, 40, 900)
            .seed(5)
            .generate()
            .expect("synthetic data");
        let mut ratings = String::new();
        let mut t = 1_000_000i64;
        for u in 0..d.interactions.n_users() as u32 {
            for &i in d.interactions.items_of(u) {
                t += 1;
                ratings.push_str(&format!("{}::{}::{}::{t}\n", u + 1, i + 1, 1 + (i + u) % 5));
            }
        }
        let mut users = String::new();
        for u in 1..=60 {
            let g = if u % 3 == 0 { 'F' } else { 'M' };
            let age = [1, 18, 25, 35, 45, 50, 56][u % 7];
            users.push_str(&format!("{u}::{g}::{age}::{}::00000\n", u % 21));
        }
        let (r, us) = (dir.join("ratings.dat"), dir.join("users.dat"));
        std::fs::write(&r, ratings).expect("write");
        std::fs::write(&us, users).expect("write");
        (r, us)
    }

    #[test]
    fn fairness_reads_logged_exposures() {
        let dir = tempfile::tempdir().unwrap();
        let (ratings, _) = write_synthetic(dir.path());
        // Two served answers and one failed, as the exposure log writes them (movie ids are
        // the file's MovieIDs 1..=40; 9999 is not in the catalogue).
        let log = dir.path().join("exposure.log");
        let answer = |user: i64, status: u16, ids: &[&str], variant: &str| {
            serde_json::to_string(&recs::stream::Event::RecoResponse(
                recs::stream::RecoResponse {
                    ts: recs::stream::Ts(1_765_000_000_000),
                    request_id: format!("r{user}"),
                    user_id: user,
                    status,
                    latency_ms: 2.0,
                    k: 3,
                    movie_ids: ids.iter().map(|s| s.to_string()).collect(),
                    model_name: Some("pop".into()),
                    model_version: Some("v1.0".into()),
                    variant: Some(variant.into()),
                    git_sha: None,
                    data_snapshot_id: None,
                    server: None,
                },
            ))
            .unwrap()
        };
        std::fs::write(
            &log,
            [
                answer(1, 200, &["1", "2", "9999"], "A"),
                answer(2, 200, &["1", "3"], "B"),
                answer(3, 599, &[], "B"),
            ]
            .join("\n"),
        )
        .unwrap();
        let out = dir.path().join("out");
        let t = T::try_parse_from([
            "t",
            "--data",
            ratings.to_str().unwrap(),
            "--k",
            "3",
            "--quiet",
            "--exposures",
            log.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .unwrap();
        fairness(t.args).unwrap();
        let text = std::fs::read_to_string(out.join("logged_exposure.json")).unwrap();
        let l: recs::eval::fairness::LoggedExposure = serde_json::from_str(&text).unwrap();
        assert_eq!((l.answers, l.skipped_answers, l.unknown_movies), (2, 1, 1));
        assert_eq!(l.overall.slots, 4);
        assert_eq!(l.items[0].movie_id, 1);
        assert_eq!(l.items[0].answers, 2);
        let variants: Vec<(&str, usize)> = l
            .groups
            .iter()
            .map(|g| (g.variant.as_str(), g.exposure.n_lists))
            .collect();
        assert_eq!(variants, [("A", 1), ("B", 1)]);
    }

    #[test]
    fn fairness_writes_json_markdown_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let (ratings, users) = write_synthetic(dir.path());
        let out = dir.path().join("out");
        let t = T::try_parse_from([
            "t",
            "--data",
            ratings.to_str().unwrap(),
            "--users",
            users.to_str().unwrap(),
            "--models",
            "pop,itemknn",
            "--k",
            "5",
            "--rounds",
            "2",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .unwrap();
        fairness(t.args).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("fairness.json")).unwrap())
                .unwrap();
        for key in ["split", "n_items", "k", "models", "attributes", "feedback"] {
            assert!(json.get(key).is_some(), "missing key {key}");
        }
        let models = json["models"].as_array().unwrap();
        assert_eq!(models.len(), 2);
        for m in models {
            for key in ["exposure", "groups", "feedback", "summary"] {
                assert!(m.get(key).is_some(), "missing model key {key}");
            }
            let e = &m["exposure"];
            for key in [
                "coverage",
                "gini",
                "top10_share",
                "long_tail_share",
                "lorenz",
                "popularity_bias",
            ] {
                assert!(e.get(key).is_some(), "missing exposure key {key}");
            }
            assert_eq!(m["feedback"]["rounds"].as_array().unwrap().len(), 2);
            let attrs: Vec<&str> = m["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["attribute"].as_str().unwrap())
                .collect();
            for a in ["gender", "age", "occupation", "activity"] {
                assert!(attrs.contains(&a), "no groups by {a}");
            }
        }
        // the typed form reads back
        let back: FairnessOutput =
            serde_json::from_str(&std::fs::read_to_string(out.join("fairness.json")).unwrap())
                .unwrap();
        assert_eq!(back.models[0].name, "pop");
        for f in [
            "lorenz.svg",
            "feedback_coverage.svg",
            "feedback_gini.svg",
            "gaps_gender.svg",
            "gaps_activity.svg",
        ] {
            let svg = std::fs::read_to_string(out.join(f)).unwrap();
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{f}");
            assert!(svg.contains("<polyline") || svg.contains("<circle"), "{f}");
        }
        let md = std::fs::read_to_string(out.join("fairness.md")).unwrap();
        assert!(md.contains("### Exposure") && md.contains("by gender"));
    }

    #[test]
    fn wrong_user_id_offset_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (ratings, users) = write_synthetic(dir.path());
        let t = T::try_parse_from([
            "t",
            "--data",
            ratings.to_str().unwrap(),
            "--users",
            users.to_str().unwrap(),
            "--user-id-offset",
            "1000",
            "--quiet",
            "--out",
            dir.path().join("o").to_str().unwrap(),
        ])
        .unwrap();
        let err = fairness(t.args).unwrap_err().to_string();
        assert!(err.contains("user-id-offset"), "{err}");
    }
}
