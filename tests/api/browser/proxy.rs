//! Forward-auth as a person meets it: a real nginx (Debian's package) in front of a tiny
//! application on one port, with the README's server block (`deploy/nginx-forward-auth.conf`),
//! and in front of Deadbolt itself on another port, its public URL. Two origins on one host,
//! as with `app.example.com` and `auth.example.com`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::Html;
use axum::routing::get;
use axum::Router;

const SERVER_BLOCK: &str = include_str!("../../../deploy/nginx-forward-auth.conf");

/// A free port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The protected application: a page naming who nginx let in.
pub async fn spawn_application() -> String {
    async fn page(headers: HeaderMap) -> Html<String> {
        let email = headers
            .get("remote-email")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let role = headers
            .get("remote-workspace-role")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        Html(format!(
            "<!doctype html><title>Reports</title><h1 id=\"welcome\">Reports for {email}</h1>\
             <p id=\"role\">{role}</p>"
        ))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, Router::new().route("/{*path}", get(page))).await;
    });
    address
}

/// nginx, stopped on drop.
pub struct Nginx(Child);

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

/// Where nginx listens.
pub struct Ports {
    /// Deadbolt's public face (its `public_url`).
    pub deadbolt: u16,
    /// The protected application.
    pub application: u16,
}

/// nginx in `dir`: Deadbolt (at `deadbolt`) on `ports.deadbolt`, and the application (at
/// `application`) behind forward-auth for `workspace` on `ports.application`.
pub async fn start_nginx(
    dir: &Path,
    ports: &Ports,
    deadbolt: &str,
    application: &str,
    workspace: &str,
) -> Option<Nginx> {
    let Some(binary) = nginx_binary() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs nginx (scripts/test installs it)"
        );
        eprintln!("NOTICE: nginx not installed; forward-auth in the browser not checked");
        return None;
    };
    let protected = SERVER_BLOCK
        .replace("LISTEN_PORT", &ports.application.to_string())
        .replace("DEADBOLT", deadbolt)
        .replace("WORKSPACE", workspace)
        .replace("APP", application);
    let public = format!(
        "server {{\n listen 127.0.0.1:{port};\n location / {{\n  proxy_pass http://{deadbolt};\n  \
         proxy_set_header Host $http_host;\n }}\n}}\n",
        port = ports.deadbolt
    );
    let prefix = dir.display();
    let config = format!(
        "daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {prefix}/body;\n proxy_temp_path {prefix}/proxy;\n\
         fastcgi_temp_path {prefix}/fastcgi;\n uwsgi_temp_path {prefix}/uwsgi;\n scgi_temp_path {prefix}/scgi;\n\
         {public}\n{protected}\n}}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(binary)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let nginx = Nginx(child);
    for _ in 0..100 {
        let both = [ports.deadbolt, ports.application];
        let mut up = true;
        for port in both {
            up &= tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok();
        }
        if up {
            return Some(nginx);
        }
        // Waiting for nginx to listen; no rule of the app depends on this.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "nginx did not start: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
}
