//! Retention for the audit log: the oldest entries go in small batches,
//! each in its own transaction under the chain's lock, and the chain's
//! anchor moves to the last entry purged, so what is kept still verifies
//! (see `chain::Walk::from_anchor`). Each batch also appends an entry
//! saying what it purged: removing history is itself recorded.

use chrono::{DateTime, Utc};
use deadpool_postgres::Client;

use super::{Change, chain, model::FieldChange, record};
use crate::{auth::Caller, store};

/// The projects with entries older than `cutoff` (the platform's is `""`).
pub async fn chains_to_purge(
    client: &Client,
    cutoff: DateTime<Utc>,
) -> Result<Vec<String>, store::StoreError> {
    store::audit::chains_older_than(client, cutoff).await
}

/// Purges up to `limit` of `project`'s oldest entries written before
/// `cutoff`, stopping at the first younger one; returns how many went (0:
/// the chain has nothing left to purge).
pub async fn purge_batch(
    client: &mut Client,
    project: &str,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> Result<u64, store::StoreError> {
    let tx = client.transaction().await?;
    let head = store::audit::lock_chain(&tx, project, &chain::genesis(project)).await?;
    let oldest = store::audit::oldest(&tx, project, head.anchor_seq, limit).await?;
    let Some((through, _, hash)) = last_purgeable(&oldest, cutoff) else {
        return Ok(0);
    };
    let purged = store::audit::purge_through(&tx, project, *through, hash).await?;
    let change = Change {
        project: (!project.is_empty()).then(|| project.to_owned()),
        resource: super::model::entry_name(project, *through),
        request_id: None,
        fields: vec![
            FieldChange::set("purged_through_seq", through.to_string()),
            FieldChange::set("purged_entries", purged.to_string()),
            FieldChange::set("cutoff", cutoff.to_rfc3339()),
        ],
    };
    record(&tx, &retention_job(), change).await?;
    tx.commit().await?;
    Ok(purged)
}

/// The last of `oldest` (in seq order) that may go: entries go oldest first
/// and never past one written at or after `cutoff`, so the kept entries are
/// always one unbroken run from the anchor to the head.
fn last_purgeable(
    oldest: &[(i64, DateTime<Utc>, Vec<u8>)],
    cutoff: DateTime<Utc>,
) -> Option<&(i64, DateTime<Utc>, Vec<u8>)> {
    oldest
        .iter()
        .take_while(|(_, time, _)| *time < cutoff)
        .last()
}

fn retention_job() -> Caller {
    Caller::system("patchbay retention", "maintenance.retention")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purging_stops_at_the_first_entry_not_older_than_the_cutoff() {
        let cutoff = Utc::now();
        let entries = |offsets: &[i64]| -> Vec<(i64, DateTime<Utc>, Vec<u8>)> {
            offsets
                .iter()
                .zip(1..)
                .map(|(secs, seq)| (seq, cutoff + chrono::Duration::seconds(*secs), vec![]))
                .collect()
        };
        let through = |offsets: &[i64]| last_purgeable(&entries(offsets), cutoff).map(|e| e.0);
        assert_eq!(through(&[-3, -2, -1]), Some(3));
        assert_eq!(
            through(&[-3, 0, -1]),
            Some(1),
            "one written at the cutoff stays"
        );
        assert_eq!(
            through(&[-3, 5, -1]),
            Some(1),
            "and never past a younger one"
        );
        assert_eq!(through(&[0, -5]), None);
        assert_eq!(through(&[]), None);
    }
}
