//! Where a person goes after signing in (`?next=`): a path on this server, or a URL on this
//! server's host at another origin (an application behind forward-auth, SPEC §10);
//! anything else is the security page.
//!
//! Invariant: `next` is parsed the way a browser parses it (the WHATWG URL rules, as the
//! `url` crate implements them), and the redirect carries the URL as parsed, so the place
//! checked is the place the browser goes.

use url::{Position, Url};

use crate::config::PublicUrl;
use crate::http::middleware::FormActionOrigin;
use crate::http::pages::error::SETUP_PAGE;

/// A checked `next`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A path on this server, with its query and fragment.
    Here(String),
    /// An application on this server's host, at another origin.
    Elsewhere(Url),
}

impl Destination {
    /// Checks `next` against the public URL; refused or empty, it is the security page.
    pub fn parse(public_url: &PublicUrl, next: &str) -> Destination {
        let home = || Destination::Here(SETUP_PAGE.to_owned());
        let Ok(base) = Url::parse(public_url.as_str()) else {
            return home();
        };
        if next.starts_with('/') {
            // Security: no open redirect. A browser reads `//evil`, `/\evil` and `/<tab>/evil`
            // as other hosts; resolved against our own URL they keep our origin or are refused.
            let Ok(url) = base.join(next) else {
                return home();
            };
            let path = &url[Position::BeforePath..];
            if url.origin() != base.origin() || path.starts_with("/login") {
                return home();
            }
            return Destination::Here(path.to_owned());
        }
        let Ok(url) = Url::parse(next) else {
            return home();
        };
        // Security: the same host only (`http://evil\@host/` is `evil` to a browser, and to
        // the parser), over http(s), and no credentials in the URL.
        let same_host = url.host().is_some() && url.host() == base.host();
        let web = matches!(url.scheme(), "http" | "https");
        let credentials = !url.username().is_empty() || url.password().is_some();
        if same_host && web && !credentials {
            Destination::Elsewhere(url)
        } else {
            home()
        }
    }

    /// The `Location` to send.
    pub fn location(&self) -> &str {
        match self {
            Destination::Here(path) => path,
            Destination::Elsewhere(url) => url.as_str(),
        }
    }

    /// The origin the sign-in forms' redirect leads to, when it is not this server's.
    /// Browsers apply the page's CSP `form-action` to the redirects after a form, so the
    /// page with the form must allow it.
    pub fn form_action_origin(&self) -> Option<FormActionOrigin> {
        match self {
            Destination::Here(_) => None,
            Destination::Elsewhere(url) => FormActionOrigin::of(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FileConfig;

    fn public_url() -> PublicUrl {
        let file = FileConfig {
            public_url: Some("https://auth.example.com".to_owned()),
            ..FileConfig::default()
        };
        file.validate("test").unwrap().public_url
    }

    fn location(next: &str) -> String {
        Destination::parse(&public_url(), next)
            .location()
            .to_owned()
    }

    #[test]
    fn paths_on_this_server_are_kept() {
        assert_eq!(location("/workspaces"), "/workspaces");
        assert_eq!(location("/a?b=1#c"), "/a?b=1#c");
        assert_eq!(location("/a b"), "/a%20b");
    }

    #[test]
    fn the_same_host_at_another_origin_is_a_destination() {
        for next in [
            "https://auth.example.com:8443/app?x=1",
            "http://auth.example.com/",
            "https://AUTH.example.com/x",
        ] {
            let destination = Destination::parse(&public_url(), next);
            assert!(
                matches!(destination, Destination::Elsewhere(_)),
                "{next}: {destination:?}"
            );
        }
        let destination = Destination::parse(&public_url(), "https://auth.example.com:8443/a");
        let origin = destination.form_action_origin().unwrap();
        assert_eq!(origin.as_str(), "https://auth.example.com:8443");
        assert_eq!(
            Destination::parse(&public_url(), "/x").form_action_origin(),
            None
        );
    }

    #[test]
    fn other_hosts_and_tricks_go_to_the_security_page() {
        for next in [
            "",
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example/",
            "/\t/evil.example/",
            "/\n/evil.example/",
            "https://evil.example\\@auth.example.com/",
            "https://evil.example%5C@auth.example.com/",
            "https://user:pass@auth.example.com/",
            "https://auth.example.com.evil.example/",
            "javascript:alert(1)//auth.example.com",
            "ftp://auth.example.com/",
            "workspaces",
            "/login",
            "/login/two-factor",
            " https://evil.example/",
        ] {
            assert_eq!(location(next), SETUP_PAGE, "{next:?}");
        }
    }
}
