//! NCF acceptance run on ML-1M (the NCF split of He et al. 2017): trains GMF, MLP and NeuMF,
//! prints per-epoch loss and time, then HR@10 / NDCG@10 under
//! - P2: each test item ranked among its 99 listed negatives (the paper's protocol), and
//! - P1: each test item ranked among all items the user has not trained on,
//!
//! with the training time and the machine's load average (the machine may be shared).
//! Skips without the data (`RECS_DATA_DIR`, default `shared/data` beside the workspace).
//!
//! ```text
//! cargo bench -p recs-benches --bench ncf                       # the default acceptance table
//! cargo bench -p recs-benches --bench ncf -- models=neumf epochs=10 factors=16 val=1
//! ```
//!
//! Options (`key=value`): `models` (comma list of gmf, mlp, neumf, neumf-pre: NeuMF from the
//! GMF and MLP trained in the same run, and `neumf-pre@lr=0.01:opt=sgd:epochs=2`: the same with
//! its fine-tuning settings overridden, keys `lr`, `epochs`, `opt`, `alpha`, `out_l2`, `l2`,
//! `batch`, `neg`, `factors`, `layers` (`128/64/32/16`), `std`, `lr_final`, so several fine-tunings share
//! one pre-training; `gmf@…` and `mlp@…` likewise, `neumf-pre` starting from the latest GMF and
//! MLP of the list), and any [`NcfParams`]
//! setting: `factors`, `layers` (e.g. `128,64,32,16`), `lr`, `epochs`, `batch`, `neg`, `l2`,
//! `out_l2`, `lr_final`, `std` (init), `opt` (adam|sgd), `seed`,
//! `pre_lr`, `pre_epochs`, `alpha`, `neumf_lr`, `neumf_epochs`, `neumf_opt` (the NeuMF stage of
//! `neumf-pre`); `gmf` and `mlp` train with `pre_lr` and `pre_epochs` (NeuMF's pre-training
//! stages, so `neumf-pre` is the default NeuMF fit) unless `lr` / `epochs` are given; `val=1` reports validation HR@10 per epoch (each user's last training item
//! held out, so training data shrinks by one item per user); `p1=0` skips the full ranking.

use std::path::PathBuf;
use std::time::Instant;

use recs::data::{load_ncf, Split};
use recs::eval::{EvalConfig, Evaluator, FullRanking, MetricKind, SampledCandidates};
use recs::model::{EpochStats, Ncf, NcfArch, NcfOptimizer, NcfParams, ParamGuard};

fn data_dir() -> PathBuf {
    std::env::var_os("RECS_DATA_DIR").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")),
        PathBuf::from,
    )
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

/// CPU seconds (user + system, all threads) used by this process so far, from /proc (Linux;
/// 0 elsewhere). On a shared machine, wall time depends on the other jobs; CPU time much less.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // fields after the ")" closing the command name: state is field 3, utime 14, stime 15
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(0.0)
}

struct Opts {
    kv: Vec<(String, String)>,
}

impl Opts {
    fn get(&self, k: &str) -> Option<&str> {
        self.kv
            .iter()
            .rev()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
    fn num<T: std::str::FromStr>(&self, k: &str) -> Option<T> {
        self.get(k).map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("option {k}: cannot parse `{v}`"))
        })
    }
}

fn optimizer(s: &str) -> NcfOptimizer {
    match s {
        "sgd" => NcfOptimizer::Sgd,
        "adam" => NcfOptimizer::Adam,
        other => panic!("unknown optimizer {other}"),
    }
}

/// The shared settings of every model of the run.
fn base(o: &Opts) -> NcfParams {
    let mut p = Ncf::params();
    if let Some(v) = o.num("factors") {
        p = p.factors(v);
    }
    if let Some(v) = o.get("layers") {
        let sizes: Vec<usize> = v.split(',').map(|x| x.parse().expect("layers")).collect();
        p = p.mlp_layers(&sizes);
    }
    if let Some(v) = o.num("lr") {
        p = p.learning_rate(v);
    }
    if let Some(v) = o.num("epochs") {
        p = p.epochs(v);
    }
    if let Some(v) = o.num("batch") {
        p = p.batch_size(v);
    }
    if let Some(v) = o.num("neg") {
        p = p.negatives(v);
    }
    if let Some(v) = o.num("l2") {
        p = p.l2(v);
    }
    if let Some(v) = o.num("out_l2") {
        p = p.output_l2(v);
    }
    if let Some(v) = o.num("lr_final") {
        p = p.lr_final(v);
    }
    if let Some(v) = o.num("std") {
        p = p.init_std(v);
    }
    if let Some(v) = o.get("opt") {
        p = p.optimizer(optimizer(v));
    }
    if let Some(v) = o.num("seed") {
        p = p.seed(v);
    }
    if let Some(v) = o.num("pre_lr") {
        p = p.pretrain_learning_rate(v);
    }
    if let Some(v) = o.num("pre_epochs") {
        p = p.pretrain_epochs(v);
    }
    if let Some(v) = o.num("alpha") {
        p = p.pretrain_alpha(v);
    }
    if o.get("val") == Some("1") {
        // report validation HR every epoch; patience larger than any run, so no stop
        p = p.early_stopping(10_000);
    }
    p
}

