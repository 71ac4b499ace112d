//! `spawn_app`: a fresh database (SQLite file or a new PostgreSQL database), the real
//! router on `127.0.0.1:0`, a manual clock, and one helper per endpoint.

use std::sync::Arc;

use deadbolt::clock::ManualClock;
use deadbolt::config::{Config, FileConfig};
use deadbolt::domain::time::UnixTime;
use deadbolt::http::metrics::Metrics;
use deadbolt::keyring::Keyring;
use deadbolt::notify::{Dispatch, Notifier, Workers};
use deadbolt::password_pool::PasswordPool;
use deadbolt::store::{self, PoolSettings, Store};
use deadbolt::AppState;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A password zxcvbn rates strong.
pub const PASSWORD: &str = "violet anchor drifts seven lanterns";

/// Where the clock of every test app starts (2027-01-15T08:00:00Z).
pub const START: UnixTime = UnixTime(1_800_000_000);

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The PostgreSQL backend when `DEADBOLT_TEST_PG_URL` is set. Without it the test is
    /// skipped with a printed notice; under CI a missing server is a failure.
    pub fn postgres() -> Option<Backend> {
        if std::env::var("DEADBOLT_TEST_PG_URL").is_ok() {
            return Some(Backend::Postgres);
        }
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the PostgreSQL half: set DEADBOLT_TEST_PG_URL (scripts/test does)"
        );
        eprintln!("NOTICE: DEADBOLT_TEST_PG_URL is not set; skipping the PostgreSQL variant");
        None
    }
}

/// Runs each named `async fn(Backend)` as two tests: `sqlite::NAME` and `postgres::NAME`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(backend) = $crate::helpers::Backend::postgres() {
                        super::$name(backend).await
                    }
                }
            )*
        }
    };
}

/// A fresh, empty PostgreSQL database; returns its URL.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    let admin_url = std::env::var("DEADBOLT_TEST_PG_URL").expect("DEADBOLT_TEST_PG_URL");
    let name = format!("deadbolt_test_{}", deadbolt::domain::ids::new_id());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to DEADBOLT_TEST_PG_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url.as_str(), String::new()),
    };
    let prefix = &base[..base.rfind('/').expect("database URL has a path")];
    format!("{prefix}/{name}{query}")
}

/// A fresh database URL for `backend`, inside `dir` for SQLite.
pub async fn fresh_database(backend: Backend, dir: &TempDir) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("deadbolt.db").display()),
        Backend::Postgres => fresh_postgres_database().await,
    }
}

/// A running server.
pub struct TestApp {
    pub base: String,
    pub database_url: String,
    pub recovery_key: [u8; 32],
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub store: Arc<dyn Store>,
    pub dir: TempDir,
    pub notifier: Notifier,
    workers: Option<Workers>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestApp {
    /// Stops the server and its outbox workers, keeping its database and key file (as a
    /// process that exits would).
    pub fn stop(&mut self) {
        self.workers.take();
        self.shutdown.take();
    }
}

/// Spawns the app with default configuration.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Spawns the app after `configure` adjusts the file configuration.
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut FileConfig)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut file = FileConfig {
        database: Some(fresh_database(backend, &dir).await),
        master_key_file: Some(dir.path().join("deadbolt.key")),
        ..FileConfig::default()
    };
    configure(&mut file);
    spawn_with_config(file, dir).await
}

/// A second server on the same database and key file (a restart, or another node).
pub async fn respawn(app: &TestApp) -> TestApp {
    respawn_with(app, |_| {}).await
}

/// Like [`respawn`], after `configure` adjusts the file configuration.
pub async fn respawn_with(app: &TestApp, configure: impl FnOnce(&mut FileConfig)) -> TestApp {
    let mut file = FileConfig {
        database: Some(app.database_url.clone()),
        master_key_file: Some(app.dir.path().join("deadbolt.key")),
        ..FileConfig::default()
    };
    configure(&mut file);
    spawn_with_config(file, tempfile::tempdir().unwrap()).await
}

/// Spawns the app with its `public_url` set to the address it serves (an OpenID Connect
/// issuer must be reachable at its own URL), after `configure`.
pub async fn spawn_app_at_own_url(
    backend: Backend,
    configure: impl FnOnce(&mut FileConfig),
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut file = FileConfig {
        database: Some(fresh_database(backend, &dir).await),
        master_key_file: Some(dir.path().join("deadbolt.key")),
        public_url: Some(format!("http://{}", listener.local_addr().unwrap())),
        ..FileConfig::default()
    };
    configure(&mut file);
    spawn_on(file, dir, listener).await
}

async fn spawn_with_config(file: FileConfig, dir: TempDir) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    spawn_on(file, dir, listener).await
}

