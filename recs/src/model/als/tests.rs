//! Tests of ALS: parameter checks, hand-solved rows, fold-in, persistence.

use super::fit::*;
use super::hyperparams::*;
use super::score::*;
use crate::data::Interactions;
use crate::model::factors::{dispatch, gram, random_matrix, Rng};
use crate::model::{from_bytes, to_bytes, AnyModel, Fit, ParamGuard, RecOpts, Recommender};
use crate::Error;
use proptest::prelude::*;

fn interactions(n_users: usize, n_items: usize, triples: &[(u32, u32, f32)]) -> Interactions {
    Interactions::from_triples(n_users, n_items, triples)
}

fn two_groups(n_users: u32, n_items: u32) -> Interactions {
    Interactions::two_taste_groups(n_users, n_items)
}

#[test]
fn autotraits() {
    fn has<T: Send + Sync + Unpin>() {}
    has::<AlsParams>();
    has::<AlsValidParams>();
    has::<Als>();
    has::<AlsSolver>();
    has::<Feedback>();
}

#[test]
fn rejects_out_of_range_params() {
    let cases: Vec<(AlsParams, &str)> = vec![
        (Als::params().factors(0), "factors"),
        (Als::params().factors(4097), "factors"),
        (Als::params().regularization(0.0), "regularization"),
        (Als::params().regularization(-1.0), "regularization"),
        (Als::params().regularization(f32::NAN), "regularization"),
        (
            Als::params().regularization(f32::INFINITY),
            "regularization",
        ),
        (Als::params().alpha(-0.1), "alpha"),
        (Als::params().alpha(f32::NAN), "alpha"),
        (Als::params().iterations(0), "iterations"),
        (Als::params().iterations(10_001), "iterations"),
        (Als::params().cg_steps(0), "cg_steps"),
        (Als::params().reg_exponent(-0.5), "reg_exponent"),
        (Als::params().reg_exponent(2.5), "reg_exponent"),
        (Als::params().reg_exponent(f32::NAN), "reg_exponent"),
    ];
    let data = Interactions::empty(2, 2);
    for (p, name) in cases {
        match p.fit(&data) {
            Err(Error::InvalidParam { name: got, .. }) => assert_eq!(got, name),
            other => panic!("{name}: expected InvalidParam, got {other:?}"),
        }
    }
    // The documented bounds themselves are accepted.
    let edge = Als::params()
        .factors(1)
        .regularization(f32::MIN_POSITIVE)
        .alpha(0.0)
        .iterations(1)
        .cg_steps(1)
        .reg_exponent(2.0);
    assert!(edge.check_ref().is_ok());
    assert!(Als::params()
        .factors(4096)
        .cg_steps(1000)
        .check_ref()
        .is_ok());
}

#[test]
fn implicit_values_must_be_non_negative() {
    let data = interactions(1, 2, &[(0, 0, -1.0)]);
    assert!(matches!(Als::params().fit(&data), Err(Error::Data(_))));
}

/// One factor, items fixed at y = [2, 1], the user interacted with item 0 (r = 1),
/// alpha = 1, λ = 0.5:
///   A = Σ_i y_i² + alpha·r·y_0² + λ = (4 + 1) + 4 + 0.5 = 9.5
///   b = (1 + alpha·r)·y_0 = 4
///   x = 4 / 9.5
#[test]
fn one_factor_row_solve_by_hand() {
    let y = [2.0f32, 1.0];
    let g = [5.0f32];
    let side = Side {
        fixed: &y,
        d: 1,
        gram: Some(&g),
        weights: Weights::Implicit { alpha: 1.0 },
        reg: 0.5,
        nu: 0.0,
        n_fixed: 2,
    };
    let mut s = Scratch::new(1);
    let mut x = [0.0f32];
    exact_row(&side, &[0], &[1.0], &mut x, &mut s).unwrap();
    assert!((x[0] - 4.0 / 9.5).abs() < 1e-6, "{}", x[0]);
    // CG solves a 1-D system in one step from any start.
    let mut x = [0.3f32];
    dispatch(CgRow {
        side: &side,
        idx: &[0],
        vals: &[1.0],
        x: &mut x,
        steps: 1,
        s: &mut s,
    });
    assert!((x[0] - 4.0 / 9.5).abs() < 1e-6, "{}", x[0]);
    // Frequency scaling ν = 1: W = n_items + alpha·Σr = 3, λ_u = 0.5·3 = 1.5 → x = 4 / 10.5.
    let scaled = Side { nu: 1.0, ..side };
    exact_row(&scaled, &[0], &[1.0], &mut x, &mut s).unwrap();
    assert!((x[0] - 4.0 / 10.5).abs() < 1e-6, "{}", x[0]);
}

