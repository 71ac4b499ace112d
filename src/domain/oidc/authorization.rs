//! What an authorization request leads to (SPEC §12), from how the browser's session was
//! signed in (`amr`, `acr`, `auth_time`) and what the client and request ask.

use super::Prompt;
use crate::domain::time::UnixTime;
use crate::domain::workspace::Access;

/// How a session was signed in: its RFC 8176 method values as recorded (`pwd`, `email`,
/// `otp`), and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInRecord {
    /// The methods, in order.
    pub methods: Vec<String>,
    /// When the person signed in (OpenID Connect `auth_time`).
    pub auth_time: UnixTime,
}

impl SignInRecord {
    /// From the space-separated methods a session records. A session from before methods
    /// were recorded has none, and counts as one factor.
    pub fn parse(methods: &str, auth_time: UnixTime) -> SignInRecord {
        SignInRecord {
            methods: methods
                .split(' ')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect(),
            auth_time,
        }
    }

    /// Whether two factors were given.
    pub fn two_factors(&self) -> bool {
        self.methods.len() >= 2
    }

    /// The `amr` claim (RFC 8176): the methods, and `mfa` when there were two factors.
    pub fn amr(&self) -> Vec<String> {
        let mut amr = self.methods.clone();
        if self.two_factors() {
            amr.push("mfa".to_owned());
        }
        amr
    }

    /// The `acr` claim: `mfa` after two factors, `pwd` otherwise (SPEC §12).
    pub fn acr(&self) -> &'static str {
        if self.two_factors() {
            "mfa"
        } else {
            "pwd"
        }
    }

    /// The methods as a session records them.
    pub fn methods_text(&self) -> String {
        self.methods.join(" ")
    }
}

