//! The SQLite schema: the migrations of `migrations/sqlite/`, embedded, and a small runner
//! that keeps the `_sqlx_migrations` table of the releases that ran them through sqlx's
//! migrator (same columns, same SHA-384 checksums), so that a database made by one of them
//! is recognised as up to date and later migrations are added after it.
//!
//! Invariants:
//! - Each migration runs atomically together with its row in `_sqlx_migrations` (one
//!   savepoint of the writer's transaction: `Store::migrate` calls [`apply_next`] through
//!   `Db::write` until it answers `None`).
//! - Before anything runs, every applied migration is checked: one left unfinished, one this
//!   build does not know (a newer release's) or one whose file changed since (its checksum
//!   differs) is refused with [`StoreError::Schema`] naming it.

use std::time::Instant;

use rusqlite::Connection;
use sha2::{Digest, Sha384};

use crate::store::StoreError;

/// One migration file.
#[derive(Debug, Clone, Copy)]
pub(super) struct Migration {
    /// The number its file name starts with.
    pub version: i64,
    /// The rest of its file name, with spaces for underscores (as sqlx recorded it).
    pub description: &'static str,
    /// The file's text.
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:literal, $description:literal, $file:literal) => {
        Migration {
            version: $version,
            description: $description,
            sql: include_str!(concat!("../../../migrations/sqlite/", $file)),
        }
    };
}

/// Every migration of `migrations/sqlite/`, in order (a test checks the folder holds no
/// other).
pub(super) const MIGRATIONS: &[Migration] = &[
    migration!(1, "foundation", "0001_foundation.sql"),
    migration!(2, "two factor", "0002_two_factor.sql"),
    migration!(3, "workspaces", "0003_workspaces.sql"),
    migration!(4, "admin", "0004_admin.sql"),
    migration!(5, "notifications", "0005_notifications.sql"),
    migration!(6, "append only", "0006_append_only.sql"),
    migration!(
        7,
        "partial workspace index",
        "0007_partial_workspace_index.sql"
    ),
    migration!(10, "email tokens", "0010_email_tokens.sql"),
    migration!(11, "email proof", "0011_email_proof.sql"),
    migration!(12, "account lifecycle", "0012_account_lifecycle.sql"),
    migration!(13, "confirmed resets", "0013_confirmed_resets.sql"),
    migration!(14, "oidc provider", "0014_oidc_provider.sql"),
    migration!(15, "oidc refresh tokens", "0015_oidc_refresh_tokens.sql"),
    migration!(17, "api tokens", "0017_api_tokens.sql"),
    migration!(18, "webauthn", "0018_webauthn.sql"),
    migration!(19, "required factor", "0019_required_factor.sql"),
    migration!(
        20,
        "last sign in from events",
        "0020_last_sign_in_from_events.sql"
    ),
];

/// The history table, as sqlx's migrator created it.
const CREATE_HISTORY: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

impl Migration {
    /// SHA-384 of the file's text, as sqlx computed it.
    fn checksum(&self) -> Vec<u8> {
        Sha384::digest(self.sql.as_bytes()).to_vec()
    }

    fn name(&self) -> String {
        format!("migration {} ({})", self.version, self.description)
    }
}

/// Inside the transaction `conn` holds: checks the migrations applied so far against
/// `migrations`, then applies the first one not applied yet and answers its version; `None`
/// when there is none left.
pub(super) fn apply_next(
    conn: &Connection,
    migrations: &[Migration],
) -> Result<Option<i64>, StoreError> {
    conn.execute_batch(CREATE_HISTORY)?;
    let applied = conn
        .prepare("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")?
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, bool>(1)?,
                row.get::<_, Vec<u8>>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (version, success, checksum) in &applied {
        let Some(known) = migrations.iter().find(|m| m.version == *version) else {
            return Err(StoreError::Schema(format!(
                "the database has migration {version}, which this build does not know \
                 (a newer release made it)"
            )));
        };
        if !success {
            return Err(StoreError::Schema(format!(
                "{} was left unfinished; repair the database by hand",
                known.name()
            )));
        }
        if *checksum != known.checksum() {
            return Err(StoreError::Schema(format!(
                "{} was applied from a different file (checksum mismatch); \
                 a migration must never change once released",
                known.name()
            )));
        }
    }
    let Some(next) = migrations
        .iter()
        .find(|m| !applied.iter().any(|(version, _, _)| *version == m.version))
    else {
        return Ok(None);
    };
    let started = Instant::now();
    conn.execute_batch(next.sql)?;
    let nanos = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
    conn.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (?1, ?2, TRUE, ?3, ?4)",
        (next.version, next.description, next.checksum(), nanos),
    )?;
    Ok(Some(next.version))
}

