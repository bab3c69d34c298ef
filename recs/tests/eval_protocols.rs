//! Cross-module tests of `recs::eval`: protocols, tie rule, run/measure, reports.

use proptest::prelude::*;
use recs::data::{Interactions, ItemIdx, Record, Split, TestCase, TestSet, UserIdx, Vocab};
use recs::eval::{
    measure, run, EvalConfig, Evaluator, FullRanking, Hr, Metric, MetricKind, Ndcg, Protocol,
    Report, SampledCandidates,
};
use recs::model::{Fit, Popularity, Recommender};
use recs::{Error, Result};

/// A model with a fixed score table; users listed in `unknown` cannot be scored.
struct Table {
    scores: Vec<Vec<f32>>,
    unknown: Vec<UserIdx>,
}

impl Recommender for Table {
    fn kind(&self) -> &'static str {
        "table"
    }
    fn n_items(&self) -> usize {
        self.scores.first().map_or(0, Vec::len)
    }
    fn score_into(&self, user: UserIdx, _history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        if self.unknown.contains(&user) {
            return Err(Error::UnknownUser(user as u64));
        }
        let row = self
            .scores
            .get(user as usize)
            .ok_or(Error::UnknownUser(user as u64))?;
        out.copy_from_slice(row);
        Ok(())
    }
}

fn split(n_users: usize, n_items: usize, train: &[(u32, u32)], cases: Vec<TestCase>) -> Split {
    let recs: Vec<Record> = train
        .iter()
        .map(|&(user, item)| Record {
            user,
            item,
            value: 1.0,
            timestamp: None,
        })
        .collect();
    Split {
        name: "hand".into(),
        train: Interactions::from_records(n_users, n_items, &recs, Default::default()).unwrap(),
        test: TestSet { cases },
        users: Vocab::identity(n_users),
        items: Vocab::identity(n_items),
    }
}

fn case(user: u32, items: &[u32], negatives: Option<&[u32]>) -> TestCase {
    TestCase {
        user,
        items: items.to_vec(),
        negatives: negatives.map(<[u32]>::to_vec),
    }
}

fn quiet() -> EvalConfig {
    EvalConfig::default().latency_users(0)
}

#[test]
fn popularity_full_ranking_by_hand() {
    // counts: item0 4, item1 3, item2 2, item3 1, item4 0, item5 0
    let train = [
        (0, 0),
        (1, 0),
        (2, 0),
        (3, 0),
        (1, 1),
        (2, 1),
        (3, 1),
        (2, 2),
        (3, 2),
        (3, 3),
    ];
    let cases = vec![
        case(0, &[2], None),    // 0 seen: ranking 1, 2 -> rank 2
        case(1, &[3, 4], None), // 0,1 seen: 2, 3, then 5 before the tied held-out 4
        case(2, &[5], None),    // 0,1,2 seen: 3, 4, 5 -> 5 at rank 3, tied with 4 -> after it
    ];
    let s = split(4, 6, &train, cases);
    let model = Popularity::params().fit(&s.train).unwrap();
    let report = FullRanking::new()
        .config(quiet().ks([1, 2, 3]).per_user(true))
        .evaluate(&model, &s)
        .unwrap();
    let l = |r: f64| 1.0 / (r + 1.0).log2();
    let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-12;
    assert_eq!(report.get("hr@1"), Some(0.0));
    assert!(close(report.get("hr@2"), 2.0 / 3.0));
    assert!(close(report.get("hr@3"), 1.0));
    // ndcg@3: user0 l(2); user1 (list 2, 3, 5) l(2) / (1 + l(2)); user2 l(3)
    let want = (l(2.0) + l(2.0) / (1.0 + l(2.0)) + l(3.0)) / 3.0;
    assert!(close(report.get("ndcg@3"), want));
    // recall@2: user0 1, user1 1/2, user2 0
    assert!(close(report.get("recall@2"), 0.5));
    // coverage@3: lists {1,2,3}, {2,3,5}, {3,4,5} -> 5 of 6 items
    assert!(close(report.get("coverage@3"), 5.0 / 6.0));
    let pu = report.per_user.as_ref().unwrap();
    assert_eq!(pu.users, [0, 1, 2]);
    assert_eq!(pu.columns["hr@2"], [Some(1.0), Some(1.0), Some(0.0)]);
    assert!(!pu.columns.contains_key("coverage@3"));
    assert_eq!(report.n_users, 3);
    assert_eq!(report.k_max, 3);
    assert_eq!(report.model, "popularity");
    assert_eq!(report.protocol.to_string(), "full");
}

