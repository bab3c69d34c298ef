use super::*;
use crate::data::{Interactions, Record};
use crate::model::{from_bytes, to_bytes, AnyModel, Fit, ParamGuard, RecOpts};
use proptest::prelude::*;

/// Two taste blocks: users `< n_users/2` interact with items `< n_items/2`, the others with the
/// rest, each with probability `density` (deterministic pseudo-random pattern).
fn blocks(n_users: u32, n_items: u32, density: u32) -> Interactions {
    let mut recs = Vec::new();
    for u in 0..n_users {
        for i in 0..n_items {
            let same = (u < n_users / 2) == (i < n_items / 2);
            let h = (u.wrapping_mul(2654435761) ^ i.wrapping_mul(40503)) % 100;
            if same && h < density {
                recs.push(Record {
                    user: u,
                    item: i,
                    value: 1.0,
                    timestamp: None,
                });
            }
        }
    }
    Interactions::from_records(
        n_users as usize,
        n_items as usize,
        &recs,
        Default::default(),
    )
    .unwrap()
}

fn small(arch: NcfArch) -> NcfParams {
    Ncf::params()
        .arch(arch)
        .factors(4)
        .mlp_layers(&[8, 8, 4])
        .epochs(3)
        .batch_size(32)
}

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn autotraits() {
    fn has<T: Send + Sync + Unpin>() {}
    has::<NcfParams>();
    has::<NcfValidParams>();
    has::<Ncf>();
    has::<EpochStats>();
}

#[test]
fn rejects_each_documented_out_of_range_value() {
    let train = blocks(4, 6, 60);
    let cases: Vec<(&str, NcfParams)> = vec![
        ("factors", Ncf::params().factors(0)),
        ("factors", Ncf::params().factors(5000)),
        ("mlp_layers", Ncf::params().mlp_layers(&[16])),
        ("mlp_layers", Ncf::params().mlp_layers(&[15, 8])),
        ("mlp_layers", Ncf::params().mlp_layers(&[16, 0])),
        ("learning_rate", Ncf::params().learning_rate(0.0)),
        ("learning_rate", Ncf::params().learning_rate(f32::NAN)),
        ("batch_size", Ncf::params().batch_size(0)),
        ("negatives", Ncf::params().negatives(0)),
        ("negatives", Ncf::params().negatives(1001)),
        ("l2", Ncf::params().l2(-1.0)),
        ("l2", Ncf::params().l2(f32::INFINITY)),
        ("output_l2", Ncf::params().output_l2(-0.5)),
        ("output_l2", Ncf::params().output_l2(f32::NAN)),
        ("lr_final", Ncf::params().lr_final(1.5)),
        ("lr_final", Ncf::params().lr_final(-0.1)),
        (
            "pretrain_learning_rate",
            Ncf::params().pretrain_learning_rate(-0.1),
        ),
        ("pretrain_alpha", Ncf::params().pretrain_alpha(1.5)),
        ("pretrain_alpha", Ncf::params().pretrain_alpha(f32::NAN)),
    ];
    for (name, p) in cases {
        match p.fit(&train) {
            Err(Error::InvalidParam { name: got, .. }) => assert_eq!(got, name),
            other => panic!("{name}: expected InvalidParam, got {other:?}"),
        }
    }
    // sizes that only matter to the other architecture are not checked
    assert!(Ncf::params()
        .arch(NcfArch::Gmf)
        .mlp_layers(&[])
        .check()
        .is_ok());
    assert!(Ncf::params().arch(NcfArch::Mlp).factors(0).check().is_ok());
    assert!(Ncf::params().epochs(0).check().is_ok());
    assert!(matches!(
        Ncf::params().fit(&Interactions::empty(3, 3)),
        Err(Error::Data(_))
    ));
}

