//! How a constructor argument shows in `get_params`.

use pyo3::prelude::*;

/// A constructor argument as `get_params` shows it. An `f32` parameter shows its shortest
/// decimal (0.01, not 0.009999999776482582).
pub(crate) trait ToParam {
    fn to_param<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
}

impl ToParam for f32 {
    fn to_param<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let shortest: f64 = format!("{self}").parse().unwrap_or(f64::from(*self));
        Ok(shortest.into_pyobject(py)?.into_any())
    }
}

macro_rules! to_param_plain {
    ($($t:ty),*) => {$(
        impl ToParam for $t {
            fn to_param<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                use pyo3::IntoPyObjectExt;
                self.clone().into_bound_py_any(py)
            }
        }
    )*};
}
to_param_plain!(
    f64,
    usize,
    u64,
    u32,
    u16,
    bool,
    String,
    Vec<usize>,
    Vec<Option<u16>>
);

impl ToParam for &str {
    fn to_param<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pyo3::types::PyString::new(py, self).into_any())
    }
}

impl<T: ToParam> ToParam for Option<T> {
    fn to_param<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Some(v) => v.to_param(py),
            None => Ok(py.None().into_bound(py)),
        }
    }
}
