//! ListWebhookDeliveries and RedriveDeliveries: who may, the page tokens
//! and a redrive's audit entry; the queries are the store's.

use chrono::{DateTime, Utc};

use super::service::Diagnostics;
use crate::{
    alerts::{
        evaluator::Raised,
        observation::{Observation, Observed},
    },
    audit::{self, Change, model::FieldChange},
    auth::{Caller, Role},
    error::ApiError,
    names::ConnectionName,
    paging::PageRequest,
    store::{
        StoreError,
        delivery_log::{self, Redrive},
    },
    webhooks::model::{DeliveryQuery, DeliveryRecord},
};

impl Diagnostics {
    /// A page of `connection`'s deliveries; any role in its project.
    pub async fn list_deliveries(
        &self,
        caller: &Caller,
        connection: &ConnectionName,
        query: &DeliveryQuery,
        page: &PageRequest,
    ) -> Result<(Vec<DeliveryRecord>, String), ApiError> {
        caller.require(&connection.project, Role::Viewer)?;
        self.connection(connection).await?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let after = match &page.after {
            None => None,
            Some(token) => Some(parse_after(token)?),
        };
        let mut records =
            delivery_log::list(&client, connection, query, after, page.fetch_limit()).await?;
        let next = page.finish(&mut records, |d| {
            format!("{}/{}", d.receive_time.timestamp_micros(), d.id)
        });
        Ok((records, next))
    }

    /// Puts dead letters back in the queue (or counts them); owners and
    /// admins.
    pub async fn redrive(
        &self,
        caller: &Caller,
        connection: &ConnectionName,
        which: Redrive<'_>,
        validate_only: bool,
    ) -> Result<i64, ApiError> {
        caller.require(&connection.project, Role::Admin)?;
        self.connection(connection).await?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let moved = delivery_log::redrive(
            &tx,
            &connection.project,
            &connection.id,
            which,
            validate_only,
        )
        .await?;
        // A redrive that moved nothing changed nothing: no entry.
        let mut raised = Raised::default();
        if !validate_only && moved > 0 {
            // Fewer dead letters: what a dead-letter rule's alert resolves
            // on. Alert rows before the audit chain, as everywhere.
            let observation = Observation {
                connection: connection.clone(),
                observed: Observed::DeadLetters,
            };
            raised = self.alerting.observe(&tx, &observation).await?;
            audit::record(&tx, caller, redriven(connection, &which, moved)).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        self.alerting.announce(raised);
        if !validate_only && moved > 0 {
            tracing::info!(connection = %connection, deliveries = moved, "dead letters redriven");
        }
        Ok(moved)
    }
}

/// The audit entry of a redrive: what it selected and how many moved.
fn redriven(connection: &ConnectionName, which: &Redrive<'_>, moved: i64) -> Change {
    let mut fields = vec![FieldChange::set("redriven_count", moved.to_string())];
    match which {
        Redrive::Ids(ids) => fields.push(FieldChange::set("deliveries", ids.join(","))),
        Redrive::Matching(q) => {
            let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339());
            let terms = [
                ("filter.event_type", q.event_type.clone()),
                ("filter.received_after", time(q.received_after)),
                ("filter.received_before", time(q.received_before)),
            ];
            fields.extend(
                terms
                    .into_iter()
                    .filter_map(|(field, value)| Some(FieldChange::set(field, value?))),
            );
        }
    }
    Change::in_project(&connection.project, connection, fields)
}

/// A page token's key: `{receive_time micros}/{id}`.
fn parse_after(token: &str) -> Result<(DateTime<Utc>, String), ApiError> {
    token
        .split_once('/')
        .and_then(|(micros, id)| {
            let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
            Some((at, id.to_owned()))
        })
        .ok_or_else(|| ApiError::invalid_field("page_token", "is not a token this API issued"))
}