async fn spawn_on(file: FileConfig, dir: TempDir, listener: TcpListener) -> TestApp {
    let config: Config = file.validate("test").unwrap();
    let store = store::connect(config.database.expose(), PoolSettings::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    // As `serve` does: session lookups are answered from memory.
    store.join_cache().await.unwrap();
    let (keys, _) = Keyring::load_or_create(&config.master_key_file).unwrap();
    let recovery_key = deadbolt::secrets::recovery_code_key(store.as_ref(), &keys)
        .await
        .unwrap();
    deadbolt::admin::sync_instance_policy(store.as_ref(), config.policy, START)
        .await
        .unwrap();
    deadbolt::oidc::sync_configured_clients(store.as_ref(), &config.oidc, &recovery_key, START)
        .await
        .unwrap();
    let clock = ManualClock::new(START);
    let database_url = config.database.expose().to_owned();
    let metrics = Arc::new(Metrics::new());
    let keys = Arc::new(keys);
    let dispatch = Dispatch::new(
        &config.notify,
        config.public_url.as_str(),
        Arc::new(clock.clone()),
        Arc::clone(&metrics),
        Arc::clone(&keys),
    )
    .unwrap();
    let (notifier, mut workers) =
        deadbolt::notify::start(Arc::clone(&store), Arc::new(clock.clone()), dispatch);
    let state = AppState::new(
        Arc::new(config),
        Arc::clone(&store),
        Arc::new(clock.clone()),
        PasswordPool::new(2).unwrap(),
        keys,
        metrics,
        Arc::new(recovery_key),
        notifier.clone(),
    );
    workers.also(deadbolt::notify::backchannel::start(
        Arc::clone(&store),
        Arc::new(clock.clone()),
        state.oidc.clone(),
    ));
    let recovery_key = *state.recovery_key;
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = deadbolt::http::serve(listener, state, async {
            let _ = stopped.await;
        })
        .await;
    });
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        base,
        database_url,
        recovery_key,
        client,
        clock,
        store,
        dir,
        notifier,
        workers: Some(workers),
        shutdown: Some(shutdown),
    }
}

