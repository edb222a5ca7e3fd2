//! Retention cleanup: once per interval, on exactly one replica, the data
//! past its retention goes (the audit log's oldest entries, and health
//! history: samples, resolved alerts, finished notifications and ended
//! automation runs; the
//! event log and dedupe records keep their own, finer-grained purges). The
//! job is leased in `maintenance_jobs`: a replica claims it when it is due,
//! renews the lease after every batch, and hands it back with the next
//! run's time; one that dies mid-run lets the lease expire and another
//! finishes the work.

use std::time::Duration;

use chrono::Utc;
use deadpool_postgres::Pool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    audit::purge,
    store::{self, StoreError, maintenance},
};

/// The job's name in `maintenance_jobs`.
const JOB: &str = "retention";

/// How long a claim lasts without a renewal: far longer than one batch.
const LEASE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// How long audit entries are kept.
    pub audit: Duration,
    /// How long health history is kept: probe and action samples,
    /// resolved alerts and finished notifications.
    pub history: Duration,
    /// Time between two runs, across all replicas.
    pub every: Duration,
    /// How often each replica looks whether a run is due.
    pub check: Duration,
    /// Rows deleted per transaction: short locks, short transactions.
    pub batch: i64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            audit: Duration::from_secs(730 * 24 * 3600),
            history: Duration::from_secs(30 * 24 * 3600),
            every: Duration::from_secs(24 * 3600),
            check: Duration::from_secs(60),
            batch: 500,
        }
    }
}

/// What one run removed, as recorded in `maintenance_jobs.last_result`.
#[derive(Debug, Default, serde::Serialize)]
struct Report {
    audit_entries: u64,
    audit_chains: u64,
    health_samples: u64,
    alerts: u64,
    notifications: u64,
    runs: u64,
}

/// A history table's batch purge.
#[derive(Clone, Copy)]
enum History {
    Samples,
    Alerts,
    Notifications,
    Runs,
}

pub struct Cleanup {
    pool: Pool,
    config: RetentionConfig,
    owner: Uuid,
}

impl Cleanup {
    pub fn new(pool: Pool, config: RetentionConfig) -> Self {
        Self {
            pool,
            config,
            owner: Uuid::new_v4(),
        }
    }

    /// Looks every `check` whether a run is due, and runs it when this
    /// replica wins the claim; stops when `token` is cancelled.
    pub async fn run(self, token: CancellationToken) {
        let mut tick = tokio::time::interval(self.config.check);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(e) = self.run_if_due(&token).await {
                        tracing::warn!(error = %e, "retention cleanup failed; it runs again at the next check");
                    }
                }
            }
        }
    }

    async fn run_if_due(&self, token: &CancellationToken) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        if !maintenance::claim(&client, JOB, self.owner, LEASE).await? {
            return Ok(());
        }
        drop(client);
        let outcome = self.purge(token).await;
        let client = self.pool.get().await?;
        match outcome {
            Ok(Some(report)) => {
                let result = serde_json::to_value(&report).unwrap_or_default();
                if maintenance::finish(&client, JOB, self.owner, self.config.every, &result).await?
                {
                    tracing::info!(
                        audit_entries = report.audit_entries,
                        audit_chains = report.audit_chains,
                        health_samples = report.health_samples,
                        alerts = report.alerts,
                        notifications = report.notifications,
                        runs = report.runs,
                        "retention cleanup done"
                    );
                }
                Ok(())
            }
            // Cancelled, or the lease went to another replica.
            Ok(None) => maintenance::release(&client, JOB, self.owner).await,
            Err(e) => {
                maintenance::release(&client, JOB, self.owner).await?;
                Err(e)
            }
        }
    }

    /// Purges batch by batch, renewing the lease after each; `None` when
    /// cancelled or when the lease was lost.
    async fn purge(&self, token: &CancellationToken) -> Result<Option<Report>, StoreError> {
        let cutoff = Utc::now()
            - chrono::Duration::from_std(self.config.audit).unwrap_or(chrono::Duration::MAX);
        let mut client = self.pool.get().await?;
        let mut report = Report::default();
        for project in purge::chains_to_purge(&client, cutoff).await? {
            report.audit_chains += 1;
            loop {
                if token.is_cancelled() {
                    return Ok(None);
                }
                let purged =
                    purge::purge_batch(&mut client, &project, cutoff, self.config.batch).await?;
                report.audit_entries += purged;
                if !maintenance::renew(&client, JOB, self.owner, LEASE).await? {
                    tracing::warn!("retention lease lost to another replica; stopping");
                    return Ok(None);
                }
                if purged < u64::try_from(self.config.batch).unwrap_or(u64::MAX) {
                    break;
                }
            }
        }
        let cutoff = Utc::now()
            - chrono::Duration::from_std(self.config.history).unwrap_or(chrono::Duration::MAX);
        for table in [
            History::Samples,
            History::Alerts,
            History::Notifications,
            History::Runs,
        ] {
            let Some(purged) = self.purge_history(&client, table, cutoff, token).await? else {
                return Ok(None);
            };
            match table {
                History::Samples => report.health_samples = purged,
                History::Alerts => report.alerts = purged,
                History::Notifications => report.notifications = purged,
                History::Runs => report.runs = purged,
            }
        }
        Ok(Some(report))
    }

    /// Purges one history table's rows older than `cutoff`, a batch per
    /// statement; `None` when cancelled or when the lease was lost.
    async fn purge_history(
        &self,
        client: &deadpool_postgres::Client,
        table: History,
        cutoff: chrono::DateTime<Utc>,
        token: &CancellationToken,
    ) -> Result<Option<u64>, StoreError> {
        let batch = self.config.batch;
        let mut total = 0;
        loop {
            if token.is_cancelled() {
                return Ok(None);
            }
            let purged = match table {
                History::Samples => {
                    store::health_samples::purge_batch(client, cutoff, batch).await?
                }
                History::Alerts => store::alerts::purge_batch(client, cutoff, batch).await?,
                History::Notifications => {
                    store::alert_notifications::purge_batch(client, cutoff, batch).await?
                }
                History::Runs => store::automation_runs::purge_batch(client, cutoff, batch).await?,
            };
            total += purged;
            if !maintenance::renew(client, JOB, self.owner, LEASE).await? {
                tracing::warn!("retention lease lost to another replica; stopping");
                return Ok(None);
            }
            if purged < u64::try_from(batch).unwrap_or(u64::MAX) {
                return Ok(Some(total));
            }
        }
    }
}
