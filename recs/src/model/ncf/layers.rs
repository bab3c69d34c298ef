//! The layers of the NCF networks, each a forward and a backward function on row-major `f32`
//! buffers with one row per training instance.
//!
//! Dense parts are matrix products (faer, sequential: the parallelism is across shards of a
//! mini-batch, see `net.rs`); element-wise parts are plain loops. Every function here has a
//! finite-difference gradient check in the tests below.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

fn accum(add: bool) -> Accum {
    if add {
        Accum::Add
    } else {
        Accum::Replace
    }
}

/// `c (m×n) = a (m×k) · b (k×n)`, or `+=` when `add`. All row-major.
pub(crate) fn mm(c: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, add: bool) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !add {
            c[..m * n].fill(0.0);
        }
        return;
    }
    matmul(
        MatMut::from_row_major_slice_mut(&mut c[..m * n], m, n),
        accum(add),
        MatRef::from_row_major_slice(&a[..m * k], m, k),
        MatRef::from_row_major_slice(&b[..k * n], k, n),
        1.0f32,
        Par::Seq,
    );
}

/// `c (k×n) = aᵀ · b` with `a: m×k`, `b: m×n`, or `+=` when `add`. All row-major.
pub(crate) fn mm_tn(c: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, add: bool) {
    if k == 0 || n == 0 {
        return;
    }
    if m == 0 {
        if !add {
            c[..k * n].fill(0.0);
        }
        return;
    }
    matmul(
        MatMut::from_row_major_slice_mut(&mut c[..k * n], k, n),
        accum(add),
        MatRef::from_row_major_slice(&a[..m * k], m, k).transpose(),
        MatRef::from_row_major_slice(&b[..m * n], m, n),
        1.0f32,
        Par::Seq,
    );
}

/// `c (m×k) = a (m×n) · bᵀ` with `b: k×n`; `c` rows are `ldc` apart (`ldc >= k`), so the result
/// can land in a column block of a wider matrix. Replaces `c`.
pub(crate) fn mm_nt(c: &mut [f32], ldc: usize, a: &[f32], b: &[f32], m: usize, n: usize, k: usize) {
    if m == 0 || k == 0 {
        return;
    }
    let len = (m - 1) * ldc + k;
    // Not `from_row_major_slice_with_stride_mut`: in faer 0.24.4 it builds a column-major view
    // (row stride 1, column stride `ldc`) and writes out of bounds. The transpose of a
    // column-major k×m view with column stride `ldc` is the row-major m×k view we want.
    let dst =
        MatMut::from_column_major_slice_with_stride_mut(&mut c[..len], k, m, ldc).transpose_mut();
    if n == 0 {
        let mut dst = dst;
        dst.fill(0.0);
        return;
    }
    matmul(
        dst,
        Accum::Replace,
        MatRef::from_row_major_slice(&a[..m * n], m, n),
        MatRef::from_row_major_slice(&b[..k * n], k, n).transpose(),
        1.0f32,
        Par::Seq,
    );
}

/// Dense layer forward: `y = x·W + b` with `x: rows×n_in`, `W: n_in×n_out`, `b: n_out`.
pub(crate) fn dense_forward(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    rows: usize,
    n_in: usize,
    n_out: usize,
    y: &mut [f32],
) {
    mm(y, x, w, rows, n_in, n_out, false);
    add_bias(&mut y[..rows * n_out], b);
}

/// Adds `b` to every row of `y`.
pub(crate) fn add_bias(y: &mut [f32], b: &[f32]) {
    if b.is_empty() {
        return;
    }
    for row in y.chunks_exact_mut(b.len()) {
        for (v, &bi) in row.iter_mut().zip(b) {
            *v += bi;
        }
    }
}

/// Column sums of `dy` (`rows×n`) into `db` (replaced): the bias gradient.
pub(crate) fn col_sums(dy: &[f32], n: usize, db: &mut [f32]) {
    db[..n].fill(0.0);
    if n == 0 {
        return;
    }
    for row in dy.chunks_exact(n) {
        for (d, &v) in db.iter_mut().zip(row) {
            *d += v;
        }
    }
}

/// Dense layer backward. Given `dy = ∂L/∂y`, writes `dW = xᵀ·dy`, `db = Σ_rows dy` (both
/// replaced) and, when asked, `dx = dy·Wᵀ`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dense_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    rows: usize,
    n_in: usize,
    n_out: usize,
    dw: &mut [f32],
    db: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    mm_tn(dw, x, dy, rows, n_in, n_out, false);
    col_sums(&dy[..rows * n_out], n_out, db);
    if let Some(dx) = dx {
        mm_nt(dx, n_in, dy, w, rows, n_out, n_in);
    }
}

