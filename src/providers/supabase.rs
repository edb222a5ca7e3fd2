//! Supabase: a real Postgres connection to the project's database, timed.

use std::time::{Duration, Instant};

use tokio_postgres::{NoTls, error::SqlState};

use super::{Call, Observation, ProbeError, Provider, problem};
use crate::status::model::{Level, ProblemCode};

const DEFAULT_SLOW_MS: i64 = 500;

pub struct Supabase;

fn classify(e: &tokio_postgres::Error) -> ProbeError {
    match e.code() {
        Some(code)
            if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            ProbeError::Definitive(problem(
                ProblemCode::Unauthorized,
                "the database refused the credentials",
            ))
        }
        Some(code) if *code == SqlState::INVALID_CATALOG_NAME => {
            ProbeError::misconfigured("the database in database_url does not exist")
        }
        _ => ProbeError::Transient(problem(
            ProblemCode::Unreachable,
            "the database cannot be reached",
        )),
    }
}

#[tonic::async_trait]
impl Provider for Supabase {
    fn id(&self) -> &'static str {
        "supabase"
    }

    async fn probe(&self, ctx: &Call<'_>) -> Result<Observation, ProbeError> {
        let Some(url) = ctx.credential("database_url") else {
            return Err(ProbeError::misconfigured(
                "database_url credential is missing",
            ));
        };
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|_| ProbeError::misconfigured("database_url is not a PostgreSQL URL"))?;
        config.connect_timeout(ctx.timeout);
        let started = Instant::now();
        let attempt = async {
            let (client, connection) = config.connect(NoTls).await.map_err(|e| classify(&e))?;
            let driver = tokio::spawn(connection);
            let version = client
                .query_one("SHOW server_version", &[])
                .await
                .map_err(|e| classify(&e))?
                .try_get::<_, String>(0)
                .unwrap_or_default();
            drop(client);
            driver.abort();
            Ok::<_, ProbeError>(version)
        };
        let version = tokio::time::timeout(ctx.timeout, attempt)
            .await
            .map_err(|_| {
                ProbeError::Transient(problem(
                    ProblemCode::Timeout,
                    "the database did not answer in time",
                ))
            })??;
        let elapsed = started.elapsed();
        let slow = Duration::from_millis(
            u64::try_from(ctx.setting_i64("slow_query_ms").unwrap_or(DEFAULT_SLOW_MS))
                .unwrap_or(500),
        );
        let version = version.split_whitespace().next().unwrap_or("").to_owned();
        if elapsed > slow {
            return Ok(Observation::new(
                Level::Warning,
                format!(
                    "Postgres {version} answered slower than {} ms",
                    slow.as_millis()
                ),
                "Database slow",
            ));
        }
        Ok(Observation::new(
            Level::Connected,
            format!("Postgres {version} answered"),
            "Database healthy",
        ))
    }
}