#[test]
fn every_architecture_learns_the_block_structure() {
    let train = blocks(40, 30, 50);
    for arch in [NcfArch::Gmf, NcfArch::Mlp, NcfArch::NeuMf] {
        let mut losses = Vec::new();
        let model = small(arch)
            .epochs(25)
            .learning_rate(0.01)
            .pretrain_epochs(0)
            .fit_with_progress(&train, &mut |s| losses.push(s.loss))
            .unwrap();
        assert_eq!(losses.len(), 25);
        assert!(
            losses[24] < 0.8 * losses[0],
            "{arch:?}: loss {:?}",
            (losses[0], losses[24])
        );
        // unseen in-block items should outrank out-of-block items for most users
        let mut good = 0;
        for u in 0..40u32 {
            let s = model
                .score_items(u, &[], &(0..30).collect::<Vec<_>>())
                .unwrap();
            let own = if u < 20 { 0..15 } else { 15..30 };
            let in_mean: f32 = own.clone().map(|i| s[i]).sum::<f32>() / 15.0;
            let out_mean: f32 = (0..30)
                .filter(|i| !own.contains(i))
                .map(|i| s[i])
                .sum::<f32>()
                / 15.0;
            good += usize::from(in_mean > out_mean);
        }
        assert!(good >= 36, "{arch:?}: {good}/40 users prefer their block");
    }
}

#[test]
fn same_seed_same_model_and_seed_matters() {
    let train = blocks(20, 16, 50);
    for arch in [NcfArch::Gmf, NcfArch::NeuMf] {
        let a = in_pool(1, || small(arch).fit(&train).unwrap());
        let b = in_pool(1, || small(arch).fit(&train).unwrap());
        assert_eq!(a, b, "{arch:?} with one thread");
        let c = in_pool(2, || small(arch).fit(&train).unwrap());
        let d = in_pool(2, || small(arch).fit(&train).unwrap());
        assert_eq!(c, d, "{arch:?} with two threads");
        let e = in_pool(1, || small(arch).seed(7).fit(&train).unwrap());
        assert_ne!(a, e);
    }
}

#[test]
fn one_and_two_threads_train_the_same_model() {
    // batches are cut into at least two shards whatever the thread count, and reduced in order
    let train = blocks(20, 16, 50);
    for arch in [NcfArch::Gmf, NcfArch::Mlp, NcfArch::NeuMf] {
        let one = in_pool(1, || small(arch).fit(&train).unwrap());
        let two = in_pool(2, || small(arch).fit(&train).unwrap());
        assert_eq!(one, two, "{arch:?}");
    }
}

#[test]
fn l2_shrinks_the_embeddings() {
    let train = blocks(20, 16, 50);
    let norm = |m: &Ncf| {
        m.net
            .users
            .iter()
            .chain(&m.net.items)
            .map(|x| x * x)
            .sum::<f32>()
    };
    let free = small(NcfArch::NeuMf)
        .learning_rate(0.01)
        .fit(&train)
        .unwrap();
    let tied = small(NcfArch::NeuMf)
        .learning_rate(0.01)
        .l2(1.0)
        .fit(&train)
        .unwrap();
    assert!(
        norm(&tied) < 0.5 * norm(&free),
        "{} vs {}",
        norm(&tied),
        norm(&free)
    );
}

#[test]
fn output_l2_shrinks_the_prediction_layer_only() {
    let train = blocks(20, 16, 50);
    let fit = |l2: f32| {
        small(NcfArch::Gmf)
            .learning_rate(0.05)
            .epochs(20)
            .output_l2(l2)
            .fit(&train)
            .unwrap()
    };
    let (free, tied) = (fit(0.0), fit(1.0));
    // GMF's dense buffer is the prediction weights, then the bias
    let norm = |m: &Ncf| {
        m.net.dense[..m.net.factors]
            .iter()
            .map(|x| x * x)
            .sum::<f32>()
    };
    assert!(
        norm(&tied) < 0.5 * norm(&free),
        "{} vs {}",
        norm(&tied),
        norm(&free)
    );
}

