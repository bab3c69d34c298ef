//! Live histories and recommending from them (see the [module docs](super)).
//!
//! Events count as an interaction whatever their value (a watch minute or any rating), as
//! [`FoldIn`](crate::stream::FoldIn) does for implicit models. Memory is bounded: at most
//! `max_users` users (least recently updated evicted first) with at most `max_items_per_user`
//! streamed items each (oldest dropped first).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde::Serialize;

use crate::data::{ItemIdx, UserIdx};
use crate::model::{RecOpts, Recommender, Scored};
use crate::{Error, Result};

#[derive(Debug, Default)]
struct Lru {
    /// Per user: the tick of their last update and their streamed items, oldest first.
    users: HashMap<i64, (u64, Vec<ItemIdx>)>,
    order: BTreeMap<u64, i64>,
    tick: u64,
    events: u64,
    evicted: u64,
}

/// Streamed items per user (raw user id → model item indices), bounded and ordered by arrival.
/// Shared by event sources and request handlers; every call takes one short lock.
///
/// ```
/// use recs::serve::LiveHistories;
/// let live = LiveHistories::new(2, 10);
/// live.observe(1, 5);
/// live.observe(2, 7);
/// live.observe(3, 9); // evicts user 1, the least recently updated
/// assert_eq!(live.items(1), None);
/// assert_eq!(live.items(3), Some(vec![9]));
/// assert_eq!(live.len(), 2);
/// ```
#[derive(Debug)]
pub struct LiveHistories {
    inner: Mutex<Lru>,
    max_users: usize,
    max_items: usize,
}

/// Counters of a [`LiveHistories`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LiveStats {
    /// Users tracked now.
    pub users: usize,
    /// Events folded in since start.
    pub events: u64,
    /// Users evicted since start.
    pub evicted: u64,
}

