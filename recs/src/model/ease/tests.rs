//! Tests of EASE: parameter checks, closed forms, the normal equations, batch paths, files.

use super::*;
use crate::data::Interactions;
use crate::model::gram::gram_dense;
use crate::model::{from_bytes, to_bytes, Fit, RecOpts, Recommender};
use crate::{Error, Result};
use proptest::prelude::*;

fn matrix(pairs: &[(u32, u32)], n_users: usize, n_items: usize) -> Interactions {
    Interactions::from_pairs(n_users, n_items, pairs)
}

#[test]
fn autotraits() {
    fn has<T: Send + Sync + Unpin>() {}
    has::<EaseParams>();
    has::<EaseValidParams>();
    has::<Ease>();
}

#[test]
fn rejects_out_of_range_params() {
    let x = Interactions::empty(1, 2);
    let name = |r: Result<Ease>| match r {
        Err(Error::InvalidParam { name, .. }) => name,
        other => panic!("expected InvalidParam, got {other:?}"),
    };
    assert_eq!(name(Ease::params().lambda(0.0).fit(&x)), "lambda");
    assert_eq!(name(Ease::params().lambda(f32::NAN).fit(&x)), "lambda");
    assert_eq!(name(Ease::params().dropout(1.0).fit(&x)), "dropout");
    assert_eq!(name(Ease::params().dropout(-0.1).fit(&x)), "dropout");
    assert_eq!(name(Ease::params().max_memory(0).fit(&x)), "max_memory");
    assert!(Ease::params().lambda(1e-3).dropout(0.99).fit(&x).is_ok());
}

