//! The claims of an ID token and of userinfo (OpenID Connect Core §2, §5.1; SPEC §12).

use serde::Serialize;

use super::Scopes;
use crate::domain::workspace::Access;

/// The claims of an ID token (OpenID Connect Core §2, §5.1; SPEC §12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdTokenClaims {
    /// The issuer: the public URL.
    pub iss: String,
    /// The account id.
    pub sub: String,
    /// The client id.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the person signed in.
    pub auth_time: i64,
    /// The request's `nonce`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// RFC 8176 methods.
    pub amr: Vec<String>,
    /// `mfa` or `pwd`.
    pub acr: String,
    /// The client id (OpenID Connect Core §2, one audience).
    pub azp: String,
    /// The session it was issued under ([`super::session_sid`]), for logout.
    pub sid: String,
    /// The person's claims.
    #[serde(flatten)]
    pub person: PersonClaims,
}

/// The claims about the person, in the ID token and at userinfo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonClaims {
    /// The account id (repeated at userinfo, OpenID Connect Core §5.3.2).
    #[serde(skip)]
    pub sub: String,
    /// With scope `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// With scope `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// With scope `profile`, when the account has a name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// For a workspace client: the member's role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_role: Option<String>,
    /// For a workspace client: `ok` or `grace`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadbolt_access: Option<String>,
    /// For a workspace client in grace: when grace ends (unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadbolt_deadline: Option<i64>,
}

/// What the claims about a person are made of.
#[derive(Debug, Clone, Copy)]
pub struct Person<'a> {
    /// The account id.
    pub account_id: &'a str,
    /// Its address.
    pub email: &'a str,
    /// Whether the address is verified.
    pub email_verified: bool,
    /// Its display name.
    pub name: Option<&'a str>,
    /// For a workspace client: the role and the access granted.
    pub workspace: Option<(&'a str, Access)>,
}

/// The claims about `person` that `scopes` release.
pub fn person_claims(person: Person<'_>, scopes: Scopes) -> PersonClaims {
    let (workspace_role, deadbolt_access, deadbolt_deadline) = match person.workspace {
        Some((role, access)) => (
            Some(role.to_owned()),
            Some(access.as_str().to_owned()),
            access.deadline().map(|deadline| deadline.0),
        ),
        None => (None, None, None),
    };
    PersonClaims {
        sub: person.account_id.to_owned(),
        email: scopes.email.then(|| person.email.to_owned()),
        email_verified: scopes.email.then_some(person.email_verified),
        name: if scopes.profile {
            person.name.map(str::to_owned)
        } else {
            None
        },
        workspace_role,
        deadbolt_access,
        deadbolt_deadline,
    }
}

/// The claims `claims_supported` lists in the discovery document.
pub const CLAIMS_SUPPORTED: [&str; 16] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "amr",
    "acr",
    "azp",
    "email",
    "email_verified",
    "name",
    "workspace_role",
    "deadbolt_access",
    "deadbolt_deadline",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::UnixTime;

    #[test]
    fn person_claims_follow_the_scopes() {
        let person = Person {
            account_id: "a1",
            email: "ada@example.com",
            email_verified: true,
            name: Some("Ada"),
            workspace: Some((
                "member",
                Access::Grace {
                    deadline: UnixTime(7),
                },
            )),
        };
        let all = person_claims(person, Scopes::parse("openid email profile"));
        assert_eq!(all.email.as_deref(), Some("ada@example.com"));
        assert_eq!(all.email_verified, Some(true));
        assert_eq!(all.name.as_deref(), Some("Ada"));
        assert_eq!(all.deadbolt_access.as_deref(), Some("grace"));
        assert_eq!(all.deadbolt_deadline, Some(7));
        let bare = person_claims(person, Scopes::parse("openid"));
        assert_eq!((bare.email, bare.name), (None, None));
        assert_eq!(bare.workspace_role.as_deref(), Some("member"));
    }
}
