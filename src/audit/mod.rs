//! The audit log: every change writes one entry in the change's own
//! transaction, on its project's hash chain, so the log holds exactly the
//! changes that happened and a changed or deleted entry can be found.

pub mod chain;
pub mod model;
pub mod purge;

use chrono::{SubsecRound as _, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::{auth::Caller, store};
use chain::{Break, Verdict, Walk};
use model::{AuditEvent, AuditScope, FieldChange};

/// What a change records beside who made it and from where.
pub struct Change {
    /// The project, or `None` for platform-wide changes (types, keys).
    pub project: Option<String>,
    pub resource: String,
    pub request_id: Option<Uuid>,
    pub fields: Vec<FieldChange>,
}

impl Change {
    /// A change to `resource`, a resource of `project`.
    pub fn in_project(
        project: &crate::names::ProjectId,
        resource: impl ToString,
        fields: Vec<FieldChange>,
    ) -> Self {
        Self {
            project: Some(project.as_str().to_owned()),
            resource: resource.to_string(),
            request_id: None,
            fields,
        }
    }

    /// A platform-wide change (types, keys), on the platform's chain.
    pub fn platform(resource: impl ToString, fields: Vec<FieldChange>) -> Self {
        Self {
            project: None,
            resource: resource.to_string(),
            request_id: None,
            fields,
        }
    }

    /// The request's idempotency key, when it had one.
    pub fn with_request(self, request_id: Option<Uuid>) -> Self {
        Self { request_id, ..self }
    }
}

/// Appends `change` by `caller` to its project's chain, in `tx`: the
/// change's own transaction, so the entry commits or rolls back with it.
pub async fn record(
    tx: &impl GenericClient,
    caller: &Caller,
    change: Change,
) -> Result<(), store::StoreError> {
    let project = change.project.unwrap_or_default();
    let head = store::audit::lock_chain(tx, &project, &chain::genesis(&project)).await?;
    let origin = caller.origin();
    let mut event = AuditEvent {
        project,
        seq: head.last_seq + 1,
        id: Uuid::now_v7(),
        // PostgreSQL keeps microseconds: the hash covers what is stored.
        time: Utc::now().trunc_subsecs(6),
        actor: caller.subject().to_owned(),
        method: origin.method.clone(),
        resource: change.resource,
        request_id: change.request_id,
        peer: origin.peer.clone(),
        user_agent: origin.user_agent.clone(),
        outcome: "OK".to_owned(),
        changes: change.fields,
        prev_hash: head.last_hash,
        hash: Vec::new(),
    };
    event.hash = chain::entry_hash(&event.prev_hash, &event);
    store::audit::append(tx, &event).await
}

/// Entries read per query while verifying.
const VERIFY_PAGE: i64 = 500;

/// What verifying found: how many entries checked out, and the first one
/// that breaks its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub checked: u64,
    pub broken: Option<BrokenEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenEntry {
    /// The chain's project, `""` for the platform's.
    pub project: String,
    pub seq: i64,
    pub problem: Break,
}

impl BrokenEntry {
    /// The entry's resource name, as `AuditEvent::name` gives it.
    pub fn name(&self) -> String {
        model::entry_name(&self.project, self.seq)
    }
}

/// Checks every chain in `scope`, each from its anchor to its head (or over
/// `range`), up to the first break.
pub async fn verify(
    client: &impl GenericClient,
    scope: &AuditScope,
    range: SeqRange,
) -> Result<Verification, store::StoreError> {
    let projects = match scope {
        AuditScope::Project(p) => vec![p.as_str().to_owned()],
        AuditScope::All => store::audit::chain_projects(client).await?,
    };
    let mut checked = 0;
    for project in projects {
        let (count, verdict) = verify_chain(client, &project, range).await?;
        checked += count;
        if let Verdict::Broken { seq, problem } = verdict {
            let broken = BrokenEntry {
                project,
                seq,
                problem,
            };
            return Ok(Verification {
                checked,
                broken: Some(broken),
            });
        }
    }
    Ok(Verification {
        checked,
        broken: None,
    })
}

/// Which entries of a chain to check; `None` ends: the anchor, the head.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqRange {
    pub first: Option<i64>,
    pub last: Option<i64>,
}

/// One chain's verdict over `range` and how many entries checked out
/// before it.
async fn verify_chain(
    client: &impl GenericClient,
    project: &str,
    range: SeqRange,
) -> Result<(u64, Verdict), store::StoreError> {
    let Some(head) = store::audit::chain(client, project).await? else {
        return Ok((0, Verdict::Intact { checked: 0 }));
    };
    // Purged entries cannot be checked: a range starts at the anchor at most.
    let first = range.first.unwrap_or(0).max(head.anchor_seq + 1);
    let last = range.last.unwrap_or(head.last_seq).min(head.last_seq);
    if first > last {
        return Ok((0, Verdict::Intact { checked: 0 }));
    }
    let before = if first == head.anchor_seq + 1 {
        head.anchor_hash.clone()
    } else {
        match store::audit::page(client, project, first - 1, 1)
            .await?
            .pop()
        {
            Some(entry) if entry.seq == first - 1 => entry.hash,
            _ => {
                let missing = Verdict::Broken {
                    seq: first - 1,
                    problem: Break::Missing,
                };
                return Ok((0, missing));
            }
        }
    };
    let mut walk = Walk::from_anchor(first - 1, before);
    loop {
        let left = last - walk.next_seq() + 1;
        let page =
            store::audit::page(client, project, walk.next_seq(), VERIFY_PAGE.min(left)).await?;
        for event in page.iter().take_while(|e| e.seq <= last) {
            if let Err((seq, problem)) = walk.step(event) {
                return Ok((walk.checked(), Verdict::Broken { seq, problem }));
            }
        }
        let done = i64::try_from(page.len()).unwrap_or(i64::MAX) < VERIFY_PAGE.min(left)
            || walk.next_seq() > last;
        if done {
            let checked = walk.checked();
            let verdict = if last == head.last_seq {
                walk.finish(head.last_seq, &head.last_hash)
            } else {
                walk.finish_at(last)
            };
            return Ok((checked, verdict));
        }
    }
}
