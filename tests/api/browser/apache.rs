//! A relying party nobody here wrote: Debian's Apache with `mod_auth_openidc` (a certified
//! OpenID Connect RP) in front of a page, signing its users in through Deadbolt. Headless
//! Chromium opens the page, signs in on Deadbolt's pages with the password and the TOTP
//! challenge, and comes back to the page, which shows the claims Apache received. The
//! configuration is the one README.md shows (`deploy/apache-mod-auth-openidc.conf`).
//!
//! Without Apache and the module the test prints a notice and passes; under `CI` it fails
//! (`scripts/test-services` installs `apache2` and `libapache2-mod-auth-openidc`).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use deadbolt::clock::{Clock, SystemClock};
use serde_json::json;
use tokio::process::{Child, Command};

use super::driver::Browser;
use crate::helpers::{spawn_app_at_own_url, Backend, PASSWORD};
use crate::proxies::free_port;

/// The block README.md shows, as a file the test fills in.
const SITE: &str = include_str!("../../../deploy/apache-mod-auth-openidc.conf");

/// The protected page: the claims mod_auth_openidc sets for it, through SSI.
const PAGE: &str = "<!DOCTYPE html><html><body>\
    <p id=\"email\"><!--#echo var=\"OIDC_CLAIM_email\" --></p>\
    <p id=\"acr\"><!--#echo var=\"OIDC_CLAIM_acr\" --></p>\
    <p id=\"amr\"><!--#echo var=\"OIDC_CLAIM_amr\" --></p>\
    </body></html>\n";

const MODULE: &str = "/usr/lib/apache2/modules/mod_auth_openidc.so";

fn apache_binary() -> Option<&'static str> {
    let binary = "/usr/sbin/apache2";
    (Path::new(binary).exists() && Path::new(MODULE).exists()).then_some(binary)
}

/// Apache in `dir`, on `port`, in front of `dir/htdocs`, as client `apache` of `issuer`.
async fn start_apache(dir: &Path, port: u16, issuer: &str, secret: &str) -> Option<Child> {
    let Some(binary) = apache_binary() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs apache2 and libapache2-mod-auth-openidc (scripts/test installs them)"
        );
        eprintln!("NOTICE: Apache or mod_auth_openidc not installed; the OIDC RP not checked");
        return None;
    };
    let htdocs = dir.join("htdocs/protected");
    std::fs::create_dir_all(&htdocs).unwrap();
    std::fs::write(htdocs.join("index.shtml"), PAGE).unwrap();
    // Apache's workers run as www-data when it starts as root: let them read the page.
    for path in [dir, &dir.join("htdocs"), &htdocs] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(
        htdocs.join("index.shtml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|out| out.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let site = SITE
        .replace(
            "https://app.example.com",
            &format!("http://127.0.0.1:{port}"),
        )
        .replace("https://id.example.com", issuer)
        .replace("CLIENT_SECRET", secret)
        .replace(
            "A_LONG_RANDOM_PASSPHRASE",
            "test-passphrase-0123456789abcdef",
        );
    let prefix = dir.display();
    let config = format!(
        "ServerRoot /usr/lib/apache2\nServerName 127.0.0.1\nListen 127.0.0.1:{port}\n\
         PidFile {prefix}/apache.pid\nErrorLog {prefix}/error.log\nLogLevel warn\n\
         LoadModule mpm_event_module modules/mod_mpm_event.so\n\
         LoadModule authz_core_module modules/mod_authz_core.so\n\
         LoadModule authn_core_module modules/mod_authn_core.so\n\
         LoadModule authz_user_module modules/mod_authz_user.so\n\
         LoadModule auth_openidc_module modules/mod_auth_openidc.so\n\
         LoadModule include_module modules/mod_include.so\n\
         LoadModule mime_module modules/mod_mime.so\n\
         LoadModule dir_module modules/mod_dir.so\n\
         TypesConfig /etc/mime.types\n{user}\
         DocumentRoot {prefix}/htdocs\nDirectoryIndex index.shtml\n\
         AddType text/html .shtml\nAddOutputFilter INCLUDES .shtml\n\
         <Directory {prefix}/htdocs>\n  Options +Includes\n  Require all granted\n</Directory>\n\
         {site}\n",
        user = if root {
            "User www-data\nGroup www-data\n"
        } else {
            ""
        },
    );
    let path = dir.join("apache.conf");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(binary)
        .arg("-f")
        .arg(&path)
        .arg("-DFOREGROUND")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Waiting for Apache to listen; no rule of the app depends on this.
    for _ in 0..100 {
        if reqwest::get(format!("http://127.0.0.1:{port}/"))
            .await
            .is_ok()
        {
            return Some(child);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    panic!("Apache did not start: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apache_mod_auth_openidc_signs_a_person_in_with_both_factors() {
    let app = spawn_app_at_own_url(Backend::Sqlite, |_| {}).await;
    // Apache checks the ID token's times against its own clock.
    app.clock.set(SystemClock.now());
    let port = free_port();
    let admin = app.admin_signed_in("root@example.com").await;
    let created = app
        .post(
            "/api/v1/admin/oidc/clients",
            Some(&admin),
            json!({
                "client_id": "apache",
                "name": "The team wiki",
                "redirect_uris": [format!("http://127.0.0.1:{port}/protected/redirect_uri")],
            }),
        )
        .await;
    created.assert_status(201);
    let secret = created.body["client_secret"].as_str().unwrap().to_owned();
    let ada = app.enrolled("ada@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let Some(_apache) = start_apache(dir.path(), port, &app.base, &secret).await else {
        return;
    };
    let Some(browser) = Browser::open(&app, 1100, false).await else {
        return;
    };
    browser
        .goto_url(&format!("http://127.0.0.1:{port}/protected/"))
        .await;
    // Sent to Deadbolt's sign-in page, then the challenge, then consent, then back.
    assert_eq!(browser.path().await, "/login");
    browser.fill("#email", "ada@example.com").await;
    browser.enter("#password", PASSWORD).await;
    assert_eq!(browser.path().await, "/login/two-factor");
    browser.fill("#code", &app.code(&ada.secret)).await;
    browser.submit("main button[type=submit]").await;
    assert!(
        browser.body().await.contains("The team wiki"),
        "consent names the client"
    );
    browser.snap("oidc-apache-consent").await;
    browser.submit("main button[type=submit]").await;
    let url = browser.url().await;
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{port}/protected/")),
        "{url}: {}",
        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
    );
    assert_eq!(browser.text("#email").await, "ada@example.com");
    assert_eq!(browser.text("#acr").await, "mfa");
    let amr = browser.text("#amr").await;
    for factor in ["pwd", "otp", "mfa"] {
        assert!(amr.contains(factor), "{amr}");
    }
    browser.snap("oidc-apache-signed-in").await;
    browser.close().await;
}