#[test]
fn params_written_before_output_l2_and_lr_final_load_without_them() {
    let mut json = serde_json::to_value(Ncf::params().output_l2(0.5).lr_final(0.5)).unwrap();
    let fields = json.as_object_mut().unwrap();
    assert!(fields.remove("output_l2").is_some() && fields.remove("lr_final").is_some());
    let old: NcfParams = serde_json::from_value(json).unwrap();
    let p = old.check().unwrap();
    // the behaviour of those files: no prediction-layer penalty, no decay
    assert_eq!((p.output_l2(), p.lr_final()), (0.0, 1.0));
}

#[test]
fn unknown_users_and_items_are_errors() {
    let train = blocks(6, 8, 60);
    let model = small(NcfArch::NeuMf).fit(&train).unwrap();
    let opts = RecOpts::default();
    assert!(matches!(
        model.recommend(6, &[1, 2], &opts),
        Err(Error::UnknownUser(6))
    ));
    assert!(matches!(
        model.score_items(0, &[], &[8]),
        Err(Error::UnknownItem(8))
    ));
    assert!(matches!(
        model.recommend(0, &[9], &opts),
        Err(Error::UnknownItem(9))
    ));
    assert!(matches!(
        model.similar_items(8, 3),
        Err(Error::UnknownItem(8))
    ));
    let mut short = vec![0f32; 3];
    assert!(matches!(
        model.score_into(0, &[], &mut short),
        Err(Error::Data(_))
    ));
    let sim = model.similar_items(2, 3).unwrap();
    assert_eq!(sim.len(), 3);
    assert!(sim
        .iter()
        .all(|s| s.item != 2 && s.score.abs() <= 1.0 + 1e-6));
}

#[test]
fn pretrained_neumf_starts_from_the_mixture() {
    let train = blocks(20, 16, 50);
    let gmf = small(NcfArch::Gmf).fit(&train).unwrap();
    let mlp = small(NcfArch::Mlp).fit(&train).unwrap();
    for alpha in [0.0f32, 0.3, 1.0] {
        let neumf = small(NcfArch::NeuMf)
            .epochs(0)
            .pretrain_alpha(alpha)
            .fit_pretrained(&train, &gmf, &mlp, &mut |_| {})
            .unwrap();
        // with zero epochs, NeuMF's logit is the α-mix of the two logits
        for (u, i) in [(0u32, 1u32), (7, 3), (19, 15)] {
            let z = neumf.net.logit(u, i);
            let want = alpha * gmf.net.logit(u, i) + (1.0 - alpha) * mlp.net.logit(u, i);
            assert!((z - want).abs() < 1e-4, "alpha {alpha}: {z} vs {want}");
        }
    }
    // wrong inputs are refused
    let p = small(NcfArch::NeuMf);
    assert!(matches!(
        p.fit_pretrained(&train, &mlp, &gmf, &mut |_| {}),
        Err(Error::Data(_))
    ));
    let other = blocks(21, 16, 50);
    assert!(matches!(
        p.fit_pretrained(&other, &gmf, &mlp, &mut |_| {}),
        Err(Error::Data(_))
    ));
    assert!(matches!(
        small(NcfArch::Gmf).fit_pretrained(&train, &gmf, &mlp, &mut |_| {}),
        Err(Error::InvalidParam { name: "arch", .. })
    ));
    // fit() with pre-training reports the three stages in order
    let mut stages = Vec::new();
    let m = small(NcfArch::NeuMf)
        .pretrain_epochs(2)
        .epochs(1)
        .optimizer(NcfOptimizer::Sgd)
        .fit_with_progress(&train, &mut |s| stages.push((s.stage, s.epoch)))
        .unwrap();
    assert_eq!(
        stages,
        vec![
            (NcfArch::Gmf, 1),
            (NcfArch::Gmf, 2),
            (NcfArch::Mlp, 1),
            (NcfArch::Mlp, 2),
            (NcfArch::NeuMf, 1)
        ]
    );
    assert_eq!((m.factors(), m.mlp_layers()), (4, &[8usize, 8, 4][..]));
}

