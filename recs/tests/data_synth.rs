//! The synthetic generator: MovieLens-like shape, latent structure that personalised models can
//! exploit, determinism whatever the thread count; and splits on it.

use recs::data::split::{self, Cut, Holdout};
use recs::data::synth::SynthParams;
use recs::data::{Dataset, Interactions, ItemIdx};
use recs::prelude::*;

fn share_of_top(mut counts: Vec<u32>, frac: f64) -> f64 {
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let total: u64 = counts.iter().map(|&c| c as u64).sum();
    let k = ((counts.len() as f64 * frac) as usize).max(1);
    counts[..k].iter().map(|&c| c as u64).sum::<u64>() as f64 / total as f64
}

#[test]
fn shape_is_movielens_like() {
    let d = SynthParams::new(3000, 1800, 250_000)
        .seed(3)
        .generate()
        .unwrap();
    let m = &d.interactions;
    assert_eq!(m.nnz(), 250_000);
    // Skewed popularity and activity (ML-1M: top 10% items 44%, top 10% users 38%).
    let items10 = share_of_top(m.item_counts(), 0.1);
    let users10 = share_of_top(m.user_counts(), 0.1);
    assert!((0.3..0.6).contains(&items10), "top 10% items: {items10}");
    assert!((0.25..0.55).contains(&users10), "top 10% users: {users10}");
    // Bottom half of items still gets something, and no item dominates.
    assert!(share_of_top(m.item_counts(), 0.01) < 0.15);
    // Timestamps within 2000-04 .. ~2003 and strictly increasing per user in draw order.
    let ts = m.timestamps().unwrap();
    assert!(ts
        .iter()
        .all(|&t| (956_703_932..1_100_000_000).contains(&t)));
    // Mean rating near ML-1M's 3.58.
    let mean = m.values().iter().map(|&v| v as f64).sum::<f64>() / m.nnz() as f64;
    assert!((mean - 3.58).abs() < 0.05, "mean rating {mean}");
}

#[test]
fn output_does_not_depend_on_thread_count() {
    let p = SynthParams::new(700, 300, 40_000).seed(11);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| p.generate().unwrap());
    let many = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(|| p.generate().unwrap());
    assert_eq!(one, many);
    assert_ne!(one, p.clone().seed(12).generate().unwrap());
}

/// Cosine item-item co-occurrence similarities (dense, n_items × n_items).
fn item_sims(train: &Interactions) -> Vec<f32> {
    let n = train.n_items();
    let counts = train.item_counts();
    let mut sim = vec![0f32; n * n];
    for u in 0..train.n_users() as u32 {
        let items = train.items_of(u);
        for &a in items {
            for &b in items {
                sim[a as usize * n + b as usize] += 1.0;
            }
        }
    }
    for a in 0..n {
        for b in 0..n {
            let d = (counts[a] as f32 * counts[b] as f32).sqrt();
            if d > 0.0 {
                sim[a * n + b] /= d;
            }
        }
    }
    sim
}

/// Item-kNN scores: sum of similarities to the user's history.
fn item_knn_scores(sim: &[f32], history: &[ItemIdx], out: &mut [f32]) {
    let n = out.len();
    out.iter_mut().for_each(|x| *x = 0.0);
    for &h in history {
        let row = &sim[h as usize * n..(h as usize + 1) * n];
        out.iter_mut().zip(row).for_each(|(o, s)| *o += s);
    }
}

fn hit_rate(split: &recs::Split, score: impl Fn(u32, &[ItemIdx], &mut [f32]), k: usize) -> f64 {
    let n_items = split.train.n_items();
    let mut buf = vec![0f32; n_items];
    let mut hits = 0;
    for c in &split.test.cases {
        let hist = split.train.items_of(c.user);
        score(c.user, hist, &mut buf);
        let mut order: Vec<u32> = (0..n_items as u32)
            .filter(|i| hist.binary_search(i).is_err())
            .collect();
        order.sort_by(|&a, &b| buf[b as usize].total_cmp(&buf[a as usize]).then(a.cmp(&b)));
        if order[..k].iter().any(|i| c.items.contains(i)) {
            hits += 1;
        }
    }
    hits as f64 / split.test.cases.len() as f64
}

