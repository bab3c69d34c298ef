//! The accessors every factor model has, written once (a macro).

/// The accessors every factor model has, written once: `n_users`, `n_factors`,
/// `user_factors`, `item_factors` (public) and the crate-private `factor_view` that
/// [`FactorModel::view`] returns. The type needs the fields `users`, `items`, `n_users`,
/// `n_items`, `width` and `params.factors`.
macro_rules! factor_accessors {
    ($model:ty) => {
        impl $model {
            /// Number of fitted users.
            pub fn n_users(&self) -> usize {
                self.n_users
            }
            /// Number of latent factors `k`.
            pub fn n_factors(&self) -> usize {
                self.params.factors
            }
            /// User factors, row-major `n_users × factor_width`.
            pub fn user_factors(&self) -> &[f32] {
                &self.users
            }
            /// Item factors, row-major `n_items × factor_width`.
            pub fn item_factors(&self) -> &[f32] {
                &self.items
            }
            fn factor_view(&self) -> $crate::model::factors::FactorView<'_> {
                $crate::model::factors::FactorView {
                    users: &self.users,
                    items: &self.items,
                    n_users: self.n_users,
                    n_items: self.n_items,
                    width: self.width,
                    latent: self.params.factors,
                }
            }
        }
    };
}
pub(crate) use factor_accessors;