#[test]
fn including_training_items_changes_the_ranking() {
    let s = split(2, 3, &[(0, 0), (1, 0), (1, 1)], vec![case(0, &[1], None)]);
    let model = Popularity::params().fit(&s.train).unwrap();
    let ev = |exclude| {
        FullRanking::new()
            .exclude_train(exclude)
            .config(quiet().ks([1]))
            .evaluate(&model, &s)
            .unwrap()
            .get("hr@1")
    };
    assert_eq!(ev(true), Some(1.0));
    assert_eq!(ev(false), Some(0.0)); // item 0 (seen) now ranks first
}

#[test]
fn constant_model_gets_no_hit_under_either_protocol() {
    // every item scores the same: a pessimistic tie rule gives the held-out item the last rank
    let n_items = 30;
    let model = Table {
        scores: vec![vec![1.0; n_items]; 3],
        unknown: vec![],
    };
    let negs: Vec<u32> = (10..30).collect();
    let s = split(
        3,
        n_items,
        &[(0, 1), (1, 2)],
        vec![case(0, &[0], Some(&negs)), case(1, &[3, 4], Some(&negs))],
    );
    for report in [
        FullRanking::new()
            .config(quiet().ks([10]))
            .evaluate(&model, &s),
        SampledCandidates::new(5, 1)
            .config(quiet().ks([10]))
            .evaluate(&model, &s),
    ] {
        let report = report.unwrap();
        for (label, v) in &report.summary {
            if !label.starts_with("coverage") {
                assert_eq!(*v, 0.0, "{label}");
            }
        }
    }
    // with fewer non-held-out candidates than k the held-out item is still found
    let s = split(1, 4, &[], vec![case(0, &[0], Some(&[1, 2]))]);
    let model = Table {
        scores: vec![vec![1.0; 4]],
        unknown: vec![],
    };
    let r = SampledCandidates::new(5, 1)
        .config(quiet().ks([3]))
        .evaluate(&model, &s)
        .unwrap();
    assert_eq!(r.get("hr@3"), Some(1.0));
    assert_eq!(r.get("mrr@3"), Some(1.0 / 3.0));
}

#[test]
fn sampled_candidates_use_given_negatives_and_drop_duplicates() {
    // scores: item i scores i; held-out item 5 among negatives {1, 5, 7, 7, 9}:
    // 5 is dropped from the negatives, 7 counted once -> ranking 9, 7, 5, 1
    let scores: Vec<f32> = (0..10).map(|i| i as f32).collect();
    let model = Table {
        scores: vec![scores],
        unknown: vec![],
    };
    let s = split(1, 10, &[], vec![case(0, &[5], Some(&[1, 5, 7, 7, 9]))]);
    let r = run(
        &model,
        &s,
        &Protocol::SampledCandidates { n: 3, seed: 0 },
        10,
    )
    .unwrap();
    assert_eq!(r.items_of(0), Some(vec![9, 7, 5, 1]));
}

#[test]
fn sampled_negatives_exclude_train_and_test_and_are_reproducible() {
    let n_items = 50;
    let scores: Vec<f32> = (0..n_items).map(|i| i as f32).collect();
    let model = Table {
        scores: vec![scores; 4],
        unknown: vec![],
    };
    let train: Vec<(u32, u32)> = (0..4)
        .flat_map(|u| (0..20).map(move |i| (u, i * 2 + u % 2)))
        .collect();
    let cases: Vec<TestCase> = (0..4).map(|u| case(u, &[41 + u, 45], None)).collect();
    let s = split(4, n_items, &train, cases);
    let p = Protocol::SampledCandidates { n: 7, seed: 11 };
    let a = run(&model, &s, &p, 100).unwrap();
    assert_eq!(a.per_user, run(&model, &s, &p, 100).unwrap().per_user);
    let other = run(
        &model,
        &s,
        &Protocol::SampledCandidates { n: 7, seed: 12 },
        100,
    )
    .unwrap();
    assert_ne!(a.per_user, other.per_user);
    for c in &s.test.cases {
        let list = a.items_of(c.user).unwrap();
        assert_eq!(list.len(), 7 + 2);
        let negatives: Vec<u32> = list
            .iter()
            .copied()
            .filter(|i| !c.items.contains(i))
            .collect();
        assert_eq!(negatives.len(), 7);
        for i in negatives {
            assert!(!s.train.items_of(c.user).contains(&i));
        }
    }
}