impl LiveHistories {
    /// An empty store of at most `max_users` users × `max_items_per_user` items (each at
    /// least 1).
    pub fn new(max_users: usize, max_items_per_user: usize) -> Self {
        LiveHistories {
            inner: Mutex::new(Lru::default()),
            max_users: max_users.max(1),
            max_items: max_items_per_user.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters here (worst case a stale order entry), so a poisoned lock is reused.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds model item `item` to `user`'s streamed items (a repeat moves to the newest place)
    /// and marks the user most recent.
    pub fn observe(&self, user: i64, item: ItemIdx) {
        let mut g = self.lock();
        let lru = &mut *g;
        lru.tick += 1;
        lru.events += 1;
        let tick = lru.tick;
        let entry = lru.users.entry(user).or_insert((0, Vec::new()));
        if entry.0 != 0 {
            lru.order.remove(&entry.0);
        }
        entry.0 = tick;
        if let Some(pos) = entry.1.iter().position(|&i| i == item) {
            entry.1.remove(pos);
        }
        entry.1.push(item);
        if entry.1.len() > self.max_items {
            entry.1.remove(0);
        }
        lru.order.insert(tick, user);
        while lru.users.len() > self.max_users {
            let Some((_, old)) = lru.order.pop_first() else {
                break;
            };
            lru.users.remove(&old);
            lru.evicted += 1;
        }
    }

    /// The user's streamed items, sorted by index; `None` when the user has none.
    pub fn items(&self, user: i64) -> Option<Vec<ItemIdx>> {
        let mut v = self.items_in_order(user)?;
        v.sort_unstable();
        Some(v)
    }

    /// The user's streamed items in arrival order, oldest first (a repeated item counts at its
    /// latest arrival); `None` when the user has none. For models that use the order.
    ///
    /// ```
    /// use recs::serve::LiveHistories;
    /// let live = LiveHistories::new(10, 10);
    /// for item in [7, 3, 7, 5] {
    ///     live.observe(1, item);
    /// }
    /// assert_eq!(live.items_in_order(1), Some(vec![3, 7, 5]));
    /// assert_eq!(live.items(1), Some(vec![3, 5, 7]));
    /// ```
    pub fn items_in_order(&self, user: i64) -> Option<Vec<ItemIdx>> {
        let g = self.lock();
        g.users.get(&user).map(|(_, items)| items.clone())
    }

    /// Users tracked.
    pub fn len(&self) -> usize {
        self.lock().users.len()
    }

    /// True when no user is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counters.
    pub fn stats(&self) -> LiveStats {
        let g = self.lock();
        LiveStats {
            users: g.users.len(),
            events: g.events,
            evicted: g.evicted,
        }
    }
}

/// The answer of [`recommend_live`].
#[derive(Debug, Clone, PartialEq)]
pub struct LiveAnswer {
    /// Model items, best first.
    pub items: Vec<Scored>,
    /// True when the model could not score the user and the `cold_start` list was used.
    pub cold_start: bool,
}

/// The top `k` items for a user with streamed items `live` (in arrival order, oldest first,
/// as [`LiveHistories::items_in_order`] gives them), leaving out every item of
/// (`base` ∪ `live`), where `base` is the user's training history (empty for a user the model
/// does not know, `known == None`).
///
/// The user is scored from the merged history as a user the model was not trained on
/// ([`Recommender::recommend_history`]): ALS and BPR re-solve the user's factor row with the
/// item factors fixed, item-kNN and EASE score the history, popularity filters it. A model that
/// cannot score a history alone (NCF) scores the `known` user with the merged history as the
/// seen set; when that fails too (an unknown user), the answer is the first `k` items of
/// `cold_start` not in the history, with `cold_start: true`. History items outside the model
/// are ignored.
///
/// **Order.** A model that [reads the order](Recommender::reads_order) (sequence models) gets
/// the streamed items in arrival order after the history it already has: a `known` user is
/// scored from their stored training sequence followed by the streamed items it lacks, an
/// unknown user from the streamed items alone. (`base` is used only as the seen set then: a
/// catalog history is sorted by item index, not by time.) Other models read the merged history
/// as a set.
///
/// ```
/// use recs::prelude::*;
/// use recs::data::{Interactions, Record};
/// use recs::serve::recommend_live;
///
/// // users walk 0 → 1 → 2 → 3 (times give the order)
/// let recs: Vec<Record> = (0..3u32)
///     .flat_map(|u| (0..4u32).map(move |i| Record { user: u, item: i, value: 1.0, timestamp: Some(i as i64) }))
///     .collect();
/// let train = Interactions::from_records(4, 4, &recs, Default::default())?;
/// let model = recs::model::Transition::params().fit(&train)?;
/// // a new user who watched 2, then 0: "what after 0?" is 1, whatever the item indices say
/// let answer = recommend_live(&model, None, &[], &[2, 0], 1, &[])?;
/// assert_eq!(answer.items[0].item, 1);
/// # Ok::<(), recs::Error>(())
/// ```
///
/// # Errors
/// Model errors other than "cannot score this user" ([`Error::UnknownUser`],
/// [`Error::Unsupported`]).
pub fn recommend_live(
    model: &dyn Recommender,
    known: Option<UserIdx>,
    base: &[ItemIdx],
    live: &[ItemIdx],
    k: usize,
    cold_start: &[Scored],
) -> Result<LiveAnswer> {
    let n = model.n_items();
    let in_model = |i: &ItemIdx| (*i as usize) < n;
    let mut history: Vec<ItemIdx> = base.iter().chain(live).copied().filter(in_model).collect();
    history.sort_unstable();
    history.dedup();
    let opts = RecOpts {
        k,
        ..RecOpts::default()
    };
    let cannot = |e: &Error| matches!(e, Error::UnknownUser(_) | Error::Unsupported(_));
    let mut scored = if model.reads_order() {
        // streamed items in arrival order, a repeat at its newest place
        let mut kept = std::collections::HashSet::with_capacity(live.len());
        let mut ordered: Vec<ItemIdx> = live
            .iter()
            .rev()
            .copied()
            .filter(|i| in_model(i) && kept.insert(*i))
            .collect();
        ordered.reverse();
        let exclude = RecOpts {
            exclude: Some(&history),
            ..opts
        };
        match known {
            Some(user) => model.recommend(user, &ordered, &exclude),
            None => model.recommend_history(&ordered, &exclude),
        }
    } else {
        model.recommend_history(&history, &opts)
    };
    if let (Err(e), Some(user)) = (&scored, known) {
        if cannot(e) {
            scored = model.recommend(user, &history, &opts);
        }
    }
    match scored {
        Ok(items) => Ok(LiveAnswer {
            items,
            cold_start: false,
        }),
        Err(e) if cannot(&e) => Ok(LiveAnswer {
            items: cold_start
                .iter()
                .filter(|s| history.binary_search(&s.item).is_err())
                .take(k)
                .copied()
                .collect(),
            cold_start: true,
        }),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Interactions;
    use crate::model::{Als, Fit, Popularity};

    /// 30 users: the first 10 walk 0 → 1 → 2, the next 10 walk 3 → 4 → 5, the last 10 walk
    /// 6 → 7 (times give the order). Returned as ordered sequences and as interactions.
    fn two_chains() -> (Vec<Vec<ItemIdx>>, Interactions) {
        let seqs: Vec<Vec<ItemIdx>> = (0..30)
            .map(|u| match u / 10 {
                0 => vec![0, 1, 2],
                1 => vec![3, 4, 5],
                _ => vec![6, 7],
            })
            .collect();
        let recs: Vec<crate::data::Record> = seqs
            .iter()
            .enumerate()
            .flat_map(|(u, s)| {
                s.iter()
                    .enumerate()
                    .map(move |(t, &i)| crate::data::Record {
                        user: u as UserIdx,
                        item: i,
                        value: 1.0,
                        timestamp: Some(t as i64),
                    })
            })
            .collect();
        let train = Interactions::from_records(30, 8, &recs, Default::default()).unwrap();
        (seqs, train)
    }

    /// The streamed order decides a sequence model's answer: after 3 then 0 comes 1, after 0
    /// then 3 comes 4. (Sorting the history, as a set model may, would give both users one
    /// answer.)
    fn newest_decides(model: &dyn Recommender) {
        assert!(model.reads_order());
        let after = |live: &[ItemIdx]| recommend_live(model, None, &[], live, 1, &[]).unwrap();
        let a = after(&[3, 0]);
        let b = after(&[0, 3]);
        assert!(!a.cold_start && !b.cold_start);
        assert_eq!(a.items[0].item, 1, "{a:?}");
        assert_eq!(b.items[0].item, 4, "{b:?}");
        // a repeat counts at its newest place: 0, 3, 0 ends with 0
        assert_eq!(after(&[0, 3, 0]).items[0].item, 1);
    }

    #[test]
    fn transition_reads_streamed_order() {
        let (_, train) = two_chains();
        let model = crate::model::Transition::params().fit(&train).unwrap();
        newest_decides(&model);
        // A known user (user 20 walked 6 → 7) who then streams 3: the stored sequence comes
        // first, the streamed item is newest, so 4 follows; the training items stay out.
        let known = recommend_live(&model, Some(20), &[6, 7], &[3], 3, &[]).unwrap();
        assert_eq!(known.items[0].item, 4, "{known:?}");
        assert!(known.items.iter().all(|s| ![3, 6, 7].contains(&s.item)));
    }

    #[test]
    fn sasrec_reads_streamed_order() {
        // the two chains as cycles (0 → 1 → 2 → 0, 3 → 4 → 5 → 3) entered at every place, so
        // that the next item does not depend on the position in the sequence
        let seqs: Vec<Vec<ItemIdx>> = (0..24u32)
            .map(|u| {
                let base = if u % 2 == 0 { 0 } else { 3 };
                (0..5).map(|k| base + (u / 2 + k) % 3).collect()
            })
            .collect();
        let model = crate::model::SasRec::params()
            .blocks(1)
            .hidden(16)
            .max_len(4)
            .epochs(80)
            .learning_rate(0.01)
            .dropout(0.0)
            .patience(0)
            .fit_sequences(6, &seqs, &[], |_| {})
            .unwrap();
        newest_decides(&model);
        let any: crate::model::AnyModel = model.into();
        newest_decides(&any);
    }

    #[test]
    fn lru_bounds_users_and_items() {
        let live = LiveHistories::new(3, 2);
        for u in 0..10 {
            live.observe(u, 1);
        }
        assert_eq!(live.len(), 3);
        assert_eq!(live.stats().evicted, 7);
        assert!(live.items(6).is_none() && live.items(9).is_some());
        // Touching 7 makes 8 the least recent.
        live.observe(7, 2);
        live.observe(100, 3);
        assert!(live.items(8).is_none() && live.items(7).is_some());
        // Per-user cap keeps the newest; a repeat moves to the end.
        live.observe(7, 5);
        assert_eq!(live.items(7), Some(vec![2, 5]));
        live.observe(7, 2);
        live.observe(7, 9);
        assert_eq!(live.items(7), Some(vec![2, 9]));
        assert_eq!(live.items_in_order(7), Some(vec![2, 9]));
    }

    proptest::proptest! {
        #[test]
        fn never_exceeds_caps(ops in proptest::collection::vec((0i64..50, 0u32..20), 0..400),
                              users in 1usize..10, items in 1usize..5) {
            let live = LiveHistories::new(users, items);
            for &(u, i) in &ops {
                live.observe(u, i);
                proptest::prop_assert!(live.len() <= users);
                let got = live.items_in_order(u).unwrap_or_default();
                proptest::prop_assert!(got.len() <= items);
                // The newest observation is last.
                proptest::prop_assert_eq!(got.last(), Some(&i));
            }
            let g = live.lock();
            proptest::prop_assert_eq!(g.order.len(), g.users.len());
        }
    }

    fn data() -> Interactions {
        Interactions::from_pairs(
            4,
            5,
            &[(0, 0), (0, 1), (1, 1), (1, 2), (2, 1), (2, 2), (3, 3)],
        )
    }

    /// A model that cannot score a history alone, and knows only user 0.
    struct KnowsUserZero;
    impl Recommender for KnowsUserZero {
        fn kind(&self) -> &'static str {
            "test"
        }
        fn n_items(&self) -> usize {
            5
        }
        fn score_into(&self, user: UserIdx, _h: &[ItemIdx], out: &mut [f32]) -> Result<()> {
            if user != 0 {
                return Err(Error::UnknownUser(user.into()));
            }
            for (i, o) in out.iter_mut().enumerate() {
                *o = i as f32;
            }
            Ok(())
        }
    }

    #[test]
    fn history_models_leave_out_base_and_live_items() {
        let model = Popularity::params().fit(&data()).expect("fit");
        let got = recommend_live(&model, Some(0), &[0], &[1, 9], 5, &[]).expect("answer");
        assert!(!got.cold_start);
        // Item 9 is outside the model and ignored; 0 and 1 are seen.
        let items: Vec<ItemIdx> = got.items.iter().map(|s| s.item).collect();
        assert_eq!(items, vec![2, 3, 4]);
    }

    #[test]
    fn als_folds_in_the_same_as_an_out_of_range_user() {
        let train = data();
        let als = Als::params()
            .factors(2)
            .iterations(3)
            .fit(&train)
            .expect("fit");
        let mut a = vec![0f32; 5];
        let mut b = vec![0f32; 5];
        als.score_history_into(&[1, 2], &mut a).expect("history");
        // The older contract: a user index outside the model folds the history in.
        als.score_into(UserIdx::MAX, &[1, 2], &mut b)
            .expect("out of range");
        assert_eq!(a, b);
        assert!(matches!(
            als.score_history_into(&[], &mut a),
            Err(Error::UnknownUser(_))
        ));
    }

    #[test]
    fn models_without_history_scoring_fall_back_to_the_known_user_then_cold_start() {
        let cold = [3, 1, 4, 0].map(|item| Scored { item, score: 0.0 });
        let got = recommend_live(&KnowsUserZero, Some(0), &[], &[4], 2, &cold).expect("known");
        assert!(!got.cold_start);
        assert_eq!(got.items.iter().map(|s| s.item).collect::<Vec<_>>(), [3, 2]);
        let got = recommend_live(&KnowsUserZero, Some(1), &[], &[4], 2, &cold).expect("cold");
        assert!(got.cold_start);
        assert_eq!(got.items.iter().map(|s| s.item).collect::<Vec<_>>(), [3, 1]);
        let got = recommend_live(&KnowsUserZero, None, &[3], &[1], 2, &cold).expect("cold");
        assert_eq!(got.items.iter().map(|s| s.item).collect::<Vec<_>>(), [4, 0]);
    }
}
