//! `recs report`: one self-contained HTML page (inline SVG, no script, no external file) with
//! HR@K / NDCG@K curves per model, the exposure Lorenz curve, quality gaps by user group, the
//! feedback loop (with `--rounds`) and, given two data sets or snapshot directories with
//! `--drift A B`, the drift checks and histograms of `recs::stream::DriftReport`.

pub(crate) mod plot;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;
use recs::stream::{popularity_buckets, DriftReport, Profile, Thresholds};
use recs::util::write_atomic;

use crate::cli::fairness::{
    analyse, feedback_plots, feedback_svg, gaps_svg, lorenz_svg, AnalysisArgs, CmdResult,
    FairnessOutput, InputArgs,
};
use plot::{esc, LineOpts, Series};

/// Arguments of `recs report`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ReportArgs {
    #[command(flatten)]
    pub(crate) input: InputArgs,
    #[command(flatten)]
    pub(crate) analysis: AnalysisArgs,
    /// Cut-offs of the HR@K / NDCG@K curves, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,5,10,20,50")]
    pub(crate) ks: Vec<usize>,
    /// Two data sets (ratings files or snapshot directories) to compare for drift: reference A,
    /// then current B.
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    pub(crate) drift: Option<Vec<PathBuf>>,
    /// The HTML file to write.
    #[arg(long)]
    pub(crate) out: PathBuf,
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.plots{display:flex;flex-wrap:wrap;gap:12px}\
.crossed{color:#b00;font-weight:bold}p.note{color:#555;font-size:13px}";

fn table(head: &[String], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{}</td>", esc(c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    s
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn model_sections(out: &FairnessOutput, html: &mut String) {
    let k = out.k;
    let _ = write!(
        html,
        "<h2 id=\"data\">Data</h2><p>Split <code>{}</code>: {} users, {} items, {} training interactions, {} test users. \
         Every list is a full ranking of the catalogue with the user's training items excluded (protocol <code>{}</code>).</p>",
        esc(&out.split),
        out.n_users,
        out.n_items,
        out.n_interactions,
        out.n_test_users,
        esc(&out.protocol)
    );

    // Accuracy
    html.push_str("<h2 id=\"accuracy\">Accuracy: HR@K and NDCG@K</h2>");
    let mut head = vec!["model".to_string(), "train s".to_string()];
    for kk in &out.ks {
        head.push(format!("HR@{kk}"));
        head.push(format!("NDCG@{kk}"));
    }
    let rows: Vec<Vec<String>> = out
        .models
        .iter()
        .map(|m| {
            let mut r = vec![m.name.clone(), format!("{:.2}", m.train_seconds)];
            for kk in &out.ks {
                for metric in ["hr", "ndcg"] {
                    r.push(
                        m.summary
                            .get(&format!("{metric}@{kk}"))
                            .map_or("-".into(), |v| format!("{v:.4}")),
                    );
                }
            }
            r
        })
        .collect();
    html.push_str(&table(&head, &rows));
    html.push_str("<div class=\"plots\">");
    for (metric, title) in [("hr", "HR@K"), ("ndcg", "NDCG@K")] {
        let series: Vec<Series> = out
            .models
            .iter()
            .map(|m| Series {
                name: m.name.clone(),
                points: out
                    .ks
                    .iter()
                    .filter_map(|kk| {
                        m.summary
                            .get(&format!("{metric}@{kk}"))
                            .map(|v| (*kk as f64, *v))
                    })
                    .collect(),
            })
            .collect();
        html.push_str(&plot::line_chart(
            &format!("{title} by cut-off K"),
            "K",
            title,
            &series,
            &LineOpts {
                markers: true,
                ..LineOpts::default()
            },
        ));
    }
    html.push_str("</div>");

    // Exposure
    let _ = write!(
        html,
        "<h2 id=\"exposure\">Exposure of the top-{k} lists</h2><p class=\"note\">Coverage: share of the catalogue in at least one list. \
         Gini: inequality of item exposure over the whole catalogue (0 equal, 1 one item). Top-10% share: share of the slots on the 10% \
         most popular items. Long tail: items outside the head holding 80% of the training interactions. Popularity bias: mean \
         popularity of recommended items over that of consumed items (1 neutral).</p>"
    );
    let rows: Vec<Vec<String>> = out
        .models
        .iter()
        .map(|m| {
            let e = &m.exposure;
            vec![
                m.name.clone(),
                format!("{:.4}", e.coverage),
                e.never_exposed.to_string(),
                format!("{:.4}", e.gini),
                format!("{:.4}", e.top10_share),
                format!("{:.4}", e.long_tail_share),
                format!("{:.2}", e.popularity_bias),
            ]
        })
        .collect();
    html.push_str(&table(
        &strings(&[
            "model",
            "coverage",
            "never exposed",
            "Gini",
            "top-10% share",
            "long-tail share",
            "pop. bias",
        ]),
        &rows,
    ));
    html.push_str(&lorenz_svg(out));

    // Groups
    if !out.attributes.is_empty() {
        let _ = write!(
            html,
            "<h2 id=\"groups\">Quality by user group</h2><p class=\"note\">NDCG@{k} of each group minus NDCG@{k} of all users, \
             with normal-approximation 95% intervals (group against the rest). Tables: mean (gap).</p>"
        );
        for attr in out.attributes.keys() {
            let metric = format!("ndcg@{k}");
            let _ = write!(html, "<h3>{}</h3>", esc(attr));
            if let Some(svg) = gaps_svg(out, attr, &metric) {
                html.push_str(&svg);
            }
            let mut head = vec!["group".to_string(), "users".to_string()];
            head.extend(out.models.iter().map(|m| m.name.clone()));
            let per_model: Vec<_> = out
                .models
                .iter()
                .filter_map(|m| {
                    m.groups
                        .iter()
                        .find(|g| &g.attribute == attr && g.metric == metric)
                })
                .collect();
            if let Some(first) = per_model.first() {
                let rows: Vec<Vec<String>> = first
                    .groups
                    .iter()
                    .enumerate()
                    .map(|(i, g)| {
                        let mut r = vec![g.group.clone(), g.n_users.to_string()];
                        r.extend(per_model.iter().map(|q| {
                            q.groups
                                .get(i)
                                .map_or("-".into(), |s| format!("{:.4} ({:+.4})", s.mean, s.gap))
                        }));
                        r
                    })
                    .collect();
                html.push_str(&table(&head, &rows));
            }
        }
    }

    // Feedback
    if let Some(cfg) = &out.feedback {
        let _ = write!(
            html,
            "<h2 id=\"feedback\">Feedback loop</h2><p class=\"note\">{} rounds: fit, recommend the top {} to every user, each user \
             examines rank r with probability 1/log2(r+1) and accepts an examined item with probability {} (taste set) or {} (other), \
             the accepted items are added to the data. Seed {}.</p><div class=\"plots\">",
            cfg.rounds, cfg.k, cfg.p_liked, cfg.p_other, cfg.seed
        );
        for (_, what, get) in feedback_plots() {
            if let Some(svg) = feedback_svg(out, what, get) {
                html.push_str(&svg);
            }
        }
        html.push_str("</div>");
    }
}

/// Share of each bin.
fn shares(h: &[u64]) -> Vec<f64> {
    let n: u64 = h.iter().sum();
    h.iter()
        .map(|&c| if n > 0 { c as f64 / n as f64 } else { 0.0 })
        .collect()
}

fn drift_section(a_path: &Path, b_path: &Path, html: &mut String) -> CmdResult {
    let a = Profile::from_path(a_path)?;
    let b = Profile::from_path(b_path)?;
    let report = DriftReport::compare(&a, &b, &Thresholds::default());
    let _ = write!(
        html,
        "<h2 id=\"drift\">Drift</h2><p>A (reference) <code>{}</code>: {} records; B (current) <code>{}</code>: {} records. \
         {}</p>",
        esc(&a_path.display().to_string()),
        report.a_records,
        esc(&b_path.display().to_string()),
        report.b_records,
        if report.crossed() {
            "<span class=\"crossed\">At least one threshold is crossed.</span>"
        } else {
            "No threshold is crossed."
        }
    );
    let mut t = String::from(
        "<table><tr><th>subject</th><th>measure</th><th>value</th><th>threshold</th><th>crossed</th></tr>",
    );
    for c in &report.checks {
        let _ = write!(
            t,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if c.crossed { " class=\"crossed\"" } else { "" },
            esc(&c.subject),
            esc(&c.measure),
            c.value.map_or("-".into(), |v| format!("{v:.4}")),
            c.threshold,
            if c.crossed { "yes" } else { "no" }
        );
    }
    t.push_str("</table>");
    html.push_str(&t);
    html.push_str("<div class=\"plots\">");
    let ab =
        |ha: &[u64], hb: &[u64]| vec![("A".to_string(), shares(ha)), ("B".to_string(), shares(hb))];
    if a.rating_hist.iter().chain(&b.rating_hist).any(|&c| c > 0) {
        let cats: Vec<String> = (1..=10).map(|i| format!("{:.1}", i as f64 / 2.0)).collect();
        html.push_str(&plot::bar_chart(
            "Ratings",
            "rating",
            "share of ratings",
            &cats,
            &ab(&a.rating_hist, &b.rating_hist),
        ));
    }
    let (ha, hb) = (a.activity_hist(), b.activity_hist());
    let used = ha
        .iter()
        .zip(&hb)
        .rposition(|(x, y)| x + y > 0)
        .map_or(1, |p| p + 1);
    let cats: Vec<String> = (0..used)
        .map(|b| {
            let lo = 1u64 << b;
            if b == 0 {
                "1".into()
            } else {
                format!("{lo}-{}", 2 * lo - 1)
            }
        })
        .collect();
    html.push_str(&plot::bar_chart(
        "Activity per user",
        "interactions of the user (log2 buckets)",
        "share of users",
        &cats,
        &ab(&ha[..used], &hb[..used]),
    ));
    // The histograms of the drift measures themselves (one binning, in the library).
    let (pop_a, pop_b) = popularity_buckets(&a, &b);
    let mut cats: Vec<String> = (1..=10).map(|d| format!("D{d}")).collect();
    cats.push("new".into());
    html.push_str(&plot::bar_chart(
        "Item popularity (A's deciles, most popular first)",
        "A's popularity decile of the item",
        "share of events",
        &cats,
        &ab(&pop_a, &pop_b),
    ));
    html.push_str("</div>");
    Ok(())
}

/// Builds the page.
pub(crate) fn render(
    fairness: Option<&FairnessOutput>,
    drift: Option<(&Path, &Path)>,
) -> CmdResult<String> {
    let mut html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>recs report</title><style>{STYLE}</style></head><body>\
         <h1>recs report</h1><p class=\"note\">Written by recs {}. Sections: {}.</p>",
        env!("CARGO_PKG_VERSION"),
        [
            fairness.map(|_| "data, accuracy, exposure, user groups"),
            fairness.and_then(|f| f.feedback.as_ref()).map(|_| "feedback loop"),
            drift.map(|_| "drift"),
        ]
        .iter()
        .flatten()
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
    );
    if let Some(f) = fairness {
        model_sections(f, &mut html);
    }
    if let Some((a, b)) = drift {
        drift_section(a, b, &mut html)?;
    }
    html.push_str("</body></html>\n");
    Ok(html)
}

/// `recs report`.
pub(crate) fn report(args: ReportArgs) -> CmdResult {
    if !args.input.given() && args.drift.is_none() {
        return Err("give --data FILE or --train/--test (models), and/or --drift A B".into());
    }
    let fairness = if args.input.given() {
        let (split, ncf) = args.input.load()?;
        Some(analyse(&split, ncf, &args.analysis, &args.ks)?)
    } else {
        None
    };
    let drift = match args.drift.as_deref() {
        Some([a, b]) => Some((a.as_path(), b.as_path())),
        Some(_) => return Err("--drift takes two paths: A B".into()),
        None => None,
    };
    let html = render(fairness.as_ref(), drift)?;
    write_atomic(&args.out, html.as_bytes())?;
    tracing::info!("wrote {}", args.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::fairness::tests::write_synthetic;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        args: ReportArgs,
    }

    #[test]
    fn report_is_one_self_contained_page_with_every_section() {
        let dir = tempfile::tempdir().unwrap();
        let (ratings, users) = write_synthetic(dir.path());
        // B: the same users rating everything one star lower, plus a new user
        let text = std::fs::read_to_string(&ratings).unwrap();
        let mut shifted: String = text
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split("::").collect();
                let r: u32 = f[2].parse().unwrap();
                format!(
                    "{}::{}::{}::{}\n",
                    f[0],
                    f[1],
                    r.saturating_sub(1).max(1),
                    f[3]
                )
            })
            .collect();
        shifted.push_str("999::1::5::2000000\n");
        let b = dir.path().join("ratings_b.dat");
        std::fs::write(&b, shifted).unwrap();
        let out = dir.path().join("report.html");
        let t = T::try_parse_from([
            "t",
            "--data",
            ratings.to_str().unwrap(),
            "--users",
            users.to_str().unwrap(),
            "--models",
            "pop,itemknn",
            "--ks",
            "1,5,10",
            "--k",
            "5",
            "--rounds",
            "2",
            "--drift",
            ratings.to_str().unwrap(),
            b.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .unwrap();
        report(t.args).unwrap();
        let html = std::fs::read_to_string(&out).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
        for id in ["accuracy", "exposure", "groups", "feedback", "drift"] {
            assert!(html.contains(&format!("id=\"{id}\"")), "no section {id}");
        }
        // 2 curves + Lorenz + 4 group attributes + 4 feedback + 3 drift histograms
        assert_eq!(html.matches("<svg").count(), 2 + 1 + 4 + 4 + 3);
        assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
        assert!(html.contains("HR@K by cut-off K") && html.contains("Lorenz"));
        // self-contained: no script, stylesheet link or remote resource
        for bad in ["<script", "<link", "src=\"http", "href=\"http"] {
            assert!(!html.contains(bad), "found {bad}");
        }
        // the one-star shift crosses the rating drift thresholds
        assert!(html.contains("At least one threshold is crossed"));
    }

    #[test]
    fn drift_only_report_and_missing_input() {
        let dir = tempfile::tempdir().unwrap();
        let (ratings, _) = write_synthetic(dir.path());
        let out = dir.path().join("r.html");
        let t = T::try_parse_from([
            "t",
            "--drift",
            ratings.to_str().unwrap(),
            ratings.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .unwrap();
        report(t.args).unwrap();
        let html = std::fs::read_to_string(&out).unwrap();
        assert!(html.contains("No threshold is crossed"));
        assert!(!html.contains("id=\"accuracy\""));
        assert_eq!(html.matches("<svg").count(), 3);
        let t = T::try_parse_from(["t", "--out", out.to_str().unwrap()]).unwrap();
        assert!(report(t.args).is_err());
    }
}
