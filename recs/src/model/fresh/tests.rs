use super::fit::RecencyRanks;
use super::score::reweight;
use super::*;
use crate::data::Interactions;
use crate::data::Record;
use crate::model::{from_bytes, to_bytes, RecOpts};
use crate::model::{AnyModel, Ease, Fit, ParamGuard, Recommender};
use crate::Error;
use proptest::prelude::*;

fn train(pairs: &[(u32, u32)], users: usize, items: usize) -> Interactions {
    Interactions::from_pairs(users, items, pairs)
}

#[test]
fn autotraits() {
    fn has<T: Send + Sync + Unpin>() {}
    has::<FreshParams>();
    has::<Fresh>();
}

#[test]
fn rejects_bad_params() {
    let t = train(&[(0, 0)], 1, 2);
    let years = vec![Some(1990), Some(2000)];
    let bad = |p: FreshParams| matches!(p.fit(&t), Err(Error::InvalidParam { .. }));
    assert!(bad(Fresh::params()));
    assert!(bad(Fresh::params().years(years.clone()).base("fresh")));
    assert!(bad(Fresh::params().years(years.clone()).boost(-1.0)));
    assert!(bad(Fresh::params().years(years.clone()).boost(f32::NAN)));
    assert!(bad(Fresh::params().years(years.clone()).decay_years(0.0)));
    assert!(matches!(
        Fresh::params().years(vec![None]).base("pop").fit(&t),
        Err(Error::Data(_))
    ));
    assert!(Fresh::params().years(years).base("nope").fit(&t).is_err());
}

#[test]
fn weights_worked_by_hand() {
    // now = 2000; boost 2, decay 1 year: age 0 -> 3, age 1 -> 1 + 2/e, unknown -> 1
    let p = Fresh::params()
        .years(vec![Some(2000), Some(1999), None, Some(2003)])
        .boost(2.0)
        .decay_years(1.0)
        .newest_year(Some(2000))
        .check()
        .unwrap();
    let w = p.weights();
    assert_eq!(w[0], 3.0);
    assert!((w[1] - (1.0 + 2.0 / std::f32::consts::E)).abs() < 1e-6);
    assert_eq!(w[2], 1.0);
    assert_eq!(w[3], 3.0); // a year after "now" counts as age 0
    assert_eq!(reweight(2.0, 3.0), 6.0);
    assert_eq!(reweight(-3.0, 3.0), -1.0);
}

/// `pairs` with the given timestamps.
fn timed(pairs: &[(u32, u32, i64)], users: usize, items: usize) -> Interactions {
    let recs: Vec<Record> = pairs
        .iter()
        .map(|&(user, item, t)| Record {
            user,
            item,
            value: 1.0,
            timestamp: Some(t),
        })
        .collect();
    Interactions::from_records(users, items, &recs, Default::default()).unwrap()
}

#[test]
fn recency_ranks_and_weights_worked_by_hand() {
    // user 0 rated item 0 at 100 and items 1 and 2 together at 300: ranks 2, 0, 0
    let t = timed(&[(0, 0, 100), (0, 1, 300), (0, 2, 300), (1, 3, 50)], 2, 4);
    let r = RecencyRanks::of(&t).unwrap();
    assert_eq!(r.ranks, [2, 0, 0, 0]);
    let model = Fresh::params()
        .years(vec![None; 4])
        .ease(Ease::params().lambda(1.0))
        .recency_boost(2.0)
        .recency_decay(1.0)
        .fit(&t)
        .unwrap();
    assert!(model.weighs_recency());
    let old = 1.0 + 2.0 * (-2.0f32).exp();
    // item 3 was never rated by user 0 in training: it counts as the newest
    assert_eq!(model.history_weights(0, &[0, 1, 3]), [old, 3.0, 3.0]);
    // a user the model has not seen: everything is newest
    assert_eq!(model.history_weights(9, &[0, 1]), [3.0, 3.0]);
    // the scores are EASE's rows summed with those weights (years unknown: w = 1)
    let AnyModel::Ease(ease) = model.base() else {
        panic!("ease base")
    };
    let s = model.score_items(0, &[0, 1], &[2, 3]).unwrap();
    for (k, &j) in [2usize, 3].iter().enumerate() {
        let by_hand = old * ease.weights_of(0).unwrap()[j] + 3.0 * ease.weights_of(1).unwrap()[j];
        assert!((s[k] - by_hand).abs() < 1e-6, "{} vs {by_hand}", s[k]);
    }
}