/// Applies a variant `key=value:key=value` (keys `lr`, `epochs`, `opt`, `alpha`, `out_l2`, `l2`,
/// `batch`, `neg`, `factors`, `layers` as `128/64/32/16`, `std`, `lr_final`) to one model.
fn variant(mut p: NcfParams, spec: &str) -> NcfParams {
    for kv in spec.split(':') {
        let (k, v) = kv
            .split_once('=')
            .unwrap_or_else(|| panic!("variant `{spec}`: `{kv}` is not key=value"));
        let num = |v: &str| -> f32 { v.parse().unwrap_or_else(|_| panic!("{k}: `{v}`")) };
        let int = |v: &str| -> usize { v.parse().unwrap_or_else(|_| panic!("{k}: `{v}`")) };
        p = match k {
            "lr" => p.learning_rate(num(v)),
            "epochs" => p.epochs(int(v)),
            "opt" => p.optimizer(optimizer(v)),
            "alpha" => p.pretrain_alpha(num(v)),
            "out_l2" => p.output_l2(num(v)),
            "l2" => p.l2(num(v)),
            "batch" => p.batch_size(int(v)),
            "neg" => p.negatives(int(v)),
            "factors" => p.factors(int(v)),
            // `/`-separated, as `,` separates the models
            "layers" => p.mlp_layers(&v.split('/').map(int).collect::<Vec<_>>()),
            "std" => p.init_std(num(v)),
            "lr_final" => p.lr_final(num(v)),
            other => panic!("variant `{spec}`: unknown key {other}"),
        };
    }
    p
}

fn progress(name: &str) -> impl FnMut(&EpochStats) + '_ {
    let mut cpu = cpu_seconds();
    move |s: &EpochStats| {
        let now = cpu_seconds();
        let used = now - cpu;
        cpu = now;
        let val = s
            .val_hr10
            .zip(s.val_ndcg10)
            .map_or(String::new(), |(h, n)| {
                format!("  val hr@10 {h:.4} ndcg@10 {n:.4}")
            });
        eprintln!(
            "  {name:<9} {:?} epoch {:>2}/{}  loss {:.4}  {:.2}s wall ({:.2} M inst/s), {used:.2}s CPU{val}",
            s.stage,
            s.epoch,
            s.epochs,
            s.loss,
            s.seconds,
            s.samples as f64 / s.seconds / 1e6
        );
    }
}

struct Row {
    name: String,
    seconds: f64,
    cpu: f64,
    p2: (f64, f64),
    p1: Option<(f64, f64)>,
    load: String,
}

