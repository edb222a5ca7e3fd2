//! The audit log: each change to a connection, its credentials, a channel
//! or a rule writes one entry in its own transaction, with who, from where
//! and which fields, never a secret; the hash chain names the first entry
//! someone changed or deleted.

use std::collections::HashMap;

use patchbay::{
    auth::Role,
    proto::v1::{
        AlertRule, AlertSeverity, AuditChainBreak, Connection, DeleteConnectionRequest,
        RotateWebhookSecretRequest, SetConnectionCredentialsRequest, UpdateAlertRuleRequest,
        UpdateConnectionRequest, VerifyAuditLogRequest, VerifyAuditLogResponse,
        notification_channel::Kind,
    },
};
use prost_types::FieldMask;

use crate::{
    alert_rules::create_rule,
    connections::create_github,
    helpers::{TestApp, spawn_app},
    notification_channels::{create_channel, webhook},
};

const TOKEN: &str = "ghp_audited_credential_value";

/// `(seq, method, resource, changes)` of each of the project's entries.
async fn entries(app: &TestApp, project: &str) -> Vec<(i64, String, String, serde_json::Value)> {
    app.db()
        .await
        .query(
            "SELECT seq, method, resource, changes FROM audit_events WHERE project = $1 \
             ORDER BY seq",
            &[&project],
        )
        .await
        .expect("read the audit log")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect()
}

/// Runs one statement past the append-only trigger, as an attacker with
/// the database's superuser would.
pub async fn tamper(app: &TestApp, sql: &str) {
    let db = app.db().await;
    db.batch_execute(&format!(
        "BEGIN; SET LOCAL session_replication_role = replica; {sql}; COMMIT;"
    ))
    .await
    .expect("tamper");
}

/// VerifyAuditLog on `parent`, as a platform admin.
pub async fn verdict(app: &TestApp, parent: &str) -> VerifyAuditLogResponse {
    verdict_over(app, parent, 0, 0).await
}

/// VerifyAuditLog on `parent` from `first_seq` to `last_seq`.
async fn verdict_over(
    app: &TestApp,
    parent: &str,
    first: i64,
    last: i64,
) -> VerifyAuditLogResponse {
    let admin = app.admin_token("auditor");
    app.diagnostics(Some(&admin))
        .verify_audit_log(VerifyAuditLogRequest {
            parent: parent.into(),
            first_seq: first,
            last_seq: last,
        })
        .await
        .expect("verify")
        .into_inner()
}

pub fn intact(checked: i64) -> VerifyAuditLogResponse {
    VerifyAuditLogResponse {
        intact: true,
        checked_count: checked,
        ..Default::default()
    }
}

pub fn broken(checked: i64, entry: &str, problem: AuditChainBreak) -> VerifyAuditLogResponse {
    VerifyAuditLogResponse {
        intact: false,
        checked_count: checked,
        broken_entry: entry.into(),
        problem: problem.into(),
    }
}