#[test]
fn recency_needs_timestamps_an_ease_base_and_a_boost() {
    let pairs = [(0, 0, 1), (0, 1, 2), (1, 1, 3)];
    let years = vec![Some(2000), None];
    let fit = |p: FreshParams, t: &Interactions| p.years(years.clone()).fit(t).unwrap();
    assert!(fit(Fresh::params(), &timed(&pairs, 2, 2)).weighs_recency());
    assert!(!fit(Fresh::params(), &train(&[(0, 0), (0, 1), (1, 1)], 2, 2)).weighs_recency());
    assert!(!fit(Fresh::params().base("pop"), &timed(&pairs, 2, 2)).weighs_recency());
    assert!(!fit(Fresh::params().recency_boost(0.0), &timed(&pairs, 2, 2)).weighs_recency());
    let t = timed(&pairs, 2, 2);
    let bad = |p: FreshParams| {
        matches!(
            p.years(years.clone()).fit(&t),
            Err(Error::InvalidParam { .. })
        )
    };
    assert!(bad(Fresh::params().recency_boost(-1.0)));
    assert!(bad(Fresh::params().recency_boost(f32::INFINITY)));
    assert!(bad(Fresh::params().recency_decay(0.0)));
}

proptest! {
    #[test]
    fn boost_zero_ranks_as_base_and_round_trips(
        pairs in prop::collection::vec((0u32..6, 0u32..12), 1..80),
        years in prop::collection::vec(prop::option::of(1980u16..2001), 12),
        boost in 0.0f32..4.0,
        decay in 0.1f32..5.0,
        k in 1usize..15,
    ) {
        let t = train(&pairs, 6, 12);
        let base: AnyModel = crate::model::Popularity::params().fit(&t).unwrap().into();
        let plain = Fresh::params().years(years.clone()).boost(0.0).fit_base(base.clone()).unwrap();
        let fresh = Fresh::params().years(years.clone()).boost(boost).decay_years(decay).fit_base(base.clone()).unwrap();
        let back: Fresh = from_bytes(&to_bytes(&fresh).unwrap()).unwrap();
        let opts = RecOpts { k, ..RecOpts::default() };
        let all: Vec<u32> = (0..12).collect();
        for u in 0..6u32 {
            let h = t.items_of(u);
            prop_assert_eq!(plain.score_items(u, h, &all).unwrap(), base.score_items(u, h, &all).unwrap());
            let top = fresh.recommend(u, h, &opts).unwrap();
            prop_assert_eq!(back.recommend(u, h, &opts).unwrap(), top.clone());
            let s = fresh.score_items(u, h, &all).unwrap();
            let b = base.score_items(u, h, &all).unwrap();
            let w = fresh.weights();
            for i in 0..12 {
                prop_assert!(s[i].is_finite());
                prop_assert!(w[i] >= 1.0 && w[i] <= 1.0 + boost + 1e-6);
                for j in 0..12 {
                    // an item at least as good in base score and weight never ranks lower
                    if b[i] >= b[j] && w[i] >= w[j] { prop_assert!(s[i] >= s[j]); }
                }
            }
            for r in &top { prop_assert!(!h.contains(&r.item)); }
        }
    }

    #[test]
    fn recency_with_equal_times_ranks_as_unweighted_and_round_trips(
        pairs in prop::collection::vec((0u32..6, 0u32..12, 0i64..4), 1..80),
        boost in 0.5f32..30.0,
        decay in 0.5f32..10.0,
        k in 1usize..15,
    ) {
        let years = vec![Some(1999); 12];
        let same: Vec<(u32, u32, i64)> = pairs.iter().map(|&(u, i, _)| (u, i, 7)).collect();
        let fit = |p: &[(u32, u32, i64)], b: f32| Fresh::params()
            .years(years.clone())
            .ease(Ease::params().lambda(2.0))
            .recency_boost(b)
            .recency_decay(decay)
            .fit(&timed(p, 6, 12))
            .unwrap();
        let (flat, weighted) = (fit(&same, 0.0), fit(&same, boost));
        let recent = fit(&pairs, boost);
        let back: Fresh = from_bytes(&to_bytes(&recent).unwrap()).unwrap();
        prop_assert!(back.weighs_recency());
        let opts = RecOpts { k, ..RecOpts::default() };
        let t = timed(&pairs, 6, 12);
        let all: Vec<u32> = (0..12).collect();
        for u in 0..6u32 {
            let h = t.items_of(u);
            // equal times: every history item weighs 1 + boost, a common factor
            let (a, b) = (flat.score_items(u, h, &all).unwrap(), weighted.score_items(u, h, &all).unwrap());
            for (x, y) in a.iter().zip(&b) {
                prop_assert!((x * (1.0 + boost) - y).abs() <= 1e-4 * (1.0 + y.abs()));
            }
            let top = recent.recommend(u, h, &opts).unwrap();
            prop_assert_eq!(back.recommend(u, h, &opts).unwrap(), top.clone());
            for r in &top { prop_assert!(!h.contains(&r.item) && r.score.is_finite()); }
            for w in recent.history_weights(u, h) { prop_assert!((1.0..=1.0 + boost).contains(&w)); }
        }
    }
}
