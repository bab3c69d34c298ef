//! The traits and types most programs need: `use recs::prelude::*;`.

#[doc(no_inline)]
pub use crate::data::{Interactions, ItemIdx, UserIdx};
#[doc(no_inline)]
pub use crate::eval::{Evaluator, FullRanking, SampledCandidates};
#[doc(no_inline)]
pub use crate::model::{Fit, ParamGuard, Popularity, RecOpts, Recommender, Scored};
#[doc(no_inline)]
pub use crate::{Error, Result};
