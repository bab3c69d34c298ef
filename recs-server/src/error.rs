//! Errors: [`ApiError`] for request handling (each variant maps to one status, every body is
//! JSON) and [`ServerError`] for starting the server or probing one.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;

/// The body type of every response.
pub type Body = Full<Bytes>;

/// Everything a request can fail with. [`ApiError::into_response`] is the one place errors
/// become responses.
///
/// | variant | status |
/// |---|---|
/// | `BadRequest`, `Core(InvalidParam / Data / Parse / Registry(BadName))` | 400 |
/// | `Unauthorized` | 401 |
/// | `NotFound`, `Core(UnknownItem / UnknownUser / Registry(NotFound))` | 404 |
/// | `MethodNotAllowed` | 405 |
/// | `Conflict`, `Core(Registry(VersionExists / Protected))` | 409 |
/// | `PayloadTooLarge` | 413 |
/// | `UnsupportedMediaType` | 415 |
/// | `NotReady`, `Overloaded` | 503 |
/// | `BodyTimeout` | 408 |
/// | `Timeout` | 504 |
/// | anything else | 500 `internal server error`, detail only logged |
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Bad request parameters or body; the message is returned.
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong admin bearer token.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// Unknown route, model version or item; the message is returned.
    #[error("{0}")]
    NotFound(String),
    /// The route exists with other methods (listed in `Allow`).
    #[error("method not allowed; allowed: {0}")]
    MethodNotAllowed(&'static str),
    /// A precondition on the deployment (`if_current`, `if_generation`) does not hold.
    #[error("{0}")]
    Conflict(String),
    /// The body exceeds the configured limit.
    #[error("request body exceeds {0} bytes")]
    PayloadTooLarge(usize),
    /// The body's content type is not accepted.
    #[error("unsupported content type; expected {0}")]
    UnsupportedMediaType(&'static str),
    /// No model is loaded yet.
    #[error("{0}")]
    NotReady(String),
    /// Too many requests queued for scoring.
    #[error("server overloaded, retry later")]
    Overloaded,
    /// The request did not finish within the configured timeout.
    #[error("request timed out after {0} ms")]
    Timeout(u64),
    /// The client did not send its request body within the request timeout (a slow client,
    /// not a slow server: 408, not 504).
    #[error("request body not received within {0} ms")]
    BodyTimeout(u64),
    /// An error of the recs library.
    #[error(transparent)]
    Core(#[from] recs::Error),
    /// A server bug or resource failure; the detail is logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of every error response.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize)]
struct ErrorDetail<'a> {
    status: u16,
    code: &'a str,
    message: String,
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        use recs::Error as E;
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotReady(_) | ApiError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Core(e) => match e {
                E::UnknownItem(_) | E::UnknownUser(_) => StatusCode::NOT_FOUND,
                E::InvalidParam { .. } | E::Data(_) | E::Parse { .. } => StatusCode::BAD_REQUEST,
                E::Registry(r) => {
                    use recs::registry::RegistryError as R;
                    match r {
                        R::NotFound(_) => StatusCode::NOT_FOUND,
                        R::BadName { .. } => StatusCode::BAD_REQUEST,
                        R::VersionExists(_) | R::Protected { .. } => StatusCode::CONFLICT,
                        _ => StatusCode::INTERNAL_SERVER_ERROR,
                    }
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short machine-readable code (`bad_request`, `not_found`, ...).
    pub fn code(&self) -> &'static str {
        match self.status() {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::CONFLICT => "conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            StatusCode::GATEWAY_TIMEOUT => "timeout",
            StatusCode::REQUEST_TIMEOUT => "request_timeout",
            _ => "internal",
        }
    }

    /// The JSON error response. Server-side failures (500) are logged to stderr with their
    /// detail and answered with a generic message.
    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("internal error: {self}");
            "internal server error".to_string()
        } else {
            self.to_string()
        };
        let body = ErrorBody {
            error: ErrorDetail {
                status: status.as_u16(),
                code: self.code(),
                message,
            },
        };
        let mut resp = json_response(status, &body);
        if let ApiError::MethodNotAllowed(allow) = self {
            resp.headers_mut()
                .insert(hyper::header::ALLOW, HeaderValue::from_static(allow));
        }
        if let ApiError::Unauthorized = self {
            resp.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

/// A JSON response with the given status. Serialization cannot fail for the server's own types;
/// if it ever did, a fixed JSON 500 is returned instead.
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    let (status, bytes) = match serde_json::to_vec(value) {
        Ok(b) => (status, Bytes::from(b)),
        Err(e) => {
            tracing::error!("cannot serialize response: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Bytes::from_static(
                    br#"{"error":{"status":500,"code":"internal","message":"internal server error"}}"#,
                ),
            )
        }
    };
    let mut resp = Response::new(Full::new(bytes));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// Failures of starting, running or probing a server (not of single requests).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (`binding 127.0.0.1:8080`).
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Loading the initial model failed.
    #[error("cannot load model: {0}")]
    Model(String),
    /// A probe could not run (bad URL, ...).
    #[error("probe: {0}")]
    Probe(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping() {
        use recs::Error as E;
        let cases: Vec<(ApiError, u16)> = vec![
            (ApiError::BadRequest("x".into()), 400),
            (ApiError::Unauthorized, 401),
            (ApiError::NotFound("x".into()), 404),
            (ApiError::Conflict("x".into()), 409),
            (ApiError::NotReady("x".into()), 503),
            (ApiError::Core(E::UnknownItem(3)), 404),
            (ApiError::Core(E::param("k", "k > 0", 0)), 400),
            (ApiError::Core(E::Data("d".into())), 400),
            (ApiError::Core(E::Numerical("n".into())), 500),
            (
                ApiError::Core(recs::registry::RegistryError::NotFound("v9.9".into()).into()),
                404,
            ),
            (
                ApiError::Core(recs::registry::RegistryError::Backend("s3 down".into()).into()),
                500,
            ),
            (ApiError::Internal("secret detail".into()), 500),
        ];
        for (e, code) in cases {
            assert_eq!(e.status().as_u16(), code, "{e:?}");
        }
    }

    #[test]
    fn internal_detail_is_not_returned() {
        use http_body_util::BodyExt;
        let resp = ApiError::Internal("secret detail".into()).into_response();
        assert_eq!(resp.status(), 500);
        let body = futures_lite_block(resp.into_body().collect());
        let text = String::from_utf8(body.expect("infallible").to_bytes().to_vec()).expect("utf-8");
        assert!(!text.contains("secret"));
        let v: serde_json::Value = serde_json::from_str(&text).expect("test value");
        assert_eq!(v["error"]["code"], "internal");
    }

    fn futures_lite_block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("test value")
            .block_on(f)
    }

    #[test]
    fn autotraits() {
        fn has<T: Send + Sync + Unpin>() {}
        has::<ApiError>();
        has::<ServerError>();
    }
}
