//! Middleware on every response: security headers, and one structured log line plus
//! metrics per request. The log names the matched route, never the raw URI (which may
//! hold a setup or invitation token), and never a header or body.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::http::error::{ErrorCode, InternalErrorSource};
use crate::http::AppState;

/// Content Security Policy: nothing but this origin; no inline script or style.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The `form-action` of [`CONTENT_SECURITY_POLICY`].
const FORM_ACTION: &str = "form-action 'self'";

/// One more origin a page's forms may lead to, put in the response's extensions by the
/// page. Browsers apply `form-action` to the redirects that follow a form too, so the
/// sign-in and challenge pages allow the origin of their checked `next` (an application
/// behind forward-auth, SPEC §10), and nothing else changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormActionOrigin(String);

impl FormActionOrigin {
    /// The origin of an http(s) URL: `scheme://host[:port]`, which holds no space, `;`
    /// or `,` and so cannot change the rest of the policy.
    pub fn of(url: &url::Url) -> Option<FormActionOrigin> {
        let origin = url.origin();
        let web = matches!(url.scheme(), "http" | "https");
        (web && origin.is_tuple()).then(|| FormActionOrigin(origin.ascii_serialization()))
    }

    /// The origin as it appears in the policy.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The policy of a response: [`CONTENT_SECURITY_POLICY`], with the page's extra form origin.
fn content_security_policy(extra: Option<&FormActionOrigin>) -> HeaderValue {
    let Some(origin) = extra else {
        return HeaderValue::from_static(CONTENT_SECURITY_POLICY);
    };
    let form_action = format!("{FORM_ACTION} {}", origin.as_str());
    HeaderValue::from_str(&CONTENT_SECURITY_POLICY.replacen(FORM_ACTION, &form_action, 1))
        .unwrap_or_else(|_| HeaderValue::from_static(CONTENT_SECURITY_POLICY))
}

/// Adds the security headers every response carries.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let policy = content_security_policy(response.extensions().get::<FormActionOrigin>());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    let fixed: [(HeaderName, &'static str); 5] = [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), interest-cohort=()",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Logs and measures each request.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let response = crate::store::cache::one_request(next.run(request)).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .observe_request(&method, &route, status, elapsed.as_secs_f64());
    let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
    let latency_ms = elapsed.as_secs_f64() * 1_000.0;
    match response.extensions().get::<InternalErrorSource>() {
        Some(InternalErrorSource(source)) => tracing::error!(
            request_id = %request_id,
            method = %method,
            route = %route,
            status,
            latency_ms,
            error = %source,
            "request failed"
        ),
        None => tracing::info!(
            request_id = %request_id,
            method = %method,
            route = %route,
            status,
            latency_ms,
            code = code.unwrap_or("-"),
            "request"
        ),
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_may_add_exactly_one_form_origin() {
        assert_eq!(
            content_security_policy(None).to_str().unwrap(),
            CONTENT_SECURITY_POLICY
        );
        let url = url::Url::parse("http://127.0.0.1:9000/reports?x=1").unwrap();
        let origin = FormActionOrigin::of(&url).unwrap();
        let policy = content_security_policy(Some(&origin));
        assert_eq!(
            policy.to_str().unwrap(),
            CONTENT_SECURITY_POLICY.replace(
                "form-action 'self';",
                "form-action 'self' http://127.0.0.1:9000;"
            )
        );
        let odd = url::Url::parse("http://x;script-src *@127.0.0.1/").unwrap();
        assert_eq!(
            FormActionOrigin::of(&odd).unwrap().as_str(),
            "http://127.0.0.1"
        );
        let data = url::Url::parse("data:text/html,hi").unwrap();
        assert_eq!(FormActionOrigin::of(&data), None);
    }
}
