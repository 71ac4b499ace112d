//! Back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4): a JWT signed
//! like the client's ID tokens, with `iss`, `aud`, `iat`, `exp`, `jti`, `sub`, `sid` and
//! the back-channel logout event, and never a `nonce`. Queued when a session ends
//! (`store/oidc_logout.rs`), signed when sent (`notify/backchannel.rs`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use serde_json::json;

use super::{Error, Provider};
use crate::domain::ids::random_bytes;
use crate::domain::oidc::{session_sid, SigningAlgorithm};
use crate::domain::time::UnixTime;
use crate::store::LogoutDelivery;

/// The event a logout token carries (§2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token is valid this long after it is signed.
pub const LOGOUT_TOKEN_TTL_SECONDS: i64 = 120;

/// The claims of a logout token.
#[derive(Debug, Clone, Serialize)]
pub struct LogoutTokenClaims {
    /// The issuer.
    pub iss: String,
    /// The client.
    pub aud: String,
    /// When signed.
    pub iat: i64,
    /// When it lapses.
    pub exp: i64,
    /// A unique id (128 random bits), for the client's replay check.
    pub jti: String,
    /// The person.
    pub sub: String,
    /// The session that ended, as its ID tokens named it.
    pub sid: String,
    /// `{BACKCHANNEL_LOGOUT_EVENT: {}}`.
    pub events: serde_json::Value,
}

impl Provider {
    /// The signed logout token for `delivery`, at `now`.
    pub async fn logout_token(
        &self,
        delivery: &LogoutDelivery,
        now: UnixTime,
    ) -> Result<String, Error> {
        let alg = self
            .store()
            .oidc_client(&delivery.client_id)
            .await?
            .map_or(SigningAlgorithm::ES256, |client| client.id_token_alg);
        let claims = LogoutTokenClaims {
            iss: self.issuer().to_owned(),
            aud: delivery.client_id.clone(),
            iat: now.0,
            exp: now.0 + LOGOUT_TOKEN_TTL_SECONDS,
            jti: URL_SAFE_NO_PAD.encode(random_bytes::<16>()),
            sub: delivery.account_id.as_str().to_owned(),
            sid: session_sid(&self.secret_key, delivery.session_id.as_str()),
            events: json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
        };
        Ok(self.signing_keys(now).await?.sign(alg, &claims)?)
    }
}