fn main() {
    let o = Opts {
        kv: std::env::args()
            .skip(1)
            .filter_map(|a| {
                a.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect(),
    };
    let dir = data_dir().join("ml-1m-ncf");
    let files = [
        "ml-1m.train.pairs.gz",
        "ml-1m.test.rating",
        "ml-1m.test.negative",
    ]
    .map(|f| dir.join(f));
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        eprintln!(
            "skipping: {} not found (set RECS_DATA_DIR)",
            missing.display()
        );
        return;
    }
    let p2: Split = load_ncf(&files[0], &files[1], Some(&files[2])).expect("load NCF split");
    let mut p1 = p2.clone();
    for c in &mut p1.test.cases {
        c.negatives = None;
    }
    let cfg = EvalConfig::default()
        .ks([10])
        .metrics([MetricKind::Hr, MetricKind::Ndcg])
        .latency_users(0);
    let models = o.get("models").unwrap_or("gmf,mlp,neumf-pre").to_string();
    eprintln!(
        "ML-1M NCF split: {} users, {} items, {} train pairs; rayon threads {}; load average {}",
        p2.train.n_users(),
        p2.train.n_items(),
        p2.train.nnz(),
        rayon::current_num_threads(),
        load_avg()
    );
    let base = base(&o);
    let mut rows = Vec::new();
    let mut fitted: Vec<(String, Ncf, f64, f64)> = Vec::new();
    for name in models.split(',') {
        let start = Instant::now();
        let cpu_before = cpu_seconds();
        let load_before = load_avg();
        // `gmf@epochs=10` etc.: that model with `variant` settings, fitted under its base name
        let (base_name, spec) = name.split_once('@').unwrap_or((name, ""));
        let model = match base_name {
            "gmf" | "mlp" | "neumf" => {
                let arch = match base_name {
                    "gmf" => NcfArch::Gmf,
                    "mlp" => NcfArch::Mlp,
                    _ => NcfArch::NeuMf,
                };
                let mut p = base.clone().arch(arch);
                if arch != NcfArch::NeuMf {
                    // GMF and MLP train as the default NeuMF's pre-training stages, unless
                    // `lr=` / `epochs=` say otherwise
                    if o.get("lr").is_none() {
                        p = p.learning_rate(
                            base.check_ref().expect("params").pretrain_learning_rate(),
                        );
                    }
                    if o.get("epochs").is_none() {
                        p = p.epochs(base.check_ref().expect("params").pretrain_epochs());
                    }
                }
                if !spec.is_empty() {
                    p = variant(p, spec);
                }
                p.fit_with_progress(&p2.train, &mut progress(name))
                    .expect("fit")
            }
            "neumf-pre" => {
                // the latest GMF and MLP of the run
                let find = |n: &str| fitted.iter().rfind(|f| f.0 == n).map(|f| (&f.1, f.2));
                let (gmf, mlp) = match (find("gmf"), find("mlp")) {
                    (Some(g), Some(m)) => (g, m),
                    _ => panic!("neumf-pre needs gmf and mlp earlier in `models`"),
                };
                let mut p = base.clone().arch(NcfArch::NeuMf);
                if let Some(v) = o.num("neumf_lr") {
                    p = p.learning_rate(v);
                }
                if let Some(v) = o.num("neumf_epochs") {
                    p = p.epochs(v);
                }
                if let Some(v) = o.get("neumf_opt") {
                    p = p.optimizer(optimizer(v));
                }
                // `neumf-pre@lr=0.01:opt=sgd:…`: fine-tuning variants sharing one pre-training
                if !spec.is_empty() {
                    p = variant(p, spec);
                }
                let m = p
                    .fit_pretrained(&p2.train, gmf.0, mlp.0, &mut progress(name))
                    .expect("fit");
                eprintln!(
                    "  {name}: fine-tuning only {:.1}s; with GMF + MLP pre-training {:.1}s",
                    start.elapsed().as_secs_f64(),
                    start.elapsed().as_secs_f64() + gmf.1 + mlp.1
                );
                m
            }
            other => panic!("unknown model {other}"),
        };
        let mut seconds = start.elapsed().as_secs_f64();
        let mut cpu = cpu_seconds() - cpu_before;
        if base_name == "neumf-pre" {
            for pre in ["gmf", "mlp"] {
                if let Some(f) = fitted.iter().rfind(|f| f.0 == pre) {
                    seconds += f.2;
                    cpu += f.3;
                }
            }
        }
        let r2 = SampledCandidates::new(99, 0)
            .config(cfg.clone())
            .evaluate(&model, &p2)
            .expect("evaluate P2");
        let get = |r: &recs::Report| {
            (
                r.get("hr@10").unwrap_or(f64::NAN),
                r.get("ndcg@10").unwrap_or(f64::NAN),
            )
        };
        let p1r = (o.get("p1") != Some("0")).then(|| {
            let r1 = FullRanking::new()
                .config(cfg.clone())
                .evaluate(&model, &p1)
                .expect("evaluate P1");
            get(&r1)
        });
        let row = Row {
            name: name.to_string(),
            seconds,
            cpu,
            p2: get(&r2),
            p1: p1r,
            load: format!("{load_before} -> {}", load_avg()),
        };
        eprintln!(
            "  {name}: P2 hr@10 {:.4} ndcg@10 {:.4}; train {:.1}s wall, {:.1}s CPU",
            row.p2.0, row.p2.1, row.seconds, row.cpu
        );
        rows.push(row);
        fitted.push((base_name.to_string(), model, seconds, cpu));
    }
    println!("\nsettings: {base:?}");
    println!(
        "\n| model | train s (wall) | train s (CPU) | P2 HR@10 | P2 NDCG@10 | P1 HR@10 | P1 NDCG@10 | load avg (1/5/15 min, before -> after) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        let (h1, n1) = r.p1.map_or(("-".into(), "-".into()), |(h, n)| {
            (format!("{h:.4}"), format!("{n:.4}"))
        });
        println!(
            "| {} | {:.1} | {:.1} | {:.4} | {:.4} | {h1} | {n1} | {} |",
            r.name, r.seconds, r.cpu, r.p2.0, r.p2.1, r.load
        );
    }
}
