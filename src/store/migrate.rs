//! Schema migrations from `migrations/NNNN_name.sql`, tracked by refinery and
//! applied under an advisory lock so replicas that start together take turns.

use refinery::{Migration, Runner};

use super::StoreError;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

/// Arbitrary, fixed: the key of the advisory lock migrations hold.
const MIGRATION_LOCK: i64 = 0x7061_7463_6862_6179; // "patchbay"

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("applying migrations")]
    Refinery(#[from] refinery::Error),
}

/// The version of the newest migration this build carries.
pub fn latest_version() -> i64 {
    embedded::LATEST_VERSION
}

fn runner() -> Result<Runner, refinery::Error> {
    let migrations = embedded::MIGRATIONS
        .iter()
        .map(|(name, sql)| Migration::unapplied(name, sql))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Runner::new(&migrations))
}

/// Applies every pending migration; returns the names of those applied now.
pub async fn run(client: &mut tokio_postgres::Client) -> Result<Vec<String>, MigrateError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(StoreError::from)?;
    let result = match runner() {
        Ok(runner) => runner.run_async(client).await.map_err(MigrateError::from),
        Err(e) => Err(e.into()),
    };
    // Also released when the connection closes, should this fail.
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let report = result?;
    unlock.map_err(StoreError::from)?;
    let applied: Vec<String> = report
        .applied_migrations()
        .iter()
        .map(|m| format!("{:04}_{}", m.version(), m.name()))
        .collect();
    if applied.is_empty() {
        tracing::info!(version = latest_version(), "schema is up to date");
    } else {
        tracing::info!(?applied, version = latest_version(), "applied migrations");
    }
    Ok(applied)
}

/// The newest applied version, or `None` before the first migration.
pub async fn applied_version(client: &tokio_postgres::Client) -> Result<Option<i64>, StoreError> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_one(
            "SELECT MAX(version)::bigint FROM refinery_schema_history",
            &[],
        )
        .await?;
    Ok(row.get(0))
}
