//! Tests of BPR: parameter checks, learning, determinism, fold-in, persistence.

use super::hyperparams::*;
use super::score::*;
use crate::data::Interactions;
use crate::model::{from_bytes, to_bytes, AnyModel};
use crate::model::{Fit, ParamGuard};
use crate::model::{RecOpts, Recommender};
use crate::Error;
use proptest::prelude::*;

fn interactions(n_users: usize, n_items: usize, pairs: &[(u32, u32)]) -> Interactions {
    Interactions::from_pairs(n_users, n_items, pairs)
}

fn two_groups(n_users: u32, n_items: u32) -> Interactions {
    Interactions::two_taste_groups(n_users, n_items)
}

#[test]
fn autotraits() {
    fn has<T: Send + Sync + Unpin>() {}
    has::<BprParams>();
    has::<BprValidParams>();
    has::<Bpr>();
}

#[test]
fn rejects_out_of_range_params() {
    let cases: Vec<(BprParams, &str)> = vec![
        (Bpr::params().factors(0), "factors"),
        (Bpr::params().factors(4097), "factors"),
        (Bpr::params().learning_rate(0.0), "learning_rate"),
        (Bpr::params().learning_rate(-0.1), "learning_rate"),
        (Bpr::params().learning_rate(10.5), "learning_rate"),
        (Bpr::params().learning_rate(f32::NAN), "learning_rate"),
        (Bpr::params().regularization(-0.1), "regularization"),
        (
            Bpr::params().regularization(f32::INFINITY),
            "regularization",
        ),
        (Bpr::params().iterations(0), "iterations"),
        (Bpr::params().iterations(100_001), "iterations"),
    ];
    let data = Interactions::empty(2, 2);
    for (p, name) in cases {
        match p.fit(&data) {
            Err(Error::InvalidParam { name: got, .. }) => assert_eq!(got, name),
            other => panic!("{name}: expected InvalidParam, got {other:?}"),
        }
    }
    let edge = Bpr::params()
        .factors(4096)
        .learning_rate(10.0)
        .regularization(0.0)
        .iterations(100_000);
    assert!(edge.check_ref().is_ok());
    assert!(Bpr::params().factors(1).iterations(1).check_ref().is_ok());
}

#[test]
fn learns_taste_groups_and_folds_in() {
    let data = two_groups(20, 16);
    let m = Bpr::params()
        .factors(8)
        .iterations(150)
        .learning_rate(0.05)
        .seed(4)
        .fit(&data)
        .unwrap();
    let opts = RecOpts {
        k: 1,
        ..RecOpts::default()
    };
    for u in 0..20u32 {
        let top = m.recommend(u, data.items_of(u), &opts).unwrap();
        // Each user misses one or two items of their own group: one of those comes first.
        assert!(top.iter().all(|s| s.item % 2 == u % 2), "user {u}: {top:?}");
    }
    let top = m.recommend(77, &[1, 3, 5, 7], &opts).unwrap();
    assert!(top.iter().all(|s| s.item % 2 == 1), "{top:?}");
    assert_eq!(
        m.recalculate_user(&[1, 3]).unwrap(),
        m.recalculate_user(&[3, 1]).unwrap()
    );
    let mut out = vec![0f32; 16];
    assert!(matches!(
        m.score_into(20, &[], &mut out),
        Err(Error::UnknownUser(20))
    ));
    assert!(matches!(
        m.score_into(0, &[16], &mut out),
        Err(Error::UnknownItem(16))
    ));
    let sim = m.similar_items(0, 3).unwrap();
    assert!(sim
        .iter()
        .all(|s| s.item != 0 && s.score.abs() <= 1.0 + 1e-5));
    assert!(matches!(
        m.similar_items(16, 3),
        Err(Error::UnknownItem(16))
    ));
}

#[test]
fn sequential_fit_is_deterministic_and_matches_one_thread_hogwild() {
    let data = two_groups(30, 20);
    let p = Bpr::params().factors(4).iterations(5).seed(9);
    let seq = p.clone().hogwild(false).fit(&data).unwrap();
    assert_eq!(seq, p.clone().hogwild(false).fit(&data).unwrap());
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| p.clone().fit(&data).unwrap());
    assert_eq!(seq.user_factors(), one_thread.user_factors());
    assert_eq!(seq.item_factors(), one_thread.item_factors());
    let other = p.seed(10).hogwild(false).fit(&data).unwrap();
    assert_ne!(seq.item_factors(), other.item_factors());
}

#[test]
fn without_item_bias_rows_are_pure_factors() {
    let data = two_groups(6, 6);
    let m = Bpr::params()
        .factors(3)
        .item_bias(false)
        .iterations(2)
        .fit(&data)
        .unwrap();
    assert_eq!(m.factor_width(), 3);
    assert_eq!(m.item_factors().len(), 18);
    let b = Bpr::params().factors(3).iterations(2).fit(&data).unwrap();
    assert_eq!(b.factor_width(), 4);
    assert!(b.user_factors().chunks(4).all(|r| r[3] == 1.0));
}

#[test]
fn damaged_dimensions_are_refused_on_load() {
    let data = two_groups(4, 6);
    let mut m = Bpr::params().factors(2).iterations(1).fit(&data).unwrap();
    m.items.push(0.0);
    let bytes = to_bytes(&m).unwrap();
    assert!(matches!(from_bytes::<Bpr>(&bytes), Err(Error::Format(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn recommend_respects_filters_and_round_trips(
        pairs in prop::collection::vec((0u32..8, 0u32..15), 1..80),
        exclude in prop::collection::vec(0u32..15, 0..4),
        k in 1usize..20,
        seed in any::<u64>(),
    ) {
        let data = interactions(8, 15, &pairs);
        let params = Bpr::params().factors(3).iterations(3).seed(seed).hogwild(false);
        let model = params.fit(&data).unwrap();
        prop_assert_eq!(&params.fit(&data).unwrap(), &model);
        let back: Bpr = from_bytes(&to_bytes(&model).unwrap()).unwrap();
        let any = AnyModel::from_bytes(&AnyModel::from(model.clone()).to_bytes().unwrap()).unwrap();
        let opts = RecOpts { k, exclude: Some(&exclude), ..RecOpts::default() };
        let users: Vec<u32> = (0..8).collect();
        let batch = model.recommend_batch(&users, &data, &opts).unwrap();
        for u in 0..8u32 {
            let top = model.recommend(u, data.items_of(u), &opts).unwrap();
            prop_assert!(top.len() <= k);
            for s in &top {
                prop_assert!(!data.items_of(u).contains(&s.item));
                prop_assert!(!exclude.contains(&s.item));
                prop_assert!(s.score.is_finite());
            }
            prop_assert!(top.windows(2).all(|w| w[0].score >= w[1].score));
            prop_assert_eq!(&back.recommend(u, data.items_of(u), &opts).unwrap(), &top);
            prop_assert_eq!(&any.recommend(u, data.items_of(u), &opts).unwrap(), &top);
            let b = &batch[u as usize];
            prop_assert_eq!(b.len(), top.len());
            for (x, y) in b.iter().zip(&top) {
                prop_assert!((x.score - y.score).abs() <= 1e-4 * (1.0 + y.score.abs()));
            }
            let items: Vec<u32> = top.iter().map(|s| s.item).collect();
            let scores = model.score_items(u, data.items_of(u), &items).unwrap();
            for (s, t) in scores.iter().zip(&top) {
                prop_assert!((s - t.score).abs() <= 1e-5 * (1.0 + s.abs()));
            }
        }
    }
}
