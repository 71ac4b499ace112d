//! `/account/sessions`: the signed-in devices (what the API's `GET /sessions` lists), each
//! revocable; revoking the current one signs out.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::http::error::ApiError;
use crate::http::extract::ClientInfo;
use crate::http::pages::csrf::EmptyForm;
use crate::http::pages::csrf::PageForm;
use crate::http::pages::error::PageError;
use crate::http::pages::paging::{page_of, ListQuery, Paging};
use crate::http::pages::viewer::{Nav, Viewer};
use crate::http::pages::{cookies, render_with, see_other, when, Flash};
use crate::http::AppState;

/// Sessions per page (a long user agent rides along in each row's tooltip).
pub const SESSIONS_PER_PAGE: usize = 20;

/// One session as the page lists it.
pub struct SessionRow {
    id: String,
    created_at: String,
    last_seen_at: String,
    ip: String,
    device: String,
    user_agent: String,
    current: bool,
}

/// "Firefox on Windows" from a user agent, for people; the full string stays in a tooltip.
fn describe_agent(agent: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(token, _)| agent.contains(token))
    .map(|(_, name)| *name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(token, _)| agent.contains(token))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(name), None) | (None, Some(name)) => name.to_owned(),
        (None, None) if agent.is_empty() => "Unknown browser or app".to_owned(),
        (None, None) => agent.chars().take(40).collect(),
    }
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    nav: Nav,
    flash: Option<Flash>,
    sessions: Vec<SessionRow>,
    paging: Paging,
}

async fn render_page(
    state: &AppState,
    viewer: &Viewer,
    page: usize,
    status: StatusCode,
    flash: Option<Flash>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let live = state
        .accounts
        .live_sessions(&auth.account.id, auth.now)
        .await?;
    let mut sessions: Vec<SessionRow> = live
        .into_iter()
        .map(|live| live.session)
        .map(|s| SessionRow {
            current: s.id == auth.credential.id,
            id: s.id.0,
            created_at: when(s.created_at),
            last_seen_at: when(s.last_seen_at),
            ip: s.ip.unwrap_or_else(|| "unknown address".to_owned()),
            device: describe_agent(s.user_agent.as_deref().unwrap_or_default()),
            user_agent: s.user_agent.unwrap_or_default(),
        })
        .collect();
    // This browser first, so it is on the first page however many there are.
    sessions.sort_by_key(|session| !session.current);
    let (sessions, paging) = page_of(sessions, page, SESSIONS_PER_PAGE);
    let page = SessionsPage {
        nav: viewer.nav("sessions"),
        flash,
        sessions,
        paging,
    };
    Ok(render_with(status, &page)?)
}

/// `GET /account/sessions`.
pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let flash = query
        .done()
        .filter(|done| *done == "revoked")
        .map(|_| Flash::Ok("Session revoked: that device is signed out.".to_owned()));
    render_page(&state, &viewer, query.page(), StatusCode::OK, flash).await
}

/// `POST /account/sessions/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    Path(id): Path<String>,
    PageForm(_): PageForm<EmptyForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    if id == auth.credential.id.0 {
        state
            .accounts
            .end_session(&auth.account.id, &auth.credential.id)
            .await?;
        let mut response = see_other("/login?signed_out=1");
        cookies::clear_session(&mut response, &state.config.public_url);
        return Ok(response);
    }
    let revoked = state
        .accounts
        .revoke_session(&auth.account.id, &id, &client, auth.now)
        .await;
    match revoked.map_err(ApiError::from) {
        Ok(()) => Ok(see_other("/account/sessions?done=revoked")),
        Err(error @ ApiError::NotFound) => {
            let flash = Some(Flash::Error("That session has already ended.".to_owned()));
            render_page(&state, &viewer, 1, error.parts().0, flash).await
        }
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::describe_agent;

    #[test]
    fn user_agents_read_as_browser_on_system() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      Chrome/156.0.0.0 Safari/537.36";
        assert_eq!(describe_agent(chrome), "Chrome on Linux");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(describe_agent(safari), "Safari on iPhone");
        assert_eq!(describe_agent("curl/8.5.0"), "curl");
        assert_eq!(describe_agent(""), "Unknown browser or app");
    }
}