#[test]
fn personalised_scores_beat_popularity() {
    let d = SynthParams::new(1000, 800, 30_000)
        .seed(5)
        .generate()
        .unwrap();
    let s = split::leave_last_out(&d).unwrap();
    let pop = Popularity::params().fit(&s.train).unwrap();
    let hr_pop = hit_rate(&s, |u, h, out| pop.score_into(u, h, out).unwrap(), 10);
    let sim = item_sims(&s.train);
    let hr_knn = hit_rate(&s, |_, h, out| item_knn_scores(&sim, h, out), 10);
    eprintln!("HR@10 popularity {hr_pop:.3}, item-kNN {hr_knn:.3}");
    assert!(hr_knn > hr_pop * 1.3, "knn {hr_knn} vs pop {hr_pop}");

    // With no latent structure (affinity 0) personalisation has nothing to find.
    let flat = SynthParams::new(1000, 800, 30_000)
        .seed(5)
        .affinity(0.0)
        .generate()
        .unwrap();
    let s = split::leave_last_out(&flat).unwrap();
    let pop = Popularity::params().fit(&s.train).unwrap();
    let hr_pop_flat = hit_rate(&s, |u, h, out| pop.score_into(u, h, out).unwrap(), 10);
    let sim = item_sims(&s.train);
    let hr_knn_flat = hit_rate(&s, |_, h, out| item_knn_scores(&sim, h, out), 10);
    eprintln!("affinity 0: HR@10 popularity {hr_pop_flat:.3}, item-kNN {hr_knn_flat:.3}");
    assert!(hr_knn_flat < hr_pop_flat * 1.15);
}

/// Share of held-out items that lie in their user's latent cluster.
fn in_cluster_share(affinity: f64) -> f64 {
    let (d, truth) = SynthParams::new(1000, 800, 30_000)
        .seed(9)
        .affinity(affinity)
        .generate_with_truth()
        .unwrap();
    let s = split::random_holdout(&d, Holdout::Fraction(0.2), 1).unwrap();
    let (mut same, mut total) = (0, 0);
    for c in &s.test.cases {
        for &i in &c.items {
            total += 1;
            same +=
                (truth.item_cluster[i as usize] == truth.user_cluster[c.user as usize]) as usize;
        }
    }
    same as f64 / total as f64
}

#[test]
fn held_out_items_concentrate_in_the_users_cluster() {
    // 10 clusters: without structure about 1 in 10 items is in the user's cluster.
    let structured = in_cluster_share(0.6);
    let flat = in_cluster_share(0.0);
    eprintln!(
        "in-cluster share of held-out items: affinity 0.6 {structured:.3}, affinity 0 {flat:.3}"
    );
    assert!(flat < 0.2, "{flat}");
    assert!(structured > 0.35, "{structured}");
}

fn check_split_covers(d: &Dataset, s: &recs::Split) {
    let mut pairs: Vec<(u32, u32)> = s.train.records().map(|r| (r.user, r.item)).collect();
    for c in &s.test.cases {
        pairs.extend(c.items.iter().map(|&i| (c.user, i)));
    }
    pairs.sort_unstable();
    let before = pairs.len();
    pairs.dedup();
    assert_eq!(pairs.len(), before, "train and test overlap");
    let all: Vec<(u32, u32)> = d.interactions.records().map(|r| (r.user, r.item)).collect();
    assert_eq!(pairs, all);
}

#[test]
fn every_splitter_partitions_synthetic_data() {
    let d = SynthParams::new(300, 200, 12_000)
        .seed(2)
        .generate()
        .unwrap();
    let splits = [
        split::leave_last_out(&d).unwrap(),
        split::leave_last_n(&d, 3).unwrap(),
        split::random_holdout(&d, Holdout::Count(2), 4).unwrap(),
        split::temporal_cut(&d, Cut::Fraction(0.1)).unwrap(),
    ];
    for s in &splits {
        check_split_covers(&d, s);
        assert_eq!(s.users, d.users);
        assert_eq!(s.items, d.items);
    }
    assert_eq!(splits[3].test.n_items_total(), 1200);
}