#[test]
fn early_stopping_reports_validation_and_keeps_the_best_epoch() {
    let train = blocks(40, 30, 50);
    let mut stats = Vec::new();
    let model = small(NcfArch::Gmf)
        .epochs(40)
        .learning_rate(0.05)
        .early_stopping(2)
        .fit_with_progress(&train, &mut |s| stats.push(s.clone()))
        .unwrap();
    let hrs: Vec<f64> = stats.iter().map(|s| s.val_hr10.unwrap()).collect();
    assert!(hrs.iter().all(|h| (0.0..=1.0).contains(h)));
    for s in &stats {
        let (h, n) = (s.val_hr10.unwrap(), s.val_ndcg10.unwrap());
        assert!(n <= h && n >= h / (11f64).log2(), "ndcg {n} vs hr {h}");
    }
    let best = hrs.iter().cloned().fold(f64::MIN, f64::max);
    if stats.len() < 40 {
        // stopped: the last `patience` epochs did not beat the best
        assert!(hrs[hrs.len() - 2..].iter().all(|&h| h <= best));
    }
    assert!(best > 0.5, "validation HR@10 {best}");
    assert_eq!(model.n_users(), 40);
    // no validation numbers without early stopping
    let mut none = true;
    small(NcfArch::Gmf)
        .fit_with_progress(&train, &mut |s| none &= s.val_hr10.is_none())
        .unwrap();
    assert!(none);
}

#[test]
fn damaged_shapes_are_refused_on_load() {
    let train = blocks(6, 8, 60);
    let model = small(NcfArch::NeuMf).fit(&train).unwrap();
    let mut bad = model.clone();
    bad.net.items.truncate(3);
    let bytes = to_bytes(&bad).unwrap();
    assert!(matches!(from_bytes::<Ncf>(&bytes), Err(Error::Format(_))));
    let any = AnyModel::from_bytes(&to_bytes(&model).unwrap()).unwrap();
    assert_eq!(any.kind(), "ncf");
    assert_eq!(
        any.score_items(1, &[], &[0, 1]).unwrap(),
        model.score_items(1, &[], &[0, 1]).unwrap()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn recommend_respects_filters_scores_agree_and_round_trips(
        pairs in prop::collection::vec((0u32..6, 0u32..12), 1..60),
        exclude in prop::collection::vec(0u32..12, 0..4),
        k in 1usize..15,
        arch in prop_oneof![Just(NcfArch::Gmf), Just(NcfArch::Mlp), Just(NcfArch::NeuMf)],
    ) {
        let recs: Vec<Record> = pairs.iter().map(|&(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None }).collect();
        let train = Interactions::from_records(6, 12, &recs, Default::default()).unwrap();
        let model = small(arch).epochs(2).fit(&train).unwrap();
        let back: Ncf = from_bytes(&to_bytes(&model).unwrap()).unwrap();
        prop_assert_eq!(&back, &model);
        let opts = RecOpts { k, exclude: Some(&exclude), ..RecOpts::default() };
        let all: Vec<u32> = (0..12).collect();
        for u in 0..6u32 {
            let top = model.recommend(u, train.items_of(u), &opts).unwrap();
            prop_assert!(top.len() <= k);
            for s in &top {
                prop_assert!(!train.items_of(u).contains(&s.item));
                prop_assert!(!exclude.contains(&s.item));
                prop_assert!(s.score.is_finite());
            }
            prop_assert!(top.windows(2).all(|w| w[0].score >= w[1].score));
            prop_assert_eq!(back.recommend(u, train.items_of(u), &opts).unwrap(), top);
            let mut full = vec![0f32; 12];
            model.score_into(u, &[], &mut full).unwrap();
            let some = model.score_items(u, &[], &all).unwrap();
            prop_assert_eq!(full, some);
        }
    }
}
