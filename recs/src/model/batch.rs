//! Batch top-K for many users, in chunks: each chunk is scored in parallel (rayon) and handed to
//! a sink before the next one starts, so memory depends on the chunk size, not on the number of
//! users.

use rayon::prelude::*;

use super::{RecOpts, Recommender, Scored};
use crate::data::{Interactions, UserIdx};
use crate::{Error, Result};

/// Recommends `opts.k` items to every user of `users` (histories from `data`), `chunk` users
/// at a time, and calls `sink` with each chunk's lists in `users` order. A user the model
/// cannot score ([`Error::UnknownUser`]) gets an empty list.
///
/// ```
/// use recs::model::{recommend_in_chunks, Popularity, RecOpts, Fit};
/// let recs = [(0, 0), (1, 0), (1, 1), (2, 2)]
///     .map(|(u, i)| recs::data::Record { user: u, item: i, value: 1.0, timestamp: None });
/// let data = recs::data::Interactions::from_records(3, 3, &recs, Default::default())?;
/// let model = Popularity::params().fit(&data)?;
/// let mut seen = Vec::new();
/// recommend_in_chunks(&model, &data, &[0, 1, 2], &RecOpts { k: 1, ..Default::default() }, 2, |lists| {
///     seen.extend(lists.iter().map(|(u, l)| (*u, l[0].item)));
///     Ok(())
/// })?;
/// assert_eq!(seen, [(0, 1), (1, 2), (2, 0)]);
/// # Ok::<(), recs::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidParam`] for `chunk == 0`; the model's other errors; the sink's errors.
pub fn recommend_in_chunks(
    model: &dyn Recommender,
    data: &Interactions,
    users: &[UserIdx],
    opts: &RecOpts<'_>,
    chunk: usize,
    mut sink: impl FnMut(&[(UserIdx, Vec<Scored>)]) -> Result<()>,
) -> Result<()> {
    if chunk == 0 {
        return Err(Error::param("chunk", "a chunk size >= 1", 0));
    }
    for part in users.chunks(chunk) {
        let lists: Vec<(UserIdx, Vec<Scored>)> = part
            .par_iter()
            .map(|&u| {
                let history = if (u as usize) < data.n_users() {
                    data.items_of(u)
                } else {
                    &[]
                };
                match model.recommend(u, history, opts) {
                    Ok(l) => Ok((u, l)),
                    Err(Error::UnknownUser(_)) => Ok((u, Vec::new())),
                    Err(e) => Err(e),
                }
            })
            .collect::<Result<_>>()?;
        sink(&lists)?;
    }
    Ok(())
}