/// Explicit, one factor, user row [x, b_u] with fixed item rows [y, 1] = [2, 1] and [1, 1],
/// μ = 3, item biases [0.5, −0.5], ratings 4.5 and 1.5, λ = 1:
///   targets t = r − μ − b_i = [1, −1]
///   A = Σ ỹỹᵀ + I = [[4+1+1, 2+1], [2+1, 1+1+1]] = [[6, 3], [3, 3]]
///   b = Σ t·ỹ = [2 − 1, 1 − 1] = [1, 0]
///   solution = A⁻¹ b = [3, −3] / (18 − 9) = [1/3, −1/3]
#[test]
fn explicit_row_solve_by_hand() {
    let fixed = [2.0f32, 1.0, 1.0, 1.0];
    let bias = [0.5f32, -0.5];
    let side = Side {
        fixed: &fixed,
        d: 2,
        gram: None,
        weights: Weights::Explicit {
            mu: 3.0,
            bias: &bias,
        },
        reg: 1.0,
        nu: 0.0,
        n_fixed: 2,
    };
    let mut s = Scratch::new(2);
    let mut x = [0.0f32; 2];
    exact_row(&side, &[0, 1], &[4.5, 1.5], &mut x, &mut s).unwrap();
    assert!(
        (x[0] - 1.0 / 3.0).abs() < 1e-6 && (x[1] + 1.0 / 3.0).abs() < 1e-6,
        "{x:?}"
    );
    let mut x = [0.0f32; 2];
    dispatch(CgRow {
        side: &side,
        idx: &[0, 1],
        vals: &[4.5, 1.5],
        x: &mut x,
        steps: 2,
        s: &mut s,
    });
    assert!(
        (x[0] - 1.0 / 3.0).abs() < 1e-5 && (x[1] + 1.0 / 3.0).abs() < 1e-5,
        "{x:?}"
    );
}

proptest! {
    /// CG run to `d` steps reaches the Cholesky solution of random SPD row systems.
    #[test]
    fn cg_converges_to_cholesky(
        d in 1usize..12,
        n_fixed in 1usize..30,
        seed in any::<u64>(),
        alpha in prop_oneof![Just(0.0f32), 0.0f32..5.0],
        zeros in 0.0f32..1.0,
        reg in 0.05f32..2.0,
    ) {
        let y = random_matrix(n_fixed, d, 1.0, seed, 0);
        let g = gram(&y, d);
        let mut rng = Rng::new(seed, 9);
        let idx: Vec<u32> = (0..n_fixed as u32).filter(|_| rng.next_f32() < 0.5).collect();
        // Some zero values (entries without weight), so that CG's skipping of zero-weight
        // entries (all of them when alpha = 0) is exercised.
        let vals: Vec<f32> = idx
            .iter()
            .map(|_| if rng.next_f32() < zeros { 0.0 } else { rng.next_f32() * 3.0 })
            .collect();
        let side = Side {
            fixed: &y, d, gram: Some(&g), weights: Weights::Implicit { alpha },
            reg, nu: 0.0, n_fixed,
        };
        let mut s = Scratch::new(d);
        let mut exact = vec![0f32; d];
        exact_row(&side, &idx, &vals, &mut exact, &mut s).unwrap();
        let mut cg = random_matrix(1, d, 1.0, seed, 3);
        dispatch(CgRow { side: &side, idx: &idx, vals: &vals, x: &mut cg, steps: 4 * d, s: &mut s });
        let scale = 1.0 + exact.iter().map(|v| v.abs()).fold(0.0, f32::max);
        for (a, b) in exact.iter().zip(&cg) {
            prop_assert!((a - b).abs() < 1e-3 * scale, "exact {:?} cg {:?}", exact, cg);
        }
    }
}

