use super::dense::scores_block;
use super::select::{select_fast, top_k_pruned};
#[cfg(target_arch = "x86_64")]
use super::simd::Avx2Fma;
use super::Rng;
use super::*;
use crate::model::{select, RecOpts};
use crate::util::rng::SplitMix64;
use proptest::prelude::*;

// The streams themselves are pinned in `util::rng` (`pinned_splitmix64_streams`); this
// pins the wrapper's mapping onto them.
#[test]
fn rng_is_the_pinned_splitmix64_stream() {
    let (mut a, mut b) = (Rng::new(3, 0), SplitMix64::stream(3, 0));
    for n in [1000, 7, 1 << 20] {
        assert_eq!(a.below(n), b.below_fast(n));
    }
    assert_eq!(a.next_f32().to_bits(), b.next_f32().to_bits());
}

fn naive_dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

#[test]
fn rng_is_reproducible_and_in_range() {
    let a: Vec<u64> = (0..5)
        .map({
            let mut r = Rng::new(7, 3);
            move |_| r.next_u64()
        })
        .collect();
    let mut r = Rng::new(7, 3);
    assert_eq!(a, (0..5).map(|_| r.next_u64()).collect::<Vec<_>>());
    let mut other = Rng::new(7, 4);
    assert_ne!(a[0], other.next_u64());
    for _ in 0..10_000 {
        let x = r.next_f32();
        assert!((0.0..1.0).contains(&x));
        assert!(r.below(13) < 13);
    }
}