#[test]
fn unknown_users_get_the_default_and_are_counted() {
    let model = Table {
        scores: vec![vec![3.0, 2.0, 1.0]; 2],
        unknown: vec![1],
    };
    let s = split(2, 3, &[], vec![case(0, &[0], None), case(1, &[0], None)]);
    let r = FullRanking::new()
        .config(quiet().ks([1]).per_user(true))
        .evaluate(&model, &s)
        .unwrap();
    assert_eq!(r.n_missing, 1);
    assert_eq!(r.get("hr@1"), Some(0.5));
    assert_eq!(r.per_user.unwrap().columns["hr@1"], [Some(1.0), Some(0.0)]);

    // a metric without a default leaves such users out of the mean
    struct NoDefault;
    impl Metric for NoDefault {
        fn label(&self) -> String {
            "hit@1".into()
        }
        fn default(&self) -> Option<f64> {
            None
        }
        fn measure(&self, ranked: &[ItemIdx], truth: &[ItemIdx]) -> f64 {
            Hr::new(1).measure(ranked, truth)
        }
    }
    let out = run(&model, &s, &Protocol::default(), 1).unwrap();
    assert_eq!(out.missing, [1]);
    let metrics: Vec<Box<dyn Metric>> = vec![Box::new(NoDefault)];
    let r = measure(&out, &s.test, &metrics).unwrap();
    assert_eq!(r.get("hit@1"), Some(1.0));
}

#[test]
fn bad_inputs_are_refused() {
    let model = Table {
        scores: vec![vec![1.0, 2.0]; 2],
        unknown: vec![],
    };
    let ok = split(2, 2, &[], vec![case(0, &[1], None)]);
    let dup: Vec<Box<dyn Metric>> = vec![Box::new(Ndcg::new(1)), Box::new(Ndcg::new(1))];
    let out = run(&model, &ok, &Protocol::default(), 1).unwrap();
    assert!(matches!(
        measure(&out, &ok.test, &dup),
        Err(Error::InvalidParam {
            name: "metrics",
            ..
        })
    ));
    let deep: Vec<Box<dyn Metric>> = vec![Box::new(Hr::new(2))];
    assert!(matches!(
        measure(&out, &ok.test, &deep),
        Err(Error::InvalidParam {
            name: "metrics",
            ..
        })
    ));
    assert!(matches!(
        measure(&out, &TestSet::default(), &[]),
        Err(Error::Data(_))
    ));
    assert!(matches!(
        run(&model, &ok, &Protocol::default(), 0),
        Err(Error::InvalidParam { name: "k_max", .. })
    ));
    assert!(matches!(
        run(
            &model,
            &ok,
            &Protocol::SampledCandidates { n: 0, seed: 0 },
            1
        ),
        Err(Error::InvalidParam { name: "n", .. })
    ));
    for bad in [
        split(2, 3, &[], vec![case(0, &[1], None)]), // shape
        split(2, 2, &[], vec![case(0, &[2], None)]), // item range
        split(2, 2, &[], vec![case(0, &[0], Some(&[5]))]), // negative range
        split(2, 2, &[], vec![case(0, &[0], None), case(0, &[1], None)]), // user twice
    ] {
        assert!(
            matches!(
                run(&model, &bad, &Protocol::default(), 1),
                Err(Error::Data(_))
            ),
            "{:?}",
            bad.test
        );
    }
    for cfg in [
        quiet().ks([]),
        quiet().ks([0, 5]),
        quiet().metrics([]),
        quiet().latency_users(3).latency_k(0),
        quiet().ks([5, 5]),
        quiet().metrics([MetricKind::Hr, MetricKind::Hr]),
    ] {
        assert!(
            matches!(
                FullRanking::new().config(cfg.clone()).evaluate(&model, &ok),
                Err(Error::InvalidParam { .. })
            ),
            "{cfg:?}"
        );
    }
}

#[test]
fn protocol_evaluator_matches_the_named_evaluators() {
    let s = split(
        3,
        8,
        &[(0, 1), (1, 1), (1, 2), (2, 3)],
        vec![case(0, &[2], Some(&[4, 5])), case(2, &[1, 7], None)],
    );
    let model = Popularity::params().fit(&s.train).unwrap();
    let cfg = quiet().ks([1, 3]);
    for (p, direct) in [
        (
            Protocol::FullRanking {
                exclude_train: true,
            },
            FullRanking::new().config(cfg.clone()).evaluate(&model, &s),
        ),
        (
            Protocol::SampledCandidates { n: 2, seed: 5 },
            SampledCandidates::new(2, 5)
                .config(cfg.clone())
                .evaluate(&model, &s),
        ),
    ] {
        let a = p.evaluator(cfg.clone()).evaluate(&model, &s).unwrap();
        let b = direct.unwrap();
        assert_eq!(a.summary, b.summary);
        assert_eq!(a.protocol, p);
    }
}

