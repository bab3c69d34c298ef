//! Real-time fold-in: streamed `watch`/`rate` events update a user's history, and the user's
//! ALS factor row is re-solved from it ([`Als::recalculate_user`]) with the item factors fixed,
//! so recommendations follow the stream between retrains.
//!
//! Values: for an implicit-feedback model every watch or rate event adds 1.0 to the
//! (user, movie) value; for an explicit model a rate event sets the value to the rating (the
//! latest wins) and watch events are ignored. Events naming a movie the model does not know
//! are not used (their count is kept).
//!
//! It lives in `serve`, not `stream`: it joins the event stream with a fitted model, and
//! `stream` (events, ingestion, drift) names no model type.

use std::collections::{BTreeMap, HashMap};

use crate::data::ItemIdx;
use crate::model::{top_k, Als, Feedback};
use crate::stream::Event;
use crate::Result;

/// Per-user histories folded into an ALS model.
///
/// ```
/// use recs::data::{Interactions, Record};
/// use recs::model::{Als, Fit};
/// use recs::serve::FoldIn;
/// use recs::stream::parse_log_line;
/// let recs = [(0, 0), (0, 1), (1, 1), (1, 2), (2, 0), (2, 2)]
///     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
/// let train = Interactions::from_records(3, 3, &recs, Default::default())?;
/// let model = Als::params().factors(2).fit(&train)?;
/// let movies = ["a", "b", "c"].map(String::from);
/// let mut f = FoldIn::new(&model, &movies);
/// assert!(f.observe(&parse_log_line("2024-02-01T12:00:00,99,GET /data/m/a/0.mpg").unwrap()));
/// let top = f.recommend(99, 2)?;
/// assert_eq!(top.len(), 2);
/// assert!(top.iter().all(|(m, _)| m != "a"), "seen movies are excluded");
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug)]
pub struct FoldIn<'m> {
    model: &'m Als,
    movie_ids: Vec<String>,
    index: HashMap<String, ItemIdx>,
    histories: HashMap<i64, BTreeMap<ItemIdx, f32>>,
    unknown_movies: u64,
}

impl<'m> FoldIn<'m> {
    /// Starts with empty histories; `movie_ids[i]` is the movie of the model's item `i`
    /// (for snapshot training data: [`crate::stream::TrainingData::movie_ids`]).
    pub fn new(model: &'m Als, movie_ids: &[String]) -> Self {
        let index = movie_ids
            .iter()
            .take(model_items(model))
            .enumerate()
            .map(|(i, m)| (m.clone(), i as ItemIdx))
            .collect();
        FoldIn {
            model,
            movie_ids: movie_ids.to_vec(),
            index,
            histories: HashMap::new(),
            unknown_movies: 0,
        }
    }

    /// Adds one event to its user's history; returns whether it was used.
    pub fn observe(&mut self, e: &Event) -> bool {
        let explicit = self.model.fitted_params().feedback() == Feedback::Explicit;
        let (movie, value) = match e {
            Event::Watch(w) if !explicit => (&w.movie_id, None),
            Event::Rate(r) => (&r.movie_id, Some(r.rating)),
            _ => return false,
        };
        let Some(&item) = self.index.get(movie.as_str()) else {
            self.unknown_movies += 1;
            return false;
        };
        let slot = self
            .histories
            .entry(e.user_id())
            .or_default()
            .entry(item)
            .or_insert(0.0);
        match (explicit, value) {
            (true, Some(r)) => *slot = r,
            _ => *slot += 1.0,
        }
        true
    }

    /// Events skipped because their movie is unknown to the model.
    pub fn unknown_movies(&self) -> u64 {
        self.unknown_movies
    }

    /// The user's folded-in factor row; `None` without history.
    ///
    /// # Errors
    /// As [`Als::recalculate_user`].
    pub fn user_factors(&self, user: i64) -> Result<Option<Vec<f32>>> {
        let Some(h) = self.histories.get(&user) else {
            return Ok(None);
        };
        let items: Vec<ItemIdx> = h.keys().copied().collect();
        let values: Vec<f32> = h.values().copied().collect();
        self.model.recalculate_user(&items, Some(&values)).map(Some)
    }

    /// Top-`k` unseen movies for the user from the folded-in row, best first; empty without
    /// history.
    ///
    /// # Errors
    /// As [`Als::recalculate_user`].
    pub fn recommend(&self, user: i64, k: usize) -> Result<Vec<(String, f32)>> {
        let Some(row) = self.user_factors(user)? else {
            return Ok(Vec::new());
        };
        let mut scores = vec![0.0; model_items(self.model)];
        self.model.score_factors_into(&row, &mut scores)?;
        let seen = &self.histories[&user];
        let top = top_k(
            scores
                .iter()
                .enumerate()
                .map(|(i, &s)| (i as ItemIdx, s))
                .filter(|(i, _)| !seen.contains_key(i)),
            k,
        );
        Ok(top
            .into_iter()
            .map(|s| {
                let name = self.movie_ids.get(s.item as usize).cloned();
                (name.unwrap_or_else(|| s.item.to_string()), s.score)
            })
            .collect())
    }
}

fn model_items(m: &Als) -> usize {
    use crate::model::Recommender;
    m.n_items()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Interactions, Record};
    use crate::model::Fit;
    use crate::stream::parse_log_line;

    #[test]
    fn histories_accumulate_and_match_direct_solve() {
        let recs = [
            (0, 0),
            (0, 1),
            (1, 1),
            (1, 2),
            (2, 0),
            (2, 2),
            (3, 3),
            (3, 1),
        ]
        .map(|(u, i)| Record {
            user: u,
            item: i,
            value: 1.0,
            timestamp: None,
        });
        let train = Interactions::from_records(4, 4, &recs, Default::default()).unwrap();
        let model = Als::params().factors(3).fit(&train).unwrap();
        let movies = ["a", "b", "c", "d"].map(String::from);
        let mut f = FoldIn::new(&model, &movies);
        let ev = |l: &str| parse_log_line(l).unwrap();
        assert!(f.observe(&ev("2024-02-01T12:00:00,7,GET /data/m/b/0.mpg")));
        assert!(f.observe(&ev("2024-02-01T12:00:01,7,GET /data/m/b/1.mpg")));
        assert!(f.observe(&ev("2024-02-01T12:00:02,7,GET /rate/d=4")));
        assert!(!f.observe(&ev("2024-02-01T12:00:03,7,GET /data/m/zzz/0.mpg")));
        assert!(!f.observe(&ev(
            "2024-02-01T12:00:04,7,recommendation request s, status 200, result: a, 1 ms"
        )));
        assert_eq!(f.unknown_movies(), 1);
        let direct = model.recalculate_user(&[1, 3], Some(&[2.0, 1.0])).unwrap();
        assert_eq!(f.user_factors(7).unwrap().unwrap(), direct);
        assert_eq!(f.user_factors(8).unwrap(), None);
        let top = f.recommend(7, 10).unwrap();
        let names: Vec<&str> = top.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"a") && names.contains(&"c"));
        let mut scores = vec![0.0; 4];
        model.score_factors_into(&direct, &mut scores).unwrap();
        assert_eq!(top[0].1, scores[0].max(scores[2]));
    }
}
