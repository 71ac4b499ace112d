//! What can go wrong in storage: [`StoreError`], and the named uniqueness rules
//! ([`Constraint`]) a backend turns a unique violation into (see `rows.rs`, `conflict_as`).

/// A uniqueness rule the database enforces, named so callers can react to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// Two accounts with one e-mail address.
    AccountEmail,
    /// Two OpenID Connect clients with one client id.
    OidcClientId,
    /// Two credentials with one WebAuthn credential id.
    WebAuthnCredential,
}

/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule refused the write.
    #[error("conflict on {0:?}")]
    Conflict(Constraint),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Backend(#[from] sqlx::Error),
    /// The SQLite database failed (see `sqlite/db.rs`).
    #[error("database error: {0}")]
    Embedded(#[from] rusqlite::Error),
    /// A blocking database task failed to finish.
    #[error("database task failed: {0}")]
    Task(String),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The SQLite database's migrations do not match this build's (see `sqlite/migrate.rs`).
    #[error("migration error: {0}")]
    Schema(String),
    /// A node neither acknowledged a change to remembered data nor let its lease run out
    /// (see `postgres/coherence.rs`); the change is committed, but may not be seen
    /// everywhere yet.
    #[error("a node did not acknowledge a change in time")]
    Unacknowledged,
    /// The database URL names no supported backend.
    #[error("unsupported database URL (expected sqlite:… or postgres://…)")]
    UnsupportedUrl,
}
