//! ListAuditEvents, ExportAuditEvents and VerifyAuditLog: who may read the
//! audit log, its page tokens and the export's paging; the chain's rules
//! are `crate::audit`'s.

use chrono::DateTime;
use tokio::sync::mpsc;

use super::service::Diagnostics;
use crate::{
    audit::{
        self, SeqRange, Verification,
        model::{AuditCursor, AuditEvent, AuditQuery, AuditScope},
    },
    auth::{Caller, Role},
    error::ApiError,
    paging::PageRequest,
    store::{self, StoreError},
};

/// Entries an export reads per query, and holds ahead of its receiver.
const EXPORT_PAGE: usize = 500;

impl Diagnostics {
    /// A page of `scope`'s entries, newest first.
    pub async fn list_audit_events(
        &self,
        caller: &Caller,
        scope: &AuditScope,
        query: &AuditQuery,
        page: &PageRequest,
    ) -> Result<(Vec<AuditEvent>, String), ApiError> {
        require_auditor(caller, scope)?;
        let cursor = page
            .after
            .as_deref()
            .map(|token| parse_cursor(scope, token))
            .transpose()?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let mut events =
            store::audit::list(&client, scope, query, cursor.as_ref(), page.fetch_limit()).await?;
        let next = page.finish(&mut events, |e| match scope {
            AuditScope::Project(_) => e.seq.to_string(),
            AuditScope::All => format!("{}/{}", e.time.timestamp_micros(), e.id),
        });
        Ok((events, next))
    }

    /// Every entry of `scope` matching `query`, newest first, read a page
    /// at a time while the receiver keeps up; it ends after the last entry
    /// or the first error, or when the receiver goes away.
    pub async fn export_audit_events(
        &self,
        caller: &Caller,
        scope: AuditScope,
        query: AuditQuery,
    ) -> Result<mpsc::Receiver<Result<AuditEvent, ApiError>>, ApiError> {
        require_auditor(caller, &scope)?;
        let (sender, receiver) = mpsc::channel(EXPORT_PAGE);
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let mut cursor = None;
            loop {
                let page = match pool.get().await {
                    Ok(client) => {
                        let limit = i64::try_from(EXPORT_PAGE).unwrap_or(i64::MAX);
                        store::audit::list(&client, &scope, &query, cursor.as_ref(), limit).await
                    }
                    Err(e) => Err(StoreError::from(e)),
                };
                let page = match page {
                    Ok(page) => page,
                    Err(e) => {
                        let _ = sender.send(Err(e.into())).await;
                        return;
                    }
                };
                let full = page.len() == EXPORT_PAGE;
                cursor = page.last().map(|e| match scope {
                    AuditScope::Project(_) => AuditCursor::Seq(e.seq),
                    AuditScope::All => AuditCursor::TimeId(e.time, e.id),
                });
                for event in page {
                    if sender.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                if !full {
                    return;
                }
            }
        });
        Ok(receiver)
    }

    /// Walks every chain in `scope` (over `range`) and names the first
    /// broken entry.
    pub async fn verify_audit_log(
        &self,
        caller: &Caller,
        scope: &AuditScope,
        range: SeqRange,
    ) -> Result<Verification, ApiError> {
        require_auditor(caller, scope)?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        Ok(audit::verify(&client, scope, range).await?)
    }
}

/// A project's log is for its owners and admins and for platform admins;
/// every project's at once only for platform admins.
fn require_auditor(caller: &Caller, scope: &AuditScope) -> Result<(), ApiError> {
    match scope {
        AuditScope::Project(_) if caller.is_platform_admin() => Ok(()),
        AuditScope::Project(project) => caller.require(project, Role::Admin).map(drop),
        AuditScope::All => caller.require_platform_admin(),
    }
}

/// A page token's key: the last seq in a project, `{micros}/{id}` across
/// projects.
fn parse_cursor(scope: &AuditScope, token: &str) -> Result<AuditCursor, ApiError> {
    let cursor = match scope {
        AuditScope::Project(_) => token.parse().ok().map(AuditCursor::Seq),
        AuditScope::All => token.split_once('/').and_then(|(micros, id)| {
            let time = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
            Some(AuditCursor::TimeId(time, id.parse().ok()?))
        }),
    };
    cursor.ok_or_else(|| ApiError::invalid_field("page_token", "is not a token this API issued"))
}
