//! Forward-auth through a real nginx (Debian's package): nginx asks Deadbolt's
//! `/api/v1/authz` before each request to a tiny upstream, using the server block the README
//! shows (`deploy/nginx-forward-auth.conf`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;

use crate::helpers::*;

const SERVER_BLOCK: &str = include_str!("../../deploy/nginx-forward-auth.conf");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The upstream application: it shows what identity headers reached it.
async fn spawn_upstream() -> String {
    async fn echo(headers: HeaderMap) -> String {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned()
        };
        format!(
            "user={} email={} role={} access={}",
            get("remote-user"),
            get("remote-email"),
            get("remote-workspace-role"),
            get("deadbolt-access")
        )
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, Router::new().route("/{*path}", get(echo))).await;
    });
    address
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nginx_binary() -> Option<&'static str> {
    ["nginx", "/usr/sbin/nginx"]
        .into_iter()
        .find(|candidate| Command::new(candidate).arg("-v").output().is_ok())
}

async fn start_nginx(
    dir: &std::path::Path,
    port: u16,
    deadbolt: &str,
    app: &str,
    workspace: &str,
) -> Option<Nginx> {
    let Some(binary) = nginx_binary() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs nginx (scripts/test installs it)"
        );
        eprintln!("NOTICE: nginx not installed; forward-auth through nginx not checked");
        return None;
    };
    let server = SERVER_BLOCK
        .replace("LISTEN_PORT", &port.to_string())
        .replace("DEADBOLT", deadbolt)
        .replace("WORKSPACE", workspace)
        .replace("APP", app);
    let prefix = dir.display();
    let config = format!(
        "daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {prefix}/body;\n proxy_temp_path {prefix}/proxy;\n\
         fastcgi_temp_path {prefix}/fastcgi;\n uwsgi_temp_path {prefix}/uwsgi;\n scgi_temp_path {prefix}/scgi;\n\
         {server}\n}}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(binary)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let nginx = Nginx(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(nginx);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "nginx did not start: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_lets_members_in_sends_strangers_to_sign_in_and_stops_the_blocked() {
    let app = spawn_app(Backend::Sqlite).await;
    let owner = app.enrolled("owner@example.com").await;
    let bob = app.signed_in("bob@example.com").await;
    let eve = app.signed_in("eve@example.com").await;
    let workspace = app.create_workspace(&owner.token, "Acme").await;
    app.invite_and_accept(&workspace, &owner.token, "bob@example.com", "member", &bob)
        .await;

    let upstream = spawn_upstream().await;
    let port = free_port();
    let deadbolt = app.base.trim_start_matches("http://").to_owned();
    let nginx_dir = tempfile::tempdir().unwrap();
    let Some(_nginx) = start_nginx(nginx_dir.path(), port, &deadbolt, &upstream, &workspace).await
    else {
        return;
    };
    let site = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Not signed in: redirected to sign in, with the way back.
    let anonymous = client
        .get(format!("{site}/reports/7?tab=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 302);
    let location = anonymous.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:8080/login?next="),
        "{location}"
    );
    assert!(
        location.contains(&format!("127%2E0%2E0%2E1%3A{port}%2Freports%2F7%3Ftab%3D2")),
        "{location}"
    );

    // A member (by cookie, as a browser would) reaches the app as themselves, and a forged
    // identity header is replaced.
    let member = client
        .get(format!("{site}/reports/7"))
        .header("Cookie", format!("deadbolt_session={bob}"))
        .header("Remote-User", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(member.status(), 200);
    let body = member.text().await.unwrap();
    let bob_id = app.account_id(&bob).await;
    assert_eq!(
        body,
        format!("user={bob_id} email=bob@example.com role=member access=-")
    );

    // Not a member: 403.
    let stranger = client
        .get(format!("{site}/"))
        .bearer_auth(&eve)
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 403);

    // Enforcement with grace: in, and the app is told; after the deadline: 403.
    app.enforce(&workspace, &owner.token, "all", 3).await;
    let grace = client
        .get(format!("{site}/x"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(grace.status(), 200);
    assert!(grace.text().await.unwrap().ends_with("access=grace"));
    app.clock.advance(3 * 86_400);
    let blocked = client
        .get(format!("{site}/x"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), 403);
}