#[test]
fn latency_is_sampled_single_threaded() {
    let s = split(
        5,
        8,
        &[(0, 1), (1, 1), (1, 2), (2, 3)],
        (0..5).map(|u| case(u, &[7], None)).collect(),
    );
    let model = Popularity::params().fit(&s.train).unwrap();
    let r = FullRanking::new()
        .config(EvalConfig::default().latency_users(3))
        .evaluate(&model, &s)
        .unwrap();
    let lat = r.timings.latency.unwrap();
    assert_eq!((lat.users, lat.k), (3, 10));
    assert!(lat.p50_ms <= lat.p95_ms && lat.p95_ms <= lat.max_ms && lat.p50_ms >= 0.0);
    assert!(r.timings.eval_seconds >= r.timings.run_seconds);
}

/// The pessimistic ranking, written out directly: all eligible candidates sorted by score
/// descending, held-out items after others on equal scores, then item index.
fn brute_force(
    scores: &[f32],
    candidates: impl Iterator<Item = u32>,
    truth: &[u32],
    k: usize,
) -> Vec<u32> {
    let mut c: Vec<u32> = candidates.collect();
    c.sort_unstable();
    c.dedup();
    c.sort_by(|&a, &b| {
        scores[b as usize]
            .total_cmp(&scores[a as usize])
            .then(truth.contains(&a).cmp(&truth.contains(&b)))
            .then(a.cmp(&b))
    });
    c.truncate(k);
    c
}

fn table_split() -> impl Strategy<Value = (Vec<Vec<f32>>, Split, usize)> {
    (2usize..6, 3usize..25).prop_flat_map(|(n_users, n_items)| {
        (
            // few distinct values so that ties are common
            prop::collection::vec(prop::collection::vec(0u8..4, n_items), n_users),
            prop::collection::vec((0..n_users as u32, 0..n_items as u32), 0..40),
            prop::collection::vec(
                (
                    prop::collection::btree_set(0..n_items as u32, 1..4),
                    prop::option::of(prop::collection::vec(0..n_items as u32, 0..10)),
                ),
                n_users,
            ),
            1usize..12,
        )
            .prop_map(move |(scores, train, tests, k)| {
                let scores: Vec<Vec<f32>> = scores
                    .into_iter()
                    .map(|r| r.into_iter().map(f32::from).collect())
                    .collect();
                let cases = tests
                    .into_iter()
                    .enumerate()
                    .map(|(u, (items, neg))| TestCase {
                        user: u as u32,
                        items: items.into_iter().collect(),
                        negatives: neg,
                    })
                    .collect();
                (scores, split(n_users, n_items, &train, cases), k)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn full_ranking_equals_brute_force((scores, s, k) in table_split(), exclude_train in any::<bool>()) {
        let model = Table { scores: scores.clone(), unknown: vec![] };
        let out = run(&model, &s, &Protocol::FullRanking { exclude_train }, k).unwrap();
        for c in &s.test.cases {
            let hist = s.train.items_of(c.user);
            let cands = (0..s.train.n_items() as u32).filter(|i| !exclude_train || !hist.contains(i));
            let want = brute_force(&scores[c.user as usize], cands, &c.items, k);
            prop_assert_eq!(out.items_of(c.user).unwrap(), want);
        }
    }

    #[test]
    fn sampled_with_given_negatives_equals_brute_force((scores, s, k) in table_split()) {
        let model = Table { scores: scores.clone(), unknown: vec![] };
        let out = run(&model, &s, &Protocol::SampledCandidates { n: 4, seed: 9 }, k).unwrap();
        for c in &s.test.cases {
            let got = out.items_of(c.user).unwrap();
            if let Some(neg) = &c.negatives {
                let cands = neg.iter().chain(&c.items).copied();
                prop_assert_eq!(got, brute_force(&scores[c.user as usize], cands, &c.items, k));
            } else {
                // sampled: held-out items plus up to 4 unseen items
                let hist = s.train.items_of(c.user);
                let unseen = (0..s.train.n_items() as u32).filter(|i| !hist.contains(i) && !c.items.contains(i)).count();
                prop_assert_eq!(got.len(), k.min(c.items.len() + unseen.min(4)));
            }
        }
    }

    #[test]
    fn report_survives_json((scores, s, k) in table_split(), per_user in any::<bool>()) {
        let model = Table { scores, unknown: vec![0] };
        let r = SampledCandidates::new(3, 1)
            .config(EvalConfig::default().ks([1, k]).latency_users(2).per_user(per_user))
            .evaluate(&model, &s);
        // ks [1, 1] is a duplicate label: refused
        if k == 1 {
            prop_assert!(r.is_err());
            return Ok(());
        }
        let r = r.unwrap().with_name("t").with_train_seconds(0.25).with_model_size(123);
        let back = Report::from_json(&r.to_json().unwrap()).unwrap();
        prop_assert_eq!(&back, &r);
        for v in r.summary.values() {
            prop_assert!((0.0..=1.0).contains(v));
        }
    }
}