#[test]
fn tiny_catalogues_work() {
    for n_items in 0..3 {
        let x = Interactions::empty(2, n_items);
        let m = Ease::params().fit(&x).unwrap();
        assert_eq!(m.n_items(), n_items);
        let all = m
            .recommend_batch(&[0, 1, 5], &x, &RecOpts::default())
            .unwrap();
        assert!(all.iter().all(|l| l.len() == n_items.min(10)));
        let back: Ease = from_bytes(&to_bytes(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}

#[test]
fn memory_cap_is_a_limit_error() {
    let x = Interactions::empty(1, 100);
    // 12 · 100² = 120,000 bytes
    assert!(Ease::params().max_memory(120_000).fit(&x).is_ok());
    assert!(matches!(
        Ease::params().max_memory(119_999).fit(&x),
        Err(Error::Limit(_))
    ));
    assert!(Ease::training_bytes(usize::MAX).is_none());
}

/// Two items always taken together: G = [[2, 2], [2, 2]], λ = 1 gives
/// P = [[3, 2], [2, 3]]⁻¹ = [[3, -2], [-2, 3]] / 5, so B[0, 1] = -P01 / P11 = 2/3.
#[test]
fn two_item_closed_form() {
    let x = matrix(&[(0, 0), (0, 1), (1, 0), (1, 1)], 2, 2);
    let m = Ease::params().lambda(1.0).fit(&x).unwrap();
    assert_eq!(m.weights_of(0).unwrap()[0], 0.0);
    assert!((m.weights_of(0).unwrap()[1] - 2.0 / 3.0).abs() < 1e-6);
    assert!((m.weights_of(1).unwrap()[0] - 2.0 / 3.0).abs() < 1e-6);
    // dropout 0.5 adds G_ii = 2 more: P = [[5, 2], [2, 5]]⁻¹, B01 = 2/5
    let m = Ease::params().lambda(1.0).dropout(0.5).fit(&x).unwrap();
    assert!((m.weights_of(0).unwrap()[1] - 0.4).abs() < 1e-6);
}

/// B solves the EASE normal equations column by column: for j, (G + λI) b_j = G e_j off the
/// diagonal constraint, i.e. (G + λI) B = G − diag(μ) for some μ (Steck 2019, eq. 5–8).
#[test]
fn satisfies_the_constrained_normal_equations() {
    let pairs: Vec<(u32, u32)> = (0..40u32)
        .flat_map(|u| {
            (0..7u32)
                .filter(move |i| (u * 7 + i * 3) % 5 < 2)
                .map(move |i| (u, i))
        })
        .collect();
    let x = matrix(&pairs, 40, 7);
    let lambda = 3.0;
    let m = Ease::params().lambda(lambda).fit(&x).unwrap();
    let g = gram_dense(&x);
    let n = 7;
    for j in 0..n {
        for i in 0..n {
            let lhs: f32 = (0..n)
                .map(|k| (g[i * n + k] + if i == k { lambda } else { 0.0 }) * m.b[k * n + j])
                .sum();
            if i != j {
                assert!(
                    (lhs - g[i * n + j]).abs() < 1e-3,
                    "({i},{j}) {lhs} vs {}",
                    g[i * n + j]
                );
            }
        }
        assert_eq!(m.b[j * n + j], 0.0);
    }
}

#[test]
fn damaged_model_is_refused() {
    let x = matrix(&[(0, 0), (0, 1)], 1, 2);
    let mut m = Ease::params().fit(&x).unwrap();
    m.b.pop();
    assert!(matches!(
        from_bytes::<Ease>(&to_bytes(&m).unwrap()),
        Err(Error::Format(_))
    ));
}

proptest! {
    #[test]
    fn batch_equals_single_and_round_trips(
        pairs in prop::collection::vec((0u32..9, 0u32..11), 1..80),
        exclude in prop::collection::vec(0u32..11, 0..4),
        k in 1usize..13,
        lambda in 0.1f32..50.0,
    ) {
        let train = matrix(&pairs, 9, 11);
        let model = Ease::params().lambda(lambda).fit(&train).unwrap();
        let back: Ease = from_bytes(&to_bytes(&model).unwrap()).unwrap();
        prop_assert_eq!(&back, &model);
        let opts = RecOpts { k, exclude: Some(&exclude), ..RecOpts::default() };
        let users: Vec<u32> = (0..9).collect();
        let batch = model.recommend_batch(&users, &train, &opts).unwrap();
        let dense = model.recommend_dense(&users, &train, &opts).unwrap();
        for u in 0..9u32 {
            let top = model.recommend(u, train.items_of(u), &opts).unwrap();
            prop_assert_eq!(dense[u as usize].len(), top.len());
            for (a, b) in dense[u as usize].iter().zip(&top) {
                prop_assert!((a.score - b.score).abs() < 1e-4);
                prop_assert!(!train.items_of(u).contains(&a.item));
                prop_assert!(!exclude.contains(&a.item));
            }
            prop_assert_eq!(batch[u as usize].len(), top.len());
            for (a, b) in batch[u as usize].iter().zip(&top) {
                prop_assert!((a.score - b.score).abs() < 1e-4);
                prop_assert!(!train.items_of(u).contains(&a.item));
                prop_assert!(!exclude.contains(&a.item));
            }
            let sim = model.similar_items(u, k).unwrap();
            prop_assert!(sim.len() <= k && sim.iter().all(|s| s.item != u));
        }
    }
}

/// The `auto` searches fit every λ from one shared Gram matrix: the same model as `fit`, and
/// the shared matrix is left as it was.
#[test]
fn fit_from_a_shared_gram_equals_fit() {
    let pairs: Vec<(u32, u32)> = (0..30u32)
        .flat_map(|u| {
            (0..6u32)
                .filter(move |i| (u + 2 * i) % 3 == 0)
                .map(move |i| (u, i))
        })
        .collect();
    let x = matrix(&pairs, 30, 6);
    let gram = gram_dense(&x.binarized());
    let before = gram.clone();
    for lambda in [0.5, 7.0] {
        let p = Ease::params().lambda(lambda).dropout(0.2);
        assert_eq!(p.fit_gram(&gram, 6).unwrap(), p.fit(&x).unwrap());
    }
    assert_eq!(gram, before);
    assert!(matches!(
        Ease::params().fit_gram(&gram[1..], 6),
        Err(Error::Data(_))
    ));
    // the cap counts the shared matrix: 12 · 36 bytes fit alone, not with its 4 · 36
    assert!(Ease::params().max_memory(432).fit(&x).is_ok());
    assert!(matches!(
        Ease::params().max_memory(432).fit_gram(&gram, 6),
        Err(Error::Limit(_))
    ));
}

proptest! {
    /// The λ path from one eigendecomposition gives every user's full score vector `x_u B` of
    /// the Cholesky fit at the same λ (history items included), at several λ of one path.
    #[test]
    fn eigen_path_scores_equal_the_cholesky_fit(
        pairs in prop::collection::vec((0u32..12, 0u32..10), 1..90),
        lambdas in prop::collection::vec(0.5f32..60.0, 1..4),
    ) {
        let train = matrix(&pairs, 12, 10);
        let histories: Vec<Vec<u32>> = (0..12u32).map(|u| train.items_of(u).to_vec()).collect();
        let path = EigenPath::new(gram_dense(&train.binarized()), 10, histories).unwrap();
        for &lambda in &lambdas {
            let model = Ease::params().lambda(lambda).fit(&train).unwrap();
            let rows = path.map_scores(lambda, |_, s| Ok(s.to_vec())).unwrap();
            prop_assert_eq!(rows.len(), 12);
            let mut want = vec![0f32; 10];
            for (u, got) in rows.iter().enumerate() {
                model.score_into(u as u32, train.items_of(u as u32), &mut want).unwrap();
                for (g, w) in got.iter().zip(&want) {
                    prop_assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "λ {lambda} user {u}: {got:?} vs {want:?}");
                }
            }
        }
    }
}

#[test]
fn eigen_path_refuses_bad_input() {
    let train = matrix(&[(0, 0), (0, 1), (1, 1)], 2, 2);
    let g = gram_dense(&train.binarized());
    assert!(matches!(
        EigenPath::new(g[..3].to_vec(), 2, vec![]),
        Err(Error::Data(_))
    ));
    assert!(matches!(
        EigenPath::new(g.clone(), 2, vec![vec![2]]),
        Err(Error::UnknownItem(2))
    ));
    let path = EigenPath::new(g, 2, vec![vec![0]]).unwrap();
    // the smallest eigenvalue of [[1, 1], [1, 2]] is (3 − √5) / 2 ≈ 0.38: λ = −1 is refused
    assert!(matches!(
        path.map_scores(-1.0, |_, _| Ok(())),
        Err(Error::Numerical(_))
    ));
    assert!(Ease::params()
        .max_memory(1000)
        .check_path_memory(100, 10)
        .is_err());
    assert!(Ease::params().check_path_memory(100, 10).is_ok());
}