/// Creates, renames, sets credentials on, rotates and deletes `gh`.
pub async fn five_changes(app: &TestApp) -> Connection {
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut registry = app.registry(Some(&owner));
    let created = create_github(app, "acme", "gh").await;
    let renamed = registry
        .update_connection(UpdateConnectionRequest {
            connection: Some(Connection {
                name: created.name.clone(),
                display_name: "Web repo".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await
        .expect("rename")
        .into_inner();
    registry
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: created.name.clone(),
            credentials: HashMap::from([("access_token".into(), TOKEN.into())]),
            etag: String::new(),
        })
        .await
        .expect("credentials");
    registry
        .rotate_webhook_secret(RotateWebhookSecretRequest {
            name: created.name.clone(),
            webhook_secret: String::new(),
        })
        .await
        .expect("rotate");
    registry
        .delete_connection(DeleteConnectionRequest {
            name: created.name.clone(),
            etag: String::new(),
        })
        .await
        .expect("delete");
    Connection {
        webhook_secret: created.webhook_secret,
        ..renamed
    }
}

#[tokio::test]
async fn each_change_writes_one_entry_with_who_where_and_what_but_no_secret() {
    let app = spawn_app().await;
    let connection = five_changes(&app).await;
    let logged = entries(&app, "acme").await;
    let methods: Vec<(i64, &str)> = logged.iter().map(|(s, m, ..)| (*s, m.as_str())).collect();
    assert_eq!(
        methods,
        [
            (1, "IntegrationRegistry.CreateConnection"),
            (2, "IntegrationRegistry.UpdateConnection"),
            (3, "IntegrationRegistry.SetConnectionCredentials"),
            (4, "IntegrationRegistry.RotateWebhookSecret"),
            (5, "IntegrationRegistry.DeleteConnection"),
        ]
    );
    assert!(
        logged
            .iter()
            .all(|(_, _, r, _)| r == "projects/acme/connections/gh")
    );
    assert_eq!(
        logged[1].3,
        serde_json::json!([{"field": "display_name", "before": "github for acme", "after": "Web repo"}])
    );
    let credentials = &logged[2].3[0];
    assert_eq!(credentials["field"], "credentials_fingerprint");
    assert!(credentials.get("before").is_none(), "none before");
    assert_eq!(credentials["after"].as_str().map(str::len), Some(16));

    let db = app.db().await;
    let row = db
        .query_one(
            "SELECT actor, peer, user_agent, outcome FROM audit_events WHERE seq = 1",
            &[],
        )
        .await
        .expect("entry");
    assert_eq!(row.get::<_, String>(0), "owner");
    assert!(row.get::<_, String>(1).starts_with("127.0.0.1:"));
    assert!(
        row.get::<_, String>(2).contains("tonic"),
        "{}",
        row.get::<_, String>(2)
    );
    assert_eq!(row.get::<_, String>(3), "OK");
    let whole: String = db
        .query_one(
            "SELECT string_agg(row_to_json(a)::text, ' ') FROM audit_events a",
            &[],
        )
        .await
        .expect("the log as text")
        .get(0);
    assert!(!whole.contains(TOKEN), "a credential reached the audit log");
    assert!(!connection.webhook_secret.is_empty());
    assert!(
        !whole.contains(&connection.webhook_secret),
        "a webhook secret reached it"
    );

    assert_eq!(verdict(&app, "projects/acme").await, intact(5));
    assert_eq!(verdict(&app, "projects/elsewhere").await, intact(0));
}

#[tokio::test]
async fn a_change_that_fails_writes_nothing() {
    let app = spawn_app().await;
    let created = create_github(&app, "acme", "gh").await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    app.registry(Some(&owner))
        .delete_connection(DeleteConnectionRequest {
            name: created.name,
            etag: "\"stale\"".into(),
        })
        .await
        .expect_err("a stale etag");
    assert_eq!(entries(&app, "acme").await.len(), 1, "only the create");
}

#[tokio::test]
async fn the_log_is_append_only_and_verification_names_the_entry_tampered_with() {
    let app = spawn_app().await;
    five_changes(&app).await;
    let db = app.db().await;
    let refused = db
        .execute(
            "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3",
            &[],
        )
        .await
        .expect_err("updates are refused");
    assert!(
        refused.to_string().contains("append-only")
            || format!("{refused:?}").contains("append-only")
    );
    db.execute("DELETE FROM audit_events WHERE seq = 3", &[])
        .await
        .expect_err("so are deletes");

    tamper(
        &app,
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3",
    )
    .await;
    let third = "projects/acme/auditEvents/3";
    assert_eq!(
        verdict(&app, "projects/acme").await,
        broken(2, third, AuditChainBreak::Altered)
    );
    // A range names the same entry, or checks out around it.
    let over = |first, last| verdict_over(&app, "projects/acme", first, last);
    assert_eq!(over(2, 4).await, broken(1, third, AuditChainBreak::Altered));
    assert_eq!(over(1, 2).await, intact(2));
    assert_eq!(over(4, 0).await, intact(2), "4 links to 3's stored hash");
    assert_eq!(over(5, 99).await, intact(1), "clamped to the head");
    tamper(&app, "DELETE FROM audit_events WHERE seq = 3").await;
    assert_eq!(
        verdict(&app, "projects/acme").await,
        broken(2, third, AuditChainBreak::Missing)
    );
    let over = |first, last| verdict_over(&app, "projects/acme", first, last);
    assert_eq!(
        over(4, 5).await,
        broken(0, third, AuditChainBreak::Missing),
        "the entry before the range is gone"
    );
    assert_eq!(over(1, 2).await, intact(2));
    tamper(&app, "DELETE FROM audit_events WHERE seq >= 3").await;
    assert_eq!(
        verdict(&app, "projects/acme").await,
        broken(2, third, AuditChainBreak::Missing),
        "a cut-off tail shows too"
    );
}

#[tokio::test]
async fn a_chain_longer_than_a_page_verifies_across_pages() {
    let app = spawn_app().await;
    let pool = patchbay::store::pool(app.database.clone(), 1).expect("pool");
    let mut client = pool.get().await.expect("a connection");
    let tx = client.transaction().await.expect("a transaction");
    let writer = patchbay::auth::Caller::system("bulk writer", "test.bulk");
    for n in 0..1200 {
        let change = patchbay::audit::Change {
            project: Some("long".into()),
            resource: format!("projects/long/connections/c{n}"),
            request_id: None,
            fields: Vec::new(),
        };
        patchbay::audit::record(&tx, &writer, change)
            .await
            .expect("append");
    }
    tx.commit().await.expect("commit");
    assert_eq!(verdict(&app, "projects/long").await, intact(1200));
    assert_eq!(
        verdict_over(&app, "projects/long", 450, 1100).await,
        intact(651)
    );
    tamper(
        &app,
        "UPDATE audit_events SET resource = 'x' WHERE project = 'long' AND seq = 900",
    )
    .await;
    assert_eq!(
        verdict(&app, "projects/long").await,
        broken(
            899,
            "projects/long/auditEvents/900",
            AuditChainBreak::Altered
        )
    );
}

#[tokio::test]
async fn a_connection_its_credentials_and_a_rule_are_audited_without_secrets_and_tampering_shows() {
    let app = spawn_app().await;
    let connection = five_changes(&app).await;
    let hook = create_channel(&app, "oncall", webhook("https://hooks.example.com/p"))
        .await
        .expect("a channel");
    let Some(Kind::Webhook(signing)) = &hook.kind else {
        panic!("a webhook channel");
    };
    let rule = create_rule(&app, "failing", &[&hook.name]).await;
    let editor = app.token("editor", &[("acme", Role::Editor)]);
    app.alerts(Some(&editor))
        .update_alert_rule(UpdateAlertRuleRequest {
            alert_rule: Some(AlertRule {
                name: rule.name.clone(),
                severity: AlertSeverity::Info.into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["severity".into()],
            }),
        })
        .await
        .expect("update the rule");

    let logged = entries(&app, "acme").await;
    let methods: Vec<&str> = logged.iter().map(|(_, m, ..)| m.as_str()).collect();
    assert_eq!(
        methods[5..],
        [
            "AlertService.CreateNotificationChannel",
            "AlertService.CreateAlertRule",
            "AlertService.UpdateAlertRule",
        ]
    );
    let whole: String = app
        .db()
        .await
        .query_one(
            "SELECT string_agg(row_to_json(a)::text, ' ') FROM audit_events a",
            &[],
        )
        .await
        .expect("the log as text")
        .get(0);
    for secret in [
        TOKEN,
        connection.webhook_secret.as_str(),
        signing.signing_secret.as_str(),
    ] {
        assert!(secret.len() > 8);
        assert!(!whole.contains(secret), "a secret reached the audit log");
    }
    assert!(whole.contains(&signing.signing_secret_fingerprint));
    assert_eq!(verdict(&app, "projects/acme").await, intact(8));

    // The rule's update, edited in the database, is the entry named.
    tamper(
        &app,
        "UPDATE audit_events SET actor = 'mallory' WHERE project = 'acme' AND seq = 8",
    )
    .await;
    assert_eq!(
        verdict(&app, "projects/acme").await,
        broken(7, "projects/acme/auditEvents/8", AuditChainBreak::Altered)
    );
}