/// After a Cholesky fit, the item factors solve their normal equations given the final
/// user factors exactly (checked in f64 from the definitions, not from the solver).
#[test]
fn cholesky_fit_is_stationary_for_items() {
    let data = two_groups(12, 10);
    let (alpha, lambda) = (3.0f32, 0.1f32);
    let m = Als::params()
        .factors(3)
        .alpha(alpha)
        .regularization(lambda)
        .iterations(4)
        .solver(AlsSolver::Cholesky)
        .seed(5)
        .fit(&data)
        .unwrap();
    let (k, x, y) = (3, m.user_factors(), m.item_factors());
    let t = data.transpose();
    for i in 0..10u32 {
        let mut a = vec![0f64; k * k];
        let mut b = vec![0f64; k];
        for u in 0..12 {
            let xu = &x[u * k..(u + 1) * k];
            let pos = t.items_of(i).iter().position(|&v| v as usize == u);
            let c = 1.0 + pos.map_or(0.0, |p| alpha as f64 * t.values_of(i)[p] as f64);
            for r in 0..k {
                for s in 0..k {
                    a[r * k + s] += c * xu[r] as f64 * xu[s] as f64;
                }
                if pos.is_some() {
                    b[r] += c * xu[r] as f64;
                }
            }
        }
        let yi = &y[i as usize * k..(i as usize + 1) * k];
        for r in 0..k {
            let ay: f64 = (0..k).map(|s| a[r * k + s] * yi[s] as f64).sum::<f64>()
                + lambda as f64 * yi[r] as f64;
            assert!(
                (ay - b[r]).abs() < 1e-3 * (1.0 + b[r].abs()),
                "item {i}: {ay} vs {}",
                b[r]
            );
        }
    }
}

/// Explicit ALS recovers ratings that are exactly `μ + b_u + b_i + x_u·y_i` (rank 1).
#[test]
fn explicit_fits_low_rank_ratings() {
    let (nu, ni) = (20u32, 15u32);
    let xu = |u: u32| (u as f32 * 0.37).sin();
    let yi = |i: u32| (i as f32 * 0.91).cos();
    let rating = |u: u32, i: u32| 3.0 + 0.2 * (u % 3) as f32 - 0.1 * (i % 4) as f32 + xu(u) * yi(i);
    let mut t = Vec::new();
    for u in 0..nu {
        for i in 0..ni {
            if (u * 7 + i * 3) % 4 != 0 {
                t.push((u, i, rating(u, i)));
            }
        }
    }
    let data = interactions(nu as usize, ni as usize, &t);
    for solver in [AlsSolver::Cholesky, AlsSolver::ConjugateGradient] {
        let m = Als::params()
            .feedback(Feedback::Explicit)
            .factors(2)
            .regularization(1e-3)
            .iterations(60)
            .cg_steps(4)
            .solver(solver)
            .fit(&data)
            .unwrap();
        assert_eq!(m.factor_width(), 4);
        let mut se = 0.0;
        for &(u, i, r) in &t {
            let s = m.score_items(u, &[], &[i]).unwrap()[0];
            se += ((s - r) as f64).powi(2);
        }
        let rmse = (se / t.len() as f64).sqrt();
        assert!(rmse < 0.05, "{solver:?}: train rmse {rmse}");
        // Held-out cells are predicted too (the data is exactly low rank).
        let (u, i) = (0, 0); // (0*7 + 0*3) % 4 == 0: not in training
        let s = m.score_items(u, &[], &[i]).unwrap()[0];
        assert!(
            (s - rating(u, i)).abs() < 0.3,
            "{solver:?}: {s} vs {}",
            rating(u, i)
        );
    }
}

