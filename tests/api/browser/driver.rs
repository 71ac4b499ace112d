//! The browser harness: chromedriver on a free port, a headless Chromium session, and
//! helpers that wait for the next page, fill fields and save screenshots.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::helpers::{TestApp, PASSWORD};

/// Largest page accepted on the wire (SPEC §7 asks for small pages).
pub const MAX_PAGE_BYTES: usize = 50 * 1024;

/// A headless Chromium session and the chromedriver behind it.
pub struct Browser {
    pub client: Client,
    _driver: Child,
    base: String,
    /// chromedriver's own URL, for the commands fantoccini does not know.
    driver_url: String,
}

fn chromedriver() -> Option<PathBuf> {
    let found = ["/usr/bin/chromedriver", "/usr/local/bin/chromedriver"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the browser tests: install chromium and chromium-driver (scripts/test does)"
        );
        eprintln!("NOTICE: chromedriver is not installed; skipping the browser test");
    }
    found
}

/// `$CARGO_TARGET_DIR/screenshots` (relative to the package, as cargo reads it), or
/// `target/screenshots` in the package; created and printed once per run.
fn screenshot_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let package = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .filter(|dir| !dir.is_empty())
            .map_or_else(|| package.join("target"), |dir| package.join(dir));
        let dir = target.join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        // Straight to stderr, past the test harness's capture, so it shows on a passing run.
        let _ = writeln!(std::io::stderr(), "screenshots: {}", dir.display());
        dir
    })
}

impl Browser {
    /// A browser on `app`, `width` pixels wide, in the light or dark scheme.
    pub async fn open(app: &TestApp, width: u32, dark: bool) -> Option<Browser> {
        Browser::open_at(&app.base, width, dark).await
    }

    /// Like [`Browser::open`], with Deadbolt's pages at `base` (a proxy in front of it).
    pub async fn open_at(base: &str, width: u32, dark: bool) -> Option<Browser> {
        let driver_path = chromedriver()?;
        let port = crate::cli::free_port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            format!("--window-size={width},1000"),
        ];
        if dark {
            args.push("--force-dark-mode".to_owned());
            args.push("--blink-settings=preferredColorScheme=0".to_owned());
        }
        let mut options = json!({"args": args});
        if width < 500 {
            // Desktop windows do not get narrower than 500 px: emulate a phone instead.
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": 844, "pixelRatio": 2}});
        }
        if std::path::Path::new("/usr/bin/chromium").exists() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Some(Browser {
                        client,
                        _driver: driver,
                        base: base.to_owned(),
                        driver_url: url,
                    })
                }
                Err(error) => last_error = error.to_string(),
            }
            // Waiting for chromedriver to listen; no rule of the app depends on this.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start: {last_error}");
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// Opens a full URL (another origin than Deadbolt's).
    pub async fn goto_url(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The full URL of the page shown.
    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Waits until the document `old` belonged to is replaced by the next page.
    pub async fn wait_for_next_page(&self, old: Element) {
        for _ in 0..500 {
            if old.tag_name().await.is_err() {
                return;
            }
            // Polling the browser for the navigation; no rule of the app depends on it.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no new page after 10 s");
    }

    /// Clicks something that loads a new page, and waits for it.
    pub async fn submit(&self, css: &str) {
        let old = self.find("html").await;
        self.click(css).await;
        self.wait_for_next_page(old).await;
    }

    /// Types into a field and presses Enter (keyboard only), and waits for the next page.
    pub async fn enter(&self, css: &str, value: &str) {
        let old = self.find("html").await;
        self.fill(css, &format!("{value}\u{E007}")).await;
        self.wait_for_next_page(old).await;
    }

    /// The page's whole text.
    pub async fn body(&self) -> String {
        self.text("body").await
    }

    /// The authenticator card's `data-state`.
    pub async fn card_state(&self) -> String {
        self.find("#authenticator")
            .await
            .attr("data-state")
            .await
            .unwrap()
            .unwrap()
    }

    /// Scrolls `css` to the top of the window and saves the screenshot `name.png`.
    pub async fn snap_at(&self, name: &str, css: &str) {
        self.client
            .execute(
                "document.querySelector(arguments[0]).scrollIntoView()",
                vec![json!(css)],
            )
            .await
            .unwrap();
        self.snap(name).await;
    }

    /// Saves the screenshot `name.png` and checks the page is small and self-contained.
    pub async fn snap(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
        let source = self.client.source().await.unwrap();
        assert!(
            source.len() < MAX_PAGE_BYTES,
            "{name}: {} bytes",
            source.len()
        );
        for external in [
            "src=\"http",
            "href=\"http",
            "src=\"//",
            "href=\"//",
            "url(http",
        ] {
            assert!(!source.contains(external), "{name} loads {external}…");
        }
    }

    pub async fn sign_in(&self, email: &str) {
        self.goto("/login").await;
        self.fill("#email", email).await;
        // Keyboard only: Enter in the password field submits.
        self.enter("#password", PASSWORD).await;
    }

    pub async fn sign_out(&self) {
        self.submit("nav button[type=submit]").await;
        assert_eq!(self.path().await, "/login");
    }

    /// Adds a virtual authenticator (WebDriver's WebAuthn extension, W3C WebAuthn §11.3):
    /// CTAP2 over `internal`, keeping discoverable credentials, verifying its user or not.
    /// Its id.
    pub async fn add_virtual_authenticator(&self, user_verifies: bool) -> String {
        let session = self.client.session_id().await.unwrap().unwrap();
        let added: serde_json::Value = reqwest::Client::new()
            .post(format!(
                "{}/session/{session}/webauthn/authenticator",
                self.driver_url
            ))
            .json(&json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": user_verifies,
                "isUserConsenting": true,
                "isUserVerified": user_verifies,
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        added["value"]
            .as_str()
            .expect("an authenticator id")
            .to_owned()
    }

    pub async fn close(self) {
        self.client.close().await.unwrap();
    }
}
