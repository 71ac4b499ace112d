//! Forward-auth through every reverse proxy a team is likely to run that Debian packages
//! (SPEC §15): nginx (`auth_request`), Caddy (`forward_auth`) and HAProxy (Lua), each with
//! the configuration README.md shows and `deploy/` ships. One harness starts any of them in
//! front of a tiny application (and in front of Deadbolt itself, its public face, for the
//! browser tests in `browser.rs`); one test body runs against each.
//!
//! Without a proxy's binary a test prints a notice and passes; under `CI` it fails
//! (`scripts/test-services` installs them).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use reqwest::header::ACCEPT;

use crate::helpers::*;

/// A reverse proxy under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxy {
    Nginx,
    Caddy,
    Haproxy,
}

const NGINX: &str = include_str!("../../deploy/nginx-forward-auth.conf");
const CADDY: &str = include_str!("../../deploy/Caddyfile");
const HAPROXY: &str = include_str!("../../deploy/haproxy.cfg");
const HAPROXY_LUA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/haproxy-deadbolt.lua");

pub(crate) use crate::cli::free_port;

/// Where the proxy listens.
pub struct Ports {
    /// Deadbolt's public face (its `public_url`).
    pub deadbolt: u16,
    /// The protected application.
    pub application: u16,
}

impl Ports {
    /// Two free ports.
    pub fn free() -> Ports {
        Ports {
            deadbolt: free_port(),
            application: free_port(),
        }
    }
}

/// The protected application: a page naming who the proxy let in, and a line with every
/// identity header that reached it.
pub async fn spawn_application() -> String {
    async fn page(headers: HeaderMap) -> Html<String> {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned()
        };
        Html(format!(
            "<!doctype html><title>Reports</title><h1 id=\"welcome\">Reports for {}</h1>\
             <p id=\"role\">{}</p>\
             <p id=\"identity\">user={} email={} role={} access={} deadline={}</p>",
            get("remote-email"),
            get("remote-workspace-role"),
            get("remote-user"),
            get("remote-email"),
            get("remote-workspace-role"),
            get("deadbolt-access"),
            get("deadbolt-deadline"),
        ))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, Router::new().route("/{*path}", get(page))).await;
    });
    address
}