/// Near convergence, folding in a fitted user's own history (with its values) gives back
/// the user's fitted row, in both feedback modes.
#[test]
fn fold_in_reproduces_fitted_users() {
    let (nu, ni) = (15u32, 12u32);
    let mut t = Vec::new();
    for u in 0..nu {
        for i in 0..ni {
            if (u * 5 + i * 7) % 3 != 0 {
                t.push((u, i, 1.0 + ((u + 2 * i) % 5) as f32));
            }
        }
    }
    let data = interactions(nu as usize, ni as usize, &t);
    for feedback in [Feedback::Implicit, Feedback::Explicit] {
        let m = Als::params()
            .feedback(feedback)
            .factors(3)
            .alpha(0.5)
            .regularization(0.5)
            .iterations(300)
            .solver(AlsSolver::Cholesky)
            .fit(&data)
            .unwrap();
        let w = m.factor_width();
        for u in [0u32, 4, 9] {
            let row = m
                .recalculate_user(data.items_of(u), Some(data.values_of(u)))
                .unwrap();
            let fitted = &m.user_factors()[u as usize * w..(u as usize + 1) * w];
            for (a, b) in row.iter().zip(fitted) {
                assert!(
                    (a - b).abs() < 1e-3,
                    "{feedback:?} user {u}: {row:?} vs {fitted:?}"
                );
            }
        }
        // Without values: 1.0 each (implicit) or the largest training rating (explicit).
        let mut out = vec![0f32; ni as usize];
        m.score_into(99, &[1, 2], &mut out).unwrap();
        assert!(out.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn unknown_users_fold_in_or_fail() {
    let data = two_groups(10, 12);
    let m = Als::params().factors(4).seed(3).fit(&data).unwrap();
    let mut out = vec![0f32; 12];
    assert!(matches!(
        m.score_into(10, &[], &mut out),
        Err(Error::UnknownUser(10))
    ));
    assert!(matches!(
        m.score_into(10, &[12], &mut out),
        Err(Error::UnknownItem(12))
    ));
    assert!(matches!(
        m.score_into(0, &[99], &mut out),
        Err(Error::UnknownItem(99))
    ));
    // A new user who likes even items gets even items.
    let top = m
        .recommend(
            99,
            &[0, 2, 4],
            &RecOpts {
                k: 3,
                ..RecOpts::default()
            },
        )
        .unwrap();
    assert_eq!(top.len(), 3);
    assert!(top.iter().all(|s| s.item % 2 == 0), "{top:?}");
    // Folding in a fitted user's own history gives a row that solves the normal equations.
    let row = m.recalculate_user(data.items_of(1), None).unwrap();
    assert_eq!(row.len(), 4);
    assert!(matches!(
        m.recalculate_user(&[1, 3], Some(&[1.0])),
        Err(Error::Data(_))
    ));
    assert!(matches!(
        m.recalculate_user(&[1], Some(&[-1.0])),
        Err(Error::Data(_))
    ));
    let mut bad = vec![0f32; 3];
    assert!(matches!(
        m.score_factors_into(&row, &mut bad),
        Err(Error::Data(_))
    ));
}

#[test]
fn fit_is_independent_of_thread_count() {
    let data = two_groups(40, 30);
    let fit = |threads: usize, solver: AlsSolver, feedback: Feedback| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                Als::params()
                    .factors(5)
                    .iterations(3)
                    .solver(solver)
                    .feedback(feedback)
                    .seed(11)
                    .fit(&data)
                    .unwrap()
            })
    };
    for solver in [AlsSolver::ConjugateGradient, AlsSolver::Cholesky] {
        for fb in [Feedback::Implicit, Feedback::Explicit] {
            assert_eq!(fit(1, solver, fb), fit(3, solver, fb), "{solver:?} {fb:?}");
        }
    }
    assert_ne!(
        fit(1, AlsSolver::ConjugateGradient, Feedback::Implicit).user_factors(),
        Als::params()
            .factors(5)
            .iterations(3)
            .seed(12)
            .fit(&data)
            .unwrap()
            .user_factors()
    );
}