/// What an authorization request meets, gathered by the caller.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizationFacts<'a> {
    /// The browser's session's sign-in, when it has a session.
    pub signed_in: Option<&'a SignInRecord>,
    /// Whether the account has two-factor enabled.
    pub has_two_factor: bool,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age`, in seconds.
    pub max_age: Option<i64>,
    /// `acr_values` holds `mfa`.
    pub wants_mfa: bool,
    /// The client's `require_two_factor`.
    pub client_requires_two_factor: bool,
    /// For a workspace client: `None` when the person is not a member, else their access
    /// under the workspace's enforcement. `Some(Some(_))`: a workspace client.
    pub workspace: Option<Option<Access>>,
    /// The client is trusted (no consent asked).
    pub trusted: bool,
    /// The person consented to this client before, for every scope asked.
    pub consented: bool,
    /// Now.
    pub now: UnixTime,
}

/// What an authorization request leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationStep {
    /// Sign in (again): the sign-in pages, then back.
    SignIn,
    /// The person must set up two-factor first (`/account/security`).
    SetUpTwoFactor,
    /// Refused: `error=access_denied` to the client.
    AccessDenied,
    /// `prompt=none` but a sign-in is due: `error=login_required`.
    LoginRequired,
    /// `prompt=none` but consent is due: `error=consent_required`.
    ConsentRequired,
    /// `prompt=none` but a second factor is due: `error=interaction_required`.
    InteractionRequired,
    /// Ask the person's consent.
    AskConsent,
    /// Issue a code, with the access the person has.
    Grant(Access),
}

/// Decides an authorization request (SPEC §12), in order: a sign-in (none, `prompt=login`,
/// `max_age` exceeded); membership of a workspace client; two-factor (the client's
/// `require_two_factor`, `acr_values=mfa`, or a workspace requirement past its deadline:
/// without two-factor the person sets it up, in grace they pass; with two-factor, a session
/// of one factor signs in again through the challenge); consent.
pub fn decide_authorization(facts: &AuthorizationFacts<'_>) -> AuthorizationStep {
    let interactive = |step: AuthorizationStep, silent: AuthorizationStep| {
        if facts.prompt.none {
            silent
        } else {
            step
        }
    };
    let Some(signed_in) = facts.signed_in else {
        return interactive(AuthorizationStep::SignIn, AuthorizationStep::LoginRequired);
    };
    let too_old = facts
        .max_age
        .is_some_and(|max_age| facts.now.0 - signed_in.auth_time.0 > max_age);
    if facts.prompt.login || too_old {
        return interactive(AuthorizationStep::SignIn, AuthorizationStep::LoginRequired);
    }
    let access = match facts.workspace {
        Some(None) => return AuthorizationStep::AccessDenied,
        Some(Some(access)) => access,
        None => Access::Ok,
    };
    // Blocked: without the second factor the workspace asks for (any, or a security key
    // where it asks for a phishing-resistant one), which only setting it up cures.
    if matches!(access, Access::Blocked { .. }) {
        return interactive(
            AuthorizationStep::SetUpTwoFactor,
            AuthorizationStep::InteractionRequired,
        );
    }
    if facts.client_requires_two_factor || facts.wants_mfa {
        if !facts.has_two_factor {
            return interactive(
                AuthorizationStep::SetUpTwoFactor,
                AuthorizationStep::InteractionRequired,
            );
        }
        if !signed_in.two_factors() {
            return interactive(AuthorizationStep::SignIn, AuthorizationStep::LoginRequired);
        }
    }
    if !facts.trusted && (!facts.consented || facts.prompt.consent) {
        return interactive(
            AuthorizationStep::AskConsent,
            AuthorizationStep::ConsentRequired,
        );
    }
    // A person with two-factor has access `Ok`; in grace without it they pass and the
    // claims say so.
    AuthorizationStep::Grant(access)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amr_and_acr_follow_rfc_8176() {
        let at = UnixTime(100);
        let two = SignInRecord::parse("pwd otp", at);
        assert_eq!(two.amr(), ["pwd", "otp", "mfa"]);
        assert_eq!(two.acr(), "mfa");
        let email = SignInRecord::parse("email otp", at);
        assert_eq!(email.amr(), ["email", "otp", "mfa"]);
        let one = SignInRecord::parse("pwd", at);
        assert_eq!(one.amr(), ["pwd"]);
        assert_eq!(one.acr(), "pwd");
        let old = SignInRecord::parse("", at);
        assert!(old.amr().is_empty() && !old.two_factors());
        assert_eq!(old.acr(), "pwd");
        assert_eq!(two.methods_text(), "pwd otp");
    }

    fn facts<'a>(signed_in: Option<&'a SignInRecord>) -> AuthorizationFacts<'a> {
        AuthorizationFacts {
            signed_in,
            has_two_factor: false,
            prompt: Prompt::default(),
            max_age: None,
            wants_mfa: false,
            client_requires_two_factor: false,
            workspace: None,
            trusted: true,
            consented: false,
            now: UnixTime(1_000),
        }
    }

    #[test]
    fn authorization_asks_for_a_sign_in_when_due() {
        let one = SignInRecord::parse("pwd", UnixTime(900));
        assert_eq!(
            decide_authorization(&facts(None)),
            AuthorizationStep::SignIn
        );
        let silent = AuthorizationFacts {
            prompt: Prompt::parse(Some("none")).unwrap(),
            ..facts(None)
        };
        assert_eq!(
            decide_authorization(&silent),
            AuthorizationStep::LoginRequired
        );
        assert_eq!(
            decide_authorization(&facts(Some(&one))),
            AuthorizationStep::Grant(Access::Ok)
        );
        let max_age = |max_age| AuthorizationFacts {
            max_age: Some(max_age),
            ..facts(Some(&one))
        };
        assert_eq!(decide_authorization(&max_age(0)), AuthorizationStep::SignIn);
        assert_eq!(
            decide_authorization(&max_age(99)),
            AuthorizationStep::SignIn
        );
        assert_eq!(
            decide_authorization(&max_age(100)),
            AuthorizationStep::Grant(Access::Ok)
        );
        let login = AuthorizationFacts {
            prompt: Prompt::parse(Some("login")).unwrap(),
            ..facts(Some(&one))
        };
        assert_eq!(decide_authorization(&login), AuthorizationStep::SignIn);
    }

    #[test]
    fn authorization_requires_two_factor_when_the_client_or_request_does() {
        let one = SignInRecord::parse("pwd", UnixTime(900));
        let two = SignInRecord::parse("pwd otp", UnixTime(900));
        let strict = |signed_in, has_two_factor| AuthorizationFacts {
            client_requires_two_factor: true,
            has_two_factor,
            ..facts(Some(signed_in))
        };
        assert_eq!(
            decide_authorization(&strict(&one, false)),
            AuthorizationStep::SetUpTwoFactor
        );
        assert_eq!(
            decide_authorization(&strict(&one, true)),
            AuthorizationStep::SignIn
        );
        assert_eq!(
            decide_authorization(&strict(&two, true)),
            AuthorizationStep::Grant(Access::Ok)
        );
        let mfa = AuthorizationFacts {
            wants_mfa: true,
            ..facts(Some(&one))
        };
        assert_eq!(
            decide_authorization(&mfa),
            AuthorizationStep::SetUpTwoFactor
        );
    }

    #[test]
    fn workspace_clients_admit_members_and_pass_grace() {
        let one = SignInRecord::parse("pwd", UnixTime(900));
        let with = |workspace| AuthorizationFacts {
            workspace: Some(workspace),
            ..facts(Some(&one))
        };
        assert_eq!(
            decide_authorization(&with(None)),
            AuthorizationStep::AccessDenied
        );
        let grace = Access::Grace {
            deadline: UnixTime(5_000),
        };
        assert_eq!(
            decide_authorization(&with(Some(grace))),
            AuthorizationStep::Grant(grace)
        );
        let blocked = Access::Blocked {
            deadline: UnixTime(500),
        };
        assert_eq!(
            decide_authorization(&with(Some(blocked))),
            AuthorizationStep::SetUpTwoFactor
        );
        // Blocked with two factors signed in: an app alone where the workspace asks for a
        // security key. Setting one up is still the only way on.
        let two = SignInRecord::parse("pwd otp", UnixTime(900));
        let app_alone = AuthorizationFacts {
            workspace: Some(Some(blocked)),
            has_two_factor: true,
            ..facts(Some(&two))
        };
        assert_eq!(
            decide_authorization(&app_alone),
            AuthorizationStep::SetUpTwoFactor
        );
    }

    #[test]
    fn consent_is_asked_once_of_untrusted_clients() {
        let one = SignInRecord::parse("pwd", UnixTime(900));
        let untrusted = |consented, prompt| AuthorizationFacts {
            trusted: false,
            consented,
            prompt: Prompt::parse(prompt).unwrap(),
            ..facts(Some(&one))
        };
        assert_eq!(
            decide_authorization(&untrusted(false, None)),
            AuthorizationStep::AskConsent
        );
        assert_eq!(
            decide_authorization(&untrusted(true, None)),
            AuthorizationStep::Grant(Access::Ok)
        );
        assert_eq!(
            decide_authorization(&untrusted(true, Some("consent"))),
            AuthorizationStep::AskConsent
        );
        assert_eq!(
            decide_authorization(&untrusted(false, Some("none"))),
            AuthorizationStep::ConsentRequired
        );
    }
}