proptest! {
    #[test]
    fn fast_selection_equals_select(
        scores in prop::collection::vec(-20i32..20, 0..300),
        nan_at in prop::collection::vec(0usize..300, 0..20),
        history in prop::collection::vec(0u32..320, 0..30),
        exclude in prop::collection::vec(0u32..320, 0..10),
        k in 0usize..40,
        filter_seen in any::<bool>(),
    ) {
        // Coarse scores so that ties are common.
        let mut scores: Vec<f32> = scores.into_iter().map(|s| s as f32 / 4.0).collect();
        for i in nan_at {
            if let Some(s) = scores.get_mut(i) {
                *s = f32::NAN;
            }
        }
        let opts = RecOpts { k, filter_seen, exclude: Some(&exclude), candidates: None };
        let want = select(&mut scores.clone(), &history, &opts).unwrap();
        let got = select_fast(&mut scores.clone(), &history, &opts).unwrap();
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(top_k_pruned(&scores, k), crate::model::top_k_dense(&scores, k, |_| false));
    }

    #[test]
    fn kernels_match_naive(v in prop::collection::vec(-10i32..10, 0..700), w in prop_oneof![1usize..140, Just(64usize), Just(8usize), Just(32usize)]) {
        let a: Vec<f32> = v.iter().map(|&x| x as f32 / 3.0).collect();
        let b: Vec<f32> = v.iter().rev().map(|&x| x as f32 / 7.0).collect();
        let want = naive_dot(&a, &b);
        let got = Scalar.dot(&a, &b) as f64;
        prop_assert!((got - want).abs() < 1e-3 * (1.0 + want.abs()));
        let mut y1 = b.clone();
        Scalar.axpy(0.5, &a, &mut y1);
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = Avx2Fma::detect() {
            let got = isa.dot(&a, &b) as f64;
            prop_assert!((got - want).abs() < 1e-3 * (1.0 + want.abs()));
            let mut y2 = b.clone();
            isa.axpy(0.5, &a, &mut y2);
            for (p, q) in y1.iter().zip(&y2) {
                prop_assert!((p - q).abs() < 1e-4);
            }
        }
        // Row kernels against the single-row ones, for both instruction sets.
        let rows: Vec<u32> = (0..(a.len() / w) as u32).rev().collect();
        let p: Vec<f32> = (0..w).map(|c| c as f32 * 0.25 - 1.0).collect();
        let coef: Vec<f32> = rows.iter().map(|&r| r as f32 * 0.5 - 2.0).collect();
        let want_dots: Vec<f32> = rows.iter().map(|&r| Scalar.dot(&a[r as usize * w..(r as usize + 1) * w], &p)).collect();
        let mut want_acc = p.clone();
        for (&c, &r) in coef.iter().zip(&rows) {
            Scalar.axpy(c, &a[r as usize * w..(r as usize + 1) * w], &mut want_acc);
        }
        let check = |dots: &[f32], acc: &[f32]| {
            dots.iter().zip(&want_dots).all(|(x, y)| (x - y).abs() < 1e-3 * (1.0 + y.abs()))
                && acc.iter().zip(&want_acc).all(|(x, y)| (x - y).abs() < 1e-3 * (1.0 + y.abs()))
        };
        // One CG pass: acc += Σ (α_e + β_e (row·p)) row.
        let (al, be): (Vec<f32>, Vec<f32>) = rows.iter().map(|&r| (r as f32 * 0.1, 0.5 - r as f32 * 0.01)).unzip();
        let mut want_r1 = p.clone();
        for ((&r, x), y) in rows.iter().zip(&al).zip(&be) {
            let row = &a[r as usize * w..(r as usize + 1) * w];
            Scalar.axpy(x + y * Scalar.dot(row, &p), row, &mut want_r1);
        }
        let mut t = vec![0f32; rows.len()];
        let mut got = p.clone();
        Scalar.rank_one_updates(&a, w, &rows, &al, &be, &p, &mut t, &mut got);
        prop_assert!(got.iter().zip(&want_r1).all(|(x, y)| (x - y).abs() < 1e-3 * (1.0 + y.abs())));
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = Avx2Fma::detect() {
            let mut got = p.clone();
            isa.rank_one_updates(&a, w, &rows, &al, &be, &p, &mut t, &mut got);
            prop_assert!(got.iter().zip(&want_r1).all(|(x, y)| (x - y).abs() < 1e-3 * (1.0 + y.abs())), "{:?} vs {:?}", got, want_r1);
        }
        let mut dots = vec![0f32; rows.len()];
        let mut acc = p.clone();
        Scalar.dots_rows(&a, w, &rows, &p, &mut dots);
        Scalar.axpys_rows(&a, w, &rows, &coef, &mut acc);
        prop_assert!(check(&dots, &acc));
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = Avx2Fma::detect() {
            let mut acc = p.clone();
            isa.dots_rows(&a, w, &rows, &p, &mut dots);
            isa.axpys_rows(&a, w, &rows, &coef, &mut acc);
            prop_assert!(check(&dots, &acc), "{:?} {:?} / {:?} {:?}", dots, want_dots, acc, want_acc);
        }
        for ((y, x), b) in y1.iter().zip(&a).zip(&b) {
            prop_assert!((y - (b + 0.5 * x)).abs() < 1e-4);
        }

        let rows = a.len() / w;
        let m = &a[..rows * w];
        let g = gram(m, w);
        for i in 0..w {
            for j in 0..w {
                let want: f64 = (0..rows).map(|r| m[r * w + i] as f64 * m[r * w + j] as f64).sum();
                prop_assert!((g[i * w + j] as f64 - want).abs() < 1e-3 * (1.0 + want.abs()));
            }
        }
        if rows > 0 {
            let mut out = vec![0f32; rows * rows];
            scores_block(m, m, w, &mut out);
            let mut d = vec![0f32; rows];
            dots_into(&m[..w], m, w, &mut d);
            for r in 0..rows {
                let want = naive_dot(&m[..w], &m[r * w..(r + 1) * w]);
                prop_assert!((out[r] as f64 - want).abs() < 1e-3 * (1.0 + want.abs()));
                prop_assert!((d[r] as f64 - want).abs() < 1e-3 * (1.0 + want.abs()));
            }
        }
    }
}