#[test]
fn similar_items_by_cosine() {
    let data = two_groups(16, 10);
    let m = Als::params().factors(4).seed(2).fit(&data).unwrap();
    let sim = m.similar_items(2, 4).unwrap();
    assert_eq!(sim.len(), 4);
    assert!(sim
        .iter()
        .all(|s| s.item != 2 && s.score <= 1.0 + 1e-5 && s.score >= -1.0 - 1e-5));
    assert!(sim.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(sim.iter().all(|s| s.item % 2 == 0), "{sim:?}");
    assert!(matches!(
        m.similar_items(10, 3),
        Err(Error::UnknownItem(10))
    ));
}

#[test]
fn damaged_dimensions_are_refused_on_load() {
    let data = two_groups(4, 6);
    let mut m = Als::params().factors(2).fit(&data).unwrap();
    m.users.pop();
    let bytes = to_bytes(&m).unwrap();
    assert!(matches!(from_bytes::<Als>(&bytes), Err(Error::Format(_))));
    assert!(matches!(
        AnyModel::from_bytes(&bytes),
        Err(Error::Format(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn recommend_respects_filters_round_trips_and_is_deterministic(
        triples in prop::collection::vec((0u32..8, 0u32..15, 1u32..6), 1..80),
        exclude in prop::collection::vec(0u32..15, 0..4),
        k in 1usize..20,
        explicit in any::<bool>(),
        cholesky in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let t: Vec<(u32, u32, f32)> = triples.iter().map(|&(u, i, v)| (u, i, v as f32)).collect();
        let data = interactions(8, 15, &t);
        let params = Als::params()
            .factors(3)
            .iterations(3)
            .seed(seed)
            .feedback(if explicit { Feedback::Explicit } else { Feedback::Implicit })
            .solver(if cholesky { AlsSolver::Cholesky } else { AlsSolver::ConjugateGradient })
            .regularization(0.1);
        let model = params.fit(&data).unwrap();
        prop_assert_eq!(&params.fit(&data).unwrap(), &model);
        let back: Als = from_bytes(&to_bytes(&model).unwrap()).unwrap();
        let any = AnyModel::from_bytes(&AnyModel::from(model.clone()).to_bytes().unwrap()).unwrap();
        let opts = RecOpts { k, exclude: Some(&exclude), ..RecOpts::default() };
        let users: Vec<u32> = (0..8).collect();
        let batch = model.recommend_batch(&users, &data, &opts).unwrap();
        for u in 0..8u32 {
            let top = model.recommend(u, data.items_of(u), &opts).unwrap();
            let mut all = vec![0f32; 15];
            model.score_into(u, data.items_of(u), &mut all).unwrap();
            prop_assert!(all.iter().all(|s| s.is_finite()));
            prop_assert!(top.len() <= k);
            for s in &top {
                prop_assert!(!data.items_of(u).contains(&s.item));
                prop_assert!(!exclude.contains(&s.item));
                prop_assert!(s.score.is_finite());
            }
            prop_assert!(top.windows(2).all(|w| w[0].score >= w[1].score));
            prop_assert_eq!(&back.recommend(u, data.items_of(u), &opts).unwrap(), &top);
            prop_assert_eq!(&any.recommend(u, data.items_of(u), &opts).unwrap(), &top);
            // The batch path scores by matrix product: the same lists, up to the order of
            // items whose scores tie within rounding.
            let b = &batch[u as usize];
            prop_assert_eq!(b.len(), top.len());
            let tol = |s: f32| 1e-4 * (1.0 + s.abs());
            for (x, y) in b.iter().zip(&top) {
                prop_assert!(!data.items_of(u).contains(&x.item) && !exclude.contains(&x.item));
                prop_assert!((x.score - y.score).abs() <= tol(y.score));
                prop_assert!((all[x.item as usize] - x.score).abs() <= tol(x.score));
                if x.item != y.item {
                    // a tie: the per-user score of the batch's item equals the per-user one
                    prop_assert!((all[x.item as usize] - y.score).abs() <= 2.0 * tol(y.score));
                }
            }
        }
    }
}
