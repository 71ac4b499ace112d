//! A page of one step (`templates/email_step.html`): a few sentences, at most one form with
//! a CSRF token, and links on. The pages a message leads to, or that send one, are each such
//! a step (`email.rs`, `reset_confirm.rs`).

use askama::Template;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use crate::http::error::ApiError;
use crate::http::pages::csrf;
use crate::http::pages::entry::with_csrf_cookie;
use crate::http::pages::error::PageError;
use crate::http::pages::{render_with, Flash};
use crate::http::AppState;

/// One input of a step's form.
pub(super) struct Field {
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    value: String,
    focus: bool,
}

impl Field {
    pub(super) fn email(value: String) -> Field {
        Field {
            name: "email",
            label: "E-mail address",
            kind: "email",
            autocomplete: "username",
            value,
            focus: true,
        }
    }

    pub(super) fn hidden(name: &'static str, value: String) -> Field {
        Field {
            name,
            label: "",
            kind: "hidden",
            autocomplete: "off",
            value,
            focus: false,
        }
    }

    pub(super) fn code() -> Field {
        Field {
            name: "code",
            label: "Code from the e-mail",
            kind: "text",
            autocomplete: "one-time-code",
            value: String::new(),
            focus: true,
        }
    }

    pub(super) fn new_password() -> Field {
        Field {
            name: "new_password",
            label: "New password",
            kind: "password",
            autocomplete: "new-password",
            value: String::new(),
            focus: true,
        }
    }
}

/// A page of one step: a few sentences, at most one form, and links on.
#[derive(Template)]
#[template(path = "email_step.html")]
pub(super) struct StepPage {
    title: &'static str,
    flash: Option<Flash>,
    intro: Vec<String>,
    csrf: String,
    next: String,
    action: Option<String>,
    fields: Vec<Field>,
    button: &'static str,
    links: Vec<(&'static str, &'static str)>,
}

impl StepPage {
    pub(super) fn new(title: &'static str) -> StepPage {
        StepPage {
            title,
            flash: None,
            intro: Vec::new(),
            csrf: String::new(),
            next: String::new(),
            action: None,
            fields: Vec::new(),
            button: "",
            links: Vec::new(),
        }
    }

    pub(super) fn say(mut self, line: impl Into<String>) -> StepPage {
        self.intro.push(line.into());
        self
    }

    pub(super) fn form(
        mut self,
        action: String,
        fields: Vec<Field>,
        button: &'static str,
    ) -> StepPage {
        self.action = Some(action);
        self.fields = fields;
        self.button = button;
        self
    }

    pub(super) fn flash(mut self, flash: Option<Flash>) -> StepPage {
        self.flash = flash;
        self
    }

    pub(super) fn link(mut self, href: &'static str, text: &'static str) -> StepPage {
        self.links.push((href, text));
        self
    }

    pub(super) fn next(mut self, next: &str) -> StepPage {
        self.next = next.to_owned();
        self
    }

    /// The page, with a CSRF token for its form.
    pub(super) fn render(
        mut self,
        state: &AppState,
        headers: &HeaderMap,
        status: StatusCode,
    ) -> Result<Response, PageError> {
        let (token, fresh) = csrf::pre_session(headers);
        self.csrf = token.clone();
        let response = render_with(status, &self)?;
        Ok(with_csrf_cookie(state, response, &token, fresh))
    }
}

/// A link that is not (or no longer) a live token.
pub(super) fn invalid_link(again: &'static str, text: &'static str) -> StepPage {
    StepPage::new("This link does not work")
        .flash(Some(Flash::from_error(&ApiError::InvalidEmailLink)))
        .link(again, text)
}

/// Without SMTP, a page that would send e-mail says so instead of showing its form.
pub(super) fn cannot_send(page: StepPage) -> StepPage {
    page.flash(Some(Flash::from_error(&ApiError::EmailUnavailable)))
}

/// A link page's form: the button only.
#[derive(Debug, Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    pub(super) next: String,
}
