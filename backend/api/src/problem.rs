//! RFC 7807 problem JSON: the one shape of every HTTP error, with a stable `type` per error.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    /// A URI naming the kind of error (JMAP's own URNs for JMAP request errors).
    pub kind: String,
    pub title: &'static str,
    pub detail: String,
    pub extra: Option<Box<(&'static str, serde_json::Value)>>,
    /// Seconds, for a Retry-After header.
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        kind: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            status,
            kind: kind.to_string(),
            title,
            detail: detail.into(),
            extra: None,
            retry_after: None,
        }
    }

    /// 429 with Retry-After, for too many failed logins.
    pub fn too_many_failures(wait: std::time::Duration) -> Problem {
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "https://mailroom.dev/problems/too-many-failed-logins",
            "Too many failed logins",
            format!("try again in {} seconds", wait.as_secs().max(1)),
        );
        p.retry_after = Some(wait.as_secs().max(1));
        p
    }

    pub fn forbidden(detail: String) -> Problem {
        Problem::new(
            StatusCode::FORBIDDEN,
            "https://mailroom.dev/problems/forbidden",
            "Forbidden",
            detail,
        )
    }

    pub fn invalid(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "https://mailroom.dev/problems/invalid",
            "Invalid request",
            detail,
        )
    }

    pub fn unauthorized() -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "https://mailroom.dev/problems/unauthorized",
            "Authentication required",
            "send an address and password with HTTP Basic, or a bearer token from /api/v1/auth/login",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({"type": self.kind, "title": self.title, "status": self.status.as_u16(), "detail": self.detail});
        if let Some((k, v)) = self.extra.map(|b| *b) {
            body[k] = v;
        }
        let mut r = (self.status, body.to_string()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"mailroom\", charset=\"UTF-8\""),
            );
            r.headers_mut().append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mailroom\""),
            );
        }
        r
    }
}

impl From<mailroom_core::Error> for Problem {
    fn from(e: mailroom_core::Error) -> Problem {
        use mailroom_core::Error as E;
        match e {
            E::NotFound(s) => Problem::new(
                StatusCode::NOT_FOUND,
                "https://mailroom.dev/problems/not-found",
                "Not found",
                s,
            ),
            E::Forbidden(s) => Problem::new(
                StatusCode::FORBIDDEN,
                "https://mailroom.dev/problems/forbidden",
                "Forbidden",
                s,
            ),
            E::Invalid(s) => Problem::new(
                StatusCode::BAD_REQUEST,
                "https://mailroom.dev/problems/invalid",
                "Invalid request",
                s,
            ),
            E::Modified(s) => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "https://mailroom.dev/problems/modified",
                "Modified meanwhile",
                s,
            ),
            // RFC 9110 §15.5.21 (413) is about one request's size; 507 says the space is gone.
            E::OverQuota(s) => Problem::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "https://mailroom.dev/problems/over-quota",
                "Over quota",
                s,
            ),
            E::AlreadyExists(s) => Problem::new(
                StatusCode::CONFLICT,
                "https://mailroom.dev/problems/conflict",
                "Already exists",
                s,
            ),
            E::RateLimited(wait) => {
                let mut p = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "https://mailroom.dev/problems/rate-limited",
                    "Rate limit reached",
                    format!("try again in {} seconds", wait.as_secs().max(1)),
                );
                p.retry_after = Some(wait.as_secs().max(1));
                p
            }
            E::Unavailable(s) => {
                tracing::warn!(detail = %s, "service unavailable");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "https://mailroom.dev/problems/unavailable",
                    "Service unavailable",
                    "try again later",
                )
            }
            E::Internal(s) => {
                tracing::error!(detail = %s, "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "about:blank",
                    "Internal error",
                    "see the server log",
                )
            }
        }
    }
}

pub async fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "https://mailroom.dev/problems/not-found",
        "Not found",
        "no such endpoint",
    )
}