/// A response read whole: status, headers and JSON body (`Value::Null` when not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    /// The `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// Asserts an error status and code, and that the message is a sentence.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(self.code(), code, "{}", self.text);
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}",
            self.text
        );
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn assert_status(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    /// The app's current (manual) time.
    pub fn clock_now(&self) -> UnixTime {
        use deadbolt::clock::Clock;
        self.clock.now()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Any request; `token` as bearer, `body` as JSON.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::read(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::DELETE, path, token, None).await
    }

    /// `POST /api/v1/accounts`.
    pub async fn create_account(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/api/v1/accounts",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// `POST /api/v1/sessions`.
    pub async fn sign_in(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/api/v1/sessions",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Creates an account and signs it in; returns its bearer token.
    pub async fn signed_in(&self, email: &str) -> String {
        let created = self.create_account(email, PASSWORD).await;
        assert_eq!(created.status, 201, "{}", created.text);
        let signed_in = self.sign_in(email, PASSWORD).await;
        assert_eq!(signed_in.status, 201, "{}", signed_in.text);
        signed_in.body["token"].as_str().unwrap().to_owned()
    }
}

/// The code an authenticator app shows for `secret` (base32) at `at`.
pub fn totp_code(secret: &str, at: UnixTime) -> String {
    use deadbolt::domain::totp::{code_at_step, step_at, TotpSecret};
    let bytes = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap();
    let secret = TotpSecret::from_bytes(&bytes).unwrap();
    format!("{:06}", code_at_step(&secret, step_at(at)))
}

/// An account with two-factor enabled.
pub struct Enrolled {
    pub email: String,
    pub token: String,
    pub secret: String,
    pub recovery_codes: Vec<String>,
}

impl TestApp {
    /// The current code for `secret` on this app's clock.
    pub fn code(&self, secret: &str) -> String {
        totp_code(secret, self.clock_now())
    }

    /// `POST /me/two-factor/enrollment` without a body.
    pub async fn enroll(&self, token: &str) -> Reply {
        let response = self
            .client
            .post(self.url("/api/v1/me/two-factor/enrollment"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        Reply::read(response).await
    }

    /// `POST /me/two-factor/enrollment/confirm`.
    pub async fn confirm(&self, token: &str, code: &str) -> Reply {
        self.post(
            "/api/v1/me/two-factor/enrollment/confirm",
            Some(token),
            json!({"code": code}),
        )
        .await
    }

    /// `DELETE /me/two-factor` with the account's password; asserts it was turned off.
    pub async fn turn_off_two_factor(&self, token: &str) {
        let disabled = self
            .request(
                reqwest::Method::DELETE,
                "/api/v1/me/two-factor",
                Some(token),
                Some(json!({"password": PASSWORD})),
            )
            .await;
        assert_eq!(disabled.status, 200, "{}", disabled.text);
    }

    /// Signs up, signs in, enrols and confirms; moves the clock past the confirming step
    /// so the next code is fresh.
    pub async fn enrolled(&self, email: &str) -> Enrolled {
        let token = self.signed_in(email).await;
        let enrollment = self.enroll(&token).await;
        assert_eq!(enrollment.status, 201, "{}", enrollment.text);
        let secret = enrollment.body["secret"].as_str().unwrap().to_owned();
        let confirmed = self.confirm(&token, &self.code(&secret)).await;
        assert_eq!(confirmed.status, 200, "{}", confirmed.text);
        let recovery_codes = confirmed.body["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        self.clock.advance(30);
        Enrolled {
            email: email.to_owned(),
            token,
            secret,
            recovery_codes,
        }
    }

    /// Signs in with the password and returns the challenge token.
    pub async fn challenge(&self, email: &str) -> String {
        let reply = self.sign_in(email, PASSWORD).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(
            reply.body["status"], "two_factor_required",
            "{}",
            reply.text
        );
        reply.body["challenge"]["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `POST /sessions/challenge` with a code.
    pub async fn answer_code(&self, challenge: &str, code: &str) -> Reply {
        self.post(
            "/api/v1/sessions/challenge",
            None,
            json!({"challenge_token": challenge, "code": code}),
        )
        .await
    }

    /// `POST /sessions/challenge` with a recovery code.
    pub async fn answer_recovery(&self, challenge: &str, recovery_code: &str) -> Reply {
        self.post(
            "/api/v1/sessions/challenge",
            None,
            json!({"challenge_token": challenge, "recovery_code": recovery_code}),
        )
        .await
    }

    /// The account's last sign-in as the admin list reads it (from its newest
    /// `sign_in_succeeded` event).
    pub async fn last_sign_in(&self, email: &str) -> Option<UnixTime> {
        let found = self
            .store
            .search_accounts(Some(email), None, 1)
            .await
            .unwrap();
        assert_eq!(found[0].account.email.as_str(), email);
        found[0].last_sign_in_at
    }

    /// The kinds of the account's events, newest first.
    pub async fn event_kinds(&self, token: &str) -> Vec<String> {
        let reply = self.get("/api/v1/me/events?limit=100", Some(token)).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl TestApp {
    /// Creates an instance admin directly in the store and signs it in.
    pub async fn admin_signed_in(&self, email: &str) -> String {
        use deadbolt::domain::password::{hash_password, Password};
        let account = deadbolt::store::NewAccount {
            id: deadbolt::domain::ids::AccountId::generate(),
            email: deadbolt::domain::email::Email::parse(email).unwrap(),
            name: None,
            password_hash: Some(hash_password(&Password::new(PASSWORD)).unwrap()),
            is_admin: true,
            created_at: self.clock_now(),
        };
        self.store.create_account(&account).await.unwrap();
        let reply = self.sign_in(email, PASSWORD).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.body["token"].as_str().unwrap().to_owned()
    }

    /// `POST /workspaces`; returns its id.
    pub async fn create_workspace(&self, token: &str, name: &str) -> String {
        let reply = self
            .post("/api/v1/workspaces", Some(token), json!({"name": name}))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.body["id"].as_str().unwrap().to_owned()
    }

    /// Invites `email` with `role` and has `invitee_token` accept; returns the accept reply.
    pub async fn invite_and_accept(
        &self,
        workspace: &str,
        inviter_token: &str,
        email: &str,
        role: &str,
        invitee_token: &str,
    ) -> Reply {
        let invitation = self
            .post(
                &format!("/api/v1/workspaces/{workspace}/invitations"),
                Some(inviter_token),
                json!({"email": email, "role": role}),
            )
            .await;
        assert_eq!(invitation.status, 201, "{}", invitation.text);
        let token = invitation.body["token"].as_str().unwrap();
        self.post(
            &format!("/api/v1/invitations/{token}/accept"),
            Some(invitee_token),
            json!({}),
        )
        .await
    }

    /// `PUT /workspaces/{id}/security`.
    pub async fn enforce(
        &self,
        workspace: &str,
        token: &str,
        enforcement: &str,
        grace: u32,
    ) -> Reply {
        self.request(
            reqwest::Method::PUT,
            &format!("/api/v1/workspaces/{workspace}/security"),
            Some(token),
            Some(json!({"enforcement": enforcement, "grace_period_days": grace})),
        )
        .await
    }

    /// The configured public URL (defaults to http://127.0.0.1:8080).
    pub fn state_public_url(&self) -> String {
        "http://127.0.0.1:8080".to_owned()
    }

    /// The account id behind a token.
    pub async fn account_id(&self, token: &str) -> String {
        self.get("/api/v1/me", Some(token)).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// A write's journal with no events.
pub fn no_events() -> deadbolt::store::Journal<'static> {
    deadbolt::store::Journal::new(&[], deadbolt::domain::notification::Channels::default())
}