/// ReLU in place.
pub(crate) fn relu_forward(y: &mut [f32]) {
    for v in y {
        *v = v.max(0.0);
    }
}

/// ReLU backward from the layer's *output* `y`: `dy *= [y > 0]`.
pub(crate) fn relu_backward(y: &[f32], dy: &mut [f32]) {
    // branch-free (a select), so it vectorises and does not mispredict
    for (d, &v) in dy.iter_mut().zip(y) {
        *d = if v > 0.0 { *d } else { 0.0 };
    }
}

/// The logistic function, computed without overflow.
pub(crate) fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Sigmoid output + binary cross-entropy on the logit `z` with label `y ∈ {0, 1}`:
/// returns `(−y·ln σ(z) − (1−y)·ln(1−σ(z)), ∂loss/∂z = σ(z) − y)`, stable for any `z`.
pub(crate) fn bce_with_logits(z: f32, y: f32) -> (f32, f32) {
    // softplus(z) - y z, with softplus(z) = max(z, 0) + ln(1 + e^{-|z|})
    let softplus = z.max(0.0) + (-z.abs()).exp().ln_1p();
    (softplus - y * z, sigmoid(z) - y)
}

/// Embedding lookup: copies columns `col..col + len` of the rows `ids` of `table` (rows of
/// `width`) into consecutive rows of `out` (`ids.len() × len`).
pub(crate) fn gather(
    table: &[f32],
    width: usize,
    col: usize,
    len: usize,
    ids: &[u32],
    out: &mut [f32],
) {
    if len == 0 {
        return;
    }
    for (o, &id) in out.chunks_exact_mut(len).zip(ids) {
        let start = id as usize * width + col;
        o.copy_from_slice(&table[start..start + len]);
    }
}

/// Embedding lookup backward: adds row `r` of `grad` (`ids.len() × len`) into columns
/// `col..col + len` of row `ids[r]` of `dtable`. Repeated ids accumulate.
pub(crate) fn scatter_add(
    dtable: &mut [f32],
    width: usize,
    col: usize,
    len: usize,
    ids: &[u32],
    grad: &[f32],
) {
    if len == 0 {
        return;
    }
    for (g, &id) in grad.chunks_exact(len).zip(ids) {
        let start = id as usize * width + col;
        for (d, &v) in dtable[start..start + len].iter_mut().zip(g) {
            *d += v;
        }
    }
}

/// GMF layer forward: the element-wise product `x = p ⊙ q` of two rows.
pub(crate) fn gmf_forward(p: &[f32], q: &[f32], x: &mut [f32]) {
    for ((o, &a), &b) in x.iter_mut().zip(p).zip(q) {
        *o = a * b;
    }
}

/// GMF layer backward: `dp += dx ⊙ q` and `dq = dx ⊙ p` (`dq` replaced). `dp` accumulates
/// because a user row is shared by a positive and its negatives.
pub(crate) fn gmf_backward(p: &[f32], q: &[f32], dx: &[f32], dp: &mut [f32], dq: &mut [f32]) {
    for i in 0..dx.len() {
        dp[i] += dx[i] * q[i];
        dq[i] = dx[i] * p[i];
    }
}

/// NeuMF concatenation forward: row `r` of `out` is `[a_r, b_r]` (`a: rows×na`, `b: rows×nb`).
pub(crate) fn concat_forward(a: &[f32], na: usize, b: &[f32], nb: usize, out: &mut [f32]) {
    let w = na + nb;
    if w == 0 {
        return;
    }
    for (r, o) in out.chunks_exact_mut(w).enumerate() {
        o[..na].copy_from_slice(&a[r * na..(r + 1) * na]);
        o[na..].copy_from_slice(&b[r * nb..(r + 1) * nb]);
    }
}

