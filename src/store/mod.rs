//! PostgreSQL, the one source of truth: the connection pool, migrations, the
//! embedded server, and one module per table family. All SQL lives here.

pub mod action_queue;
pub mod actions;
pub mod alert_announcements;
pub mod alert_notifications;
pub mod alert_rules;
pub mod alerts;
pub mod audit;
pub mod automation_runs;
pub mod automations;
pub mod catalog;
pub mod connection_secrets;
pub mod connections;
pub mod deliveries;
pub mod delivery_log;
pub mod embedded;
pub mod health_samples;
pub mod maintenance;
pub mod migrate;
pub mod notification_channels;
pub mod probes;
pub mod records;
pub mod replicas;
pub mod status;
pub mod templates;
pub mod vitals;
pub mod webhook_refusals;

use std::time::{Duration, Instant};

use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Pool, QueueMode, RecyclingMethod, Runtime,
};
use tokio_postgres::{NoTls, Row, error::SqlState, types::ToSql};

use crate::error::ApiError;

/// How long a request waits for a pooled connection before the database
/// counts as unavailable.
const POOL_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The server cannot be reached, or is shutting down: worth a retry.
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("database query failed")]
    Query(#[source] tokio_postgres::Error),
    #[error("building the connection pool")]
    Pool(#[from] deadpool_postgres::BuildError),
    /// A stored document no longer parses: a bug or a bad manual edit.
    #[error("stored {what} is corrupt")]
    Corrupt {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    pub fn corrupt(
        what: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Corrupt {
            what,
            source: source.into(),
        }
    }
}

/// Whether `err` is a unique violation of `constraint`.
pub fn is_unique_violation(err: &tokio_postgres::Error, constraint: &str) -> bool {
    err.as_db_error().is_some_and(|db| {
        db.code() == &SqlState::UNIQUE_VIOLATION && db.constraint() == Some(constraint)
    })
}

/// Runs a cached prepared statement.
pub async fn query(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query(&statement, params).await?)
}

pub async fn query_opt(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, StoreError> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query_opt(&statement, params).await?)
}

pub async fn query_one(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row, StoreError> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query_one(&statement, params).await?)
}

pub async fn execute(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.execute(&statement, params).await?)
}

/// Escapes `%`, `_` and `\` for a LIKE pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        if is_unavailable(&err) {
            Self::Unavailable(Box::new(err))
        } else {
            Self::Query(err)
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        match err {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => Self::Unavailable(Box::new(other)),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(source) => {
                tracing::warn!(error = %crate::error::ErrorChain(source.as_ref()), "database unavailable");
                ApiError::unavailable("DATABASE_UNAVAILABLE", "the database is unavailable")
            }
            other => ApiError::internal("database operation failed", other),
        }
    }
}

/// Connection failures, and the server refusing work while it starts or stops.
fn is_unavailable(err: &tokio_postgres::Error) -> bool {
    match err.code() {
        Some(code) => {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::TOO_MANY_CONNECTIONS,
                ]
                .contains(code)
        }
        // No SQLSTATE: the socket failed or the connection is closed.
        None => true,
    }
}

/// `config` as a libpq connection string, for a child process
/// (`DATABASE_URL`, pgbench).
pub fn conninfo(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        None => "localhost".to_owned(),
    };
    format!(
        "host={host} port={} user={} dbname={}",
        config.get_ports().first().copied().unwrap_or(5432),
        config.get_user().unwrap_or("postgres"),
        config.get_dbname().unwrap_or("postgres"),
    )
}

/// A pool over `config`. Connections are made lazily, so this succeeds
/// while the database is down.
pub fn pool(config: tokio_postgres::Config, max_size: usize) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(manager)
        .max_size(max_size)
        // The most recently used connection first: a few busy connections
        // stay warm (their backend's caches, our prepared statements), where
        // FIFO would rotate every checkout through all of them. Measured on
        // webhook ingest at 16 clients: about 1.2 times the deliveries per
        // second.
        .queue_mode(QueueMode::Lifo)
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(POOL_WAIT))
        .recycle_timeout(Some(POOL_WAIT))
        .runtime(Runtime::Tokio1)
        .build()?)
}

/// Round-trips one query and returns how long it took.
pub async fn ping(pool: &Pool) -> Result<Duration, StoreError> {
    let started = Instant::now();
    let client = pool.get().await?;
    client.simple_query("SELECT 1").await?;
    Ok(started.elapsed())
}

/// Opens one connection outside the pool (migrations, LISTEN), driving it on
/// a background task.
pub async fn connect(
    config: &tokio_postgres::Config,
) -> Result<tokio_postgres::Client, StoreError> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "database connection ended");
        }
    });
    Ok(client)
}
