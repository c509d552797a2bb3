//! The database: PostgreSQL or SQLite chosen by the URL scheme, migrated at open.
//!
//! Each context ships one migration set per backend; the platform's own tables (outbox, inbox)
//! are prepended, so one `_sqlx_migrations` table tracks both.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

static PLATFORM_POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");
static PLATFORM_SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");

/// A context's own migrations, one set per backend (`sqlx::migrate!`).
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    pub postgres: &'static Migrator,
    pub sqlite: &'static Migrator,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("cannot create the directory for {path}: {source}")]
    Directory { path: String, source: std::io::Error },
    #[error("migrating {url} failed: {source}")]
    Migrate { url: String, source: sqlx::migrate::MigrateError },
    #[error("unsupported database URL {0}: expected postgres://… or sqlite:…")]
    Scheme(String),
}

/// Starts a PostgreSQL write transaction (rows a use case reads then writes are locked with
/// `FOR UPDATE` where it matters).
pub async fn begin_postgres(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin().await
}

/// Starts a SQLite write transaction that takes the write lock up front (`BEGIN IMMEDIATE`), so
/// read-then-write use cases are serialised.
pub async fn begin_sqlite(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// `$first, $first+1, …` for `n` values: an `IN (…)` list both backends accept.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// An open, migrated database of one context.
#[derive(Debug, Clone)]
pub enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl Db {
    /// Opens the database at `url` and applies the platform's and the context's migrations.
    pub async fn connect(url: &str, migrations: Migrations) -> Result<Self, DbError> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::Postgres(open_postgres(url).await?)
        } else if url.starts_with("sqlite:") {
            Self::Sqlite(open_sqlite(url).await?)
        } else {
            return Err(DbError::Scheme(redact(url)));
        };
        db.migrate(url, migrations).await?;
        Ok(db)
    }

    async fn migrate(&self, url: &str, migrations: Migrations) -> Result<(), DbError> {
        let fail = |source| DbError::Migrate { url: redact(url), source };
        match self {
            Self::Postgres(pool) => combined(&PLATFORM_POSTGRES, migrations.postgres).run(pool).await.map_err(fail),
            Self::Sqlite(pool) => combined(&PLATFORM_SQLITE, migrations.sqlite).run(pool).await.map_err(fail),
        }
    }

    /// Whether the database answers a trivial query (readiness).
    pub async fn ping(&self) -> bool {
        let result = match self {
            Self::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            Self::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
        };
        result.is_ok()
    }

    pub async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}

fn combined(platform: &Migrator, context: &Migrator) -> Migrator {
    Migrator::with_migrations(platform.iter().chain(context.iter()).cloned().collect())
}

async fn open_postgres(url: &str) -> Result<PgPool, DbError> {
    let options = PgConnectOptions::from_str(url).map_err(|source| DbError::Open { url: redact(url), source })?;
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|source| DbError::Open { url: redact(url), source })
}

async fn open_sqlite(url: &str) -> Result<SqlitePool, DbError> {
    let fail = |source| DbError::Open { url: url.to_owned(), source };
    let options = SqliteConnectOptions::from_str(url)
        .map_err(fail)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let path = options.get_filename();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|source| DbError::Directory { path: path.display().to_string(), source })?;
    }
    SqlitePoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(fail)
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Helpers for tests: a fresh database per test on whichever backend the environment selects.
pub mod testing {
    use super::*;

    /// The PostgreSQL server tests use when `DATABASE_URL` points at one; `None` runs on SQLite.
    pub fn postgres_server_url() -> Option<String> {
        std::env::var("DATABASE_URL").ok().filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    }

    /// A URL of a brand-new, empty database: a new PostgreSQL database named `t_<uuid>` when
    /// `DATABASE_URL` names a server, otherwise a SQLite file in `dir`.
    pub async fn fresh_database_url(dir: &std::path::Path) -> String {
        match postgres_server_url() {
            Some(server) => {
                let name = format!("t_{}", uuid::Uuid::now_v7().simple());
                let pool = PgPoolOptions::new().max_connections(1).connect(&server).await.expect("postgres reachable");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&pool)
                    .await
                    .expect("create test database");
                pool.close().await;
                with_database(&server, &name)
            }
            None => format!("sqlite:{}", dir.join("test.db").display()),
        }
    }

    fn with_database(server: &str, name: &str) -> String {
        let (base, query) = server.split_once('?').map_or((server, None), |(b, q)| (b, Some(q)));
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let base = match base[scheme_end..].find('/') {
            Some(slash) => &base[..scheme_end + slash],
            None => base,
        };
        match query {
            Some(q) => format!("{base}/{name}?{q}"),
            None => format!("{base}/{name}"),
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_database_name_replaces_the_servers() {
            assert_eq!(super::with_database("postgres://u@h:5432/postgres", "t_1"), "postgres://u@h:5432/t_1");
            assert_eq!(super::with_database("postgres://u@h", "t_1"), "postgres://u@h/t_1");
            assert_eq!(super::with_database("postgres://h/db?sslmode=disable", "t"), "postgres://h/t?sslmode=disable");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/identity"), "postgres://app:***@db:5432/identity");
        assert_eq!(redact("sqlite:.edustream/identity.db"), "sqlite:.edustream/identity.db");
    }
}
