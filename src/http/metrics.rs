//! Prometheus metrics: requests by route and status, latency by route, and sign-in
//! outcomes. Routes are the matched patterns (`/api/v1/sessions/{id}`), never raw paths,
//! so no token or id reaches a label.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::signin::{self, Denial, SignedIn, Step};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// How a sign-in attempt ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum SignInOutcome {
    /// A session was created.
    success,
    /// The password was right; a second factor is needed.
    two_factor_required,
    /// Unknown e-mail or wrong password.
    invalid_credentials,
    /// Refused by throttling.
    throttled,
    /// The database failed: nothing was judged.
    error,
}

/// A successful step of the sign-in flow, as [`Metrics::sign_in_step`] counts it.
pub trait SignInResult {
    /// Its outcome.
    fn outcome(&self) -> SignInOutcome;
}

impl SignInResult for Step {
    fn outcome(&self) -> SignInOutcome {
        match self {
            Step::Continue(_) => SignInOutcome::two_factor_required,
            Step::Success(_) => SignInOutcome::success,
        }
    }
}

impl SignInResult for SignedIn {
    fn outcome(&self) -> SignInOutcome {
        SignInOutcome::success
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: SignInOutcome,
}

/// How one notification attempt ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum NotificationOutcome {
    /// The receiver took it.
    delivered,
    /// It failed and will be retried.
    failed,
    /// It failed for the last time; given up.
    abandoned,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    channel: &'static str,
    outcome: NotificationOutcome,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms … ~8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The server's metrics registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    sign_ins: Family<OutcomeLabels, Counter>,
    notifications: Family<NotificationLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("deadbolt");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let sign_ins = Family::<OutcomeLabels, Counter>::default();
        let notifications = Family::<NotificationLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            latency.clone(),
        );
        registry.register(
            "sign_ins",
            "Password sign-in attempts by outcome",
            sign_ins.clone(),
        );
        registry.register(
            "notification_attempts",
            "Notification delivery attempts by channel and outcome",
            notifications.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            sign_ins,
            notifications,
        }
    }

    /// Records one finished request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Counts how a step of the sign-in flow ended: a failing database is an error, never
    /// a wrong password; a wrong second factor is in the security events, not here.
    pub fn sign_in_step<T: SignInResult>(&self, result: &Result<T, signin::Error>) {
        let outcome = match result {
            Ok(step) => step.outcome(),
            Err(signin::Error::Denied(Denial::TooManyAttempts { .. })) => SignInOutcome::throttled,
            Err(signin::Error::Denied(Denial::InvalidCredentials)) => {
                SignInOutcome::invalid_credentials
            }
            Err(
                signin::Error::Denied(_)
                | signin::Error::ProofRefused(_)
                | signin::Error::EmailUnavailable
                | signin::Error::WebAuthnUnavailable
                | signin::Error::InvalidEmail,
            ) => return,
            Err(signin::Error::Store(_) | signin::Error::Seal(_) | signin::Error::Invariant(_)) => {
                SignInOutcome::error
            }
        };
        self.sign_in(outcome);
    }

    /// Records a sign-in outcome.
    pub fn sign_in(&self, outcome: SignInOutcome) {
        self.sign_ins
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Records one notification delivery attempt.
    pub fn notification_attempt(&self, channel: &'static str, outcome: NotificationOutcome) {
        self.notifications
            .get_or_create(&NotificationLabels { channel, outcome })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_latency_and_sign_ins() {
        let metrics = Metrics::new();
        metrics.observe_request("GET", "/healthz", 200, 0.001);
        metrics.sign_in(SignInOutcome::invalid_credentials);
        metrics.notification_attempt("webhook", NotificationOutcome::failed);
        let text = metrics.render();
        assert!(
            text.contains(
                "deadbolt_notification_attempts_total{channel=\"webhook\",outcome=\"failed\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "deadbolt_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("deadbolt_http_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(
            text.contains("deadbolt_sign_ins_total{outcome=\"invalid_credentials\"} 1"),
            "{text}"
        );
    }
}