/// A running proxy, stopped on drop.
pub struct Running {
    child: Child,
    log: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn name(self) -> &'static str {
        match self {
            Proxy::Nginx => "nginx",
            Proxy::Caddy => "caddy",
            Proxy::Haproxy => "haproxy",
        }
    }

    /// Whether the proxy turns Deadbolt's `401` into the sign-in redirect itself (nginx),
    /// or asks Deadbolt for it (`redirect=true`), keeping `401` for API clients.
    pub fn redirects_itself(self) -> bool {
        self == Proxy::Nginx
    }

    fn binary(self) -> Option<&'static str> {
        let candidates: &[&'static str] = match self {
            Proxy::Nginx => &["nginx", "/usr/sbin/nginx"],
            Proxy::Caddy => &["caddy", "/usr/bin/caddy"],
            Proxy::Haproxy => &["haproxy", "/usr/sbin/haproxy"],
        };
        candidates.iter().copied().find(|candidate| {
            Command::new(candidate)
                .arg(if self == Proxy::Caddy {
                    "version"
                } else {
                    "-v"
                })
                .output()
                .is_ok()
        })
    }

    /// The configuration file in `dir` (the shipped one filled in, plus Deadbolt's public
    /// face) and the command line that runs it in the foreground.
    fn configure(
        self,
        dir: &Path,
        ports: &Ports,
        deadbolt: &str,
        application: &str,
        workspace: &str,
    ) -> (PathBuf, Vec<String>) {
        let fill = |template: &str| {
            template
                .replace("LISTEN_PORT", &ports.application.to_string())
                .replace("DEADBOLT", deadbolt)
                .replace("WORKSPACE", workspace)
                .replace("LUA_FILE", HAPROXY_LUA)
                .replace("APP", application)
        };
        let prefix = dir.display();
        let public = ports.deadbolt;
        let (file, text) = match self {
            Proxy::Nginx => (
                "nginx.conf",
                format!(
                    "daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\n\
                     error_log {prefix}/error.log;\nevents {{ worker_connections 64; }}\n\
                     http {{\n access_log off;\n client_body_temp_path {prefix}/body;\n\
                     proxy_temp_path {prefix}/proxy;\n fastcgi_temp_path {prefix}/fastcgi;\n\
                     uwsgi_temp_path {prefix}/uwsgi;\n scgi_temp_path {prefix}/scgi;\n\
                     server {{\n listen 127.0.0.1:{public};\n location / {{\n\
                     proxy_pass http://{deadbolt};\n proxy_set_header Host $http_host;\n }}\n}}\n\
                     {}\n}}\n",
                    fill(NGINX)
                ),
            ),
            // The admin endpoint is off so that several tests' Caddies do not meet on it.
            Proxy::Caddy => (
                "Caddyfile",
                format!(
                    "{{\n\tadmin off\n}}\n\n\
                     http://127.0.0.1:{public} {{\n\treverse_proxy {deadbolt}\n}}\n\n{}",
                    fill(CADDY)
                ),
            ),
            Proxy::Haproxy => (
                "haproxy.cfg",
                format!(
                    "{}\nfrontend deadbolt_public\n    bind 127.0.0.1:{public}\n    \
                     default_backend deadbolt\n\nbackend deadbolt\n    server deadbolt {deadbolt}\n",
                    fill(HAPROXY)
                ),
            ),
        };
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        let path_text = path.display().to_string();
        let args = match self {
            Proxy::Nginx => vec!["-p".into(), prefix.to_string(), "-c".into(), path_text],
            Proxy::Caddy => vec![
                "run".into(),
                "--config".into(),
                path_text,
                "--adapter".into(),
                "caddyfile".into(),
            ],
            Proxy::Haproxy => vec!["-db".into(), "-f".into(), path_text],
        };
        (path, args)
    }

    /// Starts the proxy in `dir`: Deadbolt (at `deadbolt`) on `ports.deadbolt`, and the
    /// application (at `application`) behind forward-auth for `workspace` on
    /// `ports.application`. `None` (with a notice) when it is not installed.
    pub async fn start(
        self,
        dir: &Path,
        ports: &Ports,
        deadbolt: &str,
        application: &str,
        workspace: &str,
    ) -> Option<Running> {
        let Some(binary) = self.binary() else {
            assert!(
                std::env::var("CI").is_err(),
                "CI needs {} (scripts/test-services installs it)",
                self.name()
            );
            eprintln!(
                "NOTICE: {} not installed; forward-auth through it not checked",
                self.name()
            );
            return None;
        };
        let (_, args) = self.configure(dir, ports, deadbolt, application, workspace);
        let log = dir.join("proxy.log");
        let child = Command::new(binary)
            .args(&args)
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let running = Running { child, log };
        for _ in 0..200 {
            let mut up = true;
            for port in [ports.deadbolt, ports.application] {
                up &= tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok();
            }
            if up {
                return Some(running);
            }
            // Waiting for the proxy to listen; no rule of the app depends on this.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{} did not start: {}{}",
            self.name(),
            std::fs::read_to_string(&running.log).unwrap_or_default(),
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_lets_members_in_sends_strangers_to_sign_in_and_stops_the_blocked() {
    lets_members_in_sends_strangers_to_sign_in_and_stops_the_blocked(Proxy::Nginx).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_lets_members_in_sends_strangers_to_sign_in_and_stops_the_blocked() {
    lets_members_in_sends_strangers_to_sign_in_and_stops_the_blocked(Proxy::Caddy).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_lets_members_in_sends_strangers_to_sign_in_and_stops_the_blocked() {
    lets_members_in_sends_strangers_to_sign_in_and_stops_the_blocked(Proxy::Haproxy).await
}

/// The identity line the application shows.
async fn identity(response: reqwest::Response) -> String {
    let body = response.text().await.unwrap();
    let start = body
        .find("<p id=\"identity\">")
        .expect("the application's page")
        + 17;
    body[start..body[start..].find("</p>").unwrap() + start].to_owned()
}

async fn lets_members_in_sends_strangers_to_sign_in_and_stops_the_blocked(proxy: Proxy) {
    let app = spawn_app(Backend::Sqlite).await;
    let owner = app.enrolled("owner@example.com").await;
    let bob = app.signed_in("bob@example.com").await;
    let eve = app.signed_in("eve@example.com").await;
    let workspace = app.create_workspace(&owner.token, "Acme").await;
    app.invite_and_accept(&workspace, &owner.token, "bob@example.com", "member", &bob)
        .await
        .assert_status(200);
    let created = app
        .post(
            "/api/v1/me/tokens",
            Some(&bob),
            serde_json::json!({"name": "ci", "expires_in_days": 30, "password": PASSWORD}),
        )
        .await;
    created.assert_status(201);
    let bob_token = created.body["token"].as_str().unwrap().to_owned();

    let application = spawn_application().await;
    let ports = Ports::free();
    let deadbolt = app.base.trim_start_matches("http://").to_owned();
    let dir = tempfile::tempdir().unwrap();
    let Some(_proxy) = proxy
        .start(dir.path(), &ports, &deadbolt, &application, &workspace)
        .await
    else {
        return;
    };
    let site = format!("http://127.0.0.1:{}", ports.application);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = "text/html,application/xhtml+xml";

    // Not signed in, a browser: redirected to sign in, with the way back.
    let anonymous = client
        .get(format!("{site}/reports/7?tab=2"))
        .header(ACCEPT, html)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 302, "{proxy:?}");
    let location = anonymous.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:8080/login?next="),
        "{proxy:?}: {location}"
    );
    assert!(
        location.contains(&format!(
            "http%3A%2F%2F127%2E0%2E0%2E1%3A{}%2Freports%2F7%3Ftab%3D2",
            ports.application
        )),
        "{proxy:?}: {location}"
    );
    // Not signed in, an API client: 401 where the proxy hands Deadbolt's answer on.
    if !proxy.redirects_itself() {
        let script = client.get(format!("{site}/x")).send().await.unwrap();
        assert_eq!(script.status(), 401, "{proxy:?}");
    }

    // A member (by cookie, as a browser would) reaches the app as themselves, and forged
    // identity headers are replaced or removed.
    let bob_id = app.account_id(&bob).await;
    let expected = format!("user={bob_id} email=bob@example.com role=member access=- deadline=-");
    let member = client
        .get(format!("{site}/reports/7"))
        .header("Cookie", format!("deadbolt_session={bob}"))
        .header("Remote-User", "admin")
        .header("Remote-Email", "admin@example.com")
        .header("Deadbolt-Access", "grace")
        .header("Deadbolt-Deadline", "never")
        .send()
        .await
        .unwrap();
    assert_eq!(member.status(), 200, "{proxy:?}");
    assert_eq!(identity(member).await, expected, "{proxy:?}");
    // The member's API token gets in as them too.
    let script = client
        .get(format!("{site}/reports/7"))
        .bearer_auth(&bob_token)
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200, "{proxy:?}");
    assert_eq!(identity(script).await, expected, "{proxy:?}");

    // Not a member: 403.
    let stranger = client
        .get(format!("{site}/"))
        .bearer_auth(&eve)
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 403, "{proxy:?}");

    // Enforcement with grace: in, and the app is told; after the deadline: 403.
    app.enforce(&workspace, &owner.token, "all", 3)
        .await
        .assert_status(200);
    let grace = client
        .get(format!("{site}/x"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(grace.status(), 200, "{proxy:?}");
    let seen = identity(grace).await;
    assert!(
        seen.contains("access=grace deadline=20"),
        "{proxy:?}: {seen}"
    );
    app.clock.advance(3 * 86_400);
    let blocked = client
        .get(format!("{site}/x"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), 403, "{proxy:?}");
}

/// README.md shows each configuration exactly as `deploy/` ships it and the tests run it.
#[test]
fn the_readme_shows_the_configurations_the_tests_run() {
    let readme = include_str!("../../README.md");
    for (name, text) in [("nginx", NGINX), ("Caddy", CADDY), ("HAProxy", HAPROXY)] {
        assert!(
            readme.contains(text),
            "README.md does not show deploy's {name} configuration"
        );
    }
}