#[cfg(test)]
mod tests {
    use rusqlite::OptionalExtension;

    use super::*;

    /// The latest migration applied to the database at `conn`, if any.
    fn latest(conn: &Connection) -> rusqlite::Result<Option<i64>> {
        conn.query_row("SELECT MAX(version) FROM _sqlx_migrations", [], |row| {
            row.get(0)
        })
        .optional()
        .map(Option::flatten)
    }

    /// Applies `migrations` the way `Store::migrate` does: one transaction each.
    fn run(conn: &mut Connection, migrations: &[Migration]) -> Result<Vec<i64>, StoreError> {
        let mut applied = Vec::new();
        loop {
            let tx = conn.transaction()?;
            let Some(version) = apply_next(&tx, migrations)? else {
                return Ok(applied);
            };
            tx.commit()?;
            applied.push(version);
        }
    }

    #[test]
    fn a_fresh_database_gets_every_migration_and_a_rerun_does_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(
            run(&mut conn, MIGRATIONS).unwrap(),
            vec![1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 17, 18, 19, 20]
        );
        assert_eq!(latest(&conn).unwrap(), Some(20));
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('accounts', 'notification_outbox')",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(tables, 2);
        assert_eq!(run(&mut conn, MIGRATIONS).unwrap(), Vec::<i64>::new());
    }

    #[test]
    fn a_later_migration_is_added_after_the_applied_ones() {
        let mut conn = Connection::open_in_memory().unwrap();
        run(&mut conn, &MIGRATIONS[..3]).unwrap();
        assert_eq!(
            run(&mut conn, MIGRATIONS).unwrap(),
            vec![4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 17, 18, 19, 20]
        );
        assert_eq!(latest(&conn).unwrap(), Some(20));
    }

    #[test]
    fn a_changed_migration_is_refused_and_nothing_runs() {
        let mut conn = Connection::open_in_memory().unwrap();
        let first = [Migration {
            version: 1,
            description: "first",
            sql: "CREATE TABLE one (id INTEGER);",
        }];
        run(&mut conn, &first).unwrap();
        let changed = [
            Migration {
                sql: "CREATE TABLE one (id TEXT);",
                ..first[0]
            },
            Migration {
                version: 2,
                description: "second",
                sql: "CREATE TABLE two (id INTEGER);",
            },
        ];
        let refused = run(&mut conn, &changed).unwrap_err();
        assert!(
            matches!(&refused, StoreError::Schema(why) if why.contains("migration 1 (first)") && why.contains("checksum")),
            "{refused}"
        );
        assert_eq!(latest(&conn).unwrap(), Some(1));
    }

    #[test]
    fn a_migration_this_build_does_not_know_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        run(&mut conn, MIGRATIONS).unwrap();
        let refused = run(&mut conn, &MIGRATIONS[..6]).unwrap_err();
        assert!(
            matches!(&refused, StoreError::Schema(why) if why.contains("migration 7")),
            "{refused}"
        );
    }

    #[test]
    fn a_database_migrated_by_sqlx_is_recognised_and_upgraded() {
        // Made by the last release that ran sqlx's migrator (see tests/api/upgrade.rs).
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/upgrade/2026-12-05/sqlite.db"
        );
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("deadbolt.db");
        std::fs::copy(fixture, &copy).unwrap();
        let mut conn = Connection::open(&copy).unwrap();
        // What it has applied is recognised; only what came after runs.
        assert_eq!(
            run(&mut conn, MIGRATIONS).unwrap(),
            vec![10, 11, 12, 13, 14, 15, 17, 18, 19, 20]
        );
        assert_eq!(latest(&conn).unwrap(), Some(20));
        assert_eq!(run(&mut conn, MIGRATIONS).unwrap(), Vec::<i64>::new());
    }

    #[test]
    fn every_file_of_the_folder_is_listed_in_order() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{:04}_{}.sql", m.version, m.description.replace(' ', "_")))
            .collect();
        assert_eq!(files, listed);
        for (migration, file) in MIGRATIONS.iter().zip(&files) {
            let text = std::fs::read_to_string(format!("{folder}/{file}")).unwrap();
            assert_eq!(migration.sql, text, "{file}");
        }
    }
}