/// NeuMF concatenation backward: splits `dout` into `da` and `db` (both replaced).
pub(crate) fn concat_backward(dout: &[f32], na: usize, nb: usize, da: &mut [f32], db: &mut [f32]) {
    let w = na + nb;
    if w == 0 {
        return;
    }
    for (r, d) in dout.chunks_exact(w).enumerate() {
        da[r * na..(r + 1) * na].copy_from_slice(&d[..na]);
        db[r * nb..(r + 1) * nb].copy_from_slice(&d[na..]);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Central finite difference of `f` at `x` along coordinate `i`, in f64 from f32 evaluations.
    pub(crate) fn fd(f: &mut dyn FnMut(&[f32]) -> f64, x: &[f32], i: usize, h: f32) -> f64 {
        let mut xp = x.to_vec();
        xp[i] += h;
        let up = f(&xp);
        xp[i] = x[i] - h;
        let down = f(&xp);
        (up - down) / (2.0 * h as f64)
    }

    /// Asserts an analytic gradient equals finite differences within `rel` relative tolerance
    /// (plus `abs` absolute slack for f32 rounding).
    pub(crate) fn check_grad(
        f: &mut dyn FnMut(&[f32]) -> f64,
        x: &[f32],
        grad: &[f32],
        h: f32,
        rel: f64,
        abs: f64,
    ) -> Result<(), TestCaseError> {
        for i in 0..x.len() {
            let num = fd(f, x, i, h);
            let ana = grad[i] as f64;
            prop_assert!(
                (num - ana).abs() <= abs + rel * num.abs().max(ana.abs()),
                "coordinate {i}: analytic {ana}, numeric {num}"
            );
        }
        Ok(())
    }

    fn vecf(n: usize) -> impl Strategy<Value = Vec<f32>> {
        prop::collection::vec(-1.0f32..1.0, n)
    }

    /// Loss `Σ r ⊙ y` projects an output onto random weights, so its gradient w.r.t. `y` is `r`.
    fn project(y: &[f32], r: &[f32]) -> f64 {
        y.iter().zip(r).map(|(&a, &b)| a as f64 * b as f64).sum()
    }

    #[test]
    fn matmul_variants_match_naive() {
        let (m, k, n) = (5, 3, 4);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 - 1.5).collect();
        let mut c = vec![0f32; m * n];
        mm(&mut c, &a, &b, m, k, n, false);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|t| a[i * k + t] * b[t * n + j]).sum();
                assert!((c[i * n + j] - want).abs() < 1e-4);
            }
        }
        // aᵀ·c has shape k×n and equals Σ_rows a_i ⊗ c_i
        let mut t = vec![1f32; k * n];
        mm_tn(&mut t, &a, &c, m, k, n, true);
        for p in 0..k {
            for j in 0..n {
                let want: f32 = 1.0 + (0..m).map(|i| a[i * k + p] * c[i * n + j]).sum::<f32>();
                assert!((t[p * n + j] - want).abs() < 1e-2 * want.abs().max(1.0));
            }
        }
        // c·bᵀ has shape m×k, written with a row stride of k + 2
        let ld = k + 2;
        let mut d = vec![7f32; m * ld];
        mm_nt(&mut d, ld, &c, &b, m, n, k);
        for i in 0..m {
            for p in 0..k {
                let want: f32 = (0..n).map(|j| c[i * n + j] * b[p * n + j]).sum();
                assert!((d[i * ld + p] - want).abs() < 1e-2 * want.abs().max(1.0));
            }
            assert!(d[i * ld + k..i * ld + ld].iter().all(|&v| v == 7.0));
        }
    }

    #[test]
    fn bce_is_stable_and_matches_definition() {
        for &(z, y) in &[(0.3f32, 1.0f32), (-2.0, 0.0), (5.0, 0.0), (-5.0, 1.0)] {
            let p = 1.0 / (1.0 + (-z as f64).exp());
            let want = -(y as f64) * p.ln() - (1.0 - y as f64) * (1.0 - p).ln();
            let (l, d) = bce_with_logits(z, y);
            assert!((l as f64 - want).abs() < 1e-5, "{z} {y}");
            assert!((d as f64 - (p - y as f64)).abs() < 1e-6);
        }
        let (l, d) = bce_with_logits(200.0, 0.0);
        assert!((l - 200.0).abs() < 1e-3 && (d - 1.0).abs() < 1e-6);
        let (l, d) = bce_with_logits(-200.0, 0.0);
        assert!(l.abs() < 1e-6 && d.abs() < 1e-6);
        assert!(sigmoid(-1000.0) == 0.0 && sigmoid(1000.0) == 1.0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn dense_gradients_match_finite_differences(
            (rows, n_in, n_out, x, w, b, r) in (1usize..5, 1usize..6, 1usize..5).prop_flat_map(|(rows, n_in, n_out)| {
                (Just(rows), Just(n_in), Just(n_out), vecf(rows * n_in), vecf(n_in * n_out), vecf(n_out), vecf(rows * n_out))
            })
        ) {
            let mut y = vec![0f32; rows * n_out];
            let mut dw = vec![0f32; n_in * n_out];
            let mut db = vec![0f32; n_out];
            let mut dx = vec![0f32; rows * n_in];
            dense_backward(&x, &w, &r, rows, n_in, n_out, &mut dw, &mut db, Some(&mut dx));
            let mut loss_w = |w: &[f32]| { dense_forward(&x, w, &b, rows, n_in, n_out, &mut y); project(&y, &r) };
            check_grad(&mut loss_w, &w, &dw, 1e-2, 1e-3, 1e-4)?;
            let mut y = vec![0f32; rows * n_out];
            let mut loss_b = |b: &[f32]| { dense_forward(&x, &w, b, rows, n_in, n_out, &mut y); project(&y, &r) };
            check_grad(&mut loss_b, &b, &db, 1e-2, 1e-3, 1e-4)?;
            let mut y = vec![0f32; rows * n_out];
            let mut loss_x = |x: &[f32]| { dense_forward(x, &w, &b, rows, n_in, n_out, &mut y); project(&y, &r) };
            check_grad(&mut loss_x, &x, &dx, 1e-2, 1e-3, 1e-4)?;
        }

        #[test]
        fn relu_gradient_matches_finite_differences(x in vecf(12), r in vecf(12)) {
            // finite differences are exact away from the kink
            prop_assume!(x.iter().all(|v| v.abs() > 0.02));
            let mut y = x.clone();
            relu_forward(&mut y);
            let mut d = r.clone();
            relu_backward(&y, &mut d);
            let mut loss = |x: &[f32]| { let mut y = x.to_vec(); relu_forward(&mut y); project(&y, &r) };
            check_grad(&mut loss, &x, &d, 1e-2, 1e-3, 1e-5)?;
        }

        #[test]
        fn sigmoid_bce_gradient_matches_finite_differences(z in -8.0f32..8.0, pos in any::<bool>()) {
            let y = if pos { 1.0 } else { 0.0 };
            let (_, dz) = bce_with_logits(z, y);
            let mut loss = |z: &[f32]| {
                // the textbook composition, in f64: sigmoid, then cross-entropy
                let p = 1.0 / (1.0 + (-(z[0] as f64)).exp());
                -(y as f64) * p.ln() - (1.0 - y as f64) * (1.0 - p).ln()
            };
            check_grad(&mut loss, &[z], &[dz], 1e-3, 1e-3, 1e-5)?;
            // and the stable loss agrees with the textbook one
            let (l, _) = bce_with_logits(z, y);
            prop_assert!((l as f64 - loss(&[z])).abs() < 1e-5);
        }

        #[test]
        fn embedding_lookup_gradient_matches_finite_differences(
            table in vecf(4 * 5),
            ids in prop::collection::vec(0u32..4, 1..7),
            col in 0usize..3,
            r in vecf(7 * 2),
        ) {
            let (width, len) = (5, 2);
            let r = &r[..ids.len() * len];
            let mut dtable = vec![0f32; table.len()];
            scatter_add(&mut dtable, width, col, len, &ids, r);
            let mut out = vec![0f32; ids.len() * len];
            let mut loss = |t: &[f32]| { gather(t, width, col, len, &ids, &mut out); project(&out, r) };
            check_grad(&mut loss, &table, &dtable, 1e-2, 1e-3, 1e-5)?;
        }

        #[test]
        fn gmf_product_gradient_matches_finite_differences(p in vecf(6), q in vecf(6), r in vecf(6)) {
            let mut dp = vec![0f32; 6];
            let mut dq = vec![0f32; 6];
            gmf_backward(&p, &q, &r, &mut dp, &mut dq);
            let mut x = vec![0f32; 6];
            let mut loss_p = |p: &[f32]| { gmf_forward(p, &q, &mut x); project(&x, &r) };
            check_grad(&mut loss_p, &p, &dp, 1e-2, 1e-3, 1e-5)?;
            let mut x = vec![0f32; 6];
            let mut loss_q = |q: &[f32]| { gmf_forward(&p, q, &mut x); project(&x, &r) };
            check_grad(&mut loss_q, &q, &dq, 1e-2, 1e-3, 1e-5)?;
        }

        #[test]
        fn concat_gradient_matches_finite_differences(
            (_rows, na, nb, a, b, r) in (1usize..4, 0usize..4, 0usize..4).prop_flat_map(|(rows, na, nb)| {
                (Just(rows), Just(na), Just(nb), vecf(rows * na), vecf(rows * nb), vecf(rows * (na + nb)))
            })
        ) {
            let mut da = vec![0f32; a.len()];
            let mut db = vec![0f32; b.len()];
            concat_backward(&r, na, nb, &mut da, &mut db);
            let mut out = vec![0f32; r.len()];
            let mut loss_a = |a: &[f32]| { concat_forward(a, na, &b, nb, &mut out); project(&out, &r) };
            check_grad(&mut loss_a, &a, &da, 1e-2, 1e-3, 1e-5)?;
            let mut out = vec![0f32; r.len()];
            let mut loss_b = |b: &[f32]| { concat_forward(&a, na, b, nb, &mut out); project(&out, &r) };
            check_grad(&mut loss_b, &b, &db, 1e-2, 1e-3, 1e-5)?;
        }
    }
}
